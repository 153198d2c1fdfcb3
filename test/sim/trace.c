/*-------------------------------------------------------------------------
 *
 * trace.c
 *		Small services of the simulator: hashing, the counting allocator,
 *		the step trace and failure reports.
 *
 * The trace is deterministic: it prints virtual times, ids, terms and
 * indexes, never addresses or wall-clock times, so two runs of one seed
 * print the same bytes.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/sim/trace.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

uint64_t
sim_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

uint64_t
sim_chain(uint64_t prev, const struct pgr_entry *e)
{
	uint64_t h = sim_mix(prev ^ UINT64_C(0x6a09e667f3bcc908));

	h = sim_mix(h ^ e->index);
	h = sim_mix(h ^ e->term);
	h = sim_mix(h ^ ((uint64_t) e->type << 32 | e->len));
	for (uint32_t i = 0; i < e->len; i += 8)
	{
		uint64_t w = 0;
		uint32_t n = e->len - i < 8 ? e->len - i : 8;

		memcpy(&w, e->data + i, n);
		h = sim_mix(h ^ w);
	}
	return h;
}

/*
 * The counting allocator puts the block size in a header so that free can
 * subtract it; 16 bytes keep the payload aligned for any type.
 */
#define SIM_ALLOC_HDR 16

static bool
sim_alloc_should_fail(struct sim_alloc *a)
{
	if (!a->armed || a->rng == NULL || a->fail_ppm == 0)
		return false;
	if (!sim_rng_chance(a->rng, a->fail_ppm))
		return false;
	a->failures++;
	return true;
}

static void *
sim_alloc_alloc(void *ctx, size_t size)
{
	struct sim_alloc *a = ctx;
	uint8_t *p;

	if (sim_alloc_should_fail(a))
		return NULL;
	p = malloc(size + SIM_ALLOC_HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &size, sizeof(size));
	a->bytes += (int64_t) size;
	a->blocks++;
	return p + SIM_ALLOC_HDR;
}

static void *
sim_alloc_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
	struct sim_alloc *a = ctx;
	uint8_t *p;
	size_t recorded;

	if (ptr == NULL)
		return sim_alloc_alloc(ctx, new_size);
	p = (uint8_t *) ptr - SIM_ALLOC_HDR;
	memcpy(&recorded, p, sizeof(recorded));
	/* The core passes the old size for allocators that need it: verify. */
	if (recorded != old_size)
		a->misuse++;
	if (sim_alloc_should_fail(a))
		return NULL;
	p = realloc(p, new_size + SIM_ALLOC_HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &new_size, sizeof(new_size));
	a->bytes += (int64_t) new_size - (int64_t) recorded;
	return p + SIM_ALLOC_HDR;
}

static void
sim_alloc_free(void *ctx, void *ptr)
{
	struct sim_alloc *a = ctx;
	uint8_t *p;
	size_t recorded;

	if (ptr == NULL)
		return;
	p = (uint8_t *) ptr - SIM_ALLOC_HDR;
	memcpy(&recorded, p, sizeof(recorded));
	a->bytes -= (int64_t) recorded;
	a->blocks--;
	free(p);
}

void
sim_alloc_init(struct sim_alloc *a, struct pgr_allocator *out)
{
	out->alloc = sim_alloc_alloc;
	out->realloc = sim_alloc_realloc;
	out->free = sim_alloc_free;
	out->ctx = a;
}

void
sim_trace(struct sim_cluster *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->trace)
		return;
	printf("%8" PRIu64 " %6" PRIu64 "  ", c->now, c->steps);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/*
 * Record the first violation of the seed; the run stops after the current
 * step.  Later violations are usually consequences of the first.
 */
void
sim_fail(struct sim_cluster *c, const char *invariant, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->failed)
		return;
	c->failed = true;
	n = snprintf(c->failure, sizeof(c->failure),
				 "%s violated at t=%" PRIu64 "ms step %" PRIu64 ": ", invariant, c->now, c->steps);
	if (n < 0 || (size_t) n >= sizeof(c->failure))
		return;
	va_start(ap, fmt);
	vsnprintf(c->failure + n, sizeof(c->failure) - (size_t) n, fmt, ap);
	va_end(ap);
	sim_trace(c, "!! %s", c->failure);
}

void
sim_format_msg(char *buf, size_t cap, const struct pgr_msg *m)
{
	int n;

	n = snprintf(buf, cap, "%s %" PRIu64 "->%" PRIu64 " t%" PRIu64, pgr_msg_type_name(m->type),
				 m->from, m->to, m->term);
	if (n < 0 || (size_t) n >= cap)
		return;
	switch (m->type)
	{
		case PGR_MSG_APP:
			snprintf(buf + n, cap - (size_t) n, " prev=%" PRIu64 "/t%" PRIu64 " n=%u c=%" PRIu64,
					 m->index, m->log_term, m->n_entries, m->commit);
			break;
		case PGR_MSG_APP_RESP:
			snprintf(buf + n, cap - (size_t) n, " i=%" PRIu64 "%s", m->index,
					 m->reject ? " REJECT" : "");
			break;
		case PGR_MSG_VOTE:
		case PGR_MSG_PRE_VOTE:
			snprintf(buf + n, cap - (size_t) n, " last=%" PRIu64 "/t%" PRIu64 "%s", m->index,
					 m->log_term, m->force ? " force" : "");
			break;
		case PGR_MSG_VOTE_RESP:
		case PGR_MSG_PRE_VOTE_RESP:
			snprintf(buf + n, cap - (size_t) n, "%s", m->reject ? " REJECT" : " grant");
			break;
		case PGR_MSG_HEARTBEAT:
			snprintf(buf + n, cap - (size_t) n, " c=%" PRIu64 " ctx=%" PRIu64, m->commit,
					 m->context);
			break;
		case PGR_MSG_SNAP:
			if (m->snapshot != NULL)
				snprintf(buf + n, cap - (size_t) n, " snap=%" PRIu64 "/t%" PRIu64,
						 m->snapshot->meta.index, m->snapshot->meta.term);
			break;
		case PGR_MSG_PROP:
			snprintf(buf + n, cap - (size_t) n, " n=%u", m->n_entries);
			break;
		case PGR_MSG_READ_INDEX:
		case PGR_MSG_READ_INDEX_RESP:
			snprintf(buf + n, cap - (size_t) n, " ctx=%" PRIu64 " i=%" PRIu64 "%s", m->context,
					 m->index, m->reject ? " REJECT" : "");
			break;
		case PGR_MSG_TRANSFER_LEADER:
			snprintf(buf + n, cap - (size_t) n, " target=%" PRIu64, m->index);
			break;
		default:
			break;
	}
}
