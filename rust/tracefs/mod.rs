// SPDX-License-Identifier: GPL-2.0

//! ftramp's directory in tracefs and the files in it.
//!
//! Every file shows a snapshot taken at open (like most small ftrace files), so a reader
//! never sees a half-updated state and needs no lock while copying out. All files share
//! one state object `S`, kept alive by the directory; each file kind is a type implementing
//! [`File<S>`]. `file_operations.owner` pins the module while any file is open, so module
//! exit (which drops the [`Dir`]) never runs with a file open.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::{ffi, prelude::*, str::CStr, sync::Arc, types::ForeignOwnable};

use crate::{output::Text, symbols, sys, State};

pub(crate) mod callbacks;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod command;
pub(crate) mod error_log;
pub(crate) mod hooks;
pub(crate) mod output;
pub(crate) mod stats;
pub(crate) mod status;

/// Creates `/sys/kernel/tracing/ftramp/` with every file, backed by `state`.
pub(crate) fn create(state: Arc<State>) -> Result<Dir<State>> {
    let mut dir = Dir::create(kernel::c_str!("ftramp"), state)?;
    dir.add::<status::Status>()?;
    dir.add::<stats::EnabledFunctions>()?;
    dir.add::<stats::Stats>()?;
    dir.add::<hooks::HooksFile>()?;
    dir.add::<hooks::AvailableCallbacks>()?;
    dir.add::<error_log::ErrorLogFile>()?;
    Ok(dir)
}

/// One kind of file in ftramp's tracefs directory, backed by state `S`.
pub(crate) trait File<S: Send + Sync + 'static>: 'static {
    /// File name.
    const NAME: &'static CStr;
    /// Permission bits (ftramp's files are root-only).
    const MODE: u16;

    /// Writes the file's contents, as read at open, into `out`.
    fn show(state: &S, out: &mut Text) -> Result;

    /// Takes whole lines written to the file (each ending with `\n`, except the rest at
    /// close). `trunc`: the file was opened with `O_TRUNC` and this is the first call of
    /// that open (`>` rather than `>>`). Called at close with empty `input` if an `O_TRUNC`
    /// open wrote nothing. Files are read-only unless they implement this and their `MODE`
    /// has a write bit (without one, every write is refused before this is called).
    fn write(_state: &S, _input: &[u8], _trunc: bool) -> Result {
        Err(EPERM)
    }

    /// Records a write the tracefs layer itself rejected (error_log).
    fn reject(_state: &S, _msg: &'static str, _input: &[u8]) {}

    /// Refuses the start of a line (not yet ended) that no rest could make valid, so the
    /// write that brings it fails rather than the close that would apply it.
    fn check_partial(_partial: &[u8]) -> Result {
        Ok(())
    }
}

/// Longest incomplete line kept between two writes.
const MAX_PENDING: usize = crate::command::MAX_LINE;

/// Largest single write accepted (many command lines at once are fine; more is refused
/// before anything is allocated for it).
const MAX_WRITE: usize = 64 * 1024;

/// Per-open state: the snapshot readers see, and written bytes not yet a whole line.
///
/// # Invariants
///
/// `pending` and `trunc` are only accessed by the writer that set `busy`.
#[derive(Default)]
struct OpenFile {
    snapshot: Text,
    busy: AtomicBool,
    pending: UnsafeCell<KVec<u8>>,
    trunc: UnsafeCell<bool>,
}

// SAFETY: the cells are only touched by the one writer holding `busy` (type invariant).
unsafe impl Sync for OpenFile {}

/// Raw `file_operations` callbacks for file kind `F`.
struct Fops<S, F>(PhantomData<(S, F)>);

impl<S: Send + Sync + 'static, F: File<S>> Fops<S, F> {
    const TABLE: sys::file_operations = sys::file_operations {
        open: Some(Self::open),
        read: Some(Self::read),
        write: Some(Self::write),
        release: Some(Self::release),
        llseek: Some(sys::default_llseek),
        // SAFETY: all-zeroes is a valid `file_operations` (every callback `None`).
        ..unsafe { core::mem::zeroed() }
    };

    /// # Safety
    ///
    /// `inode` is an inode created by [`Dir::add`].
    unsafe fn state<'a>(inode: *mut sys::inode) -> &'a S {
        // SAFETY: `Dir::add` set `i_private` to the state the directory keeps alive until the
        // file is removed, which cannot happen while it is open (module reference).
        unsafe { &*((*inode).i_private as *const S) }
    }

    /// # Safety
    ///
    /// Called by the VFS with a valid inode of a file created by [`Dir::add`] and a valid file.
    unsafe extern "C" fn open(inode: *mut sys::inode, file: *mut sys::file) -> ffi::c_int {
        // SAFETY: by the function's requirements.
        let state = unsafe { Self::state(inode) };
        let mut of = OpenFile::default();
        // SAFETY: `file` is valid.
        if unsafe { sys::ftramp_file_reading(file) } {
            if let Err(e) = F::show(state, &mut of.snapshot) {
                return e.to_errno();
            }
        }
        // SAFETY: `file` is valid.
        *of.trunc.get_mut() =
            unsafe { sys::ftramp_file_writing(file) && sys::ftramp_file_trunc(file) };
        match KBox::new(of, GFP_KERNEL) {
            Ok(of) => {
                // SAFETY: `file` is valid and ours until release.
                unsafe { (*file).private_data = crate::compat::into_foreign(of) };
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
        // SAFETY: `open` stored a `KBox<OpenFile>` in `private_data` with `into_foreign`; it
        // is given back only at release.
        let of: &OpenFile = unsafe { KBox::<OpenFile>::borrow((*file).private_data) };
        let bytes = of.snapshot.as_bytes();
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
    /// Called by the VFS on a file opened by [`Self::open`], with a user buffer of `count` bytes.
    unsafe extern "C" fn write(
        file: *mut sys::file,
        buf: *const ffi::c_char,
        count: usize,
        ppos: *mut sys::loff_t,
    ) -> isize {
        // SAFETY: the file was opened by `open`; `f_inode` is its inode.
        let state = unsafe { Self::state((*file).f_inode) };
        // SAFETY: `open` stored a `KBox<OpenFile>` in `private_data` with `into_foreign`; it
        // is given back only at release.
        let of: &OpenFile = unsafe { KBox::<OpenFile>::borrow((*file).private_data) };
        // Without a `write` of its own the file refuses everything, a partial line too
        // (release would only drop its error).
        if F::MODE & 0o222 == 0 {
            return EPERM.to_errno() as isize;
        }
        // Writers sharing one open file (threads, pwrite, io_uring) are not serialised by
        // the VFS: one at a time here.
        if of
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return EBUSY.to_errno() as isize;
        }
        // SAFETY: `busy` is ours (type invariant of `OpenFile`).
        let (pending, trunc) = unsafe { (&mut *of.pending.get(), &mut *of.trunc.get()) };
        // SAFETY: `ppos` is valid.
        let r = if unsafe { *ppos } != 0 {
            F::reject(state, "write at an offset (use write(), not pwrite())", &[]);
            Err(ESPIPE)
        } else if count > MAX_WRITE {
            F::reject(state, "write larger than 64 KiB", &[]);
            Err(E2BIG)
        } else {
            Self::take_lines(state, pending, trunc, buf, count)
        };
        // A refused write keeps the old contents after `>` as a refused line does: release
        // must not apply the truncation.
        if r.is_err() {
            *trunc = false;
        }
        of.busy.store(false, Ordering::Release);
        match r {
            Ok(()) => count as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// Appends the user's bytes to `pending` and hands every whole line to the file.
    fn take_lines(
        state: &S,
        pending: &mut KVec<u8>,
        trunc: &mut bool,
        buf: *const ffi::c_char,
        count: usize,
    ) -> Result {
        let mut data = KVec::new();
        crate::compat::user_slice(buf, count)
            .reader()
            .read_all(&mut data, GFP_KERNEL)?;
        pending.extend_from_slice(&data, GFP_KERNEL)?;
        let cut = pending
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        if pending.len() - cut > MAX_PENDING {
            F::reject(state, "command too long", &pending[cut..cut + 64]);
            *pending = KVec::new();
            return Err(E2BIG);
        }
        if let Err(e) = F::check_partial(&pending[cut..]) {
            *pending = KVec::new();
            return Err(e);
        }
        if cut > 0 {
            let r = F::write(state, &pending[..cut], core::mem::take(trunc));
            crate::vec::drain_front(pending, cut);
            if r.is_err() {
                *pending = KVec::new();
            }
            r?;
        }
        Ok(())
    }

    /// # Safety
    ///
    /// Called by the VFS once per file opened by [`Self::open`].
    unsafe extern "C" fn release(inode: *mut sys::inode, file: *mut sys::file) -> ffi::c_int {
        // SAFETY: `private_data` holds the `OpenFile` leaked by `open`; nothing uses it after
        // release.
        let mut of = unsafe { KBox::<OpenFile>::from_foreign((*file).private_data) };
        let trunc = *of.trunc.get_mut();
        let pending = of.pending.get_mut();
        if !pending.is_empty() || trunc {
            // SAFETY: as in `open`. Errors are in the error log; close cannot report them.
            let _ = F::write(unsafe { Self::state(inode) }, pending, trunc);
        }
        0
    }
}

/// Kernel `IS_ERR_OR_NULL()`, as a `Result` with a non-null pointer.
fn non_null_or_err<T>(p: *mut T) -> Result<NonNull<T>> {
    NonNull::new(kernel::error::from_err_ptr(p)?).ok_or(ENOMEM)
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
        let d = non_null_or_err(d).inspect_err(|_| {
            pr_err!("cannot create tracefs directory {}\n", name);
        })?;
        // INVARIANT: `d` is the live directory just created; it has no files yet.
        Ok(Self {
            dentry: d,
            fops: KVec::new(),
            state,
        })
    }

    /// Adds file kind `F`.
    pub(crate) fn add<F: File<S>>(&mut self) -> Result {
        let mut table = KBox::new(Fops::<S, F>::TABLE, GFP_KERNEL)?;
        table.owner = crate::compat::this_module().cast();
        self.fops.push(table, GFP_KERNEL)?;
        let table: *const sys::file_operations = &**self.fops.last().ok_or(ENOMEM)?;
        // SAFETY: `dentry` is live (type invariant); the name is NUL-terminated; `table` is
        // boxed in `self.fops` and `state` in `self`, both kept until the directory is removed.
        let f = unsafe {
            symbols::tracefs_create_file(
                F::NAME.as_char_ptr(),
                F::MODE,
                self.dentry.as_ptr(),
                core::ptr::from_ref::<S>(&*self.state).cast_mut().cast(),
                table,
            )
        };
        non_null_or_err(f).inspect_err(|_| {
            pr_err!("cannot create tracefs file {}\n", F::NAME);
        })?;
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
