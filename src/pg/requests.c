/*-------------------------------------------------------------------------
 *
 * requests.c
 *		Requests from SQL into calls, and outcomes back into answers.
 *
 * THE LIFECYCLE OF A REQUEST
 *	1. A backend fills a slot (queue.c) and waits on its condition variable.
 *	2. pgraft_requests_take() marks it ACTIVE and either answers at once
 *	   (pgraft_init, pgraft_force_new_cluster, pgraft_log_get_entries, bad
 *	   state) or starts a call in the worker's struct pgr_calls, tagged with
 *	   the slot number, with the deadline the backend asked for
 *	   (pgraft.request_timeout by default).
 *	3. The loop drives the call (pgr_calls_drive), and the APPLY step of each
 *	   ready batch resolves it (apply.c); src/app/calls.c has its states.
 *	4. pgraft_requests_answer() turns every finished call into the slot's
 *	   answer or error, with an SQLSTATE per outcome:
 *		  OK						the index (or true)
 *		  FAILED					an error saying what did not happen and
 *									why; nothing took effect
 *		  UNKNOWN					08007 (transaction_resolution_unknown):
 *									it may or may not have taken effect
 *	5. A backend that gives up (cancel, statement_timeout) marks its slot
 *	   ABANDONED; pgraft_requests_take() cancels the call, so nothing more is
 *	   proposed on its behalf, and frees the slot.
 * A worker that exits ends every request it holds (pgraft_requests_end_all),
 * and a new worker fails what an old one left (queue.c): never a hang.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/requests.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/dsm.h"

#include "queue.h"
#include "settings.h"
#include "shmem.h"
#include "transport.h"
#include "worker.h"

static void
release_payload(PgraftWorker *w, int slot)
{
	if (w->payload_segs[slot] != NULL)
		dsm_detach(w->payload_segs[slot]);
	w->payload_segs[slot] = NULL;
}

static bool
require_member(PgraftWorker *w, int slot)
{
	if (w->identity.initialized && pgr_node_config(w->node)->n_members > 0)
		return true;
	pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						"this node is not a member of a pgraft cluster", NULL,
						"Run pgraft_init() on the first node, then add the others from it with pgraft_add_node().");
	return false;
}

/* ---------------------------------------------------------------------- */
/* Requests answered at once                                              */
/* ---------------------------------------------------------------------- */

static void
take_init(PgraftWorker *w, int slot)
{
	struct pgr_config conf;
	uint32		len;

	if (w->identity.initialized)
	{
		/* result_index 0: it already was */
		pgraft_request_answer(slot, 0, 0);
		return;
	}
	memset(&conf, 0, sizeof(conf));
	conf.n_members = 1;
	conf.members[0].id = pgraft_node_id;
	conf.members[0].role = PGR_MEMBER_VOTER;
	pgraft_format_context(pgraft_address, pgraft_port, conf.members[0].context, &len);
	conf.members[0].context_len = len;
	pgraft_node_found(w, &conf);
	/* answered once the configuration entry is durable (worker.c) */
	w->founding_slot = slot;
	w->founding_index = 1;
}

/*
 * pgraft_force_new_cluster(): recovery after a majority of the voters is
 * lost for good.  The core refuses while a leader is known (a leader has
 * its majority, a follower heard from one within the election timeout),
 * and otherwise makes this node the only voter of a new term, keeping and
 * committing its whole log.  This node then takes a new cluster id, so the
 * lost members, should they ever come back, are refused as another cluster
 * instead of electing a second leader of this one.  The id is durable
 * before the forced configuration is (the loop persists it later in this
 * iteration): a crash in between leaves a node that reaches no old member
 * and may be forced again.  Every other request ends, those taken with
 * this one included (true is returned then); this one is answered once the
 * configuration is durable.
 */
static bool
take_force(PgraftWorker *w, int slot)
{
	struct pgr_status s;
	uint64		idx = 0;
	enum pgr_err err;
	char		hex[33];

	if (!require_member(w, slot))
		return false;
	pgr_node_status(w->node, &s);
	err = pgraft_check_core(pgr_node_force_alone(w->node, &idx), "forcing a new cluster");
	switch (err)
	{
		case PGR_OK:
			break;
		case PGR_EEXIST:
			pgraft_request_answer(slot, 0, 0);
			return false;
		case PGR_EBUSY:
			if (s.leader == (uint64) pgraft_node_id)
				pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
									"this node leads its cluster, so a majority of the voters is alive",
									"pgraft_force_new_cluster() is only for a cluster that has lost a majority of its voters for good.",
									"Remove members that are gone with pgraft_remove_node().");
			else if (s.leader == PGR_NONE)
				pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
									"this node knew a leader less than an election timeout ago",
									"A majority of the voters may still be alive: the node may only have lost its connection to the leader, or just started.",
									"Call it again once the node has had no leader for pgraft.election_timeout.");
			else
			{
				char		msg[96];

				snprintf(msg, sizeof(msg), "node " UINT64_FORMAT " leads the cluster, so a majority of the voters is alive",
						 s.leader);
				pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg,
									"This node heard from that leader within the election timeout. pgraft_force_new_cluster() is only for a cluster that has lost a majority of its voters for good.",
									"Remove members that are gone with pgraft_remove_node() on the leader.");
			}
			return false;
		case PGR_EINVAL:
			pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
								"this node is a learner",
								"Commitment was counted on the voters' logs, not on a learner's.",
								"Run pgraft_force_new_cluster() on a surviving voter.");
			return false;
		case PGR_ENOENT:
			pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
								s.removed ? "this node was removed from its cluster" :
								"this node is not in the latest configuration of its cluster",
								NULL, "Run pgraft_force_new_cluster() on a surviving voter.");
			return false;
		default:
			pgraft_request_fail(slot, ERRCODE_INTERNAL_ERROR, "could not force a new cluster",
								pgr_strerror(err), NULL);
			return false;
	}
	pgraft_requests_end_all(w, slot, "pgraft_force_new_cluster() made this node a new cluster");
	pgraft_node_new_identity(w);
	pgraft_identity_format(w->identity.cluster_id, hex, sizeof(hex));
	ereport(LOG,
			(errmsg("pgraft: forced a new cluster %s with this node as its only voter, in term " UINT64_FORMAT ": the log up to index " UINT64_FORMAT " is kept and committed",
					hex, s.term + 1, idx - 1),
			 errdetail("The other members of the old configuration are members no more; if one comes back, it is refused as a node of another cluster."),
			 errhint("Add new nodes with pgraft_add_node(); a surviving node must have its pgraft state removed before it is added again.")));
	w->founding_slot = slot;
	w->founding_index = idx;
	return true;
}

/* A configuration entry as text: "1=host:port voter, 2=host:port learner". */
static uint32
render_config(const struct pgr_entry *e, char *buf, size_t size)
{
	struct pgr_config conf;
	size_t		used = 0;

	buf[0] = '\0';
	if (pgr_config_decode(e->data, e->len, &conf) != PGR_OK)
		return 0;
	for (uint32 i = 0; i < conf.n_members && used < size; i++)
	{
		const struct pgr_member *m = &conf.members[i];

		used += snprintf(buf + used, size - used, "%s" UINT64_FORMAT "=%.*s %s",
						 i > 0 ? ", " : "", m->id, (int) m->context_len,
						 (const char *) m->context,
						 m->role == PGR_MEMBER_VOTER ? "voter" : "learner");
	}
	return (uint32) Min(used, size - 1);
}

/* The entry types of the reply, by verdict (sql.c names them). */
static const char verdict_type[] = {
	[PGR_APP_NOOP] = 'n',
	[PGR_APP_CONFIG] = 'c',
	[PGR_APP_DATA] = 'd',
	[PGR_APP_SUPERSEDED] = 'f',
	[PGR_APP_DUPLICATE] = 'x',
	[PGR_APP_EXPIRED] = 'e',
	[PGR_APP_FOREIGN] = 'u',
};

/*
 * Copy applied entries into the backend's reply segment.  Only what this
 * node has applied: that is committed and durable here (the core commits a
 * lone voter's entries before they are on its disk; applying waits).  Each
 * entry is shown as the state machine judged it, so a second copy of a
 * call that was proposed again is a duplicate, not data.
 */
static void
take_get_entries(PgraftWorker *w, int slot)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];
	dsm_segment *seg = dsm_attach(req->dsm);
	uint8	   *out;
	Size		used = 0;
	uint32		count = 0;
	struct pgr_status s;
	uint64		i;
	char text[	PGR_MAX_MEMBERS * (PGR_MAX_CONTEXT + 32)];
	const PgraftOutcome *o;

	if (seg == NULL)
	{
		pgraft_request_fail(slot, ERRCODE_INTERNAL_ERROR,
							"could not attach the reply segment", NULL, NULL);
		return;
	}
	out = dsm_segment_address(seg);
	pgr_node_status(w->node, &s);
	i = Max(req->arg_index, s.first_index);
	for (; i <= w->app->applied && count < (uint32) req->arg_count; i++)
	{
		const struct pgr_entry *e;
		const uint8 *data;
		uint32		len;
		uint8		type;
		struct pgr_envelope env;

		if (pgr_node_entry_at(w->node, i, &e) != PGR_OK)
			break;
		data = e->data;
		len = e->len;
		o = pgraft_apply_outcome(w, i);
		if (o == NULL)
			break;				/* cannot happen: every applied entry has one */
		type = o->kv ? 'k' : verdict_type[o->verdict];
		if (o->verdict == PGR_APP_CONFIG)
		{
			len = render_config(e, text, sizeof(text));
			data = (const uint8 *) text;
		}
		else if (pgr_envelope_read(e->data, e->len, &env))
		{
			data = env.data;
			/* a key-value command's bytes are not text: shown without data */
			len = env.kind == PGR_PAYLOAD_KV ? 0 : env.len;
		}
		/* record: u64 index, u64 term, u8 type, u32 len, bytes */
		if (used + 21 + len > req->dsm_size)
			break;
		memcpy(out + used, &e->index, 8);
		memcpy(out + used + 8, &e->term, 8);
		out[used + 16] = type;
		memcpy(out + used + 17, &len, 4);
		if (len > 0)
			memcpy(out + used + 21, data, len);
		used += 21 + len;
		count++;
	}
	dsm_detach(seg);
	/* result_index: the first index still in the log, so callers can tell */
	pgraft_request_answer(slot, s.first_index, count);
}

/* ---------------------------------------------------------------------- */
/* Requests that become calls                                             */
/* ---------------------------------------------------------------------- */

static bool
call_spec(PgraftWorker *w, int slot, struct pgr_call_spec *sp)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];

	memset(sp, 0, sizeof(*sp));
	sp->deadline = pgraft_now_ms() + (uint64) Max(req->arg_timeout_ms, 0);
	switch (req->type)
	{
		case PGRAFT_REQ_APPEND:
		case PGRAFT_REQ_KV_WRITE:
			sp->kind = PGR_CALL_APPEND;
			sp->expect_term = req->arg_term;
			sp->payload_kind = req->type == PGRAFT_REQ_KV_WRITE ? PGR_PAYLOAD_KV : PGR_PAYLOAD_DATA;
			sp->len = req->payload_len;
			sp->payload = req->inline_payload;
			if (req->dsm != DSM_HANDLE_INVALID)
			{
				w->payload_segs[slot] = dsm_attach(req->dsm);
				if (w->payload_segs[slot] == NULL)
				{
					pgraft_request_fail(slot, ERRCODE_INTERNAL_ERROR,
										"could not read the payload", NULL, NULL);
					return false;
				}
				sp->payload = dsm_segment_address(w->payload_segs[slot]);
			}
			return true;
		case PGRAFT_REQ_READ_INDEX:
		case PGRAFT_REQ_KV_READ:
			sp->kind = PGR_CALL_READ;
			return true;
		case PGRAFT_REQ_ADD_NODE:
			sp->kind = PGR_CALL_ADD;
			sp->probe = true;
			pgraft_format_context(req->arg_host, req->arg_port, sp->context, &sp->context_len);
			break;
		case PGRAFT_REQ_REMOVE_NODE:
			sp->kind = PGR_CALL_REMOVE;
			break;
		case PGRAFT_REQ_TRANSFER:
			sp->kind = PGR_CALL_TRANSFER;
			break;
		default:
			elog(ERROR, "pgraft: request type %d is not a call", (int) req->type);
	}
	sp->node_id = (uint64) req->arg_node_id;
	return true;
}

static void
take_call(PgraftWorker *w, int slot)
{
	struct pgr_call_spec sp;
	enum pgr_err err;

	if (!require_member(w, slot) || !call_spec(w, slot, &sp))
		return;
	err = pgr_calls_start(&w->calls, (uint32) slot, &sp);
	if (err != PGR_OK)
	{
		release_payload(w, slot);
		pgraft_request_fail(slot, ERRCODE_INTERNAL_ERROR, "could not start the request",
							pgr_strerror(err), NULL);
	}
}

void
pgraft_requests_take(PgraftWorker *w)
{
	int		   *slots = w->slot_buf;
	int			n = pgraft_request_abandoned(slots, pgraft_max_requests);

	/* given up by their callers: they stop here, and free their slots */
	for (int k = 0; k < n; k++)
	{
		pgr_calls_cancel(&w->calls, (uint32) slots[k]);
		release_payload(w, slots[k]);
		if (w->founding_slot == slots[k])
			w->founding_slot = -1;
		pgraft_request_fail(slots[k], ERRCODE_QUERY_CANCELED, "abandoned", NULL, NULL);
	}

	n = pgraft_request_take(slots, pgraft_max_requests);
	for (int k = 0; k < n; k++)
	{
		int			slot = slots[k];

		switch (pgraft_shared->slots[slot].type)
		{
			case PGRAFT_REQ_INIT:
				take_init(w, slot);
				break;
			case PGRAFT_REQ_FORCE_NEW_CLUSTER:
				/* done: it ended every other request, the rest taken too */
				if (take_force(w, slot))
					return;
				break;
			case PGRAFT_REQ_GET_ENTRIES:
				take_get_entries(w, slot);
				break;
			case PGRAFT_REQ_KV_DIGEST:
				pgraft_kv_take_digest(w, slot);
				break;
			case PGRAFT_REQ_KV_CHANGES:
				pgraft_kv_take_changes(w, slot);
				break;
			case PGRAFT_REQ_KV_READ:
				/* serializable: this node's store, now; else after a barrier */
				if (!pgraft_shared->slots[slot].arg_serializable)
					take_call(w, slot);
				else if (require_member(w, slot))
					pgraft_kv_take_read(w, slot);
				break;
			default:
				take_call(w, slot);
				break;
		}
	}
}

/* ADD calls dial their node first; the transport reports the probe back. */
void
pgraft_requests_start_probes(PgraftWorker *w)
{
	uint32		tag;
	const struct pgr_call_spec *sp;

	while (pgr_calls_next_probe(&w->calls, &tag, &sp))
	{
		char		host[PGRAFT_HOST_MAX + 1];
		int			port;

		if (!pgraft_context_parse(sp->context, sp->context_len, host, sizeof(host), &port))
		{
			pgr_calls_probe_done(&w->calls, tag, false, "the address does not parse");
			continue;
		}
		pgraft_transport_probe(host, port, sp->node_id, (int) tag);
	}
}

/* ---------------------------------------------------------------------- */
/* Outcomes                                                               */
/* ---------------------------------------------------------------------- */

static const char *
kind_what(int slot, uint32 kind)
{
	if (pgraft_shared->slots[slot].type == PGRAFT_REQ_KV_WRITE)
		return "the key-value write";
	if (pgraft_shared->slots[slot].type == PGRAFT_REQ_KV_READ)
		return "the key-value read";
	switch (kind)
	{
		case PGR_CALL_APPEND:
			return "the append";
		case PGR_CALL_READ:
			return "the read barrier";
		case PGR_CALL_ADD:
			return "adding the node";
		case PGR_CALL_REMOVE:
			return "removing the node";
		default:
			return "the leadership transfer";
	}
}

static void
answer_unknown(int slot, const struct pgr_call_done *d, int timeout_ms)
{
	char		msg[PGRAFT_MSG_MAX];
	char		detail[PGRAFT_MSG_MAX];

	snprintf(msg, sizeof(msg), "the outcome of %s is unknown", kind_what(slot, d->kind));
	if (d->reason == PGR_CALL_FORGOTTEN)
		snprintf(detail, sizeof(detail),
				 "This node caught up through a snapshot that no longer records whether it was appended.");
	else
		snprintf(detail, sizeof(detail),
				 "It was still in flight when its timeout of %d ms passed (pgraft.request_timeout).",
				 timeout_ms);
	pgraft_request_fail(slot, ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN, msg, detail,
						pgraft_shared->slots[slot].type == PGRAFT_REQ_KV_WRITE ?
						"Read the keys it writes for whether it took effect before retrying." :
						d->kind == PGR_CALL_APPEND ?
						"See pgraft_log_get_entries() for whether the entry was appended before retrying." :
						"See pgraft_get_nodes() for whether the change took effect.");
}

static void
answer_failed(int slot, const struct pgr_call_done *d, int timeout_ms)
{
	char		msg[PGRAFT_MSG_MAX];
	char		detail[PGRAFT_MSG_MAX];
	PgraftRequest *req = &pgraft_shared->slots[slot];

	switch (d->reason)
	{
		case PGR_CALL_TIMEOUT:
			snprintf(msg, sizeof(msg), "%s did not complete within %d ms", kind_what(slot, d->kind),
					 timeout_ms);
			pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg,
								d->kind == PGR_CALL_TRANSFER ?
								"The leader may be lagging behind, unreachable, or gone." :
								"No leader confirmed it in time; nothing was changed.",
								d->kind == PGR_CALL_READ ?
								"See pgraft_get_cluster_status(); pass a larger timeout_ms to wait longer." :
								"See pgraft_get_cluster_status(); raise pgraft.request_timeout to wait longer.");
			return;
		case PGR_CALL_TERM_CHANGED:
			snprintf(detail, sizeof(detail),
					 "The call expected term " UINT64_FORMAT "; the current term is " UINT64_FORMAT ".",
					 req->arg_term, d->term);
			pgraft_request_fail(slot, ERRCODE_T_R_SERIALIZATION_FAILURE,
								"term mismatch: nothing was appended", detail,
								"Pass 0 or NULL to accept any term.");
			return;
		case PGR_CALL_TOO_BIG:
			pgraft_request_fail(slot, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
								"the entry was not appended: it is too large", NULL, NULL);
			return;
		case PGR_CALL_ID_TAKEN:
		case PGR_CALL_ADDRESS_TAKEN:
			snprintf(detail, sizeof(detail), "In the committed configuration, %s.", d->detail);
			pgraft_request_fail(slot, ERRCODE_DUPLICATE_OBJECT,
								d->reason == PGR_CALL_ID_TAKEN ?
								"node id is already a member with another address" :
								"another node is already a member at that address",
								detail,
								d->reason == PGR_CALL_ID_TAKEN ?
								"Remove the node first to move it to another address." : NULL);
			return;
		case PGR_CALL_NOT_MEMBER:
			if (d->kind == PGR_CALL_TRANSFER)
				pgraft_request_fail(slot, ERRCODE_INVALID_PARAMETER_VALUE,
									"leadership can only go to a voting member", NULL,
									"See pgraft_get_nodes().");
			else
				pgraft_request_fail(slot, ERRCODE_UNDEFINED_OBJECT,
									"node is not a member of the cluster", NULL,
									"See pgraft_get_nodes().");
			return;
		case PGR_CALL_LAST_VOTER:
			pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
								"cannot remove the last voting member", NULL,
								"Add another node first.");
			return;
		case PGR_CALL_PROBE_FAILED:
			snprintf(msg, sizeof(msg), "cannot add node " INT64_FORMAT ": %s",
					 req->arg_node_id, d->detail);
			pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg,
								NULL,
								"The node must be running with pgraft loaded, reachable at its pgraft.port, with its pgraft.node_id and pgraft.cluster_name set, and hold no data of another cluster.");
			return;
		default:
			snprintf(msg, sizeof(msg), "%s was refused", kind_what(slot, d->kind));
			pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg,
								d->detail[0] ? d->detail : NULL, NULL);
			return;
	}
}

/* Finished calls into their slots' answers, and the founding request. */
void
pgraft_requests_answer(PgraftWorker *w)
{
	struct pgr_call_done d;

	if (w->founding_slot >= 0)
	{
		pgraft_request_answer(w->founding_slot, w->founding_index, 0);
		w->founding_slot = -1;
	}
	while (pgr_calls_next_done(&w->calls, &d))
	{
		int			slot = (int) d.tag;
		int			timeout_ms;
		PgraftRequestType type;

		if (pgraft_kv_duty_done(w, &d))
			continue;
		timeout_ms = pgraft_shared->slots[slot].arg_timeout_ms;
		type = pgraft_shared->slots[slot].type;
		release_payload(w, slot);
		if (d.outcome == PGR_CALL_OK &&
			(type == PGRAFT_REQ_KV_WRITE || type == PGRAFT_REQ_KV_READ))
			pgraft_kv_answer(w, slot, d.index);
		else if (d.outcome == PGR_CALL_OK)
			pgraft_request_answer(slot, d.index, 0);
		else if (d.outcome == PGR_CALL_UNKNOWN)
			answer_unknown(slot, &d, timeout_ms);
		else
			answer_failed(slot, &d, timeout_ms);
	}
}

/*
 * The worker stops (or joins another cluster, or was forced into a new
 * one): every call ends now, except except_slot's (-1: none).
 */
void
pgraft_requests_end_all(PgraftWorker *w, int except_slot, const char *why)
{
	for (int slot = 0; slot < pgraft_max_requests; slot++)
	{
		bool		in_flight = pgr_calls_in_flight(&w->calls, (uint32) slot);
		PgraftSlotState st;

		if (slot == except_slot)
			continue;
		LWLockAcquire(pgraft_shared->lock, LW_SHARED);
		st = pgraft_shared->slots[slot].state;
		LWLockRelease(pgraft_shared->lock);
		if (st != PGRAFT_SLOT_ACTIVE && st != PGRAFT_SLOT_ABANDONED)
			continue;
		pgr_calls_cancel(&w->calls, (uint32) slot);
		release_payload(w, slot);
		if (in_flight)
			pgraft_request_fail(slot, ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN, why,
								"The request was in flight: its outcome is unknown.",
								"See pgraft_log_get_entries() or pgraft_get_nodes() for whether it took effect.");
		else
			pgraft_request_fail(slot, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, why,
								"Nothing was changed.", "Retry the call.");
	}
	if (w->founding_slot != except_slot)
		w->founding_slot = -1;
}
