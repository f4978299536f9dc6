// SPDX-License-Identifier: GPL-2.0

//! Per-function trampolines, generated into a pool slot with the function's address baked
//! in, and the site's list entry at the end of the slot.
//!
//! Entry follows the ftrace direct-call ABI: called from the function's fentry site (or
//! returned into by ftrace's shared trampoline), with the return address into the function on
//! top of the stack, the function's own return address above it and the arguments in
//! registers. The trampoline keeps a frame pointer (so the ORC unwinder's frame-pointer
//! fallback can walk through generated code), saves the function's argument registers into a
//! `struct ftramp_regs` (all of them and `%rax` without a BTF model, only those its arguments
//! take with one: `frame.rs`), loads `ip`, `parent_ip` and `regs` and makes one patchable
//! 5-byte `call`: the dispatch site. Its offset depends on the frame, so each site keeps it.
//!
//! ```text
//!   nop5 (mode site)  [depth]  push %rbp; mov %rsp,%rbp  <save>
//!   mov 16(%rbp),%rsi; movabs $ip,%rdi; mov %rsp,%rcx
//!   inc %gs:preempt_count  [depth]  call <dispatch>  dec %gs:preempt_count
//!   jnz 1f; [depth] call preempt_schedule_notrace_thunk; 1:  <restore>  leave; ret
//!   ... int3 ...
//!   LIST_ENTRY_AT: movabs $site,%rdx; jmp list_iter
//! ```
//!
//! The third argument is left to the target: an ops' entry stub loads its ops, a fused stub
//! needs none, and in list mode the dispatch `call` reaches the slot's own *list entry*,
//! which loads the site (the iterator's argument) and jumps to the iterator. So the direct
//! and fused paths, the ones that matter, do not load a site they would not use.
//!
//! The dispatch runs with preemption disabled (an inline `inc`/`dec` of the per-CPU
//! preemption counter, of the kernel's width (`encode::Width`), and
//! `preempt_schedule_notrace_thunk` when the count drops to zero, as
//! `preempt_enable_notrace()` does): every callback runs non-preemptible, whether the site
//! calls its stub directly or the list iterator, so callbacks may not sleep (ftrace's rule) and
//! one wait covers them in both modes. A sleeping callback gets the kernel's "scheduling while
//! atomic" splat instead of a silent use-after-free.
//!
//! Hardened kernels (the generator follows what BPF's and ftrace's own trampolines do):
//! - *IBT*: no `endbr64` is needed and none is emitted: a trampoline is only reached by a
//!   direct `call` (the fentry site), a `ret` (ftrace's shared trampoline) or an `iret` (the
//!   int3 handler's emulated call), never by an indirect branch; the same holds for stubs and
//!   the do-nothing target, reached only by the dispatch `call`.
//! - *Return thunks*: every return is what `cpu_wants_rethunk_at()` says for its address:
//!   `jmp x86_return_thunk` (the thunk chosen at boot: untrain, SRSO, call depth, ITS) or
//!   `ret; int3` ([`encode::ret`]).
//! - *Call depth tracking* (`retbleed=stuff`): `sarq $5, %gs:depth` for the fentry `call` that
//!   entered the trampoline and before each `call` it makes ([`encode::call_depth_account`]);
//!   with the feature off nothing is emitted, so it costs nothing.

use crate::{
    arch::{encode, frame::Frame, pool},
    dispatch::list,
};
use kernel::{ffi, prelude::*};

use crate::sys;

/// Largest trampoline the generator may produce.
const MAX_LEN: usize = pool::SLOT_SIZE;

/// Length of the mode site at the start of every entry trampoline.
pub(crate) const MODE_LEN: usize = encode::REL32_INSN_LEN;

/// Where a trampoline's slot has its list entry (`movabs $site,%rdx; jmp list_iter`): its
/// last 16 bytes, past any trampoline the generator makes.
pub(crate) const LIST_ENTRY_AT: usize = MAX_LEN - 16;

// ftramp_api.h's `struct ftramp_regs` is what `frame.rs` lays out: the frame word at the
// lowest address, `di` at rbp-16, and the frame pointer, `ret_ip` and `parent_ip` above.
const _: () = {
    use crate::arch::frame;
    use core::mem::{offset_of, size_of};
    let size = frame::SIZE as usize;
    assert!(frame::FULL as u32 == sys::FTRAMP_FRAME_FULL);
    assert!(size_of::<sys::ftramp_regs>() == size + 24);
    assert!(offset_of!(sys::ftramp_regs, frame) == 0);
    assert!(offset_of!(sys::ftramp_regs, di) == size - 16);
    assert!(offset_of!(sys::ftramp_regs, ax) == size - 8);
};

/// What the generator needs of the running kernel, read once at load: the per-CPU variables
/// its code touches, and whether call depth accounting is emitted (a boot choice).
#[derive(Clone, Copy)]
pub(crate) struct Template {
    /// `%gs`-relative address of the preemption counter.
    pub(super) preempt_count: usize,
    /// Its operand size in the kernel's own `preempt_disable()`/`preempt_enable()`.
    pub(super) preempt_width: encode::Width,
    /// `preempt_schedule_notrace_thunk`, or 0 (no `CONFIG_PREEMPTION`).
    pub(super) preempt_schedule: usize,
    /// `%gs`-relative address of the call depth counter, 0 when call depth tracking is off.
    pub(super) call_depth: usize,
}

/// Appends instructions to generated code placed at a known address.
pub(super) struct Writer<'a> {
    pub(super) b: &'a mut [u8; MAX_LEN],
    pub(super) at: usize,
    pub(super) len: usize,
}

impl Writer<'_> {
    pub(super) fn put(&mut self, insn: &[u8]) -> Result {
        let end = self.len + insn.len();
        self.b
            .get_mut(self.len..end)
            .ok_or(E2BIG)?
            .copy_from_slice(insn);
        self.len = end;
        Ok(())
    }

    /// Address of the next instruction.
    pub(super) fn here(&self) -> usize {
        self.at + self.len
    }
}

/// `push %rbp; mov %rsp, %rbp`.
pub(super) const FRAME_POINTER: [u8; 4] = [0x55, 0x48, 0x89, 0xe5];
/// `mov 16(%rbp), %rsi`: `parent_ip`, the function's return address.
pub(super) const LOAD_PARENT: [u8; 4] = [0x48, 0x8b, 0x75, 0x10];
/// `mov %rsp, %rcx`: `regs`.
const REGS_ARG: [u8; 3] = [0x48, 0x89, 0xe1];
/// `leave`.
pub(super) const LEAVE: u8 = 0xc9;

impl Template {
    /// Reads what the generator needs of the running kernel.
    pub(crate) fn get() -> Result<Self> {
        Ok(Self {
            // SAFETY: no preconditions.
            preempt_count: unsafe { sys::ftramp_preempt_count_addr() } as usize,
            // SAFETY: no preconditions.
            preempt_width: if unsafe { sys::ftramp_preempt_count_wide() } {
                encode::Width::Qword
            } else {
                encode::Width::Dword
            },
            // SAFETY: no preconditions.
            preempt_schedule: unsafe { sys::ftramp_preempt_schedule_addr() } as usize,
            // SAFETY: no preconditions.
            call_depth: unsafe { sys::ftramp_call_depth_addr() } as usize,
        })
    }

    /// Call depth accounting for a `call` at the writer's position (nothing when it is off).
    pub(super) fn account(&self, w: &mut Writer<'_>) -> Result {
        if self.call_depth != 0 {
            let a = encode::call_depth_account(w.here(), self.call_depth).ok_or(ERANGE)?;
            w.put(&a)?;
        }
        Ok(())
    }

    /// `inc %gs:preempt_count; [depth] call target; dec; jnz; [depth] call sched`: one
    /// dispatch `call` with preemption disabled around it. Returns the offset of the `call`.
    /// `mutant` (a test knob) leaves preemption enabled.
    pub(super) fn dispatch(
        &self,
        w: &mut Writer<'_>,
        target: usize,
        mutant: bool,
    ) -> Result<usize> {
        let pc = self.preempt_count;
        let inc = encode::percpu_rmw(encode::PercpuOp::Inc, self.preempt_width, w.here(), pc)
            .ok_or(ERANGE)?;
        w.put(if mutant { &encode::NOP8 } else { &inc })?;
        self.account(w)?;
        let call = w.len;
        w.put(&encode::call(w.here(), target).ok_or(ERANGE)?)?;
        let dec = encode::percpu_rmw(encode::PercpuOp::Dec, self.preempt_width, w.here(), pc)
            .ok_or(ERANGE)?;
        w.put(if mutant { &encode::NOP8 } else { &dec })?;
        let skip = if self.call_depth != 0 {
            encode::CALL_DEPTH_LEN
        } else {
            0
        } + encode::REL32_INSN_LEN;
        w.put(&encode::jnz_short(skip as u8))?; // no reschedule due
        match self.preempt_schedule {
            0 => {
                // Keep the layout: the skipped bytes are nops.
                for _ in 0..skip / encode::NOP5.len() {
                    w.put(&encode::NOP5)?;
                }
                for _ in 0..skip % encode::NOP5.len() {
                    w.put(&[0x90])?;
                }
            }
            _ if mutant => {
                self.account(w)?;
                w.put(&encode::NOP5)?;
            }
            f => {
                self.account(w)?;
                w.put(&encode::call(w.here(), f).ok_or(ERANGE)?)?;
            }
        }
        Ok(call)
    }

    /// The slot of function `ip`'s trampoline, with entry frame `frame`, placed at `at` and
    /// dispatching to `target`, and its list entry for site pointer `site`; returns it with
    /// the offset of the dispatch `call` and the trampoline's length.
    pub(crate) fn build(
        &self,
        at: usize,
        ip: usize,
        site: usize,
        target: usize,
        frame: Frame,
    ) -> Result<(Code, usize, usize)> {
        let mut code = Code {
            bytes: [encode::INT3; MAX_LEN],
            len: 0,
        };
        let mut w = Writer {
            b: &mut code.bytes,
            at,
            len: 0,
        };
        // SAFETY: plain reads of test knobs.
        let (mutant, lean_mutant) =
            unsafe { (sys::ftramp_mutant_preemptible(), sys::ftramp_mutant_frame()) };

        // The mode site: a `nop` while the function has no return ops, a `jmp` to its return
        // trampoline while it has (switched like a dispatch site, see `ret_trampoline.rs`).
        w.put(&encode::NOP5)?;
        // The fentry `call` that entered: accounted here, as BPF's trampolines do.
        self.account(&mut w)?;
        w.put(&FRAME_POINTER)?;
        match frame {
            // The test knob's bug: one argument register fewer saved than the frame word
            // says, and restored from a slot never written.
            Frame::Args(n) if lean_mutant && n > 0 => {
                let save = Frame::Args(n - 1).save();
                let insns = save.as_slice();
                // All of it but the last byte, the `push $word`'s immediate: this frame's.
                w.put(&insns[..insns.len() - 1])?;
                w.put(&[frame.word()])?;
            }
            _ => w.put(frame.save().as_slice())?,
        }
        w.put(&LOAD_PARENT)?;
        w.put(&encode::movabs(encode::Reg::Rdi, ip as u64))?;
        w.put(&REGS_ARG)?;
        let call = self.dispatch(&mut w, target, mutant)?;
        w.put(frame.restore().as_slice())?;
        w.put(&[LEAVE])?;
        w.put(&return_insn(w.here())?)?;
        let len = w.len;
        if len > LIST_ENTRY_AT {
            return Err(E2BIG);
        }
        // The gap stays int3; the list entry ends the slot.
        w.len = LIST_ENTRY_AT;
        let entry = encode::ops_stub(w.here(), site as u64, list::addr_of_iter()).ok_or(ERANGE)?;
        w.put(&entry)?;
        code.len = w.len;
        Ok((code, call, len))
    }

    /// The do-nothing target, placed at `at`: a bare return (what a site ftrace would not
    /// detach is switched to, and where new sites start before they are switched on).
    pub(crate) fn nop_target(&self, at: usize) -> Result<Code> {
        let mut code = Code {
            bytes: [encode::INT3; MAX_LEN],
            len: encode::REL32_INSN_LEN,
        };
        code.bytes[..encode::REL32_INSN_LEN].copy_from_slice(&return_insn(at)?);
        Ok(code)
    }
}

/// The return the kernel would emit at `at` (see [`encode::ret`]).
pub(super) fn return_insn(at: usize) -> Result<[u8; encode::REL32_INSN_LEN]> {
    // SAFETY: no preconditions (the return thunk was read at load).
    let thunk = unsafe { sys::ftramp_return_thunk(at as ffi::c_ulong) } as usize;
    encode::ret(at, thunk).ok_or(ERANGE)
}

/// Generated code, ready to be written into a slot.
pub(crate) struct Code {
    pub(super) bytes: [u8; MAX_LEN],
    pub(super) len: usize,
}

impl Code {
    /// The bytes to write.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// An ops entry stub at `at`: `movabs $ops, %rdx; jmp func` (see `encode::ops_stub`).
pub(crate) fn ops_stub(at: usize, ops: usize, func: usize) -> Result<[u8; encode::STUB_LEN]> {
    encode::ops_stub(at, ops as u64, func).ok_or(ERANGE)
}
