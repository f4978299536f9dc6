#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The oracle of later tests: the target module makes exactly the calls asked
# for, from kthreads, timers (softirq), hrtimers (hardirq), kthreads where RCU is not
# watching (eqs) and NMIs on every CPU, and counts exactly that many, each on the CPU
# and in the context it was made in (the stress oracle compares per CPU and context);
# a sequence of targets ("abbc") calls each as often as it is listed.
. "$(dirname "$0")/lib.sh"

CALLS=${CALLS:-1000000}
load_target || fail "insmod ftramp_target failed"
trap unload_all EXIT
diag "$(nproc) CPUs online"

count() { awk -v f="$1" '$1 == f { print $2 }' "$TARGET_DIR/count"; }

ncpus=$(nproc)
# Column of the "cell" line ("cell a CPU task softirq hardirq nmi") a context counts in.
declare -A COL=([kthread]=4 [timer]=5 [hrtimer]=6 [eqs]=4 [nmi]=7)
for ctx in kthread timer hrtimer eqs nmi; do
  # NMIs are rationed (the target keeps them to a tenth of a CPU): fewer calls there.
  n=$CALLS; [ $ctx = nmi ] && n=$((CALLS / 50))
  echo 1 > "$TARGET_DIR/reset"
  start=$(date +%s.%N)
  echo "a $ctx $n" > "$TARGET_DIR/run" || fail "run a $ctx failed"
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
  got=$(count a)
  [ "$got" = "$n" ] || fail "$ctx: target counted $got calls, $n were made"
  for f in b c d; do
    [ "$(count $f)" = 0 ] || fail "$ctx: ftramp_target_$f counted calls it never got"
  done
  # Every online CPU made its share (n / ncpus, the first n % ncpus one more),
  # all of it in the context asked for.
  cells=$(awk -v col="${COL[$ctx]}" '$1 == "cell" && $2 == "a" {
      o = 0; for (i = 4; i <= 7; i++) if (i != col) o += $i; print $3, $col, o }' "$TARGET_DIR/count")
  [ "$(echo "$cells" | wc -l)" = "$ncpus" ] || fail "$ctx: calls on $(echo "$cells" | wc -l) of $ncpus CPUs: $cells"
  lo=$((n / ncpus)) hi=$(( (n + ncpus - 1) / ncpus ))
  while read -r cpu n other; do
    [ "$n" -ge $lo ] && [ "$n" -le $hi ] || fail "$ctx: CPU $cpu made $n calls, not $lo..$hi"
    [ "$other" = 0 ] || fail "$ctx: CPU $cpu counted $other calls in another context"
  done <<< "$cells"
  diag "$ctx: $got calls counted exactly, each CPU's share in its context (${secs}s)"
  if [ $ctx = eqs ]; then
    nw=$(count eqs_not_watching) nb=$(count eqs_batches)
    [ "$nb" -gt 0 ] && [ "$nw" = "$nb" ] || fail "eqs: $nw of $nb batches ran with RCU not watching"
    diag "eqs: all $nb batches ran with RCU not watching"
  fi
done
[ "$(target_count nmi_lost)" = 0 ] || fail "nmi: $(target_count nmi_lost) NMIs were never handled"
[ "$(target_count nmi_handled)" = "$(target_count nmi_sent)" ] ||
  fail "nmi: $(target_count nmi_sent) NMIs sent, $(target_count nmi_handled) handled"
diag "nmi: $(target_count nmi_sent) NMIs sent and handled"


echo 1 > "$TARGET_DIR/reset"
echo "abbccccdddddddd kthread 1000" > "$TARGET_DIR/run" || fail "run of a sequence failed"
got="$(count a) $(count b) $(count c) $(count d)"
[ "$got" = "1000 2000 4000 8000" ] || fail "sequence abbccccdddddddd x1000 counted $got"
diag "sequence abbccccdddddddd x1000: $got"

echo "a nosuchctx 1" > "$TARGET_DIR/run" 2> /dev/null && fail "bad context accepted"
echo "abx kthread 1" > "$TARGET_DIR/run" 2> /dev/null && fail "bad sequence accepted"
exit $KSFT_PASS
