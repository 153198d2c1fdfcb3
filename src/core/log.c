/*-------------------------------------------------------------------------
 *
 * log.c
 *		The in-memory Raft log: everything after the latest snapshot.
 *
 * The node keeps its whole uncompacted log in memory (the application bounds
 * it by compacting), so term lookups never fail for want of storage and the
 * core never reads from disk.  Entry payloads are copied in and owned by the
 * log; payloads that leave the log go to the garbage list, because a queued
 * message may still point to them until the next advance.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/log.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "raft.h"

uint64_t
pgr_log_last_term(const struct pgr_log *log)
{
	if (log->n == 0)
		return log->snap_term;
	return log->ents[log->start + log->n - 1].term;
}

enum pgr_err
pgr_log_term(const struct pgr_log *log, uint64_t index, uint64_t *term)
{
	if (index < log->snap_index)
		return PGR_ECOMPACTED;
	if (index == log->snap_index)
	{
		*term = log->snap_term;
		return PGR_OK;
	}
	if (index > pgr_log_last_index(log))
		return PGR_EUNAVAILABLE;
	*term = pgr_log_at(log, index)->term;
	return PGR_OK;
}

bool
pgr_log_match_term(const struct pgr_log *log, uint64_t index, uint64_t term)
{
	uint64_t t;

	return pgr_log_term(log, index, &t) == PGR_OK && t == term;
}

/*
 * Raft 5.4.1: a candidate's log is at least as up-to-date as ours if its
 * last term is higher, or equal with a last index at least ours.
 */
bool
pgr_log_is_up_to_date(const struct pgr_log *log, uint64_t last_index, uint64_t last_term)
{
	uint64_t my_term = pgr_log_last_term(log);

#ifdef PGR_BUG_SKIP_UPTODATE_CHECK
	/* Deliberately broken build: the simulator must catch this. */
	(void) last_index;
	(void) last_term;
	(void) my_term;
	return true;
#else
	return last_term > my_term || (last_term == my_term && last_index >= pgr_log_last_index(log));
#endif
}

enum pgr_err
pgr_log_reserve(struct pgr_log *log, size_t n)
{
	size_t need = log->n + n;
	size_t ncap;
	struct pgr_entry *ne;

	if (log->start + need <= log->cap)
		return PGR_OK;
	/* Slide live entries down first when at least half the array is dead. */
	if (need <= log->cap && log->start >= log->cap / 2)
	{
		memmove(log->ents, log->ents + log->start, log->n * sizeof(struct pgr_entry));
		log->start = 0;
		return PGR_OK;
	}
	if (log->start > 0)
	{
		memmove(log->ents, log->ents + log->start, log->n * sizeof(struct pgr_entry));
		log->start = 0;
		if (need <= log->cap)
			return PGR_OK;
	}
	ncap = log->cap ? log->cap : 64;
	while (ncap < need)
	{
		if (ncap > SIZE_MAX / 2 / sizeof(struct pgr_entry))
			return PGR_ENOMEM;
		ncap *= 2;
	}
	ne = pgr_mem_realloc(log->alloc, log->ents, log->cap * sizeof(struct pgr_entry),
						 ncap * sizeof(struct pgr_entry));
	if (ne == NULL)
		return PGR_ENOMEM;
	log->ents = ne;
	log->cap = ncap;
	return PGR_OK;
}

enum pgr_err
pgr_log_append(struct pgr_log *log, const struct pgr_entry *ents, size_t n)
{
	enum pgr_err err;

	if (n == 0)
		return PGR_OK;
	err = pgr_log_reserve(log, n);
	if (err != PGR_OK)
		return err;
	for (size_t i = 0; i < n; i++)
	{
		struct pgr_entry *dst = &log->ents[log->start + log->n];

		*dst = ents[i];
		dst->data = NULL;
		if (ents[i].len > 0)
		{
			dst->data = pgr_mem_alloc(log->alloc, ents[i].len);
			if (dst->data == NULL)
				return PGR_ENOMEM;
			memcpy(dst->data, ents[i].data, ents[i].len);
		}
		log->n++;
	}
	return PGR_OK;
}

/*
 * Dropping an entry parks its payload on the garbage list (a queued message
 * may point to it).  If the list cannot grow, the entry is left in the log
 * and PGR_ENOMEM returned: the payload stays owned by the log, so the node
 * the caller then throws away frees it (dropping the pointer instead leaked
 * it, and freeing it at once could leave a queued message dangling).
 */
enum pgr_err
pgr_log_truncate(struct pgr_log *log, uint64_t from)
{
	while (pgr_log_last_index(log) >= from && log->n > 0)
	{
		struct pgr_entry *e = &log->ents[log->start + log->n - 1];

		if (pgr_garbage_add(log->garbage, e->data) != PGR_OK)
			return PGR_ENOMEM;
		e->data = NULL;
		log->n--;
	}
	if (log->stable > pgr_log_last_index(log))
		log->stable = pgr_log_last_index(log);
	return PGR_OK;
}

enum pgr_err
pgr_log_compact(struct pgr_log *log, uint64_t index, uint64_t term)
{
	while (log->snap_index < index && log->n > 0)
	{
		struct pgr_entry *e = &log->ents[log->start];

		if (pgr_garbage_add(log->garbage, e->data) != PGR_OK)
			return PGR_ENOMEM; /* see pgr_log_truncate */
		e->data = NULL;
		log->start++;
		log->n--;
		log->snap_index++;
	}
	log->snap_index = index;
	log->snap_term = term;
	if (log->n == 0)
		log->start = 0;
	return PGR_OK;
}

enum pgr_err
pgr_log_restore(struct pgr_log *log, uint64_t index, uint64_t term)
{
	enum pgr_err err = pgr_log_truncate(log, pgr_log_first_index(log));

	if (err != PGR_OK)
		return err; /* entries left in place; keep start valid */
	log->start = 0;
	log->snap_index = index;
	log->snap_term = term;
	log->committed = index;
	log->applied = index;
	log->stable = index;
	return err;
}

uint64_t
pgr_log_find_conflict_by_term(const struct pgr_log *log, uint64_t index, uint64_t term)
{
	if (index > pgr_log_last_index(log))
		index = pgr_log_last_index(log);
	while (index > log->snap_index && pgr_log_at(log, index)->term > term)
		index--;
	return index;
}

void
pgr_log_free(struct pgr_log *log)
{
	for (size_t i = 0; i < log->n; i++)
		pgr_mem_free(log->alloc, log->ents[log->start + i].data);
	pgr_mem_free(log->alloc, log->ents);
	log->ents = NULL;
	log->n = log->cap = log->start = 0;
}
