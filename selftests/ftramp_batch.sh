#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 100 sites switched in one round: attaching a second ops to 100 functions at once
# (and detaching it) is one patch round of exactly 3 all-CPU syncs, although each of the
# 100 gets a fused stub of its own; every function keeps working and each ops sees every
# call. Then the last ops goes: the kernel has
# let go of all 100 (lib.sh: assert_detached).
. "$(dirname "$0")/lib.sh"

load_all || fail "loading the modules failed"
trap unload_all EXIT

ctl filter 0 'ftramp_target_batch_*' && ctl register 0 || fail "attach ops 0"
n=$(grep -c '^ftramp_target_batch_.. ops=1 mode=direct' "$FTRAMP_DIR/enabled_functions")
[ "$n" = 100 ] || fail "$n direct batch sites, want 100"
r0=$(stat_field rounds)
ctl filter 1 'ftramp_target_batch_*' && ctl register 1 || fail "attach ops 1"
[ "$(stat_field rounds)" = $((r0 + 1)) ] || fail "attach took $(( $(stat_field rounds) - r0 )) rounds"
[ "$(stat_field last_round_sites)" = 100 ] || fail "last round switched $(stat_field last_round_sites) sites"
[ "$(stat_field last_round_syncs)" = 3 ] || fail "last round made $(stat_field last_round_syncs) syncs"
n=$(grep -c '^ftramp_target_batch_.. ops=2 mode=fused' "$FTRAMP_DIR/enabled_functions")
[ "$n" = 100 ] || fail "$n fused batch sites, want 100"
echo 1 > "$TARGET_DIR/reset"; ctl zero
echo "batch 10" > "$TARGET_DIR/run"
[ "$(target_count batch)" = 1000 ] || fail "batch functions counted $(target_count batch)"
[ "$(ops_count 0)" = 1000 ] && [ "$(ops_count 1)" = 1000 ] || fail "ops saw $(ops_count 0)/$(ops_count 1) of 1000"
ctl unregister 1 || fail "detach ops 1"
[ "$(stat_field last_round_sites)" = 100 ] && [ "$(stat_field last_round_syncs)" = 3 ] ||
  fail "detach round: $(stat_field last_round_sites) sites, $(stat_field last_round_syncs) syncs"
diag "100 sites switched direct->fused and back, one round of 3 syncs each way"
ctl unregister 0 || fail "detach ops 0"
[ -z "$(cat "$FTRAMP_DIR/enabled_functions")" ] || fail "sites left: $(head -3 "$FTRAMP_DIR/enabled_functions")"
# shellcheck disable=SC2046
assert_detached $(printf 'ftramp_target_batch_%02d ' $(seq 0 99))
diag "all 100 detached: no ftrace record left in the kernel, every fentry site the nop again"
exit $KSFT_PASS
