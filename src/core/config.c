/*-------------------------------------------------------------------------
 *
 * config.c
 *		Cluster configurations: encoding, lookup and single-server changes.
 *
 * A configuration entry carries the whole membership, so a node learns every
 * member (and its opaque context, e.g. its address) from the log alone, and
 * the configuration in force is simply the latest one in the log.
 *
 * Encoding (little-endian), version 1:
 *		u8	 version (1)
 *		u32	 n_members (1 .. PGR_MAX_MEMBERS)
 *		n_members times:
 *			u64 id (> 0, strictly increasing)
 *			u8	role (0 voter, 1 learner)
 *			u16 context_len (<= PGR_MAX_CONTEXT)
 *			context_len bytes
 * At least one member is a voter.  Nothing may follow the last member.
 *
 * A change request (PGR_ENTRY_CONF_CHANGE, only inside a forwarded MsgProp):
 *		u8	 version (1)
 *		u8	 type (enum pgr_conf_change_type)
 *		u64	 node_id (> 0)
 *		u16	 context_len (<= PGR_MAX_CONTEXT)
 *		context_len bytes
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/config.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgraft/core.h"

#include "../common/codec.h"
#include "raft.h"

#define PGR_CONFIG_VERSION 1

size_t
pgr_config_encoded_size(const struct pgr_config *conf)
{
	size_t size = 1 + 4;

	for (uint32_t i = 0; i < conf->n_members && i < PGR_MAX_MEMBERS; i++)
		size += 8 + 1 + 2 + conf->members[i].context_len;
	return size;
}

/* The invariants of struct pgr_config; both encode and decode enforce them. */
bool
pgr_config_valid(const struct pgr_config *conf)
{
	uint32_t voters = 0;

	if (conf->n_members == 0 || conf->n_members > PGR_MAX_MEMBERS)
		return false;
	for (uint32_t i = 0; i < conf->n_members; i++)
	{
		const struct pgr_member *m = &conf->members[i];

		if (m->id == PGR_NONE || m->context_len > PGR_MAX_CONTEXT)
			return false;
		if (m->role != PGR_MEMBER_VOTER && m->role != PGR_MEMBER_LEARNER)
			return false;
		if (i > 0 && conf->members[i - 1].id >= m->id)
			return false;
		if (m->role == PGR_MEMBER_VOTER)
			voters++;
	}
	return voters > 0;
}

enum pgr_err
pgr_config_encode(const struct pgr_config *conf, uint8_t *buf, size_t cap, size_t *len_out)
{
	struct pgr_writer w = {buf, cap, 0, true};

	if (!pgr_config_valid(conf))
		return PGR_EINVAL;
	pgr_w_u8(&w, PGR_CONFIG_VERSION);
	pgr_w_u32(&w, conf->n_members);
	for (uint32_t i = 0; i < conf->n_members; i++)
	{
		const struct pgr_member *m = &conf->members[i];

		pgr_w_u64(&w, m->id);
		pgr_w_u8(&w, (uint8_t) m->role);
		pgr_w_u16(&w, (uint16_t) m->context_len);
		pgr_w_bytes(&w, m->context, m->context_len);
	}
	if (!w.ok)
		return PGR_ETOOBIG;
	*len_out = w.len;
	return PGR_OK;
}

enum pgr_err
pgr_config_decode(const uint8_t *buf, size_t len, struct pgr_config *out)
{
	struct pgr_reader r = {buf, len, 0, true};
	uint32_t n;

	if (buf == NULL || pgr_r_u8(&r) != PGR_CONFIG_VERSION)
		return PGR_ECORRUPT;
	n = pgr_r_u32(&r);
	if (!r.ok || n == 0 || n > PGR_MAX_MEMBERS)
		return PGR_ECORRUPT;
	memset(out, 0, sizeof(*out));
	out->n_members = n;
	for (uint32_t i = 0; i < n; i++)
	{
		struct pgr_member *m = &out->members[i];
		const uint8_t *ctx;

		m->id = pgr_r_u64(&r);
		m->role = pgr_r_u8(&r);
		m->context_len = pgr_r_u16(&r);
		if (!r.ok || m->context_len > PGR_MAX_CONTEXT)
			return PGR_ECORRUPT;
		ctx = pgr_r_bytes(&r, m->context_len);
		if (ctx == NULL)
			return PGR_ECORRUPT;
		if (m->context_len > 0)
			memcpy(m->context, ctx, m->context_len);
	}
	if (r.pos != len || !pgr_config_valid(out))
		return PGR_ECORRUPT;
	return PGR_OK;
}

const struct pgr_member *
pgr_config_find(const struct pgr_config *conf, uint64_t id)
{
	for (uint32_t i = 0; i < conf->n_members && i < PGR_MAX_MEMBERS; i++)
		if (conf->members[i].id == id)
			return &conf->members[i];
	return NULL;
}

uint32_t
pgr_config_voters(const struct pgr_config *conf)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < conf->n_members && i < PGR_MAX_MEMBERS; i++)
		if (conf->members[i].role == PGR_MEMBER_VOTER)
			n++;
	return n;
}

/* Insert m keeping members sorted by id; the caller checked capacity. */
static void
config_insert(struct pgr_config *conf, const struct pgr_member *m)
{
	uint32_t pos = 0;

	while (pos < conf->n_members && conf->members[pos].id < m->id)
		pos++;
	memmove(&conf->members[pos + 1], &conf->members[pos],
			(conf->n_members - pos) * sizeof(struct pgr_member));
	conf->members[pos] = *m;
	conf->n_members++;
}

enum pgr_err
pgr_config_apply(const struct pgr_config *in, const struct pgr_conf_change *cc,
				 struct pgr_config *out)
{
	struct pgr_config next;
	struct pgr_member *cur = NULL;
	bool same_context;

	if (cc->node_id == PGR_NONE || cc->context_len > PGR_MAX_CONTEXT)
		return PGR_EINVAL;
	if (in->n_members > PGR_MAX_MEMBERS)
		return PGR_EINVAL;
	next = *in;
	for (uint32_t i = 0; i < next.n_members; i++)
		if (next.members[i].id == cc->node_id)
			cur = &next.members[i];
	same_context = cur != NULL && cc->context_len == cur->context_len &&
				   memcmp(cc->context, cur->context, cc->context_len) == 0;

	switch (cc->type)
	{
		case PGR_CC_ADD_VOTER:
		case PGR_CC_ADD_LEARNER:
		{
			uint32_t role = cc->type == PGR_CC_ADD_VOTER ? PGR_MEMBER_VOTER : PGR_MEMBER_LEARNER;

			if (cur == NULL)
			{
				struct pgr_member m;

				if (next.n_members >= PGR_MAX_MEMBERS)
					return PGR_ETOOBIG;
				memset(&m, 0, sizeof(m));
				m.id = cc->node_id;
				m.role = role;
				m.context_len = cc->context_len;
				memcpy(m.context, cc->context, cc->context_len);
				config_insert(&next, &m);
				break;
			}
			if (cc->context_len > 0 && !same_context)
				return PGR_EINVAL; /* same id, another context */
			if (cur->role == role)
				return PGR_EEXIST;
			if (cur->role == PGR_MEMBER_VOTER)
				return PGR_EINVAL;        /* demotion is not supported */
			cur->role = PGR_MEMBER_VOTER; /* promotion */
			break;
		}
		case PGR_CC_PROMOTE:
			if (cur == NULL)
				return PGR_ENOENT;
			if (cur->role == PGR_MEMBER_VOTER)
				return PGR_EEXIST;
			if (cc->context_len > 0 && !same_context)
				return PGR_EINVAL;
			cur->role = PGR_MEMBER_VOTER;
			break;
		case PGR_CC_REMOVE:
		{
			uint32_t pos;

			if (cur == NULL)
				return PGR_ENOENT;
			if (cur->role == PGR_MEMBER_VOTER && pgr_config_voters(&next) == 1)
				return PGR_EINVAL; /* never remove the last voter */
			pos = (uint32_t) (cur - next.members);
			memmove(&next.members[pos], &next.members[pos + 1],
					(next.n_members - pos - 1) * sizeof(struct pgr_member));
			next.n_members--;
			break;
		}
		default:
			return PGR_EINVAL;
	}
	*out = next;
	return PGR_OK;
}

enum pgr_err
pgr_conf_change_encode(const struct pgr_conf_change *cc, uint8_t *buf, size_t cap, size_t *len_out)
{
	struct pgr_writer w = {buf, cap, 0, true};

	if (cc->node_id == PGR_NONE || cc->context_len > PGR_MAX_CONTEXT || cc->type > PGR_CC_REMOVE)
		return PGR_EINVAL;
	pgr_w_u8(&w, PGR_CONFIG_VERSION);
	pgr_w_u8(&w, (uint8_t) cc->type);
	pgr_w_u64(&w, cc->node_id);
	pgr_w_u16(&w, (uint16_t) cc->context_len);
	pgr_w_bytes(&w, cc->context, cc->context_len);
	if (!w.ok)
		return PGR_ETOOBIG;
	*len_out = w.len;
	return PGR_OK;
}

enum pgr_err
pgr_conf_change_decode(const uint8_t *buf, size_t len, struct pgr_conf_change *out)
{
	struct pgr_reader r = {buf, len, 0, true};
	const uint8_t *ctx;

	if (buf == NULL || pgr_r_u8(&r) != PGR_CONFIG_VERSION)
		return PGR_ECORRUPT;
	memset(out, 0, sizeof(*out));
	out->type = pgr_r_u8(&r);
	out->node_id = pgr_r_u64(&r);
	out->context_len = pgr_r_u16(&r);
	if (!r.ok || out->type > PGR_CC_REMOVE || out->node_id == PGR_NONE ||
		out->context_len > PGR_MAX_CONTEXT)
		return PGR_ECORRUPT;
	ctx = pgr_r_bytes(&r, out->context_len);
	if (ctx == NULL || r.pos != len)
		return PGR_ECORRUPT;
	if (out->context_len > 0)
		memcpy(out->context, ctx, out->context_len);
	return PGR_OK;
}
