/*-------------------------------------------------------------------------
 *
 * wire_session.c
 *		The setup of a connection: who may talk (see the comment on
 *		struct pgr_wire_session in wire.h, and docs/wire.md).
 *
 * Frames of the setup, all of our version, each at most
 * PGR_WIRE_HANDSHAKE_MAX_FRAME bytes:
 *
 * REFUSE (kind 5):			u8 reason (enum pgr_wire_refusal)
 * AUTH_HELLO (kind 6):		32 bytes nonce_d, u64 node id the dialer claims,
 *							u64 node id it means to reach
 * AUTH_CHALLENGE (kind 7): 32 bytes nonce_a, 32 bytes acceptor's MAC
 * AUTH_PROOF (kind 8):		32 bytes dialer's MAC
 *
 * A MAC is HMAC-SHA-256 under the cluster key of
 *		"pgraft-auth-3 acceptor" or "pgraft-auth-3 dialer" (no terminator)
 *		nonce_d, nonce_a, u64 dialer's id, u64 acceptor's id,
 *		u8 binding length, binding
 * so that a proof holds for one connection (both nonces), one role (the
 * label), one pair of nodes and one TLS channel (the binding) only.  The
 * acceptor proves first, to a peer that has proven nothing: its proof names
 * itself, so that a stranger cannot relay a dialer's HELLO to another
 * member and pass that member's proof off as the node dialled (the
 * acceptor refuses a HELLO meant for another node, and the dialer checks
 * the proof against the node it dialled).
 *
 * What each side accepts, step by step (anything else is refused with
 * PGR_WIRE_REFUSE_PROTOCOL; a REFUSE from the peer ends the setup at any
 * step):
 *
 *	dialer, with key:	 CHALLENGE (its MAC must verify) -> send PROOF and
 *						 our handshake; then HANDSHAKE -> open
 *	dialer, no key:		 HANDSHAKE -> open
 *	acceptor, with key:  HELLO -> send CHALLENGE; PROOF (must verify);
 *						 HANDSHAKE -> decide
 *	acceptor, no key:	 HANDSHAKE -> decide (a HELLO is refused: we cannot
 *						 prove a key we do not have)
 *
 * A HANDSHAKE must name the node id the peer authenticated as: its AUTH_HELLO
 * claim and its certificate's id, when there are such.  The dialer compares
 * the acceptor's handshake itself; the acceptor leaves the decision to the
 * caller (membership, adoption), with the comparison in hs_result.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/wire_session.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgraft/core.h"
#include "pgraft/wire.h"

#include "../common/codec.h"
#include "wire_internal.h"

enum session_step
{
	STEP_DIALER_WAIT_CHALLENGE = 1,
	STEP_DIALER_WAIT_HANDSHAKE,
	STEP_ACCEPTOR_WAIT_FIRST,
	STEP_ACCEPTOR_WAIT_PROOF,
	STEP_ACCEPTOR_WAIT_HANDSHAKE,
	STEP_ACCEPTOR_DECIDING,
	STEP_DONE
};

#define LABEL_ACCEPTOR "pgraft-auth-3 acceptor"
#define LABEL_DIALER   "pgraft-auth-3 dialer"

/* ---------------------------------------------------------------------- */
/* Refusals                                                               */
/* ---------------------------------------------------------------------- */

const char *
pgr_wire_refusal_str(enum pgr_wire_refusal r)
{
	switch (r)
	{
		case PGR_WIRE_REFUSE_NONE:
			return "not refused";
		case PGR_WIRE_REFUSE_OTHER_VERSION:
			return "peer speaks another protocol version";
		case PGR_WIRE_REFUSE_OTHER_CLUSTER:
			return "peer belongs to another cluster";
		case PGR_WIRE_REFUSE_SELF:
			return "peer has this node's own id";
		case PGR_WIRE_REFUSE_OTHER_NODE:
			return "peer is not the node that was dialled";
		case PGR_WIRE_REFUSE_AUTH_REQUIRED:
			return "peer did not authenticate with the cluster key";
		case PGR_WIRE_REFUSE_AUTH_UNAVAILABLE:
			return "peer asked to authenticate with a cluster key, and this node has none";
		case PGR_WIRE_REFUSE_AUTH_FAILED:
			return "peer failed authentication: it does not hold the cluster key";
		case PGR_WIRE_REFUSE_IDENTITY:
			return "peer claims a node id it did not authenticate as";
		case PGR_WIRE_REFUSE_NOT_MEMBER:
			return "peer is not a member of this cluster";
		case PGR_WIRE_REFUSE_ALREADY_CONNECTED:
			return "peer's node id already has a live connection";
		case PGR_WIRE_REFUSE_NOT_ADOPTED:
			return "node belongs to another cluster and holds data of its own";
		case PGR_WIRE_REFUSE_PROTOCOL:
			return "peer broke the connection setup protocol";
		case PGR_WIRE_REFUSE_TLS:
			return "TLS failed";
		case PGR_WIRE_REFUSE_TIMEOUT:
			return "peer did not complete the connection setup in time";
		case PGR_WIRE_REFUSE_FLOOD:
			return "too many connections in setup";
		case PGR_WIRE_REFUSE_N:
			break;
	}
	return "unknown reason";
}

const char *
pgr_wire_refusal_name(enum pgr_wire_refusal r)
{
	static const char *const names[PGR_WIRE_REFUSE_N] = {
		"none",       "other_version", "other_cluster",     "self",
		"other_node", "auth_required", "auth_unavailable",  "auth_failed",
		"identity",   "not_member",    "already_connected", "not_adopted",
		"protocol",   "tls",           "timeout",           "flood",
	};

	return (unsigned) r < PGR_WIRE_REFUSE_N ? names[r] : "unknown";
}

enum pgr_wire_refusal
pgr_wire_refusal_of(enum pgr_wire_hs_result res)
{
	switch (res)
	{
		case PGR_WIRE_HS_OK:
			return PGR_WIRE_REFUSE_NONE;
		case PGR_WIRE_HS_OTHER_VERSION:
			return PGR_WIRE_REFUSE_OTHER_VERSION;
		case PGR_WIRE_HS_OTHER_CLUSTER:
			return PGR_WIRE_REFUSE_OTHER_CLUSTER;
		case PGR_WIRE_HS_SELF:
			return PGR_WIRE_REFUSE_SELF;
		case PGR_WIRE_HS_OTHER_NODE:
			return PGR_WIRE_REFUSE_OTHER_NODE;
	}
	return PGR_WIRE_REFUSE_PROTOCOL;
}

void
pgr_wire_encode_refuse(enum pgr_wire_refusal why, uint8_t *buf)
{
	struct pgr_writer w = {buf, PGR_WIRE_REFUSE_FRAME_SIZE, 0, true};

	pgr_wire_put_header(&w, PGR_WIRE_KIND_REFUSE, 1);
	pgr_w_u8(&w, (uint8_t) why);
}

/* ---------------------------------------------------------------------- */
/* Proofs                                                                 */
/* ---------------------------------------------------------------------- */

static void
session_mac(const struct pgr_wire_session *s, int key, const char *label, const uint8_t *nonce_d,
			const uint8_t *nonce_a, uint64_t dialer, uint64_t acceptor,
			uint8_t out[PGR_WIRE_MAC_LEN])
{
	uint8_t msg[32 + 2 * PGR_WIRE_NONCE_LEN + 2 * 8 + 1 + PGR_WIRE_BINDING_MAX];
	struct pgr_writer w = {msg, sizeof(msg), 0, true};

	pgr_w_bytes(&w, label, strlen(label));
	pgr_w_bytes(&w, nonce_d, PGR_WIRE_NONCE_LEN);
	pgr_w_bytes(&w, nonce_a, PGR_WIRE_NONCE_LEN);
	pgr_w_u64(&w, dialer);
	pgr_w_u64(&w, acceptor);
	pgr_w_u8(&w, (uint8_t) s->binding_len);
	pgr_w_bytes(&w, s->binding, s->binding_len);
	s->auth.mac(s->auth.mac_arg, s->auth.keys[key], s->auth.key_lens[key], msg, w.len, out);
}

/* Compare without an early exit: timing must not say how much matched. */
static bool
mac_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t diff = 0;

	for (int i = 0; i < PGR_WIRE_MAC_LEN; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* Which of our keys got, the peer's MAC, is under; -1 if none. */
static int
mac_key(const struct pgr_wire_session *s, const char *label, const uint8_t *nonce_d,
		const uint8_t *nonce_a, uint64_t dialer, uint64_t acceptor, const uint8_t *got)
{
	int found = -1;

	for (int k = 0; k < s->auth.n_keys; k++)
	{
		uint8_t want[PGR_WIRE_MAC_LEN];

		session_mac(s, k, label, nonce_d, nonce_a, dialer, acceptor, want);
		if (mac_equal(want, got) && found < 0)
			found = k;
	}
	return found;
}

/* ---------------------------------------------------------------------- */
/* Steps                                                                  */
/* ---------------------------------------------------------------------- */

static bool
has_key(const struct pgr_wire_session *s)
{
	return s->auth.n_keys > 0;
}

/* Append a frame of kind with body[0 .. len) to out. */
static bool
put_frame(uint8_t kind, const uint8_t *body, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	struct pgr_writer w = {out + *out_len, cap - *out_len, 0, true};

	if (*out_len > cap || cap - *out_len < PGR_WIRE_HEADER_SIZE + len)
		return false;
	pgr_wire_put_header(&w, kind, len);
	pgr_w_bytes(&w, body, len);
	*out_len += w.len;
	return w.ok;
}

static bool
put_handshake(const struct pgr_wire_handshake *hs, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t n;

	if (*out_len > cap ||
		pgr_wire_encode_handshake(hs, out + *out_len, cap - *out_len, &n) != PGR_OK)
		return false;
	*out_len += n;
	return true;
}

static enum pgr_wire_session_result
refuse(struct pgr_wire_session *s, enum pgr_wire_refusal why, uint8_t *out, size_t cap,
	   size_t *out_len)
{
	s->step = STEP_DONE;
	s->refusal = why;
	s->refused_by_peer = false;
	if (why < PGR_WIRE_REFUSE_TLS && *out_len <= cap &&
		cap - *out_len >= PGR_WIRE_REFUSE_FRAME_SIZE)
	{
		pgr_wire_encode_refuse(why, out + *out_len);
		*out_len += PGR_WIRE_REFUSE_FRAME_SIZE;
	}
	return PGR_WIRE_SESSION_REFUSED;
}

/* The body of a setup frame of our version and this kind, exactly n bytes. */
static const uint8_t *
setup_body(const uint8_t *frame, size_t len, uint8_t kind, size_t n)
{
	struct pgr_reader r;

	if (pgr_wire_open_frame(frame, len, kind, &r) != PGR_OK || r.len != n)
		return NULL;
	return r.buf;
}

/* The peer's handshake: decoded, of our version, of the id it proved. */
static enum pgr_wire_refusal
take_handshake(struct pgr_wire_session *s, const uint8_t *frame, size_t len)
{
	if (pgr_wire_decode_handshake(frame, len, &s->peer) != PGR_OK)
		return PGR_WIRE_REFUSE_PROTOCOL;
	if (s->peer.version != PGR_WIRE_VERSION)
		return PGR_WIRE_REFUSE_OTHER_VERSION;
	if ((s->cert_id != PGR_NONE && s->peer.node_id != s->cert_id) ||
		(s->claimed_id != PGR_NONE && s->peer.node_id != s->claimed_id))
		return PGR_WIRE_REFUSE_IDENTITY;
	return PGR_WIRE_REFUSE_NONE;
}

enum pgr_err
pgr_wire_session_start(struct pgr_wire_session *s, enum pgr_wire_role role,
					   const struct pgr_wire_auth *auth, const struct pgr_wire_handshake *ours,
					   uint64_t expected_peer, uint64_t cert_id,
					   const uint8_t nonce[PGR_WIRE_NONCE_LEN], const uint8_t *binding,
					   size_t binding_len, uint8_t *out, size_t cap, size_t *out_len)
{
	if (s == NULL || auth == NULL || ours == NULL || nonce == NULL || out_len == NULL ||
		(role != PGR_WIRE_DIALER && role != PGR_WIRE_ACCEPTOR) ||
		binding_len > PGR_WIRE_BINDING_MAX || (binding_len > 0 && binding == NULL) ||
		auth->n_keys < 0 || auth->n_keys > PGR_WIRE_AUTH_MAX_KEYS ||
		(auth->n_keys > 0 && auth->mac == NULL) ||
		(auth->n_keys > 0 && role == PGR_WIRE_DIALER && expected_peer == PGR_NONE))
		return PGR_EINVAL;
	for (int k = 0; k < auth->n_keys; k++)
		if (auth->keys[k] == NULL || auth->key_lens[k] == 0 || auth->key_lens[k] > PGR_WIRE_KEY_MAX)
			return PGR_EINVAL;
	memset(s, 0, sizeof(*s));
	s->role = role;
	s->auth = *auth;
	/* our own copy: the caller's keys may change (a reload) during the setup */
	for (int k = 0; k < auth->n_keys; k++)
	{
		memcpy(s->key_store[k], auth->keys[k], auth->key_lens[k]);
		s->auth.keys[k] = s->key_store[k];
	}
	s->ours = *ours;
	s->expected_peer = expected_peer;
	s->cert_id = cert_id;
	memcpy(s->nonce_ours, nonce, PGR_WIRE_NONCE_LEN);
	if (binding_len > 0)
		memcpy(s->binding, binding, binding_len);
	s->binding_len = binding_len;
	*out_len = 0;
	if (role == PGR_WIRE_ACCEPTOR)
	{
		s->step = STEP_ACCEPTOR_WAIT_FIRST;
		return PGR_OK;
	}
	if (out == NULL || cap < PGR_WIRE_SESSION_OUT_MAX)
		return PGR_EINVAL;
	if (has_key(s))
	{
		uint8_t hello[PGR_WIRE_NONCE_LEN + 16];

		memcpy(hello, nonce, PGR_WIRE_NONCE_LEN);
		pgr_put_u64(hello + PGR_WIRE_NONCE_LEN, ours->node_id);
		pgr_put_u64(hello + PGR_WIRE_NONCE_LEN + 8, expected_peer);
		s->step = STEP_DIALER_WAIT_CHALLENGE;
		return put_frame(PGR_WIRE_KIND_AUTH_HELLO, hello, sizeof(hello), out, cap, out_len)
				   ? PGR_OK
				   : PGR_EINVAL;
	}
	s->step = STEP_DIALER_WAIT_HANDSHAKE;
	return put_handshake(ours, out, cap, out_len) ? PGR_OK : PGR_EINVAL;
}

static enum pgr_wire_session_result
dialer_step(struct pgr_wire_session *s, const uint8_t *frame, size_t len, uint8_t kind,
			uint8_t *out, size_t cap, size_t *out_len)
{
	if (s->step == STEP_DIALER_WAIT_CHALLENGE && kind == PGR_WIRE_KIND_AUTH_CHALLENGE)
	{
		const uint8_t *b = setup_body(frame, len, kind, PGR_WIRE_NONCE_LEN + PGR_WIRE_MAC_LEN);
		uint8_t proof[PGR_WIRE_MAC_LEN];

		if (b == NULL)
			return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
		memcpy(s->nonce_peer, b, PGR_WIRE_NONCE_LEN);
		/* prove ourselves under the key the acceptor proved with */
		s->key_used = mac_key(s, LABEL_ACCEPTOR, s->nonce_ours, s->nonce_peer, s->ours.node_id,
							  s->expected_peer, b + PGR_WIRE_NONCE_LEN);
		if (s->key_used < 0)
			return refuse(s, PGR_WIRE_REFUSE_AUTH_FAILED, out, cap, out_len);
		s->key_proven = true;
		session_mac(s, s->key_used, LABEL_DIALER, s->nonce_ours, s->nonce_peer, s->ours.node_id,
					s->expected_peer, proof);
		if (!put_frame(PGR_WIRE_KIND_AUTH_PROOF, proof, sizeof(proof), out, cap, out_len) ||
			!put_handshake(&s->ours, out, cap, out_len))
			return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
		s->step = STEP_DIALER_WAIT_HANDSHAKE;
		return PGR_WIRE_SESSION_CONTINUE;
	}
	if (s->step == STEP_DIALER_WAIT_HANDSHAKE && kind == PGR_WIRE_KIND_HANDSHAKE)
	{
		enum pgr_wire_refusal why = take_handshake(s, frame, len);

		if (why == PGR_WIRE_REFUSE_NONE)
			why = pgr_wire_refusal_of(
				pgr_wire_handshake_compare(&s->ours, &s->peer, s->expected_peer));
		if (why != PGR_WIRE_REFUSE_NONE)
			return refuse(s, why, out, cap, out_len);
		s->step = STEP_DONE;
		return PGR_WIRE_SESSION_OPEN;
	}
	/* A handshake of another version is how an old peer answers anything. */
	if (kind == PGR_WIRE_KIND_HANDSHAKE &&
		take_handshake(s, frame, len) == PGR_WIRE_REFUSE_OTHER_VERSION)
		return refuse(s, PGR_WIRE_REFUSE_OTHER_VERSION, out, cap, out_len);
	return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
}

static enum pgr_wire_session_result
acceptor_handshake(struct pgr_wire_session *s, const uint8_t *frame, size_t len, uint8_t *out,
				   size_t cap, size_t *out_len)
{
	enum pgr_wire_refusal why = take_handshake(s, frame, len);

	/* An old peer cannot authenticate: name its version, not the key. */
	if (why == PGR_WIRE_REFUSE_NONE && has_key(s) && !s->key_proven)
		why = PGR_WIRE_REFUSE_AUTH_REQUIRED;
	if (why != PGR_WIRE_REFUSE_NONE)
		return refuse(s, why, out, cap, out_len);
	s->hs_result = pgr_wire_handshake_compare(&s->ours, &s->peer, PGR_NONE);
	s->step = STEP_ACCEPTOR_DECIDING;
	return PGR_WIRE_SESSION_DECIDE;
}

static enum pgr_wire_session_result
acceptor_step(struct pgr_wire_session *s, const uint8_t *frame, size_t len, uint8_t kind,
			  uint8_t *out, size_t cap, size_t *out_len)
{
	if (s->step == STEP_ACCEPTOR_WAIT_FIRST && kind == PGR_WIRE_KIND_AUTH_HELLO)
	{
		const uint8_t *b = setup_body(frame, len, kind, PGR_WIRE_NONCE_LEN + 16);
		uint8_t challenge[PGR_WIRE_NONCE_LEN + PGR_WIRE_MAC_LEN];

		if (b == NULL)
			return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
		if (!has_key(s))
			return refuse(s, PGR_WIRE_REFUSE_AUTH_UNAVAILABLE, out, cap, out_len);
		memcpy(s->nonce_peer, b, PGR_WIRE_NONCE_LEN);
		s->claimed_id = pgr_get_u64(b + PGR_WIRE_NONCE_LEN);
		if (s->claimed_id == PGR_NONE)
			return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
		/* we sign only for ourselves (see the MAC above) */
		if (pgr_get_u64(b + PGR_WIRE_NONCE_LEN + 8) != s->ours.node_id)
			return refuse(s, PGR_WIRE_REFUSE_OTHER_NODE, out, cap, out_len);
		if (s->claimed_id == s->ours.node_id)
			return refuse(s, PGR_WIRE_REFUSE_SELF, out, cap, out_len);
		if (s->cert_id != PGR_NONE && s->claimed_id != s->cert_id)
			return refuse(s, PGR_WIRE_REFUSE_IDENTITY, out, cap, out_len);
		memcpy(challenge, s->nonce_ours, PGR_WIRE_NONCE_LEN);
		session_mac(s, 0, LABEL_ACCEPTOR, s->nonce_peer, s->nonce_ours, s->claimed_id,
					s->ours.node_id, challenge + PGR_WIRE_NONCE_LEN);
		if (!put_frame(PGR_WIRE_KIND_AUTH_CHALLENGE, challenge, sizeof(challenge), out, cap,
					   out_len))
			return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
		s->step = STEP_ACCEPTOR_WAIT_PROOF;
		return PGR_WIRE_SESSION_CONTINUE;
	}
	if (s->step == STEP_ACCEPTOR_WAIT_PROOF && kind == PGR_WIRE_KIND_AUTH_PROOF)
	{
		const uint8_t *b = setup_body(frame, len, kind, PGR_WIRE_MAC_LEN);

		if (b == NULL)
			return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
		s->key_used = mac_key(s, LABEL_DIALER, s->nonce_peer, s->nonce_ours, s->claimed_id,
							  s->ours.node_id, b);
		if (s->key_used < 0)
			return refuse(s, PGR_WIRE_REFUSE_AUTH_FAILED, out, cap, out_len);
		s->key_proven = true;
		s->step = STEP_ACCEPTOR_WAIT_HANDSHAKE;
		return PGR_WIRE_SESSION_CONTINUE;
	}
	if ((s->step == STEP_ACCEPTOR_WAIT_FIRST || s->step == STEP_ACCEPTOR_WAIT_HANDSHAKE) &&
		kind == PGR_WIRE_KIND_HANDSHAKE)
		return acceptor_handshake(s, frame, len, out, cap, out_len);
	return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
}

enum pgr_wire_session_result
pgr_wire_session_step(struct pgr_wire_session *s, const uint8_t *frame, size_t len, uint8_t *out,
					  size_t cap, size_t *out_len)
{
	uint8_t kind;

	*out_len = 0;
	if (s->step == STEP_DONE || s->step == STEP_ACCEPTOR_DECIDING)
		return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
	if (frame == NULL || len < PGR_WIRE_HEADER_SIZE || len > PGR_WIRE_HANDSHAKE_MAX_FRAME)
		return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
	kind = frame[5];
	if (kind == PGR_WIRE_KIND_REFUSE)
	{
		const uint8_t *b = setup_body(frame, len, kind, 1);

		s->step = STEP_DONE;
		s->refusal = (b != NULL && b[0] > PGR_WIRE_REFUSE_NONE && b[0] < PGR_WIRE_REFUSE_TLS)
						 ? (enum pgr_wire_refusal) b[0]
						 : PGR_WIRE_REFUSE_PROTOCOL;
		s->refused_by_peer = b != NULL;
		return PGR_WIRE_SESSION_REFUSED;
	}
	if (s->role == PGR_WIRE_DIALER)
		return dialer_step(s, frame, len, kind, out, cap, out_len);
	return acceptor_step(s, frame, len, kind, out, cap, out_len);
}

enum pgr_wire_session_result
pgr_wire_session_accept(struct pgr_wire_session *s, const struct pgr_wire_handshake *ours,
						uint8_t *out, size_t cap, size_t *out_len)
{
	*out_len = 0;
	if (s->step != STEP_ACCEPTOR_DECIDING)
		return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
	s->ours = *ours;
	if (!put_handshake(ours, out, cap, out_len))
		return refuse(s, PGR_WIRE_REFUSE_PROTOCOL, out, cap, out_len);
	s->step = STEP_DONE;
	return PGR_WIRE_SESSION_OPEN;
}

enum pgr_wire_session_result
pgr_wire_session_refuse(struct pgr_wire_session *s, enum pgr_wire_refusal why, uint8_t *out,
						size_t cap, size_t *out_len)
{
	*out_len = 0;
	if (why == PGR_WIRE_REFUSE_NONE || why >= PGR_WIRE_REFUSE_N)
		why = PGR_WIRE_REFUSE_PROTOCOL;
	return refuse(s, why, out, cap, out_len);
}
