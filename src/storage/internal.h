/*-------------------------------------------------------------------------
 *
 * internal.h
 *		The storage object and the helpers its files share.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/storage/internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_STORAGE_INTERNAL_H
#define PGRAFT_STORAGE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "pgraft/storage.h"

#define PGR_NAME_MAX 64

/* Outcome of scanning one segment image (segment.c). */
enum pgr_scan_end
{
	PGR_SCAN_CLEAN,   /* records, then zero slack or end of file */
	PGR_SCAN_TORN,    /* an unfinished write at the end */
	PGR_SCAN_CORRUPT, /* damage that a crash cannot explain */
	PGR_SCAN_VERSION  /* header with an unknown format version */
};

struct pgr_scan
{
	uint64_t first;     /* first index from the header */
	uint64_t last;      /* last valid record's index, first - 1 if none */
	uint64_t last_term; /* its term (the caller's prev_term if none) */
	uint64_t end;       /* offset just past the last valid record */
	enum pgr_scan_end outcome;
	uint64_t bad_offset; /* TORN: where the tail starts; else the damage */
	uint32_t bad_version;
	char reason[160];
};

/* Called for each valid record; a nonzero return stops the scan. */
typedef int (*pgr_record_cb)(void *arg, uint64_t offset, const struct pgr_entry *e);

/*
 * One segment file.  Invariants: first is the index in its name and header;
 * records [first, last] are contiguous from offset PGR_SEG_HEADER_SIZE to
 * end; every byte from end to alloc is zero on disk (preallocated or zeroed
 * by a truncation that was synced before anything else was written).
 */
struct pgr_segment
{
	char name[PGR_NAME_MAX];
	uint64_t first;
	uint64_t last;
	uint64_t last_term;
	uint64_t end;
	uint64_t alloc; /* file size */
};

struct pgr_storage
{
	const struct pgr_vfs *vfs;
	void *vfs_ctx;
	char *dir;
	uint64_t segment_size;
	bool read_only;

	/* Set by a failed fsync or log write; every later call fails. */
	bool failed;
	struct pgr_storage_error fail_err;
	struct pgr_storage_error err; /* the last error returned */

	/*
	 * The log.  segs[0..n_segs) in index order, contiguous.  The logical log
	 * is (snap index, last_index]; segs[0] may still hold entries the
	 * snapshot covers.  With no segment, last_index == snapshot index.
	 */
	struct pgr_segment *segs;
	size_t n_segs;
	size_t cap_segs;
	int tail_fd; /* the last segment, open for writing; -1 */
	uint64_t last_index;
	uint64_t last_term;
	bool tail_dirty; /* tail written since its last sync */
	bool dir_dirty;  /* names created or removed since the dir sync */
	uint64_t torn_bytes;
	uint64_t torn_offset;

	/*
	 * Hard state.  hs_durable_slot holds the newest synced version (or is the
	 * only valid one); writes go to the other slot, so a crash mid-write
	 * always leaves one valid slot.  hs_seq is the newest version written.
	 */
	int hs_fd;
	struct pgr_hard_state hs;
	uint64_t hs_seq;
	int hs_slot; /* slot holding hs */
	int hs_durable_slot;
	struct pgr_hard_state hs_durable; /* the version in hs_durable_slot */
	bool hs_dirty;
	bool hs_slot_valid[2];

	/* The newest snapshot (its data stays on disk). */
	bool has_snap;
	struct pgr_snapshot_meta snap;
	uint64_t snap_len;
	char snap_name[PGR_NAME_MAX];

	/* Scratch buffers. */
	uint8_t *rbuf;
	size_t rbuf_cap;
	uint8_t *wbuf;
	size_t wbuf_cap;
};

/*
 * storage.c: the invariants above, checked after open and every persist in
 * the builds that define PGR_CHECK_INVARIANTS (make SAN=1 or DEBUG=1); a
 * violation aborts.
 */
void pgr_st_check_invariants(const struct pgr_storage *st, const char *where);
#ifdef PGR_CHECK_INVARIANTS
#define PGR_CHECK_STORAGE(st, where) pgr_st_check_invariants((st), (where))
#else
#define PGR_CHECK_STORAGE(st, where) ((void) 0)
#endif

/* storage.c: errors and paths */
enum pgr_storage_err pgr_st_error(struct pgr_storage_error *err, enum pgr_storage_err code,
								  int sys_errno, const char *path, int64_t offset, const char *fmt,
								  ...) __attribute__((format(printf, 6, 7)));
enum pgr_storage_err pgr_st_syserr(struct pgr_storage *st, int sys_errno, const char *what,
								   const char *name, int64_t offset);
enum pgr_storage_err pgr_st_fatal(struct pgr_storage *st, enum pgr_storage_err code);
void pgr_st_path(const struct pgr_storage *st, const char *name, char *buf, size_t len);
bool pgr_st_reserve(uint8_t **buf, size_t *cap, size_t need);
enum pgr_storage_err pgr_st_sync_fd(struct pgr_storage *st, int fd, const char *name,
									bool metadata);
enum pgr_storage_err pgr_st_sync_dir(struct pgr_storage *st);
enum pgr_storage_err pgr_st_read_file(struct pgr_storage *st, const char *name, uint64_t *len_out);
enum pgr_storage_err pgr_st_unlink(struct pgr_storage *st, const char *name);

/* segment.c: the log format */
#define PGR_SEG_VERSION     1
#define PGR_SEG_HEADER_SIZE 32
#define PGR_REC_HEADER_SIZE 32
uint64_t pgr_record_size(uint32_t data_len);
size_t pgr_record_encode(uint8_t *buf, const struct pgr_entry *e);
void pgr_segment_header_encode(uint8_t *buf, uint64_t first);
void pgr_segment_name(char *buf, uint64_t first);
bool pgr_parse_hex_name(const char *name, const char *prefix, uint64_t *value);
bool pgr_segment_parse_name(const char *name, uint64_t *first);
void pgr_segment_scan(const uint8_t *buf, uint64_t len, uint64_t prev_term, struct pgr_scan *out,
					  pgr_record_cb cb, void *arg);
bool pgr_all_zero(const uint8_t *p, uint64_t len);

/* log.c: the list of segments */
enum pgr_storage_err pgr_slog_recover(struct pgr_storage *st);
enum pgr_storage_err pgr_slog_append(struct pgr_storage *st, const struct pgr_entry *entries,
									 size_t n);
enum pgr_storage_err pgr_slog_truncate(struct pgr_storage *st, uint64_t index);
enum pgr_storage_err pgr_slog_drop_prefix(struct pgr_storage *st, uint64_t index);
enum pgr_storage_err pgr_slog_discard(struct pgr_storage *st);
enum pgr_storage_err pgr_slog_walk_segment(struct pgr_storage *st, size_t i, pgr_record_cb cb,
										   void *arg);
enum pgr_storage_err pgr_slog_sync(struct pgr_storage *st);
void pgr_slog_close(struct pgr_storage *st);

/* hardstate.c */
enum pgr_storage_err pgr_hs_init(struct pgr_storage *st);
enum pgr_storage_err pgr_hs_load(struct pgr_storage *st);
enum pgr_storage_err pgr_hs_write(struct pgr_storage *st, const struct pgr_hard_state *hs);
enum pgr_storage_err pgr_hs_sync(struct pgr_storage *st);
enum pgr_storage_err pgr_hs_verify(struct pgr_storage *st);

/* snapshot.c */
enum pgr_storage_err pgr_snap_recover(struct pgr_storage *st);
enum pgr_storage_err pgr_snap_write(struct pgr_storage *st, const struct pgr_snapshot *snap);
enum pgr_storage_err pgr_snap_read_data(struct pgr_storage *st, const struct pgr_allocator *alloc,
										uint8_t **data_out);
bool pgr_snap_is_file(const char *name);

#endif /* PGRAFT_STORAGE_INTERNAL_H */
