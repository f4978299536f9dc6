#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Calls made where RCU is not watching are counted exactly across continuous
# switching. Callers on every vCPU call ftramp_target_a from kthreads that sit in an
# RCU extended quiescent state (interrupts off, ct_idle_enter(), as the idle loop;
# ftramp_target's eqs context) while ops 1 is attached and detached continuously:
#   phase 1: ops 0 persistent, the site flips direct <-> list(2);
#   phase 2: ops 0 and 2 persistent, it flips list(2) <-> list(3).
# Ops 0 must count exactly the target's own count (no drops), the switches must
# really happen (in phase 1 through the int3 window, which must be hit; phase 2
# only republishes the site's list, no instruction changes), and the callers must
# really have run with RCU not watching (ftramp_target counts the batches that
# found rcu_is_watching() false right before their first call: all of them).
#
# Shown failing (Dec 2026, by hand):
#   - FTRAMP_KO=<ftramp.ko built from e137627>, the engine before the rewrite, whose list
#     iterator skipped calls where RCU was not watching (with this tree's test modules):
#       # phase 1 (direct <-> list): calls 3010000, persistent ops saw 2622443, drops 387557, switches 2784, 1807 ms
#       # phase 1 (direct <-> list): eqs batches 15050, with RCU not watching 15050; int3 emulated 381157; guard skips 387557
#       # FAIL: phase 1 (direct <-> list): 387557 calls dropped
#   - RCU_BREAK=eqs_noop (the eqs callers stay where RCU watches):
#       # FAIL: phase 1 (direct <-> list): only 0 of 35100 eqs batches ran with RCU not watching
# Scale with RCU_SWITCHES / RCU_CALLS.
. "$(dirname "$0")/lib.sh"

SWITCHES=${RCU_SWITCHES:-2000}
CALLS=${RCU_CALLS:-3000000}
load_all || fail "loading the modules failed"
trap unload_all EXIT
[ "${RCU_BREAK:-}" = eqs_noop ] && echo 1 > /sys/module/ftramp_target/parameters/eqs_noop

int3_sum() { stat_field int3_emulated | tr ' ' '\n' | awk -F= '{ s += $2 } END { print s + 0 }'; }

phase() { # name ctxmask need-int3
  local name=$1 mask=$2 need_int3=$3 i0 g0 calls persistent drops switches ms hits batches nw
  echo 1 > "$TARGET_DIR/reset"
  i0=$(int3_sum) g0=$(stat_field guard_skips)
  ctl stress "$SWITCHES" "$mask" "$CALLS" ||
    fail "$name: stress run failed: $(tr '\n' ' ' < "$TEST_DIR/result")"
  calls=$(result_field calls) persistent=$(result_field persistent)
  drops=$(result_field drops) switches=$(result_field switches) ms=$(result_field ms)
  hits=$(( $(int3_sum) - i0 ))
  batches=$(target_count eqs_batches) nw=$(target_count eqs_not_watching)
  diag "$name: calls $calls, persistent ops saw $persistent, drops $drops, switches $switches, ${ms} ms"
  diag "$name: eqs batches $batches, with RCU not watching $nw; int3 emulated $hits; guard skips $(( $(stat_field guard_skips) - g0 ))"
  [ "$nw" -gt 0 ] && [ "$nw" = "$batches" ] ||
    fail "$name: only $nw of $batches eqs batches ran with RCU not watching"
  [ "$switches" -ge "$SWITCHES" ] || fail "$name: only $switches switches"
  [ "$calls" -ge "$CALLS" ] || fail "$name: only $calls calls"
  [ "$need_int3" = 0 ] || [ "$hits" -gt 0 ] || fail "$name: the int3 window was never hit: this run tested nothing"
  [ "$drops" = 0 ] || fail "$name: $drops calls dropped"
  [ "$persistent" = "$calls" ] || fail "$name: persistent ops saw $persistent of $calls calls"
}

phase "phase 1 (direct <-> list)" 8 1
phase "phase 2 (list <-> list)" 0x108 0
[ "$(poisoned)" = 0 ] || fail "poisoned ops called: $(poisoned)"
exit $KSFT_PASS
