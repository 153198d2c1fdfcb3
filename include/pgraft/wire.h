/*-------------------------------------------------------------------------
 *
 * wire.h
 *		The pgraft wire protocol: frames, handshake, Raft messages and
 *		snapshot chunks, encoded and decoded without I/O.
 *
 * A Raft port is reachable by anyone on the network, so decoding is total:
 * any byte string yields either a value or an error code, never a crash, a
 * read outside the given buffer, or an allocation larger than the bytes
 * actually received justify.  Semantic checks (term ordering, who may send
 * what) stay in pgr_node_step(); this layer checks only what struct pgr_msg
 * promises (known type, consistent entry count, valid entry types, lengths
 * within the frame).
 *
 * The byte layout, the versioning rule and the limits are documented in
 * docs/wire.md and at the top of src/core/wire.c.
 *
 * HOW A NON-BLOCKING TRANSPORT USES IT
 *
 *	Receive: append bytes from the socket to a per-connection buffer, then
 *	loop on pgr_wire_frame_check(): NEED_MORE means read again (out.len says
 *	how many bytes the frame needs in total, once the header is in);
 *	FRAME_READY means the first out.len bytes are one frame: dispatch on
 *	out.kind (handshake, message, snapshot chunk, ping), then drop those
 *	bytes.
 *	Any other status means the stream is unusable: close the connection.
 *	Until the peer's handshake has been accepted, pass max_frame =
 *	PGR_WIRE_HANDSHAKE_MAX_FRAME so that an unknown client cannot make us
 *	buffer a large frame.
 *
 *	Send: pgr_wire_msg_size() gives the exact frame size, then
 *	pgr_wire_encode_msg() writes it into a buffer of at least that size.
 *	MsgSnap is never sent as one message frame: cut it into chunk frames with
 *	pgr_wire_snap_chunk_next() and encode each with pgr_wire_encode_snap_chunk();
 *	the receiver feeds them to a struct pgr_wire_snap_assembler.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * include/pgraft/wire.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_WIRE_H
#define PGRAFT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgraft/core.h"

/* ---------------------------------------------------------------------- */
/* Frames                                                                 */
/* ---------------------------------------------------------------------- */

/* The protocol version this code speaks (the version byte of every frame). */
#define PGR_WIRE_VERSION 4

/* Every frame starts with this many header bytes (length, version, kind, flags). */
#define PGR_WIRE_HEADER_SIZE 8

/*
 * Hard maximum size of one frame, header included.  It fits a MsgApp that
 * carries one entry of the core's default max_entry_bytes (64 MiB) with room
 * for headers; the transport may pass a smaller max_frame, never a larger.
 * Entries larger than PGR_WIRE_MAX_ENTRY_DATA cannot be replicated, so the
 * node's max_entry_bytes must not exceed it.
 */
#define PGR_WIRE_MAX_FRAME      ((size_t) 65 * 1024 * 1024)
#define PGR_WIRE_MAX_ENTRY_DATA ((uint32_t) 64 * 1024 * 1024)

/* A handshake frame is never larger than this, in any protocol version. */
#define PGR_WIRE_HANDSHAKE_MAX_FRAME ((size_t) 512)

enum pgr_wire_kind
{
	PGR_WIRE_KIND_HANDSHAKE = 1,      /* first frame each side sends */
	PGR_WIRE_KIND_MSG = 2,            /* one struct pgr_msg (never MsgSnap) */
	PGR_WIRE_KIND_SNAP_CHUNK = 3,     /* one piece of a MsgSnap */
	PGR_WIRE_KIND_PING = 4,           /* nothing but "this connection lives" */
	PGR_WIRE_KIND_REFUSE = 5,         /* why the sender closes the connection */
	PGR_WIRE_KIND_AUTH_HELLO = 6,     /* dialer: nonce and the id it claims */
	PGR_WIRE_KIND_AUTH_CHALLENGE = 7, /* acceptor: nonce and its proof */
	PGR_WIRE_KIND_AUTH_PROOF = 8      /* dialer: its proof */
};

enum pgr_wire_frame_status
{
	PGR_WIRE_NEED_MORE = 0, /* incomplete: read more, call again */
	PGR_WIRE_FRAME_READY,   /* the first out->len bytes are one frame */
	PGR_WIRE_FRAME_TOO_BIG, /* declared length exceeds max_frame */
	PGR_WIRE_FRAME_BAD      /* header invalid: unknown kind, version 0 ... */
};

struct pgr_wire_frame
{
	size_t len;      /* total frame length, header included */
	uint8_t version; /* valid once the header is in */
	uint8_t kind;    /* enum pgr_wire_kind */
};

/*
 * Look at the bytes received so far (buf may be NULL when len is 0) and say
 * whether they start with a complete frame.  Reads at most the 8 header bytes
 * and never past len.  max_frame is the caller's limit; 0 or anything above
 * PGR_WIRE_MAX_FRAME means PGR_WIRE_MAX_FRAME.  On NEED_MORE, out->len is the
 * number of bytes needed to go on (the header size until the header is in,
 * then the whole frame's length).  The frame's body is not validated here:
 * the decoder for out->kind does that.  Frames of another protocol version
 * pass only if they are handshakes, so that the version mismatch can be
 * reported clearly instead of as garbage.
 */
enum pgr_wire_frame_status pgr_wire_frame_check(const uint8_t *buf, size_t len, size_t max_frame,
												struct pgr_wire_frame *out);

const char *pgr_wire_frame_status_name(enum pgr_wire_frame_status st);

/* A ping frame: PGR_WIRE_HEADER_SIZE bytes at buf. */
void pgr_wire_encode_ping(uint8_t *buf);

/* ---------------------------------------------------------------------- */
/* Handshake                                                              */
/* ---------------------------------------------------------------------- */

#define PGR_WIRE_CLUSTER_ID_LEN   16
#define PGR_WIRE_CLUSTER_NAME_MAX 63 /* bytes, printable ASCII, at least 1 */

/*
 * What each side says first: who it is and which cluster it belongs to.  The
 * handshake's layout is the same in every protocol version, so a node can
 * always tell "other protocol version" apart from "not a pgraft peer".
 */
struct pgr_wire_handshake
{
	uint8_t version;  /* the sender's protocol version */
	uint64_t node_id; /* > 0 */
	uint8_t cluster_id[PGR_WIRE_CLUSTER_ID_LEN];
	uint8_t name_len;                                 /* 1 .. PGR_WIRE_CLUSTER_NAME_MAX */
	char cluster_name[PGR_WIRE_CLUSTER_NAME_MAX + 1]; /* NUL-terminated */
	/* our version only (0 in handshakes of other versions) */
	uint32_t heartbeat_ms; /* the sender's heartbeat interval */
	uint32_t election_ms;  /* the sender's election timeout */
	uint64_t config_index; /* index of the sender's latest configuration */
};

/*
 * Fill *hs for this node, speaking PGR_WIRE_VERSION.  name must be 1 ..
 * PGR_WIRE_CLUSTER_NAME_MAX bytes of printable ASCII (it ends up in log
 * messages of the peer), node_id > 0; otherwise PGR_EINVAL.  The timing
 * fields start at 0; the caller sets them.
 */
enum pgr_err pgr_wire_handshake_init(struct pgr_wire_handshake *hs, uint64_t node_id,
									 const uint8_t cluster_id[PGR_WIRE_CLUSTER_ID_LEN],
									 const char *name);

/*
 * Encode *hs as a handshake frame of version hs->version into buf.  *len_out
 * is set to the frame length (at most PGR_WIRE_HANDSHAKE_MAX_FRAME).
 * PGR_EINVAL if *hs is invalid or cap is smaller than the frame.
 */
enum pgr_err pgr_wire_encode_handshake(const struct pgr_wire_handshake *hs, uint8_t *buf,
									   size_t cap, size_t *len_out);

/*
 * Decode one complete handshake frame (exactly len bytes).  A handshake of
 * another protocol version is decoded too (bytes after the frozen fields are
 * then ignored), so that pgr_wire_handshake_compare() can name the mismatch.
 * PGR_EBADMSG for anything malformed.
 */
enum pgr_err pgr_wire_decode_handshake(const uint8_t *frame, size_t len,
									   struct pgr_wire_handshake *out);

enum pgr_wire_hs_result
{
	PGR_WIRE_HS_OK = 0,
	PGR_WIRE_HS_OTHER_VERSION, /* peer speaks another protocol version */
	PGR_WIRE_HS_OTHER_CLUSTER, /* cluster name or cluster id differ */
	PGR_WIRE_HS_SELF,          /* peer claims our own node id */
	PGR_WIRE_HS_OTHER_NODE     /* peer is not the node we meant to reach */
};

/*
 * Decide whether to talk to a peer.  Checked in the order of the enum: a
 * different version first (nothing else can be trusted then), then the
 * cluster, then the node ids.  expected_peer is the id we dialled, or
 * PGR_NONE for an incoming connection.  Timing is not compared here: a
 * member with other timing must still be reachable; the transport warns.
 */
enum pgr_wire_hs_result pgr_wire_handshake_compare(const struct pgr_wire_handshake *ours,
												   const struct pgr_wire_handshake *peer,
												   uint64_t expected_peer);

/* A lower-case reason for logs, e.g. "peer speaks another protocol version". */
const char *pgr_wire_hs_result_str(enum pgr_wire_hs_result res);

/* ---------------------------------------------------------------------- */
/* Connection setup: who may talk (version 3)                             */
/* ---------------------------------------------------------------------- */

/*
 * Why a connection is refused.  The values travel in a REFUSE frame (one
 * byte), so they are part of the protocol: never renumber them.  A refusal
 * names a reason, never anything about the refusing node's cluster.  The
 * values from PGR_WIRE_REFUSE_TLS on are never sent: the connection is
 * closed without a word (there is no channel to say it on, or saying it
 * would help a flood).
 */
enum pgr_wire_refusal
{
	PGR_WIRE_REFUSE_NONE = 0,
	PGR_WIRE_REFUSE_OTHER_VERSION = 1,      /* peer speaks another protocol version */
	PGR_WIRE_REFUSE_OTHER_CLUSTER = 2,      /* cluster name or id differ */
	PGR_WIRE_REFUSE_SELF = 3,               /* peer claims our own node id */
	PGR_WIRE_REFUSE_OTHER_NODE = 4,         /* not the node that was dialled */
	PGR_WIRE_REFUSE_AUTH_REQUIRED = 5,      /* peer did not prove the cluster key */
	PGR_WIRE_REFUSE_AUTH_UNAVAILABLE = 6,   /* peer asks for key proof; we have
											 * no key */
	PGR_WIRE_REFUSE_AUTH_FAILED = 7,        /* the proof is wrong: another key */
	PGR_WIRE_REFUSE_IDENTITY = 8,           /* claims an id it did not authenticate as */
	PGR_WIRE_REFUSE_NOT_MEMBER = 9,         /* not in our configuration, knows an older one */
	PGR_WIRE_REFUSE_ALREADY_CONNECTED = 10, /* that id has a live connection */
	PGR_WIRE_REFUSE_NOT_ADOPTED = 11,       /* declined to join the peer's cluster */
	PGR_WIRE_REFUSE_PROTOCOL = 12,          /* malformed or out-of-order frame */
	PGR_WIRE_REFUSE_TLS = 13,               /* local: TLS failed (certificate, protocol) */
	PGR_WIRE_REFUSE_TIMEOUT = 14,           /* local: setup not done in time */
	PGR_WIRE_REFUSE_FLOOD = 15,             /* local: too many connections in setup */
	PGR_WIRE_REFUSE_N
};

/* A lower-case reason for logs, e.g. "peer is not a member of this cluster". */
const char *pgr_wire_refusal_str(enum pgr_wire_refusal r);

/* A short lower-case token for counters, e.g. "not_member". */
const char *pgr_wire_refusal_name(enum pgr_wire_refusal r);

#define PGR_WIRE_NONCE_LEN   32
#define PGR_WIRE_MAC_LEN     32
#define PGR_WIRE_BINDING_MAX 64

/*
 * HMAC-SHA-256 of msg[0 .. len) under key, into out.  The caller provides
 * it (this layer has no cryptography of its own): OpenSSL in the server,
 * the same in tests.
 */
typedef void (*pgr_wire_mac_fn)(void *arg, const uint8_t *key, size_t key_len, const uint8_t *msg,
								size_t len, uint8_t out[PGR_WIRE_MAC_LEN]);

/*
 * The cluster's shared secrets.  keys[0] is the one this node proves with;
 * a proof under any of them is accepted, so that a key can be rotated
 * node by node (add the new one second everywhere, then make it first
 * everywhere, then drop the old one).  n_keys 0: no shared-secret proof.
 */
#define PGR_WIRE_AUTH_MAX_KEYS 2
#define PGR_WIRE_KEY_MAX       256 /* bytes per key */

struct pgr_wire_auth
{
	int n_keys;
	const uint8_t *keys[PGR_WIRE_AUTH_MAX_KEYS];
	size_t key_lens[PGR_WIRE_AUTH_MAX_KEYS];
	pgr_wire_mac_fn mac;
	void *mac_arg;
};

enum pgr_wire_role
{
	PGR_WIRE_DIALER,
	PGR_WIRE_ACCEPTOR
};

/*
 * The setup of one connection, from the first byte to "established", as a
 * state machine without I/O.  Both sides prove themselves before either
 * says anything about its cluster:
 *
 *	with a shared key (struct pgr_wire_auth.n_keys > 0):
 *		dialer   -> AUTH_HELLO      nonce_d, the node id it claims, the id it dials
 *		acceptor -> AUTH_CHALLENGE  nonce_a, MAC(key, "acceptor", nonce_d, nonce_a, ids, binding)
 *		dialer   -> AUTH_PROOF      MAC(key, "dialer", nonce_d, nonce_a, ids, binding)
 *		dialer   -> HANDSHAKE       (the dialer has checked the acceptor's proof)
 *		acceptor -> HANDSHAKE or REFUSE
 *	without:
 *		dialer   -> HANDSHAKE
 *		acceptor -> HANDSHAKE or REFUSE
 *
 * Each side draws its nonce fresh, so a recorded exchange proves nothing on
 * another connection; the role label keeps one side's proof from serving as
 * the other's; both node ids keep a proof obtained from one member from
 * passing for another's (a dialer needs expected_peer).  binding ties the proofs to the TLS channel below (its
 * exporter value) when there is one.  cert_id is the node id the TLS peer's
 * certificate names (PGR_NONE without TLS): a peer may then speak only as
 * that node.
 *
 * A side that refuses sends REFUSE with a reason and closes; the reason
 * names what was wrong, never the cluster's id, name or members.
 */
enum pgr_wire_session_result
{
	PGR_WIRE_SESSION_CONTINUE, /* send what was written, wait for a frame */
	PGR_WIRE_SESSION_DECIDE,   /* acceptor: s->peer is the peer's valid
								 * handshake and s->hs_result the compare;
								 * call _accept or _refuse */
	PGR_WIRE_SESSION_OPEN,     /* established: s->peer is the peer */
	PGR_WIRE_SESSION_REFUSED   /* send what was written, close:
								 * s->refusal, s->refused_by_peer */
};

/* Room for what one call may write: proof and handshake, at most. */
#define PGR_WIRE_SESSION_OUT_MAX (2 * PGR_WIRE_HANDSHAKE_MAX_FRAME)

struct pgr_wire_session
{
	enum pgr_wire_role role;
	int step; /* internal: which frame comes next */
	struct pgr_wire_auth auth;
	struct pgr_wire_handshake ours;
	uint64_t expected_peer; /* dialer: the id dialled (PGR_NONE: any) */
	uint64_t cert_id;       /* the TLS peer's certified id, or PGR_NONE */
	uint8_t nonce_ours[PGR_WIRE_NONCE_LEN];
	uint8_t nonce_peer[PGR_WIRE_NONCE_LEN];
	uint64_t claimed_id; /* the id in the dialer's AUTH_HELLO */
	uint8_t binding[PGR_WIRE_BINDING_MAX];
	size_t binding_len;
	uint8_t key_store[PGR_WIRE_AUTH_MAX_KEYS][PGR_WIRE_KEY_MAX]; /* auth.keys */
	bool key_proven;                   /* the peer proved the shared key */
	int key_used;                      /* which of auth.keys the proofs are under */
	struct pgr_wire_handshake peer;    /* valid from DECIDE / OPEN on */
	enum pgr_wire_hs_result hs_result; /* acceptor, at DECIDE */
	enum pgr_wire_refusal refusal;     /* at REFUSED */
	bool refused_by_peer;              /* the REFUSE came from the peer */
};

/*
 * Begin a connection's setup.  nonce: PGR_WIRE_NONCE_LEN fresh random bytes
 * from the caller.  binding may be NULL (binding_len 0).  A dialer writes
 * its first frame to out (cap >= PGR_WIRE_SESSION_OUT_MAX); an acceptor
 * writes nothing.  PGR_EINVAL for bad arguments.
 */
enum pgr_err pgr_wire_session_start(struct pgr_wire_session *s, enum pgr_wire_role role,
									const struct pgr_wire_auth *auth,
									const struct pgr_wire_handshake *ours, uint64_t expected_peer,
									uint64_t cert_id, const uint8_t nonce[PGR_WIRE_NONCE_LEN],
									const uint8_t *binding, size_t binding_len, uint8_t *out,
									size_t cap, size_t *out_len);

/*
 * Take one complete frame (pgr_wire_frame_check said READY with max_frame
 * PGR_WIRE_HANDSHAKE_MAX_FRAME) and write the answer, if any, to out.
 */
enum pgr_wire_session_result pgr_wire_session_step(struct pgr_wire_session *s, const uint8_t *frame,
												   size_t len, uint8_t *out, size_t cap,
												   size_t *out_len);

/*
 * The acceptor's decision after DECIDE.  _accept answers with ours (our
 * handshake now: an adopted node answers with its new identity) and opens;
 * _refuse writes REFUSE with the reason.
 */
enum pgr_wire_session_result pgr_wire_session_accept(struct pgr_wire_session *s,
													 const struct pgr_wire_handshake *ours,
													 uint8_t *out, size_t cap, size_t *out_len);
enum pgr_wire_session_result pgr_wire_session_refuse(struct pgr_wire_session *s,
													 enum pgr_wire_refusal why, uint8_t *out,
													 size_t cap, size_t *out_len);

/* The refusal a handshake comparison stands for. */
enum pgr_wire_refusal pgr_wire_refusal_of(enum pgr_wire_hs_result res);

/* A REFUSE frame with reason why: PGR_WIRE_HEADER_SIZE + 1 bytes at buf. */
#define PGR_WIRE_REFUSE_FRAME_SIZE (PGR_WIRE_HEADER_SIZE + 1)
void pgr_wire_encode_refuse(enum pgr_wire_refusal why, uint8_t *buf);

/* ---------------------------------------------------------------------- */
/* Messages                                                               */
/* ---------------------------------------------------------------------- */

/*
 * Exact frame size of msg in *size_out.  PGR_EINVAL when msg cannot be
 * encoded: unknown type, MsgSnap (use snapshot chunks), entries on a type
 * other than MsgApp and MsgProp, n_entries > 0 with entries NULL, an entry of
 * an invalid type or with len > 0 and data NULL, a snapshot on a non-SNAP
 * message.  PGR_ETOOBIG when the frame would exceed PGR_WIRE_MAX_FRAME.
 */
enum pgr_err pgr_wire_msg_size(const struct pgr_msg *msg, size_t *size_out);

/*
 * Encode msg as one frame into buf.  Same errors as pgr_wire_msg_size(), and
 * PGR_EINVAL if cap is smaller than that size (nothing useful is written
 * then).  On success *len_out is the frame length.
 */
enum pgr_err pgr_wire_encode_msg(const struct pgr_msg *msg, uint8_t *buf, size_t cap,
								 size_t *len_out);

/*
 * Decode one complete message frame (exactly len bytes) into *out.
 *
 * Ownership: out->entries (if n_entries > 0) is allocated through alloc;
 * each entries[i].data points INTO frame (NULL when len is 0), so the frame
 * buffer must stay unchanged until the caller is done with the message (for
 * pgr_node_step that is until it returns: the node copies what it keeps).
 * Release with pgr_wire_msg_free().  On error nothing is allocated and *out
 * is zeroed.
 *
 * PGR_EBADMSG for anything malformed (wrong kind or version, unknown type,
 * MsgSnap, entries on a type that carries none, invalid entry type, a count
 * or length that does not match the bytes present, trailing bytes);
 * PGR_ETOOBIG for a frame larger than PGR_WIRE_MAX_FRAME; PGR_ENOMEM.
 */
enum pgr_err pgr_wire_decode_msg(const uint8_t *frame, size_t len,
								 const struct pgr_allocator *alloc, struct pgr_msg *out);

/*
 * Free what a decoder or the snapshot assembler allocated in *msg (the
 * entries array, the snapshot and its data) and clear those fields.  Entry
 * data is not freed (it points into the frame).  Not for messages built by
 * anyone else.
 */
void pgr_wire_msg_free(const struct pgr_allocator *alloc, struct pgr_msg *msg);

/* ---------------------------------------------------------------------- */
/* Snapshot chunks                                                        */
/* ---------------------------------------------------------------------- */

/*
 * One piece of a MsgSnap.  Every chunk repeats the message header and the
 * snapshot metadata, so a receiver can check that all pieces belong to the
 * same snapshot.  data[0 .. len) is the snapshot's bytes [offset, offset +
 * len) out of total.  A chunk carries at least one byte unless total is 0.
 */
struct pgr_wire_snap_chunk
{
	struct pgr_msg msg;            /* type SNAP; entries and snapshot NULL */
	struct pgr_snapshot_meta meta; /* config with 0 members = none */
	uint64_t total;
	uint64_t offset;
	uint32_t len;
	const uint8_t *data; /* points into the snapshot or the frame */
};

/*
 * Describe the chunk of msg (a MsgSnap with snapshot != NULL) that starts at
 * offset and carries at most max_data bytes.  No bytes are copied: out->data
 * points into msg->snapshot->data.  The next chunk starts at out->offset +
 * out->len; the transfer is done when that equals msg->snapshot->len (an
 * empty snapshot is one chunk of 0 bytes).  PGR_EINVAL for a bad msg,
 * max_data of 0, or an offset past the end.
 */
enum pgr_err pgr_wire_snap_chunk_next(const struct pgr_msg *msg, uint64_t offset, size_t max_data,
									  struct pgr_wire_snap_chunk *out);

/*
 * Exact frame size of chunk c; PGR_EINVAL for an inconsistent chunk (bad
 * message header, invalid config, offset/len outside total, empty chunk of a
 * non-empty snapshot), PGR_ETOOBIG past PGR_WIRE_MAX_FRAME.
 */
enum pgr_err pgr_wire_snap_chunk_size(const struct pgr_wire_snap_chunk *c, size_t *size_out);

/* Encode chunk c into buf: errors as above, PGR_EINVAL if cap is too small. */
enum pgr_err pgr_wire_encode_snap_chunk(const struct pgr_wire_snap_chunk *c, uint8_t *buf,
										size_t cap, size_t *len_out);

/*
 * Decode one complete chunk frame (exactly len bytes).  out->data points into
 * frame.  Nothing is allocated.  PGR_EBADMSG for anything malformed,
 * PGR_ETOOBIG for a frame larger than PGR_WIRE_MAX_FRAME.
 */
enum pgr_err pgr_wire_decode_snap_chunk(const uint8_t *frame, size_t len,
										struct pgr_wire_snap_chunk *out);

/*
 * Reassembles the chunks of one MsgSnap, arriving in order on one
 * connection.  Memory is bounded twice: a snapshot whose total exceeds
 * max_snapshot is refused outright, and the buffer grows with the bytes
 * actually received (at most twice them), so a forged total costs nothing.
 * Fields are private; use the functions below.
 */
struct pgr_wire_snap_assembler
{
	struct pgr_allocator alloc;
	uint64_t max_snapshot;
	bool active;               /* a transfer is in progress */
	struct pgr_msg msg;        /* header of the transfer in progress */
	struct pgr_snapshot *snap; /* meta and total (in len) of that transfer */
	uint8_t *buf;              /* bytes received so far */
	size_t cap;                /* allocated size of buf */
	uint64_t received;         /* == the offset the next chunk must have */
};

/* Start idle.  Nothing is allocated until the first chunk. */
void pgr_wire_snap_assembler_init(struct pgr_wire_snap_assembler *a,
								  const struct pgr_allocator *alloc, uint64_t max_snapshot);

/*
 * Add one chunk frame (exactly len bytes).  *complete is set to true when
 * this chunk finished a snapshot: *out is then a MsgSnap whose snapshot (and
 * its data) the caller owns and releases with pgr_wire_msg_free(), and the
 * assembler is idle again.  Otherwise *out is untouched.
 *
 * The first chunk must have offset 0; each next chunk must continue exactly
 * where the previous one ended and repeat the same message header, metadata
 * and total.  Any violation, a malformed frame (PGR_EBADMSG), a total above
 * max_snapshot (PGR_ETOOBIG) or PGR_ENOMEM abandons the transfer: the
 * assembler frees what it held and is idle, and the transport should close
 * the connection (the sender then retries the snapshot from the start).
 */
enum pgr_err pgr_wire_snap_assembler_add(struct pgr_wire_snap_assembler *a, const uint8_t *frame,
										 size_t len, struct pgr_msg *out, bool *complete);

/* Abandon any transfer in progress and free its memory (e.g. on disconnect). */
void pgr_wire_snap_assembler_reset(struct pgr_wire_snap_assembler *a);

#endif /* PGRAFT_WIRE_H */
