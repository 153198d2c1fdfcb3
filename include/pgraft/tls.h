/*-------------------------------------------------------------------------
 *
 * tls.h
 *		TLS for the Raft transport, over memory buffers: no sockets, no
 *		PostgreSQL, only OpenSSL (src/tls/tls.c).
 *
 * The transport moves bytes between a socket and a struct pgr_tls_conn:
 * what arrives goes in with pgr_tls_feed(), plaintext comes out of
 * pgr_tls_read(); plaintext to send goes in with pgr_tls_write(), and what
 * must go on the wire comes out of pgr_tls_take_out().  Keeping the socket
 * out of OpenSSL keeps the transport's one non-blocking loop as it is
 * (nothing here can block or want a socket event of its own), and lets the
 * fuzzer and the unit tests drive two ends in memory.
 *
 * IDENTITY.  Both ends present a certificate signed by the cluster's CA
 * (TLS 1.2 at least; 1.3 is negotiated when both can).  A node's
 * certificate names it as "pgraft-node-<id>.<cluster name>", in a DNS
 * subjectAltName or in the subject's common name; pgr_tls_peer_identity()
 * returns that id, which is then the only node id the peer may speak for.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * include/pgraft/tls.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_TLS_H
#define PGRAFT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The files of a node's TLS setup (paths as the caller resolves them). */
struct pgr_tls_files
{
	const char *cert_file; /* this node's certificate (chain), PEM */
	const char *key_file;  /* its private key, PEM, not encrypted */
	const char *ca_file;   /* the cluster's CA certificate(s), PEM */
	const char *crl_file;  /* revoked certificates, PEM; NULL or "": none */
};

/* One loaded configuration; connections keep what they began with. */
struct pgr_tls_ctx;

/*
 * Load the files.  NULL with the reason in why (one line, for the log) if
 * they cannot be used: missing, unreadable, not matching, encrypted key.
 */
struct pgr_tls_ctx *pgr_tls_ctx_new(const struct pgr_tls_files *files, char *why, size_t why_size);
void pgr_tls_ctx_free(struct pgr_tls_ctx *ctx);

/* When the loaded certificate stops being valid (seconds since the epoch). */
int64_t pgr_tls_ctx_not_after(const struct pgr_tls_ctx *ctx);

struct pgr_tls_conn;

enum pgr_tls_status
{
	PGR_TLS_AGAIN = 0, /* nothing more until bytes arrive */
	PGR_TLS_OK,        /* progress (handshake done, data read) */
	PGR_TLS_CLOSED,    /* the peer closed the TLS session */
	PGR_TLS_FAILED     /* fatal: pgr_tls_error() says why */
};

/* A connection's TLS end, dialer (client) or acceptor (server). */
struct pgr_tls_conn *pgr_tls_conn_new(struct pgr_tls_ctx *ctx, bool dialer);
void pgr_tls_conn_free(struct pgr_tls_conn *c);

/* Bytes from the network.  False only if out of memory. */
bool pgr_tls_feed(struct pgr_tls_conn *c, const uint8_t *buf, size_t len);

/*
 * Advance the handshake with what was fed.  OK once it is complete (and
 * every call after), AGAIN while it needs the peer, FAILED on a bad or
 * missing certificate or a protocol error.  The handshake's own bytes
 * come out of pgr_tls_take_out().
 */
enum pgr_tls_status pgr_tls_handshake(struct pgr_tls_conn *c);

/*
 * Plaintext received, up to cap bytes into out (*n set).  OK when *n > 0,
 * AGAIN when nothing is buffered, CLOSED, FAILED.  Only after the handshake.
 */
enum pgr_tls_status pgr_tls_read(struct pgr_tls_conn *c, uint8_t *out, size_t cap, size_t *n);

/* Encrypt plaintext for sending (all of it).  Only after the handshake. */
enum pgr_tls_status pgr_tls_write(struct pgr_tls_conn *c, const uint8_t *buf, size_t len);

/* Bytes waiting to go on the wire, and taking up to cap of them. */
size_t pgr_tls_out_pending(const struct pgr_tls_conn *c);
size_t pgr_tls_take_out(struct pgr_tls_conn *c, uint8_t *buf, size_t cap);

/* Why the connection failed, for the log ("" if it did not). */
const char *pgr_tls_error(const struct pgr_tls_conn *c);

/* The negotiated protocol, e.g. "TLSv1.3" (after the handshake). */
const char *pgr_tls_version(const struct pgr_tls_conn *c);

enum pgr_tls_identity
{
	PGR_TLS_ID_OK = 0,
	PGR_TLS_ID_NO_NAME,      /* no pgraft-node-<id>.<name> in the certificate */
	PGR_TLS_ID_OTHER_CLUSTER /* it names a node of another cluster */
};

/*
 * The node id the peer's (verified) certificate names for cluster_name.
 * Checks every DNS subjectAltName, then the common name.
 */
enum pgr_tls_identity pgr_tls_peer_identity(const struct pgr_tls_conn *c, const char *cluster_name,
											uint64_t *id);

/* Parse one certificate name; the same rule, exposed for the unit tests. */
enum pgr_tls_identity pgr_tls_parse_node_name(const char *name, size_t len,
											  const char *cluster_name, uint64_t *id);

/*
 * Keying material both ends derive from this TLS session (RFC 5705
 * exporter), for binding the shared-key proofs to the channel.
 */
#define PGR_TLS_BINDING_LEN 32
bool pgr_tls_binding(const struct pgr_tls_conn *c, uint8_t out[PGR_TLS_BINDING_LEN]);

#endif /* PGRAFT_TLS_H */
