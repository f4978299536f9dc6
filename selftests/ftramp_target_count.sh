#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The oracle of later tests: the target module makes exactly the calls asked
# for, from kthreads, timers (softirq), hrtimers (hardirq) and kthreads where RCU
# is not watching (eqs) on every CPU, and counts exactly that many; a sequence of
# targets ("abbc") calls each as often as it is listed.
. "$(dirname "$0")/lib.sh"

CALLS=${CALLS:-1000000}
load_target || fail "insmod ftramp_target failed"
trap unload_all EXIT
diag "$(nproc) CPUs online"

count() { awk -v f="$1" '$1 == f { print $2 }' "$TARGET_DIR/count"; }

for ctx in kthread timer hrtimer eqs; do
  echo 1 > "$TARGET_DIR/reset"
  start=$(date +%s.%N)
  echo "a $ctx $CALLS" > "$TARGET_DIR/run" || fail "run a $ctx failed"
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
  got=$(count a)
  [ "$got" = "$CALLS" ] || fail "$ctx: target counted $got calls, $CALLS were made"
  for f in b c d; do
    [ "$(count $f)" = 0 ] || fail "$ctx: ftramp_target_$f counted calls it never got"
  done
  diag "$ctx: $got calls counted exactly (${secs}s)"
done

nw=$(count eqs_not_watching) nb=$(count eqs_batches)
[ "$nb" -gt 0 ] && [ "$nw" = "$nb" ] || fail "eqs: $nw of $nb batches ran with RCU not watching"
diag "eqs: all $nb batches ran with RCU not watching"

echo 1 > "$TARGET_DIR/reset"
echo "abbccccdddddddd kthread 1000" > "$TARGET_DIR/run" || fail "run of a sequence failed"
got="$(count a) $(count b) $(count c) $(count d)"
[ "$got" = "1000 2000 4000 8000" ] || fail "sequence abbccccdddddddd x1000 counted $got"
diag "sequence abbccccdddddddd x1000: $got"

echo "a nosuchctx 1" > "$TARGET_DIR/run" 2> /dev/null && fail "bad context accepted"
echo "abx kthread 1" > "$TARGET_DIR/run" 2> /dev/null && fail "bad sequence accepted"
exit $KSFT_PASS
