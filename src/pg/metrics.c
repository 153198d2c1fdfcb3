/*-------------------------------------------------------------------------
 *
 * metrics.c
 *		The worker's measurements, their copy in shared memory, the one
 *		function that reads them back, and pgraft_stat() (metrics.h).
 *
 * What is measured where:
 *	- every durability call of the Raft storage, through a storage backend
 *	  that is pgr_posix_vfs with its sync timed (the storage's one fsync
 *	  function, so none is missed);
 *	- each synced batch's entries and bytes, entries appended and applied,
 *	  snapshots taken and installed (worker.c, apply.c);
 *	- commit latency on the leader: the entries a wake-up appended are
 *	  marked with the time the wake-up began, and observed when a later
 *	  wake-up publishes a commit index at or past them; a leader that loses
 *	  its leadership forgets its marks (another leader commits them);
 *	- per peer, bytes, messages, reconnects and the heartbeat round trip
 *	  (transport.c); lag and last contact from the leader's progress;
 *	- SQL requests in the queue (queue.c), under the lock as they finish.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
#include "utils/wait_event.h"

#include "compat.h"
#include "metrics.h"
#include "settings.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(pgraft_stat);

/* ---------------------------------------------------------------------- */
/* Wait events                                                            */
/* ---------------------------------------------------------------------- */

#ifdef PGRAFT_HAVE_CUSTOM_WAIT_EVENTS
static uint32
wait_event(uint32 *cache, const char *name)
{
	if (*cache == 0)
		*cache = WaitEventExtensionNew(name);
	return *cache;
}
#define PGRAFT_WAIT_EVENT(name) \
	do { static uint32 we = 0; return wait_event(&we, name); } while (0)
#else
#define PGRAFT_WAIT_EVENT(name) return PG_WAIT_EXTENSION
#endif

uint32
pgraft_wait_event_main(void)
{
	PGRAFT_WAIT_EVENT("PgraftWorkerMain");
}

uint32
pgraft_wait_event_request(void)
{
	PGRAFT_WAIT_EVENT("PgraftRequest");
}

uint32
pgraft_wait_event_log(void)
{
	PGRAFT_WAIT_EVENT("PgraftLogWait");
}

/* ---------------------------------------------------------------------- */
/* The clock                                                              */
/* ---------------------------------------------------------------------- */

uint64
pgraft_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64) ts.tv_sec * 1000000000 + (uint64) ts.tv_nsec;
}

/* ---------------------------------------------------------------------- */
/* The timed storage backend                                              */
/* ---------------------------------------------------------------------- */

static int
timed_sync(void *ctx, int fd, bool metadata)
{
	PgraftMetricsState *ms = ctx;
	uint64		t0 = pgraft_clock_ns();
	int			rc = pgr_posix_vfs.sync(NULL, fd, metadata);

	pgr_hist_observe(&ms->m.fsync, PGR_HIST_LATENCY,
					 (double) (pgraft_clock_ns() - t0) / 1e9, 1);
	return rc;
}

void
pgraft_metrics_storage_options(PgraftMetricsState *ms, struct pgr_storage_options *opts)
{
	ms->vfs = pgr_posix_vfs;
	ms->vfs.sync = timed_sync;
	opts->vfs = &ms->vfs;
	opts->vfs_ctx = ms;
}

/* ---------------------------------------------------------------------- */
/* Commit latency                                                         */
/* ---------------------------------------------------------------------- */

void
pgraft_metrics_appended(PgraftMetricsState *ms, uint64 last_index, uint64 n)
{
	PgraftCommitMark *last;

	if (n == 0)
		return;
	last = ms->n_marks > 0 ?
		&ms->marks[(ms->marks_head + ms->n_marks - 1) % PGRAFT_COMMIT_MARKS] : NULL;
	/* the same wake-up, or no room: one mark grows (its time is the older) */
	if (last != NULL && (last->at_ns == ms->wake_ns || ms->n_marks == PGRAFT_COMMIT_MARKS))
	{
		last->last_index = last_index;
		last->n += n;
		return;
	}
	last = &ms->marks[(ms->marks_head + ms->n_marks) % PGRAFT_COMMIT_MARKS];
	last->last_index = last_index;
	last->n = n;
	last->at_ns = ms->wake_ns;
	ms->n_marks++;
}

void
pgraft_metrics_committed(PgraftMetricsState *ms, uint64 commit, bool leader)
{
	uint64		now;

	if (!leader)
	{
		ms->n_marks = 0;
		return;
	}
	if (ms->n_marks == 0 || ms->marks[ms->marks_head].last_index > commit)
		return;
	now = pgraft_clock_ns();
	while (ms->n_marks > 0 && ms->marks[ms->marks_head].last_index <= commit)
	{
		PgraftCommitMark *mk = &ms->marks[ms->marks_head];

		pgr_hist_observe(&ms->m.commit_latency, PGR_HIST_LATENCY,
						 (double) (now - mk->at_ns) / 1e9, mk->n);
		ms->marks_head = (ms->marks_head + 1) % PGRAFT_COMMIT_MARKS;
		ms->n_marks--;
	}
}

/* ---------------------------------------------------------------------- */
/* Shared memory                                                          */
/* ---------------------------------------------------------------------- */

/* Everything up to the peers, and the peers in use. */
static void
copy_metrics(struct pgr_metrics *dst, const struct pgr_metrics *src)
{
	memcpy(dst, src, offsetof(struct pgr_metrics, peers));
	memcpy(dst->peers, src->peers, src->n_peers * sizeof(src->peers[0]));
}

void
pgraft_metrics_copy_out(const struct pgr_metrics *m)
{
	copy_metrics(&pgraft_shared->metrics, m);
}

void
pgraft_metrics_collect(struct pgr_metrics *out)
{
	uint64		queued = 0;
	uint64		pending = 0;

	LWLockAcquire(pgraft_shared->lock, LW_SHARED);
	copy_metrics(out, &pgraft_shared->metrics);
	for (int i = 0; i < pgraft_max_requests; i++)
	{
		const PgraftRequest *r = &pgraft_shared->slots[i];

		if (r->state == PGRAFT_SLOT_FREE)
			continue;
		queued++;
		if ((r->type == PGRAFT_REQ_APPEND || r->type == PGRAFT_REQ_KV_WRITE) &&
			(r->state == PGRAFT_SLOT_PENDING || r->state == PGRAFT_SLOT_ACTIVE))
			pending++;
	}
	out->requests_queued = queued;
	out->proposals_pending = pending;
	out->request_slots = (uint64) pgraft_max_requests;
	out->proposals_failed = pgraft_shared->proposals_failed;
	out->requests_processed = pgraft_shared->requests_processed;
	out->requests_failed = pgraft_shared->requests_failed;
	out->requests_rejected = pgraft_shared->requests_rejected;
	out->request_queue_wait = pgraft_shared->request_queue_wait;
	out->request_duration = pgraft_shared->request_duration;
	out->worker_running = pgraft_shared->worker_state == PGRAFT_WORKER_RUNNING;
	out->worker_restarts = pgraft_shared->worker_starts > 0 ? pgraft_shared->worker_starts - 1 : 0;
	LWLockRelease(pgraft_shared->lock);
}

/* ---------------------------------------------------------------------- */
/* pgraft_stat()                                                          */
/* ---------------------------------------------------------------------- */

typedef struct StatRows
{
	ReturnSetInfo *rsinfo;
	const char *help;			/* of the current family */
} StatRows;

static void
stat_family(void *arg, const char *name, enum pgr_metric_type type, const char *help)
{
	((StatRows *) arg)->help = help;
}

static void
stat_sample(void *arg, const char *name, enum pgr_metric_type type, const char *labels,
			double value)
{
	StatRows   *r = arg;
	Datum		values[5];
	bool		nulls[5] = {0};

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(labels);
	values[2] = Float8GetDatum(value);
	values[3] = CStringGetTextDatum(pgr_metric_type_name(type));
	values[4] = CStringGetTextDatum(r->help);
	tuplestore_putvalues(r->rsinfo->setResult, r->rsinfo->setDesc, values, nulls);
}

/* Every metric the endpoint shows, as rows (metric, labels, value, type, help). */
Datum
pgraft_stat(PG_FUNCTION_ARGS)
{
	StatRows	rows;
	struct pgr_metrics_sink sink = {stat_family, stat_sample, &rows};
	struct pgr_metrics *m;

	if (pgraft_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgraft is not loaded"),
				 errhint("Add pgraft to shared_preload_libraries in postgresql.conf and restart the server.")));
	InitMaterializedSRF(fcinfo, 0);
	rows.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	rows.help = "";
	m = palloc0(sizeof(*m));
	pgraft_metrics_collect(m);
	pgr_metrics_emit(m, &sink);
	pfree(m);
	return (Datum) 0;
}
