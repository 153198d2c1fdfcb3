/*-------------------------------------------------------------------------
 *
 * election.c
 *		Leader election: PreVote, RequestVote, and their responses.
 *
 * Raft 5.2 and 5.4.1, with the dissertation's PreVote (9.6): before
 * incrementing its term a node asks whether it could win; a node that heard
 * from a live leader within the election timeout says no (see step_term in
 * node.c), so a partitioned node that comes back cannot depose a healthy
 * leader by bumping terms.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/election.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft.h"

/* Ask every other voter for its (pre-)vote. */
static enum pgr_err
request_votes(struct pgr_node *node, uint32_t type, uint64_t term, bool transfer)
{
	for (uint32_t i = 0; i < node->config.n_members; i++)
	{
		const struct pgr_member *mb = &node->config.members[i];
		struct pgr_msg m = {0};
		enum pgr_err err;

		if (mb->id == node->id || mb->role != PGR_MEMBER_VOTER)
			continue;
		m.type = type;
		m.to = mb->id;
		m.term = term;
		m.index = pgr_log_last_index(&node->log);
		m.log_term = pgr_log_last_term(&node->log);
		m.force = transfer;
		err = pgr_send(node, &m);
		if (err != PGR_OK)
			return err;
	}
	return PGR_OK;
}

static void
record_vote(struct pgr_node *node, uint64_t id, bool granted)
{
	for (uint32_t i = 0; i < node->n_votes; i++)
		if (node->votes[i].id == id)
			return; /* first answer counts; duplicates do not */
	if (node->n_votes < PGR_MAX_MEMBERS)
	{
		node->votes[node->n_votes].id = id;
		node->votes[node->n_votes].granted = granted;
		node->n_votes++;
	}
}

/* Raft 5.2: become candidate in term + 1, vote for ourselves, ask the others. */
static enum pgr_err
campaign(struct pgr_node *node, bool transfer)
{
	enum pgr_err err = pgr_become_candidate(node);

	if (err != PGR_OK)
		return err;
	node->elections_started++;
	record_vote(node, node->id, true);
	if (pgr_quorum_vote_result(node) == PGR_VOTE_WON)
	{
		node->elections_won++;
		return pgr_become_leader(node); /* a single voter */
	}
	return request_votes(node, PGR_MSG_VOTE, node->term, transfer);
}

static enum pgr_err
pre_campaign(struct pgr_node *node)
{
	pgr_become_pre_candidate(node);
	node->pre_votes_started++;
	record_vote(node, node->id, true);
	if (pgr_quorum_vote_result(node) == PGR_VOTE_WON)
	{
		node->pre_votes_won++;
		return campaign(node, false);
	}
	return request_votes(node, PGR_MSG_PRE_VOTE, node->term + 1, false);
}

/*
 * The election timeout fired, the caller asked for an election, or (with
 * transfer) the leader told us to take over: start a (pre-)election.
 * Precondition: none; leaders and non-voters ignore it.
 */
enum pgr_err
pgr_hup(struct pgr_node *node, bool transfer)
{
	if (node->role == PGR_ROLE_LEADER)
		return PGR_EIGNORED;
	if (!pgr_promotable(node))
		return PGR_EIGNORED;
	if (!node->opts.disable_pre_vote && !transfer)
		return pre_campaign(node);
	return campaign(node, transfer);
}

/*
 * RequestVote / PreVote receiver (Raft 5.2, 5.4.1): grant if we have not
 * voted for someone else in this term (a pre-vote for a higher term never
 * binds us) and the candidate's log is at least as up-to-date as ours.
 * step_term has already applied the term and lease rules.
 */
enum pgr_err
pgr_handle_vote_request(struct pgr_node *node, const struct pgr_msg *m)
{
	bool pre = m->type == PGR_MSG_PRE_VOTE;
	bool can_vote;
	struct pgr_msg r = {0};

	can_vote = node->vote == m->from || (node->vote == PGR_NONE && node->lead == PGR_NONE) ||
			   (pre && m->term > node->term);
	r.type = pre ? PGR_MSG_PRE_VOTE_RESP : PGR_MSG_VOTE_RESP;
	r.to = m->from;
	if (can_vote && pgr_log_is_up_to_date(&node->log, m->index, m->log_term))
	{
		/*
		 * A pre-vote grant carries the term it is for, so the
		 * pre-candidate (still at the old term) can tell it apart from a
		 * rejection that should update its term.
		 */
		r.term = m->term;
		if (!pre)
		{
			node->election_elapsed = 0;
			node->vote = m->from;
		}
	}
	else
	{
		r.term = node->term;
		r.reject = true;
	}
	return pgr_send(node, &r);
}

enum pgr_err
pgr_handle_vote_response(struct pgr_node *node, const struct pgr_msg *m)
{
	bool pre = m->type == PGR_MSG_PRE_VOTE_RESP;

	const struct pgr_member *mb = pgr_config_find(&node->config, m->from);

	if (pre != (node->role == PGR_ROLE_PRE_CANDIDATE))
		return PGR_EIGNORED; /* an answer to an election we are not running */
	/*
	 * Only voters' answers are recorded.  The tally skipped other senders,
	 * but recording them let answers from up to PGR_MAX_MEMBERS strangers
	 * fill the table, after which the real voters' grants were dropped and
	 * the election could not be won.
	 */
	if (mb == NULL)
		return PGR_EUNKNOWN_NODE;
	if (mb->role != PGR_MEMBER_VOTER)
		return PGR_EIGNORED;
	if (pre && !m->reject && m->term != node->term + 1)
		return PGR_EIGNORED; /* a grant for some other pre-election */
	record_vote(node, m->from, !m->reject);
	switch (pgr_quorum_vote_result(node))
	{
		case PGR_VOTE_WON:
			if (pre)
			{
				node->pre_votes_won++;
				return campaign(node, false);
			}
			node->elections_won++;
			return pgr_become_leader(node);
		case PGR_VOTE_LOST:
			/* Stay in this term; a rejection at a higher term already moved us. */
			pgr_become_follower(node, node->term, PGR_NONE);
			return PGR_OK;
		case PGR_VOTE_PENDING:
			break;
	}
	return PGR_OK;
}
