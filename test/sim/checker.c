/*-------------------------------------------------------------------------
 *
 * checker.c
 *		The invariants of Raft, checked after every step of the simulation.
 *
 * The five properties of Figure 3 of the Raft paper, over the whole run:
 *
 * Election Safety: at most one leader per term.  The first leader seen in
 *		a term is recorded; any other node seen leading that term fails.
 *		Also: a durable vote never changes within a term.
 * Leader Append-Only: a leader never overwrites or deletes entries during
 *		its term, neither in memory (its last index and the term there stay)
 *		nor on disk (its ready batches only append, never install a
 *		snapshot).
 * Log Matching: entries with equal index and term have equal prefixes.
 *		Every persisted entry carries the chain hash of its log prefix; the
 *		first chain seen for an (index, term) pair anywhere is recorded and
 *		every later one must equal it.
 * Leader Completeness: an entry committed in term T is in the log (or
 *		under the snapshot) of every leader of a term > T.  The checker
 *		learns commitment from leaders: when a leader's commit index passes
 *		an index, that index was committed in the leader's term.
 * State Machine Safety: every node applies, at each index, exactly the
 *		entry the checker saw committed there (same term, same chain);
 *		snapshots carry the application state the others had there; no
 *		node applies an index no leader committed.
 *
 * Plus the contract and ReadIndex checks: messages never announce a term,
 * vote or entry before it is durable; a completed read's index is at least
 * the commit index known when the read was issued.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/sim/checker.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* Grow *arr to hold index need (zero-filled), doubling. */
static void *
sim_grow(void *arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	uint8_t *p;

	if (need < *cap)
		return arr;
	while (ncap <= need)
		ncap *= 2;
	p = realloc(arr, ncap * elem);
	if (p == NULL)
	{
		fprintf(stderr, "raft-sim: out of memory\n");
		exit(2);
	}
	memset(p + *cap * elem, 0, (ncap - *cap) * elem);
	*cap = ncap;
	return p;
}

void
sim_checker_init(struct sim_checker *chk)
{
	memset(chk, 0, sizeof(*chk));
}

void
sim_checker_free(struct sim_checker *chk)
{
	for (size_t i = 0; i < chk->n_cfgs; i++)
		free(chk->cfgs[i].buf);
	free(chk->cfgs);
	free(chk->term_leader);
	free(chk->recs);
	free(chk->runs);
	free(chk->lm_index);
	free(chk->lm_term);
	free(chk->lm_chain);
	free(chk->reads);
	memset(chk, 0, sizeof(*chk));
}

const struct sim_config_rec *
sim_checker_latest_config(const struct sim_checker *chk)
{
	return chk->n_cfgs > 0 ? &chk->cfgs[chk->n_cfgs - 1] : NULL;
}

/* ---------------------------------------------------------------------- */
/* Commitment                                                             */
/* ---------------------------------------------------------------------- */

static void
sim_record_commit(struct sim_cluster *c, uint64_t index, uint64_t term, uint64_t chain,
				  uint64_t commit_term, const struct pgr_entry *e)
{
	struct sim_checker *chk = &c->chk;

	chk->recs = sim_grow(chk->recs, &chk->cap_recs, index, sizeof(chk->recs[0]));
	chk->recs[index].term = term;
	chk->recs[index].chain = chain;
	chk->recs[index].commit_term = commit_term;
	chk->known_commit = index;
	if (chk->n_runs > 0 && chk->runs[chk->n_runs - 1].commit_term == commit_term)
		chk->runs[chk->n_runs - 1].last = index;
	else
	{
		chk->runs = sim_grow(chk->runs, &chk->cap_runs, chk->n_runs, sizeof(chk->runs[0]));
		chk->runs[chk->n_runs].commit_term = commit_term;
		chk->runs[chk->n_runs].last = index;
		chk->n_runs++;
	}
	if (e != NULL && e->type == PGR_ENTRY_CONFIG)
	{
		struct sim_config_rec *cr;

		chk->cfgs = sim_grow(chk->cfgs, &chk->cap_cfgs, chk->n_cfgs, sizeof(chk->cfgs[0]));
		cr = &chk->cfgs[chk->n_cfgs++];
		cr->index = index;
		cr->len = e->len;
		cr->buf = malloc(e->len ? e->len : 1);
		if (cr->buf == NULL)
		{
			fprintf(stderr, "raft-sim: out of memory\n");
			exit(2);
		}
		if (e->len > 0)
			memcpy(cr->buf, e->data, e->len);
		sim_note_committed_config(c, index, cr->buf, cr->len);
	}
}

/* pgr_node_bootstrap commits entry 1 without a leader: term 1 commits it. */
void
sim_check_bootstrap(struct sim_cluster *c, const struct sim_node *sn)
{
	const struct pgr_entry *e;
	uint64_t chain;

	if (pgr_node_entry_at(sn->node, 1, &e) != PGR_OK)
	{
		sim_fail(c, "Bootstrap", "node %" PRIu64 " has no entry 1 after bootstrap", sn->id);
		return;
	}
	chain = sim_chain(0, e);
	if (c->chk.known_commit == 0)
		sim_record_commit(c, 1, e->term, chain, 1, e);
	else if (c->chk.recs[1].chain != chain || c->chk.recs[1].term != e->term)
		sim_fail(c, "Bootstrap", "node %" PRIu64 " bootstrapped a different entry 1", sn->id);
}

/*
 * After a batch is persisted: a leader's commit index is where commitment
 * becomes known.  A node that led at the previous observation and stepped
 * down during this call (e.g. it committed its own removal) still speaks
 * for its term.
 */
void
sim_check_leader_commit(struct sim_cluster *c, struct sim_node *sn)
{
	struct sim_checker *chk = &c->chk;
	struct sim_storage *st = &sn->st;
	struct pgr_status s;

	pgr_node_status(sn->node, &s);
	if (s.commit <= chk->known_commit)
		return;
	if (s.role != PGR_ROLE_LEADER && !(sn->lead_term != 0 && sn->lead_term == s.term))
	{
		sim_fail(c, "State Machine Safety",
				 "%s %" PRIu64 " (term %" PRIu64 ") has commit index %" PRIu64
				 " beyond every leader's (%" PRIu64 ")",
				 pgr_role_name(s.role), sn->id, s.term, s.commit, chk->known_commit);
		return;
	}
	if (s.commit > sim_storage_last(st))
	{
		sim_fail(c, "Durability",
				 "leader %" PRIu64 " commits %" PRIu64 " beyond its durable log (%" PRIu64 ")",
				 sn->id, s.commit, sim_storage_last(st));
		return;
	}
	for (uint64_t i = chk->known_commit + 1; i <= s.commit; i++)
	{
		uint64_t si = sim_storage_snap_index(st);

		if (i <= si)
		{
			sim_fail(c, "State Machine Safety",
					 "leader %" PRIu64 " commits %" PRIu64
					 " which it compacted before it was committed",
					 sn->id, i);
			return;
		}
		sim_record_commit(c, i, st->ents[i - si - 1].term, st->chains[i - si - 1], s.term,
						  &st->ents[i - si - 1]);
	}
	sim_trace(c, "  commit %" PRIu64 " by leader n%" PRIu64 " t%" PRIu64, s.commit, sn->id, s.term);
	sim_on_leader_commit(c, sn);
	if (chk->recs[s.commit].term != s.term)
	{
		c->n_old_term_commits++;
		sim_trace(c, "  (an entry of term %" PRIu64 ": committed by counting replicas)",
				  chk->recs[s.commit].term);
	}
}

/* ---------------------------------------------------------------------- */
/* Persistence                                                            */
/* ---------------------------------------------------------------------- */

void
sim_check_persist_entries(struct sim_cluster *c, struct sim_node *sn, const struct pgr_entry *ents,
						  size_t n, bool is_leader)
{
	struct sim_storage *st = &sn->st;
	uint64_t si = sim_storage_snap_index(st);
	uint64_t last = sim_storage_last(st);
	uint64_t first = ents[0].index;
	uint64_t chain, term;

	if (first <= si || first > last + 1)
	{
		sim_fail(c, "Log contract",
				 "node %" PRIu64 " persists entries from %" PRIu64
				 " but its durable log is %" PRIu64 "..%" PRIu64,
				 sn->id, first, si, last);
		return;
	}
	sim_storage_chain_at(st, first - 1, &chain, &term);
	for (size_t i = 0; i < n; i++)
	{
		const struct pgr_entry *e = &ents[i];

		if (e->index != first + i || e->term < term)
		{
			sim_fail(c, "Log contract",
					 "node %" PRIu64 " persists entry %" PRIu64 "/t%" PRIu64 " after term %" PRIu64
					 " at position %zu of a batch from %" PRIu64,
					 sn->id, e->index, e->term, term, i, first);
			return;
		}
		term = e->term;
		if (e->index > last)
			continue;
		/* Overwriting: legal for followers, never for a leader. */
		{
			const struct pgr_entry *old = &st->ents[e->index - si - 1];
			bool same = old->term == e->term && old->type == e->type && old->len == e->len &&
						(e->len == 0 || memcmp(old->data, e->data, e->len) == 0);

			if (!same && is_leader)
				sim_fail(c, "Leader Append-Only",
						 "leader %" PRIu64 " overwrites its entry %" PRIu64 " (t%" PRIu64
						 " -> t%" PRIu64 ")",
						 sn->id, e->index, old->term, e->term);
			else if (!same && e->index <= sn->app.applied)
				sim_fail(c, "State Machine Safety",
						 "node %" PRIu64 " overwrites applied entry %" PRIu64 " (t%" PRIu64
						 " -> t%" PRIu64 ")",
						 sn->id, e->index, old->term, e->term);
		}
	}
}

void
sim_check_log_matching(struct sim_cluster *c, struct sim_node *sn, uint64_t index, uint64_t term,
					   uint64_t chain)
{
	struct sim_checker *chk = &c->chk;
	size_t mask, h;

	if (chk->lm_n * 2 >= chk->lm_cap)
	{
		size_t ocap = chk->lm_cap;
		uint64_t *oi = chk->lm_index, *ot = chk->lm_term, *oc = chk->lm_chain;

		chk->lm_cap = ocap ? ocap * 2 : 4096;
		chk->lm_index = calloc(chk->lm_cap, sizeof(uint64_t));
		chk->lm_term = calloc(chk->lm_cap, sizeof(uint64_t));
		chk->lm_chain = calloc(chk->lm_cap, sizeof(uint64_t));
		if (!chk->lm_index || !chk->lm_term || !chk->lm_chain)
		{
			fprintf(stderr, "raft-sim: out of memory\n");
			exit(2);
		}
		mask = chk->lm_cap - 1;
		for (size_t i = 0; i < ocap; i++)
		{
			if (oi[i] == 0)
				continue;
			for (h = sim_mix(oi[i] * 31 + ot[i]) & mask; chk->lm_index[h] != 0; h = (h + 1) & mask)
				;
			chk->lm_index[h] = oi[i];
			chk->lm_term[h] = ot[i];
			chk->lm_chain[h] = oc[i];
		}
		free(oi);
		free(ot);
		free(oc);
	}
	mask = chk->lm_cap - 1;
	for (h = sim_mix(index * 31 + term) & mask; chk->lm_index[h] != 0; h = (h + 1) & mask)
	{
		if (chk->lm_index[h] == index && chk->lm_term[h] == term)
		{
			if (chk->lm_chain[h] != chain)
				sim_fail(c, "Log Matching",
						 "node %" PRIu64 " persists entry %" PRIu64 "/t%" PRIu64
						 " whose log prefix differs from another node's"
						 " entry with the same index and term",
						 sn->id, index, term);
			return;
		}
	}
	chk->lm_index[h] = index;
	chk->lm_term[h] = term;
	chk->lm_chain[h] = chain;
	chk->lm_n++;
}

void
sim_check_hard_state(struct sim_cluster *c, struct sim_node *sn, const struct pgr_hard_state *hs)
{
	const struct pgr_hard_state *old = sn->st.has_lazy ? &sn->st.hs_lazy : &sn->st.hs;

	if (hs->term < old->term)
		sim_fail(c, "Durability", "node %" PRIu64 " persists term %" PRIu64 " after term %" PRIu64,
				 sn->id, hs->term, old->term);
	else if (hs->term == old->term && old->vote != PGR_NONE && hs->vote != old->vote)
		sim_fail(c, "Election Safety",
				 "node %" PRIu64 " changes its vote in term %" PRIu64 " from %" PRIu64
				 " to %" PRIu64,
				 sn->id, hs->term, old->vote, hs->vote);
	else if (hs->commit > sim_storage_last(&sn->st))
		sim_fail(c, "Durability",
				 "node %" PRIu64 " persists commit %" PRIu64 " beyond its durable log (%" PRIu64
				 ")",
				 sn->id, hs->commit, sim_storage_last(&sn->st));
}

/* A snapshot must be exactly the application state committed at its index. */
void
sim_check_snapshot(struct sim_cluster *c, struct sim_node *sn, const struct pgr_snapshot *snap,
				   const char *how)
{
	struct sim_checker *chk = &c->chk;
	const struct sim_config_rec *cr = NULL;
	struct sim_app app;
	const struct sim_commit_rec *rec;
	uint8_t *buf;
	size_t len = 0;

	if (!sim_app_decode(c, snap->data, snap->len, &app) || app.applied != snap->meta.index)
	{
		sim_fail(c, "State Machine Safety",
				 "node %" PRIu64 " %s a snapshot at %" PRIu64 " whose data is corrupt", sn->id, how,
				 snap->meta.index);
		return;
	}
	if (snap->meta.index == 0 || snap->meta.index > chk->known_commit)
	{
		sim_fail(c, "State Machine Safety",
				 "node %" PRIu64 " %s a snapshot at %" PRIu64 " beyond the commit index %" PRIu64,
				 sn->id, how, snap->meta.index, chk->known_commit);
		return;
	}
	rec = &chk->recs[snap->meta.index];
	if (rec->term != snap->meta.term || rec->chain != app.hash)
	{
		sim_fail(c, "State Machine Safety",
				 "node %" PRIu64 " %s a snapshot at %" PRIu64 "/t%" PRIu64
				 " that differs from the state committed there (t%" PRIu64 ")",
				 sn->id, how, snap->meta.index, snap->meta.term, rec->term);
		return;
	}
	for (size_t i = chk->n_cfgs; i > 0; i--)
		if (chk->cfgs[i - 1].index <= snap->meta.index)
		{
			cr = &chk->cfgs[i - 1];
			break;
		}
	buf = malloc(pgr_config_encoded_size(&snap->meta.config));
	if (buf == NULL)
	{
		fprintf(stderr, "raft-sim: out of memory\n");
		exit(2);
	}
	if (cr == NULL ||
		pgr_config_encode(&snap->meta.config, buf, pgr_config_encoded_size(&snap->meta.config),
						  &len) != PGR_OK ||
		len != cr->len || memcmp(buf, cr->buf, len) != 0)
		sim_fail(c, "State Machine Safety",
				 "node %" PRIu64 " %s a snapshot at %" PRIu64
				 " whose configuration is not the one committed at %" PRIu64,
				 sn->id, how, snap->meta.index, cr ? cr->index : 0);
	free(buf);
}

/* Contract 3b: nothing is announced before it is durable. */
void
sim_check_sent(struct sim_cluster *c, struct sim_node *sn, const struct pgr_msg *m)
{
	const struct pgr_hard_state *hs = &sn->st.hs;

	if (m->from != sn->id)
	{
		sim_fail(c, "Message validity", "node %" PRIu64 " sends a %s claiming to be from %" PRIu64,
				 sn->id, pgr_msg_type_name(m->type), m->from);
		return;
	}
	if (m->type != PGR_MSG_PRE_VOTE && m->type != PGR_MSG_PRE_VOTE_RESP && m->term > hs->term)
		sim_fail(c, "Durability",
				 "node %" PRIu64 " sends a %s in term %" PRIu64 " but has persisted term %" PRIu64,
				 sn->id, pgr_msg_type_name(m->type), m->term, hs->term);
	else if (m->type == PGR_MSG_VOTE_RESP && !m->reject &&
			 (hs->term != m->term || hs->vote != m->to))
		sim_fail(c, "Durability",
				 "node %" PRIu64 " grants its vote to %" PRIu64 " in term %" PRIu64
				 " but its durable vote is %" PRIu64 " in term %" PRIu64,
				 sn->id, m->to, m->term, hs->vote, hs->term);
	else if (m->type == PGR_MSG_VOTE && (hs->term != m->term || hs->vote != sn->id))
		sim_fail(c, "Durability",
				 "candidate %" PRIu64 " requests votes in term %" PRIu64
				 " without a durable vote for itself (durable t%" PRIu64 " v%" PRIu64 ")",
				 sn->id, m->term, hs->term, hs->vote);
	else if (m->type == PGR_MSG_APP_RESP && !m->reject && m->index > sim_storage_last(&sn->st))
		sim_fail(c, "Durability",
				 "node %" PRIu64 " acknowledges index %" PRIu64
				 " but its durable log ends at %" PRIu64,
				 sn->id, m->index, sim_storage_last(&sn->st));
}

/* ---------------------------------------------------------------------- */
/* Application and reads                                                  */
/* ---------------------------------------------------------------------- */

/* Called after the application applied e: sn->app.hash includes it. */
void
sim_check_apply(struct sim_cluster *c, struct sim_node *sn, const struct pgr_entry *e)
{
	struct sim_checker *chk = &c->chk;
	const struct sim_commit_rec *rec;
	uint64_t chain, term;

	if (e->index > chk->known_commit)
	{
		sim_fail(c, "State Machine Safety",
				 "node %" PRIu64 " applies %" PRIu64 "/t%" PRIu64
				 " but no leader has committed beyond %" PRIu64,
				 sn->id, e->index, e->term, chk->known_commit);
		return;
	}
	rec = &chk->recs[e->index];
	if (rec->term != e->term || rec->chain != sn->app.hash)
	{
		sim_fail(c, "State Machine Safety",
				 "node %" PRIu64 " applies %" PRIu64 "/t%" PRIu64 " but %" PRIu64 "/t%" PRIu64
				 " was committed (in term %" PRIu64 ")%s",
				 sn->id, e->index, e->term, e->index, rec->term, rec->commit_term,
				 rec->term == e->term ? " with another log prefix" : "");
		return;
	}
	if (!sim_storage_chain_at(&sn->st, e->index, &chain, &term) || chain != sn->app.hash)
		sim_fail(c, "Durability",
				 "node %" PRIu64 " applies %" PRIu64 " which is not in its durable log", sn->id,
				 e->index);
}

void
sim_check_read_issued(struct sim_cluster *c, uint64_t node, uint64_t ctx)
{
	struct sim_checker *chk = &c->chk;

	chk->reads = sim_grow(chk->reads, &chk->cap_reads, ctx - 1, sizeof(chk->reads[0]));
	chk->reads[ctx - 1].node = node;
	chk->reads[ctx - 1].issue_commit = chk->known_commit;
	if (ctx > chk->n_reads)
		chk->n_reads = ctx;
}

void
sim_check_read_done(struct sim_cluster *c, struct sim_node *sn, const struct pgr_read_state *rs)
{
	struct sim_checker *chk = &c->chk;
	const struct sim_read_rec *r;

	/*
	 * The workload's raw reads have contexts 1, 2, 3...; anything else is a
	 * call's (scrambled 64-bit numbers), checked when the call answers
	 * (calls.c).
	 */
	if (rs->context > chk->n_reads)
		return;
	if (rs->context == 0 || chk->reads[rs->context - 1].node != sn->id)
	{
		sim_fail(c, "Linearizable reads",
				 "node %" PRIu64 " completes read %" PRIu64 " that it never issued", sn->id,
				 rs->context);
		return;
	}
	r = &chk->reads[rs->context - 1];
	sim_trace(c,
			  "  read %" PRIu64 " on n%" PRIu64 " %s at %" PRIu64 " (commit was %" PRIu64
			  " when issued)",
			  rs->context, sn->id, rs->failed ? "failed" : "done", rs->index, r->issue_commit);
	if (rs->failed)
		return;
	if (rs->index < r->issue_commit)
		sim_fail(c, "Linearizable reads",
				 "read %" PRIu64 " on node %" PRIu64 " completes at index %" PRIu64 " but %" PRIu64
				 " was committed when it was issued",
				 rs->context, sn->id, rs->index, r->issue_commit);
	else if (rs->index > chk->known_commit)
		sim_fail(c, "Linearizable reads",
				 "read %" PRIu64 " on node %" PRIu64 " completes at index %" PRIu64
				 " which is not committed (%" PRIu64 ")",
				 rs->context, sn->id, rs->index, chk->known_commit);
	c->n_reads_done++;
}

/* ---------------------------------------------------------------------- */
/* After every step                                                       */
/* ---------------------------------------------------------------------- */

static void
sim_check_leader_complete(struct sim_cluster *c, struct sim_node *sn, uint64_t term)
{
	struct sim_checker *chk = &c->chk;
	uint64_t idx = 0, chain, t;

	for (size_t i = chk->n_runs; i > 0; i--)
		if (chk->runs[i - 1].commit_term < term)
		{
			idx = chk->runs[i - 1].last;
			break;
		}
	if (idx == 0 || idx <= sim_storage_snap_index(&sn->st))
		return;
	if (!sim_storage_chain_at(&sn->st, idx, &chain, &t))
		sim_fail(c, "Leader Completeness",
				 "leader %" PRIu64 " of term %" PRIu64 " lacks index %" PRIu64
				 " committed in term %" PRIu64 " (its log ends at %" PRIu64 ")",
				 sn->id, term, idx, chk->recs[idx].commit_term, sim_storage_last(&sn->st));
	else if (chain != chk->recs[idx].chain)
		sim_fail(c, "Leader Completeness",
				 "leader %" PRIu64 " of term %" PRIu64 " has %" PRIu64 "/t%" PRIu64 " but %" PRIu64
				 "/t%" PRIu64 " was committed in term %" PRIu64,
				 sn->id, term, idx, t, idx, chk->recs[idx].term, chk->recs[idx].commit_term);
}

/*
 * Election Safety, and Leader Completeness at the moment a leader is first
 * seen.  Called after every step, and also right after a batch is
 * persisted, so that a leader that crashes inside its first batch is still
 * recorded.
 */
void
sim_check_leader_seen(struct sim_cluster *c, struct sim_node *sn, const struct pgr_status *s)
{
	struct sim_checker *chk = &c->chk;

	chk->term_leader =
		sim_grow(chk->term_leader, &chk->cap_terms, s->term, sizeof(chk->term_leader[0]));
	if (chk->term_leader[s->term] == 0)
	{
		chk->term_leader[s->term] = sn->id;
		chk->leaders_seen++;
		if (s->term > chk->max_leader_term)
			chk->max_leader_term = s->term;
		sim_trace(
			c, "LEADER n%" PRIu64 " term %" PRIu64 " log %" PRIu64 "..%" PRIu64 " commit %" PRIu64,
			sn->id, s->term, s->snapshot_index, s->last_index, s->commit);
		sim_check_leader_complete(c, sn, s->term);
		sim_on_new_leader(c, sn);
	}
	else if (chk->term_leader[s->term] != sn->id)
		sim_fail(c, "Election Safety",
				 "nodes %" PRIu64 " and %" PRIu64 " are both leaders of term %" PRIu64,
				 chk->term_leader[s->term], sn->id, s->term);
	else
		sim_check_leader_complete(c, sn, s->term);
}

static void
sim_check_node(struct sim_cluster *c, struct sim_node *sn)
{
	struct pgr_status s;
	uint64_t t;

	pgr_node_status(sn->node, &s);
	if (s.term < sn->max_term)
		sim_fail(c, "Durability", "node %" PRIu64 " is at term %" PRIu64 " after term %" PRIu64,
				 sn->id, s.term, sn->max_term);
	sn->max_term = s.term;
	if (c->contract_checks)
	{
		/* Everything is persisted once the ready batches are drained. */
		if (s.term != sn->st.hs.term || s.vote != sn->st.hs.vote)
			sim_fail(c, "Durability",
					 "node %" PRIu64 " is at term %" PRIu64 " vote %" PRIu64
					 " but persisted term %" PRIu64 " vote %" PRIu64,
					 sn->id, s.term, s.vote, sn->st.hs.term, sn->st.hs.vote);
		else if (s.last_index != sim_storage_last(&sn->st))
			sim_fail(c, "Durability",
					 "node %" PRIu64 " has log up to %" PRIu64 " in memory but %" PRIu64
					 " persisted",
					 sn->id, s.last_index, sim_storage_last(&sn->st));
		else if (s.applied != sn->app.applied)
			sim_fail(c, "Ready contract",
					 "node %" PRIu64 " reports applied %" PRIu64
					 " but the application applied %" PRIu64,
					 sn->id, s.applied, sn->app.applied);
	}
	if (s.role == PGR_ROLE_CANDIDATE && sn->last_role != PGR_ROLE_CANDIDATE)
		c->n_elections++;
	sn->last_role = s.role;
	if (s.role != PGR_ROLE_LEADER)
	{
		sn->lead_term = 0;
		return;
	}

	sim_check_leader_seen(c, sn, &s);
	if (c->failed)
		return;
	/* Leader Append-Only, in memory. */
	if (sn->lead_term == s.term)
	{
		if (s.last_index < sn->lead_last)
			sim_fail(c, "Leader Append-Only",
					 "leader %" PRIu64 " of term %" PRIu64 " shrank its log from %" PRIu64
					 " to %" PRIu64,
					 sn->id, s.term, sn->lead_last, s.last_index);
		else if (pgr_node_term_at(sn->node, sn->lead_last, &t) == PGR_OK && t != sn->lead_last_term)
			sim_fail(c, "Leader Append-Only",
					 "leader %" PRIu64 " of term %" PRIu64 " changed entry %" PRIu64
					 " from t%" PRIu64 " to t%" PRIu64,
					 sn->id, s.term, sn->lead_last, sn->lead_last_term, t);
	}
	sn->lead_term = s.term;
	sn->lead_last = s.last_index;
	if (pgr_node_term_at(sn->node, s.last_index, &sn->lead_last_term) != PGR_OK)
		sim_fail(c, "Observation",
				 "leader %" PRIu64 " cannot tell the term of its"
				 " last index %" PRIu64,
				 sn->id, s.last_index);
}

void
sim_check_step(struct sim_cluster *c)
{
	for (uint64_t id = 1; id < SIM_MAX_IDS && !c->failed; id++)
		if (c->nodes[id].state == SIM_NODE_UP)
			sim_check_node(c, &c->nodes[id]);
}
