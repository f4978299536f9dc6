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
) -> impl Iterator<Item = T> + Clone + 'a {
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

/// What an ops does on a site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Called at entry only (`func`).
    Entry,
    /// A return ops (`ret_func`, and an optional entry callback): needs the return trampoline.
    Return,
}

/// Where one dispatch `call` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To<T> {
    /// The do-nothing target.
    Nop,
    /// One ops' stub (its entry stub at an entry dispatch, its return stub at the return one).
    Stub(T),
    /// The iterator of that dispatch.
    Iter,
}

/// Where each dispatch of a site goes, for one set of attached ops.
///
/// A site has up to three dispatch `call`s: the entry trampoline's (`entry_only`, which never
/// calls a return ops: it has no call record, and a return ops' entry there would have no
/// return), and the return trampoline's entry (`entry`: every ops) and return (`ret`) ones.
/// The function enters the return trampoline exactly while some return ops is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Targets<T> {
    /// The entry trampoline's dispatch.
    pub entry_only: To<T>,
    /// The return trampoline's entry dispatch.
    pub entry: To<T>,
    /// The return trampoline's return dispatch: the iterator when no return ops is left too
    /// (it walks the call record, so calls still inside count their returns as stale).
    pub ret: To<T>,
    /// Return ops attached (the function should enter the return trampoline).
    pub returns: usize,
}

fn one_or_iter<T: Copy>(mut it: impl Iterator<Item = T>, none: To<T>) -> To<T> {
    match (it.next(), it.next()) {
        (None, _) => none,
        (Some(o), None) => To::Stub(o),
        _ => To::Iter,
    }
}

/// The targets of a site whose attached ops, in dispatch order, are `attached` (an iterator
/// so that the allocation-free removal can use it).
pub fn targets<T: Copy>(attached: impl Iterator<Item = (T, Kind)> + Clone) -> Targets<T> {
    let of = |k: Option<Kind>| {
        attached
            .clone()
            .filter(move |(_, kind)| match k {
                None => true,
                Some(k) => *kind == k,
            })
            .map(|(o, _)| o)
    };
    Targets {
        entry_only: one_or_iter(of(Some(Kind::Entry)), To::Nop),
        entry: one_or_iter(of(None), To::Nop),
        ret: one_or_iter(of(Some(Kind::Return)), To::Iter),
        returns: of(Some(Kind::Return)).count(),
    }
}
