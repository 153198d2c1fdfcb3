/*-------------------------------------------------------------------------
 *
 * node.c
 *		Node lifecycle, role transitions, the term rules applied to every
 *		message, dispatch, and the ready/advance cycle.
 *
 * The public contract is at the top of include/pgraft/core.h.  Role changes:
 *	follower -> pre-candidate	election timeout, PreVote on (election.c)
 *	pre-candidate -> candidate	a majority would vote for us in term + 1
 *	follower -> candidate		election timeout without PreVote, or TimeoutNow
 *	candidate -> leader			a majority voted for us in this term
 *	any -> follower				a higher term, a leader of our term, a lost
 *								election, a failed quorum check, or our own
 *								removal committed
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/node.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "raft.h"

/* splitmix64: small, fast, and good enough to spread election timeouts. */
static uint64_t
prng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Raft 5.2: a fresh timeout drawn uniformly from [T, 2T). */
void
pgr_reset_randomized_timeout(struct pgr_node *node)
{
	uint32_t t = node->opts.election_tick;

	node->randomized_election_timeout = t + (uint32_t) (prng_next(&node->prng) % t);
}

bool
pgr_past_election_timeout(const struct pgr_node *node)
{
	return node->election_elapsed >= node->randomized_election_timeout;
}

/* Are we a voter in the latest configuration (the one in force)? */
bool
pgr_is_voter(const struct pgr_node *node)
{
	const struct pgr_member *m = pgr_config_find(&node->config, node->id);

	return m != NULL && m->role == PGR_MEMBER_VOTER;
}

/*
 * May we campaign?  Voters of the latest configuration may.  So may a node
 * that the latest configuration removes while that removal is not yet
 * committed, if it is a voter of the committed configuration: it may hold
 * the only up-to-date copy of the removal (a leader that removed itself and
 * then crashed), and the remaining voters, whose logs are behind, cannot be
 * elected without its vote, which the up-to-date check refuses.  Campaigning
 * counts the latest configuration's voters, so if it wins it leads without
 * counting itself, commits the removal and steps down (dissertation 4.2.2).
 */
bool
pgr_promotable(const struct pgr_node *node)
{
	struct pgr_config committed;
	const struct pgr_member *m;

	if (node->removed)
		return false; /* a leader told us: campaigning would only disturb */
	if (pgr_is_voter(node))
		return true;
	if (node->config_index <= node->log.committed)
		return false;
	if (pgr_config_at(node, node->log.committed, &committed) != PGR_OK)
		return false;
	m = pgr_config_find(&committed, node->id);
	return m != NULL && m->role == PGR_MEMBER_VOTER;
}

struct pgr_progress *
pgr_progress_of(const struct pgr_node *node, uint64_t id)
{
	for (uint32_t i = 0; i < node->n_prs; i++)
		if (node->prs[i].id == id)
			return &node->prs[i];
	return NULL;
}

static void
progress_free_all(struct pgr_node *node)
{
	for (uint32_t i = 0; i < node->n_prs; i++)
		pgr_mem_free(&node->alloc, node->prs[i].inflight);
	node->n_prs = 0;
}

/* Queue a message.  from and (for term-carrying types) term are filled in. */
enum pgr_err
pgr_send(struct pgr_node *node, const struct pgr_msg *msg)
{
	struct pgr_msg *m;

	if (node->n_msgs == node->cap_msgs)
	{
		size_t ncap = node->cap_msgs ? node->cap_msgs * 2 : 16;
		struct pgr_msg *nm =
			pgr_mem_realloc(&node->alloc, node->msgs, node->cap_msgs * sizeof(struct pgr_msg),
							ncap * sizeof(struct pgr_msg));

		if (nm == NULL)
			return PGR_ENOMEM;
		node->msgs = nm;
		node->cap_msgs = ncap;
	}
	m = &node->msgs[node->n_msgs++];
	*m = *msg;
	m->from = node->id;
	if (m->term == 0 && m->type != PGR_MSG_PROP && m->type != PGR_MSG_READ_INDEX &&
		m->type != PGR_MSG_TRANSFER_LEADER)
		m->term = node->term;
	return PGR_OK;
}

/* Timers and per-term state shared by every role change. */
static void
reset(struct pgr_node *node, uint64_t term)
{
	if (node->term != term)
	{
		node->term = term;
		node->vote = PGR_NONE;
	}
	node->lead = PGR_NONE;
	node->election_elapsed = 0;
	node->heartbeat_elapsed = 0;
	pgr_reset_randomized_timeout(node);
	node->lead_transferee = PGR_NONE;
	node->n_votes = 0;
}

void
pgr_become_follower(struct pgr_node *node, uint64_t term, uint64_t lead)
{
	if (node->role == PGR_ROLE_LEADER)
	{
		/* Reads we were confirming can no longer be confirmed by us. */
		(void) pgr_reads_fail_all(node);
		progress_free_all(node);
	}
	reset(node, term);
	node->role = PGR_ROLE_FOLLOWER;
	node->lead = lead;
}

void
pgr_become_pre_candidate(struct pgr_node *node)
{
	/* No term change and no vote: PreVote must not disturb anyone. */
	node->role = PGR_ROLE_PRE_CANDIDATE;
	node->lead = PGR_NONE;
	node->n_votes = 0;
	node->election_elapsed = 0;
	pgr_reset_randomized_timeout(node);
}

enum pgr_err
pgr_become_candidate(struct pgr_node *node)
{
	reset(node, node->term + 1);
	node->vote = node->id;
	node->role = PGR_ROLE_CANDIDATE;
	return PGR_OK;
}

/*
 * Raft 5.2/5.4.2: the new leader resets every follower's progress and
 * appends an empty entry of its term, the only way older entries can become
 * committed (Figure 8).
 */
enum pgr_err
pgr_become_leader(struct pgr_node *node)
{
	struct pgr_entry noop;
	enum pgr_err err;

	reset(node, node->term);
	node->role = PGR_ROLE_LEADER;
	node->lead = node->id;
	err = pgr_progress_reset_all(node);
	if (err != PGR_OK)
		return err;
	memset(&noop, 0, sizeof(noop));
	noop.term = node->term;
	noop.index = pgr_log_last_index(&node->log) + 1;
	noop.type = PGR_ENTRY_NORMAL;
	err = pgr_append_entries(node, &noop, 1);
	if (err != PGR_OK)
		return err;
	return pgr_bcast_append(node);
}

/* ---------------------------------------------------------------------- */
/* Creation                                                               */
/* ---------------------------------------------------------------------- */

static bool
allocator_valid(const struct pgr_allocator *a)
{
	return a->alloc != NULL && a->realloc != NULL && a->free != NULL;
}

/* Check restored state before building anything from it. */
static enum pgr_err
restore_valid(const struct pgr_restore *rs, uint64_t *last_index_out)
{
	uint64_t snap_index = rs->snapshot ? rs->snapshot->meta.index : 0;
	uint64_t snap_term = rs->snapshot ? rs->snapshot->meta.term : 0;
	uint64_t prev_term = snap_term;

	if (rs->snapshot != NULL)
	{
		if (snap_index == 0 || snap_term == 0 ||
			(rs->snapshot->len > 0 && rs->snapshot->data == NULL) ||
			!pgr_config_valid(&rs->snapshot->meta.config))
			return PGR_ECORRUPT;
	}
	if (rs->n_entries > 0 && rs->entries == NULL)
		return PGR_ECORRUPT;
	for (size_t i = 0; i < rs->n_entries; i++)
	{
		const struct pgr_entry *e = &rs->entries[i];

		if (e->index != snap_index + 1 + i || e->term < prev_term || e->term == 0)
			return PGR_ECORRUPT;
		if (e->type != PGR_ENTRY_NORMAL && e->type != PGR_ENTRY_CONFIG)
			return PGR_ECORRUPT;
		if (e->len > 0 && e->data == NULL)
			return PGR_ECORRUPT;
		if (e->type == PGR_ENTRY_CONFIG)
		{
			struct pgr_config c;

			if (pgr_config_decode(e->data, e->len, &c) != PGR_OK)
				return PGR_ECORRUPT;
		}
		prev_term = e->term;
	}
	if (prev_term > rs->hs.term)
		return PGR_ECORRUPT; /* we stored entries of a term we never saw */
	if (rs->hs.term == 0 && rs->hs.vote != PGR_NONE)
		return PGR_ECORRUPT; /* nobody campaigns in term 0 */
	*last_index_out = snap_index + rs->n_entries;
	if (rs->applied > *last_index_out || rs->applied < snap_index)
		return PGR_ECORRUPT;
	/*
	 * The hard state is stored after the entries it covers, and a commit
	 * index never exceeds the log (truncation stops above it), so a commit
	 * past the stored log means committed entries were lost: refuse, as the
	 * header promises, rather than silently lower it and let this node
	 * vote as if it never had them.
	 */
	if (rs->hs.commit > *last_index_out)
		return PGR_ECORRUPT;
	return PGR_OK;
}

enum pgr_err
pgr_node_new(const struct pgr_options *opts, const struct pgr_restore *rs, struct pgr_node **out)
{
	struct pgr_node *node;
	struct pgr_restore empty;
	uint64_t last_index;
	enum pgr_err err;

	*out = NULL;
	if (opts == NULL || opts->id == PGR_NONE || opts->heartbeat_tick == 0 ||
		opts->election_tick <= opts->heartbeat_tick || !allocator_valid(&opts->alloc))
		return PGR_EINVAL;
	if (rs == NULL)
	{
		memset(&empty, 0, sizeof(empty));
		rs = &empty;
	}
	err = restore_valid(rs, &last_index);
	if (err != PGR_OK)
		return err;

	node = pgr_mem_alloc(&opts->alloc, sizeof(*node));
	if (node == NULL)
		return PGR_ENOMEM;
	memset(node, 0, sizeof(*node));
	node->opts = *opts;
	node->alloc = opts->alloc;
	if (node->opts.max_msg_bytes == 0)
		node->opts.max_msg_bytes = 1024 * 1024;
	if (node->opts.max_inflight == 0)
		node->opts.max_inflight = 256;
	if (node->opts.max_entry_bytes == 0)
		node->opts.max_entry_bytes = 64 * 1024 * 1024;
	node->id = opts->id;
	node->prng = opts->seed;
	node->arena.alloc = &node->alloc;
	node->garbage.alloc = &node->alloc;
	node->log.alloc = &node->alloc;
	node->log.garbage = &node->garbage;

	node->prs = pgr_mem_alloc(&node->alloc, PGR_MAX_MEMBERS * sizeof(struct pgr_progress));
	if (node->prs == NULL)
	{
		pgr_node_free(node);
		return PGR_ENOMEM;
	}

	if (rs->snapshot != NULL)
	{
		node->snapshot.meta = rs->snapshot->meta;
		node->snapshot.len = rs->snapshot->len;
		if (rs->snapshot->len > 0)
		{
			node->snapshot.data = pgr_mem_alloc(&node->alloc, rs->snapshot->len);
			if (node->snapshot.data == NULL)
			{
				pgr_node_free(node);
				return PGR_ENOMEM;
			}
			memcpy(node->snapshot.data, rs->snapshot->data, rs->snapshot->len);
		}
		node->log.snap_index = rs->snapshot->meta.index;
		node->log.snap_term = rs->snapshot->meta.term;
	}
	err = pgr_log_append(&node->log, rs->entries, rs->n_entries);
	if (err != PGR_OK)
	{
		pgr_node_free(node);
		return err;
	}
	node->log.stable = last_index;
	node->log.applied = rs->applied;
	/*
	 * The commit index may have been written lazily: what the application
	 * applied was committed, and nothing past our log can be.
	 */
	node->log.committed = rs->hs.commit;
	if (node->log.committed < rs->applied)
		node->log.committed = rs->applied;
	if (node->log.committed < node->log.snap_index)
		node->log.committed = node->log.snap_index;
	if (node->log.committed > last_index)
		node->log.committed = last_index;

	node->term = rs->hs.term;
	node->vote = rs->hs.vote;
	node->prev_hs.term = node->term;
	node->prev_hs.vote = node->vote;
	node->prev_hs.commit = node->log.committed;
	err = pgr_config_changed(node); /* find the latest configuration */
	if (err != PGR_OK)
	{
		pgr_node_free(node);
		return err;
	}
	pgr_become_follower(node, node->term, PGR_NONE);
	*out = node;
	return PGR_OK;
}

void
pgr_node_free(struct pgr_node *node)
{
	if (node == NULL)
		return;
	progress_free_all(node);
	pgr_mem_free(&node->alloc, node->prs);
	pgr_log_free(&node->log);
	pgr_mem_free(&node->alloc, node->snapshot.data);
	pgr_mem_free(&node->alloc, node->msgs);
	pgr_mem_free(&node->alloc, node->reads);
	pgr_mem_free(&node->alloc, node->done_reads);
	/*
	 * pgr_arena_reset keeps one standard chunk for the next batch, and a
	 * second reset keeps that same chunk again (it is still the standard
	 * size), so calling it twice leaked 64 kB per node that ever sent an
	 * append.  After the reset at most the kept chunk remains, alone at the
	 * head, and it is a block of its own from the allocator: free it.
	 */
	pgr_arena_reset(&node->arena);
	pgr_mem_free(&node->alloc, node->arena.head);
	node->arena.head = NULL;
	pgr_garbage_collect(&node->garbage);
	pgr_mem_free(&node->alloc, node->garbage.ptrs);
	pgr_mem_free(&node->alloc, node);
}

enum pgr_err
pgr_node_bootstrap(struct pgr_node *node, const struct pgr_config *conf)
{
	struct pgr_entry e;
	uint8_t buf[PGR_CONFIG_ENTRY_MAX];
	enum pgr_err err;

	if (node->in_ready)
		return PGR_ESTATE;
	if (node->term != 0 || pgr_log_last_index(&node->log) != 0)
		return PGR_ESTATE;
	err = pgr_config_entry(conf, 1, 1, buf, &e);
	if (err != PGR_OK)
		return err;
	err = pgr_log_append(&node->log, &e, 1);
	if (err != PGR_OK)
		return err;
	node->term = 1;
	node->log.committed = 1;
	return pgr_config_changed(node);
}

/* ---------------------------------------------------------------------- */
/* Driving                                                                */
/* ---------------------------------------------------------------------- */

/*
 * The voter to hand leadership to when this leader leaves (removed, or its
 * process stopping): one heard from within the election timeout (alive),
 * with the longest log (ties: the one heard from last), holding at least
 * min_match; PGR_NONE if there is none.  Liveness is judged by the time
 * since contact rather than recent_active, which CheckQuorum clears every
 * election timeout for everyone at once.
 */
static uint64_t
best_successor(const struct pgr_node *node, uint64_t min_match)
{
	const struct pgr_progress *best = NULL;

	for (uint32_t i = 0; i < node->n_prs; i++)
	{
		const struct pgr_progress *pr = &node->prs[i];

		if (pr->id == node->id || pr->is_learner || pr->match < min_match ||
			pr->contact_elapsed >= node->opts.election_tick)
			continue;
		if (best == NULL || pr->match > best->match ||
			(pr->match == best->match && pr->contact_elapsed < best->contact_elapsed))
			best = pr;
	}
	return best == NULL ? PGR_NONE : best->id;
}

uint64_t
pgr_node_successor(const struct pgr_node *node)
{
	if (node->role != PGR_ROLE_LEADER)
		return PGR_NONE;
	return best_successor(node, 0);
}

/*
 * Dissertation 4.2.2: a leader that is not part of the latest configuration
 * steps down once that configuration is committed.  It hands leadership to
 * the live voter with the longest log (TimeoutNow, the last step of a
 * transfer), so the cluster does not wait an election timeout for a new
 * leader; if that voter fails to win, an ordinary election follows.
 */
static enum pgr_err
check_removed_leader(struct pgr_node *node)
{
	uint64_t successor;

	if (node->role != PGR_ROLE_LEADER || pgr_is_voter(node) ||
		node->config_index > node->log.committed)
		return PGR_OK;
	successor = best_successor(node, node->config_index);
	pgr_become_follower(node, node->term, PGR_NONE);
	if (successor != PGR_NONE)
	{
		struct pgr_msg m = {.type = PGR_MSG_TIMEOUT_NOW, .to = successor};

		return pgr_send(node, &m);
	}
	return PGR_OK;
}

static enum pgr_err
tick_leader(struct pgr_node *node)
{
	enum pgr_err err = PGR_OK;

	node->heartbeat_elapsed++;
	node->election_elapsed++;
	for (uint32_t i = 0; i < node->n_prs; i++)
	{
		struct pgr_progress *pr = &node->prs[i];

		pr->contact_elapsed++;
		/* A snapshot that was lost without a report: try again. */
		if (pr->state == PGR_PROGRESS_SNAPSHOT &&
			++pr->snapshot_elapsed >= node->opts.election_tick)
			pgr_progress_become_probe(pr);
	}

	if (node->election_elapsed >= node->opts.election_tick)
	{
		node->election_elapsed = 0;
		if (!node->opts.disable_check_quorum && !pgr_quorum_active(node))
		{
			/* CheckQuorum: we may be partitioned away; let a majority elect. */
			pgr_become_follower(node, node->term, PGR_NONE);
			return PGR_OK;
		}
		for (uint32_t i = 0; i < node->n_prs; i++)
			if (node->prs[i].id != node->id)
				node->prs[i].recent_active = false;
		/* A transfer that did not finish within an election timeout is off. */
		node->lead_transferee = PGR_NONE;
	}
	if (node->heartbeat_elapsed >= node->opts.heartbeat_tick)
	{
		node->heartbeat_elapsed = 0;
		err = pgr_bcast_heartbeat(node, node->read_seq);
	}
	return err;
}

static enum pgr_err
tick(struct pgr_node *node)
{
	if (node->lead != PGR_NONE)
		node->leaderless_ticks = 0;
	else if (node->leaderless_ticks < UINT32_MAX)
		node->leaderless_ticks++;
	if (node->role == PGR_ROLE_LEADER)
		return tick_leader(node);
	node->election_elapsed++;
	if (pgr_past_election_timeout(node) && pgr_promotable(node))
	{
		node->election_elapsed = 0;
		return pgr_hup(node, false);
	}
	return PGR_OK;
}

enum pgr_err
pgr_node_tick(struct pgr_node *node)
{
	enum pgr_err err;

	if (node->in_ready)
		return PGR_ESTATE;
	err = tick(node);
	if (err != PGR_ENOMEM) /* contract 5: the node is then thrown away */
		PGR_CHECK_NODE(node, "tick");
	return err;
}

enum pgr_err
pgr_node_campaign(struct pgr_node *node)
{
	if (node->in_ready)
		return PGR_ESTATE;
	return pgr_hup(node, false);
}

/* Shape checks that need no state: what any message of its type must satisfy. */
static enum pgr_err
msg_well_formed(const struct pgr_node *node, const struct pgr_msg *m)
{
	if (m->type == 0 || m->type > PGR_MSG_TYPE_MAX)
		return PGR_EBADMSG;
	if (m->from == PGR_NONE || m->from == node->id || m->to != node->id)
		return PGR_EBADMSG;
	if (m->n_entries > 0 &&
		(m->entries == NULL || (m->type != PGR_MSG_APP && m->type != PGR_MSG_PROP)))
		return PGR_EBADMSG;
	if ((m->snapshot != NULL) != (m->type == PGR_MSG_SNAP))
		return PGR_EBADMSG;
	switch (m->type)
	{
		case PGR_MSG_PROP:
		case PGR_MSG_READ_INDEX:
		case PGR_MSG_TRANSFER_LEADER:
			return PGR_OK; /* term-less requests */
		default:
			return m->term == 0 ? PGR_EBADMSG : PGR_OK;
	}
}

/*
 * Content checks that must pass before the term rules run: step_term and the
 * role handlers act on a message (adopt its term, take its sender as
 * leader) before the type-specific handler looks at the rest, so a
 * malformed append or snapshot of a higher term used to move our term and
 * only then be rejected.  Contract point 5: a malformed message is rejected
 * with PGR_EBADMSG and leaves the node unchanged.  The handlers keep their
 * own checks.
 */
static enum pgr_err
msg_content_valid(const struct pgr_node *node, const struct pgr_msg *m)
{
	const struct pgr_snapshot *s = m->snapshot;

	switch (m->type)
	{
		case PGR_MSG_APP:
			return pgr_validate_entries(node, m);
		case PGR_MSG_SNAP:
			if (s->meta.index == 0 || s->meta.term == 0 || s->meta.term > m->term ||
				(s->len > 0 && s->data == NULL) || !pgr_config_valid(&s->meta.config))
				return PGR_EBADMSG;
			return PGR_OK;
		case PGR_MSG_VOTE:
		case PGR_MSG_PRE_VOTE:
			/*
			 * A candidate's last entry is of its term at most (a pre-vote's
			 * term is the one it would campaign in, above its last entry's
			 * term too); otherwise the up-to-date check would hand our vote,
			 * and our term, to an impossible log.
			 */
			if (m->log_term > m->term)
				return PGR_EBADMSG;
			return PGR_OK;
		case PGR_MSG_HEARTBEAT:
			/*
			 * A leader of our term or a newer one caps the commit index at
			 * what we acknowledged, which we still have.  (A stale leader's
			 * may not, and goes on to be told our term.)
			 */
			if (m->term >= node->term && m->commit > pgr_log_last_index(&node->log))
				return PGR_EBADMSG;
			return PGR_OK;
		default:
			return PGR_OK;
	}
}

/*
 * The term rules every message goes through first (Raft 5.1), with the
 * PreVote and CheckQuorum refinements.  Returns PGR_OK to go on to the
 * type-specific handling, or a code to stop with.
 */
static enum pgr_err
step_term(struct pgr_node *node, const struct pgr_msg *m)
{
	if (m->type == PGR_MSG_PROP || m->type == PGR_MSG_READ_INDEX ||
		m->type == PGR_MSG_TRANSFER_LEADER)
		return PGR_OK;

	if (m->term > node->term)
	{
		if (m->type == PGR_MSG_VOTE || m->type == PGR_MSG_PRE_VOTE)
		{
			bool in_lease = !node->opts.disable_check_quorum && node->lead != PGR_NONE &&
							node->election_elapsed < node->opts.election_tick;

			/*
			 * We heard from a live leader less than an election timeout ago:
			 * a (pre-)candidate that could not hear it must not disrupt it,
			 * unless the leader itself asked for this election (transfer).
			 */
			if (in_lease && !m->force)
				return PGR_EIGNORED;
		}
		if (m->type == PGR_MSG_PRE_VOTE)
			return PGR_OK; /* a pre-vote never changes our term */
		if (m->type == PGR_MSG_PRE_VOTE_RESP && !m->reject)
			return PGR_OK; /* a grant for the term we would campaign in */
		if (m->type == PGR_MSG_APP || m->type == PGR_MSG_HEARTBEAT || m->type == PGR_MSG_SNAP)
			pgr_become_follower(node, m->term, m->from);
		else
			pgr_become_follower(node, m->term, PGR_NONE);
		return PGR_OK;
	}
	if (m->term < node->term)
	{
		if ((!node->opts.disable_check_quorum || !node->opts.disable_pre_vote) &&
			(m->type == PGR_MSG_HEARTBEAT || m->type == PGR_MSG_APP))
		{
			/*
			 * A stale leader: tell it our term so it steps down.  Without
			 * this, a node whose higher term came from a failed pre-vote-less
			 * election, or that CheckQuorum keeps ignoring, could wedge.
			 */
			struct pgr_msg r = {.type = PGR_MSG_APP_RESP, .to = m->from};

			return pgr_send(node, &r) == PGR_OK ? PGR_EIGNORED : PGR_ENOMEM;
		}
		if (m->type == PGR_MSG_PRE_VOTE)
		{
			struct pgr_msg r = {.type = PGR_MSG_PRE_VOTE_RESP, .to = m->from, .reject = true};

			return pgr_send(node, &r) == PGR_OK ? PGR_EIGNORED : PGR_ENOMEM;
		}
		return PGR_EIGNORED;
	}
	return PGR_OK;
}

/*
 * A leader says we are not in its committed configuration, which is at
 * least as new as the latest one we know: we were removed (the leader stops
 * replicating to a member it removes, so nothing else would ever tell us).
 * Stop campaigning, which could only disturb the cluster; a leader that
 * replicates to us again (we were added back) clears it.
 */
static enum pgr_err
handle_removed(struct pgr_node *node, const struct pgr_msg *m)
{
	if (m->index < node->config_index)
		return PGR_EIGNORED; /* a configuration older than ours */
	node->removed = true;
	node->lead = PGR_NONE;
	node->election_elapsed = 0;
	return PGR_OK;
}

/*
 * On the leader, a (pre-)vote request from a node that is not in its
 * latest configuration: a removed node campaigning, as removed nodes do
 * (nothing replicates to them any more).  Tell it, once its removal is
 * committed, and ignore the request: a removed server must not disturb the
 * cluster (dissertation 4.2.3).  Other messages of non-members stay
 * unanswered, as before.
 */
static bool
from_non_member(struct pgr_node *node, const struct pgr_msg *m, enum pgr_err *err)
{
	struct pgr_msg r = {.type = PGR_MSG_REMOVED, .to = m->from};

	if (node->role != PGR_ROLE_LEADER || (m->type != PGR_MSG_PRE_VOTE && m->type != PGR_MSG_VOTE) ||
		pgr_config_find(&node->config, m->from) != NULL || node->config_index > node->log.committed)
		return false;
	r.index = node->config_index;
	*err = pgr_send(node, &r) == PGR_OK ? PGR_EUNKNOWN_NODE : PGR_ENOMEM;
	return true;
}

static enum pgr_err
step_leader(struct pgr_node *node, const struct pgr_msg *m)
{
	switch (m->type)
	{
		case PGR_MSG_APP_RESP:
			return pgr_handle_append_response(node, m);
		case PGR_MSG_HEARTBEAT_RESP:
			return pgr_handle_heartbeat_response(node, m);
		case PGR_MSG_PROP:
		{
			enum pgr_err err = PGR_OK;

			if (pgr_progress_of(node, m->from) == NULL)
				return PGR_EUNKNOWN_NODE;
			for (uint32_t i = 0; i < m->n_entries && err == PGR_OK; i++)
			{
				const struct pgr_entry *e = &m->entries[i];

				if (e->len > 0 && e->data == NULL)
					return PGR_EBADMSG;
				if (e->type == PGR_ENTRY_CONF_CHANGE)
				{
					struct pgr_conf_change cc;
					uint64_t idx;

					if (pgr_conf_change_decode(e->data, e->len, &cc) != PGR_OK)
						return PGR_EBADMSG;
					err = pgr_leader_conf_change(node, &cc, &idx);
				}
				else if (e->type == PGR_ENTRY_NORMAL)
				{
					uint64_t idx;

					err = pgr_node_propose(node, e->data, e->len, &idx);
				}
				else
					return PGR_EBADMSG;
			}
			return err;
		}
		case PGR_MSG_READ_INDEX:
			if (pgr_progress_of(node, m->from) == NULL)
				return PGR_EUNKNOWN_NODE;
			return pgr_leader_read_index(node, m->from, m->context);
		case PGR_MSG_TRANSFER_LEADER:
			if (pgr_progress_of(node, m->from) == NULL)
				return PGR_EUNKNOWN_NODE;
			return pgr_node_transfer_leadership(node, m->index);
		case PGR_MSG_VOTE:
		case PGR_MSG_PRE_VOTE:
			return pgr_handle_vote_request(node, m);
		default:
			/* another leader in our term is impossible; stale responses are harmless */
			return PGR_EIGNORED;
	}
}

static enum pgr_err
step_candidate(struct pgr_node *node, const struct pgr_msg *m)
{
	switch (m->type)
	{
		case PGR_MSG_APP:
		case PGR_MSG_HEARTBEAT:
		case PGR_MSG_SNAP:
			/* Raft 5.2: a leader of our term exists; go back to following it. */
			pgr_become_follower(node, m->term, m->from);
			if (m->type == PGR_MSG_APP)
				return pgr_handle_append(node, m);
			if (m->type == PGR_MSG_HEARTBEAT)
				return pgr_handle_heartbeat(node, m);
			return pgr_handle_snapshot(node, m);
		case PGR_MSG_VOTE:
		case PGR_MSG_PRE_VOTE:
			return pgr_handle_vote_request(node, m);
		case PGR_MSG_VOTE_RESP:
		case PGR_MSG_PRE_VOTE_RESP:
			return pgr_handle_vote_response(node, m);
		case PGR_MSG_REMOVED:
			pgr_become_follower(node, node->term, PGR_NONE);
			return handle_removed(node, m);
		default:
			return PGR_EIGNORED;
	}
}

static enum pgr_err
step_follower(struct pgr_node *node, const struct pgr_msg *m)
{
	switch (m->type)
	{
		case PGR_MSG_APP:
			node->election_elapsed = 0;
			node->leaderless_ticks = 0;
			node->lead = m->from;
			node->removed = false; /* a leader replicates to us: a member again */
			return pgr_handle_append(node, m);
		case PGR_MSG_HEARTBEAT:
			node->election_elapsed = 0;
			node->leaderless_ticks = 0;
			node->lead = m->from;
			node->removed = false;
			return pgr_handle_heartbeat(node, m);
		case PGR_MSG_SNAP:
			node->election_elapsed = 0;
			node->leaderless_ticks = 0;
			node->lead = m->from;
			node->removed = false;
			return pgr_handle_snapshot(node, m);
		case PGR_MSG_REMOVED:
			return handle_removed(node, m);
		case PGR_MSG_VOTE:
		case PGR_MSG_PRE_VOTE:
			return pgr_handle_vote_request(node, m);
		case PGR_MSG_TIMEOUT_NOW:
			/*
			 * Leadership transfer: campaign now, skipping PreVote and
			 * leases.  Only our leader may ask: from anyone else this would
			 * let one message depose a healthy leader.
			 */
			if (!pgr_promotable(node) || m->from != node->lead)
				return PGR_EIGNORED;
			return pgr_hup(node, true);
		case PGR_MSG_READ_INDEX_RESP:
			/* Our reads went to our leader; nobody else can answer them. */
			if (m->from != node->lead)
				return PGR_EIGNORED;
			return pgr_read_done(node, m->context, m->index, m->reject);
		default:
			return PGR_EIGNORED;
	}
}

enum pgr_err
pgr_node_step(struct pgr_node *node, const struct pgr_msg *m)
{
	enum pgr_err err;

	if (node->in_ready)
		return PGR_ESTATE;
	if (m == NULL)
		return PGR_EINVAL;
	err = msg_well_formed(node, m);
	if (err == PGR_OK)
		err = msg_content_valid(node, m);
	if (err != PGR_OK)
		return err;
	node->msgs_stepped++;
	if (from_non_member(node, m, &err))
		return err;
	err = step_term(node, m);
	if (err != PGR_OK)
		return err;
	switch (node->role)
	{
		case PGR_ROLE_LEADER:
			err = step_leader(node, m);
			break;
		case PGR_ROLE_CANDIDATE:
		case PGR_ROLE_PRE_CANDIDATE:
			err = step_candidate(node, m);
			break;
		case PGR_ROLE_FOLLOWER:
			err = step_follower(node, m);
			break;
	}
	if (check_removed_leader(node) == PGR_ENOMEM)
		return PGR_ENOMEM;
	if (err != PGR_ENOMEM) /* contract 5: the node is then thrown away */
		PGR_CHECK_NODE(node, "step");
	return err;
}

enum pgr_err
pgr_node_report_unreachable(struct pgr_node *node, uint64_t peer)
{
	struct pgr_progress *pr;

	if (node->in_ready)
		return PGR_ESTATE;
#ifdef PGR_BUG_RESET_FORGETS_LEADER
	/* Deliberately broken build: a reset deposes, as before issue 7. */
	if (node->role != PGR_ROLE_LEADER)
		return pgr_node_report_peer_down(node, peer);
#endif
	if (node->role != PGR_ROLE_LEADER)
		return PGR_EIGNORED; /* a follower keeps its leader (and its lease) */
	pr = pgr_progress_of(node, peer);
	if (pr == NULL || pr->id == node->id)
		return PGR_EUNKNOWN_NODE;
	/* Whatever was in flight is probably lost: probe again. */
	if (pr->state == PGR_PROGRESS_REPLICATE)
		pgr_progress_become_probe(pr);
	return PGR_OK;
}

enum pgr_err
pgr_node_report_peer_down(struct pgr_node *node, uint64_t peer)
{
	uint32_t spread;
	uint32_t delay;

	if (node->in_ready)
		return PGR_ESTATE;
	if (node->role == PGR_ROLE_LEADER)
		return pgr_node_report_unreachable(node, peer);
	if (node->role != PGR_ROLE_FOLLOWER || peer == PGR_NONE || peer != node->lead)
		return PGR_EIGNORED;

	/*
	 * Our leader's process is gone.  Forget it (so we stop defending its
	 * lease against other nodes' pre-votes) and pre-vote soon.  "Soon" is a
	 * random delay of up to a quarter of the election timeout: the other
	 * followers noticed at the same moment, and campaigning all at once
	 * would split the vote.  Were the signal wrong after all, the pre-vote
	 * would fail against the followers still in the leader's lease.
	 */
	spread = node->opts.election_tick / 4 > 1 ? node->opts.election_tick / 4 : 1;
	delay = (uint32_t) (prng_next(&node->prng) % spread);
	node->lead = PGR_NONE;
	if (!pgr_promotable(node))
		return PGR_OK;
	if (delay == 0)
		return pgr_hup(node, false);
	node->election_elapsed =
		node->randomized_election_timeout > delay ? node->randomized_election_timeout - delay : 0;
	return PGR_OK;
}

enum pgr_err
pgr_node_report_snapshot(struct pgr_node *node, uint64_t peer, bool ok)
{
	struct pgr_progress *pr;

	if (node->in_ready)
		return PGR_ESTATE;
	if (node->role != PGR_ROLE_LEADER)
		return PGR_ENOTLEADER;
	pr = pgr_progress_of(node, peer);
	if (pr == NULL)
		return PGR_EUNKNOWN_NODE;
	if (pr->state != PGR_PROGRESS_SNAPSHOT)
		return PGR_EIGNORED;
	/*
	 * Either way go back to probing, paused until the next heartbeat
	 * response: on success probing resumes after the snapshot, on failure
	 * after the follower's match (and resends the snapshot if still needed).
	 */
	if (!ok)
		pr->pending_snapshot = 0;
	pgr_progress_become_probe(pr);
	pr->probe_sent = true;
	return PGR_OK;
}

/* ---------------------------------------------------------------------- */
/* Ready / advance                                                        */
/* ---------------------------------------------------------------------- */

static struct pgr_hard_state
current_hs(const struct pgr_node *node)
{
	struct pgr_hard_state hs;

	hs.term = node->term;
	hs.vote = node->vote;
#ifdef PGR_BUG_FORGET_VOTE
	/* Deliberately broken build: the vote never reaches the disk. */
	hs.vote = PGR_NONE;
#endif
	hs.commit = node->log.committed;
	return hs;
}

static bool
hs_equal(const struct pgr_hard_state *a, const struct pgr_hard_state *b)
{
	return a->term == b->term && a->vote == b->vote && a->commit == b->commit;
}

/*
 * Hand out the outbox with the messages that may be sent before persisting
 * first (see the contract, step b): a leader's appends, heartbeats and
 * snapshots, provided the commit index is within what was durable before
 * this batch (a lone voter commits its new entries at once, and must not
 * tell a learner about them before they are on its disk).
 */
static void
order_messages(struct pgr_node *node, struct pgr_ready *rd)
{
	struct pgr_msg *out;
	size_t k = 0;

	rd->msgs = node->msgs;
	rd->n_msgs = node->n_msgs;
	rd->n_msgs_early = 0;
	if (node->role != PGR_ROLE_LEADER || node->n_msgs == 0 ||
		node->log.committed > node->log.stable)
		return;
	out = pgr_arena_alloc(&node->arena, node->n_msgs * sizeof(struct pgr_msg));
	if (out == NULL)
		return; /* all messages after persisting: still correct */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < node->n_msgs; i++)
		{
			uint32_t t = node->msgs[i].type;
			bool is_early = t == PGR_MSG_APP || t == PGR_MSG_HEARTBEAT || t == PGR_MSG_SNAP;

			if (is_early == (pass == 0))
			{
				out[k++] = node->msgs[i];
				if (is_early)
					rd->n_msgs_early++;
			}
		}
	rd->msgs = out;
}

bool
pgr_node_has_ready(const struct pgr_node *node)
{
	struct pgr_hard_state hs = current_hs(node);

	return node->snapshot_unstable || pgr_log_last_index(&node->log) > node->log.stable ||
		   !hs_equal(&hs, &node->prev_hs) || node->n_msgs > 0 ||
		   node->log.committed > node->log.applied || node->n_done_reads > 0 ||
		   node->read_round_due;
}

enum pgr_err
pgr_node_ready(struct pgr_node *node, struct pgr_ready *rd)
{
	struct pgr_log *log = &node->log;
	uint64_t last = pgr_log_last_index(log);
	uint64_t apply_to;

	if (node->in_ready)
		return PGR_ESTATE;
	if (node->read_round_due)
	{
		enum pgr_err err = pgr_reads_start_round(node);

		if (err != PGR_OK)
			return err;
	}
	memset(rd, 0, sizeof(*rd));
	if (node->snapshot_unstable)
		rd->snapshot = &node->snapshot;
	if (last > log->stable)
	{
		rd->entries = pgr_log_at(log, log->stable + 1);
		rd->n_entries = (size_t) (last - log->stable);
	}
	rd->hs = current_hs(node);
	rd->has_hard_state = !hs_equal(&rd->hs, &node->prev_hs);
	rd->must_sync = rd->snapshot != NULL || rd->n_entries > 0 ||
					rd->hs.term != node->prev_hs.term || rd->hs.vote != node->prev_hs.vote;
	order_messages(node, rd);

	apply_to = log->applied;
	if (log->committed > log->applied)
	{
		uint64_t budget = node->opts.max_apply_bytes;
		uint64_t used = 0;

		rd->committed = pgr_log_at(log, log->applied + 1);
		while (apply_to < log->committed)
		{
			uint32_t len = pgr_log_at(log, apply_to + 1)->len;

			if (budget != 0 && apply_to > log->applied && used + len > budget)
				break;
			used += len;
			apply_to++;
		}
		rd->n_committed = (size_t) (apply_to - log->applied);
	}
	rd->reads = node->done_reads;
	rd->n_reads = node->n_done_reads;

	node->ready_stable = last;
	node->ready_applied = apply_to;
	node->in_ready = true;
	PGR_CHECK_NODE(node, "ready");
	return PGR_OK;
}

enum pgr_err
pgr_node_advance(struct pgr_node *node)
{
	if (!node->in_ready)
		return PGR_ESTATE;
	node->log.stable = node->ready_stable;
	node->log.applied = node->ready_applied;
	node->prev_hs = current_hs(node);
	node->snapshot_unstable = false;
	node->n_msgs = 0;
	node->n_done_reads = 0;
	pgr_arena_reset(&node->arena);
	pgr_garbage_collect(&node->garbage);
	node->in_ready = false;
	PGR_CHECK_NODE(node, "advance");
	return PGR_OK;
}

/* ---------------------------------------------------------------------- */
/* Observation                                                            */
/* ---------------------------------------------------------------------- */

void
pgr_node_status(const struct pgr_node *node, struct pgr_status *out)
{
	memset(out, 0, sizeof(*out));
	out->id = node->id;
	out->term = node->term;
	out->vote = node->vote;
	out->leader = node->lead;
	out->role = node->role;
	out->first_index = pgr_log_first_index(&node->log);
	out->last_index = pgr_log_last_index(&node->log);
	out->commit = node->log.committed;
	out->applied = node->log.applied;
	out->snapshot_index = node->log.snap_index;
	out->snapshot_term = node->log.snap_term;
	out->config_index = node->config_index;
	out->lead_transferee = node->lead_transferee;
	out->removed = node->removed;
	out->msgs_stepped = node->msgs_stepped;
	out->heartbeats_sent = node->heartbeats_sent;
	out->pre_votes_started = node->pre_votes_started;
	out->elections_started = node->elections_started;
	out->pre_votes_won = node->pre_votes_won;
	out->elections_won = node->elections_won;
}

const struct pgr_config *
pgr_node_config(const struct pgr_node *node)
{
	return &node->config;
}

enum pgr_err
pgr_node_term_at(const struct pgr_node *node, uint64_t index, uint64_t *term_out)
{
	return pgr_log_term(&node->log, index, term_out);
}

enum pgr_err
pgr_node_entry_at(const struct pgr_node *node, uint64_t index, const struct pgr_entry **out)
{
	if (index <= node->log.snap_index)
		return PGR_ECOMPACTED;
	if (index > pgr_log_last_index(&node->log))
		return PGR_EUNAVAILABLE;
	*out = pgr_log_at(&node->log, index);
	return PGR_OK;
}

enum pgr_err
pgr_node_progress(const struct pgr_node *node, uint64_t id, struct pgr_progress_info *out)
{
	const struct pgr_progress *pr;

	if (node->role != PGR_ROLE_LEADER)
		return PGR_ENOTLEADER;
	pr = pgr_progress_of(node, id);
	if (pr == NULL)
		return PGR_ENOENT;
	out->id = pr->id;
	out->match = pr->match;
	out->next = pr->next;
	out->state = pr->state;
	out->recent_active = pr->recent_active;
	out->inflight = pr->inflight_count;
	out->ticks_since_contact = pr->contact_elapsed;
	return PGR_OK;
}
