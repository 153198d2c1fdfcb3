/*-------------------------------------------------------------------------
 *
 * test_raft_membership.c
 *		Single-server membership changes (dissertation 4.1-4.2), the
 *		configuration encoding, and pgr_config_apply.
 *
 * The rules checked: a node uses the latest configuration in its log,
 * committed or not (so it changes on append and rolls back when the entry
 * is truncated); the leader proposes one change at a time, only once an
 * entry of its term is committed; learners neither vote nor count; a
 * leader that removed itself keeps leading until the change commits, then
 * steps down; every member, with its context, is learned from the log.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_raft_membership.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft_fixture.h"

static struct pgr_conf_change
change(uint32_t type, uint64_t id, const char *ctx)
{
	struct pgr_conf_change cc;

	memset(&cc, 0, sizeof(cc));
	cc.type = type;
	cc.node_id = id;
	if (ctx != NULL)
	{
		cc.context_len = (uint32_t) strlen(ctx);
		memcpy(cc.context, ctx, cc.context_len);
	}
	return cc;
}

static const struct pgr_member *
member(const struct pgr_node *n, uint64_t id)
{
	return pgr_config_find(pgr_node_config(n), id);
}

/* ---------------------------------------------------------------------- */
/* Learners                                                               */
/* ---------------------------------------------------------------------- */

/* A learner's acknowledgement does not count towards a majority. */
static void
test_learner_does_not_count_for_commit(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_config c;
	uint64_t t = 1;
	struct pgr_node *n;
	uint8_t d[1] = {'l'};
	uint64_t idx;

	fx_conf(&c, 2, 1);
	n = fx_node_log(&o, &c, 1, PGR_NONE, 1, &t, 1);
	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, false), PGR_OK);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	CHECK_EQ(fx_ack(n, 3, idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 1);
	CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
}

/*
 * A learner never campaigns; a candidate does not ask learners for votes
 * and does not count a learner's grant.
 */
static void
test_learner_neither_campaigns_nor_votes(void)
{
	struct pgr_options o = fx_opts(4, 10, 1);
	struct pgr_config c;
	uint64_t t = 1;
	struct pgr_node *n;
	struct pgr_msg m;
	struct fx_batch *b;

	fx_conf(&c, 3, 1);
	n = fx_node_log(&o, &c, 1, PGR_NONE, 1, &t, 1);
	CHECK(n != NULL);
	for (int i = 0; i < 50; i++)
		CHECK_EQ(pgr_node_tick(n), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
	CHECK_EQ(fx_status(n).elections_started, 0);
	CHECK_EQ(fx_status(n).pre_votes_started, 0);
	CHECK_EQ(pgr_node_campaign(n), PGR_EIGNORED);
	CHECK(!pgr_node_has_ready(n));

	o = fx_opts(1, 10, 1);
	o.disable_pre_vote = true;
	n = fx_node_log(&o, &c, 1, PGR_NONE, 1, &t, 1);
	CHECK(n != NULL);
	CHECK_EQ(pgr_node_campaign(n), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(fx_count(b, PGR_MSG_VOTE, 0), 2);
	CHECK_EQ(fx_count(b, PGR_MSG_VOTE, 4), 0);
	m = fx_msg(PGR_MSG_VOTE_RESP, 4, 1, n->term);
	(void) pgr_node_step(n, &m);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_CANDIDATE);
	m.from = 2;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
}

/* ---------------------------------------------------------------------- */
/* Changes on the leader                                                  */
/* ---------------------------------------------------------------------- */

/*
 * Add a learner (it gets a progress entry and the log, but the quorum is
 * unchanged), then promote it (from that entry on it counts).  Each change
 * takes effect when appended.
 */
static void
test_add_learner_then_promote_it(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_conf_change cc = change(PGR_CC_ADD_LEARNER, 4, "n4:5432");
	struct pgr_progress_info pi;
	uint64_t idx;
	const struct pgr_member *m;
	struct fx_batch *b;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_progress(n, 4, &pi), PGR_ENOENT);
	CHECK_EQ(pgr_node_propose_conf_change(n, &cc, &idx), PGR_OK);
	CHECK_EQ(idx, 3);
	CHECK_EQ(fx_status(n).config_index, 3);
	m = member(n, 4);
	CHECK(m != NULL);
	CHECK_EQ(m->role, PGR_MEMBER_LEARNER);
	CHECK_EQ(m->context_len, 7);
	CHECK(memcmp(m->context, "n4:5432", 7) == 0);
	CHECK_EQ(pgr_node_progress(n, 4, &pi), PGR_OK);
	b = fx_ready(n);
	CHECK_EQ(b->n_entries, 1);
	CHECK_EQ(b->entries[0].type, PGR_ENTRY_CONFIG);
	CHECK(fx_find(b, PGR_MSG_APP, 4) != NULL);
	/* the learner's acknowledgement alone commits nothing */
	CHECK_EQ(fx_ack(n, 4, 3), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 2);
	CHECK_EQ(fx_ack(n, 2, 3), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 3);

	cc = change(PGR_CC_PROMOTE, 4, NULL);
	CHECK_EQ(pgr_node_propose_conf_change(n, &cc, &idx), PGR_OK);
	CHECK_EQ(member(n, 4)->role, PGR_MEMBER_VOTER);
	CHECK_EQ(member(n, 4)->context_len, 7); /* kept on promote */
	CHECK_EQ(pgr_config_voters(pgr_node_config(n)), 4);
	/* four voters: 1 and 2 are no longer a majority */
	CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 3);
	CHECK_EQ(fx_ack(n, 4, idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
}

/* Adding a voter to a single-voter cluster: its vote is needed at once. */
static void
test_add_voter_changes_the_quorum_on_append(void)
{
	struct pgr_node *n = fx_node(1, 1, 10, 1);
	struct pgr_conf_change cc = change(PGR_CC_ADD_VOTER, 2, "n2");
	uint8_t d[1] = {'v'};
	uint64_t idx;
	uint64_t pidx;

	CHECK(n != NULL);
	CHECK_EQ(pgr_node_campaign(n), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
	CHECK_EQ(fx_status(n).commit, 2);
	CHECK_EQ(pgr_node_propose_conf_change(n, &cc, &idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 2);
	CHECK_EQ(pgr_node_propose(n, d, 1, &pidx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 2);
	CHECK_EQ(fx_ack(n, 2, pidx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, pidx);
}

/* Removing a follower: the remaining voters form the quorum. */
static void
test_remove_follower_shrinks_the_quorum(void)
{
	struct pgr_node *n = fx_node(1, 4, 10, 1);
	struct pgr_conf_change cc = change(PGR_CC_REMOVE, 4, NULL);
	struct pgr_progress_info pi;
	uint8_t d[1] = {'r'};
	uint64_t idx;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_propose_conf_change(n, &cc, &idx), PGR_OK);
	CHECK(member(n, 4) == NULL);
	CHECK_EQ(pgr_node_progress(n, 4, &pi), PGR_ENOENT);
	/* with {1,2,3}, one acknowledgement is a majority */
	CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
	/* the removed node is a stranger now */
	CHECK_EQ(fx_ack(n, 4, idx), PGR_EUNKNOWN_NODE);
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	CHECK_EQ(fx_ack(n, 3, idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
}

/*
 * Dissertation 4.2.2: a leader that removes itself manages the cluster
 * until the configuration without it commits (counting only the new
 * configuration's voters), takes no new proposals, then steps down and
 * hands leadership to a live voter holding the change (TimeoutNow), so the
 * cluster needs no election timeout to find a new leader.
 */
static void
test_removed_leader_leads_until_the_change_commits(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_conf_change cc = change(PGR_CC_REMOVE, 1, NULL);
	uint8_t d[1] = {'x'};
	uint64_t idx;
	uint64_t pidx;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_propose_conf_change(n, &cc, &idx), PGR_OK);
	CHECK(member(n, 1) == NULL);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
	CHECK_EQ(pgr_node_propose(n, d, 1, &pidx), PGR_EBUSY);
	/* its own copy does not count: 1 of the 2 remaining voters is not enough */
	CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx - 1);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);
	CHECK_EQ(fx_ack(n, 3, idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
	CHECK_EQ(fx_status(n).leader, PGR_NONE);
	CHECK_EQ(fx_count(fx_ready(n), PGR_MSG_TIMEOUT_NOW, 0), 1);
	CHECK(fx_find(&fx_rd, PGR_MSG_TIMEOUT_NOW, 2) != NULL ||
		  fx_find(&fx_rd, PGR_MSG_TIMEOUT_NOW, 3) != NULL);
	/* and, not being a voter, never campaigns again */
	for (int i = 0; i < 50; i++)
		CHECK_EQ(pgr_node_tick(n), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_FOLLOWER);
}

/*
 * Issue 7, 12: a removed node never learned it was removed (the leader
 * stops replicating to it at once) and pre-voted forever.  The leader
 * answers a non-member with MsgRemoved once the removal is committed; the
 * removed node stops campaigning; a leader replicating to it again (it was
 * added back) makes it a member again.
 */
static void
test_removed_node_learns_it_and_stops_campaigning(void)
{
	struct pgr_node *l = fx_node(1, 3, 10, 1);
	struct pgr_node *x = fx_node(3, 3, 10, 1);
	struct pgr_conf_change cc = change(PGR_CC_REMOVE, 3, NULL);
	struct pgr_msg pv = fx_msg(PGR_MSG_PRE_VOTE, 3, 1, 0);
	struct fx_batch *b;
	const struct pgr_msg *r;
	uint64_t idx;

	CHECK(l != NULL && x != NULL);
	CHECK_EQ(fx_make_leader(l, true), PGR_OK);
	CHECK_EQ(pgr_node_propose_conf_change(l, &cc, &idx), PGR_OK);
	/* uncommitted: the leader does not say anything yet */
	pv.term = fx_status(l).term + 1;
	pv.index = 1;
	pv.log_term = 1;
	CHECK_EQ(pgr_node_step(l, &pv), PGR_EIGNORED);
	CHECK_EQ(fx_ack(l, 2, idx), PGR_OK);
	CHECK_EQ(fx_status(l).commit, idx);
	fx_settle(l);

	/* committed: node 3 pre-votes, the leader tells it, stays leader */
	CHECK_EQ(pgr_node_step(l, &pv), PGR_EUNKNOWN_NODE);
	CHECK_EQ(fx_status(l).role, PGR_ROLE_LEADER);
	b = fx_ready(l);
	r = fx_find(b, PGR_MSG_REMOVED, 3);
	CHECK(r != NULL);
	CHECK_EQ(r->index, idx);

	CHECK_EQ(pgr_node_step(x, r), PGR_OK);
	CHECK(fx_status(x).removed);
	for (int i = 0; i < 100; i++)
		CHECK_EQ(pgr_node_tick(x), PGR_OK);
	CHECK_EQ(fx_status(x).pre_votes_started, 0);
	CHECK_EQ(fx_status(x).role, PGR_ROLE_FOLLOWER);

	/* added back: a leader replicates to it, it is a member again */
	CHECK_EQ(fx_heartbeat_from(x, 1, r->term), PGR_OK);
	CHECK(!fx_status(x).removed);
}

/* One change at a time: the next waits until the previous one commits. */
static void
test_one_membership_change_at_a_time(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_conf_change a = change(PGR_CC_ADD_LEARNER, 4, NULL);
	struct pgr_conf_change b = change(PGR_CC_ADD_LEARNER, 5, NULL);
	uint64_t idx;
	uint64_t idx2 = 7;
	uint64_t last;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_propose_conf_change(n, &a, &idx), PGR_OK);
	last = fx_status(n).last_index;
	CHECK_EQ(pgr_node_propose_conf_change(n, &b, &idx2), PGR_EBUSY);
	CHECK_EQ(idx2, 0);
	CHECK_EQ(fx_status(n).last_index, last);
	CHECK(member(n, 5) == NULL);
	CHECK_EQ(fx_ack(n, 2, idx), PGR_OK);
	CHECK_EQ(pgr_node_propose_conf_change(n, &b, &idx2), PGR_OK);
	CHECK(member(n, 5) != NULL);
	/* a change that changes nothing, or names nobody */
	CHECK_EQ(fx_ack(n, 3, idx2), PGR_OK);
	CHECK_EQ(pgr_node_propose_conf_change(n, &b, &idx2), PGR_EEXIST);
	b = change(PGR_CC_REMOVE, 9, NULL);
	CHECK_EQ(pgr_node_propose_conf_change(n, &b, &idx2), PGR_ENOENT);
	b = change(PGR_CC_REMOVE, 0, NULL);
	CHECK_EQ(pgr_node_propose_conf_change(n, &b, &idx2), PGR_EINVAL);
	b = change(7, 5, NULL);
	CHECK_EQ(pgr_node_propose_conf_change(n, &b, &idx2), PGR_EINVAL);
}

/*
 * Ongaro's 2015 fix: a new leader makes no change before an entry of its
 * own term is committed (the previous leader may have half-replicated a
 * conflicting change).
 */
static void
test_no_membership_change_before_a_commit_in_the_leaders_term(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_conf_change cc = change(PGR_CC_ADD_LEARNER, 4, NULL);
	uint64_t idx;

	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, false), PGR_OK);
	CHECK_EQ(pgr_node_propose_conf_change(n, &cc, &idx), PGR_EBUSY);
	CHECK(member(n, 4) == NULL);
	CHECK_EQ(fx_ack(n, 2, 2), PGR_OK);
	CHECK_EQ(pgr_node_propose_conf_change(n, &cc, &idx), PGR_OK);
	CHECK(member(n, 4) != NULL);
}

/* A follower forwards a change request; the leader applies it. */
static void
test_follower_forwards_a_membership_change(void)
{
	struct pgr_node *f = fx_node(2, 3, 10, 1);
	struct pgr_node *l = fx_node(1, 3, 10, 1);
	struct pgr_conf_change cc = change(PGR_CC_ADD_LEARNER, 4, "ctx4");
	uint64_t idx = 5;
	struct fx_batch *b;
	const struct pgr_msg *p;

	CHECK(f != NULL && l != NULL);
	CHECK_EQ(pgr_node_propose_conf_change(f, &cc, &idx), PGR_ENOLEADER);
	CHECK_EQ(fx_make_leader(l, true), PGR_OK);
	CHECK_EQ(fx_heartbeat_from(f, 1, l->term), PGR_OK);
	CHECK_EQ(pgr_node_propose_conf_change(f, &cc, &idx), PGR_OK);
	CHECK_EQ(idx, 0);
	b = fx_ready(f);
	p = fx_find(b, PGR_MSG_PROP, 1);
	CHECK(p != NULL);
	CHECK_EQ(p->n_entries, 1);
	CHECK_EQ(p->entries[0].type, PGR_ENTRY_CONF_CHANGE);
	CHECK_EQ(pgr_node_step(l, p), PGR_OK);
	CHECK(member(l, 4) != NULL);
	CHECK_EQ(member(l, 4)->context_len, 4);
	CHECK(member(f, 4) == NULL);
}

/* ---------------------------------------------------------------------- */
/* Followers: the latest configuration in the log is the one in force      */
/* ---------------------------------------------------------------------- */

/*
 * The configuration changes when the entry is appended, before it
 * commits, and reverts when a new leader truncates the entry.
 */
static void
test_configuration_follows_append_and_truncation(void)
{
	struct pgr_node *n = fx_node(1, 3, 10, 1);
	struct pgr_config c4;
	uint8_t cbuf[FX_CONF_BUF];
	size_t clen;
	struct pgr_entry e;
	struct pgr_msg m;

	CHECK(n != NULL);
	fx_conf(&c4, 4, 0);
	CHECK_EQ(pgr_config_encode(&c4, cbuf, sizeof(cbuf), &clen), PGR_OK);
	memset(&e, 0, sizeof(e));
	e.index = 2;
	e.term = 2;
	e.type = PGR_ENTRY_CONFIG;
	e.len = (uint32_t) clen;
	e.data = cbuf;
	m = fx_msg(PGR_MSG_APP, 2, 1, 2);
	m.index = 1;
	m.log_term = 1;
	m.n_entries = 1;
	m.entries = &e;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_status(n).commit, 1);
	CHECK_EQ(fx_status(n).config_index, 2);
	CHECK_EQ(pgr_node_config(n)->n_members, 4);
	fx_settle(n);

	/* a leader of term 3 never had it: its entry 2 replaces ours */
	e.term = 3;
	e.type = PGR_ENTRY_NORMAL;
	e.len = 0;
	e.data = NULL;
	m = fx_msg(PGR_MSG_APP, 3, 1, 3);
	m.index = 1;
	m.log_term = 1;
	m.n_entries = 1;
	m.entries = &e;
	CHECK_EQ(pgr_node_step(n, &m), PGR_OK);
	CHECK_EQ(fx_term_at(n, 2), 3);
	CHECK_EQ(fx_status(n).config_index, 1);
	CHECK_EQ(pgr_node_config(n)->n_members, 3);
	CHECK(member(n, 4) == NULL);
}

/*
 * New nodes start empty and learn everything from the leader's log: every
 * member, its role and its context, identically on every node.
 */
static void
test_every_node_learns_the_configuration_from_the_log(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_config c;
	uint64_t t = 1;
	struct fx_net net;
	struct pgr_conf_change cc;
	uint64_t idx;
	uint8_t d[1] = {'j'};

	fx_conf(&c, 1, 0);
	memcpy(c.members[0].context, "n1:5432", 7);
	c.members[0].context_len = 7;
	fx_net_init(&net);
	net.nodes[1] = fx_node_log(&o, &c, 1, PGR_NONE, 1, &t, 1);
	CHECK(net.nodes[1] != NULL);
	for (uint64_t id = 2; id <= 3; id++)
	{
		o = fx_opts(id, 10, 1);
		CHECK_EQ(pgr_node_new(&o, NULL, &net.nodes[id]), PGR_OK);
		fx_register(net.nodes[id]);
		CHECK_EQ(pgr_node_config(net.nodes[id])->n_members, 0);
	}
	CHECK_EQ(pgr_node_campaign(net.nodes[1]), PGR_OK);
	fx_net_run(&net);
	CHECK_EQ(fx_status(net.nodes[1]).role, PGR_ROLE_LEADER);

	cc = change(PGR_CC_ADD_LEARNER, 2, "n2:5432");
	CHECK_EQ(pgr_node_propose_conf_change(net.nodes[1], &cc, &idx), PGR_OK);
	fx_net_run(&net);
	cc = change(PGR_CC_PROMOTE, 2, NULL);
	CHECK_EQ(pgr_node_propose_conf_change(net.nodes[1], &cc, &idx), PGR_OK);
	fx_net_run(&net);
	cc = change(PGR_CC_ADD_VOTER, 3, "n3:5432");
	CHECK_EQ(pgr_node_propose_conf_change(net.nodes[1], &cc, &idx), PGR_OK);
	fx_net_run(&net);
	CHECK_EQ(pgr_node_propose(net.nodes[1], d, 1, &idx), PGR_OK);
	fx_net_run(&net);

	for (uint64_t id = 1; id <= 3; id++)
	{
		const struct pgr_config *k = pgr_node_config(net.nodes[id]);

		CHECK_EQ(fx_status(net.nodes[id]).commit, idx);
		CHECK_EQ(k->n_members, 3);
		for (uint32_t i = 0; i < 3; i++)
		{
			char want[8];

			snprintf(want, sizeof(want), "n%u:5432", i + 1);
			CHECK_EQ(k->members[i].id, i + 1);
			CHECK_EQ(k->members[i].role, PGR_MEMBER_VOTER);
			CHECK_EQ(k->members[i].context_len, 7);
			CHECK(memcmp(k->members[i].context, want, 7) == 0);
		}
		CHECK(fx_logs_equal(net.nodes[1], net.nodes[id]));
	}
	fx_net_free(&net);
}

/*
 * Founding a cluster: the configuration becomes entry 1 of term 1,
 * committed, handed out to persist and to apply, and in force at once.
 */
static void
test_bootstrap_writes_the_configuration_as_entry_one(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_node *n = NULL;
	struct pgr_config c;
	struct pgr_config bad;
	struct pgr_config back;
	struct fx_batch *b;

	CHECK_EQ(pgr_node_new(&o, NULL, &n), PGR_OK);
	fx_register(n);
	fx_conf(&bad, 0, 1);
	CHECK_EQ(pgr_node_bootstrap(n, &bad), PGR_EINVAL);
	CHECK_EQ(fx_status(n).last_index, 0);
	CHECK_EQ(fx_status(n).term, 0);
	fx_conf(&c, 3, 1);
	CHECK_EQ(pgr_node_bootstrap(n, &c), PGR_OK);
	CHECK_EQ(fx_status(n).term, 1);
	CHECK_EQ(fx_status(n).commit, 1);
	CHECK_EQ(fx_status(n).config_index, 1);
	CHECK_EQ(pgr_config_voters(pgr_node_config(n)), 3);
	b = fx_ready(n);
	CHECK(b->must_sync);
	CHECK_EQ(b->n_entries, 1);
	CHECK_EQ(b->entries[0].index, 1);
	CHECK_EQ(b->entries[0].term, 1);
	CHECK_EQ(b->entries[0].type, PGR_ENTRY_CONFIG);
	CHECK_EQ(pgr_config_decode(b->entries[0].data, b->entries[0].len, &back), PGR_OK);
	CHECK_EQ(back.n_members, 4);
	CHECK_EQ(b->hs.term, 1);
	CHECK_EQ(b->hs.commit, 1);
	CHECK_EQ(b->n_committed, 1);
	CHECK_EQ(pgr_node_bootstrap(n, &c), PGR_ESTATE);
}

/* ---------------------------------------------------------------------- */
/* Configuration encoding                                                 */
/* ---------------------------------------------------------------------- */

static void
test_config_encoding_round_trips(void)
{
	struct pgr_config c;
	struct pgr_config back;
	static uint8_t buf[FX_CONF_BUF];
	size_t len;

	for (uint32_t n = 1; n <= PGR_MAX_MEMBERS; n += 9)
	{
		memset(&c, 0, sizeof(c));
		c.n_members = n;
		for (uint32_t i = 0; i < n; i++)
		{
			struct pgr_member *m = &c.members[i];

			m->id = 1000 * (uint64_t) i + 7 + ((uint64_t) i << 40);
			m->role = (i % 3 == 1) ? PGR_MEMBER_LEARNER : PGR_MEMBER_VOTER;
			m->context_len = (i * 37) % (PGR_MAX_CONTEXT + 1);
			for (uint32_t k = 0; k < m->context_len; k++)
				m->context[k] = (uint8_t) (k ^ i);
		}
		CHECK_EQ(pgr_config_encode(&c, buf, sizeof(buf), &len), PGR_OK);
		CHECK_EQ(len, pgr_config_encoded_size(&c));
		CHECK_EQ(pgr_config_decode(buf, len, &back), PGR_OK);
		CHECK_EQ(back.n_members, n);
		for (uint32_t i = 0; i < n; i++)
		{
			CHECK_EQ(back.members[i].id, c.members[i].id);
			CHECK_EQ(back.members[i].role, c.members[i].role);
			CHECK_EQ(back.members[i].context_len, c.members[i].context_len);
			CHECK(memcmp(back.members[i].context, c.members[i].context, c.members[i].context_len) ==
				  0);
		}
		CHECK(pgr_config_find(&back, c.members[n - 1].id) != NULL);
		CHECK(pgr_config_find(&back, 3) == NULL);
		/* too small a buffer */
		CHECK_EQ(pgr_config_encode(&c, buf, len - 1, &len), PGR_ETOOBIG);
	}
}

/* Write the encoding by hand, so malformed forms can be built. */
struct raw
{
	uint8_t b[4096];
	size_t n;
};

static void
raw_u8(struct raw *r, uint8_t v)
{
	r->b[r->n++] = v;
}

static void
raw_le(struct raw *r, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		raw_u8(r, (uint8_t) (v >> (8 * i)));
}

static void
raw_member(struct raw *r, uint64_t id, uint8_t role, uint16_t ctx_len)
{
	raw_le(r, id, 8);
	raw_u8(r, role);
	raw_le(r, ctx_len, 2);
	for (uint16_t i = 0; i < ctx_len && r->n < sizeof(r->b); i++)
		raw_u8(r, 'c');
}

static void
test_config_decoding_rejects_every_malformed_form(void)
{
	struct raw r;
	struct pgr_config out;

	/* the well-formed baseline, to be sure the writer is right */
	memset(&r, 0, sizeof(r));
	raw_u8(&r, 1);
	raw_le(&r, 2, 4);
	raw_member(&r, 1, 0, 3);
	raw_member(&r, 2, 1, 0);
	CHECK_EQ(pgr_config_decode(r.b, r.n, &out), PGR_OK);
	CHECK_EQ(out.n_members, 2);
	/* every truncation of it */
	for (size_t cut = 0; cut < r.n; cut++)
		CHECK_EQ(pgr_config_decode(r.b, cut, &out), PGR_ECORRUPT);
	/* a trailing byte */
	raw_u8(&r, 0);
	CHECK_EQ(pgr_config_decode(r.b, r.n, &out), PGR_ECORRUPT);
	CHECK_EQ(pgr_config_decode(NULL, 10, &out), PGR_ECORRUPT);

	{
		static const struct
		{
			uint8_t version;
			uint32_t n;
			uint64_t id1;
			uint8_t role1;
			uint16_t ctx1;
			uint64_t id2;
			uint8_t role2;
		} bad[] = {
			{2, 2, 1, 0, 0, 2, 0}, /* unknown version */
			{0, 2, 1, 0, 0, 2, 0},
			{1, 0, 1, 0, 0, 2, 0},                   /* no members */
			{1, PGR_MAX_MEMBERS + 1, 1, 0, 0, 2, 0}, /* too many */
			{1, 2, 0, 0, 0, 2, 0},                   /* id 0 */
			{1, 2, 2, 0, 0, 2, 0},                   /* duplicate id */
			{1, 2, 3, 0, 0, 2, 0},                   /* not sorted */
			{1, 2, 1, 2, 0, 2, 0},                   /* unknown role */
			{1, 2, 1, 0, 0, 2, 255},
			{1, 2, 1, 1, 0, 2, 1},                   /* no voter */
			{1, 2, 1, 0, PGR_MAX_CONTEXT + 1, 2, 0}, /* context too long */
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		{
			memset(&r, 0, sizeof(r));
			raw_u8(&r, bad[i].version);
			raw_le(&r, bad[i].n, 4);
			raw_member(&r, bad[i].id1, bad[i].role1, bad[i].ctx1);
			raw_member(&r, bad[i].id2, bad[i].role2, 0);
			if (pgr_config_decode(r.b, r.n, &out) != PGR_ECORRUPT)
				test_fail(__FILE__, __LINE__, "malformed case %zu accepted", i);
			CHECK_EQ(pgr_config_decode(r.b, r.n, &out), PGR_ECORRUPT);
		}
	}

	/* encode refuses configurations that break the invariants */
	{
		struct pgr_config c;
		uint8_t buf[FX_CONF_BUF];
		size_t len;

		fx_conf(&c, 2, 0);
		c.members[1].id = 1;
		CHECK_EQ(pgr_config_encode(&c, buf, sizeof(buf), &len), PGR_EINVAL);
		fx_conf(&c, 0, 2);
		CHECK_EQ(pgr_config_encode(&c, buf, sizeof(buf), &len), PGR_EINVAL);
		fx_conf(&c, 0, 0);
		CHECK_EQ(pgr_config_encode(&c, buf, sizeof(buf), &len), PGR_EINVAL);
		fx_conf(&c, 2, 0);
		c.members[0].context_len = PGR_MAX_CONTEXT + 1;
		CHECK_EQ(pgr_config_encode(&c, buf, sizeof(buf), &len), PGR_EINVAL);
		fx_conf(&c, 2, 0);
		c.members[0].role = 5;
		CHECK_EQ(pgr_config_encode(&c, buf, sizeof(buf), &len), PGR_EINVAL);
	}
}

/* ---------------------------------------------------------------------- */
/* pgr_config_apply: every transition and every error                      */
/* ---------------------------------------------------------------------- */

static void
test_config_apply_covers_every_transition_and_error(void)
{
	/* start: 1 voter "a", 2 voter, 3 learner "c" */
	struct pgr_config base;
	struct pgr_config out;
	struct pgr_conf_change cc;
	static const struct
	{
		uint32_t type;
		uint64_t id;
		const char *ctx;
		enum pgr_err want;
		int want_members;
		int want_role; /* role of id after, -1 absent */
	} cases[] = {
		{PGR_CC_ADD_VOTER, 4, "d", PGR_OK, 4, PGR_MEMBER_VOTER},
		{PGR_CC_ADD_VOTER, 1, NULL, PGR_EEXIST, 0, 0},
		{PGR_CC_ADD_VOTER, 1, "a", PGR_EEXIST, 0, 0},
		{PGR_CC_ADD_VOTER, 1, "zz", PGR_EINVAL, 0, 0},
		{PGR_CC_ADD_VOTER, 3, NULL, PGR_OK, 3, PGR_MEMBER_VOTER}, /* promotes */
		{PGR_CC_ADD_VOTER, 3, "c", PGR_OK, 3, PGR_MEMBER_VOTER},
		{PGR_CC_ADD_VOTER, 3, "other", PGR_EINVAL, 0, 0},
		{PGR_CC_ADD_LEARNER, 4, NULL, PGR_OK, 4, PGR_MEMBER_LEARNER},
		{PGR_CC_ADD_LEARNER, 3, NULL, PGR_EEXIST, 0, 0},
		{PGR_CC_ADD_LEARNER, 2, NULL, PGR_EINVAL, 0, 0}, /* demotion */
		{PGR_CC_PROMOTE, 3, NULL, PGR_OK, 3, PGR_MEMBER_VOTER},
		{PGR_CC_PROMOTE, 3, "other", PGR_EINVAL, 0, 0},
		{PGR_CC_PROMOTE, 2, NULL, PGR_EEXIST, 0, 0},
		{PGR_CC_PROMOTE, 9, NULL, PGR_ENOENT, 0, 0},
		{PGR_CC_REMOVE, 2, NULL, PGR_OK, 2, -1},
		{PGR_CC_REMOVE, 3, NULL, PGR_OK, 2, -1},
		{PGR_CC_REMOVE, 9, NULL, PGR_ENOENT, 0, 0},
		{PGR_CC_ADD_VOTER, 0, NULL, PGR_EINVAL, 0, 0},
		{9, 4, NULL, PGR_EINVAL, 0, 0},
	};

	memset(&base, 0, sizeof(base));
	base.n_members = 3;
	for (uint32_t i = 0; i < 3; i++)
		base.members[i].id = i + 1;
	base.members[2].role = PGR_MEMBER_LEARNER;
	base.members[0].context[0] = 'a';
	base.members[0].context_len = 1;
	base.members[2].context[0] = 'c';
	base.members[2].context_len = 1;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		enum pgr_err err;

		memset(&out, 0xAB, sizeof(out));
		cc = change(cases[i].type, cases[i].id, cases[i].ctx);
		err = pgr_config_apply(&base, &cc, &out);
		if (err != cases[i].want)
			test_fail(__FILE__, __LINE__, "case %zu: %s", i, pgr_strerror(err));
		CHECK_EQ(err, cases[i].want);
		if (err != PGR_OK)
			continue;
		CHECK_EQ(out.n_members, cases[i].want_members);
		CHECK(pgr_config_valid(&out));
		if (cases[i].want_role < 0)
			CHECK(pgr_config_find(&out, cases[i].id) == NULL);
		else
		{
			const struct pgr_member *m = pgr_config_find(&out, cases[i].id);

			CHECK(m != NULL);
			CHECK_EQ(m->role, (uint32_t) cases[i].want_role);
		}
	}

	/* a new member is inserted in id order, with its context */
	cc = change(PGR_CC_ADD_VOTER, 0x10, "ctx");
	base.members[2].id = 0x20;
	CHECK_EQ(pgr_config_apply(&base, &cc, &out), PGR_OK);
	CHECK_EQ(out.members[2].id, 0x10);
	CHECK_EQ(out.members[3].id, 0x20);
	CHECK_EQ(out.members[2].context_len, 3);
	/* a promoted learner keeps its context */
	cc = change(PGR_CC_PROMOTE, 0x20, NULL);
	CHECK_EQ(pgr_config_apply(&base, &cc, &out), PGR_OK);
	CHECK_EQ(pgr_config_find(&out, 0x20)->context_len, 1);
	/* out may alias in */
	out = base;
	cc = change(PGR_CC_REMOVE, 2, NULL);
	CHECK_EQ(pgr_config_apply(&out, &cc, &out), PGR_OK);
	CHECK_EQ(out.n_members, 2);
	CHECK(pgr_config_find(&out, 2) == NULL);
	/* never remove the last voter (a learner may go) */
	cc = change(PGR_CC_REMOVE, 1, NULL);
	CHECK_EQ(pgr_config_apply(&out, &cc, &out), PGR_EINVAL);
	CHECK_EQ(out.n_members, 2);
	cc = change(PGR_CC_ADD_VOTER, 5, NULL);
	cc.context_len = PGR_MAX_CONTEXT + 1;
	CHECK_EQ(pgr_config_apply(&base, &cc, &out), PGR_EINVAL);
	/* a full configuration takes no one else */
	fx_conf(&base, PGR_MAX_MEMBERS, 0);
	cc = change(PGR_CC_ADD_LEARNER, 1000, NULL);
	CHECK_EQ(pgr_config_apply(&base, &cc, &out), PGR_ETOOBIG);
}

/* ---------------------------------------------------------------------- */
/* Forcing a configuration after a majority is lost                       */
/* ---------------------------------------------------------------------- */

/* An election timeout of ticks without a leader (pre-votes dropped). */
static void
leaderless_for_an_election_timeout(struct pgr_node *n)
{
	for (uint32_t i = 0; i < n->opts.election_tick; i++)
	{
		CHECK_EQ(pgr_node_tick(n), PGR_OK);
		fx_settle(n);
	}
}

/*
 * Node 1 of 3, whose two peers are gone: its log holds two entries past its
 * commit index (acknowledged, perhaps, by a peer that is gone).  Forced
 * alone it leads a new term; its configuration entry and the no-op of that
 * term are durable in one batch that commits the whole log, uncommitted
 * entries included; nothing is sent to the old peers; the stored state
 * restarts as the same one-voter cluster.
 */
static void
test_force_alone_keeps_and_commits_the_whole_log(void)
{
	struct pgr_options o = fx_opts(1, 10, 1);
	struct pgr_config c;
	uint64_t terms[4] = {1, 1, 2, 2};
	struct pgr_node *n;
	struct pgr_node *again;
	struct fx_batch *b;
	struct pgr_status s;
	uint64_t idx = 0;
	uint8_t d[1] = {'x'};

	fx_conf(&c, 3, 0);
	memcpy(c.members[0].context, "h1:5", 4);
	c.members[0].context_len = 4;
	n = fx_node_log(&o, &c, 2, 2, 2, terms, 4);
	CHECK(n != NULL);
	/* just started: it may not yet have heard from a live leader */
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_EBUSY);
	leaderless_for_an_election_timeout(n);

	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_OK);
	CHECK_EQ(idx, 5);
	s = fx_status(n);
	CHECK_EQ(s.role, PGR_ROLE_LEADER);
	CHECK_EQ(s.term, 3);
	CHECK_EQ(s.vote, 1);
	CHECK_EQ(s.elections_won, 1);
	CHECK_EQ(s.config_index, 5);
	CHECK_EQ(s.last_index, 6);
	CHECK_EQ(s.commit, 6);
	CHECK_EQ(pgr_node_config(n)->n_members, 1);
	CHECK_EQ(pgr_node_config(n)->members[0].id, 1);
	CHECK_EQ(pgr_node_config(n)->members[0].role, PGR_MEMBER_VOTER);
	CHECK_EQ(pgr_node_config(n)->members[0].context_len, 4);
	CHECK(memcmp(pgr_node_config(n)->members[0].context, "h1:5", 4) == 0);

	b = fx_ready(n);
	CHECK(b->must_sync);
	CHECK_EQ(b->n_entries, 2);
	CHECK_EQ(b->entries[0].type, PGR_ENTRY_CONFIG);
	CHECK_EQ(b->entries[0].term, 3);
	CHECK_EQ(b->entries[1].index, 6);
	CHECK(b->has_hard_state);
	CHECK_EQ(b->hs.term, 3);
	CHECK_EQ(b->hs.vote, 1);
	CHECK_EQ(b->hs.commit, 6);
	CHECK_EQ(b->n_msgs, 0);
	CHECK_EQ(b->n_committed, 4);
	CHECK_EQ(b->committed[0].index, 3);
	CHECK_EQ(b->committed[0].term, 2);

	/* restart from what was stored: the same one-voter cluster */
	{
		struct pgr_entry ents[6];
		struct pgr_restore rs;
		uint8_t cbuf[FX_CONF_BUF];
		uint8_t data[3][2] = {{2, 1}, {3, 2}, {4, 2}};
		size_t clen;

		CHECK_EQ(pgr_config_encode(&c, cbuf, sizeof(cbuf), &clen), PGR_OK);
		memset(ents, 0, sizeof(ents));
		for (int i = 0; i < 4; i++)
		{
			ents[i].index = (uint64_t) i + 1;
			ents[i].term = terms[i];
			ents[i].type = i == 0 ? PGR_ENTRY_CONFIG : PGR_ENTRY_NORMAL;
			ents[i].len = i == 0 ? (uint32_t) clen : 2;
			ents[i].data = i == 0 ? cbuf : data[i - 1];
		}
		ents[4] = b->entries[0];
		ents[5] = b->entries[1];
		memset(&rs, 0, sizeof(rs));
		rs.hs = b->hs;
		rs.entries = ents;
		rs.n_entries = 6;
		rs.applied = 6;
		again = NULL;
		CHECK_EQ(pgr_node_new(&o, &rs, &again), PGR_OK);
		fx_register(again);
		CHECK_EQ(pgr_node_config(again)->n_members, 1);
		CHECK_EQ(pgr_node_campaign(again), PGR_OK);
		CHECK_EQ(fx_status(again).role, PGR_ROLE_LEADER);
		CHECK_EQ(fx_status(again).term, 4);
	}

	/* it commits alone from now on */
	CHECK_EQ(pgr_node_propose(n, d, 1, &idx), PGR_OK);
	CHECK_EQ(fx_status(n).commit, idx);
	/* and is refused a second time: it already is the only member */
	fx_settle(n);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_EEXIST);
	/* as is the only voter of a configuration with learners */
	fx_conf(&c, 1, 2);
	o = fx_opts(1, 10, 1);
	n = fx_node_log(&o, &c, 1, PGR_NONE, 1, terms, 1);
	CHECK(n != NULL);
	leaderless_for_an_election_timeout(n);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_EEXIST);
}

/*
 * Refused, changing nothing: while a leader is known (a follower that
 * hears from one, a leader) or was within an election timeout (a follower
 * whose connection to its leader broke: a live majority may be there), on
 * a learner, on a non-member, on a node told it was removed, inside a ready
 * batch.  A follower whose leader went quiet for an election timeout may
 * be forced.
 */
static void
test_force_alone_refuses_while_a_leader_is_known(void)
{
	struct pgr_options o = fx_opts(2, 10, 1);
	struct pgr_config c;
	uint64_t t = 1;
	struct pgr_node *n;
	struct pgr_status before;
	struct pgr_ready rd;
	uint64_t idx = 0;

	/* a follower of a live leader */
	n = fx_node(2, 3, 10, 1);
	CHECK(n != NULL);
	CHECK_EQ(fx_heartbeat_from(n, 1, 2), PGR_OK);
	before = fx_status(n);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_EBUSY);
	{
		struct pgr_status after = fx_status(n);

		CHECK(fx_same_state(&before, &after));
	}
	CHECK(!pgr_node_has_ready(n));
	/* inside a ready batch */
	CHECK_EQ(pgr_node_tick(n), PGR_OK);
	CHECK_EQ(fx_heartbeat_from(n, 1, 2), PGR_OK);
	for (int i = 0; i < 25 && !pgr_node_has_ready(n); i++)
		CHECK_EQ(pgr_node_tick(n), PGR_OK);
	CHECK(pgr_node_has_ready(n));
	CHECK_EQ(pgr_node_ready(n, &rd), PGR_OK);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_ESTATE);
	CHECK_EQ(pgr_node_advance(n), PGR_OK);
	fx_settle(n);
	/*
	 * the leader's port refuses: it is forgotten at once, but forcing waits
	 * an election timeout (a restart of the leader's worker looks the same)
	 */
	CHECK_EQ(fx_heartbeat_from(n, 1, 2), PGR_OK);
	CHECK_EQ(pgr_node_report_peer_down(n, 1), PGR_OK);
	CHECK_EQ(fx_status(n).leader, PGR_NONE);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_EBUSY);
	for (int i = 0; i < 9; i++)
	{
		CHECK_EQ(pgr_node_tick(n), PGR_OK);
		fx_settle(n);
	}
	CHECK_EQ(fx_status(n).leader, PGR_NONE);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_EBUSY);
	CHECK_EQ(pgr_node_tick(n), PGR_OK);
	fx_settle(n);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_OK);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);

	/* a leader (it has its majority, or would step down) */
	n = fx_node(1, 3, 10, 1);
	CHECK(n != NULL);
	CHECK_EQ(fx_make_leader(n, true), PGR_OK);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_EBUSY);
	CHECK_EQ(fx_status(n).role, PGR_ROLE_LEADER);

	/* a learner, and a node that is not a member at all */
	fx_conf(&c, 2, 1);
	o = fx_opts(3, 10, 1);
	n = fx_node_log(&o, &c, 1, PGR_NONE, 1, &t, 1);
	CHECK(n != NULL);
	leaderless_for_an_election_timeout(n);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_EINVAL);
	o = fx_opts(9, 10, 1);
	n = fx_node_log(&o, &c, 1, PGR_NONE, 1, &t, 1);
	CHECK(n != NULL);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_ENOENT);

	/* a node a leader said was removed (its log still lists it) */
	n = fx_node(3, 3, 10, 1);
	CHECK(n != NULL);
	{
		struct pgr_msg r = fx_msg(PGR_MSG_REMOVED, 1, 3, 1);

		r.index = 2;
		CHECK_EQ(pgr_node_step(n, &r), PGR_OK);
	}
	CHECK(fx_status(n).removed);
	CHECK_EQ(pgr_node_force_alone(n, &idx), PGR_ENOENT);
	CHECK_EQ(fx_status(n).term, 1);
}

static const struct test_case cases[] = {
	TEST(test_learner_does_not_count_for_commit),
	TEST(test_learner_neither_campaigns_nor_votes),
	TEST(test_add_learner_then_promote_it),
	TEST(test_add_voter_changes_the_quorum_on_append),
	TEST(test_remove_follower_shrinks_the_quorum),
	TEST(test_removed_leader_leads_until_the_change_commits),
	TEST(test_removed_node_learns_it_and_stops_campaigning),
	TEST(test_one_membership_change_at_a_time),
	TEST(test_no_membership_change_before_a_commit_in_the_leaders_term),
	TEST(test_follower_forwards_a_membership_change),
	TEST(test_configuration_follows_append_and_truncation),
	TEST(test_every_node_learns_the_configuration_from_the_log),
	TEST(test_bootstrap_writes_the_configuration_as_entry_one),
	TEST(test_config_encoding_round_trips),
	TEST(test_config_decoding_rejects_every_malformed_form),
	TEST(test_config_apply_covers_every_transition_and_error),
	TEST(test_force_alone_keeps_and_commits_the_whole_log),
	TEST(test_force_alone_refuses_while_a_leader_is_known),
};

FX_MAIN(cases)
