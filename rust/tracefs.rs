// SPDX-License-Identifier: GPL-2.0

//! ftramp's directory in tracefs and the files in it.
//!
//! Every file shows a snapshot taken at open (like most small ftrace files), so a reader
//! never sees a half-updated state and needs no lock while copying out. All files share
//! one state object `S`, kept alive by the directory; each file kind is a type implementing
//! [`File<S>`]. `file_operations.owner` pins the module while any file is open, so module
//! exit (which drops the [`Dir`]) never runs with a file open.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::{ffi, prelude::*, str::CStr, sync::Arc};

use crate::{symbols, sys, text::Text};

/// One kind of file in ftramp's tracefs directory, backed by state `S`.
pub(crate) trait File<S: Send + Sync + 'static>: 'static {
    /// File name.
    const NAME: &'static CStr;
    /// Permission bits (ftramp's files are root-only).
    const MODE: u16;

    /// Writes the file's contents, as read at open, into `out`.
    fn show(state: &S, out: &mut Text) -> Result;
}

/// Raw `file_operations` callbacks for file kind `F`.
struct Fops<S, F>(PhantomData<(S, F)>);

impl<S: Send + Sync + 'static, F: File<S>> Fops<S, F> {
    const TABLE: sys::file_operations = sys::file_operations {
        open: Some(Self::open),
        read: Some(Self::read),
        release: Some(Self::release),
        llseek: Some(sys::default_llseek),
        // SAFETY: all-zeroes is a valid `file_operations` (every callback `None`).
        ..unsafe { core::mem::zeroed() }
    };

    /// # Safety
    ///
    /// Called by the VFS with a valid inode of a file created by [`Dir::add`] and a valid file.
    unsafe extern "C" fn open(inode: *mut sys::inode, file: *mut sys::file) -> ffi::c_int {
        // SAFETY: `inode` is valid; `Dir::add` set `i_private` to the `Arc<S>` the directory
        // keeps alive until the file is removed.
        let state = unsafe { &*((*inode).i_private as *const S) };
        let mut out = Text::new();
        if let Err(e) = F::show(state, &mut out) {
            return e.to_errno();
        }
        match KBox::new(out, GFP_KERNEL) {
            Ok(snapshot) => {
                // SAFETY: `file` is valid and ours until release.
                unsafe { (*file).private_data = KBox::into_raw(snapshot).cast() };
                0
            }
            Err(_) => ENOMEM.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the VFS on a file opened by [`Self::open`], with a user buffer of `count` bytes.
    unsafe extern "C" fn read(
        file: *mut sys::file,
        buf: *mut ffi::c_char,
        count: usize,
        ppos: *mut sys::loff_t,
    ) -> isize {
        // SAFETY: `open` stored a `KBox<Text>` in `private_data`; it lives until release.
        let text = unsafe { &*((*file).private_data as *const Text) };
        let bytes = text.as_bytes();
        // SAFETY: `buf`/`count` describe the user buffer and `ppos` the file position, as the
        // VFS passed them; the source is `bytes`, valid for its length.
        unsafe {
            sys::simple_read_from_buffer(
                buf.cast(),
                count,
                ppos,
                bytes.as_ptr().cast(),
                bytes.len(),
            )
        }
    }

    /// # Safety
    ///
    /// Called by the VFS once per file opened by [`Self::open`].
    unsafe extern "C" fn release(_inode: *mut sys::inode, file: *mut sys::file) -> ffi::c_int {
        // SAFETY: `private_data` holds the `KBox<Text>` leaked by `open`; nothing uses it after
        // release.
        drop(unsafe { KBox::from_raw((*file).private_data as *mut Text) });
        0
    }
}

/// Kernel `IS_ERR_OR_NULL()`: NULL or one of the top `MAX_ERRNO` (4095) addresses.
fn is_err_or_null<T>(p: *mut T) -> bool {
    p.is_null() || p as usize >= usize::MAX - 4094
}

/// A tracefs directory with files backed by `state`.
///
/// # Invariants
///
/// `dentry` is a live tracefs directory created by this object and removed only by its drop.
/// Every file below it has `i_private` pointing at `*state` and uses one of `fops`.
pub(crate) struct Dir<S: Send + Sync + 'static> {
    dentry: NonNull<sys::dentry>,
    fops: KVec<KBox<sys::file_operations>>,
    state: Arc<S>,
}

// SAFETY: the dentry pointer is only used to remove the directory, which any thread may do;
// the other fields are `Send`.
unsafe impl<S: Send + Sync + 'static> Send for Dir<S> {}
// SAFETY: `&Dir` gives no access to the dentry.
unsafe impl<S: Send + Sync + 'static> Sync for Dir<S> {}

impl<S: Send + Sync + 'static> Dir<S> {
    /// Creates `/sys/kernel/tracing/<name>/`.
    pub(crate) fn create(name: &CStr, state: Arc<S>) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated; a NULL parent means the tracefs root.
        let d = unsafe { symbols::tracefs_create_dir(name.as_char_ptr(), core::ptr::null_mut()) };
        if is_err_or_null(d) {
            pr_err!("cannot create tracefs directory {}\n", name);
            return Err(ENOMEM);
        }
        // INVARIANT: `d` is the live directory just created; it has no files yet.
        Ok(Self {
            dentry: NonNull::new(d).ok_or(ENOMEM)?,
            fops: KVec::new(),
            state,
        })
    }

    /// Adds file kind `F`.
    pub(crate) fn add<F: File<S>>(&mut self) -> Result {
        let mut table = KBox::new(Fops::<S, F>::TABLE, GFP_KERNEL)?;
        table.owner = crate::THIS_MODULE.as_ptr().cast();
        self.fops.push(table, GFP_KERNEL)?;
        let table: *const sys::file_operations = &**self.fops.last().ok_or(ENOMEM)?;
        // SAFETY: `dentry` is live (type invariant); the name is NUL-terminated; `table` is
        // boxed in `self.fops` and `state` in `self`, both kept until the directory is removed.
        let f = unsafe {
            symbols::tracefs_create_file(
                F::NAME.as_char_ptr(),
                F::MODE,
                self.dentry.as_ptr(),
                (&*self.state as *const S).cast_mut().cast(),
                table,
            )
        };
        if is_err_or_null(f) {
            pr_err!("cannot create tracefs file {}\n", F::NAME);
            return Err(ENOMEM);
        }
        Ok(())
    }
}

impl<S: Send + Sync + 'static> Drop for Dir<S> {
    fn drop(&mut self) {
        // SAFETY: `dentry` is live (type invariant); removing it removes its files. No file is
        // open at module exit: each open one holds a reference on this module (fops owner). (At a
        // failed init a racing opener could, as for any module's debugfs/tracefs files; init
        // creates the files last to keep that window empty in practice.)
        unsafe { symbols::tracefs_remove(self.dentry.as_ptr()) };
    }
}
