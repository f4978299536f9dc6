#!/usr/bin/env bash
# `make check`: set up, build the kernel (once) and the modules, run the host unit
# tests and the kselftests in the VM; KTAP on stdout, last line "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/env.sh"
cd "$FTRAMP_TOP"

say() { printf '[check] %s\n' "$*" >&2; }
RESULTS=${FTRAMP_RESULTS:-$FTRAMP_CACHE/results/check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
say "results and logs: $RESULTS"

t0=$(date +%s)
scripts/setup.sh >"$RESULTS/setup.log" 2>&1 || { cat "$RESULTS/setup.log" >&2; say "setup failed"; exit 1; }
kb=$(scripts/kernel.sh) || { say "kernel build failed"; exit 1; }
t1=$(date +%s)
scripts/module.sh "$kb" FTRAMP_TEST_KNOBS=y || { say "module build failed"; exit 1; }
t2=$(date +%s)

passed=0 failed=0
tally() { # reads KTAP, counts top-level results
  local p f
  p=$(grep -cE '^ok ' "$1"); f=$(grep -cE '^not ok ' "$1")
  passed=$((passed + p)); failed=$((failed + f))
}

# Host unit tests of the core-only Rust (parsing, encoding, state machines).
if [ -f rust/host/Cargo.toml ]; then
  say "host unit tests (cargo test)"
  if cargo test --quiet --manifest-path rust/host/Cargo.toml >"$RESULTS/unit.log" 2>&1; then
    p=$(awk '/^test result:/ { s += $4 } END { print s + 0 }' "$RESULTS/unit.log")
    echo "# host unit tests: $p passed"
    passed=$((passed + p))
  else
    cat "$RESULTS/unit.log"
    f=$(awk '/^test result:/ { s += $6 } END { print s + 0 }' "$RESULTS/unit.log")
    failed=$((failed + (f > 0 ? f : 1)))
  fi
fi

# Model check of the switching protocol (spin, exhaustive for 2 CPUs).
if [ -x selftests/model/run.sh ]; then
  say "model check of the switch protocol (selftests/model, spin)"
  selftests/model/run.sh > "$RESULTS/model.log" 2>&1
  mrc=$?
  grep -E '^(not )?ok ' "$RESULTS/model.log" | sed 's/^/# model: /'
  tally "$RESULTS/model.log"
  if [ $mrc -ne 0 ] && ! grep -qE '^not ok ' "$RESULTS/model.log"; then
    cat "$RESULTS/model.log"; failed=$((failed + 1))
  fi
fi

say "booting the test VM and running the kselftests (log: $RESULTS/console.log)"
# KASAN slows the guest about 2.6x: the debug flavour gets longer limits.
if [ "$FTRAMP_FLAVOUR" = debug ]; then test_limit=1800 vm_limit=7200; else test_limit=900 vm_limit=3600; fi
scripts/vm.sh "$kb" "$RESULTS" "${FTRAMP_VM_TIMEOUT:-$vm_limit}" \
  "TEST_TIMEOUT=${FTRAMP_TEST_TIMEOUT:-$test_limit} FTRAMP_INSMOD_ARGS='${FTRAMP_INSMOD_ARGS:-}' $FTRAMP_TOP/selftests/run_tests.sh $RESULTS ${FTRAMP_TESTS:-}" \
  | tee "$RESULTS/ktap.log"
rc=${PIPESTATUS[0]}
t3=$(date +%s)
tally "$RESULTS/ktap.log"
planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$RESULTS/ktap.log" | head -1)
ran=$(grep -cE '^(not )?ok ' "$RESULTS/ktap.log")
if [ "$rc" -ne 0 ] || [ -z "$planned" ] || [ "$ran" -ne "$planned" ]; then
  say "the VM run did not complete (rc=$rc, ${ran}/${planned:-?} tests); console tail:"
  tail -40 "$RESULTS/console.log" >&2
  failed=$((failed + 1))
fi
say "times: setup+kernel $((t1 - t0))s, modules $((t2 - t1))s, VM $((t3 - t2))s, total $((t3 - t0))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
