//! Return hooks' `core`-only logic: where each of a site's four patchable sites goes
//! (`plan::targets`), the mode site's `nop`/`jmp` (`sequence::Switch::new_jmp`), and the
//! encodings the return trampoline uses (`encode`).

use crate::encode::*;
use crate::plan::{targets, Kind, Targets, To};
use crate::sequence::Switch;

fn t(ops: &[(u8, Kind)]) -> Targets<u8> {
    targets(ops.iter().copied())
}

const E: Kind = Kind::Entry;
const R: Kind = Kind::Return;

#[test]
fn empty_site_calls_nothing_and_returns_through_the_record() {
    let x = t(&[]);
    assert_eq!((x.entry_only, x.entry, x.ret, x.returns), (To::Nop, To::Nop, To::Iter, 0));
}

#[test]
fn entry_only_ops_never_need_the_return_trampoline() {
    let x = t(&[(1, E)]);
    assert_eq!((x.entry_only, x.entry, x.returns), (To::Stub(1), To::Stub(1), 0));
    let x = t(&[(1, E), (2, E)]);
    assert_eq!((x.entry_only, x.entry, x.returns), (To::Iter, To::Iter, 0));
}

#[test]
fn a_return_ops_alone_is_called_through_its_stubs() {
    let x = t(&[(7, R)]);
    // The entry trampoline never calls a return ops: it has no call record.
    assert_eq!(x.entry_only, To::Nop);
    assert_eq!((x.entry, x.ret, x.returns), (To::Stub(7), To::Stub(7), 1));
}

#[test]
fn mixed_sites() {
    let x = t(&[(1, E), (7, R)]);
    assert_eq!((x.entry_only, x.entry, x.ret), (To::Stub(1), To::Iter, To::Stub(7)));
    let x = t(&[(1, E), (2, E), (7, R)]);
    assert_eq!((x.entry_only, x.entry, x.ret), (To::Iter, To::Iter, To::Stub(7)));
    let x = t(&[(7, R), (8, R)]);
    assert_eq!((x.entry_only, x.entry, x.ret, x.returns), (To::Nop, To::Iter, To::Iter, 2));
    let x = t(&[(7, R), (1, E), (8, R)]);
    assert_eq!((x.entry_only, x.entry, x.ret, x.returns), (To::Stub(1), To::Iter, To::Iter, 2));
}

#[test]
fn mode_site_is_a_nop_or_a_jmp() {
    let site = 0xffff_ffff_c000_0000usize;
    let s = Switch::new_jmp(site, site + 5).unwrap();
    assert_eq!(s.insn, NOP5);
    let s = Switch::new_jmp(site, site + 0x1000).unwrap();
    assert_eq!(s.insn[0], JMP_OPCODE);
    assert_eq!(branch_target(site, &s.insn), Some(site + 0x1000));
    assert!(Switch::new_jmp(site, 0x7fff_0000_0000).is_none());
}

#[test]
fn return_trampoline_encodings() {
    assert_eq!(movabs(Reg::R8, 0x1122)[..2], [0x49, 0xb8]);
    assert_eq!(movabs(Reg::R11, 0x1122)[..2], [0x49, 0xbb]);
    assert_eq!(movabs(Reg::Rdx, 0x1122)[..2], [0x48, 0xba]);
    assert_eq!(percpu_rmw_r11(PercpuOp::Inc), [0x65, 0x49, 0xff, 0x03]);
    assert_eq!(percpu_rmw_r11(PercpuOp::Dec), [0x65, 0x49, 0xff, 0x0b]);
    let (b, n) = push_rbp_disp(24);
    assert_eq!(&b[..n], &[0xff, 0x75, 24]);
    let (b, n) = push_rbp_disp(0x100);
    assert_eq!(&b[..n], &[0xff, 0xb5, 0, 1, 0, 0]);
    assert_eq!(lea_rsp_rbp(-192), [0x48, 0x8d, 0xa5, 0x40, 0xff, 0xff, 0xff]);
    assert_eq!(sub_rsp(136), [0x48, 0x81, 0xec, 136, 0, 0, 0]);
    assert_eq!(lea_rcx_rsp(136), [0x48, 0x8d, 0x8c, 0x24, 136, 0, 0, 0]);
}

#[test]
fn functions_that_never_return_take_no_return_hook() {
    use crate::denylist::never_returns;
    for f in [&b"do_exit"[..], b"kthread_exit", b"make_task_dead", b"cpu_startup_entry"] {
        assert!(never_returns(f));
    }
    for f in [&b"vfs_read"[..], b"do_exit_x", b"exit", b""] {
        assert!(!never_returns(f));
    }
}
