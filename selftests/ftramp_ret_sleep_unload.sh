#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Sleeping callers across detach and unload (issue 12): SLEEPERS kthreads (4) asleep
# inside the return-hooked ftramp_target_sleep (depth 3). Detaching the return ops
# returns promptly (its own grace periods, not the sleepers' wake) although the calls are
# still inside; the trampoline drains
# (ret_draining); with ftramp_test_ops gone (so nothing but ftramp's own reference
# holds it) rmmod ftramp is refused (EAGAIN, "in use") while they are inside; woken,
# every sleeper returns to its caller with the right value; then rmmod ftramp succeeds
# (retried for a few seconds: draining is polled about every 100 ms), and the kernel
# holds nothing of the function.
. "$(dirname "$0")/lib.sh"

NT=${SLEEPERS:-4}
D=3
load_all || fail "loading the modules failed"
trap 'echo wake > "$TARGET_DIR/run" 2>/dev/null; unload_all' EXIT
sleepers_are() { [ "$(target_count sleepers)" = "$1" ]; }
# delete_module(2) with O_NONBLOCK, as rmmod does; prints OK or the errno name.
rmmod_errno() {
  /usr/bin/python3 - "$1" <<'PY'
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.syscall(176, sys.argv[1].encode(), os.O_NONBLOCK)  # __NR_delete_module (x86_64)
print("OK" if rc == 0 else errno.errorcode.get(ctypes.get_errno(), "?"))
PY
}

ctl mode 8 count && ctl filter 8 ftramp_target_sleep && ctl register 8 || fail "attach return ops 8"
echo "sleep $NT $D" > "$TARGET_DIR/run" || fail "cannot start $NT sleepers"
wait_until 60 sleepers_are "$NT" || fail "only $(target_count sleepers) of $NT sleepers reached the bottom"
t0=$(date +%s%N)
ctl unregister 8 || fail "unregister ops 8"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# It did not wait for the sleepers (they sleep until woken below): its own grace periods only,
# which TCG under load can stretch to seconds; 10 s is far from "until they wake".
sleepers_are "$NT" || fail "the sleepers left before they were woken"
[ $ms -lt 10000 ] || fail "unregister took ${ms} ms with $NT sleepers inside"
diag "unregister returned in ${ms} ms with $((NT * (D + 1))) calls inside"
stat_to draining ret_draining
[ "$draining" -ge 1 ] || fail "ret_draining $draining with calls inside a detached return trampoline"
stat_to inflight ret_inflight
[ "$inflight" -ge $((NT * (D + 1))) ] || fail "ret_inflight $inflight, want >= $((NT * (D + 1)))"
rmmod ftramp_test_ops || fail "rmmod ftramp_test_ops"
[ -z "$(ls /sys/module/ftramp/holders)" ] || fail "ftramp still has holders: $(ls /sys/module/ftramp/holders)"
e=$(rmmod_errno ftramp)
[ "$e" = EAGAIN ] || fail "rmmod ftramp with sleepers inside: $e, want EAGAIN"
is_loaded ftramp || fail "ftramp unloaded with sleepers inside its return trampoline"
diag "rmmod ftramp refused with the sleepers inside ($e); ret_draining $draining, ret_inflight $inflight"
echo wake > "$TARGET_DIR/run" || fail "wake failed"
[ "$(target_count sleep_done)" = "$NT" ] || fail "$(target_count sleep_done) of $NT sleepers returned"
[ "$(target_count sleep_wrong)" = 0 ] || fail "$(target_count sleep_wrong) sleepers got a wrong result"
rmmod_ok() { [ "$(rmmod_errno ftramp)" = OK ]; }
wait_until 5 rmmod_ok || fail "rmmod ftramp still refused 5 s after every call returned"
diag "woken: all $NT returned right; rmmod ftramp then succeeded"
assert_detached ftramp_target_sleep
exit $KSFT_PASS
