/*-------------------------------------------------------------------------
 *
 * app_fixture.h
 *		A small cluster for the application layer's unit tests: real Raft
 *		nodes (public API only), each with its application state and call
 *		table, executing ready batches as the worker does (persist in memory,
 *		send, apply through pgr_app_apply_ready, advance), on a virtual
 *		clock of 10 ms ticks, with links that can be cut one way and
 *		message types that can be dropped.
 *
 * Only what a test needs to stage a scenario exactly: no randomness, FIFO
 * delivery, everything runs until quiet after each step.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/app_fixture.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_APP_FIXTURE_H
#define PGRAFT_APP_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "pgraft/app.h"

#include "harness.h"

#define AC_MAX           6 /* node ids 1..5 */
#define AC_TICK_MS       10
#define AC_ELECTION_TICK 10
#define AC_RETRY_MS      (AC_ELECTION_TICK * AC_TICK_MS)

struct ac_msg
{
	struct pgr_msg m;
	struct pgr_entry *entries;
	struct pgr_snapshot snap;
};

struct ac_node
{
	struct pgr_node *node;
	struct pgr_app_state app;
	struct pgr_calls calls;
	uint64_t incarnation;
	struct pgr_call_done done[64];
	uint32_t n_done;
	uint32_t snapshots; /* installed */
};

struct ac
{
	struct ac_node n[AC_MAX];
	uint32_t size;
	uint64_t now;
	bool cut[AC_MAX][AC_MAX]; /* from -> to dropped */
	bool drop_type[PGR_MSG_TYPE_MAX + 1];
	struct ac_msg *q;
	size_t qn;
	size_t qcap;
	bool hold; /* queue messages without delivering */
	struct pgr_app_state scratch;
};

static struct ac ac_world; /* large: never on the stack */

static inline void
ac_msg_free(struct ac_msg *am)
{
	for (uint32_t i = 0; i < am->m.n_entries; i++)
		free(am->entries[i].data);
	free(am->entries);
	free(am->snap.data);
}

static inline void
ac_push(struct ac *w, const struct pgr_msg *m)
{
	struct ac_msg *am;

	if (w->cut[m->from][m->to] || w->drop_type[m->type])
		return;
	if (w->qn == w->qcap)
	{
		w->qcap = w->qcap ? 2 * w->qcap : 64;
		w->q = realloc(w->q, w->qcap * sizeof(*w->q));
	}
	am = &w->q[w->qn++];
	memset(am, 0, sizeof(*am));
	am->m = *m;
	if (m->n_entries > 0)
	{
		am->entries = calloc(m->n_entries, sizeof(struct pgr_entry));
		for (uint32_t i = 0; i < m->n_entries; i++)
		{
			am->entries[i] = m->entries[i];
			am->entries[i].data = NULL;
			if (m->entries[i].len > 0)
			{
				am->entries[i].data = malloc(m->entries[i].len);
				memcpy(am->entries[i].data, m->entries[i].data, m->entries[i].len);
			}
		}
		am->m.entries = am->entries;
	}
	if (m->snapshot != NULL)
	{
		am->snap = *m->snapshot;
		am->snap.data = malloc(m->snapshot->len + 1);
		memcpy(am->snap.data, m->snapshot->data, m->snapshot->len);
		am->m.snapshot = &am->snap;
	}
}

/* Execute node id's ready batches: persist (nothing), send, apply, advance. */
static inline void
ac_ready(struct ac *w, uint64_t id)
{
	struct ac_node *an = &w->n[id];

	while (pgr_node_has_ready(an->node))
	{
		struct pgr_ready rd;
		const struct pgr_app_state *snap = NULL;

		if (pgr_node_ready(an->node, &rd) != PGR_OK)
			abort();
		for (size_t i = 0; i < rd.n_msgs; i++)
			ac_push(w, &rd.msgs[i]);
		if (rd.snapshot != NULL)
		{
			const uint8_t *kv;
			size_t kv_len;

			if (pgr_app_state_decode(rd.snapshot->data, rd.snapshot->len, &rd.snapshot->meta,
									 &w->scratch, &kv, &kv_len) != PGR_OK)
				abort();
			snap = &w->scratch;
			an->snapshots++;
		}
		if (pgr_app_apply_ready(&an->app, &an->calls, &rd, snap, NULL) != PGR_OK)
			abort();
		if (pgr_node_advance(an->node) != PGR_OK)
			abort();
	}
	while (an->n_done < 64 && pgr_calls_next_done(&an->calls, &an->done[an->n_done]))
		an->n_done++;
}

/* Drive every node's calls, then deliver until nothing moves. */
static inline void
ac_run(struct ac *w)
{
	for (int guard = 0; guard < 100000; guard++)
	{
		bool moved = false;

		for (uint64_t id = 1; id <= w->size; id++)
			if (w->n[id].node != NULL)
			{
				if (pgr_calls_drive(&w->n[id].calls, w->n[id].node, &w->n[id].app, w->now) !=
					PGR_OK)
					abort();
				ac_ready(w, id);
			}
		if (w->hold || w->qn == 0)
			return;
		{
			struct ac_msg am = w->q[0];

			memmove(w->q, w->q + 1, (w->qn - 1) * sizeof(*w->q));
			w->qn--;
			if (!w->cut[am.m.from][am.m.to] && w->n[am.m.to].node != NULL)
				(void) pgr_node_step(w->n[am.m.to].node, &am.m);
			ac_msg_free(&am);
			moved = true;
		}
		(void) moved;
	}
}

static inline void
ac_tick(struct ac *w, int ticks)
{
	for (int t = 0; t < ticks; t++)
	{
		w->now += AC_TICK_MS;
		for (uint64_t id = 1; id <= w->size; id++)
			if (w->n[id].node != NULL)
				(void) pgr_node_tick(w->n[id].node);
		ac_run(w);
	}
}

static inline uint64_t
ac_leader(const struct ac *w)
{
	uint64_t best = 0, term = 0;

	for (uint64_t id = 1; id <= w->size; id++)
	{
		struct pgr_status s;

		if (w->n[id].node == NULL)
			continue;
		pgr_node_status(w->n[id].node, &s);
		if (s.role == PGR_ROLE_LEADER && s.term >= term)
		{
			best = id;
			term = s.term;
		}
	}
	return best;
}

static inline void
ac_member(struct pgr_member *m, uint64_t id)
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->role = PGR_MEMBER_VOTER;
	m->context_len =
		(uint32_t) snprintf((char *) m->context, sizeof(m->context), "host%llu:700%llu",
							(unsigned long long) id, (unsigned long long) id);
}

static inline struct pgr_node *
ac_new_node(uint64_t id, uint64_t seed)
{
	struct pgr_options o;
	struct pgr_restore r;
	struct pgr_node *nd = NULL;

	memset(&o, 0, sizeof(o));
	o.id = id;
	o.election_tick = AC_ELECTION_TICK;
	o.heartbeat_tick = 1;
	o.seed = seed;
	o.alloc = pgr_libc_allocator;
	memset(&r, 0, sizeof(r));
	if (pgr_node_new(&o, &r, &nd) != PGR_OK)
		abort();
	return nd;
}

/* A cluster of voters 1..n (all bootstrap the same configuration), node 1 leading. */
static inline struct ac *
ac_cluster(uint32_t n)
{
	struct ac *w = &ac_world;
	struct pgr_config conf;

	memset(w, 0, sizeof(*w));
	w->size = n;
	w->now = 1000;
	memset(&conf, 0, sizeof(conf));
	conf.n_members = n;
	for (uint32_t i = 0; i < n; i++)
		ac_member(&conf.members[i], i + 1);
	for (uint64_t id = 1; id <= n; id++)
	{
		struct ac_node *an = &w->n[id];

		an->node = ac_new_node(id, id * 7);
		if (pgr_node_bootstrap(an->node, &conf) != PGR_OK)
			abort();
		pgr_app_state_init(&an->app);
		an->incarnation = 1000 + id;
		if (pgr_calls_init(&an->calls, &pgr_libc_allocator, id, an->incarnation, AC_RETRY_MS) !=
			PGR_OK)
			abort();
	}
	ac_run(w);
	(void) pgr_node_campaign(w->n[1].node);
	ac_run(w);
	return w;
}

/* A crash of the worker: the node and its calls start again (new incarnation). */
static inline void
ac_restart_calls(struct ac *w, uint64_t id, uint64_t incarnation)
{
	pgr_calls_free(&w->n[id].calls);
	w->n[id].incarnation = incarnation;
	if (pgr_calls_init(&w->n[id].calls, &pgr_libc_allocator, id, incarnation, AC_RETRY_MS) !=
		PGR_OK)
		abort();
}

static inline void
ac_free(struct ac *w)
{
	for (uint64_t id = 1; id <= w->size; id++)
		if (w->n[id].node != NULL)
		{
			pgr_node_free(w->n[id].node);
			pgr_calls_free(&w->n[id].calls);
		}
	for (size_t i = 0; i < w->qn; i++)
		ac_msg_free(&w->q[i]);
	free(w->q);
	memset(w, 0, sizeof(*w));
}

static inline void
ac_cut(struct ac *w, uint64_t from, uint64_t to, bool cut)
{
	w->cut[from][to] = cut;
}

/* Compact node id at its applied index with its application state. */
static inline enum pgr_err
ac_compact(struct ac *w, uint64_t id)
{
	struct ac_node *an = &w->n[id];
	static uint8_t buf[PGR_APP_STATE_MAX];
	size_t len;
	struct pgr_snapshot_meta meta;

	pgr_app_state_encode(&an->app, NULL, buf, &len);
	return pgr_node_compact(an->node, an->app.applied, buf, len, &meta);
}

static inline enum pgr_err
ac_append(struct ac *w, uint64_t id, uint32_t tag, const char *data, uint64_t timeout_ms)
{
	struct pgr_call_spec sp;

	memset(&sp, 0, sizeof(sp));
	sp.kind = PGR_CALL_APPEND;
	sp.deadline = w->now + timeout_ms;
	sp.payload = (const uint8_t *) data;
	sp.len = (uint32_t) strlen(data);
	return pgr_calls_start(&w->n[id].calls, tag, &sp);
}

/* The outcome reported for tag on node id, or NULL if none yet. */
static inline const struct pgr_call_done *
ac_done(const struct ac *w, uint64_t id, uint32_t tag)
{
	for (uint32_t i = 0; i < w->n[id].n_done; i++)
		if (w->n[id].done[i].tag == tag)
			return &w->n[id].done[i];
	return NULL;
}

/* How many entries on node id (from 1 up to its applied) carry data and count. */
static inline uint32_t
ac_count_data(const struct ac *w, uint64_t id, const char *data, uint64_t *index_out)
{
	struct pgr_status s;
	uint32_t n = 0;

	pgr_node_status(w->n[id].node, &s);
	for (uint64_t i = s.first_index; i <= s.applied; i++)
	{
		const struct pgr_entry *e;
		struct pgr_envelope env;

		if (pgr_node_entry_at(w->n[id].node, i, &e) != PGR_OK)
			continue;
		if (e->type == PGR_ENTRY_NORMAL && pgr_envelope_read(e->data, e->len, &env) &&
			env.term == e->term && env.len == strlen(data) && memcmp(env.data, data, env.len) == 0)
		{
			n++;
			if (index_out != NULL)
				*index_out = i;
		}
	}
	return n;
}

#endif /* PGRAFT_APP_FIXTURE_H */
