#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The no-drop stress in the shapes ftramp_nodrop_stress.sh does not take, each with the
# same exact oracle (lib.sh: run_stress) and callers in task, softirq, hardirq and NMI
# context on every vCPU:
#   guarded        the persistent and toggled ops are of the guarded kind, which ftramp
#                  calls through ops_assist (ftrace's recursion guard);
#   fused2<->fused3  a third ops stays attached: the site flips between fused stubs of 2
#                  and 3 ops (each switch builds a new stub and patches the dispatch call
#                  to it), and the third ops must be exact too;
#   fused2<->list3   the same with fused_max=2: a fused stub of 2 <-> the list iterator
#                  with 3;
#   direct<->list    with fused_max=0: the iterator, as before fused stubs (nodrop_stress
#                  runs direct <-> fused);
#   list2<->list3    with fused_max=0: these switches publish a new list and patch
#                  nothing (no int3 window to require);
#   10 sites       ten sites switched together in every round while every caller calls
#                  all ten in turn: traps are resolved by the record's binary search;
#   guarded, 10 sites: both at once.
# Scale with VARIANT_SWITCHES / VARIANT_CALLS (defaults: 500 switches, 10^6 calls).
. "$(dirname "$0")/lib.sh"

SW=${VARIANT_SWITCHES:-500}
CALLS=${VARIANT_CALLS:-1000000}
CTX=$((1 | 2 | 4 | 16))
load_all || fail "loading the modules failed"
trap unload_all EXIT
diag "$(nproc) CPUs online"
run_stress "guarded" "$SW" $((CTX | 0x200)) "$CALLS"
run_stress "fused2<->fused3" "$SW" $((CTX | 0x100)) "$CALLS"
set_knob fused_max 2
run_stress "fused2<->list3" "$SW" $((CTX | 0x100)) "$CALLS"
set_knob fused_max 0
run_stress "direct<->list" "$SW" "$CTX" "$CALLS"
run_stress "list2<->list3" "$SW" $((CTX | 0x100)) "$CALLS" none
set_knob fused_max 16
# A ten-site round costs far more than a one-site one under TCG with callers on all ten
# (about 0.4 s against 4 ms, 6.12 and 7.3, Dec 2026; to look into): a fifth of the rounds,
# still twice the site switches.
SW10=$(( SW / 5 > 1 ? SW / 5 : 2 ))
run_stress "10 sites" "$SW10" $((CTX | 0x400)) "$CALLS"
[ "$(stat_field last_round_sites)" = 10 ] || fail "10 sites: the last round switched $(stat_field last_round_sites) sites, not 10"
run_stress "guarded, 10 sites" "$SW10" $((CTX | 0x600)) "$CALLS"
exit $KSFT_PASS
