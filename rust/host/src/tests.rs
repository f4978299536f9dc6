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
    for f in [
        "vfs_read",
        "do_sys_openat2",
        "ftramp_target_a",
        "schedule",
        "module_put",
    ] {
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
            vec![
                (1, Dir::Remove),
                (2, Dir::Add),
                (5, Dir::Remove),
                (6, Dir::Add)
            ]
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
        assert_eq!(
            (c.after, c.target, c.list),
            (1, Target::Stub, ListStep::None)
        );
        let c = change(1, Dir::Add).unwrap();
        assert_eq!(
            (c.after, c.target, c.list),
            (2, Target::Iterator, ListStep::Before)
        );
        let c = change(2, Dir::Add).unwrap();
        assert_eq!(
            (c.after, c.target, c.list),
            (3, Target::Same, ListStep::Before)
        );
        let c = change(3, Dir::Remove).unwrap();
        assert_eq!(
            (c.after, c.target, c.list),
            (2, Target::Same, ListStep::Before)
        );
        let c = change(2, Dir::Remove).unwrap();
        // The leaving ops stays listed until the call has moved to the survivor.
        assert_eq!(
            (c.after, c.target, c.list),
            (1, Target::Survivor, ListStep::After)
        );
        let c = change(1, Dir::Remove).unwrap();
        assert!(c.retire && !c.create);
        // An emptied site calls the nop target before ftrace is asked to let it go.
        assert_eq!(
            (c.after, c.target, c.list),
            (0, Target::Nop, ListStep::None)
        );
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
        let i = percpu_rmw(PercpuOp::Inc, Width::Dword, 0xffff_ffff_a000_0000, 0x2000c).unwrap();
        assert_eq!(i, [0x65, 0xff, 0x04, 0x25, 0x0c, 0x00, 0x02, 0x00]);
        let d = percpu_rmw(PercpuOp::Dec, Width::Dword, 0xffff_ffff_a000_0000, 0x2000c).unwrap();
        assert_eq!(d, [0x65, 0xff, 0x0c, 0x25, 0x0c, 0x00, 0x02, 0x00]);
    }

    #[test]
    fn kernel_image_percpu_uses_sign_extended_disp32() {
        // A per-CPU symbol linked in the kernel image (top 2 GiB): still an absolute disp32.
        let i = percpu_rmw(
            PercpuOp::Inc,
            Width::Dword,
            0xffff_ffff_c000_1000,
            0xffff_ffff_8300_0040,
        )
        .unwrap();
        assert_eq!(i, [0x65, 0xff, 0x04, 0x25, 0x40, 0x00, 0x00, 0x83]);
    }

    #[test]
    fn far_percpu_uses_rip_relative() {
        let at = 0xffff_ffff_c000_1000usize;
        let var = 0xffff_ffff_7000_0040usize;
        let i = percpu_rmw(PercpuOp::Inc, Width::Dword, at, var).unwrap();
        assert_eq!(&i[..3], &[0x65, 0xff, 0x05]);
        let rel = i32::from_le_bytes([i[3], i[4], i[5], i[6]]);
        assert_eq!((at + 7).wrapping_add(rel as isize as usize), var);
        assert_eq!(i[7], 0x90);
        let d = percpu_rmw(PercpuOp::Dec, Width::Dword, at, var).unwrap();
        assert_eq!(&d[..3], &[0x65, 0xff, 0x0d]);
    }

    #[test]
    fn wide_preempt_count_uses_rex_w_rip_relative() {
        // 7.x x86-64 (HAS_SEPARATE_PREEMPT_RESCHED_BITS): `decq %gs:__preempt_count(%rip)`
        // = 65 48 ff 0d rel32, as the kernel's preempt_enable(); `incq` = 65 48 ff 05 rel32.
        let at = 0xffff_ffff_c000_1000usize;
        let var = 0xffff_ffff_8300_0040usize;
        let d = percpu_rmw(PercpuOp::Dec, Width::Qword, at, var).unwrap();
        assert_eq!(&d[..4], &[0x65, 0x48, 0xff, 0x0d]);
        let rel = i32::from_le_bytes([d[4], d[5], d[6], d[7]]);
        assert_eq!((at + 8).wrapping_add(rel as isize as usize), var);
        let i = percpu_rmw(PercpuOp::Inc, Width::Qword, at, var).unwrap();
        assert_eq!(&i[..4], &[0x65, 0x48, 0xff, 0x05]);
        assert!(percpu_rmw(PercpuOp::Dec, Width::Qword, at, 0x7fff_0000_0000).is_none());
    }

    #[test]
    fn unreachable_percpu_is_refused() {
        assert!(percpu_rmw(
            PercpuOp::Inc,
            Width::Dword,
            0xffff_ffff_c000_0000,
            0x7fff_0000_0000
        )
        .is_none());
    }

    #[test]
    fn call_depth_accounting_is_the_kernels_sarq() {
        // INCREMENT_CALL_DEPTH: sarq $5, %gs:var (REX.W C1 /7 ib), absolute disp32.
        let a = call_depth_account(0xffff_ffff_a000_0000, 0x2_0010).unwrap();
        assert_eq!(
            a,
            [0x65, 0x48, 0xc1, 0x3c, 0x25, 0x10, 0x00, 0x02, 0x00, 0x05]
        );
        // 7.x: a per-CPU symbol in the kernel image, sign-extended.
        let a = call_depth_account(0xffff_ffff_c000_1000, 0xffff_ffff_8300_0040).unwrap();
        assert_eq!(
            a,
            [0x65, 0x48, 0xc1, 0x3c, 0x25, 0x40, 0x00, 0x00, 0x83, 0x05]
        );
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
        assert_eq!(
            ret(0xffff_ffff_c000_0000, 0).unwrap(),
            [0xc3, 0xcc, 0xcc, 0xcc, 0xcc]
        );
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

mod sequence_tests {
    use crate::encode::{call, CALL_OPCODE, INT3};
    use crate::sequence::*;
    use std::collections::BTreeMap;

    /// What a round did, in order.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Ev {
        Target(usize, usize),
        Publish,
        Clear,
        Poke(usize, Vec<u8>),
        Sync,
    }

    /// A recording [`Text`].
    #[derive(Default)]
    struct Recorder(Vec<Ev>);

    impl Text for Recorder {
        fn set_target(&mut self, site: usize, target: usize) {
            self.0.push(Ev::Target(site, target));
        }
        fn publish_record(&mut self) {
            self.0.push(Ev::Publish);
        }
        fn clear_record(&mut self) {
            self.0.push(Ev::Clear);
        }
        fn poke(&mut self, addr: usize, bytes: &[u8]) {
            self.0.push(Ev::Poke(addr, bytes.to_vec()));
        }
        fn sync(&mut self) {
            self.0.push(Ev::Sync);
        }
    }

    const BASE: usize = 0xffff_ffff_c000_0000;

    /// A round switching each of `sites` (offsets from `BASE`) to `target`.
    fn round(sites: &[usize], target: usize) -> Vec<Switch> {
        sites
            .iter()
            .map(|&s| Switch::new(BASE + s, target).unwrap())
            .collect()
    }

    fn run(stats: &mut PatchStats, round: &[Switch]) -> Vec<Ev> {
        let mut r = Recorder::default();
        switch(stats, &mut r, round);
        r.0
    }

    #[test]
    fn round_is_targets_record_int3s_sync_tails_sync_heads_sync_clear() {
        let (a, b, t) = (BASE + 0x40, BASE + 0x80, BASE + 0x1000);
        let r = round(&[0x40, 0x80], t);
        let (ia, ib) = (call(a, t).unwrap(), call(b, t).unwrap());
        let mut stats = PatchStats::default();
        assert_eq!(
            run(&mut stats, &r),
            vec![
                // The current target moves before the record names the site: a handler that no
                // longer finds the site in the record emulates the new target (race (a)).
                Ev::Target(a, t),
                Ev::Target(b, t),
                Ev::Publish,
                Ev::Poke(a, vec![INT3]),
                Ev::Poke(b, vec![INT3]),
                Ev::Sync,
                Ev::Poke(a + 1, ia[1..].to_vec()),
                Ev::Poke(b + 1, ib[1..].to_vec()),
                Ev::Sync,
                Ev::Poke(a, vec![CALL_OPCODE]),
                Ev::Poke(b, vec![CALL_OPCODE]),
                Ev::Sync,
                Ev::Clear,
            ]
        );
        assert_eq!(
            stats,
            PatchStats {
                rounds: 1,
                syncs: 3,
                sites: 2,
                last_round_syncs: 3,
                last_round_sites: 2,
            }
        );
    }

    #[test]
    fn many_sites_are_one_batch_of_three_syncs() {
        let offs: Vec<usize> = (0..100).map(|i| 0x40 + i * 0x80).collect();
        let r = round(&offs, BASE + 0x10_0000);
        let mut stats = PatchStats::default();
        let ev = run(&mut stats, &r);
        let phases: Vec<&[Ev]> = ev.split(|e| *e == Ev::Sync).collect();
        assert_eq!(phases.len(), 4, "exactly 3 syncs, not one per site");
        let n = r.len();
        // Before the first sync: every target, the record, then every int3.
        assert!(phases[0][..n].iter().all(|e| matches!(e, Ev::Target(..))));
        assert_eq!(phases[0][n], Ev::Publish);
        assert_eq!(phases[0].len(), 2 * n + 1);
        for (s, e) in r.iter().zip(&phases[0][n + 1..]) {
            assert_eq!(*e, Ev::Poke(s.site, vec![INT3]));
        }
        for (s, e) in r.iter().zip(phases[1]) {
            assert_eq!(*e, Ev::Poke(s.site + 1, s.insn[1..].to_vec()));
        }
        for (s, e) in r.iter().zip(phases[2]) {
            assert_eq!(*e, Ev::Poke(s.site, s.insn[..1].to_vec()));
        }
        assert_eq!((phases[1].len(), phases[2].len()), (n, n));
        assert_eq!(phases[3], &[Ev::Clear]);
        assert_eq!((stats.syncs, stats.last_round_syncs), (3, 3));
        assert_eq!((stats.sites, stats.last_round_sites), (100, 100));
    }

    #[test]
    fn one_site_round_is_the_same_sequence() {
        // The engine's spare round (removals that cannot allocate) switches one site.
        let s = BASE + 0x40;
        let t = BASE + 0x2000;
        let i = call(s, t).unwrap();
        let mut stats = PatchStats::default();
        assert_eq!(
            run(&mut stats, &round(&[0x40], t)),
            vec![
                Ev::Target(s, t),
                Ev::Publish,
                Ev::Poke(s, vec![INT3]),
                Ev::Sync,
                Ev::Poke(s + 1, i[1..].to_vec()),
                Ev::Sync,
                Ev::Poke(s, i[..1].to_vec()),
                Ev::Sync,
                Ev::Clear,
            ]
        );
        assert_eq!((stats.rounds, stats.syncs, stats.sites), (1, 3, 1));
    }

    #[test]
    fn empty_round_does_nothing() {
        let mut stats = PatchStats {
            rounds: 4,
            syncs: 12,
            sites: 9,
            last_round_syncs: 3,
            last_round_sites: 2,
        };
        let before = stats;
        assert_eq!(run(&mut stats, &[]), vec![]);
        assert_eq!(stats, before, "no counter moves either");
    }

    #[test]
    fn last_round_counters_are_per_round() {
        let mut stats = PatchStats::default();
        run(&mut stats, &round(&[0x40, 0x80, 0xc0], BASE + 0x1000));
        run(&mut stats, &round(&[0x40], BASE + 0x2000));
        assert_eq!(
            stats,
            PatchStats {
                rounds: 2,
                syncs: 6,
                sites: 4,
                last_round_syncs: 3,
                last_round_sites: 1,
            }
        );
    }

    #[test]
    fn no_cpu_can_fetch_a_torn_call() {
        // Replays the pokes on memory holding each site's old call. After every single write
        // (a CPU may fetch at any time), each site is its old call, its new call, or starts
        // with int3 (which traps before the rest is decoded); and it ends as the new call.
        let offs = [0x40, 0x80, 0x1c0];
        let old_t = BASE + 0x1000;
        let new_t = BASE + 0x2000;
        let r = round(&offs, new_t);
        let mut mem = BTreeMap::new();
        for s in &r {
            for (k, b) in call(s.site, old_t).unwrap().iter().enumerate() {
                mem.insert(s.site + k, *b);
            }
        }
        let insn_at = |mem: &BTreeMap<usize, u8>, site: usize| -> [u8; 5] {
            core::array::from_fn(|k| mem[&(site + k)])
        };
        let mut syncs_with_int3 = 0;
        for e in run(&mut PatchStats::default(), &r) {
            match e {
                Ev::Poke(addr, bytes) => {
                    for (k, b) in bytes.iter().enumerate() {
                        *mem.get_mut(&(addr + k)).expect("a write outside the sites") = *b;
                    }
                }
                Ev::Sync if r.iter().any(|s| insn_at(&mem, s.site)[0] == INT3) => {
                    syncs_with_int3 += 1;
                }
                _ => {}
            }
            for s in &r {
                let i = insn_at(&mem, s.site);
                assert!(
                    i[0] == INT3 || i == call(s.site, old_t).unwrap() || i == s.insn,
                    "site {:#x} is torn: {i:02x?}",
                    s.site
                );
            }
        }
        for s in &r {
            assert_eq!(insn_at(&mem, s.site), s.insn);
        }
        // The int3s are synced in before the tails change, and the tails before any head.
        assert_eq!(syncs_with_int3, 2);
    }

    #[test]
    fn only_live_sites_not_yet_there_are_switched() {
        assert!(needs_switch(Some(1), 2));
        assert!(!needs_switch(Some(2), 2), "already there: no round");
        assert!(!needs_switch(None, 2), "not a live site of the pool");
    }

    fn patches(v: &[(usize, usize)]) -> Vec<Patch> {
        v.iter()
            .map(|&(site, target)| Patch { site, target })
            .collect()
    }

    fn pairs(p: &[Patch]) -> Vec<(usize, usize)> {
        p.iter().map(|p| (p.site, p.target)).collect()
    }

    #[test]
    fn select_keeps_the_needed_sorted_by_site() {
        // Site -> current target; 0x300 is not live.
        let current = |site: usize| match site {
            0x100 => Some(7),
            0x200 => Some(7),
            0x400 => Some(9),
            0x500 => Some(1),
            _ => None,
        };
        let mut p = patches(&[(0x500, 2), (0x200, 7), (0x300, 5), (0x100, 8), (0x400, 3)]);
        let n = select(&mut p, current);
        // The int3 handler binary-searches the record: it must be sorted by site.
        assert_eq!(pairs(&p[..n]), vec![(0x100, 8), (0x400, 3), (0x500, 2)]);
        assert_eq!(p.len(), 5, "the rest stays behind");
    }

    #[test]
    fn select_of_nothing_to_do_is_empty() {
        assert_eq!(select(&mut [], |_| Some(0)), 0);
        let mut p = patches(&[(0x100, 1), (0x200, 2)]);
        assert_eq!(select(&mut p, |s| Some(s / 0x100)), 0, "all already there");
        assert_eq!(select(&mut p, |_| None), 0, "none live");
    }

    #[test]
    fn select_sorts_any_input_order() {
        // Every permutation of 5 sites, with one not to switch among them.
        let sites = [0x100usize, 0x200, 0x300, 0x400, 0x500];
        let mut idx = [0usize, 1, 2, 3, 4];
        let mut count = 0;
        loop {
            let mut p: Vec<Patch> = idx
                .iter()
                .map(|&i| Patch {
                    site: sites[i],
                    target: 1,
                })
                .collect();
            let n = select(&mut p, |s| Some(if s == 0x300 { 1 } else { 0 }));
            assert_eq!(
                pairs(&p[..n]),
                vec![(0x100, 1), (0x200, 1), (0x400, 1), (0x500, 1)],
                "{idx:?}"
            );
            count += 1;
            // Next permutation (lexicographic).
            let Some(i) = (0..4).rev().find(|&i| idx[i] < idx[i + 1]) else {
                break;
            };
            let j = (i + 1..5).rev().find(|&j| idx[j] > idx[i]).unwrap();
            idx.swap(i, j);
            idx[i + 1..].reverse();
        }
        assert_eq!(count, 120);
    }

    #[test]
    fn switch_out_of_reach_is_refused() {
        let s = Switch::new(BASE, BASE + 0x1000).unwrap();
        assert_eq!((s.site, s.target), (BASE, BASE + 0x1000));
        assert_eq!(s.insn, call(BASE, BASE + 0x1000).unwrap());
        assert!(Switch::new(BASE, 0x7fff_0000_0000).is_none());
    }
}

mod transition_tests {
    use crate::batch::*;
    use crate::plan::*;

    #[test]
    fn mode_follows_the_ops_count() {
        assert_eq!(mode(1), Mode::Direct);
        assert_eq!(mode(2), Mode::List);
        assert_eq!(mode(5), Mode::List);
    }

    #[test]
    fn targets_are_the_mode_transitions() {
        for before in 0..6 {
            for d in [Dir::Add, Dir::Remove] {
                let Some(c) = change(before, d) else { continue };
                let (from, to) = (mode(c.before), mode(c.after));
                let want = match (c.before, c.after, from, to) {
                    (0, _, _, _) => Target::Stub,
                    (_, 0, _, _) => Target::Nop,
                    (_, _, Mode::Direct, Mode::List) => Target::Iterator,
                    (_, _, Mode::List, Mode::Direct) => Target::Survivor,
                    (_, _, Mode::List, Mode::List) => Target::Same,
                    (_, _, Mode::Direct, Mode::Direct) => unreachable!("{before} {d:?}"),
                };
                assert_eq!(c.target, want, "{before} {d:?}");
            }
        }
    }

    #[test]
    fn attached_order_is_kept_and_a_newcomer_goes_last() {
        let v = [10, 20, 30];
        let after = |o, d| attached_after(&v, o, d).collect::<Vec<_>>();
        assert_eq!(after(40, Dir::Add), vec![10, 20, 30, 40]);
        assert_eq!(after(20, Dir::Remove), vec![10, 30]);
        assert_eq!(after(10, Dir::Remove), vec![20, 30]);
        assert_eq!(after(30, Dir::Remove), vec![10, 20]);
        for before in 0..4usize {
            let v: Vec<usize> = (0..before).collect();
            for d in [Dir::Add, Dir::Remove] {
                let o = if d == Dir::Add {
                    99
                } else {
                    before.wrapping_sub(1)
                };
                if let Some(c) = change(before, d) {
                    assert_eq!(attached_after(&v, o, d).count(), c.after, "{before} {d:?}");
                }
            }
        }
    }

    #[test]
    fn survivor_is_the_earliest_attached_left() {
        assert_eq!(survivor(&[10, 20], 20), Some(10));
        assert_eq!(survivor(&[10, 20], 10), Some(20));
        assert_eq!(survivor(&[10, 20, 30], 10), Some(20));
        assert_eq!(survivor(&[10], 10), None);
        // The same ops the new list would hold first.
        for leaving in [10, 20, 30] {
            let v = [10, 20, 30];
            assert_eq!(
                survivor(&v, leaving),
                attached_after(&v, leaving, Dir::Remove).next()
            );
        }
    }

    #[test]
    fn in_place_removal_is_the_same_transition() {
        assert_eq!(in_place(0), None);
        let p = in_place(1).unwrap();
        assert_eq!((p.tombstone, p.target, p.stop), (false, Target::Nop, true));
        let p = in_place(2).unwrap();
        // The list of two is tombstoned: iterators called before the switch find the survivor.
        assert_eq!(
            (p.tombstone, p.target, p.stop),
            (true, Target::Survivor, false)
        );
        let p = in_place(3).unwrap();
        assert_eq!((p.tombstone, p.target, p.stop), (true, Target::Same, false));
        for before in 1..6 {
            let (p, c) = (
                in_place(before).unwrap(),
                change(before, Dir::Remove).unwrap(),
            );
            assert_eq!((p.target, p.stop), (c.target, c.retire), "{before}");
            assert_eq!(p.tombstone, mode(before) == Mode::List, "{before}");
        }
    }

    #[test]
    fn lists_alone_wait_for_a_batch() {
        assert!(!flush_now(0, 0, 0));
        assert!(!flush_now(0, 0, LIST_BATCH - 1));
        assert!(flush_now(0, 0, LIST_BATCH));
        assert_eq!(LIST_BATCH, 64);
        // Retired code never waits for a batch: the caller may free the ops on return.
        assert!(flush_now(1, 0, 0));
        assert!(flush_now(0, 1, 0));
    }
}
