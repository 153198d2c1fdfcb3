/*-------------------------------------------------------------------------
 *
 * metrics.h
 *		What a node counts and measures, and its one rendering into
 *		Prometheus's text exposition format (version 0.0.4).
 *
 * struct pgr_metrics is a plain value: the worker fills one, publishes a
 * copy in shared memory, and both the HTTP endpoint and the SQL function
 * pgraft_stat() walk a copy through pgr_metrics_emit(), so the two can only
 * show the same families, samples and labels.  Names follow Prometheus's
 * conventions: the pgraft_ prefix, base units (seconds, bytes), counters
 * end in _total.
 *
 * Histograms keep per-bucket counts (not cumulative) on fixed boundaries of
 * one of four kinds; the rendering makes them cumulative and adds +Inf.
 * The latency boundaries start at 50 microseconds: the disks pgraft runs on
 * sync in 0.2-0.5 ms, and a histogram whose first bucket is a millisecond
 * would say nothing about them.
 *
 * Pure C: no allocation, no clock, no I/O.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * include/pgraft/metrics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_METRICS_H
#define PGRAFT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgraft/core.h"
#include "pgraft/wire.h"

enum pgr_hist_kind
{
	PGR_HIST_LATENCY = 0, /* seconds, 50 us to 10 s */
	PGR_HIST_DURATION,    /* seconds, 1 ms to 120 s (snapshots) */
	PGR_HIST_ENTRIES,     /* entries, 1 to 4096 */
	PGR_HIST_BYTES,       /* bytes, 256 B to 64 MiB */
	PGR_HIST_KINDS
};

#define PGR_HIST_MAX_BOUNDS 21

struct pgr_histogram
{
	uint64_t buckets[PGR_HIST_MAX_BOUNDS + 1]; /* last: above every bound */
	uint64_t count;
	double sum;
};

/* The upper bounds of kind's buckets (ascending), and how many there are. */
const double *pgr_hist_bounds(enum pgr_hist_kind kind, int *n);

/* Count n observations of value v (n > 1: a batch observed at once). */
void pgr_hist_observe(struct pgr_histogram *h, enum pgr_hist_kind kind, double v, uint64_t n);

/* One peer as this node sees it.  Lag and contact are the leader's view. */
struct pgr_metrics_peer
{
	uint64_t id;
	bool connected; /* a live outgoing connection */
	uint64_t sent_bytes;
	uint64_t received_bytes;
	uint64_t sent_messages;
	uint64_t received_messages;
	uint64_t reconnects; /* established connections that broke */
	bool leader_view;    /* this node leads: last_contact is known */
	bool lag_known;      /* and the peer answered lately: match_lag */
	uint64_t match_lag;  /* leader's last index - peer's match */
	double last_contact_seconds;
	struct pgr_histogram rtt; /* PGR_HIST_LATENCY: heartbeat to answer */
};

struct pgr_metrics
{
	/* the node */
	uint64_t node_id;
	uint64_t term;
	uint64_t leader_id; /* PGR_NONE if none */
	bool is_leader;
	bool is_voter;
	uint64_t leader_changes;
	uint64_t pre_votes_started;
	uint64_t pre_votes_won;
	uint64_t elections_started;
	uint64_t elections_won;
	uint64_t heartbeats_sent;
	uint64_t messages_stepped;

	/* the log */
	uint64_t commit_index;
	uint64_t applied_index;
	uint64_t first_index;
	uint64_t last_index;
	uint64_t snapshot_index;
	uint64_t log_bytes;        /* bytes of the log's segment files in use */
	uint64_t entries_appended; /* written to this node's log */
	uint64_t entries_applied;
	uint64_t proposals_committed; /* application entries that counted */
	uint64_t proposals_pending;   /* appends made here, not yet decided */
	uint64_t proposals_failed;    /* appends made here that failed or are
									 * of unknown outcome */
	uint64_t members;
	uint64_t voters;

	/* disk and latency */
	struct pgr_histogram fsync;          /* LATENCY: one durability call */
	struct pgr_histogram batch_entries;  /* ENTRIES: per synced batch */
	struct pgr_histogram batch_bytes;    /* BYTES: per synced batch */
	struct pgr_histogram commit_latency; /* LATENCY: leader, proposal to
											 * commit */

	/* snapshots */
	/* the key-value store (kv.h) */
	uint64_t kv_revision;
	uint64_t kv_keys;
	uint64_t kv_bytes;       /* keys and values, as the quota counts */
	uint64_t kv_quota_bytes; /* 0: no limit */
	uint64_t kv_leases;
	uint64_t kv_history_bytes;

	uint64_t snapshots_taken;
	uint64_t snapshots_sent;
	uint64_t snapshots_received;
	uint64_t snapshots_installed;
	struct pgr_histogram snapshot_take;    /* DURATION */
	struct pgr_histogram snapshot_install; /* DURATION */

	/* transport */
	uint64_t refusals[PGR_WIRE_REFUSE_N];

	/* SQL requests */
	uint64_t requests_queued; /* slots in use */
	uint64_t request_slots;
	uint64_t requests_processed;
	uint64_t requests_failed;
	uint64_t requests_rejected;              /* the queue was full */
	struct pgr_histogram request_queue_wait; /* LATENCY: submitted to taken */
	struct pgr_histogram request_duration;   /* LATENCY: taken to answered */

	/* the worker */
	bool worker_running;
	uint64_t worker_restarts;
	uint64_t scrapes;

	uint32_t n_peers;
	struct pgr_metrics_peer peers[PGR_MAX_MEMBERS];
};

/*
 * The walk over every metric.  family() is called once per family before
 * its samples; sample() once per sample with its full name (family name
 * plus _bucket, _sum or _count for histograms) and its labels in the
 * exposition syntax without braces ("" if none).
 */
enum pgr_metric_type
{
	PGR_METRIC_GAUGE,
	PGR_METRIC_COUNTER,
	PGR_METRIC_HISTOGRAM
};

const char *pgr_metric_type_name(enum pgr_metric_type t);

struct pgr_metrics_sink
{
	void (*family)(void *arg, const char *name, enum pgr_metric_type type, const char *help);
	void (*sample)(void *arg, const char *name, enum pgr_metric_type type, const char *labels,
				   double value);
	void *arg;
};

void pgr_metrics_emit(const struct pgr_metrics *m, const struct pgr_metrics_sink *sink);

/*
 * The exposition text in buf (NUL-terminated when cap > 0).  Returns the
 * length the whole text needs, without the NUL, as snprintf does: call with
 * cap 0 to size the buffer.
 */
size_t pgr_metrics_render(const struct pgr_metrics *m, char *buf, size_t cap);

/* A number as the exposition format writes it (integers exactly). */
void pgr_metrics_format_value(double v, char *buf, size_t cap);

/* ---------------------------------------------------------------------- */
/* The HTTP request of a scraper                                          */
/* ---------------------------------------------------------------------- */

/*
 * The endpoint reads one request per connection, at most
 * PGR_HTTP_MAX_REQUEST bytes of request line and headers; a body is not
 * accepted.  pgr_http_parse() looks at what arrived so far.
 */
#define PGR_HTTP_MAX_REQUEST 8192

enum pgr_http_result
{
	PGR_HTTP_INCOMPLETE = 0, /* no end of headers yet: read more */
	PGR_HTTP_METRICS,        /* GET (or HEAD) /metrics: answer 200 */
	PGR_HTTP_NOT_FOUND,      /* a well-formed GET of another path: 404 */
	PGR_HTTP_BAD_METHOD,     /* not GET or HEAD: 405 */
	PGR_HTTP_BAD_REQUEST,    /* malformed: 400 */
	PGR_HTTP_TOO_LARGE       /* no end of headers within the limit: 431 */
};

struct pgr_http_request
{
	bool head;         /* HEAD: headers only */
	bool http10;       /* HTTP/1.0 */
	size_t header_len; /* bytes up to and including the blank line */
};

enum pgr_http_result pgr_http_parse(const char *buf, size_t len, struct pgr_http_request *out);

/* The status line's code and reason for a result that is not INCOMPLETE. */
int pgr_http_status(enum pgr_http_result r, const char **reason);

#endif /* PGRAFT_METRICS_H */
