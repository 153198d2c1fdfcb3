/*-------------------------------------------------------------------------
 *
 * net.c
 *		The simulated network: in-flight message copies with random delay,
 *		loss and duplication, and timed partitions.
 *
 * A message is deep-copied when sent (entries, their data and a snapshot
 * go into one buffer), because what a ready batch points to is the
 * sender's memory and is only valid until its advance.  Copies wait in a
 * min-heap ordered by delivery time; random delays reorder them.  A
 * partition is a per-direction "blocked until" time checked at delivery,
 * so messages already in flight when a partition starts are lost too, as
 * on a real broken link.  A symmetric partition blocks both directions.
 *
 * The transport also reports snapshot transfers back to the sender
 * (pgr_node_report_snapshot), after a delay, as a real transport would
 * once the stream finished or broke.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/sim/net.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void
sim_net_init(struct sim_net *net)
{
	memset(net, 0, sizeof(*net));
}

void
sim_net_free(struct sim_net *net)
{
	for (size_t i = 0; i < net->n; i++)
		free(net->heap[i].buf);
	free(net->heap);
	net->heap = NULL;
	net->n = net->cap = 0;
}

static bool
sim_flight_before(const struct sim_flight *a, const struct sim_flight *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void
sim_heap_push(struct sim_net *net, struct sim_flight *f)
{
	size_t i;

	if (net->n == net->cap)
	{
		net->cap = net->cap ? net->cap * 2 : 256;
		net->heap = realloc(net->heap, net->cap * sizeof(net->heap[0]));
		if (net->heap == NULL)
		{
			fprintf(stderr, "raft-sim: out of memory\n");
			exit(2);
		}
	}
	f->seq = net->seq++;
	i = net->n++;
	while (i > 0 && sim_flight_before(f, &net->heap[(i - 1) / 2]))
	{
		net->heap[i] = net->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	net->heap[i] = *f;
}

static void
sim_heap_pop(struct sim_net *net, struct sim_flight *out)
{
	struct sim_flight last;
	size_t i = 0;

	*out = net->heap[0];
	last = net->heap[--net->n];
	for (;;)
	{
		size_t l = 2 * i + 1, m = i;

		if (l < net->n && sim_flight_before(&net->heap[l], &last))
			m = l;
		if (l + 1 < net->n && sim_flight_before(&net->heap[l + 1], m == i ? &last : &net->heap[l]))
			m = l + 1;
		if (m == i)
			break;
		net->heap[i] = net->heap[m];
		i = m;
	}
	if (net->n > 0)
		net->heap[i] = last;
}

/* One buffer: [snapshot][entries][snapshot data][entry data...]. */
static void
sim_msg_copy(const struct pgr_msg *m, struct sim_flight *f)
{
	size_t size = 0;
	uint8_t *p;

	if (m->snapshot != NULL)
		size += sizeof(struct pgr_snapshot) + m->snapshot->len;
	size += (size_t) m->n_entries * sizeof(struct pgr_entry);
	for (uint32_t i = 0; i < m->n_entries; i++)
		size += m->entries[i].len;
	f->m = *m;
	f->m.entries = NULL;
	f->m.snapshot = NULL;
	f->buf = NULL;
	if (size == 0)
		return;
	p = f->buf = malloc(size);
	if (p == NULL)
	{
		fprintf(stderr, "raft-sim: out of memory\n");
		exit(2);
	}
	if (m->snapshot != NULL)
	{
		f->m.snapshot = (struct pgr_snapshot *) p;
		*f->m.snapshot = *m->snapshot;
		p += sizeof(struct pgr_snapshot);
	}
	if (m->n_entries > 0)
	{
		f->m.entries = (struct pgr_entry *) p;
		p += (size_t) m->n_entries * sizeof(struct pgr_entry);
	}
	if (m->snapshot != NULL)
	{
		f->m.snapshot->data = m->snapshot->len > 0 ? p : NULL;
		if (m->snapshot->len > 0)
			memcpy(p, m->snapshot->data, m->snapshot->len);
		p += m->snapshot->len;
	}
	for (uint32_t i = 0; i < m->n_entries; i++)
	{
		f->m.entries[i] = m->entries[i];
		f->m.entries[i].data = m->entries[i].len > 0 ? p : NULL;
		if (m->entries[i].len > 0)
			memcpy(p, m->entries[i].data, m->entries[i].len);
		p += m->entries[i].len;
	}
}

static uint64_t
sim_net_delay(struct sim_cluster *c)
{
	struct sim_net *net = &c->net;

	if (sim_rng_chance(&c->rng, net->slow_ppm))
		return sim_rng_range(&c->rng, net->delay_max, net->slow_max);
	return sim_rng_range(&c->rng, net->delay_min, net->delay_max);
}

void
sim_net_snap_status(struct sim_cluster *c, uint64_t sender, uint64_t target, bool ok)
{
	struct sim_flight f;

	memset(&f, 0, sizeof(f));
	f.kind = SIM_FLIGHT_SNAP_STATUS;
	f.m.from = target;
	f.m.to = sender;
	f.m.reject = !ok;
	f.at = c->now + sim_net_delay(c);
	sim_heap_push(&c->net, &f);
}

void
sim_net_send(struct sim_cluster *c, const struct pgr_msg *m)
{
	struct sim_net *net = &c->net;
	int copies = 1;

	net->sent++;
	if (sim_node_get(c, m->to) == NULL)
	{
		net->dropped++;
		return;
	}
	if (c->chaos && sim_rng_chance(&c->rng, net->loss_ppm))
	{
		net->dropped++;
		if (m->type == PGR_MSG_SNAP)
			sim_net_snap_status(c, m->from, m->to, false);
		return;
	}
	if (sim_rng_chance(&c->rng, net->dup_ppm))
		copies = 2;
	for (int i = 0; i < copies; i++)
	{
		struct sim_flight f;

		memset(&f, 0, sizeof(f));
		f.kind = SIM_FLIGHT_MSG;
		sim_msg_copy(m, &f);
		f.at = c->now + sim_net_delay(c);
		sim_heap_push(net, &f);
	}
}

bool
sim_net_next_time(const struct sim_net *net, uint64_t *at)
{
	if (net->n == 0)
		return false;
	*at = net->heap[0].at;
	return true;
}

bool
sim_net_blocked(const struct sim_cluster *c, uint64_t from, uint64_t to)
{
	if (from >= SIM_MAX_IDS || to >= SIM_MAX_IDS)
		return true;
	return c->net.blocked_until[from][to] > c->now;
}

void
sim_net_heal(struct sim_cluster *c)
{
	memset(c->net.blocked_until, 0, sizeof(c->net.blocked_until));
}

/* A transport's report about peer `about`, reaching node `to` a moment later. */
void
sim_net_report(struct sim_cluster *c, enum sim_flight_kind kind, uint64_t about, uint64_t to)
{
	struct sim_flight f;

	memset(&f, 0, sizeof(f));
	f.kind = kind;
	f.m.from = about;
	f.m.to = to;
	f.at = c->now + sim_net_delay(c);
	sim_heap_push(&c->net, &f);
}

static void
sim_net_deliver_status(struct sim_cluster *c, struct sim_flight *f)
{
	struct sim_node *sn = sim_node_get(c, f->m.to);
	enum pgr_err err;
	const char *what;

	if (sn == NULL || sn->state != SIM_NODE_UP)
		return;
	sn->alloc.armed = c->chaos;
	switch (f->kind)
	{
		case SIM_FLIGHT_SNAP_STATUS:
			sim_trace(c, "snapshot to n%" PRIu64 " %s: report to n%" PRIu64, f->m.from,
					  f->m.reject ? "failed" : "done", f->m.to);
			err = pgr_node_report_snapshot(sn->node, f->m.from, !f->m.reject);
			what = "report_snapshot";
			break;
		case SIM_FLIGHT_RESET:
			sim_trace(c, "connection n%" PRIu64 " - n%" PRIu64 " reset: report to n%" PRIu64,
					  f->m.from, f->m.to, f->m.to);
			err = pgr_node_report_unreachable(sn->node, f->m.from);
			what = "report_unreachable";
			break;
		default:
			sim_trace(c, "n%" PRIu64 " refuses connections: report to n%" PRIu64, f->m.from,
					  f->m.to);
			err = pgr_node_report_peer_down(sn->node, f->m.from);
			what = "report_peer_down";
			break;
	}
	sn->alloc.armed = false;
	sim_node_after_call(c, sn, err, what);
}

void
sim_net_deliver_next(struct sim_cluster *c)
{
	struct sim_net *net = &c->net;
	struct sim_flight f;
	struct sim_node *sn;
	enum pgr_err err;
	char desc[160];

	desc[0] = '\0';
	sim_heap_pop(net, &f);
	if (f.kind != SIM_FLIGHT_MSG)
	{
		sim_net_deliver_status(c, &f);
		return;
	}
	sn = sim_node_get(c, f.m.to);
	if (c->trace)
		sim_format_msg(desc, sizeof(desc), &f.m);
	if (sn == NULL || sn->state != SIM_NODE_UP || sim_net_blocked(c, f.m.from, f.m.to))
	{
		net->dropped++;
		sim_trace(c, "drop %s", desc);
		if (f.m.type == PGR_MSG_SNAP)
			sim_net_snap_status(c, f.m.from, f.m.to, false);
		free(f.buf);
		return;
	}
	net->delivered++;
	sn->alloc.armed = c->chaos;
	err = pgr_node_step(sn->node, &f.m);
	sn->alloc.armed = false;
	sim_trace(c, "deliver %s%s%s", desc, err == PGR_OK ? "" : ": ",
			  err == PGR_OK ? "" : pgr_strerror(err));
	if (err == PGR_EBADMSG)
		sim_fail(c, "Message validity",
				 "node %" PRIu64 " rejected a %s from node %" PRIu64
				 " (a message a core produced) as malformed",
				 f.m.to, pgr_msg_type_name(f.m.type), f.m.from);
	if (f.m.type == PGR_MSG_SNAP)
		sim_net_snap_status(c, f.m.from, f.m.to, true);
	free(f.buf);
	sim_node_after_call(c, sn, err, "step");
}
