#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The no-drop oracle for returns (issue 12), with lib.sh's run_stress (per CPU and per
# context exact, no doubles, the int3 window hit in every context) plus the return
# side, callers on every vCPU in task, softirq, hardirq and NMI context:
#   ret            the persistent ops P is a return ops (entry and return counted):
#                  entries == returns == the target's own count, per CPU and context;
#                  the toggles alternate between an entry-only ops (flips the entry
#                  dispatch) and a return ops (flips both dispatch sites); the return
#                  dispatch's int3 window must be hit (int3_emulated_ret);
#   ret, guarded   the same with the guarded entry-only ops;
#   ret moves      P is entry-only and only a return ops toggles: the function moves
#                  between the entry-only and the return trampoline in every round,
#                  and P must still count exactly;
# the toggled return ops may miss returns of calls entered before a toggle, never get
# more returns than entries, never a return it did not enter (unentered).
# Sensitivity twin: with skip_ret=1 (the int3 handler skips the call at return
# dispatch sites only) the "ret" run must report dropped returns.
# Scale with RET_SWITCHES / RET_CALLS (defaults: 500 switches, 10^6 calls).
. "$(dirname "$0")/lib.sh"

SW=${RET_SWITCHES:-500}
CALLS=${RET_CALLS:-1000000}
CTX=$((1 | 2 | 4 | 16))
R=$TEST_DIR/result
load_all || fail "loading the modules failed"
trap 'echo 0 > /sys/module/ftramp/parameters/skip_ret 2>/dev/null; unload_all' EXIT
[ -w /sys/module/ftramp/parameters/skip_ret ] || skip "ftramp built without test knobs (skip_ret)"
diag "$(nproc) CPUs online"

# ret_checks LABEL: the return side of the last run.
ret_checks() {
  local label=$1 f
  for f in ret_unentered ret_wrong tret_excess; do
    [ "$(result_field $f)" = 0 ] || fail "$label: $f $(result_field $f)"
  done
  [ "$(result_field tret_entries)" -gt 0 ] || fail "$label: the toggled return ops never entered"
  [ "$(result_field tret_returns)" -gt 0 ] || fail "$label: the toggled return ops never got a return"
  if [ "$(result_field ret_mode)" = 1 ]; then
    [ "$(result_field ret_drops)" = 0 ] || fail "$label: $(result_field ret_drops) returns dropped"
    [ "$(result_field ret_returns)" = "$(result_field calls)" ] ||
      fail "$label: P got $(result_field ret_returns) returns of $(result_field calls) calls"
    [ "$(result_field ret_mismatch)" = 0 ] ||
      fail "$label: P's returns differ from the target's count by $(result_field ret_mismatch) per CPU and context"
  fi
}

# ret_stress LABEL MASK: one run with both oracles.
ret_stress() {
  local e0 e1 s0 s1
  stat_to e0 int3_emulated_ret; stat_to s0 ret_stale
  run_stress "$1" "$SW" "$2" "$CALLS"
  ret_checks "$1"
  stat_to e1 int3_emulated_ret; stat_to s1 ret_stale
  [ $((e1 - e0)) -gt 0 ] || fail "$1: the return dispatch's int3 window was never hit"
  diag "$1: returns $(result_field ret_returns), toggled $(result_field tret_entries) entries / $(result_field tret_returns) returns, int3_emulated_ret +$((e1 - e0)), ret_stale +$((s1 - s0))"
}

ret_stress "ret" $((CTX | 0x800))
ret_stress "ret, guarded" $((CTX | 0x800 | 0x200))
ret_stress "ret moves" $((CTX | 0x1000))

# The twin: skipping the call at return dispatch sites must show as dropped returns.
set_knob skip_ret 1
ctl stress "${SKIP_SWITCHES:-500}" $((1 | 2 | 4 | 0x800)) || fail "skip_ret stress run failed: $(tr '\n' ' ' < "$R")"
set_knob skip_ret 0
diag "skip_ret=1: calls $(result_field calls), returns $(result_field ret_returns), ret_drops $(result_field ret_drops), ret_mismatch $(result_field ret_mismatch)"
[ "$(result_field ret_drops)" -gt 0 ] || fail "skip_ret=1 dropped no return: the oracle cannot see dropped returns"
exit $KSFT_PASS
