#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ftramp's direct call shares ftramp_target_a with the kernel's function tracer and a
# kprobe (ftrace then reaches ftramp's trampoline from its own shared trampoline)
# while the site flips direct <-> list under load: no drops, and the tracer and the
# kprobe keep seeing calls.
. "$(dirname "$0")/lib.sh"

T=$TRACEFS
cleanup() {
  echo nop > $T/current_tracer; echo > $T/set_ftrace_filter
  echo 0 > $T/events/kprobes/enable 2>/dev/null; echo > $T/kprobe_events
  unload_all
}
load_all || fail "loading the modules failed"
trap cleanup EXIT
echo ftramp_target_a > $T/set_ftrace_filter || fail "set_ftrace_filter"
echo function > $T/current_tracer || fail "function tracer"
echo 'p:ftramp_coexist ftramp_target_a' > $T/kprobe_events || fail "kprobe event"
echo 1 > $T/events/kprobes/enable || fail "enable kprobe"
echo > $T/trace
ctl stress "${COEX_SWITCHES:-2000}" 7 "${COEX_CALLS:-1000000}" || fail "stress run failed"
drops=$(result_field drops)
khits=$(awk '$1 == "ftramp_coexist" { print $2 }' $T/kprobe_profile)
traced=$(grep -c 'ftramp_target_a' $T/trace)
diag "calls $(result_field calls), drops $drops, switches $(result_field switches), kprobe hits $khits, function-trace lines $traced"
[ "$drops" = 0 ] || fail "$drops calls dropped"
[ "$khits" -gt 0 ] || fail "the kprobe saw nothing"
[ "$traced" -gt 0 ] || fail "the function tracer saw nothing"
exit $KSFT_PASS
