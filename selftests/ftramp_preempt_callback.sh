#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Callbacks never run preemptible, and tasks preempted inside a trampoline survive
# unregister and module reload.
#
# (a) With one ops (direct: the trampoline calls its stub) and with two (list: the
#     iterator), recursion-safe ops (0-3, called straight from the trampoline) and
#     guarded ones (4-7), kthread callers on every CPU: every call is counted, and
#     no callback ever finds itself preemptible().
# (b) CYCLES times, while kthread callers on every CPU call ftramp_target_a: load
#     ftramp_test_ops, attach an ops whose callback spins SPIN_US us (alone, guarded
#     alone, or both in list mode), let it run, unregister it, poison it, unload
#     the module. A callback that ends with need_resched() set is preempted in the
#     trampoline's epilogue right after (the trampoline's preempt_enable): that
#     task sleeps with a return address into the trampoline, which unregister frees
#     once its wait says nobody can be in it. The test counts those callbacks (there
#     must be some: the window was really hit) and requires no oops, no call of a
#     poisoned ops, and every load and unload to work.
#
# Mutants (run by hand, never in the default suite):
#
#   FTRAMP_INSMOD_ARGS=mutant_preemptible=1 FTRAMP_TESTS=ftramp_preempt_callback.sh make check
#     trampolines leave preemption enabled around the dispatch. Observed (Dec 2026):
#       # FAIL: ops 0 (direct, recursion-safe): 20000 calls, 20000 of them preemptible
#     Only the recursion-safe ops in direct mode see it: the guard wrapper and the list
#     iterator take ftrace's recursion lock, which disables preemption itself.
#
#   FTRAMP_INSMOD_ARGS=mutant_no_wait=1 FTRAMP_TESTS=ftramp_preempt_callback.sh make check
#     retired trampolines and stubs are freed (refilled with int3) without a wait.
#     Observed (Dec 2026): see MUTANT_NO_WAIT_RESULT below.
#
# MUTANT_NO_WAIT_RESULT: (filled in below the first time it was run)
. "$(dirname "$0")/lib.sh"

PARTS=${PREEMPT_PARTS:-ab}    # by hand: "a" or "b" alone
CYCLES=${CYCLES:-30}
SPIN_US=${SPIN_US:-50}
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
  local mode=direct; [ $# -gt 1 ] && mode=list
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
  check_case "list, recursion-safe" 1 2
  check_case "list, guarded" 5 6
  check_case "list, mixed" 3 7
  [ "$(poisoned)" = 0 ] || fail "poisoned ops called: $(poisoned)"
fi
[[ $PARTS == *b* ]] || exit $KSFT_PASS

# ---- (b) ----
echo "start a 1" > "$TARGET_DIR/run" || fail "cannot start callers"
total_resched=0 total_calls=0 hit_cycles=0
for i in $(seq 1 "$CYCLES"); do
  case $((i % 3)) in
    1) set -- 0 ;;
    2) set -- 4 ;;
    0) set -- 0 4 ;;
  esac
  is_loaded ftramp_test_ops || insmod "$TEST_OPS_KO" || fail "cycle $i: insmod ftramp_test_ops"
  for k in "$@"; do
    ctl spin "$k" "$SPIN_US" && ctl filter "$k" ftramp_target_a && ctl register "$k" ||
      fail "cycle $i: attach ops $k"
  done
  sleep 0.2
  for k in "$@"; do ctl unregister "$k" || fail "cycle $i: unregister ops $k"; done
  for k in "$@"; do ctl poison "$k" || fail "cycle $i: poison ops $k (ftramp still holds it?)"; done
  res=0 calls=0
  for k in "$@"; do
    [ "$(ops_field "$k" 3)" = 0 ] || fail "cycle $i: ops $k was called preemptible $(ops_field "$k" 3) times"
    res=$((res + $(ops_field "$k" 4))); calls=$((calls + $(ops_field "$k" 2)))
  done
  [ "$calls" -gt 0 ] || fail "cycle $i: ops $* never called"
  sleep 0.05
  [ "$(poisoned)" = 0 ] || fail "cycle $i: unregistered ops called $(poisoned) times"
  rmmod ftramp_test_ops || fail "cycle $i: rmmod ftramp_test_ops"
  [ -z "$(site_line ftramp_target_a)" ] || fail "cycle $i: site left: $(site_line ftramp_target_a)"
  total_resched=$((total_resched + res)); total_calls=$((total_calls + calls))
  [ "$res" -gt 0 ] && hit_cycles=$((hit_cycles + 1))
done
echo stop > "$TARGET_DIR/run" || fail "cannot stop callers"
diag "$CYCLES cycles, spin ${SPIN_US} us: $total_calls callbacks, $total_resched ended with need_resched (preempted in the trampoline) in $hit_cycles cycles"
[ "$(stat_field slots)" = "$slots0" ] || fail "slots in use: $(stat_field slots), $slots0 at the start"
[ "$total_resched" -gt 0 ] || fail "no callback ever ended with need_resched set: the window was never hit"
exit $KSFT_PASS
