/*-------------------------------------------------------------------------
 *
 * test_raft_replication.c
 *		Replication features beyond the paper's section 5.3: the new
 *		leader's empty entry, flow control (probe, pipelined replicate with a
 *		bounded window, message size limit, snapshot), fast backtracking,
 *		the Figure 8 rule, proposal forwarding, compaction and snapshots.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_raft_replication.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft_fixture.h"

static struct pgr_progress_info
progress(const struct pgr_node *n, uint64_t id)
{
	struct pgr_progress_info pi;

	memset(&pi, 0, sizeof(pi));
	(void) pgr_node_progress(n, id, &pi);
	return pi;
}

/* ---------------------------------------------------------------------- */
/* The new leader's empty entry (dissertation 3.6.2, 6.4): the only way   */
/* for it to commit entries of earlier terms, and the start of ReadIndex. */
/* ---------------------------------------------------------------------- */

static void
test_new_leader_appends_an_empty_entry_of_its_term(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(pgr_become_candidate(n), PGR_OK);
	CHECK_EQ(pgr_become_leader(n), PGR_OK);
	CHECK_EQ(fx_status(n).last_index, 2);
	b = fx_ready(n);
	CHECK_EQ(b->n_entries, 1);
	CHECK_EQ(b->entries[0].index, 2);
	CHECK_EQ(b->entries[0].term, 2);
	CHECK_EQ(b->entries[0].type, PGR_ENTRY_NORMAL);
	CHECK_EQ(b->entries[0].len, 0);
	for (uint64_t to = 2; to <= 3; to++)
	{
		const struct pgr_msg *m = fx_find(b, PGR_MSG_APP, to);

		CHECK(m != NULL);
		CHECK_EQ(m->index, 1);
		CHECK_EQ(m->log_term, 1);
		CHECK_EQ(m->n_entries, 1);
		CHECK_EQ(m->entries[0].len, 0);
	}
}

/* ---------------------------------------------------------------------- */
/* Flow control                                                           */
/* ---------------------------------------------------------------------- */

/*
 * PROBE: the leader does not know where the follower's log ends, so it has
 * at most one append in flight; a response (here a heartbeat's) lets the
 * next one go, carrying everything from next on.
 */
static void
test_probe_state_sends_one_append_at_a_time(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t d[1] = {'p'};
	uint64_t idx;
	struct fx_batch *b;
	struct pgr_msg r;
	const struct pgr_msg *m;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, false), PGR_OK);
	CHECK_EQ(progress(n, 2).state, PGR_PROGRESS_PROBE);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_APP, 0), 0);

	r = fx_msg(PGR_MSG_HEARTBEAT_RESP, 2, 1, n->term);
	CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_APP, 2), 1);
	CHECK_EQ(fx_count(b, PGR_MSG_APP, 3), 0);
	m = fx_find(b, PGR_MSG_APP, 2);
	CHECK_EQ(m->index, 1);
	CHECK_EQ(m->n_entries, idx - 1);
	/* still probing: another proposal waits for the answer */
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_APP, 2), 0);
	/* the answer moves it to REPLICATE at once */
	CHECK_EQ(fx_ack(n, 2, idx - 1), PGR_OK);
	CHECK_EQ(progress(n, 2).state, PGR_PROGRESS_REPLICATE);
	CHECK_EQ(progress(n, 2).match, idx - 1);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_APP, 2), 1);
	CHECK_EQ(fx_find(b, PGR_MSG_APP, 2)->entries[0].index, idx);
}

/*
 * REPLICATE: appends are pipelined without waiting, but at most
 * max_inflight of them; an acknowledgement frees window slots.
 */
static void
test_replicate_state_pipelines_up_to_max_inflight(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_node *n;
	uint8_t d[1] = {'r'};
	uint64_t idx[6];
	struct fx_batch *b;
	const struct pgr_msg *m;

	o.max_inflight = 3;
	n = fx_node_opts(&o, 3);
	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(progress(n, 2).state, PGR_PROGRESS_REPLICATE);
	for (int i = 0; i < 6; i++)
	{
		CHECK_EQ(pgr_node_propose(n, d, 1, &idx[i]), PGR_OK);
		b = fx_ready(n);
		CHECK_EQ(fx_count(b, PGR_MSG_APP, 2), i < 3 ? 1 : 0);
	}
	CHECK_EQ(progress(n, 2).inflight, 3);
	/* the first acknowledged: one slot, filled with all that waits */
	CHECK_EQ(fx_ack(n, 2, idx[0]), PGR_OK);
	CHECK_EQ(progress(n, 2).inflight, 3);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_APP, 2), 1);
	m = fx_find(b, PGR_MSG_APP, 2);
	CHECK_EQ(m->index, idx[2]);
	CHECK_EQ(m->n_entries, 3);
	CHECK_EQ(m->entries[2].index, idx[5]);
	/* everything acknowledged: the window is empty */
	CHECK_EQ(fx_ack(n, 2, idx[5]), PGR_OK);
	CHECK_EQ(progress(n, 2).inflight, 0);
}

/*
 * max_msg_bytes bounds the entry bytes of one append (but an append always
 * carries at least one entry, however large).
 */
static void
test_max_msg_bytes_splits_appends(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_node *n;
	static uint8_t d[5][40];
	static uint8_t big[300];
	const uint8_t *ptrs[5];
	uint32_t lens[5];
	uint64_t first;
	uint64_t expect;
	uint64_t acked;
	int n_msgs = 0;
	struct fx_batch *b;

	o.max_msg_bytes = 100;
	n = fx_node_opts(&o, 3);
	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	for (int i = 0; i < 5; i++)
	{
		memset(d[i], 'a' + i, 40);
		ptrs[i] = d[i];
		lens[i] = 40;
	}
	CHECK_EQ(pgr_node_propose_batch(n, ptrs, lens, 5, &first), PGR_OK);
	expect = first;
	acked = first - 1;
	b = fx_ready(n);
	for (int round = 0; round < 10 && expect <= first + 4; round++)
	{
		for (size_t i = 0; i < b->n_msgs; i++)
		{
			const struct pgr_msg *m = &b->msgs[i];
			uint64_t bytes = 0;

			if (m->type != PGR_MSG_APP || m->to != 2 || m->n_entries == 0)
				continue;
			CHECK_EQ(m->index, expect - 1);
			for (uint32_t k = 0; k < m->n_entries; k++)
			{
				CHECK_EQ(m->entries[k].index, expect + k);
				bytes += m->entries[k].len;
			}
			CHECK(bytes <= 100);
			expect += m->n_entries;
			n_msgs++;
		}
		if (expect - 1 > acked)
		{
			acked = expect - 1;
			CHECK_EQ(fx_ack(n, 2, acked), PGR_OK);
		}
		b = fx_ready(n);
	}
	CHECK_EQ(expect, first + 5);
	CHECK_EQ(n_msgs, 3); /* 2 + 2 + 1 entries of 40 bytes */

	CHECK_EQ(pgr_node_propose(n, big, sizeof(big), &first), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_APP, 2), 1);
	CHECK_EQ(fx_find(b, PGR_MSG_APP, 2)->n_entries, 1);
	CHECK_EQ(fx_find(b, PGR_MSG_APP, 2)->entries[0].len, sizeof(big));
}

/*
 * The progress state machine: PROBE -> REPLICATE on an acknowledgement,
 * REPLICATE -> PROBE on a rejection or an unreachable report,
 * PROBE -> SNAPSHOT when the entries it needs are compacted, SNAPSHOT ->
 * PROBE when the snapshot is reported (or acknowledged).
 */
static void
test_progress_moves_between_probe_replicate_and_snapshot(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t d[1] = {'s'};
	uint64_t idx = 0;
	struct pgr_msg r;
	struct fx_batch *b;
	struct pgr_snapshot_meta meta;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, false), PGR_OK);
	CHECK_EQ(progress(n, 3).state, PGR_PROGRESS_PROBE);
	CHECK_EQ(fx_ack(n, 3, 2), PGR_OK);
	CHECK_EQ(progress(n, 3).state, PGR_PROGRESS_REPLICATE);
	fx_settle(n);

	/*
	 * Two pipelined appends, the first lost: the follower rejects the
	 * second (previous index 3, which it lacks).  Back to probing after
	 * match.
	 */
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	fx_settle(n);
	r = fx_msg(PGR_MSG_APP_RESP, 3, 1, n->term);
	r.reject = true;
	r.index = idx - 1;
	r.reject_hint = 2;
	r.log_term = n->term;
	CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	CHECK_EQ(progress(n, 3).state, PGR_PROGRESS_PROBE);
	CHECK_EQ(progress(n, 3).next, 3);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_APP, 3), 1);
	CHECK_EQ(fx_find(b, PGR_MSG_APP, 3)->index, 2);
	/* a rejection never moves next to or below an acknowledged index */
	r.index = 2;
	CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	CHECK_EQ(progress(n, 3).next, 3);
	CHECK_EQ(fx_ack(n, 3, idx), PGR_OK);
	CHECK_EQ(progress(n, 3).state, PGR_PROGRESS_REPLICATE);

	/* the transport lost the connection */
	CHECK_EQ(pgr_node_report_unreachable(n, 3), PGR_OK);
	CHECK_EQ(progress(n, 3).state, PGR_PROGRESS_PROBE);

	/* node 2 never answered; compact past what it has: it needs a snapshot */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	CHECK_EQ(fx_ack(n, 3, idx), PGR_OK);
	fx_settle(n);
	CHECK_EQ(fx_status(n).applied, idx);
	CHECK_EQ(pgr_node_compact(n, idx, d, 1, &meta), PGR_OK);
	r = fx_msg(PGR_MSG_HEARTBEAT_RESP, 2, 1, n->term);
	CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	CHECK_EQ(progress(n, 2).state, PGR_PROGRESS_SNAPSHOT);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_SNAP, 2), 1);
	CHECK_EQ(fx_find(b, PGR_MSG_SNAP, 2)->snapshot->meta.index, idx);
	/* nothing more is sent while the snapshot is on its way */
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_APP, 2), 0);
	CHECK_EQ(fx_count(b, PGR_MSG_SNAP, 2), 0);
	/* a failed transfer: probe again (the snapshot is resent when needed) */
	CHECK_EQ(pgr_node_report_snapshot(n, 2, false), PGR_OK);
	CHECK_EQ(progress(n, 2).state, PGR_PROGRESS_PROBE);
	CHECK_EQ(pgr_node_report_snapshot(n, 2, false), PGR_EIGNORED);
}

/*
 * Fast backtracking (dissertation 5.3's optimisation): a follower whose log
 * diverges from the leader's over 100 entries is brought in sync in a
 * handful of round trips, not one per entry.
 */
static void
test_fast_backtracking_needs_few_round_trips(void)
{
	static uint64_t lead[51];
	static uint64_t fol[101];
	struct pgr_options lo = fx_opts(1, 10, 1);
	struct pgr_options fo = fx_opts(2, 10, 1);
	struct pgr_config c;
	struct fx_net net;
	struct pgr_msg grant;

	/* leader: 50 entries of term 2; follower: 100 entries of term 3 */
	lead[0] = fol[0] = 1;
	for (int i = 1; i < 51; i++)
		lead[i] = 2;
	for (int i = 1; i < 101; i++)
		fol[i] = 3;
	fx_conf(&c, 3, 0);
	fx_net_init(&net);
	lo.disable_pre_vote = true;
	net.nodes[1] = fx_node_log(&lo, &c, 5, PGR_NONE, 1, lead, 51);
	net.nodes[2] = fx_node_log(&fo, &c, 4, PGR_NONE, 1, fol, 101);
	CHECK(net.nodes[1] != NULL && net.nodes[2] != NULL);
	CHECK_EQ(pgr_node_campaign(net.nodes[1]), PGR_OK);
	grant = fx_msg(PGR_MSG_VOTE_RESP, 3, 1, 6);
	CHECK_EQ(pgr_node_step(net.nodes[1], &grant), PGR_OK);
	CHECK_EQ(fx_status(net.nodes[1]).role, PGR_ROLE_LEADER);
	fx_net_run(&net);
	CHECK(fx_logs_equal(net.nodes[1], net.nodes[2]));
	CHECK_EQ(fx_status(net.nodes[2]).last_index, 52);
	CHECK(net.delivered_app <= 4);
	fx_net_free(&net);
}

/*
 * Figure 8: an entry of an earlier term stored on a majority is still not
 * committed (a server with a later-term last entry can be elected and
 * overwrite it); it commits only with an entry of the leader's term.
 */
static void
test_old_term_entry_on_a_majority_is_not_committed(void)
{
	static const uint64_t s1[] = {1, 2};
	static const uint64_t s5[] = {1, 3};
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_config c;
	struct pgr_node *n;
	struct pgr_node *voter;
	struct pgr_msg m;
	struct fx_batch *b;

	fx_conf(&c, 5, 0);
	/* S1 leads term 4 with (2, t2); S2 and S3 acknowledge index 2 */
	n = fx_node_log(&o, &c, 3, PGR_NONE, 1, s1, 2);
	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, false), PGR_OK);
	CHECK_EQ(n->term, 4);
	CHECK_EQ(fx_ack(n, 2, 2), PGR_OK);
	CHECK_EQ(fx_ack(n, 3, 2), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 1);
	b = fx_ready(n);
	CHECK_EQ(b->n_committed, 0);

	/* S2 holds (2, t2) and may still vote for S5, whose last is (2, t3) */
	o.id = 2;
	voter = fx_node_log(&o, &c, 4, PGR_NONE, 1, s1, 2);
	CHECK(voter != NULL);
	m = fx_msg(PGR_MSG_VOTE, 5, 2, 5);
	m.index = 2;
	m.log_term = s5[1];
	CHECK_EQ(pgr_node_step(voter, &m), PGR_OK);
	b = fx_ready(voter);
	CHECK(!fx_find(b, PGR_MSG_VOTE_RESP, 5)->reject);

	/* once S1's own entry (3, t4) is on a majority, both commit */
	CHECK_EQ(fx_ack(n, 2, 3), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 1);
	CHECK_EQ(fx_ack(n, 3, 3), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 3);
	b = fx_ready(n);
	CHECK_EQ(b->n_committed, 2);
	CHECK_EQ(b->committed[0].term, 2);
	CHECK_EQ(b->committed[1].term, 4);
}

/* ---------------------------------------------------------------------- */
/* Proposals: a follower forwards them; without a leader they fail.        */
/* ---------------------------------------------------------------------- */

static void
test_follower_forwards_proposals_to_the_leader(void)
{
	struct pgr_node *f = fx_node(1, 3, 10, 1);
	struct pgr_node *l = fx_node(2, 3, 10, 1);
	uint8_t d[3] = {'a', 'b', 'c'};
	uint64_t idx = 99;
	struct fx_batch *b;
	const struct pgr_msg *p;
	const struct pgr_entry *e;

	CHECK(f != NULL && l != NULL);
	CHECK_EQ(fx_make_leader(l, true), PGR_OK);
	CHECK_EQ(fx_heartbeat_from(f, 2, l->term), PGR_OK);
	CHECK_EQ(pgr_node_propose(f, d, 3, &idx), PGR_OK);
	CHECK_EQ(idx, 0);
	CHECK_EQ(fx_status(f).last_index, 1);
	b = fx_ready(f);
	CHECK_EQ(b->n_msgs, 1);
	p = fx_find(b, PGR_MSG_PROP, 2);
	CHECK(p != NULL);
	CHECK_EQ(p->n_entries, 1);
	CHECK_EQ(p->entries[0].len, 3);
	CHECK(memcmp(p->entries[0].data, d, 3) == 0);

	CHECK_EQ(pgr_node_step(l, p), PGR_OK);
	CHECK_EQ(pgr_node_entry_at(l, fx_status(l).last_index, &e), PGR_OK);
	CHECK_EQ(e->term, l->term);
	CHECK_EQ(e->len, 3);
	CHECK(memcmp(e->data, d, 3) == 0);
}

static void
test_proposal_without_a_leader_fails_with_enoleader(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t d[1] = {'x'};
	const uint8_t *ptrs[1] = {d};
	uint32_t lens[1] = {1};
	uint64_t idx;

	CHECK(n != NULL);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_ENOLEADER);
	CHECK_EQ(pgr_node_propose_batch(n, ptrs, lens, 1, &idx), PGR_ENOLEADER);
	CHECK_EQ(pgr_node_campaign(n), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_PRE_CANDIDATE);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_ENOLEADER);
	CHECK_EQ(fx_status(n).last_index, 1);
}

static void
test_proposal_limits_are_enforced(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_node *n;
	uint8_t d[16] = {0};
	struct pgr_msg m;
	struct pgr_entry e = {.type = PGR_ENTRY_NORMAL, .len = 1, .data = d};
	uint64_t idx;
	uint64_t last;

	o.max_entry_bytes = 8;
	n = fx_node_opts(&o, 3);
	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	last = fx_status(n).last_index;
	CHECK_EQ(pgr_node_propose(n, d, 9, &idx), PGR_ETOOBIG);
	CHECK_EQ(pgr_node_propose(n, NULL, 1, &idx), PGR_EINVAL);
	CHECK_EQ(pgr_node_propose_batch(n, NULL, NULL, 0, &idx), PGR_EINVAL);
	/* a proposal forwarded by a node that is not a member */
	m = fx_msg(PGR_MSG_PROP, 9, 1, 0);
	m.n_entries = 1;
	m.entries = &e;
	CHECK_EQ(pgr_node_step(n, &m), PGR_EUNKNOWN_NODE);
	CHECK_EQ(fx_status(n).last_index, last);
	CHECK_EQ(pgr_node_propose(n, d, 8, &idx), PGR_OK);
	CHECK_EQ(idx, last + 1);
}

/* ---------------------------------------------------------------------- */
/* Compaction and snapshots                                               */
/* ---------------------------------------------------------------------- */

/* The log may be compacted only up to what the application applied. */
static void
test_compaction_is_bounded_by_applied(void)
{
	struct pgr_node *n = fx_node(1, 1, 10, 1);
	uint8_t d[1] = {'c'};
	uint8_t state[5] = "state";
	uint64_t idx;
	uint64_t t;
	struct pgr_snapshot_meta meta;

	CHECK(n != NULL);
	CHECK_EQ(pgr_node_campaign(n), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
	CHECK_EQ(pgr_node_compact(n, 3, state, 5, &meta), PGR_EINVAL);
	fx_settle(n);
	CHECK_EQ(fx_status(n).applied, idx);
	CHECK_EQ(pgr_node_compact(n, idx + 1, state, 5, &meta), PGR_EINVAL);
	CHECK_EQ(pgr_node_compact(n, 4, NULL, 5, &meta), PGR_EINVAL);
	CHECK_EQ(pgr_node_compact(n, 4, state, 5, &meta), PGR_OK);
	CHECK_EQ(meta.index, 4);
	CHECK_EQ(meta.term, n->term);
	CHECK_EQ(meta.config.n_members, 1);
	CHECK_EQ(meta.config.members[0].id, 1);
	CHECK_EQ(fx_status(n).first_index, 5);
	CHECK_EQ(fx_status(n).snapshot_index, 4);
	CHECK_EQ(pgr_node_term_at(n, 3, &t), PGR_ECOMPACTED);
	CHECK_EQ(pgr_node_term_at(n, 4, &t), PGR_OK);
	CHECK_EQ(t, n->term);
	CHECK_EQ(pgr_node_term_at(n, idx + 1, &t), PGR_EUNAVAILABLE);
	CHECK_EQ(pgr_node_compact(n, 4, state, 5, &meta), PGR_ECOMPACTED);
	CHECK_EQ(pgr_node_compact(n, idx, state, 5, &meta), PGR_OK);
	CHECK_EQ(fx_status(n).first_index, idx + 1);
	/* the log goes on after the snapshot */
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
}

/*
 * A follower that needs compacted entries gets the snapshot (MsgSnap),
 * hands it out in ready.snapshot to install, acknowledges it, and then
 * receives the log after it.
 */
static void
test_lagging_follower_receives_and_installs_a_snapshot(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct fx_net net;
	uint64_t lead;
	uint64_t lag;
	uint8_t d[2] = {'s', 0};
	uint8_t state[6] = "state";
	uint64_t idx = 0;
	struct pgr_snapshot_meta meta;
	struct pgr_node *l;
	struct pgr_node *f;

	CHECK(fx_net_cluster(&net, 3, &o));
	lead = fx_net_elect(&net, 100);
	CHECK(lead != 0);
	l = net.nodes[lead];
	lag = lead == 3 ? 1 : 3;
	f = net.nodes[lag];
	fx_net_isolate(&net, lag, true);
	for (int i = 0; i < 10; i++)
	{
		d[1] = (uint8_t) i;
		CHECK_EQ(pgr_node_propose(l, d, 2, &idx), PGR_OK);
		fx_net_run(&net);
	}
	CHECK_EQ(fx_status(l).applied, idx);
	CHECK_EQ(pgr_node_compact(l, idx, state, 6, &meta), PGR_OK);
	CHECK_EQ(pgr_node_propose(l, d, 2, &idx), PGR_OK);
	fx_net_run(&net);
	CHECK(fx_status(f).last_index < meta.index);

	fx_net_isolate(&net, lag, false);
	for (int i = 0; i < 5; i++)
		fx_net_tick(&net);
	CHECK(net.snap_msgs >= 1);
	CHECK_EQ(net.snapshots_installed[lag], 1);
	CHECK_EQ(fx_status(f).snapshot_index, meta.index);
	CHECK_EQ(f->snapshot.len, 6);
	CHECK(memcmp(f->snapshot.data, state, 6) == 0);
	CHECK_EQ(fx_status(f).last_index, idx);
	CHECK_EQ(fx_status(f).commit, idx);
	CHECK_EQ(pgr_node_config(f)->n_members, 3);
	CHECK_EQ(progress(l, lag).state, PGR_PROGRESS_REPLICATE);
	CHECK_EQ(progress(l, lag).match, idx);
	fx_net_free(&net);
}

/*
 * A node restarts from its newest snapshot plus the entries after it: the
 * configuration comes from the snapshot unless a later entry replaces it,
 * and what was committed but not applied is handed out again.
 */
static void
test_node_restarts_from_snapshot_and_log(void)
{
	struct pgr_options o = fx_opts(2, 10, 1);
	struct pgr_snapshot snap;
	struct pgr_entry ents[3];
	uint8_t data[4] = "blob";
	uint8_t p[3] = {'1', '2', '3'};
	uint8_t cbuf[FX_CONF_BUF];
	size_t clen;
	struct pgr_config c4;
	struct pgr_restore rs;
	struct pgr_node *n = NULL;
	struct fx_batch *b;
	uint64_t t;
	const struct pgr_config *cur;

	memset(&snap, 0, sizeof(snap));
	snap.meta.index = 10;
	snap.meta.term = 2;
	fx_conf(&snap.meta.config, 3, 0);
	memcpy(snap.meta.config.members[1].context, "node2:5432", 10);
	snap.meta.config.members[1].context_len = 10;
	snap.len = 4;
	snap.data = data;
	memset(ents, 0, sizeof(ents));
	for (int i = 0; i < 2; i++)
	{
		ents[i].index = 11 + (uint64_t) i;
		ents[i].term = 2 + (uint64_t) i;
		ents[i].len = 1;
		ents[i].data = &p[i];
	}
	memset(&rs, 0, sizeof(rs));
	rs.hs.term = 3;
	rs.hs.vote = 1;
	rs.hs.commit = 12;
	rs.snapshot = &snap;
	rs.entries = ents;
	rs.n_entries = 2;
	rs.applied = 10;
	CHECK_EQ(pgr_node_new(&o, &rs, &n), PGR_OK);
	fx_register(n);
	CHECK_EQ(fx_status(n).term, 3);
	CHECK_EQ(fx_status(n).vote, 1);
	CHECK_EQ(fx_status(n).first_index, 11);
	CHECK_EQ(fx_status(n).last_index, 12);
	CHECK_EQ(fx_status(n).snapshot_index, 10);
	CHECK_EQ(fx_status(n).commit, 12);
	CHECK_EQ(fx_status(n).config_index, 10);
	CHECK_EQ(pgr_node_term_at(n, 10, &t), PGR_OK);
	CHECK_EQ(t, 2);
	CHECK_EQ(pgr_node_term_at(n, 9, &t), PGR_ECOMPACTED);
	cur = pgr_node_config(n);
	CHECK_EQ(cur->n_members, 3);
	CHECK_EQ(cur->members[1].context_len, 10);
	CHECK(memcmp(cur->members[1].context, "node2:5432", 10) == 0);
	b = fx_ready(n);
	CHECK(b->n_entries == 0 && !b->has_snapshot);
	CHECK_EQ(b->n_committed, 2);
	CHECK_EQ(b->committed[0].index, 11);
	CHECK_EQ(b->committed[1].index, 12);

	/* a configuration entry after the snapshot is the one in force */
	fx_conf(&c4, 4, 0);
	CHECK_EQ(pgr_config_encode(&c4, cbuf, sizeof(cbuf), &clen), PGR_OK);
	ents[2].index = 13;
	ents[2].term = 3;
	ents[2].type = PGR_ENTRY_CONFIG;
	ents[2].len = (uint32_t) clen;
	ents[2].data = cbuf;
	rs.n_entries = 3;
	CHECK_EQ(pgr_node_new(&o, &rs, &n), PGR_OK);
	fx_register(n);
	CHECK_EQ(fx_status(n).config_index, 13);
	CHECK_EQ(pgr_node_config(n)->n_members, 4);
}

/*
 * The network may duplicate and reorder appends: an old append that
 * arrives after a newer one matches what the log has and must not
 * truncate the entries the newer one added (Raft 5.3: only a conflicting
 * entry is deleted).
 */
static void
test_duplicate_or_late_append_does_not_truncate(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t d[2][1] = {{'a'}, {'b'}};
	struct pgr_entry e[2];
	struct pgr_msg m;
	struct fx_batch *b;

	CHECK(n != NULL);
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 2; i++)
	{
		e[i].index = 2 + (uint64_t) i;
		e[i].term = 2;
		e[i].len = 1;
		e[i].data = d[i];
	}
	m = fx_msg(PGR_MSG_APP, 2, 1, 2);
	m.index = 1;
	m.log_term = 1;
	m.n_entries = 2;
	m.entries = e;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	fx_settle(n);
	/* the earlier append, carrying only entry 2, arrives late */
	m.n_entries = 1;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).last_index, 3);
	b = fx_ready(n);
	CHECK_EQ(b->n_entries, 0);
	CHECK_EQ(fx_find(b, PGR_MSG_APP_RESP, 2)->index, 2);
	CHECK(!fx_find(b, PGR_MSG_APP_RESP, 2)->reject);
	/* and the same append twice changes nothing either */
	m.n_entries = 2;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).last_index, 3);
	b = fx_ready(n);
	CHECK_EQ(b->n_entries, 0);
	CHECK_EQ(fx_find(b, PGR_MSG_APP_RESP, 2)->index, 3);
}

/*
 * Ready contract: when only the commit index moved, the hard state may be
 * written lazily (must_sync false); new entries, term or vote need a sync.
 */
/*
 * Node 1 of 3 as a follower of node 2 in term 2, stepping index 2 from it;
 * *np stays NULL if that fails.
 */
static void
follower_stepping_index_2(struct pgr_node **np, struct fx_batch **b)
{
	static uint8_t d[1] = {'f'};
	struct pgr_entry e = {.term = 2, .index = 2, .len = 1, .data = d};
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_msg m;

	*np = NULL;
	CHECK(n != NULL);
	m = fx_msg(PGR_MSG_APP, 2, 1, 2);
	m.index = 1;
	m.log_term = 1;
	m.n_entries = 1;
	m.entries = &e;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	*b = fx_ready(n);
	*np = n;
}

static void
test_commit_only_change_needs_no_sync(void)
{
	struct fx_batch *b;
	struct pgr_node *n;
	struct pgr_msg m;

	follower_stepping_index_2(&n, &b);
	CHECK(n != NULL);

	CHECK(b->must_sync);
	CHECK_EQ(b->n_entries, 1);
	CHECK_EQ(b->hs.term, 2);
	m = fx_msg(PGR_MSG_HEARTBEAT, 2, 1, 2);
	m.commit = 2;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	b = fx_ready(n);
	CHECK(b->has_hard_state);
	CHECK_EQ(b->hs.commit, 2);
	CHECK(!b->must_sync);
	CHECK_EQ(b->n_committed, 1);
	CHECK(!pgr_node_has_ready(n));
}

/*
 * A new commit index goes to a caught-up follower in an append that asks
 * for no answer; to a follower whose acknowledgement is still due, and in
 * every probe, the append is answered as before.
 */
static void
test_commit_only_append_to_a_caught_up_follower_is_quiet(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t d[1] = {'q'};
	uint64_t idx;
	struct fx_batch *b;
	const struct pgr_msg *m;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	b = fx_ready(n);
	m = fx_find(b, PGR_MSG_APP, 2);
	CHECK(m != NULL && m->n_entries == 1 && !m->quiet);
	CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_committed, 1);
	m = fx_find(b, PGR_MSG_APP, 2);
	CHECK(m != NULL);
	CHECK_EQ(m->n_entries, 0);
	CHECK_EQ(m->commit, idx);
	CHECK(m->quiet);
	/* node 3 has not acknowledged idx yet: its answer is still wanted */
	m = fx_find(b, PGR_MSG_APP, 3);
	CHECK(m != NULL);
	CHECK_EQ(m->n_entries, 0);
	CHECK(!m->quiet);
}

static void
test_follower_answers_a_quiet_append_only_on_a_mismatch(void)
{
	struct fx_batch *b;
	struct pgr_node *n;
	struct pgr_msg m;

	follower_stepping_index_2(&n, &b);
	CHECK(n != NULL);

	CHECK_EQ(fx_count(b, PGR_MSG_APP_RESP, 2), 1);

	/* accepted: the commit index is learnt, nothing is answered */
	m = fx_msg(PGR_MSG_APP, 2, 1, 2);
	m.index = 2;
	m.log_term = 2;
	m.commit = 2;
	m.quiet = true;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_committed, 1);
	CHECK_EQ(fx_count(b, PGR_MSG_APP_RESP, 0), 0);

	/* the same without the flag is answered */
	m.quiet = false;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_APP_RESP, 2), 1);

	/* a mismatch is always answered, with the rejection */
	m = fx_msg(PGR_MSG_APP, 2, 1, 2);
	m.index = 5;
	m.log_term = 2;
	m.commit = 2;
	m.quiet = true;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_APP_RESP, 2), 1);
	CHECK(fx_find(b, PGR_MSG_APP_RESP, 2)->reject);
}

/* max_apply_bytes bounds the committed bytes per ready (at least one entry). */
static void
test_max_apply_bytes_spreads_committed_entries_over_batches(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_node *n;
	uint8_t d[6] = "sixsix";
	uint64_t idx;
	uint64_t next = 3;
	int batches = 0;

	o.max_apply_bytes = 13;
	n = fx_node_opts(&o, 1);
	CHECK(n != NULL);
	CHECK_EQ(pgr_node_campaign(n), PGR_OK);
	fx_settle(n);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(pgr_node_propose(n, d, 6, &idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
	while (pgr_node_has_ready(n) && batches < 10)
	{
		struct fx_batch *b = fx_ready(n);
		uint64_t bytes = 0;

		for (size_t k = 0; k < b->n_committed; k++)
		{
			CHECK_EQ(b->committed[k].index, next);
			next++;
			bytes += b->committed[k].len;
		}
		CHECK(bytes <= 13);
		batches++;
	}
	CHECK_EQ(next, idx + 1);
	CHECK_EQ(batches, 3); /* 2 + 2 + 1 entries of 6 bytes */
	CHECK_EQ(fx_status(n).applied, idx);
}

/*
 * Many proposals, in batches above the on-stack size, with compaction
 * now and then: the in-memory log keeps every entry at its index with its
 * payload, across array growth and sliding.
 */
static void
test_log_keeps_entries_across_growth_and_compaction(void)
{
	struct pgr_node *n = fx_node(1, 1, 10, 1);
	static uint8_t pay[100][4];
	const uint8_t *ptrs[100];
	uint32_t lens[100];
	uint64_t first = 0;
	uint64_t last = 0;

	CHECK(n != NULL);
	CHECK_EQ(pgr_node_campaign(n), PGR_OK);
	fx_settle(n);
	last = fx_status(n).last_index;
	for (int round = 0; round < 40; round++)
	{
		uint32_t count = round % 3 == 0 ? 100 : 7;
		uint64_t applied;

		for (uint32_t i = 0; i < count; i++)
		{
			uint32_t v = (uint32_t) (last + 1 + i);

			memcpy(pay[i], &v, 4);
			ptrs[i] = pay[i];
			lens[i] = 4;
		}
		CHECK_EQ(pgr_node_propose_batch(n, ptrs, lens, count, &first), PGR_OK);
		CHECK_EQ(first, last + 1);
		last = first + count - 1;
		fx_settle(n);
		applied = fx_status(n).applied;
		CHECK_EQ(applied, last);
		if (round % 5 == 4)
			CHECK_EQ(pgr_node_compact(n, applied - 3, NULL, 0, NULL), PGR_OK);
		for (uint64_t i = fx_status(n).first_index; i <= last; i++)
		{
			const struct pgr_entry *e;
			uint32_t v;

			CHECK_EQ(pgr_node_entry_at(n, i, &e), PGR_OK);
			CHECK_EQ(e->index, i);
			if (e->len == 4)
			{
				memcpy(&v, e->data, 4);
				CHECK_EQ(v, i);
			}
		}
	}
	CHECK(fx_status(n).first_index > 100);
}

/*
 * A MsgSnap waiting in the outbox keeps pointing to valid data even if the
 * leader compacts again (replacing its snapshot) before the batch is
 * taken: the old data is freed only at advance.  (The sanitizer build
 * catches a premature free.)
 */
static void
test_queued_snapshot_survives_a_second_compaction(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t d[1] = {'q'};
	uint8_t old_state[8] = "oldstat";
	uint8_t new_state[8] = "newstat";
	uint64_t idx;
	struct pgr_msg r;
	struct fx_batch *b;
	const struct pgr_msg *snap;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, false), PGR_OK);
	CHECK_EQ(fx_ack(n, 2, 2), PGR_OK);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
	fx_settle(n);
	CHECK_EQ(pgr_node_compact(n, idx - 2, old_state, 8, NULL), PGR_OK);
	r = fx_msg(PGR_MSG_HEARTBEAT_RESP, 3, 1, n->term);
	CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	CHECK_EQ(pgr_node_compact(n, idx, new_state, 8, NULL), PGR_OK);
	b = fx_ready(n);
	snap = fx_find(b, PGR_MSG_SNAP, 3);
	CHECK(snap != NULL);
	CHECK_EQ(snap->snapshot->meta.index, idx - 2);
	CHECK_EQ(snap->snapshot->len, 8);
	CHECK(memcmp(snap->snapshot->data, old_state, 8) == 0);
}

static const struct test_case cases[] = {
	TEST(test_new_leader_appends_an_empty_entry_of_its_term),
	TEST(test_probe_state_sends_one_append_at_a_time),
	TEST(test_replicate_state_pipelines_up_to_max_inflight),
	TEST(test_max_msg_bytes_splits_appends),
	TEST(test_progress_moves_between_probe_replicate_and_snapshot),
	TEST(test_fast_backtracking_needs_few_round_trips),
	TEST(test_old_term_entry_on_a_majority_is_not_committed),
	TEST(test_follower_forwards_proposals_to_the_leader),
	TEST(test_proposal_without_a_leader_fails_with_enoleader),
	TEST(test_proposal_limits_are_enforced),
	TEST(test_compaction_is_bounded_by_applied),
	TEST(test_lagging_follower_receives_and_installs_a_snapshot),
	TEST(test_node_restarts_from_snapshot_and_log),
	TEST(test_duplicate_or_late_append_does_not_truncate),
	TEST(test_commit_only_change_needs_no_sync),
	TEST(test_commit_only_append_to_a_caught_up_follower_is_quiet),
	TEST(test_follower_answers_a_quiet_append_only_on_a_mismatch),
	TEST(test_max_apply_bytes_spreads_committed_entries_over_batches),
	TEST(test_log_keeps_entries_across_growth_and_compaction),
	TEST(test_queued_snapshot_survives_a_second_compaction),
};

FX_MAIN(cases)
