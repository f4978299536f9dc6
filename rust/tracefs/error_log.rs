// SPDX-License-Identifier: GPL-2.0

//! The `error_log` file: the last rejected commands in ftrace's format, the command echoed
//! with a caret under the bad token. Writing an empty line clears it.

use kernel::{prelude::*, str::CStr};

use crate::{output::Text, sys, tracefs::File, vec, State};

/// Entries kept.
const MAX_ENTRIES: usize = 16;
/// Bytes of a command kept per entry.
const MAX_CMD: usize = 256;

struct Entry {
    ns: u64,
    msg: &'static str,
    cmd: KVec<u8>,
    pos: usize,
}

/// The log (oldest first).
#[derive(Default)]
pub(crate) struct ErrorLog {
    entries: KVec<Entry>,
}

impl ErrorLog {
    /// Records that `cmd` was rejected because of `msg` at byte `pos`.
    pub(crate) fn add(&mut self, msg: &'static str, cmd: &[u8], pos: usize) {
        let mut c = KVec::new();
        // Unprintable bytes (the reason for some rejections) are shown as '?'.
        for &b in cmd.iter().take(MAX_CMD) {
            let b = if (0x20..0x7f).contains(&b) { b } else { b'?' };
            if c.push(b, GFP_KERNEL).is_err() {
                return;
            }
        }
        if self.entries.len() >= MAX_ENTRIES {
            vec::remove(&mut self.entries, 0);
        }
        // SAFETY: no preconditions.
        let ns = unsafe { sys::ftramp_now_ns() };
        let _ = self.entries.push(
            Entry {
                ns,
                msg,
                cmd: c,
                pos: pos.min(MAX_CMD),
            },
            GFP_KERNEL,
        );
    }

    fn clear(&mut self) {
        vec::clear(&mut self.entries);
    }
}

/// `/sys/kernel/tracing/ftramp/error_log`.
pub(crate) struct ErrorLogFile;

impl File<State> for ErrorLogFile {
    const NAME: &'static CStr = kernel::c_str!("error_log");
    const MODE: u16 = 0o600;

    fn show(state: &State, out: &mut Text) -> Result {
        let log = state.errors.lock();
        for e in log.entries.iter() {
            out.line(format_args!(
                "[{:5}.{:06}] ftramp: error: {}",
                e.ns / 1_000_000_000,
                (e.ns % 1_000_000_000) / 1000,
                e.msg
            ))?;
            out.line(format_args!(
                "  Command: {}",
                core::str::from_utf8(&e.cmd).unwrap_or("?")
            ))?;
            out.line(format_args!(
                "{:>width$}",
                "^",
                width = "  Command: ".len() + e.pos + 1
            ))?;
        }
        Ok(())
    }

    fn write(state: &State, input: &[u8], _trunc: bool) -> Result {
        Self::check_partial(input)?;
        state.errors.lock().clear();
        Ok(())
    }

    fn check_partial(partial: &[u8]) -> Result {
        if !partial.iter().all(|c| c.is_ascii_whitespace()) {
            return Err(EINVAL);
        }
        Ok(())
    }
}
