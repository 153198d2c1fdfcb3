/*-------------------------------------------------------------------------
 *
 * apply.c
 *		The worker's application state (src/app's struct pgr_app_state):
 *		applying ready batches, taking it back from a snapshot at restart,
 *		and compacting the log with it.
 *
 * Two copies are kept: the state as of the applied index, and the state as
 * of the latest snapshot.  Compaction keeps the last pgraft.max_log_entries
 * entries in the log, so its snapshot is older than the applied index; the
 * state at that point is rebuilt by replaying the log from the previous
 * snapshot's state, through the same pgr_app_apply the batches use, rather
 * than by undoing entries (there is one way to build the state, forwards).
 *
 * src/pg/apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "settings.h"
#include "shmem.h"
#include "worker.h"

static void pg_attribute_noreturn()
app_state_refused(const char *what, enum pgr_err err)
{
	ereport(FATAL,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("pgraft: %s: %s", what, pgr_strerror(err)),
			 errdetail("The worker restarts and rebuilds its state from storage.")));
}

/* The APPLY step of a ready batch (core contract 3c). */
void
pgraft_apply_ready(PgraftWorker *w, const struct pgr_ready *rd)
{
	enum pgr_err err;

	if (rd->snapshot != NULL)
	{
		err = pgr_app_state_decode(rd->snapshot->data, rd->snapshot->len,
								   &rd->snapshot->meta, w->snap_app);
		if (err != PGR_OK)
			app_state_refused("installing a snapshot", err);
		ereport(PGRAFT_DEBUG_LEVEL(),
				(errmsg("pgraft: installed snapshot at index " UINT64_FORMAT " term " UINT64_FORMAT,
						rd->snapshot->meta.index, rd->snapshot->meta.term)));
	}
	err = pgr_app_apply_ready(w->app, &w->calls, rd,
							  rd->snapshot != NULL ? w->snap_app : NULL, NULL);
	if (err != PGR_OK)
		app_state_refused("applying committed entries", err);
}

/* At start: the state of the stored snapshot, or the empty one. */
void
pgraft_apply_restore(PgraftWorker *w, const struct pgr_snapshot *snap)
{
	enum pgr_err err;

	pgr_app_state_init(w->snap_app);
	if (snap != NULL)
	{
		err = pgr_app_state_decode(snap->data, snap->len, &snap->meta, w->snap_app);
		if (err != PGR_OK)
			ereport(FATAL,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("pgraft: the snapshot's application state is not recognised: %s",
							pgr_strerror(err))));
	}
	*w->app = *w->snap_app;
}

/*
 * Keep the log bounded: once more than max_log_entries + snapshot_threshold
 * entries are applied since the last snapshot, snapshot and drop all but the
 * last max_log_entries.
 */
void
pgraft_maybe_compact(PgraftWorker *w)
{
	struct pgr_status s;
	uint64		target;
	struct pgr_snapshot snap;
	uint8	   *blob;
	size_t		len;

	pgr_node_status(w->node, &s);
	if (s.applied < s.snapshot_index + (uint64) pgraft_max_log_entries +
		(uint64) pgraft_snapshot_threshold)
		return;
	target = s.applied - (uint64) pgraft_max_log_entries;

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
	}
	blob = palloc(pgr_app_state_encoded_size(w->snap_app));
	pgr_app_state_encode(w->snap_app, blob, &len);
	memset(&snap, 0, sizeof(snap));
	pgraft_check_core(pgr_node_compact(w->node, target, blob, len, &snap.meta), "compacting");
	snap.len = len;
	snap.data = blob;
	if (pgr_storage_save_snapshot(w->storage, &snap) != PGR_STORAGE_OK)
		pgraft_storage_failed(w, "saving a snapshot");
	if (pgr_storage_compact(w->storage, target) != PGR_STORAGE_OK)
		pgraft_storage_failed(w, "compacting the log");
	pfree(blob);
	ereport(PGRAFT_DEBUG_LEVEL(),
			(errmsg("pgraft: compacted the log up to index " UINT64_FORMAT, target)));
}
