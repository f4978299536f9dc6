#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Model-checks ftramp's lossless switch (switch.pml) with spin, one run per
# variant, and prints KTAP.  Every variant has an expected outcome; the script
# exits 0 iff every outcome is the expected one.
#
#   holds      exhaustive search (DFS, partial-order reduction, no bitstate,
#              no compression), no assertion can fail
#   cex:PROP   a counterexample violating PROP (searched breadth-first, so the
#              trail printed is a shortest one)
#   reached    a coverage probe (assert that fails iff the point is reachable)
#   unreached  a coverage probe that no execution reaches (exhaustive)
#
# usage: run.sh [-j JOBS] [VARIANT...]     (default: all variants, 2 jobs)
# env:   KEEP=1 keeps the work directory; MODEL_FLIP=NAME inverts NAME's
#        expectation (to see the runner fail).
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODEL=$HERE/switch.pml
JOBS=2
if [ "${1:-}" = -j ]; then JOBS=${2:?-j needs a number}; shift 2; fi

for tool in spin gcc; do
  if ! command -v "$tool" > /dev/null 2>&1; then
    echo "run.sh: '$tool' not found: install it (Debian: apt-get install spin gcc)" >&2
    echo "TAP version 13"
    echo "1..0 # SKIP $tool not installed"
    exit 4
  fi
done

# name | spin -D flags | expectation | what it shows
VARIANTS=(
  "protocol||holds|the protocol as designed: all properties hold"
  "skip|SKIP|cex:once|2019 bug: the handler skips the call -> a drop"
  "no_final_sync+no_seq_recheck+no_vanished|NO_FINAL_SYNC NO_SEQ_RECHECK NO_VANISHED_HANDLING|cex:unclaimed,target|all three race safeguards removed"
  "no_final_sync|NO_FINAL_SYNC|holds|final sync alone removed: redundant given re-check + vanished handling"
  "no_seq_recheck|NO_SEQ_RECHECK|holds|seqcount re-check alone removed: redundant given the final sync"
  "no_vanished_handling|NO_VANISHED_HANDLING|holds|vanished-int3 handling alone removed: redundant given the final sync"
  "record_after_int3|RECORD_AFTER_INT3|holds|record published after int3: redundant given the vanished-int3 fallback"
  "no_final_sync+no_seq_recheck|NO_FINAL_SYNC NO_SEQ_RECHECK|cex:target|race (b): the record changes under the handler"
  "no_final_sync+no_vanished|NO_FINAL_SYNC NO_VANISHED_HANDLING|cex:unclaimed|race (a): a stale int3 after the record is gone"
  "record_after_int3+no_vanished|RECORD_AFTER_INT3 NO_VANISHED_HANDLING|cex:unclaimed|int3 before record, no fallback: die"
  "vanished_strict|VANISHED_STRICT|holds|Linus-style vanished check (die if int3 still there), final sync kept"
  "vanished_strict+no_final_sync|VANISHED_STRICT NO_FINAL_SYNC|cex:unclaimed|Linus-style check needs the final sync (site re-armed under the handler)"
  "kprobes_first|KPROBES_FIRST|holds|CONFIG_KPROBES: vanished int3 re-executed by kprobes before our handler"
  "kprobes_first+no_final_sync|KPROBES_FIRST NO_FINAL_SYNC|holds|the same with the 2-sync switch"
  "no_record|NO_RECORD|cex:torn|no record at all: the fallback reads a rel32 being written"
  "no_int3_sync|NO_INT3_SYNC|cex:torn|oracle: no sync after int3 -> torn call fetched"
  "no_tail_sync|NO_TAIL_SYNC|cex:torn|oracle: no sync after the tail -> torn call fetched"
  "cover_trap|COVER_TRAP|reached|int3 handler entered"
  "cover_emulate|COVER_EMULATE|reached|handler emulates the record's target"
  "cover_stale_int3|COVER_STALE_INT3|reached|a CPU fetches int3 although memory already holds 0xE8"
  "cover_mixed_fetch|COVER_MIXED_FETCH|reached|a CPU fetches a rel32 mixing two versions"
  "cover_slot1|COVER_SLOT1|reached|batched round: handler finds its site in record slot 1"
  "cover_iter_q|COVER_ITER_Q|reached|the iterator calls the toggled ops Q"
  "cover_vanished|COVER_VANISHED|unreached|with the final sync the vanished-int3 fallback is dead"
  "cover_retry|COVER_RETRY|unreached|with the final sync the seqcount re-check never fires"
  "cover_vanished+no_final_sync|COVER_VANISHED NO_FINAL_SYNC|reached|without it, the fallback is used"
  "cover_retry+no_final_sync|COVER_RETRY NO_FINAL_SYNC|reached|without it, the re-check fires"
  "protocol_4rounds|NROUND=4|holds|depth check: 4 rounds instead of 3"
  "no_final_sync_4rounds|NO_FINAL_SYNC NROUND=4|holds|depth check: 2-sync switch, 4 rounds"
)

# Which property an assertion text belongs to.
prop_of() {
  case "$1" in
    *p_calls==1*) echo once ;;
    *q_calls\<=1* | *q_ok==1*) echo q ;;
    *target_ok==1*) echo target ;;
    *unclaimed_int3==0*) echo unclaimed ;;
    *torn_call==0*) echo torn ;;
    *) echo probe ;;
  esac
}

# run_one NAME DEFS EXPECT DIR: verifies one variant in DIR, writes DIR/result
# ("pass" or "fail") and DIR/diag (diagnostic lines without "# ").
run_one() {
  local name=$1 defs=$2 expect=$3 dir=$4
  local dflags=() d mode=dfs t0 t1 out verdict prop states depth msg
  for d in $defs; do dflags+=("-D$d"); done
  case $expect in cex:* | reached) mode=bfs ;; esac
  mkdir -p "$dir" && cp "$MODEL" "$dir/"
  cd "$dir" || return
  {
    echo "defines: ${defs:-none}; expected: $expect; search: $mode"
    if ! spin -a "${dflags[@]}" switch.pml > spin.log 2>&1; then
      echo "spin -a failed:"; sed 's/^/  /' spin.log; echo fail > result; return
    fi
    # Breadth-first runs are small (< 300k states): compile fast, small hash
    # table.  Exhaustive runs: optimise, default 2^24-slot hash table.
    local cflags=(-O1 -w -DSAFETY) pflags=(-m1000000)
    [ $mode = bfs ] && cflags=(-O0 -w -DSAFETY -DBFS) pflags=(-w20)
    if ! gcc "${cflags[@]}" -o pan pan.c > gcc.log 2>&1; then
      echo "gcc failed:"; sed 's/^/  /' gcc.log; echo fail > result; return
    fi
    t0=$(date +%s.%N)
    ./pan "${pflags[@]}" > pan.out 2>&1
    t1=$(date +%s.%N)
    out=$(cat pan.out)
    states=$(awk '/states, stored/ { print $1; exit }' pan.out)
    depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out | head -1)
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    if grep -q 'max search depth too small' pan.out; then
      echo "pan: search depth limit hit: the search was not exhaustive"
      echo fail > result; return
    fi
    if grep -q 'errors: 0' pan.out; then
      verdict=holds
      echo "pan: no assertion violated; $states states, depth $depth, ${secs}s (exhaustive)"
    elif grep -q 'assertion violated' pan.out; then
      msg=$(grep -m1 'assertion violated' pan.out | sed 's/^pan:[0-9]*: //')
      prop=$(prop_of "$msg")
      verdict=cex:$prop
      echo "pan: $msg; $states states, ${secs}s"
      if [ $mode = dfs ]; then
        # unexpected: search again breadth-first for a shortest trail
        gcc -O0 -w -DSAFETY -DBFS -o pan pan.c > /dev/null 2>&1 && ./pan > pan-bfs.out 2>&1
      fi
      spin -t "${dflags[@]}" switch.pml > trail.out 2>&1
      local n
      n=$(grep -c 'EV ' trail.out)
      echo "shortest trail ($n events$([ "$n" -gt 60 ] && echo ", last 60 shown")):"
      grep 'EV ' trail.out | tail -60 | sed 's/^[[:space:]]*EV /  /'
    else
      echo "pan: unexpected output:"; tail -20 pan.out | sed 's/^/  /'
      echo fail > result; return
    fi
    local ok=0
    case $expect in
      holds | unreached) [ "$verdict" = holds ] && ok=1 ;;
      reached) [ "$verdict" = cex:probe ] && ok=1 ;;
      cex:*)
        local p want
        IFS=, read -r -a want <<< "${expect#cex:}"
        for p in "${want[@]}"; do [ "$verdict" = "cex:$p" ] && ok=1; done ;;
    esac
    local flip=
    if [ "${MODEL_FLIP:-}" = "$name" ]; then
      flip=" (MODEL_FLIP inverted this check)"
      ok=$((1 - ok))
    fi
    if [ $ok = 1 ]; then
      echo pass > result
    else
      echo "MISMATCH: expected $expect, got $verdict$flip"
      echo fail > result
    fi
    echo "$states $depth $secs $verdict" > numbers
  } > diag 2>&1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ftramp-model.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
  echo "# work directory kept: $WORK" >&2
else
  trap 'rm -rf "$WORK"' EXIT
fi

SELECTED=()
for v in "${VARIANTS[@]}"; do
  name=${v%%|*}
  if [ $# -eq 0 ]; then SELECTED+=("$v"); continue; fi
  for want in "$@"; do [ "$want" = "$name" ] && SELECTED+=("$v"); done
done

start=$(date +%s.%N)
echo "TAP version 13"
echo "# spin: $(spin -V 2>&1 | head -1); gcc: $(gcc -dumpversion); $JOBS jobs"
echo "1..${#SELECTED[@]}"

# Start the variants, JOBS at a time, then report in order.
i=0
pids=()
for v in "${SELECTED[@]}"; do
  i=$((i + 1))
  IFS='|' read -r name defs expect what <<< "$v"
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  ( run_one "$name" "$defs" "$expect" "$WORK/$i" ) &
  pids+=($!)
done

fails=0
i=0
for v in "${SELECTED[@]}"; do
  i=$((i + 1))
  IFS='|' read -r name defs expect what <<< "$v"
  wait "${pids[$((i - 1))]}"
  echo "# $name: $what"
  sed 's/^/#   /' "$WORK/$i/diag" 2> /dev/null
  if [ "$(cat "$WORK/$i/result" 2> /dev/null)" = pass ]; then
    echo "ok $i $name"
  else
    echo "not ok $i $name"
    fails=$((fails + 1))
  fi
done

secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "# ${#SELECTED[@]} variants, $((${#SELECTED[@]} - fails)) as expected, $fails not; ${secs}s wall"
[ $fails -eq 0 ]
