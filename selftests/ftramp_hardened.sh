#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Generated code on a hardened kernel: IBT, return thunks, call depth tracking.
#
# (a) Every unexported kernel function ftramp uses is reached by a direct branch: the
#     load-time self-check decoded all of them ("direct_branches: N/N checked", one per
#     "symbol:" line), so nothing is called through a pointer that IBT or kCFI could stop.
# (b) With one hook (direct) and two (fused) on ftramp_target_a while callers run, the
#     trampoline's bytes, and the fused stub's, are what the kernel's own generated code
#     would be:
#     - its return is `jmp <x86_return_thunk>` (the thunk chosen at boot, as status
#       reports it, with cpu_wants_rethunk_at()'s ITS rule) or `ret; int3`, and never the
#       boot-time placeholder __x86_return_thunk (which warns "Unpatched return thunk"
#       and taints on first use);
#     - with call depth tracking on (retbleed=stuff), `sarq $5, %gs:depth` at entry (the
#       fentry call) and right before the dispatch call and the reschedule call; with it
#       off, no accounting at all.
#     Independently of ftramp's own status: the thunk must be the one the kernel's boot
#     log names as active, call depth tracking must be on exactly when sysfs says RETBleed
#     is mitigated by stuffing, the accounting must update the kernel's own counter
#     (__x86_call_depth; pcpu_hot.call_depth on 6.12), and FTRAMP_EXPECT (set by make
#     check per CPU model) must hold.
# (c) The callers' calls all arrived, and the kernel log stays clean (harness).
#
# Mutant (by hand): FTRAMP_INSMOD_ARGS=mutant_rethunk=1 FTRAMP_TESTS=ftramp_hardened.sh make check
#   returns through __x86_return_thunk and drops the accounting (the code before Dec 2026).
#   Observed on 6.12 (Skylake-Client, retbleed=stuff), Dec 2026:
#     # FAIL: direct: returns through the placeholder __x86_return_thunk (ffffffff989884f0); bytes ...
#     #   [   10.118471] WARNING: CPU: 0 PID: 105 at arch/x86/kernel/cpu/bugs.c:3524 __warn_thunk+0x2b/0x40
#     # FAIL: kernel log has WARN/BUG/Oops/lockdep/KASAN/stall reports; new kernel taint 512
#   (the WARN is "Unpatched return thunk in use. This should not happen!").
. "$(dirname "$0")/lib.sh"

load_all || fail "insmod failed"
trap 'echo stop > "$TARGET_DIR/run" 2>/dev/null; : > "$FTRAMP_DIR/hooks"; unload_all' EXIT

# ---- (a) ----
checked=$(status_field direct_branches)
nsym=$(awk '$1 == "symbol:"' "$FTRAMP_DIR/status" | wc -l)
[ "$nsym" -ge 10 ] || fail "only $nsym symbols listed"
[ "$checked" = "$nsym/$nsym checked" ] || fail "direct branch self-check: '$checked', want $nsym/$nsym checked"
diag "all $nsym unexported functions reached by direct branches (self-check ran)"

# ---- (b) ----
depth=$(status_field call_depth_tracking)
thunk=$(status_field return_thunk)
ksym() { awk -v s="$1" '$3 == s { print $1; exit }' /proc/kallsyms; }
placeholder=$(ksym __x86_return_thunk)
its=$(ksym its_return_thunk)
thunk_name=$(awk -v a="${thunk#0x}" '$1 == a { print $3; exit }' /proc/kallsyms)
diag "call depth tracking: $depth, return thunk: $thunk (${thunk_name:-none})"

# What the kernel itself chose, independently of ftramp's status: its boot log names the
# active return thunk, and sysfs says whether RETBleed is mitigated by stuffing (call
# depth tracking). FTRAMP_EXPECT (from make check) says what the CPU model must give.
booted=$(sed -n 's/.*active return thunk: \([a-z_0-9]*\).*/\1/p' "${RESULTS:-/nonexistent}/boot.dmesg" 2>/dev/null | tail -1)
[ "${booted:-none}" = "${thunk_name:-none}" ] ||
  fail "the kernel's active return thunk is ${booted:-none}, ftramp uses ${thunk_name:-none} ($thunk)"
stuffing=no
grep -q Stuffing /sys/devices/system/cpu/vulnerabilities/retbleed && stuffing=yes
[ "$stuffing" = "$depth" ] ||
  fail "retbleed: '$(cat /sys/devices/system/cpu/vulnerabilities/retbleed)', but ftramp's call depth tracking: $depth"
for e in ${FTRAMP_EXPECT:-}; do
  case $e in
    call_depth=*) [ "$depth" = "${e#*=}" ] || fail "this CPU model must give call depth tracking ${e#*=}, status says $depth" ;;
    thunk=*) [[ ${thunk_name:-none} =~ ^(${e#*=})$ ]] || fail "this CPU model must give return thunk ${e#*=}, ftramp uses ${thunk_name:-none}" ;;
  esac
done
# The call depth counter the kernel's own INCREMENT_CALL_DEPTH updates.
depth_var=$(ksym __x86_call_depth)
[ -n "$depth_var" ] || depth_var=$(printf '%x' $(( 0x$(ksym pcpu_hot) + 16 )))  # 6.12: pcpu_hot.call_depth

echo "start a 1" > "$TARGET_DIR/run" || fail "cannot start callers"
check_tramp() { # MODE
  local tramp bytes
  tramp=$(site_line ftramp_target_a | sed -n 's/.*tramp=0x\([0-9a-f]*\).*/\1/p')
  [ -n "$tramp" ] || fail "$1: no trampoline for ftramp_target_a"
  # The trampoline's length and dispatch offset (they follow its entry frame).
  len=$(site_field ftramp_target_a len) call=$(site_field ftramp_target_a dispatch)
  [ -n "$len" ] && [ -n "$call" ] || fail "$1: no len/dispatch for ftramp_target_a in stats"
  echo "$tramp $len" > "$TEST_DIR/peek" || fail "$1: peek at $tramp"
  bytes=$(cat "$TEST_DIR/peek")
  PYTHONPATH=$SELFTESTS_DIR python3 - "$1" "$tramp" "$bytes" "$len" "$call" "$depth" "$thunk" "$placeholder" "$its" "$depth_var" <<'EOF' || exit $KSFT_FAIL
import sys
from ftramp_codecheck import return_problem
mode, tramp, hexb, n, call, depth, thunk, placeholder, its, depth_var = sys.argv[1:]
depth_var = int(depth_var, 16)
at, b, n, call = int(tramp, 16), bytes.fromhex(hexb), int(n), int(call)
thunk = int(thunk, 16)
placeholder = int(placeholder, 16) if placeholder else -1
its = int(its, 16) if its else -1
def fail(msg):
    print(f"# FAIL: {mode}: {msg}; bytes {hexb}")
    sys.exit(1)
def dest(off):
    rel = int.from_bytes(b[off + 1:off + 5], "little", signed=True)
    return (at + off + 5 + rel) & (2**64 - 1)
SARQ = (bytes.fromhex("6548c13c25"), bytes.fromhex("6548c13d"))
def is_sarq(off):
    return any(b[off:off + len(p)] == p for p in SARQ) and b[off + 9] in (5, 0x90) \
        and (b[off + 9] == 5 or b[off + 8] == 5)
def sarq_var(off):
    if b[off + 3] == 0x3c:  # %gs:disp32, sign-extended
        return int.from_bytes(b[off + 5:off + 9], "little", signed=True) & (2**64 - 1)
    rel = int.from_bytes(b[off + 4:off + 8], "little", signed=True)
    return (at + off + 9 + rel) & (2**64 - 1)
ret = n - 5
problem = return_problem(b, at, ret, thunk, placeholder, its)
if problem:
    fail(problem)
if b[call] != 0xe8:
    fail(f"no dispatch call at +{call}")
# The mode site: a 5-byte nop (no return ops) or a jmp to the return trampoline.
if b[0:5] != bytes.fromhex("0f1f440000") and b[0] != 0xe9:
    fail("no mode site (nop or jmp) at +0")
sarqs = [o for o in range(n - 10) if is_sarq(o)]
if depth == "yes":
    if 5 not in sarqs:
        fail("no call depth accounting at entry (the fentry call), after the mode site")
    if call - 10 not in sarqs:
        fail("no call depth accounting before the dispatch call")
    if len(sarqs) != 3:
        fail(f"{len(sarqs)} call depth accountings, want 3 (entry, dispatch, reschedule)")
    for o in sarqs:
        if sarq_var(o) != depth_var:
            fail(f"call depth accounting at +{o} updates {sarq_var(o):x}, the kernel's counter is {depth_var:x}")
elif sarqs:
    fail(f"call depth accounting at {sarqs} although the kernel does not track call depth")
print(f"# {mode}: trampoline {tramp} ({n} bytes, dispatch at +{call}): return {'jmp %x' % dest(ret) if b[ret] == 0xe9 else 'ret; int3'}, "
      f"{len(sarqs)} call depth accountings")
EOF
}
echo "ftramp_target_a count" >> "$FTRAMP_DIR/hooks" || fail "hook"
check_tramp direct
echo "ftramp_target_a stacktrace:1" >> "$FTRAMP_DIR/hooks" || fail "second hook"
check_tramp fused

# The fused stub the dispatch call reaches with two hooks: the same rules for its calls
# (each accounted right before it) and its return.
check_fused() {
  local tramp stub code
  tramp=$(site_line ftramp_target_a | sed -n 's/.*tramp=0x\([0-9a-f]*\).*/\1/p')
  site_line ftramp_target_a | grep -q "mode=fused" || fail "two hooks, but not fused: $(site_line ftramp_target_a)"
  stub=$(call_dest "$(printf '%x' $(( 0x$tramp + call )))") || fail "the dispatch site: $stub"
  code=$(tpeek "$stub" 256) || fail "peek at the fused stub $stub"
  PYTHONPATH=$SELFTESTS_DIR python3 - "$stub" "$code" "$depth" "$thunk" "$placeholder" "$its" "$depth_var" <<'EOF' || exit $KSFT_FAIL
import sys
from ftramp_codecheck import return_problem
at, hexb, depth, thunk, placeholder, its, depth_var = sys.argv[1:]
at, b, thunk, depth_var = int(at, 16), bytes.fromhex(hexb), int(thunk, 16), int(depth_var, 16)
placeholder = int(placeholder, 16) if placeholder else -1
its = int(its, 16) if its else -1
def fail(msg):
    print(f"# FAIL: fused stub at {at:x}: {msg}; bytes {hexb}")
    sys.exit(1)
if b[:7] != bytes.fromhex("554889e5575651"):
    fail("no prologue (push rbp; mov rsp,rbp; push rdi, rsi, rcx)")
off, calls, last = 7, 0, None
rbx = b[off] == 0x53  # push %rbx: the stub takes the recursion guard for guarded ops
off += rbx
while b[off] != 0xc9:
    if b[off:off + 4] == bytes.fromhex("488b5de0"):  # mov -32(%rbp),%rbx
        off += 4
    elif b[off:off + 2] == b"\x48\x8b":
        off += 12
    elif b[off:off + 2] == b"\x48\xba":
        off += 10
    elif b[off:off + 2] in (b"\x89\xc3", b"\x89\xdf"):  # the guard's bit in/out of %ebx
        off += 2
    elif b[off:off + 2] == b"\x85\xdb" and b[off + 2] == 0x78:  # test %ebx,%ebx; js
        off += 4
    elif b[off] == 0x65:
        var = (int.from_bytes(b[off + 5:off + 9], "little", signed=True) & (2**64 - 1)
               if b[off + 3] == 0x3c else
               (at + off + 9 + int.from_bytes(b[off + 4:off + 8], "little", signed=True)) & (2**64 - 1))
        if var != depth_var:
            fail(f"call depth accounting at +{off} updates {var:x}, the kernel's is {depth_var:x}")
        last = off + 10
        off += 10
    elif b[off] == 0xe8:
        if (depth == "yes") != (last == off):
            fail(f"call at +{off}: accounted right before it: {last == off}, call depth tracking: {depth}")
        calls += 1
        off += 5
    else:
        fail(f"unexpected byte {b[off]:02x} at +{off}")
r = off + 1
problem = return_problem(b, at, r, thunk, placeholder, its)
if problem:
    fail(f"after leave: {problem}")
want = 2 + 2 * rbx  # the two callbacks, and the guard's take and release
if calls != want:
    fail(f"{calls} calls, want {want}")
print(f"# fused stub {at:x}: {calls} calls{', each accounted' if depth == 'yes' else ''}, return "
      f"{'jmp %x' % thunk if b[r] == 0xe9 else 'ret; int3'}")
EOF
}
check_fused

# The return trampoline (a `ret` hook): both halves, and the entry trampoline's mode site
# jumping to it.
echo "ftramp_target_a ret" >> "$FTRAMP_DIR/hooks" || fail "ret hook: $(cat "$FTRAMP_DIR/error_log")"
check_tramp ret
rl=$(awk '$1 == "site" && $2 == "ftramp_target_a" && $3 == "ret"' "$FTRAMP_DIR/stats")
[ -n "$rl" ] || fail "stats has no return trampoline line for ftramp_target_a"
rv() { sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p" <<< "$rl"; }
tramp=$(site_line ftramp_target_a | sed -n 's/.*tramp=0x\([0-9a-f]*\).*/\1/p')
echo "$tramp 5" > "$TEST_DIR/peek" && mode=$(cat "$TEST_DIR/peek") || fail "peek at the mode site"
echo "$(rv a | sed s/^0x//) $(rv a_len)" > "$TEST_DIR/peek" && ba=$(cat "$TEST_DIR/peek") || fail "peek at slot A"
echo "$(rv b | sed s/^0x//) $(rv b_len)" > "$TEST_DIR/peek" && bb=$(cat "$TEST_DIR/peek") || fail "peek at slot B"
PYTHONPATH=$SELFTESTS_DIR python3 - "$tramp" "$mode" "$(rv a)" "$ba" "$(rv entry_call)" "$(rv b)" "$bb" "$(rv ret_call)" \
    "$depth" "$thunk" "$placeholder" "$its" "$depth_var" "$(ksym ftramp_target_a)" <<'EOF' || exit $KSFT_FAIL
import sys
from ftramp_codecheck import return_problem
(tramp, mode, a, ba, ecall, b, bb, rcall, depth, thunk, placeholder, its, depth_var,
 fn) = sys.argv[1:]
tramp, a, b, fn = int(tramp, 16), int(a, 16), int(b, 16), int(fn, 16)
mode, ba, bb = bytes.fromhex(mode), bytes.fromhex(ba), bytes.fromhex(bb)
ecall, rcall, depth_var, thunk = int(ecall), int(rcall), int(depth_var, 16), int(thunk, 16)
placeholder = int(placeholder, 16) if placeholder else -1
its = int(its, 16) if its else -1
def fail(msg):
    print(f"# FAIL: return trampoline: {msg}")
    sys.exit(1)
def dest(code, at, off):
    rel = int.from_bytes(code[off + 1:off + 5], "little", signed=True)
    return (at + off + 5 + rel) & (2**64 - 1)
SARQ = (bytes.fromhex("6548c13c25"), bytes.fromhex("6548c13d"))
def sarqs(code, at):
    out = []
    for o in range(len(code) - 9):
        if any(code[o:o + len(p)] == p for p in SARQ) and (code[o + 9] == 5 or code[o + 8] == 5):
            var = (int.from_bytes(code[o + 5:o + 9], "little", signed=True) & (2**64 - 1)
                   if code[o + 3] == 0x3c else
                   (at + o + 9 + int.from_bytes(code[o + 4:o + 8], "little", signed=True)) & (2**64 - 1))
            if var != depth_var:
                fail(f"call depth accounting at {at + o:x} updates {var:x}, the kernel's is {depth_var:x}")
            out.append(o)
    return out
if mode[0] != 0xe9 or dest(mode, tramp, 0) != a:
    fail(f"the mode site is {mode.hex()}, not a jmp to slot A {a:x}")
if ba[ecall] != 0xe8 or bb[rcall] != 0xe8:
    fail(f"no entry dispatch call at A+{ecall} or no return dispatch call at B+{rcall}")
body = len(ba) - 10
if ba[body] != 0xe8 or dest(ba, a, body) - fn not in (5, 9):
    fail(f"A+{body} does not call the body (ftramp_target_a+5, or +9 past endbr)")
if ba[-5] != 0xe9 or dest(ba, a, len(ba) - 5) != b:
    fail("slot A does not end with a jmp to slot B")
r = len(bb) - 5
problem = return_problem(bb, b, r, thunk, placeholder, its)
if problem:
    fail(f"slot B: {problem}")
sa, sb = sarqs(ba, a), sarqs(bb, b)
if depth == "yes":
    want_a = {0, ecall - 10, body - 10}
    if not want_a <= set(sa) or len(sa) != 4:
        fail(f"slot A accounts at {sa}, want entry, the entry dispatch, the reschedule, the body call")
    if rcall - 10 not in sb or len(sb) != 2:
        fail(f"slot B accounts at {sb}, want the return dispatch and the reschedule")
elif sa or sb:
    fail(f"call depth accounting at A{sa} B{sb} although the kernel does not track call depth")
print(f"# return trampoline: mode jmp -> A {a:x}, body call at A+{body}, return "
      f"{'jmp %x' % dest(bb, b, r) if bb[r] == 0xe9 else 'ret; int3'}, "
      f"{len(sa)}+{len(sb)} call depth accountings")
EOF
sleep 0.5
echo stop > "$TARGET_DIR/run"

# ---- (c) ----
# Exactly counted calls through the list-mode trampoline (its return and accounting run
# on every call), by the target and by the count hook.
hits() { awk '$1 == "hook" && $2 == "ftramp_target_a" && $3 == "count" { sub(/hits=/, "", $4); print $4 }' "$FTRAMP_DIR/stats"; }
rets() { awk '$1 == "hook" && $2 == "ftramp_target_a" && $3 == "ret" { sub(/hits=/, "", $4); print $4 }' "$FTRAMP_DIR/stats"; }
h0=$(hits) r0=$(rets)
echo 1 > "$TARGET_DIR/reset"
echo "a kthread 100000" > "$TARGET_DIR/run" || fail "run a kthread failed"
[ "$(target_count a)" = 100000 ] || fail "target counted $(target_count a) calls, 100000 were made"
[ $(( $(hits) - h0 )) = 100000 ] || fail "count hook saw $(( $(hits) - h0 )) of 100000 calls"
[ $(( $(rets) - r0 )) = 100000 ] || fail "ret hook saw $(( $(rets) - r0 )) of 100000 returns"
diag "100000 calls through the hardened return trampoline, each entered and returned once"
exit $KSFT_PASS
