#!/bin/bash
# Runs inside the VM for `make run`: hook real kernel functions through ftramp's tracefs
# files, run a workload, switch a live trampoline between direct and list while the
# workload runs, then unhook and unload.
set -eu
. "$(dirname "$0")/../selftests/lib.sh"
mountpoint -q "$TRACEFS" || mount -t tracefs none "$TRACEFS"
dmesg -C
F=$FTRAMP_DIR
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { echo "\$ $*"; eval "$@" | sed 's/^/  /'; }
# Reads with shell builtins (no fork: fast under TCG): each is an openat + reads.
workload() { local x; for _ in $(seq 1 "$1"); do read -r x < /proc/version; read -r x < /etc/hostname; done; }

step "kernel $(uname -r), $(nproc) CPUs: loading ftramp.ko"
load_ftramp
show "grep -E '^(version|direct_calls|trampolines)' $F/status"

step "hook vfs_read and do_sys_openat2 with count, and vfs_read with trace"
show "cat $F/available_callbacks"
echo 'vfs_read count' > $F/hooks
echo 'do_sys_openat2 count' >> $F/hooks
echo 'vfs_read trace' >> $F/hooks
show "cat $F/hooks"
show "cat $F/enabled_functions"
echo "  (vfs_read has 2 callbacks: its trampoline calls the list iterator;"
echo "   do_sys_openat2 has 1: its trampoline calls the callback's stub directly)"

step "a small workload: 200 x (read /proc/version; read /etc/hostname)"
workload 200
show "grep '^hook' $F/stats"
show "grep -v '^#' $TRACEFS/instances/ftramp/trace | head -4"

step "live switches while the workload runs: do_sys_openat2 direct <-> list, 20 times"
workload 100000 & w=$!
for _ in $(seq 1 20); do
  echo 'do_sys_openat2 trace' >> $F/hooks
  echo '!do_sys_openat2 trace' >> $F/hooks
done
kill $w; wait $w 2>/dev/null || true
show "grep -E '^(rounds|syncs|int3_emulated)|^site' $F/stats"
echo "  (each switch is one round of 3 all-CPU syncs; int3_emulated counts the calls that"
echo "   hit a site while it was being patched: the handler made each of them anyway)"

step "a bad command goes to error_log"
echo 'vfs_read cnt' >> $F/hooks 2>/dev/null || true
show "cat $F/error_log"

step "unhook everything (echo > hooks) and unload"
echo > $F/hooks
show "cat $F/enabled_functions; echo '  (no sites)'"
unload_ftramp
[ ! -e "$F" ] && echo "  $F and instances/ftramp removed"
show "dmesg | grep ftramp"
