#!/bin/bash
# Runs inside the VM for `make run`: load ftramp, show its tracefs files, unload.
set -eu
. "$(dirname "$0")/../selftests/lib.sh"
mountpoint -q "$TRACEFS" || mount -t tracefs none "$TRACEFS"
dmesg -C

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "kernel $(uname -r), $(nproc) CPUs; loading ftramp.ko"
load_ftramp
step "ls -l $FTRAMP_DIR"
ls -l "$FTRAMP_DIR"
for f in "$FTRAMP_DIR"/*; do
  step "cat $f"
  cat "$f"
done
step "unloading"
unload_ftramp
[ ! -e "$FTRAMP_DIR" ] && echo "$FTRAMP_DIR removed"
step "kernel log"
dmesg
