/*-------------------------------------------------------------------------
 *
 * envelope.c
 *		The header pgraft puts in front of every application payload in the
 *		Raft log (see app.h, THE ENVELOPE).
 *
 * Layout (little-endian), PGR_ENVELOPE_SIZE = 44 bytes, then the payload:
 *		0	u8	'P'			magic
 *		1	u8	'R'
 *		2	u8	version		2
 *		3	u8	kind		1 = application data, 2 = a key-value command
 *		4	u64 origin		node that proposed it
 *		12	u64 incarnation	that node's worker start (grows with every start)
 *		20	u64 seq			the call's number within the incarnation
 *		28	u64 low			the lowest number of the origin's pending calls
 *		36	u64 term		term it was proposed in
 *
 * Version 1 (28 bytes: origin, a request id, term) was written by pgraft
 * before request ids were unique across restarts; it reads as incarnation
 * 0 with the request id as seq and low 0.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/app/envelope.c
 *
 *-------------------------------------------------------------------------
 */
#include "pgraft/app.h"

#include "../common/codec.h"

#define ENVELOPE_V1_SIZE 28

void
pgr_envelope_write(uint8_t *buf, const struct pgr_call_id *id, uint64_t low, uint64_t term,
				   enum pgr_payload_kind kind)
{
	buf[0] = 'P';
	buf[1] = 'R';
	buf[2] = 2;
	buf[3] = (uint8_t) kind;
	pgr_put_u64(buf + 4, id->origin);
	pgr_put_u64(buf + 12, id->incarnation);
	pgr_put_u64(buf + 20, id->seq);
	pgr_put_u64(buf + 28, low);
	pgr_put_u64(buf + 36, term);
}

bool
pgr_envelope_read(const uint8_t *buf, uint32_t len, struct pgr_envelope *out)
{
	if (buf == NULL || len < 4 || buf[0] != 'P' || buf[1] != 'R')
		return false;
	if (buf[2] == 2 && len >= PGR_ENVELOPE_SIZE &&
		(buf[3] == PGR_PAYLOAD_DATA || buf[3] == PGR_PAYLOAD_KV))
	{
		out->kind = (enum pgr_payload_kind) buf[3];
		out->id.origin = pgr_get_u64(buf + 4);
		out->id.incarnation = pgr_get_u64(buf + 12);
		out->id.seq = pgr_get_u64(buf + 20);
		out->low = pgr_get_u64(buf + 28);
		out->term = pgr_get_u64(buf + 36);
		out->data = buf + PGR_ENVELOPE_SIZE;
		out->len = len - PGR_ENVELOPE_SIZE;
		return true;
	}
	if (buf[2] == 1 && len >= ENVELOPE_V1_SIZE && buf[3] == PGR_PAYLOAD_DATA)
	{
		out->kind = PGR_PAYLOAD_DATA;
		out->id.origin = pgr_get_u64(buf + 4);
		out->id.incarnation = 0;
		out->id.seq = pgr_get_u64(buf + 12);
		out->low = 0;
		out->term = pgr_get_u64(buf + 20);
		out->data = buf + ENVELOPE_V1_SIZE;
		out->len = len - ENVELOPE_V1_SIZE;
		return true;
	}
	return false;
}

bool
pgr_app_kv_command(const struct pgr_entry *e, enum pgr_app_verdict v, const uint8_t **cmd,
				   uint32_t *len)
{
	struct pgr_envelope env;

	if (v != PGR_APP_DATA || e->type != PGR_ENTRY_NORMAL ||
		!pgr_envelope_read(e->data, e->len, &env) || env.kind != PGR_PAYLOAD_KV)
		return false;
	*cmd = env.data;
	*len = env.len;
	return true;
}
