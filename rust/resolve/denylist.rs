// SPDX-License-Identifier: GPL-2.0

//! Functions ftramp refuses to hook although ftrace could trace them: what its int3 handler
//! runs through (a hooked function there would trap inside the trap handler) and what a
//! switch itself calls. Kernel functions in the kprobe blacklist (the exception and debug
//! paths) and ftramp's own code are refused too, by address (see `functions.rs`).
//! `core`-only, unit-tested on the host.

use crate::glob;

/// Patterns of refused function names.
pub const DENIED: &[&[u8]] = &[
    // The int3 path: entry, kprobes, the die chain, RCU read side it takes.
    b"exc_int3",
    b"do_int3*",
    b"poke_int3_handler",
    b"kprobe_int3_handler",
    b"notify_die",
    b"*notifier_call_chain*",
    // What the die chain and kprobes call on the way to ftramp's notifier, by config: a
    // hooked one recurses in the int3 handler until the NMI count overflows ("kernel BUG at
    // kernel/entry/common.c"). ftramp_denylist.sh records the path in the NMI context of
    // ftramp's own int3s; these were recorded on the hardened 6.12 and 7.3 test kernels,
    // except the ones marked "(source)": read from do_int3() and the die notifiers for
    // configs the test kernels do not have.
    b"get_kprobe",                   // kprobe_int3_handler's lookup
    b"*_exceptions_notify",          // the die notifiers before ftramp's (kprobes, hw_breakpoint)
    b"kgdb_ll_trap",                 // (source) KGDB_LOW_LEVEL_TRAP: do_int3() calls it first
    b"__kgdb_notify",                // (source) KGDB
    b"kgdb_notify",                  // (source) KGDB
    b"arch_uprobe_exception_notify", // (source) UPROBES
    b"func_ptr_is_kernel_text",      // DEBUG_NOTIFIERS: checks every notifier it calls
    b"core_kernel_text",
    b"is_kernel_text",
    b"kernel_text_address",
    b"__kernel_text_address",
    b"is_module_text_address",
    b"__module_text_address",
    b"__module_address",
    b"mod_find",
    b"in_gate_area_no_mm",
    b"rcu_lockdep_current_cpu_online", // PROVE_RCU_LIST in get_kprobe's list walk
    b"__traceiter_notifier_run",       // the notifier_run tracepoint with probes
    b"debug_lockdep_rcu_enabled",
    b"__rcu_read_lock",
    b"__rcu_read_unlock",
    b"rcu_is_watching",
    b"rcu_read_lock*",
    b"rcu_read_unlock*",
    // What a switch calls while sites hold int3.
    b"text_poke*",
    b"smp_text_poke*",
    b"on_each_cpu*",
    b"smp_call_function*",
    b"*flush_smp_call_function_queue",
    b"generic_smp_call_function*",
    b"sync_core*",
    // ftrace's and kallsyms' own machinery.
    b"ftrace_*",
    b"__ftrace_*",
    b"kallsyms_*",
    b"preempt_count_add",
    b"preempt_count_sub",
];

/// Whether `name` may not be hooked.
pub fn is_denied(name: &[u8]) -> bool {
    DENIED.iter().any(|p| glob::matches(p, name))
}

/// Functions that never return (objtool's `noreturns.h` and DWARF's `DW_AT_noreturn` on the
/// test kernels), and kernel threads' main loops, which return only when their thread stops
/// (`kthread` itself ends in `kthread_exit`): a return hook there would keep its call
/// inside the return trampoline forever, and ftramp could never be unloaded. Refused for
/// return ops only (as BPF refuses fexit on them); entry hooks are fine. Not exhaustive: BTF
/// does not say which functions return.
pub const NO_RETURN: &[&[u8]] = &[
    b"__ia32_sys_exit",
    b"__ia32_sys_exit_group",
    b"__module_put_and_kthread_exit",
    b"__x64_sys_exit",
    b"__x64_sys_exit_group",
    b"abort",
    b"arch_cpu_idle_dead",
    b"cpu_startup_entry",
    b"devtmpfs_work_loop",
    b"do_exit",
    b"do_group_exit",
    b"do_idle",
    b"do_task_dead",
    b"hlt_play_dead",
    b"kthread_complete_and_exit",
    b"kthread_exit",
    b"io_sq_thread",
    b"io_wq_worker",
    b"kthread",
    b"kthread_worker_fn",
    b"kthreadd",
    b"machine_real_restart",
    b"make_task_dead",
    b"mwait_play_dead",
    b"native_play_dead",
    b"nmi_panic_self_stop",
    b"panic",
    b"panic_smp_self_stop",
    b"rcu_gp_kthread",
    b"rcu_tasks_kthread",
    b"rescuer_thread",
    b"rest_init",
    b"rust_helper_BUG",
    b"start_kernel",
    b"stop_this_cpu",
    b"smpboot_thread_fn",
    b"usercopy_abort",
    b"vpanic",
    b"worker_thread",
];

/// Whether a return hook on `name` would never see its calls return.
pub fn never_returns(name: &[u8]) -> bool {
    NO_RETURN.contains(&name)
}
