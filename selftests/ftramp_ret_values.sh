#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Return values (issue 12). The value functions of ftramp_target (1, 6, 7 and 8
# integer arguments, a 16-byte struct returned in ax:dx, a 24-byte struct passed by
# value on the stack) are called from kthreads, timers (softirq), hrtimers (hardirq)
# and NMIs on every CPU, each caller checking every result ("values_wrong"):
#   1. with no hooks, then with entry-only ops (recursion-safe 0, guarded 4) on all
#      six: every result right, each ops saw every call; each trampoline's entry frame
#      saves exactly the argument registers of its function's BTF model (stats frame=,
#      and ops 0 compares its regs with the caller's arguments), and a variadic
#      function gets the full frame; ftramp mutant_frame=1 (one register not saved)
#      must show in both checks;
#   2. with return ops: ops 8 in value mode (its entry computes the expected result
#      from the registers and stack words into the cookie, its return compares
#      ax/dx with the cookie and with the value recomputed from ret->regs) and ops 9
#      without entry_func (cookie 0, value from ret->regs), and entry-only ops 0 on
#      the same functions: every return seen once, right value, right cookie, and
#      the callers still get the right results.
# The return trampolines' frames are checked the same way (ops 0 stays in mode args):
# shown failing (Dec 2026, 6.12) with return trampolines saving the full frame:
#   # FAIL: return hooks: ops 0 checked 366000 frames, 366000 wrong (want 366000, 0)
# The callers' check must be able to fail: ftramp_target oracle_mutant=1 (v8 loses
# its 8th argument, as a trampoline that loses the second stack word would) must show
# in values_wrong. The return callbacks' checks: ftramp_test_ops oracle_mutant=3 (a
# wrong cookie) must show in ops 8's "wrong".
. "$(dirname "$0")/lib.sh"

N=${VALUE_ROUNDS:-20000}
VF="ftramp_target_v1 ftramp_target_v6 ftramp_target_v7 ftramp_target_v8 ftramp_target_v16 ftramp_target_vs24"
GLOB="ftramp_target_v*"
TMUT=/sys/module/ftramp_target/parameters/oracle_mutant
OMUT=/sys/module/ftramp_test_ops/parameters/oracle_mutant
MFRAME=/sys/module/ftramp/parameters/mutant_frame
load_all || fail "loading the modules failed"
trap 'echo 0 > $TMUT 2>/dev/null; echo 0 > $OMUT 2>/dev/null; echo 0 > $MFRAME 2>/dev/null; unload_all' EXIT

# values_run LABEL [ROUNDS]: callers in every context; sets $total (rounds made).
values_run() {
  local label=$1 n=${2:-$N} ctx m f
  echo 1 > "$TARGET_DIR/reset"; ctl zero
  total=0
  for ctx in kthread timer hrtimer nmi; do
    # NMIs are rationed by the target: fewer rounds there.
    m=$n; [ $ctx = nmi ] && m=$(( n / 20 > 1 ? n / 20 : 1 ))
    echo "v $ctx $m" > "$TARGET_DIR/run" || fail "$label: run v $ctx failed"
    total=$((total + m))
  done
  for f in v1 v6 v7 v8 v16 vs24; do
    [ "$(target_count $f)" = $total ] || fail "$label: ftramp_target_$f counted $(target_count $f) of $total calls"
  done
}
values_ok() {
  [ "$(target_count values_wrong)" = 0 ] || fail "$1: the callers got $(target_count values_wrong) wrong results"
  diag "$1: $total rounds of 6 functions in 4 contexts, every result right"
}

values_run "no hooks"; values_ok "no hooks"

# The callers' check can fail.
echo 1 > $TMUT
values_run "mutant" 200
echo 0 > $TMUT
[ "$(target_count values_wrong)" -gt 0 ] || fail "oracle_mutant=1 (v8 drops its 8th argument): the callers saw no wrong result"
diag "target oracle_mutant=1: the callers saw $(target_count values_wrong) wrong results (as they must)"

# Entry hooks. Their trampolines save only the registers each function's arguments take
# (lean frames, from BTF): every count_cb scrambles every caller-saved register, so a
# register not restored shows in values_wrong; ops 0 (mode args) checks that its regs
# hold exactly those registers, with the caller's values (args_wrong).
args_field() { awk -v k="$1" -v f="$2=" '$1 == "args" && $2 == k { for (i = 3; i <= NF; i++) if (index($i, f) == 1) print substr($i, length(f) + 1) }' "$TEST_DIR/counts"; }
entry_hooks() { # LABEL
  ctl mode 0 args || fail "$1: ops 0 mode args"
  for k in 0 4; do ctl filter $k "$GLOB" && ctl register $k || fail "$1: attach entry ops $k"; done
  n=$(awk '$1 ~ /^ftramp_target_v/' "$FTRAMP_DIR/enabled_functions" | wc -l)
  [ "$n" = 6 ] || fail "$1: the glob hooked $n functions, not 6: $(cat "$FTRAMP_DIR/enabled_functions")"
}
entry_hooks "entry hooks"
for fr in v1:1 v6:6 v7:6 v8:6 v16:3 vs24:2; do
  got=$(site_field "ftramp_target_${fr%:*}" frame)
  [ "$got" = "${fr#*:}" ] || fail "ftramp_target_${fr%:*}: frame=$got, want ${fr#*:} (the argument registers of its BTF model)"
done
values_run "entry hooks"; values_ok "entry hooks"
for k in 0 4; do
  [ "$(ops_count $k)" = $((6 * total)) ] || fail "entry hooks: ops $k saw $(ops_count $k) of $((6 * total)) calls"
done
[ "$(args_field 0 checked)" = $((6 * total)) ] || fail "entry hooks: ops 0 checked the registers of $(args_field 0 checked) of $((6 * total)) calls"
[ "$(args_field 0 wrong)" = 0 ] || fail "entry hooks: ops 0 found $(args_field 0 wrong) calls whose regs were not exactly the arguments"
diag "lean frames: v1 1, v6-v8 6, v16 3 (2 and one for its struct return), vs24 2 registers saved; ops 0 found all $((6 * total)) frames exact"

# Both checks can fail: ftramp mutant_frame=1 builds lean trampolines that save one
# register fewer than they restore (and say).
for k in 0 4; do ctl unregister $k || fail "detach ops $k"; done
echo 1 > "$MFRAME" || fail "cannot set $MFRAME"
entry_hooks "frame mutant"
values_run "frame mutant" 200
echo 0 > "$MFRAME"
[ "$(target_count values_wrong)" -gt 0 ] || fail "mutant_frame=1: the callers saw no wrong result"
[ "$(args_field 0 wrong)" -gt 0 ] || fail "mutant_frame=1: ops 0 found no wrong frame"
diag "ftramp mutant_frame=1: the callers saw $(target_count values_wrong) wrong results, ops 0 $(args_field 0 wrong) wrong frames (as they must)"
for k in 0 4; do ctl unregister $k || fail "detach ops $k"; done
# The frames again with ops 0 alone (the trampoline calls its stub) and, with fused_max=0,
# beside ops 4 on the list iterator (through the slot's list entry).
args_ok() { # LABEL
  [ "$(args_field 0 checked)" = $((6 * total)) ] && [ "$(args_field 0 wrong)" = 0 ] ||
    fail "$1: ops 0 checked $(args_field 0 checked) of $((6 * total)) frames, $(args_field 0 wrong) wrong"
}
ctl mode 0 args && ctl filter 0 "$GLOB" && ctl register 0 || fail "attach ops 0 alone"
grep -q '^ftramp_target_v1 ops=1 mode=direct ' "$FTRAMP_DIR/enabled_functions" || fail "ops 0 alone: not direct: $(site_line ftramp_target_v1)"
values_run "one ops" 500; values_ok "one ops"; args_ok "one ops"
set_knob fused_max 0
ctl filter 4 "$GLOB" && ctl register 4 || fail "attach ops 4 (list)"
grep -q '^ftramp_target_v1 ops=2 mode=list ' "$FTRAMP_DIR/enabled_functions" || fail "fused_max=0: not list: $(site_line ftramp_target_v1)"
values_run "list" 500; values_ok "list"; args_ok "list"
set_knob fused_max 16
ctl unregister 4 || fail "detach ops 4"

# Return hooks (needs the engine's return trampolines).
stat_to rc0 ret_calls
ctl mode 8 value && ctl filter 8 "$GLOB" && ctl register 8 || fail "attach return ops 8 (value)"
ctl mode 9 noentry && ctl filter 9 "$GLOB" && ctl register 9 || fail "attach return ops 9 (noentry)"
values_run "return hooks"; values_ok "return hooks"
want=$((6 * total))
[ "$(ops_count 0)" = $want ] || fail "return hooks: entry-only ops 0 saw $(ops_count 0) of $want calls"
# The return trampolines' frames are as lean as the entry trampolines' (ops 0, mode args).
[ "$(args_field 0 checked)" = $want ] && [ "$(args_field 0 wrong)" = 0 ] ||
  fail "return hooks: ops 0 checked $(args_field 0 checked) frames, $(args_field 0 wrong) wrong (want $want, 0)"
for f in entries returns; do
  [ "$(rfield 8 $f)" = $want ] || fail "return hooks: ops 8 $f $(rfield 8 $f), want $want"
done
[ "$(rfield 9 returns)" = $want ] || fail "return hooks: ops 9 (no entry_func) got $(rfield 9 returns) of $want returns"
[ "$(rfield 9 entries)" = 0 ] || fail "ops 9 has no entry_func but counted $(rfield 9 entries) entries"
for k in 8 9; do
  for f in wrong regs_wrong unentered; do
    [ "$(rfield $k $f)" = 0 ] || fail "return hooks: ops $k: $f $(rfield $k $f) (wrong value/cookie, or ret->regs not the entry's)"
  done
done
stat_to rc1 ret_calls
[ $((rc1 - rc0)) -ge $((2 * want)) ] || fail "stats: ret_calls grew by $((rc1 - rc0)), want >= $((2 * want))"
diag "return hooks: ops 8 and 9 each got all $want returns with the right value and cookie"

# The return callback's check can fail: a wrong cookie.
echo 3 > $OMUT
values_run "cookie mutant" 200
echo 0 > $OMUT
[ "$(rfield 8 wrong)" -gt 0 ] || fail "ftramp_test_ops oracle_mutant=3 (wrong cookie): ops 8 saw nothing wrong"
diag "test_ops oracle_mutant=3: ops 8 counted $(rfield 8 wrong) wrong returns (as it must)"

for k in 0 8 9; do ctl unregister $k || fail "detach ops $k"; done
# shellcheck disable=SC2086
assert_detached $VF

# What cannot take a return hook is refused, with its reason, and changes nothing: a
# variadic function (its stack arguments are unknown) from the shell...
echo > "$FTRAMP_DIR/error_log"
before=$(cat "$FTRAMP_DIR/hooks"; cat "$FTRAMP_DIR/enabled_functions")
err=$( { echo "seq_printf ret" > "$FTRAMP_DIR/hooks"; } 2>&1 ) && fail "a return hook on variadic seq_printf was accepted"
case $err in *"not supported"*) ;; *) fail "seq_printf ret: '$err', want EOPNOTSUPP" ;; esac
grep -q 'variadic' "$FTRAMP_DIR/error_log" || fail "error_log does not say why: $(cat "$FTRAMP_DIR/error_log")"
[ "$(cat "$FTRAMP_DIR/hooks"; cat "$FTRAMP_DIR/enabled_functions")" = "$before" ] ||
  fail "the refused seq_printf hook changed hooks or enabled_functions"
assert_detached seq_printf
diag "seq_printf ret: EOPNOTSUPP, error_log: $(grep -o 'variadic[^\n]*' "$FTRAMP_DIR/error_log" | head -1)"
# ... while an entry hook on it is fine, with the full frame (no model: everything saved).
# vmlinux's functions are found through ftramp's index of its BTF (the value functions
# above are a module's): vfs_read(file, buf, count, pos) gets 4 registers.
echo "seq_printf count" > "$FTRAMP_DIR/hooks" || fail "an entry hook on seq_printf was refused"
echo "vfs_read count" >> "$FTRAMP_DIR/hooks" || fail "an entry hook on vfs_read was refused"
[ "$(site_field seq_printf frame)" = full ] || fail "seq_printf (variadic): frame=$(site_field seq_printf frame), want full"
[ "$(site_field vfs_read frame)" = 4 ] || fail "vfs_read: frame=$(site_field vfs_read frame), want 4"
: > "$FTRAMP_DIR/hooks"
assert_detached seq_printf vfs_read
# ... a function that never returns (its calls would stay inside forever) ...
echo > "$FTRAMP_DIR/error_log"
err=$( { echo "do_exit ret" > "$FTRAMP_DIR/hooks"; } 2>&1 ) && fail "a return hook on do_exit was accepted"
case $err in *"not supported"*) ;; *) fail "do_exit ret: '$err', want EOPNOTSUPP" ;; esac
grep -q 'never returns' "$FTRAMP_DIR/error_log" || fail "error_log does not say why: $(cat "$FTRAMP_DIR/error_log")"
assert_detached do_exit
diag "do_exit ret: EOPNOTSUPP (never returns)"
# ... and a ninth return ops on one function (a call record holds eight).
for k in 8 9 10 11 12 13 14 15; do
  ctl mode $k count && ctl filter $k ftramp_target_v1 && ctl register $k || fail "return ops $k on ftramp_target_v1"
done
site_line ftramp_target_v1 | grep -q 'ops=8 mode=list' || fail "eight return ops: $(site_line ftramp_target_v1)"
err=$( { ctl mode 16 count && ctl filter 16 ftramp_target_v1 && ctl register 16; } 2>&1 ) &&
  fail "a ninth return ops on ftramp_target_v1 was accepted"
case $err in *"No space"*) ;; *) fail "ninth return ops: '$err', want ENOSPC" ;; esac
site_line ftramp_target_v1 | grep -q 'ops=8 mode=list' || fail "the refused ninth ops changed the site: $(site_line ftramp_target_v1)"
values_run "eight return ops" 100
for k in 8 9 10 11 12 13 14 15; do
  [ "$(rfield $k returns)" -gt 0 ] && [ "$(rfield $k returns)" = "$(rfield $k entries)" ] ||
    fail "eight return ops: ops $k entries $(rfield $k entries) returns $(rfield $k returns)"
done
diag "a ninth return ops on one function: ENOSPC, the eight keep working"
for k in 8 9 10 11 12 13 14 15; do ctl unregister $k || fail "detach ops $k"; done
assert_detached ftramp_target_v1
exit $KSFT_PASS
