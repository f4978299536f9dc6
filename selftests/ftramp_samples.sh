#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The API samples work: the C sample hooks a glob and sees exactly the calls made (and,
# with its return ops, their returns); the Rust sample counts vfs_read/vfs_write while
# something reads and writes (and vfs_read's returns). After each
# sample's unload the kernel has let go of its functions (lib.sh: assert_detached).
. "$(dirname "$0")/lib.sh"

S=$SELFTESTS_DIR/../samples
# The samples' return ops (issue 12): checked once ftramp has return trampolines.
# The samples' return hooks (RET_CHECK=0 skips their checks, for a kernel without BTF).
RET_CHECK=${RET_CHECK:-1}
load_ftramp && load_target || fail "loading ftramp/ftramp_target failed"
trap 'rmmod ftramp_sample 2>/dev/null; rmmod ftramp_sample_rust 2>/dev/null; unload_all' EXIT

insmod "$S/ftramp_sample.ko" filter='ftramp_target_[ab]' show=2 || fail "insmod ftramp_sample"
echo "a kthread 700" > "$TARGET_DIR/run"; echo "b timer 300" > "$TARGET_DIR/run"
rmmod ftramp_sample || fail "rmmod ftramp_sample"
assert_detached ftramp_target_a ftramp_target_b
dmesg | grep 'ftramp_sample: ' | sed 's/^/  /'
dmesg | grep -q 'ftramp_sample: unhooked; 1000 calls seen' || fail "C sample did not see exactly 1000 calls"
dmesg | grep -q 'ftramp_sample: call 1: ftramp_target_a' || fail "C sample printed no call"
if [ "$RET_CHECK" = 1 ]; then
  dmesg | grep -q 'ftramp_sample: unhooked; 1000 calls seen, 1000 returns seen' ||
    fail "C sample did not see exactly 1000 returns"
  dmesg | grep -q 'ftramp_sample: return 1: ftramp_target_a' || fail "C sample printed no return"
fi

insmod "$S/ftramp_sample_rust.ko" || fail "insmod ftramp_sample_rust"
for i in $(seq 20); do cat /proc/version > /dev/null; echo x > /dev/null; done
rmmod ftramp_sample_rust || fail "rmmod ftramp_sample_rust"
assert_detached vfs_read vfs_write
dmesg | grep 'ftramp_sample_rust: ' | sed 's/^/  /'
r=$(dmesg | sed -n 's/.*ftramp_sample_rust: vfs_read: \([0-9]*\) calls/\1/p' | tail -1)
w=$(dmesg | sed -n 's/.*ftramp_sample_rust: vfs_write: \([0-9]*\) calls/\1/p' | tail -1)
[ "${r:-0}" -ge 20 ] && [ "${w:-0}" -ge 20 ] || fail "Rust sample counted vfs_read=$r vfs_write=$w, want >= 20 each"
if [ "$RET_CHECK" = 1 ]; then
  # Every return of a counted call (and of calls in flight at hook time, at most a few).
  rr=$(dmesg | sed -n 's/.*ftramp_sample_rust: vfs_read: \([0-9]*\) returns/\1/p' | tail -1)
  [ "${rr:-0}" -ge 20 ] || fail "Rust sample counted $rr returns of vfs_read, want >= 20"
fi
[ -r "$FTRAMP_DIR/enabled_functions" ] || fail "no $FTRAMP_DIR/enabled_functions"
[ -z "$(cat "$FTRAMP_DIR/enabled_functions")" ] ||
  fail "sites left after the samples unloaded: $(cat "$FTRAMP_DIR/enabled_functions")"
exit $KSFT_PASS
