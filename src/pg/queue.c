/*-------------------------------------------------------------------------
 *
 * queue.c
 *		The request queue between SQL backends and the pgraft worker.
 *
 * A request lives in a shared-memory slot: FREE -> FILLING (a backend writes
 * the arguments) -> PENDING (the worker's latch is set) -> ACTIVE (the
 * worker took it) -> DONE (answered; the backend reads and frees it).  A
 * backend that is cancelled or times out while waiting marks its slot
 * ABANDONED; the worker then ends the request (it stops working on it) and
 * frees the slot.  Payloads larger than
 * the inline buffer travel in a DSM segment the backend creates; the worker
 * copies them out as soon as it takes the request.  A reply that fits (a
 * read's records) comes back in the same inline buffer, and larger ones in
 * a reply segment the backend creates when the worker says it needs one.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "metrics.h"
#include "queue.h"
#include "settings.h"

/* Backend-local: the segments of the request in progress (one at a time). */
static dsm_segment *payload_seg = NULL;

void
pgraft_require_loaded(void)
{
	if (pgraft_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgraft is not loaded"),
				 errhint("Add pgraft to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* Reads hold at most PGRAFT_READ_SLOTS() slots (see shmem.h). */
static bool
request_is_read(PgraftRequestType type)
{
	return type == PGRAFT_REQ_READ_INDEX || type == PGRAFT_REQ_GET_ENTRIES ||
		type == PGRAFT_REQ_KV_READ || type == PGRAFT_REQ_KV_DIGEST ||
		type == PGRAFT_REQ_KV_CHANGES;
}

PgraftRequest *
pgraft_request_begin(PgraftRequestType type)
{
	PgraftRequest *req = NULL;
	PgraftWorkerState ws;
	int			reads = 0;
	bool		read = request_is_read(type);

	pgraft_require_loaded();
	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	ws = pgraft_shared->worker_state;
	if (ws == PGRAFT_WORKER_RUNNING)
	{
		int			free_slot = -1;

		/* a write takes the first free slot; a read counts the reads first */
		for (int i = 0; i < pgraft_max_requests; i++)
		{
			PgraftRequest *r = &pgraft_shared->slots[i];

			if (r->state == PGRAFT_SLOT_FREE)
			{
				if (free_slot < 0)
					free_slot = i;
				if (!read)
					break;
			}
			else if (read && request_is_read(r->type))
				reads++;
		}
		if (free_slot >= 0 && (!read || reads < PGRAFT_READ_SLOTS()))
		{
			req = &pgraft_shared->slots[free_slot];
			req->state = PGRAFT_SLOT_FILLING;
			req->type = type;
			req->taken_at = 0;
		}
		else
			pgraft_shared->requests_rejected++;
	}
	LWLockRelease(pgraft_shared->lock);

	if (ws != PGRAFT_WORKER_RUNNING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the pgraft worker is not running"),
				 errhint("Check pgraft_get_worker_state(), pgraft.worker_enabled and the server log.")));
	if (req == NULL && read && reads >= PGRAFT_READ_SLOTS())
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("pgraft request queue is full for reads"),
				 errdetail("Reads (read barriers, and reading the log or the key-value store) may hold %d of the %d request slots (pgraft.max_requests), and hold them all; the other slots are kept for writes and membership changes.",
						   PGRAFT_READ_SLOTS(), pgraft_max_requests),
				 errhint("Retry, make fewer concurrent reads, or raise pgraft.max_requests (takes a restart).")));
	if (req == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("pgraft request queue is full"),
				 errdetail("All %d request slots (pgraft.max_requests) are in use.",
						   pgraft_max_requests),
				 errhint("Retry, use fewer concurrent sessions calling pgraft, or raise pgraft.max_requests (takes a restart).")));

	req->arg_node_id = 0;
	req->arg_host[0] = '\0';
	req->arg_port = 0;
	req->arg_term = 0;
	req->arg_index = 0;
	req->arg_count = 0;
	req->arg_serializable = false;
	req->arg_timeout_ms = pgraft_request_timeout;
	req->payload_len = 0;
	req->dsm = DSM_HANDLE_INVALID;
	req->dsm_size = 0;
	req->result_ok = true;
	req->result_sqlstate = 0;
	req->result_msg[0] = req->result_detail[0] = req->result_hint[0] = '\0';
	req->result_index = 0;
	req->result_count = 0;
	req->result_inline_len = 0;
	payload_seg = NULL;
	return req;
}

/*
 * Abandon a slot we took (error before or while waiting).  True if the
 * worker was working on it: what it did may then still take effect.
 */
static bool
abandon(PgraftRequest *req)
{
	bool		active = false;

	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	switch (req->state)
	{
		case PGRAFT_SLOT_FILLING:
		case PGRAFT_SLOT_PENDING:
		case PGRAFT_SLOT_DONE:
			req->state = PGRAFT_SLOT_FREE;
			break;
		case PGRAFT_SLOT_ACTIVE:
			req->state = PGRAFT_SLOT_ABANDONED;
			active = true;
			break;
		default:
			break;
	}
	LWLockRelease(pgraft_shared->lock);
	if (active && pgraft_shared->worker_latch != NULL)
		SetLatch(pgraft_shared->worker_latch);
	return active;
}

/* Requests whose effect outlives a caller that gives up half way. */
static bool
has_effect(PgraftRequestType type)
{
	return type == PGRAFT_REQ_APPEND || type == PGRAFT_REQ_KV_WRITE ||
		type == PGRAFT_REQ_ADD_NODE ||
		type == PGRAFT_REQ_REMOVE_NODE || type == PGRAFT_REQ_TRANSFER ||
		type == PGRAFT_REQ_FORCE_NEW_CLUSTER;
}

void
pgraft_request_set_payload(PgraftRequest *req, const char *data, uint32 len)
{
	req->payload_len = len;
	if (len <= PGRAFT_INLINE_PAYLOAD)
	{
		memcpy(req->inline_payload, data, len);
		return;
	}
	PG_TRY();
	{
		payload_seg = dsm_create(len, 0);
		memcpy(dsm_segment_address(payload_seg), data, len);
		req->dsm = dsm_segment_handle(payload_seg);
		req->dsm_size = len;
	}
	PG_CATCH();
	{
		abandon(req);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

dsm_segment *
pgraft_request_reply_segment(PgraftRequest *req, Size size)
{
	dsm_segment *seg = NULL;

	PG_TRY();
	{
		seg = dsm_create(size, 0);
		req->dsm = dsm_segment_handle(seg);
		req->dsm_size = size;
	}
	PG_CATCH();
	{
		abandon(req);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return seg;
}

void
pgraft_request_run(PgraftRequest *req, PgraftReply *reply)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		ok;
	int			sqlstate;
	char		msg[PGRAFT_MSG_MAX];
	char		detail[PGRAFT_MSG_MAX];
	char		hint[PGRAFT_MSG_MAX];
	Latch	   *latch;

	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	req->state = PGRAFT_SLOT_PENDING;
	req->submitted_at = GetCurrentTimestamp();	/* under the lock: waits are
												 * never negative */
	latch = pgraft_shared->worker_latch;
	LWLockRelease(pgraft_shared->lock);
	if (latch != NULL)
		SetLatch(latch);

	PG_TRY();
	{
		ConditionVariablePrepareToSleep(&req->cv);
		for (;;)
		{
			PgraftSlotState st;

			LWLockAcquire(pgraft_shared->lock, LW_SHARED);
			st = req->state;
			LWLockRelease(pgraft_shared->lock);
			if (st == PGRAFT_SLOT_DONE)
				break;
			/* timed, so a lost wakeup costs a second, not a hang */
			ConditionVariableTimedSleep(&req->cv, 1000, pgraft_wait_event_request());
		}
		ConditionVariableCancelSleep();
	}
	PG_CATCH();
	{
		PgraftRequestType type = req->type;
		ErrorData  *edata;

		ConditionVariableCancelSleep();
		if (!abandon(req) || !has_effect(type))
			PG_RE_THROW();

		/*
		 * Cancelled (or statement_timeout) while the worker was on it: the
		 * worker stops, but what it already proposed may still commit. Say
		 * so, and how to find out.
		 */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (edata->detail == NULL)
			edata->detail = pstrdup("The request was stopped, but what it had already proposed may still take effect.");
		if (edata->hint == NULL)
			edata->hint = pstrdup(type == PGRAFT_REQ_APPEND ?
								  "See pgraft_log_get_entries() for whether the entry was appended." :
								  type == PGRAFT_REQ_KV_WRITE ?
								  "Read the keys it writes for whether it took effect." :
								  "See pgraft_get_nodes() and pgraft_get_leader() for the outcome.");
		ReThrowError(edata);
	}
	PG_END_TRY();

	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	ok = req->result_ok;
	sqlstate = req->result_sqlstate;
	strlcpy(msg, req->result_msg, sizeof(msg));
	strlcpy(detail, req->result_detail, sizeof(detail));
	strlcpy(hint, req->result_hint, sizeof(hint));
	if (reply != NULL)
	{
		reply->index = req->result_index;
		reply->count = req->result_count;
		reply->value = req->result_value;
		reply->flag = req->result_flag;
		reply->data = NULL;
		reply->data_len = Min(req->result_inline_len, PGRAFT_INLINE_PAYLOAD);
		if (reply->data_len > 0)
		{
			/* no ERROR under the lock: the slot must be freed either way */
			reply->data = palloc_extended(reply->data_len, MCXT_ALLOC_NO_OOM);
			if (reply->data != NULL)
				memcpy(reply->data, req->inline_payload, reply->data_len);
		}
	}
	req->state = PGRAFT_SLOT_FREE;
	LWLockRelease(pgraft_shared->lock);

	if (payload_seg != NULL)
	{
		dsm_detach(payload_seg);
		payload_seg = NULL;
	}
	if (ok && reply != NULL && reply->data_len > 0 && reply->data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %u for the worker's reply.", reply->data_len)));
	if (!ok)
		ereport(ERROR,
				(errcode(sqlstate ? sqlstate : ERRCODE_INTERNAL_ERROR),
				 errmsg("%s", msg),
				 detail[0] ? errdetail("%s", detail) : 0,
				 hint[0] ? errhint("%s", hint) : 0));
}

/* ---------------------------------------------------------------------- */
/* Worker side                                                            */
/* ---------------------------------------------------------------------- */

int
pgraft_request_take(int *slots, int max)
{
	int			n = 0;
	TimestampTz now;

	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	now = GetCurrentTimestamp();
	for (int i = 0; i < pgraft_max_requests && n < max; i++)
		if (pgraft_shared->slots[i].state == PGRAFT_SLOT_PENDING)
		{
			pgraft_shared->slots[i].state = PGRAFT_SLOT_ACTIVE;
			pgraft_shared->slots[i].taken_at = now;
			pgr_hist_observe(&pgraft_shared->request_queue_wait, PGR_HIST_LATENCY,
							 (double) (now - pgraft_shared->slots[i].submitted_at) / 1e6, 1);
			slots[n++] = i;
		}
	LWLockRelease(pgraft_shared->lock);
	return n;
}

/* Slots whose backend gave up while the worker had them. */
int
pgraft_request_abandoned(int *slots, int max)
{
	int			n = 0;

	LWLockAcquire(pgraft_shared->lock, LW_SHARED);
	for (int i = 0; i < pgraft_max_requests && n < max; i++)
		if (pgraft_shared->slots[i].state == PGRAFT_SLOT_ABANDONED)
			slots[n++] = i;
	LWLockRelease(pgraft_shared->lock);
	return n;
}

static void
finish(int slot, bool ok, int sqlstate, const char *msg, const char *detail,
	   const char *hint, const PgraftReply *reply)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];

	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	if (ok)
		pgraft_shared->requests_processed++;
	else
		pgraft_shared->requests_failed++;
	if (!ok && (req->type == PGRAFT_REQ_APPEND || req->type == PGRAFT_REQ_KV_WRITE))
		pgraft_shared->proposals_failed++;
	if (req->taken_at != 0)
		pgr_hist_observe(&pgraft_shared->request_duration, PGR_HIST_LATENCY,
						 (double) (now - req->taken_at) / 1e6, 1);
	req->taken_at = 0;
	if (req->state == PGRAFT_SLOT_ABANDONED)
		req->state = PGRAFT_SLOT_FREE;
	else if (req->state == PGRAFT_SLOT_ACTIVE)
	{
		req->result_ok = ok;
		req->result_sqlstate = sqlstate;
		strlcpy(req->result_msg, msg ? msg : "", sizeof(req->result_msg));
		strlcpy(req->result_detail, detail ? detail : "", sizeof(req->result_detail));
		strlcpy(req->result_hint, hint ? hint : "", sizeof(req->result_hint));
		req->result_index = reply != NULL ? reply->index : 0;
		req->result_count = reply != NULL ? reply->count : 0;
		req->result_value = reply != NULL ? reply->value : 0;
		req->result_flag = reply != NULL && reply->flag;
		req->result_inline_len = reply != NULL ? reply->data_len : 0;
		req->state = PGRAFT_SLOT_DONE;
	}
	LWLockRelease(pgraft_shared->lock);
	ConditionVariableBroadcast(&req->cv);
}

void
pgraft_request_answer(int slot, uint64 index, uint32 count)
{
	PgraftReply reply = {index, count, 0, false, NULL, 0};

	finish(slot, true, 0, NULL, NULL, NULL, &reply);
}

void
pgraft_request_answer_reply(int slot, const PgraftReply *reply)
{
	finish(slot, true, 0, NULL, NULL, NULL, reply);
}

void
pgraft_request_fail(int slot, int sqlstate, const char *msg, const char *detail,
					const char *hint)
{
	finish(slot, false, sqlstate, msg, detail, hint, NULL);
}

/* A new worker: requests the previous one took can no longer be answered. */
void
pgraft_request_fail_active(const char *msg)
{
	for (int i = 0; i < pgraft_max_requests; i++)
	{
		PgraftSlotState st;

		LWLockAcquire(pgraft_shared->lock, LW_SHARED);
		st = pgraft_shared->slots[i].state;
		LWLockRelease(pgraft_shared->lock);
		if (st == PGRAFT_SLOT_ACTIVE || st == PGRAFT_SLOT_ABANDONED)
			pgraft_request_fail(i, ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN,
								msg, "The outcome of the request is unknown.",
								"Check with pgraft_log_get_entries() or pgraft_get_nodes() whether it took effect.");
	}
}

bool
pgraft_wait_for(pgraft_cond_fn cond, void *arg, int timeout_ms)
{
	TimestampTz start = GetCurrentTimestamp();
	bool		ok;

	pgraft_require_loaded();
	ConditionVariablePrepareToSleep(&pgraft_shared->progress_cv);
	for (;;)
	{
		long		left = 1000;

		if (cond(arg))
		{
			ok = true;
			break;
		}
		if (timeout_ms >= 0)
		{
			long		elapsed = (long) ((GetCurrentTimestamp() - start) / 1000);

			if (elapsed >= timeout_ms)
			{
				ok = false;
				break;
			}
			left = Min(left, timeout_ms - elapsed);
		}
		ConditionVariableTimedSleep(&pgraft_shared->progress_cv, left,
									pgraft_wait_event_log());
	}
	ConditionVariableCancelSleep();
	return ok;
}
