// SPDX-License-Identifier: GPL-2.0

//! The `hooks` file's command language: `[!]<glob> <callback>[:<arg>]`, one per line, with
//! `set_ftrace_filter`'s glob rules. Errors carry an errno, a message and the byte position
//! of the bad token, for the error log's caret. `core`-only, unit-tested on the host.

use crate::filter;

/// errno values (x86-64 Linux), so this file needs no kernel crate.
pub mod errno {
    /// Operation not permitted (a function ftramp refuses).
    pub const EPERM: i32 = 1;
    /// No such entry (function or hook).
    pub const ENOENT: i32 = 2;
    /// Too many functions / command too long.
    pub const E2BIG: i32 = 7;
    /// Already hooked.
    pub const EEXIST: i32 = 17;
    /// Malformed command.
    pub const EINVAL: i32 = 22;
    /// No room (slots, return ops).
    pub const ENOSPC: i32 = 28;
    /// Write at an offset.
    pub const ESPIPE: i32 = 29;
    /// A function whose calling convention ftramp cannot reproduce (return ops).
    pub const EOPNOTSUPP: i32 = 95;
}

/// Longest command line accepted.
pub const MAX_LINE: usize = 512;

/// A built-in callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    /// Count hits per CPU.
    Count,
    /// One trace event per hit in `instances/ftramp`.
    Trace,
    /// The caller's stack into `instances/ftramp`, at most `arg` per second.
    Stacktrace,
    /// One trace event per return (value and duration) in `instances/ftramp`.
    Ret,
}

/// What each callback is, for `available_callbacks`: (name, argument, description).
pub const CALLBACKS: &[(Callback, &str, &str, &str)] = &[
    (
        Callback::Count,
        "count",
        "",
        "count hits per CPU (summed in stats)",
    ),
    (
        Callback::Trace,
        "trace",
        "",
        "one event per hit (function, caller, CPU) in instances/ftramp/trace",
    ),
    (
        Callback::Stacktrace,
        "stacktrace",
        "[:N]",
        "the caller's stack in instances/ftramp/trace, at most N per second (default 1)",
    ),
    (
        Callback::Ret,
        "ret",
        "",
        "one event per return (value, caller, duration) in instances/ftramp/trace",
    ),
];

/// Largest `stacktrace:N`.
pub const MAX_RATE: u32 = 1000;

impl Callback {
    /// The callback's name in commands.
    pub fn name(self) -> &'static str {
        CALLBACKS.iter().find(|c| c.0 == self).map_or("?", |c| c.1)
    }

    fn from_name(name: &[u8]) -> Option<Self> {
        CALLBACKS
            .iter()
            .find(|c| c.1.as_bytes() == name)
            .map(|c| c.0)
    }
}

/// One parsed command.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct HookCmd<'a> {
    /// `!glob callback`: remove.
    pub remove: bool,
    /// Function name or glob.
    pub pattern: &'a [u8],
    /// Byte offset of the pattern in the line.
    pub pattern_pos: usize,
    /// The callback.
    pub callback: Callback,
    /// Its argument (`stacktrace:N`), defaulted.
    pub arg: u32,
}

/// A rejected command.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct CmdError {
    /// Positive errno.
    pub errno: i32,
    /// What is wrong.
    pub msg: &'static str,
    /// Byte offset of the offending token.
    pub pos: usize,
}

fn err(errno: i32, msg: &'static str, pos: usize) -> CmdError {
    CmdError { errno, msg, pos }
}

fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Tokens of `line` with their offsets.
fn tokens(line: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut i = 0;
    core::iter::from_fn(move || {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return None;
        }
        let start = i;
        while i < line.len() && !is_space(line[i]) {
            i += 1;
        }
        Some((start, &line[start..i]))
    })
}

/// Whether `line` has nothing but blanks.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&c| is_space(c))
}

/// Parses one command line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<HookCmd<'_>, CmdError> {
    if line.len() > MAX_LINE {
        return Err(err(errno::E2BIG, "command too long", MAX_LINE));
    }
    if let Some(p) = line
        .iter()
        .position(|&c| !(c == b'\t' || (0x20..0x7f).contains(&c)))
    {
        return Err(err(
            errno::EINVAL,
            "invalid character (not printable ASCII)",
            p,
        ));
    }
    let mut toks = tokens(line);
    let Some((ppos, word)) = toks.next() else {
        return Err(err(errno::EINVAL, "empty command", 0));
    };
    let (remove, pattern, pattern_pos) = match word.split_first() {
        Some((b'!', rest)) => (true, rest, ppos + 1),
        _ => (false, word, ppos),
    };
    if pattern.is_empty() {
        return Err(err(errno::EINVAL, "'!' without a function", ppos));
    }
    let mut bad = None;
    if let Err(e) = filter::parse(pattern, |_| ()) {
        bad = Some(e);
    }
    if pattern.contains(&b',') {
        bad = Some(filter::FilterError::BadByte(b','));
    }
    if let Some(e) = bad {
        let at = match e {
            filter::FilterError::BadByte(c) => pattern.iter().position(|&b| b == c).unwrap_or(0),
            _ => 0,
        };
        return Err(err(
            errno::EINVAL,
            "invalid function name or glob",
            pattern_pos + at,
        ));
    }
    let Some((cpos, spec)) = toks.next() else {
        return Err(err(errno::EINVAL, "missing callback", line.len()));
    };
    if let Some((xpos, _)) = toks.next() {
        return Err(err(errno::EINVAL, "unexpected token", xpos));
    }
    let (name, arg) = match spec.iter().position(|&c| c == b':') {
        Some(i) => (&spec[..i], Some((cpos + i + 1, &spec[i + 1..]))),
        None => (spec, None),
    };
    let Some(callback) = Callback::from_name(name) else {
        return Err(err(errno::EINVAL, "unknown callback", cpos));
    };
    let arg = match (callback, arg) {
        (Callback::Stacktrace, None) => 1,
        (Callback::Stacktrace, Some((apos, a))) => parse_u32(a)
            .filter(|n| (1..=MAX_RATE).contains(n))
            .ok_or(err(errno::EINVAL, "argument must be 1..1000", apos))?,
        (_, Some((apos, _))) => {
            return Err(err(errno::EINVAL, "this callback takes no argument", apos))
        }
        (_, None) => 0,
    };
    Ok(HookCmd {
        remove,
        pattern,
        pattern_pos,
        callback,
        arg,
    })
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')))
}
