#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Generated code on a hardened kernel: IBT, return thunks, call depth tracking.
#
# (a) Every unexported kernel function ftramp uses is reached by a direct branch: the
#     load-time self-check decoded all of them ("direct_branches: N/N checked", one per
#     "symbol:" line), so nothing is called through a pointer that IBT or kCFI could stop.
# (b) With one hook (direct) and two (list) on ftramp_target_a while callers run, the
#     trampoline's bytes are what the kernel's own generated code would be:
#     - its return is `jmp <x86_return_thunk>` (the thunk chosen at boot, as status
#       reports it, with cpu_wants_rethunk_at()'s ITS rule) or `ret; int3`, and never the
#       boot-time placeholder __x86_return_thunk (which warns "Unpatched return thunk"
#       and taints on first use);
#     - with call depth tracking on (retbleed=stuff), `sarq $5, %gs:depth` at entry (the
#       fentry call) and right before the dispatch call and the reschedule call; with it
#       off, no accounting at all.
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
read -r _ len _ call <<< "$(status_field trampoline_layout)"
ksym() { awk -v s="$1" '$3 == s { print $1; exit }' /proc/kallsyms; }
placeholder=$(ksym __x86_return_thunk)
its=$(ksym its_return_thunk)
diag "call depth tracking: $depth, return thunk: $thunk ($(awk -v a="${thunk#0x}" '$1 == a { print $3; exit }' /proc/kallsyms)), trampoline $len bytes, dispatch at +$call"

echo "start a 1" > "$TARGET_DIR/run" || fail "cannot start callers"
check_tramp() { # MODE
  local tramp bytes
  tramp=$(site_line ftramp_target_a | sed -n 's/.*tramp=0x\([0-9a-f]*\).*/\1/p')
  [ -n "$tramp" ] || fail "$1: no trampoline for ftramp_target_a"
  echo "$tramp $len" > "$TEST_DIR/peek" || fail "$1: peek at $tramp"
  bytes=$(cat "$TEST_DIR/peek")
  python3 - "$1" "$tramp" "$bytes" "$len" "$call" "$depth" "$thunk" "$placeholder" "$its" <<'EOF' || exit $KSFT_FAIL
import sys
mode, tramp, hexb, n, call, depth, thunk, placeholder, its = sys.argv[1:]
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
ret = n - 5
if b[ret] == 0xe9:
    d = dest(ret)
    if d == placeholder:
        fail(f"returns through the placeholder __x86_return_thunk ({d:x})")
    if d != thunk:
        fail(f"returns through {d:x}, the kernel's return thunk is {thunk:x}")
    if thunk == its and (at + ret) & 0x20:
        fail("jmp to its_return_thunk from the upper half of a cache line (cpu_wants_rethunk_at says ret)")
elif b[ret:ret + 2] == b"\xc3\xcc":
    if thunk and not (thunk == its and (at + ret) & 0x20):
        fail(f"plain ret, but the kernel returns through {thunk:x}")
else:
    fail(f"no return at +{ret}")
if b[call] != 0xe8:
    fail(f"no dispatch call at +{call}")
sarqs = [o for o in range(n - 10) if is_sarq(o)]
if depth == "yes":
    if 0 not in sarqs:
        fail("no call depth accounting at entry (the fentry call)")
    if call - 10 not in sarqs:
        fail("no call depth accounting before the dispatch call")
    if len(sarqs) != 3:
        fail(f"{len(sarqs)} call depth accountings, want 3 (entry, dispatch, reschedule)")
elif sarqs:
    fail(f"call depth accounting at {sarqs} although the kernel does not track call depth")
print(f"# {mode}: trampoline {tramp}: return {'jmp %x' % dest(ret) if b[ret] == 0xe9 else 'ret; int3'}, "
      f"{len(sarqs)} call depth accountings")
EOF
}
echo "ftramp_target_a count" >> "$FTRAMP_DIR/hooks" || fail "hook"
check_tramp direct
echo "ftramp_target_a stacktrace:1" >> "$FTRAMP_DIR/hooks" || fail "second hook"
check_tramp list
sleep 0.5
echo stop > "$TARGET_DIR/run"

# ---- (c) ----
# Exactly counted calls through the list-mode trampoline (its return and accounting run
# on every call), by the target and by the count hook.
hits() { awk '$1 == "hook" && $2 == "ftramp_target_a" && $3 == "count" { sub(/hits=/, "", $4); print $4 }' "$FTRAMP_DIR/stats"; }
h0=$(hits)
echo 1 > "$TARGET_DIR/reset"
echo "a kthread 100000" > "$TARGET_DIR/run" || fail "run a kthread failed"
[ "$(target_count a)" = 100000 ] || fail "target counted $(target_count a) calls, 100000 were made"
[ $(( $(hits) - h0 )) = 100000 ] || fail "count hook saw $(( $(hits) - h0 )) of 100000 calls"
diag "100000 calls through the hardened list-mode trampoline, each counted once"
exit $KSFT_PASS
