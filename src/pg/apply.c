/*-------------------------------------------------------------------------
 *
 * apply.c
 *		The worker's application state (src/app's struct pgr_app_state):
 *		applying ready batches, taking it back from a snapshot at restart,
 *		and compacting the log with it.
 *
 * Two copies are kept, of the state and of the key-value store it carries
 * (kvstore.c): as of the applied index, and as of the latest snapshot; and
 * the outcome of every entry still in the log (data, superseded,
 * duplicate..., and what a key-value command did), which
 * pgraft_log_get_entries and the key-value calls read.  Compaction keeps
 * the last pgraft.max_log_entries entries in the log, so its snapshot is
 * older than the applied index; the state at that point is rebuilt by
 * replaying the log from the previous snapshot's state, through the same
 * pgr_app_apply and pgraft_kv_apply_entry the batches use, rather than by
 * undoing entries (there is one way to build the state, forwards).
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "settings.h"
#include "shmem.h"
#include "worker.h"

pg_noreturn static void
app_state_refused(const char *what, enum pgr_err err)
{
	ereport(FATAL,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("pgraft: %s: %s", what, pgr_strerror(err)),
			 errdetail("The worker restarts and rebuilds its state from storage.")));
}

/* The log starts after index (a compaction): forget the outcomes up to it. */
static void
outcomes_start_after(PgraftWorker *w, uint64 index)
{
	Size		drop;

	if (index < w->outcomes_base)
		return;
	drop = Min(w->n_outcomes, (Size) (index + 1 - w->outcomes_base));
	memmove(w->outcomes, w->outcomes + drop, (w->n_outcomes - drop) * sizeof(PgraftOutcome));
	w->n_outcomes -= drop;
	w->outcomes_base = index + 1;
}

/* Room for n more outcomes at the end. */
static PgraftOutcome *
outcomes_reserve(PgraftWorker *w, Size n)
{
	if (w->n_outcomes + n > w->cap_outcomes)
	{
		Size		cap = Max(w->cap_outcomes * 2, w->n_outcomes + n);

		cap = Max(cap, 1024);
		w->outcomes = w->outcomes == NULL ?
			MemoryContextAllocHuge(w->cxt, cap * sizeof(PgraftOutcome)) :
			repalloc_huge(w->outcomes, cap * sizeof(PgraftOutcome));
		w->cap_outcomes = cap;
	}
	return w->outcomes + w->n_outcomes;
}

const PgraftOutcome *
pgraft_apply_outcome(PgraftWorker *w, uint64 index)
{
	if (index < w->outcomes_base || index - w->outcomes_base >= w->n_outcomes)
		return NULL;
	return &w->outcomes[index - w->outcomes_base];
}

/*
 * Decode snapshot data into the state and the store (the snapshot's copies,
 * or the live ones); a FATAL error if it does not decode.
 */
static void
snapshot_decode(PgraftWorker *w, const struct pgr_snapshot *snap, struct pgr_app_state *app,
				struct pgr_kv *kv, const char *what)
{
	const uint8 *blob;
	size_t		blob_len;
	enum pgr_err err = pgr_app_state_decode(snap->data, snap->len, &snap->meta, app,
											&blob, &blob_len);

	if (err != PGR_OK)
		app_state_refused(what, err);
	pgraft_kv_load(w, kv, blob, blob_len);
}

/* "1 (voter), 2 (learner)": a configuration for the log. */
static void
describe_config(const struct pgr_config *c, StringInfo out)
{
	for (uint32 i = 0; i < c->n_members; i++)
		appendStringInfo(out, "%s" UINT64_FORMAT " (%s)", i > 0 ? ", " : "", c->members[i].id,
						 c->members[i].role == PGR_MEMBER_VOTER ? "voter" : "learner");
}

/*
 * A LOG line for each membership change applied here: what changed, and the
 * configuration it made (new, from the entry at index).  Every node logs it
 * as it applies the entry (or a snapshot that carries it), so every node's
 * log tells its history; entries replayed after a restart (at or below the
 * commit index the node started with) were logged before and are not again.
 */
static void
log_membership(PgraftWorker *w, const struct pgr_config *new, uint64 index)
{
	const struct pgr_config *old = &w->logged_config;
	StringInfoData what;
	StringInfoData now;

	if (old->n_members == new->n_members &&
		memcmp(old->members, new->members, new->n_members * sizeof(new->members[0])) == 0)
		return;
	if (index <= w->replay_until)
	{
		/* committed before this start: the last incarnation logged it */
		w->logged_config = *new;
		return;
	}
	initStringInfo(&what);
	for (uint32 i = 0; i < new->n_members; i++)
	{
		const struct pgr_member *m = &new->members[i];
		const struct pgr_member *o = pgr_config_find(old, m->id);
		char		host[PGRAFT_HOST_MAX + 1];
		int			port;

		pgraft_member_addr(m, host, sizeof(host), &port);
		if (o == NULL)
			appendStringInfo(&what, "%snode " UINT64_FORMAT " at %s:%d added as %s", what.len ? "; " : "",
							 m->id, host, port, m->role == PGR_MEMBER_VOTER ? "voter" : "learner");
		else if (o->role != m->role)
			appendStringInfo(&what, "%snode " UINT64_FORMAT " %s", what.len ? "; " : "", m->id,
							 m->role == PGR_MEMBER_VOTER ? "promoted to voter" : "now a learner");
	}
	for (uint32 i = 0; i < old->n_members; i++)
		if (pgr_config_find(new, old->members[i].id) == NULL)
			appendStringInfo(&what, "%snode " UINT64_FORMAT " removed", what.len ? "; " : "",
							 old->members[i].id);
	initStringInfo(&now);
	describe_config(new, &now);
	ereport(LOG,
			(errmsg("pgraft: membership changed at index " UINT64_FORMAT ": %s",
					index, what.len ? what.data : "addresses changed"),
			 errdetail("Members now: %s.", now.len ? now.data : "none")));
	pfree(what.data);
	pfree(now.data);
	w->logged_config = *new;
}

/* The latest snapshot is at index, len bytes: compaction counts from there. */
static void
snapshot_taken(PgraftWorker *w, uint64 index, uint64 len)
{
	w->snapshot_bytes = len;
	w->compact_scanned = index;
	w->compact_bytes = 0;
}

/*
 * Does compacting up to target pay for the snapshot it writes?  Only when
 * the entries it drops (those after the snapshot at snapshot_index) hold at
 * least as many bytes as the latest snapshot: a store much larger than the
 * entries that change it is not rewritten every snapshot_threshold entries
 * (each entry is counted once, as the target moves past it).
 */
static bool
compaction_pays(PgraftWorker *w, uint64 snapshot_index, uint64 target)
{
	if (w->compact_scanned < snapshot_index)
		snapshot_taken(w, snapshot_index, w->snapshot_bytes);
	for (uint64 i = w->compact_scanned + 1; i <= target; i++)
	{
		const struct pgr_entry *e;

		if (pgr_node_entry_at(w->node, i, &e) != PGR_OK)
			break;
		w->compact_bytes += e->len;
		w->compact_scanned = i;
	}
	return w->compact_bytes >= w->snapshot_bytes;
}

/* The APPLY step of a ready batch (core contract 3c). */
void
pgraft_apply_ready(PgraftWorker *w, const struct pgr_ready *rd)
{
	enum pgr_err err;
	enum pgr_app_verdict *vs = NULL;
	PgraftOutcome *out;

	if (rd->snapshot != NULL)
	{
		/* both copies of the store become the snapshot's */
		snapshot_decode(w, rd->snapshot, w->snap_app, w->snap_kv, "installing a snapshot");
		snapshot_decode(w, rd->snapshot, w->snap_app, w->kv, "installing a snapshot");
		ereport(LOG,
				(errmsg("pgraft: installed a snapshot at index " UINT64_FORMAT " term " UINT64_FORMAT " (%zu bytes)",
						rd->snapshot->meta.index, rd->snapshot->meta.term, (size_t) rd->snapshot->len),
				 errdetail("The leader no longer had the entries this node was missing.")));
	}
	if (rd->snapshot != NULL)
	{
		/* the log now starts after the snapshot */
		w->n_outcomes = 0;
		w->outcomes_base = rd->snapshot->meta.index + 1;
		snapshot_taken(w, rd->snapshot->meta.index, rd->snapshot->len);
	}
	if (rd->n_committed > 0)
		vs = palloc(rd->n_committed * sizeof(*vs));
	err = pgr_app_apply_ready(w->app, &w->calls, rd,
							  rd->snapshot != NULL ? w->snap_app : NULL, vs);
	if (err != PGR_OK)
		app_state_refused("applying committed entries", err);
	if (rd->n_committed > 0)
	{
		/*
		 * The entries continue the applied log, so the outcomes do too; the
		 * store applies the commands that count.  The calls they resolved are
		 * answered after this, from these outcomes.
		 */
		out = outcomes_reserve(w, rd->n_committed);
		for (size_t i = 0; i < rd->n_committed; i++)
			pgraft_kv_apply_entry(w, w->kv, &rd->committed[i], vs[i], &out[i]);
		w->n_outcomes += rd->n_committed;
		pfree(vs);
	}
	/* each change on its own line, in log order: a snapshot's, then entries' */
	if (rd->snapshot != NULL)
		log_membership(w, &w->snap_app->config, rd->snapshot->meta.index);
	for (size_t i = 0; i < rd->n_committed; i++)
	{
		const struct pgr_entry *e = &rd->committed[i];

		if (e->type == PGR_ENTRY_CONFIG)
		{
			struct pgr_config *c = palloc(sizeof(*c));

			if (pgr_config_decode(e->data, e->len, c) == PGR_OK)
				log_membership(w, c, e->index);
			pfree(c);
		}
	}
}

/* At start: the state of the stored snapshot, or the empty one. */
void
pgraft_apply_restore(PgraftWorker *w, const struct pgr_snapshot *snap)
{
	pgr_app_state_init(w->snap_app);
	pgraft_kv_load(w, w->snap_kv, NULL, 0);
	pgraft_kv_load(w, w->kv, NULL, 0);
	if (snap != NULL)
	{
		snapshot_decode(w, snap, w->snap_app, w->snap_kv, "the stored snapshot is not recognised");
		snapshot_decode(w, snap, w->snap_app, w->kv, "the stored snapshot is not recognised");
	}
	*w->app = *w->snap_app;
	w->logged_config = w->app->config;
	w->n_outcomes = 0;
	w->outcomes_base = w->app->applied + 1;
	snapshot_taken(w, snap != NULL ? snap->meta.index : 0, snap != NULL ? snap->len : 0);
}

/*
 * Keep the log bounded: once more than max_log_entries + snapshot_threshold
 * entries are applied since the last snapshot, and the entries to drop hold
 * at least as many bytes as the last snapshot (compaction_pays), snapshot
 * and drop all but the last max_log_entries.
 */
void
pgraft_maybe_compact(PgraftWorker *w)
{
	struct pgr_status s;
	uint64		target;
	struct pgr_snapshot snap;
	uint8	   *blob;
	size_t		len;
	uint64		t0;

	pgr_node_status(w->node, &s);
	if (s.applied < s.snapshot_index + (uint64) pgraft_max_log_entries +
		(uint64) pgraft_snapshot_threshold)
		return;
	target = s.applied - (uint64) pgraft_max_log_entries;
	if (!compaction_pays(w, s.snapshot_index, target))
		return;
	t0 = pgraft_clock_ns();

	/* the state at target: the last snapshot's, then the log up to target */
	if (w->snap_app->applied != s.snapshot_index)
		elog(FATAL, "pgraft: the snapshot's application state is at " UINT64_FORMAT ", the snapshot at " UINT64_FORMAT,
			 w->snap_app->applied, s.snapshot_index);
	for (uint64 i = s.snapshot_index + 1; i <= target; i++)
	{
		const struct pgr_entry *e;
		enum pgr_app_verdict v;
		enum pgr_err err = pgr_node_entry_at(w->node, i, &e);

		if (err == PGR_OK)
			err = pgr_app_apply(w->snap_app, e, &v, NULL);
		if (err != PGR_OK)
			app_state_refused("replaying the log for a snapshot", err);
		pgraft_kv_apply_entry(w, w->snap_kv, e, v, NULL);
	}
	blob = palloc_extended(pgr_app_state_encoded_size(w->snap_app, w->snap_kv), MCXT_ALLOC_HUGE);
	pgr_app_state_encode(w->snap_app, w->snap_kv, blob, &len);
	memset(&snap, 0, sizeof(snap));
	pgraft_check_core(pgr_node_compact(w->node, target, blob, len, &snap.meta), "compacting");
	snap.len = len;
	snap.data = blob;
	if (pgr_storage_save_snapshot(w->storage, &snap) != PGR_STORAGE_OK)
		pgraft_storage_failed(w, "saving a snapshot");
	if (pgr_storage_compact(w->storage, target) != PGR_STORAGE_OK)
		pgraft_storage_failed(w, "compacting the log");
	outcomes_start_after(w, target);
	snapshot_taken(w, target, len);
	pfree(blob);
	w->ms.m.snapshots_taken++;
	pgr_hist_observe(&w->ms.m.snapshot_take, PGR_HIST_DURATION,
					 (double) (pgraft_clock_ns() - t0) / 1e9, 1);
	ereport(PGRAFT_DEBUG_LEVEL(),
			(errmsg("pgraft: compacted the log up to index " UINT64_FORMAT, target)));
}
