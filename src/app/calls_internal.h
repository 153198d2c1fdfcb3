/*-------------------------------------------------------------------------
 *
 * calls_internal.h
 *		What calls.c (the lifecycle of every call) and ops.c (the steps of
 *		membership changes and transfers) share: the call itself.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/app/calls_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_CALLS_INTERNAL_H
#define PGRAFT_CALLS_INTERNAL_H

#include "pgraft/app.h"

/* The steps of a call; their transitions are in calls.c and ops.c. */
enum call_step
{
	STEP_FREE = 0,
	STEP_PROPOSE,
	STEP_PROPOSED,
	STEP_BARRIER,
	STEP_READING,
	STEP_APPLYING,
	STEP_CHANGE,
	STEP_PROBE,
	STEP_PROBING,
	STEP_CHANGED,
	STEP_TRANSFER,
	STEP_TRANSFERRING,
	STEP_DONE /* finished, waiting for pgr_calls_next_done */
};

struct pgr_call
{
	enum call_step step;
	uint32_t tag;
	struct pgr_call_spec spec;
	uint64_t seq;  /* APPEND: the id's seq; READ: derives ctx */
	uint64_t ctx;  /* read index context */
	uint64_t term; /* term of the live proposal, read or transfer */
	uint64_t read_index;
	uint64_t retry_at;
	bool in_flight; /* something proposed may still take effect */
	bool probed;
	struct pgr_call_done done;
};

bool pgr_call_active(const struct pgr_call *k);

/* End a call with an outcome (and a detail); it waits to be taken. */
void pgr_call_finish(struct pgr_calls *c, struct pgr_call *k, enum pgr_call_outcome outcome,
					 enum pgr_call_reason reason, uint64_t index);
void pgr_call_finish_detail(struct pgr_calls *c, struct pgr_call *k, enum pgr_call_outcome outcome,
							enum pgr_call_reason reason, const char *detail);

/* ops.c: the steps after the barrier (ADD, REMOVE) and TRANSFER. */
enum pgr_err pgr_op_drive_change(struct pgr_calls *c, struct pgr_call *k, struct pgr_node *node,
								 const struct pgr_status *s, const struct pgr_app_state *app,
								 uint64_t now);
enum pgr_err pgr_op_drive_transfer(struct pgr_calls *c, struct pgr_call *k, struct pgr_node *node,
								   const struct pgr_status *s, const struct pgr_app_state *app,
								   uint64_t now);
bool pgr_op_change_goal(const struct pgr_call *k, const struct pgr_app_state *app);

#endif /* PGRAFT_CALLS_INTERNAL_H */
