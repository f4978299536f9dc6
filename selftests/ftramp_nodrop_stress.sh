#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The no-drop proof. Callers on every vCPU from kthreads, timers (softirq) and
# hrtimers (hardirq) hammer ftramp_target_a; ops 0 is attached for the whole run and
# ops 1 is attached and detached continuously, so the site flips direct <-> list.
# Ops 0 must count exactly the target's own count. The int3 window must really be hit.
# Scale with STRESS_SWITCHES / STRESS_CALLS (defaults: 10^4 switches, 10^7 calls).
. "$(dirname "$0")/lib.sh"

SWITCHES=${STRESS_SWITCHES:-10000}
CALLS=${STRESS_CALLS:-10000000}
load_all || fail "loading the modules failed"
trap unload_all EXIT

emulated() { stat_field int3_emulated; }
before=$(emulated)
ctl stress "$SWITCHES" 7 "$CALLS" || fail "stress run failed: $(cat $TEST_DIR/result | tr '\n' ' ')"
calls=$(result_field calls); persistent=$(result_field persistent)
drops=$(result_field drops); switches=$(result_field switches); ms=$(result_field ms)
after=$(emulated)
hits=$(echo "$after" | tr ' ' '\n' | awk -F= '{ s += $2 } END { print s + 0 }')
diag "calls $calls, persistent ops saw $persistent, drops $drops, switches $switches, ${ms} ms"
diag "int3 emulated by context: $after"
diag "int3 after the switch finished (stale): $(stat_field int3_stale); seq retries: $(stat_field seq_retries)"
[ "$switches" -ge "$SWITCHES" ] || fail "only $switches switches"
[ "$calls" -ge "$CALLS" ] || fail "only $calls calls"
[ "$hits" -gt 0 ] || fail "the int3 window was never hit: this run tested nothing"
[ "$drops" = 0 ] || fail "$drops calls dropped"
[ "$persistent" = "$calls" ] || fail "persistent ops saw $persistent of $calls calls"
exit $KSFT_PASS
