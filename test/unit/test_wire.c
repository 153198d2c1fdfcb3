/*-------------------------------------------------------------------------
 *
 * test_wire.c
 *		Unit tests of the wire format (include/pgraft/wire.h).
 *
 * Two halves: valid values survive encode/decode unchanged (every message
 * type, edge values, snapshots in chunks), and every kind of bad input is
 * refused with an error code: truncations, bit flips, forged counts and
 * lengths, oversize frames, unknown versions and types, inconsistent
 * chunks.  Frames under test live in buffers of exactly their size, so the
 * sanitizer build (SAN=1) catches any read past a frame's end.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_wire.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "pgraft/core.h"
#include "pgraft/wire.h"

#include "harness.h"

/* ---------------------------------------------------------------------- */
/* Fixtures                                                               */
/* ---------------------------------------------------------------------- */

/* An allocator that counts, remembers the largest request and can fail. */
struct counting_alloc
{
	size_t outstanding;
	size_t calls;
	size_t largest;
	long fail_after; /* calls that succeed before failing; -1 never */
};

static struct counting_alloc ca;

#define CA_MAX_ALLOC ((size_t) 512 * 1024 * 1024)

static void *
ca_alloc(void *ctx, size_t size)
{
	void *p;

	(void) ctx;
	if (size > ca.largest)
		ca.largest = size;
	/* Refuse absurd sizes so a forged length fails a CHECK, not the process. */
	if (size > CA_MAX_ALLOC || (ca.fail_after >= 0 && (long) ca.calls >= ca.fail_after))
		return NULL;
	ca.calls++;
	p = malloc(size ? size : 1);
	if (p != NULL)
		ca.outstanding++;
	return p;
}

static void *
ca_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
	(void) ctx;
	(void) old_size;
	if (ptr == NULL)
		return ca_alloc(ctx, new_size);
	if (new_size > ca.largest)
		ca.largest = new_size;
	if (new_size > CA_MAX_ALLOC || (ca.fail_after >= 0 && (long) ca.calls >= ca.fail_after))
		return NULL;
	ca.calls++;
	return realloc(ptr, new_size ? new_size : 1);
}

static void
ca_free(void *ctx, void *ptr)
{
	(void) ctx;
	if (ptr == NULL)
		return;
	ca.outstanding--;
	free(ptr);
}

static const struct pgr_allocator counting = {ca_alloc, ca_realloc, ca_free, NULL};

static void
ca_reset(void)
{
	memset(&ca, 0, sizeof(ca));
	ca.fail_after = -1;
}

static const uint8_t cluster_a[PGR_WIRE_CLUSTER_ID_LEN] = {1, 2,  3,  4,  5,  6,  7,  8,
														   9, 10, 11, 12, 13, 14, 15, 16};

/* Encode msg into a malloc'd buffer of exactly its frame size. */
static uint8_t *
encode_exact(const struct pgr_msg *msg, size_t *len)
{
	size_t size;
	size_t written;
	uint8_t *buf;

	if (pgr_wire_msg_size(msg, &size) != PGR_OK)
		return NULL;
	buf = malloc(size);
	if (buf == NULL || pgr_wire_encode_msg(msg, buf, size, &written) != PGR_OK || written != size)
	{
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}

static uint8_t *
copy_exact(const uint8_t *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (p != NULL && len > 0)
		memcpy(p, src, len);
	return p;
}

/* Field-by-field equality, entries and their bytes included. */
static bool
msg_equal(const struct pgr_msg *a, const struct pgr_msg *b)
{
	if (a->type != b->type || a->from != b->from || a->to != b->to || a->term != b->term ||
		a->log_term != b->log_term || a->index != b->index || a->commit != b->commit ||
		a->context != b->context || a->reject != b->reject || a->force != b->force ||
		a->n_entries != b->n_entries)
		return false;
	for (uint32_t i = 0; i < a->n_entries; i++)
	{
		const struct pgr_entry *x = &a->entries[i];
		const struct pgr_entry *y = &b->entries[i];

		if (x->term != y->term || x->index != y->index || x->type != y->type || x->len != y->len)
			return false;
		if (x->len > 0 && memcmp(x->data, y->data, x->len) != 0)
			return false;
	}
	return true;
}

static void
fill_msg(struct pgr_msg *m, uint32_t type, uint64_t v)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = v;
	m->to = v;
	m->term = v;
	m->log_term = v;
	m->index = v;
	m->commit = v;
	m->context = v;
	m->reject = v != 0;
	m->force = v != 0;
}

/* A MsgApp with an empty entry, a small one and a configuration entry. */
static uint8_t app_payload[64];
static struct pgr_entry app_entries[3];

static void
make_app(struct pgr_msg *m)
{
	for (size_t i = 0; i < sizeof(app_payload); i++)
		app_payload[i] = (uint8_t) (i * 13 + 5);
	fill_msg(m, PGR_MSG_APP, 7);
	memset(app_entries, 0, sizeof(app_entries));
	app_entries[0].term = 7;
	app_entries[0].index = 8;
	app_entries[1].term = 7;
	app_entries[1].index = 9;
	app_entries[1].len = 33;
	app_entries[1].data = app_payload;
	app_entries[2].term = 7;
	app_entries[2].index = 10;
	app_entries[2].type = PGR_ENTRY_CONFIG;
	app_entries[2].len = 3;
	app_entries[2].data = app_payload + 40;
	m->n_entries = 3;
	m->entries = app_entries;
}

static void
make_config(struct pgr_config *c)
{
	memset(c, 0, sizeof(*c));
	c->n_members = 3;
	c->members[0].id = 1;
	c->members[0].context_len = 9;
	memcpy(c->members[0].context, "host:5432", 9);
	c->members[1].id = 2;
	c->members[2].id = UINT64_MAX;
	c->members[2].role = PGR_MEMBER_LEARNER;
	c->members[2].context_len = PGR_MAX_CONTEXT;
	memset(c->members[2].context, 'x', PGR_MAX_CONTEXT);
}

/* A MsgSnap whose data is len bytes of a pattern. */
static struct pgr_snapshot snap_fixture;

static void
make_snap_msg(struct pgr_msg *m, uint64_t len)
{
	free(snap_fixture.data);
	memset(&snap_fixture, 0, sizeof(snap_fixture));
	snap_fixture.meta.index = 1000;
	snap_fixture.meta.term = 9;
	make_config(&snap_fixture.meta.config);
	snap_fixture.len = len;
	snap_fixture.data = len > 0 ? malloc(len) : NULL;
	for (uint64_t i = 0; i < len; i++)
		snap_fixture.data[i] = (uint8_t) (i * 31 + (i >> 8));
	fill_msg(m, PGR_MSG_SNAP, 0);
	m->from = 1;
	m->to = 2;
	m->term = 9;
	m->snapshot = &snap_fixture;
}

#define MAX_CHUNKS 64

struct chunk_frames
{
	size_t n;
	uint8_t *frame[MAX_CHUNKS];
	size_t len[MAX_CHUNKS];
};

static void
chunk_frames_free(struct chunk_frames *cf)
{
	for (size_t i = 0; i < cf->n; i++)
		free(cf->frame[i]);
	cf->n = 0;
}

/* Cut msg's snapshot into chunk frames of at most max_data bytes. */
static bool
encode_chunks(const struct pgr_msg *msg, size_t max_data, struct chunk_frames *cf)
{
	static struct pgr_wire_snap_chunk c;
	uint64_t off = 0;

	cf->n = 0;
	do
	{
		size_t size;
		size_t written;

		if (cf->n == MAX_CHUNKS || pgr_wire_snap_chunk_next(msg, off, max_data, &c) != PGR_OK ||
			pgr_wire_snap_chunk_size(&c, &size) != PGR_OK)
			return false;
		cf->frame[cf->n] = malloc(size);
		if (pgr_wire_encode_snap_chunk(&c, cf->frame[cf->n], size, &written) != PGR_OK ||
			written != size)
			return false;
		cf->len[cf->n++] = size;
		off = c.offset + c.len;
	} while (off < msg->snapshot->len);
	return true;
}

static bool
config_equal(const struct pgr_config *a, const struct pgr_config *b)
{
	if (a->n_members != b->n_members)
		return false;
	for (uint32_t i = 0; i < a->n_members; i++)
		if (a->members[i].id != b->members[i].id || a->members[i].role != b->members[i].role ||
			a->members[i].context_len != b->members[i].context_len ||
			memcmp(a->members[i].context, b->members[i].context, a->members[i].context_len) != 0)
			return false;
	return true;
}

/*
 * Give every decoder the frame; whatever one accepts must re-encode to the
 * same bytes.  Returns false if that canonical-encoding rule is broken.
 */
static bool
decode_everything(const uint8_t *frame, size_t len)
{
	struct pgr_msg m;
	static struct pgr_wire_snap_chunk c;
	struct pgr_wire_handshake hs;
	uint8_t *buf;
	size_t size;
	size_t written;
	bool ok = true;

	if (pgr_wire_decode_msg(frame, len, &counting, &m) == PGR_OK)
	{
		buf = encode_exact(&m, &size);
		ok = buf != NULL && size == len && memcmp(buf, frame, len) == 0;
		free(buf);
		pgr_wire_msg_free(&counting, &m);
	}
	if (ok && pgr_wire_decode_snap_chunk(frame, len, &c) == PGR_OK)
	{
		ok = pgr_wire_snap_chunk_size(&c, &size) == PGR_OK && size == len;
		buf = malloc(len);
		ok = ok && pgr_wire_encode_snap_chunk(&c, buf, len, &written) == PGR_OK &&
			 memcmp(buf, frame, len) == 0;
		free(buf);
	}
	if (ok && pgr_wire_decode_handshake(frame, len, &hs) == PGR_OK &&
		hs.version == PGR_WIRE_VERSION)
	{
		uint8_t hbuf[PGR_WIRE_HANDSHAKE_MAX_FRAME];

		ok = pgr_wire_encode_handshake(&hs, hbuf, sizeof(hbuf), &written) == PGR_OK &&
			 written == len && memcmp(hbuf, frame, len) == 0;
	}
	return ok;
}

/* ---------------------------------------------------------------------- */
/* Messages: round trips                                                  */
/* ---------------------------------------------------------------------- */

static void
round_trip_all_types(uint64_t v)
{
	for (uint32_t t = PGR_MSG_APP; t <= PGR_MSG_TYPE_MAX; t++)
	{
		struct pgr_msg m;
		struct pgr_msg d;
		uint8_t *frame;
		size_t len;
		struct pgr_wire_frame fr;

		if (t == PGR_MSG_SNAP)
			continue;
		ca_reset();
		fill_msg(&m, t, v);
		frame = encode_exact(&m, &len);
		CHECK(frame != NULL);
		CHECK_EQ(pgr_wire_frame_check(frame, len, 0, &fr), PGR_WIRE_FRAME_READY);
		CHECK_EQ(fr.len, len);
		CHECK_EQ(fr.kind, PGR_WIRE_KIND_MSG);
		CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_OK);
		CHECK(msg_equal(&m, &d));
		CHECK(d.entries == NULL && d.snapshot == NULL);
		CHECK_EQ(ca.calls, 0); /* no entries: nothing allocated */
		pgr_wire_msg_free(&counting, &d);
		free(frame);
	}
}

static void
test_every_message_type_round_trips_with_zero_fields(void)
{
	round_trip_all_types(0);
}

static void
test_every_message_type_round_trips_with_max_fields(void)
{
	round_trip_all_types(UINT64_MAX);
}

static void
test_app_round_trips_empty_large_and_many_entries(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	struct pgr_entry *es;
	uint8_t *big;
	uint8_t *frame;
	size_t len;
	const uint32_t n = 1000;
	const uint32_t big_len = 4 * 1024 * 1024;

	ca_reset();
	big = malloc(big_len);
	es = calloc(n, sizeof(*es));
	for (uint32_t i = 0; i < big_len; i++)
		big[i] = (uint8_t) (i ^ (i >> 9));
	for (uint32_t i = 0; i < n; i++)
	{
		es[i].term = i == 0 ? UINT64_MAX : i;
		es[i].index = i == 1 ? UINT64_MAX : i + 1;
		es[i].type = i % 2 ? PGR_ENTRY_CONFIG : PGR_ENTRY_NORMAL;
		es[i].len = i % 3 == 0 ? 0 : i;
		es[i].data = es[i].len > 0 ? big : NULL;
	}
	es[n - 1].len = big_len; /* one large entry at the end */
	es[n - 1].data = big;
	fill_msg(&m, PGR_MSG_APP, 3);
	m.n_entries = n;
	m.entries = es;

	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_OK);
	CHECK(msg_equal(&m, &d));
	CHECK(d.entries[0].data == NULL); /* empty entries have no data pointer */
	/* Entry data is not copied: it points into the frame. */
	CHECK(d.entries[n - 1].data >= frame && d.entries[n - 1].data + big_len <= frame + len);
	CHECK_EQ(ca.outstanding, 1);
	pgr_wire_msg_free(&counting, &d);
	CHECK_EQ(ca.outstanding, 0);
	CHECK(d.entries == NULL && d.n_entries == 0);
	free(frame);
	free(es);
	free(big);
}

static void
test_prop_carries_conf_change_entries(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	struct pgr_entry e;
	uint8_t cc[] = {1, 2, 3};
	uint8_t *frame;
	size_t len;

	ca_reset();
	fill_msg(&m, PGR_MSG_PROP, 2);
	memset(&e, 0, sizeof(e));
	e.type = PGR_ENTRY_CONF_CHANGE;
	e.len = sizeof(cc);
	e.data = cc;
	m.n_entries = 1;
	m.entries = &e;
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_OK);
	CHECK(msg_equal(&m, &d));
	pgr_wire_msg_free(&counting, &d);
	free(frame);

	/* The same entry in MsgApp is not something the log can hold. */
	m.type = PGR_MSG_APP;
	CHECK_EQ(pgr_wire_msg_size(&m, &len), PGR_EINVAL);
}

/* The layout of docs/wire.md, byte for byte: catches accidental changes. */
static void
test_heartbeat_encodes_to_the_documented_bytes(void)
{
	static const uint8_t expect[] = {/* header: body_len 62, version 4, kind 2, flags 0 */
									 62, 0, 0, 0, 4, 2, 0, 0,
									 /* type 7 (MsgHeartbeat), flags: reject */
									 7, 1,
									 /* from 0x0102, to 3, term 0x1122334455667788 */
									 0x02, 0x01, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0x88,
									 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
									 /* log_term 0, index 0, commit 9, context 0xff.. */
									 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0,
									 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
									 /* n_entries 0 */
									 0, 0, 0, 0};
	struct pgr_msg m;
	uint8_t *frame;
	size_t len;

	memset(&m, 0, sizeof(m));
	m.type = PGR_MSG_HEARTBEAT;
	m.reject = true;
	m.from = 0x0102;
	m.to = 3;
	m.term = 0x1122334455667788ULL;
	m.commit = 9;
	m.context = UINT64_MAX;
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	CHECK_EQ(len, sizeof(expect));
	CHECK(memcmp(frame, expect, len) == 0);
	free(frame);
}

/* ---------------------------------------------------------------------- */
/* Messages: refusals                                                     */
/* ---------------------------------------------------------------------- */

static void
test_every_truncation_of_a_valid_frame_is_refused(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	uint8_t *frame;
	size_t len;

	ca_reset();
	make_app(&m);
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	for (size_t k = 0; k < len; k++)
	{
		uint8_t *p = copy_exact(frame, k);
		struct pgr_wire_frame fr;

		CHECK_EQ(pgr_wire_frame_check(k ? p : NULL, k, 0, &fr), PGR_WIRE_NEED_MORE);
		/* Once the header is in, the framer knows the whole length. */
		CHECK_EQ(fr.len, k < PGR_WIRE_HEADER_SIZE ? PGR_WIRE_HEADER_SIZE : len);
		CHECK_EQ(pgr_wire_decode_msg(p, k, &counting, &d), PGR_EBADMSG);
		CHECK(d.entries == NULL && d.n_entries == 0);
		free(p);
	}
	CHECK_EQ(ca.outstanding, 0);
	free(frame);
}

static void
test_truncated_body_with_consistent_length_is_refused(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	uint8_t *frame;
	size_t len;

	/* Cut the body and fix up body_len: each shorter body must still fail. */
	ca_reset();
	make_app(&m);
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	for (size_t k = PGR_WIRE_HEADER_SIZE; k < len; k++)
	{
		uint8_t *p = copy_exact(frame, k);

		p[0] = (uint8_t) (k - PGR_WIRE_HEADER_SIZE);
		p[1] = (uint8_t) ((k - PGR_WIRE_HEADER_SIZE) >> 8);
		CHECK_EQ(pgr_wire_decode_msg(p, k, &counting, &d), PGR_EBADMSG);
		free(p);
	}
	CHECK_EQ(ca.outstanding, 0);
	free(frame);
}

static void
test_trailing_bytes_are_refused(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	uint8_t *frame;
	uint8_t *longer;
	size_t len;
	struct pgr_wire_frame fr;

	make_app(&m);
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	longer = malloc(len + 1);
	memcpy(longer, frame, len);
	longer[len] = 0;
	/* The framer cuts the frame off the stream ... */
	CHECK_EQ(pgr_wire_frame_check(longer, len + 1, 0, &fr), PGR_WIRE_FRAME_READY);
	CHECK_EQ(fr.len, len);
	/* ... but a decoder handed more than one frame refuses it. */
	CHECK_EQ(pgr_wire_decode_msg(longer, len + 1, &counting, &d), PGR_EBADMSG);
	/* And a body_len that covers a stray byte after the last entry, too. */
	longer[0]++;
	CHECK_EQ(pgr_wire_decode_msg(longer, len + 1, &counting, &d), PGR_EBADMSG);
	free(longer);
	free(frame);
}

static void
test_bit_flips_are_refused_or_decode_canonically(void)
{
	struct pgr_msg m;
	uint8_t *frame;
	size_t len;
	size_t accepted = 0;

	ca_reset();
	make_app(&m);
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	for (size_t bit = 0; bit < len * 8; bit++)
	{
		uint8_t *p = copy_exact(frame, len);
		struct pgr_msg d;

		p[bit / 8] ^= (uint8_t) (1 << (bit % 8));
		CHECK(decode_everything(p, len));
		if (pgr_wire_decode_msg(p, len, &counting, &d) == PGR_OK)
		{
			accepted++;
			pgr_wire_msg_free(&counting, &d);
		}
		free(p);
	}
	/* Flips in the u64 fields and data are still valid messages. */
	CHECK(accepted > 0 && accepted < len * 8);
	CHECK_EQ(ca.outstanding, 0);
	free(frame);
}

static void
test_forged_entry_count_allocates_nothing(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	uint8_t *frame;
	size_t len;
	size_t count_at = PGR_WIRE_HEADER_SIZE + 58;

	ca_reset();
	make_app(&m);
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	CHECK_EQ(frame[count_at], 3);
	memset(frame + count_at, 0xff, 4); /* n_entries = 2^32 - 1 */
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	CHECK_EQ(ca.calls, 0);
	CHECK_EQ(ca.largest, 0);
	/* Just one too many for the bytes present: still nothing allocated. */
	frame[count_at] = 4;
	memset(frame + count_at + 1, 0, 3);
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	CHECK_EQ(ca.outstanding, 0);
	free(frame);
}

static void
test_forged_entry_length_is_refused(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	struct pgr_entry e;
	uint8_t data[4] = {1, 2, 3, 4};
	uint8_t *frame;
	size_t len;
	size_t elen_at = PGR_WIRE_HEADER_SIZE + 62 + 17;

	ca_reset();
	fill_msg(&m, PGR_MSG_APP, 1);
	memset(&e, 0, sizeof(e));
	e.len = sizeof(data);
	e.data = data;
	m.n_entries = 1;
	m.entries = &e;
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	CHECK_EQ(frame[elen_at], 4);
	memset(frame + elen_at, 0xff, 4);
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	frame[elen_at] = 5;
	memset(frame + elen_at + 1, 0, 3);
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	frame[elen_at] = 3; /* shorter: leaves a trailing byte */
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	CHECK_EQ(ca.outstanding, 0);
	free(frame);
}

static void
test_frame_check_splits_a_stream(void)
{
	struct pgr_msg m;
	uint8_t *a;
	uint8_t *b;
	uint8_t *stream;
	size_t la;
	size_t lb;
	struct pgr_wire_frame fr;

	fill_msg(&m, PGR_MSG_VOTE, 4);
	a = encode_exact(&m, &la);
	make_app(&m);
	b = encode_exact(&m, &lb);
	CHECK(a != NULL && b != NULL);
	stream = malloc(la + lb);
	memcpy(stream, a, la);
	memcpy(stream + la, b, lb);
	CHECK_EQ(pgr_wire_frame_check(stream, la + lb, 0, &fr), PGR_WIRE_FRAME_READY);
	CHECK_EQ(fr.len, la);
	CHECK_EQ(pgr_wire_frame_check(stream + la, lb, 0, &fr), PGR_WIRE_FRAME_READY);
	CHECK_EQ(fr.len, lb);
	CHECK_EQ(pgr_wire_frame_check(stream + la, lb - 1, 0, &fr), PGR_WIRE_NEED_MORE);
	CHECK_EQ(fr.len, lb);
	CHECK_EQ(pgr_wire_frame_check(NULL, 0, 0, &fr), PGR_WIRE_NEED_MORE);
	CHECK_EQ(fr.len, PGR_WIRE_HEADER_SIZE);
	free(stream);
	free(a);
	free(b);
}

static void
test_oversize_frames_are_refused(void)
{
	uint8_t hdr[PGR_WIRE_HEADER_SIZE] = {0, 0, 0, 0, PGR_WIRE_VERSION, PGR_WIRE_KIND_MSG, 0, 0};
	struct pgr_wire_frame fr;
	struct pgr_msg m;
	struct pgr_msg d;
	struct pgr_entry e;
	size_t size;
	uint8_t *huge;

	/* A declared length past the caller's limit, at any point. */
	hdr[0] = 100 - PGR_WIRE_HEADER_SIZE;
	CHECK_EQ(pgr_wire_frame_check(hdr, sizeof(hdr), 100, &fr), PGR_WIRE_NEED_MORE);
	hdr[0]++;
	CHECK_EQ(pgr_wire_frame_check(hdr, sizeof(hdr), 100, &fr), PGR_WIRE_FRAME_TOO_BIG);
	/* 0 and anything above the hard limit mean the hard limit. */
	memset(hdr, 0xff, 4);
	CHECK_EQ(pgr_wire_frame_check(hdr, sizeof(hdr), 0, &fr), PGR_WIRE_FRAME_TOO_BIG);
	CHECK_EQ(pgr_wire_frame_check(hdr, sizeof(hdr), SIZE_MAX, &fr), PGR_WIRE_FRAME_TOO_BIG);
	{
		uint32_t body = (uint32_t) (PGR_WIRE_MAX_FRAME - PGR_WIRE_HEADER_SIZE);

		for (int i = 0; i < 4; i++)
			hdr[i] = (uint8_t) (body >> (8 * i));
		CHECK_EQ(pgr_wire_frame_check(hdr, sizeof(hdr), 0, &fr), PGR_WIRE_NEED_MORE);
		CHECK_EQ(fr.len, PGR_WIRE_MAX_FRAME);
		body++;
		for (int i = 0; i < 4; i++)
			hdr[i] = (uint8_t) (body >> (8 * i));
		CHECK_EQ(pgr_wire_frame_check(hdr, sizeof(hdr), 0, &fr), PGR_WIRE_FRAME_TOO_BIG);
	}

	/* Encoding an entry that cannot fit a frame. */
	fill_msg(&m, PGR_MSG_APP, 1);
	memset(&e, 0, sizeof(e));
	e.len = (uint32_t) PGR_WIRE_MAX_FRAME;
	e.data = hdr; /* never read: the size check comes first */
	m.n_entries = 1;
	m.entries = &e;
	CHECK_EQ(pgr_wire_msg_size(&m, &size), PGR_ETOOBIG);
	CHECK_EQ(pgr_wire_encode_msg(&m, hdr, sizeof(hdr), &size), PGR_ETOOBIG);
	/* The largest entry that is promised to fit does fit. */
	e.len = PGR_WIRE_MAX_ENTRY_DATA;
	CHECK_EQ(pgr_wire_msg_size(&m, &size), PGR_OK);
	CHECK(size <= PGR_WIRE_MAX_FRAME);

	/* A decoder given more than the hard limit refuses before looking. */
	huge = calloc(1, PGR_WIRE_MAX_FRAME + 1);
	CHECK(huge != NULL);
	CHECK_EQ(pgr_wire_decode_msg(huge, PGR_WIRE_MAX_FRAME + 1, &counting, &d), PGR_ETOOBIG);
	free(huge);
}

/*
 * The quiet flag (version 4) belongs to a MsgApp without entries only: it
 * round-trips there and is refused, both ways, anywhere else.
 */
static void
test_quiet_flag_only_on_an_append_without_entries(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	uint8_t *frame;
	size_t len;

	memset(&m, 0, sizeof(m));
	m.type = PGR_MSG_APP;
	m.from = 1;
	m.to = 2;
	m.term = 3;
	m.index = 9;
	m.log_term = 3;
	m.commit = 9;
	m.quiet = true;
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	CHECK_EQ(frame[PGR_WIRE_HEADER_SIZE + 1], 0x04);
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_OK);
	CHECK(d.quiet);
	CHECK_EQ(d.index, 9);
	pgr_wire_msg_free(&counting, &d);

	/* on an answer, or an append that carries entries: refused */
	frame[PGR_WIRE_HEADER_SIZE] = PGR_MSG_APP_RESP;
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	free(frame);
	make_app(&m);
	m.reject = false;
	m.force = false;
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	frame[PGR_WIRE_HEADER_SIZE + 1] |= 0x04;
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	free(frame);
	m.quiet = true;
	CHECK_EQ(pgr_wire_msg_size(&m, &len), PGR_EINVAL);
	m.quiet = false;
	m.type = PGR_MSG_HEARTBEAT;
	m.n_entries = 0;
	m.quiet = true;
	CHECK_EQ(pgr_wire_msg_size(&m, &len), PGR_EINVAL);
}

static void
test_unknown_versions_kinds_and_flags_are_refused(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	uint8_t *frame;
	size_t len;
	struct pgr_wire_frame fr;

	fill_msg(&m, PGR_MSG_APP_RESP, 5);
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);

	frame[4] = 1; /* a version we do not speak (any more) */
	CHECK_EQ(pgr_wire_frame_check(frame, len, 0, &fr), PGR_WIRE_FRAME_BAD);
	CHECK_EQ(fr.version, 1);
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	frame[4] = 0;
	CHECK_EQ(pgr_wire_frame_check(frame, len, 0, &fr), PGR_WIRE_FRAME_BAD);
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	frame[4] = PGR_WIRE_VERSION;

	for (int kind = 0; kind < 256; kind++)
	{
		frame[5] = (uint8_t) kind;
		/* (a ping has no body, a refusal one byte: this frame's is neither) */
		if ((kind >= PGR_WIRE_KIND_HANDSHAKE && kind <= PGR_WIRE_KIND_SNAP_CHUNK) ||
			(kind >= PGR_WIRE_KIND_AUTH_HELLO && kind <= PGR_WIRE_KIND_AUTH_PROOF))
			CHECK_EQ(pgr_wire_frame_check(frame, len, 0, &fr), PGR_WIRE_FRAME_READY);
		else
			CHECK_EQ(pgr_wire_frame_check(frame, len, 0, &fr), PGR_WIRE_FRAME_BAD);
		if (kind != PGR_WIRE_KIND_MSG)
			CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	}
	frame[5] = PGR_WIRE_KIND_MSG;

	frame[7] = 0x80; /* header flags are 0 in version 4 */
	CHECK_EQ(pgr_wire_frame_check(frame, len, 0, &fr), PGR_WIRE_FRAME_BAD);
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	frame[7] = 0;

	for (int bit = 2; bit < 8; bit++)
	{
		frame[PGR_WIRE_HEADER_SIZE + 1] = (uint8_t) (1 << bit);
		CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	}
	frame[PGR_WIRE_HEADER_SIZE + 1] = 0;
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_OK);
	free(frame);
}

static void
test_unknown_message_and_entry_types_are_refused(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	struct pgr_entry e;
	uint8_t *frame;
	size_t len;
	size_t etype_at = PGR_WIRE_HEADER_SIZE + 62 + 16;

	ca_reset();
	fill_msg(&m, PGR_MSG_TIMEOUT_NOW, 1);
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	for (int t = 0; t < 256; t++)
	{
		frame[PGR_WIRE_HEADER_SIZE] = (uint8_t) t;
		if (t >= PGR_MSG_APP && t <= PGR_MSG_TYPE_MAX && t != PGR_MSG_SNAP)
		{
			CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_OK);
			CHECK_EQ(d.type, t);
		}
		else
			CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	}
	free(frame);

	fill_msg(&m, PGR_MSG_APP, 1);
	memset(&e, 0, sizeof(e));
	m.n_entries = 1;
	m.entries = &e;
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	for (int t = 0; t < 256; t++)
	{
		frame[etype_at] = (uint8_t) t;
		CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d),
				 t <= PGR_ENTRY_CONFIG ? PGR_OK : PGR_EBADMSG);
		pgr_wire_msg_free(&counting, &d);
	}
	CHECK_EQ(ca.outstanding, 0);
	free(frame);

	/* Unknown types cannot be encoded either. */
	fill_msg(&m, 0, 1);
	CHECK_EQ(pgr_wire_msg_size(&m, &len), PGR_EINVAL);
	m.type = PGR_MSG_TYPE_MAX + 1;
	CHECK_EQ(pgr_wire_msg_size(&m, &len), PGR_EINVAL);
	fill_msg(&m, PGR_MSG_APP, 1);
	e.type = 3;
	m.n_entries = 1;
	m.entries = &e;
	CHECK_EQ(pgr_wire_msg_size(&m, &len), PGR_EINVAL);
}

static void
test_entries_on_types_without_entries_are_refused(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	uint8_t *frame;
	size_t len;
	struct pgr_entry e;

	ca_reset();
	make_app(&m);
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	for (int t = PGR_MSG_APP; t <= PGR_MSG_TYPE_MAX; t++)
	{
		frame[PGR_WIRE_HEADER_SIZE] = (uint8_t) t;
		if (t == PGR_MSG_APP || t == PGR_MSG_PROP)
		{
			CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_OK);
			pgr_wire_msg_free(&counting, &d);
		}
		else
			CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_EBADMSG);
	}
	CHECK_EQ(ca.calls, 2);
	CHECK_EQ(ca.outstanding, 0);
	free(frame);

	memset(&e, 0, sizeof(e));
	fill_msg(&m, PGR_MSG_HEARTBEAT, 1);
	m.n_entries = 1;
	m.entries = &e;
	CHECK_EQ(pgr_wire_msg_size(&m, &len), PGR_EINVAL);
}

static void
test_encode_refuses_invalid_messages(void)
{
	struct pgr_msg m;
	struct pgr_entry e;
	struct pgr_snapshot s;
	uint8_t buf[256];
	size_t len;
	size_t size;

	memset(&s, 0, sizeof(s));
	memset(&e, 0, sizeof(e));

	fill_msg(&m, PGR_MSG_SNAP, 1);
	m.snapshot = &s;
	CHECK_EQ(pgr_wire_msg_size(&m, &len), PGR_EINVAL); /* chunks only */
	fill_msg(&m, PGR_MSG_HEARTBEAT, 1);
	m.snapshot = &s;
	CHECK_EQ(pgr_wire_encode_msg(&m, buf, sizeof(buf), &len), PGR_EINVAL);

	fill_msg(&m, PGR_MSG_APP, 1);
	m.n_entries = 2; /* but no entries array */
	CHECK_EQ(pgr_wire_msg_size(&m, &len), PGR_EINVAL);
	m.n_entries = 1;
	m.entries = &e;
	e.len = 5; /* but no data */
	CHECK_EQ(pgr_wire_msg_size(&m, &len), PGR_EINVAL);
	e.len = 0;

	/* A buffer one byte short is refused, whatever the exact size is. */
	CHECK_EQ(pgr_wire_msg_size(&m, &size), PGR_OK);
	CHECK_EQ(pgr_wire_encode_msg(&m, buf, size - 1, &len), PGR_EINVAL);
	CHECK_EQ(pgr_wire_encode_msg(&m, NULL, size, &len), PGR_EINVAL);
	CHECK_EQ(pgr_wire_encode_msg(&m, buf, size, &len), PGR_OK);
	CHECK_EQ(len, size);
}

static void
test_decode_reports_out_of_memory_without_leaking(void)
{
	struct pgr_msg m;
	struct pgr_msg d;
	uint8_t *frame;
	size_t len;

	make_app(&m);
	frame = encode_exact(&m, &len);
	CHECK(frame != NULL);
	ca_reset();
	ca.fail_after = 0;
	CHECK_EQ(pgr_wire_decode_msg(frame, len, &counting, &d), PGR_ENOMEM);
	CHECK(d.entries == NULL && d.n_entries == 0);
	CHECK_EQ(ca.outstanding, 0);
	free(frame);
}

static void
test_decoder_refuses_other_frame_kinds(void)
{
	struct pgr_wire_handshake hs;
	struct pgr_msg d;
	static struct pgr_wire_snap_chunk c;
	uint8_t buf[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	size_t len;

	CHECK_EQ(pgr_wire_handshake_init(&hs, 1, cluster_a, "a"), PGR_OK);
	CHECK_EQ(pgr_wire_encode_handshake(&hs, buf, sizeof(buf), &len), PGR_OK);
	CHECK_EQ(pgr_wire_decode_msg(buf, len, &counting, &d), PGR_EBADMSG);
	CHECK_EQ(pgr_wire_decode_snap_chunk(buf, len, &c), PGR_EBADMSG);
	CHECK_EQ(pgr_wire_decode_msg(NULL, 0, &counting, &d), PGR_EBADMSG);
	CHECK_EQ(pgr_wire_decode_snap_chunk(NULL, 0, &c), PGR_EBADMSG);
	CHECK_EQ(pgr_wire_decode_handshake(NULL, 0, &hs), PGR_EBADMSG);
}

/* ---------------------------------------------------------------------- */
/* Handshake                                                              */
/* ---------------------------------------------------------------------- */

static void
test_handshake_round_trips(void)
{
	struct pgr_wire_handshake hs;
	struct pgr_wire_handshake d;
	uint8_t buf[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	char name[PGR_WIRE_CLUSTER_NAME_MAX + 1];
	size_t len;
	struct pgr_wire_frame fr;

	memset(name, '~', PGR_WIRE_CLUSTER_NAME_MAX);
	name[PGR_WIRE_CLUSTER_NAME_MAX] = '\0';
	CHECK_EQ(pgr_wire_handshake_init(&hs, UINT64_MAX, cluster_a, name), PGR_OK);
	CHECK_EQ(pgr_wire_encode_handshake(&hs, buf, sizeof(buf), &len), PGR_OK);
	CHECK(len <= PGR_WIRE_HANDSHAKE_MAX_FRAME);
	CHECK_EQ(pgr_wire_frame_check(buf, len, PGR_WIRE_HANDSHAKE_MAX_FRAME, &fr),
			 PGR_WIRE_FRAME_READY);
	CHECK_EQ(fr.kind, PGR_WIRE_KIND_HANDSHAKE);
	CHECK_EQ(pgr_wire_decode_handshake(buf, len, &d), PGR_OK);
	CHECK_EQ(d.version, PGR_WIRE_VERSION);
	CHECK_EQ(d.node_id, UINT64_MAX);
	CHECK(memcmp(d.cluster_id, cluster_a, sizeof(cluster_a)) == 0);
	CHECK_EQ(d.name_len, PGR_WIRE_CLUSTER_NAME_MAX);
	CHECK(strcmp(d.cluster_name, name) == 0);
	CHECK_EQ(pgr_wire_handshake_compare(&hs, &d, PGR_NONE), PGR_WIRE_HS_SELF);

	/* Every truncation is refused. */
	for (size_t k = 0; k < len; k++)
	{
		uint8_t *p = copy_exact(buf, k);

		CHECK_EQ(pgr_wire_decode_handshake(p, k, &d), PGR_EBADMSG);
		CHECK_EQ(pgr_wire_frame_check(k ? p : NULL, k, 0, &fr), PGR_WIRE_NEED_MORE);
		free(p);
	}
	/* A small buffer is refused, not overrun. */
	CHECK_EQ(pgr_wire_encode_handshake(&hs, buf, len - 1, &len), PGR_EINVAL);
}

static void
test_handshake_mismatch_names_the_reason(void)
{
	struct pgr_wire_handshake ours;
	struct pgr_wire_handshake peer;
	uint8_t other_id[PGR_WIRE_CLUSTER_ID_LEN];

	memcpy(other_id, cluster_a, sizeof(other_id));
	other_id[15] ^= 1;
	CHECK_EQ(pgr_wire_handshake_init(&ours, 1, cluster_a, "prod"), PGR_OK);

	CHECK_EQ(pgr_wire_handshake_init(&peer, 2, cluster_a, "prod"), PGR_OK);
	CHECK_EQ(pgr_wire_handshake_compare(&ours, &peer, 2), PGR_WIRE_HS_OK);
	CHECK_EQ(pgr_wire_handshake_compare(&ours, &peer, PGR_NONE), PGR_WIRE_HS_OK);
	CHECK_EQ(pgr_wire_handshake_compare(&ours, &peer, 3), PGR_WIRE_HS_OTHER_NODE);

	peer.version = PGR_WIRE_VERSION + 1;
	CHECK_EQ(pgr_wire_handshake_compare(&ours, &peer, 2), PGR_WIRE_HS_OTHER_VERSION);

	/* Version is reported first, even when the cluster differs too. */
	CHECK_EQ(pgr_wire_handshake_init(&peer, 2, other_id, "test"), PGR_OK);
	peer.version = PGR_WIRE_VERSION + 1;
	CHECK_EQ(pgr_wire_handshake_compare(&ours, &peer, 2), PGR_WIRE_HS_OTHER_VERSION);

	CHECK_EQ(pgr_wire_handshake_init(&peer, 2, other_id, "prod"), PGR_OK);
	CHECK_EQ(pgr_wire_handshake_compare(&ours, &peer, 2), PGR_WIRE_HS_OTHER_CLUSTER);
	CHECK_EQ(pgr_wire_handshake_init(&peer, 2, cluster_a, "prod2"), PGR_OK);
	CHECK_EQ(pgr_wire_handshake_compare(&ours, &peer, 2), PGR_WIRE_HS_OTHER_CLUSTER);
	CHECK_EQ(pgr_wire_handshake_init(&peer, 2, cluster_a, "Prod"), PGR_OK);
	CHECK_EQ(pgr_wire_handshake_compare(&ours, &peer, 2), PGR_WIRE_HS_OTHER_CLUSTER);

	CHECK_EQ(pgr_wire_handshake_init(&peer, 1, cluster_a, "prod"), PGR_OK);
	CHECK_EQ(pgr_wire_handshake_compare(&ours, &peer, PGR_NONE), PGR_WIRE_HS_SELF);

	/* Each reason has its own message. */
	CHECK(strcmp(pgr_wire_hs_result_str(PGR_WIRE_HS_OTHER_VERSION),
				 pgr_wire_hs_result_str(PGR_WIRE_HS_OTHER_CLUSTER)) != 0);
	CHECK(strstr(pgr_wire_hs_result_str(PGR_WIRE_HS_OTHER_VERSION), "version") != NULL);
	CHECK(strstr(pgr_wire_hs_result_str(PGR_WIRE_HS_OTHER_CLUSTER), "cluster") != NULL);
}

static void
test_handshake_of_a_newer_version_is_decoded_for_its_version(void)
{
	struct pgr_wire_handshake ours;
	struct pgr_wire_handshake peer;
	struct pgr_wire_handshake d;
	uint8_t buf[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	size_t len;
	struct pgr_wire_frame fr;

	CHECK_EQ(pgr_wire_handshake_init(&ours, 1, cluster_a, "prod"), PGR_OK);
	CHECK_EQ(pgr_wire_handshake_init(&peer, 2, cluster_a, "prod"), PGR_OK);
	peer.version = 7;
	CHECK_EQ(pgr_wire_encode_handshake(&peer, buf, sizeof(buf), &len), PGR_OK);
	/* A future version appends a field and sets a header flag. */
	memcpy(buf + len, "\xaa\xbb\xcc", 3);
	len += 3;
	buf[0] += 3;
	buf[6] = 1;
	CHECK_EQ(pgr_wire_frame_check(buf, len, PGR_WIRE_HANDSHAKE_MAX_FRAME, &fr),
			 PGR_WIRE_FRAME_READY);
	CHECK_EQ(fr.version, 7);
	CHECK_EQ(pgr_wire_decode_handshake(buf, len, &d), PGR_OK);
	CHECK_EQ(d.version, 7);
	CHECK_EQ(d.node_id, 2);
	CHECK_EQ(pgr_wire_handshake_compare(&ours, &d, 2), PGR_WIRE_HS_OTHER_VERSION);

	/* In a handshake of our version, fields other than ours are garbage. */
	buf[4] = PGR_WIRE_VERSION;
	CHECK_EQ(pgr_wire_decode_handshake(buf, len, &d), PGR_EBADMSG);
	buf[6] = 0;
	CHECK_EQ(pgr_wire_decode_handshake(buf, len, &d), PGR_EBADMSG);
	buf[0] -= 3;
	CHECK_EQ(pgr_wire_decode_handshake(buf, len - 3, &d), PGR_EBADMSG);
}

/*
 * Our version carries each side's timing, so a node can say when they
 * differ, and its latest configuration's index.
 */
static void
test_handshake_carries_the_timing_and_the_configuration_index(void)
{
	struct pgr_wire_handshake hs;
	struct pgr_wire_handshake d;
	uint8_t buf[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	size_t len;

	CHECK_EQ(pgr_wire_handshake_init(&hs, 3, cluster_a, "prod"), PGR_OK);
	CHECK_EQ(hs.heartbeat_ms, 0);
	hs.heartbeat_ms = 100;
	hs.election_ms = 1000;
	hs.config_index = 0x0102030405060708ULL;
	CHECK_EQ(pgr_wire_encode_handshake(&hs, buf, sizeof(buf), &len), PGR_OK);
	CHECK_EQ(len, PGR_WIRE_HEADER_SIZE + 4 + 8 + 16 + 1 + 4 + 8 + 8);
	CHECK_EQ(pgr_wire_decode_handshake(buf, len, &d), PGR_OK);
	CHECK_EQ(d.heartbeat_ms, 100);
	CHECK_EQ(d.election_ms, 1000);
	CHECK_EQ(d.config_index, 0x0102030405060708ULL);
	/* cut into the index: refused */
	buf[0] -= 4;
	CHECK_EQ(pgr_wire_decode_handshake(buf, len - 4, &d), PGR_EBADMSG);
	/* a version 1 peer sent none: decoded, timing unknown, version named */
	buf[4] = 1;
	buf[0] -= 12;
	CHECK_EQ(pgr_wire_decode_handshake(buf, len - 16, &d), PGR_OK);
	CHECK_EQ(d.version, 1);
	CHECK_EQ(d.heartbeat_ms, 0);
}

/* A ping is a bare header; one with a body is garbage. */
static void
test_ping_is_a_bare_header(void)
{
	uint8_t buf[PGR_WIRE_HEADER_SIZE + 1];
	struct pgr_wire_frame fr;

	pgr_wire_encode_ping(buf);
	CHECK_EQ(pgr_wire_frame_check(buf, PGR_WIRE_HEADER_SIZE, 0, &fr), PGR_WIRE_FRAME_READY);
	CHECK_EQ(fr.kind, PGR_WIRE_KIND_PING);
	CHECK_EQ(fr.len, PGR_WIRE_HEADER_SIZE);
	buf[0] = 1;
	CHECK_EQ(pgr_wire_frame_check(buf, sizeof(buf), 0, &fr), PGR_WIRE_FRAME_BAD);
}

static void
test_handshake_refuses_invalid_fields(void)
{
	struct pgr_wire_handshake hs;
	struct pgr_wire_handshake d;
	uint8_t buf[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	uint8_t bad[PGR_WIRE_HANDSHAKE_MAX_FRAME + 1];
	size_t len;
	char long_name[PGR_WIRE_CLUSTER_NAME_MAX + 2];
	const size_t node_at = PGR_WIRE_HEADER_SIZE + 4;
	const size_t name_len_at = PGR_WIRE_HEADER_SIZE + 4 + 8 + 16;

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	CHECK_EQ(pgr_wire_handshake_init(&hs, 1, cluster_a, long_name), PGR_EINVAL);
	CHECK_EQ(pgr_wire_handshake_init(&hs, 1, cluster_a, ""), PGR_EINVAL);
	CHECK_EQ(pgr_wire_handshake_init(&hs, 1, cluster_a, "tab\there"), PGR_EINVAL);
	CHECK_EQ(pgr_wire_handshake_init(&hs, 1, cluster_a, "caf\xc3\xa9"), PGR_EINVAL);
	CHECK_EQ(pgr_wire_handshake_init(&hs, PGR_NONE, cluster_a, "a"), PGR_EINVAL);
	CHECK_EQ(pgr_wire_handshake_init(&hs, 1, cluster_a, NULL), PGR_EINVAL);

	CHECK_EQ(pgr_wire_handshake_init(&hs, 5, cluster_a, "abc"), PGR_OK);
	CHECK_EQ(pgr_wire_encode_handshake(&hs, buf, sizeof(buf), &len), PGR_OK);
	CHECK_EQ(pgr_wire_decode_handshake(buf, len, &d), PGR_OK);

	memcpy(bad, buf, len);
	bad[PGR_WIRE_HEADER_SIZE] = 'X'; /* magic */
	CHECK_EQ(pgr_wire_decode_handshake(bad, len, &d), PGR_EBADMSG);
	memcpy(bad, buf, len);
	memset(bad + node_at, 0, 8); /* node 0 */
	CHECK_EQ(pgr_wire_decode_handshake(bad, len, &d), PGR_EBADMSG);
	memcpy(bad, buf, len);
	bad[name_len_at] = 0; /* empty name (and 3 trailing bytes) */
	CHECK_EQ(pgr_wire_decode_handshake(bad, len, &d), PGR_EBADMSG);
	memcpy(bad, buf, len);
	bad[name_len_at] = 4; /* name runs past the frame */
	CHECK_EQ(pgr_wire_decode_handshake(bad, len, &d), PGR_EBADMSG);
	memcpy(bad, buf, len);
	bad[name_len_at + 2] = '\n'; /* control character */
	CHECK_EQ(pgr_wire_decode_handshake(bad, len, &d), PGR_EBADMSG);
	memcpy(bad, buf, len);
	bad[name_len_at + 2] = 0; /* NUL inside the name */
	CHECK_EQ(pgr_wire_decode_handshake(bad, len, &d), PGR_EBADMSG);
	memcpy(bad, buf, len);
	bad[4] = 0; /* version 0 */
	CHECK_EQ(pgr_wire_decode_handshake(bad, len, &d), PGR_EBADMSG);
	memcpy(bad, buf, len);
	bad[5] = PGR_WIRE_KIND_MSG; /* not a handshake */
	CHECK_EQ(pgr_wire_decode_handshake(bad, len, &d), PGR_EBADMSG);
	/* A handshake frame larger than any version's is refused. */
	CHECK_EQ(pgr_wire_decode_handshake(bad, PGR_WIRE_HANDSHAKE_MAX_FRAME + 1, &d), PGR_EBADMSG);
	CHECK(d.node_id == 0 && d.name_len == 0); /* nothing half-filled */
	for (size_t bit = 0; bit < len * 8; bit++)
	{
		uint8_t *p = copy_exact(buf, len);

		p[bit / 8] ^= (uint8_t) (1 << (bit % 8));
		CHECK(decode_everything(p, len));
		free(p);
	}
}

/* ---------------------------------------------------------------------- */
/* Snapshots                                                              */
/* ---------------------------------------------------------------------- */

/* Send a snapshot of len bytes in chunks of max_data and reassemble it. */
static void
snapshot_round_trip(uint64_t len, size_t max_data, size_t expect_chunks)
{
	struct pgr_msg m;
	struct pgr_msg out;
	struct chunk_frames cf;
	struct pgr_wire_snap_assembler a;
	bool complete = false;

	ca_reset();
	make_snap_msg(&m, len);
	CHECK(encode_chunks(&m, max_data, &cf));
	CHECK_EQ(cf.n, expect_chunks);
	pgr_wire_snap_assembler_init(&a, &counting, len);
	for (size_t i = 0; i < cf.n; i++)
	{
		struct pgr_wire_frame fr;

		CHECK_EQ(pgr_wire_frame_check(cf.frame[i], cf.len[i], 0, &fr), PGR_WIRE_FRAME_READY);
		CHECK_EQ(fr.kind, PGR_WIRE_KIND_SNAP_CHUNK);
		CHECK(!complete);
		CHECK_EQ(pgr_wire_snap_assembler_add(&a, cf.frame[i], cf.len[i], &out, &complete), PGR_OK);
	}
	CHECK(complete);
	CHECK(!a.active);
	CHECK(msg_equal(&m, &out));
	CHECK(out.snapshot != NULL && out.snapshot != m.snapshot);
	CHECK_EQ(out.snapshot->meta.index, 1000);
	CHECK_EQ(out.snapshot->meta.term, 9);
	CHECK(config_equal(&out.snapshot->meta.config, &m.snapshot->meta.config));
	CHECK_EQ(out.snapshot->len, len);
	CHECK((len == 0) == (out.snapshot->data == NULL));
	CHECK(len == 0 || memcmp(out.snapshot->data, m.snapshot->data, len) == 0);
	pgr_wire_msg_free(&counting, &out);
	CHECK(out.snapshot == NULL);
	CHECK_EQ(ca.outstanding, 0);
	chunk_frames_free(&cf);
}

static void
test_snapshot_round_trips_in_chunks(void)
{
	snapshot_round_trip(0, 100, 1);
	snapshot_round_trip(1, 100, 1);
	snapshot_round_trip(99, 100, 1);
	snapshot_round_trip(100, 100, 1);
	snapshot_round_trip(101, 100, 2);
	snapshot_round_trip(100000, 4096, 25);
	snapshot_round_trip(300000, 1 << 20, 1);
}

static void
test_snapshot_without_configuration_round_trips(void)
{
	struct pgr_msg m;
	struct pgr_msg out;
	struct chunk_frames cf;
	struct pgr_wire_snap_assembler a;
	bool complete;

	ca_reset();
	make_snap_msg(&m, 10);
	memset(&snap_fixture.meta.config, 0, sizeof(snap_fixture.meta.config));
	snap_fixture.meta.index = UINT64_MAX;
	snap_fixture.meta.term = UINT64_MAX;
	m.commit = UINT64_MAX;
	m.force = true;
	CHECK(encode_chunks(&m, 4, &cf));
	CHECK_EQ(cf.n, 3);
	pgr_wire_snap_assembler_init(&a, &counting, UINT64_MAX);
	for (size_t i = 0; i < cf.n; i++)
		CHECK_EQ(pgr_wire_snap_assembler_add(&a, cf.frame[i], cf.len[i], &out, &complete), PGR_OK);
	CHECK(complete);
	CHECK(msg_equal(&m, &out));
	CHECK_EQ(out.snapshot->meta.config.n_members, 0);
	CHECK_EQ(out.snapshot->meta.index, UINT64_MAX);
	pgr_wire_msg_free(&counting, &out);
	CHECK_EQ(ca.outstanding, 0);
	chunk_frames_free(&cf);
}

static void
test_snapshot_chunk_encoding_refuses_bad_arguments(void)
{
	struct pgr_msg m;
	static struct pgr_wire_snap_chunk c;
	size_t size;
	uint8_t buf[64];

	make_snap_msg(&m, 50);
	CHECK_EQ(pgr_wire_snap_chunk_next(&m, 50, 10, &c), PGR_EINVAL); /* at the end */
	CHECK_EQ(pgr_wire_snap_chunk_next(&m, 51, 10, &c), PGR_EINVAL);
	CHECK_EQ(pgr_wire_snap_chunk_next(&m, 0, 0, &c), PGR_EINVAL);
	m.type = PGR_MSG_APP;
	CHECK_EQ(pgr_wire_snap_chunk_next(&m, 0, 10, &c), PGR_EINVAL);
	m.type = PGR_MSG_SNAP;
	m.snapshot = NULL;
	CHECK_EQ(pgr_wire_snap_chunk_next(&m, 0, 10, &c), PGR_EINVAL);
	m.snapshot = &snap_fixture;

	CHECK_EQ(pgr_wire_snap_chunk_next(&m, 45, 10, &c), PGR_OK);
	CHECK_EQ(c.len, 5);
	CHECK_EQ(pgr_wire_snap_chunk_size(&c, &size), PGR_OK);
	CHECK_EQ(pgr_wire_encode_snap_chunk(&c, buf, sizeof(buf), &size), PGR_EINVAL); /* cap */
	c.len = 6;                                                                     /* past total */
	CHECK_EQ(pgr_wire_snap_chunk_size(&c, &size), PGR_EINVAL);
	c.len = 0; /* empty chunk of a non-empty snapshot */
	CHECK_EQ(pgr_wire_snap_chunk_size(&c, &size), PGR_EINVAL);
	c.len = 5;
	c.offset = UINT64_MAX - 2; /* offset + len overflows */
	CHECK_EQ(pgr_wire_snap_chunk_size(&c, &size), PGR_EINVAL);
	c.offset = 45;
	c.meta.config.members[1].id = 1; /* unsorted ids */
	CHECK_EQ(pgr_wire_snap_chunk_size(&c, &size), PGR_EINVAL);
}

/* Encode a chunk frame describing [offset, offset + len) of total. */
static uint8_t *
forge_chunk(const struct pgr_msg *m, uint64_t total, uint64_t offset, uint32_t len,
			size_t *frame_len)
{
	static struct pgr_wire_snap_chunk c;
	static uint8_t zeros[4096];
	size_t size;
	uint8_t *buf;

	memset(&c, 0, sizeof(c));
	c.msg = *m;
	c.msg.snapshot = NULL;
	c.meta = m->snapshot->meta;
	c.total = total;
	c.offset = offset;
	c.len = len;
	c.data = len > 0 ? zeros : NULL;
	if (len > sizeof(zeros) || pgr_wire_snap_chunk_size(&c, &size) != PGR_OK)
		return NULL;
	buf = malloc(size);
	if (pgr_wire_encode_snap_chunk(&c, buf, size, frame_len) != PGR_OK)
	{
		free(buf);
		return NULL;
	}
	return buf;
}

/* Offsets of chunk fields after the config, from the end of a frame. */
#define CHUNK_TAIL_TOTAL(flen, dlen)  ((flen) - (dlen) -20)
#define CHUNK_TAIL_OFFSET(flen, dlen) ((flen) - (dlen) -12)
#define CHUNK_TAIL_LEN(flen, dlen)    ((flen) - (dlen) -4)

static void
test_snapshot_chunk_decoding_checks_spans(void)
{
	struct pgr_msg m;
	static struct pgr_wire_snap_chunk c;
	uint8_t *f;
	size_t len;

	make_snap_msg(&m, 10);
	f = forge_chunk(&m, 10, 4, 6, &len);
	CHECK(f != NULL);
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_OK);
	CHECK_EQ(c.offset, 4);
	CHECK_EQ(c.len, 6);
	CHECK(c.data == f + len - 6);

	f[CHUNK_TAIL_TOTAL(len, 6)] = 9; /* offset + len > total */
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_EBADMSG);
	f[CHUNK_TAIL_TOTAL(len, 6)] = 10;
	memset(f + CHUNK_TAIL_OFFSET(len, 6), 0xff, 8); /* offset + len wraps */
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_EBADMSG);
	memset(f + CHUNK_TAIL_OFFSET(len, 6), 0, 8);
	f[CHUNK_TAIL_OFFSET(len, 6)] = 4;
	f[CHUNK_TAIL_LEN(len, 6)] = 5; /* len field disagrees with the frame */
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_EBADMSG);
	memset(f + CHUNK_TAIL_LEN(len, 6), 0xff, 4);
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_EBADMSG);
	f[CHUNK_TAIL_LEN(len, 6)] = 6;
	memset(f + CHUNK_TAIL_LEN(len, 6) + 1, 0, 3);
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_OK);

	f[PGR_WIRE_HEADER_SIZE] = PGR_MSG_APP; /* a chunk is always MsgSnap */
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_EBADMSG);
	f[PGR_WIRE_HEADER_SIZE] = PGR_MSG_SNAP;
	f[PGR_WIRE_HEADER_SIZE + 58] = 1; /* n_entries */
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_EBADMSG);
	f[PGR_WIRE_HEADER_SIZE + 58] = 0;
	f[PGR_WIRE_HEADER_SIZE + 62 + 16] ^= 0x80; /* config_len past the frame */
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_EBADMSG);
	f[PGR_WIRE_HEADER_SIZE + 62 + 16] ^= 0x80;
	f[PGR_WIRE_HEADER_SIZE + 62 + 20] = 9; /* config version */
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_EBADMSG);
	free(f);

	/* A chunk of no bytes exists only for an empty snapshot. */
	f = forge_chunk(&m, 0, 0, 0, &len);
	CHECK(f != NULL);
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_OK);
	f[CHUNK_TAIL_TOTAL(len, 0)] = 1;
	CHECK_EQ(pgr_wire_decode_snap_chunk(f, len, &c), PGR_EBADMSG);
	free(f);
}

static void
test_snapshot_chunk_truncations_and_bit_flips_are_handled(void)
{
	struct pgr_msg m;
	struct chunk_frames cf;

	ca_reset();
	make_snap_msg(&m, 40);
	CHECK(encode_chunks(&m, 40, &cf));
	CHECK_EQ(cf.n, 1);
	for (size_t k = 0; k < cf.len[0]; k++)
	{
		uint8_t *p = copy_exact(cf.frame[0], k);
		static struct pgr_wire_snap_chunk c;

		CHECK_EQ(pgr_wire_decode_snap_chunk(p, k, &c), PGR_EBADMSG);
		free(p);
	}
	for (size_t bit = 0; bit < cf.len[0] * 8; bit++)
	{
		uint8_t *p = copy_exact(cf.frame[0], cf.len[0]);
		struct pgr_wire_snap_assembler a;
		struct pgr_msg out;
		bool complete;

		p[bit / 8] ^= (uint8_t) (1 << (bit % 8));
		CHECK(decode_everything(p, cf.len[0]));
		pgr_wire_snap_assembler_init(&a, &counting, 1 << 20);
		if (pgr_wire_snap_assembler_add(&a, p, cf.len[0], &out, &complete) == PGR_OK && complete)
			pgr_wire_msg_free(&counting, &out);
		pgr_wire_snap_assembler_reset(&a);
		free(p);
	}
	CHECK_EQ(ca.outstanding, 0);
	chunk_frames_free(&cf);
}

/*
 * Feed chunks; the last one must fail with expect_err, after which the
 * assembler holds nothing.
 */
static void
expect_assembly_failure(struct pgr_wire_snap_assembler *a, uint8_t **frames, size_t *lens, size_t n,
						enum pgr_err expect_err)
{
	struct pgr_msg out;
	bool complete;

	for (size_t i = 0; i + 1 < n; i++)
	{
		CHECK_EQ(pgr_wire_snap_assembler_add(a, frames[i], lens[i], &out, &complete), PGR_OK);
		CHECK(!complete);
	}
	CHECK_EQ(pgr_wire_snap_assembler_add(a, frames[n - 1], lens[n - 1], &out, &complete),
			 expect_err);
	CHECK(!complete);
	CHECK(!a->active && a->buf == NULL && a->snap == NULL);
	CHECK_EQ(ca.outstanding, 0);
}

static void
test_assembler_refuses_out_of_order_chunks(void)
{
	struct pgr_msg m;
	struct chunk_frames cf;
	struct pgr_wire_snap_assembler a;
	uint8_t *f[3];
	size_t l[3];

	ca_reset();
	make_snap_msg(&m, 30);
	CHECK(encode_chunks(&m, 10, &cf));
	CHECK_EQ(cf.n, 3);
	pgr_wire_snap_assembler_init(&a, &counting, 1000);

	/* A transfer must start at offset 0. */
	f[0] = cf.frame[1];
	l[0] = cf.len[1];
	expect_assembly_failure(&a, f, l, 1, PGR_EBADMSG);
	/* A gap. */
	f[0] = cf.frame[0];
	l[0] = cf.len[0];
	f[1] = cf.frame[2];
	l[1] = cf.len[2];
	expect_assembly_failure(&a, f, l, 2, PGR_EBADMSG);
	/* A replayed chunk. */
	f[1] = cf.frame[1];
	l[1] = cf.len[1];
	f[2] = cf.frame[1];
	l[2] = cf.len[1];
	expect_assembly_failure(&a, f, l, 3, PGR_EBADMSG);
	/* A restart from offset 0 in the middle of a transfer. */
	f[2] = cf.frame[0];
	l[2] = cf.len[0];
	expect_assembly_failure(&a, f, l, 3, PGR_EBADMSG);
	/* After all that, an orderly transfer still completes. */
	{
		struct pgr_msg out;
		bool complete;

		for (size_t i = 0; i < 3; i++)
			CHECK_EQ(pgr_wire_snap_assembler_add(&a, cf.frame[i], cf.len[i], &out, &complete),
					 PGR_OK);
		CHECK(complete);
		CHECK(memcmp(out.snapshot->data, m.snapshot->data, 30) == 0);
		pgr_wire_msg_free(&counting, &out);
	}
	CHECK_EQ(ca.outstanding, 0);
	chunk_frames_free(&cf);
}

static void
test_assembler_refuses_a_changed_total_or_overflow(void)
{
	struct pgr_msg m;
	struct pgr_wire_snap_assembler a;
	uint8_t *f[2];
	size_t l[2];

	ca_reset();
	make_snap_msg(&m, 30);
	pgr_wire_snap_assembler_init(&a, &counting, 1000);

	f[0] = forge_chunk(&m, 30, 0, 10, &l[0]);
	f[1] = forge_chunk(&m, 31, 10, 10, &l[1]); /* total changed */
	CHECK(f[0] != NULL && f[1] != NULL);
	expect_assembly_failure(&a, f, l, 2, PGR_EBADMSG);
	free(f[1]);
	f[1] = forge_chunk(&m, 29, 10, 10, &l[1]); /* shrunk */
	expect_assembly_failure(&a, f, l, 2, PGR_EBADMSG);
	free(f[1]);

	/* A chunk running past the end cannot even be encoded: forge it. */
	f[1] = forge_chunk(&m, 30, 10, 10, &l[1]);
	CHECK(f[1] != NULL);
	f[1][CHUNK_TAIL_OFFSET(l[1], 10)] = 25;
	expect_assembly_failure(&a, f, l, 2, PGR_EBADMSG);
	free(f[1]);
	free(f[0]);
}

static void
test_assembler_refuses_a_changed_header_or_metadata(void)
{
	struct pgr_msg m;
	struct pgr_msg m2;
	struct pgr_wire_snap_assembler a;
	uint8_t *f[2];
	size_t l[2];

	ca_reset();
	make_snap_msg(&m, 20);
	pgr_wire_snap_assembler_init(&a, &counting, 1000);
	f[0] = forge_chunk(&m, 20, 0, 10, &l[0]);
	CHECK(f[0] != NULL);

	for (int what = 0; what < 12; what++)
	{
		m2 = m;
		switch (what)
		{
			case 0:
				m2.from = 3;
				break;
			case 1:
				m2.to = 3;
				break;
			case 2:
				m2.term = 10;
				break;
			case 3:
				m2.log_term = 1;
				break;
			case 4:
				m2.index = 1;
				break;
			case 5:
				m2.commit = 1;
				break;
			case 6:
				m2.context = 1;
				break;
			case 7:
				m2.reject = true;
				break;
			case 8:
				m2.force = true;
				break;
			case 9:
				snap_fixture.meta.index++;
				break;
			case 10:
				snap_fixture.meta.term++;
				break;
			case 11:
				snap_fixture.meta.config.members[0].context[0] = 'H';
				break;
		}
		f[1] = forge_chunk(&m2, 20, 10, 10, &l[1]);
		CHECK(f[1] != NULL);
		make_snap_msg(&m, 20); /* undo metadata changes */
		expect_assembly_failure(&a, f, l, 2, PGR_EBADMSG);
		free(f[1]);
	}
	free(f[0]);
}

static void
test_assembler_refuses_snapshots_above_its_limit(void)
{
	struct pgr_msg m;
	struct pgr_wire_snap_assembler a;
	uint8_t *f[1];
	size_t l[1];

	ca_reset();
	make_snap_msg(&m, 101);
	pgr_wire_snap_assembler_init(&a, &counting, 100);
	f[0] = forge_chunk(&m, 101, 0, 10, &l[0]);
	CHECK(f[0] != NULL);
	expect_assembly_failure(&a, f, l, 1, PGR_ETOOBIG);
	CHECK_EQ(ca.calls, 0);
	free(f[0]);
	f[0] = forge_chunk(&m, UINT64_MAX, 0, 10, &l[0]);
	expect_assembly_failure(&a, f, l, 1, PGR_ETOOBIG);
	free(f[0]);
}

static void
test_assembler_memory_follows_the_bytes_received(void)
{
	struct pgr_msg m;
	struct pgr_msg out;
	struct pgr_wire_snap_assembler a;
	uint8_t *f;
	size_t len;
	bool complete;

	/* A forged total of 1 TiB within a generous limit costs one chunk. */
	ca_reset();
	make_snap_msg(&m, 10);
	pgr_wire_snap_assembler_init(&a, &counting, UINT64_MAX);
	f = forge_chunk(&m, (uint64_t) 1 << 40, 0, 100, &len);
	CHECK(f != NULL);
	CHECK_EQ(pgr_wire_snap_assembler_add(&a, f, len, &out, &complete), PGR_OK);
	CHECK(!complete && a.active);
	CHECK(ca.largest <= sizeof(struct pgr_snapshot));
	CHECK_EQ(a.cap, 100);
	free(f);

	/* Growth at least doubles (linear copying) but stays near what arrived. */
	for (uint64_t off = 100; off < 100 + 50 * 4000; off += 4000)
	{
		f = forge_chunk(&m, (uint64_t) 1 << 40, off, 4000, &len);
		CHECK(f != NULL);
		CHECK_EQ(pgr_wire_snap_assembler_add(&a, f, len, &out, &complete), PGR_OK);
		free(f);
		CHECK(a.cap >= a.received && a.cap <= 2 * a.received);
	}
	CHECK(ca.calls < 20);
	pgr_wire_snap_assembler_reset(&a);
	CHECK(!a.active);
	CHECK_EQ(ca.outstanding, 0);
}

static void
test_assembler_reports_out_of_memory_without_leaking(void)
{
	struct pgr_msg m;
	struct chunk_frames cf;
	struct pgr_wire_snap_assembler a;

	make_snap_msg(&m, 30);
	CHECK(encode_chunks(&m, 10, &cf));
	for (long fail = 0; fail < 4; fail++)
	{
		struct pgr_msg out;
		bool complete = false;
		enum pgr_err err = PGR_OK;

		ca_reset();
		ca.fail_after = fail;
		pgr_wire_snap_assembler_init(&a, &counting, 1000);
		for (size_t i = 0; i < cf.n && err == PGR_OK; i++)
			err = pgr_wire_snap_assembler_add(&a, cf.frame[i], cf.len[i], &out, &complete);
		/* snapshot struct, buffer, two reallocs: each can fail */
		CHECK_EQ(err, PGR_ENOMEM);
		CHECK(!complete && !a.active);
		CHECK_EQ(ca.outstanding, 0);
	}
	chunk_frames_free(&cf);
}

static const struct test_case cases[] = {
	TEST(test_every_message_type_round_trips_with_zero_fields),
	TEST(test_every_message_type_round_trips_with_max_fields),
	TEST(test_app_round_trips_empty_large_and_many_entries),
	TEST(test_prop_carries_conf_change_entries),
	TEST(test_heartbeat_encodes_to_the_documented_bytes),
	TEST(test_every_truncation_of_a_valid_frame_is_refused),
	TEST(test_truncated_body_with_consistent_length_is_refused),
	TEST(test_trailing_bytes_are_refused),
	TEST(test_bit_flips_are_refused_or_decode_canonically),
	TEST(test_forged_entry_count_allocates_nothing),
	TEST(test_forged_entry_length_is_refused),
	TEST(test_frame_check_splits_a_stream),
	TEST(test_oversize_frames_are_refused),
	TEST(test_quiet_flag_only_on_an_append_without_entries),
	TEST(test_unknown_versions_kinds_and_flags_are_refused),
	TEST(test_unknown_message_and_entry_types_are_refused),
	TEST(test_entries_on_types_without_entries_are_refused),
	TEST(test_encode_refuses_invalid_messages),
	TEST(test_decode_reports_out_of_memory_without_leaking),
	TEST(test_decoder_refuses_other_frame_kinds),
	TEST(test_handshake_round_trips),
	TEST(test_handshake_mismatch_names_the_reason),
	TEST(test_handshake_of_a_newer_version_is_decoded_for_its_version),
	TEST(test_handshake_carries_the_timing_and_the_configuration_index),
	TEST(test_ping_is_a_bare_header),
	TEST(test_handshake_refuses_invalid_fields),
	TEST(test_snapshot_round_trips_in_chunks),
	TEST(test_snapshot_without_configuration_round_trips),
	TEST(test_snapshot_chunk_encoding_refuses_bad_arguments),
	TEST(test_snapshot_chunk_decoding_checks_spans),
	TEST(test_snapshot_chunk_truncations_and_bit_flips_are_handled),
	TEST(test_assembler_refuses_out_of_order_chunks),
	TEST(test_assembler_refuses_a_changed_total_or_overflow),
	TEST(test_assembler_refuses_a_changed_header_or_metadata),
	TEST(test_assembler_refuses_snapshots_above_its_limit),
	TEST(test_assembler_memory_follows_the_bytes_received),
	TEST(test_assembler_reports_out_of_memory_without_leaking),
};

TEST_MAIN(cases)
