#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A load that cannot resolve a symbol fails with ENOENT, names the symbol in the
# kernel log, and leaves nothing behind; the next normal load works. So does a load
# whose direct-branch self-check fails (test knob unbind_symbol: one resolved function's
# static call is left unbound): ENOEXEC, naming the function.
. "$(dirname "$0")/lib.sh"

# failed_load WHAT ERRNO LOG_LINE PARAM...: loading with PARAM fails with ERRNO, the
# kernel log has LOG_LINE, and nothing is left behind.
failed_load() {
  local what=$1 want=$2 line=$3 err; shift 3
  err=$(insmod_errno "$FTRAMP_KO" "$@")
  diag "finit_module with $what: $err"
  [ "$err" = OK ] && { unload_ftramp; fail "load with $what succeeded"; }
  [ "$err" = "$want" ] || fail "load with $what failed with $err, want $want"
  dmesg | grep -q "$line" || fail "kernel log lacks '$line': $(dmesg | grep ftramp: | tail -2)"
  is_loaded ftramp && fail "module left loaded"
  [ ! -e "$FTRAMP_DIR" ] || fail "tracefs directory left behind"
}

# Both failures print ftramp errors, on purpose: declared to run_tests.sh.
{ echo 'ftramp: cannot resolve kernel symbol ftramp_test_missing_symbol$'
  echo 'ftramp: text_poke_copy is not reached by a direct jmp '; } > "$RESULTS/ftramp_load_failure.expected-log"
failed_load "a missing symbol" ENOENT \
  "ftramp: cannot resolve kernel symbol ftramp_test_missing_symbol" force_missing_symbol=1
# (make check builds with the test knobs; without them unbind_symbol does not exist.)
failed_load "binding 2 left unbound" ENOEXEC \
  "ftramp: text_poke_copy is not reached by a direct jmp" unbind_symbol=2

load_ftramp || fail "normal load after the failed one failed"
unload_ftramp || fail "rmmod failed"
exit $KSFT_PASS
