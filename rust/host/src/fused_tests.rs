//! The fused stub's code (`arch/x86/fused_layout.rs`), checked by running it: a small
//! interpreter follows the bytes from the first slot, through chaining `jmp`s, and records
//! each `call` with the ops pointer `%rdx` holds at it.

use crate::encode;
use crate::fused_layout::*;

const SLOT: usize = 256;
const THUNK: usize = 0xffff_ffff_8100_0000;
const DEPTH: usize = 0x2_1000; // a %gs-relative per-CPU offset, as 6.12 and 7.3 have them

fn slot_addr(i: usize) -> usize {
    // Not contiguous, and not in order: chaining must use the real addresses.
    0xffff_ffff_c000_0000 + [5, 2, 9, 0, 7, 3, 1, 8][i] * 0x1000
}

fn calls(n: usize) -> Vec<Call> {
    (0..n)
        .map(|i| Call {
            ops: 0xffff_8880_0000_1000 + i as u64 * 0x40,
            target: 0xffff_ffff_8120_0000 + i * 0x100,
        })
        .collect()
}

/// What running the stub does: the calls made, whether the arguments were reloaded before
/// each, and the slots visited.
#[derive(Debug, Default)]
struct Run {
    calls: Vec<Call>,
    reloads: Vec<bool>,
    accounted: Vec<bool>,
    slots: Vec<usize>,
    returned_via: Option<usize>,
}

fn run(bufs: &[Vec<u8>], depth: usize) -> Run {
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
    loop {
        let at = slot_addr(s) + off;
        match bufs[s][off] {
            0x48 if bufs[s][off + 1] == 0x8b => {
                assert_eq!(b(s, off, RELOAD.len()), RELOAD);
                reload = true;
                off += RELOAD.len();
            }
            0x48 if bufs[s][off + 1] == 0xba => {
                rdx = Some(u64::from_le_bytes(b(s, off + 2, 8).try_into().unwrap()));
                off += encode::MOVABS_LEN;
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
                r.calls.push(Call {
                    ops: rdx.take().expect("call without ops"),
                    target,
                });
                r.reloads.push(reload);
                r.accounted.push(acct);
                reload = false;
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
                return r;
            }
            x => panic!("unexpected byte {x:#x} at slot {s} offset {off}"),
        }
    }
}

fn build_n(n: usize, depth: usize) -> (Vec<Vec<u8>>, usize) {
    let need = slots_needed(n, depth != 0, SLOT).unwrap();
    let addrs: Vec<usize> = (0..need).map(slot_addr).collect();
    let mut code = vec![encode::INT3; need * SLOT];
    build(&addrs, &mut code, SLOT, &calls(n), depth, |at| {
        encode::ret(at, THUNK)
    })
    .unwrap();
    (code.chunks(SLOT).map(|c| c.to_vec()).collect(), need)
}

#[test]
fn fused_stub_calls_every_ops_in_order_with_its_own_pointer() {
    for depth in [0, DEPTH] {
        for n in 1..=32 {
            let (bufs, need) = build_n(n, depth);
            let r = run(&bufs, depth);
            assert_eq!(r.calls, calls(n), "n={n} depth={depth:#x}");
            // The first call finds the arguments in their registers; every later one reloads
            // them (the callee may have clobbered them).
            let want: Vec<bool> = (0..n).map(|i| i > 0).collect();
            assert_eq!(r.reloads, want, "n={n}");
            assert_eq!(r.accounted, vec![depth != 0; n], "n={n}");
            assert_eq!(r.slots.len(), need, "every slot used, in order: n={n}");
            assert_eq!(r.returned_via, Some(THUNK));
        }
    }
}

#[test]
fn fused_stub_sizes() {
    // 16 ops (the default fused_max) fit two slots without call depth tracking and three
    // with it; 2..=9 fit one slot without it.
    assert_eq!(slots_needed(16, false, SLOT), Some(2));
    assert_eq!(slots_needed(16, true, SLOT), Some(3));
    assert_eq!(slots_needed(9, false, SLOT), Some(1));
    assert_eq!(slots_needed(8, true, SLOT), Some(2));
    for n in 1..=64 {
        let a = slots_needed(n, true, SLOT).unwrap();
        assert!(a >= slots_needed(n, false, SLOT).unwrap());
        assert!(slots_needed(n + 1, true, SLOT).unwrap() >= a);
    }
    // A block that cannot fit an empty slot.
    assert_eq!(slots_needed(2, true, 30), None);
}

#[test]
fn fused_stub_refuses_too_few_slots_or_unreachable_targets() {
    let mut one = vec![encode::INT3; SLOT];
    let ret = |at| encode::ret(at, THUNK);
    assert!(build(&[slot_addr(0)], &mut one, SLOT, &calls(16), 0, ret).is_none());
    let mut two = vec![encode::INT3; 2 * SLOT];
    assert!(build(&[slot_addr(0)], &mut two, SLOT, &calls(16), 0, ret).is_none());
    let mut far = calls(2);
    far[1].target = 0xffff_8880_0000_0000; // the direct map: beyond rel32 of the slot
    assert!(build(&[slot_addr(0)], &mut one, SLOT, &far, 0, ret).is_none());
}
