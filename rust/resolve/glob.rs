// SPDX-License-Identifier: GPL-2.0

//! Function-name patterns with the rules of `set_ftrace_filter`: `*` (any run), `?` (any one
//! character) and `[...]` classes (ranges, `!`/`^` negation), as the kernel's `glob_match()`.
//! `core`-only, unit-tested on the host (`rust/host`).

/// Whether `pattern` contains glob metacharacters (else it names one function).
pub fn is_glob(pattern: &[u8]) -> bool {
    pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

/// Whether `name` matches `pattern`. Iterative with one backtrack point (linear in practice,
/// no recursion: safe on a kernel stack for any input).
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    // Position after the last `*` and the name position it is currently tried at.
    let mut back: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                back = Some((p + 1, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => class(pattern, p, name[n]),
            Some(&c) if c == name[n] => Some(p + 1),
            _ => None,
        };
        match (step, back) {
            (Some(next), _) => {
                p = next;
                n += 1;
            }
            (None, Some((bp, bn))) => {
                p = bp;
                n = bn + 1;
                back = Some((bp, bn + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pattern[p] == b'['`; returns the index after
/// the class on a match. A class without its closing `]` never matches.
fn class(pattern: &[u8], p: usize, c: u8) -> Option<usize> {
    let mut i = p + 1;
    let negate = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = *pattern.get(i)?;
        if lo == b']' && !first {
            break;
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
    if hit != negate {
        Some(i + 1)
    } else {
        None
    }
}
