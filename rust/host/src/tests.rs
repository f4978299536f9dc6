use crate::encode::*;
use crate::glob::*;

#[test]
fn call_encoding_round_trips() {
    let at = 0xffff_ffff_1000_1000usize;
    for target in [
        at + 5,
        at,
        at + 5 + 0x7fff_ffff,
        at + 5 - 0x8000_0000,
        0xffff_ffff_0100_0000,
    ] {
        let insn = call(at, target).unwrap();
        assert_eq!(insn[0], CALL_OPCODE);
        assert_eq!(branch_target(at, &insn), Some(target));
        assert!(is_call_to(at, &insn, target));
    }
}

#[test]
fn call_encoding_known_bytes() {
    // call to the next instruction: e8 00 00 00 00; call to itself: rel32 = -5.
    assert_eq!(call(0x1000, 0x1005), Some([0xe8, 0, 0, 0, 0]));
    assert_eq!(call(0x1000, 0x1000), Some([0xe8, 0xfb, 0xff, 0xff, 0xff]));
    assert_eq!(jmp(0x1000, 0x1010), Some([0xe9, 0x0b, 0, 0, 0]));
}

#[test]
fn out_of_range_branch_is_refused() {
    let at = 0x1000usize;
    assert!(call(at, at + 5 + 0x8000_0000).is_none());
    assert!(call(at, at + 5 + 0x7fff_ffff).is_some());
    // Module space to user space: far out of range.
    assert!(jmp(0xffff_ffff_a000_0000, 0x7fff_0000_0000).is_none());
}

#[test]
fn branch_target_rejects_other_opcodes() {
    assert_eq!(branch_target(0, &[INT3, 0, 0, 0, 0]), None);
    assert_eq!(branch_target(0, &[0x0f, 0x1f, 0x44, 0, 0]), None); // 5-byte nop
}

#[test]
fn movabs_encoding() {
    assert_eq!(
        movabs(Reg::Rdx, 0x1122334455667788),
        [0x48, 0xba, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
    );
    assert_eq!(movabs(Reg::Rdi, 1)[1], 0xbf);
    assert_eq!(movabs(Reg::Rsi, 1)[1], 0xbe);
}

#[test]
fn ops_stub_loads_ops_then_jumps() {
    let at = 0xffff_ffff_a000_2000usize;
    let func = 0xffff_ffff_a010_0000usize;
    let stub = ops_stub(at, 0xdead_beef, func).unwrap();
    assert_eq!(&stub[..2], &[0x48, 0xba]);
    assert_eq!(
        u64::from_le_bytes(stub[2..10].try_into().unwrap()),
        0xdead_beef
    );
    let j: [u8; 5] = stub[10..].try_into().unwrap();
    assert_eq!(j[0], JMP_OPCODE);
    assert_eq!(branch_target(at + 10, &j), Some(func));
}

#[test]
fn glob_literals_and_stars() {
    assert!(matches(b"vfs_read", b"vfs_read"));
    assert!(!matches(b"vfs_read", b"vfs_readv"));
    assert!(matches(b"vfs_*", b"vfs_read"));
    assert!(matches(b"*_read", b"vfs_read"));
    assert!(matches(b"*fs_r*", b"vfs_read"));
    assert!(matches(b"v*_*d", b"vfs_read"));
    assert!(!matches(b"v*_*x", b"vfs_read"));
    assert!(matches(b"*", b""));
    assert!(matches(b"**", b"abc"));
    assert!(!matches(b"a", b""));
    assert!(matches(b"", b""));
    assert!(!matches(b"", b"a"));
}

#[test]
fn glob_question_and_classes() {
    assert!(matches(b"ftramp_target_?", b"ftramp_target_a"));
    assert!(!matches(b"ftramp_target_?", b"ftramp_target_ab"));
    assert!(matches(b"ftramp_target_[ab]", b"ftramp_target_b"));
    assert!(!matches(b"ftramp_target_[ab]", b"ftramp_target_c"));
    assert!(matches(b"t_[a-c]", b"t_c"));
    assert!(!matches(b"t_[!a-c]", b"t_c"));
    assert!(matches(b"t_[^a-c]", b"t_d"));
    assert!(matches(b"t_[]]", b"t_]"));
    assert!(matches(b"t_[a-]", b"t_-"));
    assert!(
        !matches(b"t_[ab", b"t_a"),
        "an unclosed class never matches"
    );
}

#[test]
fn glob_backtracking_is_bounded() {
    // Pathological for naive recursive matchers: many stars, no match.
    let pat = b"*a*a*a*a*a*a*a*a*b";
    let name = [b'a'; 200];
    assert!(!matches(pat, &name));
    assert!(is_glob(pat));
    assert!(!is_glob(b"vfs_read"));
}

#[test]
fn denylist_covers_the_int3_path() {
    use crate::denylist::is_denied;
    for f in [
        "exc_int3",
        "do_int3",
        "do_int3_user",
        "notify_die",
        "atomic_notifier_call_chain",
        "notifier_call_chain",
        "__rcu_read_lock",
        "text_poke_copy",
        "on_each_cpu_cond_mask",
        "smp_call_function_many_cond",
        "ftrace_ops_list_func",
        // Recorded on the int3 path of the hardened test kernels (ftramp_denylist.sh).
        "__module_address",
        "mod_find",
        "func_ptr_is_kernel_text",
        "is_module_text_address",
        "get_kprobe",
        "kprobe_exceptions_notify",
        "hw_breakpoint_exceptions_notify",
        "in_gate_area_no_mm",
        "rcu_read_lock_sched_held",
        "rcu_lockdep_current_cpu_online",
        "kgdb_ll_trap",
    ] {
        assert!(is_denied(f.as_bytes()), "{f} must be denied");
    }
    for f in ["vfs_read", "do_sys_openat2", "ftramp_target_a", "schedule", "module_put"] {
        assert!(!is_denied(f.as_bytes()), "{f} must be allowed");
    }
}

#[test]
fn filter_tokens() {
    use crate::filter::*;
    let mut got = Vec::new();
    let n = parse(b" vfs_read,!do_sys_* \n ftramp_target_[ab]\t", |t| {
        got.push((t.remove, t.pattern.to_vec()))
    })
    .unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        got,
        vec![
            (false, b"vfs_read".to_vec()),
            (true, b"do_sys_*".to_vec()),
            (false, b"ftramp_target_[ab]".to_vec())
        ]
    );
    assert_eq!(parse(b"   ", |_| ()), Ok(0));
}

#[test]
fn filter_errors_change_nothing() {
    use crate::filter::*;
    let mut calls = 0;
    assert_eq!(
        parse(b"vfs_read !", |_| calls += 1),
        Err(FilterError::EmptyNegation)
    );
    assert_eq!(
        parse(b"vfs_read a\x00b", |_| calls += 1),
        Err(FilterError::BadByte(0))
    );
    assert_eq!(
        parse(b"vfs_read \xff", |_| calls += 1),
        Err(FilterError::BadByte(0xff))
    );
    let long = vec![b'a'; MAX_PATTERN + 1];
    assert_eq!(parse(&long, |_| calls += 1), Err(FilterError::TooLong));
    assert_eq!(calls, 0, "no token of a malformed filter is acted on");
}

#[test]
fn hook_commands_parse() {
    use crate::command::*;
    let c = parse_line(b"vfs_read count").unwrap();
    assert_eq!(
        (c.remove, c.pattern, c.callback, c.arg),
        (false, &b"vfs_read"[..], Callback::Count, 0)
    );
    let c = parse_line(b"  !do_sys_*\ttrace  ").unwrap();
    assert_eq!(
        (c.remove, c.pattern, c.pattern_pos, c.callback),
        (true, &b"do_sys_*"[..], 3, Callback::Trace)
    );
    let c = parse_line(b"vfs_read stacktrace:5").unwrap();
    assert_eq!((c.callback, c.arg), (Callback::Stacktrace, 5));
    assert_eq!(parse_line(b"vfs_read stacktrace").unwrap().arg, 1);
}

#[test]
fn hook_command_errors_point_at_the_token() {
    use crate::command::*;
    let e = |s: &[u8]| parse_line(s).unwrap_err();
    assert_eq!(
        e(b""),
        CmdError {
            errno: errno::EINVAL,
            msg: "empty command",
            pos: 0
        }
    );
    assert_eq!(e(b"   ").msg, "empty command");
    assert_eq!(e(b"vfs_read").msg, "missing callback");
    assert_eq!(e(b"vfs_read cnt").pos, 9);
    assert_eq!(e(b"vfs_read cnt").msg, "unknown callback");
    assert_eq!(e(b"vfs_read count extra").pos, 15);
    assert_eq!(
        e(b"vfs_read count:3").msg,
        "this callback takes no argument"
    );
    assert_eq!(e(b"vfs_read stacktrace:0").pos, 20);
    assert_eq!(
        e(b"vfs_read stacktrace:1001").msg,
        "argument must be 1..1000"
    );
    assert_eq!(e(b"vfs_read stacktrace:x").errno, errno::EINVAL);
    assert_eq!(e(b"vfs\x00read count").pos, 3);
    assert_eq!(e("vfs_réad count".as_bytes()).pos, 5);
    assert_eq!(e(b"! count").msg, "'!' without a function");
    assert_eq!(e(b"vfs_read,x count").pos, 8);
    assert_eq!(e(b"vfs(read count").pos, 3);
    assert_eq!(e(&[b'a'; MAX_LINE + 1]).errno, errno::E2BIG);
    assert!(is_blank(b" \t "));
}

mod plan_tests {
    use crate::plan::*;

    fn all(old: &[usize], new: &[usize]) -> Vec<(usize, Dir)> {
        diff(old, new).collect()
    }

    #[test]
    fn diff_lists_each_changed_function_once_in_order() {
        assert_eq!(all(&[], &[]), vec![]);
        assert_eq!(all(&[1, 3, 5], &[1, 3, 5]), vec![]);
        assert_eq!(
            all(&[1, 3, 5], &[2, 3, 6]),
            vec![(1, Dir::Remove), (2, Dir::Add), (5, Dir::Remove), (6, Dir::Add)]
        );
        assert_eq!(all(&[], &[4, 9]), vec![(4, Dir::Add), (9, Dir::Add)]);
        assert_eq!(all(&[4, 9], &[]), vec![(4, Dir::Remove), (9, Dir::Remove)]);
    }

    #[test]
    fn diff_applied_to_old_gives_new() {
        // Exhaustive over subsets of 6 functions.
        for a in 0u32..64 {
            for b in 0u32..64 {
                let set = |m: u32| (0..6).filter(|i| m & (1 << i) != 0).collect::<Vec<usize>>();
                let (old, new) = (set(a), set(b));
                let mut cur = old.clone();
                for (ip, d) in diff(&old, &new) {
                    match d {
                        Dir::Add => {
                            assert!(!cur.contains(&ip));
                            cur.push(ip)
                        }
                        Dir::Remove => {
                            assert!(cur.contains(&ip));
                            cur.retain(|&x| x != ip)
                        }
                    }
                }
                cur.sort();
                assert_eq!(cur, new);
            }
        }
    }

    #[test]
    fn site_state_machine() {
        let c = change(0, Dir::Add).unwrap();
        assert!(c.create && !c.retire);
        assert_eq!((c.after, c.target, c.list), (1, Target::Stub, ListStep::None));
        let c = change(1, Dir::Add).unwrap();
        assert_eq!((c.after, c.target, c.list), (2, Target::Iterator, ListStep::Before));
        let c = change(2, Dir::Add).unwrap();
        assert_eq!((c.after, c.target, c.list), (3, Target::Same, ListStep::Before));
        let c = change(3, Dir::Remove).unwrap();
        assert_eq!((c.after, c.target, c.list), (2, Target::Same, ListStep::Before));
        let c = change(2, Dir::Remove).unwrap();
        // The leaving ops stays listed until the call has moved to the survivor.
        assert_eq!((c.after, c.target, c.list), (1, Target::Survivor, ListStep::After));
        let c = change(1, Dir::Remove).unwrap();
        assert!(c.retire && !c.create);
        // An emptied site calls the nop target before ftrace is asked to let it go.
        assert_eq!((c.after, c.target, c.list), (0, Target::Nop, ListStep::None));
        assert_eq!(change(0, Dir::Remove), None);
    }

    #[test]
    fn every_list_site_has_its_list_before_the_call_moves() {
        for before in 0..6 {
            for d in [Dir::Add, Dir::Remove] {
                let Some(c) = change(before, d) else { continue };
                if c.after >= 2 {
                    assert_eq!(c.list, ListStep::Before, "{before} {d:?}");
                }
                if c.target == Target::Iterator {
                    assert!(c.after >= 2);
                }
                if c.after <= 1 {
                    assert_ne!(c.target, Target::Iterator);
                    assert_ne!(c.list, ListStep::Before);
                }
                // A site leaving list mode keeps a list for iterators already called.
                if c.before >= 2 {
                    assert_ne!(c.list, ListStep::None, "{before} {d:?}");
                }
            }
        }
    }
}

mod percpu_tests {
    use crate::encode::*;

    #[test]
    fn zero_based_percpu_uses_absolute_gs_disp32() {
        // 6.12: `incl %gs:0x2000c` = 65 ff 04 25 0c 00 02 00
        let i = percpu_rmw(PercpuOp::Inc, 0xffff_ffff_a000_0000, 0x2000c).unwrap();
        assert_eq!(i, [0x65, 0xff, 0x04, 0x25, 0x0c, 0x00, 0x02, 0x00]);
        let d = percpu_rmw(PercpuOp::Dec, 0xffff_ffff_a000_0000, 0x2000c).unwrap();
        assert_eq!(d, [0x65, 0xff, 0x0c, 0x25, 0x0c, 0x00, 0x02, 0x00]);
    }

    #[test]
    fn kernel_image_percpu_uses_sign_extended_disp32() {
        // A per-CPU symbol linked in the kernel image (top 2 GiB): still an absolute disp32.
        let i = percpu_rmw(PercpuOp::Inc, 0xffff_ffff_c000_1000, 0xffff_ffff_8300_0040).unwrap();
        assert_eq!(i, [0x65, 0xff, 0x04, 0x25, 0x40, 0x00, 0x00, 0x83]);
    }

    #[test]
    fn far_percpu_uses_rip_relative() {
        let at = 0xffff_ffff_c000_1000usize;
        let var = 0xffff_ffff_7000_0040usize;
        let i = percpu_rmw(PercpuOp::Inc, at, var).unwrap();
        assert_eq!(&i[..3], &[0x65, 0xff, 0x05]);
        let rel = i32::from_le_bytes([i[3], i[4], i[5], i[6]]);
        assert_eq!((at + 7).wrapping_add(rel as isize as usize), var);
        assert_eq!(i[7], 0x90);
        let d = percpu_rmw(PercpuOp::Dec, at, var).unwrap();
        assert_eq!(&d[..3], &[0x65, 0xff, 0x0d]);
    }

    #[test]
    fn unreachable_percpu_is_refused() {
        assert!(percpu_rmw(PercpuOp::Inc, 0xffff_ffff_c000_0000, 0x7fff_0000_0000).is_none());
    }

    #[test]
    fn call_depth_accounting_is_the_kernels_sarq() {
        // INCREMENT_CALL_DEPTH: sarq $5, %gs:var (REX.W C1 /7 ib), absolute disp32.
        let a = call_depth_account(0xffff_ffff_a000_0000, 0x2_0010).unwrap();
        assert_eq!(a, [0x65, 0x48, 0xc1, 0x3c, 0x25, 0x10, 0x00, 0x02, 0x00, 0x05]);
        // 7.x: a per-CPU symbol in the kernel image, sign-extended.
        let a = call_depth_account(0xffff_ffff_c000_1000, 0xffff_ffff_8300_0040).unwrap();
        assert_eq!(a, [0x65, 0x48, 0xc1, 0x3c, 0x25, 0x40, 0x00, 0x00, 0x83, 0x05]);
        assert_eq!(a.len(), CALL_DEPTH_LEN);
    }

    #[test]
    fn far_call_depth_uses_rip_relative_from_the_end_of_the_insn() {
        let at = 0xffff_ffff_c000_1000usize;
        let var = 0xffff_ffff_7000_0040usize;
        let a = call_depth_account(at, var).unwrap();
        assert_eq!(&a[..4], &[0x65, 0x48, 0xc1, 0x3d]);
        let rel = i32::from_le_bytes([a[4], a[5], a[6], a[7]]);
        // rip is past the imm8 (9 bytes), not past the disp32.
        assert_eq!((at + 9).wrapping_add(rel as isize as usize), var);
        assert_eq!(&a[8..], &[0x05, 0x90]);
        assert!(call_depth_account(0xffff_ffff_c000_0000, 0x7fff_0000_0000).is_none());
    }

    #[test]
    fn returns_follow_the_kernels_thunk() {
        // No thunk: ret; int3 (straight-line speculation), padded with int3.
        assert_eq!(ret(0xffff_ffff_c000_0000, 0).unwrap(), [0xc3, 0xcc, 0xcc, 0xcc, 0xcc]);
        // A thunk: jmp to exactly it.
        let at = 0xffff_ffff_c000_0040usize;
        let thunk = 0xffff_ffff_81e0_1234usize;
        let j = ret(at, thunk).unwrap();
        assert_eq!(j[0], JMP_OPCODE);
        assert_eq!(branch_target(at, &j), Some(thunk));
        assert!(ret(0x4000_0000_0000, 0xffff_ffff_81e0_1234).is_none());
    }

    #[test]
    fn nops_have_their_length() {
        assert_eq!(NOP5.len(), 5);
        assert_eq!(NOP8.len(), PERCPU_RMW_LEN);
        assert_eq!(jnz_short(5), [0x75, 0x05]);
    }
}
