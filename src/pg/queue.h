/*-------------------------------------------------------------------------
 *
 * queue.h
 *		The request queue between SQL backends and the pgraft worker
 *		(queue.c): the backend's side and the worker's primitives.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_QUEUE_H
#define PGRAFT_QUEUE_H

#include "shmem.h"

/* What a backend gets back from the worker. */
typedef struct PgraftReply
{
	uint64		index;
	uint32		count;
	uint64		value;			/* KV_WRITE, KV_READ: see PgraftRequest */
	bool		flag;

	/*
	 * A reply the worker wrote into the slot's inline buffer: it sets
	 * data_len to the bytes written; the backend gets data, a palloc'd copy
	 * (NULL and 0: none).
	 */
	uint8	   *data;
	uint32		data_len;
} PgraftReply;

/*
 * Backend side.  pgraft_request_begin takes a free slot (ERROR if pgraft is
 * not loaded, the worker is not running or the queue is full) and returns a
 * pointer for the caller to fill the arguments (arg_timeout_ms starts as
 * pgraft.request_timeout); the payload and a reply segment are attached
 * with the two helpers; pgraft_request_run wakes the worker, waits for the
 * answer (honouring query cancel and statement_timeout: a request given up
 * on is abandoned, and the worker ends it), frees the slot and raises the
 * worker's error, if any.
 */
/* An error unless pgraft was loaded by shared_preload_libraries. */
extern void pgraft_require_loaded(void);
extern PgraftRequest *pgraft_request_begin(PgraftRequestType type);
extern void pgraft_request_set_payload(PgraftRequest *req, const char *data, uint32 len);
extern dsm_segment *pgraft_request_reply_segment(PgraftRequest *req, Size size);
extern void pgraft_request_run(PgraftRequest *req, PgraftReply *reply);

/* Worker side: take pending requests, find abandoned ones, answer them. */
extern int	pgraft_request_take(int *slots, int max);
extern int	pgraft_request_abandoned(int *slots, int max);
extern void pgraft_request_answer(int slot, uint64 index, uint32 count);
extern void pgraft_request_answer_reply(int slot, const PgraftReply *reply);
extern void pgraft_request_fail(int slot, int sqlstate, const char *msg,
								const char *detail, const char *hint);
extern void pgraft_request_fail_active(const char *msg);

/* Waits on progress_cv until cond holds or timeout_ms passes (-1: forever). */
typedef bool (*pgraft_cond_fn) (void *arg);
extern bool pgraft_wait_for(pgraft_cond_fn cond, void *arg, int timeout_ms);

/*
 * Reading the key-value store's changes (sql_kv.c), for pgraft_kv_changes()
 * and the notifier: one round of requests, each change given to the
 * callback; returns the store's revision when the worker answered.
 */
typedef struct PgraftChange
{
	uint64		revision;
	bool		deleted;
	const char *key;
	uint32		key_len;
	const char *value;			/* a put's */
	uint32		value_len;
	uint64		create_revision;
	uint64		mod_revision;
	uint64		version;
	uint64		lease;
} PgraftChange;

typedef void (*pgraft_change_fn) (void *arg, const PgraftChange *c);
extern uint64 pgraft_kv_fetch_changes(uint64 from, const uint8 *key, uint32 key_len,
									  const uint8 *end, uint32 end_len, int32 limit,
									  pgraft_change_fn cb, void *arg);
extern void pgraft_kv_prefix_range(const uint8 *prefix, uint32 len, const uint8 **key,
								   uint32 *key_len, uint8 *end, uint32 *end_len);

#endif							/* PGRAFT_QUEUE_H */
