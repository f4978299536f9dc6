# SPDX-License-Identifier: GPL-2.0
# Helpers for ftramp's kselftests (sourced; runs inside the test VM).

SELFTESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FTRAMP_KO=${FTRAMP_KO:-$SELFTESTS_DIR/../ftramp.ko}
TARGET_KO=${TARGET_KO:-$SELFTESTS_DIR/ftramp_target.ko}
TRACEFS=${TRACEFS:-/sys/kernel/tracing}
FTRAMP_DIR=$TRACEFS/ftramp
TARGET_DIR=/sys/kernel/debug/ftramp_target
# Extra insmod arguments for every ftramp load (e.g. plant_warn=1 to show that a
# planted fault turns the run red).
FTRAMP_INSMOD_ARGS=${FTRAMP_INSMOD_ARGS:-}

# kselftest exit codes
KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4

diag() { echo "# $*"; }
fail() { echo "# FAIL: $*"; exit $KSFT_FAIL; }
skip() { echo "# SKIP: $*"; exit $KSFT_SKIP; }

load_ftramp() {
  # shellcheck disable=SC2086
  insmod "$FTRAMP_KO" $FTRAMP_INSMOD_ARGS "$@"
}
unload_ftramp() { rmmod ftramp; }
load_target() { insmod "$TARGET_KO"; }
unload_target() { rmmod ftramp_target; }
is_loaded() { [ -d "/sys/module/$1" ]; }

# Reads one field "<key>: <value>" of ftramp's status file.
status_field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$FTRAMP_DIR/status"; }

# Kernel reports that fail a test, wherever they appear in dmesg. Reads dmesg
# text on stdin, prints the offending lines, and succeeds if there were any.
dmesg_bad() {
  grep -E -e 'WARNING:|BUG:|Oops|general protection fault|Kernel panic|RIP:' \
    -e 'KASAN|UBSAN|kmemleak: .*(suspected|leak)' \
    -e 'lockdep|possible (recursive|circular) locking|inconsistent lock state' \
    -e 'DEBUG_LOCKS_WARN_ON|turning off the locking correctness validator' \
    -e 'rcu: INFO|self-detected stall|rcu_.* detected stalls|soft lockup|hard LOCKUP' \
    -e 'grace period number .* jiffies old' \
    -e 'INFO: task .* blocked|list_(add|del) corruption|scheduling while atomic' \
    -e 'sleeping function called from invalid context|Call Trace:'
}

# The boot log without the lines every hardened boot prints that dmesg_bad would match
# (lockdep's banner; SRSO's "WARNING: See ..." advice on AMD models without microcode).
boot_benign() {
  grep -vE -e 'RCU lockdep checking is enabled' \
    -e 'Speculative Return Stack Overflow: WARNING: See '
}

# Expected WARNs. Reads dmesg text from file $2, writes it to file $3 without every
# WARN block ("------------[ cut here ]------------" up to "---[ end trace <hex> ]---")
# that has a line matching the extended regex $1, and prints how many it removed. A
# block with no end line is kept (whatever follows it is scanned as usual).
strip_expected_warns() {
  : > "$3"
  # The regex goes through the environment: awk -v would process its backslashes.
  WARN_RE=$1 awk -v out="$3" '
    BEGIN { re = ENVIRON["WARN_RE"] }
    function flush(keep,   i) { if (keep) for (i = 1; i <= n; i++) print buf[i] > out; n = 0 }
    /------------\[ cut here \]------------/ { flush(1); inblk = 1; hit = 0 }
    inblk {
      buf[++n] = $0
      if ($0 ~ re) hit = 1
      if ($0 ~ /---\[ end trace [0-9a-f]+ \]---/) { removed += hit; flush(!hit); inblk = 0 }
      next
    }
    { print > out }
    END { flush(1); print removed + 0 }' "$2"
}

# Taint bits that loading an out-of-tree (O, 4096) unsigned (E, 8192) module sets.
TAINT_EXPECTED=$((4096 | 8192))
taint() { cat /proc/sys/kernel/tainted; }

# Loads a module with finit_module(2) and prints the errno name it failed with
# ("OK" on success): insmod front ends translate ENOENT into "unknown symbol".
insmod_errno() {
  /usr/bin/python3 - "$@" <<'PY'
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY)
params = " ".join(sys.argv[2:]).encode()
rc = libc.syscall(313, fd, ctypes.c_char_p(params), 0)  # __NR_finit_module (x86_64)
print("OK" if rc == 0 else errno.errorcode.get(ctypes.get_errno(), "?"))
PY
}

TEST_OPS_KO=${TEST_OPS_KO:-$SELFTESTS_DIR/ftramp_test_ops.ko}
TEST_DIR=/sys/kernel/debug/ftramp_test
load_all() { load_ftramp && load_target && insmod "$TEST_OPS_KO"; }
# ftramp pins the modules whose functions it hooks: it goes before the target.
unload_all() {
  local m
  for m in ftramp_test_ops ftramp_sample ftramp_sample_rust ftramp ftramp_target; do
    is_loaded $m && rmmod $m
  done
  return 0
}
ctl() { echo "$*" > "$TEST_DIR/ctl"; }
ops_count() { awk -v k="$1" '$1 == k { print $2 }' "$TEST_DIR/counts"; }
target_count() { awk -v f="$1" '$1 == f { print $2 }' "$TARGET_DIR/count"; }
stat_field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$FTRAMP_DIR/stats"; }
result_field() { awk -v k="$1" '$1 == k { print $2 }' "$TEST_DIR/result"; }
site_line() { awk -v f="$1" '$1 == f' "$FTRAMP_DIR/enabled_functions"; }
# Field $2 (1-based) of ops $1's line in counts ("K calls preemptible resched").
ops_field() { awk -v k="$1" -v f="$2" '$1 == k { print $f }' "$TEST_DIR/counts"; }
# Calls of poisoned (dead, unregistered) ops since ftramp_test_ops was loaded.
poisoned() { awk '$1 == "poisoned" { print $2 }' "$TEST_DIR/counts"; }
# ftramp's test knobs (module parameters; only with FTRAMP_TEST_KNOBS).
knob() { cat "/sys/module/ftramp/parameters/$1"; }
set_knob() { echo "$2" > "/sys/module/ftramp/parameters/$1"; }

# "name trampoline" for each of ftramp's sites, sorted.
ftramp_sites() {
  awk '{ t = $4; sub(/^tramp=/, "", t); print $1, t }' "$FTRAMP_DIR/enabled_functions" | sort
}
# "name target" for each function the kernel has a direct call on, sorted, from
# /sys/kernel/tracing/enabled_functions (6.12: a record line "name [mod] (refs) R   D   M
# <tab>tramp: ..." whose flags have "D", then a line "<tab>direct--><target>"). A record
# whose D flag and direct--> line disagree is printed with target "INCONSISTENT".
kernel_direct() {
  awk '
    function out() {
      if (name != "" && (d || addr != ""))
        print name, (d && addr != "" ? addr : "INCONSISTENT")
      name = ""
    }
    /^[^ \t]/ {
      out(); name = $1; d = 0; addr = ""
      if (match($0, /\([0-9]+\)[^\t]*/) && substr($0, RSTART, RLENGTH) ~ / D /) d = 1
      next
    }
    /^[ \t]+direct-->/ { addr = $0; sub(/.*direct-->/, "", addr); sub(/[ \t]+$/, "", addr) }
    END { out() }' "$TRACEFS/enabled_functions" | sort
}

# ---- the stress oracle (ftramp_test_ops.c: stress, tally) ----
# A context's value in a "name task=N softirq=N hardirq=N nmi=N" line of file $3.
ctx_value() { awk -v k="$1" -v c="$2" '$1 == k || $1 == k":" { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == c) print a[2] } }' "$3"; }
# The call context (as the oracle counts it) a caller context of the target runs in.
CALL_CTX=([1]=task [2]=softirq [4]=hardirq [8]=task [16]=nmi)
CTXS="task softirq hardirq nmi"

# run_stress LABEL SWITCHES MASK MINCALLS [REQUIRE_INT3_CTXS|none]: one `ctl stress` run with
# the exact oracle: per CPU and context the persistent ops (and the third) saw exactly the
# target's calls, the toggled ops at most as many and some, nobody was called twice for one
# call, every caller context made calls, and the int3 window was hit (in each context of
# REQUIRE_INT3_CTXS, default all the mask's call contexts; in a batched round through the
# record's binary search). "none": a run whose switches patch nothing (list <-> list).
run_stress() {
  local label=$1 sw=$2 mask=$3 min=$4 req=${5-} R=$TEST_DIR/result S=$FTRAMP_DIR/stats
  local -A e0 bit
  local c b v searched0 lost0 sum=0
  for c in $CTXS; do e0[$c]=$(ctx_value int3_emulated "$c" "$S"); done
  searched0=$(stat_field int3_emulated_searched)
  lost0=$(target_count nmi_lost)
  ctl stress "$sw" "$mask" "$min" || fail "$label: stress run failed: $(tr '\n' ' ' < "$R")"
  diag "$label: $(tr '\n' ' ' < "$R")"
  diag "$label: int3 emulated $(grep '^int3_emulated:' "$S" | cut -d' ' -f2-), stale $(grep '^int3_stale:' "$S" | cut -d' ' -f2-), searched $(( $(stat_field int3_emulated_searched) - searched0 ))"
  [ "$(result_field switches)" -ge "$sw" ] || fail "$label: only $(result_field switches) switches"
  [ "$(result_field calls)" -ge "$min" ] || fail "$label: only $(result_field calls) calls"
  [ "$(result_field drops)" = 0 ] || fail "$label: $(result_field drops) calls dropped"
  [ "$(result_field persistent)" = "$(result_field calls)" ] || fail "$label: persistent ops saw $(result_field persistent) of $(result_field calls) calls"
  [ "$(result_field mismatch)" = 0 ] || fail "$label: per-CPU, per-context counts differ by $(result_field mismatch) calls in all (a drop in one place and a double call in another cancel in the totals, not here)"
  [ "$(result_field doubles)" = 0 ] || fail "$label: $(result_field doubles) calls reached an ops twice"
  [ "$(result_field toggled_excess)" = 0 ] || fail "$label: the toggled ops saw $(result_field toggled_excess) calls more than were made"
  [ "$(result_field toggled)" -gt 0 ] || fail "$label: the toggled ops was never called"
  if (( mask & 0x100 )); then
    for c in $CTXS; do sum=$(( sum + $(ctx_value third_ctx "$c" "$R") )); done
    [ "$sum" = "$(result_field calls)" ] || fail "$label: the third ops saw $sum of $(result_field calls) calls"
  fi
  for b in 1 2 4 8 16; do
    (( mask & b )) || continue
    bit[${CALL_CTX[$b]}]=1
    [ "$(ctx_value calls_ctx "${CALL_CTX[$b]}" "$R")" -gt 0 ] || fail "$label: no calls in ${CALL_CTX[$b]} context"
  done
  (( mask & 16 )) && { [ "$(target_count nmi_lost)" = "$lost0" ] || fail "$label: $(( $(target_count nmi_lost) - lost0 )) NMIs were never handled"; }
  [ -n "$req" ] || req="${!bit[*]}"
  [ "$req" = none ] && req=
  for c in $req; do
    v=$(( $(ctx_value int3_emulated "$c" "$S") - e0[$c] ))
    [ "$v" -gt 0 ] || fail "$label: the int3 window was never hit in $c context"
  done
  if (( mask & 0x400 )); then
    [ $(( $(stat_field int3_emulated_searched) - searched0 )) -gt 0 ] ||
      fail "$label: no trap was resolved through a record of several sites (binary search never hit)"
  fi
  return 0
}
