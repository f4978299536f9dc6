#!/usr/bin/env bash
# rustfmt --check on every Rust file, then the module build under clippy (the
# kernel's own lint set, warnings fail). usage: lint.sh KERNEL_BUILD_DIR
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$FTRAMP_TOP"
kb=${1:?kernel build dir}
files=$(git ls-files '*.rs' | grep -v '^rust/host/src/' || true)
/usr/bin/rustfmt --edition 2021 --check $files
echo "[lint] rustfmt: clean"
touch rust/ftramp_main.rs
scripts/module.sh "$kb" CLIPPY=1
echo "[lint] clippy: clean"
if [ -f rust/host/Cargo.toml ]; then
  cargo clippy --quiet --manifest-path rust/host/Cargo.toml --all-targets -- -D warnings
  echo "[lint] host crate clippy: clean"
fi
