/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers of ftramp.ko: the static inlines, macros and module parameters the
 * Rust side cannot reach (6.12's module! has no parameters). One file per topic:
 *
 *   bind.c      direct branches to unexported kernel functions (static calls)
 *   params.c    module parameters, test knobs (fault injection), small facts
 *   record.c    the in-flight patch record and its seqcount
 *   text.c      all-CPU sync, the int3 frame, preemption counter for generated code
 *   dispatch.c  what the inline recursion guard needs from C
 *   module.c    module references, module text checks, the forgotten-ops WARN
 *   trace.c     the trace instance, per-CPU counters, file mode bits
 */
#ifndef FTRAMP_HELPERS_H
#define FTRAMP_HELPERS_H

#include <linux/preempt.h>
#include <linux/types.h>

struct file;
struct ftramp_ops;
struct ftramp_regs;
struct module;
struct pt_regs;
struct trace_array;

/* ---- bind.c: direct branches to the unexported kernel functions ---- */
unsigned int ftramp_bound_count(void);
const char *ftramp_bound_name(unsigned int i);	/* the kernel's name for it */
/* Binding @i may be missing (the kernel still loads ftramp): the BTF ones. */
bool ftramp_bound_optional(unsigned int i);
/* Whether every BTF accessor is bound (the kernel has BPF). */
bool ftramp_btf_bound(void);
unsigned long ftramp_bound_address(unsigned int i);
/* Binds static call @i to @addr (process context, at load). */
int ftramp_bind(unsigned int i, unsigned long addr);
/* The static call trampoline of binding @i (its first 5 bytes: what callers branch to). */
const void *ftramp_bound_trampoline(unsigned int i);
unsigned long ftramp_call_kallsyms_lookup_name(const char *name);
void *ftramp_call_text_poke_copy(void *addr, const void *opcode, size_t len);
void ftramp_call_text_poke_sync(void);
enum execmem_type;
void *ftramp_call_execmem_alloc(enum execmem_type type, size_t size);
void ftramp_call_execmem_free(void *ptr);
int ftramp_call_set_memory_rox(unsigned long addr, int numpages);
struct dentry;
struct file_operations;
struct dentry *ftramp_call_tracefs_create_dir(const char *name, struct dentry *parent);
struct dentry *ftramp_call_tracefs_create_file(const char *name, umode_t mode,
					       struct dentry *parent, void *data,
					       const struct file_operations *fops);
void ftramp_call_tracefs_remove(struct dentry *dentry);
unsigned long ftramp_call_ftrace_location(unsigned long ip);
bool ftramp_call_within_kprobe_blacklist(unsigned long addr);
struct module *ftramp_call_module_text_address(unsigned long addr);
unsigned int ftramp_call_stack_trace_save_regs(struct pt_regs *regs, unsigned long *store,
					       unsigned int size, unsigned int skip);
int ftramp_call_kallsyms_on_each_symbol(int (*fn)(void *, const char *, unsigned long),
					void *data);
int ftramp_call_module_kallsyms_on_each_symbol(const char *modname,
					       int (*fn)(void *, const char *, unsigned long),
					       void *data);
/* The BTF accessors (optional: call only if ftramp_btf_bound()). */
struct btf;
struct btf_type;
struct btf *ftramp_call_bpf_get_btf_vmlinux(void);
struct btf *ftramp_call_btf_get_module_btf(const struct module *module);
void ftramp_call_btf_put(struct btf *btf);
u32 ftramp_call_btf_nr_types(const struct btf *btf);
struct btf *ftramp_call_btf_base_btf(const struct btf *btf);
const struct btf_type *ftramp_call_btf_type_by_id(const struct btf *btf, u32 type_id);
const char *ftramp_call_btf_name_by_offset(const struct btf *btf, u32 offset);

/* ---- params.c ---- */
bool ftramp_param_force_missing_symbol(void);
bool ftramp_param_plant_warn(void);
bool ftramp_param_skip_mode(void);
unsigned int ftramp_param_max_sites(void);
unsigned int ftramp_param_fused_max(void);
bool ftramp_test_knobs(void);
/* Fault injection (test knobs only): true if this fault point must fail. */
bool ftramp_fault_point(void);
/* Fault points passed and failures injected so far. */
unsigned long ftramp_fault_points(void);
unsigned long ftramp_fault_hits(void);
/* Test knob: make the next unregister_ftrace_direct() of a site report failure. */
bool ftramp_fault_detach(void);
/* Test knob (a deliberate bug): skip the wait for retired code. */
bool ftramp_mutant_no_wait(void);
/* Test knob (a deliberate bug): trampolines do not disable preemption. */
bool ftramp_mutant_preemptible(void);
bool ftramp_mutant_frame(void);
/* Test knob: binding N (1-based) is left unbound (the direct-branch check must fail). */
unsigned int ftramp_test_unbind_symbol(void);
/* Test knob (a deliberate bug): return through __x86_return_thunk, no call depth accounting. */
bool ftramp_mutant_rethunk(void);
/* Test knob: the list iterator's delay before it loads the list (list_delay_ns). */
void ftramp_test_list_delay(void);
/* The running kernel's release string (init_utsname() is a static inline). */
const char *ftramp_kernel_release(void);
/* WARN_ON(1) from C, so the planted fault looks exactly like a real one. */
void ftramp_plant_warn(void);
/* Whether @addr is in ftramp.ko itself. */
bool ftramp_is_own_text(unsigned long addr);

/* ---- record.c: the in-flight patch record, sorted by site address ---- */
struct ftramp_patch_entry {
	unsigned long site;	/* address of the 5-byte dispatch call */
	unsigned long target;	/* what the call is being switched to */
};
struct ftramp_patch_record {
	struct rcu_head rcu;
	unsigned int nr;
	struct ftramp_patch_entry entries[];
};
struct ftramp_patch_record *ftramp_record_alloc(unsigned int nr);
void ftramp_record_free(struct ftramp_patch_record *rec);
void ftramp_record_free_rcu(struct ftramp_patch_record *rec);
/* Publishes @rec (or NULL) as the in-flight record inside a seqcount write section. */
void ftramp_record_publish(struct ftramp_patch_record *rec);
/* Seqcount reader side: never spins (the handler may interrupt the writer). */
unsigned int ftramp_record_seq_begin(void);
struct ftramp_patch_record *ftramp_record_current(void);
bool ftramp_record_seq_retry(unsigned int seq);

/* ---- text.c ---- */
bool ftramp_regs_user_mode(struct pt_regs *regs);
/* int3_emulate_call(): push the return address into the entry gap, jump to @func. */
void ftramp_int3_emulate_call(struct pt_regs *regs, unsigned long func);
/* What the int3 interrupted: 0 task, 1 softirq, 2 hardirq, 3 NMI. */
int ftramp_interrupted_context(void);
/* %gs-relative address of this CPU's preemption counter (generated code's inc/dec). */
unsigned long ftramp_preempt_count_addr(void);
/* %gs-relative address of this CPU's `current` (the recursion guard's inline read). */
unsigned long ftramp_current_task_addr(void);
/* Whether the kernel's preempt_count RMWs are 64-bit (decq): see encode::Width. */
bool ftramp_preempt_count_wide(void);
/* What preempt_enable_notrace() calls (the static call's trampoline with PREEMPT_DYNAMIC,
 * preempt_schedule_notrace_thunk otherwise), or 0 without CONFIG_PREEMPTION. */
unsigned long ftramp_preempt_schedule_addr(void);
/* Reads the boot-time return thunk choice (after the bindings). */
int ftramp_return_thunk_init(void);
/* The return thunk to `jmp` to from generated code at @at, or 0 for `ret; int3`. */
unsigned long ftramp_return_thunk(unsigned long at);
/* %gs-relative address of the call depth counter, 0 unless call depth tracking is on. */
unsigned long ftramp_call_depth_addr(void);

/* ---- dispatch.c: what the recursion guard (dispatch/guard.rs) needs from C ---- */
/*
 * Where the preemption count keeps the context (7.x moved it: a hardirq-disable count took
 * bits 16-23, NMI has 4 bits at 28 with HAS_SEPARATE_PREEMPT_RESCHED_BITS): an enum, so that
 * bindgen emits the kernel's values as constants for dispatch/recursion.rs.
 */
enum ftramp_preempt_layout {
	FTRAMP_SOFTIRQ_OFFSET = SOFTIRQ_OFFSET,
	FTRAMP_HARDIRQ_MASK = HARDIRQ_MASK,
	FTRAMP_NMI_MASK = NMI_MASK,
};
/* offsetof(struct task_struct, trace_recursion), as the kernel's compiler lays it out. */
unsigned long ftramp_trace_recursion_offset(void);
/* A refused entry: ftrace's recursion record (CONFIG_FTRACE_RECORD_RECURSION). */
void ftramp_recursion_refused(unsigned long ip, unsigned long parent_ip);

/* ---- module.c ---- */
/*
 * Pins the module whose text holds @ip while a site hooks it: NULL for the core
 * kernel, ERR_PTR(-ENOENT) if that module is going away, ERR_PTR(-EPERM) for
 * __init text (freed after init: the site would outlive its function).
 */
struct module *ftramp_module_get(unsigned long ip);
void ftramp_module_put(struct module *mod);
bool ftramp_within_module(unsigned long addr, struct module *mod);
/* WARN naming @mod: it is going away with @ops still registered with ftramp. */
void ftramp_warn_forgotten_ops(struct module *mod, const struct ftramp_ops *ops);
/* Notes that a site on @mod's text was detached because @mod went away. */
void ftramp_warn_going_site(struct module *mod, unsigned long ip);

/* ---- trace.c ---- */
unsigned long *ftramp_counter_alloc(void);		/* per-CPU */
void ftramp_counter_free(unsigned long *c);
void ftramp_counter_inc(unsigned long *c);
unsigned long ftramp_counter_sum(unsigned long *c);
/* instances/ftramp, created on first use; NULL on failure. */
struct trace_array *ftramp_instance_get(void);
void ftramp_instance_destroy(struct trace_array *tr);
/* The ftramp:call event (helpers/events.h), if enabled anywhere. */
void ftramp_trace_hit(unsigned long ip, unsigned long parent_ip);
/* The ftramp:stack event: the hooked function's callers, unwound from its entry. */
void ftramp_trace_stack(unsigned long ip, struct ftramp_regs *regs);
void ftramp_trace_ret(unsigned long ip, unsigned long parent_ip, unsigned long retval,
		      unsigned long long ns);
unsigned long long ftramp_now_ns(void);
bool ftramp_file_reading(struct file *file);
bool ftramp_file_writing(struct file *file);
bool ftramp_file_trunc(struct file *file);

/* bind.c: the trampoline region in the BPF symbol table (unwinders, kallsyms) */
bool ftramp_pool_ksym_add(unsigned long start, unsigned long len);
void ftramp_pool_ksym_del(void);

/* ret.c: return trampolines' reference on ftramp and their drain work */
void ftramp_self_get(void);
void ftramp_self_put(void);
void ftramp_drain_kick(void);
void ftramp_drain_stop(void);
bool ftramp_drain_tick(void);	/* Rust: frees drained ones; true if any is left */
bool ftramp_param_skip_ret(void);
int ftramp_mutant_ret(void);	/* test knob: 1 no generation, 2 no self reference, 3 no drain */

#endif /* FTRAMP_HELPERS_H */
