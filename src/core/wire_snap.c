/*-------------------------------------------------------------------------
 *
 * wire_snap.c
 *		MsgSnap on the wire: snapshot chunks and their reassembly.
 *
 * A snapshot can be far larger than one frame, so MsgSnap always travels as
 * a sequence of chunk frames (kind 3), even when it would fit in one; there
 * is one way to send a snapshot.  Each chunk repeats the message header and
 * the snapshot metadata so that the receiver can verify that every piece
 * belongs to the same transfer, and carries its offset and the total length
 * so that a gap, a replay or a change of size is caught.
 *
 * CHUNK body (kind 3), version 1, little-endian:
 *		the message header of wire.c (62 bytes) with type PGR_MSG_SNAP and
 *		n_entries 0
 *		u64  snapshot index
 *		u64  snapshot term
 *		u32  config_len	 0 (no members) or a pgr_config_encode() encoding
 *		config_len bytes
 *		u64  total		 snapshot data length
 *		u64  offset		 offset + len <= total
 *		u32  len		 bytes in this chunk: > 0 unless total is 0
 *		len bytes
 * Nothing may follow the data.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/wire_snap.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgraft/core.h"
#include "pgraft/wire.h"

#include "../common/codec.h"
#include "wire_internal.h"

/* The largest configuration encoding (see config.c). */
#define PGR_WIRE_CONFIG_MAX (1 + 4 + PGR_MAX_MEMBERS * (8 + 1 + 2 + PGR_MAX_CONTEXT))

/* Chunk body bytes besides the message header, the config and the data. */
#define PGR_WIRE_CHUNK_FIXED_SIZE (8 + 8 + 4 + 8 + 8 + 4)

/* ---------------------------------------------------------------------- */
/* Chunks                                                                 */
/* ---------------------------------------------------------------------- */

/* Offsets and length of a chunk agree with its total (overflow-safe). */
static bool
chunk_span_valid(uint64_t total, uint64_t offset, uint64_t len)
{
	if (offset > total || len > total - offset)
		return false;
	return len > 0 || total == 0;
}

enum pgr_err
pgr_wire_snap_chunk_next(const struct pgr_msg *msg, uint64_t offset, size_t max_data,
						 struct pgr_wire_snap_chunk *out)
{
	const struct pgr_snapshot *s = msg->snapshot;
	uint64_t n;

	if (msg->type != PGR_MSG_SNAP || s == NULL || msg->n_entries != 0 || max_data == 0 ||
		(s->len > 0 && s->data == NULL))
		return PGR_EINVAL;
	if (offset > s->len || (offset == s->len && s->len > 0))
		return PGR_EINVAL;
	n = s->len - offset;
	if (n > max_data)
		n = max_data;
	if (n > UINT32_MAX)
		n = UINT32_MAX;

	out->msg = *msg;
	out->msg.entries = NULL;
	out->msg.snapshot = NULL;
	out->meta = s->meta;
	out->total = s->len;
	out->offset = offset;
	out->len = (uint32_t) n;
	out->data = n > 0 ? s->data + offset : NULL;
	return PGR_OK;
}

/*
 * Validate chunk c and encode its configuration into cfg (of
 * PGR_WIRE_CONFIG_MAX bytes), returning the frame size in *size_out.
 */
static enum pgr_err
chunk_layout(const struct pgr_wire_snap_chunk *c, uint8_t *cfg, size_t *cfg_len, size_t *size_out)
{
	uint64_t size;

	if (c->msg.type != PGR_MSG_SNAP || c->msg.n_entries != 0 || c->msg.entries != NULL ||
		c->msg.snapshot != NULL || !chunk_span_valid(c->total, c->offset, c->len) ||
		(c->len > 0 && c->data == NULL))
		return PGR_EINVAL;
	*cfg_len = 0;
	if (c->meta.config.n_members > 0 &&
		pgr_config_encode(&c->meta.config, cfg, PGR_WIRE_CONFIG_MAX, cfg_len) != PGR_OK)
		return PGR_EINVAL;
	size = (uint64_t) PGR_WIRE_HEADER_SIZE + PGR_WIRE_MSG_HEADER_SIZE + PGR_WIRE_CHUNK_FIXED_SIZE +
		   *cfg_len + c->len;
	if (size > PGR_WIRE_MAX_FRAME)
		return PGR_ETOOBIG;
	*size_out = (size_t) size;
	return PGR_OK;
}

enum pgr_err
pgr_wire_snap_chunk_size(const struct pgr_wire_snap_chunk *c, size_t *size_out)
{
	uint8_t cfg[PGR_WIRE_CONFIG_MAX];
	size_t cfg_len;

	return chunk_layout(c, cfg, &cfg_len, size_out);
}

enum pgr_err
pgr_wire_encode_snap_chunk(const struct pgr_wire_snap_chunk *c, uint8_t *buf, size_t cap,
						   size_t *len_out)
{
	uint8_t cfg[PGR_WIRE_CONFIG_MAX];
	size_t cfg_len;
	size_t size;
	struct pgr_writer w = {buf, cap, 0, true};
	enum pgr_err err;

	err = chunk_layout(c, cfg, &cfg_len, &size);
	if (err != PGR_OK)
		return err;
	if (buf == NULL || cap < size)
		return PGR_EINVAL;
	pgr_wire_put_header(&w, PGR_WIRE_KIND_SNAP_CHUNK, size - PGR_WIRE_HEADER_SIZE);
	pgr_wire_put_msg_header(&w, &c->msg, 0);
	pgr_w_u64(&w, c->meta.index);
	pgr_w_u64(&w, c->meta.term);
	pgr_w_u32(&w, (uint32_t) cfg_len);
	pgr_w_bytes(&w, cfg, cfg_len);
	pgr_w_u64(&w, c->total);
	pgr_w_u64(&w, c->offset);
	pgr_w_u32(&w, c->len);
	pgr_w_bytes(&w, c->data, c->len);
	if (!w.ok || w.len != size)
		return PGR_EINVAL; /* unreachable: size was computed above */
	*len_out = w.len;
	return PGR_OK;
}

enum pgr_err
pgr_wire_decode_snap_chunk(const uint8_t *frame, size_t len, struct pgr_wire_snap_chunk *out)
{
	struct pgr_reader r;
	uint32_t n_entries;
	uint32_t cfg_len;
	const uint8_t *cfg;
	enum pgr_err err;

	memset(out, 0, sizeof(*out));
	err = pgr_wire_open_frame(frame, len, PGR_WIRE_KIND_SNAP_CHUNK, &r);
	if (err != PGR_OK)
		return err;
	if (!pgr_wire_get_msg_header(&r, &out->msg, &n_entries) || out->msg.type != PGR_MSG_SNAP ||
		n_entries != 0)
		goto bad;
	out->meta.index = pgr_r_u64(&r);
	out->meta.term = pgr_r_u64(&r);
	cfg_len = pgr_r_u32(&r);
	if (!r.ok || cfg_len > PGR_WIRE_CONFIG_MAX)
		goto bad;
	cfg = pgr_r_bytes(&r, cfg_len);
	if (cfg == NULL)
		goto bad;
	/* An empty encoding means no members; pgr_config_decode refuses 0 members. */
	if (cfg_len > 0 && pgr_config_decode(cfg, cfg_len, &out->meta.config) != PGR_OK)
		goto bad;
	out->total = pgr_r_u64(&r);
	out->offset = pgr_r_u64(&r);
	out->len = pgr_r_u32(&r);
	if (!r.ok || out->len != r.len - r.pos || !chunk_span_valid(out->total, out->offset, out->len))
		goto bad;
	out->data = out->len > 0 ? pgr_r_bytes(&r, out->len) : NULL;
	return PGR_OK;

bad:
	memset(out, 0, sizeof(*out));
	return PGR_EBADMSG;
}

/* ---------------------------------------------------------------------- */
/* Reassembly                                                             */
/* ---------------------------------------------------------------------- */

static bool
config_equal(const struct pgr_config *a, const struct pgr_config *b)
{
	if (a->n_members != b->n_members)
		return false;
	for (uint32_t i = 0; i < a->n_members && i < PGR_MAX_MEMBERS; i++)
	{
		const struct pgr_member *x = &a->members[i];
		const struct pgr_member *y = &b->members[i];

		if (x->id != y->id || x->role != y->role || x->context_len != y->context_len ||
			memcmp(x->context, y->context, x->context_len) != 0)
			return false;
	}
	return true;
}

/* Does chunk c belong to the transfer in progress in a? */
static bool
chunk_continues(const struct pgr_wire_snap_assembler *a, const struct pgr_wire_snap_chunk *c)
{
	const struct pgr_msg *m = &a->msg;
	const struct pgr_msg *n = &c->msg;

	return m->from == n->from && m->to == n->to && m->term == n->term &&
		   m->log_term == n->log_term && m->index == n->index && m->commit == n->commit &&
		   m->context == n->context && m->reject == n->reject && m->force == n->force &&
		   a->snap->meta.index == c->meta.index && a->snap->meta.term == c->meta.term &&
		   config_equal(&a->snap->meta.config, &c->meta.config) && a->snap->len == c->total &&
		   a->received == c->offset;
}

void
pgr_wire_snap_assembler_init(struct pgr_wire_snap_assembler *a, const struct pgr_allocator *alloc,
							 uint64_t max_snapshot)
{
	memset(a, 0, sizeof(*a));
	a->alloc = *alloc;
	a->max_snapshot = max_snapshot;
}

void
pgr_wire_snap_assembler_reset(struct pgr_wire_snap_assembler *a)
{
	if (a->buf != NULL)
		a->alloc.free(a->alloc.ctx, a->buf);
	if (a->snap != NULL)
		a->alloc.free(a->alloc.ctx, a->snap);
	a->buf = NULL;
	a->cap = 0;
	a->snap = NULL;
	a->received = 0;
	a->active = false;
	memset(&a->msg, 0, sizeof(a->msg));
}

/*
 * Make room for need bytes (need <= total).  Capacity at least doubles, so
 * copying stays linear, but never exceeds total or twice what has arrived.
 */
static bool
assembler_grow(struct pgr_wire_snap_assembler *a, uint64_t need)
{
	uint64_t total = a->snap->len;
	uint64_t new_cap;
	uint8_t *p;

	if (need <= a->cap)
		return true;
	new_cap = (uint64_t) a->cap * 2;
	if (new_cap < need)
		new_cap = need;
	if (new_cap > total)
		new_cap = total;
	if (new_cap > SIZE_MAX)
		return false;
	if (a->buf == NULL)
		p = a->alloc.alloc(a->alloc.ctx, (size_t) new_cap);
	else
		p = a->alloc.realloc(a->alloc.ctx, a->buf, a->cap, (size_t) new_cap);
	if (p == NULL)
		return false;
	a->buf = p;
	a->cap = (size_t) new_cap;
	return true;
}

enum pgr_err
pgr_wire_snap_assembler_add(struct pgr_wire_snap_assembler *a, const uint8_t *frame, size_t len,
							struct pgr_msg *out, bool *complete)
{
	struct pgr_wire_snap_chunk c;
	enum pgr_err err;

	*complete = false;
	err = pgr_wire_decode_snap_chunk(frame, len, &c);
	if (err != PGR_OK)
		goto fail;

	if (!a->active)
	{
		if (c.offset != 0)
		{
			err = PGR_EBADMSG;
			goto fail;
		}
		if (c.total > a->max_snapshot || c.total > SIZE_MAX)
		{
			err = PGR_ETOOBIG;
			goto fail;
		}
		a->snap = a->alloc.alloc(a->alloc.ctx, sizeof(struct pgr_snapshot));
		if (a->snap == NULL)
		{
			err = PGR_ENOMEM;
			goto fail;
		}
		memset(a->snap, 0, sizeof(*a->snap));
		a->snap->meta = c.meta;
		a->snap->len = c.total;
		a->msg = c.msg;
		a->received = 0;
		a->active = true;
	}
	else if (!chunk_continues(a, &c))
	{
		err = PGR_EBADMSG;
		goto fail;
	}

	if (c.len > 0)
	{
		if (!assembler_grow(a, a->received + c.len))
		{
			err = PGR_ENOMEM;
			goto fail;
		}
		memcpy(a->buf + a->received, c.data, c.len);
		a->received += c.len;
	}
	if (a->received < a->snap->len)
		return PGR_OK;

	/* Done: hand the snapshot over and become idle. */
	*out = a->msg;
	out->snapshot = a->snap;
	out->snapshot->data = a->buf;
	*complete = true;
	a->snap = NULL;
	a->buf = NULL;
	pgr_wire_snap_assembler_reset(a);
	return PGR_OK;

fail:
	pgr_wire_snap_assembler_reset(a);
	return err;
}
