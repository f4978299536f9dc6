#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ftramp's kselftest runner: runs inside the test VM, prints KTAP on stdout.
#
# After every test it reads and clears the kernel log (decoded: dmesg -x) and fails the
# test on
#   * any report of the kernel's detectors: WARN/BUG/Oops, lockdep, RCU stalls, soft
#     and hard lockups, hung tasks, unknown NMIs, KASAN/UBSAN/kmemleak in the debug
#     flavour (lib.sh: dmesg_bad; Documentation/testing.rst lists them);
#   * any warning of ftramp's own (level warning or worse from ftramp, its test
#     modules or samples: lib.sh: ftramp_warnings), e.g. "ftrace would not detach",
#     "keeping N bytes of trampoline memory";
#   * any new taint bit;
#   * a module of the suite left loaded (it is unloaded then, so that the next test
#     starts clean), and any ftrace callback the kernel has on a function that it did
#     not have before the test (/sys/kernel/tracing/enabled_functions: a direct call
#     left behind).
# The kernel log is also scanned at boot and after the last test; with kmemleak built in
# the run ends with a leak scan.
#
# Declarations, in $RESULTS, by a test that provokes something on purpose:
#   <name>.expected-warn   an extended regex: every WARN block ("cut here" .. "end trace")
#       of its kernel log with a line matching it is taken out before the scan (the
#       rest is scanned as usual, into <name>.dmesg-scanned), at least one such block
#       must be there ("expected WARN not seen" otherwise), and taint bit 512
#       (TAINT_WARN) is allowed for it;
#   <name>.expected-log    extended regexes, one a line, of ftramp warnings it provokes:
#       each must match at least one of them ("expected warning not seen" otherwise),
#       and the ftramp warnings they match are allowed;
#   <name>.expected-taint  other taint bits allowed;
#   <name>.expected-direct functions it leaves a callback on (lib.sh: keep_direct).
#
# No silent passes: every test must run, so a SKIP is a failure (make check builds the
# test knobs in; FTRAMP_ALLOW_SKIP=1 turns SKIP back into ok for a hand-built module
# without them), and a selftests/ftramp_*.sh file that the suite's list does not name
# fails the run (whichever tests were asked for).
#
# FTRAMP_TESTS_DIR=DIR runs the named tests from DIR instead (ftramp_harness_check.sh
# runs planted tests this way, in a nested run): no list check then, and no kmemleak
# clear or scan (they belong to the outer run).
#
# usage: run_tests.sh RESULTS_DIR [TEST...]
set -u
. "$(dirname "$0")/lib.sh"

RESULTS=${1:?results dir}
shift
mkdir -p "$RESULTS"
# The suite. Order matters only for the last one: it taints the kernel on purpose.
SUITE=(ftramp_load_unload.sh ftramp_status.sh ftramp_hardened.sh ftramp_target_count.sh
       ftramp_load_failure.sh ftramp_ops_lifecycle.sh ftramp_batch.sh ftramp_fused.sh
       ftramp_nodrop_stress.sh ftramp_stress_variants.sh ftramp_skip_sensitivity.sh ftramp_coexistence.sh
       ftramp_direct_coexist.sh
       ftramp_unload_under_load.sh ftramp_samples.sh ftramp_hostile_input.sh
       ftramp_ui_concurrency.sh ftramp_events.sh ftramp_list_window.sh ftramp_forgetful_user.sh
       ftramp_rcu_not_watching.sh ftramp_denylist.sh ftramp_fault_injection.sh
       ftramp_preempt_callback.sh ftramp_preempt_exit.sh ftramp_recursion_guard.sh
       ftramp_ret_values.sh ftramp_ret_nodrop.sh ftramp_ret_stale.sh ftramp_ret_sleep_unload.sh
       ftramp_ret_recursion.sh
       ftramp_harness_check.sh)
TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=("${SUITE[@]}")
TEST_TIMEOUT=${TEST_TIMEOUT:-600}

TESTS_DIR=${FTRAMP_TESTS_DIR:-$SELFTESTS_DIR}
NESTED=0; [ -n "${FTRAMP_TESTS_DIR:-}" ] && NESTED=1
# The suite's modules, in unload order (ftramp before the target it pins).
MODULES=(ftramp_test_ops ftramp_sample ftramp_sample_rust ftramp ftramp_target)

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
mountpoint -q "$TRACEFS" || mount -t tracefs none "$TRACEFS"
KMEMLEAK=/sys/kernel/debug/kmemleak
[ $NESTED = 0 ] || KMEMLEAK=/nonexistent
[ -w $KMEMLEAK ] && echo clear > $KMEMLEAK
dmesg -c -x > "$RESULTS/boot.dmesg"

unlisted=()
if [ $NESTED = 0 ]; then
  for f in "$SELFTESTS_DIR"/ftramp_*.sh; do
    f=$(basename "$f")
    case " ${SUITE[*]} " in *" $f "*) ;; *) unlisted+=("$f") ;; esac
  done
fi
# The kernel log is scanned at boot and after the last test too (two more results).
n=$(( ${#TESTS[@]} + ${#unlisted[@]} + 2 ))
[ -w $KMEMLEAK ] && n=$((n + 1))
echo "TAP version 13"
echo "1..$n"

# The detectors the scan relies on, as this boot has them: one line each, "OFF: ..." for
# one that the test kernels build in but this boot has off (that fails the boot result).
detectors() {
  local v
  v=$(cat /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null)
  if [ "${v:-0}" -gt 0 ]; then echo "hung task (${v}s)"; else echo "OFF: hung task detector"; fi
  if [ "$(cat /proc/sys/kernel/soft_watchdog 2>/dev/null)" = 1 ]; then echo "soft lockup"
  else echo "OFF: soft lockup detector"; fi
  # The perf NMI watchdog needs a PMU, which TCG does not emulate; a CPU stuck with
  # interrupts off is then reported by the RCU CPU stall detector instead.
  if grep -q 'Perf NMI watchdog permanently disabled' "$RESULTS/boot.dmesg"; then
    echo "hard lockup (inactive: no PMU)"
  else
    echo "hard lockup"
  fi
  v=$(cat /sys/module/rcupdate/parameters/rcu_cpu_stall_timeout 2>/dev/null)
  if [ "${v:-0}" -gt 0 ] && [ "$(cat /sys/module/rcupdate/parameters/rcu_cpu_stall_suppress 2>/dev/null)" = 0 ]
  then echo "RCU stall (${v}s)"; else echo "OFF: RCU CPU stall detector"; fi
  if grep -qE '^ *debug_locks: +1$' /proc/lockdep_stats 2>/dev/null; then echo lockdep
  else echo "OFF: lockdep"; fi
  grep -q 'KernelAddressSanitizer initialized' "$RESULTS/boot.dmesg" && echo KASAN
  [ -e /sys/kernel/debug/kmemleak ] && echo kmemleak
  return 0
}

# scan_log FILE NAME [REASON]: one result for a kernel log outside any test.
scan_log() {
  local bad warns reason=${3:-}
  i=$((i + 1))
  bad=$(boot_benign < "$1" | dmesg_bad) && reason="${reason:+$reason; }kernel log reports"
  warns=$(ftramp_warnings < "$1") && reason="${reason:+$reason; }ftramp warnings"
  if [ -n "$reason" ]; then
    echo "# $reason (full log: $1):"
    printf '%s\n' "$bad" "$warns" | sed '/^$/d' | head -20 | sed 's/^/#   /'
    echo "# FAIL: $reason"
    echo "not ok $i selftests: ftramp: $2"
  else
    echo "ok $i selftests: ftramp: $2"
  fi
}

# check_expected_log FILE: the ftramp warnings of kernel log FILE against the test's
# <name>.expected-log. Sets reason; prints what it found.
check_expected_log() {
  local warns re seen decl=$RESULTS/$name.expected-log
  warns=$(ftramp_warnings < "$1")
  if [ -f "$decl" ]; then
    while IFS= read -r re; do
      [ -n "$re" ] || continue
      seen=$(grep -cE -e "$re" <<< "$warns")
      echo "# expected ftramp warnings (/$re/): $seen"
      [ "$seen" -gt 0 ] || reason="${reason:+$reason; }expected warning not seen: /$re/"
    done < "$decl"
    warns=$(grep -vE -f <(grep . "$decl") <<< "$warns")
  fi
  if [ -n "$warns" ]; then
    echo "# ftramp warnings (full log: $RESULTS/$name.dmesg):"
    echo "$warns" | head -20 | sed 's/^/#   /'
    reason="${reason:+$reason; }ftramp warnings"
  fi
}

i=0
if [ $NESTED = 0 ]; then
  det=$(detectors)
  echo "# detectors: $(grep -v '^OFF: ' <<< "$det" | paste -sd, | sed 's/,/, /g')"
  off=$(grep '^OFF: ' <<< "$det" | sed 's/^OFF: //' | paste -sd, | sed 's/,/, /g')
  scan_log "$RESULTS/boot.dmesg" "kernel log at boot" "${off:+detectors off: $off}"
else
  scan_log "$RESULTS/boot.dmesg" "kernel log before the run"
fi
for t in "${unlisted[@]}"; do
  i=$((i + 1))
  echo "not ok $i selftests: ftramp: $t # not in run_tests.sh's list: it would never run"
done
for t in "${TESTS[@]}"; do
  i=$((i + 1))
  name=${t%.sh}
  echo "# selftests: ftramp: $t"
  rm -f "$RESULTS/$name".expected-{taint,warn,log,direct}
  taint_before=$(taint)
  enabled_before=$(kernel_enabled)
  start=$(date +%s.%N)
  export RESULTS
  timeout "$TEST_TIMEOUT" bash "$TESTS_DIR/$t" > "$RESULTS/$name.log" 2>&1
  rc=$?
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  sed 's/^/# /; s/^# # /# /' "$RESULTS/$name.log"
  reason=
  [ $rc -eq 124 ] && reason="timed out after ${TEST_TIMEOUT}s"
  # What the test left behind is its failure; cleaned up here so that the next test
  # starts clean (and its kernel log goes with this test's).
  left=()
  for m in "${MODULES[@]}"; do is_loaded $m && left+=($m); done
  if [ ${#left[@]} -gt 0 ]; then
    reason="${reason:+$reason; }modules left loaded: ${left[*]}"
    for m in "${left[@]}"; do rmmod $m || reason="$reason (rmmod $m failed)"; done
  fi
  left_cb=$(comm -13 <( (echo "$enabled_before"; cat "$RESULTS/$name.expected-direct" 2>/dev/null) |
                        sed '/^$/d' | sort -u) <(kernel_enabled))
  if [ -n "$left_cb" ]; then
    echo "# ftrace callbacks left on (/sys/kernel/tracing/enabled_functions):"
    for f in $left_cb; do echo "#   $(kernel_record "$f")"; done
    reason="${reason:+$reason; }ftrace callbacks left on: $(echo $left_cb)"
  fi
  dmesg -c -x > "$RESULTS/$name.dmesg"
  allowed=$TAINT_EXPECTED
  scanned=$RESULTS/$name.dmesg
  if [ -f "$RESULTS/$name.expected-warn" ]; then
    scanned=$RESULTS/$name.dmesg-scanned
    seen=$(strip_expected_warns "$(cat "$RESULTS/$name.expected-warn")" "$RESULTS/$name.dmesg" "$scanned")
    echo "# expected WARNs (/$(cat "$RESULTS/$name.expected-warn")/) taken out of the scan: $seen"
    [ "$seen" -gt 0 ] || reason="${reason:+$reason; }expected WARN not seen"
    allowed=$((allowed | 512))
  fi
  if bad=$(dmesg_bad < "$scanned"); then
    echo "# kernel log reports (full log: $RESULTS/$name.dmesg):"
    echo "$bad" | head -20 | sed 's/^/#   /'
    reason="${reason:+$reason; }kernel log has WARN/BUG/Oops/lockdep/KASAN/stall reports"
  fi
  check_expected_log "$scanned"
  [ -f "$RESULTS/$name.expected-taint" ] && allowed=$((allowed | $(cat "$RESULTS/$name.expected-taint")))
  new_taint=$(( $(taint) & ~taint_before & ~allowed ))
  [ $new_taint -ne 0 ] && reason="${reason:+$reason; }new kernel taint $new_taint"
  if [ -n "$reason" ]; then
    echo "# FAIL: $reason"
    echo "not ok $i selftests: ftramp: $t # ${secs}s"
  elif [ $rc -eq 0 ]; then
    echo "ok $i selftests: ftramp: $t # ${secs}s"
  elif [ $rc -eq 4 ] && [ "${FTRAMP_ALLOW_SKIP:-0}" = 1 ]; then
    echo "ok $i selftests: ftramp: $t # SKIP"
  elif [ $rc -eq 4 ]; then
    echo "# FAIL: skipped, but every test of the suite must run"
    echo "not ok $i selftests: ftramp: $t # SKIP is a failure ${secs}s"
  else
    echo "not ok $i selftests: ftramp: $t # exit=$rc ${secs}s"
  fi
done

dmesg -c -x > "$RESULTS/final.dmesg"
scan_log "$RESULTS/final.dmesg" "kernel log after the last test"

if [ -w $KMEMLEAK ]; then
  i=$((i + 1))
  # kmemleak reports objects only once they are older than 5 s: wait, scan twice.
  sleep 6
  echo scan > $KMEMLEAK; echo scan > $KMEMLEAK
  cat $KMEMLEAK > "$RESULTS/kmemleak.log"
  if [ -s "$RESULTS/kmemleak.log" ]; then
    head -30 "$RESULTS/kmemleak.log" | sed 's/^/# /'
    echo "not ok $i selftests: ftramp: kmemleak"
  else
    echo "ok $i selftests: ftramp: kmemleak"
  fi
fi
