/*-------------------------------------------------------------------------
 *
 * sql.c
 *		The SQL functions of pgraft.
 *
 * Status functions read what the worker published in shared memory; the
 * functions that act (init, membership, appends, read barriers, reading the
 * log back) send a request to the worker and wait for its answer.  Every
 * argument is checked here first, so bad input fails with a clear error
 * before anything is queued.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "pgraft/core.h"
#include "compat.h"
#include "queue.h"
#include "settings.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(pgraft_init);
PG_FUNCTION_INFO_V1(pgraft_add_node);
PG_FUNCTION_INFO_V1(pgraft_force_new_cluster);
PG_FUNCTION_INFO_V1(pgraft_remove_node);
PG_FUNCTION_INFO_V1(pgraft_transfer_leadership);
PG_FUNCTION_INFO_V1(pgraft_get_cluster_status);
PG_FUNCTION_INFO_V1(pgraft_is_leader);
PG_FUNCTION_INFO_V1(pgraft_is_leader_of);
PG_FUNCTION_INFO_V1(pgraft_get_leader);
PG_FUNCTION_INFO_V1(pgraft_get_term);
PG_FUNCTION_INFO_V1(pgraft_get_nodes);
PG_FUNCTION_INFO_V1(pgraft_get_worker_state);
PG_FUNCTION_INFO_V1(pgraft_get_queue_status);
PG_FUNCTION_INFO_V1(pgraft_get_refusals);
PG_FUNCTION_INFO_V1(pgraft_set_debug);
PG_FUNCTION_INFO_V1(pgraft_log_append);
PG_FUNCTION_INFO_V1(pgraft_log_commit);
PG_FUNCTION_INFO_V1(pgraft_log_apply);
PG_FUNCTION_INFO_V1(pgraft_log_get_stats);
PG_FUNCTION_INFO_V1(pgraft_log_get_replication_status);
PG_FUNCTION_INFO_V1(pgraft_log_sync_with_leader);
PG_FUNCTION_INFO_V1(pgraft_log_get_entries);


static void
check_node_id(int64 id)
{
	if (id <= 0 || id > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("node_id must be between 1 and %d", PG_INT32_MAX),
				 errdetail("The value given was " INT64_FORMAT ".", id)));
}

static void
check_timeout(int32 ms)
{
	if (ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout_ms must not be negative")));
}

/* The row type a function returning one record was declared with. */
static TupleDesc
row_type(FunctionCallInfo fcinfo)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return tupdesc;
}

/* Copy of the published status, taken under the lock. */
static void
snapshot_status(PgraftShared *out)
{
	pgraft_require_loaded();
	LWLockAcquire(pgraft_shared->lock, LW_SHARED);
	memcpy(out, pgraft_shared, offsetof(PgraftShared, slots));
	LWLockRelease(pgraft_shared->lock);
}

/* ---------------------------------------------------------------------- */
/* Cluster management                                                     */
/* ---------------------------------------------------------------------- */

/*
 * A request that founds a cluster (pgraft_init) or forces one
 * (pgraft_force_new_cluster): answered with index 0 when there was nothing
 * to do, said with a NOTICE.
 */
static void
founding_request(PgraftRequestType type, const char *nothing_to_do)
{
	PgraftReply reply;

	pgraft_request_run(pgraft_request_begin(type), &reply);
	if (reply.index == 0)
		ereport(NOTICE,
				(errmsg("%s", nothing_to_do),
				 errdetail("Nothing was changed.")));
}

Datum
pgraft_init(PG_FUNCTION_ARGS)
{
	founding_request(PGRAFT_REQ_INIT, "this node already belongs to a pgraft cluster");
	PG_RETURN_BOOL(true);
}

Datum
pgraft_add_node(PG_FUNCTION_ARGS)
{
	int64		id;
	text	   *addr;
	char	   *host;
	int32		port;
	PgraftRequest *req;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("node_id, address and port must not be NULL")));
	id = PG_GETARG_INT32(0);
	addr = PG_GETARG_TEXT_PP(1);
	port = PG_GETARG_INT32(2);
	check_node_id(id);
	host = text_to_cstring(addr);
	if (host[0] == '\0' || strlen(host) > PGRAFT_HOST_MAX || strchr(host, ':') != NULL ||
		strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != strlen(host))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid address \"%s\"", host),
				 errdetail("The address must be a host name or IPv4 address of at most %d characters.",
						   PGRAFT_HOST_MAX)));
	if (port < 1 || port > 65535)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("port must be between 1 and 65535"),
				 errdetail("The value given was %d.", port)));

	req = pgraft_request_begin(PGRAFT_REQ_ADD_NODE);
	req->arg_node_id = id;
	strlcpy(req->arg_host, host, sizeof(req->arg_host));
	req->arg_port = port;
	pgraft_request_run(req, NULL);
	PG_RETURN_BOOL(true);
}

/*
 * Recovery after a majority is lost for good: this node alone, under a new
 * cluster id (requests.c says what is refused, node.c what is done).
 */
Datum
pgraft_force_new_cluster(PG_FUNCTION_ARGS)
{
	founding_request(PGRAFT_REQ_FORCE_NEW_CLUSTER,
					 "this node already is the only voter of its pgraft cluster");
	PG_RETURN_BOOL(true);
}

/* A request whose only argument is a node id. */
static void
node_request(PgraftRequestType type, int64 id)
{
	PgraftRequest *req;

	check_node_id(id);
	req = pgraft_request_begin(type);
	req->arg_node_id = id;
	pgraft_request_run(req, NULL);
}

Datum
pgraft_remove_node(PG_FUNCTION_ARGS)
{
	node_request(PGRAFT_REQ_REMOVE_NODE, PG_GETARG_INT32(0));
	PG_RETURN_BOOL(true);
}

Datum
pgraft_transfer_leadership(PG_FUNCTION_ARGS)
{
	node_request(PGRAFT_REQ_TRANSFER, PG_GETARG_INT32(0));
	PG_RETURN_BOOL(true);
}

/* ---------------------------------------------------------------------- */
/* Status                                                                 */
/* ---------------------------------------------------------------------- */

Datum
pgraft_get_cluster_status(PG_FUNCTION_ARGS)
{
	PgraftShared *s = palloc(sizeof(PgraftShared));
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9] = {0};

	tupdesc = row_type(fcinfo);
	snapshot_status(s);
	values[0] = Int32GetDatum((int32) pgraft_node_id);
	values[1] = Int64GetDatum((int64) s->term);
	values[2] = Int64GetDatum((int64) s->leader);
	values[3] = CStringGetTextDatum(s->worker_state != PGRAFT_WORKER_RUNNING ? "stopped" :
									s->removed ? "removed" : pgr_role_name(s->role));
	values[4] = Int32GetDatum(s->n_members);
	values[5] = Int64GetDatum((int64) s->msgs_processed);
	values[6] = Int64GetDatum((int64) s->heartbeats_sent);
	values[7] = Int64GetDatum((int64) s->elections_started);
	values[8] = Int64GetDatum((int64) s->pre_votes_started);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static bool
is_leader(void)
{
	bool		leader;

	pgraft_require_loaded();
	LWLockAcquire(pgraft_shared->lock, LW_SHARED);
	leader = pgraft_shared->worker_state == PGRAFT_WORKER_RUNNING &&
		pgraft_shared->role == PGR_ROLE_LEADER;
	LWLockRelease(pgraft_shared->lock);
	return leader;
}

Datum
pgraft_is_leader(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(is_leader());
}

/* Leader of the named cluster?  Another name is not our cluster: false. */
Datum
pgraft_is_leader_of(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(strcmp(name, pgraft_cluster_name) == 0 && is_leader());
}

/* One published counter, read under the lock: offsetof(PgraftShared, x). */
static uint64
shared_u64(size_t offset)
{
	uint64		v;

	pgraft_require_loaded();
	LWLockAcquire(pgraft_shared->lock, LW_SHARED);
	v = *(const uint64 *) ((const char *) pgraft_shared + offset);
	LWLockRelease(pgraft_shared->lock);
	return v;
}

Datum
pgraft_get_leader(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) shared_u64(offsetof(PgraftShared, leader)));
}

Datum
pgraft_get_term(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) shared_u64(offsetof(PgraftShared, term)));
}

Datum
pgraft_get_nodes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PgraftShared *s = palloc(sizeof(PgraftShared));

	InitMaterializedSRF(fcinfo, 0);
	snapshot_status(s);
	for (int i = 0; i < s->n_members; i++)
	{
		PgraftMemberStatus *m = &s->members[i];
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = Int32GetDatum((int32) m->id);
		values[1] = CStringGetTextDatum(m->host);
		values[2] = Int32GetDatum(m->port);
		values[3] = BoolGetDatum(m->id == s->leader);
		values[4] = CStringGetTextDatum(m->voter ? "voter" : "learner");
		values[5] = Int64GetDatum((int64) m->match);
		nulls[5] = m->progress_state < 0;
		values[6] = Int64GetDatum(m->last_contact_ms);
		nulls[6] = m->last_contact_ms < 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Connections the Raft port refused since the worker started, by reason. */
Datum
pgraft_get_refusals(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PgraftShared *s = palloc(sizeof(PgraftShared));

	InitMaterializedSRF(fcinfo, 0);
	snapshot_status(s);
	for (int i = PGR_WIRE_REFUSE_NONE + 1; i < PGR_WIRE_REFUSE_N; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {0};

		values[0] = CStringGetTextDatum(pgr_wire_refusal_name(i));
		values[1] = CStringGetTextDatum(pgr_wire_refusal_str(i));
		values[2] = Int64GetDatum((int64) s->refusals[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
pgraft_get_worker_state(PG_FUNCTION_ARGS)
{
	PgraftWorkerState st;
	const char *name;
	char		why[PGRAFT_MSG_MAX];

	pgraft_require_loaded();
	LWLockAcquire(pgraft_shared->lock, LW_SHARED);
	st = pgraft_shared->worker_state;
	strlcpy(why, pgraft_shared->worker_error, sizeof(why));
	LWLockRelease(pgraft_shared->lock);
	if (st == PGRAFT_WORKER_FAILED && why[0] != '\0')
		ereport(NOTICE,
				(errmsg("the pgraft worker failed: %s", why),
				 errhint("The postmaster restarts it; the server log has the details.")));
	switch (st)
	{
		case PGRAFT_WORKER_STARTING:
			name = "STARTING";
			break;
		case PGRAFT_WORKER_RUNNING:
			name = "RUNNING";
			break;
		case PGRAFT_WORKER_FAILED:
			name = "FAILED";
			break;
		default:
			name = "STOPPED";
			break;
	}
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

Datum
pgraft_get_queue_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {0};
	int			used = 0;
	uint64		processed;
	uint64		failed;

	tupdesc = row_type(fcinfo);
	pgraft_require_loaded();
	LWLockAcquire(pgraft_shared->lock, LW_SHARED);
	for (int i = 0; i < pgraft_max_requests; i++)
		if (pgraft_shared->slots[i].state != PGRAFT_SLOT_FREE)
			used++;
	processed = pgraft_shared->requests_processed;
	failed = pgraft_shared->requests_failed;
	LWLockRelease(pgraft_shared->lock);
	values[0] = Int32GetDatum(used);
	values[1] = Int32GetDatum(pgraft_max_requests);
	values[2] = Int64GetDatum((int64) processed);
	values[3] = Int64GetDatum((int64) failed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Takes effect in the worker at once (until the next reload of the setting). */
Datum
pgraft_set_debug(PG_FUNCTION_ARGS)
{
	bool		on = PG_GETARG_BOOL(0);

	pgraft_require_loaded();
	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	pgraft_shared->debug = on;
	LWLockRelease(pgraft_shared->lock);
	PG_RETURN_BOOL(on);
}

/* ---------------------------------------------------------------------- */
/* The log                                                                */
/* ---------------------------------------------------------------------- */

Datum
pgraft_log_append(PG_FUNCTION_ARGS)
{
	int64		term = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	text	   *data;
	PgraftRequest *req;
	PgraftReply reply;
	Size		len;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("data must not be NULL")));
	if (term < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("term must not be negative"),
				 errhint("Pass 0 or NULL to accept any term.")));
	data = PG_GETARG_TEXT_PP(1);
	len = VARSIZE_ANY_EXHDR(data);
	if (len > (Size) pgraft_max_entry_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("log entry too large"),
				 errdetail("The entry has %zu bytes; pgraft.max_entry_size is %d.",
						   len, pgraft_max_entry_size)));
	req = pgraft_request_begin(PGRAFT_REQ_APPEND);
	req->arg_term = (uint64) term;
	pgraft_request_set_payload(req, VARDATA_ANY(data), (uint32) len);
	pgraft_request_run(req, &reply);
	PG_RETURN_INT64((int64) reply.index);
}

static bool
committed_reached(void *arg)
{
	return shared_u64(offsetof(PgraftShared, commit)) >= *(uint64 *) arg;
}

static bool
applied_reached(void *arg)
{
	return shared_u64(offsetof(PgraftShared, applied)) >= *(uint64 *) arg;
}

static bool
wait_index(PG_FUNCTION_ARGS, pgraft_cond_fn cond, const char *what)
{
	int64		index = PG_GETARG_INT64(0);
	int32		timeout = PG_GETARG_INT32(1);
	uint64		idx;

	pgraft_require_loaded();
	if (index <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("index must be positive")));
	check_timeout(timeout);
	idx = (uint64) index;
	if (pgraft_wait_for(cond, &idx, timeout))
		return true;
	ereport(NOTICE,
			(errmsg("index " INT64_FORMAT " was not %s within %d ms", index, what, timeout)));
	return false;
}

Datum
pgraft_log_commit(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(wait_index(fcinfo, committed_reached, "committed"));
}

Datum
pgraft_log_apply(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(wait_index(fcinfo, applied_reached, "applied on this node"));
}

Datum
pgraft_log_get_stats(PG_FUNCTION_ARGS)
{
	PgraftShared *s = palloc(sizeof(PgraftShared));
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9] = {0};

	tupdesc = row_type(fcinfo);
	snapshot_status(s);
	values[0] = Int64GetDatum((int64) (s->last_index - s->first_index + 1));
	values[1] = Int64GetDatum((int64) s->first_index);
	values[2] = Int64GetDatum((int64) s->last_index);
	values[3] = Int64GetDatum((int64) s->commit);
	values[4] = Int64GetDatum((int64) s->applied);
	values[5] = Int64GetDatum((int64) s->snapshot_index);
	values[6] = Int64GetDatum((int64) s->snapshot_term);
	values[7] = Int64GetDatum((int64) s->entries_counted);
	values[8] = Int64GetDatum((int64) s->last_term);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

Datum
pgraft_log_get_replication_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PgraftShared *s = palloc(sizeof(PgraftShared));

	InitMaterializedSRF(fcinfo, 0);
	snapshot_status(s);
	if (s->role != PGR_ROLE_LEADER)
		return (Datum) 0;		/* only the leader knows its followers */
	for (int i = 0; i < s->n_members; i++)
	{
		PgraftMemberStatus *m = &s->members[i];
		Datum		values[6];
		bool		nulls[6] = {0};

		if (m->id == (uint64) pgraft_node_id || m->progress_state < 0)
			continue;
		values[0] = Int32GetDatum((int32) m->id);
		values[1] = Int64GetDatum((int64) m->match);
		values[2] = Int64GetDatum((int64) m->next);
		values[3] = CStringGetTextDatum(pgr_progress_state_name(m->progress_state));
		values[4] = Int64GetDatum((int64) (s->last_index > m->match ? s->last_index - m->match : 0));
		values[5] = Int64GetDatum(m->last_contact_ms);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * A read barrier: the leader confirms, with a quorum, an index covering
 * everything committed when the call began (ReadIndex), and the worker
 * answers once this node has applied it.  Returns that index.
 */
Datum
pgraft_log_sync_with_leader(PG_FUNCTION_ARGS)
{
	int32		timeout = PG_GETARG_INT32(0);
	PgraftRequest *req;
	PgraftReply reply;

	check_timeout(timeout);
	req = pgraft_request_begin(PGRAFT_REQ_READ_INDEX);
	/* the whole barrier, applying included, within the caller's timeout */
	req->arg_timeout_ms = timeout;
	pgraft_request_run(req, &reply);
	PG_RETURN_INT64((int64) reply.index);
}

#define ENTRIES_REPLY_SIZE ((Size) 2 * 1024 * 1024)

Datum
pgraft_log_get_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		from = PG_GETARG_INT64(0);
	int32		max_count = PG_GETARG_INT32(1);
	Size		reply_size;
	bool		warned = false;

	if (from <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_index must be positive")));
	if (max_count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must not be negative")));
	InitMaterializedSRF(fcinfo, 0);
	/* room for at least one entry of the largest size */
	reply_size = Max(ENTRIES_REPLY_SIZE, (Size) pgraft_max_entry_size + 64);

	/* Fetch in rounds: each round fills one reply segment. */
	while (max_count > 0)
	{
		PgraftRequest *req = pgraft_request_begin(PGRAFT_REQ_GET_ENTRIES);
		dsm_segment *seg;
		PgraftReply reply;
		const uint8 *p;
		uint64		last = 0;

		req->arg_index = (uint64) from;
		req->arg_count = max_count;
		seg = pgraft_request_reply_segment(req, reply_size);
		pgraft_request_run(req, &reply);
		if (!warned && reply.index > (uint64) from)
		{
			ereport(NOTICE,
					(errmsg("entries before index " UINT64_FORMAT " were compacted away",
							reply.index)));
			warned = true;
		}
		p = dsm_segment_address(seg);
		for (uint32 i = 0; i < reply.count; i++)
		{
			uint64		index;
			uint64		term;
			uint8		type;
			uint32		len;
			Datum		values[4];
			bool		nulls[4] = {0};
			const char *tname;

			memcpy(&index, p, 8);
			memcpy(&term, p + 8, 8);
			type = p[16];
			memcpy(&len, p + 17, 4);
			switch (type)
			{
				case 'c':
					tname = "config";
					break;
				case 'n':
					tname = "noop";
					break;
				case 'd':
					tname = "data";
					break;
				case 'f':
					tname = "superseded";
					break;
				case 'x':
					tname = "duplicate";
					break;
				case 'e':
					tname = "expired";
					break;
				case 'k':
					tname = "kv";
					break;
				default:
					tname = "unknown";
					break;
			}
			values[0] = Int64GetDatum((int64) index);
			values[1] = Int64GetDatum((int64) term);
			values[2] = CStringGetTextDatum(tname);
			if (type == 'd' || type == 'f' || type == 'x' || type == 'e' || type == 'c')
				values[3] = PointerGetDatum(cstring_to_text_with_len((const char *) p + 21, len));
			else
				nulls[3] = true;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			p += 21 + len;
			last = index;
		}
		dsm_detach(seg);
		if (reply.count == 0)
			break;
		max_count -= reply.count;
		from = (int64) last + 1;
	}
	return (Datum) 0;
}
