// SPDX-License-Identifier: GPL-2.0

//! Per-function trampolines, copied from an assembly template into a pool slot with the
//! function's address and its site pointer baked in.
//!
//! Entry follows the ftrace direct-call ABI: called from the function's fentry site (or
//! returned into by ftrace's shared trampoline), with the return address into the function on
//! top of the stack, the function's own return address above it and the arguments in
//! registers. The trampoline keeps a frame pointer (so the ORC unwinder's frame-pointer
//! fallback can walk through generated code), saves what a C callee may clobber, loads
//! `(ip, parent_ip, site, regs)` and makes one patchable 5-byte `call`: the dispatch site.
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

use crate::arch::{encode, pool};
use kernel::{ffi, prelude::*};

use crate::sys;

// The template lives in .rodata: it is never executed in place (objtool need not see it), only
// copied. Placeholders: the two imm64s and the rel32 of the dispatch call.
core::arch::global_asm!(
    ".pushsection .rodata.ftramp_template, \"a\"",
    ".globl ftramp_tmpl_start, ftramp_tmpl_ip, ftramp_tmpl_site, ftramp_tmpl_call",
    ".globl ftramp_tmpl_ret, ftramp_tmpl_end, ftramp_tmpl_pinc, ftramp_tmpl_pdec",
    ".globl ftramp_tmpl_sched",
    "ftramp_tmpl_start:",
    "pushq %rbp",
    "movq %rsp, %rbp",
    // struct ftramp_regs, lowest address first: r9 r8 cx dx si di ax bp ret_ip parent_ip.
    "pushq %rax",
    "pushq %rdi",
    "pushq %rsi",
    "pushq %rdx",
    "pushq %rcx",
    "pushq %r8",
    "pushq %r9",
    "movq 16(%rbp), %rsi", // parent_ip: the function's return address
    "ftramp_tmpl_ip:",
    "movabsq $0x1111111111111111, %rdi", // ip: the function's fentry address
    "ftramp_tmpl_site:",
    "movabsq $0x2222222222222222, %rdx", // the site (the list iterator's argument)
    "movq %rsp, %rcx",                   // regs
    "ftramp_tmpl_pinc:",
    ".byte 0x65, 0xff, 0x04, 0x25, 0, 0, 0, 0", // incl %gs:<preempt count> (or incq)
    "ftramp_tmpl_call:",
    ".byte 0xe8, 0, 0, 0, 0", // the dispatch site: call <target>
    "ftramp_tmpl_pdec:",
    ".byte 0x65, 0xff, 0x0c, 0x25, 0, 0, 0, 0", // decl %gs:<preempt count> (or decq)
    ".byte 0x75, 0x05",                         // jnz: no reschedule due
    "ftramp_tmpl_sched:",
    ".byte 0xe8, 0, 0, 0, 0", // call preempt_schedule_notrace_thunk (or a nop)
    "popq %r9",
    "popq %r8",
    "popq %rcx",
    "popq %rdx",
    "popq %rsi",
    "popq %rdi",
    "popq %rax",
    "leave",
    "ftramp_tmpl_ret:",
    "ret",
    "int3",
    "int3",
    "int3",
    "int3",
    "ftramp_tmpl_end:",
    ".popsection",
    options(att_syntax)
);

extern "C" {
    static ftramp_tmpl_start: u8;
    static ftramp_tmpl_ip: u8;
    static ftramp_tmpl_site: u8;
    static ftramp_tmpl_call: u8;
    static ftramp_tmpl_ret: u8;
    static ftramp_tmpl_end: u8;
    static ftramp_tmpl_pinc: u8;
    static ftramp_tmpl_pdec: u8;
    static ftramp_tmpl_sched: u8;
}

/// Largest trampoline the generator may produce.
const MAX_LEN: usize = pool::SLOT_SIZE;

/// Length of the mode site at the start of every entry trampoline.
pub(crate) const MODE_LEN: usize = encode::REL32_INSN_LEN;

/// The generator's layout, fixed at load (whether call depth accounting is emitted is a boot
/// choice of the kernel), checked against the template once.
#[derive(Clone, Copy)]
pub(crate) struct Template {
    /// Template offsets: the prologue is `[0, t_pinc)`, the epilogue `[t_sched + 5, t_ret)`.
    t_ip: usize,
    t_site: usize,
    t_pinc: usize,
    t_sched: usize,
    t_ret: usize,
    /// Offset of the dispatch `call` in generated code.
    pub(crate) call: usize,
    /// Length of generated code.
    len: usize,
    /// `%gs`-relative address of the preemption counter.
    pub(super) preempt_count: usize,
    /// Its operand size in the kernel's own `preempt_disable()`/`preempt_enable()`.
    pub(super) preempt_width: encode::Width,
    /// `preempt_schedule_notrace_thunk`, or 0 (no `CONFIG_PREEMPTION`).
    pub(super) preempt_schedule: usize,
    /// `%gs`-relative address of the call depth counter, 0 when call depth tracking is off.
    pub(super) call_depth: usize,
}

fn template_bytes(len: usize) -> &'static [u8] {
    // SAFETY: `ftramp_tmpl_start` is followed by `len` bytes of the template in .rodata.
    unsafe { core::slice::from_raw_parts(core::ptr::addr_of!(ftramp_tmpl_start), len) }
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

impl Template {
    /// Reads the template's layout and checks that the placeholders are where the code below
    /// writes (a change to the assembly that breaks that fails the load, not a CPU).
    pub(crate) fn get() -> Result<Self> {
        let at = |p: *const u8| p as usize;
        let start = at(core::ptr::addr_of!(ftramp_tmpl_start));
        let off = |p: *const u8| at(p) - start;
        // Only the addresses of the template's labels are taken.
        let (t_len, t_ip, t_site, t_call, t_ret, t_pinc, t_pdec, t_sched) = (
            off(core::ptr::addr_of!(ftramp_tmpl_end)),
            off(core::ptr::addr_of!(ftramp_tmpl_ip)),
            off(core::ptr::addr_of!(ftramp_tmpl_site)),
            off(core::ptr::addr_of!(ftramp_tmpl_call)),
            off(core::ptr::addr_of!(ftramp_tmpl_ret)),
            off(core::ptr::addr_of!(ftramp_tmpl_pinc)),
            off(core::ptr::addr_of!(ftramp_tmpl_pdec)),
            off(core::ptr::addr_of!(ftramp_tmpl_sched)),
        );
        let b = template_bytes(t_len);
        let ok = b[t_ip..t_ip + 2] == [0x48, 0xbf]
            && b[t_site..t_site + 2] == [0x48, 0xba]
            && t_site + encode::MOVABS_LEN < t_pinc
            && b[t_pinc..t_pinc + 3] == [0x65, 0xff, 0x04]
            && t_pinc + encode::PERCPU_RMW_LEN == t_call
            && b[t_call] == encode::CALL_OPCODE
            && t_call + encode::REL32_INSN_LEN == t_pdec
            && b[t_pdec..t_pdec + 3] == [0x65, 0xff, 0x0c]
            && t_pdec + encode::PERCPU_RMW_LEN + 2 == t_sched
            && b[t_sched] == encode::CALL_OPCODE
            && b[t_ret] == 0xc3
            && t_ret + encode::REL32_INSN_LEN <= t_len;
        if !ok {
            pr_err!("trampoline template layout is not what the generator expects\n");
            return Err(EINVAL);
        }
        // SAFETY: no preconditions.
        let call_depth = unsafe { sys::ftramp_call_depth_addr() } as usize;
        let d = if call_depth != 0 {
            encode::CALL_DEPTH_LEN
        } else {
            0
        };
        // Generated: mode [depth] prologue inc [depth] call dec jnz [depth] call-sched
        // epilogue ret
        let call = MODE_LEN + d + t_pinc + encode::PERCPU_RMW_LEN + d;
        let epilogue = t_ret - (t_sched + encode::REL32_INSN_LEN);
        let len = call
            + encode::REL32_INSN_LEN
            + encode::PERCPU_RMW_LEN
            + 2
            + d
            + encode::REL32_INSN_LEN
            + epilogue
            + encode::REL32_INSN_LEN;
        if len > MAX_LEN {
            pr_err!("trampoline of {} bytes does not fit a slot\n", len);
            return Err(EINVAL);
        }
        Ok(Self {
            t_ip,
            t_site,
            t_pinc,
            t_sched,
            t_ret,
            call,
            len,
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
            call_depth,
        })
    }

    /// `(length, offset of the dispatch call)` of every trampoline (`status`, for the tests
    /// that decode generated code).
    pub(crate) fn layout(&self) -> (usize, usize) {
        (self.len, self.call)
    }

    /// Call depth accounting for a `call` at the writer's position (nothing when it is off).
    pub(super) fn account(&self, w: &mut Writer<'_>) -> Result {
        if self.call_depth != 0 {
            let a = encode::call_depth_account(w.here(), self.call_depth).ok_or(ERANGE)?;
            w.put(&a)?;
        }
        Ok(())
    }

    /// The trampoline bytes for function `ip` with site pointer `site`, placed at `at` and
    /// dispatching to `target`.
    pub(crate) fn build(&self, at: usize, ip: usize, site: usize, target: usize) -> Result<Code> {
        let mut code = Code {
            bytes: [encode::INT3; MAX_LEN],
            len: 0,
        };
        let t = template_bytes(self.t_ret);
        let mut w = Writer {
            b: &mut code.bytes,
            at,
            len: 0,
        };
        // SAFETY: plain read of a test knob.
        let mutant = unsafe { sys::ftramp_mutant_preemptible() };
        let pc = self.preempt_count;

        // The mode site: a `nop` while the function has no return ops, a `jmp` to its return
        // trampoline while it has (switched like a dispatch site, see `ret_trampoline.rs`).
        w.put(&encode::NOP5)?;
        // The fentry `call` that entered: accounted here, as BPF's trampolines do.
        self.account(&mut w)?;
        let prologue = w.len;
        w.put(&t[..self.t_pinc])?;
        w.b[prologue + self.t_ip..prologue + self.t_ip + encode::MOVABS_LEN]
            .copy_from_slice(&encode::movabs(encode::Reg::Rdi, ip as u64));
        w.b[prologue + self.t_site..prologue + self.t_site + encode::MOVABS_LEN]
            .copy_from_slice(&encode::movabs(encode::Reg::Rdx, site as u64));
        let inc = encode::percpu_rmw(encode::PercpuOp::Inc, self.preempt_width, w.here(), pc)
            .ok_or(ERANGE)?;
        w.put(if mutant { &encode::NOP8 } else { &inc })?;
        self.account(&mut w)?;
        if w.len != self.call {
            return Err(EINVAL);
        }
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
                self.account(&mut w)?;
                w.put(&encode::NOP5)?;
            }
            f => {
                self.account(&mut w)?;
                w.put(&encode::call(w.here(), f).ok_or(ERANGE)?)?;
            }
        }
        w.put(&t[self.t_sched + encode::REL32_INSN_LEN..self.t_ret])?;
        w.put(&return_insn(w.here())?)?;
        if w.len != self.len {
            return Err(EINVAL);
        }
        code.len = self.len;
        Ok(code)
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
