// SPDX-License-Identifier: GPL-2.0
/*
 * ftrace's recursion guard at the list level (TRACE_LIST_START), as ftrace's own
 * list function and assist wrapper take it (kernel/trace/ftrace.c). It disables
 * preemption while held.
 */
#include <linux/ftrace.h>
#include <linux/trace_recursion.h>

#include "helpers.h"

int ftramp_list_trylock(unsigned long ip, unsigned long parent_ip)
{
	return trace_test_and_set_recursion(ip, parent_ip, TRACE_LIST_START);
}

void ftramp_list_unlock(int bit)
{
	trace_clear_recursion(bit);
}
