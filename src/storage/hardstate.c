/*-------------------------------------------------------------------------
 *
 * hardstate.c
 *		The hard state (term, vote, commit) in two alternating slots.
 *
 * FILE FORMAT: "hardstate", 1024 bytes, slot 0 at offset 0 and slot 1 at
 * offset 512 (separate sectors).  Each slot, little-endian:
 *
 *		0	8	magic "PGRAFTHS"
 *		8	4	format version (1)
 *		12	4	zero
 *		16	8	sequence number (version of the hard state; starts at 1)
 *		24	8	term
 *		32	8	vote (node id, 0 = none)
 *		40	8	commit index
 *		48	4	CRC-32C of bytes 0..47
 *		52	4	zero
 *
 * VALIDITY RULE: a slot is valid if its magic, version and checksum match; an
 * all-zero slot is simply unused.  The hard state is the valid slot with the
 * higher sequence number.  A slot with the right magic but another version is
 * refused (a newer pgraft wrote it).  No valid slot at all is corruption.
 *
 * SYNC ORDERING: an update is written to the slot that does NOT hold the
 * newest durable version, with the next sequence number, and fdatasynced by
 * the batch's sync; only then does that slot become the durable one.  Until
 * that sync any number of updates overwrite the same non-durable slot.  An
 * update that changes only the commit index is written but not synced on
 * its own (a lost commit index is relearned from the leader, and a second
 * fdatasync per batch would double the latency of every commit); it becomes
 * durable with the next sync that changes the term or the vote.  So a
 * crash at any moment leaves the last durable version intact: a torn write
 * damages only the other slot, and recovery falls back to the older version,
 * which is the newest one that was ever made durable.  (Only damage to a slot
 * after it was synced, a media failure, could lose a version; that is not
 * distinguishable and is reported by pgraft_dump --verify.)
 *
 * The file is created whole (both slots, the first holding an all-zero hard
 * state) under a temporary name, synced and renamed into place: its
 * existence is what marks an initialized directory.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/storage/hardstate.c
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pgraft/crc32c.h"
#include "pgraft/storage.h"

#include "internal.h"
#include "../common/codec.h"

#define PGR_HS_MAGIC       "PGRAFTHS"
#define PGR_HS_VERSION     1
#define PGR_HS_SLOT_SIZE   56
#define PGR_HS_SLOT_STRIDE 512
#define PGR_HS_FILE_SIZE   1024
#define PGR_HS_FILE        "hardstate"
#define PGR_HS_TMP         "hardstate.tmp"

static void
hs_encode(uint8_t *buf, uint64_t seq, const struct pgr_hard_state *hs)
{
	memset(buf, 0, PGR_HS_SLOT_SIZE);
	memcpy(buf, PGR_HS_MAGIC, 8);
	pgr_put_u32(buf + 8, PGR_HS_VERSION);
	pgr_put_u64(buf + 16, seq);
	pgr_put_u64(buf + 24, hs->term);
	pgr_put_u64(buf + 32, hs->vote);
	pgr_put_u64(buf + 40, hs->commit);
	pgr_put_u32(buf + 48, pgr_crc32c(0, buf, 48));
}

enum hs_slot_state
{
	HS_SLOT_VALID,
	HS_SLOT_EMPTY,
	HS_SLOT_DAMAGED,
	HS_SLOT_VERSION
};

static enum hs_slot_state
hs_decode(const uint8_t *buf, uint64_t *seq, struct pgr_hard_state *hs)
{
	if (pgr_all_zero(buf, PGR_HS_SLOT_SIZE))
		return HS_SLOT_EMPTY;
	if (memcmp(buf, PGR_HS_MAGIC, 8) != 0)
		return HS_SLOT_DAMAGED;
	if (pgr_get_u32(buf + 8) != PGR_HS_VERSION)
		return HS_SLOT_VERSION;
	if (pgr_get_u32(buf + 48) != pgr_crc32c(0, buf, 48))
		return HS_SLOT_DAMAGED;
	*seq = pgr_get_u64(buf + 16);
	hs->term = pgr_get_u64(buf + 24);
	hs->vote = pgr_get_u64(buf + 32);
	hs->commit = pgr_get_u64(buf + 40);
	return HS_SLOT_VALID;
}

/* Create the hardstate file of a new directory: temp, sync, rename, sync dir. */
enum pgr_storage_err
pgr_hs_init(struct pgr_storage *st)
{
	uint8_t file[PGR_HS_FILE_SIZE];
	struct pgr_hard_state zero = {0, 0, 0};
	char tmp[PGR_STORAGE_PATH_MAX];
	char path[PGR_STORAGE_PATH_MAX];
	int fd;
	int rc;
	enum pgr_storage_err e;

	memset(file, 0, sizeof(file));
	hs_encode(file, 1, &zero);
	pgr_st_path(st, PGR_HS_TMP, tmp, sizeof(tmp));
	pgr_st_path(st, PGR_HS_FILE, path, sizeof(path));
	e = pgr_st_unlink(st, PGR_HS_TMP);
	if (e != PGR_STORAGE_OK)
		return e;
	rc = st->vfs->open(st->vfs_ctx, tmp, PGR_VFS_WRITE | PGR_VFS_CREATE, &fd);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "create", PGR_HS_TMP, -1);
	rc = st->vfs->pwrite(st->vfs_ctx, fd, file, sizeof(file), 0);
	if (rc != 0)
	{
		st->vfs->close(st->vfs_ctx, fd);
		st->vfs->unlink(st->vfs_ctx, tmp);
		return pgr_st_syserr(st, rc, "write", PGR_HS_TMP, 0);
	}
	e = pgr_st_sync_fd(st, fd, PGR_HS_TMP, true);
	st->vfs->close(st->vfs_ctx, fd);
	if (e != PGR_STORAGE_OK)
		return e;
	rc = st->vfs->rename(st->vfs_ctx, tmp, path);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "rename", PGR_HS_TMP, -1);
	return pgr_st_sync_dir(st);
}

/* Read both slots and adopt the newest valid one. */
enum pgr_storage_err
pgr_hs_load(struct pgr_storage *st)
{
	char path[PGR_STORAGE_PATH_MAX];
	uint8_t file[PGR_HS_FILE_SIZE];
	size_t nread = 0;
	uint64_t seq[2] = {0, 0};
	struct pgr_hard_state hs[2];
	enum hs_slot_state state[2];
	int rc;

	pgr_st_path(st, PGR_HS_FILE, path, sizeof(path));
	rc = st->vfs->open(st->vfs_ctx, path, st->read_only ? PGR_VFS_READ : PGR_VFS_WRITE, &st->hs_fd);
	if (rc != 0)
	{
		st->hs_fd = -1;
		return pgr_st_syserr(st, rc, "open", PGR_HS_FILE, -1);
	}
	memset(file, 0, sizeof(file));
	rc = st->vfs->pread(st->vfs_ctx, st->hs_fd, file, sizeof(file), 0, &nread);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "read", PGR_HS_FILE, 0);
	for (int i = 0; i < 2; i++)
	{
		state[i] = hs_decode(file + i * PGR_HS_SLOT_STRIDE, &seq[i], &hs[i]);
		if (state[i] == HS_SLOT_VERSION)
			return pgr_st_error(
				&st->err, PGR_STORAGE_EVERSION, 0, path, i * PGR_HS_SLOT_STRIDE + 8,
				"hard state slot %d in file \"%s\" has format version %u, but this build reads only version %d",
				i, path, pgr_get_u32(file + i * PGR_HS_SLOT_STRIDE + 8), PGR_HS_VERSION);
		st->hs_slot_valid[i] = state[i] == HS_SLOT_VALID;
	}
	if (!st->hs_slot_valid[0] && !st->hs_slot_valid[1])
		return pgr_st_error(
			&st->err, PGR_STORAGE_ECORRUPT, 0, path, 0,
			"both hard state slots in file \"%s\" are damaged (checksum mismatch at offsets 0 and %d)",
			path, PGR_HS_SLOT_STRIDE);
	if (st->hs_slot_valid[0] && (!st->hs_slot_valid[1] || seq[0] >= seq[1]))
		st->hs_slot = 0;
	else
		st->hs_slot = 1;
	st->hs_durable_slot = st->hs_slot;
	st->hs = hs[st->hs_slot];
	st->hs_durable = st->hs;
	st->hs_seq = seq[st->hs_slot];
	return PGR_STORAGE_OK;
}

/* Write hs to the non-durable slot (see SYNC ORDERING). */
enum pgr_storage_err
pgr_hs_write(struct pgr_storage *st, const struct pgr_hard_state *hs)
{
	uint8_t slot[PGR_HS_SLOT_SIZE];
	int target = 1 - st->hs_durable_slot;
	int rc;

	hs_encode(slot, st->hs_seq + 1, hs);
	rc = st->vfs->pwrite(st->vfs_ctx, st->hs_fd, slot, sizeof(slot),
						 (uint64_t) target * PGR_HS_SLOT_STRIDE);
	if (rc != 0)
		return pgr_st_fatal(
			st, pgr_st_syserr(st, rc, "write", PGR_HS_FILE, target * PGR_HS_SLOT_STRIDE));
	st->hs = *hs;
	st->hs_seq++;
	st->hs_slot = target;
	st->hs_slot_valid[target] = true;
	st->hs_dirty = true;
	return PGR_STORAGE_OK;
}

enum pgr_storage_err
pgr_hs_sync(struct pgr_storage *st)
{
	enum pgr_storage_err e;

	if (!st->hs_dirty)
		return PGR_STORAGE_OK;
	/*
	 * Only the commit index changed: it may be lost in a crash (the node
	 * relearns it from the leader), so it does not cost a second fdatasync
	 * per batch.  It becomes durable with the next change of term or vote.
	 */
	if (st->hs.term == st->hs_durable.term && st->hs.vote == st->hs_durable.vote)
		return PGR_STORAGE_OK;
	e = pgr_st_sync_fd(st, st->hs_fd, PGR_HS_FILE, false);
	if (e != PGR_STORAGE_OK)
		return e;
	st->hs_durable_slot = st->hs_slot;
	st->hs_durable = st->hs;
	st->hs_dirty = false;
	return PGR_STORAGE_OK;
}

/*
 * Read the file again: the current slot must still hold what we use.  The
 * other slot's state is refreshed for pgr_storage_info (a damaged other slot
 * is normal after a crash during a hard-state write, so it is not an error).
 */
enum pgr_storage_err
pgr_hs_verify(struct pgr_storage *st)
{
	char path[PGR_STORAGE_PATH_MAX];
	uint8_t file[PGR_HS_FILE_SIZE];
	size_t nread = 0;
	uint64_t seq;
	struct pgr_hard_state hs;
	int rc;
	int cur = st->hs_slot;

	pgr_st_path(st, PGR_HS_FILE, path, sizeof(path));
	memset(file, 0, sizeof(file));
	rc = st->vfs->pread(st->vfs_ctx, st->hs_fd, file, sizeof(file), 0, &nread);
	if (rc != 0)
		return pgr_st_syserr(st, rc, "read", PGR_HS_FILE, 0);
	for (int i = 0; i < 2; i++)
		st->hs_slot_valid[i] = hs_decode(file + i * PGR_HS_SLOT_STRIDE, &seq, &hs) == HS_SLOT_VALID;
	if (hs_decode(file + cur * PGR_HS_SLOT_STRIDE, &seq, &hs) != HS_SLOT_VALID || seq != st->hs_seq)
		return pgr_st_error(&st->err, PGR_STORAGE_ECORRUPT, 0, path, cur * PGR_HS_SLOT_STRIDE,
							"hard state slot %d in file \"%s\" at offset %d is damaged", cur, path,
							cur * PGR_HS_SLOT_STRIDE);
	return PGR_STORAGE_OK;
}
