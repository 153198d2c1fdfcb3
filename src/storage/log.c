/*-------------------------------------------------------------------------
 *
 * log.c
 *		The Raft log as a list of segment files: recovery, append with
 *		rollover, suffix truncation, prefix dropping.
 *
 * The byte format, the validity rule and the sync ordering these functions
 * implement are described at the top of segment.c.
 *
 * Every write to the log that fails leaves the storage failed (see
 * storage.c): after a partial batch, the in-memory view of the tail could no
 * longer be trusted, and the recovery of a reopen is what sorts it out.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/storage/log.c
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgraft/storage.h"

#include "internal.h"

/* A batch is written in pieces of at most this much. */
#define PGR_LOG_WRITE_CHUNK (1024 * 1024)

static enum pgr_storage_err
log_scan_error(struct pgr_storage *st, const char *name, const struct pgr_scan *sc)
{
	char path[PGR_STORAGE_PATH_MAX];

	pgr_st_path(st, name, path, sizeof(path));
	if (sc->outcome == PGR_SCAN_VERSION)
		return pgr_st_error(
			&st->err, PGR_STORAGE_EVERSION, 0, path, (int64_t) sc->bad_offset,
			"segment file \"%s\" has format version %u, but this build reads only version %d", path,
			sc->bad_version, PGR_SEG_VERSION);
	return pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, (int64_t) sc->bad_offset,
						"%s in file \"%s\" at offset %" PRIu64, sc->reason, path, sc->bad_offset);
}

static bool
log_push(struct pgr_storage *st, const struct pgr_segment *seg)
{
	if (st->n_segs == st->cap_segs)
	{
		size_t ncap = st->cap_segs > 0 ? st->cap_segs * 2 : 16;
		struct pgr_segment *n = realloc(st->segs, ncap * sizeof(*n));

		if (n == NULL)
			return false;
		st->segs = n;
		st->cap_segs = ncap;
	}
	st->segs[st->n_segs++] = *seg;
	return true;
}

static void
log_close_tail(struct pgr_storage *st)
{
	if (st->tail_fd >= 0)
		st->vfs->close(st->vfs_ctx, st->tail_fd);
	st->tail_fd = -1;
	st->tail_dirty = false;
}

static enum pgr_storage_err
log_open_tail(struct pgr_storage *st)
{
	char path[PGR_STORAGE_PATH_MAX];
	int rc;

	if (st->tail_fd >= 0 || st->n_segs == 0 || st->read_only)
		return PGR_STORAGE_OK;
	pgr_st_path(st, st->segs[st->n_segs - 1].name, path, sizeof(path));
	rc = st->vfs->open(st->vfs_ctx, path, PGR_VFS_WRITE, &st->tail_fd);
	if (rc != 0)
	{
		st->tail_fd = -1;
		return pgr_st_syserr(st, rc, "open", st->segs[st->n_segs - 1].name, -1);
	}
	return PGR_STORAGE_OK;
}

/* Write zeros over [from, to) of fd and fdatasync it. */
static enum pgr_storage_err
log_zero_range(struct pgr_storage *st, int fd, const char *name, uint64_t from, uint64_t to)
{
	const uint64_t page = 4096;

	if (!pgr_st_reserve(&st->wbuf, &st->wbuf_cap, (size_t) page))
		return pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, st->dir, -1, "out of memory");
	memset(st->wbuf, 0, (size_t) page);
	/*
	 * From the end backwards, one page-aligned piece at a time: a process
	 * killed in the middle leaves a prefix of the old records followed by
	 * zeros, which recovery reads as a valid (shorter) log.  Zeroing
	 * forwards would leave a zeroed record header followed by old records,
	 * which recovery must call corruption.  The pieces are single pages
	 * because a write of several pages is not all-or-nothing: a SIGKILL
	 * between two of its pages left zeros BEFORE old data (the kill test
	 * caught it about once in six runs of 220 kills with 64 KiB pieces).
	 */
	while (to > from)
	{
		uint64_t start = (to - 1) / page * page;
		int rc;

		if (start < from)
			start = from;
		rc = st->vfs->pwrite(st->vfs_ctx, fd, st->wbuf, (size_t) (to - start), start);
		if (rc != 0)
			return pgr_st_syserr(st, rc, "write", name, (int64_t) start);
		to = start;
	}
	return pgr_st_sync_fd(st, fd, name, false);
}

/* ---------------------------------------------------------------------- */
/* Recovery                                                               */
/* ---------------------------------------------------------------------- */

struct name_list
{
	uint64_t *v;
	size_t n;
	size_t cap;
	bool oom;
};

static int
list_segments_cb(void *arg, const char *name)
{
	struct name_list *l = arg;
	uint64_t first;

	if (!pgr_segment_parse_name(name, &first))
		return 0;
	if (l->n == l->cap)
	{
		size_t ncap = l->cap > 0 ? l->cap * 2 : 64;
		uint64_t *nv = realloc(l->v, ncap * sizeof(*nv));

		if (nv == NULL)
		{
			l->oom = true;
			return 1;
		}
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = first;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a;
	uint64_t y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

struct term_at
{
	uint64_t index;
	bool found;
	uint64_t term;
};

static int
term_at_cb(void *arg, uint64_t offset, const struct pgr_entry *e)
{
	struct term_at *t = arg;

	(void) offset;
	if (e->index == t->index)
	{
		t->found = true;
		t->term = e->term;
	}
	return 0;
}

/*
 * Cut a torn tail: zero from its start to the last non-zero byte, so that the
 * segment is clean again (the space stays preallocated).
 */
static enum pgr_storage_err
log_cut_tail(struct pgr_storage *st, const char *name, uint64_t from, uint64_t len)
{
	char path[PGR_STORAGE_PATH_MAX];
	uint64_t to = len;
	int fd;
	int rc;
	enum pgr_storage_err e;

	while (to > from && st->rbuf[to - 1] == 0)
		to--;
	st->torn_offset = from;
	st->torn_bytes = to - from;
	if (st->read_only || to == from)
		return PGR_STORAGE_OK;
	pgr_st_path(st, name, path, sizeof(path));
	rc = st->vfs->open(st->vfs_ctx, path, PGR_VFS_WRITE, &fd);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "open", name, -1);
	e = log_zero_range(st, fd, name, from, to);
	st->vfs->close(st->vfs_ctx, fd);
	return e;
}

/*
 * Read every segment, apply the validity rule, cut a torn tail in the newest
 * one, and reconcile the log with the snapshot loaded before: entries the
 * snapshot covers are ignored (and whole segments of them removed); entries
 * after it are kept only if the log agrees with the snapshot at its index
 * (Raft's rule for a snapshot that describes a prefix of the log), which also
 * finishes an install interrupted between writing the snapshot and
 * discarding the old log.
 */
enum pgr_storage_err
pgr_slog_recover(struct pgr_storage *st)
{
	struct name_list names = {NULL, 0, 0, false};
	struct term_at at = {st->snap.index, false, 0};
	enum pgr_storage_err e = PGR_STORAGE_OK;
	uint64_t base = st->has_snap ? st->snap.index : 0;
	int rc;

	rc = st->vfs->list(st->vfs_ctx, st->dir, list_segments_cb, &names);
	if (rc != 0)
		e = pgr_st_syserr(st, rc, "read directory", NULL, -1);
	else if (names.oom)
		e = pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, st->dir, -1, "out of memory");
	if (names.n > 0)
		qsort(names.v, names.n, sizeof(uint64_t), cmp_u64);

	for (size_t i = 0; e == PGR_STORAGE_OK && i < names.n; i++)
	{
		struct pgr_segment seg;
		struct pgr_scan sc;
		uint64_t len;
		uint64_t prev_term = st->n_segs > 0 ? st->segs[st->n_segs - 1].last_term : 0;
		bool newest = i == names.n - 1;
		char path[PGR_STORAGE_PATH_MAX];

		memset(&seg, 0, sizeof(seg));
		pgr_segment_name(seg.name, names.v[i]);
		pgr_st_path(st, seg.name, path, sizeof(path));
		e = pgr_st_read_file(st, seg.name, &len);
		if (e != PGR_STORAGE_OK)
			break;
		pgr_segment_scan(st->rbuf, len, prev_term, &sc, st->has_snap ? term_at_cb : NULL, &at);
		if (sc.outcome == PGR_SCAN_TORN && !newest)
		{
			e = pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, (int64_t) sc.bad_offset,
							 "%s in file \"%s\" at offset %" PRIu64
							 ", which is not the newest segment",
							 sc.reason, path, sc.bad_offset);
			break;
		}
		if (sc.outcome == PGR_SCAN_CORRUPT || sc.outcome == PGR_SCAN_VERSION)
		{
			e = log_scan_error(st, seg.name, &sc);
			break;
		}
		if (sc.outcome == PGR_SCAN_TORN && sc.bad_offset == 0)
		{
			/* Created, never written: as if it had not been created. */
			st->torn_offset = 0;
			st->torn_bytes = len;
			if (!st->read_only)
				e = pgr_st_unlink(st, seg.name);
			continue;
		}
		if (sc.first != names.v[i])
		{
			e = pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, 16,
							 "segment file \"%s\" says its first index is %" PRIu64, path,
							 sc.first);
			break;
		}
		if (st->n_segs > 0 && sc.first != st->segs[st->n_segs - 1].last + 1)
		{
			e = pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, 0,
							 "segment file \"%s\" starts at index %" PRIu64
							 " but the previous segment ends at %" PRIu64,
							 path, sc.first, st->segs[st->n_segs - 1].last);
			break;
		}
		if (sc.outcome == PGR_SCAN_TORN)
		{
			e = log_cut_tail(st, seg.name, sc.bad_offset, len);
			if (e != PGR_STORAGE_OK)
				break;
		}
		seg.first = sc.first;
		seg.last = sc.last;
		seg.last_term = sc.last_term;
		seg.end = sc.end;
		seg.alloc = len;
		if (!log_push(st, &seg))
			e = pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, st->dir, -1, "out of memory");
	}
	free(names.v);
	if (e != PGR_STORAGE_OK)
		return e;

	/* Reconcile with the snapshot. */
	st->last_index = base;
	st->last_term = st->has_snap ? st->snap.term : 0;
	if (st->n_segs == 0)
		return PGR_STORAGE_OK;
	if (st->segs[0].first > base + 1)
	{
		char path[PGR_STORAGE_PATH_MAX];

		pgr_st_path(st, st->segs[0].name, path, sizeof(path));
		if (st->has_snap)
			return pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, 0,
								"log starts at index %" PRIu64
								" in file \"%s\", but the snapshot ends at index %" PRIu64
								": entries are missing",
								st->segs[0].first, path, base);
		return pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, 0,
							"log starts at index %" PRIu64
							" in file \"%s\", but there is no snapshot: entries are missing",
							st->segs[0].first, path);
	}
	if (st->segs[st->n_segs - 1].last <= base)
	{
		/* The whole log is covered: leftovers of an install or compaction. */
		if (!st->read_only)
			return pgr_slog_drop_prefix(st, base);
		return PGR_STORAGE_OK;
	}
	if (st->has_snap && at.found && at.term != st->snap.term)
	{
		/* The log disagrees with the snapshot: keep nothing after it. */
		if (st->read_only)
			return PGR_STORAGE_OK;
		e = log_open_tail(st);
		if (e == PGR_STORAGE_OK)
			e = pgr_slog_truncate(st, base + 1);
		if (e == PGR_STORAGE_OK)
			e = pgr_slog_drop_prefix(st, base);
		return e;
	}
	st->last_index = st->segs[st->n_segs - 1].last;
	st->last_term = st->segs[st->n_segs - 1].last_term;
	if (!st->read_only && st->has_snap)
		e = pgr_slog_drop_prefix(st, base);
	if (e == PGR_STORAGE_OK)
		e = log_open_tail(st);
	return e;
}

/* ---------------------------------------------------------------------- */
/* Changing the log                                                       */
/* ---------------------------------------------------------------------- */

struct find_index
{
	uint64_t index;
	uint64_t offset;
	bool found;
};

static int
find_index_cb(void *arg, uint64_t offset, const struct pgr_entry *e)
{
	struct find_index *f = arg;

	if (e->index != f->index)
		return 0;
	f->found = true;
	f->offset = offset;
	return 1;
}

/*
 * Discard every stored entry with index >= index, durably, before anything
 * is written after it (segment.c, SYNC ORDERING 3).  Whole segments go
 * newest first; the kept part of the last one stays, the rest is zeroed.
 */
enum pgr_storage_err
pgr_slog_truncate(struct pgr_storage *st, uint64_t index)
{
	enum pgr_storage_err e = PGR_STORAGE_OK;

	while (st->n_segs > 0 && st->segs[st->n_segs - 1].first >= index)
	{
		log_close_tail(st);
		e = pgr_st_unlink(st, st->segs[st->n_segs - 1].name);
		if (e != PGR_STORAGE_OK)
			return pgr_st_fatal(st, e);
		st->n_segs--;
	}
	if (st->dir_dirty)
	{
		e = pgr_st_sync_dir(st);
		if (e != PGR_STORAGE_OK)
			return e;
	}
	if (st->n_segs > 0 && st->segs[st->n_segs - 1].last >= index)
	{
		struct pgr_segment *seg = &st->segs[st->n_segs - 1];
		struct find_index f = {index, 0, false};
		struct pgr_scan sc;
		uint64_t len;
		uint64_t prev_term = st->n_segs > 1 ? st->segs[st->n_segs - 2].last_term : 0;

		e = pgr_st_read_file(st, seg->name, &len);
		if (e == PGR_STORAGE_OK)
		{
			pgr_segment_scan(st->rbuf, len, prev_term, &sc, find_index_cb, &f);
			if (!f.found)
				e = log_scan_error(st, seg->name, &sc);
		}
		if (e == PGR_STORAGE_OK)
			e = log_open_tail(st);
		if (e == PGR_STORAGE_OK)
			e = log_zero_range(st, st->tail_fd, seg->name, f.offset, seg->end);
		if (e != PGR_STORAGE_OK)
			return pgr_st_fatal(st, e);
		seg->end = f.offset;
		seg->last = index - 1;
		seg->last_term = sc.last_term;
	}
	e = log_open_tail(st);
	if (e != PGR_STORAGE_OK)
		return pgr_st_fatal(st, e);
	st->last_index = index - 1;
	if (st->has_snap && st->last_index <= st->snap.index)
		st->last_term = st->snap.term;
	else if (st->n_segs > 0)
		st->last_term = st->segs[st->n_segs - 1].last_term;
	else
		st->last_term = 0;
	return PGR_STORAGE_OK;
}

/* Start a new segment at first, after the previous one is durable. */
static enum pgr_storage_err
log_new_segment(struct pgr_storage *st, uint64_t first, uint64_t size)
{
	struct pgr_segment seg;
	char path[PGR_STORAGE_PATH_MAX];
	uint8_t hdr[PGR_SEG_HEADER_SIZE];
	int fd;
	int rc;
	enum pgr_storage_err e;

	if (st->tail_fd >= 0 && st->tail_dirty)
	{
		e = pgr_st_sync_fd(st, st->tail_fd, st->segs[st->n_segs - 1].name, false);
		if (e != PGR_STORAGE_OK)
			return e;
	}
	if (st->dir_dirty)
	{
		e = pgr_st_sync_dir(st);
		if (e != PGR_STORAGE_OK)
			return e;
	}
	memset(&seg, 0, sizeof(seg));
	pgr_segment_name(seg.name, first);
	pgr_st_path(st, seg.name, path, sizeof(path));
	rc = st->vfs->open(st->vfs_ctx, path, PGR_VFS_WRITE | PGR_VFS_CREATE, &fd);
	if (rc != 0)
		return pgr_st_fatal(st, pgr_st_syserr(st, rc, "create", seg.name, -1));
	st->dir_dirty = true;
	rc = st->vfs->allocate(st->vfs_ctx, fd, size);
	if (rc != 0)
	{
		/* Typically ENOSPC: nothing of the batch went into this file. */
		pgr_st_syserr(st, rc, "preallocate", seg.name, -1);
		st->vfs->close(st->vfs_ctx, fd);
		st->vfs->unlink(st->vfs_ctx, path);
		return pgr_st_fatal(st, st->err.code);
	}
	pgr_segment_header_encode(hdr, first);
	rc = st->vfs->pwrite(st->vfs_ctx, fd, hdr, sizeof(hdr), 0);
	if (rc != 0)
	{
		pgr_st_syserr(st, rc, "write", seg.name, 0);
		st->vfs->close(st->vfs_ctx, fd);
		return pgr_st_fatal(st, st->err.code);
	}
	seg.first = first;
	seg.last = first - 1;
	seg.last_term = st->last_term;
	seg.end = PGR_SEG_HEADER_SIZE;
	seg.alloc = size;
	if (!log_push(st, &seg))
	{
		st->vfs->close(st->vfs_ctx, fd);
		pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, st->dir, -1, "out of memory");
		return pgr_st_fatal(st, PGR_STORAGE_ENOMEM);
	}
	log_close_tail(st);
	st->tail_fd = fd;
	st->tail_dirty = true;
	return PGR_STORAGE_OK;
}

/* Write wbuf[0..len) at the tail's end: records up to (last, last_term). */
static enum pgr_storage_err
log_flush(struct pgr_storage *st, size_t len, uint64_t last, uint64_t last_term)
{
	struct pgr_segment *tail = &st->segs[st->n_segs - 1];
	int rc;

	if (len == 0)
		return PGR_STORAGE_OK;
	rc = st->vfs->pwrite(st->vfs_ctx, st->tail_fd, st->wbuf, len, tail->end);
	if (rc != 0)
		return pgr_st_fatal(st, pgr_st_syserr(st, rc, "write", tail->name, (int64_t) tail->end));
	tail->end += len;
	tail->last = last;
	tail->last_term = last_term;
	st->last_index = last;
	st->last_term = last_term;
	st->tail_dirty = true;
	return PGR_STORAGE_OK;
}

/*
 * Append entries (already validated to follow last_index) at the end of the
 * newest segment, rolling over to new segments as they fill up.
 */
enum pgr_storage_err
pgr_slog_append(struct pgr_storage *st, const struct pgr_entry *entries, size_t n)
{
	size_t pending = 0;
	enum pgr_storage_err e;

	for (size_t i = 0; i < n; i++)
	{
		const struct pgr_entry *en = &entries[i];
		uint64_t rs = pgr_record_size(en->len);
		struct pgr_segment *tail = st->n_segs > 0 ? &st->segs[st->n_segs - 1] : NULL;

		if (tail == NULL || tail->end + pending + rs > tail->alloc ||
			pending >= PGR_LOG_WRITE_CHUNK)
		{
			e = i > 0 ? log_flush(st, pending, en->index - 1, entries[i - 1].term) : PGR_STORAGE_OK;
			if (e != PGR_STORAGE_OK)
				return e;
			pending = 0;
		}
		if (tail != NULL && tail->end + rs > tail->alloc && tail->last < tail->first)
		{
			/* An empty segment too small for one big record: grow it. */
			int rc = st->vfs->allocate(st->vfs_ctx, st->tail_fd, tail->end + rs);

			if (rc != 0)
				return pgr_st_fatal(st, pgr_st_syserr(st, rc, "preallocate", tail->name, -1));
			tail->alloc = tail->end + rs;
		}
		else if (tail == NULL || tail->end + rs > tail->alloc)
		{
			uint64_t size = PGR_SEG_HEADER_SIZE + rs;

			e = log_new_segment(st, en->index, size > st->segment_size ? size : st->segment_size);
			if (e != PGR_STORAGE_OK)
				return e;
		}
		if (!pgr_st_reserve(&st->wbuf, &st->wbuf_cap, pending + (size_t) rs))
		{
			pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, st->dir, -1, "out of memory");
			return pgr_st_fatal(st, PGR_STORAGE_ENOMEM);
		}
		pending += pgr_record_encode(st->wbuf + pending, en);
	}
	return log_flush(st, pending, entries[n - 1].index, entries[n - 1].term);
}

/*
 * Delete, oldest first, every segment that holds only entries <= index (a
 * durable snapshot covers them).  A failure leaves a contiguous log.
 */
enum pgr_storage_err
pgr_slog_drop_prefix(struct pgr_storage *st, uint64_t index)
{
	size_t k = 0;
	enum pgr_storage_err e = PGR_STORAGE_OK;

	while (k < st->n_segs && st->segs[k].last <= index && st->segs[k].first <= index)
	{
		if (k == st->n_segs - 1)
			log_close_tail(st);
		e = pgr_st_unlink(st, st->segs[k].name);
		if (e != PGR_STORAGE_OK)
			break;
		k++;
	}
	memmove(st->segs, st->segs + k, (st->n_segs - k) * sizeof(*st->segs));
	st->n_segs -= k;
	return e;
}

/* Delete the whole log, newest first (an install needs a prefix to remain). */
enum pgr_storage_err
pgr_slog_discard(struct pgr_storage *st)
{
	log_close_tail(st);
	while (st->n_segs > 0)
	{
		enum pgr_storage_err e = pgr_st_unlink(st, st->segs[st->n_segs - 1].name);

		if (e != PGR_STORAGE_OK)
			return pgr_st_fatal(st, e);
		st->n_segs--;
	}
	st->last_index = st->snap.index;
	st->last_term = st->snap.term;
	return PGR_STORAGE_OK;
}

enum pgr_storage_err
pgr_slog_sync(struct pgr_storage *st)
{
	enum pgr_storage_err e = PGR_STORAGE_OK;

	if (st->tail_fd >= 0 && st->tail_dirty)
	{
		e = pgr_st_sync_fd(st, st->tail_fd, st->segs[st->n_segs - 1].name, false);
		if (e == PGR_STORAGE_OK)
			st->tail_dirty = false;
	}
	if (e == PGR_STORAGE_OK && st->dir_dirty)
		e = pgr_st_sync_dir(st);
	return e;
}

/*
 * Scan segment i again, calling cb for each record; anything but a clean
 * segment (or the torn tail a read-only open left in place) is an error.
 */
enum pgr_storage_err
pgr_slog_walk_segment(struct pgr_storage *st, size_t i, pgr_record_cb cb, void *arg)
{
	struct pgr_scan sc;
	uint64_t len;
	enum pgr_storage_err e;

	e = pgr_st_read_file(st, st->segs[i].name, &len);
	if (e != PGR_STORAGE_OK)
		return e;
	pgr_segment_scan(st->rbuf, len, i > 0 ? st->segs[i - 1].last_term : 0, &sc, cb, arg);
	if (sc.outcome == PGR_SCAN_CLEAN ||
		(sc.outcome == PGR_SCAN_TORN && st->read_only && i == st->n_segs - 1))
		return PGR_STORAGE_OK;
	return log_scan_error(st, st->segs[i].name, &sc);
}

void
pgr_slog_close(struct pgr_storage *st)
{
	log_close_tail(st);
}
