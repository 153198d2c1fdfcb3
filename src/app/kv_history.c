/*-------------------------------------------------------------------------
 *
 * kv_history.c
 *		The changes a key-value store went through, for watches (kv.h, THE
 *		HISTORY).
 *
 * A ring of changes, oldest first, each one allocation holding the key and
 * the value.  Adding a change that does not fit drops the oldest revisions
 * whole (every change of a revision, or none: a watcher that reads from a
 * revision must see all of it) and moves start past them.  A change that
 * cannot be kept (larger than the bound, or out of memory) empties the
 * history and moves start past its revision: a gap is reported as
 * compacted, never silently skipped.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/app/kv_history.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgraft/kv.h"

static uint64_t
change_bytes(const struct pgr_kv_change *c)
{
	return (uint64_t) c->e.key_len + c->e.value_len + PGR_KV_HISTORY_OVERHEAD;
}

static struct pgr_kv_change *
at(const struct pgr_kv_history *h, uint64_t i)
{
	return h->ring[(h->head + i) % h->cap];
}

/* Drop the oldest change; start moves past its revision once it is gone whole. */
static void
drop_oldest_revision(struct pgr_kv_history *h)
{
	uint64_t rev = at(h, 0)->revision;

	while (h->n > 0 && at(h, 0)->revision == rev)
	{
		struct pgr_kv_change *c = at(h, 0);

		h->bytes -= change_bytes(c);
		h->alloc.free(h->alloc.ctx, c);
		h->head = (h->head + 1) % h->cap;
		h->n--;
	}
	h->start = rev + 1;
}

void
pgr_kv_history_init(struct pgr_kv_history *h, const struct pgr_allocator *alloc, uint64_t max_bytes)
{
	memset(h, 0, sizeof(*h));
	h->alloc = *alloc;
	h->max_bytes = max_bytes;
	h->start = 1;
}

void
pgr_kv_history_reset(struct pgr_kv_history *h, uint64_t start)
{
	while (h->n > 0)
		drop_oldest_revision(h);
	h->start = start;
}

void
pgr_kv_history_free(struct pgr_kv_history *h)
{
	pgr_kv_history_reset(h, 0);
	h->alloc.free(h->alloc.ctx, h->ring);
	h->ring = NULL;
	h->cap = 0;
}

void
pgr_kv_history_set_max(struct pgr_kv_history *h, uint64_t max_bytes)
{
	h->max_bytes = max_bytes;
	while (h->n > 0 && h->bytes > h->max_bytes)
		drop_oldest_revision(h);
}

/* Room for one more change in the ring. */
static bool
grow(struct pgr_kv_history *h)
{
	uint64_t cap = h->cap ? h->cap * 2 : 64;
	struct pgr_kv_change **ring;

	if (h->n < h->cap)
		return true;
	ring = h->alloc.alloc(h->alloc.ctx, cap * sizeof(*ring));
	if (ring == NULL)
		return false;
	for (uint64_t i = 0; i < h->n; i++)
		ring[i] = at(h, i);
	h->alloc.free(h->alloc.ctx, h->ring);
	h->ring = ring;
	h->head = 0;
	h->cap = cap;
	return true;
}

/* Keep nothing up to revision: the change there could not be kept. */
static void
lose(struct pgr_kv_history *h, uint64_t revision)
{
	pgr_kv_history_reset(h, revision + 1);
}

void
pgr_kv_history_watch(void *arg, enum pgr_kv_event type, uint64_t revision,
					 const struct pgr_kv_entry *e)
{
	struct pgr_kv_history *h = arg;
	uint64_t need = (uint64_t) e->key_len + e->value_len + PGR_KV_HISTORY_OVERHEAD;
	struct pgr_kv_change *c;
	uint8_t *bytes;

	if (revision < h->start)
		return; /* already given up on (a change of a revision lost) */
	if (need > h->max_bytes)
	{
		lose(h, revision);
		return;
	}
	/* older revisions make room; this revision's earlier changes stay */
	while (h->n > 0 && h->bytes + need > h->max_bytes && at(h, 0)->revision < revision)
		drop_oldest_revision(h);
	if (h->bytes + need > h->max_bytes || !grow(h))
	{
		lose(h, revision);
		return;
	}
	c = h->alloc.alloc(h->alloc.ctx, sizeof(*c) + e->key_len + e->value_len);
	if (c == NULL)
	{
		lose(h, revision);
		return;
	}
	bytes = (uint8_t *) (c + 1);
	c->type = type;
	c->revision = revision;
	c->e = *e;
	memcpy(bytes, e->key, e->key_len);
	if (e->value_len > 0)
		memcpy(bytes + e->key_len, e->value, e->value_len);
	c->e.key = bytes;
	c->e.value = bytes + e->key_len;
	h->ring[(h->head + h->n) % h->cap] = c;
	h->n++;
	h->bytes += need;
}

enum pgr_err
pgr_kv_history_read(const struct pgr_kv_history *h, uint64_t from, const uint8_t *key,
					uint32_t key_len, const uint8_t *range_end, uint32_t range_end_len,
					uint64_t limit, pgr_kv_change_cb cb, void *arg)
{
	uint64_t lo = 0;
	uint64_t hi = h->n;
	uint64_t given = 0;

	if (from < h->start)
		return PGR_ECOMPACTED;
	/* the first change at or after from: revisions are in order */
	while (lo < hi)
	{
		uint64_t mid = lo + (hi - lo) / 2;

		if (at(h, mid)->revision < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint64_t i = lo; i < h->n && (limit == 0 || given < limit); i++)
	{
		const struct pgr_kv_change *c = at(h, i);

		if (!pgr_kv_in_range(&c->e, key, key_len, range_end, range_end_len))
			continue;
		given++;
		if (!cb(arg, c))
			break;
	}
	return PGR_OK;
}
