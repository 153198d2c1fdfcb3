/*-------------------------------------------------------------------------
 *
 * segment.c
 *		The on-disk format of the Raft log: segment files and their records.
 *
 * THE DIRECTORY
 *
 *		hardstate					term, vote, commit: two slots (hardstate.c)
 *		snap-<index>				the newest snapshot (snapshot.c)
 *		log-<first index>			log segments, 16 hex digits each
 *		*.tmp						leftovers of interrupted writes; removed
 *
 * SEGMENT FILE FORMAT
 *
 * A segment is preallocated (posix_fallocate) to the segment size, or to one
 * record if a single record is larger, so that appending never changes the
 * file's size and fdatasync flushes data only.  All integers little-endian.
 *
 *		Segment header, 32 bytes:
 *			0	8	magic "PGRAFTLG"
 *			8	4	format version (1)
 *			12	4	zero
 *			16	8	index of the first record; equals the file name
 *			24	4	zero
 *			28	4	CRC-32C of bytes 0..27
 *
 *		Then records back to back, each starting 8-byte aligned:
 *			0	4	data length L
 *			4	4	entry type
 *			8	8	index
 *			16	8	term
 *			24	4	CRC-32C of the L data bytes
 *			28	4	CRC-32C of bytes 0..27 of this header
 *			32	L	data
 *				pad	zero bytes up to the next multiple of 8
 *
 *		Then zero bytes to the end of the file.
 *
 * The header checksum is separate from the data checksum so that a damaged
 * length can never send recovery to the wrong place: a length is only used
 * once its header has verified.
 *
 * VALIDITY RULE
 *
 * Records are read from offset 32.  A record is valid if its header checksum
 * and data checksum match, its index is one more than the previous record's
 * (the header's first index for the first record) and its term is not below
 * the previous record's.  The log of a segment is its longest prefix of valid
 * records; what follows must be one of:
 *		- an all-zero record header followed by zeros to the end of the file
 *		  (the clean end; the zeros are preallocated space), or the end of file;
 *		- a TORN TAIL, only in the newest segment: a record that is incomplete
 *		  (the file ends inside it), or whose header checksum fails with only
 *		  zeros after the header, or whose data checksum fails with only zeros
 *		  after the record.  That is what a crash during an unsynced append
 *		  leaves (a prefix of the written bytes, the rest still preallocated
 *		  zeros); recovery cuts it off by zeroing it.
 * Anything else is corruption, and the open fails naming the file and the
 * offset: a checksum failure with data after it, a non-zero byte in the
 * slack, a wrong index or a falling term.  Indexes also continue across
 * segments: a segment's first index is one more than the previous segment's
 * last.
 *
 * A single flipped bit in the LAST record of the newest segment, with nothing
 * written after it, cannot be told from a torn write and is cut off like one;
 * no format can distinguish them without another fsync per batch.
 *
 * SYNC ORDERING
 *
 * 1. Appends write whole records at the end of the newest segment; the batch
 *	  is made durable by one fdatasync of that segment (pgr_storage_sync).
 * 2. A new segment is created (O_EXCL, preallocated, header written) only
 *	  after the previous segment has been fdatasynced, with the directory
 *	  fsynced too if it had pending changes: so a torn tail can only ever be
 *	  in the newest segment.  The new name is made durable by the directory
 *	  fsync of the batch's sync.
 * 3. Truncating a suffix (a new leader overwrites entries) deletes whole
 *	  segments newest first, zeroes the rest of the partly kept segment, and
 *	  makes both durable (directory fsync, fdatasync) BEFORE any new record is
 *	  written over the zeroed space, so old records can never reappear behind
 *	  new ones after a power loss.
 * 4. Dropping a prefix deletes whole segments oldest first, so a crash in
 *	  between leaves a contiguous log; it only happens for entries a durable
 *	  snapshot covers.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/storage/segment.c
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

#define PGR_SEG_MAGIC "PGRAFTLG"

uint64_t
pgr_record_size(uint32_t data_len)
{
	return ((uint64_t) PGR_REC_HEADER_SIZE + data_len + 7) & ~(uint64_t) 7;
}

/* Encode e at buf (pgr_record_size(e->len) bytes); returns the size. */
size_t
pgr_record_encode(uint8_t *buf, const struct pgr_entry *e)
{
	size_t size = (size_t) pgr_record_size(e->len);

	pgr_put_u32(buf, e->len);
	pgr_put_u32(buf + 4, e->type);
	pgr_put_u64(buf + 8, e->index);
	pgr_put_u64(buf + 16, e->term);
	pgr_put_u32(buf + 24, e->len > 0 ? pgr_crc32c(0, e->data, e->len) : 0);
	pgr_put_u32(buf + 28, pgr_crc32c(0, buf, 28));
	if (e->len > 0)
		memcpy(buf + PGR_REC_HEADER_SIZE, e->data, e->len);
	memset(buf + PGR_REC_HEADER_SIZE + e->len, 0, size - PGR_REC_HEADER_SIZE - e->len);
	return size;
}

void
pgr_segment_header_encode(uint8_t *buf, uint64_t first)
{
	memset(buf, 0, PGR_SEG_HEADER_SIZE);
	memcpy(buf, PGR_SEG_MAGIC, 8);
	pgr_put_u32(buf + 8, PGR_SEG_VERSION);
	pgr_put_u64(buf + 16, first);
	pgr_put_u32(buf + 28, pgr_crc32c(0, buf, 28));
}

void
pgr_segment_name(char *buf, uint64_t first)
{
	snprintf(buf, PGR_NAME_MAX, "log-%016" PRIx64, first);
}

/*
 * Is name exactly prefix followed by 16 lower-case hex digits?  The number
 * goes to *value.  Segment and snapshot file names both look like that.
 */
bool
pgr_parse_hex_name(const char *name, const char *prefix, uint64_t *value)
{
	size_t plen = strlen(prefix);
	uint64_t v = 0;

	if (strncmp(name, prefix, plen) != 0 || strlen(name) != plen + 16)
		return false;
	for (size_t i = plen; i < plen + 16; i++)
	{
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = (v << 4) | (uint64_t) (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (v << 4) | (uint64_t) (c - 'a' + 10);
		else
			return false;
	}
	*value = v;
	return true;
}

bool
pgr_segment_parse_name(const char *name, uint64_t *first)
{
	return pgr_parse_hex_name(name, "log-", first);
}

bool
pgr_all_zero(const uint8_t *p, uint64_t len)
{
	/* Word at a time: recovery runs this over megabytes of slack. */
	while (len > 0 && ((uintptr_t) p & 7) != 0)
	{
		if (*p++ != 0)
			return false;
		len--;
	}
	while (len >= 8)
	{
		uint64_t w;

		memcpy(&w, p, 8);
		if (w != 0)
			return false;
		p += 8;
		len -= 8;
	}
	while (len > 0)
	{
		if (*p++ != 0)
			return false;
		len--;
	}
	return true;
}

static void
scan_stop(struct pgr_scan *out, enum pgr_scan_end outcome, uint64_t offset, const char *reason)
{
	out->outcome = outcome;
	out->bad_offset = offset;
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
}

/*
 * Apply the validity rule above to the segment image buf[0..len): fill out
 * with where the valid records end and why, calling cb for each valid record
 * (data points into buf).  prev_term is the term of the record before this
 * segment (0 if none).  Whether a TORN outcome is acceptable (newest segment
 * only) is the caller's decision.
 */
void
pgr_segment_scan(const uint8_t *buf, uint64_t len, uint64_t prev_term, struct pgr_scan *out,
				 pgr_record_cb cb, void *arg)
{
	uint64_t off = PGR_SEG_HEADER_SIZE;
	uint64_t expect;

	memset(out, 0, sizeof(*out));
	out->last_term = prev_term;
	out->end = 0;
	if (len < PGR_SEG_HEADER_SIZE || pgr_all_zero(buf, PGR_SEG_HEADER_SIZE))
	{
		/* Created but the header never reached the disk. */
		if (pgr_all_zero(buf, len))
			scan_stop(out, PGR_SCAN_TORN, 0, "segment header was never written");
		else
			scan_stop(out, PGR_SCAN_CORRUPT, 0, "segment header is missing");
		return;
	}
	if (memcmp(buf, PGR_SEG_MAGIC, 8) != 0)
	{
		scan_stop(out, PGR_SCAN_CORRUPT, 0, "bad magic number in segment header");
		return;
	}
	if (pgr_get_u32(buf + 8) != PGR_SEG_VERSION)
	{
		out->bad_version = pgr_get_u32(buf + 8);
		scan_stop(out, PGR_SCAN_VERSION, 8, "unknown segment format version");
		return;
	}
	if (pgr_get_u32(buf + 28) != pgr_crc32c(0, buf, 28))
	{
		scan_stop(out, PGR_SCAN_CORRUPT, 0, "segment header checksum mismatch");
		return;
	}
	out->first = pgr_get_u64(buf + 16);
	out->last = out->first - 1;
	out->end = off;
	expect = out->first;

	for (;;)
	{
		const uint8_t *h = buf + off;
		struct pgr_entry e;
		uint64_t rec_size;

		if (len - off < PGR_REC_HEADER_SIZE)
		{
			if (pgr_all_zero(h, len - off))
				out->outcome = PGR_SCAN_CLEAN;
			else
				scan_stop(out, PGR_SCAN_TORN, off, "incomplete record header at end of file");
			return;
		}
		if (pgr_all_zero(h, PGR_REC_HEADER_SIZE))
		{
			/* The clean end, unless something was written after it. */
			if (pgr_all_zero(h, len - off))
				out->outcome = PGR_SCAN_CLEAN;
			else
				scan_stop(out, PGR_SCAN_CORRUPT, off,
						  "zeroed record header followed by non-zero data");
			return;
		}
		if (pgr_get_u32(h + 28) != pgr_crc32c(0, h, 28))
		{
			if (pgr_all_zero(h + PGR_REC_HEADER_SIZE, len - off - PGR_REC_HEADER_SIZE))
				scan_stop(out, PGR_SCAN_TORN, off, "partly written record header at end of log");
			else
				scan_stop(out, PGR_SCAN_CORRUPT, off, "record header checksum mismatch");
			return;
		}
		e.len = pgr_get_u32(h);
		e.type = pgr_get_u32(h + 4);
		e.index = pgr_get_u64(h + 8);
		e.term = pgr_get_u64(h + 16);
		rec_size = pgr_record_size(e.len);
		if (rec_size > len - off)
		{
			scan_stop(out, PGR_SCAN_TORN, off, "record extends past end of file");
			return;
		}
		e.data = e.len > 0 ? (uint8_t *) (h + PGR_REC_HEADER_SIZE) : NULL;
		if (pgr_get_u32(h + 24) != (e.len > 0 ? pgr_crc32c(0, e.data, e.len) : 0))
		{
			if (pgr_all_zero(h + rec_size, len - off - rec_size))
				scan_stop(out, PGR_SCAN_TORN, off, "partly written record at end of log");
			else
				scan_stop(out, PGR_SCAN_CORRUPT, off, "record data checksum mismatch");
			return;
		}
		if (e.index != expect)
		{
			char reason[128];

			snprintf(reason, sizeof(reason), "record has index %" PRIu64 ", expected %" PRIu64,
					 e.index, expect);
			scan_stop(out, PGR_SCAN_CORRUPT, off, reason);
			return;
		}
		if (e.term < out->last_term)
		{
			scan_stop(out, PGR_SCAN_CORRUPT, off,
					  "record term is lower than the previous record's");
			return;
		}
		if (cb != NULL && cb(arg, off, &e) != 0)
		{
			out->outcome = PGR_SCAN_CLEAN;
			return;
		}
		out->last = e.index;
		out->last_term = e.term;
		off += rec_size;
		out->end = off;
		expect++;
	}
}
