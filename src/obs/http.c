/*-------------------------------------------------------------------------
 *
 * http.c
 *		The one HTTP request the metrics endpoint understands: a scraper's
 *		GET /metrics (include/pgraft/metrics.h).
 *
 * Whatever arrives is hostile until checked.  The request line must be
 * "METHOD SP /path SP HTTP/1.0|1.1" with a token for the method; header
 * lines must be "name: value" without control characters; lines may end in
 * CRLF or a bare LF (RFC 9112 section 2.2 lets a server accept that).  A
 * body is refused (Content-Length other than 0, any Transfer-Encoding):
 * GET has none, and reading one would only let a client hold the
 * connection.  Nothing here allocates; the caller bounds what it reads at
 * PGR_HTTP_MAX_REQUEST bytes.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/obs/http.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>
#include <strings.h>

#include "pgraft/metrics.h"

/* The end of the headers (one past the blank line), or 0 if not there yet. */
static size_t
headers_end(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static bool
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		   (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* One line [p, end) without its line ending. */
static size_t
line_len(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t) (end - p));
	size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);

	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n;
}

static const char *
next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t) (end - p));

	return nl ? nl + 1 : end;
}

static enum pgr_http_result
parse_request_line(const char *p, size_t n, struct pgr_http_request *out, bool *metrics)
{
	size_t m = 0;
	size_t t;
	size_t tlen;
	size_t plen;

	while (m < n && is_tchar(p[m]))
		m++;
	if (m == 0 || m >= n || p[m] != ' ')
		return PGR_HTTP_BAD_REQUEST;
	t = m + 1;
	tlen = 0;
	while (t + tlen < n && p[t + tlen] != ' ')
	{
		unsigned char c = (unsigned char) p[t + tlen];

		if (c <= 0x20 || c >= 0x7f)
			return PGR_HTTP_BAD_REQUEST;
		tlen++;
	}
	if (tlen == 0 || t + tlen >= n || p[t] != '/')
		return PGR_HTTP_BAD_REQUEST;
	if (n - (t + tlen + 1) != 8)
		return PGR_HTTP_BAD_REQUEST;
	if (memcmp(p + t + tlen + 1, "HTTP/1.1", 8) == 0)
		out->http10 = false;
	else if (memcmp(p + t + tlen + 1, "HTTP/1.0", 8) == 0)
		out->http10 = true;
	else
		return PGR_HTTP_BAD_REQUEST;
	/* the path, without a query */
	plen = 0;
	while (plen < tlen && p[t + plen] != '?')
		plen++;
	*metrics = plen == 8 && memcmp(p + t, "/metrics", 8) == 0;
	if (m == 3 && memcmp(p, "GET", 3) == 0)
		out->head = false;
	else if (m == 4 && memcmp(p, "HEAD", 4) == 0)
		out->head = true;
	else
		return PGR_HTTP_BAD_METHOD;
	return PGR_HTTP_METRICS;
}

static enum pgr_http_result
parse_header(const char *p, size_t n)
{
	size_t k = 0;
	const char *v;
	size_t vn;

	while (k < n && is_tchar(p[k]))
		k++;
	if (k == 0 || k >= n || p[k] != ':')
		return PGR_HTTP_BAD_REQUEST;
	for (size_t i = k + 1; i < n; i++)
	{
		unsigned char c = (unsigned char) p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return PGR_HTTP_BAD_REQUEST;
	}
	v = p + k + 1;
	vn = n - k - 1;
	while (vn > 0 && (*v == ' ' || *v == '\t'))
	{
		v++;
		vn--;
	}
	while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
		vn--;
	if (k == 17 && strncasecmp(p, "transfer-encoding", 17) == 0)
		return PGR_HTTP_BAD_REQUEST;
	if (k == 14 && strncasecmp(p, "content-length", 14) == 0 && !(vn == 1 && v[0] == '0'))
		return PGR_HTTP_BAD_REQUEST;
	return PGR_HTTP_METRICS;
}

enum pgr_http_result
pgr_http_parse(const char *buf, size_t len, struct pgr_http_request *out)
{
	size_t end;
	const char *p;
	const char *stop;
	size_t n;
	bool metrics = false;
	enum pgr_http_result r;

	memset(out, 0, sizeof(*out));
	if (len > PGR_HTTP_MAX_REQUEST)
		len = PGR_HTTP_MAX_REQUEST;
	end = headers_end(buf, len);
	/* only the request line and headers count: what follows never changes
	 * a verdict already given */
	for (size_t i = 0; i < (end ? end : len); i++)
		if (buf[i] == '\0')
			return PGR_HTTP_BAD_REQUEST;
	if (end == 0)
		return len >= PGR_HTTP_MAX_REQUEST ? PGR_HTTP_TOO_LARGE : PGR_HTTP_INCOMPLETE;
	out->header_len = end;
	p = buf;
	stop = buf + end;
	n = line_len(p, stop);
	r = parse_request_line(p, n, out, &metrics);
	if (r != PGR_HTTP_METRICS)
		return r;
	for (p = next_line(p, stop); p < stop; p = next_line(p, stop))
	{
		n = line_len(p, stop);
		if (n == 0)
			break; /* the blank line */
		if (p[0] == ' ' || p[0] == '\t')
			return PGR_HTTP_BAD_REQUEST; /* obsolete line folding */
		r = parse_header(p, n);
		if (r != PGR_HTTP_METRICS)
			return r;
	}
	return metrics ? PGR_HTTP_METRICS : PGR_HTTP_NOT_FOUND;
}

int
pgr_http_status(enum pgr_http_result r, const char **reason)
{
	switch (r)
	{
		case PGR_HTTP_METRICS:
			*reason = "OK";
			return 200;
		case PGR_HTTP_NOT_FOUND:
			*reason = "Not Found";
			return 404;
		case PGR_HTTP_BAD_METHOD:
			*reason = "Method Not Allowed";
			return 405;
		case PGR_HTTP_TOO_LARGE:
			*reason = "Request Header Fields Too Large";
			return 431;
		case PGR_HTTP_INCOMPLETE:
		case PGR_HTTP_BAD_REQUEST:
			break;
	}
	*reason = "Bad Request";
	return 400;
}
