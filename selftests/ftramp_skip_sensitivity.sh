#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The stress test must be able to fail.
#  1. With the int3 handler in skip mode (the 2019 behaviour: resume after the call
#     instead of emulating it) the same run must report drops, direct <-> fused and
#     fused <-> list. Needs a module built with
#     the test knobs (make check does).
#  2. The oracle's other halves (lib.sh run_stress), each against a mutant of the test
#     ops (ftramp_test_ops oracle_mutant): hardirq calls counted as task calls (a drop
#     and a double call that cancel in the totals) must fail on the per-CPU, per-context
#     comparison with the totals still equal; the toggled ops' callback running twice per
#     call must fail on the double-call check.
. "$(dirname "$0")/lib.sh"

MUTANT=/sys/module/ftramp_test_ops/parameters/oracle_mutant
load_all || fail "loading the modules failed"
trap 'echo 0 > /sys/module/ftramp/parameters/skip_mode 2>/dev/null; echo 0 > $MUTANT 2>/dev/null; unload_all' EXIT
[ -w /sys/module/ftramp/parameters/skip_mode ] || skip "ftramp built without test knobs"
[ "$(status_field test_knobs)" = yes ] || fail "status says test_knobs: $(status_field test_knobs)"
echo 1 > /sys/module/ftramp/parameters/skip_mode
ctl stress "${SKIP_SWITCHES:-500}" 7 || fail "stress run failed"
echo 0 > /sys/module/ftramp/parameters/skip_mode
drops=$(result_field drops)
diag "skip mode: calls $(result_field calls), persistent $(result_field persistent), drops $drops, switches $(result_field switches)"
[ "$drops" -gt 0 ] || fail "skip mode dropped nothing: the stress test cannot see drops"
# The same between a fused stub of 2 and the list iterator with 3 (fused_max=2): the
# persistent ops must miss calls there too.
echo 2 > /sys/module/ftramp/parameters/fused_max
echo 1 > /sys/module/ftramp/parameters/skip_mode
ctl stress "${SKIP_SWITCHES:-500}" $((7 | 0x100)) || fail "stress run (fused <-> list) failed"
echo 0 > /sys/module/ftramp/parameters/skip_mode
echo 16 > /sys/module/ftramp/parameters/fused_max
drops=$(result_field drops)
diag "skip mode, fused2<->list3: calls $(result_field calls), persistent $(result_field persistent), drops $drops, switches $(result_field switches)"
[ "$drops" -gt 0 ] || fail "skip mode dropped nothing between fused and list: the stress test cannot see drops there"

# must_fail N WHAT: run_stress must fail with a line matching WHAT under oracle_mutant=N.
must_fail() {
  local out
  echo "$1" > $MUTANT
  out=$( (run_stress "mutant $1" 200 $((1 | 2 | 4 | 16)) 200000) 2>&1 ) &&
    fail "oracle_mutant=$1: the stress oracle passed: $(echo "$out" | tail -3)"
  echo 0 > $MUTANT
  echo "$out" | grep -q "$2" || fail "oracle_mutant=$1 failed otherwise than on '$2': $(echo "$out" | tail -2)"
  diag "oracle_mutant=$1: $(echo "$out" | grep FAIL)"
}
must_fail 1 "per-context counts differ"
[ "$(result_field drops)" = 0 ] && [ "$(result_field persistent)" = "$(result_field calls)" ] ||
  fail "oracle_mutant=1 should leave the totals equal (drops $(result_field drops))"
diag "oracle_mutant=1: totals equal (calls $(result_field calls) = persistent $(result_field persistent)): only the per-context comparison sees it"
must_fail 2 "reached an ops twice"
exit $KSFT_PASS
