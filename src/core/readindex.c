/*-------------------------------------------------------------------------
 *
 * readindex.c
 *		Linearizable reads without writing to the log (dissertation 6.4).
 *
 * The leader records its commit index when a read arrives, then proves it
 * is still the leader by a round of heartbeats acknowledged by a majority;
 * the read is then safe at that index.  A new leader does not know the
 * commit index until an entry of its own term is committed, so reads wait
 * for that first.  Each confirmation round has a sequence number carried in
 * the heartbeats; an acknowledgement of sequence s confirms every read of
 * sequence <= s, since those were registered before that heartbeat left.
 * Rounds start at ready, one for every read registered since the last.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/readindex.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "raft.h"

enum pgr_err
pgr_read_done(struct pgr_node *node, uint64_t context, uint64_t index, bool failed)
{
	struct pgr_read_state *rs;

	if (node->n_done_reads == node->cap_done_reads)
	{
		size_t ncap = node->cap_done_reads ? node->cap_done_reads * 2 : 8;
		struct pgr_read_state *n = pgr_mem_realloc(
			&node->alloc, node->done_reads, node->cap_done_reads * sizeof(*n), ncap * sizeof(*n));

		if (n == NULL)
			return PGR_ENOMEM;
		node->done_reads = n;
		node->cap_done_reads = ncap;
	}
	rs = &node->done_reads[node->n_done_reads++];
	rs->context = context;
	rs->index = index;
	rs->failed = failed;
	return PGR_OK;
}

/* Hand a confirmed (or failed) read to whoever asked. */
static enum pgr_err
complete(struct pgr_node *node, const struct pgr_pending_read *r, uint64_t index, bool failed)
{
	struct pgr_msg m = {0};

	if (r->from == node->id)
		return pgr_read_done(node, r->context, index, failed);
	m.type = PGR_MSG_READ_INDEX_RESP;
	m.to = r->from;
	m.index = index;
	m.context = r->context;
	m.reject = failed;
	return pgr_send(node, &m);
}

static bool
committed_in_term(const struct pgr_node *node)
{
	uint64_t t = 0;

	(void) pgr_log_term(&node->log, node->log.committed, &t);
	return t == node->term;
}

static bool
sole_voter(const struct pgr_node *node)
{
	const struct pgr_member *m = pgr_config_find(&node->config, node->id);

	return pgr_config_voters(&node->config) == 1 && m != NULL && m->role == PGR_MEMBER_VOTER;
}

/*
 * Give every read still waiting for a sequence the next one, and send it:
 * at the next ready, so that every read registered since the last one
 * shares a single round of heartbeats.
 */
enum pgr_err
pgr_reads_start_round(struct pgr_node *node)
{
	bool any = false;

	node->read_round_due = false;
	if (node->role != PGR_ROLE_LEADER || !committed_in_term(node))
		return PGR_OK; /* pgr_reads_release_committed asks again */
	for (size_t i = 0; i < node->n_reads; i++)
		if (node->reads[i].seq == 0)
		{
			if (!any)
				node->read_seq++;
			any = true;
			node->reads[i].seq = node->read_seq;
			node->reads[i].index = node->log.committed;
		}
	if (!any)
		return PGR_OK;
	return pgr_bcast_heartbeat(node, node->read_seq);
}

enum pgr_err
pgr_leader_read_index(struct pgr_node *node, uint64_t from, uint64_t context)
{
	struct pgr_pending_read *r;

	if (sole_voter(node) && committed_in_term(node))
	{
		struct pgr_pending_read now = {0, node->log.committed, from, context};

		return complete(node, &now, node->log.committed, false);
	}
	if (node->n_reads == node->cap_reads)
	{
		size_t ncap = node->cap_reads ? node->cap_reads * 2 : 8;
		struct pgr_pending_read *n = pgr_mem_realloc(
			&node->alloc, node->reads, node->cap_reads * sizeof(*n), ncap * sizeof(*n));

		if (n == NULL)
			return PGR_ENOMEM;
		node->reads = n;
		node->cap_reads = ncap;
	}
	r = &node->reads[node->n_reads++];
	memset(r, 0, sizeof(*r));
	r->from = from;
	r->context = context;
	if (committed_in_term(node))
		node->read_round_due = true; /* else it waits for our first commit */
	return PGR_OK;
}

/* The commit index moved on the leader: start reads that were waiting. */
enum pgr_err
pgr_reads_release_committed(struct pgr_node *node)
{
	if (node->n_reads == 0 || !committed_in_term(node))
		return PGR_OK;
	if (sole_voter(node))
	{
		enum pgr_err err = PGR_OK;

		for (size_t i = 0; i < node->n_reads && err == PGR_OK; i++)
			err = complete(node, &node->reads[i], node->log.committed, false);
		node->n_reads = 0;
		return err;
	}
	node->read_round_due = true;
	return PGR_OK;
}

/* A heartbeat acknowledgement arrived: complete every read a majority confirmed. */
enum pgr_err
pgr_reads_on_ack(struct pgr_node *node)
{
	size_t done = 0;
	enum pgr_err err = PGR_OK;

	while (done < node->n_reads && node->reads[done].seq != 0 &&
		   pgr_quorum_read_acked(node, node->reads[done].seq))
	{
		err = complete(node, &node->reads[done], node->reads[done].index, false);
		if (err != PGR_OK)
			break;
		done++;
	}
	if (done > 0)
	{
		memmove(node->reads, node->reads + done,
				(node->n_reads - done) * sizeof(struct pgr_pending_read));
		node->n_reads -= done;
	}
	return err;
}

/* We are no longer leader: nobody can confirm these reads through us. */
enum pgr_err
pgr_reads_fail_all(struct pgr_node *node)
{
	enum pgr_err err = PGR_OK;

	for (size_t i = 0; i < node->n_reads; i++)
	{
		enum pgr_err e = complete(node, &node->reads[i], 0, true);

		if (e != PGR_OK)
			err = e;
	}
	node->n_reads = 0;
	return err;
}

enum pgr_err
pgr_node_read_index(struct pgr_node *node, uint64_t context)
{
	struct pgr_msg m = {0};

	if (node->in_ready)
		return PGR_ESTATE;
	if (node->role == PGR_ROLE_LEADER)
		return pgr_leader_read_index(node, node->id, context);
	if (node->lead == PGR_NONE)
		return PGR_ENOLEADER;
	m.type = PGR_MSG_READ_INDEX;
	m.to = node->lead;
	m.context = context;
	return pgr_send(node, &m);
}
