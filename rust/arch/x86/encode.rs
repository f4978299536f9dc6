// SPDX-License-Identifier: GPL-2.0

//! x86-64 instruction encoding for generated code: the 5-byte `call`/`jmp rel32` and the
//! `movabs imm64` that ftramp writes. `core`-only, unit-tested on the host (`rust/host`).

/// Opcode of `call rel32`.
pub const CALL_OPCODE: u8 = 0xe8;
/// Opcode of `jmp rel32`.
pub const JMP_OPCODE: u8 = 0xe9;
/// The `int3` breakpoint.
pub const INT3: u8 = 0xcc;
/// Length of `call rel32` / `jmp rel32`.
pub const REL32_INSN_LEN: usize = 5;
/// Length of `movabs $imm64, %reg`.
pub const MOVABS_LEN: usize = 10;

/// `rel32` for a 5-byte branch at `at` reaching `target`, if it is in range.
pub fn rel32(at: usize, target: usize) -> Option<i32> {
    let next = at.wrapping_add(REL32_INSN_LEN) as i64;
    i32::try_from((target as i64).wrapping_sub(next)).ok()
}

/// `call target`, encoded to sit at address `at`.
pub fn call(at: usize, target: usize) -> Option<[u8; 5]> {
    branch(CALL_OPCODE, at, target)
}

/// `jmp target`, encoded to sit at address `at`.
pub fn jmp(at: usize, target: usize) -> Option<[u8; 5]> {
    branch(JMP_OPCODE, at, target)
}

fn branch(op: u8, at: usize, target: usize) -> Option<[u8; 5]> {
    let r = rel32(at, target)?.to_le_bytes();
    Some([op, r[0], r[1], r[2], r[3]])
}

/// Target of the `call`/`jmp rel32` `insn` located at `at`, if it is one.
pub fn branch_target(at: usize, insn: &[u8; 5]) -> Option<usize> {
    if insn[0] != CALL_OPCODE && insn[0] != JMP_OPCODE {
        return None;
    }
    let r = i32::from_le_bytes([insn[1], insn[2], insn[3], insn[4]]);
    Some(
        at.wrapping_add(REL32_INSN_LEN)
            .wrapping_add(r as isize as usize),
    )
}

/// General-purpose registers usable with [`movabs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// `%rdx`
    Rdx = 2,
    /// `%rsi`
    Rsi = 6,
    /// `%rdi`
    Rdi = 7,
    /// `%r8`
    R8 = 8,
    /// `%r11`
    R11 = 11,
}

/// `movabs $imm, %reg` (REX.W[+B] + B8+r + imm64).
pub fn movabs(reg: Reg, imm: u64) -> [u8; MOVABS_LEN] {
    let r = reg as u8;
    let mut out = [0u8; MOVABS_LEN];
    out[0] = 0x48 | (r >> 3);
    out[1] = 0xb8 + (r & 7);
    out[2..].copy_from_slice(&imm.to_le_bytes());
    out
}

/// Length of a per-CPU `incq`/`decq` through `%r11` ([`percpu_rmw_r11`]).
pub const PERCPU_R11_LEN: usize = 4;

/// `incq`/`decq %gs:(%r11)`: the 64-bit per-CPU variable whose `__percpu` address is in
/// `%r11` (what `this_cpu_inc()` compiles to for a dynamically allocated one).
pub fn percpu_rmw_r11(op: PercpuOp) -> [u8; PERCPU_R11_LEN] {
    // %gs, REX.W+B, group 5 (/0 inc, /1 dec), modrm mod=00 rm=011 (%r11 with REX.B).
    [0x65, 0x49, 0xff, ((op as u8) << 3) | 0x03]
}

/// `pushq disp(%rbp)`: pushes the word at `%rbp + disp` (8-bit displacement when it fits).
pub fn push_rbp_disp(disp: i32) -> ([u8; 6], usize) {
    let mut out = [0u8; 6];
    out[0] = 0xff;
    if let Ok(d) = i8::try_from(disp) {
        out[1] = 0x75; // mod=01 /6 rm=101
        out[2] = d as u8;
        (out, 3)
    } else {
        out[1] = 0xb5; // mod=10 /6 rm=101
        out[2..6].copy_from_slice(&disp.to_le_bytes());
        (out, 6)
    }
}

/// `leaq disp32(%rbp), %rsp`.
pub fn lea_rsp_rbp(disp: i32) -> [u8; 7] {
    let d = disp.to_le_bytes();
    [0x48, 0x8d, 0xa5, d[0], d[1], d[2], d[3]]
}

/// `subq $imm32, %rsp`.
pub fn sub_rsp(imm: i32) -> [u8; 7] {
    let d = imm.to_le_bytes();
    [0x48, 0x81, 0xec, d[0], d[1], d[2], d[3]]
}

/// `leaq disp32(%rsp), %rcx`.
pub fn lea_rcx_rsp(disp: i32) -> [u8; 8] {
    let d = disp.to_le_bytes();
    [0x48, 0x8d, 0x8c, 0x24, d[0], d[1], d[2], d[3]]
}

/// Length of an ops entry stub: `movabs $ops, %rdx; jmp func`.
pub const STUB_LEN: usize = MOVABS_LEN + REL32_INSN_LEN;

/// The entry stub of one ops, placed at `at`: loads the ops pointer into the third argument
/// register and jumps to `func`, so a trampoline's single `call` reaches the callback with its
/// own ops (`func(ip, parent_ip, ops, regs)`).
pub fn ops_stub(at: usize, ops: u64, func: usize) -> Option<[u8; STUB_LEN]> {
    let mut out = [0u8; STUB_LEN];
    out[..MOVABS_LEN].copy_from_slice(&movabs(Reg::Rdx, ops));
    out[MOVABS_LEN..].copy_from_slice(&jmp(at + MOVABS_LEN, func)?);
    Some(out)
}

/// Whether `insn` at `at` is an exact `call target`.
pub fn is_call_to(at: usize, insn: &[u8; 5], target: usize) -> bool {
    insn[0] == CALL_OPCODE && branch_target(at, insn) == Some(target)
}

/// The 5-byte `nopl 0(%rax,%rax,1)`.
pub const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];

/// The 8-byte `nopl 0(%rax,%rax,1)` (disp32 form).
pub const NOP8: [u8; 8] = [0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00];

/// Length of a per-CPU `inc`/`dec` as [`percpu_rmw`] encodes it (padded with `nop`).
pub const PERCPU_RMW_LEN: usize = 8;

/// A read-modify-write of a per-CPU variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PercpuOp {
    /// `inc %gs:var`
    Inc = 0,
    /// `dec %gs:var`
    Dec = 1,
}

/// Operand size of a per-CPU read-modify-write: what the kernel's own code uses on that
/// variable. It matters for the preemption count: with `CONFIG_HAS_SEPARATE_PREEMPT_RESCHED_BITS`
/// (x86-64 from 7.x) the count is 64 bits with the inverted `PREEMPT_NEED_RESCHED` in bit 63,
/// and `preempt_enable()` is `decq`; a `decl` there reaches zero whenever the count does, due
/// or not, so every dispatch would end in the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// 32 bits (`incl`/`decl`).
    Dword,
    /// 64 bits (`incq`/`decq`).
    Qword,
}

/// `inc`/`dec` of the per-CPU variable whose `%gs`-relative address is `var`, encoded to sit
/// at `at`. 32-bit: absolute `%gs:disp32` when `var` fits a sign-extended 32-bit displacement
/// (zero-based per-CPU areas, as 6.12's x86-64 has), else `%gs:rel32(%rip)` plus a `nop`
/// (per-CPU symbols linked at kernel addresses). 64-bit: `%gs:rel32(%rip)` with REX.W (the
/// absolute form would take 9 bytes). `None` if the form does not reach.
pub fn percpu_rmw(
    op: PercpuOp,
    width: Width,
    at: usize,
    var: usize,
) -> Option<[u8; PERCPU_RMW_LEN]> {
    let reg = (op as u8) << 3;
    let mut out = [0u8; PERCPU_RMW_LEN];
    out[0] = 0x65; // %gs
    let rip_relative = |out: &mut [u8], modrm_at: usize| -> Option<()> {
        let next = at.wrapping_add(modrm_at + 5) as i64;
        let rel = i32::try_from((var as i64).wrapping_sub(next)).ok()?;
        out[modrm_at] = 0x05 | reg; // mod=00, rm=101: rip-relative disp32
        out[modrm_at + 1..modrm_at + 5].copy_from_slice(&rel.to_le_bytes());
        Some(())
    };
    match width {
        Width::Qword => {
            out[1] = 0x48; // REX.W
            out[2] = 0xff; // group 5: /0 inc, /1 dec
            rip_relative(&mut out, 3)?;
        }
        Width::Dword => {
            out[1] = 0xff;
            if let Ok(abs) = i32::try_from(var as i64) {
                out[2] = 0x04 | reg; // mod=00, rm=100: SIB follows
                out[3] = 0x25; // SIB: no base, no index, disp32
                out[4..].copy_from_slice(&abs.to_le_bytes());
            } else {
                rip_relative(&mut out, 2)?;
                out[7] = 0x90;
            }
        }
    }
    Some(out)
}

/// `jnz rel8` skipping `n` bytes.
pub fn jnz_short(n: u8) -> [u8; 2] {
    [0x75, n]
}

/// Length of the call depth accounting [`call_depth_account`] encodes (padded with `nop`).
pub const CALL_DEPTH_LEN: usize = 10;

/// Call depth accounting for one `call`, as the kernel's `INCREMENT_CALL_DEPTH` does it when
/// `retbleed=stuff` selects call depth tracking: `sarq $5, %gs:var`, where `var` is the
/// `%gs`-relative address of the per-CPU depth counter, encoded to sit at `at`. Absolute
/// `%gs:disp32` (10 bytes) when `var` fits a sign-extended 32-bit displacement, else
/// `%gs:rel32(%rip)` (9 bytes) plus a `nop`. `None` if neither reaches.
pub fn call_depth_account(at: usize, var: usize) -> Option<[u8; CALL_DEPTH_LEN]> {
    let mut out = [0x90u8; CALL_DEPTH_LEN];
    out[..3].copy_from_slice(&[0x65, 0x48, 0xc1]); // %gs, REX.W, group 2 with imm8 (/7: sar)
    if let Ok(abs) = i32::try_from(var as i64) {
        out[3] = 0x3c; // mod=00, reg=7, rm=100: SIB follows
        out[4] = 0x25; // SIB: no base, no index, disp32
        out[5..9].copy_from_slice(&abs.to_le_bytes());
        out[9] = 5; // imm8
    } else {
        // The displacement counts from the end of the instruction, imm8 included.
        let next = at.wrapping_add(9) as i64;
        let rel = i32::try_from((var as i64).wrapping_sub(next)).ok()?;
        out[3] = 0x3d; // mod=00, reg=7, rm=101: rip-relative disp32
        out[4..8].copy_from_slice(&rel.to_le_bytes());
        out[8] = 5; // imm8
    }
    Some(out)
}

/// How generated code at `at` returns: `jmp thunk` when the kernel returns through a return
/// thunk there (`thunk != 0`), else `ret; int3` (the `int3` stops straight-line speculation),
/// padded with `int3` to 5 bytes either way. `None` if the thunk is out of `rel32` range.
pub fn ret(at: usize, thunk: usize) -> Option<[u8; REL32_INSN_LEN]> {
    if thunk == 0 {
        Some([0xc3, INT3, INT3, INT3, INT3])
    } else {
        jmp(at, thunk)
    }
}
