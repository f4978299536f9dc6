// SPDX-License-Identifier: GPL-2.0

//! Where the kernel crates ftramp builds against differ (6.12 and 7.3 are tested), in one
//! place. The `ftramp_ge_X_Y` cfgs come from `Kbuild`, from the kernel's own `VERSION` and
//! `PATCHLEVEL`: `ftramp_ge_6_16` (`UserPtr`, `KVec::inc_len`/`truncate`) and `ftramp_ge_7_0`
//! (`THIS_MODULE` in `ModuleMetadata`, `CStr` is `core::ffi::CStr`); `ForeignOwnable` is
//! `*mut` from 6.16. The C side keeps its
//! differences behind `LINUX_VERSION_CODE` in `helpers/` (`bind.c`, `text.c`).

use kernel::{ffi, prelude::*, types::ForeignOwnable, uaccess::UserSlice};

/// Bytes shown as text in `format_args!` (ASCII as is, other bytes as `\xNN`): the kernel's
/// `BStr` and `CStr` implement `core::fmt::Display` on 6.12 but only the kernel's own
/// `Display` on 7.x.
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl core::fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.0 {
            if (0x20..0x7f).contains(&b) {
                core::fmt::Write::write_char(f, b as char)?;
            } else {
                write!(f, "\\x{:02x}", b)?;
            }
        }
        Ok(())
    }
}

/// The bytes of a NUL-terminated C string, without the NUL.
///
/// # Safety
///
/// `p` is a valid NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn c_bytes<'a>(p: *const ffi::c_char) -> &'a [u8] {
    // SAFETY: by the function's safety requirements.
    let s = unsafe { kernel::str::CStr::from_char_ptr(p) };
    #[cfg(ftramp_ge_7_0)]
    return s.to_bytes();
    #[cfg(not(ftramp_ge_7_0))]
    s.as_bytes()
}

/// Hands `x` over to C as `private_data` (`into_foreign` returns `*mut` from 6.16 on).
pub(crate) fn into_foreign<T: ForeignOwnable>(x: T) -> *mut ffi::c_void {
    #[cfg(ftramp_ge_6_16)]
    return x.into_foreign().cast();
    #[cfg(not(ftramp_ge_6_16))]
    x.into_foreign().cast_mut()
}

/// ftramp's `struct module` (`THIS_MODULE`).
pub(crate) fn this_module() -> *mut kernel::bindings::module {
    #[cfg(ftramp_ge_7_0)]
    let m = <crate::LocalModule as kernel::ModuleMetadata>::THIS_MODULE.as_ptr();
    #[cfg(not(ftramp_ge_7_0))]
    let m = crate::THIS_MODULE.as_ptr();
    m
}

/// The user memory `[buf, buf + len)`.
pub(crate) fn user_slice(buf: *const ffi::c_char, len: usize) -> UserSlice {
    #[cfg(ftramp_ge_6_16)]
    let p = kernel::uaccess::UserPtr::from_addr(buf as usize);
    #[cfg(not(ftramp_ge_6_16))]
    let p = buf as usize;
    UserSlice::new(p, len)
}

/// Shortens `v` to `len` elements, `len <= v.len()`; `T: Copy` has nothing to drop.
pub(crate) fn shorten<T: Copy>(v: &mut KVec<T>, len: usize) {
    #[cfg(ftramp_ge_6_16)]
    v.truncate(len);
    #[cfg(not(ftramp_ge_6_16))]
    if len <= v.len() {
        // SAFETY: the first `len` elements are initialised; `T: Copy` needs no drop.
        unsafe { v.set_len(len) };
    }
}

/// Removes and returns the last element of `v`.
pub(crate) fn pop<T>(v: &mut KVec<T>) -> Option<T> {
    #[cfg(ftramp_ge_6_16)]
    return v.pop();
    #[cfg(not(ftramp_ge_6_16))]
    {
        let n = v.len().checked_sub(1)?;
        // SAFETY: index `n` is initialised; shrinking the length first hands its ownership
        // to the read, so it is never dropped twice.
        unsafe {
            v.set_len(n);
            Some(core::ptr::read(v.as_ptr().add(n)))
        }
    }
}
