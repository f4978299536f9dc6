#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A load that cannot resolve a symbol fails with ENOENT, names the symbol in the
# kernel log, and leaves nothing behind; the next normal load works. So does a load
# whose direct-branch self-check fails (test knob unbind_symbol: one resolved function's
# static call is left unbound): ENOEXEC, naming the function.
. "$(dirname "$0")/lib.sh"

err=$(insmod_errno "$FTRAMP_KO" force_missing_symbol=1)
diag "finit_module: $err"
[ "$err" = OK ] && { unload_ftramp; fail "load with a missing symbol succeeded"; }
[ "$err" = ENOENT ] || fail "load failed with $err, want ENOENT"
dmesg | grep -q "ftramp: cannot resolve kernel symbol ftramp_test_missing_symbol" ||
  fail "kernel log does not name the missing symbol"
is_loaded ftramp && fail "module left loaded"
[ ! -e "$FTRAMP_DIR" ] || fail "tracefs directory left behind"

# (make check builds with the test knobs; without them unbind_symbol does not exist.)
err=$(insmod_errno "$FTRAMP_KO" unbind_symbol=2)
diag "finit_module with binding 2 left unbound: $err"
[ "$err" = OK ] && { unload_ftramp; fail "load with an unbound static call passed the self-check"; }
[ "$err" = ENOEXEC ] || fail "load failed with $err, want ENOEXEC"
dmesg | grep -q "ftramp: text_poke_copy is not reached by a direct jmp" ||
  fail "kernel log does not name the unbound function: $(dmesg | grep ftramp: | tail -2)"
is_loaded ftramp && fail "module left loaded"
[ ! -e "$FTRAMP_DIR" ] || fail "tracefs directory left behind"

load_ftramp || fail "normal load after the failed one failed"
unload_ftramp || fail "rmmod failed"
exit $KSFT_PASS
