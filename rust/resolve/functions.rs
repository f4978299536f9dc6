// SPDX-License-Identifier: GPL-2.0

//! From names and globs to hookable functions: kallsyms gives the addresses (walking vmlinux
//! and modules for globs), `ftrace_location()` the fentry site, and the function is refused if
//! ftrace cannot trace it, if it is ftramp's own code, in the kprobe blacklist (exception and
//! debug paths) or in `denylist.rs`.

use kernel::{ffi, prelude::*, str::CStr};

use crate::{denylist, filter::MAX_PATTERN, glob, symbols, sys};

/// A hookable function.
pub(crate) struct Func {
    /// Its fentry site (what ftrace filters on and passes as `ip`).
    pub(crate) ip: usize,
    /// Its name.
    pub(crate) name: KVec<u8>,
}

impl Func {
    /// A copy (the name is allocated).
    pub(crate) fn try_clone(&self) -> Result<Self> {
        crate::engine::fault::point()?;
        let mut name = KVec::with_capacity(self.name.len(), GFP_KERNEL)?;
        name.extend_from_slice(&self.name, GFP_KERNEL)?;
        Ok(Self { ip: self.ip, name })
    }
}

/// Why a name cannot be hooked.
fn refusal(name: &[u8], addr: usize) -> Option<Error> {
    // SAFETY: `ftramp_is_own_text` only compares addresses.
    if denylist::is_denied(name) || unsafe { sys::ftramp_is_own_text(addr) } {
        return Some(EPERM);
    }
    // SAFETY: read-only lookup in the kprobe blacklist.
    if unsafe { symbols::within_kprobe_blacklist(addr) } {
        return Some(EPERM);
    }
    None
}

fn fentry(addr: usize) -> Option<usize> {
    // SAFETY: read-only lookup in ftrace's records.
    let ip = unsafe { symbols::ftrace_location(addr) };
    (ip != 0).then_some(ip)
}

/// The function called exactly `name`: `ENOENT` if there is none, `EINVAL` if ftrace cannot
/// trace it, `EPERM` if ftramp refuses it.
pub(crate) fn lookup(name: &[u8]) -> Result<Func> {
    let mut buf = [0u8; MAX_PATTERN + 1];
    buf.get_mut(..name.len())
        .ok_or(EINVAL)?
        .copy_from_slice(name);
    let cname = CStr::from_bytes_with_nul(&buf[..=name.len()]).map_err(|_| EINVAL)?;
    // SAFETY: `cname` is NUL-terminated; process context.
    let addr = unsafe { symbols::kallsyms_lookup_name(cname.as_char_ptr()) } as usize;
    if addr == 0 {
        return Err(ENOENT);
    }
    if let Some(e) = refusal(name, addr) {
        return Err(e);
    }
    let ip = fentry(addr).ok_or(EINVAL)?;
    let mut n = KVec::new();
    n.extend_from_slice(name, GFP_KERNEL)?;
    Ok(Func { ip, name: n })
}

struct GlobWalk<'a> {
    pattern: &'a [u8],
    out: &'a mut KVec<Func>,
    limit: usize,
    err: Option<Error>,
}

/// # Safety
///
/// Called by the kallsyms walkers with `data` pointing at a `GlobWalk` and a valid name.
unsafe extern "C" fn glob_one(
    data: *mut ffi::c_void,
    name: *const ffi::c_char,
    addr: ffi::c_ulong,
) -> ffi::c_int {
    // SAFETY: `data` is the `GlobWalk` passed by `lookup_glob`, exclusively ours during the walk.
    let w = unsafe { &mut *data.cast::<GlobWalk<'_>>() };
    // SAFETY: kallsyms passes a NUL-terminated name.
    let name = unsafe { crate::compat::c_bytes(name) };
    if !glob::matches(w.pattern, name) || refusal(name, addr).is_some() {
        return 0;
    }
    // Only function starts: `ftrace_location` maps any address inside a function to its
    // fentry, which would count a function once per label inside it.
    let Some(ip) = fentry(addr).filter(|&ip| ip - addr < 16) else {
        return 0;
    };
    if w.out.iter().any(|f| f.ip == ip) {
        return 0;
    }
    if w.out.len() >= w.limit {
        w.err = Some(E2BIG);
        return 1;
    }
    let mut n = KVec::new();
    let pushed = n
        .extend_from_slice(name, GFP_KERNEL)
        .and_then(|()| w.out.push(Func { ip, name: n }, GFP_KERNEL));
    if pushed.is_err() {
        w.err = Some(ENOMEM);
        return 1;
    }
    0
}

/// Every hookable function matching `pattern` in vmlinux and loaded modules, at most `limit`
/// (`E2BIG` beyond); `ENOENT` if none matches.
pub(crate) fn lookup_glob(pattern: &[u8], limit: usize) -> Result<KVec<Func>> {
    let mut out = KVec::new();
    let mut w = GlobWalk {
        pattern,
        out: &mut out,
        limit,
        err: None,
    };
    let data = core::ptr::from_mut::<GlobWalk<'_>>(&mut w).cast();
    // SAFETY: `glob_one` matches the walkers' callback type and `data` outlives the walks.
    unsafe {
        symbols::kallsyms_on_each_symbol(Some(glob_one), data);
        if w.err.is_none() {
            symbols::module_kallsyms_on_each_symbol(core::ptr::null(), Some(glob_one), data);
        }
    }
    if let Some(e) = w.err {
        return Err(e);
    }
    if out.is_empty() {
        return Err(ENOENT);
    }
    Ok(out)
}

/// The functions `pattern` names: one for a plain name ([`lookup`]), every match for a glob
/// ([`lookup_glob`], at most `limit`).
pub(crate) fn resolve(pattern: &[u8], limit: usize) -> Result<KVec<Func>> {
    if glob::is_glob(pattern) {
        return lookup_glob(pattern, limit);
    }
    let mut v = KVec::new();
    v.push(lookup(pattern)?, GFP_KERNEL)?;
    Ok(v)
}
