/*-------------------------------------------------------------------------
 *
 * handover.c
 *		A stopping leader hands leadership to its successor first (see
 *		app.h, THE HANDOVER).
 *
 * Without it, a leader that stops (pg_ctl stop, a rolling restart) leaves
 * the followers to notice its silence: an election timeout without a leader,
 * and the writes of that moment fail or wait.  With it, the leader brings
 * the successor up to date and sends it TimeoutNow (the core's transfer,
 * dissertation 3.10); the successor wins the next term at once, and the
 * writes forwarded to the old leader are proposed again to the new one.
 *
 * The steps (event: state -> state, why):
 *	begin, not leading:		-> NOT_LEADING   nothing to hand over
 *	drive, another node leads: WAITING -> DONE   the old leader has seen the
 *							new one, so its vote and its answers are sent
 *	drive, deadline passed:	WAITING -> TIMED_OUT   stop anyway
 *	drive, leading and no transfer in flight (at the start, or the core
 *							gave one up): ask pgr_node_successor(); none
 *							-> NO_SUCCESSOR (no voter is alive to take over)
 *	otherwise (transfer in flight, or an election under way): WAITING
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/app/handover.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgraft/app.h"

const char *
pgr_handover_state_name(enum pgr_handover_state st)
{
	switch (st)
	{
		case PGR_HANDOVER_WAITING:
			return "waiting";
		case PGR_HANDOVER_NOT_LEADING:
			return "not leading";
		case PGR_HANDOVER_NO_SUCCESSOR:
			return "no successor";
		case PGR_HANDOVER_DONE:
			return "done";
		case PGR_HANDOVER_TIMED_OUT:
			return "timed out";
	}
	return "unknown";
}

enum pgr_err
pgr_handover_begin(struct pgr_handover *h, struct pgr_node *node, uint64_t now_ms,
				   uint32_t timeout_ms)
{
	struct pgr_status s;

	memset(h, 0, sizeof(*h));
	h->target = PGR_NONE;
	h->leader = PGR_NONE;
	h->started_ms = now_ms;
	h->deadline_ms = now_ms + timeout_ms;
	pgr_node_status(node, &s);
	if (s.role != PGR_ROLE_LEADER)
	{
		h->state = PGR_HANDOVER_NOT_LEADING;
		return PGR_OK;
	}
	h->state = PGR_HANDOVER_WAITING;
	return pgr_handover_drive(h, node, now_ms);
}

enum pgr_err
pgr_handover_drive(struct pgr_handover *h, struct pgr_node *node, uint64_t now_ms)
{
	struct pgr_status s;
	uint64_t next;
	enum pgr_err err;

	if (h->state != PGR_HANDOVER_WAITING)
		return PGR_OK;
	pgr_node_status(node, &s);
	if (s.leader != PGR_NONE && s.leader != s.id)
	{
		h->state = PGR_HANDOVER_DONE;
		h->leader = s.leader;
		return PGR_OK;
	}
	if (now_ms >= h->deadline_ms)
	{
		h->state = PGR_HANDOVER_TIMED_OUT;
		return PGR_OK;
	}
	if (s.role != PGR_ROLE_LEADER || s.lead_transferee != PGR_NONE)
		return PGR_OK;
	next = pgr_node_successor(node);
	if (next == PGR_NONE)
	{
		h->state = PGR_HANDOVER_NO_SUCCESSOR;
		return PGR_OK;
	}
	err = pgr_node_transfer_leadership(node, next);
	if (err != PGR_OK)
		return err;
	h->target = next;
	h->attempts++;
	return PGR_OK;
}
