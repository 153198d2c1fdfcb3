/*-------------------------------------------------------------------------
 *
 * membership.c
 *		Configuration tracking and single-server membership changes.
 *
 * The rule (dissertation 4.1 and 4.2): a node uses the latest configuration
 * in its log, committed or not, so appending or truncating a configuration
 * entry changes the configuration at once.  The leader proposes one change
 * at a time: only when the previous configuration entry is committed, and
 * only once an entry of its own term is committed (without that, a leader
 * elected under an older configuration could commit a change that conflicts
 * with one a previous leader half-replicated: Ongaro's 2015 fix).  Each
 * change adds or removes at most one voter, so every majority of the old
 * configuration intersects every majority of the new one, and two leaders
 * cannot be elected in one term across a change.
 *
 * Member lifecycle, as seen by the configuration:
 *	absent -> learner		ADD_LEARNER: receives the log, neither votes nor counts
 *	learner -> voter		PROMOTE (or ADD_VOTER): counts from that entry on
 *	absent -> voter			ADD_VOTER directly (allowed; learners first is kinder)
 *	voter/learner -> absent	REMOVE: a removed leader leads until the entry commits
 *
 * The one exception to all of that is pgr_node_force_alone(): disaster
 * recovery after a majority is lost for good, which no quorum can approve.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/membership.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "raft.h"

static void
progress_init(struct pgr_node *node, struct pgr_progress *pr, const struct pgr_member *m,
			  uint64_t *ring)
{
	memset(pr, 0, sizeof(*pr));
	pr->id = m->id;
	pr->is_learner = m->role == PGR_MEMBER_LEARNER;
	pr->match = 0;
	pr->next = pgr_log_last_index(&node->log) + 1;
	pr->state = PGR_PROGRESS_PROBE;
	pr->inflight = ring;
	pr->inflight_cap = node->opts.max_inflight;
}

/* A fresh leader's view: nothing known about anyone but itself. */
enum pgr_err
pgr_progress_reset_all(struct pgr_node *node)
{
	for (uint32_t i = 0; i < node->n_prs; i++)
		pgr_mem_free(&node->alloc, node->prs[i].inflight);
	node->n_prs = 0;
	for (uint32_t i = 0; i < node->config.n_members; i++)
	{
		const struct pgr_member *m = &node->config.members[i];
		uint64_t *ring = pgr_mem_alloc(&node->alloc, node->opts.max_inflight * sizeof(uint64_t));
		struct pgr_progress *pr = &node->prs[node->n_prs];

		if (ring == NULL)
			return PGR_ENOMEM;
		progress_init(node, pr, m, ring);
		node->n_prs++;
		if (m->id == node->id)
		{
			pr->match = pgr_log_last_index(&node->log);
			pgr_progress_become_replicate(pr);
			pr->recent_active = true;
		}
	}
	return PGR_OK;
}

/* After a configuration change on the leader: add, keep and drop progress. */
static enum pgr_err
progress_sync(struct pgr_node *node)
{
	struct pgr_progress next[PGR_MAX_MEMBERS];
	uint32_t n = 0;

	for (uint32_t i = 0; i < node->config.n_members; i++)
	{
		const struct pgr_member *m = &node->config.members[i];
		struct pgr_progress *old = pgr_progress_of(node, m->id);

		if (old != NULL)
		{
			next[n] = *old;
			next[n].is_learner = m->role == PGR_MEMBER_LEARNER;
			old->inflight = NULL; /* moved */
		}
		else
		{
			uint64_t *ring =
				pgr_mem_alloc(&node->alloc, node->opts.max_inflight * sizeof(uint64_t));

			if (ring == NULL)
			{
				for (uint32_t k = 0; k < n; k++)
					pgr_mem_free(&node->alloc, next[k].inflight);
				return PGR_ENOMEM;
			}
			progress_init(node, &next[n], m, ring);
			/* give a new member the benefit of the doubt for CheckQuorum */
			next[n].recent_active = true;
		}
		n++;
	}
	for (uint32_t i = 0; i < node->n_prs; i++)
		pgr_mem_free(&node->alloc, node->prs[i].inflight);
	memcpy(node->prs, next, n * sizeof(struct pgr_progress));
	node->n_prs = n;
	if (node->lead_transferee != PGR_NONE &&
		pgr_config_find(&node->config, node->lead_transferee) == NULL)
		node->lead_transferee = PGR_NONE;
	return PGR_OK;
}

/* The configuration of the snapshot, or the empty one if there is none. */
static void
snapshot_config(const struct pgr_node *node, struct pgr_config *out)
{
	if (node->log.snap_index > 0 && node->snapshot.meta.index == node->log.snap_index)
		*out = node->snapshot.meta.config;
	else
		memset(out, 0, sizeof(*out));
}

/* Latest configuration at or before index, and the index it came from. */
static enum pgr_err
config_at(const struct pgr_node *node, uint64_t index, struct pgr_config *out, uint64_t *at)
{
	const struct pgr_log *log = &node->log;

	if (index > pgr_log_last_index(log))
		index = pgr_log_last_index(log);
	for (uint64_t i = index; i > log->snap_index; i--)
	{
		const struct pgr_entry *e = pgr_log_at(log, i);

		if (e->type == PGR_ENTRY_CONFIG)
		{
			*at = i;
			/* validated on the way into the log */
			return pgr_config_decode(e->data, e->len, out) == PGR_OK ? PGR_OK : PGR_ECORRUPT;
		}
	}
	snapshot_config(node, out);
	*at = log->snap_index;
	return PGR_OK;
}

enum pgr_err
pgr_config_at(const struct pgr_node *node, uint64_t index, struct pgr_config *out)
{
	uint64_t at;

	return config_at(node, index, out, &at);
}

/*
 * The log changed where a configuration entry is or was: make the latest
 * configuration in the log the one in force.
 */
enum pgr_err
pgr_config_changed(struct pgr_node *node)
{
	enum pgr_err err =
		config_at(node, pgr_log_last_index(&node->log), &node->config, &node->config_index);

	if (err != PGR_OK)
		return err;
	if (node->role == PGR_ROLE_LEADER)
		return progress_sync(node);
	return PGR_OK;
}

enum pgr_err
pgr_config_entry(const struct pgr_config *conf, uint64_t term, uint64_t index,
				 uint8_t buf[PGR_CONFIG_ENTRY_MAX], struct pgr_entry *out)
{
	size_t len;
	enum pgr_err err = pgr_config_encode(conf, buf, PGR_CONFIG_ENTRY_MAX, &len);

	if (err != PGR_OK)
		return err;
	memset(out, 0, sizeof(*out));
	out->term = term;
	out->index = index;
	out->type = PGR_ENTRY_CONFIG;
	out->len = (uint32_t) len;
	out->data = buf;
	return PGR_OK;
}

enum pgr_err
pgr_leader_conf_change(struct pgr_node *node, const struct pgr_conf_change *cc, uint64_t *index_out)
{
	struct pgr_config next;
	struct pgr_entry e;
	uint8_t buf[PGR_CONFIG_ENTRY_MAX];
	uint64_t commit_term = 0;
	enum pgr_err err;

	if (node->lead_transferee != PGR_NONE)
		return PGR_EBUSY;
	if (node->config_index > node->log.committed)
		return PGR_EBUSY; /* one change at a time */
	(void) pgr_log_term(&node->log, node->log.committed, &commit_term);
	if (commit_term != node->term)
		return PGR_EBUSY; /* not before an entry of our term commits */
	err = pgr_config_apply(&node->config, cc, &next);
	if (err != PGR_OK)
		return err;
	err = pgr_config_entry(&next, node->term, pgr_log_last_index(&node->log) + 1, buf, &e);
	if (err != PGR_OK)
		return err;
	err = pgr_append_entries(node, &e, 1);
	if (err != PGR_OK)
		return err;
	*index_out = e.index;
	return pgr_bcast_append(node);
}

/*
 * Disaster recovery: the operator says the other voters are gone for good.
 * Refused while a leader is known, or was within the last election timeout
 * (CheckQuorum makes a leader step down an election timeout after its
 * majority went quiet; a follower that merely lost its connection to a live
 * leader, or just restarted, must not count as cut off): a working majority
 * must never be split in two.  Refused too on a learner, on a node a leader
 * removed, and when this node already is the only voter (an election makes
 * it leader).  Then, in a new term that only this node votes in, it
 * appends a configuration holding itself alone and becomes its leader; the
 * leader's no-op of that term commits the whole log, the entries nobody had
 * known were committed included, so nothing this node holds is lost.  What
 * the lost voters committed without this node having it is gone: that is
 * the price, and the reason it is not automatic.
 */
enum pgr_err
pgr_node_force_alone(struct pgr_node *node, uint64_t *index_out)
{
	const struct pgr_member *self;
	struct pgr_config alone;
	struct pgr_entry e;
	uint8_t buf[PGR_CONFIG_ENTRY_MAX];
	enum pgr_err err;

	if (node->in_ready)
		return PGR_ESTATE;
	self = pgr_config_find(&node->config, node->id);
	if (self == NULL || node->removed)
		return PGR_ENOENT;
	if (self->role != PGR_MEMBER_VOTER)
		return PGR_EINVAL;
	if (pgr_config_voters(&node->config) == 1)
		return PGR_EEXIST;
	if (node->lead != PGR_NONE || node->leaderless_ticks < node->opts.election_tick)
		return PGR_EBUSY;
	memset(&alone, 0, sizeof(alone));
	alone.n_members = 1;
	alone.members[0] = *self;
	err = pgr_config_entry(&alone, node->term + 1, pgr_log_last_index(&node->log) + 1, buf, &e);
	if (err != PGR_OK)
		return err;

	/* A candidate of the entry's term that votes for itself, then the entry. */
	pgr_become_follower(node, node->term, PGR_NONE);
	err = pgr_become_candidate(node);
	if (err != PGR_OK)
		return err;
	node->elections_started++;
	err = pgr_log_append(&node->log, &e, 1);
	if (err != PGR_OK)
		return err;
	err = pgr_config_changed(node);
	if (err != PGR_OK)
		return err;
	/* The only voter wins at once; its no-op commits everything. */
	err = pgr_become_leader(node);
	if (err != PGR_OK)
		return err;
	node->elections_won++;
	PGR_CHECK_NODE(node, "force_alone");
	*index_out = e.index;
	return PGR_OK;
}
