#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 20 load/hook/unload cycles while callers keep running the hooked function on every
# CPU in task, softirq and hardirq context: the ops module's exit unregisters its ops
# (the site goes list -> direct -> gone under load), then ftramp itself unloads; the
# kernel then has no callback left on the function and its fentry site is the nop
# again (lib.sh: assert_detached), with the callers still running.
. "$(dirname "$0")/lib.sh"

CYCLES=${CYCLES:-20}
load_target || fail "insmod ftramp_target failed"
trap 'echo stop > "$TARGET_DIR/run" 2>/dev/null; unload_all' EXIT
echo "start a 7" > "$TARGET_DIR/run" || fail "cannot start callers"
for i in $(seq 1 "$CYCLES"); do
  load_ftramp || fail "cycle $i: insmod ftramp"
  insmod "$TEST_OPS_KO" || fail "cycle $i: insmod ftramp_test_ops"
  ctl filter 0 ftramp_target_a && ctl register 0 && ctl filter 4 ftramp_target_a &&
    ctl register 4 || fail "cycle $i: attach"
  site_line ftramp_target_a | grep -Eq "ops=2 mode=(fused|list)" || fail "cycle $i: site not in a mode of several ops: $(site_line ftramp_target_a)"
  c0=$(ops_count 0)
  sleep 0.2
  [ "$(ops_count 0)" -gt "$c0" ] || fail "cycle $i: the hooked function is not being called"
  [ $((i % 2)) -eq 0 ] && { ctl unregister 4 || fail "cycle $i: detach"; }
  rmmod ftramp_test_ops || fail "cycle $i: rmmod ftramp_test_ops"
  rmmod ftramp || fail "cycle $i: rmmod ftramp"
  [ ! -e "$FTRAMP_DIR" ] || fail "cycle $i: tracefs directory left behind"
  assert_detached ftramp_target_a
done
echo stop > "$TARGET_DIR/run" || fail "cannot stop callers"
diag "$CYCLES cycles under load, calls made: $(target_count a)"
exit $KSFT_PASS
