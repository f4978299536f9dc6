#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The harness must see kernel warnings: load ftramp with a planted WARN_ON and
# check that the dmesg scan of run_tests.sh catches it. The warning and the
# taint it sets are expected here (and only here); the test consumes them.
# Then the expected-WARN filter (lib.sh: strip_expected_warns, what a test's
# <name>.expected-warn uses) on that real WARN: a regex matching it takes out the
# whole block and nothing else is reported; one that does not match takes out
# nothing, and the scan still catches the WARN.
. "$(dirname "$0")/lib.sh"

echo 512 > "$RESULTS/ftramp_harness_check.expected-taint"   # TAINT_WARN
dmesg -C
FTRAMP_INSMOD_ARGS= load_ftramp plant_warn=1 || fail "insmod plant_warn=1 failed"
unload_ftramp || fail "rmmod failed"
log=$(dmesg -c)
bad=$(echo "$log" | dmesg_bad) || fail "the dmesg scan missed a planted WARN_ON"
diag "planted WARN_ON caught: $(echo "$bad" | head -1)"
[ $(( $(taint) & 512 )) -ne 0 ] || fail "planted WARN_ON did not taint the kernel"

echo "$log" > "$RESULTS/harness_check.warn.log"
n=$(strip_expected_warns 'ftramp_plant_warn' "$RESULTS/harness_check.warn.log" "$RESULTS/harness_check.rest.log")
[ "$n" = 1 ] || fail "expected-WARN filter took out $n blocks of the planted WARN, want 1"
left=$(dmesg_bad < "$RESULTS/harness_check.rest.log") && fail "expected-WARN filter left reports: $left"
n=$(strip_expected_warns 'no such warning' "$RESULTS/harness_check.warn.log" "$RESULTS/harness_check.rest.log")
[ "$n" = 0 ] || fail "a regex matching nothing took out $n WARN blocks"
dmesg_bad < "$RESULTS/harness_check.rest.log" > /dev/null || fail "the scan missed the WARN left in"
diag "expected-WARN filter: takes out the matching block only"
exit $KSFT_PASS
