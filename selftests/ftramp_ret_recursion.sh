#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Return hooks on recursion, a tail call and the unwinder (issue 12).
#   recursion  return ops 8 (order mode) on ftramp_target_rec, called at depth 8 with
#              preemption off: the entries arrive outermost first (8..0), the returns
#              innermost first (0..8), each with the cookie (the depth) its own entry
#              left and the value r(depth); the callers get the right results.
#   tail call  ftramp_target_tail_caller does jmp to ftramp_target_tail_callee (checked
#              in the built module's disassembly), so the callee returns straight to
#              ftramp_target_tail_top: the parent_ip at entry (entry-only ops 0, now)
#              and at return (return ops 9) must be in tail_top, the return's equal to
#              the entry's, the value right.
#   unwinding  a stack trace taken in ftramp_target_unwind's body (no hooks, an entry
#              hook, return hooks) and in a return callback (ops 10) must contain the
#              real caller, ftramp_target_unwind_caller (by symbol name).
# Failure shown: the disassembly check on ftramp_target_tail_top (a call, not a jmp);
# the parent check with the entry ops on tail_top itself (parent run_ret_cmd); the
# unwind check with ftramp_target oracle_mutant=2 (a name not on the stack); the order
# check with ftramp_test_ops oracle_mutant=5 (pops the outermost depth).
. "$(dirname "$0")/lib.sh"

N=${REC_CALLS:-200}
TMUT=/sys/module/ftramp_target/parameters/oracle_mutant
OMUT=/sys/module/ftramp_test_ops/parameters/oracle_mutant

# jmps_to CALLER CALLEE: CALLER's code in the built module jumps (not calls) to CALLEE.
jmps_to() {
  local dis
  dis=$(objdump -dr --no-show-raw-insn --disassemble="$1" "$TARGET_KO") || return 1
  echo "$dis" | grep -A1 -E '\sjmp\s' | grep -qE "R_X86_64_PLT32\s+$2-0x4" &&
    ! echo "$dis" | grep -A1 -E '\scall\s' | grep -qE "\s$2-0x4"
}
command -v objdump > /dev/null || fail "no objdump"
jmps_to ftramp_target_tail_caller ftramp_target_tail_callee ||
  fail "ftramp_target_tail_caller does not tail-call ftramp_target_tail_callee: $(objdump -dr --no-show-raw-insn --disassemble=ftramp_target_tail_caller "$TARGET_KO" | grep -E 'call|jmp')"
jmps_to ftramp_target_tail_top ftramp_target_tail_caller &&
  fail "the disassembly check cannot fail: it says tail_top tail-calls tail_caller"
diag "tail call: ftramp_target_tail_caller jmps to ftramp_target_tail_callee (tail_top calls, as the check tells apart)"

load_all || fail "loading the modules failed"
trap 'echo 0 > $TMUT 2>/dev/null; echo 0 > $OMUT 2>/dev/null; unload_all' EXIT
unwind_run() {
  local label=$1 ok0=$(target_count unwind_ok)
  echo "unwind $N" > "$TARGET_DIR/run" || fail "$label: unwind run failed"
  [ "$(target_count unwind_bad)" = 0 ] || fail "$label: $(target_count unwind_bad) body traces without ftramp_target_unwind_caller (dmesg has the first)"
  [ $(( $(target_count unwind_ok) - ok0 )) = "$N" ] || fail "$label: $(( $(target_count unwind_ok) - ok0 )) of $N body traces checked"
  [ "$(target_count unwind_wrong)" = 0 ] || fail "$label: unwind callers got wrong results"
}
parent_of() { awk -v k="$1" '$1 == "parent" && $2 == k { print $3 }' "$TEST_DIR/ret"; }

# ---- what entry hooks show (no return hooks needed) ----
unwind_run "no hooks"
ctl filter 0 ftramp_target_unwind && ctl register 0 || fail "attach ops 0 to ftramp_target_unwind"
unwind_run "entry hook"
ctl unregister 0 || fail "detach ops 0"
echo 1 > "$TARGET_DIR/reset"
echo 2 > $TMUT; echo "unwind 3" > "$TARGET_DIR/run"; echo 0 > $TMUT
[ "$(target_count unwind_bad)" -gt 0 ] || fail "target oracle_mutant=2: the unwind check passed for a function not on the stack"
echo 1 > "$TARGET_DIR/reset"
diag "unwind: the body's trace names its caller with no hooks and with an entry hook (mutant 2 fails it)"

ctl zero
ctl mode 0 parent && ctl filter 0 ftramp_target_tail_callee && ctl register 0 || fail "attach ops 0 (parent)"
echo "tail $N" > "$TARGET_DIR/run" || fail "tail run failed"
[ "$(target_count tail_wrong)" = 0 ] || fail "tail: $(target_count tail_wrong) wrong results"
[ "$(ops_count 0)" = "$N" ] || fail "tail: ops 0 saw $(ops_count 0) of $N calls"
case $(parent_of 0) in ftramp_target_tail_top+*) ;; *) fail "tail: the callee's parent_ip at entry is $(parent_of 0), not in ftramp_target_tail_top" ;; esac
diag "tail: the callee's parent_ip at entry is $(parent_of 0)"
ctl unregister 0 && ctl filter 0 ftramp_target_tail_top && ctl register 0 || fail "attach ops 0 to tail_top"
echo "tail 1" > "$TARGET_DIR/run" || fail "tail run failed"
case $(parent_of 0) in ftramp_target_tail_top+*) fail "the parent check cannot fail: tail_top's own parent $(parent_of 0) passed" ;; esac
ctl unregister 0 && ctl mode 0 count || fail "detach ops 0"

# ---- return hooks (needs the engine's return trampolines) ----
ctl mode 8 order && ctl filter 8 ftramp_target_rec && ctl register 8 || fail "attach return ops 8 (order)"
echo "rec 8 $N" > "$TARGET_DIR/run" || fail "rec run failed"
[ "$(target_count rec_wrong)" = 0 ] || fail "recursion: the callers got $(target_count rec_wrong) wrong results"
for f in entries returns; do
  [ "$(rfield 8 $f)" = $((9 * N)) ] || fail "recursion: ops 8 $f $(rfield 8 $f), want $((9 * N))"
done
for f in wrong regs_wrong; do
  [ "$(rfield 8 $f)" = 0 ] || fail "recursion: ops 8 $f $(rfield 8 $f) (out of order, wrong cookie or value)"
done
got=$(awk '$1 == "order_entries" { $1 = ""; print }' "$TEST_DIR/ret" | cut -d' ' -f2-10)
[ "$got" = "8 7 6 5 4 3 2 1 0" ] || fail "recursion: entries in the order '$got'"
got=$(awk '$1 == "order_returns" { $1 = ""; print }' "$TEST_DIR/ret" | cut -d' ' -f2-10)
[ "$got" = "0 1 2 3 4 5 6 7 8" ] || fail "recursion: returns in the order '$got', want innermost first"
diag "recursion: $((9 * N)) returns, innermost first, each with its own entry's cookie"
ctl zero; echo 5 > $OMUT; echo "rec 3 2" > "$TARGET_DIR/run"; echo 0 > $OMUT
[ "$(rfield 8 wrong)" -gt 0 ] || fail "oracle_mutant=5 (outermost first): the order check passed"
ctl unregister 8 || fail "detach ops 8"

ctl mode 9 tail && ctl filter 9 ftramp_target_tail_callee && ctl register 9 || fail "attach return ops 9 (tail)"
echo "tail $N" > "$TARGET_DIR/run" || fail "tail run failed"
[ "$(target_count tail_wrong)" = 0 ] || fail "tail: the callers got $(target_count tail_wrong) wrong results"
[ "$(rfield 9 ok)" = "$N" ] && [ "$(rfield 9 wrong)" = 0 ] ||
  fail "tail: ops 9 ok $(rfield 9 ok) wrong $(rfield 9 wrong) of $N (parent_ip at return: $(parent_of 9))"
diag "tail: every return's parent_ip is the tail-caller's caller: $(parent_of 9)"
ctl unregister 9 || fail "detach ops 9"

ctl mode 10 unwind && ctl filter 10 ftramp_target_unwind && ctl register 10 || fail "attach return ops 10 (unwind)"
unwind_run "return hook"
[ "$(rfield 10 ok)" = "$N" ] && [ "$(rfield 10 wrong)" = 0 ] ||
  fail "unwind: return callback traces: ok $(rfield 10 ok) wrong $(rfield 10 wrong) of $N (dmesg has the first bad one)"
diag "unwind: the body's and the return callback's traces name the real caller"
ctl unregister 10 || fail "detach ops 10"
assert_detached ftramp_target_rec ftramp_target_tail_callee ftramp_target_tail_top ftramp_target_unwind
exit $KSFT_PASS
