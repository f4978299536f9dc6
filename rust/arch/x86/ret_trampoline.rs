// SPDX-License-Identifier: GPL-2.0

//! The return trampoline: what a function with return ops enters instead of its entry
//! trampoline. It runs the entry dispatch, then **calls the function's body itself** (`ip + 5`,
//! after the fentry call), then the return dispatch, then returns to the function's caller
//! (the design BPF's fexit trampolines use; Documentation/design.rst, "Return hooks", says why
//! it was chosen over replacing the return address).
//!
//! Its frame, from `%rbp` down:
//!
//! ```text
//!   rbp+24..       the function's stack-passed arguments (copied below before the call)
//!   rbp+16         the function's return address (parent_ip)
//!   rbp+8          ip + 5 (the fentry call's return address; skipped at the end)
//!   rbp            the caller's rbp
//!   rbp-64..rbp-8  the frame word, r9 r8 cx dx si di ax: with the three above, a struct
//!                  ftramp_regs exactly as the entry trampoline lays it out (`frame.rs`), so
//!                  every entry callback sees the same; as there, only the registers the
//!                  function's arguments take are saved (it has a BTF model: it must)
//!   below          the call record (`dispatch::ret::CallRecord`): which return ops asked for
//!                  this call's return, with their ids and cookies; the entry dispatch fills it
//! ```
//!
//! The code takes two slots: slot A is the prologue, the entry dispatch `call` (a patchable
//! site, switched like the entry trampoline's), the argument reload, the copy of the stack
//! arguments (as many words as the function's BTF model has) and the `call` of the body, then
//! a `jmp` to slot B; slot B is the return dispatch `call` (the second patchable site) and the
//! epilogue. Each slot holds one dispatch site, so the int3 handler's per-slot lookup is
//! unchanged.
//!
//! Between the entry dispatch and the return dispatch the trampoline counts the call in a
//! per-CPU in-flight counter (`incq %gs:(%r11)`): a task may sleep in the body for any time,
//! and RCU-tasks sees a sleeping task as quiescent, so the engine frees the trampoline only
//! when the count has drained (`engine/ret_tramp.rs`).
//!
//! Hardened kernels, as for the entry trampoline: no `endbr64` (only direct calls, `ret` and
//! `iret` reach it, and the body is reached by a direct `call`); every return is the kernel's
//! for its address; with call depth tracking each `call` it makes is accounted, and so is the
//! fentry call that entered.

use kernel::prelude::*;

use super::{
    encode::{self, PercpuOp, Reg},
    frame::{self, Frame},
    trampoline::{return_insn, Code, Template, Writer, FRAME_POINTER, LEAVE, LOAD_PARENT},
};

/// Bytes of the saved registers below `%rbp` (the frame word and seven register slots, saved
/// or not: `frame.rs`).
const SAVED: i32 = frame::SIZE as i32;
/// Offset of the first stack-passed argument from `%rbp`.
const STACK_ARGS: i32 = 24;

/// Where the two halves go and what they are built for.
pub(crate) struct RetTrampoline {
    /// Address of slot A (where ftrace's direct call enters).
    pub(crate) a: usize,
    /// Address of slot B.
    pub(crate) b: usize,
    /// The function's fentry address.
    pub(crate) ip: usize,
    /// The site pointer passed to the iterators (`%rdx`).
    pub(crate) site: usize,
    /// The `__percpu` address of the in-flight counter.
    pub(crate) inflight: usize,
    /// Bytes of the call record below the saved registers.
    pub(crate) record: usize,
    /// What it reproduces of the function's calling convention.
    pub(crate) conv: Convention,
}

/// What a return trampoline reproduces of its function's calling convention (from its BTF
/// model: a function with return ops always has one).
#[derive(Clone, Copy)]
pub(crate) struct Convention {
    /// Stack-passed argument words to copy.
    pub(crate) stack_words: usize,
    /// The registers its frame saves: the function's argument registers.
    pub(crate) frame: Frame,
}

/// Lengths of the two halves and offsets of their dispatch `call`s.
#[derive(Clone, Copy)]
pub(crate) struct RetLayout {
    pub(crate) a_len: usize,
    pub(crate) entry_call: usize,
    pub(crate) b_len: usize,
    pub(crate) ret_call: usize,
}

fn code() -> Code {
    Code {
        bytes: [encode::INT3; super::pool::SLOT_SIZE],
        len: 0,
    }
}

impl Template {
    /// The two halves of the return trampoline `t`, with its entry dispatch calling `entry`
    /// and its return dispatch calling `ret`.
    pub(crate) fn build_ret(
        &self,
        t: &RetTrampoline,
        entry: usize,
        ret: usize,
    ) -> Result<(Code, Code, RetLayout)> {
        let record = i32::try_from(t.record).map_err(|_| EINVAL)?;
        let (mut ca, mut cb) = (code(), code());

        // Slot A.
        let mut w = Writer {
            b: &mut ca.bytes,
            at: t.a,
            len: 0,
        };
        self.account(&mut w)?; // the fentry call that entered
        w.put(&FRAME_POINTER)?;
        // The argument registers: the body is called with them as they were at entry.
        w.put(t.conv.frame.save().as_slice())?;
        w.put(&encode::sub_rsp(record))?;
        w.put(&[0x48, 0xc7, 0x04, 0x24, 0, 0, 0, 0])?; // movq $0,(%rsp): no return asked yet
        w.put(&encode::movabs(Reg::R11, t.inflight as u64))?;
        w.put(&encode::percpu_rmw_r11(PercpuOp::Inc))?;
        w.put(&LOAD_PARENT)?;
        w.put(&encode::movabs(Reg::Rdi, t.ip as u64))?;
        w.put(&encode::movabs(Reg::Rdx, t.site as u64))?;
        w.put(&encode::lea_rcx_rsp(record))?; // regs
        let entry_call = self.dispatch(&mut w, entry, false)?;
        // The arguments again, as they were at entry (an entry callback may clobber them).
        w.put(t.conv.frame.restore().as_slice())?;
        // The stack-passed arguments, last first, so the body finds them above its return
        // address exactly as its caller left them.
        for i in (0..t.conv.stack_words).rev() {
            let (insn, n) = encode::push_rbp_disp(STACK_ARGS + 8 * i as i32);
            w.put(&insn[..n])?;
        }
        self.account(&mut w)?;
        w.put(&encode::call(w.here(), t.ip + encode::REL32_INSN_LEN).ok_or(ERANGE)?)?;
        w.put(&encode::jmp(w.here(), t.b).ok_or(ERANGE)?)?;
        ca.len = w.len;

        // Slot B: the body returned (rax, rdx: its value).
        let mut w = Writer {
            b: &mut cb.bytes,
            at: t.b,
            len: 0,
        };
        w.put(&encode::lea_rsp_rbp(-SAVED - record))?; // drop the copied arguments
        w.put(&[0x4c, 0x8d, 0x5d, (-SAVED) as i8 as u8])?; // lea -64(%rbp),%r11: regs
                                                           // struct ftramp_ret_regs { ax, dx, regs }, lowest address first.
        w.put(&[0x41, 0x53, 0x52, 0x50])?; // push %r11; push %rdx; push %rax
        w.put(&LOAD_PARENT)?;
        w.put(&encode::movabs(Reg::Rdi, t.ip as u64))?;
        w.put(&encode::movabs(Reg::Rdx, t.site as u64))?;
        w.put(&[0x48, 0x89, 0xe1])?; // mov %rsp,%rcx: the ftramp_ret_regs
        let ret_call = self.dispatch(&mut w, ret, false)?;
        // The call is over: nothing after this touches anything but the slot itself and the
        // stack, and the engine waits once more after the count drained before it frees it.
        w.put(&encode::movabs(Reg::R11, t.inflight as u64))?;
        w.put(&encode::percpu_rmw_r11(PercpuOp::Dec))?;
        w.put(&[0x58, 0x5a])?; // pop %rax; pop %rdx
        w.put(&[LEAVE])?;
        w.put(&[0x48, 0x83, 0xc4, 0x08])?; // add $8,%rsp: past ip + 5, to the caller
        w.put(&return_insn(w.here())?)?;
        cb.len = w.len;

        let layout = RetLayout {
            a_len: ca.len,
            entry_call,
            b_len: cb.len,
            ret_call,
        };
        Ok((ca, cb, layout))
    }
}

/// Length of a return ops' stubs (entry stub at 0, return stub at [`RET_STUB_AT`]).
pub(crate) const RET_STUBS_LEN: usize = RET_STUB_AT + STUB2_LEN;
/// Offset of the return stub in a return ops' slot.
pub(crate) const RET_STUB_AT: usize = 32;
const STUB2_LEN: usize = 2 * encode::MOVABS_LEN + encode::REL32_INSN_LEN;

/// `movabs $ops,%rdx; movabs $id,%r8; jmp func` at `at`.
fn stub2(at: usize, ops: u64, id: u64, func: usize) -> Option<[u8; STUB2_LEN]> {
    let mut out = [0u8; STUB2_LEN];
    out[..10].copy_from_slice(&encode::movabs(Reg::Rdx, ops));
    out[10..20].copy_from_slice(&encode::movabs(Reg::R8, id));
    out[20..].copy_from_slice(&encode::jmp(at + 20, func)?);
    Some(out)
}

/// The two stubs of a return ops at `at`: its entry stub (what an entry dispatch site calls,
/// reaching `entry(ip, parent_ip, ops, regs, id)`) and its return stub at `at + RET_STUB_AT`
/// (reaching `ret(ip, parent_ip, ops, ret_regs, id)`).
pub(crate) fn ret_stubs(
    at: usize,
    ops: usize,
    id: u64,
    entry: usize,
    ret: usize,
) -> Result<[u8; RET_STUBS_LEN]> {
    let mut out = [encode::INT3; RET_STUBS_LEN];
    out[..STUB2_LEN].copy_from_slice(&stub2(at, ops as u64, id, entry).ok_or(ERANGE)?);
    out[RET_STUB_AT..]
        .copy_from_slice(&stub2(at + RET_STUB_AT, ops as u64, id, ret).ok_or(ERANGE)?);
    Ok(out)
}
