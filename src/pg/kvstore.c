/*-------------------------------------------------------------------------
 *
 * kvstore.c
 *		The key-value store (include/pgraft/kv.h) in the worker: applying
 *		the commands the log carries, the leader's duties to the store, and
 *		the answers to the key-value SQL functions.
 *
 * APPLYING.  A key-value command is an application entry of kind
 * PGR_PAYLOAD_KV (app.h); the store applies it if it COUNTS (the verdict of
 * src/app/state.c), at its index, as the simulator does: a superseded,
 * duplicate or expired copy is never applied.  Two stores are kept, like
 * the application state (apply.c): as of the applied index, and as of the
 * latest snapshot; both come from the same snapshot data.  What applying a
 * command did is kept with the entry's outcome while the entry is in the
 * log, and the call that proposed it is answered from there.  A call whose
 * entry this node learned of only from a snapshot was applied, but what it
 * did is no longer known here: it ends with SQLSTATE 08007, never with a
 * guess.
 *
 * THE LEADER'S DUTIES.  Only the leader decides when a lease has expired
 * (the lease clock of kv.h, on its own clock), and its pgraft.kv_max_size
 * is the store's quota; it proposes both as commands, through calls of its
 * own, tagged pgraft_max_requests and up so that they never meet a request
 * slot:
 *	  a revocation for every lease the clock says has expired (the clock
 *	  names each again after an election timeout while it is on its way);
 *	  a quota command whenever the store's quota is not its setting.
 * A node that stops leading forgets its deadlines; the next leader grants
 * every lease an election timeout of grace, as etcd does.
 *
 * READS.  A key-value read is answered from the store as of the applied
 * index: at once when the caller asked for a serializable read (this
 * node's state, possibly stale), or after a read barrier (PGR_CALL_READ:
 * linearizable).  The keys go into the backend's reply segment; if they do
 * not fit, the answer says how much room they need and the backend asks
 * again with that much.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/kvstore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/dsm.h"

#include "queue.h"
#include "settings.h"
#include "shmem.h"
#include "worker.h"

/* Record of a key in a read's reply: the header, then the key and the value. */
#define KV_READ_RECORD 40
/* Record of a change in a watch's reply: the same, with revision and type. */
#define KV_CHANGE_RECORD 56

pg_noreturn static void
kv_out_of_memory(void)
{
	ereport(FATAL,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("pgraft: out of memory applying a key-value command"),
			 errdetail("The worker restarts and rebuilds the store from storage.")));
}

void
pgraft_kv_init(PgraftWorker *w)
{
	if (pgr_kv_new(&w->alloc, 0, &w->kv) != PGR_OK ||
		pgr_kv_new(&w->alloc, 0, &w->snap_kv) != PGR_OK)
		kv_out_of_memory();
	pgr_lease_clock_init(&w->leases, &w->alloc);
	pgr_kv_history_init(&w->history, &w->alloc, (uint64) pgraft_kv_history_size * 1024);
	pgr_kv_set_watcher(w->kv, pgr_kv_history_watch, &w->history);
}

/* pgraft.kv_history_size was reloaded. */
void
pgraft_kv_reload(PgraftWorker *w)
{
	pgr_kv_history_set_max(&w->history, (uint64) pgraft_kv_history_size * 1024);
}

/*
 * kv becomes the store blob encodes (len 0: an empty store, as snapshots
 * written before the store existed have); FATAL if it does not decode.
 */
void
pgraft_kv_load(PgraftWorker *w, struct pgr_kv *kv, const uint8 *blob, size_t len)
{
	enum pgr_err err = PGR_OK;

	if (len == 0)
		pgr_kv_reset(kv, 0);
	else
		err = pgr_kv_decode(kv, blob, len);
	if (err == PGR_ENOMEM)
		kv_out_of_memory();
	if (err != PGR_OK)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("pgraft: the key-value store in a snapshot is not recognised: %s",
						pgr_strerror(err))));
	/* the live store's history starts again after what it now holds */
	if (kv == w->kv)
		pgr_kv_history_reset(&w->history, pgr_kv_applied(kv) + 1);
}

/*
 * Judge one applied entry: its outcome (out may be NULL: a replay for a
 * snapshot), and, if it is a key-value command that counts, apply it to kv.
 * On the leader, a keepalive of the live store restarts its lease's time.
 */
void
pgraft_kv_apply_entry(PgraftWorker *w, struct pgr_kv *kv, const struct pgr_entry *e,
					  enum pgr_app_verdict v, PgraftOutcome *out)
{
	const uint8 *cmd;
	uint32		len;
	struct pgr_kv_result res;

	if (out != NULL)
	{
		memset(out, 0, sizeof(*out));
		out->verdict = (uint8) v;
	}
	if (!pgr_app_kv_command(e, v, &cmd, &len))
		return;
	if (pgr_kv_apply(kv, e->index, cmd, len, &res) != PGR_OK)
		kv_out_of_memory();
	if (kv == w->kv && res.kept_alive != 0)
		(void) pgr_lease_clock_renew(&w->leases, kv, res.kept_alive, pgraft_now_ms());
	if (out == NULL)
		return;
	out->kv = true;
	out->kv_status = (uint8) res.status;
	out->kv_succeeded = res.succeeded;
	out->kv_revision = res.revision;
	out->kv_value = res.lease != 0 ? res.lease : res.kept_alive != 0 ? res.ttl_ms : res.deleted;
}

/* ---------------------------------------------------------------------- */
/* The leader's duties                                                    */
/* ---------------------------------------------------------------------- */

/* Propose cmd through a call of the worker's own; false if none is free. */
static bool
duty_start(PgraftWorker *w, const uint8 *cmd, bool quota, uint64 now)
{
	for (int i = 0; i < PGRAFT_KV_DUTIES; i++)
	{
		PgraftKvDuty *d = &w->duties[i];
		struct pgr_call_spec sp;

		if (d->busy)
			continue;
		memcpy(d->cmd, cmd, PGR_KV_LEASE_CMD_SIZE);
		memset(&sp, 0, sizeof(sp));
		sp.kind = PGR_CALL_APPEND;
		sp.payload_kind = PGR_PAYLOAD_KV;
		sp.payload = d->cmd;
		sp.len = PGR_KV_LEASE_CMD_SIZE;
		sp.deadline = now + 2 * (uint64) pgraft_election_timeout;
		if (pgr_calls_start(&w->calls, (uint32) (pgraft_max_requests + i), &sp) != PGR_OK)
			return false;
		d->busy = true;
		d->quota = quota;
		d->deadline_ms = sp.deadline;
		return true;
	}
	return false;
}

static bool
duty_quota_pending(PgraftWorker *w)
{
	for (int i = 0; i < PGRAFT_KV_DUTIES; i++)
		if (w->duties[i].busy && w->duties[i].quota)
			return true;
	return false;
}

/*
 * Once per wake-up, after the batches: on the leader, sync the lease clock
 * with the store, propose the revocations it asks for and the quota; on
 * any other node, forget the deadlines.  Duties whose call was lost (the
 * calls were rebuilt) are dropped a second after their deadline.
 */
void
pgraft_kv_duties(PgraftWorker *w)
{
	struct pgr_status s;
	uint64		now = pgraft_now_ms();
	uint64		expired[PGRAFT_KV_DUTIES];
	size_t		n;
	uint64		quota = (uint64) pgraft_kv_max_size * 1024;

	for (int i = 0; i < PGRAFT_KV_DUTIES; i++)
		if (w->duties[i].busy && now > w->duties[i].deadline_ms + 1000)
		{
			pgr_calls_cancel(&w->calls, (uint32) (pgraft_max_requests + i));
			w->duties[i].busy = false;
		}
	pgr_node_status(w->node, &s);
	if (s.role != PGR_ROLE_LEADER)
	{
		if (w->leases.leading)
			pgr_lease_clock_reset(&w->leases);
		return;
	}
	/* leases change only with the store: not at every entry applied */
	if (!w->leases.leading || w->leases_synced != pgr_kv_applied(w->kv))
	{
		if (pgr_lease_clock_sync(&w->leases, w->kv, now, (uint64) pgraft_election_timeout) != PGR_OK)
			kv_out_of_memory();
		w->leases_synced = pgr_kv_applied(w->kv);
	}
	n = pgr_lease_clock_expired(&w->leases, now, (uint64) pgraft_election_timeout, expired,
								lengthof(expired));
	for (size_t i = 0; i < n; i++)
	{
		uint8		cmd[PGR_KV_LEASE_CMD_SIZE];

		pgr_kv_encode_revoke(expired[i], cmd);
		if (!duty_start(w, cmd, false, now))
			break;				/* the clock names it again after retry */
		ereport(PGRAFT_DEBUG_LEVEL(),
				(errmsg("pgraft: lease " UINT64_FORMAT " expired: revoking it", expired[i])));
	}
	if (pgr_kv_quota(w->kv) != quota && !duty_quota_pending(w))
	{
		uint8		cmd[PGR_KV_LEASE_CMD_SIZE];

		pgr_kv_encode_quota(quota, cmd);
		(void) duty_start(w, cmd, true, now);
	}
}

/* A finished call: true if it was a duty's (then it is taken care of). */
bool
pgraft_kv_duty_done(PgraftWorker *w, const struct pgr_call_done *d)
{
	int			i = (int) d->tag - pgraft_max_requests;

	if (d->tag < (uint32) pgraft_max_requests)
		return false;
	if (i < PGRAFT_KV_DUTIES)
	{
		w->duties[i].busy = false;
		if (d->outcome != PGR_CALL_OK)
			ereport(PGRAFT_DEBUG_LEVEL(),
					(errmsg("pgraft: a key-value duty did not commit: %s",
							pgr_call_reason_name(d->reason))));
	}
	return true;
}

/* ---------------------------------------------------------------------- */
/* Answers                                                                */
/* ---------------------------------------------------------------------- */

/* A key-value command's call is OK at index: answer what applying it did. */
static void
answer_write(PgraftWorker *w, int slot, uint64 index)
{
	const PgraftOutcome *o = pgraft_apply_outcome(w, index);
	PgraftReply reply = {0};
	char		detail[PGRAFT_MSG_MAX];

	if (o == NULL || !o->kv)
	{
		snprintf(detail, sizeof(detail),
				 "It was applied at index " UINT64_FORMAT ", which this node learned of from a snapshot.",
				 index);
		pgraft_request_fail(slot, ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN,
							"the key-value command took effect, but what it did is no longer known here",
							detail, "Read the keys it writes.");
		return;
	}
	switch ((enum pgr_kv_status) o->kv_status)
	{
		case PGR_KV_OK:
			reply.index = o->kv_revision;
			reply.count = 0;
			reply.value = o->kv_value;
			reply.flag = o->kv_succeeded;
			pgraft_request_answer_reply(slot, &reply);
			return;
		case PGR_KV_QUOTA:
			snprintf(detail, sizeof(detail),
					 "The store holds " UINT64_FORMAT " bytes of keys and values; its quota is " UINT64_FORMAT " bytes.",
					 pgr_kv_bytes(w->kv), pgr_kv_quota(w->kv));
			pgraft_request_fail(slot, ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
								"the key-value store is full", detail,
								"Delete keys or revoke leases, or raise pgraft.kv_max_size on the leader.");
			return;
		case PGR_KV_NO_LEASE:
			pgraft_request_fail(slot, ERRCODE_UNDEFINED_OBJECT,
								"the lease does not exist",
								"It was revoked, or it expired. Nothing was written.",
								"Grant a new lease with pgraft_lease_grant().");
			return;
		case PGR_KV_LEASE_NOT_FOUND:
			pgraft_request_fail(slot, ERRCODE_UNDEFINED_OBJECT,
								"the lease does not exist",
								"It was revoked, or it expired.", NULL);
			return;
		case PGR_KV_DUPLICATE_KEY:
			pgraft_request_fail(slot, ERRCODE_INVALID_PARAMETER_VALUE,
								"a branch of the transaction writes the same key twice",
								"Nothing was written.", NULL);
			return;
		case PGR_KV_BAD_TTL:
			pgraft_request_fail(slot, ERRCODE_INVALID_PARAMETER_VALUE,
								"the lease's time to live is too long", NULL, NULL);
			return;
		case PGR_KV_MALFORMED:
		case PGR_KV_INDEX_ORDER:
			break;
	}
	pgraft_request_fail(slot, ERRCODE_INTERNAL_ERROR, "the key-value command was not applied",
						pgr_kv_status_name((enum pgr_kv_status) o->kv_status), NULL);
}

/*
 * Records written into a request's reply: into its inline buffer when the
 * backend gave no reply segment (the request's own payload is read before,
 * see reply_begin), else into the segment; as many as fit, and what they
 * would all take (the backend asks again with a segment that large).
 */
typedef struct KvReplyOut
{
	dsm_segment *seg;			/* NULL: inline */
	uint8	   *buf;
	Size		cap;
	Size		used;
	Size		needed;
	uint32		count;			/* records written */
} KvReplyOut;

/*
 * Start slot's reply; false (and the request failed) if its segment cannot
 * be attached.  An inline reply overwrites the payload: read it first.
 */
static bool
reply_begin(int slot, KvReplyOut *out)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];

	memset(out, 0, sizeof(*out));
	if (req->dsm == DSM_HANDLE_INVALID)
	{
		out->buf = req->inline_payload;
		out->cap = PGRAFT_INLINE_PAYLOAD;
		return true;
	}
	out->seg = dsm_attach(req->dsm);
	if (out->seg == NULL)
	{
		pgraft_request_fail(slot, ERRCODE_INTERNAL_ERROR,
							"could not attach the reply segment", NULL, NULL);
		return false;
	}
	out->buf = dsm_segment_address(out->seg);
	out->cap = req->dsm_size;
	return true;
}

/* Room for a record of n bytes, or NULL (then only counted). */
static uint8 *
reply_record(KvReplyOut *o, Size n)
{
	uint8	   *p;

	o->needed += n;
	if (o->needed > o->cap)
		return NULL;
	p = o->buf + o->used;
	o->used += n;
	o->count++;
	return p;
}

/* Detach, and fill in the reply's count, and flag and value if it did not fit. */
static void
reply_end(KvReplyOut *o, PgraftReply *reply)
{
	if (o->seg != NULL)
		dsm_detach(o->seg);
	else
		reply->data_len = (uint32) o->used;
	reply->count = o->count;
	reply->flag = o->needed > o->cap;
	if (reply->flag)
		reply->value = o->needed;
}

static bool
read_one(void *arg, const struct pgr_kv_entry *e)
{
	uint8	   *p = reply_record(arg, KV_READ_RECORD + e->key_len + e->value_len);

	if (p == NULL)
		return true;			/* keep counting what it would take */
	memcpy(p, &e->key_len, 4);
	memcpy(p + 4, &e->value_len, 4);
	memcpy(p + 8, &e->create_rev, 8);
	memcpy(p + 16, &e->mod_rev, 8);
	memcpy(p + 24, &e->version, 8);
	memcpy(p + 32, &e->lease, 8);
	memcpy(p + KV_READ_RECORD, e->key, e->key_len);
	if (e->value_len > 0)
		memcpy(p + KV_READ_RECORD + e->key_len, e->value, e->value_len);
	return true;
}

/* A read's or a watch's range, copied out of the request. */
typedef struct KvRange
{
	uint8		key[PGR_KV_MAX_KEY];
	uint32		key_len;
	uint8		end[PGR_KV_MAX_KEY];
	uint32		end_len;
}			KvRange;

/*
 * A read's or a watch's range, from the request's inline payload (u32 key
 * length, u32 range end length, key, range end), copied: the reply may
 * overwrite the payload.  False (and the request failed) if it does not
 * add up.
 */
static bool
read_payload(int slot, KvRange * r)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];

	if (req->payload_len >= 8 && req->payload_len <= PGRAFT_INLINE_PAYLOAD)
	{
		memcpy(&r->key_len, req->inline_payload, 4);
		memcpy(&r->end_len, req->inline_payload + 4, 4);
		if (r->key_len <= PGR_KV_MAX_KEY && r->end_len <= PGR_KV_MAX_KEY &&
			(Size) 8 + r->key_len + r->end_len == req->payload_len)
		{
			memcpy(r->key, req->inline_payload + 8, r->key_len);
			memcpy(r->end, req->inline_payload + 8 + r->key_len, r->end_len);
			return true;
		}
	}
	pgraft_request_fail(slot, ERRCODE_INTERNAL_ERROR, "malformed key-value range", NULL, NULL);
	return false;
}

/* Why a read at a past revision cannot be answered here. */
static void
fail_read_at(PgraftWorker *w, int slot, uint64 revision, enum pgr_err err)
{
	char		msg[PGRAFT_MSG_MAX];
	char		detail[PGRAFT_MSG_MAX];

	if (err == PGR_ECOMPACTED)
	{
		snprintf(msg, sizeof(msg), "revision " UINT64_FORMAT " is no longer kept", revision);
		snprintf(detail, sizeof(detail),
				 "This node can read the store as of revision " UINT64_FORMAT " and later (pgraft.kv_history_size, and since it last started or installed a snapshot).",
				 w->history.start - 1);
		pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg, detail,
							"Read at a later revision, or at 0 for the store as it is now.");
	}
	else if (err == PGR_EINVAL)
	{
		snprintf(msg, sizeof(msg), "revision " UINT64_FORMAT " is in the future", revision);
		snprintf(detail, sizeof(detail),
				 "The store here is at revision " UINT64_FORMAT " (it has applied the log up to index " UINT64_FORMAT ").",
				 pgr_kv_revision(w->kv), pgr_kv_applied(w->kv));
		pgraft_request_fail(slot, ERRCODE_INVALID_PARAMETER_VALUE, msg, detail,
							"Read at a revision a write or pgraft_kv_status() returned.");
	}
	else
		pgraft_request_fail(slot, ERRCODE_OUT_OF_MEMORY, "out of memory",
							"The worker could not read the store at a past revision.", NULL);
}

/*
 * A read's keys into its slot's reply.  The request's payload is the range
 * (read_payload, kv.h's range rules); arg_count is the limit, arg_index
 * the revision to read at (0: now).  The answer: index the store's
 * revision, count the keys written, value the bytes they need when they
 * did not all fit (flag set).
 */
static void
answer_read(PgraftWorker *w, int slot)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];
	uint64		limit = (uint64) Max(req->arg_count, 0);
	KvReplyOut	out;
	KvRange		r;
	PgraftReply reply = {0};
	enum pgr_err err = PGR_OK;

	if (!read_payload(slot, &r) || !reply_begin(slot, &out))
		return;
	if (req->arg_index == 0)
		(void) pgr_kv_range(w->kv, r.key, r.key_len, r.end, r.end_len, limit, read_one, &out);
	else
		err = pgr_kv_history_range_at(&w->history, w->kv, req->arg_index, r.key, r.key_len,
									  r.end, r.end_len, limit, read_one, &out);
	reply.index = pgr_kv_revision(w->kv);
	reply_end(&out, &reply);
	if (err != PGR_OK)
		fail_read_at(w, slot, req->arg_index, err);
	else
		pgraft_request_answer_reply(slot, &reply);
}

/* A KV_READ request taken: serializable reads are answered now. */
void
pgraft_kv_take_read(PgraftWorker *w, int slot)
{
	answer_read(w, slot);
}

static bool
change_one(void *arg, const struct pgr_kv_change *c)
{
	uint8	   *p = reply_record(arg, KV_CHANGE_RECORD + c->e.key_len + c->e.value_len);
	uint32		type = (uint32) c->type;

	if (p == NULL)
		return true;			/* keep counting what it would take */
	memcpy(p, &c->revision, 8);
	memcpy(p + 8, &type, 4);
	memcpy(p + 12, &c->e.key_len, 4);
	memcpy(p + 16, &c->e.value_len, 4);
	memset(p + 20, 0, 4);
	memcpy(p + 24, &c->e.create_rev, 8);
	memcpy(p + 32, &c->e.mod_rev, 8);
	memcpy(p + 40, &c->e.version, 8);
	memcpy(p + 48, &c->e.lease, 8);
	memcpy(p + KV_CHANGE_RECORD, c->e.key, c->e.key_len);
	if (c->e.value_len > 0)
		memcpy(p + KV_CHANGE_RECORD + c->e.key_len, c->e.value, c->e.value_len);
	return true;
}

/*
 * The changes from revision arg_index on to keys of the range (the payload
 * as a read's), at most arg_count, from this node's history.  The answer:
 * index the store's revision, count the changes written, value the bytes
 * they need when they did not all fit (flag set).
 */
void
pgraft_kv_take_changes(PgraftWorker *w, int slot)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];
	KvReplyOut	out;
	KvRange		r;
	PgraftReply reply = {0};
	enum pgr_err err;

	if (!read_payload(slot, &r) || !reply_begin(slot, &out))
		return;
	err = pgr_kv_history_read(&w->history, req->arg_index, r.key, r.key_len, r.end, r.end_len,
							  (uint64) Max(req->arg_count, 0), change_one, &out);
	reply.index = pgr_kv_revision(w->kv);
	reply.value = w->history.start;
	reply_end(&out, &reply);
	if (err == PGR_ECOMPACTED)
	{
		char		msg[PGRAFT_MSG_MAX];
		char		detail[PGRAFT_MSG_MAX];

		snprintf(msg, sizeof(msg), "the changes from revision " UINT64_FORMAT " are no longer kept",
				 req->arg_index);
		snprintf(detail, sizeof(detail),
				 "This node keeps the changes from revision " UINT64_FORMAT " on (pgraft.kv_history_size, and since it last started or installed a snapshot).",
				 w->history.start);
		pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg, detail,
							"Read the keys again, then watch from the revision of pgraft_kv_status() after it, plus one.");
		return;
	}
	pgraft_request_answer_reply(slot, &reply);
}

/* The store's applied index and digest, to compare nodes (pgraft_kv_status). */
void
pgraft_kv_take_digest(PgraftWorker *w, int slot)
{
	PgraftReply reply = {pgr_kv_applied(w->kv), 0, pgr_kv_digest(w->kv), false, NULL, 0};

	pgraft_request_answer_reply(slot, &reply);
}

/* A KV_WRITE or KV_READ call is OK at index (the read: applied here). */
void
pgraft_kv_answer(PgraftWorker *w, int slot, uint64 index)
{
	if (pgraft_shared->slots[slot].type == PGRAFT_REQ_KV_READ)
		answer_read(w, slot);
	else
		answer_write(w, slot, index);
}

/* The store's figures, with the status, under the lock (pgraft_kv_status). */
void
pgraft_kv_publish(PgraftWorker *w)
{
	uint64		leases = pgr_kv_lease_count(w->kv);

	pgraft_shared->kv_revision = pgr_kv_revision(w->kv);
	pgraft_shared->kv_applied = pgr_kv_applied(w->kv);
	pgraft_shared->kv_keys = pgr_kv_count(w->kv);
	pgraft_shared->kv_bytes = pgr_kv_bytes(w->kv);
	pgraft_shared->kv_quota = pgr_kv_quota(w->kv);
	pgraft_shared->kv_leases = leases;
}
