/*-------------------------------------------------------------------------
 *
 * worker.h
 *		Pieces of the pgraft worker shared between its files.
 *
 * src/pg/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_WORKER_H
#define PGRAFT_WORKER_H

#include "pgraft/core.h"

/* identity.c: who this node is and which cluster it belongs to. */
typedef struct PgraftIdentity
{
	bool		initialized;	/* a cluster id is set */
	uint8		cluster_id[16];
	uint64		node_id;
} PgraftIdentity;

extern void pgraft_identity_load(const char *dir, PgraftIdentity *id);
extern void pgraft_identity_save(const char *dir, const PgraftIdentity *id);
extern void pgraft_identity_format(const uint8 *cluster_id, char *out, size_t size);

/* The application state carried by snapshots (state.c). */
typedef struct PgraftAppState
{
	uint64		entries_appended;	/* valid application entries applied */
} PgraftAppState;

extern void pgraft_app_state_encode(const PgraftAppState *st, uint8 *buf, size_t *len);
extern bool pgraft_app_state_decode(const uint8 *buf, uint64 len, PgraftAppState *st);

#define PGRAFT_APP_STATE_SIZE 16

#endif							/* PGRAFT_WORKER_H */
