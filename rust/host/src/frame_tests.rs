//! The entry frame's save and restore (`arch/x86/frame.rs`), checked by running the bytes on a
//! small interpreter of the few instructions they use.

use crate::frame::*;

/// Registers by number (rax 0, rcx 1, rdx 2, rsp 4, rbp 5, rsi 6, rdi 7, r8.. 8..).
struct Cpu {
    r: [u64; 16],
    mem: [u64; 32], // the stack: word i at STACK + 8 * i
}

const STACK: u64 = 0x1000;
const RSP: usize = 4;
const RBP: usize = 5;

impl Cpu {
    fn new() -> Self {
        let mut c = Cpu {
            r: [0; 16],
            mem: [0xdead_0000; 32],
        };
        for i in 0..16 {
            c.r[i] = 0x1111_0000 + i as u64;
        }
        // As after `push %rbp; mov %rsp, %rbp`.
        c.r[RBP] = STACK + 8 * 24;
        c.r[RSP] = c.r[RBP];
        c
    }
    fn word(&mut self, addr: u64) -> &mut u64 {
        assert!(addr >= STACK && addr.is_multiple_of(8), "{addr:#x}");
        &mut self.mem[((addr - STACK) / 8) as usize]
    }
    fn push(&mut self, v: u64) {
        self.r[RSP] -= 8;
        let sp = self.r[RSP];
        *self.word(sp) = v;
    }
    fn run(&mut self, b: &[u8]) {
        let mut i = 0;
        while i < b.len() {
            match b[i..] {
                [0x50..=0x57, ..] => {
                    self.push(self.r[usize::from(b[i] - 0x50)]);
                    i += 1;
                }
                [0x41, o @ 0x50..=0x57, ..] => {
                    self.push(self.r[8 + usize::from(o - 0x50)]);
                    i += 2;
                }
                [0x6a, imm, ..] => {
                    self.push(imm as i8 as i64 as u64);
                    i += 2;
                }
                [0x48, 0x83, 0xec, imm, ..] => {
                    self.r[RSP] -= u64::from(imm);
                    i += 4;
                }
                [rex @ (0x48 | 0x4c), op @ (0x89 | 0x8b), modrm, disp, ..] => {
                    assert_eq!(modrm & 0xc7, 0x45, "only disp8(%rbp)");
                    let reg = usize::from((modrm >> 3) & 7) + if rex == 0x4c { 8 } else { 0 };
                    let addr = self.r[RBP].wrapping_add(disp as i8 as i64 as u64);
                    if op == 0x89 {
                        *self.word(addr) = self.r[reg];
                    } else {
                        self.r[reg] = *self.word(addr);
                    }
                    i += 4;
                }
                _ => panic!("unexpected byte {:#x} at {i}: {b:02x?}", b[i]),
            }
        }
    }
}

/// ftramp_api.h's `struct ftramp_regs`, lowest address first, in register numbers (the frame
/// word first, then r9 r8 cx dx si di ax).
const REGS_LAYOUT: [usize; 7] = [9, 8, 1, 2, 6, 7, 0];
const ARGS: [usize; 6] = [7, 6, 2, 1, 8, 9];

#[test]
fn frames_lay_out_struct_ftramp_regs() {
    for frame in [0, 1, 2, 3, 4, 5, 6]
        .map(Frame::Args)
        .into_iter()
        .chain([Frame::Full])
    {
        let mut c = Cpu::new();
        let before = c.r;
        c.run(frame.save().as_slice());
        let regs = c.r[RSP];
        assert_eq!(regs, c.r[RBP] - SIZE as u64, "{frame:?}: regs at rbp-64");
        let n = match frame {
            Frame::Full => 6,
            Frame::Args(n) => usize::from(n),
        };
        assert_eq!(*c.word(regs), u64::from(frame.word()), "{frame:?}");
        assert_eq!(frame.word() & !FULL, n as u8);
        // Each saved argument register is in its field; the rest are not written.
        for (i, &r) in REGS_LAYOUT.iter().enumerate() {
            let v = *c.word(regs + 8 + 8 * i as u64);
            let saved = ARGS[..n].contains(&r) || (r == 0 && frame == Frame::Full);
            if saved {
                assert_eq!(v, before[r], "{frame:?}: register {r}");
            } else {
                assert_eq!(v, 0xdead_0000, "{frame:?}: register {r} written");
            }
        }
        // The callback clobbers every caller-saved register; the restore brings back what was
        // saved.
        for r in [0, 1, 2, 6, 7, 8, 9, 10, 11] {
            c.r[r] = 0xbad;
        }
        c.run(frame.restore().as_slice());
        for &r in &ARGS[..n] {
            assert_eq!(
                c.r[r], before[r],
                "{frame:?}: argument register {r} restored"
            );
        }
        if frame == Frame::Full {
            assert_eq!(c.r[0], before[0], "full frame restores rax");
        }
        assert_eq!(c.r[RBP], before[RBP]);
    }
}

#[test]
fn lean_frames_are_shorter() {
    // Instructions: a two-argument function's frame (save + restore) is 6, the full one 15.
    let insns = |f: Frame| {
        let (s, r) = (f.save(), f.restore());
        let save = match f {
            Frame::Full => 8,
            Frame::Args(n) => 2 + usize::from(n),
        };
        assert!(s.as_slice().len() <= 32 && r.as_slice().len() <= 32);
        save + r.as_slice().len() / 4
    };
    assert_eq!(insns(Frame::Args(2)), 6);
    assert_eq!(insns(Frame::Full), 15);
    assert_eq!(Frame::of(Some(2)), Frame::Args(2));
    assert_eq!(Frame::of(Some(7)), Frame::Full);
    assert_eq!(Frame::of(None), Frame::Full);
}
