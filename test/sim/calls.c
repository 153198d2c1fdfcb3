/*-------------------------------------------------------------------------
 *
 * calls.c
 *		Client calls in the simulator, through pgraft's application layer
 *		(include/pgraft/app.h) exactly as the worker makes them, and the
 *		checks on their outcomes.
 *
 * Each node runs a struct pgr_calls and a struct pgr_app_state as the
 * worker does: calls act at every tick (pgr_calls_drive), every ready
 * batch is applied through pgr_app_apply_ready, snapshots carry the
 * application state.  A crash ends every pending call of the node as
 * UNKNOWN (what a restarted worker answers) and the node comes back with a
 * new incarnation.  The checker holds the calls to app.h's promises:
 *	- every call gets exactly one outcome, and gets it by its deadline
 *	  (plus two ticks);
 *	- an append reported OK at index i counted at i, and its data counts at
 *	  no other index, ever (the log at i is the same on every node: the
 *	  State Machine Safety checks see to that);
 *	- an append reported FAILED never counts, before or after the report;
 *	- UNKNOWN may be either;
 *	- a read reported OK at index i has i >= the commit index known when
 *	  the read began (linearizable), and the node had applied i.
 * The payload of a call is "CALL" and the call's number, so the checker
 * recognises a counting entry without trusting the envelope, then a
 * key-value command that every node applies when the entry counts (kv.c).
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/sim/calls.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define SIM_CALL_PAYLOAD 12 /* then the key-value command */
#define SIM_KV_CMD_MAX   256

static void
call_payload(uint64_t k, uint8_t *buf)
{
	memcpy(buf, "CALL", 4);
	memcpy(buf + 4, &k, 8);
}

static bool
call_of_payload(const struct sim_cluster *c, const uint8_t *data, uint32_t len, uint64_t *k)
{
	if (len < SIM_CALL_PAYLOAD || memcmp(data, "CALL", 4) != 0)
		return false;
	memcpy(k, data + 4, 8);
	return *k < c->calls.n;
}

/* ---------------------------------------------------------------------- */
/* Node life                                                              */
/* ---------------------------------------------------------------------- */

/* A node (re)starts: its application state from its snapshot, new calls. */
void
sim_calls_node_up(struct sim_cluster *c, struct sim_node *sn)
{
	const struct sim_storage *st = &sn->st;

	if (sn->papp == NULL)
	{
		sn->papp = malloc(sizeof(*sn->papp));
		if (sn->papp == NULL)
		{
			fprintf(stderr, "raft-sim: out of memory\n");
			exit(2);
		}
	}
	pgr_app_state_init(sn->papp);
	sim_kv_node_up(sn);
	if (st->has_snap)
	{
		const uint8_t *blob;
		size_t n = sim_app_blob(c, st->snap.data, st->snap.len, &blob);
		const uint8_t *kv;
		size_t kv_len;

		if (pgr_app_state_decode(blob, n, &st->snap.meta, sn->papp, &kv, &kv_len) != PGR_OK)
			sim_fail(c, "Application state",
					 "node %" PRIu64 " cannot decode the application"
					 " state of its stored snapshot at %" PRIu64,
					 sn->id, st->snap.meta.index);
		else
			sim_kv_install(c, sn, kv, kv_len);
	}
	/* a new, larger incarnation at every start, as the worker persists it */
	if (pgr_calls_init(&sn->calls, &pgr_libc_allocator, sn->id, ++sn->incarnation,
					   2 * c->p.election_tick * 10) != PGR_OK)
	{
		fprintf(stderr, "raft-sim: out of memory\n");
		exit(2);
	}
	sn->has_calls = true;
}

static void
record(struct sim_cluster *c, uint64_t k, enum pgr_call_outcome outcome, uint32_t reason,
	   uint64_t index, const char *how)
{
	struct sim_call *call = &c->calls.v[k];

	if (call->answered)
	{
		sim_fail(c, "Call outcome",
				 "call %" PRIu64 " on node %" PRIu64 " got a second"
				 " outcome (%s)",
				 k, call->node, how);
		return;
	}
	call->answered = true;
	call->outcome = outcome;
	call->reason = reason;
	call->index = index;
	c->calls.answered++;
	if (outcome == PGR_CALL_OK)
		c->calls.ok++;
	else if (outcome == PGR_CALL_UNKNOWN)
		c->calls.unknown++;
	sim_trace(c, "  call %" PRIu64 " (%s on n%" PRIu64 ") %s: %s %s index %" PRIu64, k,
			  call->kind == PGR_CALL_APPEND ? "append" : "read", call->node, how,
			  outcome == PGR_CALL_OK       ? "OK"
			  : outcome == PGR_CALL_FAILED ? "FAILED"
										   : "UNKNOWN",
			  pgr_call_reason_name((enum pgr_call_reason) reason), index);

	if (call->kind == PGR_CALL_APPEND)
	{
		if (outcome == PGR_CALL_OK && (!call->counted || call->counted_index != index))
			sim_fail(c, "Call outcome",
					 "append call %" PRIu64 " on node %" PRIu64 " was answered OK at index %" PRIu64
					 " but its data %s",
					 k, call->node, index, call->counted ? "counted elsewhere" : "never counted");
		else if (outcome == PGR_CALL_FAILED && call->counted)
			sim_fail(c, "Call outcome",
					 "append call %" PRIu64 " on node %" PRIu64
					 " was answered FAILED (%s) but its data counted at %" PRIu64,
					 k, call->node, pgr_call_reason_name((enum pgr_call_reason) reason),
					 call->counted_index);
	}
	else if (outcome == PGR_CALL_OK && index < call->issue_commit)
		sim_fail(c, "Linearizable reads",
				 "read call %" PRIu64 " on node %" PRIu64 " answered index %" PRIu64
				 " below the commit index %" PRIu64 " known when it began",
				 k, call->node, index, call->issue_commit);
}

/* The node goes away: the worker that held its calls is gone. */
void
sim_calls_node_down(struct sim_cluster *c, struct sim_node *sn, const char *why)
{
	if (!sn->has_calls)
		return;
	for (size_t k = 0; k < c->calls.n && !c->failed; k++)
	{
		struct sim_call *call = &c->calls.v[k];

		if (call->node == sn->id && !call->answered)
			record(c, k, PGR_CALL_UNKNOWN, PGR_CALL_DONE, 0, why);
	}
	pgr_calls_free(&sn->calls);
	sn->has_calls = false;
}

/* ---------------------------------------------------------------------- */
/* The loop's phases, as the worker runs them                             */
/* ---------------------------------------------------------------------- */

enum pgr_err
sim_calls_drive(struct sim_cluster *c, struct sim_node *sn)
{
	if (!sn->has_calls || sn->state != SIM_NODE_UP)
		return PGR_OK;
	return pgr_calls_drive(&sn->calls, sn->node, sn->papp, c->now);
}

/* Step c of a batch: apply through the application layer, check the data. */
void
sim_calls_apply(struct sim_cluster *c, struct sim_node *sn, const struct pgr_ready *rd)
{
	const struct pgr_app_state *snap_state = NULL;
	enum pgr_app_verdict *verdicts = NULL;
	enum pgr_err err;

	if (!sn->has_calls)
		return;
	if (rd->snapshot != NULL)
	{
		const uint8_t *blob;
		size_t n = sim_app_blob(c, rd->snapshot->data, rd->snapshot->len, &blob);
		const uint8_t *kv;
		size_t kv_len;

		err = pgr_app_state_decode(blob, n, &rd->snapshot->meta, c->scratch_app, &kv, &kv_len);
		if (err != PGR_OK)
		{
			sim_fail(c, "Application state",
					 "node %" PRIu64 " cannot decode the application"
					 " state of the snapshot at %" PRIu64 ": %s",
					 sn->id, rd->snapshot->meta.index, pgr_strerror(err));
			return;
		}
		snap_state = c->scratch_app;
		sim_kv_install(c, sn, kv, kv_len);
	}
	if (rd->n_committed > 0)
	{
		verdicts = malloc(rd->n_committed * sizeof(*verdicts));
		if (verdicts == NULL)
		{
			fprintf(stderr, "raft-sim: out of memory\n");
			exit(2);
		}
	}
	err = pgr_app_apply_ready(sn->papp, &sn->calls, rd, snap_state, verdicts);
	if (err != PGR_OK)
	{
		sim_fail(c, "Application state", "node %" PRIu64 " could not apply its batch: %s", sn->id,
				 pgr_strerror(err));
		free(verdicts);
		return;
	}
	if (sn->papp->applied != sn->app.applied)
		sim_fail(c, "Application state",
				 "node %" PRIu64 " has applied %" PRIu64
				 " but its application state is at %" PRIu64,
				 sn->id, sn->app.applied, sn->papp->applied);

	/* Every counting entry of a call: at one index only, and never after FAILED. */
	for (size_t i = 0; i < rd->n_committed && !c->failed; i++)
	{
		const struct pgr_entry *e = &rd->committed[i];
		struct pgr_envelope env;
		uint64_t k;
		struct sim_call *call;

		if (verdicts[i] != PGR_APP_DATA || !pgr_envelope_read(e->data, e->len, &env) ||
			!call_of_payload(c, env.data, env.len, &k))
			continue;
		call = &c->calls.v[k];
		if (call->counted && call->counted_index != e->index)
			sim_fail(c, "Call outcome",
					 "the data of append call %" PRIu64 " counts at %" PRIu64 " and at %" PRIu64, k,
					 call->counted_index, e->index);
		else if (call->answered && call->outcome == PGR_CALL_FAILED)
			sim_fail(c, "Call outcome",
					 "append call %" PRIu64 " was answered FAILED (%s)"
					 " but its data counts at %" PRIu64 " (applied on node %" PRIu64 ")",
					 k, pgr_call_reason_name((enum pgr_call_reason) call->reason), e->index,
					 sn->id);
		call->counted = true;
		call->counted_index = e->index;
		sim_kv_apply(c, sn, e->index, env.data + SIM_CALL_PAYLOAD, env.len - SIM_CALL_PAYLOAD);
	}
	free(verdicts);
}

/* Take the node's finished calls (the worker's ANSWER phase). */
void
sim_calls_collect(struct sim_cluster *c, struct sim_node *sn)
{
	struct pgr_call_done d;

	if (!sn->has_calls)
		return;
	while (!c->failed && pgr_calls_next_done(&sn->calls, &d))
	{
		if (d.tag >= c->calls.n || c->calls.v[d.tag].node != sn->id)
		{
			sim_fail(c, "Call outcome", "node %" PRIu64 " answered a call %u it never had", sn->id,
					 d.tag);
			return;
		}
		if (d.outcome == PGR_CALL_OK && d.kind == PGR_CALL_READ && d.index > sn->papp->applied)
			sim_fail(c, "Linearizable reads",
					 "read call %u on node %" PRIu64 " answered at %" PRIu64
					 " before applying it (applied %" PRIu64 ")",
					 d.tag, sn->id, d.index, sn->papp->applied);
		record(c, d.tag, d.outcome, d.reason, d.index, "answered");
	}
}

/* ---------------------------------------------------------------------- */
/* Client operations                                                      */
/* ---------------------------------------------------------------------- */

static struct sim_node *
call_target(struct sim_cluster *c)
{
	uint64_t ids[SIM_MAX_IDS];
	size_t n = 0;

	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
		if (c->nodes[id].state == SIM_NODE_UP && c->nodes[id].has_calls)
			ids[n++] = id;
	return n == 0 ? NULL : &c->nodes[ids[sim_rng_below(&c->rng, n)]];
}

static bool
call_start(struct sim_cluster *c, struct sim_node *sn, uint32_t kind, uint64_t timeout)
{
	struct sim_calls *cs = &c->calls;
	struct pgr_call_spec sp;
	uint64_t k = cs->n;
	struct sim_call *call;
	enum pgr_err err;

	if (cs->n == cs->cap)
	{
		cs->cap = cs->cap ? 2 * cs->cap : 256;
		cs->v = realloc(cs->v, cs->cap * sizeof(*cs->v));
		if (cs->v == NULL)
		{
			fprintf(stderr, "raft-sim: out of memory\n");
			exit(2);
		}
	}
	call = &cs->v[cs->n++];
	memset(call, 0, sizeof(*call));
	memset(&sp, 0, sizeof(sp));
	sp.kind = kind;
	sp.deadline = c->now + timeout;
	if (kind == PGR_CALL_APPEND)
	{
		/* the payload must stay where it is until the call ends */
		call->payload = malloc(SIM_CALL_PAYLOAD + SIM_KV_CMD_MAX);
		if (call->payload == NULL)
		{
			fprintf(stderr, "raft-sim: out of memory\n");
			exit(2);
		}
		call_payload(k, call->payload);
		sp.payload = call->payload;
		sp.len = SIM_CALL_PAYLOAD +
				 (uint32_t) sim_kv_command(c, k, call->payload + SIM_CALL_PAYLOAD, SIM_KV_CMD_MAX);
	}
	call->node = sn->id;
	call->kind = kind;
	call->start = c->now;
	call->deadline = sp.deadline;
	call->issue_commit = c->chk.known_commit;
	err = pgr_calls_start(&sn->calls, (uint32_t) k, &sp);
	if (err != PGR_OK)
	{
		free(call->payload);
		cs->n--;
		return false;
	}
	sim_trace(c, "call %" PRIu64 ": %s on n%" PRIu64 ", deadline %" PRIu64, k,
			  kind == PGR_CALL_APPEND ? "append" : "read", sn->id, sp.deadline);
	sn->alloc.armed = c->chaos;
	err = sim_calls_drive(c, sn);
	sn->alloc.armed = false;
	sim_node_after_call(c, sn, err, "call");
	return true;
}

void
sim_calls_op(struct sim_cluster *c, uint32_t kind)
{
	struct sim_node *sn = call_target(c);
	uint64_t et = (uint64_t) c->p.election_tick * 10;
	uint64_t timeout;

	if (sn == NULL)
		return;
	/* short ones expire under faults; long ones outlive elections */
	timeout = sim_rng_chance(&c->rng, 500000) ? sim_rng_range(&c->rng, 20, et)
											  : sim_rng_range(&c->rng, et, 8 * et);
	(void) call_start(c, sn, kind, timeout);
}

/* Every call ends by its deadline: the node ticks at most every 11 ms. */
void
sim_calls_check_bound(struct sim_cluster *c)
{
	struct sim_calls *cs = &c->calls;

	if (c->now < cs->next_bound_check)
		return;
	cs->next_bound_check = c->now + 50;
	for (size_t k = 0; k < cs->n && !c->failed; k++)
	{
		struct sim_call *call = &cs->v[k];

		if (!call->answered && c->now > call->deadline + 25)
			sim_fail(c, "Call bound",
					 "%s call %" PRIu64 " on node %" PRIu64 " has no"
					 " outcome %" PRIu64 " ms after its deadline",
					 call->kind == PGR_CALL_APPEND ? "append" : "read", k, call->node,
					 c->now - call->deadline);
	}
}

/*
 * Liveness of calls: after the heal, an append made on a member must end
 * OK (the deadline is the whole liveness bound).
 */
bool
sim_calls_live_start(struct sim_cluster *c)
{
	struct sim_node *leader = sim_find_leader(c);
	const struct pgr_config *conf;
	uint64_t ids[PGR_MAX_MEMBERS];
	size_t n = 0;
	struct sim_node *sn;

	if (leader == NULL)
		return false;
	conf = pgr_node_config(leader->node);
	for (uint32_t i = 0; i < conf->n_members; i++)
	{
		sn = sim_node_get(c, conf->members[i].id);
		if (sn != NULL && sn->state == SIM_NODE_UP && sn->stop_at == 0 && sn->has_calls)
			ids[n++] = sn->id;
	}
	if (n == 0)
		return false;
	sn = &c->nodes[ids[sim_rng_below(&c->rng, n)]];
	if (!call_start(c, sn, PGR_CALL_APPEND, 30 * 2 * (uint64_t) c->p.election_tick * 10))
		return false;
	c->calls.live_call = c->calls.n;
	return true;
}

/*
 * The live call's node was removed after the call began (a membership call
 * made before the heal and proposed again after it): the node may never
 * learn the outcome, so the promise moves to a new call on a member.
 */
bool
sim_calls_live_lost(struct sim_cluster *c)
{
	const struct sim_call *call;
	const struct sim_node *sn;

	if (c->calls.live_call == 0)
		return false;
	call = &c->calls.v[c->calls.live_call - 1];
	sn = sim_node_get(c, call->node);
	if (sn == NULL || (sn->stop_at == 0 && sn->state != SIM_NODE_STOPPED))
		return false;
	sim_trace(c, "live call %" PRIu64 ": node n%" PRIu64 " was removed, a new call follows",
			  c->calls.live_call, call->node);
	return true;
}

bool
sim_calls_live_done(struct sim_cluster *c)
{
	const struct sim_call *call;

	if (c->calls.live_call == 0)
		return false;
	call = &c->calls.v[c->calls.live_call - 1];
	if (call->answered && call->outcome != PGR_CALL_OK)
		sim_fail(c, "Liveness", "an append call made after healing ended %s (%s)",
				 call->outcome == PGR_CALL_FAILED ? "FAILED" : "UNKNOWN",
				 pgr_call_reason_name((enum pgr_call_reason) call->reason));
	return call->answered;
}

void
sim_calls_free(struct sim_cluster *c)
{
	for (size_t k = 0; k < c->calls.n; k++)
		free(c->calls.v[k].payload);
	free(c->calls.v);
	memset(&c->calls, 0, sizeof(c->calls));
}
