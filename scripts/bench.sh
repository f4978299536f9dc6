#!/usr/bin/env bash
# `make bench`: ftramp's per-call and switching cost beside the kernel's own ftrace,
# kprobes, fprobes, BPF's trampoline and the minimal direct trampoline (Documentation/benchmark.rst).
# Boots the production-like kernel (flavour bench) twice: once under QEMU's -icount
# shift=0,sleep=off (the guest clock counts executed instructions: the figures), once
# plain TCG (wall-clock ratios, a noisier second opinion); and the test kernel (with
# lockdep) once under icount, reported beside it. Writes bench.md (tables) and bench.png (plot) into the
# results directory and prints their paths. Not a test: nothing asserts a timing.
# usage: bench.sh [icount|wall|report]   (default: both runs, then the report)
set -uo pipefail
. "$(dirname "$0")/env.sh"
cd "$FTRAMP_TOP"

say() { printf '[bench] %s\n' "$*" >&2; }
RESULTS=${FTRAMP_RESULTS:-$FTRAMP_CACHE/results/bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
say "results and logs: $RESULTS"
what=${1:-all}

t0=$(date +%s)
# The production-like kernel (flavour bench: the test configuration without lockdep and
# the other debugging options) gives the figures and the goals; the test kernel
# (flavour default, with lockdep) is measured beside it under icount.
prepare() { # FLAVOUR: prints the kernel build dir; builds kernel and modules for it
  local kb
  kb=$(FTRAMP_FLAVOUR=$1 scripts/kernel.sh) || { say "kernel build ($1) failed"; return 1; }
  scripts/module.sh "$kb" >&2 || { say "module build failed"; return 1; }
  [ -e "$kb/samples/ftrace/ftrace-ops.ko" ] ||
    say "warning: $kb/samples/ftrace/ftrace-ops.ko missing (CONFIG_SAMPLE_FTRACE_OPS)"
  echo "$kb"
}
if [ "$what" != report ]; then
  scripts/setup.sh >"$RESULTS/setup.log" 2>&1 || { cat "$RESULTS/setup.log" >&2; say "setup failed"; exit 1; }
  # The BPF loader runs in the VM, which shares the host's root file system and libbpf.
  cc -O2 -Wall -o selftests/bench/ftramp_bpf selftests/bench/ftramp_bpf.c -lbpf ||
    { say "building selftests/bench/ftramp_bpf failed"; exit 1; }
fi

# run DIR MODE [extra vng args]: one VM boot of kernel $kb running scripts/bench-guest.sh.
run() {
  local dir=$1 mode=$2 start rc; shift 2
  start=$(date +%s)
  mkdir -p "$RESULTS/$dir"
  say "VM run '$dir' (console: $RESULTS/$dir/console.log)"
  FTRAMP_VNG_ARGS="${FTRAMP_VNG_ARGS:-} $*" scripts/vm.sh "$kb" "$RESULTS/$dir" \
    "${FTRAMP_BENCH_TIMEOUT:-900}" "$FTRAMP_TOP/scripts/bench-guest.sh $RESULTS/$dir $kb $mode" |
    while IFS= read -r line; do # host seconds since the boot started
      printf '%4ds %s\n' $(( $(date +%s) - start )) "$line" | tee -a "$RESULTS/$dir/guest.log" >&2
    done
  rc=${PIPESTATUS[0]}
  echo "$dir $(( $(date +%s) - start ))" >> "$RESULTS/runtimes"
  if [ $rc -ne 0 ]; then
    say "VM run '$dir' failed (rc=$rc); console tail:"
    tail -30 "$RESULTS/$dir/console.log" >&2
    return 1
  fi
  say "VM run '$dir' took $(( $(date +%s) - start ))s"
}
icount=(--qemu-opts=-icount --qemu-opts=shift=0,sleep=off)

ok=0
case $what in
  all|icount|wall)
    if [ "$what" != wall ]; then
      kb=$(prepare default) || exit 1
      run test-icount icount "${icount[@]}" || ok=1
    fi
    kb=$(prepare bench) || exit 1
    [ "$what" = wall ] || run icount icount "${icount[@]}" || ok=1
    [ "$what" = icount ] || run wall wall || ok=1 ;;
  report) ;;
  *) say "usage: bench.sh [icount|wall|report]"; exit 2 ;;
esac

/usr/bin/python3 selftests/bench/report.py "$RESULTS" || { say "report failed"; exit 1; }
say "total $(( $(date +%s) - t0 ))s"
echo "$RESULTS/bench.md"
echo "$RESULTS/bench.png"
exit $ok
