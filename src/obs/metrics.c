/*-------------------------------------------------------------------------
 *
 * metrics.c
 *		Histograms, and the walk over every metric that both the Prometheus
 *		endpoint and pgraft_stat() use (include/pgraft/metrics.h).
 *
 * The families are listed once, here, in the order the endpoint shows
 * them; docs/metrics.md describes each.  Families whose samples come and go
 * (per peer) still show their HELP and TYPE lines with no peer, so that an
 * operator's query finds the family on a one-node cluster too.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/obs/metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgraft/metrics.h"

static const double latency_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015,
										0.002,   0.003,  0.005,   0.0075, 0.01,    0.025, 0.05,
										0.1,     0.25,   0.5,     1,      2.5,     5,     10};
static const double duration_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120};
static const double entries_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
static const double bytes_bounds[] = {256,    1024,    4096,    16384,    65536,
									  262144, 1048576, 4194304, 16777216, 67108864};

#define NBOUNDS(a) ((int) (sizeof(a) / sizeof((a)[0])))

const double *
pgr_hist_bounds(enum pgr_hist_kind kind, int *n)
{
	switch (kind)
	{
		case PGR_HIST_LATENCY:
			*n = NBOUNDS(latency_bounds);
			return latency_bounds;
		case PGR_HIST_DURATION:
			*n = NBOUNDS(duration_bounds);
			return duration_bounds;
		case PGR_HIST_ENTRIES:
			*n = NBOUNDS(entries_bounds);
			return entries_bounds;
		case PGR_HIST_BYTES:
		case PGR_HIST_KINDS:
			break;
	}
	*n = NBOUNDS(bytes_bounds);
	return bytes_bounds;
}

void
pgr_hist_observe(struct pgr_histogram *h, enum pgr_hist_kind kind, double v, uint64_t n)
{
	int nb;
	const double *b = pgr_hist_bounds(kind, &nb);
	int i = 0;

	if (n == 0)
		return;
	if (!(v >= 0)) /* a clock that went backwards, or NaN */
		v = 0;
	while (i < nb && v > b[i]) /* Prometheus buckets are "less or equal" */
		i++;
	h->buckets[i] += n;
	h->count += n;
	h->sum += v * (double) n;
}

const char *
pgr_metric_type_name(enum pgr_metric_type t)
{
	switch (t)
	{
		case PGR_METRIC_GAUGE:
			return "gauge";
		case PGR_METRIC_COUNTER:
			return "counter";
		case PGR_METRIC_HISTOGRAM:
			return "histogram";
	}
	return "untyped";
}

void
pgr_metrics_format_value(double v, char *buf, size_t cap)
{
	if (isinf(v))
		snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		snprintf(buf, cap, "NaN");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, cap, "%.0f", v);
	else
	{
		/* the shortest that reads back as v, so SQL and the text agree exactly */
		for (int digits = 15; digits <= 17; digits++)
		{
			snprintf(buf, cap, "%.*g", digits, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* The walk                                                               */
/* ---------------------------------------------------------------------- */

struct walk
{
	const struct pgr_metrics_sink *sink;
};

static void
family(const struct walk *w, const char *name, enum pgr_metric_type type, const char *help)
{
	w->sink->family(w->sink->arg, name, type, help);
}

static void
sample(const struct walk *w, const char *name, enum pgr_metric_type type, const char *labels,
	   double v)
{
	w->sink->sample(w->sink->arg, name, type, labels, v);
}

static void
gauge(const struct walk *w, const char *name, const char *help, double v)
{
	family(w, name, PGR_METRIC_GAUGE, help);
	sample(w, name, PGR_METRIC_GAUGE, "", v);
}

static void
counter(const struct walk *w, const char *name, const char *help, uint64_t v)
{
	family(w, name, PGR_METRIC_COUNTER, help);
	sample(w, name, PGR_METRIC_COUNTER, "", (double) v);
}

/* The samples of one histogram: cumulative buckets, +Inf, sum, count. */
static void
hist_samples(const struct walk *w, const char *name, const char *labels,
			 const struct pgr_histogram *h, enum pgr_hist_kind kind)
{
	int nb;
	const double *b = pgr_hist_bounds(kind, &nb);
	char sname[128];
	char lab[192];
	char le[32];
	uint64_t cum = 0;
	const char *sep = labels[0] ? "," : "";

	snprintf(sname, sizeof(sname), "%s_bucket", name);
	for (int i = 0; i <= nb; i++)
	{
		cum += h->buckets[i];
		/* bounds as written in the tables above: 0.00025, not 0.00025000000000000001 */
		if (i < nb && b[i] != floor(b[i]))
			snprintf(le, sizeof(le), "%g", b[i]);
		else
			pgr_metrics_format_value(i < nb ? b[i] : INFINITY, le, sizeof(le));
		snprintf(lab, sizeof(lab), "%s%sle=\"%s\"", labels, sep, le);
		sample(w, sname, PGR_METRIC_HISTOGRAM, lab, (double) cum);
	}
	snprintf(sname, sizeof(sname), "%s_sum", name);
	sample(w, sname, PGR_METRIC_HISTOGRAM, labels, h->sum);
	snprintf(sname, sizeof(sname), "%s_count", name);
	sample(w, sname, PGR_METRIC_HISTOGRAM, labels, (double) h->count);
}

static void
histogram(const struct walk *w, const char *name, const char *help, const struct pgr_histogram *h,
		  enum pgr_hist_kind kind)
{
	family(w, name, PGR_METRIC_HISTOGRAM, help);
	hist_samples(w, name, "", h, kind);
}

/* A per-peer family: one sample per peer that has it. */
enum peer_field
{
	PF_CONNECTED,
	PF_SENT_BYTES,
	PF_RECEIVED_BYTES,
	PF_SENT_MESSAGES,
	PF_RECEIVED_MESSAGES,
	PF_RECONNECTS,
	PF_MATCH_LAG,
	PF_LAST_CONTACT
};

static void
peer_family(const struct walk *w, const struct pgr_metrics *m, const char *name,
			enum pgr_metric_type type, const char *help, enum peer_field f)
{
	family(w, name, type, help);
	for (uint32_t i = 0; i < m->n_peers; i++)
	{
		const struct pgr_metrics_peer *p = &m->peers[i];
		char lab[64];
		double v = 0;

		switch (f)
		{
			case PF_CONNECTED:
				v = p->connected ? 1 : 0;
				break;
			case PF_SENT_BYTES:
				v = (double) p->sent_bytes;
				break;
			case PF_RECEIVED_BYTES:
				v = (double) p->received_bytes;
				break;
			case PF_SENT_MESSAGES:
				v = (double) p->sent_messages;
				break;
			case PF_RECEIVED_MESSAGES:
				v = (double) p->received_messages;
				break;
			case PF_RECONNECTS:
				v = (double) p->reconnects;
				break;
			case PF_MATCH_LAG:
				if (!p->leader_view || !p->lag_known)
					continue;
				v = (double) p->match_lag;
				break;
			case PF_LAST_CONTACT:
				if (!p->leader_view)
					continue;
				v = p->last_contact_seconds;
				break;
		}
		snprintf(lab, sizeof(lab), "peer=\"%llu\"", (unsigned long long) p->id);
		sample(w, name, type, lab, v);
	}
}

void
pgr_metrics_emit(const struct pgr_metrics *m, const struct pgr_metrics_sink *sink)
{
	struct walk ws = {sink};
	const struct walk *w = &ws;
	bool has_leader = m->leader_id != PGR_NONE;

	/* the node */
	gauge(w, "pgraft_node_id", "This node's id (pgraft.node_id).", (double) m->node_id);
	gauge(w, "pgraft_term", "The current Raft term.", (double) m->term);
	gauge(w, "pgraft_has_leader", "1 if this node knows the leader of its term, else 0.",
		  has_leader ? 1 : 0);
	gauge(w, "pgraft_is_leader", "1 if this node is the leader, else 0.", m->is_leader ? 1 : 0);
	gauge(w, "pgraft_is_voter",
		  "1 if this node is a voting member of the latest configuration, else 0.",
		  m->is_voter ? 1 : 0);
	gauge(w, "pgraft_leader_id", "The id of the leader this node knows, 0 if none.",
		  has_leader ? (double) m->leader_id : 0);
	counter(w, "pgraft_leader_changes_seen_total",
			"Times this node saw a new leader (a known leader other than the previous one).",
			m->leader_changes);
	counter(w, "pgraft_pre_votes_started_total", "Pre-elections this node started.",
			m->pre_votes_started);
	counter(w, "pgraft_pre_votes_won_total",
			"Pre-elections a majority granted (each starts an election).", m->pre_votes_won);
	counter(w, "pgraft_elections_started_total", "Elections this node started as candidate.",
			m->elections_started);
	counter(w, "pgraft_elections_won_total", "Elections that made this node the leader.",
			m->elections_won);
	counter(w, "pgraft_heartbeats_sent_total", "Heartbeats this node sent as leader.",
			m->heartbeats_sent);
	counter(w, "pgraft_messages_stepped_total", "Raft messages this node processed.",
			m->messages_stepped);
	gauge(w, "pgraft_members", "Members of the latest configuration (voters and learners).",
		  (double) m->members);
	gauge(w, "pgraft_voters", "Voters of the latest configuration.", (double) m->voters);

	/* the log */
	gauge(w, "pgraft_commit_index", "The highest log index known committed and durable here.",
		  (double) m->commit_index);
	gauge(w, "pgraft_applied_index", "The highest log index applied here.",
		  (double) m->applied_index);
	gauge(w, "pgraft_log_first_index", "The first index kept in the log (after the snapshot).",
		  (double) m->first_index);
	gauge(w, "pgraft_log_last_index", "The last index in the log.", (double) m->last_index);
	gauge(w, "pgraft_log_entries", "Entries kept in the log.",
		  m->last_index >= m->first_index ? (double) (m->last_index - m->first_index + 1) : 0);
	gauge(w, "pgraft_log_size_bytes", "Bytes of log records in the segment files.",
		  (double) m->log_bytes);
	gauge(w, "pgraft_snapshot_index", "The index of the latest snapshot, 0 if none.",
		  (double) m->snapshot_index);
	counter(w, "pgraft_entries_appended_total", "Entries written to this node's log.",
			m->entries_appended);
	counter(w, "pgraft_entries_applied_total", "Entries applied here (every kind).",
			m->entries_applied);
	counter(
		w, "pgraft_proposals_committed_total",
		"Application entries committed that counted: each successful pgraft_log_append once, on every node.",
		m->proposals_committed);
	gauge(w, "pgraft_proposals_pending", "Appends made through this node, not decided yet.",
		  (double) m->proposals_pending);
	counter(w, "pgraft_proposals_failed_total",
			"Appends made through this node that failed or whose outcome is unknown.",
			m->proposals_failed);

	/* disk and latency */
	histogram(w, "pgraft_disk_fsync_duration_seconds",
			  "Duration of each durability call (fdatasync or fsync) of the Raft storage.",
			  &m->fsync, PGR_HIST_LATENCY);
	histogram(w, "pgraft_disk_fsync_batch_entries", "Entries made durable by each synced batch.",
			  &m->batch_entries, PGR_HIST_ENTRIES);
	histogram(w, "pgraft_disk_fsync_batch_bytes", "Entry bytes made durable by each synced batch.",
			  &m->batch_bytes, PGR_HIST_BYTES);
	histogram(w, "pgraft_commit_latency_seconds",
			  "Leader: from the wake-up that appended an entry to the one that saw it committed.",
			  &m->commit_latency, PGR_HIST_LATENCY);

	/* the key-value store */
	gauge(w, "pgraft_kv_revision",
		  "The key-value store's revision here: the index of its last change.",
		  (double) m->kv_revision);
	gauge(w, "pgraft_kv_keys", "Keys in the key-value store.", (double) m->kv_keys);
	gauge(w, "pgraft_kv_size_bytes",
		  "Bytes of keys and values in the key-value store, as its quota counts them.",
		  (double) m->kv_bytes);
	gauge(w, "pgraft_kv_quota_bytes", "The key-value store's quota, 0 if none.",
		  (double) m->kv_quota_bytes);
	gauge(w, "pgraft_kv_leases", "Leases in the key-value store.", (double) m->kv_leases);
	gauge(w, "pgraft_kv_history_bytes",
		  "Memory of the changes kept for pgraft_kv_changes() (pgraft.kv_history_size).",
		  (double) m->kv_history_bytes);

	/* snapshots */
	counter(w, "pgraft_snapshots_taken_total", "Snapshots this node took to compact its log.",
			m->snapshots_taken);
	counter(w, "pgraft_snapshots_sent_total", "Snapshots this node sent to followers.",
			m->snapshots_sent);
	counter(w, "pgraft_snapshots_received_total", "Snapshots this node received whole.",
			m->snapshots_received);
	counter(w, "pgraft_snapshots_installed_total", "Snapshots this node installed from a leader.",
			m->snapshots_installed);
	histogram(w, "pgraft_snapshot_take_duration_seconds",
			  "Duration of taking a snapshot and compacting the log.", &m->snapshot_take,
			  PGR_HIST_DURATION);
	histogram(w, "pgraft_snapshot_install_duration_seconds",
			  "Duration of installing a received snapshot, storage included.", &m->snapshot_install,
			  PGR_HIST_DURATION);

	/* peers */
	peer_family(w, m, "pgraft_peer_connected", PGR_METRIC_GAUGE,
				"1 if this node has a live connection to the peer, else 0.", PF_CONNECTED);
	peer_family(w, m, "pgraft_peer_sent_bytes_total", PGR_METRIC_COUNTER,
				"Bytes sent to the peer (TLS records included).", PF_SENT_BYTES);
	peer_family(w, m, "pgraft_peer_received_bytes_total", PGR_METRIC_COUNTER,
				"Bytes received from the peer (TLS records included).", PF_RECEIVED_BYTES);
	peer_family(w, m, "pgraft_peer_sent_messages_total", PGR_METRIC_COUNTER,
				"Raft messages queued for the peer.", PF_SENT_MESSAGES);
	peer_family(w, m, "pgraft_peer_received_messages_total", PGR_METRIC_COUNTER,
				"Raft messages received from the peer.", PF_RECEIVED_MESSAGES);
	peer_family(w, m, "pgraft_peer_reconnects_total", PGR_METRIC_COUNTER,
				"Established connections with the peer that broke.", PF_RECONNECTS);
	peer_family(
		w, m, "pgraft_peer_match_lag_entries", PGR_METRIC_GAUGE,
		"Leader: entries of its log the peer has not acknowledged (peers heard from lately).",
		PF_MATCH_LAG);
	peer_family(w, m, "pgraft_peer_last_contact_seconds", PGR_METRIC_GAUGE,
				"Leader: seconds since the peer was last heard from.", PF_LAST_CONTACT);
	family(w, "pgraft_peer_round_trip_time_seconds", PGR_METRIC_HISTOGRAM,
		   "Leader: from sending a heartbeat to the peer to receiving its answer.");
	for (uint32_t i = 0; i < m->n_peers; i++)
	{
		char lab[64];

		snprintf(lab, sizeof(lab), "peer=\"%llu\"", (unsigned long long) m->peers[i].id);
		hist_samples(w, "pgraft_peer_round_trip_time_seconds", lab, &m->peers[i].rtt,
					 PGR_HIST_LATENCY);
	}

	/* transport */
	family(w, "pgraft_transport_refusals_total", PGR_METRIC_COUNTER,
		   "Connections to or from the Raft port refused, by reason.");
	for (int r = PGR_WIRE_REFUSE_NONE + 1; r < PGR_WIRE_REFUSE_N; r++)
	{
		char lab[64];

		snprintf(lab, sizeof(lab), "reason=\"%s\"",
				 pgr_wire_refusal_name((enum pgr_wire_refusal) r));
		sample(w, "pgraft_transport_refusals_total", PGR_METRIC_COUNTER, lab,
			   (double) m->refusals[r]);
	}

	/* SQL requests */
	gauge(w, "pgraft_requests_queued", "Request slots in use by SQL calls.",
		  (double) m->requests_queued);
	gauge(w, "pgraft_request_slots", "Request slots in all (pgraft.max_requests).",
		  (double) m->request_slots);
	counter(w, "pgraft_requests_processed_total", "SQL requests the worker answered.",
			m->requests_processed);
	counter(w, "pgraft_requests_failed_total", "SQL requests answered with an error.",
			m->requests_failed);
	counter(w, "pgraft_requests_rejected_total", "SQL requests refused because the queue was full.",
			m->requests_rejected);
	histogram(w, "pgraft_request_queue_wait_seconds",
			  "From a SQL session queueing a request to the worker taking it.",
			  &m->request_queue_wait, PGR_HIST_LATENCY);
	histogram(w, "pgraft_request_duration_seconds",
			  "From the worker taking a SQL request to answering it.", &m->request_duration,
			  PGR_HIST_LATENCY);

	/* the worker */
	gauge(w, "pgraft_worker_running", "1 if the pgraft worker is running, else 0.",
		  m->worker_running ? 1 : 0);
	counter(w, "pgraft_worker_restarts_total",
			"Times the worker started again since the server started.", m->worker_restarts);
	counter(w, "pgraft_metrics_scrapes_total", "Requests the metrics endpoint answered.",
			m->scrapes);
}

/* ---------------------------------------------------------------------- */
/* The text exposition format                                             */
/* ---------------------------------------------------------------------- */

struct text
{
	char *buf;
	size_t cap;
	size_t len; /* what the whole text needs */
};

static void
text_put(struct text *t, const char *s, size_t n)
{
	if (t->len < t->cap)
	{
		size_t room = t->cap - 1 - t->len;

		memcpy(t->buf + t->len, s, n < room ? n : room);
	}
	t->len += n;
}

static void
text_family(void *arg, const char *name, enum pgr_metric_type type, const char *help)
{
	char line[512];
	int n;

	n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
				 pgr_metric_type_name(type));
	text_put(arg, line, n < (int) sizeof(line) ? (size_t) n : sizeof(line) - 1);
}

static void
text_sample(void *arg, const char *name, enum pgr_metric_type type, const char *labels, double v)
{
	char line[512];
	char val[40];
	int n;

	(void) type;
	pgr_metrics_format_value(v, val, sizeof(val));
	if (labels[0])
		n = snprintf(line, sizeof(line), "%s{%s} %s\n", name, labels, val);
	else
		n = snprintf(line, sizeof(line), "%s %s\n", name, val);
	text_put(arg, line, n < (int) sizeof(line) ? (size_t) n : sizeof(line) - 1);
}

size_t
pgr_metrics_render(const struct pgr_metrics *m, char *buf, size_t cap)
{
	struct text t = {buf, cap, 0};
	struct pgr_metrics_sink sink = {text_family, text_sample, &t};

	pgr_metrics_emit(m, &sink);
	if (cap > 0)
		buf[t.len < cap ? t.len : cap - 1] = '\0';
	return t.len;
}
