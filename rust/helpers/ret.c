// SPDX-License-Identifier: GPL-2.0
/*
 * What the return trampolines need from C: a reference on ftramp itself while
 * one exists (rmmod is refused until every call inside has returned), and the
 * delayed work that frees drained ones.
 */
#include <linux/module.h>
#include <linux/workqueue.h>

#include "helpers.h"

void ftramp_self_get(void)
{
	__module_get(THIS_MODULE);
}

void ftramp_self_put(void)
{
	module_put(THIS_MODULE);
}

#define DRAIN_PERIOD_MS 100

static void drain_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(drain_work, drain_fn);

static void drain_fn(struct work_struct *work)
{
	/* Re-armed while any return trampoline is still draining. */
	if (ftramp_drain_tick())
		schedule_delayed_work(&drain_work, msecs_to_jiffies(DRAIN_PERIOD_MS));
}

void ftramp_drain_kick(void)
{
	schedule_delayed_work(&drain_work, msecs_to_jiffies(DRAIN_PERIOD_MS));
}

void ftramp_drain_stop(void)
{
	cancel_delayed_work_sync(&drain_work);
}
