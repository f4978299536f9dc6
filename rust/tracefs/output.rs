// SPDX-License-Identifier: GPL-2.0

//! A growable text buffer for tracefs file contents, written with `write!`.

use core::fmt;

use kernel::prelude::*;

/// Text built with [`core::fmt::Write`]; an allocation failure surfaces as `fmt::Error`,
/// which [`Text::line`] turns into `ENOMEM`.
#[derive(Default)]
pub(crate) struct Text(KVec<u8>);

impl Text {
    /// The bytes written so far.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Appends one formatted line (a newline is added).
    pub(crate) fn line(&mut self, args: fmt::Arguments<'_>) -> Result {
        fmt::Write::write_fmt(self, args).map_err(|_| ENOMEM)?;
        self.0.push(b'\n', GFP_KERNEL)?;
        Ok(())
    }
}

impl fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| fmt::Error)
    }
}
