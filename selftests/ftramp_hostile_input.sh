#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Hostile input to ftramp's tracefs files and misuse of its C API (the cases are in
# ftramp_hostile_input.py): each bad write gets its documented errno and error_log entry
# (message, command, caret) and changes nothing.
. "$(dirname "$0")/lib.sh"

load_all || fail "loading the modules failed"
trap unload_all EXIT
# A function ftrace cannot trace (lockdep is built without fentry) that is not in the
# kprobe blacklist (ftramp would refuse it with EPERM first). None found means the
# notrace case would test nothing: a failure, not a skip.
blacklist=/sys/kernel/debug/kprobes/blacklist
notrace=$(awk '$3 ~ /^lockdep_/ && ($2 == "T" || $2 == "t") { print $3 }' /proc/kallsyms |
  while read -r f; do
    grep -qx "$f" $TRACEFS/available_filter_functions && continue
    [ -r $blacklist ] && awk -v f="$f" '$2 == f { e = 1 } END { exit !e }' $blacklist && continue
    echo "$f"
    break
  done)
[ -n "$notrace" ] || fail "no lockdep_* function outside available_filter_functions and the kprobe blacklist"
diag "notrace function used: $notrace"
/usr/bin/python3 "$SELFTESTS_DIR/ftramp_hostile_input.py" "$notrace"
