/*-------------------------------------------------------------------------
 *
 * gen_corpus_wire.c
 *		Writes the seed corpus of fuzz_wire: a handful of small valid frame
 *		streams, one file each, into the directory named on the command line.
 *
 * The seeds give the fuzzer a valid example of every frame kind and every
 * message type to mutate from; they are checked in (test/fuzz/corpus/wire/)
 * so that `make fuzz-replay` can replay them in CI.  Regenerate with
 * `make fuzz-corpus-wire` after a format change.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/fuzz/gen_corpus_wire.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgraft/core.h"
#include "pgraft/wire.h"

static const char *out_dir;
static uint8_t stream[16384];
static size_t stream_len;

static void
die(const char *what)
{
	fprintf(stderr, "gen_corpus_wire: %s\n", what);
	exit(1);
}

static void
add_msg(const struct pgr_msg *m)
{
	size_t len;

	if (pgr_wire_encode_msg(m, stream + stream_len, sizeof(stream) - stream_len, &len) != PGR_OK)
		die("cannot encode message");
	stream_len += len;
}

static void
add_handshake(uint8_t version, uint64_t node_id, const char *name)
{
	static const uint8_t id[PGR_WIRE_CLUSTER_ID_LEN] = {0x70, 0x67, 0x72, 0x61, 0x66, 0x74,
														0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d,
														0x63, 0x6c, 0x75, 0x73};
	struct pgr_wire_handshake hs;
	size_t len;

	if (pgr_wire_handshake_init(&hs, node_id, id, name) != PGR_OK)
		die("cannot build handshake");
	hs.version = version;
	hs.heartbeat_ms = 100;
	hs.election_ms = 1000;
	if (pgr_wire_encode_handshake(&hs, stream + stream_len, sizeof(stream) - stream_len, &len) !=
		PGR_OK)
		die("cannot encode handshake");
	stream_len += len;
}

/* A setup frame of our version (the MACs in it are arbitrary bytes). */
static void
add_setup(uint8_t kind, size_t body_len, uint8_t fill)
{
	if (stream_len + PGR_WIRE_HEADER_SIZE + body_len > sizeof(stream))
		die("stream full");
	stream[stream_len] = (uint8_t) body_len;
	stream[stream_len + 1] = stream[stream_len + 2] = stream[stream_len + 3] = 0;
	stream[stream_len + 4] = PGR_WIRE_VERSION;
	stream[stream_len + 5] = kind;
	stream[stream_len + 6] = stream[stream_len + 7] = 0;
	memset(stream + stream_len + PGR_WIRE_HEADER_SIZE, fill, body_len);
	stream_len += PGR_WIRE_HEADER_SIZE + body_len;
}

/* Append the chunks of snapshot s, max_data bytes each. */
static void
add_snapshot(struct pgr_snapshot *s, size_t max_data)
{
	struct pgr_msg m;
	struct pgr_wire_snap_chunk c;
	uint64_t off = 0;

	memset(&m, 0, sizeof(m));
	m.type = PGR_MSG_SNAP;
	m.from = 1;
	m.to = 2;
	m.term = 5;
	m.snapshot = s;
	do
	{
		size_t len = 0;

		if (pgr_wire_snap_chunk_next(&m, off, max_data, &c) != PGR_OK ||
			pgr_wire_encode_snap_chunk(&c, stream + stream_len, sizeof(stream) - stream_len,
									   &len) != PGR_OK)
			die("cannot encode snapshot chunk");
		stream_len += len;
		off = c.offset + c.len;
	} while (off < s->len);
}

static void
flush(const char *name)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(stream, 1, stream_len, f) != stream_len || fclose(f) != 0)
		die("cannot write a corpus file");
	stream_len = 0;
}

int
main(int argc, char **argv)
{
	struct pgr_msg m;
	struct pgr_entry e[3];
	static struct pgr_snapshot s;
	uint8_t payload[40];
	uint8_t cc[12] = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

	if (argc != 2)
		die("usage: gen_corpus_wire DIR");
	out_dir = argv[1];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t) (i * 7 + 1);

	/* A connection's start: handshake, then a heartbeat, then a ping. */
	add_handshake(PGR_WIRE_VERSION, 1, "main");
	memset(&m, 0, sizeof(m));
	m.type = PGR_MSG_HEARTBEAT;
	m.from = 1;
	m.to = 2;
	m.term = 3;
	m.commit = 7;
	m.context = 42;
	add_msg(&m);
	pgr_wire_encode_ping(stream + stream_len);
	stream_len += PGR_WIRE_HEADER_SIZE;
	flush("handshake_heartbeat");

	/* A connection's setup with a key, as each side receives it. */
	add_setup(PGR_WIRE_KIND_AUTH_HELLO, PGR_WIRE_NONCE_LEN + 16, 1);
	add_setup(PGR_WIRE_KIND_AUTH_PROOF, PGR_WIRE_MAC_LEN, 0x5a);
	add_handshake(PGR_WIRE_VERSION, 2, "fuzz");
	flush("setup_acceptor");
	add_setup(PGR_WIRE_KIND_AUTH_CHALLENGE, PGR_WIRE_NONCE_LEN + PGR_WIRE_MAC_LEN, 0xa5);
	add_handshake(PGR_WIRE_VERSION, 2, "fuzz");
	flush("setup_dialer");
	add_setup(PGR_WIRE_KIND_REFUSE, 1, PGR_WIRE_REFUSE_NOT_MEMBER);
	flush("setup_refuse");

	/* A handshake from a future version with another field. */
	add_handshake(7, 3, "main");
	stream[0] += 4;
	memcpy(stream + stream_len, "\x01\x02\x03\x04", 4);
	stream_len += 4;
	flush("handshake_future");

	/* A handshake of version 1, which had no timing. */
	add_handshake(1, 4, "main");
	flush("handshake_v1");

	/* MsgApp with an empty, a small and a configuration entry. */
	memset(&m, 0, sizeof(m));
	memset(e, 0, sizeof(e));
	m.type = PGR_MSG_APP;
	m.from = 1;
	m.to = 3;
	m.term = 4;
	m.log_term = 4;
	m.index = 10;
	m.commit = 9;
	e[0].term = 4;
	e[0].index = 11;
	e[1].term = 4;
	e[1].index = 12;
	e[1].len = 16;
	e[1].data = payload;
	e[2].term = 4;
	e[2].index = 13;
	e[2].type = PGR_ENTRY_CONFIG;
	e[2].len = 5;
	e[2].data = payload;
	m.n_entries = 3;
	m.entries = e;
	add_msg(&m);
	flush("msg_app");

	/* MsgProp forwarding a configuration change request. */
	memset(&m, 0, sizeof(m));
	memset(e, 0, sizeof(e));
	m.type = PGR_MSG_PROP;
	m.from = 2;
	m.to = 1;
	m.term = 4;
	e[0].type = PGR_ENTRY_CONF_CHANGE;
	e[0].len = sizeof(cc);
	e[0].data = cc;
	m.n_entries = 1;
	m.entries = e;
	add_msg(&m);
	flush("msg_prop");

	/* Every entry-less message type, with flags and extreme values. */
	for (uint32_t t = 1; t <= PGR_MSG_TYPE_MAX; t++)
	{
		if (t == PGR_MSG_APP || t == PGR_MSG_PROP || t == PGR_MSG_SNAP)
			continue;
		memset(&m, 0, sizeof(m));
		m.type = t;
		m.from = 2;
		m.to = 1;
		m.term = t == PGR_MSG_VOTE ? UINT64_MAX : 6;
		m.log_term = 5;
		m.index = 100;
		m.reject = t % 2 == 0;
		m.force = t == PGR_MSG_VOTE || t == PGR_MSG_PRE_VOTE;
		add_msg(&m);
	}
	flush("msg_all_types");

	/* A snapshot with a configuration, in three chunks. */
	memset(&s, 0, sizeof(s));
	s.meta.index = 20;
	s.meta.term = 4;
	s.meta.config.n_members = 2;
	s.meta.config.members[0].id = 1;
	s.meta.config.members[0].context_len = 4;
	memcpy(s.meta.config.members[0].context, "h1:1", 4);
	s.meta.config.members[1].id = 2;
	s.meta.config.members[1].role = PGR_MEMBER_LEARNER;
	s.len = sizeof(payload);
	s.data = payload;
	add_snapshot(&s, 16);
	flush("snap_chunks");

	/* An empty snapshot without a configuration: one chunk. */
	memset(&s, 0, sizeof(s));
	s.meta.index = 1;
	s.meta.term = 1;
	add_snapshot(&s, 16);
	flush("snap_empty");
	return 0;
}
