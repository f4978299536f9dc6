#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Callbacks never run preemptible, and tasks preempted inside a trampoline survive
# unregister and module reload.
#
# (a) With one ops (direct: the trampoline calls its stub) and with two (fused: a stub
#     of direct calls; list: the iterator, with fused_max=0), recursion-safe ops (0-3, called straight from the trampoline) and
#     guarded ones (4-7), kthread callers on every CPU: every call is counted, and
#     no callback ever finds itself preemptible().
# (b) CYCLES times, while kthread callers on every CPU call ftramp_target_a: load
#     ftramp_test_ops, attach an ops whose callback spins SPIN_US us (recursion-safe
#     or guarded, alone or two in list mode, alone on the function or beside a count
#     hook that keeps the site), let it run, then unregister it and poison it in one
#     go, or just unload the module (its exit unregisters). A callback that ends
#     with need_resched() set is preempted in the trampoline's epilogue right after
#     (the trampoline's preempt_enable): that task sleeps with a return address into
#     the trampoline, which unregister frees once its wait says nobody can be in it.
#     The test counts those callbacks (there must be some: the window was really
#     hit) and requires no oops, no callback running or called after unregister
#     returned (poisoned), and every load and unload to work. The trampoline slot
#     of every site that went must be int3 filler afterwards, and no later site may
#     get it back within the test (slots are reused first in, first out).
#
# Mutants (run by hand, never in the default suite; PREEMPT_PARTS=a or b runs one part):
#
#   FTRAMP_INSMOD_ARGS=mutant_preemptible=1 PREEMPT_PARTS=a FTRAMP_TESTS=ftramp_preempt_callback.sh make check
#     trampolines leave preemption enabled around the dispatch. Observed (Dec 2026):
#       # FAIL: ops 0 (direct, recursion-safe): 20000 calls, 20000 of them preemptible
#       not ok 1 selftests: ftramp: ftramp_preempt_callback.sh # exit=1 5.5s
#     (Recorded when only recursion-safe ops in direct mode could see it: the guard took
#     ftrace's recursion lock, which disabled preemption by itself. Since Dec 7 2026 the
#     guard is inline and leaves the count alone, so guarded ops and the list iterator are
#     preemptible under the mutant too.)
#
#   FTRAMP_INSMOD_ARGS=mutant_no_wait=1 PREEMPT_PARTS=b FTRAMP_TESTS=ftramp_preempt_callback.sh make check
#     retired code, stubs and lists are freed without any wait. Observed (Dec 2026),
#     ~47 s into (b), during an rmmod of ftramp_test_ops (its exit unregistering), a
#     caller iterating a freed ops list jumped through a stale entry and the guest died:
#       kernel tried to execute NX-protected page - exploit attempt? (uid: 0)
#       BUG: unable to handle page fault for address: ffff88800454dd10
#       Oops: Oops: 0011 [#1] PREEMPT SMP
#       CPU: 1 UID: 0 PID: 97 Comm: ftramp_target/1 Tainted: G           O       6.12.117 #1
#       RIP: 0010:0xffff88800454dd10
#       Call Trace: ? list_iter+0x76/0xb0 [ftramp] ... ftramp_target_a+0x5/0x10 [ftramp_target]
#       Kernel panic - not syncing: Fatal exception
#     Two earlier versions of (b) passed with the mutant: 30 cycles of one ops or two
#     (list) with nothing else on the function, unregistered and unloaded; and the same
#     with 8 single unregisters beside a hook. Removing a site goes through
#     unregister_ftrace_direct(), whose ftrace_shutdown() does synchronize_rcu_tasks_rude()
#     and synchronize_rcu_tasks() itself for a heap ftrace_ops, so a task preempted in
#     the epilogue is waited for whatever ftramp does. Beside a hook (the site stays,
#     list -> direct) only ftramp's wait protects: in a separate run the "retire" check
#     caught the mutant in 14 of 20 unregisters (0 of 40 without the mutant); hence
#     RETIRES unregisters per such cycle.
#
#   demo_bug=7 / 8 of selftests/mutants/demo_bugs.patch (freed slots not refilled with
#   int3 / reused last in, first out), PREEMPT_PARTS=b CYCLES=6:
#       # FAIL: cycle 2: freed trampoline slot ffffffffa002c100 is not int3 filler: 554889e55057...
#       # FAIL: cycle 2: freed trampoline slot ffffffffa002c100 is already another site's: slots are not reused FIFO
#   demo_bug=3 (unregister does not detach), PREEMPT_PARTS=b:
#       # FAIL: cycle 1, round 1: ops 0 called 2089697 times after (or still running when) unregister returned
. "$(dirname "$0")/lib.sh"

PARTS=${PREEMPT_PARTS:-ab}    # by hand: "a" or "b" alone
CYCLES=${CYCLES:-30}
RETIRES=${RETIRES:-5}
SPIN_US=${SPIN_US:-100}
N=${CALLS:-20000}
load_ftramp && load_target && insmod "$TEST_OPS_KO" || fail "loading the modules failed"
trap 'echo stop > "$TARGET_DIR/run" 2>/dev/null; unload_all' EXIT
slots0=$(stat_field slots)
for m in mutant_preemptible mutant_no_wait; do
  [ "$(knob $m)" = Y ] && diag "MUTANT: $m=1 (this run is meant to fail)"
done

# ---- (a) ----
check_case() { # name ops...
  local name=$1 k calls pre res; shift
  for k in "$@"; do ctl filter "$k" ftramp_target_a && ctl register "$k" || fail "$name: attach ops $k"; done
  local mode=direct; [ $# -gt 1 ] && mode=$MULTI
  site_line ftramp_target_a | grep -q "ops=$# mode=$mode" || fail "$name: site is '$(site_line ftramp_target_a)'"
  ctl zero; echo 1 > "$TARGET_DIR/reset"
  echo "a kthread $N" > "$TARGET_DIR/run" || fail "$name: run failed"
  for k in "$@"; do
    calls=$(ops_field "$k" 2) pre=$(ops_field "$k" 3) res=$(ops_field "$k" 4)
    diag "$name: ops $k: $calls calls, $pre preemptible, $res ended with need_resched"
    [ "$pre" = 0 ] || fail "ops $k ($name): $calls calls, $pre of them preemptible"
    [ "$calls" = "$N" ] || fail "ops $k ($name): $calls of $N calls"
  done
  for k in "$@"; do ctl unregister "$k" || fail "$name: detach ops $k"; done
}
if [[ $PARTS == *a* ]]; then
  check_case "direct, recursion-safe" 0
  check_case "direct, guarded" 4
  # Several ops: through a fused stub (the default), then through the list iterator.
  for MULTI in fused list; do
    [ $MULTI = list ] && set_knob fused_max 0
    check_case "$MULTI, recursion-safe" 1 2
    check_case "$MULTI, guarded" 5 6
    check_case "$MULTI, mixed" 3 7
  done
  set_knob fused_max 16
  [ "$(poisoned)" = 0 ] || fail "poisoned ops called: $(poisoned)"
fi
[[ $PARTS == *b* ]] || exit $KSFT_PASS

# ---- (b) ----
# Four kinds of cycle: the ops alone (its site goes at unregister) or beside a count
# hook on the same function (the site stays: list -> direct on the hook's stub), and
# "retire" (unregister and, in the same write, poison: a callback still running
# when unregister returned counts as poisoned at its end) or plain rmmod (the
# module's exit unregisters and its text is freed right after). Beside the hook,
# the retire is done RETIRES times per cycle: there ftramp's own wait is all that
# keeps unregister from returning under a running callback (when a site goes,
# ftrace's unregister_ftrace_direct() waits for RCU-tasks itself).
echo "start a 1" > "$TARGET_DIR/run" || fail "cannot start callers"
total_resched=0 total_calls=0 hit_cycles=0 retired=0 freed="" pending="" peeked=0
# The trampoline slot of the site that went in the last cycle: freed, so all int3
# (a task still in it would trap, unclaimed, instead of running stale code).
check_freed_slot() {
  [ -n "$pending" ] || return 0
  echo "$pending 128" > "$TEST_DIR/peek" || fail "$1: peek at $pending"
  local b; b=$(cat "$TEST_DIR/peek")
  if [ "$b" != "$(printf 'cc%.0s' $(seq 1 128))" ]; then
    grep -q "tramp=0x$pending\$" "$FTRAMP_DIR/enabled_functions" &&
      fail "$1: freed trampoline slot $pending is already another site's: slots are not reused FIFO"
    fail "$1: freed trampoline slot $pending is not int3 filler: $b"
  fi
  pending="" peeked=$((peeked + 1))
}
for i in $(seq 1 "$CYCLES"); do
  case $((i % 4)) in
    1) hook=0 end=retire; set -- 0 ;;
    2) hook=1 end=retire; set -- 4 ;;
    3) hook=1 end=rmmod; set -- 0 4 ;;
    0) hook=0 end=rmmod; set -- 4 ;;
  esac
  if [ $hook = 1 ]; then
    echo "ftramp_target_a count" >> "$FTRAMP_DIR/hooks" || fail "cycle $i: hook"
  fi
  is_loaded ftramp_test_ops || insmod "$TEST_OPS_KO" || fail "cycle $i: insmod ftramp_test_ops"
  check_freed_slot "cycle $i"
  rounds=1; [ $hook = 1 ] && [ $end = retire ] && rounds=$RETIRES
  for r in $(seq 1 $rounds); do
    for k in "$@"; do
      ctl spin "$k" "$SPIN_US" && ctl filter "$k" ftramp_target_a && ctl register "$k" ||
        fail "cycle $i: attach ops $k"
    done
    tramp=$(site_line ftramp_target_a | sed -n 's/.*tramp=0x\([0-9a-f]*\).*/\1/p')
    [ $hook = 1 ] || case " $freed " in
      *" $tramp "*) fail "cycle $i: the site got slot $tramp again, freed before: slots are not reused FIFO" ;;
    esac
    sleep $([ $rounds = 1 ] && echo 0.2 || echo 0.05)
    if [ $end = retire ]; then
      for k in "$@"; do ctl retire "$k" || fail "cycle $i: unregister and poison ops $k"; done
      [ "$(poisoned)" = 0 ] || fail "cycle $i, round $r: ops $* called $(poisoned) times after (or still running when) unregister returned"
    fi
  done
  res=0 calls=0
  for k in "$@"; do
    [ "$(ops_field "$k" 3)" = 0 ] || fail "cycle $i: ops $k was called preemptible $(ops_field "$k" 3) times"
    res=$((res + $(ops_field "$k" 4))); calls=$((calls + $(ops_field "$k" 2)))
  done
  [ "$calls" -gt 0 ] || fail "cycle $i: ops $* never called"
  if [ $end = retire ]; then
    sleep 0.05
    [ "$(poisoned)" = 0 ] || fail "cycle $i: ops $* called $(poisoned) times after (or still running when) unregister returned"
  fi
  rmmod ftramp_test_ops || fail "cycle $i: rmmod ftramp_test_ops"
  if [ $hook = 1 ]; then
    site_line ftramp_target_a | grep -q "ops=1 mode=direct" || fail "cycle $i: site is '$(site_line ftramp_target_a)', want the hook alone"
    echo "!ftramp_target_a count" >> "$FTRAMP_DIR/hooks" || fail "cycle $i: unhook"
  fi
  [ -z "$(site_line ftramp_target_a)" ] || fail "cycle $i: site left: $(site_line ftramp_target_a)"
  assert_detached ftramp_target_a
  [ $hook = 1 ] || { freed="$freed $tramp"; pending=$tramp; }
  total_resched=$((total_resched + res)); total_calls=$((total_calls + calls))
  [ $hook = 1 ] && [ $end = retire ] && retired=$((retired + rounds))
  [ "$res" -gt 0 ] && hit_cycles=$((hit_cycles + 1))
done
echo stop > "$TARGET_DIR/run" || fail "cannot stop callers"
insmod "$TEST_OPS_KO" && check_freed_slot "end" && rmmod ftramp_test_ops || fail "end: checking the last freed slot"
diag "freed site slots: $peeked checked all int3, none reused (FIFO)"
diag "$CYCLES cycles ($retired unregisters beside a hook), spin ${SPIN_US} us: $total_calls callbacks, $total_resched ended with need_resched (preempted in the trampoline) in $hit_cycles cycles"
[ "$(stat_field slots)" = "$slots0" ] || fail "slots in use: $(stat_field slots), $slots0 at the start"
[ "$total_resched" -gt 0 ] || fail "no callback ever ended with need_resched set: the window was never hit"
exit $KSFT_PASS
