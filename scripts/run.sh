#!/usr/bin/env bash
# `make run`: boot the test VM and show ftramp at work (scripts/demo-guest.sh).
set -uo pipefail
. "$(dirname "$0")/env.sh"
cd "$FTRAMP_TOP"
RESULTS=${FTRAMP_RESULTS:-$FTRAMP_CACHE/results/run-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
scripts/setup.sh >"$RESULTS/setup.log" 2>&1 || { cat "$RESULTS/setup.log" >&2; exit 1; }
kb=$(scripts/kernel.sh) || exit 1
scripts/module.sh "$kb" || exit 1
echo "[run] booting the test VM (TCG, a few seconds); console log: $RESULTS/console.log" >&2
scripts/vm.sh "$kb" "$RESULTS" 600 "$FTRAMP_TOP/scripts/demo-guest.sh"
rc=$?
[ $rc -eq 0 ] || { echo "[run] the VM run failed (rc=$rc); console tail:" >&2; tail -30 "$RESULTS/console.log" >&2; }
exit $rc
