/*-------------------------------------------------------------------------
 *
 * transport.c
 *		Non-blocking TCP between pgraft nodes (see transport.h).
 *
 * Everything that arrives is hostile until checked: until a connection has
 * sent an acceptable handshake, frames larger than a handshake are refused;
 * a connection that sends garbage or oversized frames is closed; one that
 * sends nothing is closed after a timeout.
 *
 * LIVENESS OF CONNECTIONS.  An established connection that carries nothing
 * in one direction says nothing about its health, and TCP alone takes
 * minutes to give up on one stuck in retransmission (a partition that heals
 * would leave it stuck for its backoff).  So each end sends a ping on every
 * connection that has sent nothing for a heartbeat interval, and closes
 * and redials a connection that has received nothing for PGRAFT_IDLE_BEATS
 * heartbeat intervals; TCP_USER_TIMEOUT bounds unacknowledged sends alike.  Memory per connection is bounded
 * by the largest frame plus the largest snapshot being reassembled, and the
 * send queue per peer by PGRAFT_SEND_QUEUE_MAX (messages beyond it are
 * dropped, which Raft tolerates).
 *
 * src/pg/transport.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "settings.h"
#include "shmem.h"
#include "transport.h"

#define PGRAFT_MAX_CONNS			128
#define PGRAFT_SEND_QUEUE_MAX		((size_t) 128 * 1024 * 1024)
#define PGRAFT_SNAP_CHUNK			((size_t) 1024 * 1024)
#define PGRAFT_MAX_SNAPSHOT			((uint64) 1024 * 1024 * 1024)
#define PGRAFT_HANDSHAKE_TIMEOUT_MS 10000
#define PGRAFT_IDLE_BEATS			5	/* heartbeats of silence: presumed dead */
#define PGRAFT_BACKOFF_MIN_MS		50
#define PGRAFT_BACKOFF_MAX_MS		2000
#define PGRAFT_READ_BUDGET			((size_t) 4 * 1024 * 1024)
#define PGRAFT_IDLE_BUFFER			((size_t) 256 * 1024)	/* kept when empty */

typedef enum ConnState
{
	CONN_CONNECTING,			/* outgoing: connect() in progress */
	CONN_HANDSHAKING,			/* waiting for the peer's handshake */
	CONN_PARKED,				/* incoming: waiting for the worker to decide
								 * whether to be adopted by the peer */
	CONN_ESTABLISHED,
	CONN_CLOSING				/* flush what is queued, then close */
} ConnState;

typedef struct Conn
{
	bool		in_use;
	pgsocket	sock;
	bool		outgoing;
	ConnState	state;
	uint64		peer_id;		/* dialled id, or learned from the handshake */
	bool		is_probe;
	int			probe_tag;
	TimestampTz since;			/* for timeouts */
	TimestampTz last_recv;		/* established: bytes arrived */
	TimestampTz last_send;		/* established: bytes queued */
	uint8	   *rbuf;
	size_t		rlen;
	size_t		rcap;
	uint8	   *wbuf;
	size_t		woff;
	size_t		wlen;
	size_t		wcap;
	struct pgr_wire_snap_assembler snap;
	struct pgr_wire_handshake parked_hs;	/* CONN_PARKED: the peer's */
	int			wait_pos;		/* position in the wait event set */
	uint32		wait_events;
} Conn;

typedef struct Peer
{
	uint64		id;
	char		host[256];
	int			port;
	int			conn;			/* outgoing connection index, or -1 */
	TimestampTz retry_at;
	int			backoff_ms;
	bool		lost;			/* an established connection with it broke;
								 * the redial tells a blip from a dead process */
} Peer;

/* An event and the memory it owns (the frame a message points into). */
typedef struct QueuedEvent
{
	PgraftTransportEvent ev;
	uint8	   *frame;
	bool		has_msg;
} QueuedEvent;

static const struct pgr_allocator *wire_alloc;
static MemoryContext transport_cxt;
static pgsocket listen_sock = PGINVALID_SOCKET;
static Conn conns[PGRAFT_MAX_CONNS];
static Peer peers[PGR_MAX_MEMBERS];
static int	n_peers;
static struct pgr_wire_handshake our_hs;
static WaitEventSet *wait_set;
static bool wait_set_dirty = true;
static QueuedEvent *events;
static int	events_head;
static int	n_events;
static int	events_cap;
static QueuedEvent current_event;	/* handed out last; freed at the next */
static struct sockaddr_storage bind_addr;	/* outgoing connections leave from
											 * pgraft.address */
static socklen_t bind_addr_len;		/* 0: let the kernel choose */
static uint64 timing_warned[PGR_MAX_MEMBERS];	/* peers told about timing */

static void conn_close(int ci, bool report);
static bool conn_process(int ci);
static Peer *peer_find(uint64 id);

/* ---------------------------------------------------------------------- */
/* Events                                                                 */
/* ---------------------------------------------------------------------- */

static QueuedEvent *
event_push(PgraftTransportEventKind kind, uint64 peer)
{
	QueuedEvent *q;

	if (events_head > 0 && events_head == n_events)
		events_head = n_events = 0;
	if (n_events == events_cap)
	{
		if (events_head > 0)
		{
			memmove(events, events + events_head, (n_events - events_head) * sizeof(QueuedEvent));
			n_events -= events_head;
			events_head = 0;
		}
		if (n_events == events_cap)
		{
			events_cap = events_cap ? 2 * events_cap : 64;
			events = events ? repalloc(events, events_cap * sizeof(QueuedEvent)) :
				MemoryContextAlloc(transport_cxt, events_cap * sizeof(QueuedEvent));
		}
	}
	q = &events[n_events++];
	memset(q, 0, sizeof(*q));
	q->ev.kind = kind;
	q->ev.peer = peer;
	return q;
}

static void
event_probe_done(int tag, const char *error, const char *detail)
{
	QueuedEvent *q = event_push(PGRAFT_TEV_PROBE_DONE, PGR_NONE);

	q->ev.tag = tag;
	strlcpy(q->ev.error, error ? error : "", sizeof(q->ev.error));
	strlcpy(q->ev.detail, detail ? detail : "", sizeof(q->ev.detail));
}

static void
event_free(QueuedEvent *q)
{
	if (q->has_msg)
		pgr_wire_msg_free(wire_alloc, &q->ev.msg);
	if (q->frame != NULL)
		pfree(q->frame);
	memset(q, 0, sizeof(*q));
}

bool
pgraft_transport_next_event(PgraftTransportEvent *ev)
{
	event_free(&current_event);
	if (events_head == n_events)
		return false;
	current_event = events[events_head++];
	*ev = current_event.ev;
	return true;
}

/* A connection silent this long (ms) is presumed dead. */
static int
idle_timeout_ms(void)
{
	return PGRAFT_IDLE_BEATS * pgraft_heartbeat_interval;
}

/* A connect() must complete within this (ms). */
static int
connect_timeout_ms(void)
{
	return Max(1000, pgraft_election_timeout);
}

/* ---------------------------------------------------------------------- */
/* Buffers                                                                */
/* ---------------------------------------------------------------------- */

static void
buf_reserve(uint8 **buf, size_t *cap, size_t need)
{
	size_t		ncap;

	if (need <= *cap)
		return;
	ncap = *cap ? *cap : 8192;
	while (ncap < need)
		ncap *= 2;
	if (*buf == NULL)
		*buf = MemoryContextAllocHuge(transport_cxt, ncap);
	else
		*buf = repalloc_huge(*buf, ncap);
	*cap = ncap;
}

/* Append n bytes of room to c's send queue; returns where to write. */
static uint8 *
wbuf_append(Conn *c, size_t n)
{
	uint8	   *p;

	if (c->woff > 0 && c->woff == c->wlen)
		c->woff = c->wlen = 0;
	else if (c->woff > 0 && c->woff >= c->wcap / 2)
	{
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	buf_reserve(&c->wbuf, &c->wcap, c->wlen + n);
	p = c->wbuf + c->wlen;
	c->wlen += n;
	c->last_send = GetCurrentTimestamp();
	return p;
}

static void
queue_handshake(Conn *c)
{
	uint8		buf[PGR_WIRE_HANDSHAKE_MAX_FRAME];
	size_t		len;

	if (pgr_wire_encode_handshake(&our_hs, buf, sizeof(buf), &len) != PGR_OK)
		elog(ERROR, "pgraft: could not encode handshake");
	memcpy(wbuf_append(c, len), buf, len);
}

/* ---------------------------------------------------------------------- */
/* Connections                                                            */
/* ---------------------------------------------------------------------- */

static int
conn_alloc(pgsocket sock, bool outgoing)
{
	for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
		if (!conns[i].in_use)
		{
			Conn	   *c = &conns[i];

			memset(c, 0, sizeof(*c));
			c->in_use = true;
			c->sock = sock;
			c->outgoing = outgoing;
			c->since = GetCurrentTimestamp();
			c->wait_pos = -1;
			pgr_wire_snap_assembler_init(&c->snap, wire_alloc, PGRAFT_MAX_SNAPSHOT);
			wait_set_dirty = true;
			return i;
		}
	return -1;
}

static void
conn_close(int ci, bool report)
{
	Conn	   *c = &conns[ci];
	uint64		peer = c->peer_id;
	bool		was_established = c->state == CONN_ESTABLISHED;
	bool		was_probe = c->is_probe;

	if (!c->in_use)
		return;
	closesocket(c->sock);
	pgr_wire_snap_assembler_reset(&c->snap);
	if (c->rbuf)
		pfree(c->rbuf);
	if (c->wbuf)
		pfree(c->wbuf);
	if (c->is_probe)
	{
		/*
		 * Closed without a pgraft handshake: most often PostgreSQL's own port,
		 * which drops a connection whose first bytes are not a startup packet.
		 */
		char		detail[PGRAFT_MSG_MAX];

		if (c->rlen == 0)
			snprintf(detail, sizeof(detail),
					 "The node closed the connection without answering. Is this its pgraft.port? PostgreSQL's own port closes such connections.");
		else if (c->rbuf[0] == 'E' || c->rbuf[0] == 'N' || c->rbuf[0] == 'R')
			snprintf(detail, sizeof(detail),
					 "It answered in PostgreSQL's protocol: that is its PostgreSQL port; pass its pgraft.port.");
		else
			snprintf(detail, sizeof(detail),
					 "It answered %zu bytes that are not pgraft's protocol: is this its pgraft.port?",
					 c->rlen);
		event_probe_done(c->probe_tag, "it does not speak pgraft's protocol", detail);
	}
	for (int i = 0; i < n_peers; i++)
		if (peers[i].conn == ci)
		{
			peers[i].conn = -1;
			peers[i].retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															peers[i].backoff_ms);
			peers[i].backoff_ms = Min(peers[i].backoff_ms * 2, PGRAFT_BACKOFF_MAX_MS);
		}
	memset(c, 0, sizeof(*c));
	c->sock = PGINVALID_SOCKET;
	wait_set_dirty = true;

	/*
	 * An established connection breaking is only a weak signal: a reset, a
	 * blip, a restart of the peer's worker.  Report it, and redial at once:
	 * if the peer's port refuses, its process is gone (PEER_DOWN), which is
	 * how a dead leader is noticed early without letting a mere reset
	 * depose a live one.
	 */
	if (report && was_established && peer != PGR_NONE && !was_probe)
	{
		Peer	   *p = peer_find(peer);

		(void) event_push(PGRAFT_TEV_PEER_RESET, peer);
		if (p != NULL)
		{
			p->lost = true;
			if (p->conn < 0)
				p->retry_at = 0;
		}
	}
}

/* A dial to p ended (refused = ECONNREFUSED): the verdict on a lost peer. */
static void
peer_dial_result(Peer *p, bool refused)
{
	if (p->lost && refused)
		(void) event_push(PGRAFT_TEV_PEER_DOWN, p->id);
	p->lost = false;
}

static void
set_socket_options(pgsocket sock)
{
	int			one = 1;

	(void) setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void) setsockopt(sock, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
#ifdef TCP_USER_TIMEOUT
	{
		unsigned int ms = (unsigned int) (2 * idle_timeout_ms());

		(void) setsockopt(sock, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
	}
#endif
	if (!pg_set_noblock(sock))
		elog(ERROR, "pgraft: could not set socket to non-blocking mode: %m");
}

/*
 * Start dialling host:port; returns the connection index, or -1 with
 * *refused telling whether the port refused at once.
 */
static int
dial(const char *host, int port, uint64 expected_id, bool *refused)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	char		portstr[16];
	pgsocket	sock;
	int			rc;
	int			ci;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	*refused = false;
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0 || res == NULL)
	{
		ereport(PGRAFT_DEBUG_LEVEL(),
				(errmsg("pgraft: could not resolve \"%s\": %s", host, gai_strerror(rc))));
		if (res)
			freeaddrinfo(res);
		return -1;
	}
	sock = socket(res->ai_family, SOCK_STREAM, 0);
	if (sock == PGINVALID_SOCKET)
	{
		freeaddrinfo(res);
		ereport(LOG, (errmsg("pgraft: could not create socket: %m")));
		return -1;
	}
	set_socket_options(sock);
	/* leave from our own address, which is the one peers know us by */
	if (bind_addr_len > 0 && bind_addr.ss_family == res->ai_family &&
		bind(sock, (struct sockaddr *) &bind_addr, bind_addr_len) < 0)
		ereport(PGRAFT_DEBUG_LEVEL(),
				(errmsg("pgraft: could not bind an outgoing connection to %s: %m",
						pgraft_address)));
	rc = connect(sock, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc < 0 && errno != EINPROGRESS && errno != EINTR)
	{
		*refused = errno == ECONNREFUSED;
		ereport(PGRAFT_DEBUG_LEVEL(),
				(errmsg("pgraft: could not connect to node " UINT64_FORMAT " at %s:%d: %m",
						expected_id, host, port)));
		closesocket(sock);
		return -1;
	}
	ci = conn_alloc(sock, true);
	if (ci < 0)
	{
		closesocket(sock);
		return -1;
	}
	conns[ci].state = CONN_CONNECTING;
	conns[ci].peer_id = expected_id;
	queue_handshake(&conns[ci]);
	return ci;
}

static Peer *
peer_find(uint64 id)
{
	for (int i = 0; i < n_peers; i++)
		if (peers[i].id == id)
			return &peers[i];
	return NULL;
}

/* The outgoing connection to p, dialling if it is time to. */
static Conn *
peer_conn(Peer *p)
{
	bool		refused;

	if (p->conn >= 0)
		return &conns[p->conn];
	if (GetCurrentTimestamp() < p->retry_at)
		return NULL;
	p->conn = dial(p->host, p->port, p->id, &refused);
	if (p->conn < 0)
	{
		peer_dial_result(p, refused);
		p->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), p->backoff_ms);
		p->backoff_ms = Min(p->backoff_ms * 2, PGRAFT_BACKOFF_MAX_MS);
		return NULL;
	}
	return &conns[p->conn];
}

/* ---------------------------------------------------------------------- */
/* Setup                                                                  */
/* ---------------------------------------------------------------------- */

void
pgraft_transport_init(const struct pgr_allocator *alloc)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	char		portstr[16];
	int			one = 1;
	int			rc;

	wire_alloc = alloc;
	transport_cxt = AllocSetContextCreate(TopMemoryContext, "pgraft transport",
										  ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
		conns[i].sock = PGINVALID_SOCKET;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", pgraft_port);
	rc = getaddrinfo(pgraft_address, portstr, &hints, &res);
	if (rc != 0 || res == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("pgraft: could not resolve pgraft.address \"%s\": %s",
						pgraft_address, gai_strerror(rc))));
	listen_sock = socket(res->ai_family, SOCK_STREAM, 0);
	if (listen_sock == PGINVALID_SOCKET)
		ereport(FATAL, (errmsg("pgraft: could not create listening socket: %m")));
	(void) setsockopt(listen_sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_sock, res->ai_addr, res->ai_addrlen) < 0)
		ereport(FATAL,
				(errcode_for_socket_access(),
				 errmsg("pgraft: could not bind the Raft transport to %s:%d: %m",
						pgraft_address, pgraft_port),
				 errhint("Is another server or another pgraft node using pgraft.port %d?",
						 pgraft_port)));
	/* outgoing connections bind to the same address, port chosen by the kernel */
	bind_addr_len = 0;
	if (res->ai_addrlen <= sizeof(bind_addr))
	{
		memcpy(&bind_addr, res->ai_addr, res->ai_addrlen);
		bind_addr_len = res->ai_addrlen;
		if (bind_addr.ss_family == AF_INET)
		{
			struct sockaddr_in *in = (struct sockaddr_in *) &bind_addr;

			in->sin_port = 0;
			if (in->sin_addr.s_addr == htonl(INADDR_ANY))
				bind_addr_len = 0;
		}
		else if (bind_addr.ss_family == AF_INET6)
		{
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &bind_addr;

			in6->sin6_port = 0;
			if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
				bind_addr_len = 0;
		}
		else
			bind_addr_len = 0;
	}
	freeaddrinfo(res);
	if (listen(listen_sock, 64) < 0)
		ereport(FATAL, (errmsg("pgraft: could not listen on %s:%d: %m",
							   pgraft_address, pgraft_port)));
	if (!pg_set_noblock(listen_sock))
		ereport(FATAL, (errmsg("pgraft: could not set listening socket non-blocking: %m")));
	wait_set_dirty = true;
}

void
pgraft_transport_shutdown(void)
{
	for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
		if (conns[i].in_use)
			conn_close(i, false);
	if (listen_sock != PGINVALID_SOCKET)
		closesocket(listen_sock);
	listen_sock = PGINVALID_SOCKET;
}

void
pgraft_transport_set_identity(uint64 node_id, const uint8 *cluster_id, const char *cluster_name)
{
	if (pgr_wire_handshake_init(&our_hs, node_id, cluster_id, cluster_name) != PGR_OK)
		elog(ERROR, "pgraft: invalid handshake identity");
	our_hs.heartbeat_ms = (uint32) pgraft_heartbeat_interval;
	our_hs.election_ms = (uint32) pgraft_election_timeout;
	/*
	 * Connections made under the old identity must start over, except those
	 * waiting for an adoption decision: they go on under the new one.
	 */
	for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
		if (conns[i].in_use && !conns[i].is_probe && conns[i].state != CONN_PARKED)
			conn_close(i, false);
}

void
pgraft_transport_set_peers(const PgraftPeerAddr *addrs, int n)
{
	Peer		next[PGR_MAX_MEMBERS];
	int			nn = 0;

	for (int i = 0; i < n && nn < PGR_MAX_MEMBERS; i++)
	{
		Peer	   *old = peer_find(addrs[i].id);

		if (old != NULL && old->port == addrs[i].port &&
			strcmp(old->host, addrs[i].host) == 0)
		{
			next[nn] = *old;
			old->conn = -1;		/* moved */
		}
		else
		{
			memset(&next[nn], 0, sizeof(Peer));
			next[nn].id = addrs[i].id;
			strlcpy(next[nn].host, addrs[i].host, sizeof(next[nn].host));
			next[nn].port = addrs[i].port;
			next[nn].conn = -1;
			next[nn].backoff_ms = PGRAFT_BACKOFF_MIN_MS;
		}
		nn++;
	}
	/* Peers no longer members (or moved): drop their connections. */
	for (int i = 0; i < n_peers; i++)
		if (peers[i].conn >= 0)
		{
			int			ci = peers[i].conn;

			peers[i].conn = -1;
			conn_close(ci, false);
		}
	memcpy(peers, next, nn * sizeof(Peer));
	n_peers = nn;
}

/* ---------------------------------------------------------------------- */
/* Sending                                                                */
/* ---------------------------------------------------------------------- */

static bool
queue_room(Conn *c, size_t n)
{
	return (c->wlen - c->woff) + n <= PGRAFT_SEND_QUEUE_MAX;
}

/* An established connection the peer dialled to us, or NULL. */
static Conn *
incoming_conn(uint64 peer)
{
	for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
		if (conns[i].in_use && !conns[i].outgoing && conns[i].peer_id == peer &&
			conns[i].state == CONN_ESTABLISHED)
			return &conns[i];
	return NULL;
}

/*
 * Where to send to a peer: our own connection to it; failing that, the one
 * it dialled to us (a node that has just joined does not know the others'
 * addresses until the log tells it, but must answer the leader at once).
 */
static Conn *
route(uint64 to)
{
	Peer	   *p = peer_find(to);
	Conn	   *c = NULL;

	if (p != NULL && p->conn >= 0 && conns[p->conn].state == CONN_ESTABLISHED)
		return &conns[p->conn];
	c = incoming_conn(to);
	if (c != NULL)
		return c;
	return p != NULL ? peer_conn(p) : NULL;
}

bool
pgraft_transport_send(const struct pgr_msg *msg)
{
	Conn	   *c = route(msg->to);
	size_t		len;

	if (c == NULL || c->state == CONN_CLOSING)
		return false;

	if (msg->type != PGR_MSG_SNAP)
	{
		if (pgr_wire_msg_size(msg, &len) != PGR_OK || !queue_room(c, len))
			return false;
		if (pgr_wire_encode_msg(msg, wbuf_append(c, len), len, &len) != PGR_OK)
			elog(ERROR, "pgraft: could not encode %s", pgr_msg_type_name(msg->type));
		return true;
	}
	/* Snapshots travel in chunks, each its own frame. */
	{
		uint64		offset = 0;

		if (!queue_room(c, msg->snapshot->len + 4096))
			return false;
		for (;;)
		{
			struct pgr_wire_snap_chunk chunk;

			if (pgr_wire_snap_chunk_next(msg, offset, PGRAFT_SNAP_CHUNK, &chunk) != PGR_OK ||
				pgr_wire_snap_chunk_size(&chunk, &len) != PGR_OK ||
				pgr_wire_encode_snap_chunk(&chunk, wbuf_append(c, len), len, &len) != PGR_OK)
				elog(ERROR, "pgraft: could not encode a snapshot chunk");
			offset = chunk.offset + chunk.len;
			if (offset >= msg->snapshot->len)
				break;
		}
	}
	return true;
}

/* Write what we can; false if the connection failed (and was closed). */
static bool
conn_flush(int ci)
{
	Conn	   *c = &conns[ci];

	while (c->woff < c->wlen)
	{
		ssize_t		n = send(c->sock, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);

		if (n > 0)
		{
			c->woff += n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return true;
		ereport(PGRAFT_DEBUG_LEVEL(),
				(errmsg("pgraft: connection to node " UINT64_FORMAT " failed: %m", c->peer_id)));
		conn_close(ci, true);
		return false;
	}
	c->woff = c->wlen = 0;
	/* A queue that grew while a peer was slow or away gives its memory back. */
	if (c->wcap > PGRAFT_IDLE_BUFFER)
	{
		pfree(c->wbuf);
		c->wbuf = NULL;
		c->wcap = 0;
	}
	if (c->state == CONN_CLOSING)
	{
		conn_close(ci, false);
		return false;
	}
	return true;
}

void
pgraft_transport_flush(void)
{
	for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
		if (conns[i].in_use && conns[i].state != CONN_CONNECTING && conns[i].wlen > conns[i].woff)
			(void) conn_flush(i);
}

/* ---------------------------------------------------------------------- */
/* Receiving                                                              */
/* ---------------------------------------------------------------------- */

/* Refuse a peer: say who we are (so it can log why), then close. */
static void
refuse(int ci)
{
	conns[ci].state = CONN_CLOSING;
	if (!conns[ci].outgoing)
		queue_handshake(&conns[ci]);
}

/* The peer's handshake did not pass: say why (to a probe, or the log), refuse. */
static void
handshake_refused(int ci, const struct pgr_wire_handshake *hs, enum pgr_wire_hs_result res)
{
	Conn	   *c = &conns[ci];
	char		detail[PGRAFT_MSG_MAX];

	if (res == PGR_WIRE_HS_OTHER_VERSION)
		snprintf(detail, sizeof(detail), "It speaks pgraft protocol version %d; this node speaks %d.",
				 hs->version, PGR_WIRE_VERSION);
	else if (res == PGR_WIRE_HS_OTHER_CLUSTER)
		snprintf(detail, sizeof(detail), "It belongs to cluster \"%s\" with another cluster id, and holds data of its own.",
				 hs->cluster_name);
	else
		snprintf(detail, sizeof(detail), "It says it is node " UINT64_FORMAT ".", hs->node_id);
	if (c->is_probe)
	{
		event_probe_done(c->probe_tag, pgr_wire_hs_result_str(res), detail);
		c->is_probe = false;
	}
	else if (res == PGR_WIRE_HS_OTHER_CLUSTER &&
			 strcmp(hs->cluster_name, our_hs.cluster_name) == 0)
	{
		char		ours[33];
		char		theirs[33];

		/*
		 * Two clusters of one name: pgraft_init() was run on more than one
		 * node and each went on without the other.  Loudly, once per
		 * connection attempt of the other side.
		 */
		for (int i = 0; i < 16; i++)
		{
			snprintf(ours + 2 * i, 3, "%02x", our_hs.cluster_id[i]);
			snprintf(theirs + 2 * i, 3, "%02x", hs->cluster_id[i]);
		}
		ereport(WARNING,
				(errmsg("pgraft: two clusters are named \"%s\": node " UINT64_FORMAT " belongs to cluster %s, this node to cluster %s",
						hs->cluster_name, c->outgoing ? c->peer_id : hs->node_id,
						theirs, ours),
				 errdetail("Each holds data of its own, so neither node can join the other's cluster."),
				 errhint("Form a cluster with pgraft_init() on one node only, then pgraft_add_node() from it. To merge, keep one cluster: stop the nodes of the other, remove their pgraft directories, start them and add them with pgraft_add_node().")));
	}
	else
		ereport(LOG,
				(errmsg("pgraft: refusing connection %s node " UINT64_FORMAT ": %s",
						c->outgoing ? "to" : "from",
						c->outgoing ? c->peer_id : hs->node_id,
						pgr_wire_hs_result_str(res)),
				 errdetail("%s", detail)));
	refuse(ci);
}

/* Peers of other timing work, but elect at another pace: say so, once each. */
static bool
timing_differs(const struct pgr_wire_handshake *hs, char *detail, size_t size)
{
	if (hs->heartbeat_ms == 0 ||
		(hs->heartbeat_ms == our_hs.heartbeat_ms && hs->election_ms == our_hs.election_ms))
		return false;
	snprintf(detail, size,
			 "Node " UINT64_FORMAT " runs with pgraft.heartbeat_interval = %u ms and pgraft.election_timeout = %u ms; this node with %u ms and %u ms.",
			 hs->node_id, hs->heartbeat_ms, hs->election_ms, our_hs.heartbeat_ms,
			 our_hs.election_ms);
	return true;
}

static void
warn_timing(const struct pgr_wire_handshake *hs)
{
	char		detail[PGRAFT_MSG_MAX];
	int			free_slot = -1;

	if (!timing_differs(hs, detail, sizeof(detail)))
		return;
	for (int i = 0; i < PGR_MAX_MEMBERS; i++)
	{
		if (timing_warned[i] == hs->node_id)
			return;
		if (timing_warned[i] == PGR_NONE && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0)
		timing_warned[free_slot] = hs->node_id;
	ereport(WARNING,
			(errmsg("pgraft: node " UINT64_FORMAT " has other timing settings than this node",
					hs->node_id),
			 errdetail("%s", detail),
			 errhint("Nodes with different timing elect leaders at different paces and may depose each other; set the same values on every node.")));
}

/* An incoming peer's handshake passed: answer with ours. */
static void
accept_peer(int ci, const struct pgr_wire_handshake *hs)
{
	Conn	   *c = &conns[ci];

	c->peer_id = hs->node_id;
	c->state = CONN_ESTABLISHED;
	c->last_recv = GetCurrentTimestamp();
	queue_handshake(c);
	warn_timing(hs);
	ereport(PGRAFT_DEBUG_LEVEL(),
			(errmsg("pgraft: accepted connection from node " UINT64_FORMAT, hs->node_id)));
}

static void
handle_handshake(int ci, const uint8 *frame, size_t len)
{
	Conn	   *c = &conns[ci];
	struct pgr_wire_handshake hs;
	enum pgr_wire_hs_result res;

	if (pgr_wire_decode_handshake(frame, len, &hs) != PGR_OK)
	{
		ereport(LOG, (errmsg("pgraft: closing a connection that sent a malformed handshake")));
		conn_close(ci, false);
		return;
	}
	res = pgr_wire_handshake_compare(&our_hs, &hs, c->outgoing ? c->peer_id : PGR_NONE);
	if (res == PGR_WIRE_HS_OTHER_CLUSTER && !c->outgoing &&
		strcmp(hs.cluster_name, our_hs.cluster_name) == 0)
	{
		/*
		 * A node of our cluster name wants to add us to its cluster: the
		 * worker decides (between batches), then pgraft_transport_adopt_done
		 * finishes this handshake.
		 */
		QueuedEvent *q = event_push(PGRAFT_TEV_ADOPT, hs.node_id);

		q->ev.hs = hs;
		q->ev.conn = ci;
		c->parked_hs = hs;
		c->state = CONN_PARKED;
		c->since = GetCurrentTimestamp();
		return;
	}
	if (res != PGR_WIRE_HS_OK)
	{
		handshake_refused(ci, &hs, res);
		return;
	}
	if (c->outgoing)
	{
		char		detail[PGRAFT_MSG_MAX];

		c->state = CONN_ESTABLISHED;
		c->last_recv = GetCurrentTimestamp();
		for (int i = 0; i < n_peers; i++)
			if (peers[i].conn == ci)
			{
				peers[i].backoff_ms = PGRAFT_BACKOFF_MIN_MS;
				peer_dial_result(&peers[i], false);
			}
		if (c->is_probe)
		{
			/* a node to be added must keep the cluster's pace */
			if (timing_differs(&hs, detail, sizeof(detail)))
				event_probe_done(c->probe_tag, "its timing settings differ from this node's",
								 detail);
			else
				event_probe_done(c->probe_tag, NULL, NULL);
			c->is_probe = false;
			conn_close(ci, false);
			return;
		}
		warn_timing(&hs);
		return;
	}
	accept_peer(ci, &hs);
}

void
pgraft_transport_adopt_done(int ci, bool adopted)
{
	Conn	   *c;
	enum pgr_wire_hs_result res;

	if (ci < 0 || ci >= PGRAFT_MAX_CONNS || !conns[ci].in_use ||
		conns[ci].state != CONN_PARKED)
		return;					/* it went away meanwhile */
	c = &conns[ci];
	res = adopted ? pgr_wire_handshake_compare(&our_hs, &c->parked_hs, PGR_NONE) :
		PGR_WIRE_HS_OTHER_CLUSTER;
	if (res != PGR_WIRE_HS_OK)
	{
		handshake_refused(ci, &c->parked_hs, res);
		return;
	}
	accept_peer(ci, &c->parked_hs);
	/* frames that followed the handshake wait in the read buffer */
	(void) conn_process(ci);
}

static void
deliver(int ci, const struct pgr_msg *m, uint8 *frame_copy)
{
	QueuedEvent *q;

	/* A peer speaks only for itself, and only to us. */
	if (m->from != conns[ci].peer_id)
	{
		ereport(LOG,
				(errmsg("pgraft: closing connection from node " UINT64_FORMAT ": it sent a message as node " UINT64_FORMAT,
						conns[ci].peer_id, m->from)));
		conn_close(ci, false);
		return;
	}
	q = event_push(PGRAFT_TEV_MESSAGE, m->from);
	q->ev.msg = *m;
	q->has_msg = true;
	q->frame = frame_copy;
}

/* One complete frame; false if the connection was closed. */
static bool
handle_frame(int ci, const uint8 *frame, const struct pgr_wire_frame *f)
{
	Conn	   *c = &conns[ci];

	if (c->state != CONN_ESTABLISHED)
	{
		if (f->kind != PGR_WIRE_KIND_HANDSHAKE)
		{
			ereport(LOG, (errmsg("pgraft: closing a connection that did not start with a handshake")));
			conn_close(ci, false);
			return false;
		}
		handle_handshake(ci, frame, f->len);
		return conns[ci].in_use && conns[ci].state == CONN_ESTABLISHED;
	}
	switch (f->kind)
	{
		case PGR_WIRE_KIND_PING:
			return true;		/* it lives: last_recv says so already */
		case PGR_WIRE_KIND_MSG:
			{
				/*
				 * The message is queued for the loop, and its entries point
				 * into the frame: the frame gets a copy of its own.
				 */
				uint8	   *copy = MemoryContextAllocHuge(transport_cxt, f->len);
				struct pgr_msg m;
				enum pgr_err err;

				memcpy(copy, frame, f->len);
				err = pgr_wire_decode_msg(copy, f->len, wire_alloc, &m);
				if (err != PGR_OK)
				{
					pfree(copy);
					ereport(LOG,
							(errmsg("pgraft: closing connection from node " UINT64_FORMAT ": %s",
									c->peer_id, pgr_strerror(err))));
					conn_close(ci, false);
					return false;
				}
				deliver(ci, &m, copy);
				if (!conns[ci].in_use)
				{
					pgr_wire_msg_free(wire_alloc, &m);
					pfree(copy);
				}
				return conns[ci].in_use;
			}
		case PGR_WIRE_KIND_SNAP_CHUNK:
			{
				struct pgr_msg m;
				bool		complete = false;
				enum pgr_err err = pgr_wire_snap_assembler_add(&c->snap, frame, f->len,
															   &m, &complete);

				if (err != PGR_OK)
				{
					ereport(LOG,
							(errmsg("pgraft: closing connection from node " UINT64_FORMAT ": bad snapshot chunk: %s",
									c->peer_id, pgr_strerror(err))));
					conn_close(ci, false);
					return false;
				}
				if (complete)
				{
					deliver(ci, &m, NULL);
					if (!conns[ci].in_use)
						pgr_wire_msg_free(wire_alloc, &m);
				}
				return conns[ci].in_use;
			}
		default:
			ereport(LOG, (errmsg("pgraft: closing connection from node " UINT64_FORMAT ": unexpected frame",
								 c->peer_id)));
			conn_close(ci, false);
			return false;
	}
}

/*
 * Handle the complete frames in c's read buffer.  Stops at a connection
 * that is no longer established (closed, refused, or parked for an
 * adoption decision: pgraft_transport_adopt_done picks up from there).
 * False if the connection was closed.
 */
static bool
conn_process(int ci)
{
	Conn	   *c = &conns[ci];
	size_t		pos = 0;

	for (;;)
	{
		struct pgr_wire_frame f;
		size_t		max = c->state == CONN_ESTABLISHED ? PGR_WIRE_MAX_FRAME :
			PGR_WIRE_HANDSHAKE_MAX_FRAME;
		enum pgr_wire_frame_status st;

		if (c->state != CONN_ESTABLISHED && c->state != CONN_HANDSHAKING)
			break;
		st = pgr_wire_frame_check(c->rbuf + pos, c->rlen - pos, max, &f);
		if (st == PGR_WIRE_NEED_MORE)
			break;
		if (st != PGR_WIRE_FRAME_READY)
		{
			ereport(LOG,
					(errmsg("pgraft: closing connection %s node " UINT64_FORMAT ": %s",
							c->outgoing ? "to" : "from", c->peer_id,
							pgr_wire_frame_status_name(st))));
			conn_close(ci, false);
			return false;
		}
		if (!handle_frame(ci, c->rbuf + pos, &f))
		{
			if (!conns[ci].in_use)
				return false;
			pos += f.len;
			break;
		}
		pos += f.len;
	}
	if (pos > 0)
	{
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
	return true;
}

static void
conn_read(int ci)
{
	Conn	   *c = &conns[ci];
	size_t		budget = PGRAFT_READ_BUDGET;
	bool		peer_gone = false;

	while (budget > 0)
	{
		ssize_t		n;

		buf_reserve(&c->rbuf, &c->rcap, c->rlen + 65536);
		n = recv(c->sock, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
		if (n > 0)
		{
			c->rlen += n;
			c->last_recv = GetCurrentTimestamp();
			budget = (size_t) n >= budget ? 0 : budget - n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		if (n == 0)
			ereport(PGRAFT_DEBUG_LEVEL(),
					(errmsg("pgraft: node " UINT64_FORMAT " closed its connection", c->peer_id)));
		else
			ereport(PGRAFT_DEBUG_LEVEL(),
					(errmsg("pgraft: connection with node " UINT64_FORMAT " failed: %m", c->peer_id)));

		/*
		 * Close only after handling the frames that arrived before the end
		 * of the stream: a peer that refuses us sends its handshake and
		 * closes at once, and that handshake is what says why (another
		 * cluster, another version).  Dropping it turned a clear refusal
		 * into "connection closed before the handshake completed".
		 */
		peer_gone = true;
		break;
	}
	if (!conn_process(ci))
		return;
	if (peer_gone)
	{
		conn_close(ci, true);
		return;
	}
	if (c->rlen == 0 && c->rcap > PGRAFT_IDLE_BUFFER)
	{
		pfree(c->rbuf);
		c->rbuf = NULL;
		c->rcap = 0;
	}
}

static void
accept_all(void)
{
	for (;;)
	{
		pgsocket	sock = accept(listen_sock, NULL, NULL);
		int			ci;

		if (sock == PGINVALID_SOCKET)
			return;
		set_socket_options(sock);
		ci = conn_alloc(sock, false);
		if (ci < 0)
		{
			ereport(LOG, (errmsg("pgraft: too many connections; refusing a new one")));
			closesocket(sock);
			continue;
		}
		conns[ci].state = CONN_HANDSHAKING;
	}
}

/* ---------------------------------------------------------------------- */
/* Probes and timers                                                      */
/* ---------------------------------------------------------------------- */

void
pgraft_transport_probe(const char *host, int port, uint64 expected_id, int tag)
{
	bool		refused;
	int			ci = dial(host, port, expected_id, &refused);

	if (ci < 0)
	{
		event_probe_done(tag, "could not connect", refused ? "Connection refused." : NULL);
		return;
	}
	conns[ci].is_probe = true;
	conns[ci].probe_tag = tag;
}

void
pgraft_transport_tick(void)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
	{
		Conn	   *c = &conns[i];
		long		age;

		if (!c->in_use)
			continue;
		if (c->state == CONN_ESTABLISHED)
		{
			/* see LIVENESS OF CONNECTIONS */
			if ((now - c->last_recv) / 1000 > idle_timeout_ms())
			{
				ereport(PGRAFT_DEBUG_LEVEL(),
						(errmsg("pgraft: nothing from node " UINT64_FORMAT " for %d ms: the connection is presumed dead, redialling",
								c->peer_id, idle_timeout_ms())));
				conn_close(i, true);
			}
			else if ((now - c->last_send) / 1000 >= pgraft_heartbeat_interval &&
					 queue_room(c, PGR_WIRE_HEADER_SIZE))
				pgr_wire_encode_ping(wbuf_append(c, PGR_WIRE_HEADER_SIZE));
			continue;
		}
		age = (long) ((now - c->since) / 1000);
		if ((c->state == CONN_CONNECTING && age > connect_timeout_ms()) ||
			(c->state == CONN_HANDSHAKING && age > PGRAFT_HANDSHAKE_TIMEOUT_MS) ||
			(c->state == CONN_PARKED && age > PGRAFT_HANDSHAKE_TIMEOUT_MS) ||
			(c->state == CONN_CLOSING && age > PGRAFT_HANDSHAKE_TIMEOUT_MS))
		{
			if (c->is_probe)
			{
				event_probe_done(c->probe_tag, "timed out", NULL);
				c->is_probe = false;
			}
			else if (!c->outgoing && c->state == CONN_HANDSHAKING)
				ereport(LOG, (errmsg("pgraft: closing a connection that sent no handshake")));
			conn_close(i, false);
		}
	}
	/* Keep a connection to every peer, so its loss can be noticed. */
	for (int i = 0; i < n_peers; i++)
		if (peers[i].conn < 0)
			(void) peer_conn(&peers[i]);
}

bool
pgraft_transport_connected(uint64 peer)
{
	Peer	   *p = peer_find(peer);

	return p != NULL && p->conn >= 0 && conns[p->conn].state == CONN_ESTABLISHED;
}

/* ---------------------------------------------------------------------- */
/* The wait event set                                                     */
/* ---------------------------------------------------------------------- */

static uint32
conn_wants(const Conn *c)
{
	if (c->state == CONN_CONNECTING)
		return WL_SOCKET_WRITEABLE;
	return WL_SOCKET_READABLE | (c->wlen > c->woff ? WL_SOCKET_WRITEABLE : 0);
}

WaitEventSet *
pgraft_transport_wait_set(void)
{
	if (wait_set_dirty || wait_set == NULL)
	{
		int			n = 3;

		if (wait_set != NULL)
			FreeWaitEventSet(wait_set);
		for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
			if (conns[i].in_use)
				n++;
		wait_set = pgraft_create_wait_event_set(n);
		AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		if (listen_sock != PGINVALID_SOCKET)
			AddWaitEventToSet(wait_set, WL_SOCKET_READABLE, listen_sock, NULL, NULL);
		for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
			if (conns[i].in_use)
			{
				conns[i].wait_events = conn_wants(&conns[i]);
				conns[i].wait_pos = AddWaitEventToSet(wait_set, conns[i].wait_events,
													  conns[i].sock, NULL, &conns[i]);
			}
		wait_set_dirty = false;
		return wait_set;
	}
	for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
		if (conns[i].in_use && conns[i].wait_pos >= 0)
		{
			uint32		want = conn_wants(&conns[i]);

			if (want != conns[i].wait_events)
			{
				ModifyWaitEvent(wait_set, conns[i].wait_pos, want, NULL);
				conns[i].wait_events = want;
			}
		}
	return wait_set;
}

void
pgraft_transport_handle_event(const WaitEvent *ev)
{
	Conn	   *c;
	int			ci;

	if (ev->fd == listen_sock && ev->user_data == NULL)
	{
		accept_all();
		return;
	}
	c = (Conn *) ev->user_data;
	if (c == NULL || !c->in_use || c->sock != ev->fd)
		return;					/* closed earlier in this round */
	ci = (int) (c - conns);
	if (c->state == CONN_CONNECTING)
	{
		int			err = 0;
		socklen_t	len = sizeof(err);

		if (getsockopt(c->sock, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
		{
			errno = err;
			ereport(PGRAFT_DEBUG_LEVEL(),
					(errmsg("pgraft: could not connect to node " UINT64_FORMAT ": %m", c->peer_id)));
			if (c->is_probe)
			{
				event_probe_done(c->probe_tag, "could not connect", strerror(err));
				c->is_probe = false;
			}
			else
				for (int i = 0; i < n_peers; i++)
					if (peers[i].conn == ci)
						peer_dial_result(&peers[i], err == ECONNREFUSED);
			conn_close(ci, false);
			return;
		}
		c->state = CONN_HANDSHAKING;
		c->since = GetCurrentTimestamp();
	}
	if (ev->events & WL_SOCKET_WRITEABLE)
	{
		if (!conn_flush(ci))
			return;
	}
	if (ev->events & WL_SOCKET_READABLE)
		conn_read(ci);
}
