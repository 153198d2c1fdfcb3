/*-------------------------------------------------------------------------
 *
 * transport.c
 *		Non-blocking TCP between pgraft nodes (see transport.h).
 *
 * Everything that arrives is hostile until checked.  A connection begins
 * with its setup (struct pgr_wire_session: the shared-key proofs, then the
 * handshakes), during which frames larger than a handshake are refused,
 * nothing about the cluster is sent before the peer has proven itself, and
 * a peer that is not a member (or claims the id of one connected already)
 * is refused.  At most PGRAFT_MAX_SETUP_CONNS incoming connections may be
 * in their setup at once, each for at most PGRAFT_SETUP_TIMEOUT_MS: a
 * flood of idle or slow connections evicts its own oldest, never an
 * established peer.  Every refusal is counted and logged with the remote
 * address, once per address and reason every PGRAFT_REFUSAL_LOG_MS.
 *
 * TLS (pgraft.ssl) wraps a connection from its first byte: the TLS
 * handshake with both certificates verified comes first, and the setup
 * above then runs inside it, knowing the node id the peer's certificate
 * names (the only one it may speak for) and bound to the channel.  Frames
 * are written in plaintext to c->pbuf and sealed into c->wbuf just before
 * a flush, so one TLS record carries a whole batch.
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
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
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
#include "metrics.h"
#include "security.h"
#include "settings.h"
#include "shmem.h"
#include "transport.h"

#include "pgraft/tls.h"

#define PGRAFT_MAX_CONNS			128
#define PGRAFT_SEND_QUEUE_MAX		((size_t) 128 * 1024 * 1024)
#define PGRAFT_SNAP_CHUNK			((size_t) 1024 * 1024)
#define PGRAFT_MAX_SNAPSHOT			((uint64) 1024 * 1024 * 1024)
#define PGRAFT_SETUP_TIMEOUT_MS		5000
#define PGRAFT_MAX_SETUP_CONNS		16
#define PGRAFT_REFUSAL_LOG_MS		10000
#define PGRAFT_REFUSAL_LOG_SLOTS	32
#define PGRAFT_IDLE_BEATS			5	/* heartbeats of silence: presumed
										 * dead */
#define PGRAFT_BACKOFF_MIN_MS		50
#define PGRAFT_BACKOFF_MAX_MS		2000
#define PGRAFT_READ_BUDGET			((size_t) 4 * 1024 * 1024)
#define PGRAFT_IDLE_BUFFER			((size_t) 256 * 1024)	/* kept when empty */
#define PGRAFT_HB_INFLIGHT			8	/* heartbeats timed per peer at once */

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
	struct pgr_wire_session sess;	/* the setup; sess.peer once established */
	struct pgr_tls_conn *tls;	/* NULL without TLS */
	bool		tls_done;		/* TLS handshake complete: the setup runs */
	uint64		cert_id;		/* TLS: the node its certificate names */
	uint8	   *pbuf;			/* TLS: plaintext not sealed yet */
	size_t		plen;
	size_t		pcap;
	uint8	   *hbuf;			/* messages held until the setup is done */
	size_t		hlen;
	size_t		hcap;
	char		addr[64];		/* the remote address, for the log */
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
	/* for the metrics (pgraft_transport_metrics) */
	uint64		sent_bytes;
	uint64		received_bytes;
	uint64		sent_msgs;
	uint64		received_msgs;
	uint64		reconnects;

	/*
	 * Heartbeats awaiting their answers, oldest first: a follower answers
	 * each one, in order, so the next answer is the oldest's.  A lost
	 * connection either way may lose some: the queue starts over then.
	 */
	TimestampTz hb_sent[PGRAFT_HB_INFLIGHT];
	int			hb_head;
	int			hb_n;
	struct pgr_histogram rtt;
	uint64		snap_logged_index;	/* last snapshot sent that was logged */
	/* for the log: see REACHABILITY */
	TimestampTz down_since;		/* no established connection since, or 0 */
	bool		unreachable_logged;
} Peer;

/* When a refusal of one kind for one address was last logged. */
typedef struct RefusalLog
{
	char		ip[64];
	char		detail[64];		/* its start: TLS failures differ in it */
	enum pgr_wire_refusal why;
	bool		by_peer;
	TimestampTz last;
	uint64		suppressed;		/* refusals not logged since */
} RefusalLog;

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
static socklen_t bind_addr_len; /* 0: let the kernel choose */
static uint64 timing_warned[PGR_MAX_MEMBERS];	/* peers told about timing */
static uint64 our_config_index; /* of the configuration peers[] is from */
static uint64 removal_term;		/* leader of this term with its configuration
								 * committed: non-members hear they are
								 * removed */
static uint64 refusal_counts[PGR_WIRE_REFUSE_N];
static uint64 snapshots_sent;
static uint64 snapshots_received;
static RefusalLog refusal_log[PGRAFT_REFUSAL_LOG_SLOTS];
static uint8 tls_in[65536];		/* TLS: ciphertext just received */

static void conn_close(int ci, bool report);
static bool conn_process(int ci);
static Peer *peer_find(uint64 id);
static void setup_begin(int ci, enum pgr_wire_role role, uint64 expected);
static bool tls_begin(int ci, bool dialer);
static void setup_frame(int ci, const uint8 *frame, size_t len);
static void log_refusal(Conn *c, enum pgr_wire_refusal why, bool by_peer, const char *detail);

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

/* Append n bytes of room to the buffer buf of *len bytes; returns where. */
static uint8 *
buf_extend(uint8 **buf, size_t *len, size_t *cap, size_t n)
{
	uint8	   *p;

	buf_reserve(buf, cap, *len + n);
	p = *buf + *len;
	*len += n;
	return p;
}

/* Append n bytes of room to the bytes c sends on its socket. */
static uint8 *
raw_append(Conn *c, size_t n)
{
	if (c->woff > 0 && c->woff == c->wlen)
		c->woff = c->wlen = 0;
	else if (c->woff > 0 && c->woff >= c->wcap / 2)
	{
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	c->last_send = GetCurrentTimestamp();
	return buf_extend(&c->wbuf, &c->wlen, &c->wcap, n);
}

/*
 * Append n bytes of room to c's send queue; returns where to write.  With
 * TLS the bytes wait in plaintext until conn_seal().
 */
static uint8 *
wbuf_append(Conn *c, size_t n)
{
	if (c->tls == NULL)
		return raw_append(c, n);
	c->last_send = GetCurrentTimestamp();
	return buf_extend(&c->pbuf, &c->plen, &c->pcap, n);
}

/*
 * Room for n bytes of Raft messages.  Until its setup is done a connection
 * carries only the setup's own frames, so messages queued meanwhile (a
 * leader's first appends to a peer it is still dialling) wait in hbuf, and
 * setup_open() moves them behind the handshake.
 */
static uint8 *
msg_append(Conn *c, size_t n)
{
	if (c->state == CONN_ESTABLISHED)
		return wbuf_append(c, n);
	return buf_extend(&c->hbuf, &c->hlen, &c->hcap, n);
}

/* Move what TLS has for the wire (handshake, alerts, records) to wbuf. */
static void
tls_drain(Conn *c)
{
	size_t		n;

	while ((n = pgr_tls_out_pending(c->tls)) > 0)
	{
		uint8	   *p = raw_append(c, n);
		size_t		got = pgr_tls_take_out(c->tls, p, n);

		c->wlen -= n - got;
		if (got == 0)
			break;
	}
}

/* TLS: encrypt the plaintext queued so far.  False if TLS failed. */
static bool
conn_seal(Conn *c)
{
	if (c->tls == NULL || !c->tls_done || c->plen == 0)
		return true;
	if (pgr_tls_write(c->tls, c->pbuf, c->plen) != PGR_TLS_OK)
		return false;
	c->plen = 0;
	if (c->pcap > PGRAFT_IDLE_BUFFER)
	{
		pfree(c->pbuf);
		c->pbuf = NULL;
		c->pcap = 0;
	}
	tls_drain(c);
	return true;
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
	if (was_established && !was_probe && peer != PGR_NONE)
	{
		Peer	   *pp = peer_find(peer);

		if (pp != NULL)
			pp->hb_n = 0;		/* heartbeats or answers may be lost with it */
	}
	closesocket(c->sock);
	pgr_wire_snap_assembler_reset(&c->snap);
	pgr_tls_conn_free(c->tls);
	if (c->pbuf)
		pfree(c->pbuf);
	if (c->hbuf)
		pfree(c->hbuf);
	if (c->rbuf)
		pfree(c->rbuf);
	if (c->wbuf)
		pfree(c->wbuf);
	if (c->is_probe)
	{
		/*
		 * Closed without a pgraft handshake: most often PostgreSQL's own
		 * port, which drops a connection whose first bytes are not a startup
		 * packet.
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
			if (was_established)
			{
				peers[i].reconnects++;
				peers[i].down_since = GetCurrentTimestamp();
			}
		}
	memset(c, 0, sizeof(*c));
	c->sock = PGINVALID_SOCKET;
	wait_set_dirty = true;

	/*
	 * An established connection breaking is only a weak signal: a reset, a
	 * blip, a restart of the peer's worker.  Report it, and redial at once:
	 * if the peer's port refuses, its process is gone (PEER_DOWN), which is
	 * how a dead leader is noticed early without letting a mere reset depose
	 * a live one.
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

/*
 * REACHABILITY, for the log.  A peer with no established outgoing
 * connection for longer than the idle timeout (five heartbeats) is
 * unreachable: one LOG line says so, with its address, and nothing more is
 * said while it stays down however often the redials fail (they are in the
 * debug log); one line says when it is reachable again, and after how long.
 * A blip shorter than the idle timeout says nothing.
 */
static void
peer_reachable(Peer *p, const Conn *c)
{
	if (p->unreachable_logged)
		ereport(LOG,
				(errmsg("pgraft: node " UINT64_FORMAT " at %s is reachable again",
						p->id, c->addr),
				 errdetail("It was unreachable for %.1f s.",
						   (double) (GetCurrentTimestamp() - p->down_since) / 1e6)));
	p->unreachable_logged = false;
	p->down_since = 0;
}

static void
peer_check_reachable(Peer *p, TimestampTz now)
{
	if (p->down_since == 0 || p->unreachable_logged ||
		(now - p->down_since) / 1000 <= idle_timeout_ms())
		return;
	p->unreachable_logged = true;
	ereport(LOG,
			(errmsg("pgraft: node " UINT64_FORMAT " at %s:%d is unreachable", p->id, p->host, p->port),
			 errdetail("No connection with it for %ld ms; this node keeps redialling and says when it is back.",
					   (long) ((now - p->down_since) / 1000))));
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
	snprintf(conns[ci].addr, sizeof(conns[ci].addr), "%s:%d", host, port);
	if (!tls_begin(ci, true))
		setup_begin(ci, PGR_WIRE_DIALER, expected_id);
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

pgsocket
pgraft_listen_socket(const char *host, int port, int backlog,
					 struct sockaddr_storage *addr, socklen_t *addr_len,
					 PgraftListenStep *failed, int *gai_err)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	char		portstr[16];
	int			one = 1;
	pgsocket	sock;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	*gai_err = getaddrinfo(host, portstr, &hints, &res);
	if (*gai_err != 0 || res == NULL)
	{
		*failed = PGRAFT_LISTEN_RESOLVE;
		return PGINVALID_SOCKET;
	}
	sock = socket(res->ai_family, SOCK_STREAM, 0);
	if (sock == PGINVALID_SOCKET)
		*failed = PGRAFT_LISTEN_SOCKET;
	else
	{
		(void) setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(sock, res->ai_addr, res->ai_addrlen) < 0)
			*failed = PGRAFT_LISTEN_BIND;
		else if (listen(sock, backlog) < 0 || !pg_set_noblock(sock))
			*failed = PGRAFT_LISTEN_LISTEN;
		else
		{
			*failed = PGRAFT_LISTEN_OK;
			if (addr != NULL && res->ai_addrlen <= sizeof(*addr))
			{
				memcpy(addr, res->ai_addr, res->ai_addrlen);
				*addr_len = res->ai_addrlen;
			}
			else if (addr != NULL)
				*addr_len = 0;
		}
		if (*failed != PGRAFT_LISTEN_OK)
		{
			int			save_errno = errno;

			closesocket(sock);
			errno = save_errno;
			sock = PGINVALID_SOCKET;
		}
	}
	freeaddrinfo(res);
	return sock;
}

void
pgraft_transport_init(const struct pgr_allocator *alloc)
{
	PgraftListenStep failed;
	int			gai_err;

	wire_alloc = alloc;
	transport_cxt = AllocSetContextCreate(TopMemoryContext, "pgraft transport",
										  ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
		conns[i].sock = PGINVALID_SOCKET;

	listen_sock = pgraft_listen_socket(pgraft_address, pgraft_port, 64, &bind_addr,
									   &bind_addr_len, &failed, &gai_err);
	switch (failed)
	{
		case PGRAFT_LISTEN_OK:
			break;
		case PGRAFT_LISTEN_RESOLVE:
			ereport(FATAL,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("pgraft: could not resolve pgraft.address \"%s\": %s",
							pgraft_address, gai_strerror(gai_err))));
			break;
		case PGRAFT_LISTEN_SOCKET:
			ereport(FATAL, (errmsg("pgraft: could not create listening socket: %m")));
			break;
		case PGRAFT_LISTEN_BIND:
			ereport(FATAL,
					(errcode_for_socket_access(),
					 errmsg("pgraft: could not bind the Raft transport to %s:%d: %m",
							pgraft_address, pgraft_port),
					 errhint("Is another server or another pgraft node using pgraft.port %d?",
							 pgraft_port)));
			break;
		case PGRAFT_LISTEN_LISTEN:
			ereport(FATAL, (errmsg("pgraft: could not listen on %s:%d: %m",
								   pgraft_address, pgraft_port)));
			break;
	}

	/*
	 * outgoing connections bind to the same address, port chosen by the
	 * kernel
	 */
	if (bind_addr_len > 0 && bind_addr.ss_family == AF_INET)
	{
		struct sockaddr_in *in = (struct sockaddr_in *) &bind_addr;

		in->sin_port = 0;
		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			bind_addr_len = 0;
	}
	else if (bind_addr_len > 0 && bind_addr.ss_family == AF_INET6)
	{
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &bind_addr;

		in6->sin6_port = 0;
		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			bind_addr_len = 0;
	}
	else
		bind_addr_len = 0;
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
pgraft_transport_set_peers(const PgraftPeerAddr *addrs, int n, uint64 config_index)
{
	Peer		next[PGR_MAX_MEMBERS];
	int			nn = 0;

	our_config_index = config_index;

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
			next[nn].down_since = GetCurrentTimestamp();
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

	/*
	 * Connections from nodes this configuration removed stay until they
	 * break: the removed leader still has to commit its removal and hand
	 * over.  The core answers what a removed node says; admission() keeps out
	 * only nodes that do not know this configuration.
	 */
}

/* ---------------------------------------------------------------------- */
/* Sending                                                                */
/* ---------------------------------------------------------------------- */

static bool
queue_room(Conn *c, size_t n)
{
	return (c->wlen - c->woff) + c->plen + c->hlen + n <= PGRAFT_SEND_QUEUE_MAX;
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

/*
 * A message queued for its peer.  A heartbeat starts a round trip; with
 * PGRAFT_HB_INFLIGHT already waiting, or the oldest waiting longer than the
 * idle timeout (its answer was lost), the queue starts over.
 */
static void
count_sent(const struct pgr_msg *msg)
{
	Peer	   *p = peer_find(msg->to);

	if (p == NULL)
		return;
	p->sent_msgs++;
	if (msg->type == PGR_MSG_HEARTBEAT)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (p->hb_n == PGRAFT_HB_INFLIGHT ||
			(p->hb_n > 0 && (now - p->hb_sent[p->hb_head]) / 1000 > idle_timeout_ms()))
			p->hb_n = 0;
		p->hb_sent[(p->hb_head + p->hb_n) % PGRAFT_HB_INFLIGHT] = now;
		p->hb_n++;
	}
}

/* A message arrived from its peer: the end of a heartbeat's round trip? */
static void
count_received(const struct pgr_msg *msg)
{
	Peer	   *p = peer_find(msg->from);

	if (msg->type == PGR_MSG_SNAP)
		snapshots_received++;
	if (p == NULL)
		return;
	p->received_msgs++;
	if (msg->type == PGR_MSG_HEARTBEAT_RESP && p->hb_n > 0)
	{
		pgr_hist_observe(&p->rtt, PGR_HIST_LATENCY,
						 (double) (GetCurrentTimestamp() - p->hb_sent[p->hb_head]) / 1e6, 1);
		p->hb_head = (p->hb_head + 1) % PGRAFT_HB_INFLIGHT;
		p->hb_n--;
	}
}

/* Bytes to or from a connection's peer, once it is known. */
static void
count_bytes(const Conn *c, size_t n, bool sent)
{
	Peer	   *p;

	if (c->peer_id == PGR_NONE || c->is_probe || (p = peer_find(c->peer_id)) == NULL)
		return;
	if (sent)
		p->sent_bytes += n;
	else
		p->received_bytes += n;
}

bool
pgraft_transport_send(const struct pgr_msg *msg)
{
	Conn	   *c = route(msg->to);
	size_t		len;
	Peer	   *p_snap;
	int			level = LOG;

	if (c == NULL || c->state == CONN_CLOSING)
		return false;

	if (msg->type != PGR_MSG_SNAP)
	{
		if (pgr_wire_msg_size(msg, &len) != PGR_OK || !queue_room(c, len))
			return false;
		if (pgr_wire_encode_msg(msg, msg_append(c, len), len, &len) != PGR_OK)
			elog(ERROR, "pgraft: could not encode %s", pgr_msg_type_name(msg->type));
		count_sent(msg);
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
				pgr_wire_encode_snap_chunk(&chunk, msg_append(c, len), len, &len) != PGR_OK)
				elog(ERROR, "pgraft: could not encode a snapshot chunk");
			offset = chunk.offset + chunk.len;
			if (offset >= msg->snapshot->len)
				break;
		}
	}
	count_sent(msg);
	snapshots_sent++;
	p_snap = peer_find(msg->to);
	/* a snapshot retried (no report within an election timeout) is said once */
	if (p_snap != NULL && p_snap->snap_logged_index == msg->snapshot->meta.index)
		level = PGRAFT_DEBUG_LEVEL();
	else if (p_snap != NULL)
		p_snap->snap_logged_index = msg->snapshot->meta.index;
	ereport(level,
			(errmsg("pgraft: sending a snapshot at index " UINT64_FORMAT " term " UINT64_FORMAT " (%zu bytes) to node " UINT64_FORMAT " at %s",
					msg->snapshot->meta.index, msg->snapshot->meta.term,
					(size_t) msg->snapshot->len, msg->to, c->addr),
			 errdetail("Its log ends before this node's first entry, " UINT64_FORMAT ".",
					   msg->snapshot->meta.index + 1)));
	return true;
}

/* Write what we can; false if the connection failed (and was closed). */
static bool
conn_flush(int ci)
{
	Conn	   *c = &conns[ci];

	if (!conn_seal(c))
	{
		ereport(LOG,
				(errmsg("pgraft: closing connection %s node " UINT64_FORMAT " at %s: TLS failed: %s",
						c->outgoing ? "to" : "from", c->peer_id, c->addr,
						pgr_tls_error(c->tls))));
		conn_close(ci, true);
		return false;
	}
	while (c->woff < c->wlen)
	{
		ssize_t		n = send(c->sock, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);

		if (n > 0)
		{
			c->woff += n;
			count_bytes(c, (size_t) n, true);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return true;
		ereport(PGRAFT_DEBUG_LEVEL(),
				(errmsg("pgraft: connection to node " UINT64_FORMAT " at %s failed: %m",
						c->peer_id, c->addr)));
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
		if (conns[i].in_use && conns[i].state != CONN_CONNECTING &&
			(conns[i].wlen > conns[i].woff || conns[i].plen > 0))
			(void) conn_flush(i);
}

/* ---------------------------------------------------------------------- */
/* Receiving                                                              */
/* ---------------------------------------------------------------------- */

/* ---------------------------------------------------------------------- */
/* Connection setup and refusals                                          */
/* ---------------------------------------------------------------------- */

/*
 * Say why a connection was refused, with the remote address, at most once
 * per address and reason (and start of the detail, which tells certificate
 * problems apart) every PGRAFT_REFUSAL_LOG_MS: a flood must not flood the
 * log.  Count it.  by_peer: the peer refused us.
 */
static void
log_refusal(Conn *c, enum pgr_wire_refusal why, bool by_peer, const char *detail)
{
	TimestampTz now = GetCurrentTimestamp();
	RefusalLog *slot = NULL;
	RefusalLog *oldest = &refusal_log[0];
	uint64		suppressed;
	char		ip[sizeof(c->addr)];
	char	   *colon;
	char		who[sizeof(c->addr) + 64];

	if ((unsigned) why < PGR_WIRE_REFUSE_N)
		refusal_counts[why]++;
	strlcpy(ip, c->addr, sizeof(ip));
	colon = strrchr(ip, ':');
	if (colon != NULL && !c->outgoing)
		*colon = '\0';			/* an incoming port is new every time */
	for (int i = 0; i < PGRAFT_REFUSAL_LOG_SLOTS; i++)
	{
		RefusalLog *r = &refusal_log[i];

		if (r->why == why && r->by_peer == by_peer && strcmp(r->ip, ip) == 0 &&
			strncmp(r->detail, detail ? detail : "", sizeof(r->detail) - 1) == 0)
		{
			slot = r;
			break;
		}
		if (r->last < oldest->last)
			oldest = r;
	}
	if (slot == NULL)
	{
		slot = oldest;
		memset(slot, 0, sizeof(*slot));
		strlcpy(slot->ip, ip, sizeof(slot->ip));
		strlcpy(slot->detail, detail ? detail : "", sizeof(slot->detail));
		slot->why = why;
		slot->by_peer = by_peer;
	}
	if (slot->last != 0 &&
		!TimestampDifferenceExceeds(slot->last, now, PGRAFT_REFUSAL_LOG_MS))
	{
		slot->suppressed++;
		return;
	}
	suppressed = slot->suppressed;
	slot->suppressed = 0;
	slot->last = now;

	if (c->outgoing)
		snprintf(who, sizeof(who), "node " UINT64_FORMAT " at %s", c->peer_id, c->addr);
	else if (c->sess.peer.node_id != PGR_NONE)
		snprintf(who, sizeof(who), "%s (node " UINT64_FORMAT ")", c->addr,
				 c->sess.peer.node_id);
	else if (c->sess.claimed_id != PGR_NONE)
		snprintf(who, sizeof(who), "%s (claiming node " UINT64_FORMAT ")", c->addr,
				 c->sess.claimed_id);
	else
		strlcpy(who, c->addr, sizeof(who));
	ereport(LOG,
			(errmsg(by_peer ? "pgraft: %s refused the connection: %s" :
					c->outgoing ? "pgraft: refusing the connection to %s: %s" :
					"pgraft: refusing a connection from %s: %s",
					who, pgr_wire_refusal_str(why)),
			 (detail != NULL && detail[0] != '\0') ? errdetail("%s", detail) : 0,
			 suppressed > 0 ?
			 errcontext(UINT64_FORMAT " more refusals of this kind for this address in the last %d s were not logged",
						suppressed, PGRAFT_REFUSAL_LOG_MS / 1000) : 0));
}

/* The detail a refusal's log line (or a probe's error) adds, if any. */
static void
refusal_detail(Conn *c, enum pgr_wire_refusal why, bool by_peer, char *detail, size_t size)
{
	const struct pgr_wire_handshake *hs = &c->sess.peer;

	detail[0] = '\0';
	switch (why)
	{
		case PGR_WIRE_REFUSE_OTHER_VERSION:
			if (hs->version != 0)
				snprintf(detail, size, "It speaks pgraft protocol version %d; this node speaks %d.",
						 hs->version, PGR_WIRE_VERSION);
			else
				snprintf(detail, size, "This node speaks pgraft protocol version %d.",
						 PGR_WIRE_VERSION);
			break;
		case PGR_WIRE_REFUSE_OTHER_CLUSTER:
			if (!by_peer && hs->node_id != PGR_NONE)
				snprintf(detail, size, "It belongs to cluster \"%s\"; this node to \"%s\" (or the cluster ids differ).",
						 hs->cluster_name, our_hs.cluster_name);
			break;
		case PGR_WIRE_REFUSE_AUTH_REQUIRED:
		case PGR_WIRE_REFUSE_AUTH_UNAVAILABLE:
		case PGR_WIRE_REFUSE_AUTH_FAILED:
			snprintf(detail, size, "Every node must have the same key in pgraft.auth_key_file (or none at all).");
			break;
		case PGR_WIRE_REFUSE_NOT_MEMBER:
			if (!by_peer)
				snprintf(detail, size, "Node " UINT64_FORMAT " is not in this node's configuration (index " UINT64_FORMAT "), and knows only an older one (index " UINT64_FORMAT ").",
						 hs->node_id, our_config_index, hs->config_index);
			break;
		default:
			break;
	}
}

/*
 * The setup of connection ci ended in a refusal (ours or the peer's): log
 * it, tell a probe, and close once the REFUSE frame (if any) is sent.
 */
static void
setup_refused(int ci, enum pgr_wire_refusal why, bool by_peer)
{
	Conn	   *c = &conns[ci];
	char		detail[PGRAFT_MSG_MAX];

	refusal_detail(c, why, by_peer, detail, sizeof(detail));
	if (c->is_probe)
	{
		event_probe_done(c->probe_tag, pgr_wire_refusal_str(why), detail);
		c->is_probe = false;
	}
	log_refusal(c, why, by_peer, detail);
	c->state = CONN_CLOSING;
	c->since = GetCurrentTimestamp();
	if (c->wlen == c->woff && c->plen == 0)
		conn_close(ci, false);
}

/* Queue what the session wrote for the peer. */
static void
queue_bytes(Conn *c, const uint8 *buf, size_t len)
{
	if (len > 0)
		memcpy(wbuf_append(c, len), buf, len);
}

/* Our handshake as of now (identity and latest configuration). */
static struct pgr_wire_handshake
our_handshake(void)
{
	struct pgr_wire_handshake hs = our_hs;

	hs.config_index = our_config_index;
	return hs;
}

/*
 * Begin the setup of a new connection, as dialer or acceptor: at once
 * without TLS, once the TLS handshake is done with it (cert_id is then the
 * id the peer's certificate names, and the proofs are bound to the channel).
 */
static void
setup_begin(int ci, enum pgr_wire_role role, uint64 expected)
{
	Conn	   *c = &conns[ci];
	uint8		nonce[PGR_WIRE_NONCE_LEN];
	uint8		out[PGR_WIRE_SESSION_OUT_MAX];
	uint8		binding[PGR_TLS_BINDING_LEN];
	size_t		binding_len = 0;
	uint64		cert_id = PGR_NONE;
	size_t		n;
	struct pgr_wire_handshake hs = our_handshake();

	if (c->tls != NULL)
	{
		cert_id = c->cert_id;
		if (!pgr_tls_binding(c->tls, binding))
			elog(ERROR, "pgraft: could not derive the TLS channel binding");
		binding_len = sizeof(binding);
	}
	pgraft_security_random(nonce, sizeof(nonce));
	if (pgr_wire_session_start(&c->sess, role, pgraft_security_auth(), &hs, expected,
							   cert_id, nonce, binding, binding_len, out, sizeof(out),
							   &n) != PGR_OK)
		elog(ERROR, "pgraft: could not begin a connection's setup");
	queue_bytes(c, out, n);
}

/* TLS refused the connection (ours or the peer's alert): say why, close. */
static void
tls_refused(int ci, const char *detail)
{
	Conn	   *c = &conns[ci];

	tls_drain(c);				/* the alert, if any, tells the peer */
	if (c->is_probe)
	{
		event_probe_done(c->probe_tag, "TLS failed", detail);
		c->is_probe = false;
	}
	log_refusal(c, PGR_WIRE_REFUSE_TLS, false, detail);
	c->state = CONN_CLOSING;
	c->since = GetCurrentTimestamp();
	if (c->wlen == c->woff)
		conn_close(ci, false);
}

/*
 * Start TLS on a new connection if this node runs it; false if it does
 * not (the setup then begins at once).
 */
static bool
tls_begin(int ci, bool dialer)
{
	Conn	   *c = &conns[ci];
	struct pgr_tls_ctx *ctx = pgraft_security_tls();

	if (ctx == NULL)
		return false;
	c->tls = pgr_tls_conn_new(ctx, dialer);
	if (c->tls == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (dialer)
	{
		(void) pgr_tls_handshake(c->tls);	/* the ClientHello */
		tls_drain(c);
	}
	return true;
}

/* The TLS handshake is done: whom does the certificate name? */
static bool
tls_established(int ci)
{
	Conn	   *c = &conns[ci];
	uint64		id = PGR_NONE;
	char		detail[PGRAFT_MSG_MAX];

	switch (pgr_tls_peer_identity(c->tls, our_hs.cluster_name, &id))
	{
		case PGR_TLS_ID_OK:
			break;
		case PGR_TLS_ID_OTHER_CLUSTER:
			tls_refused(ci, "Its certificate names a node of another cluster.");
			return false;
		case PGR_TLS_ID_NO_NAME:
			snprintf(detail, sizeof(detail),
					 "Its certificate names no node of this cluster: it must name pgraft-node-<id>.%s in a DNS subjectAltName or in the common name.",
					 our_hs.cluster_name);
			tls_refused(ci, detail);
			return false;
	}
	if (c->outgoing && id != c->peer_id)
	{
		snprintf(detail, sizeof(detail), "Its certificate names node " UINT64_FORMAT ", not node " UINT64_FORMAT ", which was dialled.",
				 id, c->peer_id);
		tls_refused(ci, detail);
		return false;
	}
	c->cert_id = id;
	c->tls_done = true;
	setup_begin(ci, c->outgoing ? PGR_WIRE_DIALER : PGR_WIRE_ACCEPTOR,
				c->outgoing ? c->peer_id : PGR_NONE);
	return true;
}

/*
 * TLS: advance the handshake with what arrived, then decrypt into rbuf.
 * False if the connection was closed or is closing.
 */
static bool
tls_progress(int ci, bool *peer_gone)
{
	Conn	   *c = &conns[ci];
	enum pgr_tls_status st;

	if (!c->tls_done)
	{
		st = pgr_tls_handshake(c->tls);
		tls_drain(c);
		if (st == PGR_TLS_AGAIN && !*peer_gone)
			return true;
		if (st != PGR_TLS_OK)
		{
			tls_refused(ci, st == PGR_TLS_AGAIN ? "The peer closed the connection during the TLS handshake." :
						pgr_tls_error(c->tls));
			return false;
		}
		if (!tls_established(ci))
			return false;
	}
	for (;;)
	{
		size_t		n;

		buf_reserve(&c->rbuf, &c->rcap, c->rlen + 65536);
		st = pgr_tls_read(c->tls, c->rbuf + c->rlen, c->rcap - c->rlen, &n);
		if (st == PGR_TLS_OK)
		{
			c->rlen += n;
			continue;
		}
		if (st == PGR_TLS_CLOSED)
			*peer_gone = true;
		if (st == PGR_TLS_FAILED)
		{
			if (c->state == CONN_ESTABLISHED)
			{
				ereport(LOG,
						(errmsg("pgraft: closing connection %s node " UINT64_FORMAT " at %s: TLS failed: %s",
								c->outgoing ? "to" : "from", c->peer_id, c->addr,
								pgr_tls_error(c->tls))));
				conn_close(ci, true);
			}
			else
				tls_refused(ci, pgr_tls_error(c->tls));
			return false;
		}
		break;
	}
	tls_drain(c);
	return true;
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
warn_timing(const Conn *c)
{
	const struct pgr_wire_handshake *hs = &c->sess.peer;
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
			(errmsg("pgraft: node " UINT64_FORMAT " at %s has other timing settings than this node",
					hs->node_id, c->addr),
			 errdetail("%s", detail),
			 errhint("Nodes with different timing elect leaders at different paces and may depose each other; set the same values on every node.")));
}

/*
 * Two clusters of one name: pgraft_init() was run on more than one node,
 * or a node of the cluster that pgraft_force_new_cluster() left behind
 * came back.  Such a node redials all the time: warned about once per
 * other cluster every PGRAFT_REFUSAL_LOG_MS (the refusal itself is logged
 * and counted as any other).
 */
static void
warn_two_clusters(const struct pgr_wire_handshake *hs)
{
	static struct
	{
		uint8		cluster_id[16];
		TimestampTz last;
	}			warned[4];
	TimestampTz now = GetCurrentTimestamp();
	int			slot = 0;
	char		ours[33];
	char		theirs[33];

	for (int i = 0; i < lengthof(warned); i++)
	{
		if (memcmp(warned[i].cluster_id, hs->cluster_id, 16) == 0)
		{
			slot = i;
			break;
		}
		if (warned[i].last < warned[slot].last)
			slot = i;
	}
	if (memcmp(warned[slot].cluster_id, hs->cluster_id, 16) == 0 && warned[slot].last != 0 &&
		!TimestampDifferenceExceeds(warned[slot].last, now, PGRAFT_REFUSAL_LOG_MS))
		return;
	memcpy(warned[slot].cluster_id, hs->cluster_id, 16);
	warned[slot].last = now;

	for (int i = 0; i < 16; i++)
	{
		snprintf(ours + 2 * i, 3, "%02x", our_hs.cluster_id[i]);
		snprintf(theirs + 2 * i, 3, "%02x", hs->cluster_id[i]);
	}
	ereport(WARNING,
			(errmsg("pgraft: two clusters are named \"%s\": node " UINT64_FORMAT " belongs to cluster %s, this node to cluster %s",
					hs->cluster_name, hs->node_id, theirs, ours),
			 errdetail("Each holds data of its own, so neither node can join the other's cluster."),
			 errhint("Form a cluster with pgraft_init() on one node only, then pgraft_add_node() from it. To merge, keep one cluster: stop the nodes of the other, remove their pgraft directories, start them and add them with pgraft_add_node().")));
}

/* The setup of ci is done: it carries Raft messages from now on. */
static void
setup_open(int ci)
{
	Conn	   *c = &conns[ci];
	const struct pgr_wire_handshake *hs = &c->sess.peer;
	char		detail[PGRAFT_MSG_MAX];

	c->peer_id = hs->node_id;
	c->state = CONN_ESTABLISHED;
	c->last_recv = GetCurrentTimestamp();
	if (c->hlen > 0)
	{
		memcpy(wbuf_append(c, c->hlen), c->hbuf, c->hlen);
		pfree(c->hbuf);
		c->hbuf = NULL;
		c->hlen = c->hcap = 0;
	}
	if (!c->outgoing)
	{
		warn_timing(c);
		ereport(PGRAFT_DEBUG_LEVEL(),
				(errmsg("pgraft: accepted connection from node " UINT64_FORMAT " at %s",
						hs->node_id, c->addr)));
		return;
	}
	for (int i = 0; i < n_peers; i++)
		if (peers[i].conn == ci)
		{
			peers[i].backoff_ms = PGRAFT_BACKOFF_MIN_MS;
			peer_dial_result(&peers[i], false);
			peer_reachable(&peers[i], c);
		}
	if (c->is_probe)
	{
		/* a node to be added must keep the cluster's pace */
		if (timing_differs(hs, detail, sizeof(detail)))
			event_probe_done(c->probe_tag, "its timing settings differ from this node's",
							 detail);
		else
			event_probe_done(c->probe_tag, NULL, NULL);
		c->is_probe = false;
		conn_close(ci, false);
		return;
	}
	warn_timing(c);
}

/*
 * May the peer whose handshake passed join our connections?  It must be a
 * member of our latest configuration, or know that configuration or a
 * newer one: a follower that missed a change must still hear its new
 * leader, and a leader that removed itself still commits the removal and
 * hands over (dissertation 4.2.2).  A node that knows only an older one
 * was removed, and is refused (a leader tells it first).
 */
static enum pgr_wire_refusal
admission(int ci)
{
	const struct pgr_wire_handshake *hs = &conns[ci].sess.peer;
	TimestampTz now = GetCurrentTimestamp();

	if (peer_find(hs->node_id) == NULL && hs->config_index < our_config_index)
		return PGR_WIRE_REFUSE_NOT_MEMBER;

	/*
	 * One live connection per peer: a second one while the first still hears
	 * from it is someone else claiming its id.  One silent for two heartbeats
	 * is presumed dead (the peer restarted) and makes room.
	 */
	for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
	{
		Conn	   *o = &conns[i];

		if (i == ci || !o->in_use || o->outgoing || o->state != CONN_ESTABLISHED ||
			o->peer_id != hs->node_id)
			continue;
		if ((now - o->last_recv) / 1000 < 2 * pgraft_heartbeat_interval)
			return PGR_WIRE_REFUSE_ALREADY_CONNECTED;
		conn_close(i, false);
	}
	return PGR_WIRE_REFUSE_NONE;
}

static void
setup_accept(int ci)
{
	Conn	   *c = &conns[ci];
	uint8		out[PGR_WIRE_SESSION_OUT_MAX];
	size_t		n;
	struct pgr_wire_handshake hs = our_handshake();

	if (pgr_wire_session_accept(&c->sess, &hs, out, sizeof(out), &n) != PGR_WIRE_SESSION_OPEN)
	{
		setup_refused(ci, c->sess.refusal, false);
		return;
	}
	queue_bytes(c, out, n);
	setup_open(ci);
}

/*
 * A non-member dialled the leader: it was removed (or it would know a newer
 * configuration).  Nothing else will ever tell it, so before the refusal
 * it hears what the leader's core would answer a removed node's vote
 * request (PGR_MSG_REMOVED, core/node.c): the setup completes, the notice
 * follows, and the connection closes.  It told us the cluster's id and
 * proved any key, so our handshake reveals nothing it did not know.
 */
static void
setup_notify_removed(int ci)
{
	Conn	   *c = &conns[ci];
	uint8		out[PGR_WIRE_SESSION_OUT_MAX];
	size_t		n;
	size_t		len;
	struct pgr_wire_handshake hs = our_handshake();
	struct pgr_msg m;

	if (pgr_wire_session_accept(&c->sess, &hs, out, sizeof(out), &n) != PGR_WIRE_SESSION_OPEN)
	{
		setup_refused(ci, c->sess.refusal, false);
		return;
	}
	queue_bytes(c, out, n);
	memset(&m, 0, sizeof(m));
	m.type = PGR_MSG_REMOVED;
	m.from = our_hs.node_id;
	m.to = c->sess.peer.node_id;
	m.term = removal_term;
	m.index = our_config_index;
	if (pgr_wire_msg_size(&m, &len) == PGR_OK &&
		pgr_wire_encode_msg(&m, wbuf_append(c, len), len, &len) != PGR_OK)
		elog(ERROR, "pgraft: could not encode %s", pgr_msg_type_name(m.type));
	setup_refused(ci, PGR_WIRE_REFUSE_NOT_MEMBER, false);
}

void
pgraft_transport_set_leader(uint64 term)
{
	removal_term = term;
}

static void
setup_refuse(int ci, enum pgr_wire_refusal why)
{
	Conn	   *c = &conns[ci];
	uint8		out[PGR_WIRE_SESSION_OUT_MAX];
	size_t		n;

	(void) pgr_wire_session_refuse(&c->sess, why, out, sizeof(out), &n);
	queue_bytes(c, out, n);
	setup_refused(ci, why, false);
}

/* The acceptor's decision on a peer whose handshake is authenticated. */
static void
setup_decide(int ci)
{
	Conn	   *c = &conns[ci];
	const struct pgr_wire_handshake *hs = &c->sess.peer;
	enum pgr_wire_refusal why;

	if (c->sess.hs_result == PGR_WIRE_HS_OTHER_CLUSTER &&
		strcmp(hs->cluster_name, our_hs.cluster_name) == 0)
	{
		/*
		 * A node of our cluster name wants to add us to its cluster: the
		 * worker decides (between batches), then pgraft_transport_adopt_done
		 * finishes this setup.
		 */
		QueuedEvent *q = event_push(PGRAFT_TEV_ADOPT, hs->node_id);

		q->ev.hs = *hs;
		q->ev.conn = ci;
		c->state = CONN_PARKED;
		c->since = GetCurrentTimestamp();
		return;
	}
	why = pgr_wire_refusal_of(c->sess.hs_result);
	if (why == PGR_WIRE_REFUSE_NONE)
		why = admission(ci);
	if (why == PGR_WIRE_REFUSE_NOT_MEMBER && removal_term != 0)
	{
		setup_notify_removed(ci);
		return;
	}
	if (why != PGR_WIRE_REFUSE_NONE)
	{
		setup_refuse(ci, why);
		return;
	}
	setup_accept(ci);
}

void
pgraft_transport_adopt_done(int ci, bool adopted)
{
	Conn	   *c;
	struct pgr_wire_handshake hs;

	if (ci < 0 || ci >= PGRAFT_MAX_CONNS || !conns[ci].in_use ||
		conns[ci].state != CONN_PARKED)
		return;					/* it went away meanwhile */
	c = &conns[ci];
	c->state = CONN_HANDSHAKING;
	hs = our_handshake();
	if (!adopted)
	{
		warn_two_clusters(&c->sess.peer);
		setup_refuse(ci, PGR_WIRE_REFUSE_NOT_ADOPTED);
		return;
	}
	if (pgr_wire_handshake_compare(&hs, &c->sess.peer, PGR_NONE) != PGR_WIRE_HS_OK)
	{
		setup_refuse(ci, pgr_wire_refusal_of(pgr_wire_handshake_compare(&hs, &c->sess.peer,
																		PGR_NONE)));
		return;
	}
	setup_accept(ci);
	/* frames that followed the handshake wait in the read buffer */
	if (conns[ci].in_use)
		(void) conn_process(ci);
}

/* One frame during the setup of ci. */
static void
setup_frame(int ci, const uint8 *frame, size_t len)
{
	Conn	   *c = &conns[ci];
	uint8		out[PGR_WIRE_SESSION_OUT_MAX];
	size_t		n;
	enum pgr_wire_session_result r;

	r = pgr_wire_session_step(&c->sess, frame, len, out, sizeof(out), &n);
	queue_bytes(c, out, n);
	switch (r)
	{
		case PGR_WIRE_SESSION_CONTINUE:
			break;
		case PGR_WIRE_SESSION_DECIDE:
			setup_decide(ci);
			break;
		case PGR_WIRE_SESSION_OPEN:
			setup_open(ci);
			break;
		case PGR_WIRE_SESSION_REFUSED:
			setup_refused(ci, c->sess.refusal, c->sess.refused_by_peer);
			break;
	}
}

static void
deliver(int ci, const struct pgr_msg *m, uint8 *frame_copy)
{
	QueuedEvent *q;

	/* A peer speaks only for itself, and only to us. */
	if (m->from != conns[ci].peer_id)
	{
		ereport(LOG,
				(errmsg("pgraft: closing connection from node " UINT64_FORMAT " at %s: it sent a message as node " UINT64_FORMAT,
						conns[ci].peer_id, conns[ci].addr, m->from)));
		conn_close(ci, false);
		return;
	}
	count_received(m);
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
		setup_frame(ci, frame, f->len);
		return conns[ci].in_use;
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
			ereport(LOG, (errmsg("pgraft: closing connection from node " UINT64_FORMAT " at %s: unexpected frame",
								 c->peer_id, c->addr)));
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
			if (c->state == CONN_ESTABLISHED)
				ereport(LOG,
						(errmsg("pgraft: closing connection %s node " UINT64_FORMAT " at %s: %s",
								c->outgoing ? "to" : "from", c->peer_id, c->addr,
								pgr_wire_frame_status_name(st))));
			else
			{
				char		detail[PGRAFT_MSG_MAX];

				snprintf(detail, sizeof(detail), "What it sent is not a pgraft frame: %s%s.",
						 pgr_wire_frame_status_name(st),
						 c->rlen - pos >= 2 && c->rbuf[pos] == 0x16 && c->rbuf[pos + 1] == 0x03 ?
						 " (it looks like TLS: is pgraft.ssl on there and off here?)" : "");
				log_refusal(c, PGR_WIRE_REFUSE_PROTOCOL, false, detail);
			}
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
		size_t		want;

		if (c->tls != NULL)
		{
			want = sizeof(tls_in);
			n = recv(c->sock, tls_in, want, 0);
		}
		else
		{
			buf_reserve(&c->rbuf, &c->rcap, c->rlen + 65536);
			want = c->rcap - c->rlen;
			n = recv(c->sock, c->rbuf + c->rlen, want, 0);
		}
		if (n > 0)
		{
			if (c->tls == NULL)
				c->rlen += n;
			else if (!pgr_tls_feed(c->tls, tls_in, (size_t) n))
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			c->last_recv = GetCurrentTimestamp();
			count_bytes(c, (size_t) n, false);
			budget = (size_t) n >= budget ? 0 : budget - n;

			/*
			 * A short read drained the socket: asking again would only return
			 * EAGAIN, one system call per wake-up for nothing.  The wait set
			 * is level-triggered, so what arrives later (or the end of the
			 * stream) wakes the loop again.
			 */
			if ((size_t) n < want)
				break;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		if (n == 0)
			ereport(PGRAFT_DEBUG_LEVEL(),
					(errmsg("pgraft: node " UINT64_FORMAT " at %s closed its connection",
							c->peer_id, c->addr)));
		else
			ereport(PGRAFT_DEBUG_LEVEL(),
					(errmsg("pgraft: connection with node " UINT64_FORMAT " at %s failed: %m",
							c->peer_id, c->addr)));

		/*
		 * Close only after handling the frames that arrived before the end of
		 * the stream: a peer that refuses us sends its handshake and closes
		 * at once, and that handshake is what says why (another cluster,
		 * another version).  Dropping it turned a clear refusal into
		 * "connection closed before the handshake completed".
		 */
		peer_gone = true;
		break;
	}
	if (c->tls != NULL && !tls_progress(ci, &peer_gone))
		return;
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
		struct sockaddr_storage sa;
		socklen_t	salen = sizeof(sa);
		pgsocket	sock = accept(listen_sock, (struct sockaddr *) &sa, &salen);
		int			ci;
		int			in_setup = 0;
		int			oldest = -1;
		char		host[NI_MAXHOST];
		char		serv[NI_MAXSERV];
		char		addr[sizeof(conns[0].addr)];

		if (sock == PGINVALID_SOCKET)
			return;

		/* Bound the connections in setup: the oldest makes room. */
		for (int i = 0; i < PGRAFT_MAX_CONNS; i++)
			if (conns[i].in_use && !conns[i].outgoing &&
				(conns[i].state == CONN_HANDSHAKING || conns[i].state == CONN_PARKED))
			{
				in_setup++;
				if (conns[i].state == CONN_HANDSHAKING &&
					(oldest < 0 || conns[i].since < conns[oldest].since))
					oldest = i;
			}
		if (in_setup >= PGRAFT_MAX_SETUP_CONNS && oldest >= 0)
		{
			char		detail[PGRAFT_MSG_MAX];

			snprintf(detail, sizeof(detail),
					 "More than %d connections were in their setup at once; the oldest was closed.",
					 PGRAFT_MAX_SETUP_CONNS);
			log_refusal(&conns[oldest], PGR_WIRE_REFUSE_FLOOD, false, detail);
			conn_close(oldest, false);
		}
		if (in_setup >= PGRAFT_MAX_SETUP_CONNS && oldest < 0)
		{
			/* all of them wait for the worker's adoption decision: no room */
			closesocket(sock);
			refusal_counts[PGR_WIRE_REFUSE_FLOOD]++;
			continue;
		}
		if (getnameinfo((struct sockaddr *) &sa, salen, host, sizeof(host), serv,
						sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(addr, sizeof(addr), "%s:%s", host, serv);
		else
			strlcpy(addr, "unknown address", sizeof(addr));
		set_socket_options(sock);
		ci = conn_alloc(sock, false);
		if (ci < 0)
		{
			ereport(LOG,
					(errmsg("pgraft: too many connections; refusing a new one from %s", addr)));
			closesocket(sock);
			continue;
		}
		strlcpy(conns[ci].addr, addr, sizeof(conns[ci].addr));
		conns[ci].state = CONN_HANDSHAKING;
		if (!tls_begin(ci, false))
			setup_begin(ci, PGR_WIRE_ACCEPTOR, PGR_NONE);
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
						(errmsg("pgraft: nothing from node " UINT64_FORMAT " at %s for %d ms: the connection is presumed dead, redialling",
								c->peer_id, c->addr, idle_timeout_ms())));
				conn_close(i, true);
			}
			else if ((now - c->last_send) / 1000 >= pgraft_heartbeat_interval &&
					 queue_room(c, PGR_WIRE_HEADER_SIZE))
				pgr_wire_encode_ping(wbuf_append(c, PGR_WIRE_HEADER_SIZE));
			continue;
		}
		age = (long) ((now - c->since) / 1000);
		if ((c->state == CONN_CONNECTING && age > connect_timeout_ms()) ||
			(c->state == CONN_HANDSHAKING && age > PGRAFT_SETUP_TIMEOUT_MS) ||
			(c->state == CONN_PARKED && age > PGRAFT_SETUP_TIMEOUT_MS) ||
			(c->state == CONN_CLOSING && age > PGRAFT_SETUP_TIMEOUT_MS))
		{
			if (c->is_probe)
			{
				event_probe_done(c->probe_tag, "timed out", NULL);
				c->is_probe = false;
			}
			else if (c->state == CONN_HANDSHAKING)
			{
				char		detail[PGRAFT_MSG_MAX];

				snprintf(detail, sizeof(detail), "Nothing completed the setup within %d ms (%zu bytes were received).",
						 PGRAFT_SETUP_TIMEOUT_MS, c->rlen);
				log_refusal(c, PGR_WIRE_REFUSE_TIMEOUT, false, detail);
			}
			conn_close(i, false);
		}
	}
	/* Keep a connection to every peer, so its loss can be noticed. */
	for (int i = 0; i < n_peers; i++)
	{
		if (peers[i].conn < 0)
			(void) peer_conn(&peers[i]);
		peer_check_reachable(&peers[i], now);
	}
}

void
pgraft_transport_refusals(uint64 *counts)
{
	memcpy(counts, refusal_counts, sizeof(refusal_counts));
}

void
pgraft_transport_metrics(struct pgr_metrics *m)
{
	memcpy(m->refusals, refusal_counts, sizeof(m->refusals));
	m->snapshots_sent = snapshots_sent;
	m->snapshots_received = snapshots_received;
	m->n_peers = (uint32) n_peers;
	for (int i = 0; i < n_peers; i++)
	{
		const Peer *p = &peers[i];
		struct pgr_metrics_peer *mp = &m->peers[i];

		memset(mp, 0, sizeof(*mp));
		mp->id = p->id;
		mp->connected = pgraft_transport_connected(p->id);
		mp->sent_bytes = p->sent_bytes;
		mp->received_bytes = p->received_bytes;
		mp->sent_messages = p->sent_msgs;
		mp->received_messages = p->received_msgs;
		mp->reconnects = p->reconnects;
		mp->rtt = p->rtt;
	}
}

void
pgraft_transport_wait_set_changed(void)
{
	wait_set_dirty = true;
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
	return WL_SOCKET_READABLE |
		(c->wlen > c->woff || (c->plen > 0 && c->tls_done) ? WL_SOCKET_WRITEABLE : 0);
}

WaitEventSet *
pgraft_transport_wait_set(void)
{
	if (wait_set_dirty || wait_set == NULL)
	{
		int			n = 3 + pgraft_metrics_http_n_events();

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
		pgraft_metrics_http_add_events(wait_set);
		wait_set_dirty = false;
		return wait_set;
	}
	pgraft_metrics_http_update_events(wait_set);
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
					(errmsg("pgraft: could not connect to node " UINT64_FORMAT " at %s: %m",
							c->peer_id, c->addr)));
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
