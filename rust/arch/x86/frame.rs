// SPDX-License-Identifier: GPL-2.0

//! The entry frame: which registers a trampoline saves into `struct ftramp_regs`
//! (`rust/ftramp_api.h`) before its dispatch `call`, and restores after it. `core`-only,
//! host-tested (`rust/host/src/frame_tests.rs` runs the bytes).
//!
//! Below the frame pointer, lowest address first, the layout is always the same, so every
//! callback reads one `struct ftramp_regs` whatever was saved:
//!
//! ```text
//!   rbp-64  frame   what was saved: the argument registers' count, | FULL
//!   rbp-56  r9, r8, cx, dx, si, di (rbp-16), ax (rbp-8)
//!   rbp     the caller's rbp, then ret_ip and parent_ip above it
//! ```
//!
//! - [`Frame::Full`]: without a BTF model of the function (none, or one ftramp refuses, such
//!   as a variadic function) nothing is known of its arguments, so all six argument registers
//!   and `%rax` are saved and restored, as ftrace's own trampolines do.
//! - [`Frame::Args`]`(n)`: with a model, only the `n` registers its arguments occupy
//!   (`btf::model::FuncModel::arg_regs`): nothing else is live at the fentry call. That is what
//!   BPF's trampolines save (`save_args()` for `m->nr_args`); for a two-argument function the
//!   frame costs 6 instructions instead of 14. The other slots are left unwritten, and the frame
//!   word says so to `ftramp_regs_arg()`, which returns 0 for an argument past the count.
//!
//! The frame word makes the frame 72 bytes with the frame pointer, an odd number of words: the
//! x86-64 kernel keeps only 8-byte stack alignment (`-mpreferred-stack-boundary=3`, clang's
//! `-mstack-alignment=8`), as its own C calling Rust does, so no padding word is spent on it.
//!
//! `%rax` is not live at a non-variadic function's entry (SysV passes nothing in it; only a
//! variadic callee reads `%al`, and the kernel, built without SSE, does not even do that), and
//! `%r10`/`%r11` are never argument registers of kernel C; a callback may clobber all of them.

/// The frame word's flag: every register was saved (no model).
pub const FULL: u8 = 0x10;

/// Argument registers, in SysV order.
pub const ARG_REGS: u8 = 6;

/// Bytes below `%rbp`: the frame word and seven registers.
pub const SIZE: i8 = 64;

/// Longest save or restore sequence.
const MAX_LEN: usize = 32;

/// What a trampoline saves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Every argument register and `%rax`.
    Full,
    /// The first `n` argument registers (`n <= 6`).
    Args(u8),
}

/// A register of the frame: its number in ModRM/REX terms and its slot below `%rbp`.
#[derive(Clone, Copy)]
struct Slot {
    reg: u8,
    disp: i8,
}

/// The argument registers in order (`%rdi %rsi %rdx %rcx %r8 %r9`), then `%rax`.
const SLOTS: [Slot; 7] = [
    Slot { reg: 7, disp: -16 },
    Slot { reg: 6, disp: -24 },
    Slot { reg: 2, disp: -32 },
    Slot { reg: 1, disp: -40 },
    Slot { reg: 8, disp: -48 },
    Slot { reg: 9, disp: -56 },
    Slot { reg: 0, disp: -8 },
];

/// Encoded instructions.
#[derive(Clone, Copy)]
pub struct Code {
    b: [u8; MAX_LEN],
    len: usize,
}

impl Code {
    fn new() -> Self {
        Self {
            b: [0; MAX_LEN],
            len: 0,
        }
    }

    fn put(&mut self, insn: &[u8]) {
        self.b[self.len..self.len + insn.len()].copy_from_slice(insn);
        self.len += insn.len();
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.b[..self.len]
    }
}

/// `mov %reg, disp8(%rbp)` (`store`) or `mov disp8(%rbp), %reg`.
fn mov_rbp(s: Slot, store: bool) -> [u8; 4] {
    [
        0x48 | ((s.reg >> 3) << 2),
        if store { 0x89 } else { 0x8b },
        0x45 | ((s.reg & 7) << 3),
        s.disp as u8,
    ]
}

impl Frame {
    /// The frame for a function whose arguments take `arg_regs` registers, if known.
    pub fn of(arg_regs: Option<u8>) -> Self {
        match arg_regs {
            Some(n) if n <= ARG_REGS => Frame::Args(n),
            _ => Frame::Full,
        }
    }

    /// The frame word a callback finds (`ftramp_regs_nr_args()` is its low bits).
    pub fn word(self) -> u8 {
        match self {
            Frame::Full => ARG_REGS | FULL,
            Frame::Args(n) => n,
        }
    }

    /// The registers saved, in [`SLOTS`] order.
    fn saved(self) -> &'static [Slot] {
        match self {
            Frame::Full => &SLOTS,
            Frame::Args(n) => &SLOTS[..usize::from(n.min(ARG_REGS))],
        }
    }

    /// The save, right after `push %rbp; mov %rsp, %rbp`; `%rsp` ends at the frame word
    /// (`regs`).
    pub fn save(self) -> Code {
        let mut c = Code::new();
        match self {
            Frame::Full => {
                // push %rax %rdi %rsi %rdx %rcx %r8 %r9: the slots from rbp-8 down.
                c.put(&[0x50, 0x57, 0x56, 0x52, 0x51, 0x41, 0x50, 0x41, 0x51]);
            }
            Frame::Args(_) => {
                c.put(&[0x48, 0x83, 0xec, (SIZE - 8) as u8]); // sub $56, %rsp
                for &s in self.saved() {
                    c.put(&mov_rbp(s, true));
                }
            }
        }
        c.put(&[0x6a, self.word()]); // push $word
        c
    }

    /// The restore, before `leave`: the saved registers again (a callback may have clobbered
    /// them); `%rsp` is left to `leave`.
    pub fn restore(self) -> Code {
        let mut c = Code::new();
        for &s in self.saved() {
            c.put(&mov_rbp(s, false));
        }
        c
    }
}
