#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every engine operation is reserve-then-commit: walked over each of its fault
# points with ftramp's fail_nth knob (N = 1, 2, ... until the operation completes
# without reaching the N-th point), a failed operation changes nothing, and
# unregister never fails.
#
# Persistent for the whole test: ops 0 on ftramp_target_a and ops 3 on
# ftramp_target_c. The operations:
#   (a) register ops 1 with filter {a, b}: a has a site (ops 0), b none;
#       after a failure the ops must still register (fault-free) to exactly
#       that filter: the failed attempt kept it;
#   (b) set_filter of the registered ops 5 (guarded) from {a, b} to {c, d}: a goes
#       list -> direct, b's site goes, c direct -> list, d's site is new; after a
#       failure the ops' filter must still be {a, b}: "filter+ 5 !a" (relative to
#       it) must leave the ops on b alone;
#   (c) unregister of ops 6 (guarded, on a with ops 0 and 4: three ops, on b alone,
#       on c with ops 3): must return 0 with every fault injected;
#   (d) hooks writes: "ftramp_target_[bc] count" (b new, c existing), a removal
#       "!ftramp_target_b count" (cannot fail), and "ftramp_target_d count" with
#       "!ftramp_target_c count" in one write; a failed write leaves hooks byte
#       for byte unchanged.
# Every ops an iteration used is unregistered afterwards (with a fault injected
# at the unregister's first point, which must not matter) and poisoned: it must
# never be called again.
#
# After every iteration (3 first, then 1 and 2), and after every failed operation (1, 2):
#   1. ftramp's enabled_functions lists exactly the sites the model says (ops count
#      and mode per function) and, after a failure, is byte-identical to before
#      (trampoline addresses included); the trampoline slots in use are exactly
#      those of the model's sites and ops (none leaked, none freed early);
#   2. the kernel's enabled_functions has a direct call on exactly ftramp's sites,
#      each to that site's trampoline, plus the sites ftramp kept (kept_sites);
#   3. a burst of calls (a 1x, b 2x, c 4x, d 8x FI_CALLS, kthreads on every CPU):
#      every ops counts exactly the calls of the functions of its filter (the
#      persistent ops 0 exactly a's), every count hook exactly its function's,
#      and no poisoned ops is called.
# (e) Last, with fail_detach (skipped with kmemleak: the kept memory is leaked on
#     purpose): a hook on __x64_sys_getppid is removed while ftrace "refuses" the
#     detach: the site is kept (kept_sites: 1, the pr_warn naming it), the kernel
#     still has the direct call, getppid() keeps working, and unloading ftramp keeps
#     the trampoline memory with its pr_warn. The direct call stays for the rest of
#     the boot (on a vmlinux function, so no module is pinned). Both warnings and the
#     direct call are declared (<name>.expected-log, lib.sh: keep_direct): undeclared,
#     each would fail the test.
#
# Shown failing (Dec 2026, by hand; first failure of each run):
#   FI_BREAK=kept (kept sites left out of check 2):
#     # FAIL: (e) kept: the kernel has direct calls on [__x64_sys_getppid] that ftramp does not list (kept sites: [])
#   FI_BREAK=model (the model believes every injected failure succeeded):
#     # FAIL: (a) N=1 registered: ops 1 saw 0 calls, want 300 (filter: ftramp_target_a ftramp_target_b)
#   the engine bugs of selftests/mutants/demo_bugs.patch (FTRAMP_KO=<patched build>
#   FTRAMP_INSMOD_ARGS=demo_bug=N):
#     1 (a failed prepare forgets its new sites):
#       # FAIL: (a) N=15 registered: slots in use: 8/2048, want 7 (leaked or freed too early)
#     2 (a failed register drops the filter):
#       # FAIL: (a) N=1 registered: ops 1 saw 0 calls, want 300 (filter: ftramp_target_a ftramp_target_b)
#     3 (unregister does not detach):
#       # FAIL: (a) N=2 registered: slots in use: 8/2048, want 7 (leaked or freed too early)
#     4 (a failed set_filter keeps the new filter):
#       # FAIL: (b) N=1: ops 5 saw 300 calls, want 200 (filter: ftramp_target_b)
#     5 (a failed hooks write keeps the hooks it added):
#       # FAIL: (d1) hooks add [bc] N=11: the failed write changed hooks: [] -> [ftramp_target_c count]
. "$(dirname "$0")/lib.sh"

M=${FI_CALLS:-100}
MAX_N=${FI_MAX_N:-200}
# FI_STRIDE=K FI_FIRST=F injects at fault points F, F+K, F+2K, ... only: make check walks
# the odd points on its first kernel and the even ones on its second (the fault points are
# ftramp's own, the same Rust code on both, in the same order as long as the operations
# take the same paths), so a check that runs both kernels walks every point once.
STRIDE=${FI_STRIDE:-1} FIRST=${FI_FIRST:-1}
STRIDE_SAY=""; [ "$STRIDE" = 1 ] && [ "$FIRST" = 1 ] || STRIDE_SAY=" or fewer: one in $STRIDE walked, from $FIRST"
BREAK=${FI_BREAK:-}
SEQ=abbccccdddddddd    # one run: a M, b 2M, c 4M, d 8M calls
declare -A W=([ftramp_target_a]=1 [ftramp_target_b]=2 [ftramp_target_c]=4 [ftramp_target_d]=8)
A=ftramp_target_a B=ftramp_target_b C=ftramp_target_c D=ftramp_target_d
TMP=$RESULTS/fault_injection
mkdir -p "$TMP"

baseline=$(kernel_direct)    # direct calls from before ftramp (none on a fresh boot)
[ -n "$baseline" ] && diag "direct calls present before ftramp was loaded (ignored): $baseline"
load_all || fail "loading the modules failed"
trap 'set_knob fail_nth 0 2>/dev/null; unload_all' EXIT
SLOTS=$(stat_field slots)
[ "${SLOTS%/*}" = 1 ] || fail "slots in use at load: $SLOTS, want 1 (the do-nothing target)"

# Builtin-only readers (this test reads these files thousands of times; a fork under
# TCG costs ~20 ms).
stat_of() { local k v; while read -r k v; do [ "$k" = "$1:" ] && { echo "$v"; return; }; done < "$FTRAMP_DIR/stats"; }
knob_of() { local v; read -r v < "/sys/module/ftramp/parameters/$1"; echo "$v"; }

# ---- the model: what should be attached where ----
declare -A filt=()    # registered test ops -> its functions
hooks=()              # functions with a count hook
kept=()               # functions whose site ftramp kept

want_sites() { # "name ops=N mode=M" per function, sorted by name
  local -A n=() f k
  for k in "${!filt[@]}"; do for f in ${filt[$k]}; do n[$f]=$(( ${n[$f]:-0} + 1 )); done; done
  for f in "${hooks[@]}"; do n[$f]=$(( ${n[$f]:-0} + 1 )); done
  for f in "${!n[@]}"; do
    echo "$f ops=${n[$f]} mode=$([ "${n[$f]}" -gt 1 ] && echo list || echo direct)"
  done | sort
}
# A site of several ops calls them through a fused stub or the list iterator (ftramp falls
# back to the iterator when it cannot build a stub): both are "list" here.
got_sites() { awk '{ sub(/mode=fused/, "mode=list", $3); print $1, $2, $3 }' "$FTRAMP_DIR/enabled_functions" | sort; }
snapshot() { echo "$(<"$FTRAMP_DIR/enabled_functions")"; echo "$(<"$FTRAMP_DIR/hooks")"; echo ---; kernel_direct; }

# Checks 1 and 2.
check_sites() { # label
  local got want k f extra missing
  got=$(got_sites) want=$(want_sites)
  [ "$got" = "$want" ] || fail "$1: ftramp's sites are [$(echo $got)], want [$(echo $want)]"
  k=$(kernel_direct | grep -vxF -e "${baseline:-^}" )
  f=$(ftramp_sites)
  echo "$k" | grep -q INCONSISTENT && fail "$1: kernel enabled_functions: D flag without direct--> or back: $k"
  missing=$(comm -13 <(echo "$k") <(echo "$f"))
  [ -z "$missing" ] || fail "$1: ftramp's sites without that direct call in the kernel: [$(echo $missing)] (kernel: [$(echo $k)])"
  extra=$(comm -23 <(echo "$k") <(echo "$f") | awk '{ print $1 }' | sort)
  local allowed=""
  [ "$BREAK" = kept ] || allowed=$(printf '%s\n' "${kept[@]}" | sort | sed '/^$/d')
  [ "$extra" = "$allowed" ] ||
    fail "$1: the kernel has direct calls on [$(echo $extra)] that ftramp does not list (kept sites: [$(echo $allowed)])"
  [ "$BREAK" = kept ] || [ "$(stat_of kept_sites)" = "${#kept[@]}" ] ||
    fail "$1: kept_sites: $(stat_of kept_sites), want ${#kept[@]}"
  # Trampoline slots: the do-nothing target, one per site (kept ones too), one stub per
  # registered ops (a hook is one), the fused stubs' slots (stats, per site) and those of
  # replaced fused stubs, freed in batches (slots_retired). Everything else retired is
  # freed by the end of every operation.
  local fused=$(awk '$1 == "site" { for (i = 3; i <= NF; i++) if ($i ~ /^fused_slots=/) { sub(/.*=/, "", $i); s += $i } } END { print s + 0 }' "$FTRAMP_DIR/stats")
  local used=$(( 1 + $(echo "$want" | grep -c .) + ${#kept[@]} + ${#filt[@]} + ${#hooks[@]} + fused + $(stat_of slots_retired) ))
  [ "$(stat_of slots)" = "$used/${SLOTS#*/}" ] ||
    fail "$1: slots in use: $(stat_of slots), want $used (leaked or freed too early)"
}

# Fills the associative array named $1 with "function -> hits" of the count hooks.
hook_hits() {
  local -n out=$1
  local w f cb h
  out=()
  while read -r w f cb h; do
    [ "$w" = hook ] && [ "$cb" = count ] && out[$f]=${h#hits=}
  done < "$FTRAMP_DIR/stats"
}

# Check 3.
check_calls() { # label
  local k f want got c rest
  local -A h0 h1 cnt tc
  echo 1 > "$TARGET_DIR/reset"; echo zero > "$TEST_DIR/ctl"
  hook_hits h0
  echo "$SEQ kthread $M" > "$TARGET_DIR/run" || fail "$1: burst failed"
  while read -r k c; do tc[$k]=$c; done < "$TARGET_DIR/count"
  for f in $A $B $C $D; do
    got=${tc[${f#ftramp_target_}]}
    [ "$got" = $(( W[$f] * M )) ] || fail "$1: target $f counted $got calls, want $(( W[$f] * M ))"
  done
  while read -r k c rest; do cnt[$k]=$c; done < "$TEST_DIR/counts"
  for k in 0 1 2 3 4 5 6 7; do
    want=0
    if [ -n "${filt[$k]+x}" ]; then for f in ${filt[$k]}; do want=$(( want + W[$f] * M )); done; fi
    [ "${cnt[$k]}" = "$want" ] || fail "$1: ops $k saw ${cnt[$k]} calls, want $want (filter: ${filt[$k]:-not registered})"
  done
  [ "${cnt[poisoned]}" = 0 ] || fail "$1: unregistered (poisoned) ops were called ${cnt[poisoned]} times"
  [ ${#hooks[@]} -eq 0 ] && return
  hook_hits h1
  for f in "${hooks[@]}"; do
    [ -n "${W[$f]+x}" ] || continue
    got=$(( ${h1[$f]:-0} - ${h0[$f]:-0} ))
    [ "$got" = $(( W[$f] * M )) ] || fail "$1: count hook on $f counted $got calls, want $(( W[$f] * M ))"
  done
}
check() { check_calls "$1"; check_sites "$1"; CHECKS=$((CHECKS + 1)); }

# Runs "$@" with the N-th fault point from now failing. Sets RC (the command's
# status), HIT (1 if the N-th point was reached and failed) and DONE (1 if the
# command passed fewer than N points: it ran with no injected failure).
inject() { # N cmd...
  local n=$1 h0 left; shift
  h0=$(stat_of fault_hits)
  set_knob fail_nth "$n"
  "$@"; RC=$?
  left=$(knob_of fail_nth)
  set_knob fail_nth 0
  HIT=$(( $(stat_of fault_hits) - h0 ))
  DONE=0; [ "$left" -gt 0 ] && DONE=1
  [ $(( HIT + DONE )) = 1 ] || fail "fault injector: $* with fail_nth=$n: $HIT hits, fail_nth left at $left"
  OPS=$((OPS + 1))
}
ctl_q() { echo "$*" > "$TEST_DIR/ctl" 2>/dev/null; }
# One write(2) per hooks write, as each is one all-or-nothing transaction: bash's own
# printf and echo write line by line.
hooks_q() { /usr/bin/printf "$1" >> "$FTRAMP_DIR/hooks" 2>/dev/null; }
hooks_reset() { : > "$FTRAMP_DIR/hooks"; [ -z "$(<"$FTRAMP_DIR/hooks")" ] || fail "hooks not emptied"; hooks=(); }

# Unregisters ops $1 with a fault at its first point (unregister cannot fail), then
# poisons it: from now on any call of it is counted.
retire_ops() { # k label
  inject 1 ctl_q unregister "$1"
  [ "$RC" = 0 ] || fail "$2: unregister $1 failed with a fault injected at its first point"
  unset "filt[$1]"
  ctl_q poison "$1" || fail "$2: cannot poison ops $1: ftramp still holds it after unregister"
}

# A failed operation: it must have failed, and changed nothing.
expect_unchanged() { # label snapshot
  [ "$RC" != 0 ] || fail "$1: the injected fault was reached but the operation succeeded"
  local now; now=$(snapshot)
  [ "$now" = "$2" ] || fail "$1: the failed operation changed something: before [$(echo $2)] after [$(echo $now)]"
  FAILS=$((FAILS + 1))
}
expect_done() { # label
  [ "$RC" = 0 ] || fail "$1: failed with no fault injected"
}
totals() { # scenario N
  diag "$1: N=$FIRST..$2 ($(( $2 - 1 )) fault points$STRIDE_SAY), $FAILS failed (nothing changed), $ABSORBED faults absorbed (succeeded), $CHECKS checks, $((SECONDS - T0))s"
  T0=$SECONDS
  SUMMARY+=("$1: $2")
  TOTAL_N=$((TOTAL_N + $2)); FAILS=0; CHECKS=0 ABSORBED=0
}

OPS=0 FAILS=0 ABSORBED=0 CHECKS=0 TOTAL_N=0 SUMMARY=() T0=$SECONDS
h_start=$(stat_of fault_hits) p_start=$(stat_of fault_points)
ctl filter 0 $A && ctl register 0 && ctl filter 3 $C && ctl register 3 || fail "persistent ops"
filt[0]=$A filt[3]=$C
check "start"

# ---- (a) register ----
for N in $(seq "$FIRST" "$STRIDE" "$MAX_N"); do
  ctl filter 1 "$A $B" || fail "(a) filter"
  snap=$(snapshot)
  inject "$N" ctl_q register 1
  op_done=$DONE
  if [ "$HIT" = 1 ]; then
    expect_unchanged "(a) N=$N" "$snap"
    # (FI_BREAK=model: believe the failed register worked, and do not redo it.)
    [ "$BREAK" = model ] || ctl register 1 || fail "(a) N=$N: register after the failed one"
  else
    expect_done "(a) N=$N"
  fi
  filt[1]="$A $B"
  check "(a) N=$N registered"
  retire_ops 1 "(a) N=$N"
  [ "$op_done" = 1 ] && break
done
[ "$op_done" = 1 ] || fail "(a) register did not complete within $MAX_N fault points"
totals "(a) register" "$N"

# ---- (b) set_filter on a registered ops ----
for N in $(seq "$FIRST" "$STRIDE" "$MAX_N"); do
  ctl filter 5 "$A $B" && ctl register 5 || fail "(b) setup"
  filt[5]="$A $B"
  snap=$(snapshot)
  inject "$N" ctl_q filter 5 "$C,$D"
  op_done=$DONE
  if [ "$HIT" = 1 ]; then
    expect_unchanged "(b) N=$N" "$snap"
    # The filter is still {a, b}: taking a out of it (reset=0) leaves b.
    ctl filter+ 5 "!$A" || fail "(b) N=$N: filter+ after the failed one"
    filt[5]=$B
    if [ "$BREAK" = model ]; then filt[5]="$C $D"; fi
  else
    expect_done "(b) N=$N"
    filt[5]="$C $D"
  fi
  check "(b) N=$N"
  retire_ops 5 "(b) N=$N"
  [ "$op_done" = 1 ] && break
done
[ "$op_done" = 1 ] || fail "(b) set_filter did not complete within $MAX_N fault points"
totals "(b) set_filter" "$N"

# ---- (c) unregister ----
for N in $(seq "$FIRST" "$STRIDE" "$MAX_N"); do
  ctl filter 4 $A && ctl register 4 && ctl filter 6 "$A $B $C" && ctl register 6 || fail "(c) setup"
  filt[4]=$A filt[6]="$A $B $C"
  inject "$N" ctl_q unregister 6
  [ "$RC" = 0 ] || fail "(c) N=$N: unregister failed"
  [ "$HIT" = 1 ] && ABSORBED=$((ABSORBED + 1))
  unset "filt[6]"
  ctl_q poison 6 || fail "(c) N=$N: cannot poison ops 6: ftramp still holds it after unregister"
  check "(c) N=$N"
  ctl unregister 4 && ctl poison 4 || fail "(c) N=$N: teardown"
  unset "filt[4]"
  [ "$DONE" = 1 ] && break
done
[ "$DONE" = 1 ] || fail "(c) unregister did not complete within $MAX_N fault points"
totals "(c) unregister" "$N"

# ---- (d) hooks writes ----
# kind: "add" (a reached fault fails the write), "remove" (removals cannot fail: the
# write must succeed whatever is injected), "mixed" (adds first: a fault there fails
# the write, one in the removals after them is absorbed).
hooks_d() { # name kind setup write success-hooks-text success-model...
  local name=$1 kind=$2 setup=$3 w=$4 want=$5 N; shift 5
  for N in $(seq "$FIRST" "$STRIDE" "$MAX_N"); do
    $setup
    cat "$FTRAMP_DIR/hooks" > "$TMP/hooks.before"
    snap=$(snapshot)
    inject "$N" hooks_q "$w"
    cat "$FTRAMP_DIR/hooks" > "$TMP/hooks.after"
    if [ "$RC" != 0 ]; then
      [ "$HIT" = 1 ] || fail "$name N=$N: the write failed with no fault injected"
      [ "$kind" != remove ] || fail "$name N=$N: a removal failed (fault injected at point $N)"
      cmp -s "$TMP/hooks.before" "$TMP/hooks.after" ||
        fail "$name N=$N: the failed write changed hooks: [$(cat "$TMP/hooks.before")] -> [$(cat "$TMP/hooks.after")]"
      if [ "$BREAK" = model ]; then hooks=("$@"); fi
      expect_unchanged "$name N=$N" "$snap"
    else
      [ "$HIT" = 1 ] && [ "$kind" = add ] && fail "$name N=$N: the injected fault was reached but the write succeeded"
      [ "$HIT" = 1 ] && ABSORBED=$((ABSORBED + 1))
      printf "$want" > "$TMP/hooks.want"
      cmp -s "$TMP/hooks.want" "$TMP/hooks.after" ||
        fail "$name N=$N: hooks is [$(cat "$TMP/hooks.after")], want [$(cat "$TMP/hooks.want")]"
      hooks=("$@")
    fi
    check "$name N=$N"
    hooks_reset
    [ "$DONE" = 1 ] && break
  done
  [ "$DONE" = 1 ] || fail "$name did not complete within $MAX_N fault points"
  totals "$name" "$N"
}
setup_bc() { /usr/bin/printf "$B count\n$C count\n" >> "$FTRAMP_DIR/hooks" || fail "hooks setup"; hooks=($B $C); }
hooks_d "(d1) hooks add [bc]" add : "ftramp_target_[bc] count\n" "$B count\n$C count\n" $B $C
hooks_d "(d2) hooks removal" remove setup_bc "!$B count\n" "$C count\n" $C
hooks_d "(d3) hooks add d, remove c" mixed setup_bc "$D count\n!$C count\n" "$B count\n$D count\n" $B $D
check "end of (a)-(d)"
diag "operations run: $OPS; fault points walked: $TOTAL_N (${SUMMARY[*]})"
diag "fault_hits: $(( $(stat_of fault_hits) - h_start )) faults injected; fault_points passed: $(( $(stat_of fault_points) - p_start )); ${SECONDS}s"

# ---- (f) a return ops: $A (ops 0 on it) moves to its return trampoline, $D gets a new
# site with one; every fault on the way fails the register and changes nothing ----
ret_snap() { snapshot; echo "ret_ops $(stat_of ret_ops)"; }
for N in $(seq "$FIRST" "$STRIDE" "$MAX_N"); do
  ctl mode 8 count && ctl filter 8 "$A $D" || fail "(f) filter"
  snap=$(ret_snap)
  inject "$N" ctl_q register 8
  op_done=$DONE
  if [ "$HIT" = 1 ]; then
    [ "$RC" != 0 ] || fail "(f) N=$N: the injected fault was reached but the register succeeded"
    [ "$(ret_snap)" = "$snap" ] ||
      fail "(f) N=$N: the failed register changed something: before [$(echo $snap)] after [$(echo "$(ret_snap)")]"
    FAILS=$((FAILS + 1))
    ctl register 8 || fail "(f) N=$N: register after the failed one"
  else
    expect_done "(f) N=$N"
  fi
  for f in $A $D; do
    site_line $f | grep -q ' ret$' || fail "(f) N=$N: $f has no return trampoline: $(site_line $f)"
  done
  ctl zero
  check_calls "(f) N=$N"
  CHECKS=$((CHECKS + 1))
  [ "$(rfield 8 returns)" -gt 0 ] && [ "$(rfield 8 returns)" = "$(rfield 8 entries)" ] ||
    fail "(f) N=$N: return ops 8: entries $(rfield 8 entries), returns $(rfield 8 returns)"
  inject 1 ctl_q unregister 8
  [ "$RC" = 0 ] || fail "(f) N=$N: unregister 8 failed with a fault injected"
  site_line $A | grep -q ' ret$' && fail "(f) N=$N: $A kept its return trampoline without return ops"
  [ "$op_done" = 1 ] && break
done
[ "$op_done" = 1 ] || fail "(f) register of a return ops did not complete within $MAX_N fault points"
drained() { [ "$(stat_of ret_draining)" = 0 ]; }
wait_until 20 drained || fail "(f) ret_draining $(stat_of ret_draining) after every return ops left"
totals "(f) return ops" "$N"

# ---- (e) a site ftrace refuses to detach ----
if [ -w /sys/kernel/debug/kmemleak ]; then
  diag "(e) skipped: kmemleak is on, and a kept site leaks its trampoline memory on purpose"
  exit $KSFT_PASS
fi
G=__x64_sys_getppid
if echo "$baseline" | grep -q "^$G "; then
  diag "(e) skipped: $G already has a direct call (kept by an earlier run in this boot)"
  exit $KSFT_PASS
fi
getppid_calls() { /usr/bin/python3 -c "import os
for _ in range($1): os.getppid()"; }
echo "$G count" >> "$FTRAMP_DIR/hooks" || fail "(e) cannot hook $G"
hooks=($G)
check_sites "(e) hooked"
getppid_calls 1000
declare -A hh; hook_hits hh
[ "${hh[$G]:-0}" -ge 1000 ] || fail "(e) the hook on $G counted ${hh[$G]:-0} of 1000+ calls"
# The kept site's two warnings and its direct call are on purpose: declared to
# run_tests.sh and lib.sh's teardown check (FI_BREAK=undeclared leaves that out).
if [ "$BREAK" != undeclared ]; then
  { echo "ftramp: ftrace would not detach $G \\(.*\\): its trampoline is kept, calling nothing\$"
    echo 'ftramp: keeping [0-9]+ bytes of trampoline memory at 0x[0-9a-f]+: a function may still call it$'
  } > "$RESULTS/ftramp_fault_injection.expected-log"
  keep_direct $G
fi
mark=$(dmesg | wc -l)
set_knob fail_detach 1
echo "!$G count" >> "$FTRAMP_DIR/hooks" || fail "(e) removing the hook failed"
[ "$(knob fail_detach)" = N ] || fail "(e) fail_detach was not consumed: the site was never detached"
hooks=() kept=($G)
dmesg | tail -n +$((mark + 1)) | grep -q "ftrace would not detach $G" ||
  fail "(e) no 'ftrace would not detach $G' warning: $(dmesg | tail -n +$((mark + 1)))"
check_sites "(e) kept"
diag "(e) $G kept: kept_sites $(stat_of kept_sites); kernel: $(kernel_direct | grep "^$G ")"
getppid_calls 10000 || fail "(e) getppid() after the site was kept"
check_calls "(e) kept"
rmmod ftramp_test_ops && rmmod ftramp || fail "(e) unloading ftramp with a kept site"
keep=$(dmesg | tail -n +$((mark + 1)) | grep -E "keeping [0-9]+ bytes of trampoline memory")
[ -n "$keep" ] || fail "(e) ftramp's unload did not say it keeps the trampoline memory"
diag "(e) at unload: ${keep#*] }"
kernel_direct | grep -q "^$G " || fail "(e) the kept direct call is gone after ftramp's unload"
getppid_calls 10000 || fail "(e) getppid() after ftramp's unload"
diag "(e) getppid() still works after ftramp's unload (the kept trampoline calls the do-nothing target)"
exit $KSFT_PASS
