/*-------------------------------------------------------------------------
 *
 * storage.h
 *		Durable Raft storage: the log, the hard state and snapshots.
 *
 * One directory holds one node's state (the extension puts it under
 * $PGDATA/pgraft/).  The on-disk formats are documented where they are
 * implemented: src/storage/segment.c (log segments), hardstate.c, snapshot.c;
 * docs/storage.md gives the overview.
 *
 * HOW THE RAFT WORKER USES IT (see THE CALLER'S CONTRACT in core.h)
 *
 *	  start:	pgr_storage_open(), pgr_storage_load() into a struct
 *				pgr_storage_state, pgr_storage_restore() to point a struct
 *				pgr_restore at it, pgr_node_new(), pgr_storage_state_free().
 *	  batch:	pgr_storage_persist(st, &ready), which is exactly
 *					install_snapshot (if ready.snapshot),
 *					append (if n_entries; overwrites from entries[0].index),
 *					set_hard_state (if has_hard_state),
 *					sync (if must_sync: ONE durability point for the batch);
 *				the batch boundary is the sync call, and nothing written by
 *				the earlier calls is promised to survive a crash before it.
 *	  compact:	pgr_storage_save_snapshot() with the application's state,
 *				then pgr_storage_compact(st, index) drops whole segments
 *				that hold only entries <= index.
 *
 * ERRORS.  Every function returns enum pgr_storage_err and, on failure, fills
 * the storage's struct pgr_storage_error (pgr_storage_last_error()) with the
 * file, offset and errno involved and a complete message in PostgreSQL's style
 * for the glue to ereport.  A failed fsync is never retried: the kernel may
 * have dropped the dirty pages, so the storage enters a failed state and every
 * later call fails with PGR_STORAGE_EFAILED.  A failed write to the log does
 * the same (a partly written batch cannot be continued); close, and reopen
 * (restart), and recovery cuts off whatever was half-written.  Arguments that
 * break an invariant (a gap in indexes, a term or vote going backwards) fail
 * with PGR_STORAGE_EINVAL and change nothing.
 *
 * All I/O goes through a const table of functions (struct pgr_vfs), so tests
 * plug in backends that inject faults or simulate power loss; durability goes
 * through its one sync function.
 *
 * Not thread-safe: one caller (the worker) at a time.  Nothing here locks the
 * directory against a second process; the extension relies on the
 * postmaster's data directory lock.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * include/pgraft/storage.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_STORAGE_H
#define PGRAFT_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgraft/core.h"

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */
/* ---------------------------------------------------------------------- */

enum pgr_storage_err
{
	PGR_STORAGE_OK = 0,
	PGR_STORAGE_EINVAL,    /* caller's argument breaks an invariant */
	PGR_STORAGE_ENOMEM,    /* the allocator returned NULL */
	PGR_STORAGE_EIO,       /* a system call failed (errno in the error) */
	PGR_STORAGE_ENOSPC,    /* out of disk space */
	PGR_STORAGE_ECORRUPT,  /* checksum or consistency failure (file + offset) */
	PGR_STORAGE_EVERSION,  /* a file has an unknown format version */
	PGR_STORAGE_ENOTFOUND, /* not a pgraft storage directory (and no create) */
	PGR_STORAGE_EREADONLY, /* opened read-only */
	PGR_STORAGE_EFAILED    /* an earlier fsync or write failed; reopen */
};

#define PGR_STORAGE_PATH_MAX 1024
#define PGR_STORAGE_MSG_MAX  1400

struct pgr_storage_error
{
	enum pgr_storage_err code;
	int sys_errno;                   /* errno of the failed call, or 0 */
	char path[PGR_STORAGE_PATH_MAX]; /* the file involved, or "" */
	bool has_offset;
	uint64_t offset;               /* byte offset in path, if has_offset */
	char msg[PGR_STORAGE_MSG_MAX]; /* e.g. "checksum mismatch in file ... at
											 * offset ..." */
};

/* ---------------------------------------------------------------------- */
/* The I/O backend                                                        */
/* ---------------------------------------------------------------------- */

/* Flags for pgr_vfs.open. */
#define PGR_VFS_READ   0x01 /* read-only */
#define PGR_VFS_WRITE  0x02 /* read-write */
#define PGR_VFS_CREATE 0x04 /* create; fail with EEXIST if it exists */
#define PGR_VFS_DIR    0x08 /* open a directory (only to sync it) */

/*
 * Every function returns 0 or a positive errno value (never -1 and errno, so a
 * fault-injecting backend need not touch the global errno).  ctx is the
 * vfs_ctx of struct pgr_storage_options.
 */
struct pgr_vfs
{
	int (*open)(void *ctx, const char *path, int flags, int *fd_out);
	int (*close)(void *ctx, int fd);
	/* Reads up to len bytes at off; *nread < len only at end of file. */
	int (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *nread);
	/* Writes all len bytes at off, or fails. */
	int (*pwrite)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
	/*
	 * THE durability call: every fsync in the storage layer goes through it.
	 * metadata = false may use fdatasync (file data and the size needed to
	 * read it); true is a full fsync (directories).  A failure is final.
	 */
	int (*sync)(void *ctx, int fd, bool metadata);
	/* Reserve space so the file is at least len bytes; new bytes read as 0. */
	int (*allocate)(void *ctx, int fd, uint64_t len);
	int (*size)(void *ctx, int fd, uint64_t *size_out);
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*unlink)(void *ctx, const char *path);
	int (*mkdir)(void *ctx, const char *path);
	/* Calls cb for every entry of dir except "." and ".."; stops if cb != 0. */
	int (*list)(void *ctx, const char *dir, int (*cb)(void *arg, const char *name), void *arg);
};

/* Plain POSIX files (fdatasync, posix_fallocate). */
extern const struct pgr_vfs pgr_posix_vfs;

/* ---------------------------------------------------------------------- */
/* Opening and loading                                                    */
/* ---------------------------------------------------------------------- */

#define PGR_STORAGE_DEFAULT_SEGMENT_SIZE (16 * 1024 * 1024)

struct pgr_storage_options
{
	const struct pgr_vfs *vfs; /* NULL: pgr_posix_vfs */
	void *vfs_ctx;
	uint64_t segment_size; /* bytes preallocated per segment; 0: default */
	bool create;           /* initialize the directory if it holds nothing */
	bool read_only;        /* inspect only: no repair, no writes */
};

struct pgr_storage;

/*
 * Open the storage in dir and recover it: the newest snapshot's header and
 * body are verified, every log record's checksums are verified, a torn tail
 * (a crash in the middle of an unsynced write) is cut off, leftovers of
 * interrupted operations (temporary files, superseded snapshots, segments the
 * snapshot covers) are removed.  Corruption anywhere else fails the open with
 * PGR_STORAGE_ECORRUPT naming the file and offset; no committed entry is ever
 * dropped silently.  With create, a missing or empty directory is initialized
 * (mkdir of dir itself, not of its parents).  err may be NULL.
 */
enum pgr_storage_err pgr_storage_open(const char *dir, const struct pgr_storage_options *opts,
									  struct pgr_storage **out, struct pgr_storage_error *err);

/* Close files and free; unsynced writes are not synced.  NULL is a no-op. */
void pgr_storage_close(struct pgr_storage *st);

/* The error of the last failed call on st. */
const struct pgr_storage_error *pgr_storage_last_error(const struct pgr_storage *st);

/*
 * Everything a restarting node needs, allocated with a caller's allocator.
 * hs.commit is within [snapshot index, last index].  entries are the stored
 * entries after the snapshot, dense from snapshot index + 1.
 */
struct pgr_storage_state
{
	struct pgr_hard_state hs;
	bool has_snapshot;
	struct pgr_snapshot snapshot; /* data allocated (NULL if len 0) */
	struct pgr_entry *entries;    /* array and each data allocated */
	size_t n_entries;
};

/*
 * Read the state (the snapshot's data and every entry after it, checksums
 * verified again).  Every byte comes from alloc; on failure nothing stays
 * allocated.  Free with pgr_storage_state_free and the same allocator.
 */
enum pgr_storage_err pgr_storage_load(struct pgr_storage *st, const struct pgr_allocator *alloc,
									  struct pgr_storage_state *out);
void pgr_storage_state_free(const struct pgr_allocator *alloc, struct pgr_storage_state *state);

/* Point a struct pgr_restore at state (applied = snapshot index). */
void pgr_storage_restore(const struct pgr_storage_state *state, struct pgr_restore *out);

/* ---------------------------------------------------------------------- */
/* One ready batch                                                        */
/* ---------------------------------------------------------------------- */

/*
 * Store snap durably (temp file, fsync, rename, fsync of the directory)
 * before returning, then discard the whole log: it now ends at snap's index.
 * Older snapshots are removed.  snap->meta.index must not be below the
 * current snapshot's index.
 */
enum pgr_storage_err pgr_storage_install_snapshot(struct pgr_storage *st,
												  const struct pgr_snapshot *snap);

/*
 * Append n >= 1 entries with dense indexes and non-decreasing terms.
 * entries[0].index may be anywhere in [snapshot index + 1, last index + 1]:
 * stored entries with index >= entries[0].index are discarded first (that
 * truncation is made durable at once, so that after a crash the log is
 * always a prefix of some sequence of appends).  Written, not yet durable.
 */
enum pgr_storage_err pgr_storage_append(struct pgr_storage *st, const struct pgr_entry *entries,
										size_t n);

/*
 * Replace the hard state: term never decreases, the vote of a term never
 * changes once cast, commit never decreases.  Written, not yet durable; the
 * previous durable version stays intact until the next sync.
 */
enum pgr_storage_err pgr_storage_set_hard_state(struct pgr_storage *st,
												const struct pgr_hard_state *hs);

/*
 * Make everything written since the last sync durable: log data first (with
 * the directory if segments were created or removed), then the hard state.
 * A failure is fatal (PGR_STORAGE_EFAILED from then on).
 */
enum pgr_storage_err pgr_storage_sync(struct pgr_storage *st);

/* Step a of the contract for one ready batch, in order, as described above. */
enum pgr_storage_err pgr_storage_persist(struct pgr_storage *st, const struct pgr_ready *rd);

/* ---------------------------------------------------------------------- */
/* Compaction                                                             */
/* ---------------------------------------------------------------------- */

/*
 * Store the application's snapshot (from pgr_node_compact) durably, like
 * install_snapshot but keeping the log; snap->meta.index <= last index.
 */
enum pgr_storage_err pgr_storage_save_snapshot(struct pgr_storage *st,
											   const struct pgr_snapshot *snap);

/*
 * Drop the log prefix up to index (<= the stored snapshot's index): every
 * segment holding only entries <= index is deleted.  Entries <= index left in
 * a partly covered segment are never loaded again.
 */
enum pgr_storage_err pgr_storage_compact(struct pgr_storage *st, uint64_t index);

/* ---------------------------------------------------------------------- */
/* Inspection (pgraft_dump, tests)                                        */
/* ---------------------------------------------------------------------- */

struct pgr_storage_info
{
	struct pgr_hard_state hs; /* as loaded, commit clamped into the log */
	uint64_t hs_seq;          /* version of the current hard-state slot */
	int hs_slot;              /* slot it came from: 0 or 1 */
	bool hs_slot_valid[2];
	bool has_snapshot;
	struct pgr_snapshot_meta snapshot;
	uint64_t snapshot_len;
	char snapshot_file[64];
	uint64_t first_index; /* first entry loaded: snapshot index + 1 */
	uint64_t last_index;  /* last entry (snapshot index if none) */
	uint64_t last_term;
	size_t n_segments;
	uint64_t torn_bytes;  /* tail bytes found torn at open */
	uint64_t torn_offset; /* where (in the last segment) */
	bool failed;
};

void pgr_storage_info(const struct pgr_storage *st, struct pgr_storage_info *out);

struct pgr_storage_segment_info
{
	char file[64];
	uint64_t first_index; /* from the name and header */
	uint64_t last_index;  /* first_index - 1 if it holds no record */
	uint64_t used_bytes;  /* header and records */
	uint64_t file_bytes;  /* preallocated size */
};

/* Segment i (0 = oldest) of pgr_storage_info().n_segments. */
enum pgr_storage_err pgr_storage_segment(const struct pgr_storage *st, size_t i,
										 struct pgr_storage_segment_info *out);

/*
 * Call cb for every stored record in log order, including entries the
 * snapshot covers; offset is the record's position in file.  Checksums are
 * verified; a nonzero return from cb stops the walk (PGR_STORAGE_OK).
 */
typedef int (*pgr_storage_entry_cb)(void *arg, const char *file, uint64_t offset,
									const struct pgr_entry *entry);
enum pgr_storage_err pgr_storage_walk(struct pgr_storage *st, pgr_storage_entry_cb cb, void *arg);

/*
 * Check every checksum again: both hard-state slots (a damaged slot that is
 * not the current one is reported too), the snapshot's body, every record and
 * that segment slack is zero.  PGR_STORAGE_ECORRUPT names file and offset.
 */
enum pgr_storage_err pgr_storage_verify(struct pgr_storage *st);

#endif /* PGRAFT_STORAGE_H */
