#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The stress test must be able to fail: with the int3 handler in skip mode (the 2019
# behaviour: resume after the call instead of emulating it) the same run must report
# drops. Needs a module built with the test knobs (make check does).
. "$(dirname "$0")/lib.sh"

load_all || fail "loading the modules failed"
trap 'echo 0 > /sys/module/ftramp/parameters/skip_mode 2>/dev/null; unload_all' EXIT
[ -w /sys/module/ftramp/parameters/skip_mode ] || skip "ftramp built without test knobs"
echo 1 > /sys/module/ftramp/parameters/skip_mode
ctl stress "${SKIP_SWITCHES:-2000}" 7 || fail "stress run failed"
echo 0 > /sys/module/ftramp/parameters/skip_mode
drops=$(result_field drops)
diag "skip mode: calls $(result_field calls), persistent $(result_field persistent), drops $drops, switches $(result_field switches)"
[ "$drops" -gt 0 ] || fail "skip mode dropped nothing: the stress test cannot see drops"
exit $KSFT_PASS
