// SPDX-License-Identifier: GPL-2.0

//! The few `Vec` operations 6.12's `KVec` lacks.

use kernel::prelude::*;

/// Removes and returns the last element.
pub(crate) fn pop<T>(v: &mut KVec<T>) -> Option<T> {
    let n = v.len().checked_sub(1)?;
    // SAFETY: index `n` is initialised; shrinking the length first hands its ownership to the
    // read, so it is never dropped twice.
    unsafe {
        v.set_len(n);
        Some(core::ptr::read(v.as_ptr().add(n)))
    }
}

/// Inserts `x` at `i`, shifting the tail right.
pub(crate) fn insert<T>(v: &mut KVec<T>, i: usize, x: T) -> Result {
    v.push(x, GFP_KERNEL)?;
    v[i..].rotate_right(1);
    Ok(())
}

/// Removes and returns the element at `i`, shifting the tail left.
pub(crate) fn remove<T>(v: &mut KVec<T>, i: usize) -> Option<T> {
    if i >= v.len() {
        return None;
    }
    v[i..].rotate_left(1);
    pop(v)
}
