/*-------------------------------------------------------------------------
 *
 * security.h
 *		Who may talk to this node's Raft port: TLS certificates (pgraft.ssl)
 *		and the cluster's shared key (pgraft.auth_key_file), loaded at start
 *		and on every reload.
 *
 * The transport asks for the credentials when a connection begins, so a
 * reload (certificate or key rotation) changes what new connections use
 * while established ones go on.  A reload that cannot be used keeps the
 * previous credentials and says why in the log, as PostgreSQL does with
 * its own SSL files.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/security.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_SECURITY_H
#define PGRAFT_SECURITY_H

#include "pgraft/wire.h"

/* Load the settings at the worker's start: FATAL if they cannot be used. */
extern void pgraft_security_init(void);

/* After a reload: load anew, or keep the old credentials and LOG why. */
extern void pgraft_security_reload(void);

/* The shared-key proof for a new connection (n_keys 0: none). */
extern const struct pgr_wire_auth *pgraft_security_auth(void);

/* The TLS context new connections use, or NULL when pgraft.ssl is off. */
struct pgr_tls_ctx;
extern struct pgr_tls_ctx *pgraft_security_tls(void);

/* Does this node make its peers prove anything? */
extern bool pgraft_security_authenticates(void);

/* Fill buf with len cryptographically strong random bytes (FATAL if none). */
extern void pgraft_security_random(uint8 *buf, size_t len);

#endif							/* PGRAFT_SECURITY_H */
