/*-------------------------------------------------------------------------
 *
 * test_raft_election.c
 *		Election features beyond the paper's section 5.2: deterministic
 *		randomized timeouts, PreVote, CheckQuorum, and restarts that never
 *		let term or vote go backwards.
 *
 * PreVote and CheckQuorum are the dissertation's section 9.6 (and etcd's
 * implementation of it): a node asks whether it could win before bumping
 * its term, and nodes that heard from a live leader within the election
 * timeout refuse; a leader that has not heard from a majority within an
 * election timeout steps down.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_raft_election.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft_fixture.h"

/* Tick until the node starts an election; returns the ticks used, or -1. */
static int
ticks_to_election(struct pgr_node *n, int max)
{
	uint64_t started = n->pre_votes_started + n->elections_started;

	for (int i = 1; i <= max; i++)
	{
		if (pgr_node_tick(n) != PGR_OK)
			return -1;
		if (n->pre_votes_started + n->elections_started != started)
			return i;
	}
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Randomized timeouts: drawn from [T, 2T) by a PRNG the caller seeds, so  */
/* the same seed replays the same timeline (the simulator relies on it).  */
/* ---------------------------------------------------------------------- */

static void
test_election_timeouts_depend_only_on_the_seed(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_node *a;
	struct pgr_node *b;
	struct pgr_node *c;
	bool differs = false;

	a = fx_node_opts(&o, 3);
	b = fx_node_opts(&o, 3);
	o.seed = 99;
	c = fx_node_opts(&o, 3);
	CHECK(a != NULL && b != NULL && c != NULL);
	for (int round = 0; round < 30; round++)
	{
		int ta = ticks_to_election(a, 40);
		int tb = ticks_to_election(b, 40);
		int tc = ticks_to_election(c, 40);

		CHECK(ta >= 10 && ta < 20);
		CHECK_EQ(ta, tb);
		CHECK(tc >= 10 && tc < 20);
		if (ta != tc)
			differs = true;
		/* back to follower for the next round */
		pgr_become_follower(a, a->term, PGR_NONE);
		pgr_become_follower(b, b->term, PGR_NONE);
		pgr_become_follower(c, c->term, PGR_NONE);
	}
	CHECK(differs);
}

/* ---------------------------------------------------------------------- */
/* PreVote                                                                */
/* ---------------------------------------------------------------------- */

/*
 * A timed-out follower becomes pre-candidate: it asks for votes in term+1
 * but neither increments its term nor votes, so nothing needs persisting
 * and nobody's term moves.
 */
static void
test_pre_candidate_does_not_bump_its_term(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK(ticks_to_election(n, 20) > 0);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_PRE_CANDIDATE);
	CHECK_EQ(fx_status(n).term, 1);
	CHECK_EQ(fx_status(n).vote, PGR_NONE);
	b = fx_ready(n);
	CHECK(!b->has_hard_state);
	CHECK(!b->must_sync);
	CHECK_EQ(b->n_msgs, 2);
	for (uint64_t to = 2; to <= 3; to++)
	{
		const struct pgr_msg *m = fx_find(b, PGR_MSG_PRE_VOTE, to);

		CHECK(m != NULL);
		CHECK_EQ(m->term, 2);
		CHECK_EQ(m->index, 1);
		CHECK_EQ(m->log_term, 1);
	}
}

/* A majority of pre-votes: now campaign for real in term+1. */
static void
test_pre_candidate_campaigns_after_a_majority_of_pre_votes(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_msg m;
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK(ticks_to_election(n, 20) > 0);
	fx_settle(n);
	/* a grant for another pre-election term is not counted */
	m = fx_msg(PGR_MSG_PRE_VOTE_RESP, 2, 1, 3);
	(void) pgr_node_step(n, &m);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_PRE_CANDIDATE);
	m = fx_msg(PGR_MSG_PRE_VOTE_RESP, 2, 1, 2);
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_CANDIDATE);
	CHECK_EQ(fx_status(n).term, 2);
	CHECK_EQ(fx_status(n).vote, 1);
	b = fx_ready(n);
	CHECK(b->must_sync);
	CHECK_EQ(fx_count(b, PGR_MSG_VOTE, 0), 2);
	CHECK_EQ(fx_find(b, PGR_MSG_VOTE, 2)->term, 2);
}

/*
 * The counters an operator alerts on: a pre-election is won when a
 * majority grants it (then the election starts), an election when a
 * majority votes; rejections win nothing.
 */
static void
test_won_pre_votes_and_elections_are_counted(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_msg m;

	CHECK(n != NULL);
	CHECK(ticks_to_election(n, 20) > 0);
	fx_settle(n);
	CHECK_EQ(fx_status(n).pre_votes_started, 1);
	CHECK_EQ(fx_status(n).pre_votes_won, 0);
	m = fx_msg(PGR_MSG_PRE_VOTE_RESP, 2, 1, 2);
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).pre_votes_won, 1);
	CHECK_EQ(fx_status(n).elections_started, 1);
	CHECK_EQ(fx_status(n).elections_won, 0);
	fx_settle(n);
	m = fx_msg(PGR_MSG_VOTE_RESP, 3, 1, 2);
	m.reject = true;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).elections_won, 0);
	m = fx_msg(PGR_MSG_VOTE_RESP, 2, 1, 2);
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
	CHECK_EQ(fx_status(n).elections_won, 1);
	CHECK_EQ(fx_status(n).pre_votes_won, 1);
}

/* Pre-vote rejections end the pre-election without touching the term. */
static void
test_pre_candidate_gives_up_on_rejections(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_msg m;

	CHECK(n != NULL);
	CHECK(ticks_to_election(n, 20) > 0);
	fx_settle(n);
	m = fx_msg(PGR_MSG_PRE_VOTE_RESP, 2, 1, 1);
	m.reject = true;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	m.from = 3;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
	CHECK_EQ(fx_status(n).term, 1);
	CHECK_EQ(fx_status(n).vote, PGR_NONE);
}

/*
 * A pre-vote request never changes the receiver: it answers for the
 * proposed term but keeps its own term and vote.
 */
static void
test_pre_vote_request_leaves_the_voter_unchanged(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_msg m;
	struct fx_batch *b;

	CHECK(n != NULL);
	m = fx_msg(PGR_MSG_PRE_VOTE, 2, 1, 5);
	m.index = 1;
	m.log_term = 1;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).term, 1);
	CHECK_EQ(fx_status(n).vote, PGR_NONE);
	b = fx_ready(n);
	CHECK(!b->has_hard_state);
	CHECK_EQ(b->n_msgs, 1);
	CHECK_EQ(b->msgs[0].type, PGR_MSG_PRE_VOTE_RESP);
	CHECK(!b->msgs[0].reject);
	CHECK_EQ(b->msgs[0].term, 5);

	/* an out-of-date log is refused a pre-vote too */
	m.log_term = 0;
	m.index = 0;
	m.term = 6;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_msgs, 1);
	CHECK(b->msgs[0].reject);
	CHECK_EQ(fx_status(n).term, 1);
}

/*
 * A node that heard from a live leader less than an election timeout ago
 * ignores pre-votes and votes for a higher term (and does not adopt that
 * term), unless the leader itself asked for the election (transfer).  Once
 * the leader has been silent for an election timeout, it answers again.
 */
static void
test_node_that_heard_from_a_leader_ignores_pre_votes_and_votes(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_msg m;
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(fx_heartbeat_from(n, 2, 2), PGR_OK);
	CHECK_EQ(fx_status(n).leader, 2);

	m = fx_msg(PGR_MSG_PRE_VOTE, 3, 1, 3);
	m.index = 1;
	m.log_term = 1;
	CHECK_EQ(pgr_node_step(n, &m), PGR_EIGNORED);
	m.type = PGR_MSG_VOTE;
	CHECK_EQ(pgr_node_step(n, &m), PGR_EIGNORED);
	CHECK_EQ(fx_status(n).term, 2);
	CHECK_EQ(fx_status(n).vote, PGR_NONE);
	CHECK_EQ(fx_status(n).leader, 2);
	CHECK(!pgr_node_has_ready(n));

	/* a leadership transfer's election is not held off */
	m.force = true;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).term, 3);
	CHECK_EQ(fx_status(n).vote, 3);
	b = fx_ready(n);
	CHECK_EQ(b->n_msgs, 1);
	CHECK(!b->msgs[0].reject);

	/* silence for an election timeout: the lease is over */
	n = fx_node(1, 3, 10, 1);
	CHECK(n != NULL);
	CHECK_EQ(fx_heartbeat_from(n, 2, 2), PGR_OK);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(pgr_node_tick(n), PGR_OK);
	fx_settle(n);
	m = fx_msg(PGR_MSG_PRE_VOTE, 3, 1, 3);
	m.index = 1;
	m.log_term = 1;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_PRE_VOTE_RESP, 3), 1);
	CHECK(!fx_find(b, PGR_MSG_PRE_VOTE_RESP, 3)->reject);
}

/*
 * A follower cut off from the cluster keeps timing out, but its pre-votes
 * never reach a majority, so its term never moves; when it comes back the
 * leader stays leader in the same term.
 */
static void
test_partitioned_node_rejoining_does_not_disrupt_the_leader(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct fx_net net;
	uint64_t lead;
	uint64_t iso;
	uint64_t term;

	CHECK(fx_net_cluster(&net, 3, &o));
	lead = fx_net_elect(&net, 100);
	CHECK(lead != 0);
	term = net.nodes[lead]->term;
	iso = lead == 3 ? 2 : 3;
	fx_net_isolate(&net, iso, true);
	for (int i = 0; i < 100; i++)
		fx_net_tick(&net);
	/* it pre-votes again and again, and never gets to a real election */
	CHECK(net.nodes[iso]->pre_votes_started > 0);
	CHECK_EQ(net.nodes[iso]->elections_started, 0);
	CHECK_EQ(fx_status(net.nodes[iso]).pre_votes_started, net.nodes[iso]->pre_votes_started);
	CHECK_EQ(net.nodes[iso]->term, term);
	CHECK_EQ(fx_net_leader(&net), lead);

	fx_net_isolate(&net, iso, false);
	for (int i = 0; i < 30; i++)
		fx_net_tick(&net);
	CHECK_EQ(fx_net_leader(&net), lead);
	CHECK_EQ(net.nodes[lead]->term, term);
	CHECK_EQ(fx_status(net.nodes[iso]).leader, lead);
	CHECK_EQ(fx_status(net.nodes[iso]).role, PGR_ROLE_FOLLOWER);
	fx_net_free(&net);
}

/* ---------------------------------------------------------------------- */
/* CheckQuorum                                                            */
/* ---------------------------------------------------------------------- */

/*
 * A leader that has not heard from a majority for an election timeout
 * steps down (it may be on the minority side of a partition), in the same
 * term; with CheckQuorum off it keeps leading.
 */
static void
test_leader_steps_down_without_hearing_from_a_majority(void)
{
	for (int off = 0; off <= 1; off++)
	{
		struct pgr_options o = fx_opts(1, 10, 1);
		struct pgr_node *n;
		uint64_t term;

		o.disable_check_quorum = off;
		n = fx_node_opts(&o, 3);
		CHECK(n != NULL);
		CHECK_EQ(fx_make_leader(n, true), PGR_OK);
		term = n->term;
		/* the first check only clears the activity flags set by the acks */
		for (int i = 0; i < 20; i++)
			CHECK_EQ(pgr_node_tick(n), PGR_OK);
		fx_settle(n);
		if (off)
			CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
		else
		{
			CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
			CHECK_EQ(fx_status(n).leader, PGR_NONE);
		}
		CHECK_EQ(fx_status(n).term, term);
	}
}

/* One live follower of a 3-node cluster is a majority; of 5, it is not. */
static void
test_leader_with_a_live_majority_keeps_leading(void)
{
	static const struct
	{
		uint32_t size;
		bool stays;
	} cases[] = {{3, true}, {5, false}};

	for (int c = 0; c < 2; c++)
	{
		struct pgr_node *n = fx_node(1, cases[c].size, 10, 1);

		CHECK(n != NULL);
		CHECK_EQ(fx_make_leader(n, true), PGR_OK);
		for (int i = 0; i < 40 && n->role == PGR_ROLE_LEADER; i++)
		{
			struct pgr_msg r = fx_msg(PGR_MSG_HEARTBEAT_RESP, 2, 1, n->term);

			CHECK_EQ(pgr_node_tick(n), PGR_OK);
			fx_settle(n);
			(void) pgr_node_step(n, &r);
			fx_settle(n);
		}
		CHECK_EQ(fx_status(n).role == PGR_ROLE_LEADER, cases[c].stays);
	}
}

/* ---------------------------------------------------------------------- */
/* Restart: term and vote are persisted before anything leaves, and a     */
/* node rebuilt from them never goes back nor votes twice in one term.     */
/* ---------------------------------------------------------------------- */

static void
test_restarted_node_does_not_vote_twice_in_a_term(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_config c;
	uint64_t t = 1;
	struct pgr_node *n;
	struct pgr_msg m;
	struct fx_batch *b;
	struct pgr_hard_state hs;

	fx_conf(&c, 3, 0);
	n = fx_node_log(&o, &c, 1, PGR_NONE, 1, &t, 1);
	CHECK(n != NULL);
	m = fx_msg(PGR_MSG_VOTE, 2, 1, 5);
	m.index = 1;
	m.log_term = 1;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	b = fx_ready(n);
	CHECK(b->has_hard_state && b->must_sync);
	CHECK_EQ(b->hs.term, 5);
	CHECK_EQ(b->hs.vote, 2);
	CHECK(!fx_find(b, PGR_MSG_VOTE_RESP, 2)->reject);
	hs = b->hs;
	fx_node_free(n);

	/* crash; restart from what was persisted */
	n = fx_node_log(&o, &c, hs.term, hs.vote, hs.commit, &t, 1);
	CHECK(n != NULL);
	CHECK_EQ(fx_status(n).term, 5);
	CHECK_EQ(fx_status(n).vote, 2);
	m = fx_msg(PGR_MSG_VOTE, 3, 1, 5);
	m.index = 1;
	m.log_term = 1;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	b = fx_ready(n);
	CHECK(fx_find(b, PGR_MSG_VOTE_RESP, 3) != NULL);
	CHECK(fx_find(b, PGR_MSG_VOTE_RESP, 3)->reject);
	CHECK_EQ(fx_status(n).vote, 2);
	/* the candidate it voted for may ask again */
	m.from = 2;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	b = fx_ready(n);
	CHECK(!fx_find(b, PGR_MSG_VOTE_RESP, 2)->reject);
}

/* Messages of older terms never move the term back, on any role. */
static void
test_term_never_goes_backwards(void)
{
	static const uint32_t types[] = {
		PGR_MSG_APP,         PGR_MSG_APP_RESP,        PGR_MSG_VOTE,      PGR_MSG_VOTE_RESP,
		PGR_MSG_PRE_VOTE,    PGR_MSG_PRE_VOTE_RESP,   PGR_MSG_HEARTBEAT, PGR_MSG_HEARTBEAT_RESP,
		PGR_MSG_TIMEOUT_NOW, PGR_MSG_READ_INDEX_RESP,
	};

	for (int role = 0; role < 3; role++)
	{
		struct pgr_options o = fx_opts(1, 10, 1);
		struct pgr_config c;
		uint64_t t = 1;
		struct pgr_node *n;

		fx_conf(&c, 3, 0);
		n = fx_node_log(&o, &c, 5, 3, 1, &t, 1);
		CHECK(n != NULL);
		if (role == 1)
			CHECK_EQ(pgr_become_candidate(n), PGR_OK);
		else if (role == 2)
			CHECK_EQ(fx_make_leader(n, true), PGR_OK);
		fx_settle(n);
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		{
			struct pgr_msg m = fx_msg(types[i], 2, 1, 4);
			uint64_t term = n->term;
			struct fx_batch *b;

			m.index = 1;
			m.log_term = 1;
			(void) pgr_node_step(n, &m);
			CHECK_EQ(n->term, term);
			b = fx_ready(n);
			CHECK(!b->has_hard_state || b->hs.term >= term);
		}
	}
}

/*
 * A connection reset (the weak signal) leaves a follower with its leader and
 * its lease: every follower of a leader-side blip sees one at the same
 * moment, and they must not elect a new leader while the old one still
 * has its quorum (issue 7, scenario 2: 131 of 200 modelled blips moved
 * leadership when a reset made followers forget their leader).
 */
static void
test_connection_reset_keeps_the_leader_and_its_lease(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_msg pv = fx_msg(PGR_MSG_PRE_VOTE, 3, 1, 3);
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(fx_heartbeat_from(n, 2, 2), PGR_OK);
	CHECK_EQ(pgr_node_report_unreachable(n, 2), PGR_EIGNORED);
	CHECK_EQ(fx_status(n).leader, 2);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
	CHECK(!pgr_node_has_ready(n));
	/* and a pre-vote from the other follower is still refused by the lease */
	pv.index = 1;
	pv.log_term = 1;
	CHECK_EQ(pgr_node_step(n, &pv), PGR_EIGNORED);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_PRE_VOTE_RESP, 0), 0);
}

/*
 * The strong signal (the leader's port refused a new connection: its
 * process is gone): forget it and pre-vote soon.  Being a pre-vote, a false
 * alarm moves no term.  Reports about other nodes change nothing.
 */
static void
test_leader_down_triggers_a_pre_vote(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(fx_heartbeat_from(n, 2, 2), PGR_OK);
	CHECK_EQ(pgr_node_report_peer_down(n, 3), PGR_EIGNORED);
	CHECK_EQ(fx_status(n).leader, 2);
	CHECK(!pgr_node_has_ready(n));
	CHECK_EQ(pgr_node_report_peer_down(n, 2), PGR_OK);
	CHECK_EQ(fx_status(n).leader, PGR_NONE);
	/* within a quarter of the election timeout */
	for (int i = 0; i < 3 && fx_status(n).role == PGR_ROLE_FOLLOWER; i++)
		CHECK_EQ(pgr_node_tick(n), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_PRE_CANDIDATE);
	CHECK_EQ(fx_status(n).term, 2);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_PRE_VOTE, 0), 2);
	CHECK(!b->has_hard_state);
}

/* A voter's repeated grant (a duplicated message) counts once. */
static void
test_duplicate_vote_grants_count_once(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_node *n;
	struct pgr_msg m;

	o.disable_pre_vote = true;
	n = fx_node_opts(&o, 5);
	CHECK(n != NULL);
	CHECK_EQ(pgr_node_campaign(n), PGR_OK);
	m = fx_msg(PGR_MSG_VOTE_RESP, 2, 1, n->term);
	for (int i = 0; i < 3; i++)
		(void) pgr_node_step(n, &m);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_CANDIDATE);
	/* a voter that first refused and then grants is still a refusal */
	m.from = 3;
	m.reject = true;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	m.reject = false;
	(void) pgr_node_step(n, &m);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_CANDIDATE);
	m.from = 4;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
}

static const struct test_case cases[] = {
	TEST(test_election_timeouts_depend_only_on_the_seed),
	TEST(test_pre_candidate_does_not_bump_its_term),
	TEST(test_pre_candidate_campaigns_after_a_majority_of_pre_votes),
	TEST(test_won_pre_votes_and_elections_are_counted),
	TEST(test_pre_candidate_gives_up_on_rejections),
	TEST(test_pre_vote_request_leaves_the_voter_unchanged),
	TEST(test_node_that_heard_from_a_leader_ignores_pre_votes_and_votes),
	TEST(test_partitioned_node_rejoining_does_not_disrupt_the_leader),
	TEST(test_leader_steps_down_without_hearing_from_a_majority),
	TEST(test_leader_with_a_live_majority_keeps_leading),
	TEST(test_restarted_node_does_not_vote_twice_in_a_term),
	TEST(test_term_never_goes_backwards),
	TEST(test_connection_reset_keeps_the_leader_and_its_lease),
	TEST(test_leader_down_triggers_a_pre_vote),
	TEST(test_duplicate_vote_grants_count_once),
};

FX_MAIN(cases)
