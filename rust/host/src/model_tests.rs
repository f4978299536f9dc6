//! `btf/model.rs`: the x86-64 SysV rules, on hand-built BTF.

use crate::model::*;

/// A hand-built BTF object: types by id (0 is void), prototypes' parameters, FUNC names.
#[derive(Default)]
struct Btf {
    types: Vec<Ty>,
    params: Vec<(u32, Vec<u32>)>,
    names: Vec<(u32, &'static str)>,
    /// First own id (a module's split BTF starts after vmlinux's).
    start: u32,
}

impl Btf {
    fn new() -> Self {
        Self {
            types: vec![Ty::Void],
            start: 1,
            ..Default::default()
        }
    }
    fn add(&mut self, t: Ty) -> u32 {
        self.types.push(t);
        (self.types.len() - 1) as u32
    }
    fn int(&mut self, size: u32) -> u32 {
        self.add(Ty::Int { size })
    }
    fn strukt(&mut self, size: u32) -> u32 {
        self.add(Ty::Struct { size })
    }
    /// A FUNC `name` of `ret (params...)`.
    fn func_v(&mut self, name: &'static str, ret: u32, params: &[u32], variadic: bool) -> u32 {
        let proto = self.add(Ty::FuncProto {
            ret,
            nr_params: params.len() as u16,
            variadic,
        });
        self.params.push((proto, params.to_vec()));
        let f = self.add(Ty::Func { proto });
        self.names.push((f, name));
        f
    }
    fn func(&mut self, name: &'static str, ret: u32, params: &[u32]) -> u32 {
        self.func_v(name, ret, params, false)
    }
    fn model(&self, name: &str) -> Result<FuncModel, Refusal> {
        model_by_name(self, name.as_bytes())
    }
}

impl Types for Btf {
    fn get(&self, id: u32) -> Option<Ty> {
        self.types.get(id as usize).copied()
    }
    fn param(&self, proto: u32, i: u16) -> Option<u32> {
        let (_, p) = self.params.iter().find(|(id, _)| *id == proto)?;
        p.get(i as usize).copied()
    }
    fn own_ids(&self) -> core::ops::Range<u32> {
        self.start..self.types.len() as u32
    }
    fn is_func_named(&self, id: u32, name: &[u8]) -> bool {
        self.names
            .iter()
            .any(|&(f, n)| f == id && n.as_bytes() == name)
    }
}

fn m(nr_args: u8, arg_regs: u8, stack_words: u8, ret_words: u8) -> Result<FuncModel, Refusal> {
    Ok(FuncModel {
        nr_args,
        arg_regs,
        stack_words,
        ret_words,
    })
}

#[test]
fn register_arguments_then_stack_words() {
    let mut b = Btf::new();
    let long = b.int(8);
    let ptr = b.add(Ty::Ptr);
    b.func("zero", 0, &[]);
    b.func("six", long, &[ptr; 6]);
    b.func("seven", long, &[long; 7]);
    b.func("eight", 0, &[long; 8]);
    b.func("twelve", 0, &[long; 12]);
    b.func("thirteen", 0, &[long; 13]);
    assert_eq!(b.model("zero"), m(0, 0, 0, 0));
    assert_eq!(b.model("six"), m(6, 6, 0, 1));
    assert_eq!(b.model("seven"), m(7, 6, 1, 1));
    assert_eq!(b.model("eight"), m(8, 6, 2, 0));
    assert_eq!(b.model("twelve"), m(12, 6, 6, 0));
    assert_eq!(b.model("thirteen"), Err(Refusal::TooManyArgs));
}

#[test]
fn small_scalars_take_one_word_each() {
    let mut b = Btf::new();
    let (c, s, i) = (b.int(1), b.int(2), b.int(4));
    let e = b.add(Ty::Enum { size: 4 });
    let e64 = b.add(Ty::Enum { size: 8 });
    b.func("mixed", c, &[c, s, i, e, e64, c, s, i]);
    assert_eq!(b.model("mixed"), m(8, 6, 2, 1));
}

#[test]
fn sixteen_byte_struct_takes_two_registers_if_two_are_left() {
    let mut b = Btf::new();
    let long = b.int(8);
    let s16 = b.strukt(16);
    let s12 = b.strukt(12);
    // 4 + 2 registers: all fit.
    b.func("fits", 0, &[long, long, long, long, s16]);
    // 5 registers used, one left: the struct goes to the stack as two words; the int after
    // it still takes the register left.
    b.func("spills", 0, &[long, long, long, long, long, s12, long]);
    // Like sk_getsockopt(sk, level, optname, sockptr_t optval, sockptr_t optlen).
    b.func("sk_getsockopt", long, &[long, long, long, s16, s16]);
    // Like do_sock_setsockopt(sock, compat, level, optname, sockptr_t optval, int optlen).
    b.func(
        "do_sock_setsockopt",
        long,
        &[long, long, long, long, s16, long],
    );
    assert_eq!(b.model("fits"), m(5, 6, 0, 0));
    assert_eq!(b.model("spills"), m(7, 6, 2, 0));
    assert_eq!(b.model("sk_getsockopt"), m(5, 5, 2, 1));
    assert_eq!(b.model("do_sock_setsockopt"), m(6, 6, 1, 1));
}

#[test]
fn large_structs_always_go_to_the_stack() {
    let mut b = Btf::new();
    let long = b.int(8);
    let s24 = b.strukt(24);
    let s17 = b.strukt(17);
    let s36 = b.strukt(36);
    // The struct goes to the stack although registers are left; the ints after it take them.
    b.func("first", 0, &[s24, long, long]);
    b.func("odd", 0, &[s17]);
    // Like rtc_tm_to_ktime(struct rtc_time tm): nine ints, 36 bytes, five words.
    b.func("rtc_tm_to_ktime", long, &[s36]);
    assert_eq!(b.model("first"), m(3, 2, 3, 0));
    assert_eq!(b.model("odd"), m(1, 0, 3, 0));
    assert_eq!(b.model("rtc_tm_to_ktime"), m(1, 0, 5, 1));
}

#[test]
fn empty_structs_take_nothing() {
    let mut b = Btf::new();
    let long = b.int(8);
    let empty = b.strukt(0);
    b.func(
        "empty",
        empty,
        &[empty, long, long, long, long, long, long, empty],
    );
    assert_eq!(b.model("empty"), m(8, 6, 0, 0));
}

#[test]
fn return_values() {
    let mut b = Btf::new();
    let long = b.int(8);
    let s8 = b.strukt(8);
    let s16 = b.strukt(16);
    let s17 = b.strukt(17);
    let i128 = b.int(16);
    b.func("ret8", s8, &[]);
    // Like ns_to_timespec64(): a 16-byte struct in rax:rdx.
    b.func("ret16", s16, &[long]);
    b.func("ret128", i128, &[]);
    // Returned in memory: the hidden pointer takes rdi, so six ints leave one on the stack.
    b.func("big", s17, &[long; 6]);
    b.func("big5", s17, &[long; 5]);
    assert_eq!(b.model("ret8"), m(0, 1, 0, 1));
    assert_eq!(b.model("ret16"), m(1, 2, 0, 2));
    assert_eq!(b.model("ret128"), m(0, 0, 0, 2));
    assert_eq!(b.model("big"), m(6, 6, 1, 1));
    assert_eq!(b.model("big5"), m(5, 6, 0, 1));
}

#[test]
fn int128_in_registers_or_refused_on_the_stack() {
    let mut b = Btf::new();
    let long = b.int(8);
    let i128 = b.int(16);
    b.func("fits", 0, &[long, long, long, long, i128]);
    b.func("stack", 0, &[long, long, long, long, long, i128]);
    assert_eq!(b.model("fits"), m(5, 6, 0, 0));
    assert_eq!(b.model("stack"), Err(Refusal::StackAlign));
}

#[test]
fn variadic_and_float_are_refused() {
    let mut b = Btf::new();
    let int = b.int(4);
    let ptr = b.add(Ty::Ptr);
    let double = b.add(Ty::Float);
    let cdouble = b.add(Ty::Modifier { target: double });
    b.func_v("_printk", int, &[ptr], true);
    b.func("takes_float", 0, &[int, cdouble]);
    b.func("returns_float", double, &[]);
    assert_eq!(b.model("_printk"), Err(Refusal::Variadic));
    assert_eq!(b.model("takes_float"), Err(Refusal::Float));
    assert_eq!(b.model("returns_float"), Err(Refusal::Float));
    for r in [Refusal::Variadic, Refusal::Float, Refusal::NoBtf] {
        assert!(!r.reason().is_empty());
    }
}

#[test]
fn typedef_and_const_chains_are_followed() {
    let mut b = Btf::new();
    let s16 = b.strukt(16);
    let td = b.add(Ty::Modifier { target: s16 }); // typedef struct {..} sockptr_t
    let c = b.add(Ty::Modifier { target: td }); // const sockptr_t
    let v = b.add(Ty::Modifier { target: c }); // volatile const sockptr_t
    let long = b.int(8);
    let ulong = b.add(Ty::Modifier { target: long });
    b.func("chain", v, &[ulong, ulong, ulong, ulong, ulong, v]);
    assert_eq!(b.model("chain"), m(6, 6, 2, 2));
}

#[test]
fn unknown_and_malformed_types_are_refused() {
    let mut b = Btf::new();
    let other = b.add(Ty::Other);
    // A modifier loop (malformed BTF) ends instead of spinning.
    let lp = b.add(Ty::Modifier { target: 0 });
    b.types[lp as usize] = Ty::Modifier { target: lp };
    b.func("array", 0, &[other]);
    b.func("loop", 0, &[lp]);
    b.func("void_param", 0, &[0]);
    b.func("dangling", 0, &[999]);
    let (int0, int24) = (b.int(0), b.int(24));
    b.func("int0", 0, &[int0]);
    b.func("int24", int24, &[]);
    b.func("proto_param", 0, &[b.types.len() as u32 - 2]);
    for f in [
        "array",
        "loop",
        "void_param",
        "dangling",
        "int0",
        "int24",
        "proto_param",
    ] {
        assert_eq!(b.model(f), Err(Refusal::UnknownType), "{f}");
    }
    assert_eq!(b.model("missing"), Err(Refusal::NotFound));
}

#[test]
fn same_name_functions_must_agree() {
    let mut b = Btf::new();
    let long = b.int(8);
    let int = b.int(4);
    // Like copy_array: static functions of one name in two files.
    b.func("copy_array", 0, &[long, long, long]);
    b.func("copy_array", long, &[long; 5]);
    // Same model from different prototypes: known.
    b.func("hash", int, &[long, long]);
    b.func("hash", long, &[int, int]);
    // One variant refused, the other not: which one ftrace patches is unknown.
    b.func("maybe", 0, &[long]);
    b.func_v("maybe", 0, &[long], true);
    // Both refused the same way: that refusal.
    b.func_v("both", 0, &[long], true);
    b.func_v("both", 0, &[long], true);
    assert_eq!(b.model("copy_array"), Err(Refusal::Ambiguous));
    assert_eq!(b.model("hash"), m(2, 2, 0, 1));
    assert_eq!(b.model("maybe"), Err(Refusal::Ambiguous));
    assert_eq!(b.model("both"), Err(Refusal::Variadic));
}

#[test]
fn only_own_ids_are_searched() {
    let mut b = Btf::new();
    let long = b.int(8);
    b.func("in_base", 0, &[long]);
    b.start = b.types.len() as u32;
    b.func("in_module", 0, &[long; 7]);
    assert_eq!(b.model("in_base"), Err(Refusal::NotFound));
    // A module's prototype may use vmlinux's types.
    assert_eq!(b.model("in_module"), m(7, 6, 1, 0));
}

#[test]
fn stack_words_overflow_is_refused() {
    let mut b = Btf::new();
    let huge = b.strukt(8 * 256);
    let almost = b.strukt(8 * 255);
    b.func("huge", 0, &[huge]);
    b.func("almost", 0, &[almost]);
    assert_eq!(b.model("huge"), Err(Refusal::StackTooLarge));
    assert_eq!(b.model("almost"), m(1, 0, 255, 0));
}

#[test]
fn decodes_struct_btf_type() {
    let info = |kind: u32, vlen: u32| kind << 24 | vlen;
    assert_eq!(Ty::decode(info(KIND_INT, 0), 8, None), Ty::Int { size: 8 });
    assert_eq!(Ty::decode(info(KIND_PTR, 0), 5, None), Ty::Ptr);
    assert_eq!(
        Ty::decode(info(KIND_STRUCT, 3) | 1 << 31, 24, None),
        Ty::Struct { size: 24 }
    );
    assert_eq!(
        Ty::decode(info(KIND_UNION, 2), 16, None),
        Ty::Struct { size: 16 }
    );
    assert_eq!(
        Ty::decode(info(KIND_ENUM64, 2), 8, None),
        Ty::Enum { size: 8 }
    );
    for k in [
        KIND_TYPEDEF,
        KIND_CONST,
        KIND_VOLATILE,
        KIND_RESTRICT,
        KIND_TYPE_TAG,
    ] {
        assert_eq!(Ty::decode(info(k, 0), 7, None), Ty::Modifier { target: 7 });
    }
    // FUNC's vlen is its linkage, not parameters.
    assert_eq!(
        Ty::decode(info(KIND_FUNC, 1), 9, None),
        Ty::Func { proto: 9 }
    );
    assert_eq!(
        Ty::decode(info(KIND_FUNC_PROTO, 2), 4, Some(0)),
        Ty::FuncProto {
            ret: 4,
            nr_params: 1,
            variadic: true
        }
    );
    assert_eq!(
        Ty::decode(info(KIND_FUNC_PROTO, 2), 4, Some(3)),
        Ty::FuncProto {
            ret: 4,
            nr_params: 2,
            variadic: false
        }
    );
    assert_eq!(
        Ty::decode(info(KIND_FUNC_PROTO, 0), 0, None),
        Ty::FuncProto {
            ret: 0,
            nr_params: 0,
            variadic: false
        }
    );
    assert_eq!(Ty::decode(info(KIND_FLOAT, 0), 8, None), Ty::Float);
    // ARRAY, FWD, VAR, DATASEC, DECL_TAG.
    for k in [3, 7, 14, 15, 17] {
        assert_eq!(Ty::decode(info(k, 0), 8, None), Ty::Other, "{k}");
    }
}
