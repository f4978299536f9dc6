/*
 * SPDX-License-Identifier: GPL-2.0
 *
 * switch.pml - Promela model of ftramp's lossless switch (design.md section 2)
 *
 * What is modelled
 *   - NSITE dispatch sites, each a 5-byte `call rel32` inside a trampoline.
 *     The text of a site is three independently written groups: the first
 *     byte (0xE8 call or 0xCC int3) and the rel32 split in two halves (lo,
 *     hi), so a CPU can fetch a first byte from one version and tail halves
 *     from others.  A rel32 is abstracted to the id of the target it encodes.
 *   - Per site an ops list: the persistent ops P (always attached) and a
 *     toggled ops Q.  Single mode: the site calls DIRECT(s) = P's callback.
 *     List mode: the site calls ITER(s), the iterator walking the site's list
 *     (P, and Q while Q is on the list).
 *   - One patcher that performs NROUND rounds; each round switches a
 *     non-empty batch of sites (any subset: same site back-to-back, different
 *     sites, both at once) with the 3-phase int3 protocol and a seqcount-
 *     guarded in-flight record (a small table of {site, target} slots).
 *   - NCPU CPUs, each repeatedly executing one of the sites.  Instruction
 *     fetch is NOT coherent with the patcher's writes until the CPU is
 *     serialised: each CPU has, per site and per byte group, the SET of values
 *     its fetch may still return = the value at its last serialisation plus
 *     every value written since.  A sync (IPI + sync_core on every CPU)
 *     resets a CPU's sets to the current memory.  This is conservative: it
 *     even lets a CPU see an old value after a new one.
 *   - The int3 handler (runs with IRQs off: a CPU inside it cannot take the
 *     sync IPI, so a sync waits for it to leave), as design.md describes it:
 *     read the seqcount (odd: treat as "not in flight"), look the site up in
 *     the record, re-check the seqcount (race (b)) and retry on change; if
 *     the record names the site, emulate a call to the record's target;
 *     otherwise (race (a): the patch finished under us, or the site was
 *     re-armed by the next round) claim the trap and emulate a call to the
 *     site's current target, decoded from the text.
 *
 * Atomicity and memory-model assumptions
 *   - Data accesses are sequentially consistent (x86 TSO only reorders a
 *     store after a later load; neither side here depends on that order:
 *     the handler only loads, the patcher only stores between its syncs).
 *   - Fetching and executing one non-trapping instruction is one step, and
 *     an int3 trap is taken in the same step as its fetch: interrupts (the
 *     sync IPI) are only taken at instruction boundaries, and the int3 gate
 *     leaves IRQs off.  Return from the handler (iret) is NOT assumed to be
 *     serialising (FRED's ERETS may not be); a sync is the only
 *     serialisation.
 *   - Every statement touching shared state is its own step: the record's
 *     fields, the seqcount, each text group, each handler read.
 *   - NCPU = 2 and NSITE = 2 are hard-wired in write_*() / sync_*().
 *
 * Properties (assertions; each assertion's text names the property so the
 * runner can tell which one a counterexample violates)
 *   (torn_call == 0)     no CPU executes a call whose rel32 mixes versions
 *                        (first byte 0xE8 with tail halves of different
 *                        versions; with 0xCC the tail is never decoded).
 *   (target_ok == 1)     every call the CPU makes, directly or by emulation,
 *                        goes to a target of THIS site that is valid now:
 *                        the committed target, or either target while this
 *                        site is being switched; a target retired by step 7
 *                        (or the other site's target) is invalid.
 *   (p_calls == 1)       the persistent ops P of the executed site is
 *                        called exactly once per execution of the site.
 *   (q_calls <= 1)       the toggled ops Q is called at most once, and
 *   (q_ok == 1)          exactly once when it is attached and its site is
 *                        not being switched.
 *   (unclaimed_int3==0)  the handler never returns "not ours" (die("int3")).
 *
 * Compile-time switches (spin -DNAME), each removes or changes one safeguard:
 *   SKIP                  handler advances past the call (2019 bug) instead
 *                         of emulating it
 *   NO_FINAL_SYNC         no sync after writing the final 0xE8 (step 5)
 *   NO_SEQ_RECHECK        handler does not re-check the seqcount after
 *                         copying the record (race (b))
 *   NO_VANISHED_HANDLING  handler dies when the record does not name the
 *                         site, even if the int3 is gone (race (a))
 *   VANISHED_STRICT       vanished handling as Linus proposed in 2019: die
 *                         if the int3 is still in memory, emulate only if
 *                         it has gone (design.md instead emulates the
 *                         current target whenever the record misses)
 *   RECORD_AFTER_INT3     record published after the int3 is written
 *   NO_RECORD             no in-flight record at all: the handler always
 *                         falls back to the text (shows what the record is for)
 *   KPROBES_FIRST         CONFIG_KPROBES: kprobe_int3_handler runs first and
 *                         re-executes an int3 that is gone from memory
 *   NO_INT3_SYNC          no sync after writing int3 (step 3): oracle check
 *   NO_TAIL_SYNC          no sync after writing the tail (step 4): oracle check
 * Coverage probes (an assertion that fails iff the point is reachable):
 *   COVER_TRAP COVER_EMULATE COVER_STALE_INT3 COVER_MIXED_FETCH
 *   COVER_VANISHED COVER_RETRY COVER_SLOT1 COVER_ITER_Q
 */

#define NCPU   2
#define NSITE  2
#ifndef NROUND
#define NROUND 3
#endif

/* first-byte values; also their bit in an op set */
#define OP_CALL 1   /* 0xE8 */
#define OP_INT3 2   /* 0xCC */

/* targets (what a rel32 encodes); 0 = none.  Site s: DIRECT 1+2s, ITER 2+2s */
#define T_NONE       0
#define DIRECT(s)    (1 + 2 * (s))
#define ITER(s)      (2 + 2 * (s))
#define TSITE(t)     (((t) - 1) / 2)
#define IS_ITER(t)   (((t) - 1) % 2 == 1)
#define TBIT(t)      (1 << ((t) - 1))
#define OTHER(t)     (IS_ITER(t) -> (t) - 1 : (t) + 1)
/* for the trail: D<site> direct, I<site> iterator, -0 none */
#define TNAME(t)     ((t) == T_NONE -> '-' : (IS_ITER(t) -> 'I' : 'D'))

/* ops-list bits */
#define L_P 1
#define L_Q 2

#define V(c, s) ((c) * NSITE + (s))

/* ---- the text: what memory (and a coherent data read) holds ---------- */
byte mem_op[NSITE];
byte mem_lo[NSITE];
byte mem_hi[NSITE];

/* ---- per-CPU stale instruction-fetch view: sets of fetchable values ---- */
byte set_op[NCPU * NSITE];   /* bits OP_CALL | OP_INT3 */
byte set_lo[NCPU * NSITE];   /* TBIT(target) */
byte set_hi[NCPU * NSITE];

bit in_handler[NCPU];        /* IRQs off: the sync IPI is held off */

/* ---- in-flight record under a seqcount -------------------------------- */
byte seq;                    /* odd while the patcher writes the record */
byte rec_cnt;
byte rec_site[NSITE];
byte rec_tgt[NSITE];

/* ---- ops state (software, not text) ----------------------------------- */
byte cur[NSITE];             /* committed target of each site */
byte valid[NSITE];           /* TBIT set of targets that may be entered now */
byte lst[NSITE];             /* the site's list: L_P, plus L_Q in list mode */

/* ---- helpers ----------------------------------------------------------- */

/* a store to the text: every CPU may now fetch it, until it is serialised */
inline write_op(s, v) {
	d_step {
		mem_op[s] = v;
		printf("EV patcher: site %d byte0 := 0x%x\n", s, (v == OP_CALL -> 232 : 204));
		set_op[V(0, s)] = set_op[V(0, s)] | v;
		set_op[V(1, s)] = set_op[V(1, s)] | v
	}
}
inline write_lo(s, v) {
	d_step {
		mem_lo[s] = v;
		printf("EV patcher: site %d rel32.lo := %c%d\n", s, TNAME(v), TSITE(v));
		set_lo[V(0, s)] = set_lo[V(0, s)] | TBIT(v);
		set_lo[V(1, s)] = set_lo[V(1, s)] | TBIT(v)
	}
}
inline write_hi(s, v) {
	d_step {
		mem_hi[s] = v;
		printf("EV patcher: site %d rel32.hi := %c%d\n", s, TNAME(v), TSITE(v));
		set_hi[V(0, s)] = set_hi[V(0, s)] | TBIT(v);
		set_hi[V(1, s)] = set_hi[V(1, s)] | TBIT(v)
	}
}

/*
 * on_each_cpu(sync_core): the IPI reaches each CPU separately; a CPU takes
 * it only outside the int3 handler (IRQs off there) and at an instruction
 * boundary (fetch+execute of a non-trapping instruction is one atomic step
 * in this model).  After it the CPU fetches exactly what memory holds.
 */
inline sync_one(c) {
	atomic {
		in_handler[c] == 0 ->
		printf("EV patcher: sync cpu%d (serialised)\n", c);
		set_op[V(c, 0)] = mem_op[0]; set_op[V(c, 1)] = mem_op[1];
		set_lo[V(c, 0)] = TBIT(mem_lo[0]); set_lo[V(c, 1)] = TBIT(mem_lo[1]);
		set_hi[V(c, 0)] = TBIT(mem_hi[0]); set_hi[V(c, 1)] = TBIT(mem_hi[1])
	}
}
inline sync_all() {
	sync_one(0);
	sync_one(1)
}

inline pick_tgt(set, v) {
	if
	:: (set & 1) -> v = 1
	:: (set & 2) -> v = 2
	:: (set & 4) -> v = 3
	:: (set & 8) -> v = 4
	fi
}

/*
 * Entering target t from site s (a direct call, or the handler's emulated
 * call): checks the target and counts the ops calls the target makes.
 */
inline enter(t) {
	atomic {
		printf("EV cpu%d: site %d enters %c%d (site %d may now enter: D%d %d, I%d %d)\n",
		       c, s, TNAME(t), TSITE(t), s, s, (valid[s] & TBIT(DIRECT(s))) != 0, s, (valid[s] & TBIT(ITER(s))) != 0);
		target_ok = (t != T_NONE && TSITE(t) == s && (valid[s] & TBIT(t)) != 0);
		assert(target_ok == 1);
		if
		:: IS_ITER(t) ->
			p_calls = p_calls + ((lst[TSITE(t)] & L_P) != 0);
			q_calls = q_calls + ((lst[TSITE(t)] & L_Q) != 0)
		:: else -> p_calls = p_calls + 1
		fi;
		/* Q attached and its site not being switched at the moment
		 * of entry: Q must be called (exactly once) */
		q_ok = !(valid[s] == TBIT(ITER(s)) && (lst[s] & L_Q)) || q_calls == 1;
		assert(q_ok == 1)
	}
}

/* end of one execution of site s: exactly-once for P, at-most-once for Q */
inline finish() {
	assert(p_calls == 1);
	assert(q_calls <= 1)
}

/* ======================================================================= */
/* The patcher: NROUND rounds, each switching a batch of sites.            */
/* ======================================================================= */

inline publish() {
	/* write_seqcount_begin; fill the table sorted by site; end */
	atomic {
		seq++;
		printf("EV patcher: record: begin write (seq %d)\n", seq)
	}
	i = 0;
	if
	:: (batch & 1) -> rec_site[i] = 0; rec_tgt[i] = newt[0]; i++
	:: else
	fi;
	if
	:: (batch & 2) -> rec_site[i] = 1; rec_tgt[i] = newt[1]; i++
	:: else
	fi;
	rec_cnt = i;
	atomic {
		seq++;
		if
		:: rec_cnt == 1 ->
			printf("EV patcher: record published: slot0 {site %d -> %c%d} (seq %d)\n",
			       rec_site[0], TNAME(rec_tgt[0]), TSITE(rec_tgt[0]), seq)
		:: else ->
			printf("EV patcher: record published: slot0 {site %d -> %c%d} slot1 {site %d -> %c%d} (seq %d)\n",
			       rec_site[0], TNAME(rec_tgt[0]), TSITE(rec_tgt[0]),
			       rec_site[1], TNAME(rec_tgt[1]), TSITE(rec_tgt[1]), seq)
		fi
	}
}

byte newt[NSITE];            /* the round's new target of each site */
byte batch;                  /* bit s: site s is in the round */

proctype patcher()
{
	byte r, i;

	for (r : 1 .. NROUND) {
		atomic {
			if
			:: batch = 1
			:: batch = 2
			:: batch = 3
			fi;
			printf("EV patcher: round %d switches site0:%d site1:%d\n", r, batch & 1, (batch >> 1) & 1)
		}

		/* 1. make the new state valid first: the new target may be
		 *    entered from now on; going to list mode, Q is on the list
		 *    before the site is touched */
		d_step {
			for (i : 0 .. NSITE - 1) {
				if
				:: (batch & (1 << i)) ->
					newt[i] = OTHER(cur[i]);
					valid[i] = valid[i] | TBIT(newt[i]);
					if
					:: IS_ITER(newt[i]) -> lst[i] = L_P | L_Q
					:: else
					fi
				:: else -> newt[i] = T_NONE
				fi
			}
			i = 0
		}

#if !defined(RECORD_AFTER_INT3) && !defined(NO_RECORD)
		/* 2. publish the in-flight record before any int3 */
		publish();
#endif
		/* 3. int3 on every site of the batch */
		if :: (batch & 1) -> write_op(0, OP_INT3) :: else fi;
		if :: (batch & 2) -> write_op(1, OP_INT3) :: else fi;
#if defined(RECORD_AFTER_INT3) && !defined(NO_RECORD)
		publish();
#endif
#ifndef NO_INT3_SYNC
		sync_all();
#endif
		/* 4. the tail (new rel32), written in two non-atomic halves */
		if :: (batch & 1) -> write_lo(0, newt[0]); write_hi(0, newt[0]) :: else fi;
		if :: (batch & 2) -> write_lo(1, newt[1]); write_hi(1, newt[1]) :: else fi;
#ifndef NO_TAIL_SYNC
		sync_all();
#endif
		/* 5. the new first byte */
		if :: (batch & 1) -> write_op(0, OP_CALL) :: else fi;
		if :: (batch & 2) -> write_op(1, OP_CALL) :: else fi;
#ifndef NO_FINAL_SYNC
		sync_all();
#endif
		/* 6. clear the record (count only: stale slots stay in memory,
		 *    as they would in a real table) */
#ifndef NO_RECORD
		atomic {
			seq++;
			printf("EV patcher: record: begin clear (seq %d)\n", seq)
		}
		rec_cnt = 0;
		atomic {
			seq++;
			printf("EV patcher: record cleared (seq %d)\n", seq)
		}
#endif

		/* 7. retire the old target: from now on entering it is a
		 *    use-after-free (list freed, Q gone, or wrong-for-state) */
		d_step {
			for (i : 0 .. NSITE - 1) {
				if
				:: (batch & (1 << i)) ->
					cur[i] = newt[i];
					valid[i] = TBIT(newt[i]);
					if
					:: !IS_ITER(newt[i]) -> lst[i] = L_P
					:: else
					fi
				:: else
				fi;
				newt[i] = T_NONE
			}
			printf("EV patcher: round %d done, old targets retired: site0=%c%d site1=%c%d\n", r,
			       TNAME(cur[0]), TSITE(cur[0]), TNAME(cur[1]), TSITE(cur[1]));
			i = 0;
			batch = 0
		}
	}
}

/* ======================================================================= */
/* A CPU: executes the sites forever.                                      */
/* ======================================================================= */

proctype cpu(byte c)
{
	byte s, op, lo, hi, t;
	byte s1, n, i;
	byte p_calls, q_calls;
	bit torn_call, target_ok, q_ok, unclaimed_int3;
	bit reexec;                  /* restart the same instruction */

	do
	:: atomic {
		/* fetch the 5 bytes of one site from the stale view: any mix */
		if
		:: reexec -> reexec = 0   /* same site again */
		:: else -> if :: s = 0 :: s = 1 fi
		fi;
		if
		:: (set_op[V(c, s)] & OP_CALL) -> op = OP_CALL
		:: (set_op[V(c, s)] & OP_INT3) -> op = OP_INT3
		fi;
		pick_tgt(set_lo[V(c, s)], lo);
		pick_tgt(set_hi[V(c, s)], hi);
#ifdef COVER_MIXED_FETCH
		assert(!(lo != hi));       /* a fetch mixing two rel32 versions */
#endif
#ifdef COVER_STALE_INT3
		assert(!(op == OP_INT3 && mem_op[s] == OP_CALL));
#endif
		printf("EV cpu%d: fetch site %d = [0x%x %c%d|%c%d]\n", c, s,
		       (op == OP_CALL -> 232 : 204), TNAME(lo), TSITE(lo), TNAME(hi), TSITE(hi));
		if
		:: op == OP_CALL ->
			/* decode and execute the call */
			torn_call = (lo != hi);
			assert(torn_call == 0);
			enter(lo);
			finish()
		:: op == OP_INT3 ->
			/* int3: trap, IRQs off, into the handler */
			in_handler[c] = 1
		fi
	   }

	   if
	   :: in_handler[c] ->
#ifdef COVER_TRAP
		assert(0);
#endif
#ifdef KPROBES_FIRST
		/*
		 * do_int3() calls kprobe_int3_handler() before the die notifier
		 * chain: no kprobe here and the byte is no longer int3 -> it
		 * sets regs->ip back to the int3 and claims the trap, so the
		 * instruction is fetched and executed again.
		 */
		if
		:: atomic {
			mem_op[s] != OP_INT3 ->
			printf("EV cpu%d: kprobe_int3_handler: int3 gone, re-execute\n", c)
		   } ->
			d_step {
				in_handler[c] = 0;
				reexec = 1
			};
			goto next
		:: else
		fi;
#endif
retry:
		atomic {
			s1 = seq;                 /* raw_read_seqcount */
			printf("EV cpu%d: int3 handler: seq %d\n", c, s1)
		}
		if
		:: (s1 & 1) -> goto vanished      /* writer active: not in flight */
		:: else
		fi;
		n = rec_cnt;
		i = 0;
		t = T_NONE;
		do
		:: i < n ->
			if
			:: atomic {
				rec_site[i] == s ->
				printf("EV cpu%d: reads record slot %d: site %d\n", c, i, s)
			   } ->
#ifdef COVER_SLOT1
				assert(i == 0);
#endif
				atomic {
					t = rec_tgt[i];
					printf("EV cpu%d: reads record slot %d: target %c%d\n", c, i, TNAME(t), TSITE(t))
				}
				break
			:: else -> i++
			fi
		:: else -> break
		od;
#ifndef NO_SEQ_RECHECK
		if
		:: seq != s1 ->                   /* read_seqcount_retry */
#ifdef COVER_RETRY
			assert(0);
#endif
			goto retry
		:: else
		fi;
#endif
		if
		:: t != T_NONE ->
#ifdef COVER_EMULATE
			assert(0);
#endif
#ifdef SKIP
			/* 2019 bug: regs->ip += 4, the call is skipped */
			printf("EV cpu%d: SKIP: call skipped\n", c)
#else
			/* int3_emulate_call(regs, site + 5, t) */
			enter(t)
#endif
			;
			goto handled
		:: else -> goto vanished
		fi;

vanished:
		/*
		 * Not named by a stable record (seq odd, or no slot for s): the
		 * patch finished under us (race (a)), or the site was re-armed
		 * for the next round after our lookup.
		 */
#ifdef NO_VANISHED_HANDLING
		unclaimed_int3 = 1;               /* NOTIFY_DONE: die("int3") */
		printf("EV cpu%d: int3 not ours: die\n", c);
		assert(unclaimed_int3 == 0);
#else
#ifdef VANISHED_STRICT
		/* Linus 2019: die unless the int3 has gone from memory */
		if
		:: mem_op[s] == OP_INT3 ->
			unclaimed_int3 = 1;
			printf("EV cpu%d: int3 still in memory, not ours: die\n", c);
			assert(unclaimed_int3 == 0)
		:: else
		fi;
#endif
		/*
		 * design.md: claim it and emulate the site's current target,
		 * decoded from the text (coherent data reads of the two rel32
		 * halves; not atomic, so a torn read is checked).
		 */
		lo = mem_lo[s];
		atomic {
			hi = mem_hi[s];
			printf("EV cpu%d: emulate current target from text %c%d|%c%d\n",
			       c, TNAME(lo), TSITE(lo), TNAME(hi), TSITE(hi))
		};
#ifdef COVER_VANISHED
		assert(0);
#endif
		torn_call = (lo != hi);
		assert(torn_call == 0);
		enter(lo);
#endif
handled:
		skip;
		d_step {
			finish();
			in_handler[c] = 0
		}
	   :: else ->
		skip
	   fi;
next:

#ifdef COVER_ITER_Q
	   assert(q_calls == 0);
#endif
	   /* forget the locals so that states differ only in shared state */
	   atomic {
		if :: !reexec -> s = 0 :: else fi;
		op = 0; lo = 0; hi = 0; t = 0; s1 = 0; n = 0; i = 0;
		p_calls = 0; q_calls = 0;
		torn_call = 0; target_ok = 0; q_ok = 0; unclaimed_int3 = 0
	   }
	od
}

init {
	byte s;

	d_step {
		for (s : 0 .. NSITE - 1) {
			mem_op[s] = OP_CALL;
			mem_lo[s] = DIRECT(s);
			mem_hi[s] = DIRECT(s);
			cur[s] = DIRECT(s);
			valid[s] = TBIT(DIRECT(s));
			lst[s] = L_P;
			set_op[V(0, s)] = OP_CALL; set_op[V(1, s)] = OP_CALL;
			set_lo[V(0, s)] = TBIT(DIRECT(s)); set_lo[V(1, s)] = TBIT(DIRECT(s));
			set_hi[V(0, s)] = TBIT(DIRECT(s)); set_hi[V(1, s)] = TBIT(DIRECT(s))
		}
		s = 0
	}
	atomic {
		run patcher();
		run cpu(0);
		run cpu(1)
	}
}
