// SPDX-License-Identifier: GPL-2.0

//! ftrace's recursion rule at the list level, as pure functions of the running task's
//! `trace_recursion` word and the preemption count (`core`-only, host-tested; the guard that
//! applies it is [`super::guard`]).
//!
//! It is `trace_test_and_set_recursion(ip, parent_ip, TRACE_LIST_START)` of
//! `include/linux/trace_recursion.h` (the same in 6.12 and 7.3), which ftrace's own list
//! function and recursion assist take: one bit per context (normal, softirq, hardirq, NMI)
//! from `TRACE_LIST_START` on, so a callback's traced callee in the same context is refused
//! while an interrupt's callbacks still run; and one transition bit, which lets a single
//! nested entry through when the bit of the context is already held, because an interrupt
//! that traces before its entry code raised the preemption count looks like the context it
//! interrupted. `helpers/dispatch.c` checks the bit numbers against the kernel's at build
//! time; the preemption count's layout differs between kernels and is passed in.

/// `TRACE_LIST_START` (`TRACE_INTERNAL_BIT`): the first of the list-level bits.
pub const LIST_START: u32 = 5;
/// `TRACE_CTX_NORMAL`: the context offset of task context (NMI 0, hardirq 1, softirq 2).
pub const CTX_NORMAL: u32 = 3;
/// `TRACE_CTX_TRANSITION`.
pub const CTX_TRANSITION: u32 = 4;

/// Where the preemption count keeps the context: the kernel's `SOFTIRQ_OFFSET` (serving a
/// softirq, not merely bottom halves disabled), `HARDIRQ_MASK` and `NMI_MASK`. 6.12 has
/// 0x100, 0xf0000, 0xf00000; 7.x moved hardirq to 0xf000000 and NMI to 0xf0000000 (x86-64)
/// to make room for a hardirq-disable count.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// `SOFTIRQ_OFFSET`
    pub softirq_offset: u32,
    /// `HARDIRQ_MASK`
    pub hardirq_mask: u32,
    /// `NMI_MASK`
    pub nmi_mask: u32,
}

/// `interrupt_context_level()`: 0 task, 1 softirq, 2 hardirq, 3 NMI, from the preemption
/// count's low 32 bits (the need-resched bit, 31 or 63, is not part of any mask).
pub fn context_level(pc: u32, l: Layout) -> u32 {
    u32::from(pc & l.nmi_mask != 0)
        + u32::from(pc & (l.nmi_mask | l.hardirq_mask) != 0)
        + u32::from(pc & (l.nmi_mask | l.hardirq_mask | l.softirq_offset) != 0)
}

/// The bit a guard entering now takes in `word` (the task's `trace_recursion`), or `None` if
/// ftrace's rule refuses the entry: the context's bit and the transition bit are both held.
pub fn claim(word: u64, pc: u32, l: Layout) -> Option<u32> {
    let bit = LIST_START + CTX_NORMAL - context_level(pc, l);
    if word & (1 << bit) == 0 {
        return Some(bit);
    }
    let transition = LIST_START + CTX_TRANSITION;
    (word & (1 << transition) == 0).then_some(transition)
}
