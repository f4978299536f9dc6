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
//! The dispatch runs with preemption disabled (an inline `incl`/`decl` of the per-CPU
//! preemption counter, and `preempt_schedule_notrace_thunk` when the count drops to zero, as
//! `preempt_enable_notrace()` does): every callback runs non-preemptible, whether the site
//! calls its stub directly or the list iterator, so callbacks may not sleep (ftrace's rule) and
//! one wait covers them in both modes. A sleeping callback gets the kernel's "scheduling while
//! atomic" splat instead of a silent use-after-free.
//!
//! No `endbr64` is needed: the trampoline is only reached by a direct `call` or a `ret`, never
//! an indirect branch. With return thunks the final `ret` becomes `jmp __x86_return_thunk`.

use crate::arch::{encode, pool};
use kernel::prelude::*;

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
    ".byte 0x65, 0xff, 0x04, 0x25, 0, 0, 0, 0", // incl %gs:<preempt count>
    "ftramp_tmpl_call:",
    ".byte 0xe8, 0, 0, 0, 0", // the dispatch site: call <target>
    "ftramp_tmpl_pdec:",
    ".byte 0x65, 0xff, 0x0c, 0x25, 0, 0, 0, 0", // decl %gs:<preempt count>
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

/// Largest trampoline the template may produce.
const MAX_LEN: usize = 112;
const _: () = assert!(MAX_LEN <= pool::SLOT_SIZE);

/// Offsets into the template, checked once at load.
#[derive(Clone, Copy)]
pub(crate) struct Template {
    len: usize,
    ip: usize,
    site: usize,
    /// Offset of the dispatch `call`.
    pub(crate) call: usize,
    ret: usize,
    pinc: usize,
    pdec: usize,
    sched: usize,
    /// `%gs`-relative address of the preemption counter.
    preempt_count: usize,
    /// `preempt_schedule_notrace_thunk`, or 0 (no `CONFIG_PREEMPTION`).
    preempt_schedule: usize,
}

fn template_bytes(len: usize) -> &'static [u8] {
    // SAFETY: `ftramp_tmpl_start` is followed by `len` bytes of the template in .rodata.
    unsafe { core::slice::from_raw_parts(core::ptr::addr_of!(ftramp_tmpl_start), len) }
}

impl Template {
    /// Reads the template's layout and checks that the placeholders are where the code below
    /// writes (a change to the assembly that breaks that fails the load, not a CPU).
    pub(crate) fn get() -> Result<Self> {
        let at = |p: *const u8| p as usize;
        let start = at(core::ptr::addr_of!(ftramp_tmpl_start));
        let off = |p: *const u8| at(p) - start;
        // Only the addresses of the template's labels are taken.
        let t = Self {
            len: off(core::ptr::addr_of!(ftramp_tmpl_end)),
            ip: off(core::ptr::addr_of!(ftramp_tmpl_ip)),
            site: off(core::ptr::addr_of!(ftramp_tmpl_site)),
            call: off(core::ptr::addr_of!(ftramp_tmpl_call)),
            ret: off(core::ptr::addr_of!(ftramp_tmpl_ret)),
            pinc: off(core::ptr::addr_of!(ftramp_tmpl_pinc)),
            pdec: off(core::ptr::addr_of!(ftramp_tmpl_pdec)),
            sched: off(core::ptr::addr_of!(ftramp_tmpl_sched)),
            // SAFETY: no preconditions.
            preempt_count: unsafe { sys::ftramp_preempt_count_addr() } as usize,
            // SAFETY: no preconditions.
            preempt_schedule: unsafe { sys::ftramp_preempt_schedule_addr() } as usize,
        };
        let b = template_bytes(t.len);
        // MAX_LEN <= SLOT_SIZE is checked at build time below.
        let ok = t.len <= MAX_LEN
            && b[t.ip..t.ip + 2] == [0x48, 0xbf]
            && b[t.site..t.site + 2] == [0x48, 0xba]
            && b[t.call] == encode::CALL_OPCODE
            && b[t.ret] == 0xc3
            && t.ret + encode::REL32_INSN_LEN <= t.len
            && b[t.pinc..t.pinc + 3] == [0x65, 0xff, 0x04]
            && t.pinc + encode::PERCPU_RMW_LEN == t.call
            && t.call + encode::REL32_INSN_LEN == t.pdec
            && b[t.pdec..t.pdec + 3] == [0x65, 0xff, 0x0c]
            && t.pdec + encode::PERCPU_RMW_LEN + 2 == t.sched
            && b[t.sched] == encode::CALL_OPCODE;
        if !ok {
            pr_err!("trampoline template layout is not what the generator expects\n");
            return Err(EINVAL);
        }
        Ok(t)
    }

    /// The trampoline bytes for function `ip` with site pointer `site`, placed at `at` and
    /// dispatching to `target`.
    pub(crate) fn build(&self, at: usize, ip: usize, site: usize, target: usize) -> Result<Code> {
        let mut code = Code {
            bytes: [0; MAX_LEN],
            len: self.len,
        };
        let b = &mut code.bytes[..self.len];
        b.copy_from_slice(template_bytes(self.len));
        b[self.ip..self.ip + encode::MOVABS_LEN]
            .copy_from_slice(&encode::movabs(encode::Reg::Rdi, ip as u64));
        b[self.site..self.site + encode::MOVABS_LEN]
            .copy_from_slice(&encode::movabs(encode::Reg::Rdx, site as u64));
        let call = encode::call(at + self.call, target).ok_or(ERANGE)?;
        b[self.call..self.call + encode::REL32_INSN_LEN].copy_from_slice(&call);
        let pc = self.preempt_count;
        let (mut inc, mut dec) = (
            encode::percpu_rmw(encode::PercpuOp::Inc, at + self.pinc, pc).ok_or(ERANGE)?,
            encode::percpu_rmw(encode::PercpuOp::Dec, at + self.pdec, pc).ok_or(ERANGE)?,
        );
        // SAFETY: plain read of a test knob.
        let mutant = unsafe { sys::ftramp_mutant_preemptible() };
        if mutant {
            (inc, dec) = (encode::NOP8, encode::NOP8);
        }
        b[self.pinc..self.pinc + encode::PERCPU_RMW_LEN].copy_from_slice(&inc);
        b[self.pdec..self.pdec + encode::PERCPU_RMW_LEN].copy_from_slice(&dec);
        let sched = match self.preempt_schedule {
            _ if mutant => encode::NOP5,
            0 => encode::NOP5,
            f => encode::call(at + self.sched, f).ok_or(ERANGE)?,
        };
        b[self.sched..self.sched + encode::REL32_INSN_LEN].copy_from_slice(&sched);
        write_return(b, self.ret, at)?;
        Ok(code)
    }

    /// The do-nothing target, placed at `at`: a bare return (what a site ftrace would not
    /// detach is switched to, and where new sites start before they are switched on).
    pub(crate) fn nop_target(&self, at: usize) -> Result<Code> {
        let mut code = Code {
            bytes: [encode::INT3; MAX_LEN],
            len: encode::REL32_INSN_LEN,
        };
        code.bytes[0] = 0xc3;
        write_return(&mut code.bytes, 0, at)?;
        Ok(code)
    }
}

/// Turns the `ret` at `b[off]` (placed at `at + off`) into `jmp` to the return thunk when the
/// kernel returns through one; `b` has 5 bytes there either way.
fn write_return(b: &mut [u8], off: usize, at: usize) -> Result {
    if cfg!(CONFIG_MITIGATION_RETHUNK) {
        let jmp = encode::jmp(at + off, return_thunk()).ok_or(ERANGE)?;
        b[off..off + encode::REL32_INSN_LEN].copy_from_slice(&jmp);
    }
    Ok(())
}

#[cfg(CONFIG_MITIGATION_RETHUNK)]
fn return_thunk() -> usize {
    extern "C" {
        static __x86_return_thunk: u8;
    }
    // SAFETY: only the address is taken.
    unsafe { core::ptr::addr_of!(__x86_return_thunk) as usize }
}

#[cfg(not(CONFIG_MITIGATION_RETHUNK))]
fn return_thunk() -> usize {
    0
}

/// Generated code, ready to be written into a slot.
pub(crate) struct Code {
    bytes: [u8; MAX_LEN],
    len: usize,
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

#[cfg(CONFIG_CALL_DEPTH_TRACKING)]
compile_error!("ftramp's trampolines do not do call depth accounting (CALL_DEPTH_TRACKING)");
