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
#include <stdlib.h>
#include <string.h>

#include "pgraft/kv.h"

static uint64_t
change_bytes(const struct pgr_kv_change *c)
{
	return (uint64_t) c->e.key_len + c->e.value_len + (c->has_prev ? c->prev.value_len : 0) +
		   PGR_KV_HISTORY_OVERHEAD;
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
					 const struct pgr_kv_entry *e, const struct pgr_kv_entry *prev)
{
	struct pgr_kv_history *h = arg;
	uint32_t prev_len = prev != NULL ? prev->value_len : 0;
	uint64_t need = (uint64_t) e->key_len + e->value_len + prev_len + PGR_KV_HISTORY_OVERHEAD;
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
	c = h->alloc.alloc(h->alloc.ctx, sizeof(*c) + e->key_len + e->value_len + prev_len);
	if (c == NULL)
	{
		lose(h, revision);
		return;
	}
	bytes = (uint8_t *) (c + 1);
	memset(c, 0, sizeof(*c));
	c->type = type;
	c->revision = revision;
	c->e = *e;
	memcpy(bytes, e->key, e->key_len);
	if (e->value_len > 0)
		memcpy(bytes + e->key_len, e->value, e->value_len);
	c->e.key = bytes;
	c->e.value = bytes + e->key_len;
	if (prev != NULL)
	{
		c->has_prev = true;
		c->prev = *prev;
		c->prev.key = c->e.key;
		c->prev.value = bytes + e->key_len + e->value_len;
		if (prev_len > 0)
			memcpy(bytes + e->key_len + e->value_len, prev->value, prev_len);
	}
	h->ring[(h->head + h->n) % h->cap] = c;
	h->n++;
	h->bytes += need;
}

/* The position of the first change at or after revision from. */
static uint64_t
first_from(const struct pgr_kv_history *h, uint64_t from)
{
	uint64_t lo = 0;
	uint64_t hi = h->n;

	while (lo < hi)
	{
		uint64_t mid = lo + (hi - lo) / 2;

		if (at(h, mid)->revision < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

enum pgr_err
pgr_kv_history_read(const struct pgr_kv_history *h, uint64_t from, const uint8_t *key,
					uint32_t key_len, const uint8_t *range_end, uint32_t range_end_len,
					uint64_t limit, pgr_kv_change_cb cb, void *arg)
{
	uint64_t given = 0;

	if (from < h->start)
		return PGR_ECOMPACTED;
	for (uint64_t i = first_from(h, from); i < h->n && (limit == 0 || given < limit); i++)
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

/* ---------------------------------------------------------------------- */
/* Reading at a past revision                                             */
/* ---------------------------------------------------------------------- */

/*
 * A key's state at revision R, when it changed after R, is what the first
 * of those changes found: a delete's key as it was, a put's previous key
 * (none: it did not exist).  Every other key is as the store has it now.
 * The keys that changed are sorted by key, and merged with the store's.
 */
struct range_at
{
	const struct pgr_kv_change **changed; /* the first change of each key after R, by key */
	uint64_t n;
	uint64_t next;
	uint64_t limit;
	uint64_t given;
	bool stopped;
	pgr_kv_range_cb cb;
	void *arg;
};

static int
changed_cmp(const void *a, const void *b)
{
	const struct pgr_kv_change *x = *(const struct pgr_kv_change *const *) a;
	const struct pgr_kv_change *y = *(const struct pgr_kv_change *const *) b;
	int c = pgr_kv_key_cmp(x->e.key, x->e.key_len, y->e.key, y->e.key_len);

	if (c != 0)
		return c;
	/* the earlier change first (ring order breaks ties within a revision) */
	return x->revision < y->revision ? -1 : x->revision > y->revision ? 1 : (x < y ? -1 : x > y);
}

/* What the key was before change c (NULL: it did not exist). */
static const struct pgr_kv_entry *
before(const struct pgr_kv_change *c)
{
	if (c->type == PGR_KV_EVENT_DELETE)
		return &c->e;
	return c->has_prev ? &c->prev : NULL;
}

static void
give(struct range_at *m, const struct pgr_kv_entry *e)
{
	if (e == NULL || m->stopped)
		return;
	m->given++;
	if (!m->cb(m->arg, e) || (m->limit != 0 && m->given >= m->limit))
		m->stopped = true;
}

static bool
merge_current(void *arg, const struct pgr_kv_entry *e)
{
	struct range_at *m = arg;

	while (!m->stopped && m->next < m->n &&
		   pgr_kv_key_cmp(m->changed[m->next]->e.key, m->changed[m->next]->e.key_len, e->key,
						  e->key_len) < 0)
		give(m, before(m->changed[m->next++]));
	if (m->next < m->n && pgr_kv_key_cmp(m->changed[m->next]->e.key, m->changed[m->next]->e.key_len,
										 e->key, e->key_len) == 0)
		give(m, before(m->changed[m->next++]));
	else
		give(m, e);
	return !m->stopped;
}

enum pgr_err
pgr_kv_history_range_at(const struct pgr_kv_history *h, const struct pgr_kv *kv, uint64_t revision,
						const uint8_t *key, uint32_t key_len, const uint8_t *range_end,
						uint32_t range_end_len, uint64_t limit, pgr_kv_range_cb cb, void *arg)
{
	struct range_at m = {0};
	uint64_t first;
	uint64_t kept = 0;

	if (revision > pgr_kv_applied(kv))
		return PGR_EINVAL;
	if (revision + 1 < h->start)
		return PGR_ECOMPACTED;
	first = first_from(h, revision + 1);
	if (first < h->n)
	{
		m.changed = h->alloc.alloc(h->alloc.ctx, (h->n - first) * sizeof(*m.changed));
		if (m.changed == NULL)
			return PGR_ENOMEM;
		for (uint64_t i = first; i < h->n; i++)
			if (pgr_kv_in_range(&at(h, i)->e, key, key_len, range_end, range_end_len))
				m.changed[m.n++] = at(h, i);
		qsort(m.changed, m.n, sizeof(*m.changed), changed_cmp);
		for (uint64_t i = 0; i < m.n; i++)
			if (kept == 0 ||
				pgr_kv_key_cmp(m.changed[i]->e.key, m.changed[i]->e.key_len,
							   m.changed[kept - 1]->e.key, m.changed[kept - 1]->e.key_len) != 0)
				m.changed[kept++] = m.changed[i];
		m.n = kept;
	}
	m.limit = limit;
	m.cb = cb;
	m.arg = arg;
	(void) pgr_kv_range(kv, key, key_len, range_end, range_end_len, 0, merge_current, &m);
	while (!m.stopped && m.next < m.n)
		give(&m, before(m.changed[m.next++]));
	h->alloc.free(h->alloc.ctx, m.changed);
	return PGR_OK;
}
