/*-------------------------------------------------------------------------
 *
 * raft_fixture.h
 *		White-box helpers shared by the Raft core's unit tests
 *		(test/unit/test_raft_*.c).
 *
 * The helpers build node state directly: a node with an id, a set of voters
 * and election/heartbeat ticks, with a hard state and a log loaded through
 * struct pgr_restore (entry 1 is always the configuration entry, term 1, so
 * every node knows the cluster from its log, as in a real cluster); roles
 * are forced with pgr_become_*.  Ready batches are captured as deep copies
 * the test owns, so a test can advance the node and still look at what it
 * sent.  A tiny in-memory network delivers messages between nodes in FIFO
 * order, with links that can be cut.
 *
 * Every node made here is registered and freed by pgr_node_free at the end
 * of the program (FX_MAIN), so the sanitizer build checks that freeing a
 * node in any state releases everything; tests that free a node earlier use
 * fx_node_free.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/raft_fixture.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_RAFT_FIXTURE_H
#define PGRAFT_RAFT_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pgraft/core.h"
#include "../../src/core/raft.h"

#define FX_MAX_NODES 1024
#define FX_MAX_NET   8

/* ---------------------------------------------------------------------- */
/* Node registry                                                          */
/* ---------------------------------------------------------------------- */

static struct pgr_node *fx_nodes[FX_MAX_NODES];
static size_t fx_n_nodes;

static inline void
fx_register(struct pgr_node *n)
{
	if (n != NULL && fx_n_nodes < FX_MAX_NODES)
		fx_nodes[fx_n_nodes++] = n;
}

/* Free a node now (a restart, or a test that makes many nodes). */
static inline void
fx_node_free(struct pgr_node *n)
{
	for (size_t i = 0; i < fx_n_nodes; i++)
		if (fx_nodes[i] == n)
			fx_nodes[i] = NULL;
	pgr_node_free(n);
}

static inline void
fx_free_all(void)
{
	for (size_t i = 0; i < fx_n_nodes; i++)
		pgr_node_free(fx_nodes[i]);
	fx_n_nodes = 0;
}

#define FX_MAIN(cases)                                                            \
	int main(int argc, char **argv)                                               \
	{                                                                             \
		int rc_ = test_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv); \
		fx_free_all();                                                            \
		return rc_;                                                               \
	}

/* ---------------------------------------------------------------------- */
/* Options, configurations, logs                                          */
/* ---------------------------------------------------------------------- */

static inline struct pgr_options
fx_opts(uint64_t id, uint32_t election_tick, uint32_t heartbeat_tick)
{
	struct pgr_options o;

	memset(&o, 0, sizeof(o));
	o.id = id;
	o.election_tick = election_tick;
	o.heartbeat_tick = heartbeat_tick;
	o.seed = id;
	o.alloc = pgr_libc_allocator;
	return o;
}

/* Voters 1..n_voters, then learners n_voters+1..n_voters+n_learners. */
static inline void
fx_conf(struct pgr_config *c, uint32_t n_voters, uint32_t n_learners)
{
	memset(c, 0, sizeof(*c));
	for (uint32_t i = 0; i < n_voters + n_learners; i++)
	{
		c->members[i].id = i + 1;
		c->members[i].role = i < n_voters ? PGR_MEMBER_VOTER : PGR_MEMBER_LEARNER;
	}
	c->n_members = n_voters + n_learners;
}

#define FX_CONF_BUF (PGR_MAX_MEMBERS * (8 + 1 + 2 + PGR_MAX_CONTEXT) + 16)

/*
 * A node whose stored log has the given terms (terms[0] is entry 1, the
 * configuration entry, and must be >= 1) and hard state; nothing unstable,
 * everything up to commit applied.  Entry i carries 2 bytes identifying
 * (index, term) so that logs can be compared byte for byte.  Returns NULL
 * if the core refused the state.
 */
static inline struct pgr_node *
fx_node_log(const struct pgr_options *o, const struct pgr_config *conf, uint64_t term,
			uint64_t vote, uint64_t commit, const uint64_t *terms, size_t n)
{
	static uint8_t cbuf[FX_CONF_BUF];
	static uint8_t data[4096][2];
	struct pgr_entry *ents = calloc(n ? n : 1, sizeof(struct pgr_entry));
	struct pgr_restore rs;
	struct pgr_node *node = NULL;
	size_t clen = 0;

	if (ents == NULL || n > 4096 || pgr_config_encode(conf, cbuf, sizeof(cbuf), &clen) != PGR_OK)
	{
		free(ents);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
	{
		ents[i].index = i + 1;
		ents[i].term = terms[i];
		if (i == 0)
		{
			ents[i].type = PGR_ENTRY_CONFIG;
			ents[i].len = (uint32_t) clen;
			ents[i].data = cbuf;
		}
		else
		{
			data[i][0] = (uint8_t) (i + 1);
			data[i][1] = (uint8_t) terms[i];
			ents[i].type = PGR_ENTRY_NORMAL;
			ents[i].len = 2;
			ents[i].data = data[i];
		}
	}
	memset(&rs, 0, sizeof(rs));
	rs.hs.term = term;
	rs.hs.vote = vote;
	rs.hs.commit = commit;
	rs.entries = ents;
	rs.n_entries = n;
	rs.applied = commit;
	if (pgr_node_new(o, &rs, &node) != PGR_OK)
		node = NULL;
	free(ents);
	fx_register(node);
	return node;
}

/* Drop whatever the node has ready (as if persisted, sent, applied). */
static inline void
fx_settle(struct pgr_node *n)
{
	struct pgr_ready rd;

	while (pgr_node_has_ready(n))
	{
		if (pgr_node_ready(n, &rd) != PGR_OK)
			return;
		(void) pgr_node_advance(n);
	}
}

/* Node id of a cluster of n_voters voters, term 1, log [config], settled. */
static inline struct pgr_node *
fx_node_opts(const struct pgr_options *o, uint32_t n_voters)
{
	struct pgr_config c;
	uint64_t t = 1;
	struct pgr_node *n;

	fx_conf(&c, n_voters, 0);
	n = fx_node_log(o, &c, 1, PGR_NONE, 1, &t, 1);
	return n;
}

static inline struct pgr_node *
fx_node(uint64_t id, uint32_t n_voters, uint32_t et, uint32_t ht)
{
	struct pgr_options o = fx_opts(id, et, ht);

	return fx_node_opts(&o, n_voters);
}

static inline struct pgr_status
fx_status(const struct pgr_node *n)
{
	struct pgr_status s;

	pgr_node_status(n, &s);
	return s;
}

static inline uint64_t
fx_term_at(const struct pgr_node *n, uint64_t index)
{
	uint64_t t = 0;

	if (pgr_node_term_at(n, index, &t) != PGR_OK)
		return UINT64_MAX;
	return t;
}

/* ---------------------------------------------------------------------- */
/* Deep copies of messages and captured ready batches                     */
/* ---------------------------------------------------------------------- */

static inline void *
fx_memdup(const void *p, size_t len)
{
	void *q;

	if (p == NULL || len == 0)
		return NULL;
	q = malloc(len);
	if (q != NULL)
		memcpy(q, p, len);
	return q;
}

static inline struct pgr_entry *
fx_entries_dup(const struct pgr_entry *e, size_t n)
{
	struct pgr_entry *c;

	if (n == 0)
		return NULL;
	c = calloc(n, sizeof(*c));
	for (size_t i = 0; c != NULL && i < n; i++)
	{
		c[i] = e[i];
		c[i].data = fx_memdup(e[i].data, e[i].len);
	}
	return c;
}

static inline void
fx_entries_free(struct pgr_entry *e, size_t n)
{
	for (size_t i = 0; e != NULL && i < n; i++)
		free(e[i].data);
	free(e);
}

static inline void
fx_msg_dup(struct pgr_msg *dst, const struct pgr_msg *src)
{
	*dst = *src;
	dst->entries = fx_entries_dup(src->entries, src->n_entries);
	if (src->snapshot != NULL)
	{
		dst->snapshot = malloc(sizeof(struct pgr_snapshot));
		*dst->snapshot = *src->snapshot;
		dst->snapshot->data = fx_memdup(src->snapshot->data, src->snapshot->len);
	}
}

static inline void
fx_msg_free(struct pgr_msg *m)
{
	fx_entries_free(m->entries, m->n_entries);
	if (m->snapshot != NULL)
		free(m->snapshot->data);
	free(m->snapshot);
	m->entries = NULL;
	m->snapshot = NULL;
}

/* One ready batch, deep-copied; messages stably sorted by (to, type). */
struct fx_batch
{
	bool has_snapshot;
	struct pgr_snapshot snapshot;
	struct pgr_entry *entries;
	size_t n_entries;
	bool has_hard_state;
	struct pgr_hard_state hs;
	bool must_sync;
	struct pgr_msg *msgs;
	size_t n_msgs;
	struct pgr_entry *committed;
	size_t n_committed;
	struct pgr_read_state *reads;
	size_t n_reads;
};

static struct fx_batch fx_rd;

static inline void
fx_batch_clear(struct fx_batch *b)
{
	free(b->snapshot.data);
	fx_entries_free(b->entries, b->n_entries);
	for (size_t i = 0; i < b->n_msgs; i++)
		fx_msg_free(&b->msgs[i]);
	free(b->msgs);
	fx_entries_free(b->committed, b->n_committed);
	free(b->reads);
	memset(b, 0, sizeof(*b));
}

static inline int
fx_msg_cmp(const void *a, const void *b)
{
	const struct pgr_msg *x = a;
	const struct pgr_msg *y = b;

	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return 0;
}

/*
 * Take the node's ready batch into fx_rd (replacing the previous capture)
 * and advance.  With nothing ready, fx_rd is empty.  Returns &fx_rd.
 */
static inline struct fx_batch *
fx_ready(struct pgr_node *n)
{
	struct pgr_ready rd;
	struct fx_batch *b = &fx_rd;

	fx_batch_clear(b);
	if (!pgr_node_has_ready(n) || pgr_node_ready(n, &rd) != PGR_OK)
		return b;
	if (rd.snapshot != NULL)
	{
		b->has_snapshot = true;
		b->snapshot = *rd.snapshot;
		b->snapshot.data = fx_memdup(rd.snapshot->data, rd.snapshot->len);
	}
	b->entries = fx_entries_dup(rd.entries, rd.n_entries);
	b->n_entries = rd.n_entries;
	b->has_hard_state = rd.has_hard_state;
	b->hs = rd.hs;
	b->must_sync = rd.must_sync;
	if (rd.n_msgs > 0)
	{
		b->msgs = calloc(rd.n_msgs, sizeof(struct pgr_msg));
		for (size_t i = 0; i < rd.n_msgs; i++)
			fx_msg_dup(&b->msgs[i], &rd.msgs[i]);
		b->n_msgs = rd.n_msgs;
		/* stable: messages to one peer keep their order */
		for (size_t i = 1; i < b->n_msgs; i++)
		{
			struct pgr_msg v = b->msgs[i];
			size_t j = i;

			while (j > 0 && fx_msg_cmp(&b->msgs[j - 1], &v) > 0)
			{
				b->msgs[j] = b->msgs[j - 1];
				j--;
			}
			b->msgs[j] = v;
		}
	}
	b->committed = fx_entries_dup(rd.committed, rd.n_committed);
	b->n_committed = rd.n_committed;
	if (rd.n_reads > 0)
	{
		b->reads = fx_memdup(rd.reads, rd.n_reads * sizeof(struct pgr_read_state));
		b->n_reads = rd.n_reads;
	}
	(void) pgr_node_advance(n);
	return b;
}

/* The first captured message of this type (and destination, unless 0). */
static inline const struct pgr_msg *
fx_find(const struct fx_batch *b, uint32_t type, uint64_t to)
{
	for (size_t i = 0; i < b->n_msgs; i++)
		if (b->msgs[i].type == type && (to == 0 || b->msgs[i].to == to))
			return &b->msgs[i];
	return NULL;
}

static inline size_t
fx_count(const struct fx_batch *b, uint32_t type, uint64_t to)
{
	size_t c = 0;

	for (size_t i = 0; i < b->n_msgs; i++)
		if (b->msgs[i].type == type && (to == 0 || b->msgs[i].to == to))
			c++;
	return c;
}

/* A message as a peer would send it. */
static inline struct pgr_msg
fx_msg(uint32_t type, uint64_t from, uint64_t to, uint64_t term)
{
	struct pgr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = from;
	m.to = to;
	m.term = term;
	return m;
}

/* An acknowledgement by from of everything up to index. */
static inline enum pgr_err
fx_ack(struct pgr_node *n, uint64_t from, uint64_t index)
{
	struct pgr_msg m = fx_msg(PGR_MSG_APP_RESP, from, n->id, n->term);

	m.index = index;
	return pgr_node_step(n, &m);
}

/*
 * Make n leader of the next term (no election messages), drop its ready,
 * and, with ack, have every other member acknowledge the new leader's empty
 * entry so it commits and every follower is in REPLICATE state.
 */
static inline enum pgr_err
fx_make_leader(struct pgr_node *n, bool ack)
{
	enum pgr_err err = pgr_become_candidate(n);

	if (err == PGR_OK)
		err = pgr_become_leader(n);
	fx_settle(n);
	if (err != PGR_OK || !ack)
		return err;
	for (uint32_t i = 0; i < n->config.n_members && err == PGR_OK; i++)
		if (n->config.members[i].id != n->id)
			err = fx_ack(n, n->config.members[i].id, pgr_log_last_index(&n->log));
	fx_settle(n);
	return err;
}

/* Make the follower n know lead as leader of term (a heartbeat from it). */
static inline enum pgr_err
fx_heartbeat_from(struct pgr_node *n, uint64_t lead, uint64_t term)
{
	struct pgr_msg m = fx_msg(PGR_MSG_HEARTBEAT, lead, n->id, term);
	enum pgr_err err = pgr_node_step(n, &m);

	fx_settle(n);
	return err;
}

/* Two logs (in memory) hold the same entries from first to last. */
static inline bool
fx_logs_equal(const struct pgr_node *a, const struct pgr_node *b)
{
	uint64_t last = pgr_log_last_index(&a->log);

	if (last != pgr_log_last_index(&b->log))
		return false;
	for (uint64_t i = 1; i <= last; i++)
	{
		const struct pgr_entry *x;
		const struct pgr_entry *y;

		if (pgr_node_entry_at(a, i, &x) != PGR_OK || pgr_node_entry_at(b, i, &y) != PGR_OK)
			return false;
		if (x->term != y->term || x->type != y->type || x->len != y->len ||
			(x->len > 0 && memcmp(x->data, y->data, x->len) != 0))
			return false;
	}
	return true;
}

/* Status fields that describe Raft state (not the counters). */
static inline bool
fx_same_state(const struct pgr_status *a, const struct pgr_status *b)
{
	return a->term == b->term && a->vote == b->vote && a->leader == b->leader &&
		   a->role == b->role && a->first_index == b->first_index &&
		   a->last_index == b->last_index && a->commit == b->commit && a->applied == b->applied &&
		   a->snapshot_index == b->snapshot_index && a->snapshot_term == b->snapshot_term &&
		   a->config_index == b->config_index && a->lead_transferee == b->lead_transferee;
}

/* ---------------------------------------------------------------------- */
/* A tiny network                                                         */
/* ---------------------------------------------------------------------- */

/*
 * Nodes indexed by id (1..FX_MAX_NET-1); a FIFO of deep-copied messages.
 * A cut link drops messages in that direction; a message to an id without
 * a node is dropped too (a peer that is down).
 */
struct fx_net
{
	struct pgr_node *nodes[FX_MAX_NET];
	bool cut[FX_MAX_NET][FX_MAX_NET];
	struct pgr_msg *q;
	size_t head;
	size_t n;
	size_t cap;
	uint64_t delivered;
	uint64_t delivered_app; /* MsgApp delivered (round-trip counting) */
	uint64_t snap_msgs;     /* MsgSnap sent */
	/* what each node's ready batches handed out */
	uint32_t snapshots_installed[FX_MAX_NET];
	struct pgr_read_state reads[FX_MAX_NET][16];
	uint32_t n_reads[FX_MAX_NET];
	/* a call returned PGR_ENOMEM: the node is left alone until freed */
	bool dead[FX_MAX_NET];
	uint32_t n_enomem;
};

/* Note an error from a call on node id; PGR_ENOMEM retires the node. */
static inline enum pgr_err
fx_net_note(struct fx_net *net, uint64_t id, enum pgr_err err)
{
	if (err == PGR_ENOMEM && id < FX_MAX_NET)
	{
		net->dead[id] = true;
		net->n_enomem++;
	}
	return err;
}

static inline struct pgr_node *
fx_net_node(const struct fx_net *net, uint64_t id)
{
	if (id >= FX_MAX_NET || net->dead[id])
		return NULL;
	return net->nodes[id];
}

static inline void
fx_net_init(struct fx_net *net)
{
	memset(net, 0, sizeof(*net));
}

static inline void
fx_net_free(struct fx_net *net)
{
	for (size_t i = net->head; i < net->n; i++)
		fx_msg_free(&net->q[i]);
	free(net->q);
	net->q = NULL;
	net->head = net->n = net->cap = 0;
}

static inline void
fx_net_push(struct fx_net *net, const struct pgr_msg *m)
{
	if (m->from < FX_MAX_NET && m->to < FX_MAX_NET && net->cut[m->from][m->to])
		return;
	if (net->n == net->cap)
	{
		if (net->head > 0)
		{
			memmove(net->q, net->q + net->head, (net->n - net->head) * sizeof(*net->q));
			net->n -= net->head;
			net->head = 0;
		}
		if (net->n == net->cap)
		{
			net->cap = net->cap ? net->cap * 2 : 64;
			net->q = realloc(net->q, net->cap * sizeof(*net->q));
		}
	}
	fx_msg_dup(&net->q[net->n++], m);
}

/* Collect every node's ready batch into the queue (persist = keep in memory). */
static inline void
fx_net_collect(struct fx_net *net)
{
	for (int i = 1; i < FX_MAX_NET; i++)
	{
		struct pgr_node *nd = fx_net_node(net, (uint64_t) i);
		struct pgr_ready rd;

		if (nd == NULL || !pgr_node_has_ready(nd))
			continue;
		if (pgr_node_ready(nd, &rd) != PGR_OK)
			continue;
		if (rd.snapshot != NULL)
			net->snapshots_installed[i]++;
		for (size_t k = 0; k < rd.n_reads && net->n_reads[i] < 16; k++)
			net->reads[i][net->n_reads[i]++] = rd.reads[k];
		for (size_t k = 0; k < rd.n_msgs; k++)
		{
			if (rd.msgs[k].type == PGR_MSG_SNAP)
				net->snap_msgs++;
			fx_net_push(net, &rd.msgs[k]);
		}
		(void) pgr_node_advance(nd);
	}
}

/* Deliver one message; false when the queue is empty. */
static inline bool
fx_net_deliver_one(struct fx_net *net)
{
	struct pgr_msg m;

	if (net->head == net->n)
		return false;
	m = net->q[net->head++];
	if (fx_net_node(net, m.to) != NULL && !(m.from < FX_MAX_NET && net->cut[m.from][m.to]))
	{
		(void) fx_net_note(net, m.to, pgr_node_step(net->nodes[m.to], &m));
		net->delivered++;
		if (m.type == PGR_MSG_APP)
			net->delivered_app++;
	}
	fx_msg_free(&m);
	return true;
}

/* Run until no node has anything to say (bounded). */
static inline void
fx_net_run(struct fx_net *net)
{
	for (int guard = 0; guard < 100000; guard++)
	{
		fx_net_collect(net);
		if (!fx_net_deliver_one(net))
			return;
	}
}

/* Drop every queued message. */
static inline void
fx_net_drop_all(struct fx_net *net)
{
	fx_net_collect(net);
	for (size_t i = net->head; i < net->n; i++)
		fx_msg_free(&net->q[i]);
	net->head = net->n = 0;
}

static inline void
fx_net_isolate(struct fx_net *net, uint64_t id, bool cut)
{
	for (int i = 0; i < FX_MAX_NET; i++)
		if ((uint64_t) i != id)
			net->cut[id][i] = net->cut[i][id] = cut;
}

/* Tick every node once, then run the network to quiescence. */
static inline void
fx_net_tick(struct fx_net *net)
{
	for (int i = 1; i < FX_MAX_NET; i++)
		if (fx_net_node(net, (uint64_t) i) != NULL)
			(void) fx_net_note(net, (uint64_t) i, pgr_node_tick(net->nodes[i]));
	fx_net_run(net);
}

/* The current leader among the nodes (the one of the highest term), or 0. */
static inline uint64_t
fx_net_leader(const struct fx_net *net)
{
	uint64_t lead = 0;
	uint64_t term = 0;

	for (int i = 1; i < FX_MAX_NET; i++)
		if (fx_net_node(net, (uint64_t) i) != NULL && net->nodes[i]->role == PGR_ROLE_LEADER &&
			net->nodes[i]->term >= term)
		{
			lead = (uint64_t) i;
			term = net->nodes[i]->term;
		}
	return lead;
}

/* Tick until some node leads (at most max ticks); its id, or 0. */
static inline uint64_t
fx_net_elect(struct fx_net *net, int max)
{
	for (int i = 0; i < max; i++)
	{
		uint64_t lead = fx_net_leader(net);

		if (lead != 0)
			return lead;
		fx_net_tick(net);
	}
	return fx_net_leader(net);
}

/* A network of n voters 1..n, each with the bootstrapped log. */
static inline bool
fx_net_cluster(struct fx_net *net, uint32_t n, const struct pgr_options *base)
{
	fx_net_init(net);
	for (uint32_t i = 1; i <= n; i++)
	{
		struct pgr_options o = *base;

		o.id = i;
		o.seed = base->seed * 131 + i;
		net->nodes[i] = fx_node_opts(&o, n);
		if (net->nodes[i] == NULL)
			return false;
	}
	return true;
}

#endif /* PGRAFT_RAFT_FIXTURE_H */
