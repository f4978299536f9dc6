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

passed=0 failed=0
tally() { # reads KTAP, counts top-level results
  local p f
  p=$(grep -cE '^ok ' "$1"); f=$(grep -cE '^not ok ' "$1")
  passed=$((passed + p)); failed=$((failed + f))
}

# Host unit tests of the core-only Rust: encoding, parsing, the patch round's order and
# the sites' planning (Documentation/testing.rst, "The host unit tests").
if [ -f rust/host/Cargo.toml ]; then
  say "host unit tests (cargo test)"
  # One test at a time, by name, so that a timeout can say which test hung.
  timeout 600 cargo test --manifest-path rust/host/Cargo.toml -- --test-threads=1 >"$RESULTS/unit.log" 2>&1
  urc=$?
  if [ $urc -eq 0 ]; then
    p=$(awk '/^test result:/ { s += $4 } END { print s + 0 }' "$RESULTS/unit.log")
    echo "# host unit tests: $p passed"
    passed=$((passed + p))
  else
    cat "$RESULTS/unit.log"
    if [ $urc -eq 124 ]; then
      hung=$(awk '/^test .* \.\.\. *$/ { t = $2 } END { print t }' "$RESULTS/unit.log")
      echo "not ok - host unit tests: timed out after 600 s in ${hung:-the build}"
    fi
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

# The kselftests, once per test kernel (KERNEL=6.12 or KERNEL=7.3 runs one).
# KASAN slows the guest about 2.6x: the debug flavour gets longer limits.
if [ "$FTRAMP_FLAVOUR" = debug ]; then test_limit=1800 vm_limit=7200; else test_limit=900 vm_limit=3600; fi
times=""
# CI has 90 minutes for everything, a fresh machine's setup and kernel builds included
# (about 21 minutes of it; warm, the run of Dec 7 took 66 minutes before this split). Every
# test runs on every kernel. Fault injection walks the odd fault points on the first kernel
# of a two-kernel `make check` and the even ones on the second: every point once (they are
# ftramp's own, the same Rust code on both). The first kernel (6.12, the LTS distributions
# ship) gets the long stress soaks and the 4-vCPU run, with half the load/unload and
# preemption cycles; the second (7.3) lighter soaks whose extra rounds test the same Rust
# code: a third of the cycles, two fifths of the switches and calls (still ~10^5 int3 hits
# in every context), two denylist flips. `KERNEL=6.12 make check` or `KERNEL=7.3 make check`
# runs one kernel with everything.
first_vars="FI_STRIDE=2 CYCLES=15 WINDOW_SWITCHES=500"
light_vars="FI_STRIDE=2 FI_FIRST=2 CYCLES=10 STRESS_SWITCHES=2000 STRESS_CALLS=4000000"
light_vars="$light_vars VARIANT_SWITCHES=200 VARIANT_CALLS=400000 RET_SWITCHES=200 RET_CALLS=400000"
light_vars="$light_vars SKIP_SWITCHES=200 WINDOW_SWITCHES=300 FLIPS=2"
nth=0
for k in ${KERNEL:-$FTRAMP_KERNELS}; do
  nth=$((nth + 1))
  full=1; [ -z "${KERNEL:-}" ] && [ $nth -gt 1 ] && full=0
  one=1; [ -z "${KERNEL:-}" ] && [ "$(echo $FTRAMP_KERNELS | wc -w)" -gt 1 ] && one=0
  kres=$RESULTS/$k
  mkdir -p "$kres"
  echo "# kernel $k ($FTRAMP_FLAVOUR)"
  tk=$(date +%s)
  kb=$(KERNEL=$k scripts/kernel.sh) || { echo "not ok - kernel $k: build failed"; failed=$((failed + 1)); continue; }
  tm=$(date +%s)
  KERNEL=$k scripts/module.sh "$kb" FTRAMP_TEST_KNOBS=y ||
    { echo "not ok - kernel $k: module build failed"; failed=$((failed + 1)); continue; }
  tv=$(date +%s)
  # The whole suite on a CPU whose mitigations are the heaviest TCG can show: Skylake with
  # retbleed=stuff (call depth tracking, call_depth_return_thunk, ITS); then a few tests
  # on an AMD Zen 1 model (an untraining return thunk: srso_return_thunk on 6.12,
  # retbleed_return_thunk on 7.3); then the stress tests again with 4 vCPUs.
  # name|cpu|vCPUs|command line|tests|test variables|what ftramp_hardened.sh must find (last:
  # it may hold a '|')
  stuff="retbleed=stuff spectre_v2=retpoline" stuffed="call_depth=yes thunk=call_depth_return_thunk"
  sv=""
  if [ $one = 0 ]; then sv=$first_vars; [ $full = 1 ] || sv=$light_vars; fi
  if [ -z "${FTRAMP_CPU+x}" ]; then
    runs=("suite|Skylake-Client|${FTRAMP_CPUS:-2}|$stuff|${FTRAMP_TESTS:-}|$sv|$stuffed")
  else
    runs=("suite|$FTRAMP_CPU|${FTRAMP_CPUS:-2}|${FTRAMP_APPEND:-}|${FTRAMP_TESTS:-}|$sv|")
  fi
  if [ -z "${FTRAMP_TESTS:-}" ] && [ -z "${FTRAMP_CPU+x}" ]; then
    # On EPYC what differs is the return thunk in generated code: decoded (hardened), and
    # run through both trampolines with callers in every context (ret_values).
    runs+=("epyc|EPYC|2||ftramp_status.sh ftramp_hardened.sh ftramp_ret_values.sh||call_depth=no thunk=(srso|retbleed)_return_thunk")
    # 4 vCPUs on the 2 host cores: a vCPU thread waits for the host's scheduler, so each
    # switch's all-CPU syncs take ~50 ms instead of ~4 ms; a fifth of the suite's switches
    # (still ~10^5 int3 hits in every context).
    [ $full = 1 ] && runs+=("smp4|Skylake-Client|4|$stuff|ftramp_nodrop_stress.sh ftramp_stress_variants.sh ftramp_ret_nodrop.sh|STRESS_SWITCHES=1000 STRESS_CALLS=4000000 VARIANT_SWITCHES=100 VARIANT_CALLS=400000 RET_SWITCHES=100 RET_CALLS=400000|$stuffed")
  fi
  for r in "${runs[@]}"; do
    IFS='|' read -r name cpu ncpus append tests vars expect <<< "$r"
    rres=$kres; [ "$name" = suite ] || rres=$kres/$name
    mkdir -p "$rres"
    echo "# kernel $k, run '$name': cpu ${cpu:-qemu default} x $ncpus${append:+, $append}${vars:+, $vars}"
    for attempt in 1 2; do
      say "kernel $k, run '$name': booting the test VM and running the kselftests (log: $rres/console.log)"
      FTRAMP_CPUS=$ncpus FTRAMP_CPU=$cpu FTRAMP_APPEND=$append KERNEL=$k scripts/vm.sh "$kb" "$rres" "${FTRAMP_VM_TIMEOUT:-$vm_limit}" \
        "$vars TEST_TIMEOUT=${FTRAMP_TEST_TIMEOUT:-$test_limit} FTRAMP_INSMOD_ARGS='${FTRAMP_INSMOD_ARGS:-}' FTRAMP_EXPECT='$expect' $FTRAMP_TOP/selftests/run_tests.sh $rres $tests" \
        | tee "$rres/ktap.log"
      rc=${PIPESTATUS[0]}
      # QEMU itself can abort while the guest boots: with 4 vCPUs under TCG, QEMU 10.0
      # once failed "system/physmem.c:2678: iotlb_to_section: Assertion `section_index <
      # d->map.sections_nb' failed" during PCI enumeration. That one assertion, before the
      # test runner printed anything (no "TAP version" line), is the emulator: the run is
      # booted once more, and says so. Anything else (a "qemu: fatal" a guest fault causes,
      # an abort once tests ran, a second abort) fails as any VM death does.
      qabort=$(grep -aoE 'qemu-system-[a-z0-9_]+: [^ ]*physmem\.c:[0-9]+: iotlb_to_section: Assertion .* failed' "$rres/console.log" | head -1)
      if [ $attempt = 1 ] && [ "$rc" -ne 0 ] && [ -n "$qabort" ] && ! grep -q '^TAP version' "$rres/ktap.log"; then
        echo "# kernel $k, run '$name': QEMU aborted before any test ran (${qabort}); booting again"
        mv "$rres/console.log" "$rres/console-qemu-abort.log"
        continue
      fi
      break
    done
    tally "$rres/ktap.log"
    planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$rres/ktap.log" | head -1)
    ran=$(grep -cE '^(not )?ok ' "$rres/ktap.log")
    if [ "$rc" -ne 0 ] || [ -z "$planned" ] || [ "$ran" -ne "$planned" ]; then
      say "kernel $k, run '$name': the VM run did not complete (rc=$rc, ${ran}/${planned:-?} tests); console tail:"
      tail -40 "$rres/console.log" >&2
      # Every test that did not run counts as failed (a panic must not hide the rest),
      # and the one that was running when the guest died or hung is named.
      missing=$(( ${planned:-0} > ran ? ${planned:-0} - ran : 1 ))
      last=$(awk '/^# selftests: ftramp: / { t = $4 } /^(not )?ok / { t = "" } END { print t }' "$rres/ktap.log")
      echo "not ok - kernel $k, run '$name': the VM run did not complete${last:+ (in $last)}, $missing tests not run or not finished"
      failed=$((failed + missing))
    fi
  done
  te=$(date +%s)
  times="$times; $k: kernel $((tm - tk))s, modules $((tv - tm))s, VM $((te - tv))s"
done
say "times: total $(( $(date +%s) - t0 ))s${times}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
