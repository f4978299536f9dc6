// SPDX-License-Identifier: GPL-2.0
/*
 * Direct branches to the kernel functions ftramp needs that are not exported.
 *
 * Each function is a static call of ftramp.ko, bound once at load to the
 * address kallsyms gave, with static_call_update() (exported). ftramp reaches
 * it through the wrappers below: a direct call of the static call, whose
 * trampoline (and, with inline static calls, whose call site) the kernel has
 * rewritten into a direct `jmp`/`call` to the function. So there is no
 * indirect branch to any of them:
 *  - IBT: the function may have had its ENDBR sealed by objtool; a direct
 *    branch does not need one;
 *  - kCFI/FineIBT: only indirect calls check a type hash;
 *  - call depth tracking: the kernel's own __static_call_transform() emits
 *    calls to the function's call thunk (callthunks_translate_call_dest()).
 * resolve() in rust/resolve/symbols.rs proves it at load: every trampoline
 * decodes as a direct `jmp` to exactly the address kallsyms gave (see
 * Documentation/design.rst, "Hardened kernels").
 */
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/execmem.h>
#include <linux/ftrace.h>
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/set_memory.h>
#include <linux/stacktrace.h>
#include <linux/static_call.h>
#include <linux/tracefs.h>
#include <linux/version.h>
#include <asm/text-patching.h>

#include "helpers.h"

/* static in 6.12 (a plain `t` symbol in kallsyms), global in 7.3: same prototype. */
struct btf *btf_get_module_btf(const struct module *module);

/* 6.16 renamed the all-CPU serialisation of text_poke (smp_text_poke_* family). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
#define FTRAMP_TEXT_POKE_SYNC smp_text_poke_sync_each_cpu
#else
#define FTRAMP_TEXT_POKE_SYNC text_poke_sync
#endif

/*
 * 6.17 gave x86 a ROX cache for executable memory: execmem_alloc() hands out ROX
 * pages there; execmem_alloc_rw() gives RW ones the caller seals with
 * set_memory_rox(), as ftrace's own trampolines (alloc_tramp()) do.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define FTRAMP_EXECMEM_ALLOC execmem_alloc_rw
#else
#define FTRAMP_EXECMEM_ALLOC execmem_alloc
#endif

/*
 * X(static call, kernel function): the functions bound at load, in the order
 * ftramp_bound_name() reports them. kallsyms_lookup_name comes first: every
 * other one is looked up through it.
 */
#define FTRAMP_BOUND(X)							\
	X(kallsyms_lookup_name, kallsyms_lookup_name)			\
	X(text_poke_copy, text_poke_copy)				\
	X(text_poke_sync, FTRAMP_TEXT_POKE_SYNC)			\
	X(execmem_alloc, FTRAMP_EXECMEM_ALLOC)			\
	X(execmem_free, execmem_free)					\
	X(set_memory_rox, set_memory_rox)				\
	X(tracefs_create_dir, tracefs_create_dir)			\
	X(tracefs_create_file, tracefs_create_file)			\
	X(tracefs_remove, tracefs_remove)				\
	X(ftrace_location, ftrace_location)				\
	X(within_kprobe_blacklist, within_kprobe_blacklist)		\
	X(module_text_address, __module_text_address)			\
	X(stack_trace_save_regs, stack_trace_save_regs)			\
	X(kallsyms_on_each_symbol, kallsyms_on_each_symbol)		\
	X(module_kallsyms_on_each_symbol, module_kallsyms_on_each_symbol)

/*
 * Optional: the BTF accessors of the function model (rust/btf). A kernel
 * without BPF has none of them; it loads all the same, and return hooks are
 * refused there (ftramp_btf_bound()).
 */
#define FTRAMP_BOUND_BTF(X)						\
	X(bpf_get_btf_vmlinux, bpf_get_btf_vmlinux)			\
	X(btf_get_module_btf, btf_get_module_btf)			\
	X(btf_put, btf_put)						\
	X(btf_nr_types, btf_nr_types)					\
	X(btf_base_btf, btf_base_btf)					\
	X(btf_type_by_id, btf_type_by_id)				\
	X(btf_name_by_offset, btf_name_by_offset)

/*
 * Optional: the BPF symbol table, where ftramp enters its trampoline region so
 * that unwinders and kallsyms know it as kernel text (is_bpf_text_address()),
 * as BPF's own trampolines are. Without it stack traces stop at a trampoline.
 */
#define FTRAMP_BOUND_KSYM(X)						\
	X(bpf_ksym_add, bpf_ksym_add)					\
	X(bpf_ksym_del, bpf_ksym_del)

#define FTRAMP_ALL(X) FTRAMP_BOUND(X) FTRAMP_BOUND_BTF(X) FTRAMP_BOUND_KSYM(X)

#define FTRAMP_DEFINE(sc, fn) DEFINE_STATIC_CALL_NULL(ftramp_sc_##sc, fn);
FTRAMP_ALL(FTRAMP_DEFINE)

enum {
#define FTRAMP_ENUM(sc, fn) FTRAMP_B_##sc,
	FTRAMP_ALL(FTRAMP_ENUM)
	FTRAMP_B_COUNT
};

/* The required bindings come first: this many. */
#define FTRAMP_ONE(sc, fn) + 1
enum { FTRAMP_B_REQUIRED = 0 FTRAMP_BOUND(FTRAMP_ONE) };
enum { FTRAMP_B_BTF_END = FTRAMP_B_REQUIRED FTRAMP_BOUND_BTF(FTRAMP_ONE) };

static const char *const ftramp_bound_names[] = {
#define FTRAMP_NAME(sc, fn) __stringify(fn),
	FTRAMP_ALL(FTRAMP_NAME)
};

/* What each static call was bound to (0: not yet). */
static unsigned long ftramp_bound_addr[FTRAMP_B_COUNT];

unsigned int ftramp_bound_count(void)
{
	return FTRAMP_B_COUNT;
}

bool ftramp_bound_optional(unsigned int i)
{
	return i >= FTRAMP_B_REQUIRED;
}

bool ftramp_btf_bound(void)
{
	unsigned int i;

	for (i = FTRAMP_B_REQUIRED; i < FTRAMP_B_BTF_END; i++)
		if (!ftramp_bound_addr[i])
			return false;
	return true;
}

static bool ftramp_ksym_bound(void)
{
	return ftramp_bound_addr[FTRAMP_B_bpf_ksym_add] && ftramp_bound_addr[FTRAMP_B_bpf_ksym_del];
}

/* The trampoline region as one BPF symbol; `added` while it is in the table. */
static struct bpf_ksym ftramp_ksym;
static bool ftramp_ksym_added;

bool ftramp_pool_ksym_add(unsigned long start, unsigned long len)
{
	if (!ftramp_ksym_bound())
		return false;
	ftramp_ksym.start = start;
	ftramp_ksym.end = start + len;
	strscpy(ftramp_ksym.name, "ftramp_trampolines", sizeof(ftramp_ksym.name));
	INIT_LIST_HEAD_RCU(&ftramp_ksym.lnode);
	static_call(ftramp_sc_bpf_ksym_add)(&ftramp_ksym);
	ftramp_ksym_added = true;
	return true;
}

void ftramp_pool_ksym_del(void)
{
	if (!ftramp_ksym_added)
		return;
	/* Lookups run under RCU: the caller waits for a grace period before the region goes. */
	static_call(ftramp_sc_bpf_ksym_del)(&ftramp_ksym);
	ftramp_ksym_added = false;
}

const char *ftramp_bound_name(unsigned int i)
{
	return i < FTRAMP_B_COUNT ? ftramp_bound_names[i] : NULL;
}

unsigned long ftramp_bound_address(unsigned int i)
{
	return i < FTRAMP_B_COUNT ? ftramp_bound_addr[i] : 0;
}

int ftramp_bind(unsigned int i, unsigned long addr)
{
	if (!addr)
		return -ENOENT;
	/* Test knob: record but do not bind (never kallsyms_lookup_name, which the rest need). */
	if (i && i + 1 == ftramp_test_unbind_symbol()) {
		ftramp_bound_addr[i] = addr;
		return 0;
	}
	switch (i) {
#define FTRAMP_UPDATE(sc, fn)						\
	case FTRAMP_B_##sc:						\
		static_call_update(ftramp_sc_##sc, (typeof(&fn))addr);	\
		break;
	FTRAMP_ALL(FTRAMP_UPDATE)
	default:
		return -EINVAL;
	}
	ftramp_bound_addr[i] = addr;
	return 0;
}

static const void *const ftramp_bound_tramps[] = {
#define FTRAMP_TRAMP(sc, fn) STATIC_CALL_TRAMP_ADDR(ftramp_sc_##sc),
	FTRAMP_ALL(FTRAMP_TRAMP)
};

const void *ftramp_bound_trampoline(unsigned int i)
{
	return i < FTRAMP_B_COUNT ? ftramp_bound_tramps[i] : NULL;
}

/* ---- the wrappers: one direct call each ---- */

unsigned long ftramp_call_kallsyms_lookup_name(const char *name)
{
	return static_call(ftramp_sc_kallsyms_lookup_name)(name);
}

void *ftramp_call_text_poke_copy(void *addr, const void *opcode, size_t len)
{
	return static_call(ftramp_sc_text_poke_copy)(addr, opcode, len);
}

void ftramp_call_text_poke_sync(void)
{
	static_call(ftramp_sc_text_poke_sync)();
}

void *ftramp_call_execmem_alloc(enum execmem_type type, size_t size)
{
	return static_call(ftramp_sc_execmem_alloc)(type, size);
}

void ftramp_call_execmem_free(void *ptr)
{
	static_call(ftramp_sc_execmem_free)(ptr);
}

int ftramp_call_set_memory_rox(unsigned long addr, int numpages)
{
	return static_call(ftramp_sc_set_memory_rox)(addr, numpages);
}

struct dentry *ftramp_call_tracefs_create_dir(const char *name, struct dentry *parent)
{
	return static_call(ftramp_sc_tracefs_create_dir)(name, parent);
}

struct dentry *ftramp_call_tracefs_create_file(const char *name, umode_t mode,
					       struct dentry *parent, void *data,
					       const struct file_operations *fops)
{
	return static_call(ftramp_sc_tracefs_create_file)(name, mode, parent, data, fops);
}

void ftramp_call_tracefs_remove(struct dentry *dentry)
{
	static_call(ftramp_sc_tracefs_remove)(dentry);
}

unsigned long ftramp_call_ftrace_location(unsigned long ip)
{
	return static_call(ftramp_sc_ftrace_location)(ip);
}

bool ftramp_call_within_kprobe_blacklist(unsigned long addr)
{
	return static_call(ftramp_sc_within_kprobe_blacklist)(addr);
}

struct module *ftramp_call_module_text_address(unsigned long addr)
{
	return static_call(ftramp_sc_module_text_address)(addr);
}

unsigned int ftramp_call_stack_trace_save_regs(struct pt_regs *regs, unsigned long *store,
					       unsigned int size, unsigned int skip)
{
	return static_call(ftramp_sc_stack_trace_save_regs)(regs, store, size, skip);
}

int ftramp_call_kallsyms_on_each_symbol(int (*fn)(void *, const char *, unsigned long),
					void *data)
{
	return static_call(ftramp_sc_kallsyms_on_each_symbol)(fn, data);
}

int ftramp_call_module_kallsyms_on_each_symbol(const char *modname,
					       int (*fn)(void *, const char *, unsigned long),
					       void *data)
{
	return static_call(ftramp_sc_module_kallsyms_on_each_symbol)(modname, fn, data);
}

struct btf *ftramp_call_bpf_get_btf_vmlinux(void)
{
	return static_call(ftramp_sc_bpf_get_btf_vmlinux)();
}

struct btf *ftramp_call_btf_get_module_btf(const struct module *module)
{
	return static_call(ftramp_sc_btf_get_module_btf)(module);
}

void ftramp_call_btf_put(struct btf *btf)
{
	static_call(ftramp_sc_btf_put)(btf);
}

u32 ftramp_call_btf_nr_types(const struct btf *btf)
{
	return static_call(ftramp_sc_btf_nr_types)(btf);
}

struct btf *ftramp_call_btf_base_btf(const struct btf *btf)
{
	return static_call(ftramp_sc_btf_base_btf)(btf);
}

const struct btf_type *ftramp_call_btf_type_by_id(const struct btf *btf, u32 type_id)
{
	return static_call(ftramp_sc_btf_type_by_id)(btf, type_id);
}

const char *ftramp_call_btf_name_by_offset(const struct btf *btf, u32 offset)
{
	return static_call(ftramp_sc_btf_name_by_offset)(btf, offset);
}
