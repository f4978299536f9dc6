// SPDX-License-Identifier: GPL-2.0

//! Kernel functions ftramp needs that are not exported to modules.
//!
//! `kallsyms_lookup_name` is found once through a kprobe that is registered disabled (never
//! armed): registering it resolves `kp.addr`. Every other symbol is then looked up through it,
//! all at load, so a kernel that lacks one fails the load with `-ENOENT` and a message naming
//! it instead of failing later. The BTF accessors are optional: a kernel without BPF loads
//! ftramp without them (noted in the log), and the function model answers "no BTF" there
//! ([`btf_bound`]).
//!
//! None of them is ever called through a pointer: each is a static call of ftramp.ko
//! (`helpers/bind.c`), bound here with `static_call_update()`, so the kernel rewrites its
//! trampoline into a direct `jmp` to the function. On an IBT kernel these functions may have
//! sealed ENDBRs and kCFI hashes no Rust type could match; a direct branch needs neither.
//! [`resolve`] ends with a self-check that decodes every binding, and `status` reports it.
//!
//! The wrappers re-exported below are the bindgen declarations of `bind.c`'s
//! `ftramp_call_*`: calling one is `unsafe` because [`resolve`] must have succeeded first and
//! the caller must meet the kernel function's own requirements.

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::{ffi, prelude::*, str::CStr};

use crate::{arch::encode, sys};

pub(crate) use sys::{
    ftramp_call_execmem_alloc as execmem_alloc, ftramp_call_execmem_free as execmem_free,
    ftramp_call_ftrace_location as ftrace_location,
    ftramp_call_kallsyms_lookup_name as kallsyms_lookup_name,
    ftramp_call_kallsyms_on_each_symbol as kallsyms_on_each_symbol,
    ftramp_call_module_kallsyms_on_each_symbol as module_kallsyms_on_each_symbol,
    ftramp_call_set_memory_rox as set_memory_rox, ftramp_call_text_poke_copy as text_poke_copy,
    ftramp_call_text_poke_sync as text_poke_sync,
    ftramp_call_tracefs_create_dir as tracefs_create_dir,
    ftramp_call_tracefs_create_file as tracefs_create_file,
    ftramp_call_tracefs_remove as tracefs_remove,
    ftramp_call_within_kprobe_blacklist as within_kprobe_blacklist,
};

pub(crate) use sys::{
    ftramp_call_bpf_get_btf_vmlinux as bpf_get_btf_vmlinux,
    ftramp_call_btf_base_btf as btf_base_btf, ftramp_call_btf_get_module_btf as btf_get_module_btf,
    ftramp_call_btf_name_by_offset as btf_name_by_offset, ftramp_call_btf_nr_types as btf_nr_types,
    ftramp_call_btf_put as btf_put, ftramp_call_btf_type_by_id as btf_type_by_id,
};

/// How many bindings the load-time self-check decoded as direct branches.
static CHECKED: AtomicU32 = AtomicU32::new(0);

/// A name that no kernel defines: resolving it is how a test forces a failed load.
const MISSING_FOR_TEST: &CStr = kernel::c_str!("ftramp_test_missing_symbol");

/// Finds `kallsyms_lookup_name` by letting kprobes resolve it (possibly past its ENDBR).
fn find_kallsyms_lookup_name() -> Result<usize> {
    let mut kp = sys::kprobe {
        symbol_name: kernel::c_str!("kallsyms_lookup_name").as_char_ptr(),
        flags: sys::KPROBE_FLAG_DISABLED,
        ..Default::default()
    };
    // SAFETY: `kp` is a valid, initialised kprobe that lives until it is unregistered below.
    // It is disabled, so it is never armed.
    kernel::error::to_result(unsafe { sys::register_kprobe(&mut kp) }).inspect_err(|e| {
        pr_err!(
            "cannot find kallsyms_lookup_name through a kprobe ({:?})\n",
            e
        );
    })?;
    let addr = kp.addr as usize;
    // SAFETY: `kp` was registered above.
    unsafe { sys::unregister_kprobe(&mut kp) };
    if addr == 0 {
        pr_err!("cannot resolve kernel symbol kallsyms_lookup_name\n");
        return Err(ENOENT);
    }
    Ok(addr)
}

/// The kernel's name of binding `i`.
fn name(i: u32) -> Option<&'static CStr> {
    // SAFETY: no preconditions.
    let p = unsafe { sys::ftramp_bound_name(i) };
    // SAFETY: a non-NULL result is a string literal of `bind.c`.
    (!p.is_null()).then(|| unsafe { CStr::from_char_ptr(p) })
}

/// Looks `name` up through the bound `kallsyms_lookup_name`.
fn lookup(name: &CStr) -> usize {
    // SAFETY: binding 0 is bound; `name` is NUL-terminated; module init is process context.
    unsafe { kallsyms_lookup_name(name.as_char_ptr()) as usize }
}

/// Binds `i` to `addr`.
fn bind(i: u32, addr: usize) -> Result {
    // SAFETY: process context (module init); `addr` is what kallsyms gave for binding `i`.
    kernel::error::to_result(unsafe { sys::ftramp_bind(i, addr as ffi::c_ulong) })
}

/// Resolves and binds every symbol. Names each one it cannot find, then fails with `ENOENT`;
/// fails with `ENOEXEC` if a binding does not decode as a direct branch to its address.
///
/// With `force_missing` it also resolves a symbol that does not exist (load-failure test).
pub(crate) fn resolve(force_missing: bool) -> Result {
    bind(0, find_kallsyms_lookup_name()?)?;
    // A kprobe's address may be past an ENDBR: rebind to the symbol's exact address.
    let exact = name(0).map_or(0, lookup);
    if exact == 0 {
        pr_err!("kallsyms_lookup_name cannot find itself\n");
        return Err(ENOENT);
    }
    bind(0, exact)?;
    let mut missing = false;
    // SAFETY: no preconditions.
    let count = unsafe { sys::ftramp_bound_count() };
    for i in 1..count {
        let Some(n) = name(i) else { break };
        match lookup(n) {
            // SAFETY: no preconditions.
            0 if unsafe { sys::ftramp_bound_optional(i) } => {
                pr_info!("no kernel symbol {}: return hooks are refused (BTF) or stack traces stop at trampolines (BPF symbols)\n", n);
            }
            0 => {
                pr_err!("cannot resolve kernel symbol {}\n", n);
                missing = true;
            }
            addr => bind(i, addr)?,
        }
    }
    if force_missing && lookup(MISSING_FOR_TEST) == 0 {
        pr_err!("cannot resolve kernel symbol {}\n", MISSING_FOR_TEST);
        missing = true;
    }
    if missing {
        return Err(ENOENT);
    }
    CHECKED.store(check_direct(count)?, Ordering::Relaxed);
    // SAFETY: the bindings are made (it looks up a data symbol).
    kernel::error::to_result(unsafe { sys::ftramp_return_thunk_init() })
}

/// Whether binding `i` is an optional one that was not found (never called, not checked).
fn absent(i: u32) -> bool {
    // SAFETY: no preconditions.
    unsafe { sys::ftramp_bound_optional(i) && sys::ftramp_bound_address(i) == 0 }
}

/// Whether the BTF accessors are bound: every `btf_*` wrapper may be called.
pub(crate) fn btf_bound() -> bool {
    // SAFETY: no preconditions.
    unsafe { sys::ftramp_btf_bound() }
}

/// The load-time self-check: every binding's static call trampoline decodes (with the
/// host-tested [`encode::branch_target`]) as a direct `jmp` to exactly the address kallsyms
/// gave. Returns how many were checked; `ENOEXEC` names the first that is not.
fn check_direct(count: u32) -> Result<u32> {
    let mut checked = 0;
    for i in (0..count).filter(|&i| !absent(i)) {
        checked += 1;
        // SAFETY: no preconditions.
        let (tramp, want) = unsafe {
            (
                sys::ftramp_bound_trampoline(i).cast::<[u8; encode::REL32_INSN_LEN]>(),
                sys::ftramp_bound_address(i) as usize,
            )
        };
        if tramp.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: a static call trampoline is at least a 5-byte branch in ftramp's text.
        let insn = unsafe { tramp.read() };
        let dest = encode::branch_target(tramp as usize, &insn);
        if insn[0] != encode::JMP_OPCODE || dest != Some(want) || want == 0 {
            let mut b = [0u8; 8];
            b[..insn.len()].copy_from_slice(&insn);
            if let Some(n) = name(i) {
                pr_err!(
                    "{} is not reached by a direct jmp (trampoline bytes {:010x} LE, bound to {:#x})\n",
                    n,
                    u64::from_le_bytes(b),
                    want
                );
            }
            return Err(ENOEXEC);
        }
    }
    Ok(checked)
}

/// `(name, address)` of every bound symbol.
pub(crate) fn resolved() -> impl Iterator<Item = (&'static CStr, usize)> {
    // SAFETY: no preconditions.
    let count = unsafe { sys::ftramp_bound_count() };
    (0..count).filter(|&i| !absent(i)).filter_map(|i| {
        // SAFETY: no preconditions.
        name(i).map(|n| (n, unsafe { sys::ftramp_bound_address(i) } as usize))
    })
}

/// `(checked, total)`: bindings the load-time self-check decoded as direct branches, of those
/// bound (the optional ones a kernel lacks are neither).
pub(crate) fn direct_checked() -> (u32, u32) {
    (CHECKED.load(Ordering::Relaxed), resolved().count() as u32)
}
