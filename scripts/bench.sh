#!/usr/bin/env bash
# `make bench`: ftramp's per-call and switching cost beside the kernel's own ftrace,
# kprobes, fprobes and the minimal direct trampoline (Documentation/benchmark.rst).
# Boots the test VM twice: once under QEMU's -icount shift=0,sleep=off (the guest
# clock counts executed instructions: the figures), once plain TCG (wall-clock ratios,
# a noisier second opinion). Writes bench.md (tables) and bench.png (plot) into the
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
if [ "$what" != report ]; then
  scripts/setup.sh >"$RESULTS/setup.log" 2>&1 || { cat "$RESULTS/setup.log" >&2; say "setup failed"; exit 1; }
  kb=$(scripts/kernel.sh) || { say "kernel build failed"; exit 1; }
  scripts/module.sh "$kb" || { say "module build failed"; exit 1; }
  [ -e "$kb/samples/ftrace/ftrace-ops.ko" ] ||
    say "warning: $kb/samples/ftrace/ftrace-ops.ko missing (CONFIG_SAMPLE_FTRACE_OPS)"
fi

# run MODE [extra vng args]: one VM boot running scripts/bench-guest.sh.
run() {
  local mode=$1 start rc; shift
  start=$(date +%s)
  say "VM run '$mode' (console: $RESULTS/$mode/console.log)"
  FTRAMP_VNG_ARGS="${FTRAMP_VNG_ARGS:-} $*" scripts/vm.sh "$kb" "$RESULTS/$mode" \
    "${FTRAMP_BENCH_TIMEOUT:-600}" "$FTRAMP_TOP/scripts/bench-guest.sh $RESULTS/$mode $kb $mode" |
    while IFS= read -r line; do # host seconds since the boot started
      printf '%4ds %s\n' $(( $(date +%s) - start )) "$line" | tee -a "$RESULTS/$mode/guest.log" >&2
    done
  rc=${PIPESTATUS[0]}
  echo "$mode $(( $(date +%s) - start ))" >> "$RESULTS/runtimes"
  if [ $rc -ne 0 ]; then
    say "VM run '$mode' failed (rc=$rc); console tail:"
    tail -30 "$RESULTS/$mode/console.log" >&2
    return 1
  fi
  say "VM run '$mode' took $(( $(date +%s) - start ))s"
}

mkdir -p "$RESULTS/icount" "$RESULTS/wall"
ok=0
case $what in
  all) run icount --qemu-opts=-icount --qemu-opts=shift=0,sleep=off || ok=1
       run wall || ok=1 ;;
  icount) run icount --qemu-opts=-icount --qemu-opts=shift=0,sleep=off || ok=1 ;;
  wall) run wall || ok=1 ;;
  report) ;;
  *) say "usage: bench.sh [icount|wall|report]"; exit 2 ;;
esac

/usr/bin/python3 selftests/bench/report.py "$RESULTS" || { say "report failed"; exit 1; }
say "total $(( $(date +%s) - t0 ))s"
echo "$RESULTS/bench.md"
echo "$RESULTS/bench.png"
exit $ok
