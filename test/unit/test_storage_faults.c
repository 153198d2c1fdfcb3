/*-------------------------------------------------------------------------
 *
 * test_storage_faults.c
 *		Storage under failure: fsync and write errors (through memfs, the
 *		fault-injecting in-memory backend), power loss at random points of a
 *		random Raft-like workload, and corrupted files on disk.
 *
 * The power-loss tests keep a model of what was written and of what was
 * made durable (a sync, and a suffix truncation, which the storage makes
 * durable at once) and check that recovery yields exactly the durable model;
 * in torn mode, where part of the unsynced bytes survive, that it yields the
 * durable model plus a valid prefix of what was written after it.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_storage_faults.c
 *
 *-------------------------------------------------------------------------
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgraft/storage.h"

#include "harness.h"
#include "storage_testutil.h"

static struct pgr_storage *
open_mem(struct memfs *m, uint64_t segment_size, struct pgr_storage_error *err)
{
	struct pgr_storage_options o = {0};
	struct pgr_storage *st = NULL;

	o.vfs = &memfs_vfs;
	o.vfs_ctx = m;
	o.segment_size = segment_size;
	o.create = true;
	if (pgr_storage_open("/mem/node", &o, &st, err) != PGR_STORAGE_OK)
		return NULL;
	return st;
}

/* Every loaded entry is canonical and dense; returns the count or -1. */
static long
load_canonical(struct pgr_storage *st, uint64_t first, uint64_t (*term_of)(uint64_t))
{
	struct pgr_storage_state s;
	long n;

	if (pgr_storage_load(st, &pgr_libc_allocator, &s) != PGR_STORAGE_OK)
		return -1;
	n = (long) s.n_entries;
	for (size_t i = 0; i < s.n_entries; i++)
		if (!tu_entry_ok(&s.entries[i], first + i, term_of(first + i)))
			n = -1;
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	return n;
}

static uint64_t
term1(uint64_t index)
{
	(void) index;
	return 1;
}

static uint64_t
term_of_restart(uint64_t index)
{
	return index <= 10 ? 1 : 2;
}

static void
test_failed_fsync_is_fatal_and_never_retried(void)
{
	struct memfs m;
	struct pgr_storage *st;
	struct pgr_hard_state hs = {2, 1, 0};
	struct pgr_storage_state s;
	uint64_t syncs;

	memfs_init(&m);
	st = open_mem(&m, 0, NULL);
	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 10, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	CHECK_EQ(tu_append(st, 11, 20, 1), PGR_STORAGE_OK);
	m.fail_sync_in = 1;
	m.fail_sync_errno = EIO;
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_EIO);
	CHECK(strstr(pgr_storage_last_error(st)->msg, "could not fsync") != NULL);
	CHECK(strstr(pgr_storage_last_error(st)->msg, "log-0000000000000001") != NULL);
	CHECK_EQ(pgr_storage_last_error(st)->sys_errno, EIO);
	syncs = m.n_syncs;
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_EFAILED);
	CHECK_EQ(m.n_syncs, syncs); /* not retried */
	CHECK(strstr(pgr_storage_last_error(st)->msg, "could not fsync") != NULL);
	CHECK_EQ(tu_append(st, 21, 21, 1), PGR_STORAGE_EFAILED);
	CHECK_EQ(pgr_storage_set_hard_state(st, &hs), PGR_STORAGE_EFAILED);
	CHECK_EQ(pgr_storage_load(st, &pgr_libc_allocator, &s), PGR_STORAGE_EFAILED);
	CHECK_EQ(pgr_storage_compact(st, 1), PGR_STORAGE_EFAILED);
	CHECK_EQ(m.n_syncs, syncs);
	pgr_storage_close(st);
	memfs_power_loss(&m);
	st = open_mem(&m, 0, NULL);
	CHECK(st != NULL);
	CHECK_EQ(load_canonical(st, 1, term1), 10);
	pgr_storage_close(st);
	memfs_destroy(&m);
}

static void
test_enospc_fails_the_append_and_leaves_a_clean_log(void)
{
	struct memfs m;
	struct pgr_storage *st;
	struct pgr_storage_info info;
	long n;

	for (int lose_power = 0; lose_power <= 1; lose_power++)
	{
		memfs_init(&m);
		st = open_mem(&m, 4096, NULL);
		CHECK(st != NULL);
		CHECK_EQ(tu_append(st, 1, 5, 1), PGR_STORAGE_OK);
		CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
		m.fail_allocate_in = 1;
		m.fail_allocate_errno = ENOSPC;
		CHECK_EQ(tu_append(st, 6, 100, 1), PGR_STORAGE_ENOSPC);
		CHECK(strstr(pgr_storage_last_error(st)->msg, "No space left on device") != NULL);
		CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_EFAILED);
		pgr_storage_close(st);
		if (lose_power)
			memfs_power_loss(&m);
		st = open_mem(&m, 4096, NULL);
		CHECK(st != NULL);
		pgr_storage_info(st, &info);
		n = load_canonical(st, 1, term1);
		CHECK(n >= 5 && n < 100);
		CHECK_EQ((uint64_t) n, info.last_index);
		/* Entries of the full segment were synced before rolling over. */
		/* The log goes on from where recovery left it. */
		CHECK_EQ(tu_append(st, info.last_index + 1, 120, 1), PGR_STORAGE_OK);
		CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
		pgr_storage_close(st);
		st = open_mem(&m, 4096, NULL);
		CHECK(st != NULL);
		CHECK_EQ(load_canonical(st, 1, term1), 120);
		pgr_storage_close(st);
		memfs_destroy(&m);
	}
}

static void
test_write_error_mid_batch_leaves_nothing_half_written(void)
{
	struct memfs m;
	struct pgr_storage *st;
	struct pgr_storage_info info;
	long n;

	memfs_init(&m);
	st = open_mem(&m, 0, NULL);
	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 5, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	m.fail_pwrite_in = 1;
	m.fail_pwrite_errno = EIO; /* and half of the batch reaches the file */
	CHECK_EQ(tu_append(st, 6, 40, 1), PGR_STORAGE_EIO);
	CHECK(strstr(pgr_storage_last_error(st)->msg, "could not write") != NULL);
	CHECK(pgr_storage_last_error(st)->has_offset);
	CHECK_EQ(tu_append(st, 6, 6, 1), PGR_STORAGE_EFAILED);
	pgr_storage_close(st);
	st = open_mem(&m, 0, NULL);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK(info.torn_bytes > 0); /* the half record was cut off */
	n = load_canonical(st, 1, term1);
	CHECK(n >= 5 && n < 40);
	CHECK_EQ(tu_append(st, (uint64_t) n + 1, 50, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	st = open_mem(&m, 0, NULL);
	CHECK(st != NULL);
	CHECK_EQ(load_canonical(st, 1, term1), 50);
	pgr_storage_close(st);
	memfs_destroy(&m);
}

static void
test_snapshot_write_error_keeps_storage_usable(void)
{
	struct memfs m;
	struct pgr_storage *st;
	struct pgr_storage_info info;
	struct pgr_snapshot snap;
	uint8_t data[200];

	memfs_init(&m);
	st = open_mem(&m, 0, NULL);
	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 20, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	tu_snapshot(&snap, data, sizeof(data), 10, 1);
	m.fail_pwrite_in = 2; /* the data after the header */
	m.fail_pwrite_errno = ENOSPC;
	CHECK_EQ(pgr_storage_save_snapshot(st, &snap), PGR_STORAGE_ENOSPC);
	CHECK(memfs_file(&m, "snap.tmp") == NULL);
	pgr_storage_info(st, &info);
	CHECK(!info.failed && !info.has_snapshot);
	CHECK_EQ(tu_append(st, 21, 25, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_save_snapshot(st, &snap), PGR_STORAGE_OK);
	/* A failed fsync of the snapshot, though, is fatal. */
	tu_snapshot(&snap, data, sizeof(data), 20, 1);
	m.fail_sync_in = 1;
	m.fail_sync_errno = EIO;
	CHECK_EQ(pgr_storage_save_snapshot(st, &snap), PGR_STORAGE_EIO);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_EFAILED);
	pgr_storage_close(st);
	memfs_power_loss(&m);
	st = open_mem(&m, 0, NULL);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK(info.has_snapshot && info.snapshot.index == 10);
	pgr_storage_close(st);
	memfs_destroy(&m);
}

static void
test_interrupted_install_is_finished_by_recovery(void)
{
	struct memfs m;
	struct pgr_storage *st;
	struct pgr_storage_info info;
	struct pgr_snapshot snap;
	uint8_t data[50];

	/* Snapshot term differs from the log's: nothing after it survives. */
	for (uint64_t snap_term = 1; snap_term <= 2; snap_term++)
	{
		memfs_init(&m);
		st = open_mem(&m, 4096, NULL);
		CHECK(st != NULL);
		CHECK_EQ(tu_append(st, 1, 100, 1), PGR_STORAGE_OK);
		CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
		tu_snapshot(&snap, data, sizeof(data), 50, snap_term);
		CHECK_EQ(pgr_storage_install_snapshot(st, &snap), PGR_STORAGE_OK);
		pgr_storage_close(st); /* power fails before the batch's sync */
		memfs_power_loss(&m);
		st = open_mem(&m, 4096, NULL);
		CHECK(st != NULL);
		pgr_storage_info(st, &info);
		CHECK(info.has_snapshot && info.snapshot.index == 50);
		if (snap_term == 1)
		{
			/* The log matches the snapshot at 50: Raft keeps what follows. */
			CHECK_EQ(info.last_index, 100);
			CHECK_EQ(load_canonical(st, 51, term1), 50);
		}
		else
		{
			CHECK_EQ(info.last_index, 50);
			CHECK_EQ(info.last_term, 2);
			CHECK_EQ(load_canonical(st, 51, term1), 0);
		}
		pgr_storage_close(st);
		memfs_destroy(&m);
	}
}

/*
 * Issue 7, scenario 9.  A process crash keeps what was written but not yet
 * synced (the page cache); the restarted node reads it back and acts on it
 * (a vote, an acknowledgement).  A power loss after that would take it
 * away, and the node would have forgotten a vote or an acknowledged entry.
 * Opening must make durable what it read, as PostgreSQL's
 * SyncDataDirectory() does after a crash.
 */
static void
test_open_after_a_process_crash_makes_what_it_read_durable(void)
{
	struct memfs m;
	struct pgr_storage *st;
	struct pgr_storage_state s;
	struct pgr_hard_state hs1 = {1, 1, 5};
	struct pgr_hard_state hs2 = {2, 2, 5};

	memfs_init(&m);
	st = open_mem(&m, 4096, NULL);
	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 10, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_set_hard_state(st, &hs1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	/* a batch written, the process killed before its fsync */
	CHECK_EQ(tu_append(st, 11, 30, 2), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_set_hard_state(st, &hs2), PGR_STORAGE_OK);
	pgr_storage_close(st);

	/* the restart reads the page cache... */
	st = open_mem(&m, 4096, NULL);
	CHECK(st != NULL);
	CHECK_EQ(pgr_storage_load(st, &pgr_libc_allocator, &s), PGR_STORAGE_OK);
	CHECK_EQ(s.n_entries, 30);
	CHECK_EQ(s.hs.term, 2);
	CHECK_EQ(s.hs.vote, 2);
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	pgr_storage_close(st);

	/* ...and what it read survives the power loss that follows */
	memfs_power_loss(&m);
	st = open_mem(&m, 4096, NULL);
	CHECK(st != NULL);
	CHECK_EQ(pgr_storage_load(st, &pgr_libc_allocator, &s), PGR_STORAGE_OK);
	CHECK_EQ(s.n_entries, 30);
	CHECK_EQ(s.hs.term, 2);
	CHECK_EQ(s.hs.vote, 2);
	CHECK_EQ(load_canonical(st, 1, term_of_restart), 30);
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	pgr_storage_close(st);
	memfs_destroy(&m);
}

/*
 * A snapshot that arrives with a newer term: the batch's hard state (that
 * term) must be durable before the snapshot is.  Otherwise a crash between
 * the two leaves a snapshot of a term the hard state never saw, which the
 * core refuses at every restart (entries or snapshot beyond the stored
 * term).  The power is cut at each sync of such a batch in turn.
 */
static void
test_snapshot_is_never_durable_before_its_hard_state(void)
{
	for (int cut = 1; cut < 12; cut++)
	{
		struct memfs m;
		struct pgr_storage *st;
		struct pgr_storage_state s;
		struct pgr_hard_state hs1 = {1, 1, 10};
		struct pgr_snapshot snap;
		struct pgr_ready rd;
		uint8_t data[64];
		uint64_t last_term;
		struct pgr_storage_error err;
		enum pgr_storage_err e;

		memfs_init(&m);
		st = open_mem(&m, 4096, NULL);
		CHECK(st != NULL);
		CHECK_EQ(tu_append(st, 1, 10, 1), PGR_STORAGE_OK);
		CHECK_EQ(pgr_storage_set_hard_state(st, &hs1), PGR_STORAGE_OK);
		CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);

		tu_snapshot(&snap, data, sizeof(data), 50, 3);
		memset(&rd, 0, sizeof(rd));
		rd.snapshot = &snap;
		rd.has_hard_state = true;
		rd.hs.term = 3;
		rd.hs.commit = 50;
		rd.must_sync = true;
		m.fail_sync_in = cut;
		m.fail_sync_errno = EIO;
		e = pgr_storage_persist(st, &rd);
		m.fail_sync_in = 0;
		pgr_storage_close(st);
		memfs_power_loss(&m);

		st = open_mem(&m, 4096, &err);
		if (st == NULL)
		{
			memfs_destroy(&m);
			test_fail(__FILE__, __LINE__, "power cut at sync %d: the open fails: %s", cut, err.msg);
			return;
		}
		CHECK_EQ(pgr_storage_load(st, &pgr_libc_allocator, &s), PGR_STORAGE_OK);
		last_term = s.n_entries > 0 ? s.entries[s.n_entries - 1].term
									: (s.has_snapshot ? s.snapshot.meta.term : 0);
		if (s.hs.term < last_term)
		{
			pgr_storage_state_free(&pgr_libc_allocator, &s);
			pgr_storage_close(st);
			memfs_destroy(&m);
			test_fail(__FILE__, __LINE__,
					  "power cut at sync %d: stored term %" PRIu64
					  " is behind the stored log's term %" PRIu64,
					  cut, s.hs.term, last_term);
			return;
		}
		pgr_storage_state_free(&pgr_libc_allocator, &s);
		pgr_storage_close(st);
		memfs_destroy(&m);
		if (e == PGR_STORAGE_OK)
			break; /* the batch had fewer syncs than cut */
	}
}

/* ---------------------------------------------------------------------- */
/* Power loss under a random workload                                     */
/* ---------------------------------------------------------------------- */

#define MODEL_MAX 200000

struct model
{
	uint64_t *terms; /* terms[i]: term of entry i */
	uint64_t last;
	uint64_t snap_index;
	uint64_t snap_term;
	struct pgr_hard_state hs;
};

static void
model_copy(struct model *dst, const struct model *src)
{
	uint64_t *t = dst->terms;

	memcpy(t, src->terms, (src->last + 1) * sizeof(uint64_t));
	*dst = *src;
	dst->terms = t;
}

static uint64_t
model_term(const struct model *w, uint64_t index)
{
	return index == w->snap_index ? w->snap_term : (index == 0 ? 0 : w->terms[index]);
}

static unsigned int rng_state;

static uint32_t
rnd(uint32_t n)
{
	return (uint32_t) rand_r(&rng_state) % n;
}

/* Check the reopened storage against the model d (durable) and w (written). */
static bool
check_recovered(struct pgr_storage *st, const struct model *d, const struct model *w, bool torn)
{
	struct pgr_storage_state s;
	uint64_t expect_commit;
	bool ok = true;

	if (pgr_storage_load(st, &pgr_libc_allocator, &s) != PGR_STORAGE_OK)
	{
		fprintf(stderr, "    load: %s\n", pgr_storage_last_error(st)->msg);
		return false;
	}
	if ((d->snap_index > 0) != s.has_snapshot ||
		(s.has_snapshot &&
		 (s.snapshot.meta.index != d->snap_index || s.snapshot.meta.term != d->snap_term)))
		ok = false;
	if (!torn)
	{
		ok = ok && s.n_entries == d->last - d->snap_index;
		ok = ok && s.hs.term == d->hs.term && s.hs.vote == d->hs.vote;
		expect_commit = d->hs.commit < d->snap_index ? d->snap_index : d->hs.commit;
		expect_commit = expect_commit > d->last ? d->last : expect_commit;
		ok = ok && s.hs.commit == expect_commit;
	}
	else
	{
		ok = ok && s.n_entries >= d->last - d->snap_index && s.n_entries <= w->last - d->snap_index;
		ok = ok && ((s.hs.term == d->hs.term && s.hs.vote == d->hs.vote) ||
					(s.hs.term == w->hs.term && s.hs.vote == w->hs.vote));
	}
	for (size_t i = 0; ok && i < s.n_entries; i++)
	{
		uint64_t index = d->snap_index + 1 + i;

		ok = tu_entry_ok(&s.entries[i], index, w->terms[index]);
	}
	if (!ok)
		fprintf(stderr,
				"    recovered %zu entries after snapshot %" PRIu64 ", hs %" PRIu64 "/%" PRIu64
				"/%" PRIu64 "; durable last %" PRIu64 " hs %" PRIu64 "/%" PRIu64 "/%" PRIu64
				"; written last %" PRIu64 "\n",
				s.n_entries, s.snapshot.meta.index, s.hs.term, s.hs.vote, s.hs.commit, d->last,
				d->hs.term, d->hs.vote, d->hs.commit, w->last);
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	return ok;
}

/*
 * One batch of a Raft-like workload on st, updating the written model w and,
 * on sync and on truncation, the durable model d.  Returns false on error.
 */
static bool
random_batch(struct pgr_storage *st, struct model *w, struct model *d, uint64_t *term)
{
	bool must_sync = false;
	struct pgr_storage_info info;
	struct pgr_storage_segment_info si;
	uint8_t data[300];
	struct pgr_snapshot snap;
	uint32_t dice = rnd(100);

	if (dice < 3)
	{
		/* Install a leader's snapshot ahead of our log. */
		uint64_t idx = w->last + 1 + rnd(20);

		*term += rnd(2);
		tu_snapshot(&snap, data, rnd(300), idx, *term);
		if (pgr_storage_install_snapshot(st, &snap) != PGR_STORAGE_OK)
			return false;
		w->snap_index = w->last = idx;
		w->snap_term = *term;
		must_sync = true;
	}
	else if (dice < 10 && d->last > w->snap_index && d->last <= w->last)
	{
		/* Compact at a durable index. */
		uint64_t idx = w->snap_index + 1 + rnd((uint32_t) (d->last - w->snap_index));

		tu_snapshot(&snap, data, rnd(300), idx, w->terms[idx]);
		if (pgr_storage_save_snapshot(st, &snap) != PGR_STORAGE_OK ||
			pgr_storage_compact(st, idx) != PGR_STORAGE_OK)
			return false;
		w->snap_index = idx;
		w->snap_term = w->terms[idx];
		must_sync = true;
	}
	if (w->last + 40 < MODEL_MAX)
	{
		uint64_t floor = w->hs.commit > w->snap_index ? w->hs.commit : w->snap_index;
		uint64_t first = w->last + 1;
		uint64_t n = 1 + rnd(30);

		if (rnd(5) == 0 && w->last > floor)
		{
			/* A new leader overwrites an uncommitted suffix. */
			first = floor + 1 + rnd((uint32_t) (w->last - floor));
			(*term)++;
		}
		if (*term < model_term(w, first - 1))
			*term = model_term(w, first - 1);
		if (tu_append(st, first, first + n - 1, *term) != PGR_STORAGE_OK)
			return false;
		if (first <= w->last)
		{
			/*
			 * Truncation is durable at once, and its fdatasync also makes
			 * what the kept part of the segment held durable.
			 */
			for (uint64_t i = d->last + 1; i < first; i++)
				d->terms[i] = w->terms[i];
			d->last = first - 1;
		}
		for (uint64_t i = first; i < first + n; i++)
			w->terms[i] = *term;
		w->last = first + n - 1;
		/* So is a full segment: it is synced before the next one is made. */
		pgr_storage_info(st, &info);
		if (info.n_segments >= 2 &&
			pgr_storage_segment(st, info.n_segments - 2, &si) == PGR_STORAGE_OK &&
			si.last_index > d->last)
		{
			for (uint64_t i = d->last + 1; i <= si.last_index; i++)
				d->terms[i] = w->terms[i];
			d->last = si.last_index;
		}
	}
	if (rnd(2) == 0)
	{
		struct pgr_hard_state hs = w->hs;

		if (hs.term < *term)
		{
			hs.term = *term;
			hs.vote = rnd(4);
		}
		else if (hs.vote == 0)
			hs.vote = rnd(4);
		if (w->last > hs.commit)
			hs.commit += rnd((uint32_t) (w->last - hs.commit + 1));
		if (pgr_storage_set_hard_state(st, &hs) != PGR_STORAGE_OK)
			return false;
		w->hs = hs;
	}
	if (must_sync || rnd(10) < 7)
	{
		struct pgr_hard_state durable_hs = d->hs;

		if (pgr_storage_sync(st) != PGR_STORAGE_OK)
			return false;
		model_copy(d, w);
		/* A hard state that changed only its commit index is not synced. */
		if (w->hs.term == durable_hs.term && w->hs.vote == durable_hs.vote)
			d->hs = durable_hs;
	}
	return true;
}

static void
power_loss_run(bool torn, int cycles)
{
	struct memfs m;
	struct model w = {0};
	struct model d = {0};
	uint64_t term = 1;
	struct pgr_storage *st;
	struct pgr_storage_error err;

	w.terms = calloc(MODEL_MAX, sizeof(uint64_t));
	d.terms = calloc(MODEL_MAX, sizeof(uint64_t));
	memfs_init(&m);
	m.torn = torn;
	m.seed = 7;
	rng_state = torn ? 11 : 5;
	for (int c = 0; c < cycles; c++)
	{
		int batches = 1 + (int) rnd(8);

		st = open_mem(&m, 16384, &err);
		if (st == NULL)
			fprintf(stderr, "    cycle %d: %s\n", c, err.msg);
		CHECK(st != NULL);
		if (!check_recovered(st, &d, &w, torn))
		{
			pgr_storage_close(st);
			test_fail(__FILE__, __LINE__, "cycle %d: recovered state differs from the model", c);
			break;
		}
		if (torn)
		{
			/* Adopt what survived as both models. */
			struct pgr_storage_info info;

			pgr_storage_info(st, &info);
			w.last = info.last_index;
			w.hs = info.hs;
			model_copy(&d, &w);
		}
		else
			model_copy(&w, &d);
		w.hs = d.hs = (struct pgr_hard_state){d.hs.term, d.hs.vote,
											  d.hs.commit > d.last ? d.last : d.hs.commit};
		if (d.hs.commit < d.snap_index)
			w.hs.commit = d.hs.commit = d.snap_index;
		for (int b = 0; b < batches; b++)
			if (!random_batch(st, &w, &d, &term))
			{
				test_fail(__FILE__, __LINE__, "cycle %d: %s", c, pgr_storage_last_error(st)->msg);
				b = batches;
				c = cycles;
			}
		pgr_storage_close(st);
		memfs_power_loss(&m);
	}
	memfs_destroy(&m);
	free(w.terms);
	free(d.terms);
}

static void
test_power_loss_recovers_exactly_the_synced_prefix(void)
{
	power_loss_run(false, 400);
}

static void
test_torn_power_loss_recovers_a_valid_prefix(void)
{
	power_loss_run(true, 400);
}

/* ---------------------------------------------------------------------- */
/* Corrupted files                                                        */
/* ---------------------------------------------------------------------- */

static struct pgr_storage *
open_disk(const char *dir, bool create, bool read_only, struct pgr_storage_error *err)
{
	struct pgr_storage_options o = {0};
	struct pgr_storage *st = NULL;

	o.segment_size = 4096;
	o.create = create;
	o.read_only = read_only;
	if (pgr_storage_open(dir, &o, &st, err) != PGR_STORAGE_OK)
		return NULL;
	return st;
}

struct find_rec
{
	uint64_t index;
	char file[64];
	uint64_t offset;
	uint32_t len;
};

static int
find_rec_cb(void *arg, const char *file, uint64_t offset, const struct pgr_entry *e)
{
	struct find_rec *f = arg;

	if (e->index != f->index)
		return 0;
	snprintf(f->file, sizeof(f->file), "%s", file);
	f->offset = offset;
	f->len = e->len;
	return 1;
}

static bool
locate(const char *dir, uint64_t index, struct find_rec *f)
{
	struct pgr_storage *st = open_disk(dir, false, true, NULL);

	memset(f, 0, sizeof(*f));
	f->index = index;
	if (st == NULL)
		return false;
	pgr_storage_walk(st, find_rec_cb, f);
	pgr_storage_close(st);
	return f->file[0] != '\0';
}

static bool
xor_byte(const char *dir, const char *file, uint64_t off, uint8_t mask)
{
	char path[1024];
	uint8_t b;
	int fd;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return false;
	ok = pread(fd, &b, 1, (off_t) off) == 1;
	b ^= mask;
	ok = ok && pwrite(fd, &b, 1, (off_t) off) == 1;
	close(fd);
	return ok;
}

static char *
make_log(uint64_t n)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_disk(dir, true, false, NULL);

	if (st == NULL || tu_append(st, 1, n, 1) != PGR_STORAGE_OK ||
		pgr_storage_sync(st) != PGR_STORAGE_OK)
	{
		pgr_storage_close(st);
		tu_rmdir(dir);
		return NULL;
	}
	pgr_storage_close(st);
	return dir;
}

static void
test_flipped_byte_mid_log_is_reported_with_file_and_offset(void)
{
	char *dir = make_log(300);
	struct pgr_storage_error err;
	struct pgr_storage *st;
	struct find_rec f;
	char want[128];
	/* Entries in an old segment, and in the newest segment but not last. */
	uint64_t victims[] = {51, 297};

	CHECK(dir != NULL);
	for (size_t v = 0; v < 2; v++)
	{
		for (int where = 0; where < 2; where++)
		{
			/* where 0: a data byte; 1: the term in the record header */
			uint64_t off;

			CHECK(locate(dir, victims[v], &f));
			CHECK(f.len > 0);
			off = f.offset + (where == 0 ? 32 + f.len / 2 : 17);
			CHECK(xor_byte(dir, f.file, off, 0x10));
			CHECK(open_disk(dir, false, false, &err) == NULL);
			CHECK_EQ(err.code, PGR_STORAGE_ECORRUPT);
			CHECK(strstr(err.path, f.file) != NULL);
			CHECK(err.has_offset);
			CHECK_EQ(err.offset, f.offset);
			snprintf(want, sizeof(want), "at offset %" PRIu64, f.offset);
			CHECK(strstr(err.msg, want) != NULL);
			CHECK(strstr(err.msg, where == 0 ? "data checksum" : "header checksum") != NULL);
			CHECK(xor_byte(dir, f.file, off, 0x10));
		}
	}
	/* Repaired: opens, and verify agrees. */
	st = open_disk(dir, false, false, &err);
	CHECK(st != NULL);
	CHECK_EQ(pgr_storage_verify(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	tu_rmdir(dir);
}

static void
test_zeroed_record_header_mid_log_is_corruption(void)
{
	char *dir = make_log(40);
	struct pgr_storage_error err;
	struct find_rec f;
	char path[1024];
	uint8_t zero[32] = {0};
	int fd;

	CHECK(dir != NULL);
	CHECK(locate(dir, 20, &f));
	snprintf(path, sizeof(path), "%s/%s", dir, f.file);
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, zero, 32, (off_t) f.offset) == 32);
	close(fd);
	CHECK(open_disk(dir, false, false, &err) == NULL);
	CHECK_EQ(err.code, PGR_STORAGE_ECORRUPT);
	CHECK_EQ(err.offset, f.offset);
	tu_rmdir(dir);
}

static void
test_truncated_tail_recovers_and_the_log_goes_on(void)
{
	char *dir = make_log(300);
	struct pgr_storage *st;
	struct pgr_storage_info info;
	struct find_rec f;
	char path[1024];

	CHECK(dir != NULL);
	CHECK(locate(dir, 300, &f));
	snprintf(path, sizeof(path), "%s/%s", dir, f.file);
	CHECK(truncate(path, (off_t) f.offset + 40) == 0);
	st = open_disk(dir, false, false, NULL);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.last_index, 299);
	CHECK_EQ(info.torn_offset, f.offset);
	CHECK_EQ(load_canonical(st, 1, term1), 299);
	CHECK_EQ(tu_append(st, 300, 320, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	st = open_disk(dir, false, false, NULL);
	CHECK(st != NULL);
	CHECK_EQ(load_canonical(st, 1, term1), 320);
	pgr_storage_close(st);
	/* Cutting inside an older segment is not a torn tail: refused. */
	CHECK(locate(dir, 30, &f));
	snprintf(path, sizeof(path), "%s/%s", dir, f.file);
	CHECK(truncate(path, (off_t) f.offset + 40) == 0);
	CHECK(open_disk(dir, false, false, NULL) == NULL);
	tu_rmdir(dir);
}

static void
test_damaged_hard_state_slot_falls_back_to_the_other(void)
{
	char *dir = make_log(10);
	struct pgr_storage *st;
	struct pgr_storage_info info;
	struct pgr_storage_error err;
	struct pgr_hard_state hs = {0, 0, 0};
	int cur;

	CHECK(dir != NULL);
	st = open_disk(dir, false, false, NULL);
	CHECK(st != NULL);
	for (uint64_t t = 1; t <= 5; t++)
	{
		hs.term = t;
		CHECK_EQ(pgr_storage_set_hard_state(st, &hs), PGR_STORAGE_OK);
		CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	}
	pgr_storage_info(st, &info);
	cur = info.hs_slot;
	pgr_storage_close(st);
	CHECK(xor_byte(dir, "hardstate", (uint64_t) cur * 512 + 26, 0x01));
	st = open_disk(dir, false, false, NULL);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.hs.term, 4);
	CHECK(!info.hs_slot_valid[cur]);
	/* The next update goes into the damaged slot and repairs it. */
	hs.term = 6;
	CHECK_EQ(pgr_storage_set_hard_state(st, &hs), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	st = open_disk(dir, false, false, NULL);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.hs.term, 6);
	CHECK(info.hs_slot_valid[0] && info.hs_slot_valid[1]);
	pgr_storage_close(st);
	/* Both damaged: a clear failure naming the file. */
	CHECK(xor_byte(dir, "hardstate", 30, 0x01));
	CHECK(xor_byte(dir, "hardstate", 512 + 30, 0x01));
	CHECK(open_disk(dir, false, false, &err) == NULL);
	CHECK_EQ(err.code, PGR_STORAGE_ECORRUPT);
	CHECK(strstr(err.msg, "both hard state slots") != NULL);
	CHECK(strstr(err.path, "hardstate") != NULL);
	tu_rmdir(dir);
}

static void
test_damaged_snapshot_fails_the_open(void)
{
	char *dir = make_log(50);
	struct pgr_storage *st;
	struct pgr_storage_error err;
	struct pgr_snapshot snap;
	uint8_t data[4000];

	CHECK(dir != NULL);
	st = open_disk(dir, false, false, NULL);
	CHECK(st != NULL);
	tu_snapshot(&snap, data, sizeof(data), 40, 1);
	CHECK_EQ(pgr_storage_save_snapshot(st, &snap), PGR_STORAGE_OK);
	pgr_storage_close(st);
	CHECK(xor_byte(dir, "snap-0000000000000028", 3000, 0x80));
	CHECK(open_disk(dir, false, false, &err) == NULL);
	CHECK_EQ(err.code, PGR_STORAGE_ECORRUPT);
	CHECK(strstr(err.path, "snap-0000000000000028") != NULL);
	CHECK(strstr(err.msg, "snapshot body checksum mismatch") != NULL);
	CHECK(xor_byte(dir, "snap-0000000000000028", 3000, 0x80));
	CHECK(xor_byte(dir, "snap-0000000000000028", 20, 0x80));
	CHECK(open_disk(dir, false, false, &err) == NULL);
	CHECK(strstr(err.msg, "snapshot header checksum mismatch") != NULL);
	tu_rmdir(dir);
}

static const struct test_case cases[] = {
	TEST(test_failed_fsync_is_fatal_and_never_retried),
	TEST(test_enospc_fails_the_append_and_leaves_a_clean_log),
	TEST(test_write_error_mid_batch_leaves_nothing_half_written),
	TEST(test_snapshot_write_error_keeps_storage_usable),
	TEST(test_interrupted_install_is_finished_by_recovery),
	TEST(test_open_after_a_process_crash_makes_what_it_read_durable),
	TEST(test_snapshot_is_never_durable_before_its_hard_state),
	TEST(test_power_loss_recovers_exactly_the_synced_prefix),
	TEST(test_torn_power_loss_recovers_a_valid_prefix),
	TEST(test_flipped_byte_mid_log_is_reported_with_file_and_offset),
	TEST(test_zeroed_record_header_mid_log_is_corruption),
	TEST(test_truncated_tail_recovers_and_the_log_goes_on),
	TEST(test_damaged_hard_state_slot_falls_back_to_the_other),
	TEST(test_damaged_snapshot_fails_the_open),
};

TEST_MAIN(cases)
