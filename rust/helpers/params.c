// SPDX-License-Identifier: GPL-2.0
/* ftramp's module parameters (6.12's module! has none) and test knobs. */
#include <linux/atomic.h>
#include <linux/bug.h>
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/utsname.h>

#include "helpers.h"

static bool force_missing_symbol;
module_param(force_missing_symbol, bool, 0444);
MODULE_PARM_DESC(force_missing_symbol,
		 "Test only: also resolve a symbol that does not exist, so the load fails");

static bool plant_warn;
module_param(plant_warn, bool, 0444);
MODULE_PARM_DESC(plant_warn, "Test only: WARN once at load (checks the test harness)");

static unsigned int max_sites = 2048;
module_param(max_sites, uint, 0444);
MODULE_PARM_DESC(max_sites, "Trampoline slots (sites, ops stubs, two per return trampoline), 256 bytes each");

/*
 * A function with 2..fused_max entry ops calls them through a fused stub: direct calls,
 * the code rebuilt on every change of its ops. Past that, or at 0, the list iterator. A
 * fused call is cheaper than the iterator's at any count, so the bound is about what each
 * change rebuilds: 16 ops take at most 3 slots (768 bytes, with call depth tracking).
 */
static unsigned int fused_max = 16;
module_param(fused_max, uint, 0644);
MODULE_PARM_DESC(fused_max,
		 "Most entry ops a function calls through a fused stub of direct calls (default and at most 16); more, or 0, use the list iterator");

#ifdef FTRAMP_TEST_KNOBS
static bool skip_mode;
module_param(skip_mode, bool, 0644);
MODULE_PARM_DESC(skip_mode,
		 "Test only: the int3 handler skips the call (the 2019 bug) instead of emulating it");

static int mutant_ret;
module_param(mutant_ret, int, 0644);
MODULE_PARM_DESC(mutant_ret,
		 "Test only, deliberate bugs of return hooks: 1 returns are delivered by slot, without the generation check; 2 return trampolines hold no reference on ftramp; 3 detached return trampolines are freed without waiting for their calls");

static bool skip_ret;
module_param(skip_ret, bool, 0644);
MODULE_PARM_DESC(skip_ret,
		 "Test only: the int3 handler skips the call at return dispatch sites only");

/*
 * Fault injection: writing N makes the N-th fault point from then on fail (once).
 * A fault point stands before every engine step that can fail: each allocation,
 * each ftrace call. The stats file shows the points passed and the failures injected.
 */
static atomic_t fail_nth = ATOMIC_INIT(0);
static atomic_long_t fault_points = ATOMIC_LONG_INIT(0);
static atomic_long_t fault_hits = ATOMIC_LONG_INIT(0);
module_param_named(fail_nth, fail_nth.counter, int, 0644);
MODULE_PARM_DESC(fail_nth, "Test only: fail the N-th engine fault point from now (0: off)");

static bool mutant_no_wait;
module_param(mutant_no_wait, bool, 0644);
MODULE_PARM_DESC(mutant_no_wait,
		 "Test only, unsafe: retired code and ops are freed without any wait (shows that the preemption test can fail)");

static bool mutant_preemptible;
module_param(mutant_preemptible, bool, 0644);
MODULE_PARM_DESC(mutant_preemptible,
		 "Test only, unsafe: trampolines built from now on leave preemption enabled around the dispatch");

static bool mutant_frame;
module_param(mutant_frame, bool, 0644);
MODULE_PARM_DESC(mutant_frame,
		 "Test only, unsafe: lean trampolines built from now on save one argument register fewer than their frame says");

static unsigned int unbind_symbol;
module_param(unbind_symbol, uint, 0444);
MODULE_PARM_DESC(unbind_symbol,
		 "Test only: binding N (1-based, N >= 2) is recorded but its static call is not updated, so the load-time direct-branch check must refuse the load");

static bool mutant_rethunk;
module_param(mutant_rethunk, bool, 0444);
MODULE_PARM_DESC(mutant_rethunk,
		 "Test only, a deliberate bug: generated code returns through the boot-time placeholder __x86_return_thunk and does no call depth accounting");

static unsigned int list_delay_ns;
module_param(list_delay_ns, uint, 0644);
MODULE_PARM_DESC(list_delay_ns,
		 "Test only: the list iterator waits this long before loading the list (widens the window of a switch)");

static bool fail_detach;
module_param(fail_detach, bool, 0644);
MODULE_PARM_DESC(fail_detach,
		 "Test only: the next site detach reports that ftrace refused it (the site is kept)");
#endif

bool ftramp_param_force_missing_symbol(void)
{
	return force_missing_symbol;
}

bool ftramp_param_plant_warn(void)
{
	return plant_warn;
}

unsigned int ftramp_param_max_sites(void)
{
	return clamp(max_sites, 16U, 65536U);
}

unsigned int ftramp_param_fused_max(void)
{
	return min(READ_ONCE(fused_max), 16U);
}

bool ftramp_param_skip_mode(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return READ_ONCE(skip_mode);
#else
	return false;
#endif
}

int ftramp_mutant_ret(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return READ_ONCE(mutant_ret);
#else
	return 0;
#endif
}

bool ftramp_param_skip_ret(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return READ_ONCE(skip_ret);
#else
	return false;
#endif
}

bool ftramp_test_knobs(void)
{
	return IS_ENABLED(FTRAMP_TEST_KNOBS);
}

bool ftramp_fault_point(void)
{
#ifdef FTRAMP_TEST_KNOBS
	int n;

	atomic_long_inc(&fault_points);
	n = atomic_read(&fail_nth);
	while (n > 0) {
		if (atomic_try_cmpxchg(&fail_nth, &n, n - 1)) {
			if (n == 1) {
				atomic_long_inc(&fault_hits);
				return true;
			}
			break;
		}
	}
#endif
	return false;
}

unsigned long ftramp_fault_points(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return atomic_long_read(&fault_points);
#else
	return 0;
#endif
}

unsigned long ftramp_fault_hits(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return atomic_long_read(&fault_hits);
#else
	return 0;
#endif
}

bool ftramp_fault_detach(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return xchg(&fail_detach, false);
#else
	return false;
#endif
}

bool ftramp_mutant_no_wait(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return READ_ONCE(mutant_no_wait);
#else
	return false;
#endif
}

bool ftramp_mutant_preemptible(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return READ_ONCE(mutant_preemptible);
#else
	return false;
#endif
}

bool ftramp_mutant_frame(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return READ_ONCE(mutant_frame);
#else
	return false;
#endif
}

unsigned int ftramp_test_unbind_symbol(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return unbind_symbol;
#else
	return 0;
#endif
}

bool ftramp_mutant_rethunk(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return READ_ONCE(mutant_rethunk);
#else
	return false;
#endif
}

void ftramp_test_list_delay(void)
{
#ifdef FTRAMP_TEST_KNOBS
	unsigned int ns = READ_ONCE(list_delay_ns);

	if (ns)
		ndelay(ns);
#endif
}

const char *ftramp_kernel_release(void)
{
	return init_utsname()->release;
}

void ftramp_plant_warn(void)
{
	WARN_ON(1);
}

bool ftramp_is_own_text(unsigned long addr)
{
	return within_module(addr, THIS_MODULE);
}
