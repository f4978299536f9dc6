#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The tracefs interface under load: while callers run ftramp_target_a on every CPU and
# a second callback on it is added and removed continuously (live direct <-> list
# switches through the hooks file), readers read every ftramp file in a loop. The count
# hook must see exactly the target's calls; then rmmod with hooks still active must
# leave tracefs clean (no ftramp directory, no instances/ftramp) and the kernel too (no
# callback on a hooked function, its fentry site the nop again: lib.sh: assert_detached).
. "$(dirname "$0")/lib.sh"

ROUNDS=${UI_ROUNDS:-60}
load_ftramp && load_target || fail "loading the modules failed"
trap 'echo stop > "$TARGET_DIR/run" 2>/dev/null; kill $readers 2>/dev/null; unload_all' EXIT
H=$FTRAMP_DIR/hooks
echo 1 > "$TARGET_DIR/reset"
echo 'ftramp_target_a count' > $H || fail "add count hook"
echo 'vfs_read count' >> $H || fail "add vfs_read hook"
(while :; do for f in "$FTRAMP_DIR"/* $TRACEFS/instances/ftramp/trace; do cat "$f" > /dev/null 2>&1; done; done) &
readers=$!
echo "start a 7" > "$TARGET_DIR/run" || fail "start callers"
for i in $(seq 1 "$ROUNDS"); do
  cb=$([ $((i % 3)) -eq 0 ] && echo stacktrace:5 || echo trace)
  echo "ftramp_target_a $cb" >> $H || fail "round $i: add $cb"
  echo "!ftramp_target_a $cb" >> $H || fail "round $i: remove $cb"
done
echo stop > "$TARGET_DIR/run" || fail "stop callers"
kill $readers; wait $readers 2>/dev/null
hits=$(awk '$1 == "hook" && $2 == "ftramp_target_a" && $3 == "count" { sub("hits=", "", $4); print $4 }' $FTRAMP_DIR/stats)
calls=$(target_count a)
diag "$ROUNDS add/remove rounds under load: target calls $calls, count hook $hits, switches $(stat_field sites_switched), int3 emulated: $(stat_field int3_emulated)"
[ "$hits" = "$calls" ] || fail "count hook saw $hits of $calls calls"
echo 'vfs_read stacktrace:1' >> $H || fail "add stacktrace hook"
read -r _ < /proc/version
grep -q ' => ksys_read' $TRACEFS/instances/ftramp/trace ||
  fail "stacktrace did not unwind to vfs_read's caller: $(grep -A3 'stack (' $TRACEFS/instances/ftramp/trace | head -4)"
diag "stacktrace: $(grep -A2 'stack (' $TRACEFS/instances/ftramp/trace | head -3 | tr -s ' ' | tr '\n' ' ')"
echo 'ftramp_target_b trace' >> $H || fail "add trace hook"
[ -d $TRACEFS/instances/ftramp ] || fail "no trace instance"
rmmod ftramp_target 2>/dev/null && fail "ftramp_target unloaded while hooked?"
rmmod ftramp || fail "rmmod ftramp with hooks active"
assert_detached ftramp_target_a ftramp_target_b vfs_read
[ ! -e "$FTRAMP_DIR" ] || fail "ftramp directory left behind"
[ ! -e $TRACEFS/instances/ftramp ] || fail "instances/ftramp left behind"
exit $KSFT_PASS
