// SPDX-License-Identifier: GPL-2.0

//! Kernel functions ftramp needs that are not exported to modules.
//!
//! `kallsyms_lookup_name` is found once through a kprobe that is registered disabled (never
//! armed): registering it resolves `kp.addr`. Every other symbol is then looked up through it,
//! all at load, so a kernel that lacks one fails the load with `-ENOENT` and a message naming
//! it instead of failing later. Only the typed wrappers below ever call the addresses.

use core::sync::atomic::{AtomicUsize, Ordering};

use kernel::{ffi, prelude::*, str::CStr};

use crate::sys;

/// Declares the resolved symbols: their names, one address slot each, and a typed `unsafe fn`
/// per symbol that calls through the slot.
macro_rules! kernel_symbols {
    ($(
        $(#[$meta:meta])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;
    )*) => {
        // Every symbol is resolved at load even before its user exists, so a kernel without it
        // fails early; hence `dead_code` is allowed.
        #[allow(non_camel_case_types, dead_code)]
        #[derive(Clone, Copy)]
        enum Sym { $($name,)* Count }

        /// Names of the resolved symbols, in `Sym` order.
        pub(crate) const NAMES: [&CStr; Sym::Count as usize] =
            [$(kernel::c_str!(stringify!($name)),)*];

        /// Resolved addresses, in `Sym` order; 0 until [`resolve`] succeeded.
        static ADDRS: [AtomicUsize; Sym::Count as usize] =
            [const { AtomicUsize::new(0) }; Sym::Count as usize];

        $(
            $(#[$meta])*
            ///
            /// # Safety
            ///
            /// [`resolve`] must have succeeded, and the caller must meet the C function's own
            /// requirements.
            #[allow(clippy::too_many_arguments, dead_code)]
            pub(crate) unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                let addr = ADDRS[Sym::$name as usize].load(Ordering::Acquire);
                let f: unsafe extern "C" fn($($ty),*) $(-> $ret)? =
                    // SAFETY: by the function's safety requirements `resolve` succeeded, so
                    // `addr` is the address of the kernel function of this name, whose C
                    // prototype is the one declared here.
                    unsafe { core::mem::transmute::<usize, _>(addr) };
                // SAFETY: the caller meets the C function's requirements.
                unsafe { f($($arg),*) }
            }
        )*

        /// The resolved symbols as typed function pointers, for C helpers that take one (the
        /// only way to pass them on: no look-up by name, no `transmute` outside this file).
        pub(crate) mod ptr {
            #[allow(unused_imports)]
            use super::*;
            $(
                /// The resolved function (`None` before [`resolve`](super::resolve) succeeded).
                #[allow(dead_code)]
                pub(crate) fn $name() -> Option<unsafe extern "C" fn($($ty),*) $(-> $ret)?> {
                    let addr = ADDRS[Sym::$name as usize].load(Ordering::Acquire);
                    // SAFETY: `addr` is 0 or the address of the kernel function of this name,
                    // whose C prototype is the one declared here; `Option<fn>` is nullable.
                    unsafe {
                        core::mem::transmute::<usize, Option<unsafe extern "C" fn($($ty),*) $(-> $ret)?>>(addr)
                    }
                }
            )*
        }
    };
}

kernel_symbols! {
    /// `text_poke_copy()`: write code through the kernel's text-patching path.
    fn text_poke_copy(addr: *mut ffi::c_void, opcode: *const ffi::c_void, len: usize)
        -> *mut ffi::c_void;
    /// `text_poke_sync()`: every CPU serialises (`sync_core()`) before it returns.
    fn text_poke_sync();
    /// `execmem_alloc()`: executable memory near the kernel (within rel32 of it).
    fn execmem_alloc(ty: sys::execmem_type, size: usize) -> *mut ffi::c_void;
    /// `execmem_free()`.
    fn execmem_free(ptr: *mut ffi::c_void);
    /// `set_memory_rox()`: execmem on 6.12 x86 hands out RW+NX pages.
    fn set_memory_rox(addr: usize, numpages: ffi::c_int) -> ffi::c_int;
    /// `tracefs_create_dir()` (not exported on 6.12).
    fn tracefs_create_dir(name: *const ffi::c_char, parent: *mut sys::dentry) -> *mut sys::dentry;
    /// `tracefs_create_file()` (not exported on 6.12).
    fn tracefs_create_file(
        name: *const ffi::c_char,
        mode: sys::umode_t,
        parent: *mut sys::dentry,
        data: *mut ffi::c_void,
        fops: *const sys::file_operations,
    ) -> *mut sys::dentry;
    /// `tracefs_remove()`: removes a dentry and everything below it.
    fn tracefs_remove(dentry: *mut sys::dentry);
    /// `ftrace_location()`: the fentry site of a function, 0 if ftrace cannot trace it.
    fn ftrace_location(ip: usize) -> usize;
    /// `kallsyms_lookup_name()` itself, for name lookups after load.
    fn kallsyms_lookup_name(name: *const ffi::c_char) -> ffi::c_ulong;
    /// `within_kprobe_blacklist()`: exception and debug paths ftramp must not hook.
    fn within_kprobe_blacklist(addr: usize) -> bool;
    /// `__module_text_address()`: the module whose text holds an address (call with
    /// preemption disabled: through `ftramp_module_get`).
    fn __module_text_address(addr: ffi::c_ulong) -> *mut sys::module;
    /// `stack_trace_save_regs()`: the stacktrace callback unwinds from the hooked function.
    fn stack_trace_save_regs(
        regs: *mut sys::pt_regs,
        store: *mut ffi::c_ulong,
        size: ffi::c_uint,
        skip: ffi::c_uint,
    ) -> ffi::c_uint;
    /// `kallsyms_on_each_symbol()`: walks vmlinux's symbols (glob filters).
    fn kallsyms_on_each_symbol(
        f: Option<KallsymsFn>,
        data: *mut ffi::c_void,
    ) -> ffi::c_int;
    /// `module_kallsyms_on_each_symbol()`: walks loaded modules' symbols.
    fn module_kallsyms_on_each_symbol(
        modname: *const ffi::c_char,
        f: Option<KallsymsFn>,
        data: *mut ffi::c_void,
    ) -> ffi::c_int;
}

/// Callback of the kallsyms walkers: `(data, name, address) -> stop`.
pub(crate) type KallsymsFn =
    unsafe extern "C" fn(*mut ffi::c_void, *const ffi::c_char, ffi::c_ulong) -> ffi::c_int;

/// A name that no kernel defines: resolving it is how a test forces a failed load.
const MISSING_FOR_TEST: &CStr = kernel::c_str!("ftramp_test_missing_symbol");

type LookupFn = unsafe extern "C" fn(*const ffi::c_char) -> ffi::c_ulong;

/// Finds `kallsyms_lookup_name` by letting kprobes resolve it.
fn find_kallsyms_lookup_name() -> Result<LookupFn> {
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
    // SAFETY: `addr` is the address of `kallsyms_lookup_name`, which has this prototype.
    Ok(unsafe { core::mem::transmute::<usize, LookupFn>(addr) })
}

/// Resolves every symbol. Names each one it cannot find, then fails with `ENOENT`.
///
/// With `force_missing` it also resolves a symbol that does not exist (load-failure test).
pub(crate) fn resolve(force_missing: bool) -> Result {
    let lookup = find_kallsyms_lookup_name()?;
    let mut missing = false;
    let extra = if force_missing {
        Some(MISSING_FOR_TEST)
    } else {
        None
    };
    for (i, name) in Iterator::chain(NAMES.iter(), extra.iter()).enumerate() {
        // SAFETY: `name` is NUL-terminated; `kallsyms_lookup_name` may be called in process
        // context, which module init is.
        let addr = unsafe { lookup(name.as_char_ptr()) } as usize;
        if addr == 0 {
            pr_err!("cannot resolve kernel symbol {}\n", name);
            missing = true;
        } else if let Some(slot) = ADDRS.get(i) {
            slot.store(addr, Ordering::Release);
        }
    }
    if missing {
        Err(ENOENT)
    } else {
        Ok(())
    }
}

/// `(name, address)` of every resolved symbol.
pub(crate) fn resolved() -> impl Iterator<Item = (&'static CStr, usize)> {
    NAMES
        .iter()
        .zip(ADDRS.iter())
        .map(|(n, a)| (*n, a.load(Ordering::Relaxed)))
}
