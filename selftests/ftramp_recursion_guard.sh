#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The recursion guard of ops that do not guard themselves (and of the list iterators)
# follows ftrace's rule (trace_test_and_set_recursion at TRACE_LIST_START): ftramp_test_ops
# "guard N" registers its own guarded ops on ftramp_target_a, _b and _c, whose callback
# calls b from a's call and c from b's, and makes N calls of a in task context; "guard N
# list" adds a second ops on a: a fused stub calls both under one guard (the default), or,
# with fused_max=0, the list iterator, which takes the first bit; "guard N mixed" adds a
# self-guarded ops on c, which c's fused stub must still call when its guard is refused. The
# callback must run for every a and every b (the one transition entry) and for no c (the
# context's bit and the transition bit held); the targets count all 3N calls; stats'
# guard_skips grows by N. The other half of the rule, that an interrupt's callbacks still
# run while a task holds its bit, is what the stress runs with guarded ops check per
# context (ftramp_stress_variants.sh).
# Shown failing (Dec 2026):
#   6.12, claim() in dispatch/recursion.rs without the transition (by hand):
#     guard: the callback ran for a 20000, b 0, c 0 times in 20000 calls; want 20000, 20000, 0
#   6.12, "guard N mixed" with fused_max=0 (ftramp loaded so: the list iterator, whose
#   refused guard skips the whole list, where a fused stub skips only the guarded ops):
#     ftramp_test_ops: guard mixed: the self-guarded ops on c ran 0 times in 20000 calls; want 20000
#   7.3, the guard's first version, which took trace_recursion's offset from bindgen (48
#   bytes off there): the callback ran for a 0, b 0, c 0 times (the word it read had the
#   bits set), and ftramp_ops_lifecycle.sh, ftramp_hardened.sh and ftramp_ret_recursion.sh
#   failed with it.
. "$(dirname "$0")/lib.sh"

N=${GUARD_CALLS:-20000}
load_all || fail "loading the modules failed"
trap unload_all EXIT

# guard_check MODE: "" (every site one ops: the assist wrapper's guard) or "list" (a second
# ops on a: a fused stub or the list iterator, as fused_max says).
guard_check() {
  local g0 g1 f
  echo 1 > "$TARGET_DIR/reset"
  g0=$(stat_field guard_skips)
  if ! ctl guard "$N" $1; then
    fail "guard $N $1: the callback did not follow ftrace's rule ($(dmesg | grep 'guard.*: the callback' | tail -1))"
  fi
  g1=$(stat_field guard_skips)
  for f in a b c; do
    [ "$(target_count $f)" = "$N" ] || fail "guard $1: ftramp_target_$f counted $(target_count $f) calls, want $N"
  done
  [ $((g1 - g0)) -ge "$N" ] || fail "guard $1: guard_skips grew by $((g1 - g0)), want at least $N"
  diag "${1:-one ops per site}${1:+, fused_max $(knob fused_max)}: $N calls of a, the guarded callback ran for each a and b, refused each c ($((g1 - g0)) guard skips)"
}
guard_check ""
# Two ops on a: a fused stub (one guard for its guarded ops, taken in the stub), then with
# fused stubs off the list iterator, whose guard takes the bit first.
guard_check list
# A self-guarded ops beside the guarded one on c: c's fused stub, refused, skips only the
# guarded callback (ftramp_test_ops checks the self-guarded one ran N times).
guard_check mixed
set_knob fused_max 0
guard_check list
set_knob fused_max 16
assert_detached ftramp_target_a ftramp_target_b ftramp_target_c
exit $KSFT_PASS
