#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ftramp's kselftest runner: runs inside the test VM, prints KTAP on stdout.
#
# After every test it reads and clears the kernel log and fails the test on any
# WARN/BUG/Oops/KASAN/lockdep/RCU-stall report (lib.sh: dmesg_bad) and on any new
# taint bit; with kmemleak built in it ends with a leak scan.
#
# A test that provokes a WARN on purpose declares it: it writes an extended regex to
# $RESULTS/<name>.expected-warn. Then every WARN block ("cut here" .. "end trace") of
# its kernel log with a line matching the regex is taken out before the scan (the rest
# is scanned as usual, into <name>.dmesg-scanned), at least one such block must be
# there ("expected WARN not seen" otherwise), and taint bit 512 (TAINT_WARN) is
# allowed for it. $RESULTS/<name>.expected-taint allows other taint bits the same way.
#
# No silent passes: every test must run, so a SKIP is a failure (make check builds the
# test knobs in; FTRAMP_ALLOW_SKIP=1 turns SKIP back into ok for a hand-built module
# without them), and a selftests/ftramp_*.sh file that the suite's list does not name
# fails the run (whichever tests were asked for).
#
# usage: run_tests.sh RESULTS_DIR [TEST...]
set -u
. "$(dirname "$0")/lib.sh"

RESULTS=${1:?results dir}
shift
mkdir -p "$RESULTS"
# The suite. Order matters only for the last one: it taints the kernel on purpose.
SUITE=(ftramp_load_unload.sh ftramp_status.sh ftramp_hardened.sh ftramp_target_count.sh
       ftramp_load_failure.sh ftramp_ops_lifecycle.sh ftramp_batch.sh
       ftramp_nodrop_stress.sh ftramp_stress_variants.sh ftramp_skip_sensitivity.sh ftramp_coexistence.sh
       ftramp_direct_coexist.sh
       ftramp_unload_under_load.sh ftramp_samples.sh ftramp_hostile_input.sh
       ftramp_ui_concurrency.sh ftramp_events.sh ftramp_list_window.sh ftramp_forgetful_user.sh
       ftramp_rcu_not_watching.sh ftramp_denylist.sh ftramp_fault_injection.sh
       ftramp_preempt_callback.sh
       ftramp_harness_check.sh)
TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=("${SUITE[@]}")
TEST_TIMEOUT=${TEST_TIMEOUT:-600}

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
mountpoint -q "$TRACEFS" || mount -t tracefs none "$TRACEFS"
KMEMLEAK=/sys/kernel/debug/kmemleak
[ -w $KMEMLEAK ] && echo clear > $KMEMLEAK
dmesg -c > "$RESULTS/boot.dmesg"

unlisted=()
for f in "$SELFTESTS_DIR"/ftramp_*.sh; do
  f=$(basename "$f")
  case " ${SUITE[*]} " in *" $f "*) ;; *) unlisted+=("$f") ;; esac
done
# The kernel log is scanned at boot and after the last test too (two more results).
n=$(( ${#TESTS[@]} + ${#unlisted[@]} + 2 ))
[ -w $KMEMLEAK ] && n=$((n + 1))
echo "TAP version 13"
echo "1..$n"

# scan_log FILE NAME: one result for a kernel log outside any test.
scan_log() {
  i=$((i + 1))
  if bad=$(boot_benign < "$1" | dmesg_bad); then
    echo "# kernel log reports (full log: $1):"
    echo "$bad" | head -20 | sed 's/^/#   /'
    echo "not ok $i selftests: ftramp: $2"
  else
    echo "ok $i selftests: ftramp: $2"
  fi
}
i=0
scan_log "$RESULTS/boot.dmesg" "kernel log at boot"
for t in "${unlisted[@]}"; do
  i=$((i + 1))
  echo "not ok $i selftests: ftramp: $t # not in run_tests.sh's list: it would never run"
done
for t in "${TESTS[@]}"; do
  i=$((i + 1))
  name=${t%.sh}
  echo "# selftests: ftramp: $t"
  rm -f "$RESULTS/$name.expected-taint" "$RESULTS/$name.expected-warn"
  taint_before=$(taint)
  start=$(date +%s.%N)
  export RESULTS
  timeout "$TEST_TIMEOUT" bash "$SELFTESTS_DIR/$t" > "$RESULTS/$name.log" 2>&1
  rc=$?
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  sed 's/^/# /; s/^# # /# /' "$RESULTS/$name.log"
  dmesg -c > "$RESULTS/$name.dmesg"
  reason=
  [ $rc -eq 124 ] && reason="timed out after ${TEST_TIMEOUT}s"
  allowed=$TAINT_EXPECTED
  scanned=$RESULTS/$name.dmesg
  if [ -f "$RESULTS/$name.expected-warn" ]; then
    scanned=$RESULTS/$name.dmesg-scanned
    seen=$(strip_expected_warns "$(cat "$RESULTS/$name.expected-warn")" "$RESULTS/$name.dmesg" "$scanned")
    echo "# expected WARNs (/$(cat "$RESULTS/$name.expected-warn")/) taken out of the scan: $seen"
    [ "$seen" -gt 0 ] || reason="expected WARN not seen"
    allowed=$((allowed | 512))
  fi
  if bad=$(dmesg_bad < "$scanned"); then
    echo "# kernel log reports (full log: $RESULTS/$name.dmesg):"
    echo "$bad" | head -20 | sed 's/^/#   /'
    reason="${reason:+$reason; }kernel log has WARN/BUG/Oops/lockdep/KASAN/stall reports"
  fi
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

dmesg -c > "$RESULTS/final.dmesg"
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
