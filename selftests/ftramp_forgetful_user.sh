#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An API user that unloads without unregistering. ftramp_test_ops registers ops 0
# and 4 on ftramp_target_a (list mode) and ops 1 alone on ftramp_target_b (direct)
# while callers on every CPU hammer both in task, softirq and hardirq context; then
# it is unloaded with leak_on_exit=1, so its exit leaves the three ops registered.
# ftramp's MODULE_STATE_GOING notifier must detach each of them (before the
# module's memory goes) with exactly one WARN naming the module and the ops:
#   ftramp: module ftramp_test_ops is going away with ops <ptr> (<sym>) still registered: detached
# Afterwards both sites are gone from ftramp's and the kernel's enabled_functions (and
# both fentry sites are the nop again: lib.sh: assert_detached),
# every trampoline slot is back, the callers go on calling without an oops, and
# ftramp itself unloads cleanly. The WARNs are declared to run_tests.sh
# (<name>.expected-warn), which takes them, and only them, out of the scan.
#
# Shown failing (Dec 2026, by hand):
#   FORGETFUL_BREAK=noleak: unload without leak_on_exit (the user does unregister):
#     # FAIL: want 3 WARNs (one per forgotten ops), got 0
#     # expected WARNs (/ftramp: module ftramp_test_ops .../) taken out of the scan: 0
#     # FAIL: expected WARN not seen
#   demo_bug=6 of selftests/mutants/demo_bugs.patch (the GOING notifier does nothing):
#   the callers keep calling the freed module's callbacks and the guest dies at rmmod:
#     BUG: unable to handle page fault for address: ffffffffa002a000
#     Oops: Oops: 0010 [#1] PREEMPT SMP
#     RIP: 0010:0xffffffffa002a000   (list_iter+0x76 [ftramp] <- ftramp_target_a <- hrtimer_caller)
#     Kernel panic - not syncing: Fatal exception in interrupt
. "$(dirname "$0")/lib.sh"

WARN_RE='ftramp: module ftramp_test_ops is going away with ops [0-9a-f]+ \(.*\) still registered: detached'
echo "$WARN_RE" > "$RESULTS/ftramp_forgetful_user.expected-warn"

load_all || fail "loading the modules failed"
trap 'echo stop > "$TARGET_DIR/run" 2>/dev/null; unload_all' EXIT
slots0=$(stat_field slots)

for a in "0 ftramp_target_a" "4 ftramp_target_a" "1 ftramp_target_b"; do
  set -- $a
  ctl filter "$1" "$2" && ctl register "$1" || fail "attach ops $1 to $2"
done
site_line ftramp_target_a | grep -Eq "ops=2 mode=(fused|list)" || fail "a: $(site_line ftramp_target_a)"
site_line ftramp_target_b | grep -q "ops=1 mode=direct" || fail "b: $(site_line ftramp_target_b)"
kernel_direct | grep -q '^ftramp_target_a ' || fail "the kernel has no direct call on ftramp_target_a"
kernel_direct | grep -q '^ftramp_target_b ' || fail "the kernel has no direct call on ftramp_target_b"

echo "start ab 7" > "$TARGET_DIR/run" || fail "cannot start callers"
c0=$(ops_count 0) c4=$(ops_count 4) c1=$(ops_count 1)
sleep 0.3
[ "$(ops_count 0)" -gt "$c0" ] && [ "$(ops_count 4)" -gt "$c4" ] && [ "$(ops_count 1)" -gt "$c1" ] ||
  fail "the ops are not being called: $(head -8 "$TEST_DIR/counts" | tr '\n' ' ')"
diag "ops 0, 4 (list on a) and 1 (direct on b) called under load: $(ops_count 0) $(ops_count 4) $(ops_count 1)"

warns_before=$(dmesg | grep -cE "$WARN_RE")
[ "${FORGETFUL_BREAK:-}" = noleak ] || echo 1 > /sys/module/ftramp_test_ops/parameters/leak_on_exit
t0=$(date +%s.%N)
rmmod ftramp_test_ops || fail "rmmod ftramp_test_ops failed"
diag "rmmod with 3 ops left registered took $(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }') s"
is_loaded ftramp_test_ops && fail "ftramp_test_ops still loaded"

log=$(dmesg)
warns=$(echo "$log" | grep -E "$WARN_RE")
n=$(( $(echo "$log" | grep -cE "$WARN_RE") - warns_before ))
echo "$warns" | sed 's/^/# /'
[ "$n" = 3 ] || fail "want 3 WARNs (one per forgotten ops), got $n"
ptrs=$(echo "$warns" | sed -E 's/.* with ops ([0-9a-f]+) .*/\1/' | sort -u | wc -l)
[ "$ptrs" = 3 ] || fail "the WARNs name $ptrs distinct ops, want 3"
blocks=$(echo "$log" | grep -c -- '------------\[ cut here \]------------')
[ "$blocks" = 3 ] || fail "$blocks WARN blocks in the log, want exactly the 3 expected ones"

[ -z "$(site_line ftramp_target_a)$(site_line ftramp_target_b)" ] ||
  fail "sites left in ftramp: $(cat "$FTRAMP_DIR/enabled_functions")"
kernel_direct | grep -qE '^ftramp_target_[ab] ' && fail "the kernel still has direct calls: $(kernel_direct)"
[ "$(stat_field slots)" = "$slots0" ] || fail "slots $(stat_field slots), $slots0 before: trampolines or stubs not freed"
[ "$(stat_field kept_sites)" = 0 ] || fail "kept_sites: $(stat_field kept_sites)"
assert_detached ftramp_target_a ftramp_target_b
diag "after the forced detach: no site in ftramp or the kernel, slots $(stat_field slots)"

a0=$(target_count a) b0=$(target_count b)
sleep 0.3
[ "$(target_count a)" -gt "$a0" ] && [ "$(target_count b)" -gt "$b0" ] ||
  fail "the callers stopped calling"
echo stop > "$TARGET_DIR/run" || fail "cannot stop callers"
diag "callers went on: a $(target_count a), b $(target_count b) calls in all"

dmesg_mark=$(dmesg | wc -l)
rmmod ftramp || fail "rmmod ftramp failed"
after=$(dmesg | tail -n +$((dmesg_mark + 1)))
echo "$after" | grep -E 'keeping|leaking|would not detach' && fail "ftramp's unload was not clean"
exit $KSFT_PASS
