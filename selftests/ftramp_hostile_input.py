#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Hostile input for /sys/kernel/tracing/ftramp/hooks.

Every bad write must fail with its documented errno, add an error_log entry (unless
the VFS refuses it before ftramp sees it) and leave `hooks` exactly as it was.
Run by ftramp_hostile_input.sh with ftramp and ftramp_target loaded.
"""
import errno
import os
import sys
import threading

F = "/sys/kernel/tracing/ftramp"
HOOKS = F + "/hooks"
failures = 0


def diag(msg):
    print("# " + msg, flush=True)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def errlog_entries():
    return read(F + "/error_log").count(b"ftramp: error:")


def errlog():
    return read(F + "/error_log")


def write(data, mode="a", chunks=None, offset=None, as_user=None):
    """Writes to hooks; returns the errno name of the first failure, or OK."""
    flags = os.O_WRONLY | (os.O_TRUNC if mode == "w" else os.O_APPEND)
    pid = os.fork() if as_user is not None else 0
    if pid:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return "OK" if code == 0 else errno.errorcode.get(code, str(code))
    if as_user is not None:
        os.setgid(as_user)
        os.setuid(as_user)
    try:
        fd = os.open(HOOKS, flags)
        try:
            if offset is not None:
                os.pwrite(fd, data, offset)
            else:
                for c in chunks or [data]:
                    os.write(fd, c)
        finally:
            os.close(fd)
        res = "OK"
    except OSError as e:
        res = errno.errorcode[e.errno]
    if as_user is not None:
        os._exit(0 if res == "OK" else getattr(errno, res))
    return res


# (description, data, expected errno, options); options: chunks, offset, user, noerrlog
NOTRACE = sys.argv[1] if len(sys.argv) > 1 else "lockdep_init_map_type"
CASES = [
    ("empty line", b"\n", "EINVAL", {}),
    ("only spaces", b"     \n", "EINVAL", {}),
    ("only tabs", b"\t\t\n", "EINVAL", {}),
    ("longer than a page", b"a" * 5000 + b" count\n", "E2BIG", {}),
    ("line over 512 bytes", b"f" * 600 + b" count\n", "E2BIG", {}),
    ("NUL byte", b"ftramp_target_a\0 count\n", "EINVAL", {}),
    ("invalid UTF-8", b"ftramp_target_\xff count\n", "EINVAL", {}),
    ("non-ASCII UTF-8", "ftramp_target_\u00e9 count\n".encode(), "EINVAL", {}),
    ("control character", b"ftramp_target_a\x1b[2J count\n", "EINVAL", {}),
    ("unknown callback", b"ftramp_target_a cnt\n", "EINVAL", {}),
    ("missing callback", b"ftramp_target_a\n", "EINVAL", {}),
    ("extra token", b"ftramp_target_a count extra\n", "EINVAL", {}),
    ("argument to count", b"ftramp_target_a count:3\n", "EINVAL", {}),
    ("stacktrace:0", b"ftramp_target_a stacktrace:0\n", "EINVAL", {}),
    ("stacktrace:abc", b"ftramp_target_a stacktrace:abc\n", "EINVAL", {}),
    ("stacktrace:100000", b"ftramp_target_a stacktrace:100000\n", "EINVAL", {}),
    ("'!' alone", b"! count\n", "EINVAL", {}),
    ("comma list", b"ftramp_target_a,ftramp_target_b count\n", "EINVAL", {}),
    ("bad glob character", b"ftramp_target_(a count\n", "EINVAL", {}),
    ("unknown function", b"no_such_function_xyz count\n", "ENOENT", {}),
    ("glob matching nothing", b"no_such_fn_*_xyz count\n", "ENOENT", {}),
    ("notrace function", NOTRACE.encode() + b" count\n", "EINVAL", {}),
    ("noinstr function", b"exc_nmi count\n", "EPERM", {}),
    ("ftramp's own code", b"ftramp_record_publish count\n", "EPERM", {}),
    ("int3 path", b"notify_die count\n", "EPERM", {}),
    ("patching path", b"text_poke_copy count\n", "EPERM", {}),
    ("glob matching thousands", b"* count\n", "E2BIG", {}),
    ("duplicate", b"ftramp_target_a count\n", "EEXIST", {}),
    ("duplicate in one write", b"ftramp_target_b count\nftramp_target_b count\n", "EEXIST", {}),
    ("remove what is not there", b"!ftramp_target_c count\n", "ENOENT", {}),
    ("remove with another callback", b"!ftramp_target_a stacktrace\n", "ENOENT", {}),
    ("bad second line", b"ftramp_target_c count\nbogus cnt\n", "EINVAL", {}),
    ("bad line after '>'", b"ftramp_target_c count\n", "ENOENT", {"mode": "w", "pre": b"!x count"}),
    ("partial write, bad", None, "EINVAL", {"chunks": [b"ftramp_target_c", b" cnt\n"]}),
    ("partial line too long", None, "E2BIG", {"chunks": [b"g" * 300, b"g" * 300]}),
    ("write at an offset", b"ftramp_target_c count\n", "ESPIPE", {"offset": 7}),
    ("non-root write", b"ftramp_target_c count\n", "EACCES", {"user": 65534, "noerrlog": True}),
]


def check(desc, data, want, opt):
    global failures
    before = read(HOOKS)
    logs = errlog()
    if "pre" in opt:
        data = opt["pre"] + b"\n"
        want_mode = "w"
    else:
        want_mode = opt.get("mode", "a")
    got = write(data, mode=want_mode, chunks=opt.get("chunks"), offset=opt.get("offset"),
                as_user=opt.get("user"))
    after = read(HOOKS)
    logged = errlog() != logs
    problems = []
    if got != want:
        problems.append("got %s, want %s" % (got, want))
    if after != before:
        problems.append("hooks changed: %r -> %r" % (before, after))
    if not opt.get("noerrlog") and not logged:
        problems.append("no error_log entry")
    if problems:
        failures += 1
        diag("FAIL %-28s %s" % (desc, "; ".join(problems)))
    else:
        diag("ok   %-28s %s%s" % (desc, got, "" if opt.get("noerrlog") else ", logged"))


def main():
    global failures
    assert write(b"ftramp_target_a count\n", mode="w") == "OK"
    assert write(b"ftramp_target_a trace\n") == "OK"
    # A good partial write works (the line is assembled across writes).
    assert write(None, chunks=[b"ftramp_target_", b"d count\n"]) == "OK"
    assert write(b"!ftramp_target_d count\n") == "OK"
    for desc, data, want, opt in CASES:
        check(desc, data, want, opt)
    diag("%d bad writes checked" % len(CASES))

    # Non-root cannot read either; root cannot write the read-only files.
    pid = os.fork()
    if pid == 0:
        os.setgid(65534)
        os.setuid(65534)
        try:
            read(HOOKS)
            os._exit(1)
        except PermissionError:
            os._exit(0)
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
        failures += 1
        diag("FAIL a non-root user could read hooks")
    try:
        with open(F + "/stats", "wb", buffering=0) as f:
            f.write(b"x\n")
        failures += 1
        diag("FAIL stats accepted a write")
    except OSError as e:
        diag("write to stats: %s" % errno.errorcode[e.errno])

    # 4 writers at once, each adding and removing its own hook plus one bad command.
    before = read(HOOKS)
    results = []

    def writer(i):
        name = b"ftramp_target_%s" % b"bcd"[i % 3:i % 3 + 1]
        cb = [b"count", b"stacktrace:1", b"trace", b"count"][i]
        for _ in range(20):
            results.append(write(name + b" " + cb + b"\n"))
            results.append(write(b"!" + name + b" " + cb + b"\n"))
            results.append(write(b"bogus cnt\n"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = read(HOOKS)
    bad = [r for r in results if r not in ("OK", "EINVAL", "EEXIST", "ENOENT")]
    if bad or after != before or results.count("EINVAL") < 80:
        failures += 1
        diag("FAIL concurrent writers: unexpected %s, hooks %r -> %r" % (bad[:5], before, after))
    else:
        diag("4 concurrent writers: %d writes, hooks consistent" % len(results))

    # '>' with nothing written clears; an empty line clears the error log.
    write(b"", mode="w", chunks=[])
    if read(HOOKS) != b"":
        failures += 1
        diag("FAIL ': > hooks' did not clear the hooks")
    with open(F + "/error_log", "wb", buffering=0) as f:
        f.write(b"\n")
    if errlog_entries() != 0:
        failures += 1
        diag("FAIL the error log was not cleared")
    return 1 if failures else 0


sys.exit(main())
