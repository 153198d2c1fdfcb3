/*-------------------------------------------------------------------------
 *
 * wire.c
 *		Frames, the handshake and Raft messages on the wire (snapshot chunks
 *		are in wire_snap.c).
 *
 * All integers are little-endian.  Version 4 of the protocol:
 *
 * FRAME: an 8-byte header, then body_len bytes of body.
 *		u32  body_len	 bytes after the header; header + body <= the limit
 *		u8	 version	 protocol version of the sender (never 0)
 *		u8	 kind		 1 handshake, 2 message, 3 snapshot chunk, 4 ping,
 *						 5 refuse, 6-8 authentication (wire_session.c)
 *		u16  flags		 0
 * body_len, version and kind keep their place in every version, so a reader
 * can always find the end of a frame and recognise a handshake.
 *
 * HANDSHAKE body (kind 1), the same in every version:
 *		4 bytes  magic "PGRF"
 *		u64  node_id	 > 0
 *		16 bytes cluster_id
 *		u8	 name_len	 1 .. 63
 *		name_len bytes cluster name, printable ASCII
 * then, since version 3:
 *		u32  heartbeat_ms	 the sender's pgraft.heartbeat_interval
 *		u32  election_ms	 the sender's pgraft.election_timeout
 *		u64  config_index	 index of the sender's latest configuration
 * Nothing more may follow in a handshake of our version; another version
 * may have other fields after the name, which we skip before reporting the
 * version mismatch.
 *
 * PING (kind 4): an empty body.  Sent on a connection that has carried
 * nothing for a while, so that both ends can tell a live connection from
 * one stuck in retransmission.
 *
 * REFUSE (kind 5): u8 reason (enum pgr_wire_refusal), sent before closing
 * a connection during its setup.
 *
 * MESSAGE body (kind 2):
 *		u8	 type		 enum pgr_msg_type, never PGR_MSG_SNAP (see wire_snap.c)
 *		u8	 flags		 bit 0 reject, bit 1 force, bit 2 quiet (only on a
 *						 MsgApp without entries), others 0
 *		u64  from, to, term, log_term, index, commit, context
 *		u32  n_entries	 0 unless type is MsgApp or MsgProp
 *		n_entries times:
 *			u64  term
 *			u64  index
 *			u8	 type	 enum pgr_entry_type; CONF_CHANGE only in MsgProp
 *			u32  len
 *			len bytes of data
 * Nothing may follow the last entry.  The encoding is canonical: a frame
 * that decodes re-encodes to the same bytes (the fuzzer checks that).
 *
 * VERSIONING: any change to a layout above, any new kind, message type,
 * entry type or flag bit takes a new version number (version 1 had no
 * timing in the handshake and no ping; version 2 no authentication, no
 * refusal frame and no configuration index in the handshake; version 3 no
 * quiet flag).  A frame whose version
 * is not ours is refused, except a handshake, which is decoded so that the
 * peer's version can be named in the log.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/wire.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgraft/core.h"
#include "pgraft/wire.h"

#include "../common/codec.h"
#include "wire_internal.h"

static const uint8_t pgr_wire_magic[4] = {'P', 'G', 'R', 'F'};

/* The smallest encoded entry (an empty one): bounds n_entries by the bytes. */
#define PGR_WIRE_ENTRY_HEADER_SIZE (8 + 8 + 1 + 4)

/* magic, node_id, cluster_id, name_len: the frozen handshake fields before the name */
#define PGR_WIRE_HS_FIXED_SIZE (4 + 8 + PGR_WIRE_CLUSTER_ID_LEN + 1)
/* our version's fields after the name: heartbeat_ms, election_ms, config_index */
#define PGR_WIRE_HS_OURS_SIZE (4 + 4 + 8)

/* ---------------------------------------------------------------------- */
/* Frames                                                                 */
/* ---------------------------------------------------------------------- */

enum pgr_wire_frame_status
pgr_wire_frame_check(const uint8_t *buf, size_t len, size_t max_frame, struct pgr_wire_frame *out)
{
	uint32_t body_len;

	if (max_frame == 0 || max_frame > PGR_WIRE_MAX_FRAME)
		max_frame = PGR_WIRE_MAX_FRAME;
	out->len = PGR_WIRE_HEADER_SIZE;
	out->version = 0;
	out->kind = 0;
	if (buf == NULL || len < PGR_WIRE_HEADER_SIZE)
		return PGR_WIRE_NEED_MORE;

	body_len = pgr_get_u32(buf);
	out->version = buf[4];
	out->kind = buf[5];
	if (out->version == 0)
		return PGR_WIRE_FRAME_BAD;
	if (out->version != PGR_WIRE_VERSION)
	{
		/* Only a handshake can tell us more about a foreign version. */
		if (out->kind != PGR_WIRE_KIND_HANDSHAKE)
			return PGR_WIRE_FRAME_BAD;
	}
	else if (out->kind < PGR_WIRE_KIND_HANDSHAKE || out->kind > PGR_WIRE_KIND_AUTH_PROOF ||
			 pgr_get_u16(buf + 6) != 0 || (out->kind == PGR_WIRE_KIND_PING && body_len != 0) ||
			 (out->kind == PGR_WIRE_KIND_REFUSE && body_len != 1))
		return PGR_WIRE_FRAME_BAD;

	if (max_frame < PGR_WIRE_HEADER_SIZE ||
		(uint64_t) body_len > (uint64_t) (max_frame - PGR_WIRE_HEADER_SIZE))
		return PGR_WIRE_FRAME_TOO_BIG;
	out->len = PGR_WIRE_HEADER_SIZE + (size_t) body_len;
	return len >= out->len ? PGR_WIRE_FRAME_READY : PGR_WIRE_NEED_MORE;
}

const char *
pgr_wire_frame_status_name(enum pgr_wire_frame_status st)
{
	switch (st)
	{
		case PGR_WIRE_NEED_MORE:
			return "incomplete frame";
		case PGR_WIRE_FRAME_READY:
			return "complete frame";
		case PGR_WIRE_FRAME_TOO_BIG:
			return "frame exceeds the size limit";
		case PGR_WIRE_FRAME_BAD:
			return "invalid frame header";
	}
	return "unknown frame status";
}

void
pgr_wire_put_header(struct pgr_writer *w, uint8_t kind, size_t body_len)
{
	pgr_w_u32(w, (uint32_t) body_len);
	pgr_w_u8(w, PGR_WIRE_VERSION);
	pgr_w_u8(w, kind);
	pgr_w_u16(w, 0);
}

enum pgr_err
pgr_wire_open_frame(const uint8_t *frame, size_t len, uint8_t kind, struct pgr_reader *body)
{
	if (frame == NULL || len < PGR_WIRE_HEADER_SIZE)
		return PGR_EBADMSG;
	if (len > PGR_WIRE_MAX_FRAME)
		return PGR_ETOOBIG;
	if (pgr_get_u32(frame) != len - PGR_WIRE_HEADER_SIZE || frame[4] != PGR_WIRE_VERSION ||
		frame[5] != kind || pgr_get_u16(frame + 6) != 0)
		return PGR_EBADMSG;
	body->buf = frame + PGR_WIRE_HEADER_SIZE;
	body->len = len - PGR_WIRE_HEADER_SIZE;
	body->pos = 0;
	body->ok = true;
	return PGR_OK;
}

void
pgr_wire_encode_ping(uint8_t *buf)
{
	pgr_put_u32(buf, 0);
	buf[4] = PGR_WIRE_VERSION;
	buf[5] = PGR_WIRE_KIND_PING;
	pgr_put_u16(buf + 6, 0);
}

/* ---------------------------------------------------------------------- */
/* Handshake                                                              */
/* ---------------------------------------------------------------------- */

/* Printable ASCII only: the name is logged by the peer. */
static bool
cluster_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > PGR_WIRE_CLUSTER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
	return true;
}

static bool
handshake_valid(const struct pgr_wire_handshake *hs)
{
	return hs->version != 0 && hs->node_id != PGR_NONE &&
		   cluster_name_valid(hs->cluster_name, hs->name_len);
}

enum pgr_err
pgr_wire_handshake_init(struct pgr_wire_handshake *hs, uint64_t node_id,
						const uint8_t cluster_id[PGR_WIRE_CLUSTER_ID_LEN], const char *name)
{
	size_t len = 0;

	if (name == NULL || cluster_id == NULL)
		return PGR_EINVAL;
	/* Bounded: name need not be terminated within the limit. */
	while (len <= PGR_WIRE_CLUSTER_NAME_MAX && name[len] != '\0')
		len++;
	if (node_id == PGR_NONE || !cluster_name_valid(name, len))
		return PGR_EINVAL;
	memset(hs, 0, sizeof(*hs));
	hs->version = PGR_WIRE_VERSION;
	hs->node_id = node_id;
	memcpy(hs->cluster_id, cluster_id, PGR_WIRE_CLUSTER_ID_LEN);
	hs->name_len = (uint8_t) len;
	memcpy(hs->cluster_name, name, len);
	return PGR_OK;
}

enum pgr_err
pgr_wire_encode_handshake(const struct pgr_wire_handshake *hs, uint8_t *buf, size_t cap,
						  size_t *len_out)
{
	struct pgr_writer w = {buf, cap, 0, true};
	size_t body_len;

	if (!handshake_valid(hs))
		return PGR_EINVAL;
	body_len = PGR_WIRE_HS_FIXED_SIZE + hs->name_len +
			   (hs->version == PGR_WIRE_VERSION ? PGR_WIRE_HS_OURS_SIZE : 0);
	if (buf == NULL || cap < PGR_WIRE_HEADER_SIZE + body_len)
		return PGR_EINVAL;
	/* Written by hand: the version is the handshake's, not necessarily ours. */
	pgr_w_u32(&w, (uint32_t) body_len);
	pgr_w_u8(&w, hs->version);
	pgr_w_u8(&w, PGR_WIRE_KIND_HANDSHAKE);
	pgr_w_u16(&w, 0);
	pgr_w_bytes(&w, pgr_wire_magic, sizeof(pgr_wire_magic));
	pgr_w_u64(&w, hs->node_id);
	pgr_w_bytes(&w, hs->cluster_id, PGR_WIRE_CLUSTER_ID_LEN);
	pgr_w_u8(&w, hs->name_len);
	pgr_w_bytes(&w, hs->cluster_name, hs->name_len);
	if (hs->version == PGR_WIRE_VERSION)
	{
		pgr_w_u32(&w, hs->heartbeat_ms);
		pgr_w_u32(&w, hs->election_ms);
		pgr_w_u64(&w, hs->config_index);
	}
	if (!w.ok)
		return PGR_EINVAL;
	*len_out = w.len;
	return PGR_OK;
}

enum pgr_err
pgr_wire_decode_handshake(const uint8_t *frame, size_t len, struct pgr_wire_handshake *out)
{
	struct pgr_reader r;
	const uint8_t *p;

	memset(out, 0, sizeof(*out));
	if (frame == NULL || len < PGR_WIRE_HEADER_SIZE || len > PGR_WIRE_HANDSHAKE_MAX_FRAME ||
		pgr_get_u32(frame) != len - PGR_WIRE_HEADER_SIZE || frame[4] == 0 ||
		frame[5] != PGR_WIRE_KIND_HANDSHAKE)
		return PGR_EBADMSG;
	/* Our version: flags are ours to check; another's are its business. */
	if (frame[4] == PGR_WIRE_VERSION && pgr_get_u16(frame + 6) != 0)
		return PGR_EBADMSG;

	r.buf = frame + PGR_WIRE_HEADER_SIZE;
	r.len = len - PGR_WIRE_HEADER_SIZE;
	r.pos = 0;
	r.ok = true;
	p = pgr_r_bytes(&r, sizeof(pgr_wire_magic));
	if (p == NULL || memcmp(p, pgr_wire_magic, sizeof(pgr_wire_magic)) != 0)
		return PGR_EBADMSG;
	out->version = frame[4];
	out->node_id = pgr_r_u64(&r);
	p = pgr_r_bytes(&r, PGR_WIRE_CLUSTER_ID_LEN);
	if (p != NULL)
		memcpy(out->cluster_id, p, PGR_WIRE_CLUSTER_ID_LEN);
	out->name_len = pgr_r_u8(&r);
	if (!r.ok || out->name_len == 0 || out->name_len > PGR_WIRE_CLUSTER_NAME_MAX)
		goto bad;
	p = pgr_r_bytes(&r, out->name_len);
	if (p == NULL)
		goto bad;
	memcpy(out->cluster_name, p, out->name_len);
	out->cluster_name[out->name_len] = '\0';
	if (!handshake_valid(out))
		goto bad;
	if (out->version == PGR_WIRE_VERSION)
	{
		out->heartbeat_ms = pgr_r_u32(&r);
		out->election_ms = pgr_r_u32(&r);
		out->config_index = pgr_r_u64(&r);
		if (!r.ok || r.pos != r.len)
			goto bad;
	}
	return PGR_OK;

bad:
	memset(out, 0, sizeof(*out));
	return PGR_EBADMSG;
}

enum pgr_wire_hs_result
pgr_wire_handshake_compare(const struct pgr_wire_handshake *ours,
						   const struct pgr_wire_handshake *peer, uint64_t expected_peer)
{
	if (peer->version != ours->version)
		return PGR_WIRE_HS_OTHER_VERSION;
	if (memcmp(peer->cluster_id, ours->cluster_id, PGR_WIRE_CLUSTER_ID_LEN) != 0 ||
		peer->name_len != ours->name_len ||
		memcmp(peer->cluster_name, ours->cluster_name, ours->name_len) != 0)
		return PGR_WIRE_HS_OTHER_CLUSTER;
	if (peer->node_id == ours->node_id)
		return PGR_WIRE_HS_SELF;
	if (expected_peer != PGR_NONE && peer->node_id != expected_peer)
		return PGR_WIRE_HS_OTHER_NODE;
	return PGR_WIRE_HS_OK;
}

const char *
pgr_wire_hs_result_str(enum pgr_wire_hs_result res)
{
	switch (res)
	{
		case PGR_WIRE_HS_OK:
			return "handshake accepted";
		case PGR_WIRE_HS_OTHER_VERSION:
			return "peer speaks another protocol version";
		case PGR_WIRE_HS_OTHER_CLUSTER:
			return "peer belongs to another cluster";
		case PGR_WIRE_HS_SELF:
			return "peer has this node's own id";
		case PGR_WIRE_HS_OTHER_NODE:
			return "peer is not the node that was dialled";
	}
	return "unknown handshake result";
}

/* ---------------------------------------------------------------------- */
/* Messages                                                               */
/* ---------------------------------------------------------------------- */

void
pgr_wire_put_msg_header(struct pgr_writer *w, const struct pgr_msg *m, uint32_t n_entries)
{
	pgr_w_u8(w, (uint8_t) m->type);
	pgr_w_u8(w,
			 (uint8_t) ((m->reject ? PGR_WIRE_MSG_REJECT : 0) |
						(m->force ? PGR_WIRE_MSG_FORCE : 0) | (m->quiet ? PGR_WIRE_MSG_QUIET : 0)));
	pgr_w_u64(w, m->from);
	pgr_w_u64(w, m->to);
	pgr_w_u64(w, m->term);
	pgr_w_u64(w, m->log_term);
	pgr_w_u64(w, m->index);
	pgr_w_u64(w, m->commit);
	pgr_w_u64(w, m->context);
	pgr_w_u32(w, n_entries);
}

bool
pgr_wire_get_msg_header(struct pgr_reader *r, struct pgr_msg *m, uint32_t *n_entries)
{
	uint8_t flags;

	memset(m, 0, sizeof(*m));
	m->type = pgr_r_u8(r);
	flags = pgr_r_u8(r);
	m->reject = (flags & PGR_WIRE_MSG_REJECT) != 0;
	m->force = (flags & PGR_WIRE_MSG_FORCE) != 0;
	m->quiet = (flags & PGR_WIRE_MSG_QUIET) != 0;
	m->from = pgr_r_u64(r);
	m->to = pgr_r_u64(r);
	m->term = pgr_r_u64(r);
	m->log_term = pgr_r_u64(r);
	m->index = pgr_r_u64(r);
	m->commit = pgr_r_u64(r);
	m->context = pgr_r_u64(r);
	*n_entries = pgr_r_u32(r);
	if (m->quiet && (m->type != PGR_MSG_APP || *n_entries != 0))
		return false;
	return r->ok && (flags & ~(PGR_WIRE_MSG_REJECT | PGR_WIRE_MSG_FORCE | PGR_WIRE_MSG_QUIET)) == 0;
}

/* Which message types carry entries at all. */
static bool
msg_has_entries(uint32_t type)
{
	return type == PGR_MSG_APP || type == PGR_MSG_PROP;
}

/*
 * Entry types a message of this type may carry: a configuration change
 * request only travels in a proposal; the log (MsgApp) holds the resulting
 * configuration.
 */
static bool
entry_type_valid(uint32_t msg_type, uint32_t entry_type)
{
	switch (entry_type)
	{
		case PGR_ENTRY_NORMAL:
		case PGR_ENTRY_CONFIG:
			return true;
		case PGR_ENTRY_CONF_CHANGE:
			return msg_type == PGR_MSG_PROP;
	}
	return false;
}

enum pgr_err
pgr_wire_msg_size(const struct pgr_msg *msg, size_t *size_out)
{
	uint64_t size = PGR_WIRE_HEADER_SIZE + PGR_WIRE_MSG_HEADER_SIZE;

	if (msg->type < PGR_MSG_APP || msg->type > PGR_MSG_TYPE_MAX || msg->type == PGR_MSG_SNAP ||
		msg->snapshot != NULL)
		return PGR_EINVAL;
	if (msg->n_entries > 0 && (!msg_has_entries(msg->type) || msg->entries == NULL))
		return PGR_EINVAL;
	if (msg->quiet && (msg->type != PGR_MSG_APP || msg->n_entries > 0))
		return PGR_EINVAL;
	for (uint32_t i = 0; i < msg->n_entries; i++)
	{
		const struct pgr_entry *e = &msg->entries[i];

		if (!entry_type_valid(msg->type, e->type) || (e->len > 0 && e->data == NULL))
			return PGR_EINVAL;
		/* Cannot overflow: at most 2^32 entries of at most 2^32 + 21 bytes each. */
		size += PGR_WIRE_ENTRY_HEADER_SIZE + (uint64_t) e->len;
	}
	if (size > PGR_WIRE_MAX_FRAME)
		return PGR_ETOOBIG;
	*size_out = (size_t) size;
	return PGR_OK;
}

enum pgr_err
pgr_wire_encode_msg(const struct pgr_msg *msg, uint8_t *buf, size_t cap, size_t *len_out)
{
	struct pgr_writer w = {buf, cap, 0, true};
	size_t size;
	enum pgr_err err;

	err = pgr_wire_msg_size(msg, &size);
	if (err != PGR_OK)
		return err;
	if (buf == NULL || cap < size)
		return PGR_EINVAL;
	pgr_wire_put_header(&w, PGR_WIRE_KIND_MSG, size - PGR_WIRE_HEADER_SIZE);
	pgr_wire_put_msg_header(&w, msg, msg->n_entries);
	for (uint32_t i = 0; i < msg->n_entries; i++)
	{
		const struct pgr_entry *e = &msg->entries[i];

		pgr_w_u64(&w, e->term);
		pgr_w_u64(&w, e->index);
		pgr_w_u8(&w, (uint8_t) e->type);
		pgr_w_u32(&w, e->len);
		pgr_w_bytes(&w, e->data, e->len);
	}
	if (!w.ok || w.len != size)
		return PGR_EINVAL; /* unreachable: size was computed above */
	*len_out = w.len;
	return PGR_OK;
}

enum pgr_err
pgr_wire_decode_msg(const uint8_t *frame, size_t len, const struct pgr_allocator *alloc,
					struct pgr_msg *out)
{
	struct pgr_reader r;
	struct pgr_entry *entries;
	uint32_t n;
	enum pgr_err err;

	memset(out, 0, sizeof(*out));
	err = pgr_wire_open_frame(frame, len, PGR_WIRE_KIND_MSG, &r);
	if (err != PGR_OK)
		return err;
	if (!pgr_wire_get_msg_header(&r, out, &n) || out->type < PGR_MSG_APP ||
		out->type > PGR_MSG_TYPE_MAX || out->type == PGR_MSG_SNAP)
		goto bad;
	if (n == 0)
	{
		if (r.pos != r.len)
			goto bad;
		return PGR_OK;
	}
	/*
	 * Bound the count by the bytes present before allocating anything: a
	 * forged count then costs at most the frame we already hold.
	 */
	if (!msg_has_entries(out->type) || n > (r.len - r.pos) / PGR_WIRE_ENTRY_HEADER_SIZE)
		goto bad;
	entries = alloc->alloc(alloc->ctx, (size_t) n * sizeof(struct pgr_entry));
	if (entries == NULL)
	{
		memset(out, 0, sizeof(*out));
		return PGR_ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
	{
		struct pgr_entry *e = &entries[i];

		e->term = pgr_r_u64(&r);
		e->index = pgr_r_u64(&r);
		e->type = pgr_r_u8(&r);
		e->len = pgr_r_u32(&r);
		e->data = e->len > 0 ? (uint8_t *) pgr_r_bytes(&r, e->len) : NULL;
		if (!r.ok || !entry_type_valid(out->type, e->type))
		{
			alloc->free(alloc->ctx, entries);
			goto bad;
		}
	}
	if (r.pos != r.len)
	{
		alloc->free(alloc->ctx, entries);
		goto bad;
	}
	out->n_entries = n;
	out->entries = entries;
	return PGR_OK;

bad:
	memset(out, 0, sizeof(*out));
	return PGR_EBADMSG;
}

void
pgr_wire_msg_free(const struct pgr_allocator *alloc, struct pgr_msg *msg)
{
	if (msg->entries != NULL)
		alloc->free(alloc->ctx, msg->entries);
	if (msg->snapshot != NULL)
	{
		if (msg->snapshot->data != NULL)
			alloc->free(alloc->ctx, msg->snapshot->data);
		alloc->free(alloc->ctx, msg->snapshot);
	}
	msg->entries = NULL;
	msg->n_entries = 0;
	msg->snapshot = NULL;
}
