/*-------------------------------------------------------------------------
 *
 * fuzz_tls.c
 *		libFuzzer target for the TLS-wrapped path (include/pgraft/tls.h):
 *		what reaches an acceptor through TLS, and what TLS lets through.
 *
 * Certificates are made once per process (test/unit/tls_testutil.h).  The
 * first input byte picks a mode:
 *	0: the rest is raw bytes from a stranger, fed to an acceptor's TLS end:
 *	   the handshake must fail or wait, never complete;
 *	1: a real handshake in memory, then the rest is sent as application
 *	   data: the acceptor must read back exactly those bytes, and they go
 *	   through the frame checker and a connection setup (with a key) as
 *	   the transport would feed them;
 *	2: the same, but the ciphertext on the wire is altered by the rest:
 *	   TLS must refuse it or deliver exactly what was sent, never anything
 *	   else.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/fuzz/fuzz_tls.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgraft/core.h"
#include "pgraft/tls.h"
#include "pgraft/wire.h"

#include "../unit/tls_testutil.h"
#include "../unit/toy_mac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pgr_tls_ctx *server_ctx;
static struct pgr_tls_ctx *client_ctx;

/* The certificates are loaded once; their files are gone at once. */
static void
fuzz_init(void)
{
	char dir[] = "/tmp/pgraft-fuzz-tls-XXXXXX";
	char why[256];

	if (mkdtemp(dir) == NULL || !tls_make_pki(dir))
		abort();
	server_ctx = tls_test_ctx(dir, "n1", why, sizeof(why));
	client_ctx = tls_test_ctx(dir, "n2", why, sizeof(why));
	tls_remove_pki(dir);
	if (server_ctx == NULL || client_ctx == NULL)
		abort();
}

/* Plaintext from TLS through the frame checker and an acceptor's setup. */
static void
setup_from(const uint8_t *plain, size_t len, const struct pgr_tls_conn *a)
{
	static const uint8_t key[] = "fuzzing key, thirty-two bytes...";
	static const uint8_t cid[PGR_WIRE_CLUSTER_ID_LEN] = {1, 2, 3};
	struct pgr_wire_auth auth = {0};
	struct pgr_wire_handshake ours;
	struct pgr_wire_session s;
	uint8_t nonce[PGR_WIRE_NONCE_LEN] = {9};
	uint8_t binding[PGR_TLS_BINDING_LEN];
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	uint64_t cert_id = 0;
	size_t n;
	size_t pos = 0;

	auth.n_keys = 1;
	auth.keys[0] = key;
	auth.key_lens[0] = sizeof(key);
	auth.mac = toy_mac;
	if (pgr_tls_peer_identity(a, TLS_TEST_CLUSTER, &cert_id) != PGR_TLS_ID_OK || cert_id != 2 ||
		!pgr_tls_binding(a, binding) ||
		pgr_wire_handshake_init(&ours, 1, cid, TLS_TEST_CLUSTER) != PGR_OK ||
		pgr_wire_session_start(&s, PGR_WIRE_ACCEPTOR, &auth, &ours, PGR_NONE, cert_id, nonce,
							   binding, sizeof(binding), out, sizeof(out), &n) != PGR_OK)
		abort();
	while (pos < len)
	{
		struct pgr_wire_frame f;
		enum pgr_wire_session_result r;
		uint8_t *frame;

		if (pgr_wire_frame_check(plain + pos, len - pos, PGR_WIRE_HANDSHAKE_MAX_FRAME, &f) !=
			PGR_WIRE_FRAME_READY)
			break;
		frame = malloc(f.len);
		if (frame == NULL)
			break;
		memcpy(frame, plain + pos, f.len);
		r = pgr_wire_session_step(&s, frame, f.len, out, sizeof(out), &n);
		free(frame);
		/* a peer certified as node 2 may never open as another node */
		if ((r == PGR_WIRE_SESSION_DECIDE || r == PGR_WIRE_SESSION_OPEN) &&
			(s.peer.node_id != 2 || !s.key_proven))
			__builtin_trap();
		if (r != PGR_WIRE_SESSION_CONTINUE)
			break;
		pos += f.len;
	}
}

/* A completed handshake between node 2 (dialer) and node 1 (acceptor). */
static bool
pair(struct pgr_tls_conn **d, struct pgr_tls_conn **a)
{
	*d = pgr_tls_conn_new(client_ctx, true);
	*a = pgr_tls_conn_new(server_ctx, false);
	if (*d == NULL || *a == NULL)
		abort();
	tls_test_pump(*d, *a);
	return pgr_tls_handshake(*d) == PGR_TLS_OK && pgr_tls_handshake(*a) == PGR_TLS_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pgr_tls_conn *d;
	struct pgr_tls_conn *a;
	uint8_t *wire;
	uint8_t *plain;
	size_t wlen;
	size_t got = 0;
	int mode;

	if (server_ctx == NULL)
		fuzz_init();
	if (size == 0)
		return 0;
	mode = data[0] % 3;
	data++;
	size--;

	if (mode == 0)
	{
		uint8_t buf[512];

		a = pgr_tls_conn_new(server_ctx, false);
		if (!pgr_tls_feed(a, data, size))
			abort();
		if (pgr_tls_handshake(a) == PGR_TLS_OK)
			__builtin_trap();
		while (pgr_tls_take_out(a, buf, sizeof(buf)) > 0)
			;
		pgr_tls_conn_free(a);
		return 0;
	}

	if (!pair(&d, &a))
		abort();
	if (pgr_tls_write(d, data, size) != PGR_TLS_OK)
		abort();
	wlen = pgr_tls_out_pending(d);
	wire = malloc(wlen + 1);
	plain = malloc(size + 1);
	if (wire == NULL || plain == NULL)
		abort();
	wlen = pgr_tls_take_out(d, wire, wlen);
	if (mode == 2)
		for (size_t i = 0; i < size && i < wlen; i++)
			wire[i] ^= data[i];
	if (!pgr_tls_feed(a, wire, wlen))
		abort();
	for (;;)
	{
		size_t n;
		enum pgr_tls_status st = pgr_tls_read(a, plain + got, size + 1 - got, &n);

		if (st != PGR_TLS_OK)
			break;
		got += n;
	}
	/* exactly what was sent, or (altered on the wire) a prefix of it at most */
	if (got > size || memcmp(plain, data, got) != 0 || (mode == 1 && got != size))
		__builtin_trap();
	if (mode == 1)
		setup_from(plain, got, a);
	free(wire);
	free(plain);
	pgr_tls_conn_free(d);
	pgr_tls_conn_free(a);
	return 0;
}
