#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# One site through 0 -> 1 -> 2 -> 3 -> 2 -> 1 -> 0 ops. At each quiescent point every
# attached ops has seen exactly the calls made while it was attached, from task,
# softirq and hardirq callers; the site's mode is direct with one ops and fused with
# more (list with fused_max=0, the second pass); after the last detach the site is gone, from ftramp's enabled_functions and
# from the kernel (lib.sh: assert_detached: no ftrace record, the fentry site the nop
# again). Recursion-safe ops (0-3: called from
# the trampoline) and guarded ones (4-7: through ftramp's wrapper) are mixed.
. "$(dirname "$0")/lib.sh"

load_all || fail "loading the modules failed"
trap unload_all EXIT
N=${CALLS:-30000}

declare -A want=()
attached=()
check_point() {
  local step=$1 mode=$2 k got
  echo 1 > "$TARGET_DIR/reset"; ctl zero
  for ctx in kthread timer hrtimer; do
    echo "a $ctx $N" > "$TARGET_DIR/run" || fail "$step: run a $ctx failed"
  done
  total=$(target_count a)
  [ "$total" = $((3 * N)) ] || fail "$step: target counted $total calls"
  for k in 0 1 2 3 4 5 6 7; do
    got=$(ops_count $k)
    if [[ " ${attached[*]} " == *" $k "* ]]; then
      [ "$got" = "$total" ] || fail "$step: ops $k saw $got of $total calls"
    else
      [ "$got" = 0 ] || fail "$step: detached ops $k saw $got calls"
    fi
  done
  line=$(site_line ftramp_target_a)
  if [ ${#attached[@]} -eq 0 ]; then
    [ -z "$line" ] || fail "$step: site still listed: $line"
    assert_detached ftramp_target_a    # the kernel's word, not only ftramp's
  else
    echo "$line" | grep -q "ops=${#attached[@]} mode=$mode" || fail "$step: site is '$line', want ops=${#attached[@]} mode=$mode"
  fi
  diag "$step: ${#attached[@]} ops (${mode:-none}), each saw exactly $total calls"
}

attach() { ctl filter "$1" ftramp_target_a && ctl register "$1" || fail "attach ops $1"; attached+=("$1"); }
detach() {
  ctl unregister "$1" || fail "detach ops $1"
  local a=() k; for k in "${attached[@]}"; do [ "$k" != "$1" ] && a+=("$k"); done; attached=("${a[@]}")
}

# Several ops: a fused stub (the default), then, with fused_max=0, the list iterator.
for multi in fused list; do
  [ $multi = list ] && set_knob fused_max 0
  check_point "0 ops" ""
  attach 0; check_point "0->1" direct
  attach 4; check_point "1->2" $multi
  attach 1; check_point "2->3" $multi
  detach 0; check_point "3->2" $multi
  detach 1; check_point "2->1" direct
  detach 4; check_point "1->0" ""
done
# A guarded ops alone, then a recursion-safe one replacing it (1 -> 2 -> 1 other ops).
attach 5; attach 2; detach 5; check_point "survivor 2" direct
detach 2; check_point "empty again" ""
diag "rounds: $(stat_field rounds), syncs: $(stat_field syncs)"
exit $KSFT_PASS
