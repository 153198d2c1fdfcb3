/*-------------------------------------------------------------------------
 *
 * storage_testutil.h
 *		Shared helpers of the storage tests: temporary directories, entries
 *		whose payload is a function of (index, term), and "memfs", an
 *		in-memory struct pgr_vfs that keeps what was synced apart from what
 *		was merely written, so a test can cut the power.
 *
 * MEMFS MODEL.  Every file has its written content and its durable content;
 * sync(fd) makes the written content durable.  The directory has its written
 * names and its durable names; sync of the directory makes the written names
 * durable.  memfs_power_loss() forgets everything not durable (or, in torn
 * mode, keeps a random prefix of each file's unsynced changes, as a disk that
 * wrote part of a sequential append would).  Faults: the nth pwrite,
 * allocate or sync fails with a chosen errno.  One directory only; paths are
 * reduced to their last component.
 *
 * Header-only (static inline) because the Makefile links each test binary
 * from its own object and the harness alone.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/storage_testutil.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_STORAGE_TESTUTIL_H
#define PGRAFT_STORAGE_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgraft/storage.h"

/* ---------------------------------------------------------------------- */
/* Temporary directories and entries                                      */
/* ---------------------------------------------------------------------- */

/* mkdtemp under /tmp; returns a malloc'd path of a directory that exists. */
static inline char *
tu_mkdtemp(void)
{
	char tmpl[] = "/tmp/pgraft-storage-XXXXXX";
	char *d = mkdtemp(tmpl);

	return d != NULL ? strdup(d) : NULL;
}

/* Remove a flat directory and everything in it, then free the path. */
static inline void
tu_rmdir(char *dir)
{
	DIR *d;
	struct dirent *de;
	char path[2048];

	if (dir == NULL)
		return;
	d = opendir(dir);
	if (d != NULL)
	{
		while ((de = readdir(d)) != NULL)
		{
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
	free(dir);
}

/* Deterministic payload byte j of the entry (index, term). */
static inline uint8_t
tu_byte(uint64_t index, uint64_t term, uint32_t j)
{
	uint64_t x = index * 0x9E3779B97F4A7C15ULL ^ term * 0xC2B2AE3D27D4EB4FULL ^ j;

	x ^= x >> 29;
	return (uint8_t) (x * 0xBF58476D1CE4E5B9ULL >> 56);
}

/* Payload length of entry (index, term): 0 .. 299, some empty. */
static inline uint32_t
tu_len(uint64_t index, uint64_t term)
{
	return (uint32_t) ((index * 7 + term * 13) % 300);
}

/* Fill e (data in buf, at least 300 bytes) with the canonical entry. */
static inline void
tu_entry(struct pgr_entry *e, uint8_t *buf, uint64_t index, uint64_t term)
{
	e->index = index;
	e->term = term;
	e->type = (uint32_t) (index % 5 == 0 ? PGR_ENTRY_CONFIG : PGR_ENTRY_NORMAL);
	e->len = tu_len(index, term);
	for (uint32_t j = 0; j < e->len; j++)
		buf[j] = tu_byte(index, term, j);
	e->data = e->len > 0 ? buf : NULL;
}

/* Is e exactly the canonical entry (index, term)? */
static inline bool
tu_entry_ok(const struct pgr_entry *e, uint64_t index, uint64_t term)
{
	if (e->index != index || e->term != term || e->len != tu_len(index, term))
		return false;
	if (e->type != (uint32_t) (index % 5 == 0 ? PGR_ENTRY_CONFIG : PGR_ENTRY_NORMAL))
		return false;
	for (uint32_t j = 0; j < e->len; j++)
		if (e->data[j] != tu_byte(index, term, j))
			return false;
	return true;
}

/* Append entries [from, to] of one term; returns the storage code. */
static inline enum pgr_storage_err
tu_append(struct pgr_storage *st, uint64_t from, uint64_t to, uint64_t term)
{
	size_t n = (size_t) (to - from + 1);
	struct pgr_entry *es = calloc(n, sizeof(*es));
	uint8_t *bufs = malloc(n * 300);
	enum pgr_storage_err e;

	for (size_t i = 0; i < n; i++)
		tu_entry(&es[i], bufs + i * 300, from + i, term);
	e = pgr_storage_append(st, es, n);
	free(es);
	free(bufs);
	return e;
}

static inline void
tu_config(struct pgr_config *c, uint32_t n)
{
	memset(c, 0, sizeof(*c));
	c->n_members = n;
	for (uint32_t i = 0; i < n; i++)
	{
		c->members[i].id = i + 1;
		c->members[i].role = PGR_MEMBER_VOTER;
		c->members[i].context_len = (uint32_t) snprintf((char *) c->members[i].context,
														PGR_MAX_CONTEXT, "host%u:5432", i + 1);
	}
}

/* Snapshot data of the application at index: a function of the index. */
static inline void
tu_snapshot(struct pgr_snapshot *s, uint8_t *buf, size_t len, uint64_t index, uint64_t term)
{
	memset(s, 0, sizeof(*s));
	s->meta.index = index;
	s->meta.term = term;
	tu_config(&s->meta.config, 3);
	for (size_t j = 0; j < len; j++)
		buf[j] = tu_byte(index, 0xABCD, (uint32_t) j);
	s->len = len;
	s->data = len > 0 ? buf : NULL;
}

static inline bool
tu_snapshot_ok(const struct pgr_snapshot *s, uint64_t index, uint64_t term, size_t len)
{
	if (s->meta.index != index || s->meta.term != term || s->len != len ||
		s->meta.config.n_members != 3 || s->meta.config.members[2].id != 3)
		return false;
	for (size_t j = 0; j < len; j++)
		if (s->data[j] != tu_byte(index, 0xABCD, (uint32_t) j))
			return false;
	return true;
}

/* ---------------------------------------------------------------------- */
/* memfs                                                                  */
/* ---------------------------------------------------------------------- */

#define MEMFS_MAX_INODES 1024
#define MEMFS_MAX_NAMES  1024
#define MEMFS_MAX_FDS    64
#define MEMFS_DIR_FD     1000

struct memfs_inode
{
	bool used;
	uint8_t *data; /* written content */
	size_t len;
	uint8_t *ddata; /* durable content */
	size_t dlen;
};

struct memfs_name
{
	char name[64];
	int ino; /* -1: free */
};

struct memfs
{
	bool dir_exists;
	bool dir_durable;
	struct memfs_inode inodes[MEMFS_MAX_INODES];
	struct memfs_name names[MEMFS_MAX_NAMES];  /* written namespace */
	struct memfs_name dnames[MEMFS_MAX_NAMES]; /* durable namespace */
	int fds[MEMFS_MAX_FDS];                    /* fd -> inode, -1 free */

	/* Fault injection: the nth call from now fails (0 = never). */
	int fail_pwrite_in;
	int fail_pwrite_errno;
	int fail_sync_in;
	int fail_sync_errno;
	int fail_allocate_in;
	int fail_allocate_errno;
	uint64_t n_syncs;
	uint64_t n_pwrites;
	bool torn; /* power loss keeps a prefix of unsynced changes */
	unsigned int seed;
};

static inline const char *
memfs_base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

static inline int
memfs_lookup(struct memfs_name *ns, const char *name)
{
	for (int i = 0; i < MEMFS_MAX_NAMES; i++)
		if (ns[i].ino >= 0 && strcmp(ns[i].name, name) == 0)
			return i;
	return -1;
}

static inline void
memfs_init(struct memfs *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < MEMFS_MAX_NAMES; i++)
		m->names[i].ino = m->dnames[i].ino = -1;
	for (int i = 0; i < MEMFS_MAX_FDS; i++)
		m->fds[i] = -1;
	m->dir_exists = m->dir_durable = true;
	m->seed = 1;
}

static inline bool
memfs_referenced(struct memfs *m, int ino)
{
	for (int i = 0; i < MEMFS_MAX_NAMES; i++)
		if (m->names[i].ino == ino || m->dnames[i].ino == ino)
			return true;
	for (int i = 0; i < MEMFS_MAX_FDS; i++)
		if (m->fds[i] == ino)
			return true;
	return false;
}

static inline void
memfs_gc(struct memfs *m, int ino)
{
	if (ino >= 0 && m->inodes[ino].used && !memfs_referenced(m, ino))
	{
		free(m->inodes[ino].data);
		free(m->inodes[ino].ddata);
		memset(&m->inodes[ino], 0, sizeof(m->inodes[ino]));
	}
}

static inline void
memfs_destroy(struct memfs *m)
{
	for (int i = 0; i < MEMFS_MAX_INODES; i++)
	{
		free(m->inodes[i].data);
		free(m->inodes[i].ddata);
	}
	memset(m, 0, sizeof(*m));
}

static inline int
memfs_resize(struct memfs_inode *in, size_t len)
{
	if (len > in->len)
	{
		uint8_t *n = realloc(in->data, len);

		if (n == NULL)
			return ENOMEM;
		memset(n + in->len, 0, len - in->len);
		in->data = n;
	}
	in->len = len;
	return 0;
}

static inline int
memfs_open(void *ctx, const char *path, int flags, int *fd_out)
{
	struct memfs *m = ctx;
	const char *name = memfs_base(path);
	int slot;
	int ino;
	int fd;

	if (flags & PGR_VFS_DIR)
	{
		if (!m->dir_exists)
			return ENOENT;
		*fd_out = MEMFS_DIR_FD;
		return 0;
	}
	if (!m->dir_exists)
		return ENOENT;
	slot = memfs_lookup(m->names, name);
	if (slot >= 0 && (flags & PGR_VFS_CREATE))
		return EEXIST;
	if (slot < 0 && !(flags & PGR_VFS_CREATE))
		return ENOENT;
	for (fd = 0; fd < MEMFS_MAX_FDS && m->fds[fd] >= 0; fd++)
		;
	if (fd == MEMFS_MAX_FDS)
		return EMFILE;
	if (slot < 0)
	{
		for (ino = 0; ino < MEMFS_MAX_INODES && m->inodes[ino].used; ino++)
			;
		for (slot = 0; slot < MEMFS_MAX_NAMES && m->names[slot].ino >= 0; slot++)
			;
		if (ino == MEMFS_MAX_INODES || slot == MEMFS_MAX_NAMES)
			return ENOSPC;
		m->inodes[ino].used = true;
		snprintf(m->names[slot].name, sizeof(m->names[slot].name), "%s", name);
		m->names[slot].ino = ino;
	}
	m->fds[fd] = m->names[slot].ino;
	*fd_out = fd;
	return 0;
}

static inline int
memfs_close(void *ctx, int fd)
{
	struct memfs *m = ctx;
	int ino;

	if (fd == MEMFS_DIR_FD)
		return 0;
	ino = m->fds[fd];
	m->fds[fd] = -1;
	memfs_gc(m, ino);
	return 0;
}

static inline int
memfs_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *nread)
{
	struct memfs *m = ctx;
	struct memfs_inode *in = &m->inodes[m->fds[fd]];
	size_t n = 0;

	if (off < in->len)
		n = in->len - (size_t) off < len ? in->len - (size_t) off : len;
	if (n > 0)
		memcpy(buf, in->data + off, n);
	*nread = n;
	return 0;
}

static inline int
memfs_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
	struct memfs *m = ctx;
	struct memfs_inode *in = &m->inodes[m->fds[fd]];
	int rc;

	m->n_pwrites++;
	if (m->fail_pwrite_in > 0 && --m->fail_pwrite_in == 0)
	{
		/* A failed write may still have written part of the data. */
		size_t part = len / 2;

		if (part > 0 && memfs_resize(in, off + part > in->len ? (size_t) off + part : in->len) == 0)
			memcpy(in->data + off, buf, part);
		return m->fail_pwrite_errno;
	}
	if (off + len > in->len && (rc = memfs_resize(in, (size_t) off + len)) != 0)
		return rc;
	memcpy(in->data + off, buf, len);
	return 0;
}

static inline int
memfs_sync(void *ctx, int fd, bool metadata)
{
	struct memfs *m = ctx;
	struct memfs_inode *in;

	(void) metadata;
	m->n_syncs++;
	if (m->fail_sync_in > 0 && --m->fail_sync_in == 0)
		return m->fail_sync_errno;
	if (fd == MEMFS_DIR_FD)
	{
		memcpy(m->dnames, m->names, sizeof(m->names));
		m->dir_durable = m->dir_exists;
		return 0;
	}
	in = &m->inodes[m->fds[fd]];
	free(in->ddata);
	in->ddata = malloc(in->len > 0 ? in->len : 1);
	if (in->len > 0)
		memcpy(in->ddata, in->data, in->len);
	in->dlen = in->len;
	return 0;
}

static inline int
memfs_allocate(void *ctx, int fd, uint64_t len)
{
	struct memfs *m = ctx;
	struct memfs_inode *in = &m->inodes[m->fds[fd]];

	if (m->fail_allocate_in > 0 && --m->fail_allocate_in == 0)
		return m->fail_allocate_errno;
	if (len > in->len)
		return memfs_resize(in, (size_t) len);
	return 0;
}

static inline int
memfs_size(void *ctx, int fd, uint64_t *size_out)
{
	struct memfs *m = ctx;

	*size_out = m->inodes[m->fds[fd]].len;
	return 0;
}

static inline int
memfs_rename(void *ctx, const char *from, const char *to)
{
	struct memfs *m = ctx;
	int s = memfs_lookup(m->names, memfs_base(from));
	int t = memfs_lookup(m->names, memfs_base(to));
	int old = -1;

	if (s < 0)
		return ENOENT;
	if (t >= 0)
	{
		old = m->names[t].ino;
		m->names[t].ino = -1;
	}
	snprintf(m->names[s].name, sizeof(m->names[s].name), "%s", memfs_base(to));
	memfs_gc(m, old);
	return 0;
}

static inline int
memfs_unlink(void *ctx, const char *path)
{
	struct memfs *m = ctx;
	int s = memfs_lookup(m->names, memfs_base(path));
	int ino;

	if (s < 0)
		return ENOENT;
	ino = m->names[s].ino;
	m->names[s].ino = -1;
	memfs_gc(m, ino);
	return 0;
}

static inline int
memfs_mkdir(void *ctx, const char *path)
{
	struct memfs *m = ctx;

	(void) path;
	if (m->dir_exists)
		return EEXIST;
	m->dir_exists = true;
	return 0;
}

static inline int
memfs_list(void *ctx, const char *dir, int (*cb)(void *arg, const char *name), void *arg)
{
	struct memfs *m = ctx;
	struct memfs_name copy[MEMFS_MAX_NAMES];

	(void) dir;
	if (!m->dir_exists)
		return ENOENT;
	memcpy(copy, m->names, sizeof(copy));
	for (int i = 0; i < MEMFS_MAX_NAMES; i++)
		if (copy[i].ino >= 0 && cb(arg, copy[i].name) != 0)
			break;
	return 0;
}

static const struct pgr_vfs memfs_vfs = {
	.open = memfs_open,
	.close = memfs_close,
	.pread = memfs_pread,
	.pwrite = memfs_pwrite,
	.sync = memfs_sync,
	.allocate = memfs_allocate,
	.size = memfs_size,
	.rename = memfs_rename,
	.unlink = memfs_unlink,
	.mkdir = memfs_mkdir,
	.list = memfs_list,
};

/*
 * Cut the power: every file reverts to its durable content and the directory
 * to its durable names.  In torn mode each file instead keeps its written
 * content up to a random point inside the region that differs from the
 * durable content.  All descriptors must be closed (the storage closed).
 */
static inline void
memfs_power_loss(struct memfs *m)
{
	for (int i = 0; i < MEMFS_MAX_INODES; i++)
	{
		struct memfs_inode *in = &m->inodes[i];
		size_t cut = 0;
		size_t d0;
		size_t d1;
		size_t newlen;
		uint8_t *n;

		if (!in->used)
			continue;
		if (m->torn)
		{
			size_t maxlen = in->len > in->dlen ? in->len : in->dlen;

			for (d0 = 0; d0 < maxlen; d0++)
				if ((d0 < in->len ? in->data[d0] : 0) != (d0 < in->dlen ? in->ddata[d0] : 0))
					break;
			for (d1 = maxlen; d1 > d0; d1--)
				if ((d1 - 1 < in->len ? in->data[d1 - 1] : 0) !=
					(d1 - 1 < in->dlen ? in->ddata[d1 - 1] : 0))
					break;
			cut = d0 < d1 ? d0 + (size_t) (rand_r(&m->seed) % (d1 - d0 + 1)) : d0;
		}
		newlen = in->dlen > cut ? in->dlen : (cut < in->len ? cut : in->len);
		n = malloc(newlen > 0 ? newlen : 1);
		for (size_t j = 0; j < newlen; j++)
			n[j] = j < cut && j < in->len ? in->data[j] : (j < in->dlen ? in->ddata[j] : 0);
		free(in->data);
		in->data = n;
		in->len = newlen;
		free(in->ddata);
		in->ddata = malloc(newlen > 0 ? newlen : 1);
		memcpy(in->ddata, n, newlen);
		in->dlen = newlen;
	}
	memcpy(m->names, m->dnames, sizeof(m->names));
	m->dir_exists = m->dir_durable;
	for (int i = 0; i < MEMFS_MAX_INODES; i++)
		memfs_gc(m, i);
}

/* Written content of name (for corrupting it), or NULL. */
static inline struct memfs_inode *
memfs_file(struct memfs *m, const char *name)
{
	int s = memfs_lookup(m->names, name);

	return s >= 0 ? &m->inodes[m->names[s].ino] : NULL;
}

#endif /* PGRAFT_STORAGE_TESTUTIL_H */
