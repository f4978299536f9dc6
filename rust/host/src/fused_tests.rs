//! The fused stub's code (`arch/x86/fused_layout.rs`), checked by running it: a small
//! interpreter follows the bytes from the first slot, through chaining `jmp`s, and records
//! each `call` with the ops pointer `%rdx` holds at it, and the guard's take and release.

use crate::encode;
use crate::fused_layout::*;

const SLOT: usize = 256;
const THUNK: usize = 0xffff_ffff_8100_0000;
const DEPTH: usize = 0x2_1000; // a %gs-relative per-CPU offset, as 6.12 and 7.3 have them
const GUARD: GuardFns = GuardFns {
    take: 0xffff_ffff_8130_0000,
    release: 0xffff_ffff_8130_0100,
};

fn slot_addr(i: usize) -> usize {
    // Not contiguous, and not in order: chaining must use the real addresses.
    0xffff_ffff_c000_0000 + [5, 2, 9, 0, 7, 3, 1, 8][i] * 0x1000
}

/// `n` calls; `guarded(i)` says which need the guard.
fn calls_with(n: usize, guarded: impl Fn(usize) -> bool) -> Vec<Call> {
    (0..n)
        .map(|i| Call {
            ops: 0xffff_8880_0000_1000 + i as u64 * 0x40,
            target: 0xffff_ffff_8120_0000 + i * 0x100,
            guarded: guarded(i),
        })
        .collect()
}

fn calls(n: usize) -> Vec<Call> {
    calls_with(n, |_| false)
}

/// What running the stub does: the ops called, whether the arguments were reloaded before
/// each, the slots visited, and the guard's bit taken and released.
#[derive(Debug, Default)]
struct Run {
    calls: Vec<u64>,
    reloads: Vec<bool>,
    accounted: Vec<bool>,
    slots: Vec<usize>,
    returned_via: Option<usize>,
    took: usize,
    released: Vec<i32>,
    rbx_saved: bool,
}

/// Runs the stub; the guard's take returns `bit` (-1: refused).
fn run(bufs: &[Vec<u8>], depth: usize, bit: i32) -> Run {
    let mut r = Run::default();
    let find = |addr: usize| (0..bufs.len()).find(|&i| slot_addr(i) == addr);
    let mut s = 0;
    let mut off = 0;
    r.slots.push(s);
    let b = |s: usize, off: usize, n: usize| bufs[s][off..off + n].to_vec();
    assert_eq!(b(s, 0, PROLOGUE.len()), PROLOGUE);
    off += PROLOGUE.len();
    let mut reload = false;
    let mut rdx = None;
    let mut acct = false;
    let (mut eax, mut ebx, mut edi) = (0xdead_i32, 0x5a5a_i32, 0);
    let mut sf = false;
    loop {
        let at = slot_addr(s) + off;
        match bufs[s][off] {
            PUSH_RBX => {
                r.rbx_saved = true;
                off += 1;
            }
            0x48 if b(s, off, 4) == RESTORE_RBX => {
                assert!(r.rbx_saved, "rbx restored but never saved");
                ebx = 0x5a5a;
                off += 4;
            }
            0x48 if bufs[s][off + 1] == 0x8b => {
                assert_eq!(b(s, off, RELOAD.len()), RELOAD);
                reload = true;
                off += RELOAD.len();
            }
            0x48 if bufs[s][off + 1] == 0xba => {
                rdx = Some(u64::from_le_bytes(b(s, off + 2, 8).try_into().unwrap()));
                off += encode::MOVABS_LEN;
            }
            0x89 if b(s, off, 2) == KEEP_BIT => {
                ebx = eax;
                off += 2;
            }
            0x89 if b(s, off, 2) == BIT_ARG => {
                edi = ebx;
                off += 2;
            }
            0x85 => {
                assert_eq!(b(s, off, 2), TEST_BIT);
                sf = ebx < 0;
                off += 2;
            }
            JS => {
                off += 2;
                if sf {
                    let rel = bufs[s][off - 1] as i8;
                    assert!(rel > 0, "js backwards");
                    off = off.checked_add_signed(isize::from(rel)).unwrap();
                }
            }
            0x65 => {
                let want = encode::call_depth_account(at, depth).unwrap();
                assert_eq!(b(s, off, encode::CALL_DEPTH_LEN), want);
                acct = true;
                off += encode::CALL_DEPTH_LEN;
            }
            0xe8 => {
                let insn: [u8; 5] = b(s, off, 5).try_into().unwrap();
                let target = encode::branch_target(at, &insn).unwrap();
                assert_eq!(acct, depth != 0, "call at slot {s} offset {off} accounted");
                if target == GUARD.take {
                    r.took += 1;
                    eax = bit;
                } else if target == GUARD.release {
                    r.released.push(edi);
                } else {
                    let ops = rdx.take().expect("call without ops");
                    assert_eq!(
                        target,
                        0xffff_ffff_8120_0000
                            + ((ops - 0xffff_8880_0000_1000) / 0x40) as usize * 0x100
                    );
                    r.calls.push(ops);
                    r.reloads.push(reload);
                    r.accounted.push(acct);
                    // The callee clobbers what C lets it (not %rbx).
                    eax = 0x0bad;
                    edi = 0x0bad;
                    reload = false;
                }
                acct = false;
                off += 5;
            }
            0xe9 => {
                let insn: [u8; 5] = b(s, off, 5).try_into().unwrap();
                let to = encode::branch_target(at, &insn).unwrap();
                s = find(to).expect("chained into a slot of the stub");
                assert!(!r.slots.contains(&s), "loop");
                r.slots.push(s);
                off = 0;
            }
            LEAVE => {
                let insn: [u8; 5] = b(s, off + 1, 5).try_into().unwrap();
                r.returned_via = encode::branch_target(at + 1, &insn);
                assert_eq!(insn, encode::ret(at + 1, THUNK).unwrap());
                assert_eq!(ebx, 0x5a5a, "the caller's rbx restored");
                return r;
            }
            x => panic!("unexpected byte {x:#x} at slot {s} offset {off}"),
        }
    }
}

fn build_calls(c: &[Call], depth: usize) -> (Vec<Vec<u8>>, usize) {
    let need = slots_needed(c, depth != 0, SLOT).unwrap();
    let addrs: Vec<usize> = (0..need).map(slot_addr).collect();
    let mut code = vec![encode::INT3; need * SLOT];
    build(&addrs, &mut code, SLOT, c, depth, GUARD, |at| {
        encode::ret(at, THUNK)
    })
    .unwrap();
    (code.chunks(SLOT).map(|c| c.to_vec()).collect(), need)
}

fn ops_of(c: &[Call]) -> Vec<u64> {
    c.iter().map(|c| c.ops).collect()
}

#[test]
fn fused_stub_calls_every_ops_in_order_with_its_own_pointer() {
    for depth in [0, DEPTH] {
        for n in 1..=32 {
            let c = calls(n);
            let (bufs, need) = build_calls(&c, depth);
            let r = run(&bufs, depth, 5);
            assert_eq!(r.calls, ops_of(&c), "n={n} depth={depth:#x}");
            // The first call finds the arguments in their registers; every later one reloads
            // them (the callee may have clobbered them).
            let want: Vec<bool> = (0..n).map(|i| i > 0).collect();
            assert_eq!(r.reloads, want, "n={n}");
            assert_eq!(r.accounted, vec![depth != 0; n], "n={n}");
            assert_eq!(r.slots.len(), need, "every slot used, in order: n={n}");
            assert_eq!(r.returned_via, Some(THUNK));
            // No guarded ops: no guard, no %rbx.
            assert_eq!((r.took, r.released.len(), r.rbx_saved), (0, 0, false));
        }
    }
}

#[test]
fn fused_stub_takes_one_guard_for_the_ops_that_need_it() {
    type Mix = (&'static str, fn(usize) -> bool);
    let mixes: [Mix; 4] = [
        ("all guarded", |_| true),
        ("first guarded", |i| i == 0),
        ("last guarded", |i| i % 7 == 6),
        ("alternate", |i| i % 2 == 1),
    ];
    for depth in [0, DEPTH] {
        for (name, g) in mixes {
            for n in 1..=24 {
                let c = calls_with(n, g);
                if !c.iter().any(|c| c.guarded) {
                    continue;
                }
                let (bufs, need) = build_calls(&c, depth);
                // Taken: every ops called, in order, each with the arguments reloaded (the
                // guard's call clobbered them too), then the bit released once.
                let r = run(&bufs, depth, 6);
                assert_eq!(r.calls, ops_of(&c), "{name} n={n} depth={depth:#x}");
                assert_eq!(r.reloads, vec![true; n], "{name} n={n}");
                assert_eq!((r.took, r.released.clone()), (1, vec![6]), "{name} n={n}");
                assert!(r.rbx_saved);
                assert_eq!(r.slots.len(), need, "{name} n={n}");
                // Refused: only the ops that guard themselves are called, nothing released.
                let r = run(&bufs, depth, -1);
                let own: Vec<u64> = c.iter().filter(|c| !c.guarded).map(|c| c.ops).collect();
                assert_eq!(r.calls, own, "{name} n={n}: refused");
                assert_eq!((r.took, r.released.len()), (1, 0), "{name} n={n}: refused");
            }
        }
    }
}

#[test]
fn fused_stub_sizes() {
    // 16 ops (the default fused_max) fit two slots without call depth tracking and three
    // with it; 16 guarded ops three either way (fused.rs's MAX_SLOTS is 4); 2..=9 fit one
    // slot without it.
    let guarded = |n| calls_with(n, |_| true);
    assert_eq!(slots_needed(&calls(16), false, SLOT), Some(2));
    assert_eq!(slots_needed(&calls(16), true, SLOT), Some(3));
    assert_eq!(slots_needed(&guarded(16), false, SLOT), Some(3));
    assert_eq!(slots_needed(&guarded(16), true, SLOT), Some(3));
    assert_eq!(slots_needed(&calls(9), false, SLOT), Some(1));
    assert_eq!(slots_needed(&calls(8), true, SLOT), Some(2));
    for n in 1..=64 {
        let a = slots_needed(&calls(n), true, SLOT).unwrap();
        assert!(a >= slots_needed(&calls(n), false, SLOT).unwrap());
        assert!(slots_needed(&calls(n + 1), true, SLOT).unwrap() >= a);
        assert!(slots_needed(&guarded(n), true, SLOT).unwrap() >= a);
    }
    // A block that cannot fit an empty slot.
    assert_eq!(slots_needed(&calls(2), true, 30), None);
}

#[test]
fn fused_stub_refuses_too_few_slots_or_unreachable_targets() {
    let mut one = vec![encode::INT3; SLOT];
    let ret = |at| encode::ret(at, THUNK);
    assert!(build(&[slot_addr(0)], &mut one, SLOT, &calls(16), 0, GUARD, ret).is_none());
    let mut two = vec![encode::INT3; 2 * SLOT];
    assert!(build(&[slot_addr(0)], &mut two, SLOT, &calls(16), 0, GUARD, ret).is_none());
    let mut far = calls(2);
    far[1].target = 0xffff_8880_0000_0000; // the direct map: beyond rel32 of the slot
    assert!(build(&[slot_addr(0)], &mut one, SLOT, &far, 0, GUARD, ret).is_none());
}
