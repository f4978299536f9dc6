#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 50 load/unload cycles: the tracefs directory appears with the module and is
# gone after it, every time.
. "$(dirname "$0")/lib.sh"

CYCLES=${CYCLES:-50}
for i in $(seq 1 "$CYCLES"); do
  load_ftramp || fail "insmod failed in cycle $i"
  [ -r "$FTRAMP_DIR/status" ] || fail "no $FTRAMP_DIR/status after load in cycle $i"
  cat "$FTRAMP_DIR/status" > /dev/null || fail "cannot read status in cycle $i"
  unload_ftramp || fail "rmmod failed in cycle $i"
  [ ! -e "$FTRAMP_DIR" ] || fail "$FTRAMP_DIR left behind after unload in cycle $i"
  is_loaded ftramp && fail "module still listed after rmmod in cycle $i"
done
diag "$CYCLES load/unload cycles"
exit $KSFT_PASS
