// SPDX-License-Identifier: GPL-2.0

//! Which functions of a kernel cannot take a return hook, and why: the very model ftramp's
//! return trampolines use (`btf/model.rs`) and its list of functions that never return
//! (`resolve/denylist.rs`), applied to every function ftrace can trace.
//!
//! usage: ret_census RAW_BTF AVAILABLE_FILTER_FUNCTIONS [--list]
//!
//! `RAW_BTF` is vmlinux's BTF as the kernel shows it (`/sys/kernel/btf/vmlinux`);
//! `AVAILABLE_FILTER_FUNCTIONS` is ftrace's list of the same boot. Only vmlinux's functions
//! are counted (a module's line ends in `[module]`). With `--list`, every refused function is
//! printed under its reason.

use std::{collections::BTreeMap, collections::HashMap, ops::Range, process::exit};

use ftramp_host::{
    denylist,
    model::{self, Ty, Types},
};

/// A raw BTF object (uapi `linux/btf.h`), parsed once: each type's offset in the type
/// section.
struct RawBtf {
    data: Vec<u8>,
    types: usize,
    strings: usize,
    /// Offset of type `id` (index `id - 1`) from `types`.
    offsets: Vec<usize>,
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

impl RawBtf {
    fn parse(data: Vec<u8>) -> Result<Self, String> {
        if data.get(0..2) != Some(&[0x9f, 0xeb]) {
            return Err("not raw BTF (magic 0xeb9f, little-endian)".into());
        }
        let h = |i: usize| {
            u32_at(&data, 4 + 4 * i)
                .ok_or("short header")
                .map(|v| v as usize)
        };
        let (hdr_len, type_off, type_len, str_off) = (h(0)?, h(1)?, h(2)?, h(3)?);
        let types = hdr_len + type_off;
        let strings = hdr_len + str_off;
        let mut offsets = Vec::new();
        let mut at = 0;
        while at < type_len {
            offsets.push(at);
            let info = u32_at(&data, types + at + 4).ok_or("truncated type")?;
            let vlen = model::vlen(info) as usize;
            // Each kind's trailing data after its 12-byte `struct btf_type`.
            let extra = match model::kind(info) {
                1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
                3 => 12,                      // ARRAY
                4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
                6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
                2 | 7..=12 | 16 | 18 => 0,
                k => return Err(format!("unknown BTF kind {k} at type {}", offsets.len())),
            };
            at += 12 + extra;
        }
        Ok(Self {
            data,
            types,
            strings,
            offsets,
        })
    }

    /// `(name_off, info, size_or_type, offset in the file)` of type `id` (not 0).
    fn raw(&self, id: u32) -> Option<(usize, u32, u32, usize)> {
        let at = self.types + *self.offsets.get((id as usize).checked_sub(1)?)?;
        Some((
            u32_at(&self.data, at)? as usize,
            u32_at(&self.data, at + 4)?,
            u32_at(&self.data, at + 8)?,
            at,
        ))
    }

    /// The string at `off` of the string section (empty if out of range).
    fn name(&self, off: usize) -> &[u8] {
        let s = self.data.get(self.strings + off..).unwrap_or_default();
        &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]
    }

    fn raw_param(&self, id: u32, i: u16) -> Option<u32> {
        let (_, info, _, at) = self.raw(id)?;
        if model::kind(info) != model::KIND_FUNC_PROTO || i >= model::vlen(info) {
            return None;
        }
        u32_at(&self.data, at + 12 + 8 * usize::from(i) + 4)
    }

    /// Every FUNC's id, by name.
    fn funcs(&self) -> HashMap<Vec<u8>, Vec<u32>> {
        let mut m: HashMap<Vec<u8>, Vec<u32>> = HashMap::new();
        for id in self.own_ids() {
            if let Some((name, info, _, _)) = self.raw(id) {
                if model::kind(info) == model::KIND_FUNC {
                    m.entry(self.name(name).to_vec()).or_default().push(id);
                }
            }
        }
        m
    }
}

impl Types for RawBtf {
    fn get(&self, id: u32) -> Option<Ty> {
        if id == 0 {
            return Some(Ty::Void);
        }
        let (_, info, size_or_type, _) = self.raw(id)?;
        let last = model::vlen(info).checked_sub(1);
        Some(Ty::decode(
            info,
            size_or_type,
            last.and_then(|i| self.raw_param(id, i)),
        ))
    }

    fn param(&self, proto: u32, i: u16) -> Option<u32> {
        self.raw_param(proto, i)
    }

    fn own_ids(&self) -> Range<u32> {
        1..self.offsets.len() as u32 + 1
    }

    fn is_func_named(&self, id: u32, name: &[u8]) -> bool {
        self.raw(id).is_some_and(|(n, info, _, _)| {
            model::kind(info) == model::KIND_FUNC && self.name(n) == name
        })
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: ret_census RAW_BTF AVAILABLE_FILTER_FUNCTIONS [--list]");
        exit(2);
    }
    let list = args.get(3).is_some_and(|a| a == "--list");
    let btf = std::fs::read(&args[1])
        .map_err(|e| e.to_string())
        .and_then(RawBtf::parse)
        .unwrap_or_else(|e| {
            eprintln!("{}: {e}", args[1]);
            exit(1)
        });
    let funcs = std::fs::read_to_string(&args[2]).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args[2]);
        exit(1)
    });
    let by_name = btf.funcs();
    let mut refused: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let (mut total, mut ok, mut stack_args, mut two_regs) = (0, 0, 0, 0);
    let mut seen = std::collections::HashSet::new();
    for line in funcs.lines() {
        let mut w = line.split_whitespace();
        let Some(name) = w.next() else { continue };
        // vmlinux's functions only, each name once (ftrace lists a static name per copy).
        if w.next().is_some() || !seen.insert(name) {
            continue;
        }
        total += 1;
        // The engine's rule (engine/mod.rs: stack_words), on the same model.
        let ids = by_name.get(name.as_bytes()).into_iter().flatten().copied();
        let m = model::model_of_funcs(&btf, ids);
        match model::ret_stack_words(denylist::never_returns(name.as_bytes()), || m) {
            Ok(words) => {
                ok += 1;
                stack_args += usize::from(words > 0);
                two_regs += usize::from(m.is_ok_and(|m| m.ret_words == 2));
            }
            Err(why) => refused.entry(why).or_default().push(name),
        }
    }
    println!("functions ftrace can trace (vmlinux, distinct names): {total}");
    println!("can take a return hook: {ok} ({stack_args} with stack-passed arguments, {two_regs} returning in rax:rdx)");
    println!("cannot: {}", total - ok);
    for (why, names) in &refused {
        let mut sample: Vec<&str> = names.iter().take(6).copied().collect();
        if names.len() > sample.len() {
            sample.push("...");
        }
        println!("  {:6}  {why}: {}", names.len(), sample.join(" "));
    }
    if list {
        for (why, names) in &refused {
            println!("\n# {why}");
            for n in names {
                println!("{n}");
            }
        }
    }
}
