/*-------------------------------------------------------------------------
 *
 * metrics_http.c
 *		The Prometheus endpoint: GET /metrics on pgraft.metrics_address:
 *		pgraft.metrics_port, served by the worker itself (metrics.h).
 *
 * The endpoint lives in the worker's one wait set, beside the Raft peers,
 * and never blocks the loop: every socket is non-blocking, each wake-up
 * reads at most one request buffer per client and writes what the socket
 * takes.  What a hostile or broken scraper can cost is bounded:
 *	- at most PGRAFT_HTTP_MAX_CLIENTS connections at once; more are
 *	  accepted and closed at once (at most PGRAFT_HTTP_ACCEPTS per wake-up);
 *	- a request is at most PGR_HTTP_MAX_REQUEST bytes (431 beyond), with
 *	  no body; anything malformed gets 400 and the connection is closed;
 *	- each connection has PGRAFT_HTTP_DEADLINE_MS from accept to close,
 *	  however slowly it sends its request or reads the answer;
 *	- one request per connection (Connection: close); after the answer the
 *	  endpoint stops writing, drains what the client still sends, and
 *	  closes (closing with unread bytes would reset the connection and
 *	  could cut the answer short).
 * The answer is rendered from pgraft_metrics_collect(), the same copy in
 * shared memory that pgraft_stat() shows.
 *
 * If the port cannot be bound, the worker says so once (WARNING) and
 * tries again every PGRAFT_HTTP_RETRY_MS: metrics must not take Raft down.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/metrics_http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "metrics.h"
#include "settings.h"
#include "shmem.h"
#include "transport.h"

#define PGRAFT_HTTP_MAX_CLIENTS		8
#define PGRAFT_HTTP_ACCEPTS			16
#define PGRAFT_HTTP_DEADLINE_MS		5000
#define PGRAFT_HTTP_RETRY_MS		10000

typedef enum HttpState
{
	HTTP_READING,
	HTTP_WRITING,
	HTTP_DRAINING				/* answered; waiting for the client's end */
} HttpState;

typedef struct HttpClient
{
	bool		in_use;
	pgsocket	sock;
	HttpState	state;
	TimestampTz since;
	char		addr[64];
	char		req[PGR_HTTP_MAX_REQUEST];
	size_t		rlen;
	char	   *resp;
	size_t		rsize;
	size_t		roff;
	int			wait_pos;
	uint32		wait_events;
} HttpClient;

static pgsocket http_listen = PGINVALID_SOCKET;
static int	listen_pos = -1;
static HttpClient clients[PGRAFT_HTTP_MAX_CLIENTS];
static MemoryContext http_cxt;
static uint64 scrapes;
static TimestampTz retry_at;
static bool bind_warned;

uint64
pgraft_metrics_http_scrapes(void)
{
	return scrapes;
}

static void
client_close(HttpClient *c)
{
	closesocket(c->sock);
	if (c->resp != NULL)
		pfree(c->resp);
	memset(c, 0, sizeof(*c));
	c->sock = PGINVALID_SOCKET;
	c->wait_pos = -1;
	pgraft_transport_wait_set_changed();
}

/* Bind and listen; false (and a WARNING the first time) if that fails. */
static bool
http_listen_open(void)
{
	PgraftListenStep failed;
	int			gai_err;
	pgsocket	sock = pgraft_listen_socket(pgraft_metrics_address, pgraft_metrics_port, 16,
											NULL, NULL, &failed, &gai_err);

	if (sock == PGINVALID_SOCKET)
	{
		if (!bind_warned && failed == PGRAFT_LISTEN_RESOLVE)
			ereport(WARNING,
					(errmsg("pgraft: could not resolve pgraft.metrics_address \"%s\": %s",
							pgraft_metrics_address, gai_strerror(gai_err)),
					 errdetail("The worker tries again every %d s; pgraft_stat() shows every metric meanwhile.",
							   PGRAFT_HTTP_RETRY_MS / 1000)));
		else if (!bind_warned)
			ereport(WARNING,
					(errcode_for_socket_access(),
					 errmsg("pgraft: could not listen for metrics on %s:%d: %m",
							pgraft_metrics_address, pgraft_metrics_port),
					 errdetail("The worker tries again every %d s; pgraft_stat() shows every metric meanwhile.",
							   PGRAFT_HTTP_RETRY_MS / 1000),
					 errhint("Is another process using pgraft.metrics_port %d?", pgraft_metrics_port)));
		bind_warned = true;
		return false;
	}
	http_listen = sock;
	ereport(LOG,
			(errmsg("pgraft: metrics endpoint listening on http://%s:%d/metrics",
					pgraft_metrics_address, pgraft_metrics_port)));
	bind_warned = false;
	pgraft_transport_wait_set_changed();
	return true;
}

void
pgraft_metrics_http_start(void)
{
	for (int i = 0; i < PGRAFT_HTTP_MAX_CLIENTS; i++)
	{
		clients[i].sock = PGINVALID_SOCKET;
		clients[i].wait_pos = -1;
	}
	if (pgraft_metrics_port == 0)
		return;
	http_cxt = AllocSetContextCreate(TopMemoryContext, "pgraft metrics endpoint",
									 ALLOCSET_SMALL_SIZES);
	if (!http_listen_open())
		retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PGRAFT_HTTP_RETRY_MS);
}

void
pgraft_metrics_http_stop(void)
{
	for (int i = 0; i < PGRAFT_HTTP_MAX_CLIENTS; i++)
		if (clients[i].in_use)
			client_close(&clients[i]);
	if (http_listen != PGINVALID_SOCKET)
		closesocket(http_listen);
	http_listen = PGINVALID_SOCKET;
}

/* Deadlines, and the retry of a port that could not be bound. */
void
pgraft_metrics_http_tick(void)
{
	TimestampTz now;

	if (pgraft_metrics_port == 0)
		return;
	now = GetCurrentTimestamp();
	for (int i = 0; i < PGRAFT_HTTP_MAX_CLIENTS; i++)
		if (clients[i].in_use && (now - clients[i].since) / 1000 > PGRAFT_HTTP_DEADLINE_MS)
		{
			ereport(PGRAFT_DEBUG_LEVEL(),
					(errmsg("pgraft: metrics client at %s did not finish within %d ms; closing",
							clients[i].addr, PGRAFT_HTTP_DEADLINE_MS)));
			client_close(&clients[i]);
		}
	if (http_listen == PGINVALID_SOCKET && now >= retry_at && !http_listen_open())
		retry_at = TimestampTzPlusMilliseconds(now, PGRAFT_HTTP_RETRY_MS);
}

/* ---------------------------------------------------------------------- */
/* The wait set                                                           */
/* ---------------------------------------------------------------------- */

static uint32
client_wants(const HttpClient *c)
{
	return c->state == HTTP_WRITING ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE;
}

int
pgraft_metrics_http_n_events(void)
{
	int			n = http_listen != PGINVALID_SOCKET ? 1 : 0;

	for (int i = 0; i < PGRAFT_HTTP_MAX_CLIENTS; i++)
		if (clients[i].in_use)
			n++;
	return n;
}

void
pgraft_metrics_http_add_events(WaitEventSet *ws)
{
	listen_pos = -1;
	if (http_listen != PGINVALID_SOCKET)
		listen_pos = AddWaitEventToSet(ws, WL_SOCKET_READABLE, http_listen, NULL, &http_listen);
	for (int i = 0; i < PGRAFT_HTTP_MAX_CLIENTS; i++)
		if (clients[i].in_use)
		{
			clients[i].wait_events = client_wants(&clients[i]);
			clients[i].wait_pos = AddWaitEventToSet(ws, clients[i].wait_events, clients[i].sock,
													NULL, &clients[i]);
		}
}

void
pgraft_metrics_http_update_events(WaitEventSet *ws)
{
	if (http_listen == PGINVALID_SOCKET)
		return;					/* off, or not bound: no clients either */
	for (int i = 0; i < PGRAFT_HTTP_MAX_CLIENTS; i++)
		if (clients[i].in_use && clients[i].wait_pos >= 0 &&
			client_wants(&clients[i]) != clients[i].wait_events)
		{
			clients[i].wait_events = client_wants(&clients[i]);
			ModifyWaitEvent(ws, clients[i].wait_pos, clients[i].wait_events, NULL);
		}
}

/* ---------------------------------------------------------------------- */
/* Requests and answers                                                   */
/* ---------------------------------------------------------------------- */

static void
accept_clients(void)
{
	for (int k = 0; k < PGRAFT_HTTP_ACCEPTS; k++)
	{
		struct sockaddr_storage sa;
		socklen_t	salen = sizeof(sa);
		pgsocket	sock = accept(http_listen, (struct sockaddr *) &sa, &salen);
		HttpClient *c = NULL;
		char		host[NI_MAXHOST];
		char		serv[NI_MAXSERV];

		if (sock == PGINVALID_SOCKET)
		{
			/*
			 * Out of descriptors or memory: the listener stays readable and
			 * the loop would spin.  Close it and bind again later.
			 */
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				errno != ECONNABORTED)
			{
				ereport(WARNING,
						(errcode_for_socket_access(),
						 errmsg("pgraft: the metrics endpoint could not accept a connection: %m"),
						 errdetail("It stops listening and tries again in %d s.",
								   PGRAFT_HTTP_RETRY_MS / 1000)));
				closesocket(http_listen);
				http_listen = PGINVALID_SOCKET;
				retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PGRAFT_HTTP_RETRY_MS);
				pgraft_transport_wait_set_changed();
			}
			return;
		}
		for (int i = 0; i < PGRAFT_HTTP_MAX_CLIENTS; i++)
			if (!clients[i].in_use)
			{
				c = &clients[i];
				break;
			}
		if (c == NULL || !pg_set_noblock(sock))
		{
			closesocket(sock);	/* all busy: a flood waits its turn */
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->in_use = true;
		c->sock = sock;
		c->state = HTTP_READING;
		c->since = GetCurrentTimestamp();
		c->wait_pos = -1;
		if (getnameinfo((struct sockaddr *) &sa, salen, host, sizeof(host), serv,
						sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(c->addr, sizeof(c->addr), "%s:%s", host, serv);
		else
			strlcpy(c->addr, "unknown address", sizeof(c->addr));
		pgraft_transport_wait_set_changed();
	}
}

/* The whole answer to what was parsed, in c->resp. */
static void
client_answer(HttpClient *c, enum pgr_http_result r, const struct pgr_http_request *req)
{
	const char *reason;
	int			code = pgr_http_status(r, &reason);
	char	   *body = NULL;
	size_t		blen;
	char		head[256];
	int			hlen;
	bool		head_only = req->head;	/* HEAD of any path: no body */
	MemoryContext old = MemoryContextSwitchTo(http_cxt);

	if (r == PGR_HTTP_METRICS)
	{
		struct pgr_metrics *m = palloc0(sizeof(*m));

		pgraft_metrics_collect(m);
		m->scrapes = ++scrapes;
		blen = pgr_metrics_render(m, NULL, 0);
		body = palloc(blen + 1);
		(void) pgr_metrics_render(m, body, blen + 1);
		pfree(m);
	}
	else
	{
		body = psprintf("%d %s\n", code, reason);
		blen = strlen(body);
		ereport(PGRAFT_DEBUG_LEVEL(),
				(errmsg("pgraft: metrics endpoint answered %d %s to %s", code, reason, c->addr)));
	}
	hlen = snprintf(head, sizeof(head),
					"HTTP/1.1 %d %s\r\n"
					"Content-Type: %s\r\n"
					"Content-Length: %zu\r\n"
					"%s"
					"Connection: close\r\n\r\n",
					code, reason,
					r == PGR_HTTP_METRICS ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8",
					blen, r == PGR_HTTP_BAD_METHOD ? "Allow: GET, HEAD\r\n" : "");
	c->rsize = hlen + (head_only ? 0 : blen);
	c->resp = palloc(c->rsize);
	memcpy(c->resp, head, hlen);
	if (!head_only)
		memcpy(c->resp + hlen, body, blen);
	pfree(body);
	MemoryContextSwitchTo(old);
	c->roff = 0;
	c->state = HTTP_WRITING;
}

static void
client_read(HttpClient *c)
{
	struct pgr_http_request req;
	enum pgr_http_result r;
	ssize_t		n;

	if (c->state == HTTP_DRAINING)
	{
		char		sink[4096];

		n = recv(c->sock, sink, sizeof(sink), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			client_close(c);
		return;
	}
	n = recv(c->sock, c->req + c->rlen, sizeof(c->req) - c->rlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0)
	{
		client_close(c);		/* gone before asking */
		return;
	}
	c->rlen += n;
	r = pgr_http_parse(c->req, c->rlen, &req);
	if (r == PGR_HTTP_INCOMPLETE)
		return;
	client_answer(c, r, &req);
}

static void
client_write(HttpClient *c)
{
	while (c->roff < c->rsize)
	{
		ssize_t		n = send(c->sock, c->resp + c->roff, c->rsize - c->roff, MSG_NOSIGNAL);

		if (n > 0)
		{
			c->roff += n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		client_close(c);
		return;
	}
	pfree(c->resp);
	c->resp = NULL;
	(void) shutdown(c->sock, SHUT_WR);
	c->state = HTTP_DRAINING;
}

bool
pgraft_metrics_http_handle_event(const WaitEvent *ev)
{
	HttpClient *c;

	if (ev->user_data == (void *) &http_listen)
	{
		if (http_listen != PGINVALID_SOCKET)
			accept_clients();
		return true;
	}
	if (ev->user_data < (void *) &clients[0] ||
		ev->user_data >= (void *) &clients[PGRAFT_HTTP_MAX_CLIENTS])
		return false;
	c = (HttpClient *) ev->user_data;
	if (!c->in_use || c->sock != ev->fd)
		return true;			/* closed earlier in this round */
	if (c->state == HTTP_WRITING && (ev->events & WL_SOCKET_WRITEABLE))
		client_write(c);
	else if (c->state != HTTP_WRITING && (ev->events & WL_SOCKET_READABLE))
		client_read(c);
	if (c->in_use && c->state == HTTP_WRITING)
		client_write(c);		/* most answers fit the socket at once */
	return true;
}
