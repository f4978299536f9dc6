#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Hostile input to the hooks file (the table is in ftramp_hostile_input.py): each bad
# write gets its documented errno and an error_log entry, and changes nothing.
. "$(dirname "$0")/lib.sh"

load_ftramp && load_target || fail "loading the modules failed"
trap unload_all EXIT
# A function ftrace cannot trace (lockdep is built without fentry) that is not in the
# kprobe blacklist.
notrace=$(awk '$3 ~ /^lockdep_/ && ($2 == "T" || $2 == "t") { print $3 }' /proc/kallsyms |
  while read -r f; do grep -qx "$f" $TRACEFS/available_filter_functions || { echo "$f"; break; }; done)
diag "notrace function used: $notrace"
/usr/bin/python3 "$SELFTESTS_DIR/ftramp_hostile_input.py" "$notrace"
