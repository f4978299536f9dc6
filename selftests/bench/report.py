#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the raw numbers of `make bench` (scripts/bench-guest.sh, one file per VM run)
into RESULTS/bench.md (markdown tables) and RESULTS/bench.png (cost vs number of ops).

usage: report.py RESULTS_DIR

Raw lines (tab-separated, repetition values space-separated in the last field):
  percall TRACEE KIND NOPS CALLS  ns...        guest ns of CALLS calls, IRQs off
  sample  tracee_relevant ftrace|ftramp NOPS CALLS  ns...   ftrace-ops.ko's own loop
  switch  SITES attach|detach|resolve REP ns "rounds syncs" "rounds syncs" sites
  modify  1 "ns syncs ns syncs ..."
Under -icount shift=0 a guest ns is one executed instruction.
"""
import os
import statistics
import sys
from collections import defaultdict

OPS = [1, 2, 4, 8]


def load(path):
    percall, sample, switch, modify = defaultdict(list), defaultdict(list), defaultdict(list), []
    calls_seen = set()
    if not os.path.exists(path):
        return None
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "percall" and f[5] != "failed":
            calls = int(f[4])
            calls_seen.add(calls)
            percall[(f[1], f[2], int(f[3]))] += [int(v) / calls for v in f[5].split()]
        elif f[0] == "sample":
            calls = int(f[4])
            sample[(f[2], int(f[3]))] += [int(v) / calls for v in f[5].split() if v.isdigit()]
        elif f[0] == "switch":
            ns = int(f[4])
            if f[2] == "resolve":
                switch[(f[1], "resolve")].append((ns, None, None, None))
            else:
                r0, s0 = map(int, f[5].split())
                r1, s1 = map(int, f[6].split())
                switch[(f[1], f[2])].append((ns, r1 - r0, s1 - s0, int(f[7])))
        elif f[0] == "modify":
            v = list(map(int, f[2].split()))
            modify = list(zip(v[0::2], v[1::2]))
    return {"percall": percall, "sample": sample, "switch": switch, "modify": modify,
            "calls": "/".join(map(str, sorted(calls_seen)))}


def med(v):
    return statistics.median(v) if v else None


def spread(v):
    return max(v) - min(v) if v else None


def fmt(x, nd=1):
    if x is None:
        return "–"
    if abs(x) >= 10000:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fr(x):
    return "–" if x is None else f"{x:.2f}×"


class Run:
    """Medians and hook costs (above the unhooked call) of one VM run."""

    def __init__(self, d):
        self.d = d

    def pc(self, tracee, kind, n):
        return med(self.d["percall"].get((tracee, kind, n), []))

    def pc_spread(self, tracee, kind, n):
        return spread(self.d["percall"].get((tracee, kind, n), []))

    def base(self, tracee):
        return self.pc(tracee, "none", 0)

    def cost(self, tracee, kind, n):
        v, b = self.pc(tracee, kind, n), self.base(tracee)
        return None if v is None or b is None else v - b

    def sample(self, kind, n):
        return med(self.d["sample"].get((kind, n), []))

    def sample_cost(self, kind, n):
        v, b = self.sample(kind, n), self.sample("ftrace", 0)
        return None if v is None or b is None else v - b

    def sw(self, sites, op):
        rows = self.d["switch"].get((sites, op), [])
        return rows


ROWS = [  # (label, kind, nops, compared with)
    ("no hook (nop'ed fentry)", "none", 0, None),
    ("floor: direct trampoline (push rbp; call; leave; ret)", "direct", 1, None),
    ("floor + ftramp's lean frame for 2 arguments", "direct_regs", 1, None),
    ("**ftramp, 1 ops (direct dispatch)**", "ftramp", 1, ("ftrace", 1)),
    ("ftrace, 1 ops (own trampoline)", "ftrace", 1, None),
    ("ftramp, 1 ops, ftramp's recursion guard", "ftramp_assist", 1, ("ftrace_assist", 1)),
    ("ftrace, 1 ops, FTRACE_OPS_FL_RECURSION (assist)", "ftrace_assist", 1, None),
    ("kprobe (empty pre_handler, on ftrace)", "kprobe", 1, ("ftrace", 1)),
    ("fprobe (empty entry_handler)", "fprobe", 1, ("ftrace", 1)),
    ("BPF fentry, 1 empty program (BPF trampoline)", "bpf_fentry", 1, ("ftrace", 1)),
    ("ftramp, 2 ops, ftramp's recursion guard", "ftramp_assist", 2, ("ftrace", 2)),
    ("BPF fentry, 2 empty programs", "bpf_fentry", 2, ("ftrace", 2)),
    ("ftramp, 8 ops, ftramp's recursion guard", "ftramp_assist", 8, ("ftrace", 8)),
    ("BPF fentry, 8 empty programs", "bpf_fentry", 8, ("ftrace", 8)),
    ("**ftramp, 2 ops (fused stub)**", "ftramp", 2, ("ftrace", 2)),
    ("ftramp, 2 ops, list iterator (fused_max=0)", "ftramp_list", 2, ("ftrace", 2)),
    ("ftrace, 2 ops (ftrace_ops_list_func)", "ftrace", 2, None),
    ("**ftramp, 4 ops**", "ftramp", 4, ("ftrace", 4)),
    ("ftrace, 4 ops", "ftrace", 4, None),
    ("**ftramp, 8 ops**", "ftramp", 8, ("ftrace", 8)),
    ("ftramp, 8 ops, list iterator (fused_max=0)", "ftramp_list", 8, ("ftrace", 8)),
    ("ftrace, 8 ops", "ftrace", 8, None),
    ("unhooked tracee, ftramp busy elsewhere (8 ops + 100 sites)", "busy_ftramp", 8, None),
    ("unhooked tracee, ftrace busy elsewhere (8 ops)", "busy_ftrace", 8, None),
]


RET_ROWS = [  # (label, kind, nops): entry+return, every handler empty
    ("**ftramp, 1 return ops (self-guarded)**", "ftramp_ret", 1),
    ("ftramp, 1 return ops, ftramp's recursion guard", "ftramp_ret_assist", 1),
    ("**ftramp, 2 return ops (self-guarded)**", "ftramp_ret", 2),
    ("ftramp, 2 return ops, recursion guard", "ftramp_ret_assist", 2),
    ("**ftramp, 8 return ops (self-guarded)**", "ftramp_ret", 8),
    ("ftramp, 8 return ops, recursion guard", "ftramp_ret_assist", 8),
    ("ftramp, 1 return ops without entry_func (self-guarded)", "ftramp_ret_noentry", 1),
    ("ftramp, 1 return ops whose entry_func says no (self-guarded)", "ftramp_ret_skip", 1),
    ("BPF fexit, 1 empty program (BPF trampoline calls the function)", "bpf_fexit", 1),
    ("BPF fexit, 2 empty programs", "bpf_fexit", 2),
    ("BPF fexit, 8 empty programs", "bpf_fexit", 8),
    ("kretprobe (empty handler, no entry_handler)", "kretprobe", 1),
    ("fprobe, entry_handler + exit_handler", "fprobe_exit", 1),
    ("function_graph tracer, tracing_thresh 1 s (no ring buffer write)", "fgraph_thresh", 1),
]
# Entry-only counterparts, for the return's share (kind, nops).
RET_ENTRY_ONLY = {"ftramp_ret": "ftramp", "ftramp_ret_assist": "ftramp_assist",
                  "ftramp_ret_noentry": "ftramp", "ftramp_ret_skip": "ftramp",
                  "fprobe_exit": "fprobe", "kretprobe": "kprobe", "bpf_fexit": "bpf_fentry"}


def ret_table(out, ic, wl):
    """Entry+return cost on the bench tracee, beside kretprobe and fprobe entry+exit."""
    if all(ic.pc("bench", k, n) is None for _, k, n in RET_ROWS):
        return
    out.append("### Entry+return (tracee `ftramp_bench_tracee`; every entry asks for the "
               "return, every handler is empty; instructions per call above the unhooked "
               "call)\n")
    out.append("| hook | instructions/call (median) | spread | entry+return cost (instr.) "
               "| vs kretprobe | vs fprobe entry+exit | entry-only counterpart | return's share "
               "| wall cost (ns) | wall vs kretprobe | wall vs fprobe |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, kind, n in RET_ROWS:
        if ic.pc("bench", kind, n) is None and (wl is None or wl.pc("bench", kind, n) is None):
            continue
        c = ic.cost("bench", kind, n)
        eo = RET_ENTRY_ONLY.get(kind)
        eoc = ic.cost("bench", eo, n) if eo else None
        cells = [label, fmt(ic.pc("bench", kind, n), 2), fmt(ic.pc_spread("bench", kind, n), 2),
                 fmt(c), fr(ratio(c, ic.cost("bench", "kretprobe", 1))),
                 fr(ratio(c, ic.cost("bench", "fprobe_exit", 1))),
                 f"{fmt(eoc)} (`{eo}` ×{n})" if eoc is not None else "–",
                 fmt(c - eoc) if c is not None and eoc is not None else "–"]
        if wl is None:
            cells += ["–"] * 3
        else:
            w = wl.cost("bench", kind, n)
            cells += [fmt(w), fr(ratio(w, wl.cost("bench", "kretprobe", 1))),
                      fr(ratio(w, wl.cost("bench", "fprobe_exit", 1)))]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("\"Return's share\" = entry+return cost − the entry-only hook of the same "
               "kind and number (ftramp: `ftramp`/`ftramp_assist` with N ops; fprobe: the "
               "entry-only fprobe; kretprobe: the kprobe with an empty pre_handler). The "
               "evidence file lists, per row, the probes' `nmissed` and ftramp's `ret_calls` "
               "against the calls made.\n")


def ret_goals(out, ic, wl):
    kr, fx = ic.cost("bench", "kretprobe", 1), ic.cost("bench", "fprobe_exit", 1)
    if ic.cost("bench", "ftramp_ret", 1) is None:
        return
    out.append("| goal (issue 12) | measured (icount, ftramp_bench_tracee) | | TCG wall ratio |")
    out.append("|---|---|---|---|")
    for kind, what in (("ftramp_ret", "self-guarded"), ("ftramp_ret_assist", "ftramp's guard")):
        c = ic.cost("bench", kind, 1)
        for other, oc, lim, name in (("kretprobe", kr, 0.25, "kretprobe"),
                                     ("fprobe_exit", fx, 0.5, "fprobe entry+exit")):
            r = ratio(c, oc)
            w = "–" if wl is None else fr(ratio(wl.cost("bench", kind, 1),
                                                wl.cost("bench", other, 1)))
            ok = r is not None and r <= lim
            out.append(f"| 1 ops entry+return ({what}) ≤ {lim}× {name} | {fmt(c)} vs {fmt(oc)} "
                       f"instr. = {fr(r)} | {'met' if ok else '**missed**'} | {w} |")
    out.append("")


def ret_profile(out, ic):
    c = {k: ic.cost("bench", k, 1) for k in ("ftramp", "ftramp_ret", "ftramp_ret_noentry",
                                             "ftramp_ret_skip")}
    if None in c.values():
        return
    out.append("### Where ftramp's 1-ops entry+return cost goes (instructions per call, "
               "measured by difference)\n")
    out.append("| part | instructions | how it is known |")
    out.append("|---|---:|---|")
    out.append(f"| the return trampoline (frame, call record, in-flight count, body call, "
               f"both dispatch `call`s and stubs), an entry_func saying no, a return dispatch "
               f"finding the record empty | {fmt(c['ftramp_ret_skip'])} | `ftramp_ret_skip` |")
    out.append(f"| recording the return and delivering it (id check against the return ops "
               f"table, `ret_func` call, `ret_calls` count) | "
               f"{fmt(c['ftramp_ret'] - c['ftramp_ret_skip'])} | `ftramp_ret` − "
               f"`ftramp_ret_skip` |")
    out.append(f"| (in both rows above) the entry_func call itself | "
               f"{fmt(c['ftramp_ret'] - c['ftramp_ret_noentry'])} | `ftramp_ret` − "
               f"`ftramp_ret_noentry` |")
    out.append(f"| **ftramp, 1 return ops** | **{fmt(c['ftramp_ret'])}** | (entry-only "
               f"ftramp: {fmt(c['ftramp'])}) |")
    out.append("")


def percall_table(out, ic, wl, tracee, title):
    out.append(f"### {title}\n")
    out.append("| hook | instructions/call (median) | spread | hook cost (instr.) "
               "| vs ftrace | vs floor | TCG wall ns/call (median) | spread "
               "| wall hook cost | wall vs ftrace | wall vs floor |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, kind, n, cmp in ROWS:
        if ic.pc(tracee, kind, n) is None and (wl is None or wl.pc(tracee, kind, n) is None):
            continue
        cells = [label]
        for run in (ic, wl):
            if run is None:
                cells += ["–"] * 5
                continue
            c = run.cost(tracee, kind, n)
            vs = ratio(c, run.cost(tracee, *cmp)) if cmp else None
            vf = (ratio(c, run.cost(tracee, "direct", 1))
                  if kind not in ("none", "direct", "busy_ftramp", "busy_ftrace") else None)
            nd = 2 if run is ic else 1
            cells += [fmt(run.pc(tracee, kind, n), nd), fmt(run.pc_spread(tracee, kind, n), nd),
                      fmt(c, nd) if kind != "none" else "0 (baseline)", fr(vs), fr(vf)]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")


def ops_table(out, ic, wl):
    out.append("### Hook cost by number of ops, three tracees (instructions per call above "
               "the unhooked call; TCG wall ns in the last columns)\n")
    out.append("| tracee | ops | ftramp | ftrace | ftrace / ftramp | wall ftramp | wall ftrace "
               "| wall ftrace / ftramp |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for tracee, name in (("bench", "ftramp_bench_tracee (empty)"),
                         ("target", "ftramp_target_a (per-CPU counter)"),
                         ("sample", "ftrace-ops.ko tracee_relevant, the sample's own loop")):
        for n in OPS:
            cells = [name if n == 1 else "", str(n)]
            for run in (ic, wl):
                if run is None:
                    cells += ["–"] * 3
                    continue
                if tracee == "sample":
                    a, b = run.sample_cost("ftramp", n), run.sample_cost("ftrace", n)
                else:
                    a, b = run.cost(tracee, "ftramp", n), run.cost(tracee, "ftrace", n)
                cells += [fmt(a), fmt(b), fr(ratio(b, a))]
            out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("The sample's loop runs with interrupts on (a tick can land in it: its spread "
               "is not 0); baseline = the sample with `nr_ops_relevant=0`. ftramp is attached "
               "to the sample's static tracee by ftramp_bench.ko's module notifier while the "
               "sample loads (`nr_ops_relevant=0`).\n")


def switch_table(out, ic, wl):
    out.append("### Switching (guest ns per `ftramp_set_filter()`; under icount these include "
               "virtual time a CPU spends waiting, e.g. for the other CPU to take the sync IPI)\n")
    out.append("| sites | one round list→direct (detach) | spread | attach direct→list, total "
               "| of which resolving the filter | attach − resolve | rounds per switch "
               "| syncs per switch | sites in the round | wall: detach | wall: attach − resolve |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sites in ("1", "10", "100", "big"):
        det = ic.sw(sites, "detach")
        if not det:
            continue
        att, res = ic.sw(sites, "attach"), ic.sw(sites, "resolve")
        nsites = det[0][3]
        rounds = sorted({r[1] for r in det + att})
        syncs = sorted({r[2] for r in det + att})
        a, r = med([x[0] for x in att]), med([x[0] for x in res])
        wcells = ["–", "–"]
        if wl is not None and wl.sw(sites, "detach"):
            wa, wr = med([x[0] for x in wl.sw(sites, "attach")]), med([x[0] for x in wl.sw(sites, "resolve")])
            wcells = [fmt(med([x[0] for x in wl.sw(sites, "detach")]), 0),
                      fmt(wa - wr if wa is not None and wr is not None else None, 0)]
        out.append("| " + " | ".join([
            f"{nsites}" + (" (all `acpi_*`)" if sites == "big" else ""),
            fmt(med([x[0] for x in det]), 0), fmt(spread([x[0] for x in det]), 0),
            fmt(a, 0), fmt(r, 0), fmt(a - r if a is not None and r is not None else None, 0),
            "/".join(map(str, rounds)), "/".join(map(str, syncs)), str(nsites)] + wcells) + " |")
    mod = ic.d["modify"]
    if mod:
        ns = [m[0] for m in mod]
        sy = sorted({m[1] for m in mod})
        wcell = "–"
        if wl is not None and wl.d["modify"]:
            wcell = fmt(med([m[0] for m in wl.d["modify"]]), 0)
        out.append(f"| 1, kernel `modify_ftrace_direct()` | {fmt(med(ns), 0)} | {fmt(spread(ns), 0)} "
                   f"| – | – | – | – | {'/'.join(map(str, sy))} | 1 | {wcell} | – |")
    out.append("")
    out.append("Rounds and syncs come from ftramp's `stats` file read around each call "
               "(a value like `1` means every one of the 10 measured switches took exactly that). "
               "The kernel's syncs are its `text_poke_bp()` IPIs, counted by a kprobe on "
               "`do_sync_core()`, divided by the online CPUs.\n")


def goals(out, ic, wl):
    def c(kind, n):
        return ic.cost("bench", kind, n)
    ft1, tr1, fl = c("ftramp", 1), c("ftrace", 1), c("direct", 1)
    ft8, tr8 = c("ftramp", 8), c("ftrace", 8)
    det = [r for s in ("1", "10", "100", "big") for r in ic.sw(s, "detach") + ic.sw(s, "attach")]
    syncs = sorted({r[2] for r in det})
    rounds = sorted({r[1] for r in det})
    busy = ic.pc("bench", "busy_ftramp", 8)
    base = ic.base("bench")
    sizes = sorted({r[3] for r in det})
    rows = []

    def g(goal, measured, ok, wall=""):
        rows.append(f"| {goal} | {measured} | {'met' if ok else '**missed**'} | {wall} |")

    def w(a, b):
        if wl is None:
            return "–"
        x = ratio(wl.cost("bench", *a), wl.cost("bench", *b))
        return fr(x)
    r = ratio(ft1, tr1)
    g("1 ops ≤ 1.0× ftrace's single-ops trampoline", f"{fmt(ft1)} vs {fmt(tr1)} instr. = {fr(r)}",
      r is not None and r <= 1.0, w(("ftramp", 1), ("ftrace", 1)))
    r = ratio(ft1, fl)
    g("1 ops ≤ 1.5× the direct-trampoline floor", f"{fmt(ft1)} vs {fmt(fl)} instr. = {fr(r)}",
      r is not None and r <= 1.5, w(("ftramp", 1), ("direct", 1)))
    r = ratio(tr8, ft8)
    g("8 ops ≥ 5× cheaper than ftrace_ops_list_func with 8 relevant ops",
      f"{fmt(ft8)} vs {fmt(tr8)} instr. = {fr(r)} cheaper", r is not None and r >= 5,
      w(("ftrace", 8), ("ftramp", 8)) + " cheaper")
    g("batch switching = 3 syncs regardless of the number of sites",
      f"{'/'.join(map(str, rounds))} round(s), {'/'.join(map(str, syncs))} syncs per switch "
      f"for {', '.join(map(str, sizes))} sites", syncs == [3] and rounds == [1])
    g("no cost on unhooked functions",
      f"{fmt(busy, 2)} vs {fmt(base, 2)} instr./call unhooked, with ftramp on 101 other functions",
      busy is not None and base is not None and busy == base)
    out.append("| goal (issue 6) | measured (icount, ftramp_bench_tracee) | | TCG wall ratio |")
    out.append("|---|---|---|---|")
    out += rows
    out.append("")


def goals13(out, ic, wl):
    """Issue 13's goal table: ftramp against ftrace and BPF's trampoline."""
    def c(kind, n):
        return ic.cost("bench", kind, n)
    if c("bpf_fentry", 1) is None and c("ftramp_assist", 2) is None:
        return
    rows = []

    def g(goal, a, b, ok, wall_a=None, wall_b=None, how="= {r}"):
        r = ratio(a, b)
        meas = f"{fmt(a)} vs {fmt(b)} instr. " + how.format(r=fr(r))
        w = "–"
        if wl is not None and wall_a is not None:
            w = fr(ratio(wl.cost("bench", *wall_a), wl.cost("bench", *wall_b)))
        rows.append(f"| {goal} | {meas} | {'met' if ok(a, r) else '**missed**'} | {w} |")

    g("1 ops self-guarded ≤ 21 instr. and ≤ 0.6× ftrace's own trampoline",
      c("ftramp", 1), c("ftrace", 1), lambda a, r: a is not None and a <= 21 and r <= 0.6,
      ("ftramp", 1), ("ftrace", 1))
    g("1 ops guarded ≤ 45 instr. and ≤ 0.55× ftrace's recursion assist",
      c("ftramp_assist", 1), c("ftrace_assist", 1),
      lambda a, r: a is not None and a <= 45 and r <= 0.55,
      ("ftramp_assist", 1), ("ftrace_assist", 1))
    for n, lim in ((2, 60), (8, 140)):
        g(f"{n} ops ≤ {lim} instr. and ≥ 15× cheaper than ftrace_ops_list_func",
          c("ftramp", n), c("ftrace", n),
          lambda a, r, lim=lim: a is not None and r is not None and a <= lim and r <= 1 / 15,
          ("ftramp", n), ("ftrace", n), how="= {r} of ftrace's")
    for n in (1, 2, 8):
        g(f"{n} guarded ops ≤ 0.8× BPF fentry with {n} empty program(s)",
          c("ftramp_assist", n), c("bpf_fentry", n),
          lambda a, r: r is not None and r <= 0.8, ("ftramp_assist", n), ("bpf_fentry", n))
    for n in (1, 2, 8):
        g(f"{n} guarded return ops, entry+return, ≤ 0.8× BPF fexit with {n} program(s)",
          c("ftramp_ret_assist", n), c("bpf_fexit", n),
          lambda a, r: r is not None and r <= 0.8, ("ftramp_ret_assist", n), ("bpf_fexit", n))
    out.append("| goal (issue 13) | measured (icount, ftramp_bench_tracee) | | TCG wall ratio |")
    out.append("|---|---|---|---|")
    out += rows
    out.append("")
    out.append("BPF guards recursion per program (`__bpf_prog_enter` tests and counts "
               "`prog->active` per CPU, and takes `rcu_read_lock` and `migrate_disable`), so it "
               "is compared with ftramp ops that ask for ftramp's guard (no "
               "`FTRAMP_OPS_FL_RECURSION`); the self-guarded rows are in the per-call table. "
               "The bench tracee takes two arguments; ftramp's and BPF's trampolines both save "
               "just those two registers (their BTF model).\n")


def lockdep_table(out, ic, td):
    """Production-like kernel beside the test kernel (lockdep and debug options)."""
    if td is None:
        return
    out.append("### Production-like kernel beside the test kernel (lockdep, "
               "DEBUG_ATOMIC_SLEEP, PROVE_RCU, ...), icount, hook cost in instructions\n")
    out.append("| hook | production-like | test kernel | test / production |")
    out.append("|---|---:|---:|---:|")
    for label, kind, n, _ in ROWS[1:]:
        a, b = ic.cost("bench", kind, n), td.cost("bench", kind, n)
        if a is None and b is None:
            continue
        out.append(f"| {label} | {fmt(a)} | {fmt(b)} | {fr(ratio(b, a))} |")
    for label, kind, n in RET_ROWS:
        a, b = ic.cost("bench", kind, n), td.cost("bench", kind, n)
        if a is None and b is None:
            continue
        out.append(f"| {label} | {fmt(a)} | {fmt(b)} | {fr(ratio(b, a))} |")
    out.append("")
    out.append("Goal tables for the test kernel (same rules):\n")
    goals13(out, td, None)
    goals(out, td, None)


def profile(out, ic):
    fl, fr_, ft1 = ic.cost("bench", "direct", 1), ic.cost("bench", "direct_regs", 1), ic.cost("bench", "ftramp", 1)
    if None in (fl, fr_, ft1):
        return
    out.append("### Where ftramp's 1-ops cost goes (instructions per call, measured by difference)\n")
    out.append("| part | instructions | how it is known |")
    out.append("|---|---:|---|")
    out.append(f"| floor: fentry `call`→trampoline, `push rbp; mov rsp,rbp`, `call` callback, "
               f"empty callback (`nop5; ret`), `leave; ret` | {fmt(fl)} | `direct` row |")
    out.append(f"| the lean frame of a 2-argument function: `sub $56,%rsp`, 2 `mov` in, "
               f"`push $2` (the frame word), 2 `mov` out | {fmt(fr_ - fl)} "
               f"| `direct_regs` − `direct` |")
    out.append(f"| the mode site (`nop5`), the callback's arguments (`mov 16(%rbp),%rsi`, "
               f"`movabs $ip,%rdi`, `mov %rsp,%rcx`), the ops entry stub (`movabs $ops,%rdx; jmp`), and "
               f"preemption off/on around the call (`inc`, `dec`, `jnz`) | {fmt(ft1 - fr_)} "
               f"| ftramp − `direct_regs` |")
    out.append(f"| **ftramp, 1 ops** | **{fmt(ft1)}** | |")
    out.append("")
    for kind, what, parts in (
            ("ftramp", "Fused stub",
             "the stub's frame (`push rbp; mov rsp,rbp`, 3 pushes, `leave; ret` through the "
             "return thunk); per ops: the argument reloads (3 `mov`), `movabs $ops,%rdx`, the "
             "direct `call`, the empty callback"),
            ("ftramp_list", "List iterator (fused_max=0)",
             "`list_iter` itself: the list-level recursion guard (inline) and the list load; "
             "per ops: the entry load and its tombstone test, the argument moves, the indirect "
             "call")):
        c2, c8 = ic.cost("bench", kind, 2), ic.cost("bench", kind, 8)
        if c2 is None or c8 is None:
            continue
        per = (c8 - c2) / 6
        fixed = c2 - 2 * per
        out.append(f"{what}: cost ≈ {fmt(fixed)} + {fmt(per)} × ops instructions (fit of 2 and "
                   f"8 ops); the fixed part is the trampoline (as for 1 ops, "
                   f"{fmt(ft1 - 4)} without the 2-instruction entry stub and its empty "
                   f"callback) and {parts}.\n")


def plot(path, ic, wl):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(ic, "QEMU -icount: instructions per call above the unhooked call", "instructions")]
    if wl is not None:
        runs.append((wl, "plain TCG wall clock: ns per call above the unhooked call", "ns (TCG)"))
    fig, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 5.2), squeeze=False)
    for ax, (run, title, unit) in zip(axes[0], runs):
        ft = [run.cost("bench", "ftramp", n) for n in OPS]
        tr = [run.cost("bench", "ftrace", n) for n in OPS]
        ax.plot(OPS, tr, "s-", color="tab:red", label="ftrace (1: own trampoline, 2+: ftrace_ops_list_func)")
        ax.plot(OPS, ft, "o-", color="tab:blue", label="ftramp (1: direct dispatch, 2+: fused stub)")
        bops = [n for n in OPS if run.cost("bench", "bpf_fentry", n) is not None]
        if bops:
            ax.plot(bops, [run.cost("bench", "bpf_fentry", n) for n in bops], "D-",
                    color="tab:purple", label="BPF fentry, empty programs")
            gops = [n for n in OPS if run.cost("bench", "ftramp_assist", n) is not None]
            ax.plot(gops, [run.cost("bench", "ftramp_assist", n) for n in gops], "o--",
                    color="tab:blue", alpha=0.6, label="ftramp, ops with ftramp's recursion guard")
        rops = [n for n in OPS if run.cost("bench", "ftramp_ret", n) is not None]
        if rops:
            ax.plot(rops, [run.cost("bench", "ftramp_ret", n) for n in rops], "^-",
                    color="tab:green", label="ftramp entry+return (return ops)")
        for n, a, b in zip(OPS, ft, tr):
            if a and b:
                ax.annotate(f"{b / a:.1f}×", (n, b * 1.35), ha="center", fontsize=9,
                            color="dimgray")
        # Horizontal lines: single hooks of other kinds, for scale (the upper of kprobe and
        # fprobe labelled above its line, the lower below).
        kp, fp = run.cost("bench", "kprobe", 1) or 0, run.cost("bench", "fprobe", 1) or 0
        for kind, style, lab, va in (
                ("direct", ":", "floor: minimal direct trampoline", "bottom"),
                ("kprobe", "--", "kprobe", "bottom" if kp >= fp else "top"),
                ("fprobe", "-.", "fprobe", "bottom" if fp > kp else "top"),
                ("kretprobe", (0, (5, 1)), "kretprobe (entry+return)", "bottom"),
                ("fprobe_exit", (0, (3, 1, 1, 1)), "fprobe entry+exit", "top")):
            v = run.cost("bench", kind, 1)
            if v:
                ax.axhline(v, linestyle=style, color="gray", linewidth=1)
                ax.text(8.3, v, f" {lab}", va=va, fontsize=8, color="dimgray")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(OPS)
        ax.set_xticklabels([str(n) for n in OPS])
        ax.set_xlim(0.8, 20)
        ax.set_ylim(top=max(v for v in tr + ft if v) * 2.5)
        ax.set_xlabel("ops attached to the function")
        ax.set_ylabel(f"hook cost per call, {unit} (log)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 0.08))
    fig.suptitle("ftramp vs the kernel's ftrace and BPF: cost of calling a hooked function\n"
                 "(grey numbers: ftrace cost / ftramp cost)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    res = sys.argv[1]
    icd = load(os.path.join(res, "icount", "raw-icount.tsv"))
    wld = load(os.path.join(res, "wall", "raw-wall.tsv"))
    if icd is None:
        sys.exit(f"no {res}/icount/raw-icount.tsv")
    ic = Run(icd)
    wl = Run(wld) if wld and wld["percall"] else None
    out = ["# ftramp benchmark (`make bench`)", ""]
    for d, mode, what in (("icount", "icount", "production-like kernel"),
                          ("wall", "wall", "production-like kernel"),
                          ("test-icount", "icount", "test kernel, with lockdep")):
        ev = os.path.join(res, d, f"evidence-{mode}.txt")
        if os.path.exists(ev):
            head = [l.rstrip() for l in open(ev) if l.startswith(("kernel:", "mode:", "clocksource:"))]
            out.append(f"- {d} run ({what}): " + "; ".join(head))
    rt = os.path.join(res, "runtimes")
    if os.path.exists(rt):
        out.append("- VM run times (host s): " + ", ".join(l.strip() for l in open(rt)))
    rows = list(icd["percall"].values())
    # Exact, or one instruction apart over a whole loop: 7.3's clock read rounds a
    # nanosecond either way.
    exact = sum(1 for v in rows if spread(v) * int(icd["calls"].split("/")[0]) <= 1.5)
    out.append(f"- icount check: {exact} of {len(rows)} per-call rows repeat exactly "
               "(within one instruction per loop)"
               + ("" if exact == len(rows) else
                  " — **not all: was -icount really active? treat the figures with care**"))
    out.append("- figures: median of the repetitions; spread = max − min. Per-call loops run "
               "with interrupts off and CPU1 offline, so under icount every repetition is the "
               "same instruction count (spread 0); the TCG wall figures are noisy.\n")
    out.append("## Goals\n")
    goals13(out, ic, wl)
    goals(out, ic, wl)
    ret_goals(out, ic, wl)
    profile(out, ic)
    out.append("## Per-call cost\n")
    calls = f"{ic.d['calls']}" + (f" (icount) / {wl.d['calls']} (wall)" if wl else "")
    percall_table(out, ic, wl, "bench", "Tracee `ftramp_bench_tracee` (empty noinline function; "
                  f"calls per loop: {calls})")
    percall_table(out, ic, wl, "target", "Tracee `ftramp_target_a` (the test target: a per-CPU "
                  "increment)")
    ret_table(out, ic, wl)
    ret_profile(out, ic)
    ops_table(out, ic, wl)
    tdd = load(os.path.join(res, "test-icount", "raw-icount.tsv"))
    if tdd and tdd["percall"]:
        out.append("## The test kernel\n")
        lockdep_table(out, ic, Run(tdd))
    out.append("## Switching cost\n")
    switch_table(out, ic, wl)
    ev = os.path.join(res, "icount", "evidence-icount.txt")
    if os.path.exists(ev):
        out.append("## What the kernel reported (icount run)\n")
        out.append("```")
        out += [l.rstrip() for l in open(ev) if not l.startswith("kernel command line")]
        out.append("```")
    md = os.path.join(res, "bench.md")
    open(md, "w").write("\n".join(out) + "\n")
    plot(os.path.join(res, "bench.png"), ic, wl)


if __name__ == "__main__":
    main()
