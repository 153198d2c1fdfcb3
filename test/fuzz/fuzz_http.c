/*-------------------------------------------------------------------------
 *
 * fuzz_http.c
 *		libFuzzer target for what a scraper sends the metrics endpoint
 *		(pgr_http_parse, include/pgraft/metrics.h).
 *
 * The input is fed as the endpoint reads it: the whole of it, and every
 * prefix (a request arriving a byte at a time).  What must hold:
 *	- a prefix that is INCOMPLETE never becomes a verdict that an earlier,
 *	  shorter prefix contradicts: once a request is decided, more bytes do
 *	  not change the decision (the endpoint answers at the first verdict);
 *	- a decided request's header_len is within what was given, and ends in
 *	  a blank line;
 *	- nothing reads beyond the buffer or past PGR_HTTP_MAX_REQUEST (ASan);
 *	- every verdict maps to a status code.
 * It also renders a struct pgr_metrics filled from the input, which must
 * produce exactly the length it reports.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/fuzz/fuzz_http.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgraft/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *) data;
	enum pgr_http_result first = PGR_HTTP_INCOMPLETE;
	struct pgr_http_request req;
	const char *reason;
	struct pgr_metrics *m;
	size_t need;
	char *text;

	/* every prefix, as a slow client sends it */
	for (size_t n = 0; n <= size && n <= PGR_HTTP_MAX_REQUEST + 1; n++)
	{
		enum pgr_http_result r = pgr_http_parse(buf, n, &req);

		if (r == PGR_HTTP_INCOMPLETE)
		{
			if (first != PGR_HTTP_INCOMPLETE && first != PGR_HTTP_BAD_REQUEST)
				abort(); /* a decided request became undecided */
			continue;
		}
		if (r == PGR_HTTP_METRICS || r == PGR_HTTP_NOT_FOUND || r == PGR_HTTP_BAD_METHOD)
		{
			if (req.header_len == 0 || req.header_len > n || buf[req.header_len - 1] != '\n')
				abort();
		}
		if (first == PGR_HTTP_INCOMPLETE)
			first = r;
		else if (r != first && first != PGR_HTTP_BAD_REQUEST && first != PGR_HTTP_TOO_LARGE)
			abort(); /* more bytes changed a decided request */
		if (pgr_http_status(r, &reason) < 200 || reason == NULL)
			abort();
	}
	/* a rendering of whatever the input says the metrics are */
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return 0;
	memcpy(m, data, size < sizeof(*m) ? size : sizeof(*m));
	if (m->n_peers > PGR_MAX_MEMBERS)
		m->n_peers %= PGR_MAX_MEMBERS + 1;
	/* random bytes are no bool: keep the lowest bit (as bytes, without UB) */
	*(uint8_t *) &m->is_leader &= 1;
	*(uint8_t *) &m->is_voter &= 1;
	*(uint8_t *) &m->worker_running &= 1;
	for (uint32_t i = 0; i < PGR_MAX_MEMBERS; i++)
	{
		*(uint8_t *) &m->peers[i].connected &= 1;
		*(uint8_t *) &m->peers[i].leader_view &= 1;
		*(uint8_t *) &m->peers[i].lag_known &= 1;
	}
	need = pgr_metrics_render(m, NULL, 0);
	text = malloc(need + 1);
	if (text != NULL)
	{
		if (pgr_metrics_render(m, text, need + 1) != need || strlen(text) != need)
			abort();
		free(text);
	}
	free(m);
	return 0;
}
