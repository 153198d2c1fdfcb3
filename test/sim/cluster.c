/*-------------------------------------------------------------------------
 *
 * cluster.c
 *		Simulated nodes: their life cycle, their durable storage, their
 *		application state machine, and the execution of ready batches.
 *
 * A node's storage is updated exactly as THE CALLER'S CONTRACT of
 * include/pgraft/core.h says, and a crash keeps only that storage: the
 * node object is freed (its allocator must then hold no byte), the
 * application state is volatile and restarts from the snapshot, and a hard
 * state written without sync survives a crash only half of the time.
 *
 * Ready batches are executed strictly persist -> send -> apply -> advance
 * (a leader's early messages, which the contract lets go first, excepted),
 * and the checker is consulted at each stage, because each stage is where
 * one of the invariants can first be seen broken.  An armed node crashes
 * between persist and send (after sending a random prefix of its messages),
 * which is the window where forgetting to persist does damage.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/sim/cluster.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static void *
sim_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "raft-sim: out of memory\n");
		exit(2);
	}
	return p;
}

/* Crashes aimed at a window hit as often a process as a whole machine. */
enum sim_crash_kind
sim_crash_kind_pick(struct sim_cluster *c)
{
	return sim_rng_chance(&c->rng, 500000) ? SIM_CRASH_POWER : SIM_CRASH_PROCESS;
}

struct sim_node *
sim_node_get(struct sim_cluster *c, uint64_t id)
{
	if (id == SIM_NODE_NONE || id >= SIM_MAX_IDS)
		return NULL;
	return &c->nodes[id];
}

/* ---------------------------------------------------------------------- */
/* The application                                                        */
/* ---------------------------------------------------------------------- */

size_t
sim_app_size(const struct sim_cluster *c, const struct sim_node *sn)
{
	return SIM_SNAP_HEADER + c->p.snap_pad + pgr_app_state_encoded_size(sn->papp, sn->kv);
}

static void
sim_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
sim_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * The pad makes snapshots of varying size whose every byte is checked;
 * pgraft's application state follows it, with the key-value store in it,
 * as the worker writes them.
 */
void
sim_app_encode(const struct sim_cluster *c, const struct sim_node *sn, uint8_t *buf, size_t *len)
{
	size_t blob_len;
	size_t off = SIM_SNAP_HEADER + c->p.snap_pad;

	sim_put64(buf, sn->app.applied);
	sim_put64(buf + 8, sn->app.hash);
	sim_put64(buf + 16, sn->app.n_normal);
	for (size_t i = SIM_SNAP_HEADER; i < off; i++)
		buf[i] = (uint8_t) sim_mix(sn->app.hash + i);
	pgr_app_state_encode(sn->papp, sn->kv, buf + off, &blob_len);
	*len = off + blob_len;
}

bool
sim_app_decode(const struct sim_cluster *c, const uint8_t *buf, uint64_t len, struct sim_app *out)
{
	if (buf == NULL || len < SIM_SNAP_HEADER + c->p.snap_pad)
		return false;
	out->applied = sim_get64(buf);
	out->hash = sim_get64(buf + 8);
	out->n_normal = sim_get64(buf + 16);
	for (size_t i = SIM_SNAP_HEADER; i < SIM_SNAP_HEADER + c->p.snap_pad; i++)
		if (buf[i] != (uint8_t) sim_mix(out->hash + i))
			return false;
	return true;
}

/* Where pgraft's application state starts in snapshot data, and its size. */
size_t
sim_app_blob(const struct sim_cluster *c, const uint8_t *buf, uint64_t len, const uint8_t **blob)
{
	size_t off = SIM_SNAP_HEADER + c->p.snap_pad;

	*blob = buf + off;
	return len >= off ? (size_t) (len - off) : 0;
}

/* ---------------------------------------------------------------------- */
/* Storage                                                                */
/* ---------------------------------------------------------------------- */

bool
sim_storage_chain_at(const struct sim_storage *st, uint64_t index, uint64_t *chain, uint64_t *term)
{
	uint64_t si = sim_storage_snap_index(st);

	if (index == si)
	{
		*chain = st->has_snap ? st->snap_chain : 0;
		*term = st->has_snap ? st->snap.meta.term : 0;
		return true;
	}
	if (index < si || index > sim_storage_last(st))
		return false;
	*chain = st->chains[index - si - 1];
	*term = st->ents[index - si - 1].term;
	return true;
}

/* Drop stored entries from position k on. */
static void
sim_storage_truncate(struct sim_storage *st, size_t k)
{
	for (size_t i = k; i < st->n_ents; i++)
		free(st->ents[i].data);
	if (k < st->n_ents)
		st->n_ents = k;
}

/*
 * Store a snapshot.  keep_after: compaction keeps the entries after the
 * snapshot index; installation (contract 3a) discards the whole log.
 */
static void
sim_storage_set_snapshot(struct sim_cluster *c, struct sim_storage *st,
						 const struct pgr_snapshot *snap, bool keep_after)
{
	uint64_t old_si = sim_storage_snap_index(st);
	struct sim_app app;

	if (keep_after && snap->meta.index > old_si)
	{
		size_t drop = snap->meta.index - old_si;

		if (drop > st->n_ents)
			drop = st->n_ents;
		for (size_t i = 0; i < drop; i++)
			free(st->ents[i].data);
		memmove(st->ents, st->ents + drop, (st->n_ents - drop) * sizeof(st->ents[0]));
		memmove(st->chains, st->chains + drop, (st->n_ents - drop) * sizeof(st->chains[0]));
		st->n_ents -= drop;
	}
	else
		sim_storage_truncate(st, 0);
	free(st->snap.data);
	st->snap.meta = snap->meta;
	st->snap.len = snap->len;
	st->snap.data = sim_xmalloc(snap->len);
	if (snap->len > 0)
		memcpy(st->snap.data, snap->data, snap->len);
	st->has_snap = true;
	/* The checker has verified the data; a corrupt one still gets a chain. */
	st->snap_chain = sim_app_decode(c, snap->data, snap->len, &app) ? app.hash : 0;
}

static void
sim_storage_append(struct sim_cluster *c, struct sim_node *sn, const struct pgr_entry *ents,
				   size_t n)
{
	struct sim_storage *st = &sn->st;
	uint64_t si = sim_storage_snap_index(st);
	uint64_t first = ents[0].index;
	uint64_t prev_chain, prev_term;
	size_t skip = 0;

	/* Entries at or below the snapshot cannot be stored (checker failed). */
	while (skip < n && ents[skip].index <= si)
		skip++;
	if (skip == n)
		return;
	first = ents[skip].index;
	if (first > sim_storage_last(st) + 1)
		return; /* a gap: the checker has failed the seed */
	sim_storage_truncate(st, first - si - 1);
	if (st->n_ents + (n - skip) > st->cap_ents)
	{
		size_t cap = st->cap_ents ? st->cap_ents : 64;

		while (cap < st->n_ents + (n - skip))
			cap *= 2;
		st->ents = realloc(st->ents, cap * sizeof(st->ents[0]));
		st->chains = realloc(st->chains, cap * sizeof(st->chains[0]));
		if (st->ents == NULL || st->chains == NULL)
		{
			fprintf(stderr, "raft-sim: out of memory\n");
			exit(2);
		}
		st->cap_ents = cap;
	}
	sim_storage_chain_at(st, first - 1, &prev_chain, &prev_term);
	for (size_t i = skip; i < n; i++)
	{
		struct pgr_entry *e = &st->ents[st->n_ents];

		*e = ents[i];
		e->data = NULL;
		if (e->len > 0)
		{
			e->data = sim_xmalloc(e->len);
			memcpy(e->data, ents[i].data, e->len);
		}
		prev_chain = sim_chain(prev_chain, e);
		st->chains[st->n_ents] = prev_chain;
		st->n_ents++;
		sim_check_log_matching(c, sn, e->index, e->term, prev_chain);
	}
}

static void
sim_storage_free(struct sim_storage *st)
{
	sim_storage_truncate(st, 0);
	free(st->ents);
	free(st->chains);
	free(st->snap.data);
	memset(st, 0, sizeof(*st));
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                             */
/* ---------------------------------------------------------------------- */

static void
sim_node_options(struct sim_cluster *c, struct sim_node *sn, struct pgr_options *o)
{
	memset(o, 0, sizeof(*o));
	o->id = sn->id;
	o->election_tick = c->p.election_tick;
	o->heartbeat_tick = c->p.heartbeat_tick;
	o->seed = sim_rng_next(&c->rng); /* a new PRNG seed at every start */
	o->max_msg_bytes = c->p.max_msg_bytes;
	o->max_inflight = c->p.max_inflight;
	o->max_apply_bytes = c->p.max_apply_bytes;
	o->alloc = sn->allocator;
}

/* After pgr_node_free every byte must have come back. */
static void
sim_node_free_checked(struct sim_cluster *c, struct sim_node *sn)
{
	pgr_node_free(sn->node);
	sn->node = NULL;
	if (sn->alloc.bytes != 0 || sn->alloc.blocks != 0)
		sim_fail(c, "No leaks",
				 "node %" PRIu64 " holds %" PRId64 " bytes in %" PRId64
				 " blocks after pgr_node_free",
				 sn->id, sn->alloc.bytes, sn->alloc.blocks);
	if (sn->alloc.misuse != 0)
		sim_fail(c, "Allocator contract",
				 "node %" PRIu64 " passed a wrong old_size to realloc %" PRIu64 " times", sn->id,
				 sn->alloc.misuse);
}

void
sim_node_create(struct sim_cluster *c, uint64_t id, bool bootstrap,
				const struct pgr_config *initial)
{
	struct sim_node *sn = sim_node_get(c, id);
	struct pgr_options o;
	struct pgr_restore r;
	enum pgr_err err;

	memset(sn, 0, sizeof(*sn));
	sn->id = id;
	sn->alloc.rng = &c->rng;
	sn->alloc.fail_ppm = c->p.alloc_fail_ppm;
	sim_alloc_init(&sn->alloc, &sn->allocator);
	/* Small clock drift: tick periods of 9 to 11 virtual ms. */
	sn->tick_ms = (uint32_t) sim_rng_range(&c->rng, 9, 11);
	sim_node_options(c, sn, &o);
	memset(&r, 0, sizeof(r));
	err = pgr_node_new(&o, &r, &sn->node);
	if (err != PGR_OK)
	{
		sim_fail(c, "Node creation", "pgr_node_new(%" PRIu64 ") failed: %s", id, pgr_strerror(err));
		sn->state = SIM_NODE_STOPPED;
		return;
	}
	sn->state = SIM_NODE_UP;
	sn->next_tick = c->now + sim_rng_range(&c->rng, 1, sn->tick_ms);
	sim_calls_node_up(c, sn);
	sim_trace(c, "create n%" PRIu64 "%s", id, bootstrap ? " (bootstrap)" : " (empty)");
	if (bootstrap)
	{
		err = pgr_node_bootstrap(sn->node, initial);
		if (err != PGR_OK)
		{
			sim_fail(c, "Bootstrap", "pgr_node_bootstrap(%" PRIu64 ") failed: %s", id,
					 pgr_strerror(err));
			return;
		}
		sim_check_bootstrap(c, sn);
	}
	sim_node_after_call(c, sn, PGR_OK, "create");
}

void
sim_node_crash(struct sim_cluster *c, struct sim_node *sn, enum sim_crash_kind kind,
			   const char *why)
{
	struct sim_storage *st = &sn->st;

	if (sn->state != SIM_NODE_UP)
		return;
	sim_calls_node_down(c, sn, "crash");
	sim_node_free_checked(c, sn);
	sn->state = SIM_NODE_DOWN;
	/* A hard state written without sync: in the page cache, not on disk. */
	if (st->has_lazy && kind == SIM_CRASH_PROCESS)
		st->hs = st->hs_lazy;
	st->has_lazy = false;
	sn->midcrash = SIM_MIDCRASH_NONE;
	sn->stopping = false;
	sn->lead_term = 0;
	sn->crashes++;
	c->n_crashes++;
	sn->crash_at = 0;
	/*
	 * Half of the restarts are quick, while requests sent before the crash
	 * are still in flight: what a node forgot then matters most.
	 */
	if (!c->chaos)
		sn->restart_at = 0;
	else if (sim_rng_chance(&c->rng, 500000))
		sn->restart_at = c->now + sim_rng_range(&c->rng, 1, 2 * c->net.delay_max);
	else
		sn->restart_at = c->now + sim_rng_range(&c->rng, 1, c->p.restart_max_ms);
	sim_trace(c,
			  "%s n%" PRIu64 " (%s) durable t%" PRIu64 " v%" PRIu64 " c%" PRIu64 " log %" PRIu64
			  "..%" PRIu64,
			  kind == SIM_CRASH_POWER ? "POWER LOSS" : "CRASH", sn->id, why, st->hs.term,
			  st->hs.vote, st->hs.commit, sim_storage_snap_index(st), sim_storage_last(st));

	/*
	 * Its peers' transports see the connections break, and most redial in
	 * time to be refused (the process is gone): that is the strong signal
	 * that makes a follower of a dead leader pre-vote early.
	 */
	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
		if (id != sn->id && c->nodes[id].state == SIM_NODE_UP)
		{
			sim_net_report(c, SIM_FLIGHT_RESET, sn->id, id);
			if (sim_rng_chance(&c->rng, 700000))
				sim_net_report(c, SIM_FLIGHT_PEER_DOWN, sn->id, id);
		}
}

/* Contract point 4: rebuild the node from what step 3a stored. */
void
sim_node_restart(struct sim_cluster *c, struct sim_node *sn)
{
	struct sim_storage *st = &sn->st;
	struct pgr_options o;
	struct pgr_restore r;
	enum pgr_err err;

	if (sn->state != SIM_NODE_DOWN)
		return;
	sim_node_options(c, sn, &o);
	memset(&r, 0, sizeof(r));
	r.hs = st->hs;
	r.snapshot = st->has_snap ? &st->snap : NULL;
	r.entries = st->ents;
	r.n_entries = st->n_ents;
	r.applied = sim_storage_snap_index(st);
	err = pgr_node_new(&o, &r, &sn->node);
	if (err == PGR_ENOMEM && c->p.alloc_fail_ppm > 0)
	{
		sn->node = NULL;
		sn->restart_at = c->now + 10;
		if (sn->alloc.bytes != 0)
			sim_fail(c, "No leaks", "failed pgr_node_new left %" PRId64 " bytes", sn->alloc.bytes);
		return;
	}
	if (err != PGR_OK)
	{
		sim_fail(c, "Restart",
				 "pgr_node_new(%" PRIu64 ") refused its durable state: %s"
				 " (hs t%" PRIu64 " v%" PRIu64 " c%" PRIu64 ", snap %" PRIu64 ", entries %zu)",
				 sn->id, pgr_strerror(err), st->hs.term, st->hs.vote, st->hs.commit,
				 sim_storage_snap_index(st), st->n_ents);
		sn->node = NULL;
		sn->state = SIM_NODE_STOPPED;
		return;
	}
	memset(&sn->app, 0, sizeof(sn->app));
	if (st->has_snap)
		sim_app_decode(c, st->snap.data, st->snap.len, &sn->app);
	sn->state = SIM_NODE_UP;
	sim_calls_node_up(c, sn);
	sn->restart_at = 0;
	sn->next_tick = c->now + sim_rng_range(&c->rng, 1, sn->tick_ms);
	sim_trace(
		c, "RESTART n%" PRIu64 " t%" PRIu64 " v%" PRIu64 " c%" PRIu64 " log %" PRIu64 "..%" PRIu64,
		sn->id, st->hs.term, st->hs.vote, st->hs.commit, sim_storage_snap_index(st),
		sim_storage_last(st));
	sim_node_after_call(c, sn, PGR_OK, "restart");
}

/* A removed member is shut down for good; its storage is kept for checks. */
void
sim_node_stop(struct sim_cluster *c, struct sim_node *sn)
{
	if (sn->state == SIM_NODE_UP)
	{
		sim_calls_node_down(c, sn, "stop");
		sim_node_free_checked(c, sn);
	}
	sn->state = SIM_NODE_STOPPED;
	sn->stop_at = 0;
	sn->restart_at = 0;
	sim_trace(c, "STOP n%" PRIu64 " (removed)", sn->id);
}

void
sim_node_destroy(struct sim_cluster *c, struct sim_node *sn)
{
	if (sn->state == SIM_NODE_UP)
	{
		sim_calls_node_down(c, sn, "end of run");
		sim_node_free_checked(c, sn);
	}
	free(sn->papp);
	sn->papp = NULL;
	pgr_kv_free(sn->kv);
	sn->kv = NULL;
	sim_storage_free(&sn->st);
	sn->state = SIM_NODE_UNUSED;
}

/* ---------------------------------------------------------------------- */
/* Ready batches                                                          */
/* ---------------------------------------------------------------------- */

static void
sim_trace_ready(struct sim_cluster *c, struct sim_node *sn, const struct pgr_ready *rd)
{
	char buf[256];
	int n = 0;

	if (!c->trace)
		return;
	buf[0] = '\0';
	if (rd->snapshot != NULL)
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, " snap=%" PRIu64 "/t%" PRIu64,
					  rd->snapshot->meta.index, rd->snapshot->meta.term);
	if (rd->n_entries > 0 && n < (int) sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, " ents=%" PRIu64 "..%" PRIu64 "/t%" PRIu64,
					  rd->entries[0].index, rd->entries[rd->n_entries - 1].index,
					  rd->entries[rd->n_entries - 1].term);
	if (rd->has_hard_state && n < (int) sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - (size_t) n,
					  " hs=t%" PRIu64 ",v%" PRIu64 ",c%" PRIu64 "%s", rd->hs.term, rd->hs.vote,
					  rd->hs.commit, rd->must_sync ? "" : " lazy");
	if (rd->n_msgs > 0 && n < (int) sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, " msgs=%zu", rd->n_msgs);
	if (rd->n_committed > 0 && n < (int) sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, " apply=%" PRIu64 "..%" PRIu64,
					  rd->committed[0].index, rd->committed[rd->n_committed - 1].index);
	if (rd->n_reads > 0 && n < (int) sizeof(buf))
		snprintf(buf + n, sizeof(buf) - (size_t) n, " reads=%zu", rd->n_reads);
	sim_trace(c, "  ready n%" PRIu64 ":%s", sn->id, buf);
}

/* Does the batch grant a vote?  Where a forgotten vote does its damage. */
static bool
sim_ready_grants_vote(const struct pgr_ready *rd)
{
	for (size_t i = 0; i < rd->n_msgs; i++)
		if (rd->msgs[i].type == PGR_MSG_VOTE_RESP && !rd->msgs[i].reject)
			return true;
	return false;
}

/* Step a: persist.  The checker sees everything before storage changes. */
static void
sim_persist(struct sim_cluster *c, struct sim_node *sn, const struct pgr_ready *rd, bool is_leader)
{
	struct sim_storage *st = &sn->st;

	if (!rd->must_sync &&
		(rd->snapshot != NULL || rd->n_entries > 0 ||
		 (rd->has_hard_state && (rd->hs.term != st->hs.term || rd->hs.vote != st->hs.vote))))
		sim_fail(c, "Ready contract",
				 "node %" PRIu64 " must_sync is false but the "
				 "batch changes more than the commit index",
				 sn->id);
	if (rd->snapshot != NULL)
	{
		sim_check_snapshot(c, sn, rd->snapshot, "installed");
		if (is_leader)
			sim_fail(c, "Leader Append-Only", "leader %" PRIu64 " installs a snapshot at %" PRIu64,
					 sn->id, rd->snapshot->meta.index);
		sim_storage_set_snapshot(c, st, rd->snapshot, false);
	}
	if (rd->n_entries > 0)
	{
		sim_check_persist_entries(c, sn, rd->entries, rd->n_entries, is_leader);
		sim_storage_append(c, sn, rd->entries, rd->n_entries);
	}
	if (rd->must_sync && st->has_lazy)
	{
		st->hs = st->hs_lazy; /* an fsync makes earlier lazy writes durable */
		st->has_lazy = false;
	}
	if (rd->has_hard_state)
	{
		sim_check_hard_state(c, sn, &rd->hs);
		if (rd->must_sync)
			st->hs = rd->hs;
		else
		{
			st->hs_lazy = rd->hs;
			st->has_lazy = true;
		}
	}
}

/*
 * Execute one batch.  Returns false if the node crashed in the middle (the
 * batch is then abandoned: no apply, no advance, as in a real crash).
 */
static bool
sim_execute_ready(struct sim_cluster *c, struct sim_node *sn, const struct pgr_ready *rd)
{
	struct pgr_status status;
	size_t n_send = rd->n_msgs;
	bool crash = false;

	sim_trace_ready(c, sn, rd);
	pgr_node_status(sn->node, &status);

	/*
	 * A leader's appends and heartbeats may leave before its own fsync (the
	 * contract's exception to b); an armed node may crash right after them,
	 * losing the batch they announced.  The commit index they carry is
	 * already durable (the core offers early messages only then), so it is
	 * known from the moment they leave.
	 */
	if (rd->n_msgs_early > 0)
		sim_check_leader_commit(c, sn);
	for (size_t i = 0; i < rd->n_msgs_early; i++)
	{
		if (c->contract_checks)
			sim_check_sent(c, sn, &rd->msgs[i]);
		sim_net_send(c, &rd->msgs[i]);
	}
	if (rd->n_msgs_early > 0 && sn->midcrash == SIM_MIDCRASH_NEXT_SEND &&
		sim_rng_below(&c->rng, 2) == 0)
	{
		sim_node_crash(c, sn, sim_crash_kind_pick(c), "after sending early, before persisting");
		return false;
	}

	/* a. persist */
	sim_persist(c, sn, rd, status.role == PGR_ROLE_LEADER);
	sim_check_leader_commit(c, sn);
	if (status.role == PGR_ROLE_LEADER && !c->failed)
	{
		pgr_node_status(sn->node, &status);
		sim_check_leader_seen(c, sn, &status);
	}

	/* b. send; an armed node crashes after sending a prefix */
	if ((sn->midcrash == SIM_MIDCRASH_NEXT_SEND && rd->n_msgs > 0) ||
		(sn->midcrash == SIM_MIDCRASH_AFTER_VOTE && sim_ready_grants_vote(rd)))
	{
		crash = true;
		n_send =
			rd->n_msgs_early + (size_t) sim_rng_below(&c->rng, rd->n_msgs - rd->n_msgs_early + 1);
	}
	for (size_t i = rd->n_msgs_early; i < n_send; i++)
	{
		if (c->contract_checks)
			sim_check_sent(c, sn, &rd->msgs[i]);
		sim_net_send(c, &rd->msgs[i]);
	}
	if (crash)
	{
		bool after_vote = sn->midcrash == SIM_MIDCRASH_AFTER_VOTE;

		sim_node_crash(c, sn, sim_crash_kind_pick(c), "between persist and send");
		if (after_vote && c->chaos)
			sn->restart_at = c->now + sim_rng_range(&c->rng, 1, c->net.delay_max);
		return false;
	}

	/* c. apply, then report reads */
	if (rd->snapshot != NULL)
	{
		sim_app_decode(c, rd->snapshot->data, rd->snapshot->len, &sn->app);
		c->n_snap_installs++;
	}
	for (size_t i = 0; i < rd->n_committed && !c->failed; i++)
	{
		const struct pgr_entry *e = &rd->committed[i];

		if (e->index != sn->app.applied + 1)
		{
			sim_fail(c, "State Machine Safety",
					 "node %" PRIu64 " is handed entry %" PRIu64
					 " to apply after applying %" PRIu64,
					 sn->id, e->index, sn->app.applied);
			return true;
		}
		sn->app.hash = sim_chain(sn->app.hash, e);
		sn->app.applied = e->index;
		if (e->type == PGR_ENTRY_NORMAL && e->len > 0)
			sn->app.n_normal++;
		sim_check_apply(c, sn, e);
		if (c->marker_index == 0 && !c->chaos && sim_is_marker(e, c->seed))
		{
			c->marker_index = e->index;
			sim_trace(c, "  marker applied at %" PRIu64 " on n%" PRIu64, e->index, sn->id);
		}
	}
	for (size_t i = 0; i < rd->n_reads; i++)
		sim_check_read_done(c, sn, &rd->reads[i]);
	if (!c->failed)
		sim_calls_apply(c, sn, rd);
	return true;
}

void
sim_node_after_call(struct sim_cluster *c, struct sim_node *sn, enum pgr_err err, const char *what)
{
	int rounds = 0;

	if (sn->state != SIM_NODE_UP)
		return;
	if (sn->alloc.misuse != 0)
		sim_fail(c, "Allocator contract", "node %" PRIu64 " passed a wrong old_size to realloc",
				 sn->id);
	if (err == PGR_ENOMEM)
	{
		if (c->p.alloc_fail_ppm == 0)
			sim_fail(c, "Error contract",
					 "%s on node %" PRIu64 " returned ENOMEM with no allocation failure", what,
					 sn->id);
		/* Contract point 5: throw the node away and rebuild it from storage. */
		sim_node_crash(c, sn, SIM_CRASH_PROCESS, "ENOMEM");
		sn->restart_at = c->now + 1;
		return;
	}
	if (err == PGR_ESTATE)
		sim_fail(c, "Ready contract", "%s on node %" PRIu64 " returned ESTATE", what, sn->id);
	while (sn->state == SIM_NODE_UP && !c->failed && pgr_node_has_ready(sn->node))
	{
		struct pgr_ready rd;

		if (++rounds > 100000)
		{
			sim_fail(c, "Ready contract", "node %" PRIu64 " keeps producing ready batches", sn->id);
			return;
		}
		err = pgr_node_ready(sn->node, &rd);
		if (err == PGR_ENOMEM && c->p.alloc_fail_ppm > 0)
		{
			sim_node_crash(c, sn, SIM_CRASH_PROCESS, "ENOMEM in ready");
			sn->restart_at = c->now + 1;
			return;
		}
		if (err != PGR_OK)
		{
			sim_fail(c, "Ready contract", "pgr_node_ready(%" PRIu64 ") after %s: %s", sn->id, what,
					 pgr_strerror(err));
			return;
		}
		if (!sim_execute_ready(c, sn, &rd))
			return;
		err = pgr_node_advance(sn->node);
		if (err == PGR_ENOMEM && c->p.alloc_fail_ppm > 0)
		{
			sim_node_crash(c, sn, SIM_CRASH_PROCESS, "ENOMEM in advance");
			sn->restart_at = c->now + 1;
			return;
		}
		if (err != PGR_OK)
		{
			sim_fail(c, "Ready contract", "pgr_node_advance(%" PRIu64 "): %s", sn->id,
					 pgr_strerror(err));
			return;
		}
	}
	if (sn->state == SIM_NODE_UP)
		sim_calls_collect(c, sn);
}

/*
 * A scheduled crash of a leader is, half of the time, a planned stop
 * instead: the node hands leadership over as the worker does on SIGTERM
 * (src/app/handover.c), runs on until that ends, then goes down.  False
 * when the node does not lead (it simply crashes).
 */
bool
sim_node_begin_stop(struct sim_cluster *c, struct sim_node *sn)
{
	enum pgr_err err;

	sn->crash_at = 0;
	if (sn->stopping || !sim_rng_chance(&c->rng, 500000))
		return sn->stopping;
	err = pgr_handover_begin(&sn->handover, sn->node, c->now, c->p.election_tick * sn->tick_ms);
	if (err != PGR_OK)
	{
		sim_fail(c, "Handover", "node %" PRIu64 " could not start a handover: %s", sn->id,
				 pgr_strerror(err));
		return true;
	}
	if (sn->handover.state != PGR_HANDOVER_WAITING)
		return false;
	sn->stopping = true;
	c->n_handovers++;
	sim_trace(c, "n%" PRIu64 " stops: handing over to n%" PRIu64, sn->id, sn->handover.target);
	return true;
}

/* The stop of a node handing over: on after every tick, down once it ends. */
static enum pgr_err
sim_node_drive_stop(struct sim_cluster *c, struct sim_node *sn)
{
	if (!sn->stopping)
		return PGR_OK;
	return pgr_handover_drive(&sn->handover, sn->node, c->now);
}

static void
sim_node_finish_stop(struct sim_cluster *c, struct sim_node *sn)
{
	const struct pgr_handover *h = &sn->handover;

	if (!sn->stopping || sn->state != SIM_NODE_UP || h->state == PGR_HANDOVER_WAITING)
		return;
	if (h->state == PGR_HANDOVER_DONE)
		c->n_handovers_done++;
	sim_trace(c, "n%" PRIu64 " handover %s after %" PRIu64 " ms (n%" PRIu64 " leads)", sn->id,
			  pgr_handover_state_name(h->state), c->now - h->started_ms, h->leader);
	sim_node_crash(c, sn, SIM_CRASH_PROCESS, "planned stop");
	/* a planned stop is a restart: it comes back, healing or not */
	if (sn->restart_at == 0)
		sn->restart_at = c->now + 1;
}

void
sim_node_tick(struct sim_cluster *c, struct sim_node *sn)
{
	struct pgr_status before, after;
	enum pgr_err err;

	pgr_node_status(sn->node, &before);
	sn->alloc.armed = c->chaos;
	err = pgr_node_tick(sn->node);
	/* the worker's order: tick, then the calls act, then the batches */
	if (err == PGR_OK)
		err = sim_calls_drive(c, sn);
	if (err == PGR_OK)
		err = sim_node_drive_stop(c, sn);
	sn->alloc.armed = false;
	sn->next_tick += sn->tick_ms;
	if (err == PGR_OK)
	{
		/* Trace the role change before the batch it causes. */
		pgr_node_status(sn->node, &after);
		if (after.role != before.role || after.term != before.term)
			sim_trace(c, "tick n%" PRIu64 ": %s t%" PRIu64 " -> %s t%" PRIu64, sn->id,
					  pgr_role_name(before.role), before.term, pgr_role_name(after.role),
					  after.term);
	}
	sim_node_after_call(c, sn, err, "tick");
	sim_node_finish_stop(c, sn);
	if (sn->state == SIM_NODE_UP &&
		sn->app.applied > sim_storage_snap_index(&sn->st) + c->p.compact_lag)
		sim_node_compact(c, sn);
}

/* Compact at the applied index with the application state as data. */
void
sim_node_compact(struct sim_cluster *c, struct sim_node *sn)
{
	struct pgr_snapshot snap;
	uint8_t *buf;
	size_t len;
	uint64_t chain, term;
	enum pgr_err err;

	if (sn->state != SIM_NODE_UP || sn->app.applied <= sim_storage_snap_index(&sn->st))
		return;
	buf = sim_xmalloc(sim_app_size(c, sn));
	sim_app_encode(c, sn, buf, &len);
	memset(&snap, 0, sizeof(snap));
	sn->alloc.armed = c->chaos;
	err = pgr_node_compact(sn->node, sn->app.applied, buf, len, &snap.meta);
	sn->alloc.armed = false;
	sim_trace(c, "compact n%" PRIu64 " at %" PRIu64 ": %s", sn->id, sn->app.applied,
			  pgr_strerror(err));
	if (err == PGR_OK)
	{
		snap.len = len;
		snap.data = buf;
		if (snap.meta.index != sn->app.applied)
			sim_fail(c, "Compaction",
					 "node %" PRIu64 " compacted at %" PRIu64 " but the snapshot says %" PRIu64,
					 sn->id, sn->app.applied, snap.meta.index);
		else if (!sim_storage_chain_at(&sn->st, snap.meta.index, &chain, &term) ||
				 term != snap.meta.term || chain != sn->app.hash)
			sim_fail(c, "State Machine Safety",
					 "node %" PRIu64 " applied state at %" PRIu64
					 " differs from its durable log (snapshot term %" PRIu64 ")",
					 sn->id, snap.meta.index, snap.meta.term);
		sim_check_snapshot(c, sn, &snap, "compacted");
		sim_storage_set_snapshot(c, &sn->st, &snap, true);
	}
	free(buf);
	sim_node_after_call(c, sn, err, "compact");
}
