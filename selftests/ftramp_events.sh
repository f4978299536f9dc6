#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The trace and stacktrace callbacks write real trace events (ftramp:call, ftramp:stack)
# that the kernel's tools understand.
#
# (a) The events exist with a format file naming the fields func, ip, caller and cpu.
# (b) trace-cmd (Debian's) records ftramp:call in the top-level instance while the
#     target makes exactly 1000 calls of ftramp_target_a: the report has 1000 of them,
#     each naming the function and its caller, on a valid CPU.
# (c) Event filters work on the string field (func == "ftramp_target_b") and on the
#     address (ip.function == ftramp_target_a), in ftramp's own instance.
# (d) ftramp:stack carries the unwound stack (" => " frames, the target's caller).
#
# Before (commit 7011106: trace_array_printk() strings) it failed at (a):
#   # FAIL: no /sys/kernel/tracing/events/ftramp/call/format
. "$(dirname "$0")/lib.sh"

command -v trace-cmd > /dev/null || fail "trace-cmd is not installed (scripts/setup.sh installs it)"
load_ftramp && load_target || fail "insmod failed"
T=$TRACEFS
I=$T/instances/ftramp
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"; : > "$FTRAMP_DIR/hooks"; unload_all' EXIT

# ---- (a) ----
echo "ftramp_target_a trace" >> "$FTRAMP_DIR/hooks" || fail "hook a"
for e in call stack; do
  f=$T/events/ftramp/$e/format
  [ -r "$f" ] || fail "no $f"
  for field in func ip caller cpu; do
    grep -qE "field:[^;]* $field;" "$f" || fail "ftramp:$e has no field $field: $(grep field: "$f" | tr -s ' \t' ' ')"
  done
done
[ "$(cat $I/events/ftramp/call/enable)" = 1 ] || fail "ftramp:call is not enabled in instances/ftramp"
diag "ftramp:call and ftramp:stack have func, ip, caller, cpu"

# ---- (b) ----
echo 1 > "$TARGET_DIR/reset"
trace-cmd record -q -e ftramp:call -o "$OUT/call.dat" -- \
  sh -c "echo 'a kthread 1000' > $TARGET_DIR/run" > "$OUT/record.log" 2>&1 ||
  fail "trace-cmd record failed: $(tail -3 "$OUT/record.log")"
trace-cmd report -i "$OUT/call.dat" > "$OUT/report.txt" 2> "$OUT/report.err" ||
  fail "trace-cmd report failed: $(tail -3 "$OUT/report.err")"
# trace-cmd pads the event name and prints %pS its own way ("kthread_caller+0x76").
n=$(grep -cE ' call: +' "$OUT/report.txt")
good=$(grep -cE ' call: +ftramp_target_a <- [a-z_]+\+0x[0-9a-f]+.* cpu=[0-9]+$' "$OUT/report.txt")
[ "$n" = 1000 ] || fail "trace-cmd recorded $n ftramp:call events, the target made 1000 calls: $(head -3 "$OUT/report.txt")"
[ "$good" = 1000 ] || fail "only $good of 1000 events name ftramp_target_a and its caller: $(grep -E ' call: +' "$OUT/report.txt" | head -2)"
cpus=$(grep -E ' call: +' "$OUT/report.txt" | sed 's/.*cpu=//' | sort -u | tr '\n' ' ')
for c in $cpus; do [ "$c" -lt "$(nproc)" ] || fail "event on cpu=$c of $(nproc)"; done
diag "trace-cmd: 1000 of 1000 calls recorded, e.g. $(grep -m1 -E ' call: +' "$OUT/report.txt" | sed 's/.*call: *//')"

# ---- (c) ----
echo "ftramp_target_b trace" >> "$FTRAMP_DIR/hooks" || fail "hook b"
filtered() { # FILTER: the funcs of the events instances/ftramp kept while a and b were called
  echo "$1" > $I/events/ftramp/call/filter || fail "filter '$1' refused"
  : > $I/trace
  echo 1 > "$TARGET_DIR/reset"
  echo "ab kthread 100" > "$TARGET_DIR/run" || fail "run ab"
  grep ' call: ' $I/trace | sed 's/.*call: \([a-z_]*\) .*/\1/' | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }'
  echo 0 > $I/events/ftramp/call/filter
}
got=$(filtered 'func == "ftramp_target_b"')
[ "$got" = "ftramp_target_b=100 " ] || fail "filter func == \"ftramp_target_b\" kept: '$got'"
got=$(filtered 'ip.function == ftramp_target_a')
[ "$got" = "ftramp_target_a=100 " ] || fail "filter ip.function == ftramp_target_a kept: '$got'"
diag "filters on func and ip.function keep exactly the function's 100 events"

# ---- (d) ----
: > "$FTRAMP_DIR/hooks"
echo "ftramp_target_a stacktrace:1000" >> "$FTRAMP_DIR/hooks" || fail "hook a stacktrace"
: > $I/trace
echo "a kthread 10" > "$TARGET_DIR/run" || fail "run a"
s=$(grep -c ' stack: ftramp_target_a <- ' $I/trace)
[ "$s" = 10 ] || fail "$s ftramp:stack events for 10 calls: $(head -20 $I/trace | tail -5)"
grep -q ' => kthread' $I/trace || fail "the stacks do not reach kthread: $(grep -m1 -A6 ' stack: ' $I/trace)"
diag "ftramp:stack: $(grep -m1 -A3 ' stack: ' $I/trace | sed 's/^.*stack: //' | tr -s ' \n' ' ')"
exit $KSFT_PASS
