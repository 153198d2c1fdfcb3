/*-------------------------------------------------------------------------
 *
 * ops.c
 *		The calls that take several steps on the cluster: adding a member,
 *		removing one, transferring leadership (the lifecycle they share is
 *		in calls.c).
 *
 * Steps and transitions (event: from -> to, why):
 *
 * ADD, REMOVE (after the barrier, on the committed configuration)
 *	CHANGE, goal holds:		-> done OK (added with this address / absent)
 *	CHANGE, conflict:		-> FAILED (id or address taken, not a member,
 *							last voter)
 *	CHANGE, ADD, not probed: -> PROBE: the caller dials the node first
 *	probe done:				PROBE -> CHANGE, or FAILED PROBE_FAILED
 *	CHANGE, removing self while not leading: -> TRANSFER to self: a node
 *							that removes itself must commit its removal as
 *							leader, or it never learns the outcome (the
 *							leader stops replicating to it at once)
 *	CHANGE, propose:		-> CHANGED
 *	configuration applied that does it: CHANGED -> done OK
 *	another configuration applied, or retry_ms passed: CHANGED -> BARRIER
 *							(judge again on fresh committed state)
 *	deadline:				UNKNOWN TIMEOUT if anything was proposed, else
 *							FAILED TIMEOUT
 *
 * TRANSFER
 *	drive, leader known:	TRANSFER -> TRANSFERRING   ask for the transfer
 *	target leads:			-> done OK
 *	retry_ms passed:		TRANSFERRING -> TRANSFER
 *	deadline:				FAILED TIMEOUT
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/app/ops.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "pgraft/app.h"

#include "calls_internal.h"

/* ADD: is node_id a member at this address, or is either taken otherwise? */
static bool
add_goal(const struct pgr_call_spec *sp, const struct pgr_config *conf,
		 enum pgr_call_reason *conflict, char *detail, size_t size)
{
	*conflict = PGR_CALL_DONE;
	for (uint32_t i = 0; i < conf->n_members; i++)
	{
		const struct pgr_member *m = &conf->members[i];
		bool same_ctx = m->context_len == sp->context_len &&
						memcmp(m->context, sp->context, sp->context_len) == 0;

		if (m->id == sp->node_id && same_ctx)
			return true;
		if (m->id == sp->node_id || same_ctx)
		{
			*conflict = m->id == sp->node_id ? PGR_CALL_ID_TAKEN : PGR_CALL_ADDRESS_TAKEN;
			snprintf(detail, size, "node %llu is a member at %.*s", (unsigned long long) m->id,
					 (int) m->context_len, (const char *) m->context);
		}
	}
	return false;
}

/* Does the committed configuration do what the call asks for? */
bool
pgr_op_change_goal(const struct pgr_call *k, const struct pgr_app_state *app)
{
	enum pgr_call_reason conflict;
	char detail[sizeof(k->done.detail)];

	if (k->spec.kind == PGR_CALL_ADD)
		return add_goal(&k->spec, &app->config, &conflict, detail, sizeof(detail));
	return pgr_config_find(&app->config, k->spec.node_id) == NULL;
}

enum pgr_err
pgr_op_drive_change(struct pgr_calls *c, struct pgr_call *k, struct pgr_node *node,
					const struct pgr_status *s, const struct pgr_app_state *app, uint64_t now)
{
	const struct pgr_config *conf = &app->config;
	const struct pgr_member *m = pgr_config_find(conf, k->spec.node_id);
	struct pgr_conf_change cc;
	uint64_t index;
	enum pgr_err err;

	if (k->step == STEP_CHANGED && now >= k->retry_at)
		k->step = STEP_BARRIER;
	if (k->step == STEP_TRANSFERRING && (s->leader == c->origin || now >= k->retry_at))
	{
		k->step = STEP_CHANGE;
		k->retry_at = 0;
	}
	if (k->step != STEP_CHANGE || now < k->retry_at)
		return PGR_OK;

	memset(&cc, 0, sizeof(cc));
	cc.node_id = k->spec.node_id;
	if (k->spec.kind == PGR_CALL_ADD)
	{
		enum pgr_call_reason conflict;
		char detail[sizeof(k->done.detail)];

		if (add_goal(&k->spec, conf, &conflict, detail, sizeof(detail)))
		{
			pgr_call_finish(c, k, PGR_CALL_OK, PGR_CALL_DONE, app->config_index);
			return PGR_OK;
		}
		if (conflict != PGR_CALL_DONE)
		{
			/* our own proposal cannot have caused a conflict: it is final */
			pgr_call_finish_detail(c, k, PGR_CALL_FAILED, conflict, detail);
			return PGR_OK;
		}
		if (k->spec.probe && !k->probed)
		{
			k->step = STEP_PROBE;
			return PGR_OK;
		}
		cc.type = PGR_CC_ADD_LEARNER;
		cc.context_len = k->spec.context_len;
		memcpy(cc.context, k->spec.context, k->spec.context_len);
	}
	else
	{
		if (m == NULL)
		{
			if (k->in_flight)
				pgr_call_finish(c, k, PGR_CALL_OK, PGR_CALL_DONE, app->config_index);
			else
				pgr_call_finish(c, k, PGR_CALL_FAILED, PGR_CALL_NOT_MEMBER, 0);
			return PGR_OK;
		}
		if (m->role == PGR_MEMBER_VOTER && pgr_config_voters(conf) == 1)
		{
			pgr_call_finish(c, k, PGR_CALL_FAILED, PGR_CALL_LAST_VOTER, 0);
			return PGR_OK;
		}
		if (k->spec.node_id == c->origin && m->role == PGR_MEMBER_VOTER &&
			s->role != PGR_ROLE_LEADER)
		{
			/* removing ourselves: lead first (see the table above) */
			err = s->leader == PGR_NONE ? PGR_ENOLEADER
										: pgr_node_transfer_leadership(node, c->origin);
			if (err == PGR_ENOMEM)
				return err;
			k->step = STEP_TRANSFERRING;
			k->retry_at = now + c->retry_ms;
			return PGR_OK;
		}
		cc.type = PGR_CC_REMOVE;
	}
	err = pgr_node_propose_conf_change(node, &cc, &index);
	switch (err)
	{
		case PGR_OK:
			k->step = STEP_CHANGED;
			k->in_flight = true;
			k->retry_at = now + c->retry_ms;
			return PGR_OK;
		case PGR_EBUSY: /* a change or transfer in flight */
		case PGR_ENOLEADER:
			k->retry_at = now + c->retry_ms / 8 + 1;
			return PGR_OK;
		case PGR_EEXIST: /* the leader's latest has it: see it committed */
		case PGR_ENOENT:
			k->step = STEP_BARRIER;
			return PGR_OK;
		case PGR_ENOMEM:
			return PGR_ENOMEM;
		default:
			if (err == PGR_EINVAL && cc.type == PGR_CC_REMOVE)
				pgr_call_finish(c, k, PGR_CALL_FAILED, PGR_CALL_LAST_VOTER, 0);
			else
				pgr_call_finish_detail(c, k, PGR_CALL_FAILED, PGR_CALL_REFUSED, pgr_strerror(err));
			return PGR_OK;
	}
}

enum pgr_err
pgr_op_drive_transfer(struct pgr_calls *c, struct pgr_call *k, struct pgr_node *node,
					  const struct pgr_status *s, const struct pgr_app_state *app, uint64_t now)
{
	const struct pgr_member *m = pgr_config_find(&app->config, k->spec.node_id);
	enum pgr_err err;

	if (s->leader == k->spec.node_id)
	{
		pgr_call_finish(c, k, PGR_CALL_OK, PGR_CALL_DONE, 0);
		return PGR_OK;
	}
	if (k->step == STEP_TRANSFERRING && now >= k->retry_at)
		k->step = STEP_TRANSFER;
	if (k->step != STEP_TRANSFER || s->leader == PGR_NONE)
		return PGR_OK;
	if (m == NULL || m->role != PGR_MEMBER_VOTER)
	{
		pgr_call_finish(c, k, PGR_CALL_FAILED, PGR_CALL_NOT_MEMBER, 0);
		return PGR_OK;
	}
	err = pgr_node_transfer_leadership(node, k->spec.node_id);
	if (err == PGR_ENOMEM)
		return err;
	if (err == PGR_OK)
	{
		k->step = STEP_TRANSFERRING;
		k->retry_at = now + c->retry_ms;
	}
	return PGR_OK;
}
