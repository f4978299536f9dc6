#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Leaving a dispatch enables preemption again as preempt_enable_notrace() does: the
# scheduler is entered only when a reschedule is due. Generated code changes the
# kernel's preemption count with the kernel's own operand size: x86-64 7.x keeps the
# count in 64 bits with the inverted PREEMPT_NEED_RESCHED in bit 63
# (HAS_SEPARATE_PREEMPT_RESCHED_BITS), where a 32-bit `decl` reaches zero on every
# dispatch from a preemptible task and so calls preempt_schedule_notrace each time.
#
# Counted with a kprobe on preempt_schedule_notrace (the function the thunk and the
# PREEMPT_DYNAMIC static call reach; ftramp_target's "psn on": a raw kprobe, since kprobe
# events refuse notrace functions) while kthreads on every CPU make $N calls of
# ftramp_target_a through each kind of trampoline: entry (1 ops), entry with the list
# iterator (2 ops) and return (a return ops). The probe may fire when a reschedule is
# really due (a tick in the callback): under N/20 is allowed, a broken exit gives >= N.
#
# Shown failing (Dec 2026, 7.3, the module before the fix, `decl` on the 64-bit count):
#   # FAIL: 1 ops: preempt_schedule_notrace was entered 200025 times for 200000 calls
# (with the fix: 23-35 entries per 200000 calls on 7.3)
. "$(dirname "$0")/lib.sh"

N=${PREEMPT_EXIT_CALLS:-200000}
# It shows only where a dispatch can run preemptible: a preemptible kernel, in full or lazy
# mode if the mode is chosen at boot (the test kernels are PREEMPT). "Never reschedules" is
# the other half, which ftramp_preempt_callback.sh checks (a due reschedule is taken).
if [ -r /sys/kernel/debug/sched/preempt ]; then
  grep -qE '\((full|lazy)\)' /sys/kernel/debug/sched/preempt ||
    fail "needs preemption full or lazy: $(cat /sys/kernel/debug/sched/preempt)"
else
  uname -v | grep -qE '(^| )PREEMPT( |_)' || fail "needs a preemptible kernel: $(uname -v)"
fi
load_all || fail "loading the modules failed"
trap 'echo "psn off" > "$TARGET_DIR/run" 2>/dev/null; unload_all' EXIT
echo "psn on" > "$TARGET_DIR/run" || fail "cannot put a kprobe on preempt_schedule_notrace"

# entered LABEL: N calls from kthreads; the probe's hits over them must be few.
entered() {
  local h0 h1
  h0=$(target_count psn_hits)
  echo "a kthread $N" > "$TARGET_DIR/run" || fail "$1: run failed"
  h1=$(target_count psn_hits)
  diag "$1: preempt_schedule_notrace entered $((h1 - h0)) times in $N calls"
  [ $((h1 - h0)) -lt $((N / 20)) ] ||
    fail "$1: preempt_schedule_notrace was entered $((h1 - h0)) times for $N calls"
}

entered "no hooks"
ctl filter 0 ftramp_target_a && ctl register 0 || fail "attach ops 0"
entered "1 ops"
ctl filter 4 ftramp_target_a && ctl register 4 || fail "attach ops 4"
entered "2 ops (list)"
ctl unregister 4 || fail "detach ops 4"
ctl mode 8 count && ctl filter 8 ftramp_target_a && ctl register 8 || fail "attach return ops 8"
entered "entry ops + return ops"
[ "$(ops_count 0)" = $((3 * N)) ] || fail "ops 0 saw $(ops_count 0) of $((3 * N)) calls"
[ "$(rfield 8 returns)" = "$N" ] || fail "return ops 8 got $(rfield 8 returns) of $N returns"
for k in 0 8; do ctl unregister $k || fail "detach ops $k"; done
assert_detached ftramp_target_a
exit $KSFT_PASS
