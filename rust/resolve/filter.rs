// SPDX-License-Identifier: GPL-2.0

//! Parsing of function filters as `ftramp_set_filter()` takes them: names and globs separated
//! by spaces, tabs, newlines or commas; `!pattern` removes. `core`-only, unit-tested on the
//! host.

/// Longest accepted pattern (kallsyms names are shorter than `KSYM_NAME_LEN` = 512).
pub const MAX_PATTERN: usize = 256;

/// One filter entry.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Token<'a> {
    /// `!pattern`: remove the matching functions.
    pub remove: bool,
    /// Name or glob.
    pub pattern: &'a [u8],
}

/// Why a filter is malformed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum FilterError {
    /// A `!` with nothing after it.
    EmptyNegation,
    /// A pattern longer than [`MAX_PATTERN`].
    TooLong,
    /// A byte that cannot be in a symbol name or glob.
    BadByte(u8),
}

fn is_separator(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b',')
}

fn is_pattern_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'_' | b'.' | b'$' | b'*' | b'?' | b'[' | b']' | b'-' | b'^' | b'!'
        )
}

/// Splits `filter` into tokens, validating all of them before returning any (a malformed
/// filter changes nothing).
pub fn parse(filter: &[u8], mut each: impl FnMut(Token<'_>)) -> Result<usize, FilterError> {
    let mut n = 0;
    for pass in 0..2 {
        for word in filter.split(|&c| is_separator(c)).filter(|w| !w.is_empty()) {
            let (remove, pattern) = match word.split_first() {
                Some((b'!', rest)) => (true, rest),
                _ => (false, word),
            };
            if pass == 0 {
                if pattern.is_empty() {
                    return Err(FilterError::EmptyNegation);
                }
                if pattern.len() > MAX_PATTERN {
                    return Err(FilterError::TooLong);
                }
                if let Some(&c) = pattern.iter().find(|&&c| !is_pattern_byte(c)) {
                    return Err(FilterError::BadByte(c));
                }
                n += 1;
            } else {
                each(Token { remove, pattern });
            }
        }
    }
    Ok(n)
}
