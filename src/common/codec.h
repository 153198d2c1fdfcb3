/*-------------------------------------------------------------------------
 *
 * codec.h
 *		Little-endian integer encoding shared by the pure layers' binary
 *		formats: configurations and messages (src/core), log records, hard
 *		state and snapshot files (src/storage), the entry envelope and the
 *		application state (src/app).
 *
 * A struct pgr_reader never reads past its end: every get returns false once
 * the input is exhausted and stays failed, so decoders check once at the end
 * or at each step as they prefer.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/common/codec.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_CODEC_H
#define PGRAFT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void
pgr_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

static inline void
pgr_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static inline void
pgr_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint16_t
pgr_get_u16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t
pgr_get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t
pgr_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Bounded sequential writer: overflow sets ok = false and writes nothing. */
struct pgr_writer
{
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool ok;
};

static inline bool
pgr_w_reserve(struct pgr_writer *w, size_t n)
{
	if (!w->ok || w->cap - w->len < n)
	{
		w->ok = false;
		return false;
	}
	return true;
}

static inline void
pgr_w_u8(struct pgr_writer *w, uint8_t v)
{
	if (pgr_w_reserve(w, 1))
		w->buf[w->len++] = v;
}

static inline void
pgr_w_u16(struct pgr_writer *w, uint16_t v)
{
	if (pgr_w_reserve(w, 2))
	{
		pgr_put_u16(w->buf + w->len, v);
		w->len += 2;
	}
}

static inline void
pgr_w_u32(struct pgr_writer *w, uint32_t v)
{
	if (pgr_w_reserve(w, 4))
	{
		pgr_put_u32(w->buf + w->len, v);
		w->len += 4;
	}
}

static inline void
pgr_w_u64(struct pgr_writer *w, uint64_t v)
{
	if (pgr_w_reserve(w, 8))
	{
		pgr_put_u64(w->buf + w->len, v);
		w->len += 8;
	}
}

static inline void
pgr_w_bytes(struct pgr_writer *w, const void *src, size_t n)
{
	if (n > 0 && pgr_w_reserve(w, n))
	{
		memcpy(w->buf + w->len, src, n);
		w->len += n;
	}
}

/* Bounded sequential reader. */
struct pgr_reader
{
	const uint8_t *buf;
	size_t len;
	size_t pos;
	bool ok;
};

static inline bool
pgr_r_need(struct pgr_reader *r, size_t n)
{
	if (!r->ok || r->len - r->pos < n)
	{
		r->ok = false;
		return false;
	}
	return true;
}

static inline uint8_t
pgr_r_u8(struct pgr_reader *r)
{
	return pgr_r_need(r, 1) ? r->buf[r->pos++] : 0;
}

static inline uint16_t
pgr_r_u16(struct pgr_reader *r)
{
	uint16_t v = 0;

	if (pgr_r_need(r, 2))
	{
		v = pgr_get_u16(r->buf + r->pos);
		r->pos += 2;
	}
	return v;
}

static inline uint32_t
pgr_r_u32(struct pgr_reader *r)
{
	uint32_t v = 0;

	if (pgr_r_need(r, 4))
	{
		v = pgr_get_u32(r->buf + r->pos);
		r->pos += 4;
	}
	return v;
}

static inline uint64_t
pgr_r_u64(struct pgr_reader *r)
{
	uint64_t v = 0;

	if (pgr_r_need(r, 8))
	{
		v = pgr_get_u64(r->buf + r->pos);
		r->pos += 8;
	}
	return v;
}

/* Pointer to the next n bytes (not copied), or NULL past the end. */
static inline const uint8_t *
pgr_r_bytes(struct pgr_reader *r, size_t n)
{
	const uint8_t *p;

	if (!pgr_r_need(r, n))
		return NULL;
	p = r->buf + r->pos;
	r->pos += n;
	return p;
}

#endif /* PGRAFT_CODEC_H */
