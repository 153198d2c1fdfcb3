/*-------------------------------------------------------------------------
 *
 * envelope.c
 *		The header pgraft puts in front of every application payload in the
 *		Raft log, and the "host:port" context of a member.
 *
 * Envelope layout (little-endian), 28 bytes then the payload:
 *		u8	'P', u8 'R'		magic
 *		u8	version (1)
 *		u8	kind (1 = application data)
 *		u64 origin			node that proposed it
 *		u64 request_id		that node's request id
 *		u64 term			term it was proposed in
 *
 * src/pg/envelope.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pgraft.h"

static void
put64(uint8 *p, uint64 v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8) (v >> (8 * i));
}

static uint64
get64(const uint8 *p)
{
	uint64		v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void
pgraft_envelope_write(uint8 *buf, uint64 origin, uint64 request_id, uint64 term)
{
	buf[0] = 'P';
	buf[1] = 'R';
	buf[2] = 1;
	buf[3] = 1;
	put64(buf + 4, origin);
	put64(buf + 12, request_id);
	put64(buf + 20, term);
}

bool
pgraft_envelope_read(const uint8 *buf, uint32 len, PgraftEnvelope *out)
{
	if (buf == NULL || len < PGRAFT_ENVELOPE_HEADER ||
		buf[0] != 'P' || buf[1] != 'R' || buf[2] != 1 || buf[3] != 1)
		return false;
	out->origin = get64(buf + 4);
	out->request_id = get64(buf + 12);
	out->term = get64(buf + 20);
	out->data = buf + PGRAFT_ENVELOPE_HEADER;
	out->len = len - PGRAFT_ENVELOPE_HEADER;
	return true;
}

bool
pgraft_context_parse(const uint8 *ctx, uint32 len, char *host, size_t host_size, int *port)
{
	char		buf[PGR_MAX_CONTEXT + 1];
	char	   *colon;
	char	   *end;
	long		p;

	if (len == 0 || len > PGR_MAX_CONTEXT)
		return false;
	memcpy(buf, ctx, len);
	buf[len] = '\0';
	if (strlen(buf) != len)
		return false;
	colon = strrchr(buf, ':');
	if (colon == NULL || colon == buf || (size_t) (colon - buf) >= host_size)
		return false;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || p < 1 || p > 65535)
		return false;
	*colon = '\0';
	strlcpy(host, buf, host_size);
	*port = (int) p;
	return true;
}
