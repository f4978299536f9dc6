/* SPDX-License-Identifier: GPL-2.0 */
/* C helpers of ftramp.ko: static inlines and module parameters Rust cannot reach. */
#ifndef FTRAMP_HELPERS_H
#define FTRAMP_HELPERS_H

#include <linux/types.h>

struct file_operations;
struct pt_regs;

/* Module parameters (test-only knobs, off by default). */
bool ftramp_param_force_missing_symbol(void);
bool ftramp_param_plant_warn(void);

/* THIS_MODULE of ftramp.ko, for file_operations.owner. */
struct module *ftramp_this_module(void);

/* The running kernel's release string (init_utsname() is a static inline). */
const char *ftramp_kernel_release(void);

/* WARN_ON(1) from C, so the planted fault looks exactly like a real one. */
void ftramp_plant_warn(void);

#endif

/* ---- the engine's static-inline needs (see helpers.c) ---- */

struct ftramp_ops;

/* A site's ops array, published with RCU and freed with kfree_rcu(). */
struct ftramp_list {
	struct rcu_head rcu;
	unsigned int nr;
	struct ftramp_ops *ops[];
};
struct ftramp_list *ftramp_list_alloc(unsigned int nr);
void ftramp_list_free_rcu(struct ftramp_list *list);

/* The in-flight patch record: sorted by site address. */
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
void ftramp_record_free_rcu(struct ftramp_patch_record *rec);

/* Publishes @rec (or NULL) as the in-flight record inside a seqcount write section. */
void ftramp_record_publish(struct ftramp_patch_record *rec);
/* Seqcount reader side: never spins (the handler may interrupt the writer). */
unsigned int ftramp_record_seq_begin(void);
struct ftramp_patch_record *ftramp_record_current(void);
bool ftramp_record_seq_retry(unsigned int seq);

/* on_each_cpu(sync_core) and wait: every CPU has serialised after this returns. */
void ftramp_sync_all_cpus(void);

bool ftramp_regs_user_mode(struct pt_regs *regs);
unsigned long ftramp_regs_ip(struct pt_regs *regs);
/* int3_emulate_call(): push the return address into the entry gap, jump to @func. */
void ftramp_int3_emulate_call(struct pt_regs *regs, unsigned long func);
/* Test-only skip mode: resume after the 5-byte call as the 2019 handler did. */
void ftramp_int3_skip_call(struct pt_regs *regs);

/* What the int3 interrupted: 0 task, 1 softirq, 2 hardirq, 3 NMI. */
int ftramp_interrupted_context(void);

/* ftrace's recursion guard (disables preemption); <0 means recursion. */
int ftramp_recursion_trylock(unsigned long ip, unsigned long parent_ip);
void ftramp_recursion_unlock(int bit);
bool ftramp_rcu_is_watching(void);

bool ftramp_param_skip_mode(void);
bool ftramp_test_knobs(void);
/* Whether @addr is in ftramp.ko's own code. */
bool ftramp_is_own_text(unsigned long addr);
unsigned int ftramp_param_max_sites(void);

/* ---- built-in callbacks and the tracefs files ---- */
struct trace_array;
struct file;
struct ftramp_regs;

unsigned long *ftramp_counter_alloc(void);		/* per-CPU */
void ftramp_counter_free(unsigned long *c);
void ftramp_counter_inc(unsigned long *c);
unsigned long ftramp_counter_sum(unsigned long *c);

/* instances/ftramp, created on first use; NULL on failure. */
struct trace_array *ftramp_instance_get(void);
void ftramp_instance_destroy(struct trace_array *tr);
void ftramp_trace_hit(struct trace_array *tr, unsigned long ip, unsigned long parent_ip);
/* The hooked function's callers, unwound from its entry (@save_regs: the resolved,
 * unexported stack_trace_save_regs()). */
void ftramp_trace_stack(struct trace_array *tr, unsigned long ip, struct ftramp_regs *regs,
			unsigned int (*save_regs)(struct pt_regs *, unsigned long *,
						  unsigned int, unsigned int));

unsigned long long ftramp_now_ns(void);

bool ftramp_file_reading(struct file *file);
bool ftramp_file_writing(struct file *file);
bool ftramp_file_trunc(struct file *file);

/*
 * Pins the module whose text holds @ip while a site hooks it (NULL for the core
 * kernel, ERR_PTR(-ENOENT) if that module is going away). @text_address is the
 * resolved __module_text_address() (not exported).
 */
struct module *ftramp_module_get(unsigned long ip,
				 struct module *(*text_address)(unsigned long));
void ftramp_module_put(struct module *mod);
