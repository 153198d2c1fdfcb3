/*-------------------------------------------------------------------------
 *
 * arena.c
 *		Allocation helpers: the caller's allocator, the per-batch arena and
 *		the deferred-free list.
 *
 * A ready batch hands out pointers into node memory that must stay valid
 * until advance, even if the log drops the entries they point to meanwhile
 * (a new leader truncating our suffix, a compaction).  The arena holds the
 * shallow copies that messages carry; the garbage list parks payloads the
 * log dropped.  Both are emptied at advance.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/arena.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "raft.h"

void *
pgr_mem_alloc(const struct pgr_allocator *a, size_t size)
{
	return a->alloc(a->ctx, size);
}

void *
pgr_mem_realloc(const struct pgr_allocator *a, void *p, size_t old_size, size_t new_size)
{
	if (p == NULL)
		return a->alloc(a->ctx, new_size);
	return a->realloc(a->ctx, p, old_size, new_size);
}

void
pgr_mem_free(const struct pgr_allocator *a, void *p)
{
	if (p != NULL)
		a->free(a->ctx, p);
}

#define ARENA_CHUNK_MIN (64 * 1024)

struct pgr_arena_chunk
{
	struct pgr_arena_chunk *next;
	size_t size; /* usable bytes after the header */
	size_t used;
};

static size_t
align_up(size_t n)
{
	return (n + 15) & ~(size_t) 15;
}

void *
pgr_arena_alloc(struct pgr_arena *arena, size_t size)
{
	struct pgr_arena_chunk *c = arena->head;
	size_t hdr = align_up(sizeof(struct pgr_arena_chunk));
	size_t need = align_up(size ? size : 1);
	void *p;

	if (c == NULL || c->size - c->used < need)
	{
		size_t csize = need > ARENA_CHUNK_MIN ? need : ARENA_CHUNK_MIN;

		if (csize > SIZE_MAX - hdr)
			return NULL;
		c = pgr_mem_alloc(arena->alloc, hdr + csize);
		if (c == NULL)
			return NULL;
		c->size = csize;
		c->used = 0;
		c->next = arena->head;
		arena->head = c;
	}
	p = (char *) c + hdr + c->used;
	c->used += need;
	return p;
}

/* Free everything but keep one standard chunk for the next batch. */
void
pgr_arena_reset(struct pgr_arena *arena)
{
	struct pgr_arena_chunk *c = arena->head;
	struct pgr_arena_chunk *keep = NULL;

	while (c != NULL)
	{
		struct pgr_arena_chunk *next = c->next;

		if (keep == NULL && c->size == ARENA_CHUNK_MIN)
		{
			keep = c;
			keep->used = 0;
			keep->next = NULL;
		}
		else
			pgr_mem_free(arena->alloc, c);
		c = next;
	}
	arena->head = keep;
}

enum pgr_err
pgr_garbage_add(struct pgr_garbage *g, void *p)
{
	if (p == NULL)
		return PGR_OK;
	if (g->n == g->cap)
	{
		size_t ncap = g->cap ? g->cap * 2 : 64;
		void **np =
			pgr_mem_realloc(g->alloc, g->ptrs, g->cap * sizeof(void *), ncap * sizeof(void *));

		if (np == NULL)
		{
			/*
			 * Out of memory while dropping: freeing now is the lesser evil
			 * only if nothing refers to p; we cannot know, so keep leaking
			 * rather than risk a dangling pointer.  The caller is told.
			 */
			return PGR_ENOMEM;
		}
		g->ptrs = np;
		g->cap = ncap;
	}
	g->ptrs[g->n++] = p;
	return PGR_OK;
}

void
pgr_garbage_collect(struct pgr_garbage *g)
{
	for (size_t i = 0; i < g->n; i++)
		pgr_mem_free(g->alloc, g->ptrs[i]);
	g->n = 0;
}
