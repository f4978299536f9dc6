#!/usr/bin/env bash
# Build ftramp.ko and the test modules against a configured and built kernel tree: the
# cached test kernel, or your own (`make module KDIR=<tree>`). Names what the tree lacks
# before building. usage: module.sh KERNEL_BUILD_DIR [extra make args]
set -euo pipefail
. "$(dirname "$0")/env.sh"
kb=${1:?kernel build dir}; shift
say() { printf '[module] %s\n' "$*" >&2; }

# What ftramp needs from the kernel (README: "Using ftramp on your own kernel").
[ -f "$kb/.config" ] || { say "$kb: no .config (not a configured kernel build tree)"; exit 1; }
[ -f "$kb/Module.symvers" ] || { say "$kb: no Module.symvers (build the kernel first: make vmlinux modules)"; exit 1; }
need=(
  "CONFIG_X86_64=y|x86-64 (the only architecture ftramp generates code for)"
  "CONFIG_MODULES=y|loadable modules"
  "CONFIG_RUST=y|Rust support (CONFIG_RUST; needs a Rust toolchain the kernel accepts)"
  "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y|ftrace direct calls (FUNCTION_TRACER, DYNAMIC_FTRACE)"
  "CONFIG_KPROBES=y|kprobes (how ftramp finds kallsyms_lookup_name)"
  "CONFIG_KALLSYMS_ALL=y|KALLSYMS_ALL (data symbols such as x86_return_thunk)"
  "CONFIG_TASKS_RCU=y|RCU tasks (code is freed only when no task can still run it)"
  "CONFIG_HAVE_STATIC_CALL=y|static calls (how ftramp reaches unexported functions by direct branches)"
  "CONFIG_EXECMEM=y|execmem (executable memory for trampolines)"
)
bad=0
for n in "${need[@]}"; do
  grep -qx "${n%%|*}" "$kb/.config" || { say "$kb lacks ${n#*|}: ${n%%|*}"; bad=1; }
done
if grep -qx CONFIG_RUST=y "$kb/.config"; then
  [ -f "$kb/rust/libkernel.rmeta" ] || { say "$kb: no rust/libkernel.rmeta (the kernel's Rust crates are not built)"; bad=1; }
  want=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$kb/.config")
  have=$(/usr/bin/rustc --version)
  [ "$want" = "$have" ] || { say "$kb was built with '$want', this machine has '$have' (the kernel's Rust crates only link with the same compiler)"; bad=1; }
fi
[ $bad -eq 0 ] || { say "cannot build ftramp against $kb"; exit 1; }

# Objects built against another tree are cleaned first (one source tree, several kernels).
stamp=$FTRAMP_TOP/.ftramp-kdir
if [ -e "$stamp" ] && [ "$(cat "$stamp")" != "$kb" ]; then
  make -C "$kb" M="$FTRAMP_TOP" "${KMAKE_VARS[@]}" clean >/dev/null 2>&1 || true
fi
echo "$kb" > "$stamp"

logf=${FTRAMP_MODULE_LOG:-$kb/../module.log}
[ -w "$(dirname "$logf")" ] || logf=$FTRAMP_TOP/module.log
if ! make -C "$kb" M="$FTRAMP_TOP" "${KMAKE_VARS[@]}" -j"$(nproc)" "$@" modules >"$logf" 2>&1; then
  cat "$logf" >&2
  say "build failed, log: $logf"
  exit 1
fi
# Warnings are errors for our code (the kernel build has none with this toolchain).
if grep -E 'warning:|error:' "$logf" >&2; then
  say "build has warnings, log: $logf"
  exit 1
fi
