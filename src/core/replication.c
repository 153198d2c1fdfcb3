/*-------------------------------------------------------------------------
 *
 * replication.c
 *		Log replication (Raft 5.3): the leader's appends, heartbeats and
 *		commit rule, and the follower's side of AppendEntries and
 *		InstallSnapshot.
 *
 * The leader pipelines appends to followers in REPLICATE state (bounded by
 * max_inflight messages of at most max_msg_bytes each), probes one message
 * at a time otherwise, and backtracks with the follower's hint (index and
 * term of where their logs may agree) a whole term at a time.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/replication.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "raft.h"

/* ---------------------------------------------------------------------- */
/* Leader                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Append entries to the leader's own log (terms and indexes already set by
 * the caller), count them for our own progress, and commit if we are alone.
 */
enum pgr_err
pgr_append_entries(struct pgr_node *node, const struct pgr_entry *ents, size_t n)
{
	struct pgr_progress *self;
	bool has_config = false;
	enum pgr_err err;

	err = pgr_log_append(&node->log, ents, n);
	if (err != PGR_OK)
		return err;
	for (size_t i = 0; i < n; i++)
		if (ents[i].type == PGR_ENTRY_CONFIG)
			has_config = true;
	if (has_config)
	{
		err = pgr_config_changed(node);
		if (err != PGR_OK)
			return err;
	}
	self = pgr_progress_of(node, node->id);
	if (self != NULL)
		pgr_progress_maybe_update(self, pgr_log_last_index(&node->log));
	if (pgr_maybe_commit(node))
		return pgr_reads_release_committed(node);
	return PGR_OK;
}

static enum pgr_err
send_snapshot(struct pgr_node *node, struct pgr_progress *pr)
{
	struct pgr_msg m = {0};
	struct pgr_snapshot *snap;

	if (node->snapshot.meta.index == 0)
		return PGR_EUNAVAILABLE; /* cannot happen: compaction sets it */
	/*
	 * The message carries a shallow copy: a later compaction may replace
	 * node->snapshot before this batch is sent, but the data it points to
	 * then waits in the garbage list until advance.
	 */
	snap = pgr_arena_alloc(&node->arena, sizeof(*snap));
	if (snap == NULL)
		return PGR_ENOMEM;
	*snap = node->snapshot;
	m.type = PGR_MSG_SNAP;
	m.to = pr->id;
	m.snapshot = snap;
	pgr_progress_become_snapshot(pr, snap->meta.index);
	return pgr_send(node, &m);
}

/*
 * Send the next append to pr if flow control allows.  With send_if_empty,
 * an append without entries is sent too (it carries the commit index and
 * probes the follower's log).  Sets *sent.
 */
static enum pgr_err
send_append_ex(struct pgr_node *node, struct pgr_progress *pr, bool send_if_empty, bool *sent)
{
	struct pgr_log *log = &node->log;
	uint64_t prev = pr->next - 1;
	uint64_t prev_term;
	uint64_t last = pgr_log_last_index(log);
	uint64_t hi;
	uint64_t bytes = 0;
	struct pgr_msg m = {0};
	enum pgr_err err;

	*sent = false;
	if (pr->id == node->id || pgr_progress_is_paused(pr))
		return PGR_OK;
	if (pgr_log_term(log, prev, &prev_term) != PGR_OK)
	{
		/* The entries it needs are compacted away. */
		err = send_snapshot(node, pr);
		*sent = err == PGR_OK;
		return err;
	}
	hi = prev;
	while (hi < last)
	{
		uint32_t len = pgr_log_at(log, hi + 1)->len;

		if (hi > prev && bytes + len > node->opts.max_msg_bytes)
			break;
		bytes += len;
		hi++;
	}
	if (hi == prev && !send_if_empty)
		return PGR_OK;
	m.type = PGR_MSG_APP;
	m.to = pr->id;
	m.index = prev;
	m.log_term = prev_term;
	m.commit = log->committed;
	m.n_entries = (uint32_t) (hi - prev);
	/*
	 * An append that only carries the commit index to a follower known to
	 * have everything up to prev asks for no answer: the answer could tell
	 * nothing new, and would cost the leader a message to read per such
	 * follower per commit.  A probe, or anything sent past an
	 * unacknowledged prev, is answered as usual; a mismatch always is.
	 */
	m.quiet = m.n_entries == 0 && pr->state == PGR_PROGRESS_REPLICATE && pr->match == prev;
	if (m.n_entries > 0)
	{
		/* shallow copies: the log array may move before this batch is sent */
		m.entries = pgr_arena_alloc(&node->arena, m.n_entries * sizeof(struct pgr_entry));
		if (m.entries == NULL)
			return PGR_ENOMEM;
		memcpy(m.entries, pgr_log_at(log, prev + 1), m.n_entries * sizeof(struct pgr_entry));
	}
	err = pgr_send(node, &m);
	if (err != PGR_OK)
		return err;
	pgr_progress_sent(pr, hi, m.n_entries);
	*sent = true;
	return PGR_OK;
}

enum pgr_err
pgr_send_append(struct pgr_node *node, struct pgr_progress *pr, bool send_if_empty)
{
	bool sent;

	return send_append_ex(node, pr, send_if_empty, &sent);
}

/* Keep the pipeline full: send until paused or caught up. */
static enum pgr_err
send_append_all(struct pgr_node *node, struct pgr_progress *pr)
{
	bool sent = true;
	enum pgr_err err = PGR_OK;

	while (sent && err == PGR_OK)
		err = send_append_ex(node, pr, false, &sent);
	return err;
}

enum pgr_err
pgr_bcast_append(struct pgr_node *node)
{
	for (uint32_t i = 0; i < node->n_prs; i++)
	{
		enum pgr_err err = pgr_send_append(node, &node->prs[i], true);

		if (err != PGR_OK)
			return err;
	}
	return PGR_OK;
}

/*
 * Heartbeats carry the commit index capped at what the follower is known to
 * have (so it never commits entries it may not share with us) and the read
 * sequence for ReadIndex confirmation.
 */
enum pgr_err
pgr_bcast_heartbeat(struct pgr_node *node, uint64_t read_seq)
{
	for (uint32_t i = 0; i < node->n_prs; i++)
	{
		struct pgr_progress *pr = &node->prs[i];
		struct pgr_msg m = {0};
		enum pgr_err err;

		if (pr->id == node->id)
			continue;
		m.type = PGR_MSG_HEARTBEAT;
		m.to = pr->id;
		m.commit = pr->match < node->log.committed ? pr->match : node->log.committed;
		m.context = read_seq;
		err = pgr_send(node, &m);
		if (err != PGR_OK)
			return err;
		node->heartbeats_sent++;
	}
	return PGR_OK;
}

/*
 * Advance the commit index to what a majority has, but only by counting
 * replicas of an entry of the current term (Raft 5.4.2, Figure 8): older
 * entries are committed indirectly, by the Log Matching Property.
 */
bool
pgr_maybe_commit(struct pgr_node *node)
{
	uint64_t mci = pgr_quorum_commit_index(node);
	uint64_t term;

	if (mci <= node->log.committed)
		return false;
	if (pgr_log_term(&node->log, mci, &term) != PGR_OK)
		return false;
#ifndef PGR_BUG_SKIP_FIG8
	if (term != node->term)
		return false;
#endif
	node->log.committed = mci;
	return true;
}

enum pgr_err
pgr_handle_append_response(struct pgr_node *node, const struct pgr_msg *m)
{
	struct pgr_progress *pr = pgr_progress_of(node, m->from);
	uint64_t last = pgr_log_last_index(&node->log);
	enum pgr_err err;

	if (pr == NULL)
		return PGR_EUNKNOWN_NODE;
	/*
	 * Reject impossible answers before counting them as signs of life: a
	 * malformed message must leave the node unchanged (contract point 5),
	 * and CheckQuorum must not be kept happy by garbage.
	 */
	if (m->reject ? m->reject_hint > m->index : m->index > last)
		return PGR_EBADMSG;
	pr->recent_active = true;
	pr->contact_elapsed = 0;

	if (m->reject)
	{
		uint64_t hint = m->reject_hint;
		/*
		 * The follower's hint says where its log may agree with ours, and
		 * the term there; skip every entry of ours with a larger term at
		 * once (the dissertation's 5.3 optimisation, etcd style).
		 */
		if (m->log_term > 0)
			hint = pgr_log_find_conflict_by_term(&node->log, hint, m->log_term);
		if (pgr_progress_maybe_decr_to(pr, m->index, hint))
		{
			if (pr->state == PGR_PROGRESS_REPLICATE)
				pgr_progress_become_probe(pr);
			return pgr_send_append(node, pr, true);
		}
		return PGR_OK;
	}

	{
		bool was_paused = pgr_progress_is_paused(pr);

		if (!pgr_progress_maybe_update(pr, m->index))
			return PGR_OK;
		switch (pr->state)
		{
			case PGR_PROGRESS_PROBE:
				pgr_progress_become_replicate(pr);
				break;
			case PGR_PROGRESS_SNAPSHOT:
				if (pr->match + 1 >= pgr_log_first_index(&node->log))
				{
					pgr_progress_become_probe(pr);
					pgr_progress_become_replicate(pr);
				}
				break;
			case PGR_PROGRESS_REPLICATE:
				pgr_progress_free_to(pr, m->index);
				break;
		}
		if (pgr_maybe_commit(node))
		{
			err = pgr_reads_release_committed(node);
			if (err == PGR_OK)
				err = pgr_bcast_append(node);
			if (err != PGR_OK)
				return err;
		}
		else if (was_paused)
		{
			err = pgr_send_append(node, pr, false);
			if (err != PGR_OK)
				return err;
		}
		err = send_append_all(node, pr);
		if (err != PGR_OK)
			return err;
		if (m->from == node->lead_transferee && pr->match == pgr_log_last_index(&node->log))
		{
			struct pgr_msg t = {.type = PGR_MSG_TIMEOUT_NOW, .to = m->from};

			return pgr_send(node, &t);
		}
	}
	return PGR_OK;
}

enum pgr_err
pgr_handle_heartbeat_response(struct pgr_node *node, const struct pgr_msg *m)
{
	struct pgr_progress *pr = pgr_progress_of(node, m->from);
	enum pgr_err err = PGR_OK;

	if (pr == NULL)
		return PGR_EUNKNOWN_NODE;
	/*
	 * A heartbeat answer echoes the read sequence of the heartbeat; one of
	 * a round we never started is impossible, and recording it would let
	 * it confirm that future round's reads without a real quorum.
	 */
	if (m->context > node->read_seq)
		return PGR_EBADMSG;
	pr->recent_active = true;
	pr->contact_elapsed = 0;
	pr->probe_sent = false;
	/* Appends may have been lost: make room and resend what it lacks. */
	if (pr->state == PGR_PROGRESS_REPLICATE && pr->inflight_count >= pr->inflight_cap)
		pgr_progress_free_first(pr);
	if (pr->match < pgr_log_last_index(&node->log))
		err = pgr_send_append(node, pr, true);
	if (err != PGR_OK)
		return err;
	if (m->context > pr->read_ack)
	{
		pr->read_ack = m->context;
		return pgr_reads_on_ack(node);
	}
	return PGR_OK;
}

/* ---------------------------------------------------------------------- */
/* Follower                                                               */
/* ---------------------------------------------------------------------- */

/*
 * Check an append's entries before touching any state: dense after the
 * previous index, terms non-decreasing from prev term up to the message's
 * term, known types, configurations that decode.
 */
enum pgr_err
pgr_validate_entries(const struct pgr_node *node, const struct pgr_msg *m)
{
	uint64_t prev_term = m->log_term;

	(void) node;
	if (m->log_term > m->term)
		return PGR_EBADMSG;
	if (m->n_entries > 0 && m->index > UINT64_MAX - m->n_entries)
		return PGR_EBADMSG;
	for (uint32_t i = 0; i < m->n_entries; i++)
	{
		const struct pgr_entry *e = &m->entries[i];

		if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term)
			return PGR_EBADMSG;
		if (e->len > 0 && e->data == NULL)
			return PGR_EBADMSG;
		if (e->type == PGR_ENTRY_CONFIG)
		{
			struct pgr_config c;

			if (pgr_config_decode(e->data, e->len, &c) != PGR_OK)
				return PGR_EBADMSG;
		}
		else if (e->type != PGR_ENTRY_NORMAL)
			return PGR_EBADMSG;
		prev_term = e->term;
	}
	return PGR_OK;
}

static void
commit_to(struct pgr_node *node, uint64_t index)
{
	if (index > node->log.committed)
		node->log.committed = index;
}

/*
 * AppendEntries receiver (Raft 5.3): reject unless our log has the previous
 * entry; otherwise delete the first conflicting entry and all that follow,
 * append what is new, and learn the commit index up to the last new entry.
 */
enum pgr_err
pgr_handle_append(struct pgr_node *node, const struct pgr_msg *m)
{
	struct pgr_log *log = &node->log;
	struct pgr_msg r = {0};
	enum pgr_err err;

	err = pgr_validate_entries(node, m);
	if (err != PGR_OK)
		return err;
	r.type = PGR_MSG_APP_RESP;
	r.to = m->from;

	if (m->index < log->committed)
	{
		/* Everything up to our commit index is settled; tell it so. */
		r.index = log->committed;
		return pgr_send(node, &r);
	}
	if (pgr_log_match_term(log, m->index, m->log_term))
	{
		uint64_t last_new = m->index + m->n_entries;
		uint32_t skip = 0;
		bool config_touched = false;

		/* Skip entries we already have; find the first conflict. */
		while (skip < m->n_entries)
		{
			const struct pgr_entry *e = &m->entries[skip];

			if (e->index > pgr_log_last_index(log) || !pgr_log_match_term(log, e->index, e->term))
				break;
			skip++;
		}
		if (skip < m->n_entries)
		{
			uint64_t conflict = m->entries[skip].index;

			if (conflict <= log->committed)
				return PGR_EBADMSG; /* would rewrite committed history */
			err = pgr_log_reserve(log, m->n_entries - skip);
			if (err != PGR_OK)
				return err;
			if (conflict <= pgr_log_last_index(log))
			{
				err = pgr_log_truncate(log, conflict);
				if (err != PGR_OK)
					return err;
				config_touched = node->config_index >= conflict;
			}
			err = pgr_log_append(log, m->entries + skip, m->n_entries - skip);
			if (err != PGR_OK)
				return err;
			for (uint32_t i = skip; i < m->n_entries; i++)
				if (m->entries[i].type == PGR_ENTRY_CONFIG)
					config_touched = true;
			if (config_touched)
			{
				err = pgr_config_changed(node);
				if (err != PGR_OK)
					return err;
			}
		}
		commit_to(node, m->commit < last_new ? m->commit : last_new);
		if (m->quiet && m->n_entries == 0)
			return PGR_OK;
		r.index = last_new;
		return pgr_send(node, &r);
	}

	/*
	 * Mismatch.  Hint the leader at the last index <= the probed one whose
	 * term is <= the probed term: everything above it surely conflicts.
	 */
	{
		uint64_t hint = m->index < pgr_log_last_index(log) ? m->index : pgr_log_last_index(log);
		uint64_t hint_term = 0;

		hint = pgr_log_find_conflict_by_term(log, hint, m->log_term);
		(void) pgr_log_term(log, hint, &hint_term);
		r.reject = true;
		r.index = m->index;
		r.reject_hint = hint;
		r.log_term = hint_term;
		return pgr_send(node, &r);
	}
}

enum pgr_err
pgr_handle_heartbeat(struct pgr_node *node, const struct pgr_msg *m)
{
	struct pgr_msg r = {0};

	/* The leader caps it at our match, so it never exceeds our log. */
	if (m->commit > pgr_log_last_index(&node->log))
		return PGR_EBADMSG;
	commit_to(node, m->commit);
	r.type = PGR_MSG_HEARTBEAT_RESP;
	r.to = m->from;
	r.context = m->context;
	return pgr_send(node, &r);
}

/*
 * InstallSnapshot receiver: ignore what we already have committed; if our
 * log already contains the snapshot's last entry just commit up to it;
 * otherwise replace our whole state by the snapshot.
 */
enum pgr_err
pgr_handle_snapshot(struct pgr_node *node, const struct pgr_msg *m)
{
	const struct pgr_snapshot *s = m->snapshot;
	struct pgr_log *log = &node->log;
	struct pgr_msg r = {0};
	enum pgr_err err;

	if (s->meta.index == 0 || s->meta.term == 0 || s->meta.term > m->term ||
		(s->len > 0 && s->data == NULL) || !pgr_config_valid(&s->meta.config))
		return PGR_EBADMSG;
	r.type = PGR_MSG_APP_RESP;
	r.to = m->from;
	if (s->meta.index <= log->committed)
	{
		r.index = log->committed;
		return pgr_send(node, &r);
	}
	if (pgr_log_match_term(log, s->meta.index, s->meta.term))
	{
		commit_to(node, s->meta.index);
		r.index = log->committed;
		return pgr_send(node, &r);
	}
	{
		uint8_t *data = NULL;

		if (s->len > 0)
		{
			if (s->len > SIZE_MAX)
				return PGR_ETOOBIG;
			data = pgr_mem_alloc(&node->alloc, (size_t) s->len);
			if (data == NULL)
				return PGR_ENOMEM;
			memcpy(data, s->data, (size_t) s->len);
		}
		err = pgr_garbage_add(&node->garbage, node->snapshot.data);
		if (err != PGR_OK)
		{
			pgr_mem_free(&node->alloc, data);
			return err;
		}
		node->snapshot.meta = s->meta;
		node->snapshot.len = s->len;
		node->snapshot.data = data;
		node->snapshot_unstable = true;
		err = pgr_log_restore(log, s->meta.index, s->meta.term);
		if (err != PGR_OK)
			return err;
		err = pgr_config_changed(node);
		if (err != PGR_OK)
			return err;
	}
	r.index = pgr_log_last_index(log);
	return pgr_send(node, &r);
}
