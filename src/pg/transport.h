/*-------------------------------------------------------------------------
 *
 * transport.h
 *		Non-blocking TCP between pgraft nodes.
 *
 * Each node dials every other member and sends its Raft messages on that
 * outgoing connection, or, if it has none yet (a node that has just joined
 * learns the others' addresses only from the log), on the connection the
 * peer dialled to it.  A connection starts with its setup: the shared-key
 * proofs when pgraft.auth_key_file is set, then a handshake each way
 * (protocol version, cluster name and id, node id, latest configuration);
 * the dialler speaks first, the acceptor answers or refuses.  All of it
 * runs inside the worker's event loop: nothing here blocks except name
 * resolution of non-numeric hosts.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/transport.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_TRANSPORT_H
#define PGRAFT_TRANSPORT_H

#include <sys/socket.h>

#include "storage/latch.h"

#include "pgraft/core.h"
#include "pgraft/wire.h"

/*
 * What happened on the network, for the worker's loop to handle between
 * ready batches.  The transport never calls into the worker: a message, a
 * lost peer or a stranger asking to adopt us is queued here, and the loop
 * takes it when nothing else is in progress (a lost peer reported in the
 * middle of a batch used to kill the worker).
 */
typedef enum PgraftTransportEventKind
{
	PGRAFT_TEV_MESSAGE = 1,		/* msg arrived from an accepted peer */
	PGRAFT_TEV_PEER_RESET,		/* an established connection with peer broke:
								 * a weak signal (a reset, a blip), redialled */
	PGRAFT_TEV_PEER_DOWN,		/* peer's port refused our redial after such a
								 * break: its host is up, its process gone */
	PGRAFT_TEV_ADOPT,			/* a node of our cluster name but another
								 * cluster id wants to adopt us: its handshake
								 * waits for pgraft_transport_adopt_done() */
	PGRAFT_TEV_PROBE_DONE		/* a probe ended: error is "" on success */
} PgraftTransportEventKind;

typedef struct PgraftTransportEvent
{
	PgraftTransportEventKind kind;
	uint64		peer;
	struct pgr_msg msg;			/* MESSAGE: valid until the next event is
								 * taken */
	struct pgr_wire_handshake hs;	/* ADOPT */
	int			conn;			/* ADOPT: for pgraft_transport_adopt_done */
	int			tag;			/* PROBE_DONE */
	char		error[128];
	char		detail[256];
} PgraftTransportEvent;

extern void pgraft_transport_init(const struct pgr_allocator *alloc);

/*
 * A non-blocking listening TCP socket on host:port (the Raft port's and the
 * metrics endpoint's).  On failure: PGINVALID_SOCKET, *failed names the
 * step, and errno (or *gai_err for RESOLVE) says why; the caller reports
 * it with its own severity.  addr (may be NULL) gets the address bound.
 */
typedef enum PgraftListenStep
{
	PGRAFT_LISTEN_OK = 0,
	PGRAFT_LISTEN_RESOLVE,
	PGRAFT_LISTEN_SOCKET,
	PGRAFT_LISTEN_BIND,
	PGRAFT_LISTEN_LISTEN
} PgraftListenStep;

extern pgsocket pgraft_listen_socket(const char *host, int port, int backlog,
									 struct sockaddr_storage *addr, socklen_t *addr_len,
									 PgraftListenStep *failed, int *gai_err);
extern void pgraft_transport_shutdown(void);

/*
 * Our handshake: node id, cluster id (all zero before init/joining), name.
 * Connections made under another identity start over, except those waiting
 * for an adoption decision.
 */
extern void pgraft_transport_set_identity(uint64 node_id, const uint8 *cluster_id,
										  const char *cluster_name);

/* Take the next event (false if none); the previous one's memory is freed. */
extern bool pgraft_transport_next_event(PgraftTransportEvent *ev);

/*
 * The worker's answer to an ADOPT event: adopted (our identity was set to
 * the peer's cluster first) completes the handshake, otherwise it is refused.
 */
extern void pgraft_transport_adopt_done(int conn, bool adopted);

/*
 * The peers to dial: every member of the latest configuration (at
 * config_index) but us.  Only they may connect to us, and nodes that know
 * this configuration or a newer one.
 */
typedef struct PgraftPeerAddr
{
	uint64		id;
	char		host[256];
	int			port;
} PgraftPeerAddr;

extern void pgraft_transport_set_peers(const PgraftPeerAddr *peers, int n,
									   uint64 config_index);

/*
 * Queue a message for its peer (dialling if needed).  Messages to a peer we
 * cannot reach, or whose queue is over its bound, are dropped: Raft
 * retransmits.  Returns false if dropped.
 */
extern bool pgraft_transport_send(const struct pgr_msg *msg);

/* Try to write everything queued (without blocking). */
extern void pgraft_transport_flush(void);

/*
 * Dial host:port and exchange handshakes, to learn whether the node there
 * is node expected_id of our cluster (or adopted it).  A PROBE_DONE event
 * with tag reports the outcome, within a few seconds.
 */
extern void pgraft_transport_probe(const char *host, int port, uint64 expected_id, int tag);

/*
 * The event loop's side: periodic work (reconnects, timeouts) and the wait
 * event set.  pgraft_transport_wait_set returns a set containing the latch,
 * postmaster death and every socket with the events it needs, rebuilt only
 * when sockets come or go.
 */
extern void pgraft_transport_tick(void);
extern WaitEventSet *pgraft_transport_wait_set(void);
extern void pgraft_transport_handle_event(const WaitEvent *ev);

/*
 * This node leads term (0: it does not, or its latest configuration is not
 * committed yet).  A leader tells a non-member that dials it that it was
 * removed, before refusing it.
 */
extern void pgraft_transport_set_leader(uint64 term);

/* Connections refused since the worker started, by reason (PGR_WIRE_REFUSE_N counts). */
extern void pgraft_transport_refusals(uint64 *counts);

/*
 * The transport's part of the metrics: every peer (id, connection, bytes,
 * messages, reconnects, heartbeat round trips), snapshots sent and
 * received, refusals.
 */
struct pgr_metrics;
extern void pgraft_transport_metrics(struct pgr_metrics *m);

/* The metrics endpoint's sockets came or went: rebuild the wait set. */
extern void pgraft_transport_wait_set_changed(void);

/* Is there a live, handshaken outgoing connection to peer? */
extern bool pgraft_transport_connected(uint64 peer);

#endif							/* PGRAFT_TRANSPORT_H */
