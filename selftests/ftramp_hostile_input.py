#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Hostile input for /sys/kernel/tracing/ftramp/ and misuse of the C API.

Every bad write must fail with its documented errno, add exactly one error_log entry
with its message, the command echoed and the caret under the offending byte (unless the
VFS refuses it before ftramp sees it), and change nothing: `hooks`, ftramp's
`enabled_functions` and `stats`, and the kernel's `enabled_functions` stay byte for byte
the same. Then: writes to error_log and the read-only files, a last line without a
newline (applied at close), `>` replacing one set of hooks with another, concurrent
writers on one open file and on separate ones, and ftramp_test_ops's "misuse" (the C
API's answers to a caller's mistakes). Run by ftramp_hostile_input.sh with ftramp,
ftramp_target and ftramp_test_ops loaded; argv[1] is a function ftrace cannot trace.

HOSTILE_BREAK (environment) breaks the test on purpose, to show its checks fail:
  log  every expected error_log message, command and caret is wrong;
  ef   after each bad write, test ops 7 hooks ftramp_target_c behind the test's back
       (ftramp's and the kernel's enabled_functions and ftramp's stats change);
  kef  after each bad write, ftrace's function tracer traces ftramp_target_c (only the
       kernel's enabled_functions changes);
  serial  the writers sharing one open file use write(), which the VFS serialises (no
       EBUSY);
  shared  of the writers with separate files, the two with hooks of their own share one.
Several may be given, comma-separated.

Shown failing (Dec 2026, 6.12; "mutant N": a scratch build of ftramp with the bug behind
demo_bug=N, on top of selftests/mutants/demo_bugs.patch):
  HOSTILE_BREAK=log: each of the 44 logged cases, e.g.
    FAIL empty line  message 'empty command', want 'empty command!'; command '', want '!';
    caret at 0, want 1
  HOSTILE_BREAK=ef: every case, "enabled_functions changed: ... -> ...ftramp_target_c
    ops=1 mode=direct ...; stats changed: ...; kernel enabled_functions changed: ..."
  HOSTILE_BREAK=kef: every case, only "kernel enabled_functions changed: ..."
  HOSTILE_BREAK=serial: "writers on one open file: {'OK': 80}: no EBUSY: ..."
  HOSTILE_BREAK=shared: "separate writers: writer 1 (own hook): [('EEXIST', 'ENOENT', ..."
  the error_log caret one column right: each logged case, "caret at 16, want 15" ...
  a plan error applies the lines before it: "duplicate in one write", "bad second line",
    "bad line after '>'": "hooks changed: ... -> ...ftramp_target_b count\n'; ..."
  the same, the hooks then taken out of the list only (the engine keeps sites and stubs):
    the same cases with "enabled_functions changed", "kernel enabled_functions changed"
    and "stats changed", hooks unchanged
  ftramp before the fix in rust/tracefs/mod.rs: "partial line too long after '>'",
    "write over 64 KiB after '>'", "write at an offset after '>'": "hooks changed:
    'ftramp_target_a count\nftramp_target_a trace\n' -> ''; ..."; "write 'junk' to
    error_log: got OK, want EINVAL"; "write 'x' to stats: got OK, want EPERM"
  a partial line applied at once: "'>>' + 'ftramp_target_c count' without newline,
    before close: hooks '...ftramp_target_c count\n', want ..."
  the busy flag never released: "writers on one open file: {'EBUSY': 77635, 'OK': 1}:
    ...; 1 writes succeeded, want 80"
  '>' keeping the old hooks: "'>' 'ftramp_target_b count...': hooks ..., want ..."
  misuse (each printed from dmesg as "misuse: <step>: got X, want Y", then "FAIL C API
    misuse: got EPROTO"): reset dropping the filter before checking the new one:
    'set_filter "no_such_function_xyz" reset=1: callback calls from ftramp_target_a: got
    0, want 1'; an unresolvable name skipped: 'set_filter "ftramp_target_b
    no_such_function_xyz" reset=0: got 0, want -2' and '...ftramp_target_b: got 1, want
    0'; a NULL callback accepted: "NULL callback: register: got 0, want -22"; double
    register accepted: "double register: got 0, want -16"; and with wrong expectations
    in a scratch ftramp_test_ops.c, each of the other answers (NULL ops, an unknown
    ops' unregister, a removal not in the filter, double unregister).
  no notrace function found (the .sh's prefix changed to one matching nothing): "FAIL: no
    lockdep_* function outside available_filter_functions and the kprobe blacklist".
"""
import errno
import os
import re
import subprocess
import sys
import threading
import time

T = "/sys/kernel/tracing"
F = T + "/ftramp"
HOOKS = F + "/hooks"
ERRLOG = F + "/error_log"
CTL = "/sys/kernel/debug/ftramp_test/ctl"
BREAK = os.environ.get("HOSTILE_BREAK", "").split(",")
failures = 0


def diag(msg):
    print("# " + msg, flush=True)


def fail(msg):
    global failures
    failures += 1
    diag("FAIL " + msg)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def put(path, data):
    """Writes `data` to `path` in one write(); returns the errno name or OK."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        return "open: " + errno.errorcode[e.errno]
    try:
        os.write(fd, data)
        return "OK"
    except OSError as e:
        return errno.errorcode[e.errno]
    finally:
        os.close(fd)


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


# --- error_log -------------------------------------------------------------------------
PREFIX = "  Command: "
ENTRY = re.compile(r"\[ *\d+\.\d{6}\] ftramp: error: (.*)\n  Command: (.*)\n( *)\^\n")


def errlog():
    """The error_log's entries as (message, command, caret column), or a str if the file
    is not a sequence of ftrace-style entries."""
    text = read(ERRLOG).decode("ascii", "replace")
    out, pos = [], 0
    while pos < len(text):
        m = ENTRY.match(text, pos)
        if not m:
            return "unparsable error_log at byte %d: %r" % (pos, text[pos:pos + 200])
        out.append((m.group(1), m.group(2), len(m.group(3)) - len(PREFIX)))
        pos = m.end()
    return out


def clear_errlog():
    if put(ERRLOG, b"\n") != "OK" or errlog() != []:
        fail("the error log cannot be cleared")


def log_problems(want):
    """Compares the error_log (cleared before the write) with `want`: None for no entry,
    else (message, command as shown, caret column)."""
    got = errlog()
    if isinstance(got, str):
        return [got]
    if want is None:
        return ["unexpected error_log entries %r" % got] if got else []
    if len(got) != 1:
        return ["error_log has %d entries, want 1: %r" % (len(got), got)]
    (msg, cmd, caret), (wmsg, wcmd, wcaret) = got[0], want
    if "log" in BREAK:
        wmsg, wcmd, wcaret = wmsg + "!", wcmd + "!", wcaret + 1
    problems = []
    if msg != wmsg:
        problems.append("message %r, want %r" % (msg, wmsg))
    if cmd != wcmd:
        problems.append("command %r, want %r" % (cmd, wcmd))
    if caret != wcaret:
        problems.append("caret at %d, want %d" % (caret, wcaret))
    return problems


# --- state -----------------------------------------------------------------------------
STATE_FILES = [("hooks", HOOKS), ("enabled_functions", F + "/enabled_functions"),
               ("stats", F + "/stats"), ("kernel enabled_functions", T + "/enabled_functions")]


def snapshot(stats=True):
    """The state files' contents (None for stats if not `stats`: it counts the rounds
    of successful writes, and hits)."""
    return [read(path) if stats or name != "stats" else None for name, path in STATE_FILES]


def state_problems(before, after):
    return ["%s changed: %r -> %r" % (name, b, a)
            for (name, _), b, a in zip(STATE_FILES, before, after) if a != b]


def ftramp_sites():
    """{function: (ops, mode, trampoline)} from ftramp's enabled_functions."""
    sites = {}
    for line in read(F + "/enabled_functions").decode().splitlines():
        name, ops, mode, tramp = line.split()
        sites[name] = (int(ops[4:]), mode[5:], int(tramp[6:], 16))
    return sites


def kernel_direct():
    """{function: direct-call target or None if the record's D flag and its direct-->
    line disagree} from the kernel's enabled_functions (as lib.sh's kernel_direct)."""
    out, name, d, addr = {}, None, False, None

    def flush():
        if name is not None and (d or addr is not None):
            out[name] = addr if d and addr is not None else None

    for line in read(T + "/enabled_functions").decode().splitlines():
        if line and not line[0].isspace():
            flush()
            name, addr = line.split()[0], None
            m = re.search(r"\(\d+\)[^\t]*", line)
            d = bool(m and " D " in m.group(0))
        elif "direct-->" in line:
            addr = direct_addr(line.split("direct-->")[1].strip())
    flush()
    return out


def direct_addr(text):
    """A direct-call target as the kernel prints it: hex, or symbolized in ftramp's
    region ("ftramp_trampolines+0xOFF/0xLEN": it is in the BPF symbol table), made
    absolute from the region's start in ftramp's status."""
    m = re.match(r"ftramp_trampolines\+0x([0-9a-f]+)/", text)
    if not m:
        return int(text, 16)
    st = read(T + "/ftramp/status").decode()
    base = re.search(r"^trampolines: 0x([0-9a-f]+)-", st, re.M)
    return int(base.group(1), 16) + int(m.group(1), 16)


def expect_hooks(label, hooks, sites):
    """`hooks` must read exactly `hooks`, ftramp's sites be exactly `sites` ({function:
    (ops, mode)}) and the kernel have a direct call on exactly those, to their
    trampolines."""
    problems = []
    got = read(HOOKS).decode()
    if got != hooks:
        problems.append("hooks %r, want %r" % (got, hooks))
    fs = ftramp_sites()
    if {n: s[:2] for n, s in fs.items()} != sites:
        problems.append("ftramp's sites %r, want %r" % (fs, sites))
    kd, want = kernel_direct(), {n: s[2] for n, s in fs.items()}
    if kd != want:
        problems.append("kernel direct calls %r, want %r" % (
            {n: a and hex(a) for n, a in kd.items()}, {n: hex(a) for n, a in want.items()}))
    for p in problems:
        fail("%s: %s" % (label, p))
    if not problems:
        diag("ok   %s" % label)
    return not problems


def ctl(cmd):
    return put(CTL, cmd.encode() + b"\n")


def behind_the_back(on):
    """HOSTILE_BREAK=ef/kef: a change no write to hooks made."""
    if "ef" in BREAK:
        for c in (["filter 7 ftramp_target_c", "register 7"] if on else ["unregister 7"]):
            if ctl(c) != "OK":
                fail("HOSTILE_BREAK=ef: ctl %s failed" % c)
    elif "kef" in BREAK and on:
        put(T + "/set_ftrace_filter", b"ftramp_target_c\n")
        put(T + "/current_tracer", b"function\n")
    elif "kef" in BREAK:
        # The tracer goes first: with the filter cleared it would trace everything.
        put(T + "/current_tracer", b"nop\n")
        put(T + "/set_ftrace_filter", b"\n")


# --- the table -------------------------------------------------------------------------
NOTRACE = sys.argv[1].encode()
LINE_C = b"ftramp_target_c count\n"
OVER_64K = LINE_C * (64 * 1024 // len(LINE_C) + 1)
M_EMPTY = "empty command"
M_LONG = "command too long"
M_CHAR = "invalid character (not printable ASCII)"
M_GLOB = "invalid function name or glob"
M_CB = "unknown callback"
M_ARG = "argument must be 1..1000"
M_NOFUNC = "no such function (or a glob matching no hookable function)"
M_NOHOOK = "no such hook"
M_PERM = "ftramp refuses this function (its own code, the int3 or patching path)"
M_BIG = "write larger than 64 KiB"
M_OFFSET = "write at an offset (use write(), not pwrite())"
# (description, data, errno, error_log entry (message, command shown, caret) or None,
#  options: mode "w" (O_TRUNC: '>'), chunks (one write each), offset (pwrite), user).
# The command is shown with '?' for each unprintable byte and cut at 256 bytes; the
# caret is at the byte offset of the offending token (at most 256).
CASES = [
    ("empty line", b"\n", "EINVAL", (M_EMPTY, "", 0), {}),
    ("only spaces", b"     \n", "EINVAL", (M_EMPTY, "     ", 0), {}),
    ("only tabs", b"\t\t\n", "EINVAL", (M_EMPTY, "??", 0), {}),
    ("line of 5006 bytes", b"a" * 5000 + b" count\n", "E2BIG", (M_LONG, "a" * 256, 256), {}),
    ("line over 512 bytes", b"f" * 600 + b" count\n", "E2BIG", (M_LONG, "f" * 256, 256), {}),
    ("name over 256 bytes", b"f" * 300 + b" count\n", "EINVAL", (M_GLOB, "f" * 256, 0), {}),
    ("NUL byte", b"ftramp_target_a\0 count\n", "EINVAL",
     (M_CHAR, "ftramp_target_a? count", 15), {}),
    ("invalid UTF-8", b"ftramp_target_\xff count\n", "EINVAL",
     (M_CHAR, "ftramp_target_? count", 14), {}),
    ("non-ASCII UTF-8", "ftramp_target_\u00e9 count\n".encode(), "EINVAL",
     (M_CHAR, "ftramp_target_?? count", 14), {}),
    ("control character", b"ftramp_target_a\x1b[2J count\n", "EINVAL",
     (M_CHAR, "ftramp_target_a?[2J count", 15), {}),
    ("CRLF", b"ftramp_target_c count\r\n", "EINVAL", (M_CHAR, "ftramp_target_c count?", 21), {}),
    ("unknown callback", b"ftramp_target_a cnt\n", "EINVAL",
     (M_CB, "ftramp_target_a cnt", 16), {}),
    ("missing callback", b"ftramp_target_a\n", "EINVAL",
     ("missing callback", "ftramp_target_a", 15), {}),
    ("extra token", b"ftramp_target_a count extra\n", "EINVAL",
     ("unexpected token", "ftramp_target_a count extra", 22), {}),
    ("argument to count", b"ftramp_target_a count:3\n", "EINVAL",
     ("this callback takes no argument", "ftramp_target_a count:3", 22), {}),
    ("stacktrace:0", b"ftramp_target_a stacktrace:0\n", "EINVAL",
     (M_ARG, "ftramp_target_a stacktrace:0", 27), {}),
    ("stacktrace:abc", b"ftramp_target_a stacktrace:abc\n", "EINVAL",
     (M_ARG, "ftramp_target_a stacktrace:abc", 27), {}),
    ("stacktrace:100000", b"ftramp_target_a stacktrace:100000\n", "EINVAL",
     (M_ARG, "ftramp_target_a stacktrace:100000", 27), {}),
    ("'!' alone", b"! count\n", "EINVAL", ("'!' without a function", "! count", 0), {}),
    ("comma list", b"ftramp_target_a,ftramp_target_b count\n", "EINVAL",
     (M_GLOB, "ftramp_target_a,ftramp_target_b count", 15), {}),
    ("bad glob character", b"ftramp_target_(a count\n", "EINVAL",
     (M_GLOB, "ftramp_target_(a count", 14), {}),
    ("unknown function", b"no_such_function_xyz count\n", "ENOENT",
     (M_NOFUNC, "no_such_function_xyz count", 0), {}),
    ("glob matching nothing", b"  no_such_fn_*_xyz count\n", "ENOENT",
     (M_NOFUNC, "  no_such_fn_*_xyz count", 2), {}),
    ("notrace function", NOTRACE + b" count\n", "EINVAL",
     ("ftrace cannot trace this function (notrace, noinstr or inlined)",
      NOTRACE.decode() + " count", 0), {}),
    ("noinstr function", b"exc_nmi count\n", "EPERM", (M_PERM, "exc_nmi count", 0), {}),
    ("ftramp's own code", b"ftramp_record_publish count\n", "EPERM",
     (M_PERM, "ftramp_record_publish count", 0), {}),
    ("int3 path", b"notify_die count\n", "EPERM", (M_PERM, "notify_die count", 0), {}),
    ("patching path", b"\ttext_poke_copy count\n", "EPERM",
     (M_PERM, "?text_poke_copy count", 1), {}),
    ("glob matching thousands", b"* count\n", "E2BIG",
     ("the glob matches more than 512 functions", "* count", 0), {}),
    ("duplicate", b"ftramp_target_a count\n", "EEXIST",
     ("already hooked with this callback", "ftramp_target_a count", 0), {}),
    ("duplicate in one write", b"ftramp_target_b count\nftramp_target_b count\n", "EEXIST",
     ("already hooked with this callback", "ftramp_target_b count", 0), {}),
    ("remove what is not there", b"!ftramp_target_c count\n", "ENOENT",
     (M_NOHOOK, "!ftramp_target_c count", 1), {}),
    ("remove with another callback", b"!ftramp_target_a stacktrace\n", "ENOENT",
     (M_NOHOOK, "!ftramp_target_a stacktrace", 1), {}),
    ("bad second line", b"ftramp_target_c count\nbogus cnt\n", "EINVAL",
     (M_CB, "bogus cnt", 6), {}),
    # '>': the old hooks are about to go, so '!' finds nothing; they stay all the same.
    ("bad line after '>'", b"ftramp_target_c count\n!ftramp_target_a count\n", "ENOENT",
     (M_NOHOOK, "!ftramp_target_a count", 1), {"mode": "w"}),
    ("partial write, bad", None, "EINVAL", (M_CB, "ftramp_target_c cnt", 16),
     {"chunks": [b"ftramp_target_c", b" cnt\n"]}),
    ("partial line too long", None, "E2BIG", (M_LONG, "g" * 64, 0),
     {"chunks": [b"g" * 300, b"g" * 300]}),
    ("partial line too long after '>'", None, "E2BIG", (M_LONG, "g" * 64, 0),
     {"chunks": [b"g" * 300, b"g" * 300], "mode": "w"}),
    # A line without its newline is judged at close, where the error cannot be returned.
    ("bad last line, no newline", b"ftramp_target_c cnt", "OK",
     (M_CB, "ftramp_target_c cnt", 16), {}),
    ("bad last line after '>'", b"ftramp_target_c cnt", "OK",
     (M_CB, "ftramp_target_c cnt", 16), {"mode": "w"}),
    # 64 KiB of valid lines (without the limit: EEXIST from the second one).
    ("write over 64 KiB", OVER_64K, "E2BIG", (M_BIG, "", 0), {}),
    ("write over 64 KiB after '>'", OVER_64K, "E2BIG", (M_BIG, "", 0), {"mode": "w"}),
    ("write at an offset", LINE_C, "ESPIPE", (M_OFFSET, "", 0), {"offset": 7}),
    ("write at an offset after '>'", LINE_C, "ESPIPE", (M_OFFSET, "", 0),
     {"offset": 7, "mode": "w"}),
    ("non-root write", LINE_C, "EACCES", None, {"user": 65534}),
]


def check(desc, data, want, log, opt):
    clear_errlog()
    before = snapshot()
    got = write(data, mode=opt.get("mode", "a"), chunks=opt.get("chunks"),
                offset=opt.get("offset"), as_user=opt.get("user"))
    behind_the_back(True)
    after = snapshot()
    behind_the_back(False)
    problems = [] if got == want else ["got %s, want %s" % (got, want)]
    problems += state_problems(before, after) + log_problems(log)
    if problems:
        fail("%-32s %s" % (desc, "; ".join(problems)))
        # The next cases start from the hooks they expect.
        if read(HOOKS) != before[0]:
            restore()
    else:
        diag("ok   %-32s %s, %s" % (desc, got, "no log entry" if log is None else
                                    "%r at %d" % (log[0], log[2])))


def other_files():
    """error_log refuses anything but blanks and the read-only files refuse every write,
    a partial line too: clear errno, no log entry, nothing changed."""
    for path, data, want in [(ERRLOG, b"junk\n", "EINVAL"), (ERRLOG, b"junk", "EINVAL"),
                             (ERRLOG, b" \nx", "EINVAL")] + [
            (F + "/" + f, d, "EPERM")
            for f in ("status", "stats", "enabled_functions", "available_callbacks")
            for d in (b"x\n", b"x", b"\n", OVER_64K)]:
        write(b"ftramp_target_a cnt\n")     # an entry a refused write must leave alone
        log, before = read(ERRLOG), snapshot()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, data)
                got = "OK"
            except OSError as e:
                got = errno.errorcode[e.errno]
            finally:
                os.close(fd)
        except OSError as e:
            got = "open: " + errno.errorcode[e.errno]
        problems = [] if got == want else ["got %s, want %s" % (got, want)]
        problems += state_problems(before, snapshot())
        if read(ERRLOG) != log:
            problems.append("error_log changed: %r -> %r" % (log, read(ERRLOG)))
        desc = "write %r to %s" % (data[:8], os.path.basename(path))
        if problems:
            fail("%-32s %s" % (desc, "; ".join(problems)))
        else:
            diag("ok   %-32s %s, nothing changed" % (desc, got))
    clear_errlog()


SETUP = "ftramp_target_a count\nftramp_target_a trace\n"
SETUP_SITES = {"ftramp_target_a": (2, "fused")}


def last_line_at_close():
    """A last line without a newline is applied at close, not before; after '>' the old
    hooks stay until then too."""
    for mode, line, hooks, sites in [
            ("a", b"ftramp_target_c count", SETUP + "ftramp_target_c count\n",
             dict(SETUP_SITES, ftramp_target_c=(1, "direct"))),
            ("w", b"ftramp_target_d stacktrace:7", "ftramp_target_d stacktrace:7\n",
             {"ftramp_target_d": (1, "direct")})]:
        what = "'%s' + %r without newline" % (">>" if mode == "a" else ">", line)
        fd = os.open(HOOKS, os.O_WRONLY | (os.O_TRUNC if mode == "w" else os.O_APPEND))
        try:
            os.write(fd, line)
            expect_hooks(what + ", before close", SETUP, SETUP_SITES)
        finally:
            os.close(fd)
        expect_hooks(what + ", after close", hooks, sites)
        restore()


def replace():
    """'>' replaces every hook: the old ones go (one of them re-added), the new ones are
    there, in hooks and in both enabled_functions."""
    steps = [
        (b"ftramp_target_b count\nftramp_target_c stacktrace:5\nftramp_target_a count\n",
         "ftramp_target_a count\nftramp_target_b count\nftramp_target_c stacktrace:5\n",
         {"ftramp_target_a": (1, "direct"), "ftramp_target_b": (1, "direct"),
          "ftramp_target_c": (1, "direct")}),
        (b"ftramp_target_d trace\nftramp_target_d count\n",
         "ftramp_target_d count\nftramp_target_d trace\n", {"ftramp_target_d": (2, "fused")}),
    ]
    for data, hooks, sites in steps:
        r = write(data, mode="w")
        if r != "OK":
            fail("'>' %r: %s" % (data, r))
        expect_hooks("'>' %r" % data, hooks, sites)
    restore()


def restore():
    if write(SETUP.encode(), mode="w") != "OK" or read(HOOKS).decode() != SETUP:
        fail("cannot restore the hooks to %r" % SETUP)


def one_file_writers():
    """Threads sharing one open file: a write while another is inside ftramp gets EBUSY.
    pwrite() at offset 0: the VFS serialises write() of threads sharing a file (the file
    position lock), so write() alone would never collide. Every add and remove is retried
    until it is not EBUSY, so each must succeed exactly once."""
    before = snapshot(stats=False)
    clear_errlog()
    fd = os.open(HOOKS, os.O_WRONLY | os.O_APPEND)
    results, cycles, deadline = [], 10, time.monotonic() + 120
    pairs = [b"ftramp_target_b count", b"ftramp_target_b trace", b"ftramp_target_d count",
             b"ftramp_target_d stacktrace:3"]

    def writer(i):
        for _ in range(cycles):
            for line in (pairs[i], b"!" + pairs[i].split(b":")[0]):
                while time.monotonic() < deadline:
                    try:
                        if "serial" in BREAK:
                            os.write(fd, line + b"\n")
                        else:
                            os.pwrite(fd, line + b"\n", 0)
                        results.append("OK")
                        break
                    except OSError as e:
                        results.append(errno.errorcode[e.errno])
                        if e.errno != errno.EBUSY:
                            break
                        time.sleep(0.001)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(pairs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.close(fd)
    counts = {r: results.count(r) for r in sorted(set(results))}
    want_ok = len(pairs) * cycles * 2
    problems = state_problems(before, snapshot(stats=False)) + log_problems(None)
    if set(counts) - {"OK", "EBUSY"}:
        problems.append("results other than OK and EBUSY")
    if counts.get("OK", 0) != want_ok:
        problems.append("%d writes succeeded, want %d" % (counts.get("OK", 0), want_ok))
    if counts.get("EBUSY", 0) < 1:
        problems.append("no EBUSY: the writers never overlapped")
    if problems:
        fail("writers on one open file: %s: %s" % (counts, "; ".join(problems)))
    else:
        diag("ok   writers on one open file: %s" % counts)


def separate_writers():
    """4 writers, a new open file per write: 2 with hooks of their own (every add and
    remove succeeds), 2 sharing one (an add succeeds or finds it there, a remove succeeds
    or finds it gone, as many adds as removes succeed), each also writing a bad line."""
    before = snapshot(stats=False)
    results = [[] for _ in range(4)]
    lines = [b"ftramp_target_b count", b"ftramp_target_c stacktrace:1",
             b"ftramp_target_d trace", b"ftramp_target_b count"]
    if "shared" in BREAK:
        lines[2] = lines[1]

    def writer(i):
        for _ in range(20):
            results[i].append((write(lines[i] + b"\n"),
                               write(b"!" + lines[i].split(b":")[0] + b"\n"),
                               write(b"bogus cnt\n")))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    problems = state_problems(before, snapshot(stats=False))
    for i in (1, 2):
        if any(r[:2] != ("OK", "OK") for r in results[i]):
            problems.append("writer %d (own hook): %r" % (i, results[i]))
    shared = results[0] + results[3]
    adds, removes = [r[0] for r in shared], [r[1] for r in shared]
    if set(adds) - {"OK", "EEXIST"} or set(removes) - {"OK", "ENOENT"}:
        problems.append("shared hook: adds %r, removes %r" % (adds, removes))
    if adds.count("OK") != removes.count("OK") or adds.count("OK") < 1:
        problems.append("shared hook: %d adds and %d removes succeeded" % (
            adds.count("OK"), removes.count("OK")))
    bad = [r[2] for rs in results for r in rs]
    if bad != ["EINVAL"] * 80:
        problems.append("bad lines: %r" % bad)
    if problems:
        fail("separate writers: " + "; ".join(problems))
    else:
        diag("ok   separate writers: %d writes, shared hook added and removed %d times" % (
            3 * len(bad), adds.count("OK")))
    clear_errlog()


def misuse():
    before = snapshot(stats=False)
    got = ctl("misuse")
    problems = [] if got == "OK" else ["got %s" % got]
    problems += state_problems(before, snapshot(stats=False))
    if problems:
        log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
        for line in log.splitlines():
            if "misuse:" in line:
                diag("  " + line)
        fail("C API misuse: " + "; ".join(problems))
    else:
        diag("ok   C API misuse: every answer as documented, nothing changed")


def main():
    global failures
    if not NOTRACE:
        fail("no notrace function given")
    restore()
    # A good partial write works (the line is assembled across writes).
    if write(None, chunks=[b"ftramp_target_", b"d count\n"]) != "OK" or \
            write(b"!ftramp_target_d count\n") != "OK":
        fail("a good write split in two failed")
    expect_hooks("setup", SETUP, SETUP_SITES)
    for desc, data, want, log, opt in CASES:
        check(desc, data, want, log, opt)
    diag("%d bad writes checked" % len(CASES))
    other_files()

    # Non-root cannot read either.
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
        fail("a non-root user could read hooks")

    last_line_at_close()
    replace()
    one_file_writers()
    separate_writers()
    misuse()

    # '>' with nothing written clears; an empty line clears the error log.
    write(b"ftramp_target_a cnt\n")
    write(b"", mode="w", chunks=[])
    expect_hooks("': > hooks'", "", {})
    clear_errlog()
    return 1 if failures else 0


sys.exit(main())
