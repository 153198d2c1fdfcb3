/*-------------------------------------------------------------------------
 *
 * sql_kv.c
 *		The SQL functions of the key-value store: puts, reads, deletes,
 *		compare-and-swap, transactions and leases (docs/kv.md).
 *
 * Every write is encoded here as a command (kv.h) and sent to the worker
 * as a request of its own kind (PGRAFT_REQ_KV_WRITE): the worker proposes
 * it, and once it is applied answers what applying did (the revision, a
 * transaction's branch, the keys deleted, a lease's id).  A read asks the
 * worker for the keys of a range after a read barrier, or at once from
 * this node's store when the caller asked for a serializable read.  Every
 * argument is checked here first: bad input fails with a clear error
 * before anything is queued.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/sql_kv.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pgraft/kv.h"
#include "compat.h"
#include "queue.h"
#include "settings.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(pgraft_kv_put);
PG_FUNCTION_INFO_V1(pgraft_kv_get);
PG_FUNCTION_INFO_V1(pgraft_kv_range);
PG_FUNCTION_INFO_V1(pgraft_kv_prefix);
PG_FUNCTION_INFO_V1(pgraft_kv_delete);
PG_FUNCTION_INFO_V1(pgraft_kv_cas_revision);
PG_FUNCTION_INFO_V1(pgraft_kv_cas_value);
PG_FUNCTION_INFO_V1(pgraft_kv_txn);
PG_FUNCTION_INFO_V1(pgraft_lease_grant);
PG_FUNCTION_INFO_V1(pgraft_lease_keepalive);
PG_FUNCTION_INFO_V1(pgraft_lease_revoke);
PG_FUNCTION_INFO_V1(pgraft_kv_status);
PG_FUNCTION_INFO_V1(pgraft_kv_changes);

/* The range end that means "every key from here on" (kv.h). */
static const uint8 to_the_end[1] = {0};

/* Key record in a read's reply (kvstore.c): header, key, value. */
#define KV_READ_RECORD 40
/* Change record in a watch's reply (kvstore.c): header, key, value. */
#define KV_CHANGE_RECORD 56


/* A key argument: not NULL, not empty, not too long. */
static text *
key_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	text	   *t;
	Size		len;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	t = PG_GETARG_TEXT_PP(n);
	len = VARSIZE_ANY_EXHDR(t);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name)));
	if (len > PGR_KV_MAX_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too long", name),
				 errdetail("It has %zu bytes; a key may have at most %d.", len, PGR_KV_MAX_KEY)));
	return t;
}

static text *
value_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	text	   *t;
	Size		len;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name),
				 errhint("Use pgraft_kv_delete() to remove a key.")));
	t = PG_GETARG_TEXT_PP(n);
	len = VARSIZE_ANY_EXHDR(t);
	if (len > PGR_KV_MAX_VALUE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too long", name),
				 errdetail("It has %zu bytes; a value may have at most %d.", len, PGR_KV_MAX_VALUE)));
	return t;
}

/* A bigint argument that may be NULL (0) but not negative. */
static uint64
nonnegative_arg(FunctionCallInfo fcinfo, int n, const char *name, const char *hint)
{
	int64		v = PG_ARGISNULL(n) ? 0 : PG_GETARG_INT64(n);

	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", name),
				 errhint("%s", hint)));
	return (uint64) v;
}

static uint64
lease_arg(FunctionCallInfo fcinfo, int n)
{
	return nonnegative_arg(fcinfo, n, "lease", "Pass 0 or NULL for a key without a lease.");
}

/*
 * The end of the range of keys that start with prefix: the prefix with its
 * last byte below 0xff incremented, the rest cut; "every key from here on"
 * when every byte is 0xff.
 */
static void
prefix_end(const uint8 *prefix, uint32 len, uint8 *end, uint32 *end_len)
{
	memcpy(end, prefix, len);
	while (len > 0 && end[len - 1] == 0xff)
		len--;
	if (len == 0)
	{
		end[0] = 0;
		*end_len = 1;
		return;
	}
	end[len - 1]++;
	*end_len = len;
}

/* ---------------------------------------------------------------------- */
/* Writes                                                                 */
/* ---------------------------------------------------------------------- */

/* Send a command through the log; the reply says what applying it did. */
static void
run_command(const uint8 *cmd, size_t len, PgraftReply *reply)
{
	PgraftRequest *req;

	pgraft_require_loaded();
	if (len > (size_t) pgraft_max_entry_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("key-value command too large"),
				 errdetail("It takes %zu bytes; pgraft.max_entry_size is %d.",
						   len, pgraft_max_entry_size)));
	req = pgraft_request_begin(PGRAFT_REQ_KV_WRITE);
	pgraft_request_set_payload(req, (const char *) cmd, (uint32) len);
	pgraft_request_run(req, reply);
}

static void
run_txn(const struct pgr_kv_txn *t, PgraftReply *reply)
{
	size_t		cap = pgr_kv_txn_size(t);
	uint8	   *buf = palloc_extended(cap, MCXT_ALLOC_HUGE);
	size_t		len;
	enum pgr_err err = pgr_kv_encode_txn(t, buf, cap, &len);

	if (err != PGR_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid key-value transaction: %s", pgr_strerror(err))));
	run_command(buf, len, reply);
	pfree(buf);
}

static struct pgr_kv_op
put_op(text *key, text *value, uint64 lease)
{
	struct pgr_kv_op op;

	memset(&op, 0, sizeof(op));
	op.type = PGR_KV_PUT;
	op.key = (const uint8 *) VARDATA_ANY(key);
	op.key_len = VARSIZE_ANY_EXHDR(key);
	op.value = (const uint8 *) VARDATA_ANY(value);
	op.value_len = VARSIZE_ANY_EXHDR(value);
	op.lease = lease;
	return op;
}

/* pgraft_kv_put(key, value, lease): the revision of the put */
Datum
pgraft_kv_put(PG_FUNCTION_ARGS)
{
	text	   *key = key_arg(fcinfo, 0, "key");
	text	   *value = value_arg(fcinfo, 1, "value");
	struct pgr_kv_op op = put_op(key, value, lease_arg(fcinfo, 2));
	struct pgr_kv_txn t = {0};
	PgraftReply reply;

	t.n_success = 1;
	t.success = &op;
	run_txn(&t, &reply);
	PG_RETURN_INT64((int64) reply.index);
}

/* pgraft_kv_delete(key, prefix): how many keys it deleted */
Datum
pgraft_kv_delete(PG_FUNCTION_ARGS)
{
	text	   *key = key_arg(fcinfo, 0, "key");
	bool		prefix = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	struct pgr_kv_op op;
	struct pgr_kv_txn t = {0};
	uint8		end[PGR_KV_MAX_KEY];
	PgraftReply reply;

	memset(&op, 0, sizeof(op));
	op.type = PGR_KV_DELETE;
	op.key = (const uint8 *) VARDATA_ANY(key);
	op.key_len = VARSIZE_ANY_EXHDR(key);
	if (prefix)
	{
		prefix_end(op.key, op.key_len, end, &op.range_end_len);
		op.range_end = end;
	}
	t.n_success = 1;
	t.success = &op;
	run_txn(&t, &reply);
	PG_RETURN_INT64((int64) reply.value);
}

/*
 * Compare-and-swap: put new_value at key if the comparison on key holds.
 * The new revision, or NULL if the comparison did not hold (nothing
 * written).
 */
static Datum
cas(FunctionCallInfo fcinfo, struct pgr_kv_compare *cmp)
{
	text	   *key = key_arg(fcinfo, 0, "key");
	text	   *value = value_arg(fcinfo, 2, "new_value");
	struct pgr_kv_op op = put_op(key, value, 0);
	struct pgr_kv_txn t = {0};
	PgraftReply reply;

	cmp->key = op.key;
	cmp->key_len = op.key_len;
	cmp->relation = PGR_KV_EQ;
	t.n_compares = 1;
	t.compares = cmp;
	t.n_success = 1;
	t.success = &op;
	run_txn(&t, &reply);
	if (!reply.flag)
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) reply.index);
}

/* pgraft_kv_cas(key, expected_mod_revision, new_value): 0 expects no key */
Datum
pgraft_kv_cas_revision(PG_FUNCTION_ARGS)
{
	struct pgr_kv_compare cmp;

	memset(&cmp, 0, sizeof(cmp));
	if (PG_ARGISNULL(1) || PG_GETARG_INT64(1) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected_mod_revision must be a revision, or 0 for a key that does not exist")));
	cmp.target = PGR_KV_TARGET_MOD_REV;
	cmp.number = (uint64) PG_GETARG_INT64(1);
	return cas(fcinfo, &cmp);
}

/* pgraft_kv_cas(key, expected_value, new_value) */
Datum
pgraft_kv_cas_value(PG_FUNCTION_ARGS)
{
	struct pgr_kv_compare cmp;
	text	   *expected = value_arg(fcinfo, 1, "expected_value");

	memset(&cmp, 0, sizeof(cmp));
	cmp.target = PGR_KV_TARGET_VALUE;
	cmp.value = (const uint8 *) VARDATA_ANY(expected);
	cmp.value_len = VARSIZE_ANY_EXHDR(expected);
	return cas(fcinfo, &cmp);
}

/* ---------------------------------------------------------------------- */
/* Transactions from JSON                                                 */
/* ---------------------------------------------------------------------- */

pg_noreturn static void
txn_error(const char *what, int i, const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s[%d]: %s", what, i, msg),
			 errhint("See docs/kv.md for the form of a transaction.")));
}

/* obj's member name, or NULL. */
static JsonbValue *
member(JsonbContainer *obj, const char *name)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) name;
	k.val.string.len = strlen(name);
	return findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
}

/* A string member as bytes (not NUL-terminated); NULL if absent. */
static const uint8 *
string_member(JsonbContainer *obj, const char *name, uint32 *len, const char *what, int i)
{
	JsonbValue *v = member(obj, name);

	if (v == NULL)
		return NULL;
	if (v->type != jbvString)
		txn_error(what, i, psprintf("\"%s\" must be a string", name));
	*len = (uint32) v->val.string.len;
	return (const uint8 *) v->val.string.val;
}

static uint64
number_member(JsonbContainer *obj, const char *name, const char *what, int i)
{
	JsonbValue *v = member(obj, name);
	int64		n;

	if (v == NULL)
		return 0;
	if (v->type != jbvNumeric)
		txn_error(what, i, psprintf("\"%s\" must be a number", name));
	n = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
	if (n < 0)
		txn_error(what, i, psprintf("\"%s\" must not be negative", name));
	return (uint64) n;
}

static const uint8 *
key_member(JsonbContainer *obj, const char *name, uint32 *len, const char *what, int i)
{
	const uint8 *k = string_member(obj, name, len, what, i);

	if (k != NULL && (*len == 0 || *len > PGR_KV_MAX_KEY))
		txn_error(what, i, psprintf("\"%s\" must have 1 to %d bytes", name, PGR_KV_MAX_KEY));
	return k;
}

/* The elements of an array argument (NULL: none). */
static JsonbContainer *
array_arg(FunctionCallInfo fcinfo, int n, const char *what, uint32 *count)
{
	Jsonb	   *jb;

	*count = 0;
	if (PG_ARGISNULL(n))
		return NULL;
	jb = PG_GETARG_JSONB_P(n);
	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON array", what)));
	*count = JsonContainerSize(&jb->root);
	if (*count > PGR_KV_MAX_OPS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s has too many elements", what),
				 errdetail("It has %u; a transaction may have at most %d in each list.",
						   *count, PGR_KV_MAX_OPS)));
	return &jb->root;
}

/* Element i of an array, which must be an object. */
static JsonbContainer *
object_at(JsonbContainer *arr, int i, const char *what)
{
	JsonbValue *v = getIthJsonbValueFromContainer(arr, (uint32) i);

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		txn_error(what, i, "each element must be a JSON object");
	return v->val.binary.data;
}

static void
parse_compare(JsonbContainer *o, struct pgr_kv_compare *c, int i)
{
	static const struct
	{
		const char *name;
		enum pgr_kv_target target;
	}			targets[] = {
		{"value", PGR_KV_TARGET_VALUE},
		{"version", PGR_KV_TARGET_VERSION},
		{"create_revision", PGR_KV_TARGET_CREATE_REV},
		{"mod_revision", PGR_KV_TARGET_MOD_REV},
		{"lease", PGR_KV_TARGET_LEASE},
	};
	static const char *const relations[] = {"=", "!=", "<", ">"};
	uint32		len = 0;
	const uint8 *s;
	bool		found = false;

	memset(c, 0, sizeof(*c));
	c->key = key_member(o, "key", &c->key_len, "compares", i);
	if (c->key == NULL)
		txn_error("compares", i, "\"key\" is missing");
	s = string_member(o, "target", &len, "compares", i);
	for (int k = 0; s != NULL && k < (int) lengthof(targets) && !found; k++)
		if (strlen(targets[k].name) == len && memcmp(targets[k].name, s, len) == 0)
		{
			c->target = targets[k].target;
			found = true;
		}
	if (!found)
		txn_error("compares", i,
				  "\"target\" must be one of value, version, create_revision, mod_revision, lease");
	found = false;
	s = string_member(o, "op", &len, "compares", i);
	if (s == NULL)
	{
		c->relation = PGR_KV_EQ;
		found = true;
	}
	for (int k = 0; s != NULL && k < (int) lengthof(relations) && !found; k++)
		if (strlen(relations[k]) == len && memcmp(relations[k], s, len) == 0)
		{
			c->relation = (uint32) k;
			found = true;
		}
	if (!found)
		txn_error("compares", i, "\"op\" must be one of =, !=, <, >");
	if (c->target == PGR_KV_TARGET_VALUE)
	{
		c->value = string_member(o, "value", &c->value_len, "compares", i);
		if (c->value == NULL)
			txn_error("compares", i, "a comparison of the value needs a string \"value\"");
	}
	else
	{
		if (member(o, "value") == NULL)
			txn_error("compares", i, "a comparison needs a \"value\"");
		c->number = number_member(o, "value", "compares", i);
	}
}

/*
 * {"put": key, "value": text[, "lease": id]} or {"delete": key[, "prefix":
 * true | "range_end": key]}
 */
static void
parse_op(JsonbContainer *o, struct pgr_kv_op *op, uint8 *end_buf, const char *what, int i)
{
	memset(op, 0, sizeof(*op));
	op->key = key_member(o, "put", &op->key_len, what, i);
	if (op->key != NULL)
	{
		op->type = PGR_KV_PUT;
		op->value = string_member(o, "value", &op->value_len, what, i);
		if (op->value == NULL)
			txn_error(what, i, "a put needs a string \"value\"");
		if (op->value_len > PGR_KV_MAX_VALUE)
			txn_error(what, i, "the value is too long");
		op->lease = number_member(o, "lease", what, i);
		return;
	}
	op->key = key_member(o, "delete", &op->key_len, what, i);
	if (op->key == NULL)
		txn_error(what, i, "an operation needs \"put\" or \"delete\"");
	op->type = PGR_KV_DELETE;
	if (member(o, "prefix") != NULL)
	{
		JsonbValue *p = member(o, "prefix");

		if (p->type != jbvBool)
			txn_error(what, i, "\"prefix\" must be true or false");
		if (p->val.boolean)
		{
			prefix_end(op->key, op->key_len, end_buf, &op->range_end_len);
			op->range_end = end_buf;
		}
	}
	else
		op->range_end = key_member(o, "range_end", &op->range_end_len, what, i);
}

static struct pgr_kv_op *
parse_ops(FunctionCallInfo fcinfo, int n, const char *what, uint32 *count)
{
	JsonbContainer *arr = array_arg(fcinfo, n, what, count);
	struct pgr_kv_op *ops = palloc0(Max(*count, 1) * sizeof(*ops));

	for (uint32 i = 0; i < *count; i++)
		parse_op(object_at(arr, (int) i, what), &ops[i], palloc(PGR_KV_MAX_KEY), what, (int) i);
	return ops;
}

/* pgraft_kv_txn(compares, success, failure): (succeeded, revision) */
Datum
pgraft_kv_txn(PG_FUNCTION_ARGS)
{
	struct pgr_kv_txn t = {0};
	JsonbContainer *arr = array_arg(fcinfo, 0, "compares", &t.n_compares);
	struct pgr_kv_compare *cmps = palloc0(Max(t.n_compares, 1) * sizeof(*cmps));
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	PgraftReply reply;

	for (uint32 i = 0; i < t.n_compares; i++)
		parse_compare(object_at(arr, (int) i, "compares"), &cmps[i], (int) i);
	t.compares = cmps;
	t.success = parse_ops(fcinfo, 1, "success", &t.n_success);
	t.failure = parse_ops(fcinfo, 2, "failure", &t.n_failure);
	run_txn(&t, &reply);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = BoolGetDatum(reply.flag);
	values[1] = Int64GetDatum((int64) reply.index);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* ---------------------------------------------------------------------- */
/* Leases                                                                 */
/* ---------------------------------------------------------------------- */

/* A lease command through the log: what it counts (an id, a time, keys). */
static Datum
lease_command(void (*encode) (uint64 v, uint8 *cmd), uint64 v)
{
	uint8		cmd[PGR_KV_LEASE_CMD_SIZE];
	PgraftReply reply;

	encode(v, cmd);
	run_command(cmd, PGR_KV_LEASE_CMD_SIZE, &reply);
	PG_RETURN_INT64((int64) reply.value);
}

static uint64
lease_id_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0) || PG_GETARG_INT64(0) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be a lease id (positive)")));
	return (uint64) PG_GETARG_INT64(0);
}

/* pgraft_lease_grant(ttl_ms): the new lease's id */
Datum
pgraft_lease_grant(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_GETARG_INT64(0) <= 0 ||
		(uint64) PG_GETARG_INT64(0) > PGR_KV_MAX_TTL_MS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl_ms must be between 1 and " UINT64_FORMAT, PGR_KV_MAX_TTL_MS)));
	return lease_command(pgr_kv_encode_grant, (uint64) PG_GETARG_INT64(0));
}

/* pgraft_lease_keepalive(lease): its time to live, started again */
Datum
pgraft_lease_keepalive(PG_FUNCTION_ARGS)
{
	return lease_command(pgr_kv_encode_keepalive, lease_id_arg(fcinfo));
}

/* pgraft_lease_revoke(lease): the keys it deleted */
Datum
pgraft_lease_revoke(PG_FUNCTION_ARGS)
{
	return lease_command(pgr_kv_encode_revoke, lease_id_arg(fcinfo));
}

/* ---------------------------------------------------------------------- */
/* Reads                                                                  */
/* ---------------------------------------------------------------------- */

/* A range as a read's or a watch's payload (kvstore.c): its length. */
static uint32
range_payload(const uint8 *from, uint32 from_len, const uint8 *end, uint32 end_len,
			  uint8 payload[PGRAFT_INLINE_PAYLOAD])
{
	if ((Size) 8 + from_len + end_len > PGRAFT_INLINE_PAYLOAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the range's keys are too long together"),
				 errdetail("They have %u bytes; a range may have at most %d.",
						   from_len + end_len, PGRAFT_INLINE_PAYLOAD - 8)));
	memcpy(payload, &from_len, 4);
	memcpy(payload + 4, &end_len, 4);
	memcpy(payload + 8, from, from_len);
	if (end_len > 0)
		memcpy(payload + 8 + from_len, end, end_len);
	return 8 + from_len + end_len;
}

/*
 * A read or a watch: the request, answered into the slot's inline buffer;
 * if the records need more room, the worker says how much and the request
 * is asked again with a reply segment that large (each try is a new
 * request: for a linearizable read, a new barrier).  Returns the records,
 * palloc'd (NULL when there are none).
 */
static const uint8 *
run_reply(PgraftRequestType type, uint64 from, int32 limit, bool serializable,
		  uint8 *payload, uint32 payload_len, PgraftReply *reply)
{
	Size		size = 0;		/* 0: inline */

	for (;;)
	{
		PgraftRequest *req = pgraft_request_begin(type);
		dsm_segment *seg = NULL;
		uint8	   *copy;

		req->arg_index = from;
		req->arg_count = limit;
		req->arg_serializable = serializable;
		pgraft_request_set_payload(req, (const char *) payload, payload_len);
		if (size > 0)
			seg = pgraft_request_reply_segment(req, size);
		pgraft_request_run(req, reply);
		if (seg == NULL && !reply->flag)
			return reply->data;
		if (seg != NULL && !reply->flag)
		{
			copy = palloc(size);
			memcpy(copy, dsm_segment_address(seg), size);
			dsm_detach(seg);
			return copy;
		}
		if (seg != NULL)
			dsm_detach(seg);
		size = (Size) reply->value;
	}
}

/* A read's revision argument: 0 (or NULL) for now, else a past revision. */
static uint64
revision_arg(FunctionCallInfo fcinfo, int n)
{
	return nonnegative_arg(fcinfo, n, "revision", "Pass 0 to read the store as it is now.");
}

/*
 * The keys of [from, end) (kv.h's range rules), at most limit (0: all),
 * as of revision (0: now),
 * into the function's result set (run_reply: inline if they fit).
 */
static void
read_range(FunctionCallInfo fcinfo, const uint8 *from, uint32 from_len, const uint8 *end,
		   uint32 end_len, int32 limit, bool serializable, uint64 revision)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint8		payload[PGRAFT_INLINE_PAYLOAD];

	pgraft_require_loaded();
	if (limit < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_keys must not be negative"),
				 errhint("Pass 0 for every key of the range.")));
	InitMaterializedSRF(fcinfo, 0);
	{
		PgraftReply reply;
		const uint8 *p = run_reply(PGRAFT_REQ_KV_READ, revision, limit, serializable, payload,
								   range_payload(from, from_len, end, end_len, payload),
								   &reply);

		for (uint32 i = 0; i < reply.count; i++)
		{
			uint32		klen;
			uint32		vlen;
			int64		n[4];
			Datum		values[6];
			bool		nulls[6] = {0};

			memcpy(&klen, p, 4);
			memcpy(&vlen, p + 4, 4);
			memcpy(n, p + 8, sizeof(n));
			values[0] = PointerGetDatum(cstring_to_text_with_len((const char *) p + KV_READ_RECORD, klen));
			values[1] = PointerGetDatum(cstring_to_text_with_len((const char *) p + KV_READ_RECORD + klen, vlen));
			values[2] = Int64GetDatum(n[0]);
			values[3] = Int64GetDatum(n[1]);
			values[4] = Int64GetDatum(n[2]);
			values[5] = Int64GetDatum(n[3]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			p += KV_READ_RECORD + klen + vlen;
		}
		return;
	}
}

/* pgraft_kv_get(key, serializable): the key's row, or none */
Datum
pgraft_kv_get(PG_FUNCTION_ARGS)
{
	text	   *key = key_arg(fcinfo, 0, "key");
	bool		serializable = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);

	read_range(fcinfo, (const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL, 0, 1,
			   serializable, revision_arg(fcinfo, 2));
	return (Datum) 0;
}

/* pgraft_kv_range(range_from, range_to, max_keys, serializable): [from, to), NULL to: to the end */
Datum
pgraft_kv_range(PG_FUNCTION_ARGS)
{
	text	   *from = key_arg(fcinfo, 0, "range_from");
	text	   *to = PG_ARGISNULL(1) ? NULL : key_arg(fcinfo, 1, "range_to");
	int32		limit = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	bool		serializable = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);

	read_range(fcinfo, (const uint8 *) VARDATA_ANY(from), VARSIZE_ANY_EXHDR(from),
			   to != NULL ? (const uint8 *) VARDATA_ANY(to) : to_the_end,
			   to != NULL ? VARSIZE_ANY_EXHDR(to) : 1, limit, serializable,
			   revision_arg(fcinfo, 4));
	return (Datum) 0;
}

/* pgraft_kv_prefix(prefix, max_keys, serializable): every key that starts with prefix */
Datum
pgraft_kv_prefix(PG_FUNCTION_ARGS)
{
	text	   *prefix = key_arg(fcinfo, 0, "prefix");
	int32		limit = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	bool		serializable = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	uint8		end[PGR_KV_MAX_KEY];
	uint32		end_len;

	prefix_end((const uint8 *) VARDATA_ANY(prefix), VARSIZE_ANY_EXHDR(prefix), end, &end_len);
	read_range(fcinfo, (const uint8 *) VARDATA_ANY(prefix), VARSIZE_ANY_EXHDR(prefix), end,
			   end_len, limit, serializable, revision_arg(fcinfo, 3));
	return (Datum) 0;
}

/* pgraft_kv_status(): the store on this node */
Datum
pgraft_kv_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {0};
	PgraftReply reply;
	uint64		v[5];

	pgraft_require_loaded();
	pgraft_request_run(pgraft_request_begin(PGRAFT_REQ_KV_DIGEST), &reply);
	LWLockAcquire(pgraft_shared->lock, LW_SHARED);
	v[0] = pgraft_shared->kv_revision;
	v[1] = pgraft_shared->kv_keys;
	v[2] = pgraft_shared->kv_bytes;
	v[3] = pgraft_shared->kv_quota;
	v[4] = pgraft_shared->kv_leases;
	LWLockRelease(pgraft_shared->lock);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	for (int i = 0; i < 5; i++)
		values[i] = Int64GetDatum((int64) v[i]);
	values[5] = Int64GetDatum((int64) reply.index);
	values[6] = CStringGetTextDatum(psprintf("%08x", (uint32) reply.value));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* Watching: has the published revision moved past *arg? */
static bool
revision_passed(void *arg)
{
	uint64		seen = *(const uint64 *) arg;
	bool		passed;

	LWLockAcquire(pgraft_shared->lock, LW_SHARED);
	passed = pgraft_shared->kv_revision > seen;
	LWLockRelease(pgraft_shared->lock);
	return passed;
}

/*
 * One round of a watch: the changes from revision from on to keys of [key,
 * end), at most limit, each given to cb in order; returns the store's
 * revision when it answered.  The reply segment grows as the worker asks.
 */
uint64
pgraft_kv_fetch_changes(uint64 from, const uint8 *key, uint32 key_len, const uint8 *end,
						uint32 end_len, int32 limit, pgraft_change_fn cb, void *arg)
{
	uint8		payload[PGRAFT_INLINE_PAYLOAD];
	uint32		payload_len = range_payload(key, key_len, end, end_len, payload);

	{
		PgraftReply reply;
		const uint8 *p = run_reply(PGRAFT_REQ_KV_CHANGES, from, limit, false, payload,
								   payload_len, &reply);

		for (uint32 i = 0; i < reply.count; i++)
		{
			PgraftChange c;
			uint32		type;

			memcpy(&c.revision, p, 8);
			memcpy(&type, p + 8, 4);
			memcpy(&c.key_len, p + 12, 4);
			memcpy(&c.value_len, p + 16, 4);
			memcpy(&c.create_revision, p + 24, 8);
			memcpy(&c.mod_revision, p + 32, 8);
			memcpy(&c.version, p + 40, 8);
			memcpy(&c.lease, p + 48, 8);
			c.deleted = type != PGR_KV_EVENT_PUT;
			c.key = (const char *) p + KV_CHANGE_RECORD;
			c.value = c.key + c.key_len;
			cb(arg, &c);
			p += KV_CHANGE_RECORD + c.key_len + c.value_len;
		}
		return reply.index;
	}
}

/* A change as a row of pgraft_kv_changes(). */
static void
change_row(void *arg, const PgraftChange *c)
{
	ReturnSetInfo *rsinfo = arg;
	Datum		values[8];
	bool		nulls[8] = {0};

	values[0] = Int64GetDatum((int64) c->revision);
	values[1] = CStringGetTextDatum(c->deleted ? "delete" : "put");
	values[2] = PointerGetDatum(cstring_to_text_with_len(c->key, c->key_len));
	if (!c->deleted)
		values[3] = PointerGetDatum(cstring_to_text_with_len(c->value, c->value_len));
	else
		nulls[3] = true;		/* a deleted key has no value */
	values[4] = Int64GetDatum((int64) c->create_revision);
	values[5] = Int64GetDatum((int64) c->mod_revision);
	values[6] = Int64GetDatum((int64) c->version);
	values[7] = Int64GetDatum((int64) c->lease);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* The range that holds every key with prefix (NULL: every key). */
void
pgraft_kv_prefix_range(const uint8 *prefix, uint32 len, const uint8 **key, uint32 *key_len,
					   uint8 *end, uint32 *end_len)
{
	static const uint8 first_key[1] = {1};	/* below every key text can hold */

	if (prefix == NULL)
	{
		*key = first_key;
		*key_len = 1;
		end[0] = 0;				/* every key from there on */
		*end_len = 1;
		return;
	}
	*key = prefix;
	*key_len = len;
	prefix_end(prefix, len, end, end_len);
}

/*
 * pgraft_kv_changes(from_revision, prefix, max_changes, timeout_ms): the
 * changes from from_revision on, to keys starting with prefix (NULL:
 * every key), in order, from this node's history.  With timeout_ms > 0 and
 * no such change yet, it waits up to that long for one: a watch is a loop
 * of calls, each from the last revision it returned plus one.
 */
Datum
pgraft_kv_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		from = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	text	   *prefix = PG_ARGISNULL(1) ? NULL : key_arg(fcinfo, 1, "prefix");
	int32		limit = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	int32		timeout = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	const uint8 *key;
	uint32		key_len;
	uint8		end[PGR_KV_MAX_KEY];
	uint32		end_len;
	TimestampTz deadline;

	pgraft_require_loaded();
	if (from <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_revision must be positive")));
	if (limit < 0 || timeout < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_changes and timeout_ms must not be negative")));
	pgraft_kv_prefix_range(prefix != NULL ? (const uint8 *) VARDATA_ANY(prefix) : NULL,
						   prefix != NULL ? VARSIZE_ANY_EXHDR(prefix) : 0, &key, &key_len,
						   end, &end_len);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout);
	InitMaterializedSRF(fcinfo, 0);
	for (;;)
	{
		int64		rows_before = tuplestore_tuple_count(rsinfo->setResult);
		uint64		seen = pgraft_kv_fetch_changes((uint64) from, key, key_len, end, end_len,
												   limit, change_row, rsinfo);
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

		if (tuplestore_tuple_count(rsinfo->setResult) > rows_before || left <= 0)
			return (Datum) 0;
		/* nothing yet: wait for the store to move past what it was */
		(void) pgraft_wait_for(revision_passed, &seen, (int) left);
	}
}
