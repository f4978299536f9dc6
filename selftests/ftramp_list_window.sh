#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The no-drop stress with the list iterator's window widened (test knob list_delay_ns:
# the iterator waits before it loads the site's list). A CPU that called the iterator
# just before a switch away from it loads the list only after the switch: it must still
# find every persistent ops there. Runs direct <-> list(2) and list(2) <-> list(3), with
# fused stubs off (fused_max=0).
# Shown to fail: with the survivor's list dropped after a list(2) -> direct switch (the
# site's list set to NULL instead of [survivor]), the first run reported 6 drops in 1000
# switches (13.9 M calls).
. "$(dirname "$0")/lib.sh"

P=/sys/module/ftramp/parameters
load_all || fail "loading the modules failed"
trap 'echo 0 > $P/list_delay_ns 2>/dev/null; unload_all' EXIT
[ -w $P/list_delay_ns ] || fail "ftramp built without test knobs"
echo "${LIST_DELAY_NS:-20000}" > $P/list_delay_ns
# Sites of several ops on the iterator, not on fused stubs (which load no list).
echo 0 > $P/fused_max
for run in "7 ${WINDOW_SWITCHES:-1000}" "0x107 ${WINDOW_SWITCHES3:-300}"; do
  set -- $run; mask=$1
  ctl stress "$2" $mask || fail "stress $mask failed: $(tr '\n' ' ' < $TEST_DIR/result)"
  calls=$(result_field calls); drops=$(result_field drops)
  diag "mask $mask: calls $calls, persistent $(result_field persistent), drops $drops, switches $(result_field switches), $(result_field ms) ms"
  [ "$calls" -gt 0 ] || fail "mask $mask: no calls"
  [ "$drops" = 0 ] || fail "mask $mask: $drops calls dropped"
done
exit $KSFT_PASS
