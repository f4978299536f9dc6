//! The list-level recursion rule (`dispatch/recursion.rs`) against
//! `trace_test_and_set_recursion(ip, pip, TRACE_LIST_START)` of include/linux/trace_recursion.h,
//! with the preemption count laid out as 6.12 and as 7.3 (x86-64) have it.

use crate::recursion::*;

/// A kernel's layout and the offsets its entry code adds.
struct K {
    l: Layout,
    hardirq_offset: u32,
    nmi_offset: u32,
    need_resched: u32,
}

const K612: K = K {
    l: Layout {
        softirq_offset: 0x100,
        hardirq_mask: 0xf_0000,
        nmi_mask: 0xf0_0000,
    },
    hardirq_offset: 0x1_0000,
    nmi_offset: 0x10_0000,
    need_resched: 1 << 31,
};
// 7.3 with HAS_SEPARATE_PREEMPT_RESCHED_BITS: bits 16-23 count hardirq-disable sections,
// NMI_MASK is 0xf0000000, need-resched is bit 63 (not in the low 32 bits at all).
const K73: K = K {
    l: Layout {
        softirq_offset: 0x100,
        hardirq_mask: 0xf00_0000,
        nmi_mask: 0xf000_0000,
    },
    hardirq_offset: 0x100_0000,
    nmi_offset: 0x1000_0000,
    need_resched: 0,
};

#[test]
fn context_levels_are_the_kernels() {
    for k in [K612, K73] {
        let lvl = |pc| context_level(pc, k.l);
        assert_eq!(lvl(0), 0);
        assert_eq!(lvl(3), 0);
        // Bottom halves disabled is still task context; serving a softirq is not.
        assert_eq!(lvl(2 * k.l.softirq_offset), 0);
        assert_eq!(lvl(k.l.softirq_offset), 1);
        assert_eq!(lvl(k.l.softirq_offset + k.hardirq_offset), 2);
        assert_eq!(lvl(2 * k.hardirq_offset), 2);
        assert_eq!(lvl(k.nmi_offset + k.hardirq_offset), 3);
        assert_eq!(lvl(k.nmi_offset + k.hardirq_offset + k.l.softirq_offset), 3);
        // 6.12's inverted need-resched bit is no context.
        assert_eq!(lvl(k.need_resched | 1), 0);
    }
    // 7.3's hardirq-disable count (bits 16-23) is task context there, hardirq on 6.12:
    // the layouts cannot be swapped.
    assert_eq!(context_level(0x1_0000, K73.l), 0);
    assert_eq!(context_level(0x1_0000, K612.l), 2);
}

#[test]
fn each_context_takes_its_own_bit() {
    for k in [K612, K73] {
        // TRACE_INTERNAL_BIT 5 = NMI, 6 = hardirq, 7 = softirq, 8 = normal.
        assert_eq!(claim(0, 0, k.l), Some(8));
        assert_eq!(claim(0, k.l.softirq_offset, k.l), Some(7));
        assert_eq!(claim(0, k.hardirq_offset, k.l), Some(6));
        assert_eq!(claim(0, k.nmi_offset + k.hardirq_offset, k.l), Some(5));
        // An interrupt's callbacks run while the task holds its bit.
        assert_eq!(claim(1 << 8, k.hardirq_offset, k.l), Some(6));
        // Bits of other users of trace_recursion (ftrace's own range, 0-4) do not matter.
        assert_eq!(claim(0x1f, 0, k.l), Some(8));
    }
}

#[test]
fn recursion_in_one_context_gets_one_transition_then_is_refused() {
    for k in [K612, K73] {
        assert_eq!(claim(1 << 8, 0, k.l), Some(9));
        assert_eq!(claim((1 << 8) | (1 << 9), 0, k.l), None);
        assert_eq!(claim((1 << 6) | (1 << 9), k.hardirq_offset, k.l), None);
        // The transition bit alone refuses nothing.
        assert_eq!(claim(1 << 9, 0, k.l), Some(8));
    }
}
