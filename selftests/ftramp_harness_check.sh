#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The harness must see kernel warnings: load ftramp with a planted WARN_ON and
# check that the dmesg scan of run_tests.sh catches it. The warning and the
# taint it sets are expected here (and only here); the test consumes them.
. "$(dirname "$0")/lib.sh"

echo 512 > "$RESULTS/ftramp_harness_check.expected-taint"   # TAINT_WARN
dmesg -C
FTRAMP_INSMOD_ARGS= load_ftramp plant_warn=1 || fail "insmod plant_warn=1 failed"
unload_ftramp || fail "rmmod failed"
log=$(dmesg -c)
bad=$(echo "$log" | dmesg_bad) || fail "the dmesg scan missed a planted WARN_ON"
diag "planted WARN_ON caught: $(echo "$bad" | head -1)"
[ $(( $(taint) & 512 )) -ne 0 ] || fail "planted WARN_ON did not taint the kernel"
exit $KSFT_PASS
