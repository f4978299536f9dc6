#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The denylist follows the running kernel: every traceable function the int3 path
# really calls here (it differs per config: DEBUG_NOTIFIERS, PROVE_RCU_LIST, lockdep,
# tracepoints on the die chain) is either refused or survives being switched while
# int3s fire.
#
# (a) Record: the function tracer (every function, with the context flags) runs while
#     ftramp switches ftramp_target_a between direct and list mode under callers, so
#     ftramp's own int3s are taken and handled: every function that ran in the int3
#     handler's NMI context is recorded. So are up to SWITCH_MAX functions a switch calls
#     (the function_graph tracer rooted at the text_poke functions).
# (b) For each recorded function F: hook it. EPERM (refused by the denylist) passes.
#     Otherwise, while callers run, switch F and ftramp_target_a together, direct ->
#     list -> direct, FLIPS times, one round each (both dispatch sites hold int3 at
#     once, and F is called from the int3 path; the flips must have taken int3s, or are
#     repeated): F must survive. A function the int3
#     path calls that is hooked and not refused recurses in the int3 handler until the
#     stack overflows (correctness review, item 8) and the VM dies.
#
# Mutant (by hand): the denylist as it was before this test (commit 7011106):
#   git show 7011106:rust/resolve/denylist.rs > rust/resolve/denylist.rs
#   FTRAMP_TESTS=ftramp_denylist.sh KERNEL=6.12 make check
# Observed (Dec 2026, 6.12 hardened): the int3 path recorded 15 functions; the first not
# refused, __module_address (DEBUG_NOTIFIERS' func_ptr_is_kernel_text() check of every
# die notifier), recursed in the int3 handler and the guest died with
#   kernel BUG at kernel/entry/common.c:378!   (the NMI count overflowed, repeated)
# With the list fixed: "refused 15, switched and survived 15, not hookable 0".
. "$(dirname "$0")/lib.sh"

FLIPS=${FLIPS:-3}
SWITCH_MAX=${SWITCH_MAX:-15}
T=$TRACEFS
load_all || fail "insmod failed"
cleanup() {
  echo stop > "$TARGET_DIR/run" 2>/dev/null
  echo nop > $T/current_tracer; : > $T/set_graph_function
  : > "$FTRAMP_DIR/hooks"; unload_all
}
trap cleanup EXIT

# ---- (a) ----
# switch 10 times between direct and list mode under callers (int3s are taken)
switches() {
  echo "start a 1" > "$TARGET_DIR/run" || fail "cannot start callers"
  echo "ftramp_target_a count" >> "$FTRAMP_DIR/hooks" || fail "record: hook"
  for i in $(seq 1 10); do
    echo "ftramp_target_a trace" >> "$FTRAMP_DIR/hooks" || fail "record: second hook"
    echo "!ftramp_target_a trace" >> "$FTRAMP_DIR/hooks" || fail "record: unhook"
  done
  echo stop > "$TARGET_DIR/run"
  : > "$FTRAMP_DIR/hooks"
}
# The int3 path runs in NMI context (exc_int3 does irqentry_nmi_enter()), where the
# function_graph tracer records nothing: the function tracer on every function does,
# with the context flag ('Z': NMI inside hardirq). The guest has no NMI sources of its
# own (no perf NMI watchdog), so NMI-context functions are the int3 path's.
: > $T/trace
old_size=$(sed 's/ .*//' $T/buffer_size_kb)
echo 16384 > $T/buffer_size_kb
echo 1 > $T/options/irq-info
echo function > $T/current_tracer || fail "no function tracer"
switches
echo 0 > $T/tracing_on   # (a tracer change would empty the buffer)
diag "int3s handled while tracing: $(grep int3_emulated "$FTRAMP_DIR/stats")"
awk '$3 ~ /[Zz]/ && $5 != "" { print $5 }' $T/trace | sort -u > /tmp/ftramp_int3_path
echo nop > $T/current_tracer; echo 1 > $T/tracing_on
echo "$old_size" > $T/buffer_size_kb
# The switch path runs in task context: the graph below the text_poke functions.
record_graph() { # OUT ROOTS...
  local out=$1; shift
  : > $T/trace
  for r in "$@"; do echo "$r" >> $T/set_graph_function || fail "cannot graph-trace $r"; done
  echo function_graph > $T/current_tracer || fail "no function_graph tracer"
  switches
  echo 0 > $T/tracing_on
  # "  0)   0.456 us  |    func();" and "  0)               |    func() {"
  sed -n 's/.*|  *\([A-Za-z_][A-Za-z0-9_.]*\)() *[{;].*/\1/p' $T/trace | sed 's/\..*//' | sort -u > "$out"
  echo nop > $T/current_tracer; : > $T/set_graph_function; echo 1 > $T/tracing_on
}
int3_path=$(cat /tmp/ftramp_int3_path)
[ -n "$int3_path" ] || fail "nothing ran in NMI context: no int3 was taken"
# Both halves of the path to ftramp's notifier: kprobes first, then the die chain.
for f in kprobe_int3_handler atomic_notifier_call_chain; do
  echo "$int3_path" | grep -qx $f || fail "the recorded int3 path lacks $f: $int3_path"
done
roots=""
for r in text_poke_copy smp_text_poke_sync_each_cpu text_poke_sync; do
  grep -qx "$r" $T/available_filter_functions && roots="$roots $r"
done
record_graph /tmp/ftramp_switch_path $roots
switch_path=$(grep -vxF -f /tmp/ftramp_int3_path /tmp/ftramp_switch_path | head -n "$SWITCH_MAX")
diag "int3 path: $(echo $int3_path | wc -w) functions: $(echo $int3_path)"
diag "switch path (first $SWITCH_MAX): $(echo $switch_path)"

# ---- (b) ----
echo "start a 1" > "$TARGET_DIR/run" || fail "cannot start callers"
refused=0 survived=0 other=0
# int3s ftramp emulated so far, all contexts.
int3s() { awk '$1 == "int3_emulated:" { n = 0; for (i = 2; i <= NF; i++) { split($i, kv, "="); n += kv[2] } print n }' "$FTRAMP_DIR/stats"; }
try() { # FUNC PATH
  local f=$1 err
  grep -qx "$f" $T/available_filter_functions || { other=$((other + 1)); return; }
  err=$( { echo "$f count" >> "$FTRAMP_DIR/hooks"; } 2>&1 )
  case $err in
    "") ;;
    *"Operation not permitted"*) refused=$((refused + 1)); return ;;
    *) diag "$2: $f: not hooked ($err)"; other=$((other + 1)); return ;;
  esac
  echo "ftramp_target_a count" >> "$FTRAMP_DIR/hooks" || fail "$f: hook the target"
  # The flips must really have taken int3s (else a missing entry could go unseen): up to
  # three tries of FLIPS flips each.
  local tries=0 before
  before=$(int3s)
  while [ "$(int3s)" = "$before" ]; do
    tries=$((tries + 1))
    [ $tries -le 3 ] || fail "$f: $((3 * FLIPS)) flips under load took no int3: nothing was tested"
    for i in $(seq 1 "$FLIPS"); do
      printf '%s trace\nftramp_target_a trace\n' "$f" >> "$FTRAMP_DIR/hooks" || fail "$f: flip to list"
      printf '!%s trace\n!ftramp_target_a trace\n' "$f" >> "$FTRAMP_DIR/hooks" || fail "$f: flip to direct"
    done
  done
  : > "$FTRAMP_DIR/hooks"
  survived=$((survived + 1))
}
for f in $int3_path; do try "$f" "int3 path"; done
for f in $switch_path; do try "$f" "switch path"; done
echo stop > "$TARGET_DIR/run"
[ "$(cat "$FTRAMP_DIR/hooks")" = "" ] || fail "hooks left"
diag "refused $refused, switched and survived $survived, not hookable $other"
[ $((refused + survived)) -gt 0 ] || fail "nothing was tried"
exit $KSFT_PASS
