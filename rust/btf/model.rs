// SPDX-License-Identifier: GPL-2.0

//! The calling convention of a function, from its BTF: how many arguments it has, how many
//! 8-byte words of them its caller passes on the stack, and how many registers its return
//! value takes. `core`-only, unit-tested on the host; `btf/mod.rs` feeds it the kernel's BTF.
//!
//! A function with return hooks runs its body from ftramp's return trampoline, which restores
//! the six argument registers and copies [`FuncModel::stack_words`] words of stack arguments
//! from the caller's frame to just above its own call. The model follows the x86-64 SysV
//! classification as the kernel is compiled (`-mno-sse -mgeneral-regs-only`: no vector or
//! floating-point arguments ever):
//!
//! - integers, pointers and enums of up to 8 bytes take the next argument register, or a
//!   stack word when the six are used up;
//! - 9 to 16-byte structs and unions, and 16-byte integers, take the next two registers if
//!   two are left, else they go to the stack as two words, and later, smaller arguments may
//!   still take the registers left;
//! - larger structs and unions always go to the stack, one word per started 8 bytes;
//! - empty structs take nothing;
//! - a return value of more than 16 bytes is returned in memory the caller passes as a hidden
//!   first argument (`%rdi`, returned again in `%rax`).
//!
//! What BTF cannot tell is refused ([`Refusal`]): variadic functions (the stack arguments of a
//! call are known to its caller only), floating point, and a 16-byte integer on the stack
//! (its 16-byte alignment may leave a padding word). A struct declared with 16-byte alignment
//! has the same padding rule, but BTF does not record alignment; the kernel passes no such
//! struct by value.

use core::ops::Range;

/// BTF kinds (uapi `linux/btf.h`, `BTF_KIND_*`).
pub const KIND_INT: u32 = 1;
/// `BTF_KIND_PTR`.
pub const KIND_PTR: u32 = 2;
/// `BTF_KIND_STRUCT`.
pub const KIND_STRUCT: u32 = 4;
/// `BTF_KIND_UNION`.
pub const KIND_UNION: u32 = 5;
/// `BTF_KIND_ENUM`.
pub const KIND_ENUM: u32 = 6;
/// `BTF_KIND_TYPEDEF`.
pub const KIND_TYPEDEF: u32 = 8;
/// `BTF_KIND_VOLATILE`.
pub const KIND_VOLATILE: u32 = 9;
/// `BTF_KIND_CONST`.
pub const KIND_CONST: u32 = 10;
/// `BTF_KIND_RESTRICT`.
pub const KIND_RESTRICT: u32 = 11;
/// `BTF_KIND_FUNC`.
pub const KIND_FUNC: u32 = 12;
/// `BTF_KIND_FUNC_PROTO`.
pub const KIND_FUNC_PROTO: u32 = 13;
/// `BTF_KIND_FLOAT`.
pub const KIND_FLOAT: u32 = 16;
/// `BTF_KIND_TYPE_TAG`.
pub const KIND_TYPE_TAG: u32 = 18;
/// `BTF_KIND_ENUM64`.
pub const KIND_ENUM64: u32 = 19;

/// The kind of a `struct btf_type` from its `info` (bits 24-28).
pub const fn kind(info: u32) -> u32 {
    (info >> 24) & 0x1f
}

/// The `vlen` of a `struct btf_type` (bits 0-15): a FUNC_PROTO's parameter count.
pub const fn vlen(info: u32) -> u16 {
    (info & 0xffff) as u16
}

/// Most arguments a modelled function may have (BPF's `MAX_BPF_FUNC_ARGS`).
pub const MAX_ARGS: u16 = 12;

/// Integer argument registers: `%rdi %rsi %rdx %rcx %r8 %r9`.
pub const ARG_REGS: u32 = 6;

/// Longest chain of typedefs and modifiers followed before a type is declared unknown (BTF
/// from the kernel is acyclic; this bounds a malformed one).
const MAX_CHAIN: u32 = 32;

/// What the model needs of one BTF type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// Type id 0.
    Void,
    /// An integer of `size` bytes.
    Int { size: u32 },
    /// A pointer.
    Ptr,
    /// An enum of `size` bytes.
    Enum { size: u32 },
    /// A struct or union of `size` bytes.
    Struct { size: u32 },
    /// A floating-point type.
    Float,
    /// A typedef, `const`, `volatile`, `restrict` or type tag of `target`.
    Modifier { target: u32 },
    /// A prototype: the return type, the named parameters (the variadic marker not counted).
    FuncProto {
        ret: u32,
        nr_params: u16,
        variadic: bool,
    },
    /// A function and its prototype.
    Func { proto: u32 },
    /// Anything else (arrays, forward declarations, variables, ...).
    Other,
}

impl Ty {
    /// Decodes a `struct btf_type`'s `info` and `size`/`type` union. For a FUNC_PROTO with
    /// parameters, `last_param` is the type of its last `struct btf_param` (0 is the variadic
    /// marker).
    pub fn decode(info: u32, size_or_type: u32, last_param: Option<u32>) -> Self {
        match kind(info) {
            KIND_INT => Ty::Int { size: size_or_type },
            KIND_PTR => Ty::Ptr,
            KIND_STRUCT | KIND_UNION => Ty::Struct { size: size_or_type },
            KIND_ENUM | KIND_ENUM64 => Ty::Enum { size: size_or_type },
            KIND_FLOAT => Ty::Float,
            KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                Ty::Modifier {
                    target: size_or_type,
                }
            }
            KIND_FUNC => Ty::Func {
                proto: size_or_type,
            },
            KIND_FUNC_PROTO => {
                let n = vlen(info);
                let variadic = n > 0 && last_param == Some(0);
                Ty::FuncProto {
                    ret: size_or_type,
                    nr_params: n - u16::from(variadic),
                    variadic,
                }
            }
            _ => Ty::Other,
        }
    }
}

/// A view of one BTF object (vmlinux's, or a module's split BTF on top of it).
pub trait Types {
    /// Type `id` (0 is [`Ty::Void`]); `None` if there is none.
    fn get(&self, id: u32) -> Option<Ty>;
    /// The type of parameter `i` of the FUNC_PROTO `proto`.
    fn param(&self, proto: u32, i: u16) -> Option<u32>;
    /// The ids to search for functions: the object's own types (a module's, not vmlinux's).
    fn own_ids(&self) -> Range<u32>;
    /// Whether type `id` is a FUNC called `name`.
    fn is_func_named(&self, id: u32, name: &[u8]) -> bool;
}

/// A function's calling convention, as far as the return trampoline must reproduce it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncModel {
    /// Its C parameters.
    pub nr_args: u8,
    /// Argument registers they take, from `%rdi` on (a struct may take two, an argument on
    /// the stack none, a hidden return pointer `%rdi`): always the first `arg_regs` of the six,
    /// as SysV assigns them in order. What a lean entry frame saves. One more for a function
    /// returning a struct of up to 16 bytes, in case it is packed (then returned through a
    /// hidden pointer); a packed struct argument goes to memory, so its registers counted here
    /// are only more than needed.
    pub arg_regs: u8,
    /// 8-byte words of arguments its callers pass on the stack, above the return address.
    pub stack_words: u8,
    /// Registers of its return value: 0 (void), 1 (`%rax`, also for a value returned in
    /// memory, whose address comes back in `%rax`) or 2 (`%rax:%rdx`).
    pub ret_words: u8,
}

/// Why a function has no model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Variadic.
    Variadic,
    /// A floating-point argument or return value.
    Float,
    /// More than [`MAX_ARGS`] arguments.
    TooManyArgs,
    /// More stack arguments than a [`FuncModel`] counts.
    StackTooLarge,
    /// A 16-byte integer on the stack (its alignment padding is not modelled).
    StackAlign,
    /// A type the model does not know (or malformed BTF).
    UnknownType,
    /// No function of that name in its owner's BTF.
    NotFound,
    /// Several functions of that name whose models differ.
    Ambiguous,
    /// The kernel, or the function's module, has no BTF.
    NoBtf,
}

impl Refusal {
    /// Why, for the error log.
    pub const fn reason(self) -> &'static str {
        match self {
            Refusal::Variadic => "variadic function: its stack arguments are unknown",
            Refusal::Float => "floating-point argument or return value",
            Refusal::TooManyArgs => "more than 12 arguments",
            Refusal::StackTooLarge => "more than 255 words of stack arguments",
            Refusal::StackAlign => "16-byte integer passed on the stack: alignment unknown",
            Refusal::UnknownType => "argument or return type not understood from BTF",
            Refusal::NotFound => "no BTF for the function",
            Refusal::Ambiguous => "several functions of that name with different BTF models",
            Refusal::NoBtf => "no BTF for the kernel or the function's module",
        }
    }
}

/// How one argument or return value is passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// Nothing: `void`, an empty struct.
    Nothing,
    /// In `words` registers (1 or 2), or on the stack if they are not left.
    Regs {
        words: u32,
        int128: bool,
        /// A struct or union: passed in registers only if none of its fields is misaligned,
        /// which BTF's size alone does not tell (a packed struct goes to memory).
        aggregate: bool,
    },
    /// Always in memory: `words` stack words as an argument.
    Memory { words: u32 },
}

/// How a value of type `id` is passed. `void` is only a return type.
fn classify(types: &impl Types, mut id: u32, is_ret: bool) -> Result<Pass, Refusal> {
    for _ in 0..MAX_CHAIN {
        return match types.get(id).ok_or(Refusal::UnknownType)? {
            Ty::Modifier { target } => {
                id = target;
                continue;
            }
            Ty::Void if is_ret => Ok(Pass::Nothing),
            Ty::Int { size: 1..=8 } | Ty::Enum { size: 1..=8 } | Ty::Ptr => Ok(Pass::Regs {
                words: 1,
                int128: false,
                aggregate: false,
            }),
            Ty::Int { size: 16 } => Ok(Pass::Regs {
                words: 2,
                int128: true,
                aggregate: false,
            }),
            Ty::Struct { size: 0 } => Ok(Pass::Nothing),
            Ty::Struct {
                size: size @ 1..=16,
            } => Ok(Pass::Regs {
                words: size.div_ceil(8),
                int128: false,
                aggregate: true,
            }),
            Ty::Struct { size } => Ok(Pass::Memory {
                words: size.div_ceil(8),
            }),
            Ty::Float => Err(Refusal::Float),
            _ => Err(Refusal::UnknownType),
        };
    }
    Err(Refusal::UnknownType)
}

/// The model of the FUNC `func`.
pub fn func_model(types: &impl Types, func: u32) -> Result<FuncModel, Refusal> {
    let Some(Ty::Func { proto }) = types.get(func) else {
        return Err(Refusal::UnknownType);
    };
    let Some(Ty::FuncProto {
        ret,
        nr_params,
        variadic,
    }) = types.get(proto)
    else {
        return Err(Refusal::UnknownType);
    };
    if variadic {
        return Err(Refusal::Variadic);
    }
    if nr_params > MAX_ARGS {
        return Err(Refusal::TooManyArgs);
    }
    let mut regs = ARG_REGS;
    // A small struct returned in registers if it is not packed, else through a hidden `%rdi`
    // that shifts every argument by one register: the frame saves one register more for it.
    let mut spare = 0;
    let ret_words = match classify(types, ret, true)? {
        Pass::Nothing => 0,
        Pass::Regs {
            words, aggregate, ..
        } => {
            spare = u32::from(aggregate);
            words
        }
        // The hidden pointer takes `%rdi`, and comes back in `%rax`.
        Pass::Memory { .. } => {
            regs -= 1;
            1
        }
    };
    let mut stack = 0u32;
    for i in 0..nr_params {
        let ty = types.param(proto, i).ok_or(Refusal::UnknownType)?;
        match classify(types, ty, false)? {
            Pass::Nothing => {}
            Pass::Regs { words, .. } if words <= regs => regs -= words,
            Pass::Regs { int128: true, .. } => return Err(Refusal::StackAlign),
            Pass::Regs { words, .. } | Pass::Memory { words } => stack += words,
        }
    }
    Ok(FuncModel {
        nr_args: u8::try_from(nr_params).map_err(|_| Refusal::TooManyArgs)?,
        // At most `ARG_REGS` (6).
        arg_regs: (ARG_REGS - regs + spare).min(ARG_REGS) as u8,
        stack_words: u8::try_from(stack).map_err(|_| Refusal::StackTooLarge)?,
        ret_words: u8::try_from(ret_words).map_err(|_| Refusal::UnknownType)?,
    })
}

/// The model of the function called `name`, from every FUNC of that name in `types`' own
/// ids: static functions of one name in several files each have one, and the model is only
/// known if all of them agree (a refusal included).
pub fn model_by_name(types: &impl Types, name: &[u8]) -> Result<FuncModel, Refusal> {
    model_of_funcs(
        types,
        types.own_ids().filter(|&id| types.is_func_named(id, name)),
    )
}

/// The model of one function from all its FUNC ids (see [`model_by_name`]), for a caller that
/// already knows them (`rust/host/examples/ret_census.rs` indexes every name once).
pub fn model_of_funcs(
    types: &impl Types,
    funcs: impl IntoIterator<Item = u32>,
) -> Result<FuncModel, Refusal> {
    let mut found: Option<Result<FuncModel, Refusal>> = None;
    for id in funcs {
        let m = func_model(types, id);
        match found {
            None => found = Some(m),
            Some(f) if f != m => return Err(Refusal::Ambiguous),
            Some(_) => {}
        }
    }
    found.unwrap_or(Err(Refusal::NotFound))
}

/// Most stack-passed argument words a return trampoline copies (its first half must fit a
/// slot).
pub const MAX_STACK_WORDS: usize = 16;

/// Whether a function can take a return hook, and the stack words its return trampoline
/// copies; why not, for the error log. `never_returns` is the denylist's word on it,
/// `model` its BTF model.
pub fn ret_stack_words(
    never_returns: bool,
    model: impl FnOnce() -> Result<FuncModel, Refusal>,
) -> Result<usize, &'static str> {
    if never_returns {
        return Err("the function never returns: its calls would stay in the trampoline forever");
    }
    let words = model().map_err(Refusal::reason)?.stack_words as usize;
    if words > MAX_STACK_WORDS {
        return Err("more than 16 words of stack-passed arguments");
    }
    Ok(words)
}
