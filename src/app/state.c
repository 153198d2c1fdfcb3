/*-------------------------------------------------------------------------
 *
 * state.c
 *		pgraft's application state machine: what applying the committed
 *		log makes of a node (see app.h, THE STATE MACHINE), and its encoding
 *		as snapshot data.
 *
 * Every node applies the same entries in the same order, so every node
 * builds the same state, byte for byte: everything here depends on the
 * entries alone (never on the node, the clock or chance).
 *
 * SNAPSHOT DATA FORMAT (little-endian):
 *		0	4	magic "PGRS"
 *		4	1	version (2)
 *		5	3	zero
 *		8	8	applied index (equals the snapshot's index)
 *		16	8	entries counted
 *		24	8	forgotten_upto
 *		32	4	number of sessions S
 *		36	4	zero
 *		then S sessions, sorted by origin:
 *			0	8	origin
 *			8	8	complete_after
 *			16	4	number of calls N (<= 64)
 *			20	4	zero
 *			24	N x 24	incarnation, seq, index of each call, oldest first
 * Version 1 (16 bytes: magic, version, the count) was written before the
 * sessions existed; it decodes with no session and everything at or below
 * the snapshot forgotten.
 *
 * src/app/state.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgraft/app.h"

#include "../common/codec.h"

#define STATE_MAGIC "PGRS"
#define STATE_VERSION 2
#define STATE_HEADER 40
#define SESSION_HEADER 24
#define CALL_SIZE 24

const char *
pgr_app_verdict_name(enum pgr_app_verdict v)
{
	switch (v)
	{
		case PGR_APP_NOOP:
			return "noop";
		case PGR_APP_CONFIG:
			return "config";
		case PGR_APP_DATA:
			return "data";
		case PGR_APP_SUPERSEDED:
			return "superseded";
		case PGR_APP_DUPLICATE:
			return "duplicate";
		case PGR_APP_FOREIGN:
			return "unknown";
	}
	return "unknown";
}

void
pgr_app_state_init(struct pgr_app_state *st)
{
	memset(st, 0, sizeof(*st));
}

static struct pgr_app_session *
session_find(struct pgr_app_state *st, uint64_t origin)
{
	for (uint32_t i = 0; i < st->n_sessions; i++)
		if (st->sessions[i].origin == origin)
			return &st->sessions[i];
	return NULL;
}

static const struct pgr_app_session *
session_find_const(const struct pgr_app_state *st, uint64_t origin)
{
	return session_find((struct pgr_app_state *) st, origin);
}

/* Index of the newest call of s (0 if none). */
static uint64_t
session_last_index(const struct pgr_app_session *s)
{
	if (s->n == 0)
		return s->complete_after;
	return s->recent[(s->head + s->n - 1) % PGR_APP_RECENT].index;
}

/*
 * The session of origin, made if missing.  A full table gives up the
 * session that was active least recently: its calls are forgotten.
 */
static struct pgr_app_session *
session_get(struct pgr_app_state *st, uint64_t origin)
{
	struct pgr_app_session *s = session_find(st, origin);
	uint32_t	pos;

	if (s != NULL)
		return s;
	if (st->n_sessions == PGR_MAX_MEMBERS)
	{
		uint32_t	victim = 0;

		for (uint32_t i = 1; i < st->n_sessions; i++)
			if (session_last_index(&st->sessions[i]) <
				session_last_index(&st->sessions[victim]))
				victim = i;
		if (session_last_index(&st->sessions[victim]) > st->forgotten_upto)
			st->forgotten_upto = session_last_index(&st->sessions[victim]);
		memmove(&st->sessions[victim], &st->sessions[victim + 1],
				(st->n_sessions - victim - 1) * sizeof(st->sessions[0]));
		st->n_sessions--;
	}
	pos = 0;
	while (pos < st->n_sessions && st->sessions[pos].origin < origin)
		pos++;
	memmove(&st->sessions[pos + 1], &st->sessions[pos],
			(st->n_sessions - pos) * sizeof(st->sessions[0]));
	st->n_sessions++;
	s = &st->sessions[pos];
	memset(s, 0, sizeof(*s));
	s->origin = origin;
	/* an origin new here may have had calls before the forgotten horizon */
	s->complete_after = st->forgotten_upto;
	return s;
}

static const struct pgr_app_call *
session_lookup(const struct pgr_app_session *s, uint64_t incarnation, uint64_t seq)
{
	for (uint32_t i = 0; i < s->n; i++)
	{
		const struct pgr_app_call *c = &s->recent[(s->head + i) % PGR_APP_RECENT];

		if (c->incarnation == incarnation && c->seq == seq)
			return c;
	}
	return NULL;
}

static void
session_push(struct pgr_app_session *s, uint64_t incarnation, uint64_t seq, uint64_t index)
{
	struct pgr_app_call *c;

	if (s->n == PGR_APP_RECENT)
	{
		/* the oldest leaves the ring: the ring is complete only after it */
		s->complete_after = s->recent[s->head].index;
		s->head = (s->head + 1) % PGR_APP_RECENT;
		s->n--;
	}
	c = &s->recent[(s->head + s->n) % PGR_APP_RECENT];
	c->incarnation = incarnation;
	c->seq = seq;
	c->index = index;
	s->n++;
}

enum pgr_err
pgr_app_apply(struct pgr_app_state *st, const struct pgr_entry *e,
			  enum pgr_app_verdict *verdict, struct pgr_envelope *env)
{
	struct pgr_envelope scratch;
	struct pgr_app_session *s;

	if (env == NULL)
		env = &scratch;
	if (e->index != st->applied + 1 || e->term < st->applied_term)
		return PGR_EINVAL;
	if (e->type == PGR_ENTRY_CONFIG)
	{
		struct pgr_config conf;

		if (pgr_config_decode(e->data, e->len, &conf) != PGR_OK)
			return PGR_ECORRUPT;
		st->config = conf;
		st->config_index = e->index;
		*verdict = PGR_APP_CONFIG;
	}
	else if (e->len == 0)
		*verdict = PGR_APP_NOOP;
	else if (e->type != PGR_ENTRY_NORMAL || !pgr_envelope_read(e->data, e->len, env))
		*verdict = PGR_APP_FOREIGN;
	else if (env->term != e->term)
		*verdict = PGR_APP_SUPERSEDED;
	else
	{
		s = session_get(st, env->id.origin);
		if (session_lookup(s, env->id.incarnation, env->id.seq) != NULL)
			*verdict = PGR_APP_DUPLICATE;
		else
		{
			session_push(s, env->id.incarnation, env->id.seq, e->index);
			st->entries_counted++;
			*verdict = PGR_APP_DATA;
		}
	}
	st->applied = e->index;
	st->applied_term = e->term;
	return PGR_OK;
}

enum pgr_err
pgr_app_find_call(const struct pgr_app_state *st, const struct pgr_call_id *id,
				  uint64_t proposed_at, uint64_t *index_out)
{
	const struct pgr_app_session *s = session_find_const(st, id->origin);
	const struct pgr_app_call *c;

	if (s == NULL)
		return st->forgotten_upto <= proposed_at ? PGR_ENOENT : PGR_EUNAVAILABLE;
	c = session_lookup(s, id->incarnation, id->seq);
	if (c != NULL)
	{
		*index_out = c->index;
		return PGR_OK;
	}
	return s->complete_after <= proposed_at ? PGR_ENOENT : PGR_EUNAVAILABLE;
}

/* ---------------------------------------------------------------------- */
/* Encoding                                                               */
/* ---------------------------------------------------------------------- */

size_t
pgr_app_state_encoded_size(const struct pgr_app_state *st)
{
	size_t		n = STATE_HEADER;

	for (uint32_t i = 0; i < st->n_sessions; i++)
		n += SESSION_HEADER + (size_t) st->sessions[i].n * CALL_SIZE;
	return n;
}

void
pgr_app_state_encode(const struct pgr_app_state *st, uint8_t *buf, size_t *len_out)
{
	struct pgr_writer w = {buf, pgr_app_state_encoded_size(st), 0, true};

	pgr_w_bytes(&w, STATE_MAGIC, 4);
	pgr_w_u8(&w, STATE_VERSION);
	pgr_w_u8(&w, 0);
	pgr_w_u16(&w, 0);
	pgr_w_u64(&w, st->applied);
	pgr_w_u64(&w, st->entries_counted);
	pgr_w_u64(&w, st->forgotten_upto);
	pgr_w_u32(&w, st->n_sessions);
	pgr_w_u32(&w, 0);
	for (uint32_t i = 0; i < st->n_sessions; i++)
	{
		const struct pgr_app_session *s = &st->sessions[i];

		pgr_w_u64(&w, s->origin);
		pgr_w_u64(&w, s->complete_after);
		pgr_w_u32(&w, s->n);
		pgr_w_u32(&w, 0);
		for (uint32_t k = 0; k < s->n; k++)
		{
			const struct pgr_app_call *c = &s->recent[(s->head + k) % PGR_APP_RECENT];

			pgr_w_u64(&w, c->incarnation);
			pgr_w_u64(&w, c->seq);
			pgr_w_u64(&w, c->index);
		}
	}
	*len_out = w.len;
}

enum pgr_err
pgr_app_state_decode(const uint8_t *buf, uint64_t len,
					 const struct pgr_snapshot_meta *meta, struct pgr_app_state *out)
{
	struct pgr_reader r = {buf, (size_t) len, 0, buf != NULL};
	const uint8_t *magic = pgr_r_bytes(&r, 4);
	uint8_t		version = pgr_r_u8(&r);

	pgr_app_state_init(out);
	if (magic == NULL || memcmp(magic, STATE_MAGIC, 4) != 0)
		return PGR_ECORRUPT;
	out->applied = meta->index;
	out->applied_term = meta->term;
	out->config = meta->config;
	out->config_index = meta->index;
	if (version == 1)
	{
		(void) pgr_r_bytes(&r, 3);
		out->entries_counted = pgr_r_u64(&r);
		out->forgotten_upto = meta->index;
		return r.ok && r.pos == r.len ? PGR_OK : PGR_ECORRUPT;
	}
	if (version != STATE_VERSION)
		return PGR_ECORRUPT;
	(void) pgr_r_bytes(&r, 3);
	if (pgr_r_u64(&r) != meta->index)
		return PGR_ECORRUPT;
	out->entries_counted = pgr_r_u64(&r);
	out->forgotten_upto = pgr_r_u64(&r);
	out->n_sessions = pgr_r_u32(&r);
	(void) pgr_r_u32(&r);
	if (!r.ok || out->n_sessions > PGR_MAX_MEMBERS || out->forgotten_upto > meta->index)
		return PGR_ECORRUPT;
	for (uint32_t i = 0; i < out->n_sessions; i++)
	{
		struct pgr_app_session *s = &out->sessions[i];
		uint64_t	prev = 0;

		s->origin = pgr_r_u64(&r);
		s->complete_after = pgr_r_u64(&r);
		s->n = pgr_r_u32(&r);
		(void) pgr_r_u32(&r);
		if (!r.ok || s->n > PGR_APP_RECENT || s->origin == PGR_NONE ||
			(i > 0 && s->origin <= out->sessions[i - 1].origin) ||
			s->complete_after > meta->index)
			return PGR_ECORRUPT;
		prev = s->complete_after;
		for (uint32_t k = 0; k < s->n; k++)
		{
			struct pgr_app_call *c = &s->recent[k];

			c->incarnation = pgr_r_u64(&r);
			c->seq = pgr_r_u64(&r);
			c->index = pgr_r_u64(&r);
			/* calls are in log order, after the horizon, within the snapshot */
			if (!r.ok || c->index <= prev || c->index > meta->index)
				return PGR_ECORRUPT;
			prev = c->index;
		}
	}
	return r.ok && r.pos == r.len ? PGR_OK : PGR_ECORRUPT;
}
