// SPDX-License-Identifier: GPL-2.0

//! What one engine operation does to each site, computed from the ops' old and new sets of
//! functions and the sites' current ops counts. `core`-only, unit-tested on the host.
//!
//! Per site the state machine is
//!
//! ```text
//!   (none) --Create--> 1 [stub] --Attach--> N [iterator] --Detach--> 1 [survivor's stub]
//!                         |                                              |
//!                         +---------- Detach: switch to nop, stop, retire +
//! ```
//!
//! (a site of one ops is [`Mode::Direct`], of several [`Mode::List`]) and every change is made
//! in the lossless order: a site's list holds all its ops before its call moves to the
//! iterator; a leaving ops stays listed until the call has moved off the list; a site being
//! removed first calls the do-nothing target, then ftrace lets it go. The survivor of a list
//! going direct is the earliest attached ops left ([`survivor`]); a removal that cannot
//! allocate makes the same transition in place ([`in_place`]).

use core::cmp::Ordering;

/// Whether an ops comes to or leaves a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// In the new set only.
    Add,
    /// In the old set only.
    Remove,
}

/// The functions (by fentry ip) that differ between `old` and `new`, both sorted and free of
/// duplicates: each once, in ip order.
pub fn diff<'a>(old: &'a [usize], new: &'a [usize]) -> impl Iterator<Item = (usize, Dir)> + 'a {
    let (mut i, mut j) = (0, 0);
    core::iter::from_fn(move || loop {
        match (old.get(i), new.get(j)) {
            (None, None) => return None,
            (Some(&o), None) => {
                i += 1;
                return Some((o, Dir::Remove));
            }
            (None, Some(&n)) => {
                j += 1;
                return Some((n, Dir::Add));
            }
            (Some(&o), Some(&n)) => match o.cmp(&n) {
                Ordering::Less => {
                    i += 1;
                    return Some((o, Dir::Remove));
                }
                Ordering::Greater => {
                    j += 1;
                    return Some((n, Dir::Add));
                }
                Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
            },
        }
    })
}

/// Where a site's dispatch `call` goes after the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The changing ops' own entry stub.
    Stub,
    /// The list iterator.
    Iterator,
    /// The stub of the one ops left.
    Survivor,
    /// The do-nothing target (before the site is stopped).
    Nop,
    /// Unchanged (the site stays a list).
    Same,
}

/// When the site's list is replaced relative to the patch round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStep {
    /// No list is needed or changed.
    None,
    /// A new list is published before the round (it must hold every ops first).
    Before,
    /// A new list (the survivor alone) is published after the round: a CPU that called the
    /// iterator before the switch may still load the list after it, and must find the
    /// survivor there (the leaving ops it may miss: it is being detached).
    After,
}

/// One site's change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Ops on the site before.
    pub before: usize,
    /// Ops on the site after.
    pub after: usize,
    /// Where its call goes.
    pub target: Target,
    /// What happens to its list.
    pub list: ListStep,
    /// A new site is created (and started with ftrace at the nop target first).
    pub create: bool,
    /// The site is stopped and retired after the round.
    pub retire: bool,
}

/// The change of one site that has `before` ops (0: no site yet) when one ops moves `dir`.
/// `None` if the move is impossible (removing from an empty site).
pub fn change(before: usize, dir: Dir) -> Option<Change> {
    let after = match dir {
        Dir::Add => before + 1,
        Dir::Remove => before.checked_sub(1)?,
    };
    let (target, list) = match (dir, before, after) {
        (Dir::Add, 0, _) => (Target::Stub, ListStep::None),
        (Dir::Add, 1, _) => (Target::Iterator, ListStep::Before),
        (Dir::Add, _, _) => (Target::Same, ListStep::Before),
        (Dir::Remove, _, 0) => (Target::Nop, ListStep::None),
        (Dir::Remove, _, 1) => (Target::Survivor, ListStep::After),
        (Dir::Remove, _, _) => (Target::Same, ListStep::Before),
    };
    Some(Change {
        before,
        after,
        target,
        list,
        create: before == 0,
        retire: after == 0,
    })
}

/// How a site dispatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One ops: its entry stub.
    Direct,
    /// Several ops: the list iterator.
    List,
}

/// How a site with `ops` ops dispatches.
pub fn mode(ops: usize) -> Mode {
    if ops > 1 {
        Mode::List
    } else {
        Mode::Direct
    }
}

/// The ops of a site after `ops` moves `dir`, in dispatch order: the others as they were, then
/// `ops` last if it comes.
pub fn attached_after<'a, T: Copy + PartialEq + 'a>(
    before: &'a [T],
    ops: T,
    dir: Dir,
) -> impl Iterator<Item = T> + 'a {
    before
        .iter()
        .copied()
        .filter(move |&o| o != ops)
        .chain((dir == Dir::Add).then_some(ops))
}

/// The ops whose stub a site calls once `leaving` leaves it ([`Target::Survivor`]): the
/// earliest attached of the others.
pub fn survivor<T: Copy + PartialEq>(attached: &[T], leaving: T) -> Option<T> {
    attached_after(attached, leaving, Dir::Remove).next()
}

/// Removing one ops from a site without allocating (the engine's fallback when a removal
/// cannot allocate): the transition of [`change`], but the list loses the ops by a tombstone
/// instead of being replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InPlace {
    /// The ops is tombstoned in the site's list (a list of two included: an iterator called
    /// before the switch may still load it, and must find the survivor there).
    pub tombstone: bool,
    /// Where the call goes: [`Target::Nop`], [`Target::Survivor`] or [`Target::Same`].
    pub target: Target,
    /// The site is stopped and freed (after the wait).
    pub stop: bool,
}

/// The in-place removal of one ops from a site of `before` ops; `None` if it has none.
pub fn in_place(before: usize) -> Option<InPlace> {
    let c = change(before, Dir::Remove)?;
    Some(InPlace {
        tombstone: c.list != ListStep::None,
        target: c.target,
        stop: c.retire,
    })
}
