#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The oracle of later tests: the target module makes exactly the calls asked
# for, from kthreads, timers (softirq) and hrtimers (hardirq) on every CPU, and
# counts exactly that many.
. "$(dirname "$0")/lib.sh"

CALLS=${CALLS:-1000000}
load_target || fail "insmod ftramp_target failed"
trap 'unload_target' EXIT
diag "$(nproc) CPUs online"

count() { awk -v f="$1" '$1 == f { print $2 }' "$TARGET_DIR/count"; }

for ctx in kthread timer hrtimer; do
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

echo "a nosuchctx 1" > "$TARGET_DIR/run" 2> /dev/null && fail "bad context accepted"
exit $KSFT_PASS
