/*-------------------------------------------------------------------------
 *
 * calls.c
 *		The lifecycle of the calls made to a pgraft node (see app.h, THE
 *		CALLS): from start to exactly one outcome, within the deadline.
 *
 * Each kind of call is a small state machine; its steps and the events that
 * move it are in the transition table below (for appends and reads; the
 * membership changes and transfers continue in ops.c), one line per
 * transition with the reason for it.  Three rules hold for every kind:
 *
 *	1. Nothing is answered from a stale view.  A read or a membership call
 *	   first passes a read barrier (ReadIndex: the leader confirms, with a
 *	   quorum, an index covering everything committed when the barrier
 *	   began) and waits until this node has applied that index; membership
 *	   is then judged on the COMMITTED configuration (struct pgr_app_state),
 *	   never on this node's latest, possibly uncommitted or lagging one.
 *	2. Nothing waits forever.  Every call has a deadline; what is still in
 *	   flight is re-issued when the leader changes and every retry_ms (a
 *	   forwarded read or change that a lost message swallowed, while the
 *	   term stays the same, would otherwise never answer).
 *	3. Outcomes are exact.  An append is OK only when its own entry counted;
 *	   FAILED only once no copy of it can ever count (an entry of a later
 *	   term was applied: terms never go back along the log); otherwise,
 *	   at the deadline, UNKNOWN.  A membership change that was proposed and
 *	   not yet seen committed ends UNKNOWN at the deadline, one that never
 *	   was proposed ends FAILED.
 *
 * An append is proposed again, under the same id, every retry_ms while it
 * is pending, and at once in the new term when a leader change has proven
 * its copies void (its term passed without its entry), unless the caller
 * fenced it to a term: that is the "re-forward", and it cannot write twice,
 * because a repeat of a counted call is a duplicate (state.c).
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/app/calls.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "pgraft/app.h"

#include "calls_internal.h"

/*
 * Steps.  The transitions (event: from -> to, why):
 *
 * APPEND
 *	drive, leader known:	PROPOSE -> PROPOSED   propose with the envelope
 *							(the term fence fails it first if the term moved)
 *	retry_ms passed:		PROPOSED -> PROPOSE   a forwarded proposal may be
 *							lost, or dropped by a leader busy with a
 *							transfer; a second copy is only a duplicate.
 *							Its earlier copies stay alive (in_flight) until
 *							proposed again, which may take a while (no
 *							leader, or a transfer refusing proposals)
 * While a copy is alive (PROPOSED, or PROPOSE waiting to propose again):
 *	apply, own entry counts (or a repeat of it): -> done OK
 *	apply, own copy expired: -> FAILED FORGOTTEN (its session moved past
 *							it: it can never count)
 *	apply, entry of a later term, or own entry void: -> PROPOSE, nothing
 *							alive (or FAILED TERM_CHANGED if fenced): no copy
 *							proposed in the old term can count any more
 *	snapshot covers it:		-> done OK at the index it recorded;
 *							-> PROPOSE, nothing alive, if the snapshot ends
 *							in a later term and does not have it;
 *							-> UNKNOWN FORGOTTEN if the snapshot no longer
 *							remembers that far back
 *	deadline:				FAILED TIMEOUT if nothing is alive (never
 *							proposed, or every copy proven void);
 *							UNKNOWN TIMEOUT otherwise
 *
 * READ (and the barrier of ADD and REMOVE)
 *	drive, leader known:	BARRIER -> READING    read index issued
 *	read confirmed:			READING -> APPLYING   wait to apply its index
 *	read failed, term moved, or retry_ms passed: READING -> BARRIER (again;
 *							a read has no side effect)
 *	applied >= read index:	APPLYING -> done OK (READ) or CHANGE (ADD, REMOVE)
 *	deadline:				FAILED TIMEOUT
 *
 * ADD, REMOVE and TRANSFER: after the barrier, in ops.c.
 */

/* A bijective scramble, so read contexts of two incarnations do not meet. */
static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

const char *
pgr_call_reason_name(enum pgr_call_reason r)
{
	switch (r)
	{
		case PGR_CALL_DONE:
			return "done";
		case PGR_CALL_TIMEOUT:
			return "timeout";
		case PGR_CALL_TERM_CHANGED:
			return "term changed";
		case PGR_CALL_TOO_BIG:
			return "too big";
		case PGR_CALL_ID_TAKEN:
			return "id taken";
		case PGR_CALL_ADDRESS_TAKEN:
			return "address taken";
		case PGR_CALL_NOT_MEMBER:
			return "not a member";
		case PGR_CALL_LAST_VOTER:
			return "last voter";
		case PGR_CALL_REFUSED:
			return "refused";
		case PGR_CALL_PROBE_FAILED:
			return "probe failed";
		case PGR_CALL_FORGOTTEN:
			return "forgotten";
	}
	return "unknown";
}

enum pgr_err
pgr_calls_init(struct pgr_calls *c, const struct pgr_allocator *alloc, uint64_t origin,
			   uint64_t incarnation, uint32_t retry_ms)
{
	memset(c, 0, sizeof(*c));
	c->alloc = *alloc;
	c->origin = origin;
	c->incarnation = incarnation;
	c->next_seq = 1;
	c->retry_ms = retry_ms > 0 ? retry_ms : 1;
	c->calls = alloc->alloc(alloc->ctx, PGR_CALLS_MAX * sizeof(struct pgr_call));
	if (c->calls == NULL)
		return PGR_ENOMEM;
	memset(c->calls, 0, PGR_CALLS_MAX * sizeof(struct pgr_call));
	return PGR_OK;
}

void
pgr_calls_free(struct pgr_calls *c)
{
	if (c->calls != NULL)
		c->alloc.free(c->alloc.ctx, c->calls);
	c->calls = NULL;
}

static struct pgr_call *
call_by_tag(const struct pgr_calls *c, uint32_t tag)
{
	for (uint32_t i = 0; i < c->hi; i++)
		if (c->calls[i].step != STEP_FREE && c->calls[i].tag == tag)
			return &c->calls[i];
	return NULL;
}

/* Free a call's slot; the scans end at the last slot in use. */
static void
release(struct pgr_calls *c, struct pgr_call *k)
{
	k->step = STEP_FREE;
	while (c->hi > 0 && c->calls[c->hi - 1].step == STEP_FREE)
		c->hi--;
}

bool
pgr_call_active(const struct pgr_call *k)
{
	return k->step != STEP_FREE && k->step != STEP_DONE;
}

/* End a call with an outcome; it waits in the table to be taken. */
void
pgr_call_finish(struct pgr_calls *c, struct pgr_call *k, enum pgr_call_outcome outcome,
				enum pgr_call_reason reason, uint64_t index)
{
	k->done.tag = k->tag;
	k->done.kind = k->spec.kind;
	k->done.outcome = outcome;
	k->done.reason = reason;
	k->done.index = index;
	k->step = STEP_DONE;
	c->n_active--;
	c->n_done++;
}

void
pgr_call_finish_detail(struct pgr_calls *c, struct pgr_call *k, enum pgr_call_outcome outcome,
					   enum pgr_call_reason reason, const char *detail)
{
	snprintf(k->done.detail, sizeof(k->done.detail), "%s", detail ? detail : "");
	pgr_call_finish(c, k, outcome, reason, 0);
}

enum pgr_err
pgr_calls_start(struct pgr_calls *c, uint32_t tag, const struct pgr_call_spec *spec)
{
	struct pgr_call *k = NULL;

	if (spec->kind < PGR_CALL_APPEND || spec->kind > PGR_CALL_TRANSFER ||
		call_by_tag(c, tag) != NULL ||
		(spec->kind == PGR_CALL_APPEND && spec->len > 0 && spec->payload == NULL) ||
		spec->payload_kind > PGR_PAYLOAD_KV ||
		(spec->kind != PGR_CALL_APPEND && spec->kind != PGR_CALL_READ &&
		 spec->node_id == PGR_NONE) ||
		spec->context_len > PGR_MAX_CONTEXT)
		return PGR_EINVAL;
	for (uint32_t i = 0; i < PGR_CALLS_MAX; i++)
		if (c->calls[i].step == STEP_FREE)
		{
			k = &c->calls[i];
			break;
		}
	if (k == NULL)
		return PGR_EBUSY;
	memset(k, 0, sizeof(*k));
	if ((uint32_t) (k - c->calls) + 1 > c->hi)
		c->hi = (uint32_t) (k - c->calls) + 1;
	k->tag = tag;
	k->spec = *spec;
	k->seq = c->next_seq++;
	k->ctx = mix64(c->incarnation ^ mix64(k->seq));
	if (k->ctx == 0)
		k->ctx = 1;
	switch (spec->kind)
	{
		case PGR_CALL_APPEND:
			k->step = STEP_PROPOSE;
			break;
		case PGR_CALL_TRANSFER:
			k->step = STEP_TRANSFER;
			break;
		default:
			k->step = STEP_BARRIER;
			break;
	}
	c->n_active++;
	return PGR_OK;
}

void
pgr_calls_cancel(struct pgr_calls *c, uint32_t tag)
{
	struct pgr_call *k = call_by_tag(c, tag);

	if (k == NULL)
		return;
	if (pgr_call_active(k))
		c->n_active--;
	else if (k->step == STEP_DONE)
		c->n_done--;
	release(c, k);
}

bool
pgr_calls_in_flight(const struct pgr_calls *c, uint32_t tag)
{
	const struct pgr_call *k = call_by_tag(c, tag);

	return k != NULL && k->in_flight;
}

bool
pgr_calls_next_probe(struct pgr_calls *c, uint32_t *tag, const struct pgr_call_spec **spec)
{
	for (uint32_t i = 0; i < c->hi; i++)
		if (c->calls[i].step == STEP_PROBE)
		{
			c->calls[i].step = STEP_PROBING;
			*tag = c->calls[i].tag;
			*spec = &c->calls[i].spec;
			return true;
		}
	return false;
}

void
pgr_calls_probe_done(struct pgr_calls *c, uint32_t tag, bool ok, const char *detail)
{
	struct pgr_call *k = call_by_tag(c, tag);

	if (k == NULL || k->step != STEP_PROBING)
		return;
	if (!ok)
	{
		pgr_call_finish_detail(c, k, PGR_CALL_FAILED, PGR_CALL_PROBE_FAILED, detail);
		return;
	}
	k->probed = true;
	k->step = STEP_CHANGE;
}

uint32_t
pgr_calls_pending(const struct pgr_calls *c)
{
	return c->n_active + c->n_done;
}

bool
pgr_calls_next_done(struct pgr_calls *c, struct pgr_call_done *out)
{
	if (c->n_done == 0)
		return false;
	for (uint32_t i = 0; i < c->hi; i++)
		if (c->calls[i].step == STEP_DONE)
		{
			*out = c->calls[i].done;
			release(c, &c->calls[i]);
			c->n_done--;
			return true;
		}
	return false;
}

/* ---------------------------------------------------------------------- */
/* Driving: the only place that calls into the node                       */
/* ---------------------------------------------------------------------- */

/* The lowest number of the pending appends: every call below has ended. */
static uint64_t
low_watermark(const struct pgr_calls *c)
{
	uint64_t low = c->next_seq;

	for (uint32_t i = 0; i < c->hi; i++)
	{
		const struct pgr_call *k = &c->calls[i];

		if (pgr_call_active(k) && k->spec.kind == PGR_CALL_APPEND && k->seq < low)
			low = k->seq;
	}
	return low;
}

static enum pgr_err
drive_append(struct pgr_calls *c, struct pgr_call *k, struct pgr_node *node,
			 const struct pgr_status *s, uint64_t now)
{
	struct pgr_call_id id = {c->origin, c->incarnation, k->seq};
	uint32_t len = PGR_ENVELOPE_SIZE + k->spec.len;
	uint8_t *buf;
	uint64_t index;
	enum pgr_err err;

	if (k->step == STEP_PROPOSED && now >= k->retry_at)
		k->step = STEP_PROPOSE; /* lost, or dropped by a busy leader: again */
	if (k->step != STEP_PROPOSE)
		return PGR_OK;
	if (k->spec.expect_term != 0 && s->term != k->spec.expect_term)
	{
		k->done.term = s->term;
		pgr_call_finish(c, k, PGR_CALL_FAILED, PGR_CALL_TERM_CHANGED, 0);
		return PGR_OK;
	}
	if (s->leader == PGR_NONE)
		return PGR_OK;
	if (k->spec.len > UINT32_MAX - PGR_ENVELOPE_SIZE)
	{
		pgr_call_finish(c, k, PGR_CALL_FAILED, PGR_CALL_TOO_BIG, 0);
		return PGR_OK;
	}
	buf = c->alloc.alloc(c->alloc.ctx, len);
	if (buf == NULL)
		return PGR_ENOMEM;
	pgr_envelope_write(buf, &id, low_watermark(c), s->term,
					   k->spec.payload_kind == PGR_PAYLOAD_KV ? PGR_PAYLOAD_KV : PGR_PAYLOAD_DATA);
	if (k->spec.len > 0)
		memcpy(buf + PGR_ENVELOPE_SIZE, k->spec.payload, k->spec.len);
	err = pgr_node_propose(node, buf, len, &index);
	c->alloc.free(c->alloc.ctx, buf);
	switch (err)
	{
		case PGR_OK:
			k->step = STEP_PROPOSED;
			k->term = s->term;
			k->in_flight = true;
			k->retry_at = now + c->retry_ms;
			return PGR_OK;
		case PGR_ENOLEADER:
		case PGR_EBUSY: /* a transfer in progress: try again */
			return PGR_OK;
		case PGR_ETOOBIG:
			pgr_call_finish(c, k, PGR_CALL_FAILED, PGR_CALL_TOO_BIG, 0);
			return PGR_OK;
		case PGR_ENOMEM:
			return PGR_ENOMEM;
		default:
			pgr_call_finish_detail(c, k, PGR_CALL_FAILED, PGR_CALL_REFUSED, pgr_strerror(err));
			return PGR_OK;
	}
}

/* The read barrier shared by READ, ADD and REMOVE. */
static enum pgr_err
drive_barrier(struct pgr_call *k, struct pgr_node *node, const struct pgr_status *s,
			  uint64_t retry_ms, uint64_t now)
{
	enum pgr_err err;

	if (k->step == STEP_READING && (s->term != k->term || now >= k->retry_at))
		k->step = STEP_BARRIER;
	if (k->step != STEP_BARRIER || s->leader == PGR_NONE)
		return PGR_OK;
	err = pgr_node_read_index(node, k->ctx);
	if (err == PGR_OK)
	{
		k->step = STEP_READING;
		k->term = s->term;
		k->retry_at = now + retry_ms;
	}
	return err == PGR_ENOMEM ? PGR_ENOMEM : PGR_OK;
}

/* APPLYING: the read index has been applied here. */
static void
check_applied(struct pgr_calls *c, struct pgr_call *k, const struct pgr_app_state *app)
{
	if (k->step != STEP_APPLYING || app->applied < k->read_index)
		return;
	if (k->spec.kind == PGR_CALL_READ)
		pgr_call_finish(c, k, PGR_CALL_OK, PGR_CALL_DONE, k->read_index);
	else
	{
		k->step = STEP_CHANGE;
		k->retry_at = 0;
	}
}

static void
expire(struct pgr_calls *c, struct pgr_call *k)
{
	/* an append's copies stay alive until a later term proves them void */
	bool unknown =
		k->in_flight && (k->spec.kind == PGR_CALL_ADD || k->spec.kind == PGR_CALL_REMOVE ||
						 k->spec.kind == PGR_CALL_APPEND);

	pgr_call_finish(c, k, unknown ? PGR_CALL_UNKNOWN : PGR_CALL_FAILED, PGR_CALL_TIMEOUT, 0);
}

enum pgr_err
pgr_calls_drive(struct pgr_calls *c, struct pgr_node *node, const struct pgr_app_state *app,
				uint64_t now)
{
	struct pgr_status s;

	pgr_node_status(node, &s);
	for (uint32_t i = 0; i < c->hi; i++)
	{
		struct pgr_call *k = &c->calls[i];
		enum pgr_err err = PGR_OK;

		if (!pgr_call_active(k))
			continue;
		if (now >= k->spec.deadline)
		{
#ifndef PGR_BUG_CALLS_NO_DEADLINE
			expire(c, k);
			continue;
#else
			/* Deliberately broken build: calls without a bound (issue 7, 3). */
			(void) expire;
#endif
		}
		switch (k->spec.kind)
		{
			case PGR_CALL_APPEND:
				err = drive_append(c, k, node, &s, now);
				break;
			case PGR_CALL_READ:
				err = drive_barrier(k, node, &s, c->retry_ms, now);
				check_applied(c, k, app);
				break;
			case PGR_CALL_ADD:
			case PGR_CALL_REMOVE:
				err = drive_barrier(k, node, &s, c->retry_ms, now);
				check_applied(c, k, app);
				if (err == PGR_OK && pgr_call_active(k))
					err = pgr_op_drive_change(c, k, node, &s, app, now);
				break;
			case PGR_CALL_TRANSFER:
				err = pgr_op_drive_transfer(c, k, node, &s, app, now);
				break;
		}
		if (err != PGR_OK)
			return err;
	}
	return PGR_OK;
}

/* ---------------------------------------------------------------------- */
/* Applying: what committed entries, snapshots and reads decide           */
/* ---------------------------------------------------------------------- */

/* APPEND: its term is over without its entry; propose again or fail. */
static void
append_void(struct pgr_calls *c, struct pgr_call *k)
{
	k->in_flight = false;
	if (k->spec.expect_term != 0)
	{
		k->done.term = k->spec.expect_term;
		pgr_call_finish(c, k, PGR_CALL_FAILED, PGR_CALL_TERM_CHANGED, 0);
	}
	else
		k->step = STEP_PROPOSE;
}

static void
on_entry(struct pgr_calls *c, const struct pgr_app_state *app, const struct pgr_entry *e,
		 enum pgr_app_verdict v, const struct pgr_envelope *env)
{
	bool ours = v != PGR_APP_NOOP && v != PGR_APP_CONFIG && v != PGR_APP_FOREIGN &&
				env->id.origin == c->origin && env->id.incarnation == c->incarnation;

#ifdef PGR_BUG_CALLS_IGNORE_INCARNATION
	/* Deliberately broken build: ids restart with every start (issue 7, 4). */
	ours = v != PGR_APP_NOOP && v != PGR_APP_CONFIG && v != PGR_APP_FOREIGN &&
		   env->id.origin == c->origin;
#endif

	for (uint32_t i = 0; i < c->hi; i++)
	{
		struct pgr_call *k = &c->calls[i];

		if (!pgr_call_active(k))
			continue;
		/*
		 * Every applied entry is judged for a call with a copy alive, in
		 * whatever step: a retry may be waiting to propose again (no
		 * leader, or a leader busy with a transfer) when an earlier copy
		 * counts, and missing that copy would leave the call to a later
		 * copy's fate (voided, then FAILED at the deadline: a lie).
		 */
		if (k->spec.kind == PGR_CALL_APPEND && k->in_flight)
		{
			uint64_t first;

			if (ours && env->id.seq == k->seq && v == PGR_APP_DATA)
				pgr_call_finish(c, k, PGR_CALL_OK, PGR_CALL_DONE, e->index);
			else if (ours && env->id.seq == k->seq && v == PGR_APP_DUPLICATE &&
					 pgr_app_find_call(app, &env->id, &first) == PGR_OK)
				pgr_call_finish(c, k, PGR_CALL_OK, PGR_CALL_DONE, first);
			else if (ours && env->id.seq == k->seq && v == PGR_APP_EXPIRED)
			{
				/*
				 * Behind the watermark: no copy of it can count any more,
				 * and none has (we applied everything since any snapshot,
				 * which said so too).
				 */
				pgr_call_finish(c, k, PGR_CALL_FAILED, PGR_CALL_FORGOTTEN, 0);
			}
			else if (e->term > k->term)
				append_void(c, k);
		}
		else if (v == PGR_APP_CONFIG && k->step == STEP_CHANGED)
		{
			/*
			 * A configuration committed after our proposal: if it does what
			 * we asked, that is the answer (it is newer than the barrier);
			 * if not, judge again on fresh committed state.
			 */
			if (pgr_op_change_goal(k, app))
				pgr_call_finish(c, k, PGR_CALL_OK, PGR_CALL_DONE, e->index);
			else
				k->step = STEP_BARRIER;
		}
		check_applied(c, k, app);
	}
}

static void
on_snapshot(struct pgr_calls *c, const struct pgr_app_state *app)
{
	for (uint32_t i = 0; i < c->hi; i++)
	{
		struct pgr_call *k = &c->calls[i];
		struct pgr_call_id id = {c->origin, c->incarnation, k->seq};
		uint64_t index;
		enum pgr_err err;

		if (!pgr_call_active(k))
			continue;
		if (k->spec.kind != PGR_CALL_APPEND || !k->in_flight)
		{
			if (k->step == STEP_CHANGED)
				k->step = STEP_BARRIER;
			check_applied(c, k, app);
			continue;
		}
		err = pgr_app_find_call(app, &id, &index);
#ifdef PGR_BUG_CALLS_SNAPSHOT_FAILS
		/* Deliberately broken build: "not appended" after a snapshot (7, 5). */
		pgr_call_finish(c, k, PGR_CALL_FAILED, PGR_CALL_TIMEOUT, 0);
		continue;
#endif
		if (err == PGR_OK)
			pgr_call_finish(c, k, PGR_CALL_OK, PGR_CALL_DONE, index);
		else if (err != PGR_ENOENT)
			pgr_call_finish(c, k, PGR_CALL_UNKNOWN, PGR_CALL_FORGOTTEN, 0);
		else if (app->applied_term > k->term)
			append_void(c, k);
	}
}

static void
on_read(struct pgr_calls *c, const struct pgr_read_state *r, const struct pgr_app_state *app)
{
	for (uint32_t i = 0; i < c->hi; i++)
	{
		struct pgr_call *k = &c->calls[i];

		if (!pgr_call_active(k) || k->step != STEP_READING || k->ctx != r->context)
			continue;
		if (r->failed)
			k->step = STEP_BARRIER;
		else
		{
			k->read_index = r->index;
			k->step = STEP_APPLYING;
			check_applied(c, k, app);
		}
	}
}

enum pgr_err
pgr_app_apply_ready(struct pgr_app_state *app, struct pgr_calls *calls, const struct pgr_ready *rd,
					const struct pgr_app_state *snap_state, enum pgr_app_verdict *verdicts)
{
	if (rd->snapshot != NULL)
	{
		if (snap_state == NULL || snap_state->applied != rd->snapshot->meta.index)
			return PGR_EINVAL;
		*app = *snap_state;
		if (calls != NULL)
			on_snapshot(calls, app);
	}
	for (size_t i = 0; i < rd->n_committed; i++)
	{
		const struct pgr_entry *e = &rd->committed[i];
		enum pgr_app_verdict v;
		struct pgr_envelope env;
		enum pgr_err err;

		memset(&env, 0, sizeof(env));
		err = pgr_app_apply(app, e, &v, &env);
		if (err != PGR_OK)
			return err;
		if (verdicts != NULL)
			verdicts[i] = v;
		if (calls != NULL)
			on_entry(calls, app, e, v, &env);
	}
	if (calls != NULL)
		for (size_t i = 0; i < rd->n_reads; i++)
			on_read(calls, &rd->reads[i], app);
	return PGR_OK;
}
