// SPDX-License-Identifier: GPL-2.0

//! The code of a fused stub: what a site's dispatch `call` reaches when it has two or more
//! (up to `fused_max`) entry ops. It calls each ops' callback in turn, by a direct `call` with
//! the ops pointer baked in, instead of the list iterator's load of the list and indirect call
//! per ops. `core`-only, unit-tested on the host (`rust/host`).
//!
//! Entered like an ops callback, `stub(ip, parent_ip, site, regs)`, with preemption disabled
//! by the trampoline:
//!
//! ```text
//!   push %rbp; mov %rsp,%rbp              frame pointer, for unwinding through it
//!   push %rdi; push %rsi; push %rcx       ip, parent_ip, regs at -8/-16/-24(%rbp)
//!   movabs $ops0,%rdx; [depth]; call f0   f0(ip, parent_ip, ops0, regs)
//!   mov -8(%rbp),%rdi; mov -16(%rbp),%rsi; mov -24(%rbp),%rcx
//!   movabs $ops1,%rdx; [depth]; call f1   ... one such block per ops
//!   leave; ret (or jmp to the return thunk)
//! ```
//!
//! `f` is the ops' callback when it guards itself (`FTRAMP_OPS_FL_RECURSION`), else the
//! recursion-guard wrapper (`ops_assist`), as in the ops' own entry stub: each ops gets what
//! it gets when it is alone on a function. A stub longer than a slot continues in the next
//! one through a `jmp` (slots are not contiguous); [`slots_needed`] says how many it takes.
//! `[depth]` is the call depth accounting of `retbleed=stuff` (none when it is off).

use super::encode;

/// One call of the stub: `target(ip, parent_ip, ops, regs)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// The ops pointer (third argument).
    pub ops: u64,
    /// What is called: the callback, or the recursion-guard wrapper.
    pub target: usize,
}

/// `push %rbp; mov %rsp,%rbp; push %rdi; push %rsi; push %rcx`.
pub const PROLOGUE: [u8; 7] = [0x55, 0x48, 0x89, 0xe5, 0x57, 0x56, 0x51];
/// `mov -8(%rbp),%rdi; mov -16(%rbp),%rsi; mov -24(%rbp),%rcx`: the arguments again (a
/// callee may clobber them).
pub const RELOAD: [u8; 12] = [
    0x48, 0x8b, 0x7d, 0xf8, 0x48, 0x8b, 0x75, 0xf0, 0x48, 0x8b, 0x4d, 0xe8,
];
/// `leave`.
pub const LEAVE: u8 = 0xc9;
/// `leave` and a 5-byte return.
const EPILOGUE_LEN: usize = 1 + encode::REL32_INSN_LEN;

/// Length of the block that calls ops `i`.
fn block_len(i: usize, depth: bool) -> usize {
    let reload = if i > 0 { RELOAD.len() } else { 0 };
    let acct = if depth { encode::CALL_DEPTH_LEN } else { 0 };
    reload + encode::MOVABS_LEN + acct + encode::REL32_INSN_LEN
}

/// A piece of a stub's code, in the order [`walk`] lays them out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    /// The prologue, at the start of slot 0.
    Prologue,
    /// The block of ops `i`.
    Block(usize),
    /// A `jmp` to the start of the next slot.
    Chain,
    /// `leave; ret`.
    Epilogue,
}

/// Calls `f(piece, slot, offset)` for every piece of a stub of `n` calls in slots of
/// `slot_size` bytes, in order; returns the number of slots, or `None` if a block does not fit
/// an empty slot.
fn walk(
    n: usize,
    depth: bool,
    slot_size: usize,
    mut f: impl FnMut(Piece, usize, usize) -> Option<()>,
) -> Option<usize> {
    let (mut s, mut off) = (0, 0);
    f(Piece::Prologue, s, off)?;
    off += PROLOGUE.len();
    for i in 0..n {
        let len = block_len(i, depth);
        // After a block there must be room for what follows: the epilogue after the last, a
        // chaining `jmp` at least after the others.
        let after = if i + 1 == n {
            EPILOGUE_LEN
        } else {
            encode::REL32_INSN_LEN
        };
        if off + len + after > slot_size {
            if len + after > slot_size {
                return None;
            }
            f(Piece::Chain, s, off)?;
            s += 1;
            off = 0;
        }
        f(Piece::Block(i), s, off)?;
        off += len;
    }
    f(Piece::Epilogue, s, off)?;
    Some(s + 1)
}

/// Slots a stub of `calls` calls takes (`None`: it cannot be built).
pub fn slots_needed(calls: usize, depth: bool, slot_size: usize) -> Option<usize> {
    walk(calls, depth, slot_size, |_, _, _| Some(()))
}

/// Writes the stub of `calls` into `code`: `slot_size` bytes for each slot, the slot at
/// `addrs[i]` at `code[i * slot_size..]`, as many as [`slots_needed`] says (the caller fills
/// them with `int3` first). `depth` is the `%gs`-relative address of the call depth counter
/// (0: no accounting); `ret(at)` is the return the kernel wants at `at`. `None` if a branch or
/// displacement is out of range, or the slots are too few.
pub fn build(
    addrs: &[usize],
    code: &mut [u8],
    slot_size: usize,
    calls: &[Call],
    depth: usize,
    ret: impl Fn(usize) -> Option<[u8; encode::REL32_INSN_LEN]>,
) -> Option<()> {
    let need = slots_needed(calls.len(), depth != 0, slot_size)?;
    if need > addrs.len() || need * slot_size > code.len() {
        return None;
    }
    walk(calls.len(), depth != 0, slot_size, |piece, s, off| {
        let buf = code.get_mut(s * slot_size..(s + 1) * slot_size)?;
        let mut w = Cursor {
            buf,
            at: *addrs.get(s)?,
            off,
        };
        match piece {
            Piece::Prologue => w.put(&PROLOGUE),
            Piece::Block(i) => {
                if i > 0 {
                    w.put(&RELOAD)?;
                }
                w.put(&encode::movabs(encode::Reg::Rdx, calls[i].ops))?;
                if depth != 0 {
                    w.put(&encode::call_depth_account(w.here(), depth)?)?;
                }
                w.put(&encode::call(w.here(), calls[i].target)?)
            }
            Piece::Chain => w.put(&encode::jmp(w.here(), *addrs.get(s + 1)?)?),
            Piece::Epilogue => {
                w.put(&[LEAVE])?;
                let r = ret(w.here())?;
                w.put(&r)
            }
        }
    })
    .map(|_| ())
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    at: usize,
    off: usize,
}

impl Cursor<'_> {
    fn put(&mut self, b: &[u8]) -> Option<()> {
        self.buf
            .get_mut(self.off..self.off + b.len())?
            .copy_from_slice(b);
        self.off += b.len();
        Some(())
    }

    fn here(&self) -> usize {
        self.at + self.off
    }
}
