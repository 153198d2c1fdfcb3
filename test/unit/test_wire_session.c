/*-------------------------------------------------------------------------
 *
 * test_wire_session.c
 *		Unit tests of a connection's setup (struct pgr_wire_session).
 *
 * Two sessions, a dialer and an acceptor, talk through byte buffers.  The
 * tests play the attacks an unauthenticated stranger can try on a Raft
 * port: guessing or replaying proofs, reflecting one side's proof as the
 * other's, claiming an id other than the one authenticated, skipping
 * steps, and reading what a refusal gives away.  The MAC here is a toy
 * keyed hash: what is under test is which proof is asked for and checked
 * when, not HMAC itself (the server uses OpenSSL's).
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_wire_session.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "pgraft/core.h"
#include "pgraft/wire.h"

#include "harness.h"
#include "toy_mac.h"

/* ---------------------------------------------------------------------- */
/* Fixtures                                                               */
/* ---------------------------------------------------------------------- */

static const uint8_t cluster_a[PGR_WIRE_CLUSTER_ID_LEN] = {1, 2,  3,  4,  5,  6,  7,  8,
														   9, 10, 11, 12, 13, 14, 15, 16};

static const uint8_t key_a[] = "the cluster's secret, 32 bytes.";
static const uint8_t key_b[] = "another cluster's secret, also..";

static struct pgr_wire_auth
auth_with(const uint8_t *key, size_t len)
{
	struct pgr_wire_auth a = {0};

	a.mac = toy_mac;
	if (key != NULL)
	{
		a.n_keys = 1;
		a.keys[0] = key;
		a.key_lens[0] = len;
	}
	return a;
}

static struct pgr_wire_handshake
hs_of(uint64_t id)
{
	struct pgr_wire_handshake hs;

	(void) pgr_wire_handshake_init(&hs, id, cluster_a, "prod");
	hs.heartbeat_ms = 100;
	hs.election_ms = 1000;
	hs.config_index = 7;
	return hs;
}

static void
nonce_of(uint8_t seed, uint8_t nonce[PGR_WIRE_NONCE_LEN])
{
	for (int i = 0; i < PGR_WIRE_NONCE_LEN; i++)
		nonce[i] = (uint8_t) (seed * 31 + i);
}

/* What one side has written and the other has not read yet. */
struct pipe
{
	uint8_t buf[4 * PGR_WIRE_SESSION_OUT_MAX];
	size_t len;
};

static void
pipe_put(struct pipe *p, const uint8_t *b, size_t n)
{
	if (p->len + n <= sizeof(p->buf))
	{
		memcpy(p->buf + p->len, b, n);
		p->len += n;
	}
}

/* Take the first frame out of p into frame (its length returned; 0: none). */
static size_t
pipe_take(struct pipe *p, uint8_t *frame)
{
	struct pgr_wire_frame f;

	if (pgr_wire_frame_check(p->buf, p->len, PGR_WIRE_HANDSHAKE_MAX_FRAME, &f) !=
		PGR_WIRE_FRAME_READY)
		return 0;
	memcpy(frame, p->buf, f.len);
	memmove(p->buf, p->buf + f.len, p->len - f.len);
	p->len -= f.len;
	return f.len;
}

/* Does any frame in p carry the cluster id? (A refusal must not.) */
static bool
pipe_mentions_cluster(const struct pipe *p)
{
	for (size_t i = 0; i + sizeof(cluster_a) <= p->len; i++)
		if (memcmp(p->buf + i, cluster_a, sizeof(cluster_a)) == 0)
			return true;
	return false;
}

/*
 * Feed every frame waiting in in to s, answers to out; stops at the first
 * result that is not CONTINUE (or when in is empty: CONTINUE).
 */
static enum pgr_wire_session_result
pump(struct pgr_wire_session *s, struct pipe *in, struct pipe *out)
{
	uint8_t frame[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	uint8_t ans[PGR_WIRE_SESSION_OUT_MAX];
	size_t n;
	size_t alen;

	while ((n = pipe_take(in, frame)) > 0)
	{
		enum pgr_wire_session_result r =
			pgr_wire_session_step(s, frame, n, ans, sizeof(ans), &alen);

		pipe_put(out, ans, alen);
		if (r != PGR_WIRE_SESSION_CONTINUE)
			return r;
	}
	return PGR_WIRE_SESSION_CONTINUE;
}

struct pair
{
	struct pgr_wire_session d;
	struct pgr_wire_session a;
	struct pipe to_a;
	struct pipe to_d;
};

static bool
pair_start(struct pair *p, const struct pgr_wire_auth *dauth, const struct pgr_wire_auth *aauth,
		   uint64_t did, uint64_t aid, uint64_t expected)
{
	struct pgr_wire_handshake dhs = hs_of(did);
	struct pgr_wire_handshake ahs = hs_of(aid);
	uint8_t nd[PGR_WIRE_NONCE_LEN];
	uint8_t na[PGR_WIRE_NONCE_LEN];
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	size_t n;

	memset(p, 0, sizeof(*p));
	nonce_of(1, nd);
	nonce_of(2, na);
	if (pgr_wire_session_start(&p->a, PGR_WIRE_ACCEPTOR, aauth, &ahs, PGR_NONE, PGR_NONE, na, NULL,
							   0, out, sizeof(out), &n) != PGR_OK ||
		n != 0)
		return false;
	if (pgr_wire_session_start(&p->d, PGR_WIRE_DIALER, dauth, &dhs, expected, PGR_NONE, nd, NULL, 0,
							   out, sizeof(out), &n) != PGR_OK)
		return false;
	pipe_put(&p->to_a, out, n);
	return true;
}

/* Run the setup to the end; the acceptor accepts whatever it must decide. */
static void
pair_run(struct pair *p, enum pgr_wire_session_result *dr, enum pgr_wire_session_result *ar)
{
	*dr = *ar = PGR_WIRE_SESSION_CONTINUE;
	for (int round = 0; round < 8; round++)
	{
		if (*ar == PGR_WIRE_SESSION_CONTINUE)
			*ar = pump(&p->a, &p->to_a, &p->to_d);
		if (*ar == PGR_WIRE_SESSION_DECIDE)
		{
			uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
			size_t n;

			*ar = pgr_wire_session_accept(&p->a, &p->a.ours, out, sizeof(out), &n);
			pipe_put(&p->to_d, out, n);
		}
		if (*dr == PGR_WIRE_SESSION_CONTINUE)
			*dr = pump(&p->d, &p->to_d, &p->to_a);
	}
}

/* ---------------------------------------------------------------------- */
/* Setups that succeed                                                    */
/* ---------------------------------------------------------------------- */

static void
test_nodes_with_the_same_key_open_a_connection(void)
{
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pair p;
	enum pgr_wire_session_result dr, ar;

	CHECK(pair_start(&p, &k, &k, 2, 1, 1));
	pair_run(&p, &dr, &ar);
	CHECK_EQ(dr, PGR_WIRE_SESSION_OPEN);
	CHECK_EQ(ar, PGR_WIRE_SESSION_OPEN);
	CHECK(p.a.key_proven);
	CHECK(p.d.key_proven);
	CHECK_EQ(p.a.peer.node_id, 2);
	CHECK_EQ(p.a.peer.config_index, 7);
	CHECK_EQ(p.d.peer.node_id, 1);
	CHECK_EQ(p.a.hs_result, PGR_WIRE_HS_OK);
}

static void
test_nodes_without_a_key_open_with_handshakes_only(void)
{
	struct pgr_wire_auth none = auth_with(NULL, 0);
	struct pair p;
	enum pgr_wire_session_result dr, ar;
	uint8_t frame[PGR_WIRE_HANDSHAKE_MAX_FRAME];

	CHECK(pair_start(&p, &none, &none, 2, 1, 1));
	/* the dialer's first frame is its handshake */
	CHECK(p.to_a.len > PGR_WIRE_HEADER_SIZE);
	CHECK_EQ(p.to_a.buf[5], PGR_WIRE_KIND_HANDSHAKE);
	pair_run(&p, &dr, &ar);
	CHECK_EQ(dr, PGR_WIRE_SESSION_OPEN);
	CHECK_EQ(ar, PGR_WIRE_SESSION_OPEN);
	CHECK(!p.a.key_proven);
	CHECK_EQ(pipe_take(&p.to_a, frame), 0);
}

/* ---------------------------------------------------------------------- */
/* Nothing about the cluster before proof                                 */
/* ---------------------------------------------------------------------- */

static void
test_with_a_key_no_side_names_its_cluster_before_the_other_proved_the_key(void)
{
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pair p;
	uint8_t frame[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	size_t n;
	size_t alen;

	CHECK(pair_start(&p, &k, &k, 2, 1, 1));
	/* HELLO: nonce and claimed id only */
	CHECK(!pipe_mentions_cluster(&p.to_a));
	n = pipe_take(&p.to_a, frame);
	CHECK_EQ(frame[5], PGR_WIRE_KIND_AUTH_HELLO);
	CHECK_EQ(pgr_wire_session_step(&p.a, frame, n, out, sizeof(out), &alen),
			 PGR_WIRE_SESSION_CONTINUE);
	/* CHALLENGE: nonce and MAC only */
	pipe_put(&p.to_d, out, alen);
	CHECK(!pipe_mentions_cluster(&p.to_d));
	CHECK_EQ(p.to_d.buf[5], PGR_WIRE_KIND_AUTH_CHALLENGE);
}

static void
test_a_stranger_without_the_key_learns_nothing_of_the_cluster(void)
{
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pgr_wire_auth wrong = auth_with(key_b, sizeof(key_b));
	struct pgr_wire_session a;
	struct pgr_wire_handshake ahs = hs_of(1);
	struct pgr_wire_handshake forged = hs_of(2);
	uint8_t nonce[PGR_WIRE_NONCE_LEN];
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	uint8_t frame[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	size_t n;
	size_t alen;
	struct pair p;
	enum pgr_wire_session_result dr, ar;

	/* A stranger that skips authentication and sends a handshake. */
	nonce_of(3, nonce);
	CHECK_EQ(pgr_wire_session_start(&a, PGR_WIRE_ACCEPTOR, &k, &ahs, PGR_NONE, PGR_NONE, nonce,
									NULL, 0, out, sizeof(out), &alen),
			 PGR_OK);
	CHECK_EQ(pgr_wire_encode_handshake(&forged, frame, sizeof(frame), &n), PGR_OK);
	CHECK_EQ(pgr_wire_session_step(&a, frame, n, out, sizeof(out), &alen),
			 PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(a.refusal, PGR_WIRE_REFUSE_AUTH_REQUIRED);
	CHECK_EQ(alen, PGR_WIRE_REFUSE_FRAME_SIZE);
	CHECK_EQ(out[5], PGR_WIRE_KIND_REFUSE);
	CHECK_EQ(out[8], PGR_WIRE_REFUSE_AUTH_REQUIRED);

	/* A stranger with another key: everything it is sent names no cluster. */
	CHECK(pair_start(&p, &wrong, &k, 2, 1, 1));
	pair_run(&p, &dr, &ar);
	CHECK_EQ(dr, PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(p.d.refusal, PGR_WIRE_REFUSE_AUTH_FAILED);
	CHECK(!p.d.refused_by_peer);
	/* The honest acceptor then hears the dialer's REFUSE and stops. */
	CHECK_EQ(ar, PGR_WIRE_SESSION_REFUSED);
	CHECK(p.a.refused_by_peer);
}

static void
test_a_refusal_says_why_and_nothing_else(void)
{
	struct pgr_wire_auth none = auth_with(NULL, 0);
	struct pair p;
	enum pgr_wire_session_result dr;
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	size_t n;

	CHECK(pair_start(&p, &none, &none, 2, 1, 1));
	CHECK_EQ(pump(&p.a, &p.to_a, &p.to_d), PGR_WIRE_SESSION_DECIDE);
	CHECK_EQ(pgr_wire_session_refuse(&p.a, PGR_WIRE_REFUSE_NOT_MEMBER, out, sizeof(out), &n),
			 PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(n, PGR_WIRE_REFUSE_FRAME_SIZE);
	pipe_put(&p.to_d, out, n);
	CHECK(!pipe_mentions_cluster(&p.to_d));
	dr = pump(&p.d, &p.to_d, &p.to_a);
	CHECK_EQ(dr, PGR_WIRE_SESSION_REFUSED);
	CHECK(p.d.refused_by_peer);
	CHECK_EQ(p.d.refusal, PGR_WIRE_REFUSE_NOT_MEMBER);

	/* Local-only reasons are never sent. */
	CHECK(pair_start(&p, &none, &none, 2, 1, 1));
	CHECK_EQ(pump(&p.a, &p.to_a, &p.to_d), PGR_WIRE_SESSION_DECIDE);
	CHECK_EQ(pgr_wire_session_refuse(&p.a, PGR_WIRE_REFUSE_FLOOD, out, sizeof(out), &n),
			 PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(n, 0);
}

/* ---------------------------------------------------------------------- */
/* Proofs                                                                 */
/* ---------------------------------------------------------------------- */

static void
test_a_recorded_proof_does_not_open_another_connection(void)
{
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pair p;
	enum pgr_wire_session_result dr, ar;
	uint8_t recorded[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	size_t rlen = 0;
	uint8_t frame[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	uint8_t na[PGR_WIRE_NONCE_LEN];
	size_t n;
	size_t alen;
	struct pgr_wire_session a2;
	struct pgr_wire_handshake ahs = hs_of(1);
	struct pipe hello = {{0}, 0};

	/* Record a whole successful exchange as the dialer sent it. */
	CHECK(pair_start(&p, &k, &k, 2, 1, 1));
	hello = p.to_a;
	CHECK_EQ(pump(&p.a, &p.to_a, &p.to_d), PGR_WIRE_SESSION_CONTINUE);
	CHECK_EQ(pump(&p.d, &p.to_d, &p.to_a), PGR_WIRE_SESSION_CONTINUE);
	CHECK(p.to_a.len > 0);
	CHECK_EQ(p.to_a.buf[5], PGR_WIRE_KIND_AUTH_PROOF);
	memcpy(recorded, p.to_a.buf, p.to_a.len);
	rlen = p.to_a.len;
	{
		struct pipe copy = p.to_a;

		CHECK(pipe_take(&copy, frame) > 0);
		rlen = rlen - copy.len; /* the proof alone */
	}
	pair_run(&p, &dr, &ar);
	CHECK_EQ(ar, PGR_WIRE_SESSION_OPEN);

	/* Replay HELLO and PROOF to an acceptor that draws a fresh nonce. */
	nonce_of(9, na);
	CHECK_EQ(pgr_wire_session_start(&a2, PGR_WIRE_ACCEPTOR, &k, &ahs, PGR_NONE, PGR_NONE, na, NULL,
									0, out, sizeof(out), &alen),
			 PGR_OK);
	n = pipe_take(&hello, frame);
	CHECK_EQ(pgr_wire_session_step(&a2, frame, n, out, sizeof(out), &alen),
			 PGR_WIRE_SESSION_CONTINUE);
	CHECK_EQ(pgr_wire_session_step(&a2, recorded, rlen, out, sizeof(out), &alen),
			 PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(a2.refusal, PGR_WIRE_REFUSE_AUTH_FAILED);
	CHECK(!a2.key_proven);
}

static void
test_the_acceptors_proof_reflected_back_is_not_the_dialers(void)
{
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pgr_wire_session a;
	struct pgr_wire_handshake ahs = hs_of(1);
	uint8_t nonce[PGR_WIRE_NONCE_LEN];
	uint8_t hello[PGR_WIRE_HEADER_SIZE + PGR_WIRE_NONCE_LEN + 16];
	uint8_t proof[PGR_WIRE_HEADER_SIZE + PGR_WIRE_MAC_LEN];
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	size_t alen;

	nonce_of(4, nonce);
	CHECK_EQ(pgr_wire_session_start(&a, PGR_WIRE_ACCEPTOR, &k, &ahs, PGR_NONE, PGR_NONE, nonce,
									NULL, 0, out, sizeof(out), &alen),
			 PGR_OK);
	/* A stranger's HELLO (any nonce, claiming node 2, dialling node 1) */
	memset(hello, 0, sizeof(hello));
	hello[0] = PGR_WIRE_NONCE_LEN + 16;
	hello[4] = PGR_WIRE_VERSION;
	hello[5] = PGR_WIRE_KIND_AUTH_HELLO;
	memset(hello + PGR_WIRE_HEADER_SIZE, 0xab, PGR_WIRE_NONCE_LEN);
	hello[PGR_WIRE_HEADER_SIZE + PGR_WIRE_NONCE_LEN] = 2;
	hello[PGR_WIRE_HEADER_SIZE + PGR_WIRE_NONCE_LEN + 8] = 1;
	CHECK_EQ(pgr_wire_session_step(&a, hello, sizeof(hello), out, sizeof(out), &alen),
			 PGR_WIRE_SESSION_CONTINUE);
	CHECK_EQ(alen, PGR_WIRE_HEADER_SIZE + PGR_WIRE_NONCE_LEN + PGR_WIRE_MAC_LEN);
	/* ... sends the acceptor's own MAC back as its proof */
	memset(proof, 0, sizeof(proof));
	proof[0] = PGR_WIRE_MAC_LEN;
	proof[4] = PGR_WIRE_VERSION;
	proof[5] = PGR_WIRE_KIND_AUTH_PROOF;
	memcpy(proof + PGR_WIRE_HEADER_SIZE, out + PGR_WIRE_HEADER_SIZE + PGR_WIRE_NONCE_LEN,
		   PGR_WIRE_MAC_LEN);
	CHECK_EQ(pgr_wire_session_step(&a, proof, sizeof(proof), out, sizeof(out), &alen),
			 PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(a.refusal, PGR_WIRE_REFUSE_AUTH_FAILED);
}

/*
 * A stranger at node 3's address, without the key, relays node 2's HELLO to
 * node 1 (a member that signs for anyone who asks) and passes node 1's
 * proof back to node 2 as node 3's.  Node 1 signs only for itself, and node
 * 2 checks the proof against the node it dialled.
 */
static void
test_a_proof_relayed_from_another_member_does_not_pass_for_the_node_dialled(void)
{
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pgr_wire_handshake dhs = hs_of(2);
	struct pgr_wire_handshake ahs = hs_of(1);
	struct pgr_wire_session d;
	struct pgr_wire_session a;
	uint8_t nd[PGR_WIRE_NONCE_LEN];
	uint8_t na[PGR_WIRE_NONCE_LEN];
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	uint8_t frame[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	uint8_t challenge[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	size_t n;
	size_t hlen;
	size_t clen;
	struct pipe to_a = {{0}, 0};

	nonce_of(1, nd);
	nonce_of(2, na);
	/* node 2 dials node 3 */
	CHECK_EQ(pgr_wire_session_start(&d, PGR_WIRE_DIALER, &k, &dhs, 3, PGR_NONE, nd, NULL, 0, out,
									sizeof(out), &n),
			 PGR_OK);
	pipe_put(&to_a, out, n);
	hlen = pipe_take(&to_a, frame);
	CHECK(hlen > 0);

	/* relayed as it is to node 1: refused, it names node 3 */
	CHECK_EQ(pgr_wire_session_start(&a, PGR_WIRE_ACCEPTOR, &k, &ahs, PGR_NONE, PGR_NONE, na, NULL,
									0, out, sizeof(out), &n),
			 PGR_OK);
	CHECK_EQ(pgr_wire_session_step(&a, frame, hlen, out, sizeof(out), &n),
			 PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(a.refusal, PGR_WIRE_REFUSE_OTHER_NODE);

	/* rewritten to name node 1: node 1 signs, for node 1 */
	frame[PGR_WIRE_HEADER_SIZE + PGR_WIRE_NONCE_LEN + 8] = 1;
	CHECK_EQ(pgr_wire_session_start(&a, PGR_WIRE_ACCEPTOR, &k, &ahs, PGR_NONE, PGR_NONE, na, NULL,
									0, out, sizeof(out), &n),
			 PGR_OK);
	CHECK_EQ(pgr_wire_session_step(&a, frame, hlen, challenge, sizeof(challenge), &clen),
			 PGR_WIRE_SESSION_CONTINUE);
	CHECK_EQ(challenge[5], PGR_WIRE_KIND_AUTH_CHALLENGE);

	/* node 2 takes that proof as node 3's: refused, and it said nothing more */
	CHECK_EQ(pgr_wire_session_step(&d, challenge, clen, out, sizeof(out), &n),
			 PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(d.refusal, PGR_WIRE_REFUSE_AUTH_FAILED);
	CHECK_EQ(n, PGR_WIRE_REFUSE_FRAME_SIZE);
	CHECK(!d.key_proven);

	/* a HELLO claiming the acceptor's own id is refused too */
	frame[PGR_WIRE_HEADER_SIZE + PGR_WIRE_NONCE_LEN] = 1;
	CHECK_EQ(pgr_wire_session_start(&a, PGR_WIRE_ACCEPTOR, &k, &ahs, PGR_NONE, PGR_NONE, na, NULL,
									0, out, sizeof(out), &n),
			 PGR_OK);
	CHECK_EQ(pgr_wire_session_step(&a, frame, hlen, out, sizeof(out), &n),
			 PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(a.refusal, PGR_WIRE_REFUSE_SELF);
}

/* The keys a setup began with hold until it ends, whatever the caller does. */
static void
test_a_setup_keeps_its_keys_when_the_callers_change(void)
{
	uint8_t key[sizeof(key_a)];
	struct pgr_wire_auth k;
	struct pair p;
	enum pgr_wire_session_result dr, ar;

	memcpy(key, key_a, sizeof(key));
	k = auth_with(key, sizeof(key));
	CHECK(pair_start(&p, &k, &k, 2, 1, 1));
	memset(key, 0, sizeof(key)); /* a reload overwrites the caller's buffer */
	pair_run(&p, &dr, &ar);
	CHECK_EQ(dr, PGR_WIRE_SESSION_OPEN);
	CHECK_EQ(ar, PGR_WIRE_SESSION_OPEN);
}

static void
test_proofs_are_bound_to_the_channel(void)
{
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pgr_wire_handshake dhs = hs_of(2);
	struct pgr_wire_handshake ahs = hs_of(1);
	struct pgr_wire_session d;
	struct pgr_wire_session a;
	uint8_t nd[PGR_WIRE_NONCE_LEN];
	uint8_t na[PGR_WIRE_NONCE_LEN];
	const uint8_t bind_d[4] = {1, 2, 3, 4};
	const uint8_t bind_a[4] = {1, 2, 3, 5};
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	size_t n;
	struct pipe to_a = {{0}, 0};
	struct pipe to_d = {{0}, 0};

	/* Two TLS channels (a relay in the middle) have different exporters. */
	nonce_of(1, nd);
	nonce_of(2, na);
	CHECK_EQ(pgr_wire_session_start(&a, PGR_WIRE_ACCEPTOR, &k, &ahs, PGR_NONE, PGR_NONE, na, bind_a,
									sizeof(bind_a), out, sizeof(out), &n),
			 PGR_OK);
	CHECK_EQ(pgr_wire_session_start(&d, PGR_WIRE_DIALER, &k, &dhs, 1, PGR_NONE, nd, bind_d,
									sizeof(bind_d), out, sizeof(out), &n),
			 PGR_OK);
	pipe_put(&to_a, out, n);
	CHECK_EQ(pump(&a, &to_a, &to_d), PGR_WIRE_SESSION_CONTINUE);
	CHECK_EQ(pump(&d, &to_d, &to_a), PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(d.refusal, PGR_WIRE_REFUSE_AUTH_FAILED);
}

/* ---------------------------------------------------------------------- */
/* Identity                                                               */
/* ---------------------------------------------------------------------- */

static void
test_a_peer_speaks_only_as_the_id_it_authenticated_as(void)
{
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pgr_wire_auth none = auth_with(NULL, 0);
	struct pgr_wire_session a;
	struct pgr_wire_handshake ahs = hs_of(1);
	struct pgr_wire_handshake claim3 = hs_of(3);
	uint8_t nonce[PGR_WIRE_NONCE_LEN];
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	uint8_t frame[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	size_t n;
	size_t alen;
	struct pair p;
	enum pgr_wire_session_result r;

	/* Proved the key as node 2, then says it is node 3. */
	CHECK(pair_start(&p, &k, &k, 2, 1, 1));
	CHECK_EQ(pump(&p.a, &p.to_a, &p.to_d), PGR_WIRE_SESSION_CONTINUE);
	CHECK_EQ(pump(&p.d, &p.to_d, &p.to_a), PGR_WIRE_SESSION_CONTINUE);
	/* swap the dialer's handshake for one naming node 3 */
	n = pipe_take(&p.to_a, frame);
	CHECK_EQ(frame[5], PGR_WIRE_KIND_AUTH_PROOF);
	CHECK_EQ(pgr_wire_session_step(&p.a, frame, n, out, sizeof(out), &alen),
			 PGR_WIRE_SESSION_CONTINUE);
	CHECK_EQ(pgr_wire_encode_handshake(&claim3, frame, sizeof(frame), &n), PGR_OK);
	r = pgr_wire_session_step(&p.a, frame, n, out, sizeof(out), &alen);
	CHECK_EQ(r, PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(p.a.refusal, PGR_WIRE_REFUSE_IDENTITY);

	/* A certificate for node 2, a handshake for node 3. */
	nonce_of(5, nonce);
	CHECK_EQ(pgr_wire_session_start(&a, PGR_WIRE_ACCEPTOR, &none, &ahs, PGR_NONE, 2, nonce, NULL, 0,
									out, sizeof(out), &alen),
			 PGR_OK);
	CHECK_EQ(pgr_wire_session_step(&a, frame, n, out, sizeof(out), &alen),
			 PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(a.refusal, PGR_WIRE_REFUSE_IDENTITY);

	/* ... and an acceptor certified as node 3 when node 1 was dialled. */
	CHECK(pair_start(&p, &none, &none, 2, 3, 1));
	CHECK_EQ(pump(&p.a, &p.to_a, &p.to_d), PGR_WIRE_SESSION_DECIDE);
	CHECK_EQ(pgr_wire_session_accept(&p.a, &p.a.ours, out, sizeof(out), &alen),
			 PGR_WIRE_SESSION_OPEN);
	pipe_put(&p.to_d, out, alen);
	CHECK_EQ(pump(&p.d, &p.to_d, &p.to_a), PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(p.d.refusal, PGR_WIRE_REFUSE_OTHER_NODE);
}

static void
test_a_key_mismatch_in_either_direction_is_named(void)
{
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pgr_wire_auth none = auth_with(NULL, 0);
	struct pair p;
	enum pgr_wire_session_result dr, ar;

	/* dialer has a key, acceptor none */
	CHECK(pair_start(&p, &k, &none, 2, 1, 1));
	pair_run(&p, &dr, &ar);
	CHECK_EQ(ar, PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(p.a.refusal, PGR_WIRE_REFUSE_AUTH_UNAVAILABLE);
	CHECK_EQ(dr, PGR_WIRE_SESSION_REFUSED);
	CHECK(p.d.refused_by_peer);
	CHECK_EQ(p.d.refusal, PGR_WIRE_REFUSE_AUTH_UNAVAILABLE);

	/* acceptor has a key, dialer none */
	CHECK(pair_start(&p, &none, &k, 2, 1, 1));
	pair_run(&p, &dr, &ar);
	CHECK_EQ(ar, PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(p.a.refusal, PGR_WIRE_REFUSE_AUTH_REQUIRED);
	CHECK_EQ(dr, PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(p.d.refusal, PGR_WIRE_REFUSE_AUTH_REQUIRED);
}

/* ---------------------------------------------------------------------- */
/* Hostile frames                                                         */
/* ---------------------------------------------------------------------- */

static void
test_out_of_order_and_malformed_setup_frames_are_refused(void)
{
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pgr_wire_handshake ahs = hs_of(1);
	uint8_t nonce[PGR_WIRE_NONCE_LEN];
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	size_t alen;
	uint8_t ping[PGR_WIRE_HEADER_SIZE];
	uint8_t proof[PGR_WIRE_HEADER_SIZE + PGR_WIRE_MAC_LEN] = {0};
	uint8_t short_hello[PGR_WIRE_HEADER_SIZE + 4] = {0};
	struct pgr_wire_session a;

	nonce_of(6, nonce);
	pgr_wire_encode_ping(ping);
	proof[0] = PGR_WIRE_MAC_LEN;
	proof[4] = PGR_WIRE_VERSION;
	proof[5] = PGR_WIRE_KIND_AUTH_PROOF;
	short_hello[0] = 4;
	short_hello[4] = PGR_WIRE_VERSION;
	short_hello[5] = PGR_WIRE_KIND_AUTH_HELLO;

	/* A ping, a proof before any hello, a short hello: each refused. */
	{
		const uint8_t *frames[] = {ping, proof, short_hello};
		size_t lens[] = {sizeof(ping), sizeof(proof), sizeof(short_hello)};

		for (int i = 0; i < 3; i++)
		{
			CHECK_EQ(pgr_wire_session_start(&a, PGR_WIRE_ACCEPTOR, &k, &ahs, PGR_NONE, PGR_NONE,
											nonce, NULL, 0, out, sizeof(out), &alen),
					 PGR_OK);
			CHECK_EQ(pgr_wire_session_step(&a, frames[i], lens[i], out, sizeof(out), &alen),
					 PGR_WIRE_SESSION_REFUSED);
			CHECK_EQ(a.refusal, PGR_WIRE_REFUSE_PROTOCOL);
			/* and once refused, stays refused */
			CHECK_EQ(pgr_wire_session_step(&a, frames[i], lens[i], out, sizeof(out), &alen),
					 PGR_WIRE_SESSION_REFUSED);
		}
	}
	/* Every truncation and bit flip of a valid exchange ends, never opens wrongly. */
	for (size_t flip = 0; flip < 8 * (PGR_WIRE_HEADER_SIZE + PGR_WIRE_NONCE_LEN + 8); flip++)
	{
		struct pair p;
		enum pgr_wire_session_result dr, ar;

		CHECK(pair_start(&p, &k, &k, 2, 1, 1));
		p.to_a.buf[flip / 8] ^= (uint8_t) (1u << (flip % 8));
		pair_run(&p, &dr, &ar);
		/* Either the flip was harmless and both opened, or neither did. */
		CHECK((dr == PGR_WIRE_SESSION_OPEN) == (ar == PGR_WIRE_SESSION_OPEN));
		if (ar == PGR_WIRE_SESSION_OPEN)
			CHECK_EQ(p.a.peer.node_id, 2);
	}
}

static void
test_a_peer_of_another_version_is_named_as_such(void)
{
	struct pgr_wire_auth none = auth_with(NULL, 0);
	struct pgr_wire_auth k = auth_with(key_a, sizeof(key_a));
	struct pgr_wire_handshake ahs = hs_of(1);
	struct pgr_wire_handshake old = hs_of(2);
	uint8_t nonce[PGR_WIRE_NONCE_LEN];
	uint8_t out[PGR_WIRE_SESSION_OUT_MAX];
	uint8_t frame[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	size_t n;
	size_t alen;
	struct pgr_wire_session a;
	const struct pgr_wire_auth *auths[] = {&none, &k};

	old.version = PGR_WIRE_VERSION - 1;
	CHECK_EQ(pgr_wire_encode_handshake(&old, frame, sizeof(frame), &n), PGR_OK);
	nonce_of(7, nonce);
	for (int i = 0; i < 2; i++)
	{
		CHECK_EQ(pgr_wire_session_start(&a, PGR_WIRE_ACCEPTOR, auths[i], &ahs, PGR_NONE, PGR_NONE,
										nonce, NULL, 0, out, sizeof(out), &alen),
				 PGR_OK);
		CHECK_EQ(pgr_wire_session_step(&a, frame, n, out, sizeof(out), &alen),
				 PGR_WIRE_SESSION_REFUSED);
		CHECK_EQ(a.refusal, PGR_WIRE_REFUSE_OTHER_VERSION);
	}
}

static void
test_a_key_is_rotated_node_by_node(void)
{
	struct pgr_wire_auth old = auth_with(key_a, sizeof(key_a));
	struct pgr_wire_auth both_old_first = old;
	struct pgr_wire_auth both_new_first = auth_with(key_b, sizeof(key_b));
	struct pgr_wire_auth new = auth_with(key_b, sizeof(key_b));
	const struct pgr_wire_auth *stages[] = {&old, &both_old_first, &both_new_first, &new};
	struct pair p;
	enum pgr_wire_session_result dr, ar;

	both_old_first.n_keys = 2;
	both_old_first.keys[1] = key_b;
	both_old_first.key_lens[1] = sizeof(key_b);
	both_new_first.n_keys = 2;
	both_new_first.keys[1] = key_a;
	both_new_first.key_lens[1] = sizeof(key_a);

	/* Nodes one stage apart, either way round, still connect. */
	for (int i = 0; i + 1 < 4; i++)
		for (int dir = 0; dir < 2; dir++)
		{
			const struct pgr_wire_auth *d = dir ? stages[i] : stages[i + 1];
			const struct pgr_wire_auth *a = dir ? stages[i + 1] : stages[i];

			CHECK(pair_start(&p, d, a, 2, 1, 1));
			pair_run(&p, &dr, &ar);
			CHECK_EQ(dr, PGR_WIRE_SESSION_OPEN);
			CHECK_EQ(ar, PGR_WIRE_SESSION_OPEN);
		}
	/* Two stages apart: the old key alone and the new key alone do not. */
	CHECK(pair_start(&p, &old, &new, 2, 1, 1));
	pair_run(&p, &dr, &ar);
	CHECK_EQ(dr, PGR_WIRE_SESSION_REFUSED);
	CHECK_EQ(p.d.refusal, PGR_WIRE_REFUSE_AUTH_FAILED);
}

static void
test_refusal_names_are_distinct(void)
{
	for (int i = 0; i < PGR_WIRE_REFUSE_N; i++)
		for (int j = i + 1; j < PGR_WIRE_REFUSE_N; j++)
		{
			CHECK(strcmp(pgr_wire_refusal_name(i), pgr_wire_refusal_name(j)) != 0);
			CHECK(strcmp(pgr_wire_refusal_str(i), pgr_wire_refusal_str(j)) != 0);
		}
	CHECK(strcmp(pgr_wire_refusal_name(PGR_WIRE_REFUSE_N), "unknown") == 0);
}

static const struct test_case cases[] = {
	TEST(test_nodes_with_the_same_key_open_a_connection),
	TEST(test_nodes_without_a_key_open_with_handshakes_only),
	TEST(test_with_a_key_no_side_names_its_cluster_before_the_other_proved_the_key),
	TEST(test_a_stranger_without_the_key_learns_nothing_of_the_cluster),
	TEST(test_a_refusal_says_why_and_nothing_else),
	TEST(test_a_recorded_proof_does_not_open_another_connection),
	TEST(test_the_acceptors_proof_reflected_back_is_not_the_dialers),
	TEST(test_a_proof_relayed_from_another_member_does_not_pass_for_the_node_dialled),
	TEST(test_a_setup_keeps_its_keys_when_the_callers_change),
	TEST(test_proofs_are_bound_to_the_channel),
	TEST(test_a_peer_speaks_only_as_the_id_it_authenticated_as),
	TEST(test_a_key_mismatch_in_either_direction_is_named),
	TEST(test_out_of_order_and_malformed_setup_frames_are_refused),
	TEST(test_a_peer_of_another_version_is_named_as_such),
	TEST(test_a_key_is_rotated_node_by_node),
	TEST(test_refusal_names_are_distinct),
};

TEST_MAIN(cases)
