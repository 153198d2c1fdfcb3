/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		pgraft's shared memory: what the worker publishes, and the request
 *		slots between SQL backends and the worker.
 *
 * Who writes what:
 *	- the worker publishes the node's status, the members and their
 *	  progress after every wake-up (status.c);
 *	- backends fill request slots, the worker takes them, answers in the
 *	  slot and wakes the backend through the slot's condition variable
 *	  (queue.c);
 *	- progress_cv is broadcast whenever commit or applied move, so backends
 *	  waiting for an index need no request at all.
 * Everything is read and written under the one LWLock, held for a handful
 * of field accesses at a time; errors are raised only after releasing it.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_SHMEM_H
#define PGRAFT_SHMEM_H

#include "datatype/timestamp.h"
#include "storage/condition_variable.h"
#include "storage/dsm.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#include "pgraft/core.h"
#include "pgraft/metrics.h"
#include "pgraft/wire.h"

#define PGRAFT_INLINE_PAYLOAD	8192	/* larger payloads travel in DSM */
#define PGRAFT_HOST_MAX			255
#define PGRAFT_MSG_MAX			256

typedef enum PgraftWorkerState
{
	PGRAFT_WORKER_STOPPED = 0,	/* not started (or disabled, or exited) */
	PGRAFT_WORKER_STARTING,		/* recovering storage, opening the port */
	PGRAFT_WORKER_RUNNING,
	PGRAFT_WORKER_FAILED		/* a fatal error; the postmaster restarts it */
} PgraftWorkerState;

typedef enum PgraftRequestType
{
	PGRAFT_REQ_INIT = 1,		/* found a one-node cluster */
	PGRAFT_REQ_ADD_NODE,		/* add as learner (promoted automatically) */
	PGRAFT_REQ_REMOVE_NODE,
	PGRAFT_REQ_TRANSFER,		/* hand leadership to arg_node_id */
	PGRAFT_REQ_APPEND,			/* replicate a payload, answer its index */
	PGRAFT_REQ_READ_INDEX,		/* answer an index applied here, safe to read
								 * at */
	PGRAFT_REQ_GET_ENTRIES,		/* copy committed entries into the reply DSM */
	PGRAFT_REQ_FORCE_NEW_CLUSTER,	/* lost majority: this node alone, new id */
	PGRAFT_REQ_KV_WRITE,		/* a key-value command (payload) through the
								 * log; answer what applying it did */
	PGRAFT_REQ_KV_READ,			/* keys of a range into the reply DSM */
	PGRAFT_REQ_KV_DIGEST,		/* the store's applied index and digest */
	PGRAFT_REQ_KV_CHANGES		/* changes from a revision into the reply DSM */
} PgraftRequestType;

typedef enum PgraftSlotState
{
	PGRAFT_SLOT_FREE = 0,
	PGRAFT_SLOT_FILLING,		/* taken by a backend, arguments being written */
	PGRAFT_SLOT_PENDING,		/* filled by a backend, not yet taken */
	PGRAFT_SLOT_ACTIVE,			/* the worker is working on it */
	PGRAFT_SLOT_DONE,			/* answered; the backend frees it */
	PGRAFT_SLOT_ABANDONED		/* the backend gave up; the worker frees it */
} PgraftSlotState;

typedef struct PgraftRequest
{
	PgraftSlotState state;
	PgraftRequestType type;
	/* arguments */
	int64		arg_node_id;
	char		arg_host[PGRAFT_HOST_MAX + 1];
	int32		arg_port;
	uint64		arg_term;		/* APPEND fence: 0 = any */
	uint64		arg_index;		/* GET_ENTRIES: from; KV_CHANGES: from
								 * revision */
	int32		arg_count;		/* GET_ENTRIES, KV_READ: at most (0: all) */
	bool		arg_serializable;	/* KV_READ: this node's state, no barrier */
	int32		arg_timeout_ms; /* the worker ends the request after this */
	uint32		payload_len;
	dsm_handle	dsm;			/* DSM_HANDLE_INVALID: payload inline */
	Size		dsm_size;
	/* result: ok, or an error to raise (sqlstate and messages) */
	bool		result_ok;
	int			result_sqlstate;
	char		result_msg[PGRAFT_MSG_MAX];
	char		result_detail[PGRAFT_MSG_MAX];
	char		result_hint[PGRAFT_MSG_MAX];
	uint64		result_index;
	uint32		result_count;	/* GET_ENTRIES, KV_READ: entries written */
	uint64		result_value;	/* KV_WRITE: what the command counts (keys
								 * deleted, a lease's id or time to live);
								 * KV_READ: bytes the reply needs, if more
								 * than it had */
	bool		result_flag;	/* KV_WRITE: a transaction's comparisons held */
	uint32		result_inline_len;	/* reply bytes the worker wrote into
									 * inline_payload (no reply segment) */
	TimestampTz submitted_at;	/* when the backend marked it PENDING */
	TimestampTz taken_at;		/* when the worker took it (0: not yet) */
	ConditionVariable cv;
	uint8		inline_payload[PGRAFT_INLINE_PAYLOAD];	/* the payload; then a
														 * reply that fits */
} PgraftRequest;

typedef struct PgraftMemberStatus
{
	uint64		id;
	bool		voter;
	char		host[PGRAFT_HOST_MAX + 1];
	int32		port;
	/* leader only (else zero / -1) */
	uint64		match;
	uint64		next;
	int			progress_state; /* enum pgr_progress_state, -1 unknown */
	int64		last_contact_ms;	/* -1 unknown */
	bool		connected;		/* we have a live outgoing connection */
} PgraftMemberStatus;

typedef struct PgraftShared
{
	LWLock	   *lock;
	ConditionVariable progress_cv;

	/* the worker */
	pid_t		worker_pid;
	Latch	   *worker_latch;
	PgraftWorkerState worker_state;
	bool		debug;			/* pgraft_set_debug() / pgraft.debug_enabled */
	char		worker_error[PGRAFT_MSG_MAX];	/* why FAILED */

	/* status, published by the worker */
	bool		initialized;	/* member of a cluster (or founded one) */
	uint8		cluster_id[16];
	uint64		node_id;
	uint64		term;
	uint64		leader;
	int			role;			/* enum pgr_role */
	bool		removed;		/* a leader said this node is not a member */
	uint64		first_index;
	uint64		last_index;
	uint64		last_term;		/* of the entry at last_index */
	uint64		commit;			/* committed AND durable here */
	uint64		applied;
	uint64		snapshot_index;
	uint64		snapshot_term;
	uint64		msgs_processed;
	uint64		heartbeats_sent;
	uint64		pre_votes_started;
	uint64		elections_started;
	uint64		entries_counted;	/* application entries applied here */
	/* the key-value store here (pgraft_kv_status) */
	uint64		kv_revision;
	uint64		kv_applied;
	uint64		kv_keys;
	uint64		kv_bytes;
	uint64		kv_quota;
	uint64		kv_leases;
	int			n_members;
	PgraftMemberStatus members[PGR_MAX_MEMBERS];

	/* connections the transport refused, by enum pgr_wire_refusal */
	uint64		refusals[PGR_WIRE_REFUSE_N];

	/*
	 * Metrics (metrics.c): the worker's own, copied here with the status at
	 * most every PGRAFT_METRICS_PUBLISH_MS; and what the queue counts as
	 * requests come and go, under the lock.
	 */
	struct pgr_metrics metrics;
	uint64		worker_starts;	/* since the postmaster started */
	uint64		proposals_failed;
	uint64		requests_rejected;	/* the queue was full */
	struct pgr_histogram request_queue_wait;
	struct pgr_histogram request_duration;

	/* the request queue */
	uint64		requests_processed;
	uint64		requests_failed;
	PgraftRequest slots[FLEXIBLE_ARRAY_MEMBER]; /* pgraft.max_requests */
} PgraftShared;

/*
 * Reads (read barriers, log reads) may hold at most this many of the
 * pgraft_max_requests slots: the rest stay free for writes and membership
 * changes, so that no flood of readers can keep an administrator out.
 */
#define PGRAFT_READ_SLOTS() (pgraft_max_requests - Max(pgraft_max_requests / 4, 1))

extern PgraftShared *pgraft_shared;

extern void pgraft_shmem_init(void);
extern Size pgraft_shmem_size(void);

/* Debug logging in the worker: LOG when debug is on, DEBUG1 otherwise. */
#define PGRAFT_DEBUG_LEVEL() (pgraft_shared->debug ? LOG : DEBUG1)

#endif							/* PGRAFT_SHMEM_H */
