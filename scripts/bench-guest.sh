#!/bin/bash
# Runs inside the VM for `make bench` (scripts/bench.sh): every measurement of
# Documentation/benchmark.rst, in one boot, through selftests/bench/ftramp_bench.ko
# and the kernel's samples/ftrace/ftrace-ops.ko. Writes raw numbers to
# OUT/raw-MODE.tsv (one line per measurement, the repetitions' values last) and what
# the kernel says about the hooks to OUT/evidence-MODE.txt; progress on stdout.
# usage: bench-guest.sh OUT KERNEL_BUILD_DIR MODE(icount|wall)
set -u
out=$1 kb=$2 mode=$3
top=$(cd "$(dirname "$0")/.." && pwd)
# Calls per timed loop. Under icount a loop with interrupts off is an exact count, so
# fewer calls do (and save minutes of emulation); plain TCG needs more against noise.
# The sample's loop runs with interrupts on: it gets more calls in both modes.
if [ "$mode" = icount ]; then CALLS=${FTRAMP_BENCH_CALLS:-20000}; else CALLS=${FTRAMP_BENCH_CALLS:-100000}; fi
SAMPLE_CALLS=${FTRAMP_BENCH_SAMPLE_CALLS:-100000}
REPS=${FTRAMP_BENCH_REPS:-5}
# ~1000 real kernel functions for the biggest batch (1124 on the test kernel).
BIG_GLOB=${FTRAMP_BENCH_BIG_GLOB:-acpi_*}
SAMPLE=$kb/samples/ftrace/ftrace-ops.ko
TRACEFS=/sys/kernel/tracing
C=/sys/kernel/debug/ftramp_bench/ctl
raw=$out/raw-$mode.tsv
ev=$out/evidence-$mode.txt
mkdir -p "$out"
: > "$raw"; : > "$ev"

mountpoint -q $TRACEFS || mount -t tracefs none $TRACEFS
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug

say() { echo "[bench-guest $mode] $*"; }
row() { local IFS=$'\t'; echo "$*" >> "$raw"; }
stat_field() { awk -v k="$1:" '$1 == k { print $2; exit }' $TRACEFS/ftramp/stats; }
cpu1() { [ -e /sys/devices/system/cpu/cpu1/online ] && echo "$1" > /sys/devices/system/cpu/cpu1/online; }

{
  echo "kernel: $(uname -r)"
  echo "mode: $mode; cpus: $(nproc); calls per loop: $CALLS (sample: $SAMPLE_CALLS); repetitions: $REPS"
  echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
  echo "kernel command line: $(cat /proc/cmdline)"
} >> "$ev"

insmod "$top/ftramp.ko" && insmod "$top/selftests/ftramp_target.ko" &&
  insmod "$top/selftests/bench/ftramp_bench.ko" || { say "loading the modules failed"; exit 1; }
dmesg -C

# ---- per-call cost: one CPU online, so only the measuring CPU executes instructions
# (under icount every vCPU's instructions advance the one guest clock).
cpu1 0
say "per-call cost, CPU1 offline: $(nproc) CPU(s) online"

percall() { # TRACEE KIND NOPS
  local res rc0 rc1
  rc0=$(stat_field ret_calls)
  if echo "percall $1 $2 $3 $CALLS $REPS" > $C 2>/dev/null; then
    res=$(cat $C)
    rc1=$(stat_field ret_calls)
    row percall "$1" "${LABEL:-$2}" "$3" "$CALLS" "${res%%;*}"
    # Evidence that every return was hooked: the probes' nmissed (module), and for ftramp
    # the return callbacks its stats counted against the calls made (the warm-up loop
    # makes min(CALLS, 1000) more).
    case $res in *";"*) echo "percall $1 $2 $3:${res#*;}" >> "$ev" ;; esac
    case $2 in
      ftramp_ret_skip) echo "percall $1 $2 $3: ret_calls +$((rc1 - rc0)), expected 0" >> "$ev" ;;
      ftramp_ret*)
        echo "percall $1 $2 $3: ret_calls +$((rc1 - rc0)), expected" \
          "$(( $3 * (CALLS * REPS + (CALLS < 1000 ? CALLS : 1000)) ))" >> "$ev" ;;
    esac
  else
    say "percall $*: failed"; row percall "$1" "$2" "$3" "$CALLS" "failed"
  fi
}

say "tracee ftramp_bench_tracee"
percall bench none 0
for n in 1 2 4 8; do percall bench ftramp $n; percall bench ftrace $n; done
for n in 1 2 8; do percall bench ftramp_assist $n; done
# The list iterator, as every site of several ops used it before fused stubs.
echo 0 > /sys/module/ftramp/parameters/fused_max
for n in 2 8; do LABEL=ftramp_list percall bench ftramp $n; done
echo 16 > /sys/module/ftramp/parameters/fused_max
percall bench ftrace_assist 1
percall bench kprobe 1
percall bench fprobe 1
percall bench direct 1
percall bench direct_regs 1
percall bench busy_ftramp 8
percall bench busy_ftrace 8
# Entry+return: every entry asks for the return, every handler is empty.
say "entry+return hooks"
for n in 1 2 8; do percall bench ftramp_ret $n; percall bench ftramp_ret_assist $n; done
percall bench ftramp_ret_noentry 1
percall bench ftramp_ret_skip 1
percall bench kretprobe 1
percall bench fprobe_exit 1
# BPF's trampoline: N empty fentry (entry) or fexit (entry+return) programs on the
# tracee, attached by selftests/bench/ftramp_bpf (built on the host by bench.sh) and
# held while the module times the unhooked loop ("none"). Afterwards, with BPF's run
# statistics on, a short loop proves each program ran (ftramp_bpf prints run_cnt when
# it detaches); the timed loop ran with the statistics off, as BPF ships.
BPF=$top/selftests/bench/ftramp_bpf
bpf_percall() { # fentry|fexit N
  local cur=$out/bpf-$mode.cur pid i res ok=0
  "$BPF" "$1" ftramp_bench_tracee "$2" > "$cur" 2>&1 &
  pid=$!
  for ((i = 0; i < 300; i++)); do
    grep -q '^attached' "$cur" && { ok=1; break; }
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  if [ $ok = 1 ] && echo "percall bench none 0 $CALLS $REPS" > $C; then
    res=$(cat $C)
    row percall bench "bpf_$1" "$2" "$CALLS" "${res%%;*}"
    echo "bpf $1 $2: $(grep ftramp_bench_tracee $TRACEFS/enabled_functions)" >> "$ev"
    echo 1 > /proc/sys/kernel/bpf_stats_enabled
    echo "percall bench none 0 1000 1" > $C
    echo 0 > /proc/sys/kernel/bpf_stats_enabled
  else
    say "bpf $1 $2: failed: $(tail -3 "$cur")"; row percall bench "bpf_$1" "$2" "$CALLS" failed
  fi
  kill $pid 2>/dev/null; wait $pid 2>/dev/null
  sed "s/^/bpf $1 $2: /" "$cur" >> "$ev"
}
if [ -x "$BPF" ]; then
  say "BPF trampoline: fentry and fexit programs"
  for n in 1 2 8; do bpf_percall fentry $n; bpf_percall fexit $n; done
else
  say "no $BPF: BPF rows skipped"
fi
# The kernel's function_graph tracer on the tracee with a 1 s tracing_thresh: its entry
# asks for every return and neither writes the ring buffer (the calls are far shorter),
# so it is fgraph's entry+return with the tracer's bookkeeping and two clock reads.
fgraph_thresh() {
  echo 1000000 > $TRACEFS/tracing_thresh && echo ftramp_bench_tracee > $TRACEFS/set_ftrace_filter &&
    echo function_graph > $TRACEFS/current_tracer &&
    echo "percall bench none 0 $CALLS $REPS" > $C 2>/dev/null &&
    row percall bench fgraph_thresh 1 "$CALLS" "$(cat $C)" ||
    { say "function_graph tracer: failed"; row percall bench fgraph_thresh 1 "$CALLS" failed; }
  echo "function_graph on the tracee: $(grep ftramp_bench_tracee $TRACEFS/enabled_functions)" >> "$ev"
  echo nop > $TRACEFS/current_tracer; echo > $TRACEFS/set_ftrace_filter; echo 0 > $TRACEFS/tracing_thresh
}
fgraph_thresh
percall bench none 0

say "tracee ftramp_target_a"
percall target none 0
for n in 1 2 4 8; do percall target ftramp $n; percall target ftrace $n; done
percall target direct 1

# The kernel sample's own tracee and loop (interrupts on: a tick may land in it).
sample() { # ftrace|ftramp NOPS
  local vals="" r v
  for ((r = 0; r < REPS; r++)); do
    dmesg -C
    if [ "$1" = ftramp ]; then
      echo "arm $2" > $C
      insmod "$SAMPLE" nr_ops_relevant=0 nr_function_calls=$SAMPLE_CALLS 2>/dev/null
      echo "arm 0" > $C
    else
      insmod "$SAMPLE" nr_ops_relevant=$2 nr_function_calls=$SAMPLE_CALLS 2>/dev/null
    fi
    v=$(dmesg | sed -n 's/.*Attempted [0-9]* calls to .* in \([0-9]*\)ns.*/\1/p' | tail -1)
    vals+="${vals:+ }${v:-failed}"
  done
  row sample tracee_relevant "$1" "$2" "$SAMPLE_CALLS" "$vals"
}
if [ -e "$SAMPLE" ]; then
  say "tracee ftrace-ops.ko's tracee_relevant (the sample's own loop)"
  sample ftrace 0
  for n in 1 2 4 8; do sample ftrace $n; sample ftramp $n; done
  # What ftrace made of the sample's ops: own trampoline for one, the list func for more.
  for n in 1 2; do
    insmod "$SAMPLE" nr_ops_relevant=$n nr_function_calls=1 persist=1 &&
      echo "ftrace-ops.ko nr_ops_relevant=$n: $(grep tracee_relevant $TRACEFS/enabled_functions)" >> "$ev"
    rmmod ftrace_ops 2>/dev/null
  done
else
  say "no $SAMPLE: the kernel sample is not built"
fi

# ---- switching: both CPUs online (a sync is an IPI to every CPU).
cpu1 1
say "switching, $(nproc) CPUs online"

switching() { # LABEL FILTER [keep]
  say "switching: $1 site(s), filter $2"
  local r before after
  if ! echo "sw_setup $2" > $C; then
    say "sw_setup $2 failed"; return
  fi
  for ((r = 0; r < REPS; r++)); do
    for op in attach detach; do
      before="$(stat_field rounds) $(stat_field syncs)"
      echo "sw_$op" > $C || { say "sw_$op $1 failed"; continue; }
      after="$(stat_field rounds) $(stat_field syncs)"
      row switch "$1" "$op" "$r" "$(cat $C)" "$before" "$after" "$(stat_field last_round_sites)"
      [ "$op" = attach ] && [ "$r" = 0 ] &&
        echo "sites after attach ($1): $(grep -c . $TRACEFS/ftramp/enabled_functions) " \
          "$(grep -c 'mode=list' $TRACEFS/ftramp/enabled_functions) in list mode" >> "$ev"
    done
    echo sw_resolve > $C && row switch "$1" resolve "$r" "$(cat $C)" "-" "-" "-"
  done
  echo "sw_teardown ${3:-}" > $C
}
switching 1 bench
switching 10 'ftramp_target_batch_0*'
switching 100 'ftramp_target_batch_*'

say "modify_ftrace_direct, one site"
if echo "modify $REPS" > $C; then row modify 1 "$(cat $C)"; else say "modify failed"; fi

# Last: its 1000+ sites stay (tearing them down costs a grace period per site).

switching big "$BIG_GLOB" keep
echo "big batch filter: $BIG_GLOB" >> "$ev"

say "ftramp stats at the end"
cat $TRACEFS/ftramp/stats | head -12 >> "$ev"
dmesg > "$out/dmesg-$mode.txt"
if grep -E 'WARNING:|BUG:|Oops|RIP:|Call Trace:|stall' "$out/dmesg-$mode.txt"; then
  say "the kernel log has warnings (see $out/dmesg-$mode.txt)"
fi
say "done"
