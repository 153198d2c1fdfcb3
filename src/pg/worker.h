/*-------------------------------------------------------------------------
 *
 * worker.h
 *		The pgraft worker's state and the functions its files share.
 *
 * One struct PgraftWorker holds everything the worker knows; it is passed
 * explicitly.  The files, one concern each:
 *		worker.c	the loop: its phases and the contract with the core
 *		node.c		the node and its storage: open, restart, adopt, move a
 *					foreign state aside; the identity file
 *		requests.c	requests from shared memory into calls (src/app), and
 *					their outcomes back as answers or errors
 *		apply.c		the application state: applying ready batches,
 *					snapshots in and out, compaction
 *		status.c	what the worker publishes for SQL, and the health log
 *		transport.c	TCP between nodes (transport.h)
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_WORKER_H
#define PGRAFT_WORKER_H

#include "storage/dsm.h"
#include "utils/timestamp.h"

#include "pgraft/app.h"
#include "pgraft/core.h"
#include "pgraft/kv.h"
#include "pgraft/storage.h"
#include "compat.h"
#include "metrics.h"
#include "shmem.h"

/* Who this node is and which cluster it belongs to (the identity file). */
typedef struct PgraftIdentity
{
	bool		initialized;	/* a cluster id is set */
	uint8		cluster_id[16];
	uint64		node_id;
} PgraftIdentity;

/* What applying made of one entry still in the log (apply.c, kvstore.c). */
typedef struct PgraftOutcome
{
	uint8		verdict;		/* enum pgr_app_verdict */
	bool		kv;				/* a key-value command that counted: */
	uint8		kv_status;		/* enum pgr_kv_status */
	bool		kv_succeeded;	/* a transaction's comparisons held */
	uint64		kv_revision;	/* the store's revision after it */
	uint64		kv_value;		/* keys deleted; a grant: the lease; a
								 * keepalive: its time to live (ms) */
} PgraftOutcome;

/* The leader's own proposals to the store: lease expiry, the quota. */
#define PGRAFT_KV_DUTIES 32

typedef struct PgraftKvDuty
{
	bool		busy;			/* its call (tag pgraft_max_requests + i) is
								 * on */
	bool		quota;			/* a quota command (else a revocation) */
	uint64		deadline_ms;	/* past it (and a second), the duty is dropped */
	uint8		cmd[PGR_KV_LEASE_CMD_SIZE];
} PgraftKvDuty;

typedef struct PgraftWorker
{
	MemoryContext cxt;
	struct pgr_allocator alloc; /* the core's and the calls' memory */
	struct pgr_node *node;
	struct pgr_storage *storage;
	PgraftIdentity identity;
	char		state_dir[MAXPGPATH];
	char		raft_dir[MAXPGPATH];
	int			tick_ms;
	uint64		incarnation;	/* grows with every start (call ids) */

	/*
	 * The application state as of applied, and as of the latest snapshot
	 * (compaction replays the log from there to its target).
	 */
	struct pgr_app_state *app;
	struct pgr_app_state *snap_app;

	/*
	 * A compaction writes the whole state: it waits until the entries it
	 * drops hold at least as many bytes as the latest snapshot
	 * (snapshot_bytes).  compact_bytes counts the bytes of the entries past
	 * the snapshot up to compact_scanned, as compaction's target moves.
	 */
	uint64		snapshot_bytes;
	uint64		compact_scanned;
	uint64		compact_bytes;

	/*
	 * The key-value store as of applied (it answers reads), and as of the
	 * latest snapshot (compaction rolls it forward with snap_app); the
	 * leader's lease deadlines; the duties the leader proposes.
	 */
	struct pgr_kv *kv;
	struct pgr_kv *snap_kv;
	struct pgr_kv_history history;	/* the live store's changes, for watches */
	struct pgr_lease_clock leases;
	uint64		leases_synced;	/* the store's applied index at the last sync */
	PgraftKvDuty duties[PGRAFT_KV_DUTIES];

	/*
	 * What applying made of each entry still in the log, for
	 * pgraft_log_get_entries to show exactly what counts and for a key-value
	 * call to learn its result: outcomes[i] is index outcomes_base + i, up to
	 * the applied one.
	 */
	PgraftOutcome *outcomes;
	uint64		outcomes_base;
	Size		n_outcomes;
	Size		cap_outcomes;
	struct pgr_calls calls;
	dsm_segment **payload_segs; /* per slot: kept while an append with a large
								 * payload is pending */
	int		   *slot_buf;		/* pgraft_max_requests slot numbers */

	uint64		peers_config_index; /* configuration the transport dials */
	int			founding_slot;	/* INIT or FORCE_NEW_CLUSTER, answered once
								 * persisted with founding_index; or -1 */
	uint64		founding_index;
	uint64		last_term;		/* for the log */
	uint64		last_leader;
	int			last_role;
	uint64		last_transferee;	/* the leader's transfer target, if any */
	struct pgr_config logged_config;	/* membership as last logged */
	uint64		replay_until;	/* commit index at start: applied before */
	bool		stopping;		/* SIGTERM: handing leadership over, then exit */
	struct pgr_handover handover;
	PgraftMetricsState ms;
} PgraftWorker;

extern PGDLLEXPORT void PgraftWorkerMain(Datum main_arg);

/* The worker's clock for deadlines: milliseconds since some start. */
extern uint64 pgraft_now_ms(void);

/* node.c */
extern void pgraft_node_setup(PgraftWorker *w);
extern void pgraft_node_close(PgraftWorker *w);
extern bool pgraft_node_adoptable(PgraftWorker *w);
extern void pgraft_node_adopt(PgraftWorker *w, const uint8 *cluster_id, uint64 by);
extern void pgraft_node_found(PgraftWorker *w, const struct pgr_config *conf);
extern void pgraft_node_new_identity(PgraftWorker *w);
extern void pgraft_identity_format(const uint8 *cluster_id, char *out, size_t size);
extern void pgraft_member_addr(const struct pgr_member *m, char *host, size_t size, int *port);
extern void pgraft_format_context(const char *host, int port, uint8 *ctx, uint32 *len);
extern bool pgraft_context_parse(const uint8 *ctx, uint32 len, char *host,
								 size_t host_size, int *port);
extern void pgraft_worker_set_state(int state, const char *why);
pg_noreturn extern void pgraft_core_failed(const char *what, enum pgr_err err);
pg_noreturn extern void pgraft_storage_failed(PgraftWorker *w, const char *what);
extern enum pgr_err pgraft_check_core(enum pgr_err err, const char *what);

/* requests.c */
extern void pgraft_requests_take(PgraftWorker *w);
extern void pgraft_requests_start_probes(PgraftWorker *w);
extern void pgraft_requests_answer(PgraftWorker *w);
extern void pgraft_requests_end_all(PgraftWorker *w, int except_slot, const char *why);

/* apply.c */
extern void pgraft_apply_ready(PgraftWorker *w, const struct pgr_ready *rd);
extern void pgraft_apply_restore(PgraftWorker *w, const struct pgr_snapshot *snap);
extern void pgraft_maybe_compact(PgraftWorker *w);
extern const PgraftOutcome *pgraft_apply_outcome(PgraftWorker *w, uint64 index);

/* kvstore.c */
extern void pgraft_kv_init(PgraftWorker *w);
extern void pgraft_kv_load(PgraftWorker *w, struct pgr_kv *kv, const uint8 *blob, size_t len);
extern void pgraft_kv_apply_entry(PgraftWorker *w, struct pgr_kv *kv, const struct pgr_entry *e,
								  enum pgr_app_verdict v, PgraftOutcome *out);
extern void pgraft_kv_duties(PgraftWorker *w);
extern bool pgraft_kv_duty_done(PgraftWorker *w, const struct pgr_call_done *d);
extern void pgraft_kv_take_read(PgraftWorker *w, int slot);
extern void pgraft_kv_take_digest(PgraftWorker *w, int slot);
extern void pgraft_kv_take_changes(PgraftWorker *w, int slot);
extern void pgraft_kv_reload(PgraftWorker *w);
extern void pgraft_kv_answer(PgraftWorker *w, int slot, uint64 index);
extern void pgraft_kv_publish(PgraftWorker *w);

/* status.c */
extern void pgraft_status_publish(PgraftWorker *w);
extern void pgraft_status_log_changes(PgraftWorker *w);
extern void pgraft_status_health(PgraftWorker *w);

#endif							/* PGRAFT_WORKER_H */
