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
 * WHY A CALL COUNTS AT MOST ONCE.  The origin may propose a call several
 * times (a lost message, a leader change).  Its copies carry the same
 * (incarnation, seq).  The session of the origin remembers every counted
 * call numbered at or above the origin's low watermark, so a second copy is
 * a duplicate; a copy numbered below the watermark belongs to a call that
 * had ended at the origin when a later call was proposed, so it is void
 * (counting it could contradict the answer the call got); a copy of an
 * older incarnation is void for the same reason (a worker's restart ends
 * all its calls).  When a session is full it forgets its lowest counted
 * call and moves the watermark past it: calls below were either counted
 * (and then remembered, being lower) or never will be.
 *
 * SNAPSHOT DATA FORMAT (little-endian):
 *		0	4	magic "PGRS"
 *		4	1	version (3)
 *		5	1	forgotten (0 or 1)
 *		6	2	zero
 *		8	8	applied index (equals the snapshot's index)
 *		16	8	entries counted
 *		24	4	number of sessions S
 *		28	4	zero
 *		then S sessions, sorted by origin:
 *			0	8	origin
 *			8	8	incarnation
 *			16	8	low
 *			24	4	number of calls N (<= 256)
 *			28	4	zero
 *			32	N x 16	seq, index of each counted call, by seq
 *		then the key-value store (kv.h):
 *			0	8	length K (0: an empty store)
 *			8	K	the store's snapshot encoding (pgr_kv_encode)
 * Version 2 is version 3 without the store (written before it existed);
 * it decodes with an empty store.  Version 1 (16 bytes: magic, version, the count) was written before the
 * sessions existed; it decodes with no session, forgotten.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/app/state.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgraft/app.h"
#include "pgraft/kv.h"

#include "../common/codec.h"

#define STATE_MAGIC    "PGRS"
#define STATE_VERSION  3
#define STATE_HEADER   32
#define SESSION_HEADER 32
#define CALL_SIZE      16

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
		case PGR_APP_EXPIRED:
			return "expired";
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

/* Index of the newest counted call of s (0 if none). */
static uint64_t
session_last_index(const struct pgr_app_session *s)
{
	uint64_t last = 0;

	for (uint32_t i = 0; i < s->n; i++)
		if (s->calls[i].index > last)
			last = s->calls[i].index;
	return last;
}

/*
 * The session of origin, made if missing.  A full table gives up the
 * session that was active least recently.
 */
static struct pgr_app_session *
session_get(struct pgr_app_state *st, uint64_t origin, uint64_t incarnation, uint64_t low)
{
	struct pgr_app_session *s = session_find(st, origin);
	uint32_t pos;

	if (s != NULL)
		return s;
	if (st->n_sessions == PGR_MAX_MEMBERS)
	{
		uint32_t victim = 0;

		for (uint32_t i = 1; i < st->n_sessions; i++)
			if (session_last_index(&st->sessions[i]) < session_last_index(&st->sessions[victim]))
				victim = i;
		memmove(&st->sessions[victim], &st->sessions[victim + 1],
				(st->n_sessions - victim - 1) * sizeof(st->sessions[0]));
		st->n_sessions--;
		st->forgotten = true;
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
	s->incarnation = incarnation;
	s->low = low;
	return s;
}

/* Position of seq in s->calls (sorted), or where it would go. */
static uint32_t
session_pos(const struct pgr_app_session *s, uint64_t seq)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi)
	{
		uint32_t mid = (lo + hi) / 2;

		if (s->calls[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Move the watermark up to low: the calls below it are forgotten. */
static void
session_raise_low(struct pgr_app_session *s, uint64_t low)
{
	uint32_t drop;

	if (low <= s->low)
		return;
	s->low = low;
	drop = session_pos(s, low);
	memmove(s->calls, s->calls + drop, (s->n - drop) * sizeof(s->calls[0]));
	s->n -= drop;
}

/* Decide whether an envelope appended in its own term counts. */
static enum pgr_app_verdict
session_admit(struct pgr_app_state *st, const struct pgr_envelope *env, uint64_t index)
{
	struct pgr_app_session *s = session_get(st, env->id.origin, env->id.incarnation, env->low);
	uint32_t pos;

	if (env->id.incarnation < s->incarnation)
		return PGR_APP_EXPIRED;
	if (env->id.incarnation > s->incarnation)
	{
		/* a new start of the origin: its earlier calls have all ended */
		s->incarnation = env->id.incarnation;
		s->low = env->low;
		s->n = 0;
	}
	else
		session_raise_low(s, env->low);
	if (env->id.seq < s->low)
		return PGR_APP_EXPIRED;
	pos = session_pos(s, env->id.seq);
	if (pos < s->n && s->calls[pos].seq == env->id.seq)
		return PGR_APP_DUPLICATE;
	if (s->n == PGR_APP_SESSION_CALLS)
	{
		/* full: forget the lowest counted call, and everything below it */
		session_raise_low(s, s->calls[0].seq + 1);
		if (env->id.seq < s->low)
			return PGR_APP_EXPIRED;
		pos = session_pos(s, env->id.seq);
	}
	memmove(&s->calls[pos + 1], &s->calls[pos], (s->n - pos) * sizeof(s->calls[0]));
	s->calls[pos].seq = env->id.seq;
	s->calls[pos].index = index;
	s->n++;
	return PGR_APP_DATA;
}

enum pgr_err
pgr_app_apply(struct pgr_app_state *st, const struct pgr_entry *e, enum pgr_app_verdict *verdict,
			  struct pgr_envelope *env)
{
	struct pgr_envelope scratch;

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
		*verdict = session_admit(st, env, e->index);
		if (*verdict == PGR_APP_DATA)
			st->entries_counted++;
	}
	st->applied = e->index;
	st->applied_term = e->term;
	return PGR_OK;
}

enum pgr_err
pgr_app_find_call(const struct pgr_app_state *st, const struct pgr_call_id *id, uint64_t *index_out)
{
	const struct pgr_app_session *s = session_find((struct pgr_app_state *) st, id->origin);
	uint32_t pos;

	if (s == NULL)
		return st->forgotten ? PGR_EUNAVAILABLE : PGR_ENOENT;
	if (s->incarnation < id->incarnation)
		return PGR_ENOENT; /* nothing of ours has counted yet */
	if (s->incarnation > id->incarnation || id->seq < s->low)
		return PGR_ECOMPACTED;
	pos = session_pos(s, id->seq);
	if (pos < s->n && s->calls[pos].seq == id->seq)
	{
		*index_out = s->calls[pos].index;
		return PGR_OK;
	}
	return PGR_ENOENT;
}

/* ---------------------------------------------------------------------- */
/* Encoding                                                               */
/* ---------------------------------------------------------------------- */

size_t
pgr_app_state_encoded_size(const struct pgr_app_state *st, const struct pgr_kv *kv)
{
	size_t n = STATE_HEADER + 8 + (kv != NULL ? pgr_kv_encoded_size(kv) : 0);

	for (uint32_t i = 0; i < st->n_sessions; i++)
		n += SESSION_HEADER + (size_t) st->sessions[i].n * CALL_SIZE;
	return n;
}

void
pgr_app_state_encode(const struct pgr_app_state *st, const struct pgr_kv *kv, uint8_t *buf,
					 size_t *len_out)
{
	struct pgr_writer w = {buf, pgr_app_state_encoded_size(st, kv), 0, true};
	size_t kv_len = kv != NULL ? pgr_kv_encoded_size(kv) : 0;

	pgr_w_bytes(&w, STATE_MAGIC, 4);
	pgr_w_u8(&w, STATE_VERSION);
	pgr_w_u8(&w, st->forgotten ? 1 : 0);
	pgr_w_u16(&w, 0);
	pgr_w_u64(&w, st->applied);
	pgr_w_u64(&w, st->entries_counted);
	pgr_w_u32(&w, st->n_sessions);
	pgr_w_u32(&w, 0);
	for (uint32_t i = 0; i < st->n_sessions; i++)
	{
		const struct pgr_app_session *s = &st->sessions[i];

		pgr_w_u64(&w, s->origin);
		pgr_w_u64(&w, s->incarnation);
		pgr_w_u64(&w, s->low);
		pgr_w_u32(&w, s->n);
		pgr_w_u32(&w, 0);
		for (uint32_t k = 0; k < s->n; k++)
		{
			pgr_w_u64(&w, s->calls[k].seq);
			pgr_w_u64(&w, s->calls[k].index);
		}
	}
	pgr_w_u64(&w, kv_len);
	if (kv_len > 0)
		pgr_kv_encode(kv, buf + w.len);
	*len_out = w.len + kv_len;
}

enum pgr_err
pgr_app_state_decode(const uint8_t *buf, uint64_t len, const struct pgr_snapshot_meta *meta,
					 struct pgr_app_state *out, const uint8_t **kv, size_t *kv_len)
{
	struct pgr_reader r = {buf, (size_t) len, 0, buf != NULL};
	const uint8_t *magic = pgr_r_bytes(&r, 4);
	uint8_t version = pgr_r_u8(&r);
	uint8_t forgotten;

	pgr_app_state_init(out);
	*kv = NULL;
	*kv_len = 0;
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
		out->forgotten = true;
		return r.ok && r.pos == r.len ? PGR_OK : PGR_ECORRUPT;
	}
	if (version != 2 && version != STATE_VERSION)
		return PGR_ECORRUPT;
	forgotten = pgr_r_u8(&r);
	(void) pgr_r_u16(&r);
	if (forgotten > 1 || pgr_r_u64(&r) != meta->index)
		return PGR_ECORRUPT;
	out->forgotten = forgotten == 1;
	out->entries_counted = pgr_r_u64(&r);
	out->n_sessions = pgr_r_u32(&r);
	(void) pgr_r_u32(&r);
	if (!r.ok || out->n_sessions > PGR_MAX_MEMBERS)
		return PGR_ECORRUPT;
	for (uint32_t i = 0; i < out->n_sessions; i++)
	{
		struct pgr_app_session *s = &out->sessions[i];

		s->origin = pgr_r_u64(&r);
		s->incarnation = pgr_r_u64(&r);
		s->low = pgr_r_u64(&r);
		s->n = pgr_r_u32(&r);
		(void) pgr_r_u32(&r);
		if (!r.ok || s->n > PGR_APP_SESSION_CALLS || s->origin == PGR_NONE ||
			(i > 0 && s->origin <= out->sessions[i - 1].origin))
			return PGR_ECORRUPT;
		for (uint32_t k = 0; k < s->n; k++)
		{
			struct pgr_app_call *c = &s->calls[k];

			c->seq = pgr_r_u64(&r);
			c->index = pgr_r_u64(&r);
			/* sorted, at or above the watermark, within the snapshot */
			if (!r.ok || c->seq < s->low || (k > 0 && c->seq <= s->calls[k - 1].seq) ||
				c->index == 0 || c->index > meta->index)
				return PGR_ECORRUPT;
		}
	}
	if (version == STATE_VERSION)
	{
		uint64_t n = pgr_r_u64(&r);

		if (!r.ok || n != r.len - r.pos)
			return PGR_ECORRUPT;
		*kv = n > 0 ? buf + r.pos : NULL;
		*kv_len = (size_t) n;
		r.pos = r.len;
	}
	return r.ok && r.pos == r.len ? PGR_OK : PGR_ECORRUPT;
}
