// SPDX-License-Identifier: GPL-2.0

//! The `stats` and `enabled_functions` files: what the engine is doing.

use kernel::{prelude::*, str::CStr};

use crate::{
    arch::{frame::Frame, int3},
    dispatch,
    engine::Mode,
    output::Text,
    sys,
    tracefs::File,
    State,
};

/// `direct` (one ops' stub), `fused` (several, a fused stub of direct calls) or `list` (the
/// list iterator).
fn mode_name(m: Mode, fused: usize) -> &'static str {
    match m {
        Mode::Direct => "direct",
        Mode::List if fused > 0 => "fused",
        Mode::List => "list",
    }
}

fn bstr(b: &[u8]) -> crate::compat::Bytes<'_> {
    crate::compat::Bytes(b)
}

/// A site's entry frame in `stats`: `full`, or the count of argument registers saved.
struct FrameName(Frame);

impl core::fmt::Display for FrameName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Frame::Full => f.write_str("full"),
            Frame::Args(n) => write!(f, "{n}"),
        }
    }
}

/// `/sys/kernel/tracing/ftramp/enabled_functions`: one line per site.
pub(crate) struct EnabledFunctions;

impl File<State> for EnabledFunctions {
    const NAME: &'static CStr = kernel::c_str!("enabled_functions");
    const MODE: u16 = 0o400;

    fn show(state: &State, out: &mut Text) -> Result {
        let e = state.engine.lock();
        for s in e.sites() {
            out.line(format_args!(
                "{} ops={} mode={} tramp={:#x}{}",
                bstr(s.name),
                s.ops,
                mode_name(s.mode, s.fused),
                s.trampoline,
                if s.ret { " ret" } else { "" }
            ))?;
        }
        Ok(())
    }
}

/// `/sys/kernel/tracing/ftramp/stats`: engine counters, then one line per site.
pub(crate) struct Stats;

impl File<State> for Stats {
    const NAME: &'static CStr = kernel::c_str!("stats");
    const MODE: u16 = 0o400;

    fn show(state: &State, out: &mut Text) -> Result {
        for (func, cb, _, hits) in state.hooks.lock().iter() {
            out.line(format_args!(
                "hook {} {} hits={}",
                bstr(func),
                cb.name(),
                hits
            ))?;
        }
        let e = state.engine.lock();
        let p = e.patch_stats();
        let (emu, stale) = int3::STATS.read();
        let (used, total) = e.slots();
        out.line(format_args!("rounds: {}", p.rounds))?;
        out.line(format_args!("syncs: {}", p.syncs))?;
        out.line(format_args!("sites_switched: {}", p.sites))?;
        out.line(format_args!("last_round_sites: {}", p.last_round_sites))?;
        out.line(format_args!("last_round_syncs: {}", p.last_round_syncs))?;
        for (name, v) in [("int3_emulated", emu), ("int3_stale", stale)] {
            out.line(format_args!(
                "{}: task={} softirq={} hardirq={} nmi={}",
                name, v[0], v[1], v[2], v[3]
            ))?;
        }
        out.line(format_args!(
            "int3_emulated_searched: {}",
            int3::STATS
                .searched
                .load(core::sync::atomic::Ordering::Relaxed)
        ))?;
        out.line(format_args!(
            "seq_retries: {}",
            int3::STATS
                .retries
                .load(core::sync::atomic::Ordering::Relaxed)
        ))?;
        out.line(format_args!(
            "guard_skips: {}",
            dispatch::GUARD_SKIPS.load(core::sync::atomic::Ordering::Relaxed)
        ))?;
        let (inflight, draining, rets) = e.ret_stats();
        let r = &dispatch::ret::STATS;
        for (name, v) in [
            ("ret_ops", rets as u64),
            (
                "ret_calls",
                r.calls.load(core::sync::atomic::Ordering::Relaxed),
            ),
            (
                "ret_stale",
                r.stale.load(core::sync::atomic::Ordering::Relaxed),
            ),
            (
                "ret_overflow",
                r.overflow.load(core::sync::atomic::Ordering::Relaxed),
            ),
            ("ret_inflight", inflight),
            ("ret_draining", draining as u64),
            (
                "int3_emulated_ret",
                int3::STATS.ret.load(core::sync::atomic::Ordering::Relaxed),
            ),
        ] {
            out.line(format_args!("{}: {}", name, v))?;
        }
        for id in e.ret_ids() {
            out.line(format_args!(
                "ret_id slot={} generation={}",
                dispatch::ret::slot_of(id),
                dispatch::ret::generation_of(id)
            ))?;
        }
        out.line(format_args!("slots: {}/{}", used, total))?;
        out.line(format_args!("slots_retired: {}", e.slots_retired()))?;
        out.line(format_args!("kept_sites: {}", e.kept()))?;
        // SAFETY: plain reads of module parameters.
        let (points, hits) = unsafe { (sys::ftramp_fault_points(), sys::ftramp_fault_hits()) };
        out.line(format_args!("fault_points: {}", points))?;
        out.line(format_args!("fault_hits: {}", hits))?;
        for s in e.sites() {
            out.line(format_args!(
                "site {} ops={} mode={} switches={} int3={} stale={} fused_slots={} frame={} dispatch={} len={}",
                bstr(s.name),
                s.ops,
                mode_name(s.mode, s.fused),
                s.switches,
                s.int3_hits,
                s.stale_hits,
                s.fused,
                FrameName(s.frame),
                s.dispatch,
                s.len
            ))?;
            if let Some((a, b, l)) = s.ret_layout {
                out.line(format_args!(
                    "site {} ret inflight={} a={:#x} a_len={} entry_call={} b={:#x} b_len={} ret_call={}",
                    bstr(s.name),
                    s.inflight,
                    a,
                    l.a_len,
                    l.entry_call,
                    b,
                    l.b_len,
                    l.ret_call
                ))?;
            }
        }
        Ok(())
    }
}
