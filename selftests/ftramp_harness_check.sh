#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The harness must turn what it claims to catch into a red result. Shown on the runner
# itself, not only on its regexes: a nested run_tests.sh (FTRAMP_TESTS_DIR) runs planted
# tests, and each must come out as its line says:
#   planted_clean           loads and unloads ftramp                          ok
#   planted_warn            insmod ftramp plant_warn=1 (a WARN_ON at load)    not ok, naming that WARN
#   planted_ftramp_err      a failed load (force_missing_symbol=1: a pr_err of ftramp's),
#                           undeclared                                        not ok "ftramp warnings"
#   planted_declared_err    the same, declared in <name>.expected-log         ok
#   planted_declared_unseen declared, but the load works                      not ok "expected warning not seen"
#   planted_left_loaded     leaves ftramp loaded                              not ok "modules left loaded" (unloaded after)
#   planted_foreign_direct  leaves the kernel sample ftrace-direct's direct call on
#                           wake_up_process (no ftramp involved)              not ok: lib.sh's teardown check
#                           (a callback, the fentry site not the nop) and the runner's "ftrace callbacks left on"
#   planted_busy            its exit path's unload_all cannot rmmod ftramp_target (a file
#                           of it is open)                                    not ok: "teardown: rmmod ftramp_target
#                           failed", and the runner's "modules left loaded" (unloaded after)
#   planted_skip            exits 4                                           not ok "SKIP is a failure"
#   planted_hung            a task blocked in the kernel for seconds with the hung task
#                           limit at 1 s                                      not ok, naming that task
# and the nested run's scans of the kernel log before and after them: ok.
#
# Nothing is discarded unscanned: the nested run reads the kernel log from where the
# outer run left it, and every line it read is checked here. The planted WARN has a
# unique marker: the WARN_ON at ftramp_plant_warn by the insmod whose PID the planted
# test recorded. That one block is taken out of all the nested logs, and what is left
# must hold no report at all and no ftramp warning but the two planted failed loads:
# a genuine WARN, lockdep report etc. during the planted insmods and rmmods is not taken
# for the planted one. TAINT_WARN is declared for this test only once all that has
# shown the planted WARN to be the only WARN.
#
# Then the expected-WARN filter (lib.sh: strip_expected_warns, what a test's
# <name>.expected-warn uses) on that real WARN: a regex matching it takes out the whole
# block and nothing else is reported; one that does not match takes out nothing, and
# the scan still catches the WARN.
. "$(dirname "$0")/lib.sh"

P=$RESULTS/harness_check.planted    # the planted tests
N=$RESULTS/harness_check.nested     # the nested run's results
rm -rf "$P" "$N"; mkdir -p "$P" "$N"
LIB=$SELFTESTS_DIR/lib.sh
plant() { { echo '#!/bin/bash'; echo ". '$LIB'"; cat; } > "$P/$1.sh"; }

plant planted_clean <<'EOF'
load_ftramp || fail "insmod"
unload_ftramp || fail "rmmod"
exit $KSFT_PASS
EOF
plant planted_warn <<'EOF'
( echo $BASHPID > "$RESULTS/planted_warn.pid"; exec insmod "$FTRAMP_KO" plant_warn=1 ) || fail "insmod plant_warn=1"
unload_ftramp || fail "rmmod"
exit $KSFT_PASS
EOF
plant planted_ftramp_err <<'EOF'
err=$(insmod_errno "$FTRAMP_KO" force_missing_symbol=1)
[ "$err" = ENOENT ] || fail "load with force_missing_symbol=1: $err, want ENOENT"
exit $KSFT_PASS
EOF
plant planted_declared_err <<'EOF'
echo 'ftramp: cannot resolve kernel symbol ftramp_test_missing_symbol$' > "$RESULTS/planted_declared_err.expected-log"
err=$(insmod_errno "$FTRAMP_KO" force_missing_symbol=1)
[ "$err" = ENOENT ] || fail "load with force_missing_symbol=1: $err, want ENOENT"
exit $KSFT_PASS
EOF
plant planted_declared_unseen <<'EOF'
echo 'ftramp: cannot resolve kernel symbol ftramp_test_missing_symbol$' > "$RESULTS/planted_declared_unseen.expected-log"
load_ftramp || fail "insmod"
unload_ftramp || fail "rmmod"
exit $KSFT_PASS
EOF
plant planted_left_loaded <<'EOF'
load_ftramp || fail "insmod"
exit $KSFT_PASS
EOF
plant planted_foreign_direct <<'EOF'
load_target || fail "insmod ftramp_target"
trap unload_all EXIT
modprobe ftrace-direct || fail "modprobe ftrace-direct"
kernel_direct | grep -q '^wake_up_process ' || fail "no direct call on wake_up_process: $(kernel_direct)"
exit $KSFT_PASS
EOF
plant planted_busy <<'EOF'
load_target || fail "insmod ftramp_target"
exec 7< "$TARGET_DIR/count"    # an open file of the module's: its rmmod fails
trap unload_all EXIT
exit $KSFT_PASS
EOF
plant planted_skip <<'EOF'
skip "planted"
EOF
# A task blocked in the kernel (in ftramp_target's run, waiting for its callers) while
# the hung task detector's limit is 1 s, for a few seconds: a live detector report.
plant planted_hung <<'EOF'
K=/proc/sys/kernel
load_target || fail "insmod ftramp_target"
old="$(cat $K/hung_task_timeout_secs) $(cat $K/hung_task_check_interval_secs) $(cat $K/hung_task_warnings)"
# shellcheck disable=SC2086
trap 'set -- $old; echo $1 > $K/hung_task_timeout_secs; echo $2 > $K/hung_task_check_interval_secs
      echo $3 > $K/hung_task_warnings; unload_all' EXIT
echo -1 > $K/hung_task_warnings; echo 1 > $K/hung_task_check_interval_secs; echo 1 > $K/hung_task_timeout_secs
for i in $(seq 1 20); do
  ( echo $BASHPID > "$RESULTS/planted_hung.pid"; exec /bin/echo "a kthread 3000000" ) > "$TARGET_DIR/run" || fail "run"
  dmesg | grep -q "INFO: task echo:$(cat "$RESULTS/planted_hung.pid") blocked" && exit $KSFT_PASS
done
fail "no hung task report for the blocked writer in 20 runs"
EOF
PLANTED=(planted_clean planted_warn planted_ftramp_err planted_declared_err planted_declared_unseen
         planted_left_loaded planted_foreign_direct planted_busy planted_skip planted_hung)

warn_before=$(( $(taint) & 512 ))
hung_sysctl() { cat /proc/sys/kernel/hung_task_{timeout_secs,check_interval_secs,warnings} | paste -sd' '; }
hung_before=$(hung_sysctl)
FTRAMP_INSMOD_ARGS= FTRAMP_TESTS_DIR=$P TEST_TIMEOUT=300 "$SELFTESTS_DIR/run_tests.sh" "$N" \
  "${PLANTED[@]/%/.sh}" > "$N/ktap.log" 2>&1
# The sample's direct call goes, with what it printed to the trace buffer.
is_loaded ftrace_direct && { rmmod ftrace_direct || fail "rmmod ftrace-direct"; }
: > "$TRACEFS/trace"
sed 's/^/  /' "$N/ktap.log"
[ "$(hung_sysctl)" = "$hung_before" ] || fail "hung task sysctls not restored: $(hung_sysctl), were $hung_before"

# result NAME: "ok" or "not ok" of NAME's line in the nested KTAP.
result() { sed -nE "s/^(ok|not ok) [0-9]+ selftests: ftramp: $1( .*)?$/\\1/p" "$N/ktap.log"; }
# section NAME: NAME's part of the nested KTAP (its output, reasons and result).
section() { awk -v t="# selftests: ftramp: $1.sh" '$0 == t { p = 1 } p { print } p && /^(not )?ok / { exit }' "$N/ktap.log"; }
want() { # NAME ok|"not ok" [ERE that its section must have]...
  local t=$1 r=$2 got re; shift 2
  got=$(result "$t.sh")
  [ "$got" = "$r" ] || fail "nested $t: '$got', want '$r'"
  for re; do section "$t" | grep -qE -e "$re" || fail "nested $t: no line /$re/ in: $(section "$t" | tr '\n' '|')"; done
}
[ "$(sed -n 's/^1\.\.//p' "$N/ktap.log")" = $(( ${#PLANTED[@]} + 2 )) ] || fail "nested run: bad plan"
[ "$(result 'kernel log before the run')" = ok ] || fail "nested run: a report before it (this test's own window)"
[ "$(result 'kernel log after the last test')" = ok ] || fail "nested run: a report after the planted tests"
pid=$(cat "$N/planted_warn.pid")
# The planted WARN's first line (6.12: "WARNING: CPU: 0 PID: <pid> at <file>:<line>
# ftramp_plant_warn+..."; 7.3: "WARNING: <file>:<line> at ftramp_plant_warn+..., CPU#0: insmod/<pid>").
MARK="WARNING: (CPU: [0-9]+ PID: $pid at .* ftramp_plant_warn\\+|.* at ftramp_plant_warn\\+.*, CPU#[0-9]+: insmod/$pid( |\$))"
want planted_clean ok
want planted_warn "not ok" "kernel log has WARN" "$MARK"
want planted_ftramp_err "not ok" "^# FAIL: ftramp warnings$" "ftramp: cannot resolve kernel symbol ftramp_test_missing_symbol"
want planted_declared_err ok "expected ftramp warnings .*: 1$"
want planted_declared_unseen "not ok" "^# FAIL: expected warning not seen"
want planted_left_loaded "not ok" "^# FAIL: modules left loaded: ftramp$"
is_loaded ftramp && fail "the nested runner left ftramp loaded"
want planted_foreign_direct "not ok" "teardown: wake_up_process: the kernel still has a callback on it: .* D " \
  "teardown: wake_up_process: its fentry site at [0-9a-f]+ holds e8[0-9a-f]{8}, not the nop" \
  "^# FAIL: teardown: 2 problems" "^# FAIL: ftrace callbacks left on: wake_up_process$"
want planted_busy "not ok" "^# teardown: rmmod ftramp_target failed$" "^# FAIL: teardown: 1 problems" \
  "^# FAIL: modules left loaded: ftramp_target$"
is_loaded ftramp_target && fail "the nested runner left ftramp_target loaded"
want planted_skip "not ok" "SKIP is a failure"
hpid=$(cat "$N/planted_hung.pid")
want planted_hung "not ok" "kernel log has WARN" "INFO: task echo:$hpid blocked.* for more than [0-9]+ seconds"
[ "$(( $(taint) & 512 ))" = 512 ] || fail "the planted WARN did not taint the kernel"
[ "$warn_before" = 0 ] && { section planted_warn | grep -q "new kernel taint 512" || fail "nested planted_warn: no 'new kernel taint 512'"; }
diag "nested run: each planted test came out as planted"

# Every line the nested run read from the kernel log: the marked WARN is its only
# report, the planted failed loads its only ftramp warnings.
# From planted_hung's log its hung task reports go first: each from "INFO: task ...
# blocked" to the end of the task's stack ("</TASK>"), then lockdep's list of the locks
# held ("Showing all locks held in the system:" to its "=====" line).
strip_hung_reports() {
  awk '/INFO: task [^ ]+:[0-9]+ blocked.* for more than [0-9]+ seconds/ { skip = "task" }
       /Showing all locks held in the system:/ { skip = "locks" }
       !skip { print }
       skip == "task" && /<\/TASK>/ { skip = "" }
       skip == "locks" && /=====+$/ { skip = "" }' "$1"
}
for t in boot "${PLANTED[@]}" final; do [ -f "$N/$t.dmesg" ] || fail "no nested $t.dmesg"; done
for t in boot "${PLANTED[@]}" final; do
  if [ $t = planted_hung ]; then strip_hung_reports "$N/$t.dmesg"; else cat "$N/$t.dmesg"; fi
done > "$N/all.dmesg"
n=$(strip_expected_warns "$MARK" "$N/all.dmesg" "$N/rest.dmesg")
[ "$n" = 1 ] || fail "$n WARN blocks with the planted WARN's marker, want 1"
left=$(dmesg_bad < "$N/rest.dmesg") && fail "reports besides the planted WARN: $(echo "$left" | head -3)"
w=$(ftramp_warnings < "$N/rest.dmesg")
[ "$(grep -c . <<< "$w")" = 2 ] && ! grep -vq 'ftramp: cannot resolve kernel symbol ftramp_test_missing_symbol$' <<< "$w" ||
  fail "ftramp warnings besides the two planted failed loads: $w"
diag "the planted WARN (marker /$MARK/) is the only report of the nested run"
assert_detached wake_up_process
diag "after rmmod ftrace-direct the kernel is back to the nop on wake_up_process"
echo 512 > "$RESULTS/ftramp_harness_check.expected-taint"   # TAINT_WARN: the planted WARN's

# The expected-WARN filter, on the planted WARN.
W=$N/planted_warn.dmesg
n=$(strip_expected_warns 'ftramp_plant_warn' "$W" "$N/warn.rest")
[ "$n" = 1 ] || fail "expected-WARN filter took out $n blocks of the planted WARN, want 1"
left=$(dmesg_bad < "$N/warn.rest") && fail "expected-WARN filter left reports: $left"
n=$(strip_expected_warns 'no such warning' "$W" "$N/warn.rest")
[ "$n" = 0 ] || fail "a regex matching nothing took out $n WARN blocks"
dmesg_bad < "$N/warn.rest" > /dev/null || fail "the scan missed the WARN left in"
diag "expected-WARN filter: takes out the matching block only"
exit $KSFT_PASS
