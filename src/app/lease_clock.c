/*-------------------------------------------------------------------------
 *
 * lease_clock.c
 *		The leader's decision of when a lease expires (see kv.h, THE LEASE
 *		CLOCK).
 *
 * Why the leader alone, and why grace.  Nodes' clocks differ and a node
 * that was partitioned away knows nothing of the keepalives it missed, so a
 * lease is revoked only through the log, by whoever leads.  A new leader
 * does not know when the old one last saw a keepalive: it starts every
 * lease's time to live again at takeover, plus an election timeout (the
 * longest a client could have been without a leader to renew with).  A
 * lease therefore lives at least its time to live after the last
 * keepalive any leader acknowledged, and never expires because leadership
 * moved.
 *
 * The deadlines follow the store: sync() adds the leases the store has and
 * the clock does not (granted since: their time starts now) and drops the
 * ones the store no longer has (revoked).  A renewal moves the deadline to
 * now + ttl and forgets a revocation that was asked for: if that one
 * commits anyway, the lease is gone, as the keepalive's caller will learn.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/app/lease_clock.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgraft/kv.h"

/* a + b, at most UINT64_MAX: a deadline that far is never */
static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void
pgr_lease_clock_init(struct pgr_lease_clock *lc, const struct pgr_allocator *alloc)
{
	memset(lc, 0, sizeof(*lc));
	lc->alloc = *alloc;
}

void
pgr_lease_clock_free(struct pgr_lease_clock *lc)
{
	lc->alloc.free(lc->alloc.ctx, lc->v);
	lc->v = NULL;
	lc->n = lc->cap = 0;
	lc->leading = false;
}

void
pgr_lease_clock_reset(struct pgr_lease_clock *lc)
{
	lc->n = 0;
	lc->leading = false;
}

static struct pgr_lease_deadline *
find(struct pgr_lease_clock *lc, uint64_t id)
{
	uint64_t lo = 0;
	uint64_t hi = lc->n;

	while (lo < hi)
	{
		uint64_t mid = lo + (hi - lo) / 2;

		if (lc->v[mid].id == id)
			return &lc->v[mid];
		if (lc->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

enum pgr_err
pgr_lease_clock_sync(struct pgr_lease_clock *lc, const struct pgr_kv *kv, uint64_t now_ms,
					 uint64_t grace_ms)
{
	uint64_t n = pgr_kv_lease_count(kv);
	uint64_t cap = n > 16 ? n : 16;
	struct pgr_lease_deadline *next = lc->alloc.alloc(lc->alloc.ctx, cap * sizeof(*next));
	uint64_t i_old = 0;
	uint64_t n_old = lc->leading ? lc->n : 0;

	if (next == NULL)
		return PGR_ENOMEM;
	/* both lists are sorted by id: a merge */
	for (uint64_t i = 0; i < n; i++)
	{
		struct pgr_kv_lease l;
		struct pgr_lease_deadline d = {0};

		pgr_kv_lease_at(kv, i, &l);
		while (i_old < n_old && lc->v[i_old].id < l.id)
			i_old++; /* revoked: dropped */
		if (i_old < n_old && lc->v[i_old].id == l.id)
			d = lc->v[i_old++];
		else
		{
			d.id = l.id;
			d.deadline_ms = add_sat(add_sat(now_ms, l.ttl_ms), lc->leading ? 0 : grace_ms);
		}
		next[i] = d;
	}
	lc->alloc.free(lc->alloc.ctx, lc->v);
	lc->v = next;
	lc->cap = cap;
	lc->n = n;
	lc->leading = true;
	return PGR_OK;
}

bool
pgr_lease_clock_renew(struct pgr_lease_clock *lc, const struct pgr_kv *kv, uint64_t id,
					  uint64_t now_ms)
{
	struct pgr_kv_lease l;
	struct pgr_lease_deadline *d = find(lc, id);

	if (d == NULL || !pgr_kv_get_lease(kv, id, &l))
		return false;
	d->deadline_ms = add_sat(now_ms, l.ttl_ms);
	d->revoke_asked = false;
	return true;
}

size_t
pgr_lease_clock_expired(struct pgr_lease_clock *lc, uint64_t now_ms, uint64_t retry_ms,
						uint64_t *out, size_t max)
{
	size_t k = 0;

	for (uint64_t i = 0; i < lc->n && k < max; i++)
	{
		struct pgr_lease_deadline *d = &lc->v[i];

		if (now_ms < d->deadline_ms)
			continue;
		if (d->revoke_asked && now_ms < add_sat(d->revoke_asked_ms, retry_ms))
			continue;
		d->revoke_asked = true;
		d->revoke_asked_ms = now_ms;
		out[k++] = d->id;
	}
	return k;
}
