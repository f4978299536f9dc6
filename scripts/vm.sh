#!/usr/bin/env bash
# Boot the test kernel under virtme-ng (TCG: KVM does not work on these machines)
# and run a command in it. The host / is the guest's read-only root; RESULTS is
# writable. Exit code is the command's; 255 means the guest died.
# FTRAMP_CPU names a QEMU CPU model (TCG emulates its CPUID, so the kernel picks that
# CPU's mitigations) and FTRAMP_APPEND adds kernel command line options; both empty by
# default (QEMU's own model: no return thunk, no call depth tracking).
# usage: vm.sh KERNEL_BUILD_DIR RESULTS_DIR TIMEOUT_SECONDS COMMAND...
set -uo pipefail
. "$(dirname "$0")/env.sh"
kb=$1 results=$2 limit=$3; shift 3
mkdir -p "$results"
cpu=()
[ -n "${FTRAMP_CPU:-}" ] && cpu+=(--qemu-opts=-cpu "--qemu-opts=$FTRAMP_CPU")
for a in ${FTRAMP_APPEND:-}; do cpu+=(--append "$a"); done
# --verbose streams the serial console: a guest crash is otherwise invisible.
setsid -w timeout --kill-after=10 "$limit" vng -r "$kb" --disable-kvm --cpus "${FTRAMP_CPUS:-2}" \
  --memory "${FTRAMP_MEM:-2G}" --rwdir="$results" --verbose "${cpu[@]}" ${FTRAMP_VNG_ARGS:-} \
  --exec "$*" </dev/null 2>"$results/console.log"
