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
# (The target's functions move when it is reloaded: fentry_forget.)
load_target() { fentry_forget; insmod "$TARGET_KO"; }
unload_target() { fentry_forget; rmmod ftramp_target; }
is_loaded() { [ -d "/sys/module/$1" ]; }

# Reads one field "<key>: <value>" of ftramp's status file.
status_field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$FTRAMP_DIR/status"; }

# Kernel reports that fail a test, wherever they appear in dmesg. Reads dmesg
# text on stdin, prints the offending lines, and succeeds if there were any. Each
# pattern is a detector the test kernels have (selftests/config, config.debug), in the
# message format of 6.12 and 7.3; Documentation/testing.rst lists them.
dmesg_bad() {
  grep -E -e 'WARNING:|BUG:|Oops|general protection fault|Kernel panic|RIP:|Call Trace:' \
    -e 'cut here \]|list_(add|del) corruption|scheduling while atomic' \
    -e 'sleeping function called from invalid context' \
    -e 'lockdep|possible (recursive|circular) locking|inconsistent lock state' \
    -e 'DEBUG_LOCKS_WARN_ON|turning off the locking correctness validator' \
    -e 'rcu: INFO|self-detected stall|rcu_[a-z_]* detected (expedited )?stalls' \
    -e 'grace period number .* jiffies old' \
    -e 'BUG: soft lockup|Watchdog detected hard LOCKUP' \
    -e 'INFO: task .* blocked.* for more than [0-9]+ seconds' \
    -e 'Uhhuh\. NMI received for unknown reason|Dazed and confused' \
    -e 'BUG: KASAN|UBSAN:|kmemleak: ([0-9]+ new suspected memory leak|Kernel memory leak detector disabled)'
}

# ftramp's own warnings: lines of the decoded kernel log (dmesg -x, as run_tests.sh
# saves it) at level warning or worse from ftramp, its test modules or its samples
# ("ftramp...: "), e.g. a site ftrace would not detach, trampoline memory kept at
# unload, a failed load. Reads stdin, prints them, succeeds if there were any. (The
# kernel's own "loading out-of-tree module taints kernel", named after the first such
# module loaded, is not one.)
ftramp_warnings() {
  grep -E '^[a-z]+ *:(emerg|alert|crit|err|warn) *: (\[[ 0-9.]+\] )?ftramp[a-z0-9_]*: ' |
    grep -vE ': loading out-of-tree module taints kernel\.$'
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
# Unloads every module of the suite (ftramp pins the modules whose functions it hooks:
# it goes before the target), then checks the teardown against the kernel
# (teardown_problems): every function ftramp had a site on before, and every function
# the kernel got a callback on during the test. Any failure (an rmmod, a check) fails
# the test, also from an EXIT trap: cleanup errors count, and are not left for the next
# test to stumble over.
unload_all() {
  local m p=() sites=() left funcs temp=0
  [ -r "$FTRAMP_DIR/enabled_functions" ] &&
    mapfile -t sites < <(awk '{ print $1 }' "$FTRAMP_DIR/enabled_functions")
  for m in ftramp_test_ops ftramp_sample ftramp_sample_rust ftramp; do
    if is_loaded $m; then rmmod $m || p+=("rmmod $m failed"); fi
  done
  if ! is_loaded ftramp; then
    left=$(comm -13 <(echo "$ENABLED_AT_START") <(kernel_enabled))
    funcs=$(printf '%s\n' "${sites[@]}" $left | sed '/^$/d' | sort -u)
    if [ -n "$funcs" ] && [ ! -e "$TARGET_DIR/peek" ]; then
      if load_target; then temp=1; else p+=("cannot load ftramp_target for its peek"); fi
    fi
    # shellcheck disable=SC2086
    [ -n "$funcs" ] && fentry_locate $funcs && mapfile -t -O ${#p[@]} p < <(teardown_problems $funcs)
    [ $temp = 1 ] && { unload_target || p+=("rmmod ftramp_target (loaded for the peek) failed"); }
  fi
  if is_loaded ftramp_target; then unload_target || p+=("rmmod ftramp_target failed"); fi
  [ ${#p[@]} -eq 0 ] && return 0
  printf '# teardown: %s\n' "${p[@]}"
  fail "teardown: ${#p[@]} problems (above)"
}
ctl() { echo "$*" > "$TEST_DIR/ctl"; }
ops_count() { awk -v k="$1" '$1 == k { print $2 }' "$TEST_DIR/counts"; }
target_count() { awk -v f="$1" '$1 == f { print $2 }' "$TARGET_DIR/count"; }
stat_field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$FTRAMP_DIR/stats"; }
result_field() { awk -v k="$1" '$1 == k { print $2 }' "$TEST_DIR/result"; }
site_line() { awk -v f="$1" '$1 == f' "$FTRAMP_DIR/enabled_functions"; }
# site_field FUNC KEY: KEY=value of FUNC's line in stats ("site FUNC ops=... frame=2
# dispatch=59 len=120": the trampoline's entry frame, dispatch call offset, length).
site_field() {
  awk -v f="$1" -v k="$2=" '$1 == "site" && $2 == f && $3 != "ret" {
    for (i = 3; i <= NF; i++) if (index($i, k) == 1) { print substr($i, length(k) + 1); exit } }' "$FTRAMP_DIR/stats"
}
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
# /sys/kernel/tracing/enabled_functions (a record line "name [mod] (refs) R   D   M
# <tab>tramp: ..." whose flags have "D", then a line "<tab>direct--><target>", on 7.3
# "direct(jmp)-->" for a jmp). A record whose D flag and direct--> line disagree is
# printed with target "INCONSISTENT".
kernel_direct_raw() {
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
    /^[ \t]+direct(\(jmp\))?-->/ { addr = $0; sub(/.*-->/, "", addr); sub(/[ \t]+$/, "", addr) }
    END { out() }' "$TRACEFS/enabled_functions" | sort
}
# The kernel symbolizes addresses in ftramp's region (it is in the BPF symbol table, as
# "ftramp_trampolines+0xOFF/0xLEN"): back to absolute, from the region's start in status.
kernel_direct() {
  local base="" name addr off
  [ -r "$FTRAMP_DIR/status" ] && base=$(sed -n 's/^trampolines: \(0x[0-9a-f]*\)-.*/\1/p' "$FTRAMP_DIR/status")
  kernel_direct_raw | while read -r name addr; do
    if [ -n "$base" ] && [[ $addr =~ ^ftramp_trampolines\+(0x[0-9a-f]+)/ ]]; then
      off=${BASH_REMATCH[1]}
      addr=$(printf '0x%x' $((base + off)))
    fi
    echo "$name $addr"
  done
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

# ---- Teardown, checked against the kernel (not against ftramp's own files) ----
# After a detach or an unload the kernel itself must show that nothing is left: no
# record for the function in /sys/kernel/tracing/enabled_functions (so no direct call),
# and the function's fentry site (its ftrace location, from
# available_filter_functions_addrs) holds the 5-byte nop again, read through
# ftramp_target's peek file, which needs neither ftramp nor ftramp_test_ops.

TEST_NAME=$(basename "$0" .sh)
FENTRY_NOP=0f1f440000    # x86_nops[5], what ftrace writes back at a disabled site
# Functions the kernel has a record for in its enabled_functions (a callback attached).
kernel_enabled() { awk '/^[^ \t]/ { print $1 }' "$TRACEFS/enabled_functions" | sort -u; }
# Those the test starts with are not its own (e.g. a site an earlier test kept on
# purpose): the checks leave them alone.
ENABLED_AT_START=$([ -r "$TRACEFS/enabled_functions" ] && kernel_enabled)
# The record of function $1 in the kernel's enabled_functions, on one line.
kernel_record() {
  awk -v f="$1" '/^[^ \t]/ { p = ($1 == f) } p' "$TRACEFS/enabled_functions" | tr -s '\t\n ' ' ' | sed 's/ $//'
}

# keep_direct FUNC...: declares that the test leaves a callback (a direct call ftrace
# would not detach) on FUNC on purpose: these checks and run_tests.sh's leave it alone.
keep_direct() { printf '%s\n' "$@" >> "$RESULTS/$TEST_NAME.expected-direct"; }
kept_direct() { cat "${RESULTS:-/nonexistent}/$TEST_NAME.expected-direct" 2>/dev/null; }

# peek ADDR LEN: prints the LEN bytes of kernel memory at ADDR (hex), in hex.
# peek_to VAR ADDR LEN: the same into VAR, with builtins only (no fork: tests peek
# at a hundred sites). The address is the open file's own: one descriptor for both.
peek_to() {
  local -n out=$1
  local fd rc
  out=
  exec {fd}<>"$TARGET_DIR/peek" || return 1
  echo "$2 $3" >&$fd && read -r out <&$fd
  rc=$?
  exec {fd}>&-
  return $rc
}
peek() { local h; peek_to h "$1" "$2" && echo "$h"; }
# tpeek ADDR LEN: the same for up to 256 bytes (ftramp_test_ops' peek), for tests that
# decode whole trampolines and stubs.
tpeek() { echo "$1 $2" > "$TEST_DIR/peek" && cat "$TEST_DIR/peek"; }
# call_dest ADDR: where the 5-byte `call` at ADDR (hex) goes, in hex; fails if it is no call.
call_dest() {
  local b
  b=$(tpeek "$1" 5) || return 1
  PYTHONPATH=$SELFTESTS_DIR python3 -c "import sys
from ftramp_codecheck import branch_dest
b = bytes.fromhex(sys.argv[1])
if b[0] != 0xe8:
    sys.exit('not a call: ' + b.hex())
print('%x' % branch_dest(b, int(sys.argv[2], 16), 0))" "$b" "$1"
}

# fentry_locate FUNC...: FENTRY[FUNC] = its fentry sites (" ADDR..."; empty if it has
# none), from the kernel's available_filter_functions_addrs: one pass over it for all
# FUNCs not known yet (it is 20k+ lines, read in ~0.5 s under TCG). Call it in the test's
# own shell (not in a $(...)), so that it remembers.
declare -A FENTRY=()
fentry_locate() {
  local need=() f a n
  for f; do [ -n "${FENTRY[$f]+x}" ] || need+=("$f"); done
  [ ${#need[@]} -gt 0 ] || return 0
  for f in "${need[@]}"; do FENTRY[$f]=; done
  while read -r a n; do FENTRY[$n]+=" $a"; done < <(printf '%s\n' "${need[@]}" |
    awk 'NR == FNR { want[$1]; next } $2 in want { print $1, $2 }' - "$TRACEFS/available_filter_functions_addrs")
}
fentry_forget() { FENTRY=(); }

# teardown_problems FUNC...: one line per problem: FUNC still has a record in the
# kernel's enabled_functions; one of its fentry sites (a name can have several) does
# not hold the nop (also shown for a FUNC with a record: what it calls); FUNC has no
# fentry site at all (a wrong name would check nothing). FUNCs enabled when the test started or declared by keep_direct are
# skipped. Needs ftramp_target's peek.
teardown_problems() {
  local f a b n
  local -A on=() skip=()
  for f in $(kernel_enabled); do on[$f]=1; done
  for f in $ENABLED_AT_START $(kept_direct); do skip[$f]=1; done
  fentry_locate "$@"
  for f in $(printf '%s\n' "$@" | sort -u); do
    [ -n "${skip[$f]:-}" ] && continue
    [ -n "${on[$f]:-}" ] && echo "$f: the kernel still has a callback on it: $(kernel_record "$f")"
    [ -n "${FENTRY[$f]}" ] || echo "$f: no fentry site in available_filter_functions_addrs"
    for a in ${FENTRY[$f]}; do
      peek_to b "$a" 5 || { echo "$f: cannot read its fentry site at $a"; continue; }
      [ "$b" = "$FENTRY_NOP" ] || echo "$f: its fentry site at $a holds $b, not the nop $FENTRY_NOP"
    done
  done
}

# assert_detached FUNC...: after a detach, the kernel has let go of every FUNC
# (teardown_problems); fails the test otherwise. Loads ftramp_target for the peek if
# it is not loaded.
assert_detached() {
  local p temp=0
  if [ ! -e "$TARGET_DIR/peek" ]; then
    load_target || fail "assert_detached: cannot load ftramp_target for its peek"
    temp=1
  fi
  fentry_locate "$@"
  p=$(teardown_problems "$@")
  [ $temp = 1 ] && { unload_target || fail "assert_detached: rmmod ftramp_target"; }
  [ -z "$p" ] && return 0
  echo "$p" | sed 's/^/# /'
  fail "the kernel still holds what was detached: $(echo "$p" | head -1)"
}

# ---- return hooks (issue 12) ----
# Field NAME (entries, returns, wrong, regs_wrong, unentered, ok, mode, registered) of
# return ops K's line in ftramp_test_ops' "ret" file.
rfield() {
  awk -v k="$1" -v n="$2" '$1 == "rops" && $2 == k {
    for (i = 3; i <= NF; i++) { split($i, a, "="); if (a[1] == n) print a[2] } }' "$TEST_DIR/ret"
}
# stat_to VAR KEY: VAR = ftramp's stats counter KEY ("KEY: N", "KEY N", or per context
# "KEY: task=N softirq=N ...", summed); fails the test if there is no such line.
stat_to() {
  local -n out=$1
  out=$(awk -v k="$2" '$1 == k":" || $1 == k { s = 0
      for (i = 2; i <= NF; i++) { v = $i; sub(/.*=/, "", v); s += v }; print s; exit }' "$FTRAMP_DIR/stats")
  [ -n "$out" ] || fail "no '$2' line in $FTRAMP_DIR/stats"
}
# wait_until SECS CMD...: polls CMD every 0.1 s until it succeeds (0) or SECS pass (1).
wait_until() {
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt $end ] || return 1; sleep 0.1; done
}
