#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Stale users of return hooks (issue 12). STALE_THREADS kthreads (64) are inside the
# recursive ftramp_target_sleep at depth STALE_DEPTH (16), asleep at the bottom: 64 x 17
# calls entered under return ops 8 and not returned. Then ops 8 is unregistered and
# marked dead right after ftramp_unregister_ops returns ("retire": any later callback
# of it counts in "poisoned"), and a new return ops 9 registers on the same function:
# it must get the freed slot with a new generation (stats' ret_id lines; a test that
# let it take another slot would test no reuse). When the sleepers are woken, every call
# returns to its caller with the right value, ops 9 gets none of those returns (it never entered
# them: its cookies name its own registration, anything else counts as "unentered"),
# ops 8 none, and ret_stale grows by exactly the number of calls that were inside.
# Afterwards ops 9 gets exactly the returns of the calls it entered.
# The unentered check must be able to fail: ftramp's mutant_ret=1 (no generation check)
# and ftramp_test_ops oracle_mutant=4 (cookies of the previous registration) must each
# show as unentered returns.
. "$(dirname "$0")/lib.sh"

NT=${STALE_THREADS:-64}
D=${STALE_DEPTH:-16}
FRAMES=$((NT * (D + 1)))
OMUT=/sys/module/ftramp_test_ops/parameters/oracle_mutant
MRET=/sys/module/ftramp/parameters/mutant_ret
load_all || fail "loading the modules failed"
trap 'echo 0 > $OMUT 2>/dev/null; echo 0 > $MRET 2>/dev/null; echo wake > "$TARGET_DIR/run" 2>/dev/null; unload_all' EXIT
sleepers_are() { [ "$(target_count sleepers)" = "$1" ]; }

ctl mode 8 count && ctl filter 8 ftramp_target_sleep && ctl register 8 || fail "attach return ops 8"
# The return ops' slot and generation (stats: one "ret_id" line per registered return ops).
ret_ids() { awk '$1 == "ret_id" { print $2, $3 }' "$FTRAMP_DIR/stats"; }
id8=$(ret_ids)
[ "$(echo "$id8" | grep -c slot=)" = 1 ] || fail "want one registered return ops, stats has: $id8"
echo "sleep $NT $D" > "$TARGET_DIR/run" || fail "cannot start $NT sleepers"
wait_until 120 sleepers_are "$NT" || fail "only $(target_count sleepers) of $NT sleepers reached the bottom"
[ "$(target_count sleep)" = $FRAMES ] || fail "the target counted $(target_count sleep) calls, want $FRAMES"
[ "$(rfield 8 entries)" = $FRAMES ] || fail "ops 8 entered $(rfield 8 entries) of $FRAMES calls"
[ "$(rfield 8 returns)" = 0 ] || fail "ops 8 got $(rfield 8 returns) returns before any call returned"
stat_to inflight ret_inflight
[ "$inflight" -ge $FRAMES ] || fail "ret_inflight $inflight with $FRAMES calls inside"
stat_to stale0 ret_stale
p0=$(poisoned)
ctl retire 8 || fail "retire ops 8"
ctl mode 9 count && ctl filter 9 ftramp_target_sleep && ctl register 9 || fail "attach return ops 9"
# The new ops must really have taken ops 8's slot (else nothing here tests reuse), with a
# new generation.
id9=$(ret_ids)
[ "$(echo "$id9" | grep -c slot=)" = 1 ] || fail "want one registered return ops, stats has: $id9"
[ "${id9%% *}" = "${id8%% *}" ] || fail "ops 9 did not take ops 8's slot: ops 8 had $id8, ops 9 has $id9"
[ "${id9##*=}" -gt "${id8##*=}" ] || fail "ops 9's generation is not new: ops 8 had $id8, ops 9 has $id9"
diag "ops 8 had $id8; ops 9 took the same slot: $id9"
diag "$FRAMES calls inside ($NT sleepers x $((D + 1))); ops 8 retired, ops 9 registered; ret_inflight $inflight"
echo wake > "$TARGET_DIR/run" || fail "wake failed"
[ "$(target_count sleep_done)" = "$NT" ] || fail "$(target_count sleep_done) of $NT sleepers returned"
[ "$(target_count sleep_wrong)" = 0 ] || fail "$(target_count sleep_wrong) sleepers got a wrong result"
[ "$(poisoned)" = "$p0" ] || fail "ops 8 was called $(( $(poisoned) - p0 )) times after its unregister returned"
[ "$(rfield 8 returns)" = 0 ] || fail "ops 8 got $(rfield 8 returns) returns"
for f in returns unentered entries; do
  [ "$(rfield 9 $f)" = 0 ] || fail "the new ops 9: $f $(rfield 9 $f) (returns of calls it never entered)"
done
stat_to stale1 ret_stale
[ $((stale1 - stale0)) = $FRAMES ] || fail "ret_stale grew by $((stale1 - stale0)), want $FRAMES"
diag "woken: all $NT returned right; ops 9 got no stale return, ops 8 none; ret_stale +$FRAMES"

# Ops 9 gets exactly the returns it entered.
echo "sleep 4 2" > "$TARGET_DIR/run" || fail "cannot start 4 sleepers"
wait_until 60 sleepers_are 4 || fail "the 4 sleepers did not reach the bottom"
echo wake > "$TARGET_DIR/run" || fail "wake failed"
for f in entries returns; do
  [ "$(rfield 9 $f)" = 12 ] || fail "ops 9: $f $(rfield 9 $f), want 12"
done
[ "$(rfield 9 unentered)" = 0 ] || fail "ops 9: unentered $(rfield 9 unentered)"

# The unentered check can fail.
ctl unregister 9 && ctl zero || fail "detach ops 9"
echo 4 > $OMUT
ctl filter 9 ftramp_target_sleep && ctl register 9 || fail "register ops 9 (mutant)"
echo "sleep 2 1" > "$TARGET_DIR/run" && wait_until 60 sleepers_are 2 && echo wake > "$TARGET_DIR/run" ||
  fail "mutant sleepers"
# The woken sleepers return asynchronously: wait for their 4 returns to be counted.
ret_seen() { [ $(( $(rfield 9 returns) + $(rfield 9 unentered) )) -ge 4 ]; }
wait_until 30 ret_seen || diag "mutant: only $(rfield 9 returns) returns, $(rfield 9 unentered) unentered"
echo 0 > $OMUT
[ "$(rfield 9 unentered)" -gt 0 ] || fail "oracle_mutant=4 (cookies of the previous registration): no unentered return seen"
diag "test_ops oracle_mutant=4: $(rfield 9 unentered) unentered returns (as it must)"

# The same scenario must fail on the bug it guards against: ftramp's mutant_ret=1 (returns
# delivered by slot, without the generation check) hands ops 8's recorded returns to ops 9.
ctl unregister 9 && ctl zero || fail "detach ops 9"
echo 1 > $MRET
ctl filter 8 ftramp_target_sleep && ctl register 8 || fail "mutant_ret: attach ops 8"
echo "sleep 2 1" > "$TARGET_DIR/run" && wait_until 60 sleepers_are 2 || fail "mutant_ret: sleepers"
ctl retire 8 && ctl filter 9 ftramp_target_sleep && ctl register 9 || fail "mutant_ret: retire 8, register 9"
echo wake > "$TARGET_DIR/run" || fail "mutant_ret: wake failed"
wait_until 30 ret_seen || diag "mutant_ret: only $(rfield 9 returns) returns, $(rfield 9 unentered) unentered"
echo 0 > $MRET
[ "$(rfield 9 unentered)" -gt 0 ] ||
  fail "ftramp mutant_ret=1 (no generation check): ops 9 got no return of a call it never entered"
diag "ftramp mutant_ret=1: ops 9 got $(rfield 9 unentered) returns it never entered (as it must)"
ctl unregister 9 || fail "detach ops 9"
assert_detached ftramp_target_sleep
exit $KSFT_PASS
