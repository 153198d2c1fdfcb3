/*-------------------------------------------------------------------------
 *
 * test_raft_robustness.c
 *		The core's contract under hostile input and misuse (point 5 of the
 *		contract in include/pgraft/core.h), and its use of the caller's
 *		allocator.
 *
 * Input from the network is never trusted: a malformed message is rejected
 * with PGR_EBADMSG and leaves the node unchanged; a valid but useless one
 * (unknown sender, stale term) gets a PGR_EIGNORED-class code.  Calls out
 * of order get PGR_ESTATE; restored state that cannot be right gets
 * PGR_ECORRUPT.  Every byte comes from, and goes back to, the caller's
 * allocator; when it fails the call returns PGR_ENOMEM and the node can
 * still be freed without leaking or crashing.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_raft_robustness.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft_fixture.h"

/* ---------------------------------------------------------------------- */
/* Hostile messages                                                       */
/* ---------------------------------------------------------------------- */

/*
 * Step m into n (which has nothing ready) and check the answer is want,
 * that nothing about the node's Raft state moved and that it has nothing
 * to say.  Reports the case by name.
 */
static bool
rejected(struct pgr_node *n, const struct pgr_msg *m, enum pgr_err want, const char *what)
{
	struct pgr_status before = fx_status(n);
	struct pgr_status after;
	uint32_t members = pgr_node_config(n)->n_members;
	enum pgr_err err;

	fx_settle(n);
	err = pgr_node_step(n, m);
	after = fx_status(n);
	if (err != want)
	{
		test_fail(__FILE__, __LINE__, "%s: got %s, want %s", what, pgr_strerror(err),
				  pgr_strerror(want));
		return false;
	}
	if (!fx_same_state(&before, &after) || pgr_node_config(n)->n_members != members)
	{
		test_fail(__FILE__, __LINE__,
				  "%s: node changed (term %" PRIu64 "->%" PRIu64 ", last %" PRIu64 "->%" PRIu64
				  ", commit %" PRIu64 "->%" PRIu64 ")",
				  what, before.term, after.term, before.last_index, after.last_index, before.commit,
				  after.commit);
		return false;
	}
	if (pgr_node_has_ready(n))
	{
		test_fail(__FILE__, __LINE__, "%s: node has something to say", what);
		return false;
	}
	return true;
}

/* Follower: id 1 of 3, term 2, log [1:t1 config, 2:t2], commit 1, leader 2. */
static struct pgr_node *
hostile_follower(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_config c;
	static const uint64_t terms[] = {1, 2};
	struct pgr_node *n;

	fx_conf(&c, 3, 0);
	n = fx_node_log(&o, &c, 2, PGR_NONE, 1, terms, 2);
	if (n != NULL && fx_heartbeat_from(n, 2, 2) != PGR_OK)
		return NULL;
	return n;
}

static struct pgr_msg
app(uint64_t term, uint64_t prev, uint64_t prev_term, struct pgr_entry *e, uint32_t n)
{
	struct pgr_msg m = fx_msg(PGR_MSG_APP, 2, 1, term);

	m.index = prev;
	m.log_term = prev_term;
	m.entries = e;
	m.n_entries = n;
	return m;
}

static void
test_malformed_messages_are_rejected_without_effect(void)
{
	struct pgr_node *n = hostile_follower();
	struct pgr_entry e[2];
	uint8_t junk[5] = {1, 0, 0, 0, 0};
	struct pgr_snapshot snap;
	struct pgr_msg m;

	CHECK(n != NULL);
	memset(e, 0, sizeof(e));

	/* envelope */
	m = app(0, 2, 2, NULL, 0);
	CHECK(rejected(n, &m, PGR_EBADMSG, "term 0"));
	m = app(2, 2, 2, NULL, 0);
	m.to = 3;
	CHECK(rejected(n, &m, PGR_EBADMSG, "to another node"));
	m.to = 1;
	m.from = 1;
	CHECK(rejected(n, &m, PGR_EBADMSG, "from itself"));
	m.from = PGR_NONE;
	CHECK(rejected(n, &m, PGR_EBADMSG, "from nobody"));
	m = app(2, 2, 2, NULL, 0);
	m.type = 0;
	CHECK(rejected(n, &m, PGR_EBADMSG, "type 0"));
	m.type = PGR_MSG_TYPE_MAX + 1;
	CHECK(rejected(n, &m, PGR_EBADMSG, "type past the last"));
	m.type = 0xFFFFFFFF;
	CHECK(rejected(n, &m, PGR_EBADMSG, "type 2^32-1"));
	CHECK_EQ(pgr_node_step(n, NULL), PGR_EINVAL);

	/* entries, at our term and at a higher one (which must not be adopted) */
	for (uint64_t term = 2; term <= 3; term++)
	{
		e[0].index = 4;
		e[0].term = 2;
		m = app(term, 2, 2, e, 1);
		CHECK(rejected(n, &m, PGR_EBADMSG, "gap after the previous entry"));
		e[0].index = 3;
		e[1].index = 5;
		e[1].term = 2;
		m = app(term, 2, 2, e, 2);
		CHECK(rejected(n, &m, PGR_EBADMSG, "gap between entries"));
		e[1].index = 4;
		e[1].term = 1;
		CHECK(rejected(n, &m, PGR_EBADMSG, "decreasing terms"));
		e[0].term = 1;
		m = app(term, 2, 2, e, 1);
		CHECK(rejected(n, &m, PGR_EBADMSG, "entry term below the previous term"));
		e[0].term = term + 1;
		CHECK(rejected(n, &m, PGR_EBADMSG, "entry term above the message term"));
		e[0].term = 2;
		m = app(term, 2, term + 1, NULL, 0);
		CHECK(rejected(n, &m, PGR_EBADMSG, "previous term above the message term"));
		m = app(term, 2, 2, NULL, 1);
		CHECK(rejected(n, &m, PGR_EBADMSG, "n_entries > 0 with no entries"));
		e[0].len = 4;
		e[0].data = NULL;
		m = app(term, 2, 2, e, 1);
		CHECK(rejected(n, &m, PGR_EBADMSG, "payload length without data"));
		e[0].len = 0;
		e[0].type = 7;
		CHECK(rejected(n, &m, PGR_EBADMSG, "unknown entry type"));
		e[0].type = PGR_ENTRY_CONF_CHANGE;
		CHECK(rejected(n, &m, PGR_EBADMSG, "change request in the log"));
		e[0].type = PGR_ENTRY_CONFIG;
		e[0].len = sizeof(junk);
		e[0].data = junk;
		CHECK(rejected(n, &m, PGR_EBADMSG, "corrupt configuration entry"));
		e[0].type = PGR_ENTRY_NORMAL;
		e[0].len = 0;
		e[0].data = NULL;
		e[0].index = 0;
		m = app(term, UINT64_MAX, 2, e, 1);
		CHECK(rejected(n, &m, PGR_EBADMSG, "index overflow"));
		e[0].index = 3;

		m = fx_msg(PGR_MSG_HEARTBEAT, 2, 1, term);
		m.n_entries = 1;
		m.entries = e;
		CHECK(rejected(n, &m, PGR_EBADMSG, "heartbeat with entries"));
		m.n_entries = 0;
		m.entries = NULL;
		m.commit = 3;
		CHECK(rejected(n, &m, PGR_EBADMSG, "heartbeat commit past the log"));

		/* a candidate's last entry cannot be of a term after its own */
		m = fx_msg(PGR_MSG_VOTE, 3, 1, term + 1);
		m.index = 2;
		m.log_term = term + 2;
		m.force = true; /* past the lease, to reach the vote rules */
		CHECK(rejected(n, &m, PGR_EBADMSG, "vote request with a last term above its term"));
		m.type = PGR_MSG_PRE_VOTE;
		CHECK(rejected(n, &m, PGR_EBADMSG, "pre-vote request with a last term above its term"));

		/* snapshots */
		m = fx_msg(PGR_MSG_SNAP, 2, 1, term);
		CHECK(rejected(n, &m, PGR_EBADMSG, "MsgSnap without a snapshot"));
		memset(&snap, 0, sizeof(snap));
		snap.meta.index = 10;
		snap.meta.term = 2;
		fx_conf(&snap.meta.config, 3, 0);
		m = app(term, 2, 2, NULL, 0);
		m.snapshot = &snap;
		CHECK(rejected(n, &m, PGR_EBADMSG, "snapshot on MsgApp"));
		m.type = PGR_MSG_SNAP;
		snap.meta.index = 0;
		CHECK(rejected(n, &m, PGR_EBADMSG, "snapshot at index 0"));
		snap.meta.index = 10;
		snap.meta.term = term + 1;
		CHECK(rejected(n, &m, PGR_EBADMSG, "snapshot term above the message term"));
		snap.meta.term = 2;
		snap.len = 8;
		CHECK(rejected(n, &m, PGR_EBADMSG, "snapshot length without data"));
		snap.len = 0;
		snap.meta.config.members[1].id = 1;
		CHECK(rejected(n, &m, PGR_EBADMSG, "snapshot with an invalid configuration"));
	}
	CHECK_EQ(fx_status(n).term, 2);
	CHECK_EQ(fx_status(n).leader, 2);
}

/* Leader: id 1 of 3, term 2, log [1, 2:t2 empty], everything acknowledged. */
static void
test_leader_rejects_impossible_responses_and_strangers(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	uint8_t d[1] = {'s'};
	struct pgr_entry e = {.type = PGR_ENTRY_NORMAL, .len = 1, .data = d};
	struct pgr_msg m;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	/* three ticks of silence from node 2, and the quorum check not yet due */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pgr_node_tick(n), PGR_OK);
	fx_settle(n);

	/* impossible answers must not count as signs of life either */
	m = fx_msg(PGR_MSG_APP_RESP, 2, 1, 2);
	m.index = 3;
	CHECK(rejected(n, &m, PGR_EBADMSG, "acknowledges entries never sent"));
	m.index = 2;
	m.reject = true;
	m.reject_hint = 3;
	CHECK(rejected(n, &m, PGR_EBADMSG, "rejection hint above the rejected index"));
	{
		struct pgr_progress_info pi;

		CHECK_EQ(pgr_node_progress(n, 2, &pi), PGR_OK);
		CHECK_EQ(pi.ticks_since_contact, 3);
		CHECK_EQ(pi.match, 2);
	}

	m = fx_msg(PGR_MSG_APP_RESP, 9, 1, 2);
	m.index = 2;
	CHECK(rejected(n, &m, PGR_EUNKNOWN_NODE, "append response from a stranger"));
	m.type = PGR_MSG_HEARTBEAT_RESP;
	CHECK(rejected(n, &m, PGR_EUNKNOWN_NODE, "heartbeat response from a stranger"));
	m = fx_msg(PGR_MSG_PROP, 9, 1, 0);
	m.n_entries = 1;
	m.entries = &e;
	CHECK(rejected(n, &m, PGR_EUNKNOWN_NODE, "proposal from a stranger"));
	m = fx_msg(PGR_MSG_READ_INDEX, 9, 1, 0);
	CHECK(rejected(n, &m, PGR_EUNKNOWN_NODE, "read from a stranger"));
	m = fx_msg(PGR_MSG_TRANSFER_LEADER, 9, 1, 0);
	m.index = 2;
	CHECK(rejected(n, &m, PGR_EUNKNOWN_NODE, "transfer request from a stranger"));
	/* another leader in our own term cannot exist */
	m = app(2, 2, 2, NULL, 0);
	CHECK(rejected(n, &m, PGR_EIGNORED, "append from a second leader of our term"));
	/* a forwarded proposal with a bad payload */
	m = fx_msg(PGR_MSG_PROP, 2, 1, 0);
	e.data = NULL;
	m.n_entries = 1;
	m.entries = &e;
	CHECK(rejected(n, &m, PGR_EBADMSG, "forwarded payload without data"));
	e.data = d;
	e.type = PGR_ENTRY_CONF_CHANGE;
	CHECK(rejected(n, &m, PGR_EBADMSG, "forwarded change that does not decode"));
	e.type = PGR_ENTRY_CONFIG;
	CHECK(rejected(n, &m, PGR_EBADMSG, "forwarded whole configuration"));

	CHECK_EQ(pgr_node_report_unreachable(n, 9), PGR_EUNKNOWN_NODE);
	CHECK_EQ(pgr_node_report_snapshot(n, 9, true), PGR_EUNKNOWN_NODE);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
}

/*
 * Vote answers from nodes that are not voters neither count nor take room:
 * a flood of grants from strangers must not keep the real voters' grants
 * from being counted.
 */
static void
test_candidate_ignores_votes_from_strangers(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_node *n;
	struct pgr_msg m;

	o.disable_pre_vote = true;
	n = fx_node_opts(&o, 3);
	CHECK(n != NULL);
	CHECK_EQ(pgr_node_campaign(n), PGR_OK);
	fx_settle(n);
	for (uint64_t id = 10; id < 10 + 2 * PGR_MAX_MEMBERS; id++)
	{
		m = fx_msg(PGR_MSG_VOTE_RESP, id, 1, n->term);
		CHECK(rejected(n, &m, PGR_EUNKNOWN_NODE, "vote from a stranger"));
	}
	m = fx_msg(PGR_MSG_VOTE_RESP, 2, 1, n->term);
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
}

/*
 * A heartbeat answer can only echo a read round the leader started; one
 * that claims a later round must not count, or a single bogus message
 * would confirm, long after, a read the leader can no longer vouch for
 * (dissertation 6.4: the round must start after the read arrives).
 */
static void
test_heartbeat_answer_for_a_future_read_round_is_rejected(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_msg r;
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	r = fx_msg(PGR_MSG_HEARTBEAT_RESP, 2, 1, n->term);
	r.context = 1000;
	CHECK(rejected(n, &r, PGR_EBADMSG, "echo of a read round never started"));
	/* a read now needs a real answer from node 2 or 3 */
	CHECK_EQ(pgr_node_read_index(n, 5), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 0);
	r.context = 0;
	CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 0);
}

/*
 * Only our leader may answer our forwarded reads or tell us to campaign
 * at once; the same messages from anyone else are ignored.
 */
static void
test_follower_ignores_read_answers_and_timeout_now_from_others(void)
{
	struct pgr_node *n = hostile_follower();
	struct pgr_msg m;
	struct fx_batch *b;

	CHECK(n != NULL);
	m = fx_msg(PGR_MSG_READ_INDEX_RESP, 3, 1, 2);
	m.context = 7;
	m.index = 2;
	CHECK(rejected(n, &m, PGR_EIGNORED, "read answer from a node that is not the leader"));
	m = fx_msg(PGR_MSG_TIMEOUT_NOW, 3, 1, 2);
	CHECK(rejected(n, &m, PGR_EIGNORED, "TimeoutNow from a node that is not the leader"));
	m = fx_msg(PGR_MSG_TIMEOUT_NOW, 9, 1, 2);
	CHECK(rejected(n, &m, PGR_EIGNORED, "TimeoutNow from a stranger"));

	/* from the leader both work */
	m = fx_msg(PGR_MSG_READ_INDEX_RESP, 2, 1, 2);
	m.context = 7;
	m.index = 2;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_reads, 1);
	CHECK_EQ(b->reads[0].index, 2);
	m = fx_msg(PGR_MSG_TIMEOUT_NOW, 2, 1, 2);
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_CANDIDATE);
	CHECK_EQ(fx_status(n).term, 3);
}

/* ---------------------------------------------------------------------- */
/* Misuse by the caller                                                   */
/* ---------------------------------------------------------------------- */

/* Between ready and advance nothing may change the node. */
static void
test_ready_and_advance_misuse_returns_estate(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_ready rd;
	struct pgr_msg m = fx_msg(PGR_MSG_HEARTBEAT, 2, 1, 2);
	struct pgr_conf_change cc;
	struct pgr_config c;
	uint8_t d[1] = {'m'};
	uint64_t idx;

	CHECK(n != NULL);
	CHECK_EQ(pgr_node_advance(n), PGR_ESTATE);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	CHECK_EQ(pgr_node_ready(n, &rd), PGR_OK);
	CHECK_EQ(rd.n_entries, 1);
	CHECK_EQ(pgr_node_ready(n, &rd), PGR_ESTATE);
	memset(&cc, 0, sizeof(cc));
	cc.type = PGR_CC_ADD_LEARNER;
	cc.node_id = 4;
	fx_conf(&c, 1, 0);
	CHECK_EQ(pgr_node_tick(n), PGR_ESTATE);
	CHECK_EQ(pgr_node_step(n, &m), PGR_ESTATE);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_ESTATE);
	CHECK_EQ(pgr_node_propose_conf_change(n, &cc, &idx), PGR_ESTATE);
	CHECK_EQ(pgr_node_read_index(n, 1), PGR_ESTATE);
	CHECK_EQ(pgr_node_transfer_leadership(n, 2), PGR_ESTATE);
	CHECK_EQ(pgr_node_compact(n, 1, d, 1, NULL), PGR_ESTATE);
	CHECK_EQ(pgr_node_campaign(n), PGR_ESTATE);
	CHECK_EQ(pgr_node_report_unreachable(n, 2), PGR_ESTATE);
	CHECK_EQ(pgr_node_report_snapshot(n, 2, true), PGR_ESTATE);
	CHECK_EQ(pgr_node_bootstrap(n, &c), PGR_ESTATE);
	/* the batch is still intact and can be finished */
	CHECK_EQ(rd.entries[0].index, idx);
	CHECK_EQ(pgr_node_advance(n), PGR_OK);
	CHECK_EQ(pgr_node_advance(n), PGR_ESTATE);
	CHECK_EQ(pgr_node_tick(n), PGR_OK);
	/* bootstrapping a node that already has a log */
	CHECK_EQ(pgr_node_bootstrap(n, &c), PGR_ESTATE);
}

/* Options a node cannot run with. */
static void
test_node_new_rejects_invalid_options(void)
{
	struct pgr_options o;
	struct pgr_node *n = (struct pgr_node *) 1;

	o = fx_opts(0, 10, 1);
	CHECK_EQ(pgr_node_new(&o, NULL, &n), PGR_EINVAL);
	CHECK(n == NULL);
	o = fx_opts(1, 10, 0);
	CHECK_EQ(pgr_node_new(&o, NULL, &n), PGR_EINVAL);
	o = fx_opts(1, 3, 3);
	CHECK_EQ(pgr_node_new(&o, NULL, &n), PGR_EINVAL);
	o = fx_opts(1, 10, 1);
	o.alloc.alloc = NULL;
	CHECK_EQ(pgr_node_new(&o, NULL, &n), PGR_EINVAL);
	CHECK_EQ(pgr_node_new(NULL, NULL, &n), PGR_EINVAL);
}

/* Restored state that storage could not legitimately have produced. */
static void
test_node_new_rejects_inconsistent_restored_state(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_config c;
	uint8_t cbuf[FX_CONF_BUF];
	size_t clen;
	uint8_t junk[3] = {9, 9, 9};
	struct pgr_entry good[3];
	struct pgr_entry e[3];
	struct pgr_snapshot snap;
	struct pgr_restore rs;
	struct pgr_node *n;

	fx_conf(&c, 3, 0);
	CHECK_EQ(pgr_config_encode(&c, cbuf, sizeof(cbuf), &clen), PGR_OK);
	memset(good, 0, sizeof(good));
	for (int i = 0; i < 3; i++)
	{
		good[i].index = (uint64_t) i + 1;
		good[i].term = i == 2 ? 2 : 1;
	}
	good[0].type = PGR_ENTRY_CONFIG;
	good[0].len = (uint32_t) clen;
	good[0].data = cbuf;
	memset(&rs, 0, sizeof(rs));
	rs.hs.term = 2;
	rs.hs.commit = 3;
	rs.entries = e;
	rs.n_entries = 3;
	rs.applied = 2;

	/* on a wrong answer, report the case and go on with the others */
#define EXPECT_CORRUPT(what)                                                       \
	do                                                                             \
	{                                                                              \
		enum pgr_err err_ = pgr_node_new(&o, &rs, &n);                             \
		fx_register(n);                                                            \
		if (err_ != PGR_ECORRUPT || n != NULL)                                     \
			test_fail(__FILE__, __LINE__, "%s: got %s", what, pgr_strerror(err_)); \
		memcpy(e, good, sizeof(e));                                                \
		rs.hs.term = 2;                                                            \
		rs.hs.commit = 3;                                                          \
		rs.applied = 2;                                                            \
		rs.entries = e;                                                            \
		rs.n_entries = 3;                                                          \
		rs.snapshot = NULL;                                                        \
	} while (0)

	/* the baseline is accepted */
	memcpy(e, good, sizeof(e));
	CHECK_EQ(pgr_node_new(&o, &rs, &n), PGR_OK);
	fx_register(n);

	e[1].index = 3;
	EXPECT_CORRUPT("indexes not dense");
	e[0].index = 2;
	EXPECT_CORRUPT("log not starting after the snapshot");
	e[2].term = 0;
	EXPECT_CORRUPT("entry of term 0");
	e[1].term = 2;
	e[2].term = 1;
	EXPECT_CORRUPT("decreasing terms");
	rs.hs.term = 1;
	EXPECT_CORRUPT("entry of a term above the hard state's");
	rs.applied = 4;
	EXPECT_CORRUPT("applied past the log");
	e[1].type = PGR_ENTRY_CONF_CHANGE;
	EXPECT_CORRUPT("change request stored in the log");
	e[1].type = 9;
	EXPECT_CORRUPT("unknown entry type");
	e[1].len = 3;
	EXPECT_CORRUPT("payload length without data");
	e[0].data = junk;
	e[0].len = 3;
	EXPECT_CORRUPT("configuration entry that does not decode");
	rs.entries = NULL;
	EXPECT_CORRUPT("entries missing");
	rs.hs.commit = 9;
	EXPECT_CORRUPT("commit past the log");
	rs.hs.vote = 2;
	rs.hs.term = 0;
	rs.n_entries = 0;
	rs.hs.commit = 0;
	rs.applied = 0;
	EXPECT_CORRUPT("a vote in term 0");

	memset(&snap, 0, sizeof(snap));
	snap.meta.index = 0;
	snap.meta.term = 1;
	snap.meta.config = c;
	rs.snapshot = &snap;
	rs.n_entries = 0;
	rs.applied = 0;
	EXPECT_CORRUPT("snapshot at index 0");
	snap.meta.index = 5;
	snap.meta.term = 0;
	rs.snapshot = &snap;
	rs.n_entries = 0;
	rs.applied = 5;
	EXPECT_CORRUPT("snapshot of term 0");
	snap.meta.term = 1;
	snap.meta.config.n_members = 0;
	rs.snapshot = &snap;
	rs.n_entries = 0;
	rs.applied = 5;
	EXPECT_CORRUPT("snapshot without a configuration");
	snap.meta.config = c;
	snap.len = 4;
	rs.snapshot = &snap;
	rs.n_entries = 0;
	rs.applied = 5;
	EXPECT_CORRUPT("snapshot length without data");
	snap.len = 0;
	rs.snapshot = &snap;
	rs.n_entries = 0;
	rs.applied = 4;
	EXPECT_CORRUPT("applied below the snapshot");
	/* entries after the snapshot with a term below the snapshot's */
	snap.meta.term = 2;
	rs.snapshot = &snap;
	rs.applied = 5;
	for (int i = 0; i < 3; i++)
		e[i].index = 6 + (uint64_t) i;
	EXPECT_CORRUPT("entries of terms below the snapshot's");
	/* the same entries with the snapshot's term are fine */
	for (int i = 0; i < 3; i++)
	{
		e[i].index = 6 + (uint64_t) i;
		e[i].term = 2;
	}
	rs.snapshot = &snap;
	rs.applied = 5;
	rs.hs.commit = 8;
	CHECK_EQ(pgr_node_new(&o, &rs, &n), PGR_OK);
	fx_register(n);
	CHECK_EQ(fx_status(n).first_index, 6);
#undef EXPECT_CORRUPT
}

/* ---------------------------------------------------------------------- */
/* The caller's allocator                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Counts live blocks and bytes, checks that realloc and free are given
 * what alloc returned (and realloc the right old size), and can fail the
 * k-th request.
 */
struct counting
{
	size_t live_blocks;
	size_t live_bytes;
	size_t requests;
	size_t fail_at; /* 0: never */
	size_t failed;
	size_t bad_old_size;
};

#define HDR 16

static void *
c_alloc(void *ctx, size_t size)
{
	struct counting *c = ctx;
	uint8_t *p;

	if (++c->requests == c->fail_at)
	{
		c->failed++;
		return NULL;
	}
	p = malloc(size + HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &size, sizeof(size));
	c->live_blocks++;
	c->live_bytes += size;
	return p + HDR;
}

static void *
c_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
	struct counting *c = ctx;
	uint8_t *p = (uint8_t *) ptr - HDR;
	size_t had;

	memcpy(&had, p, sizeof(had));
	if (had != old_size)
		c->bad_old_size++;
	if (++c->requests == c->fail_at)
	{
		c->failed++;
		return NULL;
	}
	p = realloc(p, new_size + HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &new_size, sizeof(new_size));
	c->live_bytes = c->live_bytes - had + new_size;
	return p + HDR;
}

static void
c_free(void *ctx, void *ptr)
{
	struct counting *c = ctx;
	uint8_t *p;
	size_t had;

	if (ptr == NULL)
		return;
	p = (uint8_t *) ptr - HDR;
	memcpy(&had, p, sizeof(had));
	c->live_blocks--;
	c->live_bytes -= had;
	free(p);
}

struct outcome
{
	bool completed;
	uint32_t enomem;    /* calls that returned PGR_ENOMEM */
	uint32_t snapshots; /* snapshots installed by followers */
	uint64_t first_leader;
	uint64_t last_leader;
	size_t live_before_free;
};

#define NOTE(id, call)                                     \
	do                                                     \
	{                                                      \
		if (fx_net_note(&net, (id), (call)) == PGR_ENOMEM) \
			goto out;                                      \
	} while (0)

/*
 * Three nodes on the caller's allocator: bootstrap, election, replication,
 * a partition, compaction, a snapshot to the lagging node, reads, a
 * leadership transfer, a membership change, compaction on a follower.
 * Stops at the first PGR_ENOMEM; then frees every node.
 */
static struct outcome
run_scenario(struct counting *cnt)
{
	struct fx_net net;
	struct outcome out;
	struct pgr_config c;
	uint8_t d[64];
	uint8_t state[100];
	uint64_t idx;
	uint64_t lead;
	uint64_t lag;
	struct pgr_conf_change cc;

	memset(&out, 0, sizeof(out));
	memset(d, 'd', sizeof(d));
	memset(state, 's', sizeof(state));
	fx_net_init(&net);
	fx_conf(&c, 3, 0);
	for (uint64_t id = 1; id <= 3; id++)
	{
		struct pgr_options o = fx_opts(id, 10, 1);
		enum pgr_err err;

		o.alloc.alloc = c_alloc;
		o.alloc.realloc = c_realloc;
		o.alloc.free = c_free;
		o.alloc.ctx = cnt;
		o.max_msg_bytes = 200;
		o.max_inflight = 4;
		err = pgr_node_new(&o, NULL, &net.nodes[id]);
		fx_register(net.nodes[id]);
		NOTE(id, err);
		NOTE(id, pgr_node_bootstrap(net.nodes[id], &c));
	}
	lead = fx_net_elect(&net, 100);
	if (net.n_enomem > 0 || lead == 0)
		goto out;
	out.first_leader = lead;
	for (int i = 0; i < 20; i++)
	{
		NOTE(lead, pgr_node_propose(net.nodes[lead], d, (uint32_t) (i % 64), &idx));
		if (i % 4 == 0)
			fx_net_run(&net);
	}
	fx_net_run(&net);

	lag = lead == 3 ? 1 : 3;
	fx_net_isolate(&net, lag, true);
	for (int i = 0; i < 20; i++)
		NOTE(lead, pgr_node_propose(net.nodes[lead], d, 10, &idx));
	fx_net_run(&net);
	if (net.n_enomem > 0)
		goto out;
	NOTE(lead, pgr_node_compact(net.nodes[lead], net.nodes[lead]->log.applied, state, sizeof(state),
								NULL));
	fx_net_isolate(&net, lag, false);
	for (int i = 0; i < 5 && net.n_enomem == 0; i++)
		fx_net_tick(&net);
	if (net.n_enomem > 0)
		goto out;

	NOTE(lead, pgr_node_read_index(net.nodes[lead], 1));
	NOTE(lag, pgr_node_read_index(net.nodes[lag], 2));
	fx_net_run(&net);
	for (int i = 0; i < 3 && net.n_enomem == 0; i++)
		fx_net_tick(&net);
	if (net.n_enomem > 0)
		goto out;

	NOTE(lead, pgr_node_transfer_leadership(net.nodes[lead], lag));
	fx_net_run(&net);
	if (net.n_enomem > 0 || fx_net_leader(&net) == 0)
		goto out;
	lead = fx_net_leader(&net);
	out.last_leader = lead;
	NOTE(lead, pgr_node_propose(net.nodes[lead], d, 5, &idx));
	fx_net_run(&net);
	if (net.n_enomem > 0)
		goto out;
	memset(&cc, 0, sizeof(cc));
	cc.type = PGR_CC_ADD_LEARNER;
	cc.node_id = 4;
	NOTE(lead, pgr_node_propose_conf_change(net.nodes[lead], &cc, &idx));
	fx_net_run(&net);
	for (uint64_t id = 1; id <= 3 && net.n_enomem == 0; id++)
		if (id != lead)
			NOTE(id, pgr_node_compact(net.nodes[id], net.nodes[id]->log.applied, state, 10, NULL));
	if (net.n_enomem == 0)
		out.completed = true;
out:
	out.enomem = net.n_enomem;
	out.snapshots = 0;
	for (int i = 1; i <= 3; i++)
		out.snapshots += net.snapshots_installed[i];
	out.live_before_free = cnt->live_bytes;
	for (int i = 1; i <= 3; i++)
		if (net.nodes[i] != NULL)
			fx_node_free(net.nodes[i]);
	fx_net_free(&net);
	return out;
}

#undef NOTE

/* Every byte the core takes from the allocator it gives back. */
static void
test_every_byte_is_freed_after_node_free(void)
{
	struct counting cnt;
	struct outcome out;

	memset(&cnt, 0, sizeof(cnt));
	out = run_scenario(&cnt);
	CHECK(out.completed);
	CHECK_EQ(out.enomem, 0);
	/* the scenario did what it says */
	CHECK(out.snapshots >= 1);
	CHECK(out.last_leader != 0 && out.last_leader != out.first_leader);
	CHECK(out.live_before_free > 0);
	CHECK(cnt.requests > 100);
	CHECK_EQ(cnt.bad_old_size, 0);
	CHECK_EQ(cnt.live_blocks, 0);
	CHECK_EQ(cnt.live_bytes, 0);
}

/*
 * Fail the k-th allocation, for every k the scenario reaches: the failure
 * surfaces as PGR_ENOMEM, nothing crashes (the sanitizer build checks the
 * memory accesses), and freeing the nodes returns every byte.
 */
static void
test_allocation_failures_return_enomem_and_leak_nothing(void)
{
	struct counting cnt;
	size_t total;
	size_t step;

	memset(&cnt, 0, sizeof(cnt));
	(void) run_scenario(&cnt);
	total = cnt.requests;
	CHECK(total > 100);
	step = total > 3000 ? total / 3000 : 1;
	for (size_t k = 1; k <= total; k += step)
	{
		struct outcome out;

		memset(&cnt, 0, sizeof(cnt));
		cnt.fail_at = k;
		out = run_scenario(&cnt);
		if (cnt.failed > 0 && out.enomem == 0)
			test_fail(__FILE__, __LINE__, "allocation %zu failed silently", k);
		if (cnt.live_blocks != 0)
			test_fail(__FILE__, __LINE__, "allocation %zu failed: %zu blocks leaked", k,
					  cnt.live_blocks);
		CHECK(!(cnt.failed > 0 && out.enomem == 0));
		CHECK_EQ(cnt.live_blocks, 0);
		CHECK_EQ(cnt.live_bytes, 0);
		CHECK_EQ(cnt.bad_old_size, 0);
	}
}

static const struct test_case cases[] = {
	TEST(test_malformed_messages_are_rejected_without_effect),
	TEST(test_leader_rejects_impossible_responses_and_strangers),
	TEST(test_candidate_ignores_votes_from_strangers),
	TEST(test_heartbeat_answer_for_a_future_read_round_is_rejected),
	TEST(test_follower_ignores_read_answers_and_timeout_now_from_others),
	TEST(test_ready_and_advance_misuse_returns_estate),
	TEST(test_node_new_rejects_invalid_options),
	TEST(test_node_new_rejects_inconsistent_restored_state),
	TEST(test_every_byte_is_freed_after_node_free),
	TEST(test_allocation_failures_return_enomem_and_leak_nothing),
};

FX_MAIN(cases)
