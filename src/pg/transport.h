/*-------------------------------------------------------------------------
 *
 * transport.h
 *		Non-blocking TCP between pgraft nodes.
 *
 * Each node dials every other member and sends its Raft messages on that
 * outgoing connection, or, if it has none yet (a node that has just joined
 * learns the others' addresses only from the log), on the connection the
 * peer dialled to it.  A connection starts with a handshake each way
 * (protocol version, cluster name and id, node id): the dialler speaks
 * first, the acceptor answers with its own.  All of it runs inside the worker's event
 * loop: nothing here blocks except name resolution of non-numeric hosts.
 *
 * src/pg/transport.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_TRANSPORT_H
#define PGRAFT_TRANSPORT_H

#include "storage/latch.h"

#include "pgraft/core.h"
#include "pgraft/wire.h"

/* What the transport needs from the worker. */
typedef struct PgraftTransportCallbacks
{
	/* A message arrived (from an accepted, handshaken connection). */
	void		(*on_message) (const struct pgr_msg *msg);
	/* The connection a peer dialled to us dropped (e.g. it died). */
	void		(*on_peer_lost) (uint64 peer);
	/*
	 * A peer of our cluster name but another cluster id dialled us.  Return
	 * true if this node adopted the peer's cluster (our identity was updated
	 * through pgraft_transport_set_identity before returning).
	 */
	bool		(*on_foreign_cluster) (const struct pgr_wire_handshake *peer);
	/* A probe (pgraft_transport_probe) finished; error NULL on success. */
	void		(*on_probe_done) (int tag, const char *error, const char *detail);
} PgraftTransportCallbacks;

extern void pgraft_transport_init(const PgraftTransportCallbacks *cb,
								  const struct pgr_allocator *alloc);
extern void pgraft_transport_shutdown(void);

/* Our handshake: node id, cluster id (all zero before init/joining), name. */
extern void pgraft_transport_set_identity(uint64 node_id, const uint8 *cluster_id,
										  const char *cluster_name);

/* The peers to dial: every member of the latest configuration but us. */
typedef struct PgraftPeerAddr
{
	uint64		id;
	char		host[256];
	int			port;
} PgraftPeerAddr;

extern void pgraft_transport_set_peers(const PgraftPeerAddr *peers, int n);

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
 * is node expected_id of our cluster (or adopted it).  on_probe_done(tag)
 * reports the outcome; at most a few seconds.
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

/* Is there a live, handshaken outgoing connection to peer? */
extern bool pgraft_transport_connected(uint64 peer);

#endif							/* PGRAFT_TRANSPORT_H */
