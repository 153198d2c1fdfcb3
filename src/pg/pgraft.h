/*-------------------------------------------------------------------------
 *
 * pgraft.h
 *		Declarations shared by the PostgreSQL glue: settings, the shared
 *		memory state, the request queue between backends and the worker.
 *
 * Who writes what in shared memory:
 *	- the worker publishes the node's status, the members and their
 *	  progress after every ready batch (PgraftShared fields under "status");
 *	- backends fill request slots, the worker takes them, answers in the
 *	  slot and wakes the backend through the slot's condition variable;
 *	- progress_cv is broadcast whenever commit or applied move, so backends
 *	  waiting for an index need no request at all.
 * Everything is read and written under the one LWLock, held for a handful
 * of field accesses at a time; errors are raised only after releasing it.
 *
 * src/pg/pgraft.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_PG_H
#define PGRAFT_PG_H

#include "storage/condition_variable.h"
#include "storage/dsm.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#include "pgraft/core.h"

/* ---------------------------------------------------------------------- */
/* Settings (pgraft.c)                                                    */
/* ---------------------------------------------------------------------- */

extern int	pgraft_node_id;
extern char *pgraft_address;
extern int	pgraft_port;
extern char *pgraft_cluster_name;
extern int	pgraft_heartbeat_interval;
extern int	pgraft_election_timeout;
extern bool pgraft_worker_enabled;
extern bool pgraft_debug_enabled;
extern int	pgraft_health_period_ms;
extern int	pgraft_snapshot_threshold;
extern int	pgraft_max_log_entries;
extern char *pgraft_data_directory;
extern int	pgraft_max_entry_size;

/* The directory holding this node's Raft state. */
extern const char *pgraft_state_dir(void);

/* ---------------------------------------------------------------------- */
/* Shared memory                                                          */
/* ---------------------------------------------------------------------- */

#define PGRAFT_QUEUE_SLOTS		64
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
	PGRAFT_REQ_READ_INDEX,		/* answer an index that is safe to read at */
	PGRAFT_REQ_GET_ENTRIES		/* copy committed entries into the reply DSM */
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

/* Outcome of a request, turned into an ereport by the backend. */
typedef enum PgraftResult
{
	PGRAFT_RES_OK = 0,
	PGRAFT_RES_ERROR,			/* result_sqlstate and messages say what */
} PgraftResult;

typedef struct PgraftRequest
{
	PgraftSlotState state;
	PgraftRequestType type;
	uint64		id;				/* unique per request, for the log envelope */
	/* arguments */
	int64		arg_node_id;
	char		arg_host[PGRAFT_HOST_MAX + 1];
	int32		arg_port;
	uint64		arg_term;		/* APPEND fence: 0 = any */
	uint64		arg_index;		/* GET_ENTRIES: from */
	int32		arg_count;		/* GET_ENTRIES: at most */
	uint32		payload_len;
	dsm_handle	dsm;			/* DSM_HANDLE_INVALID: payload inline */
	Size		dsm_size;
	/* result */
	PgraftResult result;
	int			result_sqlstate;
	char		result_msg[PGRAFT_MSG_MAX];
	char		result_detail[PGRAFT_MSG_MAX];
	char		result_hint[PGRAFT_MSG_MAX];
	uint64		result_index;
	uint32		result_count;	/* GET_ENTRIES: entries written */
	ConditionVariable cv;
	uint8		inline_payload[PGRAFT_INLINE_PAYLOAD];
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
	uint64		first_index;
	uint64		last_index;
	uint64		commit;
	uint64		applied;
	uint64		snapshot_index;
	uint64		snapshot_term;
	uint64		msgs_processed;
	uint64		heartbeats_sent;
	uint64		elections_started;
	uint64		entries_appended;	/* application entries applied here */
	int			n_members;
	PgraftMemberStatus members[PGR_MAX_MEMBERS];

	/* the request queue */
	uint64		next_request_id;
	uint64		requests_processed;
	uint64		requests_failed;
	PgraftRequest slots[PGRAFT_QUEUE_SLOTS];
} PgraftShared;

extern PgraftShared *pgraft_shared;

extern void pgraft_shmem_init(void);
extern Size pgraft_shmem_size(void);

/* ---------------------------------------------------------------------- */
/* Requests (queue.c)                                                     */
/* ---------------------------------------------------------------------- */

/* What a backend gets back from the worker. */
typedef struct PgraftReply
{
	uint64		index;
	uint32		count;
} PgraftReply;

/*
 * Backend side.  pgraft_request_begin takes a free slot (ERROR if pgraft is
 * not loaded, the worker is not running or the queue is full) and returns a
 * pointer for the caller to fill the arguments; the payload and a reply
 * segment are attached with the two helpers; pgraft_request_run wakes the
 * worker, waits for the answer (honouring query cancel and
 * statement_timeout: a request given up on is abandoned, its outcome
 * unknown), frees the slot and raises the worker's error, if any.
 */
extern PgraftRequest *pgraft_request_begin(PgraftRequestType type);
extern void pgraft_request_set_payload(PgraftRequest *req, const char *data, uint32 len);
extern dsm_segment *pgraft_request_reply_segment(PgraftRequest *req, Size size);
extern void pgraft_request_run(PgraftRequest *req, PgraftReply *reply);

/* Worker side: take pending requests, answer them. */
extern int	pgraft_request_take(int *slots, int max);
extern void pgraft_request_finish(int slot, PgraftResult res, int sqlstate,
								  const char *msg, const char *detail,
								  const char *hint, uint64 index, uint32 count);
extern void pgraft_request_fail_active(const char *msg);

/* Waits on progress_cv until cond holds or timeout_ms passes (-1: forever). */
typedef bool (*pgraft_cond_fn) (void *arg);
extern bool pgraft_wait_for(pgraft_cond_fn cond, void *arg, int timeout_ms);

/* ---------------------------------------------------------------------- */
/* The worker (worker.c)                                                  */
/* ---------------------------------------------------------------------- */

extern PGDLLEXPORT void PgraftWorkerMain(Datum main_arg);

/* Debug logging in the worker: LOG when debug is on, DEBUG1 otherwise. */
#define PGRAFT_DEBUG_LEVEL() (pgraft_shared->debug ? LOG : DEBUG1)

/* ---------------------------------------------------------------------- */
/* Log entry envelope (envelope.c)                                        */
/* ---------------------------------------------------------------------- */

/*
 * Application entries carry who proposed them and in which term, so the
 * proposer recognises its entry when applied, and an entry counts only if
 * the leader appended it in the term it was proposed in: a proposal
 * forwarded across a leader change is then a definite failure, never an
 * unknown outcome.
 */
typedef struct PgraftEnvelope
{
	uint64		origin;			/* proposing node */
	uint64		request_id;		/* its request id */
	uint64		term;			/* term it was proposed in */
	const uint8 *data;			/* the user's payload */
	uint32		len;
} PgraftEnvelope;

#define PGRAFT_ENVELOPE_HEADER 28

extern void pgraft_envelope_write(uint8 *buf, uint64 origin, uint64 request_id,
								  uint64 term);
extern bool pgraft_envelope_read(const uint8 *buf, uint32 len, PgraftEnvelope *out);

/* The member context: "host:port". */
extern bool pgraft_context_parse(const uint8 *ctx, uint32 len, char *host,
								 size_t host_size, int *port);

#endif							/* PGRAFT_PG_H */
