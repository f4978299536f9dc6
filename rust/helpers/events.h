/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ftramp's trace events, written by the `trace` and `stacktrace` callbacks:
 *
 *   ftramp:call   one hooked call: func (name), ip, caller, cpu
 *   ftramp:stack  the same plus the caller's stack, unwound from the function's entry
 *   ftramp:ret    one return of a hooked call: func, ip, caller, cpu, the return value
 *                 and how long the call took (ns, from its entry to its return)
 *
 * Ordinary trace events: `trace-cmd record -e ftramp`, perf, and filters on any field
 * (`func == "vfs_read"`, `ip.function == vfs_read`, `cpu == 1`). ftramp enables them in
 * its own instance (instances/ftramp) when a hook first needs it. ftramp:stack prints its
 * frames through a helper of this module, so user-space tools show them as raw fields.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM ftramp

#if !defined(_FTRAMP_EVENTS_H) || defined(TRACE_HEADER_MULTI_READ)
#define _FTRAMP_EVENTS_H

#include <linux/tracepoint.h>

TRACE_EVENT(call,
	TP_PROTO(unsigned long ip, unsigned long parent_ip, const char *func),
	TP_ARGS(ip, parent_ip, func),
	TP_STRUCT__entry(
		__string(func, func)
		__field(unsigned long, ip)
		__field(unsigned long, caller)
		__field(unsigned int, cpu)
	),
	TP_fast_assign(
		__assign_str(func);
		__entry->ip = ip;
		__entry->caller = parent_ip;
		__entry->cpu = raw_smp_processor_id();
	),
	TP_printk("%s <- %pS cpu=%u", __get_str(func), (void *)__entry->caller, __entry->cpu)
);

struct trace_seq;
/* The frames one per line, as the kernel's own stack traces read (" => caller"). */
const char *ftramp_print_stack(struct trace_seq *p, const unsigned long *stack, unsigned int n);

TRACE_EVENT(stack,
	TP_PROTO(unsigned long ip, unsigned long parent_ip, const char *func,
		 const unsigned long *stack, unsigned int depth),
	TP_ARGS(ip, parent_ip, func, stack, depth),
	TP_STRUCT__entry(
		__string(func, func)
		__field(unsigned long, ip)
		__field(unsigned long, caller)
		__field(unsigned int, cpu)
		__field(unsigned int, depth)
		__dynamic_array(unsigned long, stack, depth)
	),
	TP_fast_assign(
		__assign_str(func);
		__entry->ip = ip;
		__entry->caller = parent_ip;
		__entry->cpu = raw_smp_processor_id();
		__entry->depth = depth;
		memcpy(__get_dynamic_array(stack), stack, depth * sizeof(*stack));
	),
	TP_printk("%s <- %pS cpu=%u, stack (%u frames):%s", __get_str(func),
		  (void *)__entry->caller, __entry->cpu, __entry->depth,
		  ftramp_print_stack(p, __get_dynamic_array(stack), __entry->depth))
);

TRACE_EVENT(ret,
	TP_PROTO(unsigned long ip, unsigned long parent_ip, const char *func,
		 unsigned long retval, u64 ns),
	TP_ARGS(ip, parent_ip, func, retval, ns),
	TP_STRUCT__entry(
		__string(func, func)
		__field(unsigned long, ip)
		__field(unsigned long, caller)
		__field(unsigned long, retval)
		__field(u64, ns)
		__field(unsigned int, cpu)
	),
	TP_fast_assign(
		__assign_str(func);
		__entry->ip = ip;
		__entry->caller = parent_ip;
		__entry->retval = retval;
		__entry->ns = ns;
		__entry->cpu = raw_smp_processor_id();
	),
	TP_printk("%s -> %pS = %#lx (%llu ns) cpu=%u", __get_str(func), (void *)__entry->caller,
		  __entry->retval, __entry->ns, __entry->cpu)
);

#endif /* _FTRAMP_EVENTS_H */

/* This part must be outside the include guard. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE events
#include <trace/define_trace.h>
