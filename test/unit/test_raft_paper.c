/*-------------------------------------------------------------------------
 *
 * test_raft_paper.c
 *		The Raft paper's rules, scenario by scenario (sections 5.1 to 5.4 of
 *		Ongaro & Ousterhout), re-expressed against pgraft's core.
 *
 * The scenarios are the 26 of etcd-io/raft's raft_paper_test.go (listed in
 * shared/reference/raft-paper-tests.md); each test carries the etcd name in
 * snake case.  Assertions follow the paper's rule, not etcd's code.
 *
 * Differences from the paper that the tests account for:
 *	- every log starts with a configuration entry at index 1, term 1 (the
 *	  cluster is known from the log), so the paper's first entry is index 2;
 *	- PreVote and CheckQuorum are on by default; scenarios about plain Raft
 *	  elections turn them off (opts.disable_pre_vote, disable_check_quorum)
 *	  and say so;
 *	- a new leader appends an empty entry of its term (as in the
 *	  dissertation and etcd).
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_raft_paper.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft_fixture.h"

/* Plain Raft: no PreVote, no CheckQuorum. */
static struct pgr_options
plain_opts(uint64_t id, uint32_t et, uint32_t ht)
{
	struct pgr_options o = fx_opts(id, et, ht);

	o.disable_pre_vote = true;
	o.disable_check_quorum = true;
	return o;
}

/* ---------------------------------------------------------------------- */
/* 5.1: terms.  "If one server's current term is smaller than the other's, */
/* then it updates its current term to the larger value.  If a candidate  */
/* or leader discovers that its term is out of date, it immediately       */
/* reverts to follower state."                                            */
/* ---------------------------------------------------------------------- */

/* Put n (term 1) in role, step an append from 2 at a higher term, check. */
static void
check_update_term_from_message(enum pgr_role role)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_msg m;
	struct pgr_status st;
	uint64_t higher;

	CHECK(n != NULL);
	if (role == PGR_ROLE_CANDIDATE)
		CHECK_EQ(pgr_become_candidate(n), PGR_OK);
	else if (role == PGR_ROLE_LEADER)
		CHECK_EQ(fx_make_leader(n, false), PGR_OK);
	fx_settle(n);
	CHECK_EQ(fx_status(n).role, role);
	higher = n->term + 1;

	m = fx_msg(PGR_MSG_APP, 2, 1, higher);
	m.index = 1;
	m.log_term = 1;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	st = fx_status(n);
	CHECK_EQ(st.term, higher);
	CHECK_EQ(st.role, PGR_ROLE_FOLLOWER);
	CHECK_EQ(st.leader, 2);
	CHECK_EQ(st.vote, PGR_NONE);
}

static void
test_follower_update_term_from_message(void)
{
	check_update_term_from_message(PGR_ROLE_FOLLOWER);
}

static void
test_candidate_update_term_from_message(void)
{
	check_update_term_from_message(PGR_ROLE_CANDIDATE);
}

static void
test_leader_update_term_from_message(void)
{
	check_update_term_from_message(PGR_ROLE_LEADER);
}

/*
 * "If a server receives a request with a stale term number, it rejects the
 * request."  The request must have no effect: nothing appended, no commit
 * learned, no leader adopted.  Plain Raft simply drops it; with PreVote or
 * CheckQuorum on, the node answers with its own (higher) term so the stale
 * leader steps down, but still accepts nothing.
 */
static void
test_reject_stale_term_message(void)
{
	for (int plain = 0; plain <= 1; plain++)
	{
		struct pgr_options o = plain ? plain_opts(1, 10, 1) : fx_opts(1, 10, 1);
		struct pgr_config c;
		uint64_t terms[] = {1, 1};
		struct pgr_node *n;
		struct pgr_msg m;
		struct pgr_entry e = {.term = 1, .index = 3, .type = PGR_ENTRY_NORMAL};
		struct pgr_status before;
		struct pgr_status after;
		struct fx_batch *b;

		fx_conf(&c, 3, 0);
		n = fx_node_log(&o, &c, 2, PGR_NONE, 1, terms, 2);
		CHECK(n != NULL);
		before = fx_status(n);
		m = fx_msg(PGR_MSG_APP, 2, 1, 1);
		m.index = 2;
		m.log_term = 1;
		m.commit = 3;
		m.n_entries = 1;
		m.entries = &e;
		CHECK_EQ(pgr_node_step(n, &m), PGR_EIGNORED);
		after = fx_status(n);
		CHECK(fx_same_state(&before, &after));
		CHECK_EQ(after.last_index, 2);
		CHECK_EQ(after.commit, 1);
		b = fx_ready(n);
		CHECK_EQ(b->n_entries, 0);
		CHECK_EQ(b->n_committed, 0);
		if (plain)
			CHECK_EQ(b->n_msgs, 0);
		else
		{
			/* The only answer tells the sender our newer term. */
			CHECK_EQ(b->n_msgs, 1);
			CHECK_EQ(b->msgs[0].type, PGR_MSG_APP_RESP);
			CHECK_EQ(b->msgs[0].to, 2);
			CHECK_EQ(b->msgs[0].term, 2);
			CHECK_EQ(b->msgs[0].index, 0);
		}
	}
}

/* ---------------------------------------------------------------------- */
/* 5.2: leader election                                                   */
/* ---------------------------------------------------------------------- */

/* "When servers start up, they begin as followers." */
static void
test_start_as_follower(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_node *n = NULL;
	struct pgr_config c;

	CHECK_EQ(pgr_node_new(&o, NULL, &n), PGR_OK);
	fx_register(n);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
	CHECK_EQ(fx_status(n).term, 0);
	fx_conf(&c, 3, 0);
	CHECK_EQ(pgr_node_bootstrap(n, &c), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
	CHECK_EQ(fx_status(n).leader, PGR_NONE);

	/* and so does a node restarted from a log */
	n = fx_node(1, 3, 10, 1);
	CHECK(n != NULL);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
}

/*
 * "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log
 * entries) to all followers in order to maintain their authority."  The
 * commit index a heartbeat carries is capped at what that follower is known
 * to hold, so it never commits entries it may not have.
 */
static void
test_leader_bcast_beat(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t data[1] = {'x'};
	uint64_t idx;
	struct fx_batch *b;
	const struct pgr_msg *h2;
	const struct pgr_msg *h3;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, false), PGR_OK);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(pgr_node_propose(n, data, 1, &idx), PGR_OK);
	fx_settle(n);
	/* Only node 2 acknowledged the log: commit moves, node 3 knows nothing. */
	CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
	fx_settle(n);

	/* heartbeat_tick is 1: one tick, one round */
	CHECK_EQ(pgr_node_tick(n), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_msgs, 2);
	h2 = fx_find(b, PGR_MSG_HEARTBEAT, 2);
	h3 = fx_find(b, PGR_MSG_HEARTBEAT, 3);
	CHECK(h2 != NULL && h3 != NULL);
	CHECK_EQ(h2->n_entries, 0);
	CHECK_EQ(h3->n_entries, 0);
	CHECK_EQ(h2->term, n->term);
	CHECK_EQ(h2->commit, idx);
	CHECK_EQ(h3->commit, 0);
}

/* Tick until the node starts an election; returns the ticks used. */
static int
tick_until_election(struct pgr_node *n, int max)
{
	uint64_t started = fx_status(n).elections_started;

	for (int i = 1; i <= max; i++)
	{
		if (pgr_node_tick(n) != PGR_OK)
			return -1;
		if (fx_status(n).elections_started != started)
			return i;
	}
	return -1;
}

/*
 * "If a follower receives no communication over a period of time called the
 * election timeout ... it increments its current term and transitions to
 * candidate state.  It then votes for itself and issues RequestVote RPCs in
 * parallel to each of the other servers."  Plain Raft (PreVote off, so the
 * timeout leads straight to a candidacy).
 */
static void
check_start_election(bool from_candidate)
{
	struct pgr_options o = plain_opts(1, 10, 1);
	struct pgr_node *n = fx_node_opts(&o, 3);
	struct pgr_status st;
	struct fx_batch *b;
	uint64_t term0;

	CHECK(n != NULL);
	if (from_candidate)
	{
		CHECK_EQ(pgr_become_candidate(n), PGR_OK);
		fx_settle(n);
	}
	term0 = n->term;
	CHECK(tick_until_election(n, 20) > 0);
	st = fx_status(n);
	CHECK_EQ(st.term, term0 + 1);
	CHECK_EQ(st.role, PGR_ROLE_CANDIDATE);
	CHECK_EQ(st.vote, 1);
	b = fx_ready(n);
	CHECK(b->has_hard_state && b->must_sync);
	CHECK_EQ(b->hs.term, term0 + 1);
	CHECK_EQ(b->hs.vote, 1);
	CHECK_EQ(b->n_msgs, 2);
	for (uint64_t to = 2; to <= 3; to++)
	{
		const struct pgr_msg *v = fx_find(b, PGR_MSG_VOTE, to);

		CHECK(v != NULL);
		CHECK_EQ(v->term, term0 + 1);
		CHECK_EQ(v->index, 1);
		CHECK_EQ(v->log_term, 1);
	}
}

static void
test_follower_start_election(void)
{
	check_start_election(false);
}

/*
 * "If many followers become candidates at the same time, votes could be
 * split ...  When this happens, each candidate will time out and start a
 * new election by incrementing its term and initiating another round."
 */
static void
test_candidate_start_new_election(void)
{
	check_start_election(true);
}

/*
 * "A candidate wins an election if it receives votes from a majority of the
 * servers in the full cluster for the same term."  A majority of denials
 * ends the election (back to follower); otherwise it stays candidate.
 * Plain Raft elections.
 */
static void
test_leader_election_in_one_round_rpc(void)
{
	/* grant[i]: 1 granted, -1 denied, 0 no answer, for nodes 2..size */
	static const struct
	{
		uint32_t size;
		int answer[4];
		enum pgr_role want;
	} cases[] = {
		{1, {0}, PGR_ROLE_LEADER},
		{3, {1, 1}, PGR_ROLE_LEADER},
		{3, {1, 0}, PGR_ROLE_LEADER},
		{3, {1, -1}, PGR_ROLE_LEADER},
		{5, {1, 1, 1, 1}, PGR_ROLE_LEADER},
		{5, {1, 1, 1, 0}, PGR_ROLE_LEADER},
		{5, {1, 1, 0, 0}, PGR_ROLE_LEADER},
		{5, {1, -1, 1, -1}, PGR_ROLE_LEADER},
		{3, {-1, -1}, PGR_ROLE_FOLLOWER},
		{5, {-1, -1, -1, -1}, PGR_ROLE_FOLLOWER},
		{5, {1, -1, -1, -1}, PGR_ROLE_FOLLOWER},
		{5, {-1, -1, -1, 0}, PGR_ROLE_FOLLOWER},
		{3, {0, 0}, PGR_ROLE_CANDIDATE},
		{3, {-1, 0}, PGR_ROLE_CANDIDATE},
		{5, {1, 0, 0, 0}, PGR_ROLE_CANDIDATE},
		{5, {-1, -1, 0, 0}, PGR_ROLE_CANDIDATE},
		{5, {1, -1, -1, 0}, PGR_ROLE_CANDIDATE},
		{5, {0, 0, 0, 0}, PGR_ROLE_CANDIDATE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct pgr_options o = plain_opts(1, 10, 1);
		struct pgr_node *n = fx_node_opts(&o, cases[i].size);
		uint64_t term;

		CHECK(n != NULL);
		CHECK_EQ(pgr_node_campaign(n), PGR_OK);
		term = n->term;
		CHECK_EQ(term, 2);
		for (uint32_t k = 0; k + 1 < cases[i].size; k++)
		{
			struct pgr_msg m = fx_msg(PGR_MSG_VOTE_RESP, k + 2, 1, term);

			if (cases[i].answer[k] == 0)
				continue;
			m.reject = cases[i].answer[k] < 0;
			(void) pgr_node_step(n, &m);
		}
		if (fx_status(n).role != cases[i].want)
			test_fail(__FILE__, __LINE__, "case %zu: role %s, want %s", i,
					  pgr_role_name(fx_status(n).role), pgr_role_name(cases[i].want));
		CHECK_EQ(fx_status(n).role, cases[i].want);
		CHECK_EQ(fx_status(n).term, term);
		fx_node_free(n);
	}
}

/*
 * "Each server will vote for at most one candidate in a given term, on a
 * first-come-first-served basis."  Asking again for the same candidate gets
 * the same answer (a retried RPC); another candidate is refused.
 */
static void
test_follower_vote(void)
{
	static const struct
	{
		uint64_t vote;
		uint64_t from;
		bool reject;
	} cases[] = {
		{PGR_NONE, 2, false}, {PGR_NONE, 3, false}, {2, 2, false},
		{3, 3, false},        {2, 3, true},         {3, 2, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct pgr_options o = fx_opts(1, 10, 1);
		struct pgr_config c;
		uint64_t t = 1;
		struct pgr_node *n;
		struct pgr_msg m;
		struct fx_batch *b;
		uint64_t want_vote = cases[i].reject ? cases[i].vote : cases[i].from;

		fx_conf(&c, 3, 0);
		n = fx_node_log(&o, &c, 2, cases[i].vote, 1, &t, 1);
		CHECK(n != NULL);
		m = fx_msg(PGR_MSG_VOTE, cases[i].from, 1, 2);
		m.index = 1;
		m.log_term = 1;
		CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
		b = fx_ready(n);
		CHECK_EQ(b->n_msgs, 1);
		CHECK_EQ(b->msgs[0].type, PGR_MSG_VOTE_RESP);
		CHECK_EQ(b->msgs[0].to, cases[i].from);
		CHECK_EQ(b->msgs[0].term, 2);
		CHECK_EQ(b->msgs[0].reject, cases[i].reject);
		CHECK_EQ(fx_status(n).vote, want_vote);
		if (!cases[i].reject && cases[i].vote == PGR_NONE)
		{
			/* a new vote is persisted before the answer leaves */
			CHECK(b->has_hard_state && b->must_sync);
			CHECK_EQ(b->hs.vote, cases[i].from);
		}
		fx_node_free(n);
	}
}

/*
 * "While waiting for votes, a candidate may receive an AppendEntries RPC
 * from another server claiming to be leader.  If the leader's term ... is at
 * least as large as the candidate's current term, then the candidate
 * recognizes the leader as legitimate and returns to follower state."
 */
static void
test_candidate_fallback(void)
{
	for (uint64_t extra = 0; extra <= 1; extra++)
	{
		struct pgr_options o = plain_opts(1, 10, 1);
		struct pgr_node *n = fx_node_opts(&o, 3);
		struct pgr_msg m;
		uint64_t term;

		CHECK(n != NULL);
		CHECK_EQ(pgr_node_campaign(n), PGR_OK);
		fx_settle(n);
		CHECK_EQ(fx_status(n).role, PGR_ROLE_CANDIDATE);
		term = n->term + extra;
		m = fx_msg(PGR_MSG_APP, 2, 1, term);
		m.index = 1;
		m.log_term = 1;
		CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
		CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
		CHECK_EQ(fx_status(n).term, term);
		CHECK_EQ(fx_status(n).leader, 2);
		fx_node_free(n);
	}
}

/*
 * "Raft uses randomized election timeouts ... chosen randomly from a fixed
 * interval."  Over many seeds the timeout that fires takes every value in
 * [T, 2T) and nothing outside it.
 */
static void
check_election_timeout_randomized(bool candidate)
{
	const uint32_t et = 10;
	bool seen[20] = {false};

	for (uint64_t seed = 1; seed <= 400; seed++)
	{
		struct pgr_options o = plain_opts(1, et, 1);
		struct pgr_node *n;
		int ticks;

		o.seed = seed;
		n = fx_node_opts(&o, 3);
		CHECK(n != NULL);
		if (candidate)
			CHECK_EQ(pgr_become_candidate(n), PGR_OK);
		ticks = tick_until_election(n, 3 * et);
		CHECK(ticks >= (int) et && ticks < (int) (2 * et));
		seen[ticks] = true;
		fx_node_free(n);
	}
	for (uint32_t t = et; t < 2 * et; t++)
		CHECK(seen[t]);
}

static void
test_follower_election_timeout_randomized(void)
{
	check_election_timeout_randomized(false);
}

static void
test_candidate_election_timeout_randomized(void)
{
	check_election_timeout_randomized(true);
}

/*
 * "In most cases only a single server will time out."  Five nodes with
 * their own seeds, 1000 rounds: in at most 30% of rounds do two or more of
 * them fire on the same first tick.
 */
static void
check_election_timeout_nonconflict(bool candidate)
{
	const uint32_t et = 10;
	struct pgr_node *nodes[5];
	int conflicts = 0;

	for (int i = 0; i < 5; i++)
	{
		struct pgr_options o = plain_opts((uint64_t) i + 1, et, 1);

		nodes[i] = fx_node_opts(&o, 5);
		CHECK(nodes[i] != NULL);
	}
	for (int round = 0; round < 1000; round++)
	{
		int fired = 0;

		for (int i = 0; i < 5; i++)
		{
			if (candidate)
				CHECK_EQ(pgr_become_candidate(nodes[i]), PGR_OK);
			else
				pgr_become_follower(nodes[i], nodes[i]->term, PGR_NONE);
		}
		for (uint32_t tick = 0; tick < 2 * et && fired == 0; tick++)
			for (int i = 0; i < 5; i++)
			{
				uint64_t before = nodes[i]->elections_started;

				CHECK_EQ(pgr_node_tick(nodes[i]), PGR_OK);
				if (nodes[i]->elections_started != before)
					fired++;
			}
		CHECK(fired >= 1);
		if (fired > 1)
			conflicts++;
		for (int i = 0; i < 5; i++)
			fx_settle(nodes[i]);
	}
	CHECK(conflicts <= 300);
	for (int i = 0; i < 5; i++)
		fx_node_free(nodes[i]);
}

static void
test_followers_election_timeout_nonconflict(void)
{
	check_election_timeout_nonconflict(false);
}

static void
test_candidates_election_timeout_nonconflict(void)
{
	check_election_timeout_nonconflict(true);
}

/* ---------------------------------------------------------------------- */
/* 5.3: log replication                                                   */
/* ---------------------------------------------------------------------- */

/*
 * "The leader appends the command to its log as a new entry, then issues
 * AppendEntries RPCs in parallel to each of the other servers."  The new
 * entry is handed out to persist; each append names the entry preceding the
 * new ones (index and term) and carries the leader's commit index.
 */
static void
test_leader_start_replication(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t data[] = "some data";
	uint64_t idx;
	uint64_t prev;
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	prev = fx_status(n).last_index;
	CHECK_EQ(pgr_node_propose(n, data, sizeof(data), &idx), PGR_OK);
	CHECK_EQ(idx, prev + 1);
	CHECK_EQ(fx_status(n).last_index, prev + 1);
	CHECK_EQ(fx_status(n).commit, prev);
	b = fx_ready(n);
	CHECK_EQ(b->n_entries, 1);
	CHECK(b->must_sync);
	CHECK_EQ(b->entries[0].index, idx);
	CHECK_EQ(b->entries[0].term, n->term);
	CHECK_EQ(b->entries[0].len, sizeof(data));
	CHECK(memcmp(b->entries[0].data, data, sizeof(data)) == 0);
	CHECK_EQ(b->n_msgs, 2);
	for (uint64_t to = 2; to <= 3; to++)
	{
		const struct pgr_msg *m = fx_find(b, PGR_MSG_APP, to);

		CHECK(m != NULL);
		CHECK_EQ(m->term, n->term);
		CHECK_EQ(m->index, prev);
		CHECK_EQ(m->log_term, n->term);
		CHECK_EQ(m->commit, prev);
		CHECK_EQ(m->n_entries, 1);
		CHECK_EQ(m->entries[0].index, idx);
		CHECK_EQ(m->entries[0].term, n->term);
		CHECK(memcmp(m->entries[0].data, data, sizeof(data)) == 0);
	}
}

/*
 * "When the entry has been safely replicated, the leader applies the entry
 * to its state machine ...  The leader keeps track of the highest index it
 * knows to be committed, and it includes that index in future AppendEntries
 * RPCs."
 */
static void
test_leader_commit_entry(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t data[] = "some data";
	uint64_t idx;
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_propose(n, data, sizeof(data), &idx), PGR_OK);
	fx_settle(n);
	CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
	b = fx_ready(n);
	CHECK_EQ(b->n_committed, 1);
	CHECK_EQ(b->committed[0].index, idx);
	CHECK(memcmp(b->committed[0].data, data, sizeof(data)) == 0);
	/* the followers learn the new commit index from the next appends */
	for (uint64_t to = 2; to <= 3; to++)
	{
		const struct pgr_msg *m = fx_find(b, PGR_MSG_APP, to);

		CHECK(m != NULL);
		CHECK_EQ(m->commit, idx);
	}
}

/*
 * "A log entry is committed once the leader that created the entry has
 * replicated it on a majority of the servers."  Table over cluster sizes and
 * the set of followers that acknowledged.
 */
static void
test_leader_acknowledge_commit(void)
{
	static const struct
	{
		uint32_t size;
		uint32_t acks; /* bit k: node k+2 acknowledged */
		bool commit;
	} cases[] = {
		{1, 0, true},  {3, 0, false}, {3, 1, true}, {3, 2, true}, {3, 3, true},  {5, 0, false},
		{5, 1, false}, {5, 4, false}, {5, 3, true}, {5, 5, true}, {5, 12, true}, {5, 15, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct pgr_node *n = fx_node(1, cases[i].size, 10, 1);
		uint8_t data[1] = {'a'};
		uint64_t idx;

		CHECK(n != NULL);
		CHECK_EQ(fx_make_leader(n, true), PGR_OK);
		CHECK_EQ(pgr_node_propose(n, data, 1, &idx), PGR_OK);
		fx_settle(n);
		for (uint32_t k = 0; k + 1 < cases[i].size; k++)
			if (cases[i].acks & (1u << k))
				CHECK_EQ(fx_ack(n, k + 2, idx), PGR_OK);
		if ((fx_status(n).commit == idx) != cases[i].commit)
			test_fail(__FILE__, __LINE__, "case %zu: commit %" PRIu64, i, fx_status(n).commit);
		CHECK_EQ(fx_status(n).commit == idx, cases[i].commit);
		fx_node_free(n);
	}
}

/*
 * "When the leader commits an entry, it also commits all preceding entries
 * in the leader's log, including entries created by previous leaders."
 * They are applied in log order, the new leader's empty entry included.
 */
static void
test_leader_commit_preceding_entries(void)
{
	static const uint64_t logs[][4] = {
		{1},
		{1, 1},
		{1, 2},
		{1, 1, 2, 2},
	};
	static const size_t lens[] = {1, 2, 2, 4};

	for (size_t i = 0; i < 4; i++)
	{
		struct pgr_options o = fx_opts(1, 10, 1);
		struct pgr_config c;
		struct pgr_node *n;
		uint8_t data[] = "some data";
		uint64_t idx;
		struct fx_batch *b;
		uint64_t last_old = lens[i];

		fx_conf(&c, 3, 0);
		n = fx_node_log(&o, &c, 2, PGR_NONE, 1, logs[i], lens[i]);
		CHECK(n != NULL);
		CHECK_EQ(fx_make_leader(n, false), PGR_OK);
		CHECK_EQ(n->term, 3);
		CHECK_EQ(pgr_node_propose(n, data, sizeof(data), &idx), PGR_OK);
		CHECK_EQ(idx, last_old + 2);
		fx_settle(n);
		CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
		CHECK_EQ(fx_status(n).commit, idx);
		b = fx_ready(n);
		/* old entries 2..last_old, the empty entry, the proposal */
		CHECK_EQ(b->n_committed, idx - 1);
		for (size_t k = 0; k < b->n_committed; k++)
		{
			CHECK_EQ(b->committed[k].index, k + 2);
			if (k + 2 <= last_old)
				CHECK_EQ(b->committed[k].term, logs[i][k + 1]);
		}
		CHECK_EQ(b->committed[idx - 3].term, 3);
		CHECK_EQ(b->committed[idx - 3].len, 0);
		CHECK_EQ(b->committed[idx - 2].len, sizeof(data));
		fx_node_free(n);
	}
}

/*
 * "Once a follower learns that a log entry is committed, it applies the
 * entry to its local state machine (in log order)."
 */
static void
test_follower_commit_entry(void)
{
	static const struct
	{
		int n_ents;
		uint64_t commit;
	} cases[] = {
		{1, 2},
		{2, 3},
		{2, 2},
		{1, 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct pgr_node *n = fx_node(1, 3, 10, 1);
		uint8_t d[2][4] = {"one", "two"};
		struct pgr_entry e[2];
		struct pgr_msg m;
		struct fx_batch *b;

		CHECK(n != NULL);
		memset(e, 0, sizeof(e));
		for (int k = 0; k < 2; k++)
		{
			e[k].term = 1;
			e[k].index = (uint64_t) k + 2;
			e[k].len = 4;
			e[k].data = d[k];
		}
		m = fx_msg(PGR_MSG_APP, 2, 1, 1);
		m.index = 1;
		m.log_term = 1;
		m.commit = cases[i].commit;
		m.n_entries = (uint32_t) cases[i].n_ents;
		m.entries = e;
		CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
		CHECK_EQ(fx_status(n).commit, cases[i].commit);
		b = fx_ready(n);
		CHECK_EQ(b->n_committed, cases[i].commit - 1);
		for (size_t k = 0; k < b->n_committed; k++)
		{
			CHECK_EQ(b->committed[k].index, k + 2);
			CHECK(memcmp(b->committed[k].data, d[k], 4) == 0);
		}
		fx_node_free(n);
	}
}

/*
 * "When sending an AppendEntries RPC, the leader includes the index and
 * term of the entry in its log that immediately precedes the new entries.
 * If the follower does not find an entry in its log with the same index and
 * term, then it refuses the new entries."  A refusal carries a hint: an
 * index (not above the follower's last) and its term, where the logs may
 * agree.
 */
static void
test_follower_check_msg_app(void)
{
	/* follower log: [1:t1 config, 2:t1, 3:t2], committed 1, term 2 */
	static const uint64_t terms[] = {1, 1, 2};
	static const struct
	{
		uint64_t prev_term;
		uint64_t prev_index;
		bool reject;
		uint64_t want_index; /* accepted: matched index */
		uint64_t hint;       /* rejected: hint index and term */
		uint64_t hint_term;
	} cases[] = {
		{1, 1, false, 1, 0, 0},
		{1, 2, false, 2, 0, 0},
		{2, 3, false, 3, 0, 0},
		/* wrong term at 3: everything above index 2 (term 1) may conflict */
		{1, 3, true, 0, 2, 1},
		/* wrong term at 2: the follower only has term 1 there, ok up to 2 */
		{2, 2, true, 0, 2, 1},
		/* missing entry: hint at our last entry */
		{3, 4, true, 0, 3, 2},
		{2, 5, true, 0, 3, 2},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct pgr_options o = fx_opts(1, 10, 1);
		struct pgr_config c;
		struct pgr_node *n;
		struct pgr_msg m;
		struct fx_batch *b;

		fx_conf(&c, 3, 0);
		n = fx_node_log(&o, &c, 2, PGR_NONE, 1, terms, 3);
		CHECK(n != NULL);
		m = fx_msg(PGR_MSG_APP, 2, 1, 3);
		m.index = cases[i].prev_index;
		m.log_term = cases[i].prev_term;
		CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
		b = fx_ready(n);
		CHECK_EQ(b->n_msgs, 1);
		CHECK_EQ(b->msgs[0].type, PGR_MSG_APP_RESP);
		CHECK_EQ(b->msgs[0].term, 3);
		if (b->msgs[0].reject != cases[i].reject)
			test_fail(__FILE__, __LINE__, "case %zu", i);
		CHECK_EQ(b->msgs[0].reject, cases[i].reject);
		if (cases[i].reject)
		{
			CHECK_EQ(b->msgs[0].index, cases[i].prev_index);
			CHECK_EQ(b->msgs[0].reject_hint, cases[i].hint);
			CHECK_EQ(b->msgs[0].log_term, cases[i].hint_term);
		}
		else
			CHECK_EQ(b->msgs[0].index, cases[i].want_index);
		/* a refusal changes nothing in the log */
		CHECK_EQ(fx_status(n).last_index, 3);
		CHECK_EQ(fx_term_at(n, 3), 2);
		fx_node_free(n);
	}
}

/*
 * "If an existing entry conflicts with a new one (same index but different
 * terms), delete the existing entry and all that follow it; append any new
 * entries not already in the log."  Only the newly written suffix must be
 * persisted.
 */
static void
test_follower_append_entries(void)
{
	/* follower log [1:t1 config, 2:t1, 3:t2], committed 1 */
	static const uint64_t terms[] = {1, 1, 2};
	static const struct
	{
		uint64_t prev_index;
		uint64_t prev_term;
		int n;
		uint64_t ent_terms[2];
		int want_len;
		uint64_t want_terms[4];
		uint64_t unstable_from; /* 0: nothing to persist */
	} cases[] = {
		{3, 2, 1, {3}, 4, {1, 1, 2, 3}, 4}, {2, 1, 2, {3, 4}, 4, {1, 1, 3, 4}, 3},
		{1, 1, 1, {1}, 3, {1, 1, 2}, 0},    {1, 1, 1, {3}, 2, {1, 3}, 2},
		{1, 1, 2, {1, 2}, 3, {1, 1, 2}, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct pgr_options o = fx_opts(1, 10, 1);
		struct pgr_config c;
		struct pgr_node *n;
		struct pgr_entry e[2];
		uint8_t d[2][2];
		struct pgr_msg m;
		struct fx_batch *b;

		fx_conf(&c, 3, 0);
		n = fx_node_log(&o, &c, 2, PGR_NONE, 1, terms, 3);
		CHECK(n != NULL);
		memset(e, 0, sizeof(e));
		for (int k = 0; k < cases[i].n; k++)
		{
			e[k].index = cases[i].prev_index + 1 + (uint64_t) k;
			e[k].term = cases[i].ent_terms[k];
			/* same payload scheme as the fixture: (index, term) */
			d[k][0] = (uint8_t) e[k].index;
			d[k][1] = (uint8_t) e[k].term;
			e[k].len = 2;
			e[k].data = d[k];
		}
		m = fx_msg(PGR_MSG_APP, 2, 1, 4);
		m.index = cases[i].prev_index;
		m.log_term = cases[i].prev_term;
		m.n_entries = (uint32_t) cases[i].n;
		m.entries = e;
		CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
		CHECK_EQ(fx_status(n).last_index, cases[i].want_len);
		for (int k = 0; k < cases[i].want_len; k++)
			CHECK_EQ(fx_term_at(n, (uint64_t) k + 1), cases[i].want_terms[k]);
		b = fx_ready(n);
		if (cases[i].unstable_from == 0)
			CHECK_EQ(b->n_entries, 0);
		else
		{
			CHECK_EQ(b->n_entries, cases[i].want_len - cases[i].unstable_from + 1);
			CHECK_EQ(b->entries[0].index, cases[i].unstable_from);
			CHECK(b->must_sync);
			for (size_t k = 0; k < b->n_entries; k++)
				CHECK_EQ(b->entries[k].term, cases[i].want_terms[cases[i].unstable_from - 1 + k]);
		}
		fx_node_free(n);
	}
}

/*
 * Figure 7: a leader of term 8 brings each of the paper's follower logs
 * (a)-(f) to exactly its own log: missing entries are sent, extra
 * uncommitted entries and entries of other terms are overwritten.  A third
 * voter (never delivered to) grants the vote; plain Raft elections so the
 * leader campaigns directly.
 */
static void
test_leader_sync_follower_log(void)
{
	static const uint64_t lead[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
	static const uint64_t fol[6][12] = {
		{1, 1, 1, 4, 4, 5, 5, 6, 6},
		{1, 1, 1, 4},
		{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},
		{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},
		{1, 1, 1, 4, 4, 4, 4},
		{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3},
	};
	static const size_t fol_len[6] = {9, 4, 11, 12, 7, 11};

	for (int i = 0; i < 6; i++)
	{
		struct pgr_options lo = plain_opts(1, 10, 1);
		struct pgr_options fo = plain_opts(2, 10, 1);
		struct pgr_config c;
		struct fx_net net;
		struct pgr_msg grant;
		uint8_t data[] = "x";
		uint64_t idx;

		fx_conf(&c, 3, 0);
		fx_net_init(&net);
		net.nodes[1] = fx_node_log(&lo, &c, 8, PGR_NONE, 10, lead, 10);
		net.nodes[2] = fx_node_log(&fo, &c, 7, PGR_NONE, 1, fol[i], fol_len[i]);
		CHECK(net.nodes[1] != NULL && net.nodes[2] != NULL);
		CHECK(!fx_logs_equal(net.nodes[1], net.nodes[2]));

		CHECK_EQ(pgr_node_campaign(net.nodes[1]), PGR_OK);
		CHECK_EQ(net.nodes[1]->term, 9);
		/* node 3 grants; with its own vote the leader has a majority */
		grant = fx_msg(PGR_MSG_VOTE_RESP, 3, 1, 9);
		CHECK_EQ(pgr_node_step(net.nodes[1], &grant), PGR_OK);
		CHECK_EQ(fx_status(net.nodes[1]).role, PGR_ROLE_LEADER);
		fx_net_run(&net);
		CHECK_EQ(pgr_node_propose(net.nodes[1], data, 1, &idx), PGR_OK);
		fx_net_run(&net);

		CHECK_EQ(idx, 12);
		if (!fx_logs_equal(net.nodes[1], net.nodes[2]))
			test_fail(__FILE__, __LINE__, "follower (%c) not in sync", 'a' + i);
		CHECK(fx_logs_equal(net.nodes[1], net.nodes[2]));
		CHECK_EQ(fx_status(net.nodes[2]).commit, idx);
		fx_net_free(&net);
		fx_node_free(net.nodes[1]);
		fx_node_free(net.nodes[2]);
	}
}

/* ---------------------------------------------------------------------- */
/* 5.4: safety                                                            */
/* ---------------------------------------------------------------------- */

/*
 * "The RequestVote RPC ... includes information about the candidate's log"
 * (its last index and last term), sent to every other server.
 */
static void
test_vote_request(void)
{
	static const struct
	{
		uint64_t terms[2];
		size_t n;
		uint64_t hs_term;
	} cases[] = {
		{{1}, 1, 1},
		{{1, 2}, 2, 2},
		{{1, 1}, 2, 5},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct pgr_options o = plain_opts(1, 10, 1);
		struct pgr_config c;
		struct pgr_node *n;
		struct fx_batch *b;

		fx_conf(&c, 3, 0);
		n = fx_node_log(&o, &c, cases[i].hs_term, PGR_NONE, 1, cases[i].terms, cases[i].n);
		CHECK(n != NULL);
		CHECK(tick_until_election(n, 20) > 0);
		b = fx_ready(n);
		CHECK_EQ(b->n_msgs, 2);
		for (uint64_t to = 2; to <= 3; to++)
		{
			const struct pgr_msg *m = fx_find(b, PGR_MSG_VOTE, to);

			CHECK(m != NULL);
			CHECK_EQ(m->term, cases[i].hs_term + 1);
			CHECK_EQ(m->index, cases[i].n);
			CHECK_EQ(m->log_term, cases[i].terms[cases[i].n - 1]);
		}
		fx_node_free(n);
	}
}

/*
 * "Raft determines which of two logs is more up-to-date by comparing the
 * index and term of the last entries in the logs.  If the logs have last
 * entries with different terms, then the log with the later term is more
 * up-to-date.  If the logs end with the same term, then whichever log is
 * longer is more up-to-date."  The voter grants only to an at least as
 * up-to-date candidate.
 */
static void
test_voter(void)
{
	static const struct
	{
		uint64_t terms[2];
		size_t n;
		uint64_t log_term;
		uint64_t index;
		bool reject;
	} cases[] = {
		/* same last term: the longer (or equal) log wins */
		{{1}, 1, 1, 1, false},
		{{1}, 1, 1, 2, false},
		{{1, 1}, 2, 1, 1, true},
		{{1, 1}, 2, 1, 2, false},
		/* candidate's last term is later: it wins whatever its length */
		{{1}, 1, 2, 1, false},
		{{1}, 1, 2, 2, false},
		{{1, 1}, 2, 2, 1, false},
		/* candidate's last term is older: it loses whatever its length */
		{{1, 2}, 2, 1, 1, true},
		{{1, 2}, 2, 1, 2, true},
		{{1, 2}, 2, 1, 9, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct pgr_options o = fx_opts(1, 10, 1);
		struct pgr_config c;
		struct pgr_node *n;
		struct pgr_msg m;
		struct fx_batch *b;

		fx_conf(&c, 3, 0);
		n = fx_node_log(&o, &c, 2, PGR_NONE, 1, cases[i].terms, cases[i].n);
		CHECK(n != NULL);
		m = fx_msg(PGR_MSG_VOTE, 2, 1, 3);
		m.index = cases[i].index;
		m.log_term = cases[i].log_term;
		CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
		b = fx_ready(n);
		CHECK_EQ(b->n_msgs, 1);
		CHECK_EQ(b->msgs[0].type, PGR_MSG_VOTE_RESP);
		if (b->msgs[0].reject != cases[i].reject)
			test_fail(__FILE__, __LINE__, "case %zu", i);
		CHECK_EQ(b->msgs[0].reject, cases[i].reject);
		CHECK_EQ(fx_status(n).vote, cases[i].reject ? PGR_NONE : 2);
		fx_node_free(n);
	}
}

/*
 * "Raft never commits log entries from previous terms by counting replicas.
 * Only log entries from the leader's current term are committed by counting
 * replicas."  A term-3 leader whose older entries (terms 1 and 2) reach a
 * majority does not commit them until its own empty entry does.
 */
static void
test_leader_only_commits_log_from_current_term(void)
{
	static const uint64_t terms[] = {1, 1, 2};
	static const struct
	{
		uint64_t ack;
		uint64_t want_commit;
	} cases[] = {
		{1, 1},
		{2, 1},
		{3, 1},
		{4, 4},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct pgr_options o = fx_opts(1, 10, 1);
		struct pgr_config c;
		struct pgr_node *n;

		fx_conf(&c, 3, 0);
		n = fx_node_log(&o, &c, 2, PGR_NONE, 1, terms, 3);
		CHECK(n != NULL);
		CHECK_EQ(fx_make_leader(n, false), PGR_OK);
		CHECK_EQ(n->term, 3);
		CHECK_EQ(fx_status(n).last_index, 4);
		CHECK_EQ(fx_ack(n, 2, cases[i].ack), PGR_OK);
		CHECK_EQ(fx_status(n).commit, cases[i].want_commit);
		fx_node_free(n);
	}
}

static const struct test_case cases[] = {
	TEST(test_follower_update_term_from_message),
	TEST(test_candidate_update_term_from_message),
	TEST(test_leader_update_term_from_message),
	TEST(test_reject_stale_term_message),
	TEST(test_start_as_follower),
	TEST(test_leader_bcast_beat),
	TEST(test_follower_start_election),
	TEST(test_candidate_start_new_election),
	TEST(test_leader_election_in_one_round_rpc),
	TEST(test_follower_vote),
	TEST(test_candidate_fallback),
	TEST(test_follower_election_timeout_randomized),
	TEST(test_candidate_election_timeout_randomized),
	TEST(test_followers_election_timeout_nonconflict),
	TEST(test_candidates_election_timeout_nonconflict),
	TEST(test_leader_start_replication),
	TEST(test_leader_commit_entry),
	TEST(test_leader_acknowledge_commit),
	TEST(test_leader_commit_preceding_entries),
	TEST(test_follower_commit_entry),
	TEST(test_follower_check_msg_app),
	TEST(test_follower_append_entries),
	TEST(test_leader_sync_follower_log),
	TEST(test_vote_request),
	TEST(test_voter),
	TEST(test_leader_only_commits_log_from_current_term),
};

FX_MAIN(cases)
