/*-------------------------------------------------------------------------
 *
 * test_raft_read_transfer.c
 *		Linearizable reads with ReadIndex (dissertation 6.4) and leadership
 *		transfer (dissertation 3.10).
 *
 * ReadIndex: the leader records its commit index, waits until an entry of
 * its own term is committed (before that it does not know the commit
 * index), then proves it is still leader by a heartbeat round acknowledged
 * by a majority; the read may be served once applied reaches that index.
 * Transfer: the leader stops taking proposals, brings the target up to
 * date, sends it TimeoutNow; the target campaigns at once and wins; the
 * transfer is abandoned after an election timeout.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_raft_read_transfer.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft_fixture.h"

/* ---------------------------------------------------------------------- */
/* ReadIndex                                                              */
/* ---------------------------------------------------------------------- */

static struct pgr_msg
hb_resp(const struct pgr_node *l, uint64_t from, uint64_t ctx)
{
	struct pgr_msg r = fx_msg(PGR_MSG_HEARTBEAT_RESP, from, l->id, l->term);

	r.context = ctx;
	return r;
}

/*
 * A read is confirmed only after a majority echoed a heartbeat sent after
 * the read arrived; an echo of an older round does not count.
 */
static void
test_leader_read_index_waits_for_a_heartbeat_quorum(void)
{
	struct pgr_node *n = fx_node(1, 5, 10, 1);
	struct fx_batch *b;
	uint64_t seq;
	uint64_t commit;
	struct pgr_msg r;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	commit = fx_status(n).commit;
	CHECK_EQ(commit, 2);
	CHECK_EQ(pgr_node_read_index(n, 42), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 0);
	CHECK_EQ(fx_count(b, PGR_MSG_HEARTBEAT, 0), 4);
	seq = fx_find(b, PGR_MSG_HEARTBEAT, 2)->context;
	CHECK(seq > 0);
	CHECK_EQ(fx_find(b, PGR_MSG_HEARTBEAT, 5)->context, seq);

	/* an echo of an earlier round, then one fresh echo: 2 of 5 */
	r = hb_resp(n, 2, seq - 1);
	CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	r = hb_resp(n, 3, seq);
	CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 0);
	/* the third voter makes a majority */
	r = hb_resp(n, 4, seq);
	CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 1);
	CHECK_EQ(b->reads[0].context, 42);
	CHECK_EQ(b->reads[0].index, commit);
	CHECK(!b->reads[0].failed);
}

/*
 * A new leader does not know the commit index until its empty entry
 * commits: a read waits for that, then for its heartbeat round, and is
 * served at an index that includes the empty entry.
 */
static void
test_leader_read_index_waits_for_a_commit_in_its_term(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct fx_batch *b;
	struct pgr_msg r;
	uint64_t seq;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, false), PGR_OK);
	CHECK_EQ(pgr_node_read_index(n, 7), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_HEARTBEAT, 0), 0);
	/* acknowledgements of an old round do not confirm it either */
	r = hb_resp(n, 2, 0);
	(void) pgr_node_step(n, &r);
	r = hb_resp(n, 3, 0);
	(void) pgr_node_step(n, &r);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 0);

	CHECK_EQ(fx_ack(n, 2, 2), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 2);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 0);
	CHECK(fx_find(b, PGR_MSG_HEARTBEAT, 3) != NULL);
	seq = fx_find(b, PGR_MSG_HEARTBEAT, 3)->context;
	CHECK(seq > 0);
	r = hb_resp(n, 3, seq);
	CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 1);
	CHECK_EQ(b->reads[0].context, 7);
	CHECK_EQ(b->reads[0].index, 2);
}

/* A single voter is its own majority: the read completes at once. */
static void
test_single_voter_read_index_completes_at_once(void)
{
	struct pgr_node *n = fx_node(1, 1, 10, 1);
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(pgr_node_campaign(n), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
	CHECK_EQ(pgr_node_read_index(n, 5), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 1);
	CHECK_EQ(b->reads[0].context, 5);
	CHECK_EQ(b->reads[0].index, 2);
	CHECK(!b->reads[0].failed);
	CHECK_EQ(fx_count(b, PGR_MSG_HEARTBEAT, 0), 0);
}

/*
 * A follower forwards the read to the leader, which confirms it and
 * answers with its read index; the follower then reports the read.
 */
static void
test_follower_read_index_is_answered_by_the_leader(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct fx_net net;
	uint64_t lead;
	uint64_t f;
	uint8_t d[1] = {'r'};
	uint64_t idx;
	struct fx_batch *b;

	CHECK(fx_net_cluster(&net, 3, &o));
	lead = fx_net_elect(&net, 100);
	CHECK(lead != 0);
	f = lead == 1 ? 2 : 1;
	CHECK_EQ(pgr_node_propose(net.nodes[lead], d, 1, &idx), PGR_OK);
	fx_net_run(&net);

	CHECK_EQ(pgr_node_read_index(net.nodes[f], 99), PGR_OK);
	b = fx_ready(net.nodes[f]);
	CHECK_EQ(b->n_msgs, 1);
	CHECK_EQ(b->msgs[0].type, PGR_MSG_READ_INDEX);
	CHECK_EQ(b->msgs[0].to, lead);
	CHECK_EQ(b->msgs[0].context, 99);
	fx_net_push(&net, &b->msgs[0]);
	fx_net_run(&net);
	CHECK_EQ(net.n_reads[f], 1);
	CHECK_EQ(net.reads[f][0].context, 99);
	CHECK_EQ(net.reads[f][0].index, idx);
	CHECK(!net.reads[f][0].failed);
	CHECK_EQ(net.n_reads[lead], 0);
	fx_net_free(&net);
}

/*
 * Reads the leader could not confirm fail when it loses leadership: its own
 * are reported failed, a follower's is answered with a rejection, which the
 * follower reports as failed.
 */
static void
test_pending_reads_fail_when_the_leader_steps_down(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_node *f = fx_node(2, 3, 10, 1);
	struct pgr_msg m;
	struct pgr_msg resp;
	struct fx_batch *b;
	const struct pgr_msg *rr;

	CHECK(n != NULL && f != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(fx_heartbeat_from(f, 1, n->term), PGR_OK);
	CHECK_EQ(pgr_node_read_index(n, 11), PGR_OK);
	CHECK_EQ(pgr_node_read_index(f, 22), PGR_OK);
	b = fx_ready(f);
	CHECK_EQ(pgr_node_step(n, fx_find(b, PGR_MSG_READ_INDEX, 1)), PGR_OK);
	fx_settle(n);

	/* a higher term: no longer leader */
	m = fx_msg(PGR_MSG_APP, 3, 1, n->term + 1);
	m.index = 2;
	m.log_term = n->term;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 1);
	CHECK_EQ(b->reads[0].context, 11);
	CHECK(b->reads[0].failed);
	rr = fx_find(b, PGR_MSG_READ_INDEX_RESP, 2);
	CHECK(rr != NULL);
	CHECK(rr->reject);
	CHECK_EQ(rr->context, 22);
	resp = *rr;
	CHECK_EQ(pgr_node_step(f, &resp), PGR_OK);
	b = fx_ready(f);
	CHECK_EQ(b->n_reads, 1);
	CHECK_EQ(b->reads[0].context, 22);
	CHECK(b->reads[0].failed);
}

static void
test_read_index_needs_a_known_member_and_a_leader(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_node *l = fx_node(2, 3, 10, 1);
	struct pgr_msg m;

	CHECK(n != NULL && l != NULL);
	CHECK_EQ(pgr_node_read_index(n, 1), PGR_ENOLEADER);
	CHECK(!pgr_node_has_ready(n));
	CHECK_EQ(fx_make_leader(l, true), PGR_OK);
	m = fx_msg(PGR_MSG_READ_INDEX, 9, 2, 0);
	CHECK_EQ(pgr_node_step(l, &m), PGR_EUNKNOWN_NODE);
	CHECK(!pgr_node_has_ready(l));
}

/* ---------------------------------------------------------------------- */
/* Leadership transfer                                                    */
/* ---------------------------------------------------------------------- */

/* An up-to-date target is told to campaign at once. */
static void
test_transfer_to_an_up_to_date_follower_sends_timeout_now(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_transfer_leadership(n, 2), PGR_OK);
	CHECK_EQ(fx_status(n).lead_transferee, 2);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_TIMEOUT_NOW, 2), 1);
	CHECK_EQ(fx_count(b, PGR_MSG_TIMEOUT_NOW, 3), 0);
}

/* A lagging target is first brought up to date, then told. */
static void
test_transfer_brings_a_lagging_target_up_to_date_first(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t d[1] = {'t'};
	uint64_t idx;
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	fx_settle(n);
	CHECK_EQ(fx_ack(n, 3, idx), PGR_OK);
	fx_settle(n);
	CHECK_EQ(pgr_node_transfer_leadership(n, 2), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_TIMEOUT_NOW, 0), 0);
	CHECK_EQ(fx_ack(n, 2, idx - 1), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_TIMEOUT_NOW, 0), 0);
	CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_TIMEOUT_NOW, 2), 1);
}

/*
 * TimeoutNow makes the target campaign at once (no pre-vote), and its
 * vote requests are honoured by nodes that just heard from the leader:
 * the target wins the next term and the old leader follows it.
 */
static void
test_transfer_target_campaigns_and_wins(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct fx_net net;
	uint64_t lead;
	uint64_t target;
	uint64_t term;
	uint8_t d[1] = {'w'};
	uint64_t idx;

	CHECK(fx_net_cluster(&net, 3, &o));
	lead = fx_net_elect(&net, 100);
	CHECK(lead != 0);
	term = net.nodes[lead]->term;
	target = lead == 3 ? 1 : lead + 1;
	CHECK_EQ(pgr_node_propose(net.nodes[lead], d, 1, &idx), PGR_OK);
	fx_net_run(&net);
	CHECK_EQ(pgr_node_transfer_leadership(net.nodes[lead], target), PGR_OK);
	fx_net_run(&net);
	CHECK_EQ(fx_net_leader(&net), target);
	CHECK_EQ(net.nodes[target]->term, term + 1);
	CHECK_EQ(fx_status(net.nodes[lead]).role, PGR_ROLE_FOLLOWER);
	CHECK_EQ(fx_status(net.nodes[lead]).leader, target);
	CHECK_EQ(fx_status(net.nodes[lead]).lead_transferee, PGR_NONE);
	/* the new leader serves proposals */
	CHECK_EQ(pgr_node_propose(net.nodes[target], d, 1, &idx), PGR_OK);
	fx_net_run(&net);
	CHECK_EQ(fx_status(net.nodes[lead]).commit, idx);
	fx_net_free(&net);
}

/*
 * During a transfer the leader refuses proposals and membership changes
 * (they could keep the target from catching up); if the target has not
 * taken over within an election timeout, the transfer is abandoned.
 */
static void
test_transfer_refuses_proposals_and_aborts_after_an_election_timeout(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t d[1] = {'a'};
	uint64_t idx;
	struct pgr_conf_change cc;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_transfer_leadership(n, 2), PGR_OK);
	fx_settle(n);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_EBUSY);
	memset(&cc, 0, sizeof(cc));
	cc.type = PGR_CC_ADD_LEARNER;
	cc.node_id = 4;
	CHECK_EQ(pgr_node_propose_conf_change(n, &cc, &idx), PGR_EBUSY);
	/* node 3 keeps the leader alive; TimeoutNow to 2 was lost */
	for (int i = 0; i < 10; i++)
	{
		struct pgr_msg r = hb_resp(n, 3, 0);

		CHECK_EQ(fx_status(n).lead_transferee, 2);
		CHECK_EQ(pgr_node_tick(n), PGR_OK);
		fx_settle(n);
		(void) pgr_node_step(n, &r);
		fx_settle(n);
	}
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
	CHECK_EQ(fx_status(n).lead_transferee, PGR_NONE);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
}

static void
test_transfer_to_a_learner_or_a_stranger_is_refused(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_config c;
	uint64_t t = 1;
	struct pgr_node *n;
	struct fx_batch *b;

	fx_conf(&c, 2, 1);
	n = fx_node_log(&o, &c, 1, PGR_NONE, 1, &t, 1);
	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_transfer_leadership(n, 3), PGR_EINVAL);
	CHECK_EQ(pgr_node_transfer_leadership(n, 9), PGR_ENOENT);
	CHECK_EQ(pgr_node_transfer_leadership(n, PGR_NONE), PGR_EINVAL);
	CHECK_EQ(fx_status(n).lead_transferee, PGR_NONE);
	CHECK_EQ(pgr_node_transfer_leadership(n, 1), PGR_OK); /* already */
	CHECK_EQ(fx_status(n).lead_transferee, PGR_NONE);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_TIMEOUT_NOW, 0), 0);

	/* a learner that gets TimeoutNow from its leader anyway does not campaign */
	o.id = 3;
	n = fx_node_log(&o, &c, 2, PGR_NONE, 1, &t, 1);
	CHECK(n != NULL);
	CHECK_EQ(fx_heartbeat_from(n, 1, 2), PGR_OK);
	{
		struct pgr_msg m = fx_msg(PGR_MSG_TIMEOUT_NOW, 1, 3, 2);

		CHECK_EQ(pgr_node_step(n, &m), PGR_EIGNORED);
	}
	CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
	CHECK_EQ(fx_status(n).term, 2);
}

/* A follower forwards a transfer request to its leader, which starts it. */
static void
test_follower_forwards_a_transfer_request(void)
{
	struct pgr_node *f = fx_node(2, 3, 10, 1);
	struct pgr_node *l = fx_node(1, 3, 10, 1);
	struct fx_batch *b;
	const struct pgr_msg *m;

	CHECK(f != NULL && l != NULL);
	CHECK_EQ(pgr_node_transfer_leadership(f, 3), PGR_ENOLEADER);
	CHECK_EQ(fx_make_leader(l, true), PGR_OK);
	CHECK_EQ(fx_heartbeat_from(f, 1, l->term), PGR_OK);
	CHECK_EQ(pgr_node_transfer_leadership(f, 3), PGR_OK);
	b = fx_ready(f);
	m = fx_find(b, PGR_MSG_TRANSFER_LEADER, 1);
	CHECK(m != NULL);
	CHECK_EQ(m->index, 3);
	CHECK_EQ(pgr_node_step(l, m), PGR_OK);
	CHECK_EQ(fx_status(l).lead_transferee, 3);
	b = fx_ready(l);
	CHECK_EQ(fx_count(b, PGR_MSG_TIMEOUT_NOW, 3), 1);
}

/*
 * The successor a leader hands over to (when it stops or is removed): a
 * voter heard from within the election timeout, with the longest log, the
 * one heard from last among equals; never a learner, never on a follower.
 */
static void
test_successor_is_the_live_voter_with_the_longest_log(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_config c;
	uint64_t t = 1;
	struct pgr_node *n = fx_node(1, 5, 10, 1);
	uint8_t d[1] = {'s'};
	uint64_t idx;

	CHECK(n != NULL);
	CHECK_EQ(pgr_node_successor(n), PGR_NONE); /* not leading */
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	fx_settle(n);
	CHECK_EQ(fx_ack(n, 3, idx), PGR_OK);
	fx_settle(n);
	CHECK_EQ(pgr_node_successor(n), 3);
	/* 5 catches up too and is heard from after 3 */
	CHECK_EQ(pgr_node_tick(n), PGR_OK);
	fx_settle(n);
	CHECK_EQ(fx_ack(n, 5, idx), PGR_OK);
	fx_settle(n);
	CHECK_EQ(pgr_node_successor(n), 5);
	/* then 5 falls silent for an election timeout: no longer alive */
	for (int i = 0; i < 10; i++)
	{
		CHECK_EQ(pgr_node_tick(n), PGR_OK);
		fx_settle(n);
		for (uint64_t f = 2; f <= 4; f++)
		{
			struct pgr_msg r = hb_resp(n, f, 0);

			(void) pgr_node_step(n, &r);
			fx_settle(n);
		}
	}
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
	CHECK_EQ(pgr_node_successor(n), 3);

	/* a learner with a longer log is passed over for a voter */
	fx_conf(&c, 2, 1);
	n = fx_node_log(&o, &c, 1, PGR_NONE, 1, &t, 1);
	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	fx_settle(n);
	CHECK_EQ(fx_ack(n, 3, idx), PGR_OK);
	fx_settle(n);
	CHECK_EQ(pgr_node_successor(n), 2);
}

static const struct test_case cases[] = {
	TEST(test_leader_read_index_waits_for_a_heartbeat_quorum),
	TEST(test_leader_read_index_waits_for_a_commit_in_its_term),
	TEST(test_single_voter_read_index_completes_at_once),
	TEST(test_follower_read_index_is_answered_by_the_leader),
	TEST(test_pending_reads_fail_when_the_leader_steps_down),
	TEST(test_read_index_needs_a_known_member_and_a_leader),
	TEST(test_transfer_to_an_up_to_date_follower_sends_timeout_now),
	TEST(test_transfer_brings_a_lagging_target_up_to_date_first),
	TEST(test_transfer_target_campaigns_and_wins),
	TEST(test_transfer_refuses_proposals_and_aborts_after_an_election_timeout),
	TEST(test_transfer_to_a_learner_or_a_stranger_is_refused),
	TEST(test_follower_forwards_a_transfer_request),
	TEST(test_successor_is_the_live_voter_with_the_longest_log),
};

FX_MAIN(cases)
