// SPDX-License-Identifier: GPL-2.0

//! The few `Vec` operations 6.12's `KVec` lacks.

use kernel::prelude::*;

/// Removes and returns the last element.
pub(crate) fn pop<T>(v: &mut KVec<T>) -> Option<T> {
    crate::compat::pop(v)
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

/// Keeps only the elements for which `keep` is true, in order.
pub(crate) fn retain<T>(v: &mut KVec<T>, mut keep: impl FnMut(&T) -> bool) {
    let mut i = 0;
    while i < v.len() {
        if keep(&v[i]) {
            i += 1;
        } else {
            drop(remove(v, i));
        }
    }
}

/// Drops every element, keeping the capacity.
pub(crate) fn clear<T>(v: &mut KVec<T>) {
    while pop(v).is_some() {}
}

/// Appends `x` if that needs no allocation; hands it back otherwise.
pub(crate) fn push_within_capacity<T>(v: &mut KVec<T>, x: T) -> core::result::Result<(), T> {
    if v.len() < v.capacity() {
        // Cannot fail: room for one more, so `push` does not allocate.
        v.push(x, GFP_NOWAIT).map_err(|_| unreachable_value())
    } else {
        Err(x)
    }
}

fn unreachable_value<T>() -> T {
    unreachable!("push within capacity allocated")
}

/// Removes the first `n` elements, shifting the rest to the front.
pub(crate) fn drain_front<T: Copy>(v: &mut KVec<T>, n: usize) {
    let n = n.min(v.len());
    v.copy_within(n.., 0);
    let len = v.len() - n;
    crate::compat::shorten(v, len);
}
