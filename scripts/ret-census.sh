#!/usr/bin/env bash
# `make ret-census`: which functions of the test kernel cannot take a return hook, and why.
# The guest lists what ftrace can trace (available_filter_functions) and hands over its
# vmlinux BTF; the host runs ftramp's own model and never-returns list on every function
# (rust/host/examples/ret_census.rs). Prints the counts per reason; the full list goes to
# $RESULTS/ret-census.txt.
set -uo pipefail
. "$(dirname "$0")/env.sh"
cd "$FTRAMP_TOP"
RESULTS=${FTRAMP_RESULTS:-$FTRAMP_CACHE/results/census-$FTRAMP_KERNEL-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
scripts/setup.sh >"$RESULTS/setup.log" 2>&1 || { cat "$RESULTS/setup.log" >&2; exit 1; }
kb=$(scripts/kernel.sh) || exit 1
cargo build --quiet --release --manifest-path rust/host/Cargo.toml --example ret_census || exit 1
echo "[census] kernel $FTRAMP_KERNEL: booting the test VM for its function list and BTF" >&2
scripts/vm.sh "$kb" "$RESULTS" 600 \
  "mount -t tracefs none /sys/kernel/tracing 2>/dev/null; cp /sys/kernel/tracing/available_filter_functions /sys/kernel/btf/vmlinux $RESULTS/" ||
  { echo "[census] the VM run failed; console: $RESULTS/console.log" >&2; exit 1; }
census=rust/host/target/release/examples/ret_census
echo "# kernel $FTRAMP_KERNEL ($(kernel_pkg_version)), test config"
"$census" "$RESULTS/vmlinux" "$RESULTS/available_filter_functions" --list > "$RESULTS/ret-census.txt" || exit 1
sed -n '/^$/q;p' "$RESULTS/ret-census.txt"
echo "[census] the refused functions, by reason: $RESULTS/ret-census.txt" >&2
