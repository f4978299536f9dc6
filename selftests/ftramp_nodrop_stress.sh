#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The no-drop proof. Callers on every vCPU from kthreads (task), timers (softirq),
# hrtimers (hardirq) and NMIs (sent through the local APIC by the next CPU) hammer
# ftramp_target_a; ops 0 is attached for the whole run and ops 1 is attached and
# detached continuously, so the site flips direct <-> fused (a stub calling both;
# ftramp_stress_variants.sh runs the list iterator's transitions). Per CPU and per context,
# ops 0 must count exactly the target's own count, ops 1 at most that, nobody twice for
# one call, and the int3 window must really be hit in each of the four contexts (the
# stale-trap fallback is counted apart: "int3_stale").
# Scale with STRESS_SWITCHES / STRESS_CALLS (defaults: 5000 switches, 10^7 calls).
. "$(dirname "$0")/lib.sh"

SWITCHES=${STRESS_SWITCHES:-5000}
CALLS=${STRESS_CALLS:-10000000}
load_all || fail "loading the modules failed"
trap unload_all EXIT
diag "$(nproc) CPUs online"
run_stress "direct<->fused" "$SWITCHES" $((1 | 2 | 4 | 16)) "$CALLS"
diag "NMIs: sent $(target_count nmi_sent), handled $(target_count nmi_handled), lost $(target_count nmi_lost)"
exit $KSFT_PASS
