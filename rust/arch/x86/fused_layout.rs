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
//!   [push %rbx                            guarded ops: the guard's bit lives in %rbx
//!    [depth]; call take; mov %eax,%ebx]   take(ip, parent_ip): the bit, or -1 if refused
//!   [reload]                              mov -8(%rbp),%rdi; mov -16(%rbp),%rsi; ...rcx
//!   [test %ebx,%ebx; js 1f]               only before an ops that needs the guard
//!   movabs $ops0,%rdx; [depth]; call f0   f0(ip, parent_ip, ops0, regs)
//!   1: ... one such block per ops, each reloading the arguments
//!   [test %ebx,%ebx; js 2f; mov %ebx,%edi; [depth]; call release; 2:
//!    mov -32(%rbp),%rbx]
//!   leave; ret (or jmp to the return thunk)
//! ```
//!
//! `f` is always the ops' callback. The ops that do not guard themselves (no
//! `FTRAMP_OPS_FL_RECURSION`) share **one** recursion guard (ftrace's list-level bit,
//! `dispatch/guard.rs`), taken before the first ops and released after the last: with it
//! refused, the stub skips them and still calls the ops that guard themselves. That is one
//! guard per site call, as ftrace's list function takes, instead of one wrapper call per ops
//! (BPF guards each program separately). A stub longer than a slot continues in the next one
//! through a `jmp` (slots are not contiguous); [`slots_needed`] says how many it takes.
//! `[depth]` is the call depth accounting of `retbleed=stuff` (none when it is off).

use super::encode;

/// One call of the stub: `target(ip, parent_ip, ops, regs)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// The ops pointer (third argument).
    pub ops: u64,
    /// Its callback.
    pub target: usize,
    /// Called only under the stub's recursion guard (the ops does not guard itself).
    pub guarded: bool,
}

/// The stub's recursion guard: `take(ip, parent_ip) -> bit or -1`, `release(bit)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardFns {
    /// Takes the bit.
    pub take: usize,
    /// Releases it.
    pub release: usize,
}

/// `push %rbp; mov %rsp,%rbp; push %rdi; push %rsi; push %rcx`.
pub const PROLOGUE: [u8; 7] = [0x55, 0x48, 0x89, 0xe5, 0x57, 0x56, 0x51];
/// `push %rbx`: kept for the guard's bit (callee-saved, so the callbacks leave it).
pub const PUSH_RBX: u8 = 0x53;
/// `mov -8(%rbp),%rdi; mov -16(%rbp),%rsi; mov -24(%rbp),%rcx`: the arguments again (a
/// callee may clobber them).
pub const RELOAD: [u8; 12] = [
    0x48, 0x8b, 0x7d, 0xf8, 0x48, 0x8b, 0x75, 0xf0, 0x48, 0x8b, 0x4d, 0xe8,
];
/// `mov %eax,%ebx`: the bit the guard took.
pub const KEEP_BIT: [u8; 2] = [0x89, 0xc3];
/// `test %ebx,%ebx`, before a `js` over what needs the guard.
pub const TEST_BIT: [u8; 2] = [0x85, 0xdb];
/// `js rel8`.
pub const JS: u8 = 0x78;
/// `mov %ebx,%edi`: the bit, the release's argument.
pub const BIT_ARG: [u8; 2] = [0x89, 0xdf];
/// `mov -32(%rbp),%rbx`: the caller's `%rbx` again.
pub const RESTORE_RBX: [u8; 4] = [0x48, 0x8b, 0x5d, 0xe0];
/// `leave`.
pub const LEAVE: u8 = 0xc9;

/// What the stub's code is made of, in the order [`walk`] lays them out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    /// The prologue, at the start of slot 0.
    Prologue,
    /// The guard taken.
    Take,
    /// The block of ops `i`.
    Block(usize),
    /// The guard released.
    Release,
    /// A `jmp` to the start of the next slot.
    Chain,
    /// `leave; ret`.
    Epilogue,
}

/// The shape of a stub: its calls, and whether any needs the guard.
#[derive(Clone, Copy)]
struct Shape<'a> {
    calls: &'a [Call],
    guard: bool,
    depth: bool,
}

impl Shape<'_> {
    fn acct(&self) -> usize {
        if self.depth {
            encode::CALL_DEPTH_LEN
        } else {
            0
        }
    }

    fn len(&self, p: Piece) -> usize {
        let call = self.acct() + encode::REL32_INSN_LEN;
        match p {
            Piece::Prologue => PROLOGUE.len() + usize::from(self.guard),
            Piece::Take => call + KEEP_BIT.len(),
            Piece::Block(i) => {
                let reload = if i > 0 || self.guard { RELOAD.len() } else { 0 };
                let test = if self.calls[i].guarded { 4 } else { 0 };
                reload + test + encode::MOVABS_LEN + call
            }
            Piece::Release => TEST_BIT.len() + 2 + BIT_ARG.len() + call,
            Piece::Chain => encode::REL32_INSN_LEN,
            Piece::Epilogue => {
                let rbx = if self.guard { RESTORE_RBX.len() } else { 0 };
                rbx + 1 + encode::REL32_INSN_LEN
            }
        }
    }
}

/// Calls `f(piece, slot, offset)` for every piece of a stub in slots of `slot_size` bytes, in
/// order; returns the number of slots, or `None` if a piece does not fit an empty slot.
fn walk(
    shape: Shape<'_>,
    slot_size: usize,
    mut f: impl FnMut(Piece, usize, usize) -> Option<()>,
) -> Option<usize> {
    let n = shape.calls.len();
    let (mut s, mut off) = (0, 0);
    f(Piece::Prologue, s, off)?;
    off += shape.len(Piece::Prologue);
    let body = shape
        .guard
        .then_some(Piece::Take)
        .into_iter()
        .chain((0..n).map(Piece::Block))
        .chain(shape.guard.then_some(Piece::Release));
    let last = n + 2 * usize::from(shape.guard);
    for (k, p) in body.enumerate() {
        let len = shape.len(p);
        // After a piece there must be room for what follows: the epilogue after the last, a
        // chaining `jmp` at least after the others.
        let after = if k + 1 == last {
            shape.len(Piece::Epilogue)
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
        f(p, s, off)?;
        off += len;
    }
    f(Piece::Epilogue, s, off)?;
    Some(s + 1)
}

/// Slots a stub of `calls` takes (`None`: it cannot be built).
pub fn slots_needed(calls: &[Call], depth: bool, slot_size: usize) -> Option<usize> {
    let guard = calls.iter().any(|c| c.guarded);
    walk(
        Shape {
            calls,
            guard,
            depth,
        },
        slot_size,
        |_, _, _| Some(()),
    )
}

/// Writes the stub of `calls` into `code`: `slot_size` bytes for each slot, the slot at
/// `addrs[i]` at `code[i * slot_size..]`, as many as [`slots_needed`] says (the caller fills
/// them with `int3` first). `depth` is the `%gs`-relative address of the call depth counter
/// (0: no accounting); `guard` the guard's functions (used if a call is guarded); `ret(at)`
/// is the return the kernel wants at `at`. `None` if a branch or displacement is out of
/// range, or the slots are too few.
pub fn build(
    addrs: &[usize],
    code: &mut [u8],
    slot_size: usize,
    calls: &[Call],
    depth: usize,
    guard: GuardFns,
    ret: impl Fn(usize) -> Option<[u8; encode::REL32_INSN_LEN]>,
) -> Option<()> {
    let shape = Shape {
        calls,
        guard: calls.iter().any(|c| c.guarded),
        depth: depth != 0,
    };
    let need = slots_needed(calls, depth != 0, slot_size)?;
    if need > addrs.len() || need * slot_size > code.len() {
        return None;
    }
    walk(shape, slot_size, |piece, s, off| {
        let buf = code.get_mut(s * slot_size..(s + 1) * slot_size)?;
        let mut w = Cursor {
            buf,
            at: *addrs.get(s)?,
            off,
        };
        let call = |w: &mut Cursor<'_>, target: usize| {
            if depth != 0 {
                w.put(&encode::call_depth_account(w.here(), depth)?)?;
            }
            w.put(&encode::call(w.here(), target)?)
        };
        // `js` over the rest of a piece of `len` bytes that starts at `start`.
        let skip = |w: &mut Cursor<'_>, start: usize, len: usize| {
            w.put(&TEST_BIT)?;
            // A forward rel8: at most 127 (pieces are under 50 bytes).
            let rest = i8::try_from(start + len - (w.off + 2)).ok()?;
            w.put(&[JS, rest as u8])
        };
        match piece {
            Piece::Prologue => {
                w.put(&PROLOGUE)?;
                if shape.guard {
                    w.put(&[PUSH_RBX])?;
                }
                Some(())
            }
            Piece::Take => {
                call(&mut w, guard.take)?;
                w.put(&KEEP_BIT)
            }
            Piece::Block(i) => {
                if i > 0 || shape.guard {
                    w.put(&RELOAD)?;
                }
                if calls[i].guarded {
                    skip(&mut w, off, shape.len(piece))?;
                }
                w.put(&encode::movabs(encode::Reg::Rdx, calls[i].ops))?;
                call(&mut w, calls[i].target)
            }
            Piece::Release => {
                skip(&mut w, off, shape.len(piece))?;
                w.put(&BIT_ARG)?;
                call(&mut w, guard.release)
            }
            Piece::Chain => w.put(&encode::jmp(w.here(), *addrs.get(s + 1)?)?),
            Piece::Epilogue => {
                if shape.guard {
                    w.put(&RESTORE_RBX)?;
                }
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
