/*-------------------------------------------------------------------------
 *
 * quorum.c
 *		Majorities over the voters of the latest configuration.
 *
 * Learners never count.  A leader that removed itself still leads until the
 * configuration without it commits, but its own log does not count then
 * (dissertation 4.2.2).
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/quorum.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft.h"

static uint32_t
majority(uint32_t voters)
{
	return voters / 2 + 1;
}

/*
 * The highest index acknowledged by a majority of voters (the leader's own
 * log counts through its own progress).  Raft 5.3; the caller applies the
 * Figure 8 rule (only current-term entries commit by counting).
 */
uint64_t
pgr_quorum_commit_index(const struct pgr_node *node)
{
	uint64_t matches[PGR_MAX_MEMBERS];
	uint32_t n = 0;

	for (uint32_t i = 0; i < node->n_prs; i++)
		if (!node->prs[i].is_learner)
			matches[n++] = node->prs[i].match;
	if (n == 0)
		return 0;
	/* insertion sort, descending: n <= PGR_MAX_MEMBERS */
	for (uint32_t i = 1; i < n; i++)
	{
		uint64_t v = matches[i];
		uint32_t j = i;

		while (j > 0 && matches[j - 1] < v)
		{
			matches[j] = matches[j - 1];
			j--;
		}
		matches[j] = v;
	}
	return matches[majority(n) - 1];
}

/* Raft 5.2: a candidate wins with a majority of grants, loses with a majority against. */
enum pgr_vote_result
pgr_quorum_vote_result(const struct pgr_node *node)
{
	uint32_t voters = pgr_config_voters(&node->config);
	uint32_t granted = 0;
	uint32_t rejected = 0;

	for (uint32_t i = 0; i < node->n_votes; i++)
	{
		const struct pgr_member *m = pgr_config_find(&node->config, node->votes[i].id);

		if (m == NULL || m->role != PGR_MEMBER_VOTER)
			continue;
		if (node->votes[i].granted)
			granted++;
		else
			rejected++;
	}
	if (granted >= majority(voters))
		return PGR_VOTE_WON;
	if (rejected > voters - majority(voters))
		return PGR_VOTE_LOST;
	return PGR_VOTE_PENDING;
}

/* CheckQuorum: did a majority of voters talk to us since the last check? */
bool
pgr_quorum_active(const struct pgr_node *node)
{
	uint32_t voters = 0;
	uint32_t active = 0;

	for (uint32_t i = 0; i < node->n_prs; i++)
	{
		const struct pgr_progress *pr = &node->prs[i];

		if (pr->is_learner)
			continue;
		voters++;
		if (pr->id == node->id || pr->recent_active)
			active++;
	}
	return voters > 0 && active >= majority(voters);
}

/* ReadIndex: has a majority of voters echoed a heartbeat of sequence >= seq? */
bool
pgr_quorum_read_acked(const struct pgr_node *node, uint64_t seq)
{
	uint32_t voters = 0;
	uint32_t acked = 0;

	for (uint32_t i = 0; i < node->n_prs; i++)
	{
		const struct pgr_progress *pr = &node->prs[i];

		if (pr->is_learner)
			continue;
		voters++;
		if (pr->id == node->id || pr->read_ack >= seq)
			acked++;
	}
	return voters > 0 && acked >= majority(voters);
}
