/*-------------------------------------------------------------------------
 *
 * fuzz_wire.c
 *		libFuzzer target for the wire decoders (include/pgraft/wire.h).
 *
 * The input is treated as what a peer could send us: first the whole input
 * is given to each decoder as one frame, then it is read as a stream of
 * frames the way the transport reads a socket, each frame dispatched on its
 * kind and snapshot chunks fed to an assembler, and the same stream is fed
 * to connection setups (struct pgr_wire_session) as acceptor and dialer,
 * with and without a shared key.  Besides the sanitizers' checks, the
 * target traps when
 *	- a decoded frame does not re-encode to the same bytes (the encoding is
 *	  canonical, so any difference is a decoder accepting something it
 *	  should not, or losing a field);
 *	- one allocation exceeds what the input's size justifies (a forged
 *	  length must never buy a large allocation);
 *	- anything allocated is still held at the end of a run;
 *	- a setup writes anything but well-formed frames, names our cluster
 *	  before the peer proved the key, opens without the proof, or acts
 *	  after it ended.
 * Every frame is copied into a buffer of exactly its size first, so that
 * AddressSanitizer sees a read past the end of any frame, not just the last.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/fuzz/fuzz_wire.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgraft/core.h"
#include "pgraft/wire.h"

#include "../unit/toy_mac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest snapshot the assembler accepts here: small, so totals get tested. */
#define FUZZ_MAX_SNAPSHOT (256 * 1024)

struct fuzz_alloc
{
	size_t limit;       /* largest single allocation allowed */
	size_t outstanding; /* blocks currently held */
};

static void *
fuzz_alloc_fn(void *ctx, size_t size)
{
	struct fuzz_alloc *fa = ctx;
	void *p;

	if (size > fa->limit)
		__builtin_trap();
	p = malloc(size ? size : 1);
	if (p != NULL)
		fa->outstanding++;
	return p;
}

static void *
fuzz_realloc_fn(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
	struct fuzz_alloc *fa = ctx;

	(void) old_size;
	if (new_size > fa->limit)
		__builtin_trap();
	if (ptr == NULL)
		return fuzz_alloc_fn(ctx, new_size);
	return realloc(ptr, new_size ? new_size : 1);
}

static void
fuzz_free_fn(void *ctx, void *ptr)
{
	struct fuzz_alloc *fa = ctx;

	if (ptr == NULL)
		return;
	fa->outstanding--;
	free(ptr);
}

static const uint8_t fuzz_cluster_id[PGR_WIRE_CLUSTER_ID_LEN] = {
	0x70, 0x67, 0x72, 0x61, 0x66, 0x74, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x63, 0x6c, 0x75, 0x73};

/* A decoded message must re-encode to exactly the frame it came from. */
static void
check_msg_roundtrip(const uint8_t *frame, size_t len, const struct pgr_msg *m)
{
	size_t size;
	size_t out_len;
	uint8_t *buf;

	if (pgr_wire_msg_size(m, &size) != PGR_OK || size != len)
		__builtin_trap();
	buf = malloc(size);
	if (buf == NULL)
		return;
	if (pgr_wire_encode_msg(m, buf, size, &out_len) != PGR_OK || out_len != len ||
		memcmp(buf, frame, len) != 0)
		__builtin_trap();
	free(buf);
}

static void
check_chunk_roundtrip(const uint8_t *frame, size_t len, const struct pgr_wire_snap_chunk *c)
{
	size_t size;
	size_t out_len;
	uint8_t *buf;

	if (pgr_wire_snap_chunk_size(c, &size) != PGR_OK || size != len)
		__builtin_trap();
	buf = malloc(size);
	if (buf == NULL)
		return;
	if (pgr_wire_encode_snap_chunk(c, buf, size, &out_len) != PGR_OK || out_len != len ||
		memcmp(buf, frame, len) != 0)
		__builtin_trap();
	free(buf);
}

static void
check_handshake(const uint8_t *frame, size_t len)
{
	struct pgr_wire_handshake ours;
	struct pgr_wire_handshake peer;
	uint8_t buf[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	size_t out_len;
	enum pgr_wire_hs_result res;

	if (pgr_wire_decode_handshake(frame, len, &peer) != PGR_OK)
		return;
	if (pgr_wire_handshake_init(&ours, 1, fuzz_cluster_id, "fuzz") != PGR_OK)
		__builtin_trap();
	res = pgr_wire_handshake_compare(&ours, &peer, 2);
	if (res != PGR_WIRE_HS_OK && res != PGR_WIRE_HS_OTHER_VERSION &&
		res != PGR_WIRE_HS_OTHER_CLUSTER && res != PGR_WIRE_HS_SELF &&
		res != PGR_WIRE_HS_OTHER_NODE)
		__builtin_trap();
	if (strlen(peer.cluster_name) != peer.name_len ||
		(peer.version != PGR_WIRE_VERSION && res != PGR_WIRE_HS_OTHER_VERSION))
		__builtin_trap();
	/* Only our own version is canonical: others may carry trailing fields. */
	if (peer.version == PGR_WIRE_VERSION &&
		(pgr_wire_encode_handshake(&peer, buf, sizeof(buf), &out_len) != PGR_OK || out_len != len ||
		 memcmp(buf, frame, len) != 0))
		__builtin_trap();
}

/* What a setup wrote: whole frames of the setup's size, nothing else. */
static void
check_setup_output(const struct pgr_wire_session *s, const uint8_t *out, size_t n)
{
	size_t pos = 0;

	if (n > PGR_WIRE_SESSION_OUT_MAX)
		__builtin_trap();
	while (pos < n)
	{
		struct pgr_wire_frame f;

		if (pgr_wire_frame_check(out + pos, n - pos, PGR_WIRE_HANDSHAKE_MAX_FRAME, &f) !=
			PGR_WIRE_FRAME_READY)
			__builtin_trap();
		/* our handshake only once the peer proved the key, if we have one */
		if (f.kind == PGR_WIRE_KIND_HANDSHAKE && s->auth.n_keys > 0 && !s->key_proven)
			__builtin_trap();
		pos += f.len;
	}
	for (size_t i = 0; n >= PGR_WIRE_CLUSTER_ID_LEN && i <= n - PGR_WIRE_CLUSTER_ID_LEN; i++)
		if (memcmp(out + i, fuzz_cluster_id, PGR_WIRE_CLUSTER_ID_LEN) == 0 && s->auth.n_keys > 0 &&
			!s->key_proven)
			__builtin_trap();
}

/* The input's frames as what a peer sends during a connection's setup. */
static void
fuzz_setup(const uint8_t *data, size_t size, enum pgr_wire_role role, bool with_key)
{
	static const uint8_t key[] = "fuzzing key, thirty-two bytes...";
	struct pgr_wire_auth auth = {0};
	struct pgr_wire_handshake ours;
	struct pgr_wire_session s;
	uint8_t nonce[PGR_WIRE_NONCE_LEN] = {7};
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	size_t n;
	size_t pos = 0;
	bool ended = false;

	auth.mac = toy_mac;
	if (with_key)
	{
		auth.n_keys = 1;
		auth.keys[0] = key;
		auth.key_lens[0] = sizeof(key);
	}
	if (pgr_wire_handshake_init(&ours, 1, fuzz_cluster_id, "fuzz") != PGR_OK ||
		pgr_wire_session_start(&s, role, &auth, &ours, role == PGR_WIRE_DIALER ? 2 : PGR_NONE,
							   PGR_NONE, nonce, NULL, 0, out, sizeof(out), &n) != PGR_OK)
		__builtin_trap();
	check_setup_output(&s, out, n);
	while (pos < size)
	{
		struct pgr_wire_frame fr;
		uint8_t *frame;
		enum pgr_wire_session_result r;

		if (pgr_wire_frame_check(data + pos, size - pos, PGR_WIRE_HANDSHAKE_MAX_FRAME, &fr) !=
			PGR_WIRE_FRAME_READY)
			break;
		frame = malloc(fr.len);
		if (frame == NULL)
			break;
		memcpy(frame, data + pos, fr.len);
		r = pgr_wire_session_step(&s, frame, fr.len, out, sizeof(out), &n);
		free(frame);
		check_setup_output(&s, out, n);
		if (ended && r != PGR_WIRE_SESSION_REFUSED)
			__builtin_trap();
		if (r == PGR_WIRE_SESSION_DECIDE)
		{
			if ((with_key && !s.key_proven) || s.peer.version != PGR_WIRE_VERSION)
				__builtin_trap();
			r = pgr_wire_session_accept(&s, &ours, out, sizeof(out), &n);
			check_setup_output(&s, out, n);
		}
		if (r == PGR_WIRE_SESSION_OPEN &&
			((with_key && !s.key_proven) || s.peer.node_id == PGR_NONE ||
			 (role == PGR_WIRE_DIALER && s.peer.node_id != 2)))
			__builtin_trap();
		if (r == PGR_WIRE_SESSION_REFUSED &&
			(s.refusal == PGR_WIRE_REFUSE_NONE || s.refusal >= PGR_WIRE_REFUSE_N))
			__builtin_trap();
		if (r == PGR_WIRE_SESSION_OPEN || r == PGR_WIRE_SESSION_REFUSED)
			ended = true;
		pos += fr.len;
	}
}

/* Give one frame (exactly len bytes) to every decoder. */
static void
decode_all(const uint8_t *frame, size_t len, const struct pgr_allocator *alloc)
{
	struct pgr_msg m;
	struct pgr_wire_snap_chunk c;

	if (pgr_wire_decode_msg(frame, len, alloc, &m) == PGR_OK)
	{
		check_msg_roundtrip(frame, len, &m);
		pgr_wire_msg_free(alloc, &m);
	}
	if (pgr_wire_decode_snap_chunk(frame, len, &c) == PGR_OK)
		check_chunk_roundtrip(frame, len, &c);
	check_handshake(frame, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_alloc fa;
	struct pgr_allocator alloc;
	struct pgr_wire_snap_assembler asm_;
	struct pgr_wire_frame fr;
	size_t pos = 0;

	/*
	 * The biggest legitimate allocations: an entries array (32 bytes per
	 * entry of at least 21 bytes on the wire), a snapshot struct, and the
	 * assembler's buffer (at most twice the bytes received).
	 */
	fa.limit = 2 * size + sizeof(struct pgr_snapshot) + 64;
	fa.outstanding = 0;
	alloc.alloc = fuzz_alloc_fn;
	alloc.realloc = fuzz_realloc_fn;
	alloc.free = fuzz_free_fn;
	alloc.ctx = &fa;

	/* Every short prefix through the framer: it must never read past len. */
	for (size_t n = 0; n <= size && n <= 16; n++)
	{
		uint8_t *p = malloc(n ? n : 1);

		if (p == NULL)
			return 0;
		memcpy(p, data, n);
		if (pgr_wire_frame_check(n ? p : NULL, n, 0, &fr) == PGR_WIRE_FRAME_READY && fr.len > n)
			__builtin_trap();
		/* The limit used before the handshake holds too. */
		if (pgr_wire_frame_check(n ? p : NULL, n, PGR_WIRE_HANDSHAKE_MAX_FRAME, &fr) ==
				PGR_WIRE_FRAME_READY &&
			(fr.len > n || fr.len > PGR_WIRE_HANDSHAKE_MAX_FRAME))
			__builtin_trap();
		free(p);
	}

	decode_all(data, size, &alloc);

	/* The input as a stream of frames, as the transport would read it. */
	pgr_wire_snap_assembler_init(&asm_, &alloc, FUZZ_MAX_SNAPSHOT);
	while (pos < size)
	{
		enum pgr_wire_frame_status st;
		uint8_t *frame;

		st = pgr_wire_frame_check(data + pos, size - pos, 0, &fr);
		if (st != PGR_WIRE_FRAME_READY)
			break;
		if (fr.len < PGR_WIRE_HEADER_SIZE || fr.len > size - pos)
			__builtin_trap();
		frame = malloc(fr.len);
		if (frame == NULL)
			break;
		memcpy(frame, data + pos, fr.len);
		decode_all(frame, fr.len, &alloc);
		if (fr.kind == PGR_WIRE_KIND_SNAP_CHUNK)
		{
			struct pgr_msg m;
			bool complete;

			if (pgr_wire_snap_assembler_add(&asm_, frame, fr.len, &m, &complete) == PGR_OK &&
				complete)
			{
				if (m.type != PGR_MSG_SNAP || m.snapshot == NULL ||
					m.snapshot->len > FUZZ_MAX_SNAPSHOT ||
					(m.snapshot->len > 0) != (m.snapshot->data != NULL))
					__builtin_trap();
				pgr_wire_msg_free(&alloc, &m);
			}
		}
		free(frame);
		pos += fr.len;
	}
	pgr_wire_snap_assembler_reset(&asm_);
	if (fa.outstanding != 0)
		__builtin_trap();

	fuzz_setup(data, size, PGR_WIRE_ACCEPTOR, true);
	fuzz_setup(data, size, PGR_WIRE_ACCEPTOR, false);
	fuzz_setup(data, size, PGR_WIRE_DIALER, true);
	fuzz_setup(data, size, PGR_WIRE_DIALER, false);
	return 0;
}
