// SPDX-License-Identifier: GPL-2.0

//! The order of one switch round (Documentation/design.rst, "The lossless switch"): which
//! sites a round switches, and the sequence of text writes, record publication and all-CPU
//! syncs that switches them. `core`-only, unit-tested on the host (`rust/host`) with a
//! recording [`Text`]; the kernel's [`Text`] is in `patcher.rs`.
//!
//! 1. the caller has made both the old and the new target valid;
//! 2. each site's current target moves to the new one, then the in-flight record {site, new
//!    target} is published;
//! 3. `int3` over each site's first byte; sync all CPUs;
//! 4. each site's 4 tail bytes (the new rel32); sync;
//! 5. each site's new first byte (`call`); sync;
//! 6. the record is cleared.
//!
//! Any number of sites switch in one round: three syncs.

use super::encode;

/// One site to switch. (Not `Copy`: core's small-sort path for `Copy` types has a panic that
/// 6.12's objtool does not know as noreturn.)
pub struct Patch {
    /// Address of the 5-byte dispatch `call`.
    pub site: usize,
    /// The new call target.
    pub target: usize,
}

/// Whether a site whose current target is `current` (`None`: not a live site of the pool)
/// must be switched to `target`.
pub fn needs_switch(current: Option<usize>, target: usize) -> bool {
    current.is_some_and(|c| c != target)
}

/// Moves the patches a round must make to the front of `patches`, sorted by site (the int3
/// handler binary-searches the record), and returns how many there are: those whose site is
/// live and not already at its target per `current`. The others are left behind them in no
/// particular order. Stable: equal sites keep their order.
pub fn select(patches: &mut [Patch], current: impl Fn(usize) -> Option<usize>) -> usize {
    let mut n = 0;
    for i in 0..patches.len() {
        if needs_switch(current(patches[i].site), patches[i].target) {
            patches.swap(n, i);
            n += 1;
        }
    }
    // Insertion sort: the engine's patches come nearly sorted from its trees, and core's sort
    // instantiates panics 6.12's objtool does not know as noreturn.
    for i in 1..n {
        let mut j = i;
        while j > 0 && patches[j - 1].site > patches[j].site {
            patches.swap(j - 1, j);
            j -= 1;
        }
    }
    n
}

/// One site of a prepared round: where, to what, and the new instruction.
pub struct Switch {
    /// Address of the 5-byte dispatch `call`.
    pub site: usize,
    /// The new call target.
    pub target: usize,
    /// `call target`, encoded at `site`.
    pub insn: [u8; 5],
}

impl Switch {
    /// The switch of the `call` at `site` to `target`; `None` if it is out of `rel32` reach.
    pub fn new(site: usize, target: usize) -> Option<Self> {
        Some(Self {
            site,
            target,
            insn: encode::call(site, target)?,
        })
    }

    /// The switch of the `jmp` site at `site` to `target`: a 5-byte `nop` when `target` is
    /// the next instruction, else `jmp target`. Patched in the same three steps as a `call`
    /// (every intermediate state is `int3` followed by bytes no CPU executes).
    pub fn new_jmp(site: usize, target: usize) -> Option<Self> {
        let insn = if target == site + encode::REL32_INSN_LEN {
            encode::NOP5
        } else {
            encode::jmp(site, target)?
        };
        Some(Self { site, target, insn })
    }
}

/// What a round acts on: the live text, the in-flight record and the CPUs.
pub trait Text {
    /// Makes `target` the current target of the live site at `site` (what the int3 handler
    /// emulates once no record names the site); nothing if `site` is not live.
    fn set_target(&mut self, site: usize, target: usize);
    /// Publishes the round's record (filled with the round's sites, in order).
    fn publish_record(&mut self);
    /// Clears the published record.
    fn clear_record(&mut self);
    /// Writes `bytes` at `addr`.
    fn poke(&mut self, addr: usize, bytes: &[u8]);
    /// Returns once every CPU has serialised its instruction stream.
    fn sync(&mut self);
}

/// Counters of the patcher.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchStats {
    /// Switch rounds made.
    pub rounds: u64,
    /// All-CPU syncs made (3 per round).
    pub syncs: u64,
    /// Sites switched.
    pub sites: u64,
    /// Syncs of the last round.
    pub last_round_syncs: u64,
    /// Sites of the last round.
    pub last_round_sites: u64,
}

fn sync(stats: &mut PatchStats, text: &mut impl Text) {
    text.sync();
    stats.syncs += 1;
    stats.last_round_syncs += 1;
}

/// Switches every site of `round` (sorted by site, as its record) to its new target, counting
/// in `stats`. An empty round does nothing.
pub fn switch(stats: &mut PatchStats, text: &mut impl Text, round: &[Switch]) {
    if round.is_empty() {
        return;
    }
    let n = round.len() as u64;
    stats.last_round_syncs = 0;
    stats.last_round_sites = n;

    // Step 2. The site's current target (read by the handler when the record no longer names
    // the site: race (a)) moves to the new one too; both are valid throughout.
    for s in round {
        text.set_target(s.site, s.target);
    }
    text.publish_record();

    // Step 3.
    for s in round {
        text.poke(s.site, &[encode::INT3]);
    }
    sync(stats, text);
    // Step 4.
    for s in round {
        text.poke(s.site + 1, &s.insn[1..]);
    }
    sync(stats, text);
    // Step 5. After this sync no CPU is between an int3 of ours and the end of the handler
    // (the handler runs with interrupts off, so it holds the IPI off).
    for s in round {
        text.poke(s.site, &s.insn[..1]);
    }
    sync(stats, text);

    // Step 6. A handler that still holds the record is an RCU reader (interrupts off): the
    // record is freed (or reused, by the spare round) only after a grace period.
    text.clear_record();
    stats.rounds += 1;
    stats.sites += n;
}
