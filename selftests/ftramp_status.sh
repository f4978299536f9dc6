#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The status file: root-only, versions, direct-call support, and every resolved
# symbol at the address /proc/kallsyms gives for it (the exact address: a kprobe's may
# be past an ENDBR).
. "$(dirname "$0")/lib.sh"

load_ftramp || fail "insmod failed"
trap unload_all EXIT
S=$FTRAMP_DIR/status
cat "$S" | sed 's/^/  /'

[ "$(stat -c %a "$S")" = 400 ] || fail "status mode is $(stat -c %a "$S"), want 400"
[ "$(stat -c %a "$FTRAMP_DIR")" = 755 ] || diag "dir mode $(stat -c %a "$FTRAMP_DIR")"
if command -v setpriv > /dev/null; then
  setpriv --reuid=65534 --regid=65534 --clear-groups cat "$S" > /dev/null 2>&1 &&
    fail "an unprivileged user could read status"
fi
echo x 2> /dev/null > "$S" && fail "status accepted a write"

status_field version | grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+' || fail "no version line"
[ "$(status_field kernel)" = "$(uname -r)" ] || fail "kernel line '$(status_field kernel)' != uname -r '$(uname -r)'"
[ "$(status_field direct_calls)" = yes ] || fail "direct calls not reported available"
# make check builds the test knobs in: tests that need them must never be skipped.
[ "$(status_field test_knobs)" = yes ] || [ "${FTRAMP_ALLOW_SKIP:-0}" = 1 ] ||
  fail "status says test_knobs: $(status_field test_knobs) (make check builds with FTRAMP_TEST_KNOBS=y)"

# Every bound symbol (their kernel names differ per version: bind.c), and the ones no
# kernel may lack.
for sym in kallsyms_lookup_name text_poke_copy execmem_free set_memory_rox tracefs_remove; do
  awk -v s="$sym" '$1 == "symbol:" && $2 == s { f = 1 } END { exit !f }' "$S" || fail "symbol $sym not listed"
done
n=0
while read -r _ sym addr; do
  [ "$addr" != 0x0 ] || fail "symbol $sym unresolved"
  ref=$(awk -v s="$sym" '$3 == s && ($2 == "T" || $2 == "t") { print $1; exit }' /proc/kallsyms)
  [ -n "$ref" ] || fail "$sym not in /proc/kallsyms"
  [ $((addr)) -eq $((16#$ref)) ] || fail "$sym at $addr, /proc/kallsyms says $ref"
  n=$((n + 1))
done < <(awk '$1 == "symbol:"' "$S")
[ "$n" -ge 10 ] || fail "only $n symbols listed"
diag "all $n symbols resolved and match /proc/kallsyms"
exit $KSFT_PASS
