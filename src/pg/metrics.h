/*-------------------------------------------------------------------------
 *
 * metrics.h
 *		The worker's metrics (include/pgraft/metrics.h) in PostgreSQL: what
 *		the worker records, how it publishes them, and the Prometheus
 *		endpoint it serves.
 *
 * The worker fills its own struct pgr_metrics as it works (fsyncs through
 * a timing storage backend, batches, commits, snapshots, elections; the
 * transport its peers) and copies it into shared memory with its status.
 * pgraft_metrics_collect() is the one reader: the SQL function pgraft_stat()
 * and the endpoint both render what it returns, so they agree by
 * construction.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/metrics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_PG_METRICS_H
#define PGRAFT_PG_METRICS_H

#include "storage/latch.h"

#include "pgraft/metrics.h"
#include "pgraft/storage.h"

/* Copies into shared memory at most this often; scrapes read that copy. */
#define PGRAFT_METRICS_PUBLISH_MS	50

/* Entries a leader appended in one wake-up, waiting to be committed. */
typedef struct PgraftCommitMark
{
	uint64		last_index;
	uint64		n;
	uint64		at_ns;
} PgraftCommitMark;

#define PGRAFT_COMMIT_MARKS 1024

typedef struct PgraftMetricsState
{
	struct pgr_metrics m;		/* the worker's; peers are filled at publish */
	uint64		wake_ns;		/* when this wake-up began */
	uint64		last_publish_ns;
	uint64		last_leader;	/* for leader changes: the last known one */
	PgraftCommitMark marks[PGRAFT_COMMIT_MARKS];	/* a ring */
	int			marks_head;
	int			n_marks;
	struct pgr_vfs vfs;			/* pgr_posix_vfs, its sync timed */
} PgraftMetricsState;

/*
 * The wait events pgraft's waits show in pg_stat_activity: the worker's
 * loop, a backend waiting for the worker's answer, a backend waiting for an
 * index to be committed or applied.  "Extension" before PostgreSQL 17.
 */
extern uint32 pgraft_wait_event_main(void);
extern uint32 pgraft_wait_event_request(void);
extern uint32 pgraft_wait_event_log(void);

/* The monotonic clock of the measurements, in nanoseconds. */
extern uint64 pgraft_clock_ns(void);

/* The storage backend to open the Raft storage with: fsyncs are timed. */
extern void pgraft_metrics_storage_options(PgraftMetricsState *ms,
										   struct pgr_storage_options *opts);

/* A leader's batch appended n entries up to last_index (this wake-up's). */
extern void pgraft_metrics_appended(PgraftMetricsState *ms, uint64 last_index, uint64 n);

/* Commit reached commit (leader); not leader any more: forget the marks. */
extern void pgraft_metrics_committed(PgraftMetricsState *ms, uint64 commit, bool leader);

/* Copy ms->m into shared memory (caller holds pgraft_shared->lock). */
extern void pgraft_metrics_copy_out(const struct pgr_metrics *m);

/* Everything, as of now, for pgraft_stat() and the endpoint. */
extern void pgraft_metrics_collect(struct pgr_metrics *out);

/* The endpoint (metrics_http.c), in the worker's wait set. */
extern void pgraft_metrics_http_start(void);
extern void pgraft_metrics_http_stop(void);
extern void pgraft_metrics_http_tick(void);
extern int	pgraft_metrics_http_n_events(void);
extern void pgraft_metrics_http_add_events(WaitEventSet *ws);
extern void pgraft_metrics_http_update_events(WaitEventSet *ws);

/* Requests the endpoint answered since the worker started. */
extern uint64 pgraft_metrics_http_scrapes(void);

/* True if ev was the endpoint's (and was handled). */
extern bool pgraft_metrics_http_handle_event(const WaitEvent *ev);

#endif							/* PGRAFT_PG_METRICS_H */
