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
# A search that did not complete proves nothing: out of memory, the memory
# bound, the depth bound, "Search not completed" without a counterexample, a
# missing summary, a crash or a timeout make the variant "not ok", with the
# reason in the KTAP line.  A counterexample must replay (spin -t).
#
# usage: run.sh [-j JOBS] [VARIANT...]     (default: all variants, 2 jobs)
# env:   KEEP=1 keeps the work directory; MODEL_FLIP=NAME inverts NAME's
#        expectation (to see the runner fail);
#        MODEL_MEMLIM=MB   pan's memory bound (-DMEMLIM, default 4096)
#        MODEL_DEPTH=N     pan's depth bound for exhaustive runs (-m, default 1000000)
#        MODEL_TIMEOUT=S   seconds per pan run (default 900)
#        MODEL_PAN_FLAGS   more flags for every pan run (e.g. -V: no search)
#        (the last four are there to show the runner fail on a cut search)
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODEL=$HERE/switch.pml
JOBS=2
if [ "${1:-}" = -j ]; then JOBS=${2:?-j needs a number}; shift 2; fi
MEMLIM=${MODEL_MEMLIM:-4096}
DEPTH=${MODEL_DEPTH:-1000000}
TIMEOUT=${MODEL_TIMEOUT:-900}
read -r -a PAN_EXTRA <<< "${MODEL_PAN_FLAGS:-}"

for tool in spin gcc timeout; do
  if ! command -v "$tool" > /dev/null 2>&1; then
    echo "run.sh: '$tool' not found: install it (Debian: apt-get install spin gcc coreutils)" >&2
    echo "TAP version 13"
    echo "1..0 # SKIP $tool not installed"
    exit 4
  fi
done

# name | spin -D flags | expectation | what it shows
VARIANTS=(
  # --- the protocol and its safeguards ---
  "protocol||holds|the protocol as the code does it: all properties hold"
  "skip|SKIP|cex:once|2019 bug: the handler skips the call -> a drop"
  "no_final_sync+no_seq_recheck+no_vanished|NO_FINAL_SYNC NO_SEQ_RECHECK NO_VANISHED_HANDLING|cex:unclaimed|all three race safeguards removed"
  "no_final_sync|NO_FINAL_SYNC|holds|final sync alone removed: redundant given the SlotInfo.target fallback"
  "no_seq_recheck|NO_SEQ_RECHECK|holds|seqcount re-check alone removed"
  "no_vanished_handling|NO_VANISHED_HANDLING|holds|fallback alone removed: redundant given the final sync"
  "record_after_int3|RECORD_AFTER_INT3|holds|SlotInfo.target and record after the int3: redundant given the fallback"
  "no_final_sync+no_seq_recheck|NO_FINAL_SYNC NO_SEQ_RECHECK|holds|race (b) cannot happen: a published record is immutable"
  "no_final_sync+no_vanished|NO_FINAL_SYNC NO_VANISHED_HANDLING|cex:unclaimed|race (a): a stale int3 after the record is gone"
  "record_after_int3+no_vanished|RECORD_AFTER_INT3 NO_VANISHED_HANDLING|cex:unclaimed|int3 before record, no fallback: die"
  "vanished_strict|VANISHED_STRICT|holds|Linus-style vanished check (die if int3 still there), final sync kept"
  "vanished_strict+no_final_sync|VANISHED_STRICT NO_FINAL_SYNC|cex:unclaimed|Linus-style check needs the final sync (site re-armed under the handler)"
  "kprobes_first|KPROBES_FIRST|holds|CONFIG_KPROBES: vanished int3 re-executed by kprobes before our handler"
  "kprobes_first+no_final_sync|KPROBES_FIRST NO_FINAL_SYNC|holds|the same with the 2-sync switch"
  "no_record|NO_RECORD|holds|no record at all: SlotInfo.target alone is enough"
  "no_record+no_final_sync|NO_RECORD NO_FINAL_SYNC|holds|the same with the 2-sync switch"
  "no_int3_sync|NO_INT3_SYNC|cex:torn|oracle: no sync after int3 -> torn call fetched"
  "no_tail_sync|NO_TAIL_SYNC|cex:torn|oracle: no sync after the tail -> torn call fetched"
  # --- SlotInfo.target: the fallback's target and when it is stored ---
  "no_target_store|NO_TARGET_STORE|holds|SlotInfo.target never updated: harmless while the fallback is dead"
  "no_target_store+no_final_sync|NO_TARGET_STORE NO_FINAL_SYNC|cex:q,once,target|SlotInfo.target never updated, 2 syncs: the fallback enters a stale target"
  "target_after_publish+no_final_sync|TARGET_AFTER_PUBLISH NO_FINAL_SYNC|holds|SlotInfo.target stored after the record is published"
  "target_after_clear+no_final_sync|TARGET_AFTER_CLEAR NO_FINAL_SYNC|holds|SlotInfo.target stored after the record is cleared (still before the operation ends)"
  # --- the record: pointer, RCU, retries ---
  "no_record_rcu|NO_RECORD_RCU|holds|record kfree'd at once: no handler can hold it then, given the final sync"
  "no_record_rcu+no_final_sync|NO_RECORD_RCU NO_FINAL_SYNC|cex:uaf|record kfree'd at once, 2 syncs: freed under a handler"
  "retries1+no_final_sync|RETRIES=1 NO_FINAL_SYNC|holds|one try, then the fallback"
  "exhaust_die+no_final_sync|EXHAUST_DIE NO_FINAL_SYNC|cex:unclaimed|retries exhausted -> not ours: die"
  # --- slots: ownership, stubs, free and reuse ---
  "no_owner_check|NO_OWNER_CHECK|holds|SlotInfo.site check removed: no trap at a non-site in the protocol"
  "stub_write_late|STUB_WRITE_LATE|cex:unclaimed|new stub written after the round that targets it: int3 filler run, refused"
  "stub_write_late+no_owner_check|STUB_WRITE_LATE NO_OWNER_CHECK|cex:target|the same, claimed without the ownership check: call to 0"
  "no_retire_wait|NO_RETIRE_WAIT|cex:cold|slot freed without the wait: a parked task is still inside"
  # --- the engine's order of lists and rounds ---
  "list_after_round|LIST_AFTER_ROUND|cex:q|list published after the round that moves the site to ITER: a drop"
  # --- coverage probes ---
  "cover_trap|COVER_TRAP|reached|int3 handler entered"
  "cover_emulate|COVER_EMULATE|reached|handler emulates the record's target"
  "cover_stale_int3|COVER_STALE_INT3|reached|a CPU fetches int3 although memory already holds 0xE8"
  "cover_mixed_fetch|COVER_MIXED_FETCH|reached|a CPU fetches a rel32 mixing two versions"
  "cover_slot1|COVER_SLOT1|reached|batched round: handler finds site 1 in a 2-site record"
  "cover_iter_q|COVER_ITER_Q|reached|the iterator calls Q and another ops"
  "cover_survivor|COVER_SURVIVOR|reached|F0 calls the survivor's stub Q (not the first ops P)"
  "cover_new_stub|COVER_NEW_STUB|reached|a CPU runs R's stub, written during the run"
  "cover_reuse|COVER_REUSE|reached|a CPU runs the new site in the freed and reused slot T1"
  "cover_parked_wait|COVER_PARKED_WAIT|reached|the retire wait starts with a task parked in F1's trampoline"
  "cover_unowned|COVER_UNOWNED|unreached|no trap at a pool address that is not a live site"
  "cover_vanished|COVER_VANISHED|unreached|with the final sync the SlotInfo.target fallback is dead"
  "cover_retry|COVER_RETRY|unreached|with the final sync the seqcount re-check never fires"
  "cover_vanished+no_final_sync|COVER_VANISHED NO_FINAL_SYNC|reached|without it, the fallback is used"
  "cover_retry+no_final_sync|COVER_RETRY NO_FINAL_SYNC|reached|without it, the re-check fires"
  "cover_exhausted+no_final_sync|COVER_EXHAUSTED NO_FINAL_SYNC|reached|without it, RETRIES=2 can run out"
  "cover_exhausted+no_final_sync+retries3|COVER_EXHAUSTED NO_FINAL_SYNC RETRIES=3|unreached|3 tries never run out: the code's 8 behave as unbounded"
  "cover_later_target+no_final_sync|COVER_LATER_TARGET NO_FINAL_SYNC|reached|the fallback reads a SlotInfo.target a later round stored under the handler"
  "cover_rcu_hold+no_final_sync|COVER_RCU_HOLD NO_FINAL_SYNC|reached|a record is cleared while a handler holds it (kfree_rcu waits)"
  "cover_reused_stale+no_final_sync|COVER_REUSED_STALE NO_FINAL_SYNC|reached|a stale int3 trap at the new site in the reused slot"
  # --- depth ---
  "protocol_4rounds|NROUND=4|holds|depth check: 4 operations instead of 3 (every script step)"
  "no_final_sync_4rounds|NO_FINAL_SYNC NROUND=4|holds|depth check: 2-sync switch, 4 operations"
)

# Which property an assertion text belongs to.
prop_of() {
  case "$1" in
    *once_ok==1*) echo once ;;
    *q_ok==1*) echo q ;;
    *target_ok==1*) echo target ;;
    *unclaimed_int3==0*) echo unclaimed ;;
    *torn_call==0*) echo torn ;;
    *uaf_ok==1*) echo uaf ;;
    *cold_ok==1*) echo cold ;;
    *) echo probe ;;
  esac
}

# Why a search that found no counterexample did not complete ("" if it did).
incomplete() {
  local f=$1
  if grep -q 'pan: out of memory' "$f"; then echo "pan ran out of memory"
  elif grep -q 'reached -DMEMLIM bound' "$f"; then echo "memory bound hit (-DMEMLIM=$MEMLIM MB)"
  elif grep -q 'max search depth too small' "$f"; then echo "depth bound hit (-m$DEPTH)"
  elif grep -q 'Search not completed' "$f"; then echo "search not completed"
  elif ! grep -q '^State-vector .* errors: 0' "$f"; then echo "no 'State-vector ... errors: 0' summary"
  elif ! grep -q 'states, stored' "$f"; then echo "no 'states, stored' summary"
  fi
}

# run_one NAME DEFS EXPECT DIR: verifies one variant in DIR, writes DIR/result
# ("pass" or "fail"), DIR/why (the reason of a failure, one line) and DIR/diag
# (diagnostic lines without "# ").
run_one() {
  local name=$1 defs=$2 expect=$3 dir=$4
  local dflags=() d mode=dfs t0 t1 rc verdict prop states depth msg why
  for d in $defs; do dflags+=("-D$d"); done
  case $expect in cex:* | reached) mode=bfs ;; esac
  mkdir -p "$dir" && cp "$MODEL" "$dir/"
  cd "$dir" || return
  fail() { echo "$1" > why; echo "$1"; echo fail > result; }
  {
    echo "defines: ${defs:-none}; expected: $expect; search: $mode"
    if ! spin -a "${dflags[@]}" switch.pml > spin.log 2>&1; then
      echo "spin -a failed:"; sed 's/^/  /' spin.log; fail "spin -a failed"; return
    fi
    # Breadth-first runs stop at the first counterexample: compile fast.
    # Exhaustive runs: optimise, default 2^24-slot hash table.
    local cflags=(-O1 -w -DSAFETY "-DMEMLIM=$MEMLIM") pflags=("-m$DEPTH")
    [ $mode = bfs ] && cflags=(-O0 -w -DSAFETY -DBFS "-DMEMLIM=$MEMLIM") pflags=(-w22)
    if ! gcc "${cflags[@]}" -o pan pan.c > gcc.log 2>&1; then
      echo "gcc failed:"; sed 's/^/  /' gcc.log; fail "gcc failed"; return
    fi
    t0=$(date +%s.%N)
    timeout -k 10 "$TIMEOUT" ./pan "${pflags[@]}" "${PAN_EXTRA[@]}" > pan.out 2>&1
    rc=$?
    t1=$(date +%s.%N)
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    if [ $rc -eq 124 ] || { [ $rc -eq 137 ] && awk -v s="$secs" -v t="$TIMEOUT" 'BEGIN { exit !(s >= t) }'; }; then
      tail -5 pan.out | sed 's/^/  /'; fail "timed out after ${TIMEOUT}s"; return
    fi
    if [ $rc -ge 128 ]; then
      tail -5 pan.out | sed 's/^/  /'; fail "pan crashed: killed by signal $((rc - 128))"; return
    fi
    if [ $rc -ne 0 ]; then
      tail -5 pan.out | sed 's/^/  /'; fail "pan exited with status $rc"; return
    fi
    states=$(awk '/states, stored/ { print $1; exit }' pan.out)
    depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out | head -1)
    if grep -q 'assertion violated' pan.out; then
      msg=$(grep -m1 'assertion violated' pan.out | sed 's/^pan:[0-9]*: //')
      prop=$(prop_of "$msg")
      verdict=cex:$prop
      echo "pan: $msg; $states states, ${secs}s"
      if [ $mode = dfs ]; then
        # unexpected: search again breadth-first for a shortest trail
        gcc -O0 -w -DSAFETY -DBFS "-DMEMLIM=$MEMLIM" -o pan pan.c > /dev/null 2>&1 &&
          timeout -k 10 "$TIMEOUT" ./pan -w22 > pan-bfs.out 2>&1
      fi
      spin -t "${dflags[@]}" switch.pml > trail.out 2>&1
      if ! grep -q 'assertion violated' trail.out; then
        tail -5 trail.out | sed 's/^/  /'; fail "the counterexample does not replay (spin -t)"; return
      fi
      local n
      n=$(grep -c 'EV ' trail.out)
      echo "shortest trail ($n events$([ "$n" -gt 60 ] && echo ", last 60 shown")):"
      grep 'EV ' trail.out | tail -60 | sed 's/^[[:space:]]*EV /  /'
    elif grep -q '^pan:[0-9]*: invalid end state' pan.out; then
      tail -20 pan.out | sed 's/^/  /'; fail "invalid end state (a deadlock in the model)"; return
    else
      why=$(incomplete pan.out)
      if [ -n "$why" ]; then
        tail -20 pan.out | sed 's/^/  /'; fail "$why: the search proves nothing"; return
      fi
      verdict=holds
      echo "pan: no assertion violated; $states states, depth $depth, ${secs}s (exhaustive)"
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
      fail "expected $expect, got $verdict$flip"
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
echo "# spin: $(spin -V 2>&1 | head -1); gcc: $(gcc -dumpversion); $JOBS jobs;" \
  "bounds: ${MEMLIM} MB, depth $DEPTH, ${TIMEOUT}s per run"
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
    why=$(cat "$WORK/$i/why" 2> /dev/null)
    echo "not ok $i $name # ${why:-no result (the run died)}"
    fails=$((fails + 1))
  fi
done

secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "# ${#SELECTED[@]} variants, $((${#SELECTED[@]} - fails)) as expected, $fails not; ${secs}s wall"
[ $fails -eq 0 ]
