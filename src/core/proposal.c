/*-------------------------------------------------------------------------
 *
 * proposal.c
 *		Requests from the application: proposals, membership changes,
 *		leadership transfer and compaction.
 *
 * Proposals and membership changes made on a follower are forwarded to the
 * leader (MsgProp); their outcome is learned when the entry is applied.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/proposal.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "raft.h"

/* A follower forwards entries to its leader; payloads live until advance. */
static enum pgr_err
forward(struct pgr_node *node, uint32_t type, const uint8_t *const *data, const uint32_t *lens,
		uint32_t count)
{
	struct pgr_msg m = {0};

	if (node->lead == PGR_NONE)
		return PGR_ENOLEADER;
	m.type = PGR_MSG_PROP;
	m.to = node->lead;
	m.n_entries = count;
	m.entries = pgr_arena_alloc(&node->arena, count * sizeof(struct pgr_entry));
	if (m.entries == NULL)
		return PGR_ENOMEM;
	memset(m.entries, 0, count * sizeof(struct pgr_entry));
	for (uint32_t i = 0; i < count; i++)
	{
		m.entries[i].type = type;
		m.entries[i].len = lens[i];
		if (lens[i] > 0)
		{
			m.entries[i].data = pgr_arena_alloc(&node->arena, lens[i]);
			if (m.entries[i].data == NULL)
				return PGR_ENOMEM;
			memcpy(m.entries[i].data, data[i], lens[i]);
		}
	}
	return pgr_send(node, &m);
}

/* Can the leader take new entries now? */
static enum pgr_err
leader_accepts(const struct pgr_node *node)
{
	if (node->lead_transferee != PGR_NONE)
		return PGR_EBUSY; /* Raft 3.10: stop accepting during a transfer */
	if (!pgr_is_voter(node))
		return PGR_EBUSY; /* we are being removed */
	return PGR_OK;
}

enum pgr_err
pgr_node_propose_batch(struct pgr_node *node, const uint8_t *const *data, const uint32_t *lens,
					   uint32_t count, uint64_t *first_index_out)
{
	struct pgr_entry stack_ents[64];
	struct pgr_entry *ents = stack_ents;
	enum pgr_err err;

	if (node->in_ready)
		return PGR_ESTATE;
	if (count == 0 || data == NULL || lens == NULL)
		return PGR_EINVAL;
	for (uint32_t i = 0; i < count; i++)
	{
		if (lens[i] > node->opts.max_entry_bytes)
			return PGR_ETOOBIG;
		if (lens[i] > 0 && data[i] == NULL)
			return PGR_EINVAL;
	}
	if (first_index_out != NULL)
		*first_index_out = 0;
	if (node->role != PGR_ROLE_LEADER)
		return forward(node, PGR_ENTRY_NORMAL, data, lens, count);
	err = leader_accepts(node);
	if (err != PGR_OK)
		return err;
	if (count > 64)
	{
		ents = pgr_mem_alloc(&node->alloc, count * sizeof(struct pgr_entry));
		if (ents == NULL)
			return PGR_ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++)
	{
		ents[i].term = node->term;
		ents[i].index = pgr_log_last_index(&node->log) + 1 + i;
		ents[i].type = PGR_ENTRY_NORMAL;
		ents[i].len = lens[i];
		ents[i].data = (uint8_t *) data[i];
	}
	err = pgr_append_entries(node, ents, count);
	if (err == PGR_OK && first_index_out != NULL)
		*first_index_out = ents[0].index;
	if (ents != stack_ents)
		pgr_mem_free(&node->alloc, ents);
	if (err != PGR_OK)
		return err;
	return pgr_bcast_append(node);
}

enum pgr_err
pgr_node_propose(struct pgr_node *node, const uint8_t *data, uint32_t len, uint64_t *index_out)
{
	return pgr_node_propose_batch(node, &data, &len, 1, index_out);
}

enum pgr_err
pgr_node_propose_conf_change(struct pgr_node *node, const struct pgr_conf_change *cc,
							 uint64_t *index_out)
{
	uint64_t idx = 0;
	enum pgr_err err;

	if (node->in_ready)
		return PGR_ESTATE;
	if (cc == NULL || cc->node_id == PGR_NONE || cc->context_len > PGR_MAX_CONTEXT ||
		cc->type > PGR_CC_REMOVE)
		return PGR_EINVAL;
	if (index_out != NULL)
		*index_out = 0;
	if (node->role != PGR_ROLE_LEADER)
	{
		uint8_t buf[16 + PGR_MAX_CONTEXT];
		const uint8_t *p = buf;
		size_t len;
		uint32_t len32;

		err = pgr_conf_change_encode(cc, buf, sizeof(buf), &len);
		if (err != PGR_OK)
			return err;
		len32 = (uint32_t) len;
		return forward(node, PGR_ENTRY_CONF_CHANGE, &p, &len32, 1);
	}
	if (!pgr_is_voter(node))
		return PGR_EBUSY;
	err = pgr_leader_conf_change(node, cc, &idx);
	if (err == PGR_OK && index_out != NULL)
		*index_out = idx;
	return err;
}

/*
 * Leadership transfer (dissertation 3.10): stop taking proposals, bring the
 * target up to date, then tell it to campaign at once (TimeoutNow).  The
 * rest happens in pgr_handle_append_response when the target catches up;
 * tick_leader gives up after an election timeout.
 */
enum pgr_err
pgr_node_transfer_leadership(struct pgr_node *node, uint64_t target)
{
	struct pgr_progress *pr;

	if (node->in_ready)
		return PGR_ESTATE;
	if (target == PGR_NONE)
		return PGR_EINVAL;
	if (node->role != PGR_ROLE_LEADER)
	{
		struct pgr_msg m = {0};

		if (node->lead == PGR_NONE)
			return PGR_ENOLEADER;
		if (target == node->lead)
			return PGR_OK;
		m.type = PGR_MSG_TRANSFER_LEADER;
		m.to = node->lead;
		m.index = target;
		return pgr_send(node, &m);
	}
	if (target == node->id)
		return PGR_OK; /* already there */
	pr = pgr_progress_of(node, target);
	if (pr == NULL)
		return PGR_ENOENT;
	if (pr->is_learner)
		return PGR_EINVAL;
	if (node->lead_transferee == target)
		return PGR_OK;
	node->lead_transferee = target;
	node->election_elapsed = 0; /* the transfer has one election timeout */
	if (pr->match == pgr_log_last_index(&node->log))
	{
		struct pgr_msg m = {.type = PGR_MSG_TIMEOUT_NOW, .to = target};

		return pgr_send(node, &m);
	}
	return pgr_send_append(node, pr, true);
}

enum pgr_err
pgr_node_compact(struct pgr_node *node, uint64_t index, const uint8_t *data, uint64_t len,
				 struct pgr_snapshot_meta *meta_out)
{
	struct pgr_config conf;
	uint64_t term;
	uint8_t *copy = NULL;
	enum pgr_err err;

	if (node->in_ready)
		return PGR_ESTATE;
	if (index > node->log.applied || (len > 0 && data == NULL))
		return PGR_EINVAL;
	if (index <= node->log.snap_index)
		return PGR_ECOMPACTED;
	if (len > SIZE_MAX)
		return PGR_ETOOBIG;
	err = pgr_log_term(&node->log, index, &term);
	if (err != PGR_OK)
		return err;
	err = pgr_config_at(node, index, &conf);
	if (err != PGR_OK)
		return err;
	if (len > 0)
	{
		copy = pgr_mem_alloc(&node->alloc, (size_t) len);
		if (copy == NULL)
			return PGR_ENOMEM;
		memcpy(copy, data, (size_t) len);
	}
	/* A queued MsgSnap may point to the old data until advance. */
	err = pgr_garbage_add(&node->garbage, node->snapshot.data);
	if (err != PGR_OK)
	{
		pgr_mem_free(&node->alloc, copy);
		return err;
	}
	node->snapshot.meta.index = index;
	node->snapshot.meta.term = term;
	node->snapshot.meta.config = conf;
	node->snapshot.len = len;
	node->snapshot.data = copy;
	err = pgr_log_compact(&node->log, index, term);
	if (meta_out != NULL)
		*meta_out = node->snapshot.meta;
	return err;
}
