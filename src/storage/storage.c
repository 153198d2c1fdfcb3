/*-------------------------------------------------------------------------
 *
 * storage.c
 *		The storage object: open and recovery, the ready-batch operations,
 *		the failed state, and the error reporting the other files share.
 *
 * SYNC ORDERING OF A BATCH (pgr_storage_sync)
 *
 *	1. the hard-state slot written in this batch (fdatasync of "hardstate");
 *	2. the newest log segment (fdatasync), then the directory (fsync) if
 *	   segments were created or removed.
 *
 * The hard state goes first so that after a crash between the two the
 * persisted term and vote are never behind the log: a node may wake in a term
 * without its entries (as if they had not arrived yet), never with entries of
 * a term it does not know.  The commit index this can leave beyond the log's
 * end is clamped into the log at open (a commit index is relearned from the
 * leader; it is never needed to stay safe).
 *
 * A snapshot is made durable on its own, before the log it replaces is
 * touched (snapshot.c), and after the hard state of its batch: a snapshot
 * of a term the durable hard state has not seen is a state the core
 * refuses at every restart (pgr_storage_persist).
 *
 * OPENING AFTER A CRASH.  A process that died between writing a batch and
 * its fsync leaves the batch in the kernel's page cache; recovery reads it
 * back and the node acts on it.  So open makes durable every file it read
 * (hard state, segments, snapshot) and the directory before returning, as
 * PostgreSQL's SyncDataDirectory() does after a crash: a power loss later
 * can then never take back what the restarted node used.
 *
 * FAILURE.  A failed fsync is never retried (PostgreSQL's rule since 2018: the
 * kernel may have dropped the dirty pages and a retry could succeed without
 * them), and a failed write in the middle of the log leaves bytes we cannot
 * vouch for; both put the object in a failed state that every later call
 * reports.  Reopening runs recovery, which accepts only what validates.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/storage/storage.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgraft/storage.h"

#include "internal.h"

/* ---------------------------------------------------------------------- */
/* Invariants                                                             */
/* ---------------------------------------------------------------------- */

static void
st_broken(const struct pgr_storage *st, const char *where, const char *what, uint64_t a, uint64_t b)
{
	fprintf(stderr,
			"pgraft storage invariant violated in \"%s\" after %s: %s (%" PRIu64 ", %" PRIu64 ")\n",
			st->dir, where, what, a, b);
	abort();
}

void
pgr_st_check_invariants(const struct pgr_storage *st, const char *where)
{
	uint64_t base = st->has_snap ? st->snap.index : 0;

	if (st->failed)
		return; /* nothing is promised of a failed storage */
	for (size_t i = 0; i < st->n_segs; i++)
	{
		const struct pgr_segment *g = &st->segs[i];

		if (g->last + 1 < g->first)
			st_broken(st, where, "segment ends before it begins", g->first, g->last);
		if (g->end > g->alloc)
			st_broken(st, where, "segment written past its size", g->end, g->alloc);
		if (i > 0 && g->first != st->segs[i - 1].last + 1)
			st_broken(st, where, "segments not contiguous", st->segs[i - 1].last, g->first);
	}
	if (st->n_segs > 0 && st->segs[st->n_segs - 1].last != st->last_index && st->last_index > base)
		st_broken(st, where, "last index is not the last segment's", st->last_index,
				  st->segs[st->n_segs - 1].last);
	if (st->last_index < base)
		st_broken(st, where, "log ends before the snapshot", st->last_index, base);
	if (st->hs_durable.term > st->hs.term)
		st_broken(st, where, "durable hard state ahead of the current", st->hs_durable.term,
				  st->hs.term);
}

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Fill err (which may be NULL) and return code.  offset < 0 means none.
 */
enum pgr_storage_err
pgr_st_error(struct pgr_storage_error *err, enum pgr_storage_err code, int sys_errno,
			 const char *path, int64_t offset, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	memset(err, 0, sizeof(*err));
	err->code = code;
	err->sys_errno = sys_errno;
	if (path != NULL)
		snprintf(err->path, sizeof(err->path), "%s", path);
	err->has_offset = offset >= 0;
	err->offset = offset >= 0 ? (uint64_t) offset : 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void
pgr_st_path(const struct pgr_storage *st, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", st->dir, name);
}

/* A failed system call: "could not <what> file "<path>" [at offset N]: <errno>". */
enum pgr_storage_err
pgr_st_syserr(struct pgr_storage *st, int sys_errno, const char *what, const char *name,
			  int64_t offset)
{
	char path[PGR_STORAGE_PATH_MAX];
	enum pgr_storage_err code = sys_errno == ENOSPC ? PGR_STORAGE_ENOSPC : PGR_STORAGE_EIO;

	if (name != NULL)
		pgr_st_path(st, name, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s", st->dir);
	if (offset >= 0)
		return pgr_st_error(&st->err, code, sys_errno, path, offset,
							"could not %s file \"%s\" at offset %" PRId64 ": %s", what, path,
							offset, strerror(sys_errno));
	return pgr_st_error(&st->err, code, sys_errno, path, -1, "could not %s \"%s\": %s", what, path,
						strerror(sys_errno));
}

/* Turn the error just recorded into the failed state. */
enum pgr_storage_err
pgr_st_fatal(struct pgr_storage *st, enum pgr_storage_err code)
{
	if (!st->failed)
	{
		st->failed = true;
		st->fail_err = st->err;
	}
	return code;
}

static enum pgr_storage_err
storage_check_usable(struct pgr_storage *st, bool write)
{
	if (st->failed)
	{
		struct pgr_storage_error *f = &st->fail_err;

		return pgr_st_error(&st->err, PGR_STORAGE_EFAILED, f->sys_errno, f->path,
							f->has_offset ? (int64_t) f->offset : -1,
							"storage is unusable after an earlier failure: %.1300s", f->msg);
	}
	if (write && st->read_only)
		return pgr_st_error(&st->err, PGR_STORAGE_EREADONLY, 0, st->dir, -1,
							"storage \"%s\" is open read-only", st->dir);
	return PGR_STORAGE_OK;
}

bool
pgr_st_reserve(uint8_t **buf, size_t *cap, size_t need)
{
	size_t ncap;
	uint8_t *nbuf;

	if (*cap >= need)
		return true;
	ncap = *cap > 0 ? *cap : 4096;
	while (ncap < need)
		ncap *= 2;
	nbuf = realloc(*buf, ncap);
	if (nbuf == NULL)
		return false;
	*buf = nbuf;
	*cap = ncap;
	return true;
}

/* The storage layer's only path to fsync.  A failure is fatal. */
enum pgr_storage_err
pgr_st_sync_fd(struct pgr_storage *st, int fd, const char *name, bool metadata)
{
	int rc = st->vfs->sync(st->vfs_ctx, fd, metadata);

	if (rc != 0)
	{
		pgr_st_syserr(st, rc, "fsync", name, -1);
		return pgr_st_fatal(st, st->err.code);
	}
	return PGR_STORAGE_OK;
}

enum pgr_storage_err
pgr_st_sync_dir(struct pgr_storage *st)
{
	int fd;
	int rc = st->vfs->open(st->vfs_ctx, st->dir, PGR_VFS_DIR, &fd);
	enum pgr_storage_err e;

	if (rc != 0)
	{
		pgr_st_syserr(st, rc, "open directory", NULL, -1);
		return pgr_st_fatal(st, st->err.code);
	}
	e = pgr_st_sync_fd(st, fd, ".", true);
	st->vfs->close(st->vfs_ctx, fd);
	if (e == PGR_STORAGE_OK)
		st->dir_dirty = false;
	return e;
}

/* Read the whole file name into st->rbuf. */
enum pgr_storage_err
pgr_st_read_file(struct pgr_storage *st, const char *name, uint64_t *len_out)
{
	char path[PGR_STORAGE_PATH_MAX];
	int fd;
	int rc;
	uint64_t size;
	size_t nread = 0;

	pgr_st_path(st, name, path, sizeof(path));
	rc = st->vfs->open(st->vfs_ctx, path, PGR_VFS_READ, &fd);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "open", name, -1);
	rc = st->vfs->size(st->vfs_ctx, fd, &size);
	if (rc == 0 && size > SIZE_MAX - 8)
		rc = EFBIG;
	if (rc == 0 && !pgr_st_reserve(&st->rbuf, &st->rbuf_cap, (size_t) size + 8))
	{
		st->vfs->close(st->vfs_ctx, fd);
		return pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, path, -1,
							"out of memory reading file \"%s\"", path);
	}
	if (rc == 0)
		rc = st->vfs->pread(st->vfs_ctx, fd, st->rbuf, (size_t) size, 0, &nread);
	st->vfs->close(st->vfs_ctx, fd);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "read", name, -1);
	*len_out = nread;
	return PGR_STORAGE_OK;
}

enum pgr_storage_err
pgr_st_unlink(struct pgr_storage *st, const char *name)
{
	char path[PGR_STORAGE_PATH_MAX];
	int rc;

	pgr_st_path(st, name, path, sizeof(path));
	rc = st->vfs->unlink(st->vfs_ctx, path);
	if (rc != 0 && rc != ENOENT)
		return pgr_st_syserr(st, rc, "remove", name, -1);
	st->dir_dirty = true;
	return PGR_STORAGE_OK;
}

/* ---------------------------------------------------------------------- */
/* Open and close                                                         */
/* ---------------------------------------------------------------------- */

struct dir_survey
{
	bool has_hardstate;
	bool has_other; /* segments or snapshots */
};

static int
survey_cb(void *arg, const char *name)
{
	struct dir_survey *s = arg;
	uint64_t first;

	if (strcmp(name, "hardstate") == 0)
		s->has_hardstate = true;
	else if (pgr_segment_parse_name(name, &first) || pgr_snap_is_file(name))
		s->has_other = true;
	return 0;
}

/* fsync one of our files by name (opened read-only, as PostgreSQL does). */
static int
sync_cb(void *arg, const char *name)
{
	struct pgr_storage *st = arg;
	char path[PGR_STORAGE_PATH_MAX];
	uint64_t first;
	int fd;
	int rc;

	if (st->err.code != PGR_STORAGE_OK)
		return 1;
	if (strcmp(name, "hardstate") != 0 && !pgr_segment_parse_name(name, &first) &&
		!pgr_snap_is_file(name))
		return 0;
	pgr_st_path(st, name, path, sizeof(path));
	rc = st->vfs->open(st->vfs_ctx, path, PGR_VFS_READ, &fd);
	if (rc == ENOENT)
		return 0; /* removed by recovery meanwhile */
	if (rc != 0)
	{
		pgr_st_syserr(st, rc, "open", name, -1);
		return 1;
	}
	(void) pgr_st_sync_fd(st, fd, name, false);
	st->vfs->close(st->vfs_ctx, fd);
	return st->err.code != PGR_STORAGE_OK;
}

/* After recovery: what was read is made durable (see OPENING AFTER A CRASH). */
static enum pgr_storage_err
storage_sync_all(struct pgr_storage *st)
{
	int rc;

	st->err.code = PGR_STORAGE_OK;
	rc = st->vfs->list(st->vfs_ctx, st->dir, sync_cb, st);
	if (st->err.code != PGR_STORAGE_OK)
		return st->err.code;
	if (rc != 0)
		return pgr_st_syserr(st, rc, "read directory", NULL, -1);
	return pgr_st_sync_dir(st);
}

/* Make dir's own entry durable in its parent after creating it. */
static enum pgr_storage_err
storage_sync_parent(struct pgr_storage *st)
{
	char parent[PGR_STORAGE_PATH_MAX];
	char *slash;
	int fd;
	int rc;
	enum pgr_storage_err e;

	snprintf(parent, sizeof(parent), "%s", st->dir);
	slash = strrchr(parent, '/');
	if (slash == NULL)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	rc = st->vfs->open(st->vfs_ctx, parent, PGR_VFS_DIR, &fd);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "open directory", NULL, -1);
	e = pgr_st_sync_fd(st, fd, "..", true);
	st->vfs->close(st->vfs_ctx, fd);
	return e;
}

static enum pgr_storage_err
storage_initialize(struct pgr_storage *st, bool dir_exists)
{
	int rc;
	enum pgr_storage_err e;

	if (!dir_exists)
	{
		rc = st->vfs->mkdir(st->vfs_ctx, st->dir);
		if (rc != 0)
			return pgr_st_syserr(st, rc, "create directory", NULL, -1);
		e = storage_sync_parent(st);
		if (e != PGR_STORAGE_OK)
			return e;
	}
	return pgr_hs_init(st);
}

/*
 * Reading a segment whole needs a buffer as large as the segment (16 MiB by
 * default); give it back once recovery, loading, a truncation or a walk is
 * done, so an idle node does not keep it.
 */
static void
release_read_buffer(struct pgr_storage *st)
{
	free(st->rbuf);
	st->rbuf = NULL;
	st->rbuf_cap = 0;
}

enum pgr_storage_err
pgr_storage_open(const char *dir, const struct pgr_storage_options *opts, struct pgr_storage **out,
				 struct pgr_storage_error *err)
{
	struct pgr_storage *st;
	struct dir_survey survey = {false, false};
	enum pgr_storage_err e;
	int rc;

	*out = NULL;
	if (dir == NULL || opts == NULL || strlen(dir) + PGR_NAME_MAX + 2 > PGR_STORAGE_PATH_MAX)
		return pgr_st_error(err, PGR_STORAGE_EINVAL, 0, dir, -1,
							"invalid storage directory or options");
	if (opts->create && opts->read_only)
		return pgr_st_error(err, PGR_STORAGE_EINVAL, 0, dir, -1,
							"cannot create storage \"%s\" read-only", dir);
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->dir = strdup(dir)) == NULL)
	{
		free(st);
		return pgr_st_error(err, PGR_STORAGE_ENOMEM, 0, dir, -1, "out of memory");
	}
	st->vfs = opts->vfs != NULL ? opts->vfs : &pgr_posix_vfs;
	st->vfs_ctx = opts->vfs_ctx;
	st->segment_size =
		opts->segment_size != 0 ? opts->segment_size : PGR_STORAGE_DEFAULT_SEGMENT_SIZE;
	if (st->segment_size < 4096)
		st->segment_size = 4096;
	st->read_only = opts->read_only;
	st->tail_fd = -1;
	st->hs_fd = -1;

	rc = st->vfs->list(st->vfs_ctx, dir, survey_cb, &survey);
	if (rc != 0 && rc != ENOENT)
		e = pgr_st_syserr(st, rc, "read directory", NULL, -1);
	else if (!survey.has_hardstate && survey.has_other)
		e = pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, dir, -1,
						 "storage directory \"%s\" has log or snapshot files but no hardstate file",
						 dir);
	else if (!survey.has_hardstate && !opts->create)
		e = pgr_st_error(&st->err, PGR_STORAGE_ENOTFOUND, rc, dir, -1,
						 "\"%s\" is not a pgraft storage directory", dir);
	else if (!survey.has_hardstate)
		e = storage_initialize(st, rc == 0);
	else
		e = PGR_STORAGE_OK;

	/* Recovery, in dependency order: the log is checked against the snapshot. */
	if (e == PGR_STORAGE_OK)
		e = pgr_hs_load(st);
	if (e == PGR_STORAGE_OK)
		e = pgr_snap_recover(st);
	if (e == PGR_STORAGE_OK)
		e = pgr_slog_recover(st);
	if (e == PGR_STORAGE_OK && !st->read_only)
		e = storage_sync_all(st);
	if (e != PGR_STORAGE_OK)
	{
		if (err != NULL)
			*err = st->err;
		pgr_storage_close(st);
		return e;
	}

	/* See SYNC ORDERING: commit may point past a log that lost its tail. */
	if (st->has_snap && st->hs.commit < st->snap.index)
		st->hs.commit = st->snap.index;
	if (st->hs.commit > st->last_index)
		st->hs.commit = st->last_index;
	*out = st;
	release_read_buffer(st);
	PGR_CHECK_STORAGE(st, "open");
	return PGR_STORAGE_OK;
}

void
pgr_storage_close(struct pgr_storage *st)
{
	if (st == NULL)
		return;
	pgr_slog_close(st);
	if (st->hs_fd >= 0)
		st->vfs->close(st->vfs_ctx, st->hs_fd);
	free(st->segs);
	free(st->rbuf);
	free(st->wbuf);
	free(st->dir);
	free(st);
}

const struct pgr_storage_error *
pgr_storage_last_error(const struct pgr_storage *st)
{
	return &st->err;
}

/* ---------------------------------------------------------------------- */
/* Loading                                                                */
/* ---------------------------------------------------------------------- */

struct load_ctx
{
	const struct pgr_allocator *alloc;
	struct pgr_storage_state *state;
	uint64_t from; /* first index to load */
	uint64_t to;   /* last index to load */
	bool oom;
};

static int
load_cb(void *arg, uint64_t offset, const struct pgr_entry *e)
{
	struct load_ctx *lc = arg;
	struct pgr_entry *dst;

	(void) offset;
	if (e->index < lc->from)
		return 0;
	if (e->index > lc->to)
		return 1;
	dst = &lc->state->entries[lc->state->n_entries];
	*dst = *e;
	dst->data = NULL;
	if (e->len > 0)
	{
		dst->data = lc->alloc->alloc(lc->alloc->ctx, e->len);
		if (dst->data == NULL)
		{
			lc->oom = true;
			return 1;
		}
		memcpy(dst->data, e->data, e->len);
	}
	lc->state->n_entries++;
	return 0;
}

static int
load_walk_cb(void *arg, const char *file, uint64_t offset, const struct pgr_entry *e)
{
	(void) file;
	return load_cb(arg, offset, e);
}

enum pgr_storage_err
pgr_storage_load(struct pgr_storage *st, const struct pgr_allocator *alloc,
				 struct pgr_storage_state *out)
{
	struct load_ctx lc;
	enum pgr_storage_err e;
	uint64_t from = st->has_snap ? st->snap.index + 1 : 1;
	uint64_t n = st->last_index + 1 - from;

	memset(out, 0, sizeof(*out));
	e = storage_check_usable(st, false);
	if (e != PGR_STORAGE_OK)
		return e;
	out->hs = st->hs;
	if (st->has_snap)
	{
		out->has_snapshot = true;
		out->snapshot.meta = st->snap;
		out->snapshot.len = st->snap_len;
		e = pgr_snap_read_data(st, alloc, &out->snapshot.data);
		if (e != PGR_STORAGE_OK)
		{
			memset(out, 0, sizeof(*out));
			return e;
		}
	}
	if (n > 0)
	{
		if (n > SIZE_MAX / sizeof(struct pgr_entry) ||
			(out->entries = alloc->alloc(alloc->ctx, (size_t) n * sizeof(struct pgr_entry))) ==
				NULL)
		{
			pgr_storage_state_free(alloc, out);
			return pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, st->dir, -1,
								"out of memory loading %" PRIu64 " log entries", n);
		}
		lc.alloc = alloc;
		lc.state = out;
		lc.from = from;
		lc.to = st->last_index;
		lc.oom = false;
		e = pgr_storage_walk(st, load_walk_cb, &lc);
		if (e == PGR_STORAGE_OK && lc.oom)
			e = pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, st->dir, -1,
							 "out of memory loading log entries");
		if (e == PGR_STORAGE_OK && out->n_entries != n)
			e = pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, st->dir, -1,
							 "log changed while loading: %zu of %" PRIu64 " entries found",
							 out->n_entries, n);
		if (e != PGR_STORAGE_OK)
		{
			pgr_storage_state_free(alloc, out);
			return e;
		}
	}
	release_read_buffer(st);
	return PGR_STORAGE_OK;
}

void
pgr_storage_state_free(const struct pgr_allocator *alloc, struct pgr_storage_state *state)
{
	for (size_t i = 0; i < state->n_entries; i++)
		alloc->free(alloc->ctx, state->entries[i].data);
	alloc->free(alloc->ctx, state->entries);
	alloc->free(alloc->ctx, state->snapshot.data);
	memset(state, 0, sizeof(*state));
}

void
pgr_storage_restore(const struct pgr_storage_state *state, struct pgr_restore *out)
{
	memset(out, 0, sizeof(*out));
	out->hs = state->hs;
	out->snapshot = state->has_snapshot ? &state->snapshot : NULL;
	out->entries = state->entries;
	out->n_entries = state->n_entries;
	out->applied = state->has_snapshot ? state->snapshot.meta.index : 0;
}

/* ---------------------------------------------------------------------- */
/* The batch                                                              */
/* ---------------------------------------------------------------------- */

static enum pgr_storage_err
storage_check_snapshot(struct pgr_storage *st, const struct pgr_snapshot *snap)
{
	if (snap == NULL || snap->meta.index == 0 || (snap->len > 0 && snap->data == NULL))
		return pgr_st_error(&st->err, PGR_STORAGE_EINVAL, 0, st->dir, -1, "invalid snapshot");
	if (st->has_snap && snap->meta.index < st->snap.index)
		return pgr_st_error(&st->err, PGR_STORAGE_EINVAL, 0, st->dir, -1,
							"snapshot at index %" PRIu64
							" is older than the stored one at %" PRIu64,
							snap->meta.index, st->snap.index);
	return PGR_STORAGE_OK;
}

enum pgr_storage_err
pgr_storage_install_snapshot(struct pgr_storage *st, const struct pgr_snapshot *snap)
{
	enum pgr_storage_err e = storage_check_usable(st, true);

	if (e == PGR_STORAGE_OK)
		e = storage_check_snapshot(st, snap);
	if (e == PGR_STORAGE_OK)
		e = pgr_snap_write(st, snap);
	if (e == PGR_STORAGE_OK)
		e = pgr_slog_discard(st);
	return e;
}

enum pgr_storage_err
pgr_storage_save_snapshot(struct pgr_storage *st, const struct pgr_snapshot *snap)
{
	enum pgr_storage_err e = storage_check_usable(st, true);

	if (e == PGR_STORAGE_OK)
		e = storage_check_snapshot(st, snap);
	if (e == PGR_STORAGE_OK && snap->meta.index > st->last_index)
		e = pgr_st_error(&st->err, PGR_STORAGE_EINVAL, 0, st->dir, -1,
						 "snapshot at index %" PRIu64 " is past the last log index %" PRIu64,
						 snap->meta.index, st->last_index);
	if (e == PGR_STORAGE_OK)
		e = pgr_snap_write(st, snap);
	return e;
}

enum pgr_storage_err
pgr_storage_compact(struct pgr_storage *st, uint64_t index)
{
	enum pgr_storage_err e = storage_check_usable(st, true);

	if (e != PGR_STORAGE_OK)
		return e;
	if (!st->has_snap || index > st->snap.index)
		return pgr_st_error(
			&st->err, PGR_STORAGE_EINVAL, 0, st->dir, -1,
			"cannot drop the log up to index %" PRIu64 ": no durable snapshot covers it", index);
	return pgr_slog_drop_prefix(st, index);
}

enum pgr_storage_err
pgr_storage_append(struct pgr_storage *st, const struct pgr_entry *entries, size_t n)
{
	enum pgr_storage_err e = storage_check_usable(st, true);
	uint64_t first;
	uint64_t min_index = st->has_snap ? st->snap.index + 1 : 1;

	if (e != PGR_STORAGE_OK)
		return e;
	if (n == 0 || entries == NULL)
		return pgr_st_error(&st->err, PGR_STORAGE_EINVAL, 0, st->dir, -1, "no entries to append");
	for (size_t i = 0; i < n; i++)
	{
		if ((entries[i].len > 0 && entries[i].data == NULL) ||
			(i > 0 && (entries[i].index != entries[i - 1].index + 1 ||
					   entries[i].term < entries[i - 1].term)))
			return pgr_st_error(
				&st->err, PGR_STORAGE_EINVAL, 0, st->dir, -1,
				"entries to append are not dense with non-decreasing terms at position %zu", i);
	}
	first = entries[0].index;
	if (first < min_index || first > st->last_index + 1)
		return pgr_st_error(&st->err, PGR_STORAGE_EINVAL, 0, st->dir, -1,
							"cannot append at index %" PRIu64 ": the log holds (%" PRIu64
							", %" PRIu64 "]",
							first, min_index - 1, st->last_index);
	if (first <= st->last_index)
	{
		e = pgr_slog_truncate(st, first);
		release_read_buffer(st);
		if (e != PGR_STORAGE_OK)
			return e;
	}
	if (entries[0].term < st->last_term)
		return pgr_st_error(&st->err, PGR_STORAGE_EINVAL, 0, st->dir, -1,
							"entry %" PRIu64 " has term %" PRIu64
							", below the previous entry's term %" PRIu64,
							first, entries[0].term, st->last_term);
	return pgr_slog_append(st, entries, n);
}

enum pgr_storage_err
pgr_storage_set_hard_state(struct pgr_storage *st, const struct pgr_hard_state *hs)
{
	enum pgr_storage_err e = storage_check_usable(st, true);
	const struct pgr_hard_state *cur = &st->hs;

	if (e != PGR_STORAGE_OK)
		return e;
	if (hs->term < cur->term ||
		(hs->term == cur->term && cur->vote != PGR_NONE && hs->vote != cur->vote) ||
		hs->commit < cur->commit)
		return pgr_st_error(&st->err, PGR_STORAGE_EINVAL, 0, st->dir, -1,
							"hard state would go backwards: term %" PRIu64 " vote %" PRIu64
							" commit %" PRIu64 " after term %" PRIu64 " vote %" PRIu64
							" commit %" PRIu64,
							hs->term, hs->vote, hs->commit, cur->term, cur->vote, cur->commit);
	if (hs->term == cur->term && hs->vote == cur->vote && hs->commit == cur->commit)
		return PGR_STORAGE_OK;
	return pgr_hs_write(st, hs);
}

enum pgr_storage_err
pgr_storage_sync(struct pgr_storage *st)
{
	enum pgr_storage_err e = storage_check_usable(st, true);

	if (e == PGR_STORAGE_OK)
		e = pgr_hs_sync(st);
	if (e == PGR_STORAGE_OK)
		e = pgr_slog_sync(st);
	return e;
}

enum pgr_storage_err
pgr_storage_persist(struct pgr_storage *st, const struct pgr_ready *rd)
{
	enum pgr_storage_err e = PGR_STORAGE_OK;

	/*
	 * A snapshot comes from a leader whose term the batch's hard state
	 * carries: that term is durable first (see SYNC ORDERING).
	 */
	if (rd->snapshot != NULL && rd->has_hard_state)
	{
		e = pgr_storage_set_hard_state(st, &rd->hs);
		if (e == PGR_STORAGE_OK)
			e = pgr_hs_sync(st);
	}
	if (e == PGR_STORAGE_OK && rd->snapshot != NULL)
		e = pgr_storage_install_snapshot(st, rd->snapshot);
	if (e == PGR_STORAGE_OK && rd->n_entries > 0)
		e = pgr_storage_append(st, rd->entries, rd->n_entries);
	if (e == PGR_STORAGE_OK && rd->has_hard_state)
		e = pgr_storage_set_hard_state(st, &rd->hs);
	if (e == PGR_STORAGE_OK && rd->must_sync)
		e = pgr_storage_sync(st);
	PGR_CHECK_STORAGE(st, "persist");
	return e;
}

/* ---------------------------------------------------------------------- */
/* Inspection                                                             */
/* ---------------------------------------------------------------------- */

void
pgr_storage_info(const struct pgr_storage *st, struct pgr_storage_info *out)
{
	memset(out, 0, sizeof(*out));
	out->hs = st->hs;
	out->hs_seq = st->hs_seq;
	out->hs_slot = st->hs_slot;
	out->hs_slot_valid[0] = st->hs_slot_valid[0];
	out->hs_slot_valid[1] = st->hs_slot_valid[1];
	out->has_snapshot = st->has_snap;
	if (st->has_snap)
	{
		out->snapshot = st->snap;
		out->snapshot_len = st->snap_len;
		snprintf(out->snapshot_file, sizeof(out->snapshot_file), "%s", st->snap_name);
	}
	out->first_index = st->has_snap ? st->snap.index + 1 : 1;
	out->last_index = st->last_index;
	out->last_term = st->last_term;
	out->n_segments = st->n_segs;
	out->torn_bytes = st->torn_bytes;
	out->torn_offset = st->torn_offset;
	out->failed = st->failed;
}

enum pgr_storage_err
pgr_storage_segment(const struct pgr_storage *st, size_t i, struct pgr_storage_segment_info *out)
{
	const struct pgr_segment *s;

	if (i >= st->n_segs)
		return PGR_STORAGE_EINVAL;
	s = &st->segs[i];
	snprintf(out->file, sizeof(out->file), "%s", s->name);
	out->first_index = s->first;
	out->last_index = s->last;
	out->used_bytes = s->end;
	out->file_bytes = s->alloc;
	return PGR_STORAGE_OK;
}

struct walk_ctx
{
	pgr_storage_entry_cb cb; /* NULL: only verify */
	void *arg;
	const char *file;
	bool stopped;
};

static int
walk_cb(void *arg, uint64_t offset, const struct pgr_entry *e)
{
	struct walk_ctx *wc = arg;

	if (wc->cb == NULL)
		return 0;
	if (wc->cb(wc->arg, wc->file, offset, e) != 0)
	{
		wc->stopped = true;
		return 1;
	}
	return 0;
}

enum pgr_storage_err
pgr_storage_walk(struct pgr_storage *st, pgr_storage_entry_cb cb, void *arg)
{
	struct walk_ctx wc = {cb, arg, NULL, false};
	enum pgr_storage_err e = storage_check_usable(st, false);

	for (size_t i = 0; e == PGR_STORAGE_OK && i < st->n_segs && !wc.stopped; i++)
	{
		wc.file = st->segs[i].name;
		e = pgr_slog_walk_segment(st, i, walk_cb, &wc);
	}
	release_read_buffer(st);
	return e;
}

enum pgr_storage_err
pgr_storage_verify(struct pgr_storage *st)
{
	enum pgr_storage_err e = storage_check_usable(st, false);

	if (e == PGR_STORAGE_OK)
		e = pgr_hs_verify(st);
	if (e == PGR_STORAGE_OK && st->has_snap)
		e = pgr_snap_read_data(st, NULL, NULL);
	if (e == PGR_STORAGE_OK)
		e = pgr_storage_walk(st, NULL, NULL);
	return e;
}
