// SPDX-License-Identifier: GPL-2.0
/*
 * The in-flight patch record (rust/arch/x86/patcher.rs writes it, int3.rs reads
 * it): a pointer published inside a seqcount write section. Writers are
 * serialised by the engine's mutex; the reader is the int3 handler, which may
 * interrupt the writer and so never waits for it.
 */
#include <linux/rcupdate.h>
#include <linux/seqlock.h>
#include <linux/slab.h>

#include "helpers.h"

static seqcount_t record_seq = SEQCNT_ZERO(record_seq);
static struct ftramp_patch_record *record;

struct ftramp_patch_record *ftramp_record_alloc(unsigned int nr)
{
	struct ftramp_patch_record *r = kzalloc(struct_size(r, entries, nr), GFP_KERNEL);

	if (r)
		r->nr = nr;
	return r;
}

void ftramp_record_free(struct ftramp_patch_record *rec)
{
	kfree(rec);
}

void ftramp_record_free_rcu(struct ftramp_patch_record *rec)
{
	if (rec)
		kfree_rcu(rec, rcu);
}

void ftramp_record_publish(struct ftramp_patch_record *rec)
{
	preempt_disable();
	raw_write_seqcount_begin(&record_seq);
	WRITE_ONCE(record, rec);
	raw_write_seqcount_end(&record_seq);
	preempt_enable();
}

unsigned int ftramp_record_seq_begin(void)
{
	return raw_read_seqcount(&record_seq);
}

struct ftramp_patch_record *ftramp_record_current(void)
{
	return READ_ONCE(record);
}

bool ftramp_record_seq_retry(unsigned int seq)
{
	return read_seqcount_retry(&record_seq, seq);
}
