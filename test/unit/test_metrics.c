/*-------------------------------------------------------------------------
 *
 * test_metrics.c
 *		Histograms, the exposition text and the scraper's HTTP request
 *		(src/obs).
 *
 * The text must be what Prometheus parses: a HELP and a TYPE line before
 * every family's samples, cumulative buckets ending in +Inf whose last
 * count is the _count, integers written exactly.  The TAP test feeds a live
 * node's text to promtool; these tests pin the details it relies on.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pgraft/metrics.h"

static char *
render(const struct pgr_metrics *m)
{
	size_t n = pgr_metrics_render(m, NULL, 0);
	char *buf = malloc(n + 1);
	size_t again;

	if (buf == NULL)
		return NULL;
	again = pgr_metrics_render(m, buf, n + 1);
	if (again != n || strlen(buf) != n)
	{
		free(buf);
		return NULL;
	}
	return buf;
}

static void
test_observations_land_in_the_first_bucket_at_or_above_them(void)
{
	struct pgr_histogram h;
	int n;
	const double *b = pgr_hist_bounds(PGR_HIST_LATENCY, &n);

	memset(&h, 0, sizeof(h));
	CHECK(n <= PGR_HIST_MAX_BOUNDS);
	CHECK(b[0] <= 0.00005);                            /* sub-millisecond fsyncs are resolved */
	pgr_hist_observe(&h, PGR_HIST_LATENCY, 0.0003, 1); /* (0.00025, 0.0005] */
	pgr_hist_observe(&h, PGR_HIST_LATENCY, 0.0005, 1); /* on a bound: that bucket */
	pgr_hist_observe(&h, PGR_HIST_LATENCY, 100, 2);    /* above all */
	pgr_hist_observe(&h, PGR_HIST_LATENCY, -1, 1);     /* a clock step: 0 */
	CHECK_EQ(h.buckets[3], 2);
	CHECK_EQ(h.buckets[n], 2);
	CHECK_EQ(h.buckets[0], 1);
	CHECK_EQ(h.count, 5);
	CHECK(fabs(h.sum - (0.0008 + 200)) < 1e-9);
	for (int k = 0; k < PGR_HIST_KINDS; k++)
	{
		b = pgr_hist_bounds((enum pgr_hist_kind) k, &n);
		CHECK(n > 0 && n <= PGR_HIST_MAX_BOUNDS);
		for (int i = 1; i < n; i++)
			CHECK(b[i] > b[i - 1]);
	}
}

/* Every family has HELP then TYPE before its samples, and only once. */
static void
test_every_family_is_introduced_once_before_its_samples(void)
{
	struct pgr_metrics m;
	char *text;
	char *line;
	char *save;
	char current[128] = "";
	int families = 0;
	char seen[128][128];

	memset(&m, 0, sizeof(m));
	m.n_peers = 2;
	m.peers[0].id = 2;
	m.peers[1].id = 3;
	m.peers[1].leader_view = true;
	text = render(&m);
	CHECK(text != NULL);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char name[128];

		if (strncmp(line, "# HELP ", 7) == 0)
		{
			CHECK(sscanf(line + 7, "%127s", name) == 1);
			for (int i = 0; i < families; i++)
				CHECK(strcmp(seen[i], name) != 0);
			CHECK(families < 128);
			snprintf(seen[families++], sizeof(seen[0]), "%s", name);
			snprintf(current, sizeof(current), "%s", name);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0)
		{
			CHECK(sscanf(line + 7, "%127s", name) == 1);
			CHECK(strcmp(name, current) == 0);
			continue;
		}
		/* a sample belongs to the current family */
		CHECK(current[0] != '\0');
		CHECK(strncmp(line, current, strlen(current)) == 0);
		CHECK(strncmp(line, "pgraft_", 7) == 0);
	}
	CHECK(families > 50);
	free(text);
}

static void
test_histograms_are_cumulative_and_end_at_the_count(void)
{
	struct pgr_metrics m;
	char *text;
	const char *p;
	unsigned long long v;

	memset(&m, 0, sizeof(m));
	pgr_hist_observe(&m.fsync, PGR_HIST_LATENCY, 0.0003, 3);
	pgr_hist_observe(&m.fsync, PGR_HIST_LATENCY, 0.02, 1);
	pgr_hist_observe(&m.fsync, PGR_HIST_LATENCY, 60, 1);
	text = render(&m);
	CHECK(text != NULL);
	CHECK(strstr(text, "# TYPE pgraft_disk_fsync_duration_seconds histogram\n") != NULL);
	CHECK(strstr(text, "pgraft_disk_fsync_duration_seconds_bucket{le=\"5e-05\"} 0\n") != NULL);
	CHECK(strstr(text, "pgraft_disk_fsync_duration_seconds_bucket{le=\"0.0005\"} 3\n") != NULL);
	CHECK(strstr(text, "pgraft_disk_fsync_duration_seconds_bucket{le=\"0.025\"} 4\n") != NULL);
	CHECK(strstr(text, "pgraft_disk_fsync_duration_seconds_bucket{le=\"10\"} 4\n") != NULL);
	CHECK(strstr(text, "pgraft_disk_fsync_duration_seconds_bucket{le=\"+Inf\"} 5\n") != NULL);
	CHECK(strstr(text, "pgraft_disk_fsync_duration_seconds_count 5\n") != NULL);
	p = strstr(text, "pgraft_disk_fsync_duration_seconds_sum ");
	CHECK(p != NULL);
	CHECK(fabs(strtod(p + strlen("pgraft_disk_fsync_duration_seconds_sum "), NULL) - 60.0209) <
		  1e-9);
	/* byte bounds are written as integers */
	CHECK(strstr(text, "pgraft_disk_fsync_batch_bytes_bucket{le=\"67108864\"} 0\n") != NULL);
	free(text);

	/* counters are exact beyond 2^32 */
	m.entries_appended = 5000000000ULL;
	text = render(&m);
	CHECK(text != NULL);
	p = strstr(text, "\npgraft_entries_appended_total ");
	CHECK(p != NULL && sscanf(p + strlen("\npgraft_entries_appended_total "), "%llu", &v) == 1);
	CHECK_EQ(v, 5000000000ULL);
	free(text);
}

static void
test_peer_samples_carry_the_peer_label_and_leader_only_ones_need_the_leader(void)
{
	struct pgr_metrics m;
	char *text;

	memset(&m, 0, sizeof(m));
	m.n_peers = 2;
	m.peers[0].id = 2;
	m.peers[0].sent_bytes = 1234;
	m.peers[1].id = 3;
	m.peers[1].leader_view = true;
	m.peers[1].lag_known = true;
	m.peers[1].match_lag = 7;
	pgr_hist_observe(&m.peers[1].rtt, PGR_HIST_LATENCY, 0.0001, 1);
	text = render(&m);
	CHECK(text != NULL);
	CHECK(strstr(text, "pgraft_peer_sent_bytes_total{peer=\"2\"} 1234\n") != NULL);
	CHECK(strstr(text, "pgraft_peer_match_lag_entries{peer=\"3\"} 7\n") != NULL);
	CHECK(strstr(text, "pgraft_peer_match_lag_entries{peer=\"2\"}") == NULL);
	CHECK(
		strstr(text, "pgraft_peer_round_trip_time_seconds_bucket{peer=\"3\",le=\"0.0001\"} 1\n") !=
		NULL);
	CHECK(strstr(text, "pgraft_peer_round_trip_time_seconds_count{peer=\"3\"} 1\n") != NULL);
	CHECK(strstr(text, "pgraft_transport_refusals_total{reason=\"") != NULL);
	free(text);
}

/* Values read back exactly: pgraft_stat() (a float8) and the text agree. */
static void
test_values_are_written_to_read_back_exactly(void)
{
	const double vs[] = {0, 1, 12345678901234.0, 0.1 + 0.2, 1.0 / 3, 0.00025, 6.02e23, -2.5};
	char buf[40];

	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
	{
		pgr_metrics_format_value(vs[i], buf, sizeof(buf));
		CHECK(strtod(buf, NULL) == vs[i]);
	}
	pgr_metrics_format_value(0.5, buf, sizeof(buf));
	CHECK(strcmp(buf, "0.5") == 0);
	pgr_metrics_format_value(42, buf, sizeof(buf));
	CHECK(strcmp(buf, "42") == 0);
	pgr_metrics_format_value(INFINITY, buf, sizeof(buf));
	CHECK(strcmp(buf, "+Inf") == 0);
}

/* A buffer too small gets a truncated, terminated text and the full size. */
static void
test_render_reports_the_size_it_needs(void)
{
	struct pgr_metrics m;
	char small[100];
	size_t need;

	memset(&m, 0, sizeof(m));
	memset(small, 'x', sizeof(small));
	need = pgr_metrics_render(&m, small, sizeof(small));
	CHECK(need > sizeof(small));
	CHECK_EQ(strlen(small), sizeof(small) - 1);
	CHECK_EQ(pgr_metrics_render(&m, NULL, 0), need);
}

/* ---------------------------------------------------------------------- */
/* HTTP                                                                   */
/* ---------------------------------------------------------------------- */

static enum pgr_http_result
parse(const char *s)
{
	struct pgr_http_request r;

	return pgr_http_parse(s, strlen(s), &r);
}

static void
test_a_scrapers_get_is_understood(void)
{
	struct pgr_http_request r;
	const char *prom = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9187\r\n"
					   "User-Agent: Prometheus/2.42.0\r\nAccept: text/plain;version=0.0.4\r\n"
					   "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";

	CHECK_EQ(pgr_http_parse(prom, strlen(prom), &r), PGR_HTTP_METRICS);
	CHECK_EQ(r.header_len, strlen(prom));
	CHECK(!r.head && !r.http10);
	CHECK_EQ(parse("GET /metrics HTTP/1.0\n\n"), PGR_HTTP_METRICS);
	CHECK_EQ(parse("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), PGR_HTTP_METRICS);
	CHECK_EQ(pgr_http_parse("HEAD /metrics HTTP/1.1\r\n\r\n", 26, &r), PGR_HTTP_METRICS);
	CHECK(r.head);
	CHECK_EQ(parse("GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), PGR_HTTP_METRICS);
}

static void
test_partial_requests_wait_and_oversized_ones_are_refused(void)
{
	char *big;

	CHECK_EQ(parse(""), PGR_HTTP_INCOMPLETE);
	CHECK_EQ(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n"), PGR_HTTP_INCOMPLETE);
	big = malloc(PGR_HTTP_MAX_REQUEST + 100);
	CHECK(big != NULL);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memset(big + 26, 'a', PGR_HTTP_MAX_REQUEST + 100 - 26);
	CHECK_EQ(pgr_http_parse(big, PGR_HTTP_MAX_REQUEST + 100, &(struct pgr_http_request){0}),
			 PGR_HTTP_TOO_LARGE);
	CHECK_EQ(pgr_http_parse(big, PGR_HTTP_MAX_REQUEST - 1, &(struct pgr_http_request){0}),
			 PGR_HTTP_INCOMPLETE);
	free(big);
}

static void
test_everything_else_gets_its_error(void)
{
	const char *reason;

	CHECK_EQ(parse("GET / HTTP/1.1\r\n\r\n"), PGR_HTTP_NOT_FOUND);
	CHECK_EQ(parse("GET /metricsx HTTP/1.1\r\n\r\n"), PGR_HTTP_NOT_FOUND);
	CHECK_EQ(parse("POST /metrics HTTP/1.1\r\n\r\n"), PGR_HTTP_BAD_METHOD);
	CHECK_EQ(parse("GET /metrics HTTP/2.0\r\n\r\n"), PGR_HTTP_BAD_REQUEST);
	CHECK_EQ(parse("GET metrics HTTP/1.1\r\n\r\n"), PGR_HTTP_BAD_REQUEST);
	CHECK_EQ(parse("GET  /metrics HTTP/1.1\r\n\r\n"), PGR_HTTP_BAD_REQUEST);
	CHECK_EQ(parse("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n"), PGR_HTTP_BAD_REQUEST);
	CHECK_EQ(parse("GET /metrics HTTP/1.1\r\nX: a\r\n folded\r\n\r\n"), PGR_HTTP_BAD_REQUEST);
	CHECK_EQ(parse("GET /metrics HTTP/1.1\r\nX: a\x01\r\n\r\n"), PGR_HTTP_BAD_REQUEST);
	CHECK_EQ(parse("GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
			 PGR_HTTP_BAD_REQUEST);
	CHECK_EQ(parse("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
			 PGR_HTTP_BAD_REQUEST);
	CHECK_EQ(pgr_http_parse("GET /metrics\0 HTTP/1.1\r\n\r\n", 26, &(struct pgr_http_request){0}),
			 PGR_HTTP_BAD_REQUEST);
	CHECK_EQ(pgr_http_status(PGR_HTTP_METRICS, &reason), 200);
	CHECK_EQ(pgr_http_status(PGR_HTTP_TOO_LARGE, &reason), 431);
	CHECK_EQ(pgr_http_status(PGR_HTTP_BAD_METHOD, &reason), 405);
	CHECK_EQ(pgr_http_status(PGR_HTTP_NOT_FOUND, &reason), 404);
	CHECK_EQ(pgr_http_status(PGR_HTTP_BAD_REQUEST, &reason), 400);
}

static const struct test_case cases[] = {
	TEST(test_observations_land_in_the_first_bucket_at_or_above_them),
	TEST(test_every_family_is_introduced_once_before_its_samples),
	TEST(test_histograms_are_cumulative_and_end_at_the_count),
	TEST(test_peer_samples_carry_the_peer_label_and_leader_only_ones_need_the_leader),
	TEST(test_values_are_written_to_read_back_exactly),
	TEST(test_render_reports_the_size_it_needs),
	TEST(test_a_scrapers_get_is_understood),
	TEST(test_partial_requests_wait_and_oversized_ones_are_refused),
	TEST(test_everything_else_gets_its_error),
};

TEST_MAIN(cases)
