// SPDX-License-Identifier: GPL-2.0

//! The function model ([`model`]) of a hooked function, from its owner's BTF: vmlinux's, or
//! its module's split BTF. This is the thin kernel layer: it finds the BTF object and shows
//! its `struct btf_type`s to the `core`-only model as [`model::Ty`]s.
//!
//! The accessors are the kernel's own (`btf_type_by_id()`, `btf_name_by_offset()`, ...),
//! reached as static calls like every other unexported function (`resolve/symbols.rs`). They
//! are optional: without them, or without vmlinux BTF, every function is [`Refusal::NoBtf`].

#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod model;

use core::ops::Range;

use kernel::{ffi, prelude::*};

use crate::{functions::Func, symbols, sys};
pub(crate) use model::{FuncModel, Refusal};
use model::{Ty, Types};

/// The model of `func`: from every FUNC of its name in its owner's BTF (they must agree).
/// vmlinux's FUNCs are found through `index`, a module's by a scan of its own types.
///
/// Process context: it may sleep (the module BTF list's mutex; the first use of vmlinux BTF
/// parses it; the first use of `index` builds it).
pub(crate) fn model_of(func: &Func, index: &mut FuncIndex) -> Result<FuncModel, Refusal> {
    if !symbols::btf_bound() {
        return Err(Refusal::NoBtf);
    }
    let module = ModulePin::get(func.ip)?;
    let btf = Btf::of(&module)?;
    if btf.owned {
        return model::model_by_name(&btf, &func.name);
    }
    match index.get(&btf) {
        Some(ids) => {
            let name = func.name.as_slice();
            let first = ids.partition_point(|&id| btf.name(id) < name);
            let same = ids[first..]
                .iter()
                .take_while(|&&id| btf.name(id) == name)
                .copied();
            model::model_of_funcs(&btf, same)
        }
        // No memory for the index: the scan finds the same FUNCs, only slower.
        None => model::model_by_name(&btf, &func.name),
    }
}

/// vmlinux's FUNC type ids, sorted by name.
///
/// Every new site looks its function's model up (for its entry frame, `arch/x86/trampoline.rs`)
/// and vmlinux has some 70 000 types, 30 000 of them FUNCs: a scan per function would make
/// attaching a thousand functions take seconds. Built on first use (one pass and a sort), kept
/// until unload (4 bytes per FUNC). vmlinux's BTF never changes, so neither does the index.
pub(crate) struct FuncIndex {
    ids: KVec<u32>,
    built: bool,
}

impl FuncIndex {
    /// An index not built yet.
    pub(crate) fn new() -> Self {
        Self {
            ids: KVec::new(),
            built: false,
        }
    }

    /// The index for vmlinux's `btf`, built now if it was not; `None` if it cannot be.
    fn get(&mut self, btf: &Btf) -> Option<&[u32]> {
        if !self.built {
            let mut ids = KVec::new();
            for id in btf.own_ids() {
                if btf
                    .raw(id)
                    .is_some_and(|t| model::kind(t.info) == model::KIND_FUNC)
                {
                    ids.push(id, GFP_KERNEL).ok()?;
                }
            }
            ids.sort_unstable_by(|&a, &b| btf.name(a).cmp(btf.name(b)));
            self.ids = ids;
            self.built = true;
        }
        Some(&self.ids)
    }
}

/// A reference on the module whose text holds a function (none for vmlinux), so that its BTF
/// is looked up for the module it belongs to and not for one loaded at the same address later.
///
/// # Invariants
///
/// `0` is null or a module this value holds one reference on.
struct ModulePin(*mut sys::module);

impl ModulePin {
    /// The owner of `ip`: a function of a module going away, or of `__init` text, has no
    /// model.
    fn get(ip: usize) -> Result<Self, Refusal> {
        // SAFETY: the symbols are bound (ftramp is loaded); `ftramp_module_get` calls
        // `__module_text_address` with preemption disabled, as that function requires.
        let m = unsafe { sys::ftramp_module_get(ip as ffi::c_ulong) };
        // INVARIANT: null, or referenced by `ftramp_module_get`.
        kernel::error::from_err_ptr(m)
            .map(Self)
            .map_err(|_| Refusal::NotFound)
    }
}

impl Drop for ModulePin {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the reference taken in `get` (type invariant).
            unsafe { sys::ftramp_module_put(self.0) };
        }
    }
}

/// One BTF object: vmlinux's, or a module's (on top of vmlinux's).
///
/// # Invariants
///
/// `btf` is valid while this value lives: vmlinux's (never freed), or a module's this value
/// holds a reference on (`owned`). `own` are its own type ids. The BTF accessors are bound.
struct Btf {
    btf: *mut sys::btf,
    owned: bool,
    own: Range<u32>,
}

impl Btf {
    /// The BTF of `module`'s functions.
    fn of(module: &ModulePin) -> Result<Self, Refusal> {
        let owned = !module.0.is_null();
        let btf = if owned {
            // SAFETY: `btf_bound()` was checked by the caller; `module.0` is a module we hold
            // a reference on (type invariant of `ModulePin`); process context.
            unsafe { symbols::btf_get_module_btf(module.0) }
        } else {
            // SAFETY: as above; it returns vmlinux's BTF (no reference), parsing it once.
            unsafe { symbols::bpf_get_btf_vmlinux() }
        };
        let btf = match kernel::error::from_err_ptr(btf) {
            Ok(p) if !p.is_null() => p,
            _ => return Err(Refusal::NoBtf),
        };
        // SAFETY: `btf` is valid (just returned; a module's is referenced).
        let (base, end) = unsafe { (symbols::btf_base_btf(btf), symbols::btf_nr_types(btf)) };
        let start = if base.is_null() {
            // Type 0 is `void`.
            1
        } else {
            // SAFETY: a split BTF's base lives as long as it does.
            unsafe { symbols::btf_nr_types(base) }
        };
        // INVARIANT: `btf` is vmlinux's, or `btf_get_module_btf` took a reference.
        Ok(Self {
            btf,
            owned,
            own: start..end,
        })
    }

    /// Type `id`'s `struct btf_type` (not for 0, `void`).
    fn raw(&self, id: u32) -> Option<&sys::btf_type> {
        // SAFETY: `self.btf` is valid (type invariant); out-of-range ids give NULL.
        let t = unsafe { symbols::btf_type_by_id(self.btf, id) };
        // SAFETY: a non-NULL result points into the BTF object, valid as long as `self`.
        unsafe { t.as_ref() }
    }

    /// The name of type `id` (empty for an anonymous or unknown one).
    fn name(&self, id: u32) -> &[u8] {
        let Some(t) = self.raw(id) else {
            return b"";
        };
        // SAFETY: `self.btf` is valid (type invariant).
        let s = unsafe { symbols::btf_name_by_offset(self.btf, t.name_off) };
        if s.is_null() {
            return b"";
        }
        // SAFETY: a NUL-terminated string of the BTF object, which lives as long as `self`.
        unsafe { crate::compat::c_bytes(s) }
    }

    /// Parameter `i` of the FUNC_PROTO `t`.
    fn raw_param(t: &sys::btf_type, i: u16) -> Option<u32> {
        if model::kind(t.info) != model::KIND_FUNC_PROTO || i >= model::vlen(t.info) {
            return None;
        }
        let t: *const sys::btf_type = t;
        // SAFETY: a FUNC_PROTO is followed by its `vlen` `struct btf_param`s (uapi
        // linux/btf.h), which the kernel validated when it loaded the BTF; `i < vlen`.
        Some(unsafe { (*t.add(1).cast::<sys::btf_param>().add(usize::from(i))).type_ })
    }
}

impl Drop for Btf {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: the reference `btf_get_module_btf` took (type invariant).
            unsafe { symbols::btf_put(self.btf) };
        }
    }
}

impl Types for Btf {
    fn get(&self, id: u32) -> Option<Ty> {
        if id == 0 {
            return Some(Ty::Void);
        }
        let t = self.raw(id)?;
        let last = model::vlen(t.info).checked_sub(1);
        // SAFETY: both members of the union are a `u32` (uapi linux/btf.h).
        let size_or_type = unsafe { t.__bindgen_anon_1.size };
        Some(Ty::decode(
            t.info,
            size_or_type,
            last.and_then(|i| Self::raw_param(t, i)),
        ))
    }

    fn param(&self, proto: u32, i: u16) -> Option<u32> {
        Self::raw_param(self.raw(proto)?, i)
    }

    fn own_ids(&self) -> Range<u32> {
        self.own.clone()
    }

    fn is_func_named(&self, id: u32, name: &[u8]) -> bool {
        let Some(t) = self.raw(id) else {
            return false;
        };
        if model::kind(t.info) != model::KIND_FUNC || name.contains(&0) {
            return false;
        }
        // SAFETY: `self.btf` is valid (type invariant).
        let s = unsafe { symbols::btf_name_by_offset(self.btf, t.name_off) };
        if s.is_null() {
            return false;
        }
        // Compared in place, without measuring every name: it matches if its first
        // `name.len()` bytes do and its NUL comes right after them.
        for (k, &c) in Iterator::chain(name.iter(), &[0]).enumerate() {
            // SAFETY: `s` is a NUL-terminated string of the BTF object; the loop stops at
            // the first byte that differs, so it never reads past that NUL.
            if unsafe { *s.add(k) } != c {
                return false;
            }
        }
        true
    }
}
