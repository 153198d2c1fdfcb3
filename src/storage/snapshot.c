/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *		Snapshot files: the application's state at an index, with its meta.
 *
 * FILE FORMAT: "snap-<index, 16 hex digits>", little-endian:
 *
 *		0	8	magic "PGRAFTSN"
 *		8	4	format version (1)
 *		12	4	configuration length C
 *		16	8	last included index
 *		24	8	its term
 *		32	8	data length D
 *		40	4	CRC-32C of the C + D bytes that follow the header
 *		44	4	CRC-32C of bytes 0..43
 *		48	C	configuration (pgr_config_encode)
 *		48+C D	opaque application data
 *
 * VALIDITY RULE: magic, version and both checksums match, the configuration
 * decodes, the file is exactly 48 + C + D bytes and its name matches the
 * index.  The NEWEST snapshot file must be valid: it was renamed into place
 * only after being synced, so damage to it is a media failure, and falling
 * back to an older snapshot could forget entries this node acknowledged.  The
 * open fails instead, naming file and offset.
 *
 * SYNC ORDERING: write "snap.tmp", fdatasync it, rename it to its final name,
 * fsync the directory; only then are older snapshots deleted and (for an
 * install) the log discarded.  A crash before the rename leaves a temporary
 * file that the next open deletes; after it, the new snapshot is the newest.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/storage/snapshot.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgraft/crc32c.h"
#include "pgraft/storage.h"

#include "internal.h"
#include "../common/codec.h"

#define PGR_SNAP_MAGIC       "PGRAFTSN"
#define PGR_SNAP_VERSION     1
#define PGR_SNAP_HEADER_SIZE 48
#define PGR_SNAP_TMP         "snap.tmp"
/* Larger than any encoded configuration (PGR_MAX_MEMBERS members). */
#define PGR_SNAP_CONFIG_MAX (5 + PGR_MAX_MEMBERS * (11 + PGR_MAX_CONTEXT))
#define PGR_SNAP_READ_CHUNK (1024 * 1024)

static void
snap_name(char *buf, uint64_t index)
{
	snprintf(buf, PGR_NAME_MAX, "snap-%016" PRIx64, index);
}

static bool
snap_parse_name(const char *name, uint64_t *index)
{
	return pgr_parse_hex_name(name, "snap-", index);
}

bool
pgr_snap_is_file(const char *name)
{
	uint64_t index;

	return snap_parse_name(name, &index);
}

/*
 * Write snap durably under its final name (see SYNC ORDERING), then delete the
 * snapshot it replaces.  A failed write removes the temporary file and leaves
 * the storage usable (compaction frees space; it must be retryable after a
 * disk-full error); a failed fsync is fatal as everywhere.
 */
enum pgr_storage_err
pgr_snap_write(struct pgr_storage *st, const struct pgr_snapshot *snap)
{
	uint8_t *hdr;
	size_t conf_len = 0;
	char tmp[PGR_STORAGE_PATH_MAX];
	char name[PGR_NAME_MAX];
	char path[PGR_STORAGE_PATH_MAX];
	uint32_t body_crc;
	int fd;
	int rc;
	enum pgr_storage_err e;

	if (!pgr_st_reserve(&st->wbuf, &st->wbuf_cap, PGR_SNAP_HEADER_SIZE + PGR_SNAP_CONFIG_MAX))
		return pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, st->dir, -1, "out of memory");
	hdr = st->wbuf;
	if (pgr_config_encode(&snap->meta.config, hdr + PGR_SNAP_HEADER_SIZE, PGR_SNAP_CONFIG_MAX,
						  &conf_len) != PGR_OK)
		return pgr_st_error(&st->err, PGR_STORAGE_EINVAL, 0, st->dir, -1,
							"snapshot at index %" PRIu64 " has an invalid configuration",
							snap->meta.index);
	body_crc = pgr_crc32c(0, hdr + PGR_SNAP_HEADER_SIZE, conf_len);
	if (snap->len > 0)
		body_crc = pgr_crc32c(body_crc, snap->data, (size_t) snap->len);
	memset(hdr, 0, PGR_SNAP_HEADER_SIZE);
	memcpy(hdr, PGR_SNAP_MAGIC, 8);
	pgr_put_u32(hdr + 8, PGR_SNAP_VERSION);
	pgr_put_u32(hdr + 12, (uint32_t) conf_len);
	pgr_put_u64(hdr + 16, snap->meta.index);
	pgr_put_u64(hdr + 24, snap->meta.term);
	pgr_put_u64(hdr + 32, snap->len);
	pgr_put_u32(hdr + 40, body_crc);
	pgr_put_u32(hdr + 44, pgr_crc32c(0, hdr, 44));

	pgr_st_path(st, PGR_SNAP_TMP, tmp, sizeof(tmp));
	e = pgr_st_unlink(st, PGR_SNAP_TMP);
	if (e != PGR_STORAGE_OK)
		return e;
	rc = st->vfs->open(st->vfs_ctx, tmp, PGR_VFS_WRITE | PGR_VFS_CREATE, &fd);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "create", PGR_SNAP_TMP, -1);
	rc = st->vfs->pwrite(st->vfs_ctx, fd, hdr, PGR_SNAP_HEADER_SIZE + conf_len, 0);
	if (rc == 0 && snap->len > 0)
		rc = st->vfs->pwrite(st->vfs_ctx, fd, snap->data, (size_t) snap->len,
							 PGR_SNAP_HEADER_SIZE + conf_len);
	if (rc != 0)
	{
		pgr_st_syserr(st, rc, "write", PGR_SNAP_TMP, -1);
		st->vfs->close(st->vfs_ctx, fd);
		st->vfs->unlink(st->vfs_ctx, tmp);
		return st->err.code;
	}
	e = pgr_st_sync_fd(st, fd, PGR_SNAP_TMP, false);
	st->vfs->close(st->vfs_ctx, fd);
	if (e != PGR_STORAGE_OK)
		return e;
	snap_name(name, snap->meta.index);
	pgr_st_path(st, name, path, sizeof(path));
	rc = st->vfs->rename(st->vfs_ctx, tmp, path);
	if (rc != 0)
		return pgr_st_fatal(st, pgr_st_syserr(st, rc, "rename", PGR_SNAP_TMP, -1));
	e = pgr_st_sync_dir(st);
	if (e != PGR_STORAGE_OK)
		return e;

	if (st->has_snap && strcmp(st->snap_name, name) != 0)
	{
		/* Not fatal: the open after a crash removes it just the same. */
		(void) pgr_st_unlink(st, st->snap_name);
	}
	st->has_snap = true;
	st->snap = snap->meta;
	st->snap_len = snap->len;
	snprintf(st->snap_name, sizeof(st->snap_name), "%s", name);
	return PGR_STORAGE_OK;
}

/*
 * Check the body checksum of the current snapshot, reading it in chunks, and
 * if data_out is set also copy the data into memory from alloc.
 */
enum pgr_storage_err
pgr_snap_read_data(struct pgr_storage *st, const struct pgr_allocator *alloc, uint8_t **data_out)
{
	char path[PGR_STORAGE_PATH_MAX];
	uint8_t hdr[PGR_SNAP_HEADER_SIZE];
	uint8_t *data = NULL;
	uint64_t off;
	uint64_t end;
	uint32_t crc = 0;
	size_t nread;
	int fd;
	int rc;
	enum pgr_storage_err e = PGR_STORAGE_OK;

	if (data_out != NULL)
		*data_out = NULL;
	pgr_st_path(st, st->snap_name, path, sizeof(path));
	rc = st->vfs->open(st->vfs_ctx, path, PGR_VFS_READ, &fd);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "open", st->snap_name, -1);
	rc = st->vfs->pread(st->vfs_ctx, fd, hdr, sizeof(hdr), 0, &nread);
	if (rc != 0 || nread != sizeof(hdr))
	{
		st->vfs->close(st->vfs_ctx, fd);
		return pgr_st_syserr(st, rc != 0 ? rc : EIO, "read", st->snap_name, 0);
	}
	off = PGR_SNAP_HEADER_SIZE;
	end = off + pgr_get_u32(hdr + 12) + st->snap_len;
	if (data_out != NULL && st->snap_len > 0)
	{
		data = st->snap_len <= SIZE_MAX ? alloc->alloc(alloc->ctx, (size_t) st->snap_len) : NULL;
		if (data == NULL)
		{
			st->vfs->close(st->vfs_ctx, fd);
			return pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, path, -1,
								"out of memory reading snapshot \"%s\"", path);
		}
	}
	if (!pgr_st_reserve(&st->rbuf, &st->rbuf_cap, PGR_SNAP_READ_CHUNK))
		e = pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, path, -1, "out of memory");
	while (e == PGR_STORAGE_OK && off < end)
	{
		size_t want = end - off < PGR_SNAP_READ_CHUNK ? (size_t) (end - off) : PGR_SNAP_READ_CHUNK;
		uint64_t data_start = PGR_SNAP_HEADER_SIZE + pgr_get_u32(hdr + 12);

		rc = st->vfs->pread(st->vfs_ctx, fd, st->rbuf, want, off, &nread);
		if (rc != 0 || nread != want)
		{
			e = pgr_st_syserr(st, rc != 0 ? rc : EIO, "read", st->snap_name, (int64_t) off);
			break;
		}
		crc = pgr_crc32c(crc, st->rbuf, want);
		/* Copy the part of this chunk that is application data. */
		if (data != NULL && off + want > data_start)
		{
			uint64_t from = off > data_start ? off : data_start;

			memcpy(data + (from - data_start), st->rbuf + (from - off),
				   (size_t) (off + want - from));
		}
		off += want;
	}
	st->vfs->close(st->vfs_ctx, fd);
	if (e == PGR_STORAGE_OK && crc != pgr_get_u32(hdr + 40))
		e = pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, PGR_SNAP_HEADER_SIZE,
						 "snapshot body checksum mismatch in file \"%s\" at offset %d", path,
						 PGR_SNAP_HEADER_SIZE);
	if (e != PGR_STORAGE_OK)
	{
		if (data != NULL)
			alloc->free(alloc->ctx, data);
		return e;
	}
	if (data_out != NULL)
		*data_out = data;
	return PGR_STORAGE_OK;
}

/* Read and check the header and configuration of snapshot file name. */
static enum pgr_storage_err
snap_load_meta(struct pgr_storage *st, const char *name, uint64_t index)
{
	char path[PGR_STORAGE_PATH_MAX];
	uint8_t hdr[PGR_SNAP_HEADER_SIZE];
	uint8_t *conf = NULL;
	uint32_t conf_len = 0;
	uint64_t size;
	size_t nread = 0;
	int fd;
	int rc;
	enum pgr_storage_err e = PGR_STORAGE_OK;

	pgr_st_path(st, name, path, sizeof(path));
	rc = st->vfs->open(st->vfs_ctx, path, PGR_VFS_READ, &fd);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "open", name, -1);
	rc = st->vfs->size(st->vfs_ctx, fd, &size);
	if (rc == 0)
		rc = st->vfs->pread(st->vfs_ctx, fd, hdr, sizeof(hdr), 0, &nread);
	if (rc != 0)
		e = pgr_st_syserr(st, rc, "read", name, 0);
	else if (nread < sizeof(hdr) || memcmp(hdr, PGR_SNAP_MAGIC, 8) != 0)
		e = pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, 0,
						 "bad snapshot header in file \"%s\" at offset 0", path);
	else if (pgr_get_u32(hdr + 8) != PGR_SNAP_VERSION)
		e = pgr_st_error(
			&st->err, PGR_STORAGE_EVERSION, 0, path, 8,
			"snapshot file \"%s\" has format version %u, but this build reads only version %d",
			path, pgr_get_u32(hdr + 8), PGR_SNAP_VERSION);
	else if (pgr_get_u32(hdr + 44) != pgr_crc32c(0, hdr, 44))
		e = pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, 0,
						 "snapshot header checksum mismatch in file \"%s\" at offset 0", path);
	else if ((conf_len = pgr_get_u32(hdr + 12)) > PGR_SNAP_CONFIG_MAX ||
			 pgr_get_u64(hdr + 16) != index ||
			 size - PGR_SNAP_HEADER_SIZE - conf_len != pgr_get_u64(hdr + 32) ||
			 size < PGR_SNAP_HEADER_SIZE + conf_len)
		e = pgr_st_error(
			&st->err, PGR_STORAGE_ECORRUPT, 0, path, 0,
			"snapshot file \"%s\" has an inconsistent header (index, lengths or file size %" PRIu64
			")",
			path, size);
	if (e == PGR_STORAGE_OK)
	{
		conf = malloc(conf_len > 0 ? conf_len : 1);
		if (conf == NULL)
			e = pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, path, -1, "out of memory");
		else if ((rc = st->vfs->pread(st->vfs_ctx, fd, conf, conf_len, PGR_SNAP_HEADER_SIZE,
									  &nread)) != 0 ||
				 nread != conf_len)
			e = pgr_st_syserr(st, rc != 0 ? rc : EIO, "read", name, PGR_SNAP_HEADER_SIZE);
		else if (pgr_config_decode(conf, conf_len, &st->snap.config) != PGR_OK)
			e = pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, PGR_SNAP_HEADER_SIZE,
							 "invalid configuration in snapshot file \"%s\" at offset %d", path,
							 PGR_SNAP_HEADER_SIZE);
		free(conf);
	}
	st->vfs->close(st->vfs_ctx, fd);
	if (e != PGR_STORAGE_OK)
		return e;
	st->has_snap = true;
	st->snap.index = index;
	st->snap.term = pgr_get_u64(hdr + 24);
	st->snap_len = pgr_get_u64(hdr + 32);
	snprintf(st->snap_name, sizeof(st->snap_name), "%s", name);
	/* The body checksum too: the newest snapshot must be whole. */
	e = pgr_snap_read_data(st, NULL, NULL);
	if (e != PGR_STORAGE_OK)
		st->has_snap = false;
	return e;
}

struct snap_list
{
	uint64_t newest;
	bool found;
	uint64_t *older;
	size_t n_older;
	size_t cap_older;
	bool oom;
	char tmp[8][PGR_NAME_MAX]; /* leftover temporary files */
	size_t n_tmp;
};

static void
snap_list_older(struct snap_list *l, uint64_t index)
{
	if (l->n_older == l->cap_older)
	{
		size_t ncap = l->cap_older > 0 ? l->cap_older * 2 : 8;
		uint64_t *n = realloc(l->older, ncap * sizeof(*n));

		if (n == NULL)
		{
			l->oom = true;
			return;
		}
		l->older = n;
		l->cap_older = ncap;
	}
	l->older[l->n_older++] = index;
}

static int
snap_list_cb(void *arg, const char *name)
{
	struct snap_list *l = arg;
	uint64_t index;
	size_t len = strlen(name);

	if (len > 4 && strcmp(name + len - 4, ".tmp") == 0 && len < PGR_NAME_MAX && l->n_tmp < 8)
		snprintf(l->tmp[l->n_tmp++], PGR_NAME_MAX, "%s", name);
	if (!snap_parse_name(name, &index))
		return 0;
	if (!l->found || index > l->newest)
	{
		if (l->found)
			snap_list_older(l, l->newest);
		l->newest = index;
		l->found = true;
	}
	else
		snap_list_older(l, index);
	return 0;
}

/*
 * Find the newest snapshot, check it whole, and delete what an interrupted
 * write or a superseded snapshot left behind.
 */
enum pgr_storage_err
pgr_snap_recover(struct pgr_storage *st)
{
	struct snap_list l;
	char name[PGR_NAME_MAX];
	enum pgr_storage_err e = PGR_STORAGE_OK;
	int rc;

	memset(&l, 0, sizeof(l));
	rc = st->vfs->list(st->vfs_ctx, st->dir, snap_list_cb, &l);
	if (rc != 0)
		e = pgr_st_syserr(st, rc, "read directory", NULL, -1);
	else if (l.oom)
		e = pgr_st_error(&st->err, PGR_STORAGE_ENOMEM, 0, st->dir, -1, "out of memory");
	if (e == PGR_STORAGE_OK && l.found)
	{
		snap_name(name, l.newest);
		e = snap_load_meta(st, name, l.newest);
	}
	if (e == PGR_STORAGE_OK && !st->read_only)
	{
		for (size_t i = 0; e == PGR_STORAGE_OK && i < l.n_older; i++)
		{
			snap_name(name, l.older[i]);
			e = pgr_st_unlink(st, name);
		}
		for (size_t i = 0; e == PGR_STORAGE_OK && i < l.n_tmp; i++)
			e = pgr_st_unlink(st, l.tmp[i]);
	}
	free(l.older);
	return e;
}
