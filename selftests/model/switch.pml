/*
 * SPDX-License-Identifier: GPL-2.0
 *
 * switch.pml - Promela model of ftramp's lossless switch, as the code does it
 * (rust/arch/x86/patcher.rs, int3.rs, pool.rs, rust/helpers/record.c,
 * rust/engine/mod.rs, site.rs).  README.rst maps every construct here to the
 * code it stands for.
 *
 * What is modelled
 *   - Two hooked functions F0, F1.  Each has a trampoline in a pool slot
 *     (T0, T1) whose dispatch site is a 5-byte `call rel32`.  The text of a
 *     site is three independently written groups: the first byte (0xE8 call
 *     or 0xCC int3) and the rel32 in two halves (lo, hi), so a CPU can fetch
 *     a first byte from one version and the halves from others.  A rel32 is
 *     abstracted to the id of the target it encodes.
 *   - Targets: the do-nothing target NOP, the list iterator ITER (which calls
 *     the site's published list), and the entry stubs of ops P, Q, R in their
 *     own slots (SP, SQ, SR).  A stub calls its ops.  R's stub is written
 *     during the run, into a slot that holds int3 filler until then.
 *   - SlotInfo per trampoline slot: `site` (the handler's ownership check:
 *     live or 0) and `target` (the site's current target, the handler's
 *     fallback).
 *   - The engine's operations as a script: NROUND rounds, each moving the
 *     next step of every site in a non-empty batch (site 0, site 1, or both
 *     in one round):
 *       F0: {P} +Q-> {P,Q} -P-> {Q} +P-> {Q,P} -Q-> {P}
 *           STUB(P) -> ITER -> STUB(Q) (the survivor, not P) -> ITER -> STUB(P)
 *       F1: {Q} -Q-> {} +R-> {R} +P-> {R,P} -R-> {P}
 *           STUB(Q) -> NOP, stop, wait, free T1 (int3 filler, SlotInfo 0);
 *           register R: R's stub written, a new site for F1 in the reused
 *           slot T1 (trampoline written calling NOP), started, then
 *           NOP -> STUB(R); -> ITER -> STUB(P)
 *     Lists are published before the round (-> ITER) or after it (-> the
 *     survivor's stub), as Engine::commit does.
 *   - Each round is Patcher::commit: store each SlotInfo.target, publish the
 *     record (a pointer to an immutable {site -> target} record, stored inside
 *     a seqcount write section), int3, sync, tail, sync, first byte, sync,
 *     clear the pointer (seqcount again), kfree_rcu the record.  Records live
 *     in two buffers; a freed one may be handed out again as soon as no
 *     handler holds it (what RCU guarantees, and no later).
 *   - NCPU CPUs, each repeatedly executing a function.  Instruction fetch is
 *     NOT coherent with the patcher's writes to live code until the CPU is
 *     serialised: each CPU has, per site and per byte group, the SET of values
 *     its fetch may still return = the value at its last serialisation plus
 *     every value written since.  A sync (IPI + sync_core on every CPU)
 *     resets a CPU's sets to memory.  A CPU may be preempted inside F1's
 *     trampoline before its dispatch call ("parked"): the retire wait
 *     (RCU-tasks) waits for it.
 *   - The int3 handler as int3.rs has it (runs with IRQs off: a CPU inside it
 *     cannot take the sync IPI, and it is an RCU reader): claim only a trap
 *     at a live site (SlotInfo.site), then record_target(): read the
 *     seqcount (odd: give up), load the record pointer, look the site up,
 *     re-check the seqcount, retry at most RETRIES times; a record hit
 *     emulates the record's target, anything else emulates SlotInfo.target.
 *
 * Atomicity and memory-model assumptions
 *   - Data accesses are sequentially consistent.
 *   - Fetching and executing one non-trapping instruction is one step, and
 *     an int3 trap is taken in the same step as its fetch.  Return from the
 *     handler (iret) is NOT assumed to be serialising; a sync is the only
 *     serialisation.
 *   - Code written while no CPU can reach it (a new trampoline, the int3
 *     refill of a freed slot, a new stub) is fetched coherently afterwards.
 *     The model asserts that precondition at each such write (cold_ok).
 *   - A call is an instant: the ops a target calls are counted in the step
 *     that enters it.  Stub content is read coherently (see above).
 *   - NCPU = 2 and NSITE = 2 are hard-wired.
 *
 * Properties (assertions; the text names the property for the runner)
 *   (torn_call == 0)      no CPU executes a call whose rel32 mixes versions.
 *   (target_ok == 1)      every call goes to live code (not address 0, not
 *                         int3 filler decoded as a rel32) and calls no ops that
 *                         was detached from the site both when the call began
 *                         and now.
 *   (q_ok == 1)           when a target is entered, every ops attached to the
 *                         site both when the call began and now is called.
 *   (once_ok == 1)        at the end of an execution, every ops attached
 *                         throughout was called exactly once (a skipped call
 *                         fails here).
 *   (unclaimed_int3 == 0) the handler never returns "not ours" (die("int3")).
 *   (uaf_ok == 1)         no record is freed while a handler holds it.
 *   (cold_ok == 1)        code is (re)written only while no CPU can reach it.
 *
 * Compile-time switches (spin -DNAME), each removes or changes one safeguard:
 *   SKIP                  handler advances past the call instead of emulating
 *   NO_FINAL_SYNC         no sync after writing the final 0xE8
 *   NO_SEQ_RECHECK        handler does not re-check the seqcount
 *   NO_VANISHED_HANDLING  handler dies when no record names the site
 *   VANISHED_STRICT       die if the int3 is still in memory, else fall back
 *   RECORD_AFTER_INT3     SlotInfo.target and the record after the int3s
 *   NO_RECORD             no record at all (the handler always falls back)
 *   KPROBES_FIRST         kprobe_int3_handler first: re-executes a vanished int3
 *   NO_INT3_SYNC          no sync after writing int3: oracle check
 *   NO_TAIL_SYNC          no sync after writing the tail: oracle check
 *   TARGET_AFTER_PUBLISH  SlotInfo.target stored after the record is published
 *   TARGET_AFTER_CLEAR    SlotInfo.target stored after the record is cleared
 *   NO_TARGET_STORE       Patcher::commit never updates SlotInfo.target
 *   NO_RECORD_RCU         the record is kfree'd at once, not kfree_rcu'd
 *   RETRIES=n             tries of record_target()'s loop (the code: 8; default 2)
 *   EXHAUST_DIE           retries exhausted: "not ours" instead of falling back
 *   NO_OWNER_CHECK        claim any trap in the pool, without SlotInfo.site
 *   STUB_WRITE_LATE       R's stub written after the round that targets it
 *   NO_RETIRE_WAIT        the removed site's slot freed without the wait
 *   LIST_AFTER_ROUND      a site's new list published after the round to ITER
 * Coverage probes (an assertion that fails iff the point is reachable):
 *   COVER_TRAP COVER_EMULATE COVER_STALE_INT3 COVER_MIXED_FETCH COVER_SLOT1
 *   COVER_ITER_Q COVER_VANISHED COVER_RETRY COVER_EXHAUSTED COVER_LATER_TARGET
 *   COVER_RCU_HOLD COVER_SURVIVOR COVER_NEW_STUB COVER_REUSE
 *   COVER_REUSED_STALE COVER_PARKED_WAIT COVER_UNOWNED
 */

#define NCPU   2
#define NSITE  2
#ifndef NROUND
#define NROUND 3
#endif
#ifndef RETRIES
#define RETRIES 2
#endif
#if defined(NO_RECORD_RCU) || defined(COVER_RCU_HOLD)
#define SPLIT_LOOKUP
#endif

/* first-byte values; also their bit in an op set */
#define OP_CALL 1   /* 0xE8 */
#define OP_INT3 2   /* 0xCC */

/* targets (what a rel32 encodes) */
#define T_NONE 0    /* address 0 (a cleared SlotInfo.target) */
#define T_NOP  1
#define T_ITER 2
#define T_SP   3    /* P's stub */
#define T_SQ   4    /* Q's stub */
#define T_SR   5    /* R's stub (written during the run) */
#define T_FILL 6    /* int3 filler bytes decoded as a rel32: garbage */
#define TBIT(t) (1 << ((t) - 1))
#define TNAME(t) ((t) == T_NOP -> 'N' : ((t) == T_ITER -> 'I' : ((t) == T_SP -> 'P' : \
		 ((t) == T_SQ -> 'Q' : ((t) == T_SR -> 'R' : ((t) == T_FILL -> 'F' : '0'))))))

/* ops bits */
#define O_P 1
#define O_Q 2
#define O_R 4
#define O_ALL 7

#define V(c, s) ((c) * NSITE + (s))

/* ---- the text of the two dispatch sites ------------------------------ */
byte mem_op[NSITE];
byte mem_lo[NSITE];
byte mem_hi[NSITE];

/* ---- per-CPU stale instruction-fetch view: sets of fetchable values ---- */
byte set_op[NCPU * NSITE];   /* bits OP_CALL | OP_INT3 */
byte set_lo[NCPU * NSITE];   /* TBIT(target) */
byte set_hi[NCPU * NSITE];

byte in_handler[NCPU];       /* 1 + site while in the int3 handler (IRQs off) */
bit parked[NCPU];            /* preempted inside F1's trampoline, before its call */

/* ---- SlotInfo of the trampoline slots, and R's stub slot ------------- */
bit info_live[NSITE];        /* SlotInfo.site == this slot's dispatch address */
byte info_tgt[NSITE];        /* SlotInfo.target */
bit u_stub;                  /* R's stub slot: 0 int3 filler, 1 R's stub */
bit started[NSITE];          /* the function's ftrace direct call -> trampoline */

/* ---- the in-flight record --------------------------------------------- */
byte seq;                    /* record_seq: odd inside a write section */
byte rec_ptr;                /* 0 null, 1 + buffer */
bit rb_live[2];              /* buffer allocated (not yet freed) */
byte rb_tgt[4];              /* buffer b, site s: target, or T_NONE if absent */
byte hold[NCPU];             /* 1 + buffer a handler has loaded and not yet read */
bit uaf_ok;                  /* scratch for the uaf_ok assertions */

/* ---- ops state (software) --------------------------------------------- */
byte lst[NSITE];             /* the site's published list (what ITER calls) */
byte on[NSITE];              /* ops attached to the site */
byte chg[NSITE];             /* ops being attached/detached by this operation */
byte ph[NSITE];              /* the site's step in its script */

byte newt[NSITE];            /* the round's new target of each site */
byte batch;                  /* bit s: site s is in the round */

#ifdef COVER_LATER_TARGET
bit moved[NCPU];             /* SlotInfo.target of our site stored under us */
#endif

/* F1 runs its second trampoline (after the free and the reuse of T1) */
#define REUSED (ph[1] >= 2 || (ph[1] == 1 && started[1]))

/* ---- helpers ----------------------------------------------------------- */

/* a store to live text: every CPU may now fetch it, until it is serialised */
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
		printf("EV patcher: site %d rel32.lo := %c\n", s, TNAME(v));
		set_lo[V(0, s)] = set_lo[V(0, s)] | TBIT(v);
		set_lo[V(1, s)] = set_lo[V(1, s)] | TBIT(v)
	}
}
inline write_hi(s, v) {
	d_step {
		mem_hi[s] = v;
		printf("EV patcher: site %d rel32.hi := %c\n", s, TNAME(v));
		set_hi[V(0, s)] = set_hi[V(0, s)] | TBIT(v);
		set_hi[V(1, s)] = set_hi[V(1, s)] | TBIT(v)
	}
}

/* text_poke_sync(): the IPI reaches each CPU separately, outside the handler */
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

/* a write to T1 while no CPU can reach it: fetched coherently afterwards */
inline cold_t1(op, t) {
	cold_ok = (started[1] == 0 && parked[0] == 0 && parked[1] == 0 &&
		   in_handler[0] != 2 && in_handler[1] != 2);
	assert(cold_ok == 1);
	mem_op[1] = op; mem_lo[1] = t; mem_hi[1] = t;
	set_op[V(0, 1)] = op; set_op[V(1, 1)] = op;
	set_lo[V(0, 1)] = TBIT(t); set_lo[V(1, 1)] = TBIT(t);
	set_hi[V(0, 1)] = TBIT(t); set_hi[V(1, 1)] = TBIT(t);
	cold_ok = 0
}

/* attach_new(R): R's stub is poked while nothing calls it yet */
inline write_stub_r() {
	d_step {
		cold_ok = (mem_lo[0] != T_SR && mem_hi[0] != T_SR && mem_lo[1] != T_SR &&
			   mem_hi[1] != T_SR && info_tgt[0] != T_SR && info_tgt[1] != T_SR);
		assert(cold_ok == 1);
		cold_ok = 0;
		u_stub = 1;
		printf("EV patcher: R's stub written into its slot\n")
	}
}

inline pick_tgt(set, v) {
	if
	:: (set & 1) -> v = 1
	:: (set & 2) -> v = 2
	:: (set & 4) -> v = 3
	:: (set & 8) -> v = 4
	:: (set & 16) -> v = 5
	:: (set & 32) -> v = 6
	fi
}

/*
 * Entering target t from site s (a direct call, or the handler's emulated
 * call): the ops the target calls, checked against the site's ops when the
 * call began (on0, off0) and now.
 */
inline enter() {
	if
	:: t == T_ITER -> calls = lst[s]
	:: t == T_SP -> calls = O_P
	:: t == T_SQ -> calls = O_Q
	:: t == T_SR && u_stub -> calls = O_R
	:: t == T_SR && !u_stub ->
		/*
		 * int3 filler where R's stub should be: a trap at an address
		 * of the pool that is no live site (SlotInfo.site is 0 for a
		 * stub slot, and no record ever names it).
		 */
#ifdef COVER_UNOWNED
		assert(0);
#endif
#ifdef NO_OWNER_CHECK
		/* claimed: no record names it, so SlotInfo.target = 0 */
		printf("EV cpu%d: int3 in R's stub slot claimed: emulate call to 0\n", c);
		t = T_NONE
#else
		printf("EV cpu%d: int3 in R's stub slot: not a live site, not ours: die\n", c);
		unclaimed_int3 = 1;
		assert(unclaimed_int3 == 0)
#endif
	:: else -> skip      /* NOP, address 0, filler */
	fi;
	printf("EV cpu%d: site %d enters %c, calls P%d Q%d R%d (attached P%d Q%d R%d, moving P%d Q%d R%d)\n",
	       c, s, TNAME(t), (calls & O_P) != 0, (calls & O_Q) != 0, (calls & O_R) != 0,
	       (on[s] & O_P) != 0, (on[s] & O_Q) != 0, (on[s] & O_R) != 0,
	       (chg[s] & O_P) != 0, (chg[s] & O_Q) != 0, (chg[s] & O_R) != 0);
#ifdef COVER_ITER_Q
	assert(!(t == T_ITER && (calls & O_Q) && (calls & ~O_Q)));
#endif
#ifdef COVER_SURVIVOR
	assert(!(s == 0 && t == T_SQ));
#endif
#ifdef COVER_NEW_STUB
	assert(!(t == T_SR && u_stub));
#endif
	target_ok = (t != T_NONE && t != T_FILL &&
		     (calls & off0 & (O_ALL & ~(on[s] | chg[s]))) == 0);
	assert(target_ok == 1);
	q_ok = ((on0 & on[s] & ~calls) == 0);
	assert(q_ok == 1)
}

/* end of one execution: every ops attached throughout was called once */
inline finish() {
	once_ok = ((on0 & on[s] & ~calls) == 0);
	assert(once_ok == 1)
}

/* ======================================================================= */
/* The engine and its patcher: NROUND operations, each one round.         */
/* ======================================================================= */

/*
 * SlotInfo.target := the round's new target (Patcher::commit, step 2).  The
 * stores of the batch's sites are one step: each handler reads only its own
 * site's, so the order between them is invisible.
 */
inline store_targets() {
	atomic {
		if
		:: (batch & 1) ->
			info_tgt[0] = newt[0];
			printf("EV patcher: site 0 SlotInfo.target := %c\n", TNAME(newt[0]));
#ifdef COVER_LATER_TARGET
			if :: in_handler[0] == 1 -> moved[0] = 1 :: else fi;
			if :: in_handler[1] == 1 -> moved[1] = 1 :: else fi;
#endif
			skip
		:: else
		fi;
		if
		:: (batch & 2) ->
			info_tgt[1] = newt[1];
			printf("EV patcher: site 1 SlotInfo.target := %c\n", TNAME(newt[1]));
#ifdef COVER_LATER_TARGET
			if :: in_handler[0] == 2 -> moved[0] = 1 :: else fi;
			if :: in_handler[1] == 2 -> moved[1] = 1 :: else fi;
#endif
			skip
		:: else
		fi
	}
}

/*
 * ftramp_record_publish(rec): the pointer store inside a seqcount write
 * section.  Clearing (v = 0) ends with the round's Drop of buffer b:
 * kfree_rcu, or kfree with NO_RECORD_RCU (only the latter can free a record
 * a handler still holds); the free is merged into the section's end (it is
 * invisible to a handler, which can no longer load the pointer).
 */
inline publish(v, b) {
	atomic {
		seq++;
		printf("EV patcher: record: write section begins (seq %d)\n", seq)
	}
	rec_ptr = v;
	atomic {
		seq++;
		if
		:: v != 0 ->
			printf("EV patcher: record %d published {site0 -> %c, site1 -> %c} (seq %d)\n",
			       b, TNAME(rb_tgt[b * 2]), TNAME(rb_tgt[b * 2 + 1]), seq)
		:: else ->
			printf("EV patcher: record cleared (seq %d)\n", seq);
#ifdef COVER_RCU_HOLD
			assert(!(hold[0] == b + 1 || hold[1] == b + 1));
#endif
#ifdef NO_RECORD_RCU
			uaf_ok = (hold[0] != b + 1 && hold[1] != b + 1);
			assert(uaf_ok == 1);
			uaf_ok = 0;
#endif
			rb_live[b] = 0
		fi
	}
}

inline step2() {
#if !defined(TARGET_AFTER_PUBLISH) && !defined(TARGET_AFTER_CLEAR) && !defined(NO_TARGET_STORE)
	store_targets();
#endif
#ifndef NO_RECORD
	publish(b + 1, b);
#endif
#ifdef TARGET_AFTER_PUBLISH
	store_targets();
#endif
}

/* Engine::commit: the lists of sites going to ITER, before the round */
inline lists_before() {
	if
	:: (batch & 1) && (ph[0] == 0 || ph[0] == 2) ->
		lst[0] = O_P | O_Q; printf("EV patcher: site 0 list := {P,Q}\n")
	:: else
	fi;
	if
	:: (batch & 2) && ph[1] == 2 ->
		lst[1] = O_R | O_P; printf("EV patcher: site 1 list := {R,P}\n")
	:: else
	fi
}

proctype patcher()
{
	byte r, i, b, last;
	bit cold_ok;

	last = 1;
	for (r : 1 .. NROUND) {
		/*
		 * One engine operation.  Its first step (one atomic step: none
		 * of it but the lists is visible to a CPU before the round
		 * publishes anything, and no CPU can enter ITER of a site
		 * before its list is published):
		 *  - the batch, and each site's next step of its script; the
		 *    ops it moves are "moving" until the operation is over;
		 *  - prepare: Round::prepare allocates and fills the record;
		 *  - commit: the lists that must be complete before the round.
		 */
		atomic {
			if
			:: batch = 1
			:: batch = 2
			:: batch = 3
			fi;
			printf("EV patcher: round %d moves site0:%d site1:%d\n", r, batch & 1, (batch >> 1) & 1);
			if
			:: (batch & 1) ->
				if
				:: ph[0] == 0 -> i = O_Q; newt[0] = T_ITER
				:: ph[0] == 1 -> i = O_P; newt[0] = T_SQ
				:: ph[0] == 2 -> i = O_P; newt[0] = T_ITER
				:: ph[0] == 3 -> i = O_Q; newt[0] = T_SP
				fi;
				chg[0] = i; on[0] = on[0] & ~i
			:: else
			fi;
			if
			:: (batch & 2) ->
				if
				:: ph[1] == 0 -> i = O_Q; newt[1] = T_NOP
				:: ph[1] == 1 -> i = O_R; newt[1] = T_SR
				:: ph[1] == 2 -> i = O_P; newt[1] = T_ITER
				:: ph[1] == 3 -> i = O_R; newt[1] = T_SP
				fi;
				chg[1] = i; on[1] = on[1] & ~i
			:: else
			fi;
			i = 0;
#ifndef NO_RECORD
			/* Record::new: the buffer freed last, if no handler holds it */
			if
			:: !rb_live[last] && hold[0] != last + 1 && hold[1] != last + 1 -> b = last
			:: else -> b = 1 - last
			fi;
			uaf_ok = (!rb_live[b] && hold[0] != b + 1 && hold[1] != b + 1);
			assert(uaf_ok == 1);
			uaf_ok = 0;
			rb_live[b] = 1;
			rb_tgt[b * 2] = newt[0];
			rb_tgt[b * 2 + 1] = newt[1];
			last = b;
			printf("EV patcher: record %d filled\n", b);
#endif
#ifndef LIST_AFTER_ROUND
			lists_before();
#endif
			skip
		}

		if
		:: (batch & 2) && ph[1] == 1 ->
			/* register R on F1: attach_new writes R's stub first */
#ifndef STUB_WRITE_LATE
			write_stub_r();
#endif
			/* Site::new: the freed slot T1 comes back from the pool */
			d_step {
				cold_t1(OP_CALL, T_NOP);
				info_tgt[1] = T_NOP;
				info_live[1] = 1;
				lst[1] = 0;
				printf("EV patcher: new site for F1 in reused slot T1: call NOP, SlotInfo {live, N}\n")
			};
			/* the last of prepare: start it with ftrace */
			atomic { started[1] = 1; printf("EV patcher: F1 started (ftrace direct -> T1)\n") }
		:: else
		fi;

		/* ---- Patcher::commit ---- */
#ifndef RECORD_AFTER_INT3
		step2();
#endif
		/* 3. int3 on every site of the batch */
		if :: (batch & 1) -> write_op(0, OP_INT3) :: else fi;
		if :: (batch & 2) -> write_op(1, OP_INT3) :: else fi;
#ifdef RECORD_AFTER_INT3
		step2();
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
		/* 6. clear the record; then the round's Drop: kfree_rcu */
#ifndef NO_RECORD
		publish(0, b);
#endif
#ifdef TARGET_AFTER_CLEAR
		store_targets();
#endif
#ifdef STUB_WRITE_LATE
		if
		:: (batch & 2) && ph[1] == 1 -> write_stub_r()
		:: else
		fi;
#endif

		/*
		 * After the round (Engine::commit): the survivor's list, the
		 * emptied site stopped (retire_site); then the operation is
		 * over: moving ops are attached or gone.
		 */
		d_step {
#ifdef LIST_AFTER_ROUND
			lists_before();
#endif
			if
			:: (batch & 1) && ph[0] == 1 ->
				lst[0] = O_Q; printf("EV patcher: site 0 list := {Q}\n")
			:: (batch & 1) && ph[0] == 3 ->
				lst[0] = O_P; printf("EV patcher: site 0 list := {P}\n")
			:: else
			fi;
			if
			:: (batch & 2) && ph[1] == 3 ->
				lst[1] = O_P; printf("EV patcher: site 1 list := {P}\n")
			:: (batch & 2) && ph[1] == 0 ->
				started[1] = 0; printf("EV patcher: F1 stopped (unregister_ftrace_direct)\n")
			:: else
			fi;
			if
			:: (batch & 1) ->
				if
				:: ph[0] == 0 || ph[0] == 2 -> on[0] = on[0] | chg[0]
				:: else
				fi;
				chg[0] = 0; ph[0]++
			:: else
			fi;
			if
			:: (batch & 2) ->
				if
				:: ph[1] == 1 || ph[1] == 2 -> on[1] = on[1] | chg[1]
				:: else
				fi;
				chg[1] = 0; ph[1]++
			:: else
			fi;
			printf("EV patcher: operation %d over: site0 P%d Q%d R%d, site1 P%d Q%d R%d\n", r,
			       (on[0] & O_P) != 0, (on[0] & O_Q) != 0, (on[0] & O_R) != 0,
			       (on[1] & O_P) != 0, (on[1] & O_Q) != 0, (on[1] & O_R) != 0);
			newt[0] = T_NONE; newt[1] = T_NONE;
			i = batch;
			batch = 0
		}
		/* flush: the retired site is freed after the wait */
		if
		:: (i & 2) && ph[1] == 1 ->
#ifdef COVER_PARKED_WAIT
			assert(!(parked[0] || parked[1]));
#endif
#ifndef NO_RETIRE_WAIT
			/* synchronize_rcu (handlers), _tasks_rude, _tasks (parked tasks) */
			atomic { in_handler[0] == 0 && parked[0] == 0 -> printf("EV patcher: wait: cpu0 quiescent\n") };
			atomic { in_handler[1] == 0 && parked[1] == 0 -> printf("EV patcher: wait: cpu1 quiescent\n") };
#endif
			/* Site::free -> Pool::free: SlotInfo 0, refilled with int3 */
			d_step {
				info_live[1] = 0;
				info_tgt[1] = T_NONE;
				cold_t1(OP_INT3, T_FILL);
				lst[1] = 0;
				printf("EV patcher: slot T1 freed: SlotInfo {0, 0}, int3 filler\n")
			}
		:: else
		fi;
		i = 0
	}
}

/* ======================================================================= */
/* A CPU: executes the functions forever.                                  */
/* ======================================================================= */

/*
 * Forget the locals so that states differ only in shared state; a call
 * that is restarted (re-executed or resumed) keeps when it began (on0, off0).
 */
inline forget_but_call() {
	s = 0; op = 0; lo = 0; hi = 0; t = 0; s1 = 0; p = 0; tries = 0;
	calls = 0; live = 0;
	torn_call = 0; target_ok = 0; q_ok = 0; once_ok = 0; unclaimed_int3 = 0
}
inline forget() {
	forget_but_call();
	on0 = 0; off0 = 0
}

proctype cpu(byte c)
{
	byte s, op, lo, hi, t, s1, p, tries;
	byte on0, off0, calls;
	bit torn_call, target_ok, q_ok, once_ok, unclaimed_int3;
	bit reexec, live;

	do
	:: atomic {
		/* F1's trampoline entered, preempted before its dispatch call */
		!in_handler[c] && !reexec && !parked[c] && started[1] ->
		parked[c] = 1;
		/* the call begins here: the site's ops now */
		on0 = on[1];
		off0 = O_ALL & ~(on[1] | chg[1]);
		printf("EV cpu%d: preempted inside F1's trampoline\n", c)
	   }
	:: atomic {
		/* fetch the 5 bytes of one site from the stale view: any mix */
		!in_handler[c] ->
		if
		:: parked[c] -> s = 1; parked[c] = 0   /* resumed */
		:: else ->
			if
			:: reexec -> reexec = 0   /* same site again */
			:: else ->
				if
				:: s = 0
				:: started[1] -> s = 1
				fi;
				/* the call begins: the site's ops now */
				on0 = on[s];
				off0 = O_ALL & ~(on[s] | chg[s])
			fi
		fi;
		if
		:: (set_op[V(c, s)] & OP_CALL) -> op = OP_CALL
		:: (set_op[V(c, s)] & OP_INT3) -> op = OP_INT3
		fi;
		pick_tgt(set_lo[V(c, s)], lo);
		pick_tgt(set_hi[V(c, s)], hi);
#ifdef COVER_MIXED_FETCH
		assert(!(lo != hi));
#endif
#ifdef COVER_STALE_INT3
		assert(!(op == OP_INT3 && mem_op[s] == OP_CALL));
#endif
#ifdef COVER_REUSE
		assert(!(s == 1 && REUSED));
#endif
#ifdef COVER_REUSED_STALE
		assert(!(s == 1 && REUSED && op == OP_INT3 && mem_op[1] == OP_CALL));
#endif
		printf("EV cpu%d: fetch site %d = [0x%x %c|%c]\n", c, s,
		       (op == OP_CALL -> 232 : 204), TNAME(lo), TNAME(hi));
		if
		:: op == OP_CALL ->
			/* decode and execute the call */
			torn_call = (lo != hi);
			assert(torn_call == 0);
			t = lo;
			enter();
			finish();
			forget()
		:: op == OP_INT3 ->
			/* int3: trap, IRQs off, into the handler, which reads the
			 * slot's SlotInfo.site (only cold writes change it) */
			in_handler[c] = 1 + s;
			live = info_live[s]
		fi
	   }
	:: in_handler[c] ->
		/* the int3 handler: notify() in int3.rs */
#ifdef COVER_TRAP
		assert(0);
#endif
#ifdef KPROBES_FIRST
		/* kprobe_int3_handler: no kprobe here and the byte is no longer
		 * int3 -> it re-executes the instruction */
		if
		:: atomic {
			mem_op[s] != OP_INT3 ->
			printf("EV cpu%d: kprobe_int3_handler: int3 gone, re-execute\n", c);
			in_handler[c] = 0;
			/* still inside the trampoline: for F1, like a parked task
			 * (the retire wait waits for it) */
			if
			:: s == 1 -> parked[c] = 1
			:: else -> reexec = 1
			fi;
			forget_but_call()
		   } ->
			goto next
		:: else
		fi;
#endif
		/* with_slot_info: only a live dispatch site is ours */
		if
		:: !live ->
			skip;
#ifdef COVER_UNOWNED
			assert(0);
#endif
#ifndef NO_OWNER_CHECK
			unclaimed_int3 = 1;
			printf("EV cpu%d: int3 at a slot that is no live site: not ours: die\n", c);
			assert(unclaimed_int3 == 0)
#endif
		:: else
		fi;
		tries = 0;
retry:
		atomic {
			s1 = seq;                  /* raw_read_seqcount */
			printf("EV cpu%d: int3 handler: seq %d\n", c, s1)
		}
		if
		:: (s1 & 1) -> goto vanished    /* Err: never spin */
		:: else
		fi;
#ifdef SPLIT_LOOKUP
		atomic {
			p = rec_ptr;               /* READ_ONCE(record) */
			hold[c] = p;
			printf("EV cpu%d: loads record pointer %d\n", c, p - 1)
		}
#endif
		atomic {
#ifndef SPLIT_LOOKUP
			/*
			 * Pointer load and lookup in one step: the record is
			 * immutable until it is freed, and it is reused only when
			 * no handler holds it (SPLIT_LOOKUP checks that).
			 */
			p = rec_ptr;
#endif
			/* the binary search in the immutable record */
			t = (p != 0 -> rb_tgt[(p - 1) * 2 + s] : T_NONE);
			hold[c] = 0;
#ifdef COVER_SLOT1
			assert(!(p != 0 && s == 1 && rb_tgt[(p - 1) * 2] != T_NONE));
#endif
			if
			:: p != 0 -> printf("EV cpu%d: record %d names site %d -> %c\n", c, p - 1, s, TNAME(t))
			:: else -> printf("EV cpu%d: no record\n", c)
			fi
		}
#ifndef NO_SEQ_RECHECK
		if
		:: seq != s1 ->                   /* read_seqcount_retry */
#ifdef COVER_RETRY
			assert(0);
#endif
			tries++;
			if
			:: tries < RETRIES -> goto retry
			:: else ->
#ifdef COVER_EXHAUSTED
				assert(0);
#endif
#ifdef EXHAUST_DIE
				unclaimed_int3 = 1;
				printf("EV cpu%d: retries exhausted: not ours: die\n", c);
				assert(unclaimed_int3 == 0);
#endif
				goto vanished
			fi
		:: else
		fi;
#endif
		if
		:: t != T_NONE ->
#ifdef COVER_EMULATE
			assert(0);
#endif
			goto emulate
		:: else -> goto vanished
		fi;

vanished:
		/*
		 * No consistent record names the site: seq odd, the pointer
		 * null or another round's record, or retries exhausted.
		 */
#ifdef NO_VANISHED_HANDLING
		unclaimed_int3 = 1;               /* NOTIFY_DONE: die("int3") */
		printf("EV cpu%d: int3 not in the record: die\n", c);
		assert(unclaimed_int3 == 0);
#endif
#ifdef VANISHED_STRICT
		if
		:: mem_op[s] == OP_INT3 ->
			unclaimed_int3 = 1;
			printf("EV cpu%d: int3 still in memory, not ours: die\n", c);
			assert(unclaimed_int3 == 0)
		:: else
		fi;
#endif
		atomic {
			t = info_tgt[s];           /* info.target.load(Acquire) */
			printf("EV cpu%d: SlotInfo.target of site %d: %c\n", c, s, TNAME(t));
#ifdef COVER_VANISHED
			assert(0);
#endif
#ifdef COVER_LATER_TARGET
			assert(!moved[c]);
#endif
		}
emulate:
		atomic {
#ifdef SKIP
			/* skip_mode: regs->ip += 4, the call is skipped */
			printf("EV cpu%d: SKIP: call skipped\n", c);
#else
			/* int3_emulate_call(regs, t): the CPU enters t on iret */
			enter();
#endif
			finish();
			in_handler[c] = 0;
#ifdef COVER_LATER_TARGET
			moved[c] = 0;
#endif
			forget()
		}
next:
		skip
	od
}

init {
	d_step {
		/* F0 = {P} calling P's stub, F1 = {Q} calling Q's stub */
		mem_op[0] = OP_CALL; mem_lo[0] = T_SP; mem_hi[0] = T_SP;
		mem_op[1] = OP_CALL; mem_lo[1] = T_SQ; mem_hi[1] = T_SQ;
		set_op[V(0, 0)] = OP_CALL; set_op[V(1, 0)] = OP_CALL;
		set_op[V(0, 1)] = OP_CALL; set_op[V(1, 1)] = OP_CALL;
		set_lo[V(0, 0)] = TBIT(T_SP); set_lo[V(1, 0)] = TBIT(T_SP);
		set_hi[V(0, 0)] = TBIT(T_SP); set_hi[V(1, 0)] = TBIT(T_SP);
		set_lo[V(0, 1)] = TBIT(T_SQ); set_lo[V(1, 1)] = TBIT(T_SQ);
		set_hi[V(0, 1)] = TBIT(T_SQ); set_hi[V(1, 1)] = TBIT(T_SQ);
		info_live[0] = 1; info_tgt[0] = T_SP; started[0] = 1;
		info_live[1] = 1; info_tgt[1] = T_SQ; started[1] = 1;
		on[0] = O_P; on[1] = O_Q
	}
	atomic {
		run patcher();
		run cpu(0);
		run cpu(1)
	}
}
