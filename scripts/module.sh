#!/usr/bin/env bash
# Build ftramp.ko and the test modules against the cached test kernel.
# usage: module.sh KERNEL_BUILD_DIR [extra make args]
set -euo pipefail
. "$(dirname "$0")/env.sh"
kb=${1:?kernel build dir}; shift
logf=$kb/../module.log
if ! make -C "$kb" M="$FTRAMP_TOP" "${KMAKE_VARS[@]}" -j"$(nproc)" "$@" modules >"$logf" 2>&1; then
  cat "$logf" >&2
  echo "[module] build failed, log: $logf" >&2
  exit 1
fi
# Warnings are errors for our code (the kernel build has none with this toolchain).
if grep -E 'warning:|error:' "$logf" >&2; then
  echo "[module] build has warnings, log: $logf" >&2
  exit 1
fi
