/*-------------------------------------------------------------------------
 *
 * kv.c
 *		The key-value state machine (see kv.h): the store, the commands and
 *		their encoding, applying them, and the store as snapshot data.
 *
 * THE STORE is an array of key records sorted by key (bytes compared as
 * memcmp, then the shorter first) and an array of leases sorted by id.  A
 * lookup is a binary search; an insert or a delete moves pointers.  Every
 * record is one allocation holding the key and the value.
 *
 * APPLYING A TRANSACTION happens in two passes, so that a transaction is
 * applied whole or not at all: first the comparisons decide the branch and
 * the branch is checked (leases exist, no key written twice, the quota
 * holds), then it is carried out.  Only an allocation can fail in the
 * second pass; the records it needs are allocated before anything changes.
 *
 * COMMAND FORMAT (little-endian):
 *		0	1	command: 1 transaction, 2 lease grant, 3 lease revocation,
 *				4 lease keepalive, 5 quota
 *		1	1	version (1)
 *		2	2	zero
 *	a transaction, then:
 *		4	4	comparisons C, 4 successes S, 4 failures F
 *		C x		u8 target, u8 relation, u16 zero, u32 key length, u64
 *				number, u32 value length, u32 zero, key, value
 *		S+F x	u8 type, u8 zero, u16 zero, u32 key length, u32 value
 *				length (PUT) or range end length (DELETE), u64 lease,
 *				key, value or range end
 *	a grant: 4 zero, u64 ttl_ms (within PGR_KV_LEASE_CMD_SIZE: 16 bytes)
 *	a revocation or a keepalive: 4 zero, u64 lease id
 *	a quota: 4 zero, u64 bytes (0: no limit)
 *
 * SNAPSHOT FORMAT (little-endian):
 *		0	4	magic "PGKV"
 *		4	1	version (1)
 *		5	3	zero
 *		8	8	revision
 *		16	8	applied index
 *		24	8	leases L
 *		32	8	keys K
 *		40	8	quota
 *		then L x (u64 id, u64 ttl_ms), by id
 *		then K x (u32 key length, u32 value length, u64 create_rev, u64
 *			mod_rev, u64 version, u64 lease, key, value), by key
 *		then u32 CRC-32C of everything before it
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/app/kv.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgraft/crc32c.h"
#include "pgraft/kv.h"

#include "../common/codec.h"

#define CMD_TXN         1
#define CMD_GRANT       2
#define CMD_REVOKE      3
#define CMD_KEEPALIVE   4
#define CMD_QUOTA       5
#define CMD_VERSION     1
#define CMD_HEADER      4
#define COMPARE_HEADER  24
#define OP_HEADER       20
#define SNAP_MAGIC      "PGKV"
#define SNAP_VERSION    1
#define SNAP_HEADER     48
#define SNAP_LEASE      16
#define SNAP_KEY_HEADER 40

/* A record: the entry, then the key's and the value's bytes. */
struct kv_record
{
	struct pgr_kv_entry e;
	uint8_t bytes[];
};

struct pgr_kv
{
	struct pgr_allocator alloc;
	uint64_t quota;
	uint64_t revision; /* of the last change; <= applied */
	uint64_t applied;  /* index of the last command applied */
	uint64_t bytes;    /* sum of key and value lengths */
	/* records sorted by key, keys unique */
	struct kv_record **recs;
	uint64_t n_recs;
	uint64_t cap_recs;
	/* leases sorted by id, ids unique and non-zero */
	struct pgr_kv_lease *leases;
	uint64_t n_leases;
	uint64_t cap_leases;
	/* a decoded command's parts (PGR_KV_MAX_OPS each) */
	struct pgr_kv_compare *cmp;
	struct pgr_kv_op *ops;
	/* told of every change applying makes (pgr_kv_set_watcher) */
	pgr_kv_watch_cb watch;
	void *watch_arg;
};

static void
tell(const struct pgr_kv *kv, enum pgr_kv_event type, uint64_t revision,
	 const struct pgr_kv_entry *e, const struct pgr_kv_entry *prev)
{
	if (kv->watch != NULL)
		kv->watch(kv->watch_arg, type, revision, e, prev);
}

/* ---------------------------------------------------------------------- */
/* Keys and ranges                                                        */
/* ---------------------------------------------------------------------- */

int
pgr_kv_key_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	uint32_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0; /* an empty value may be NULL */

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* The position of key, or where it would go (*found says which). */
static uint64_t
find(const struct pgr_kv *kv, const uint8_t *key, uint32_t len, bool *found)
{
	uint64_t lo = 0;
	uint64_t hi = kv->n_recs;

	while (lo < hi)
	{
		uint64_t mid = lo + (hi - lo) / 2;
		const struct pgr_kv_entry *e = &kv->recs[mid]->e;
		int c = pgr_kv_key_cmp(e->key, e->key_len, key, len);

		if (c == 0)
		{
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

bool
pgr_kv_in_range(const struct pgr_kv_entry *e, const uint8_t *from, uint32_t from_len,
				const uint8_t *end, uint32_t end_len)
{
	int c = pgr_kv_key_cmp(e->key, e->key_len, from, from_len);

	if (end_len == 0)
		return c == 0;
	if (c < 0)
		return false;
	if (end_len == 1 && end[0] == 0)
		return true;
	return pgr_kv_key_cmp(e->key, e->key_len, end, end_len) < 0;
}

/* Positions [*lo, *hi) of the keys in a range. */
static void
range_span(const struct pgr_kv *kv, const uint8_t *from, uint32_t from_len, const uint8_t *end,
		   uint32_t end_len, uint64_t *lo, uint64_t *hi)
{
	bool found;
	uint64_t i = find(kv, from, from_len, &found);

	*lo = i;
	while (i < kv->n_recs && pgr_kv_in_range(&kv->recs[i]->e, from, from_len, end, end_len))
		i++;
	*hi = i;
}

/* ---------------------------------------------------------------------- */
/* Leases                                                                 */
/* ---------------------------------------------------------------------- */

static struct pgr_kv_lease *
lease_find(const struct pgr_kv *kv, uint64_t id, uint64_t *pos)
{
	uint64_t lo = 0;
	uint64_t hi = kv->n_leases;

	while (lo < hi)
	{
		uint64_t mid = lo + (hi - lo) / 2;

		if (kv->leases[mid].id == id)
		{
			*pos = mid;
			return &kv->leases[mid];
		}
		if (kv->leases[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return NULL;
}

static void
lease_count(struct pgr_kv *kv, uint64_t id, int delta)
{
	uint64_t pos;
	struct pgr_kv_lease *l = id != 0 ? lease_find(kv, id, &pos) : NULL;

	if (l != NULL)
		l->n_keys = (uint64_t) ((int64_t) l->n_keys + delta);
}

/* ---------------------------------------------------------------------- */
/* Creation                                                               */
/* ---------------------------------------------------------------------- */

static void *
kv_alloc(struct pgr_kv *kv, size_t size)
{
	return kv->alloc.alloc(kv->alloc.ctx, size);
}

static void
kv_free(struct pgr_kv *kv, void *p)
{
	kv->alloc.free(kv->alloc.ctx, p);
}

/* Room in an array of elem-byte items for need of them. */
static bool
grow(struct pgr_kv *kv, void **arr, uint64_t *cap, uint64_t need, size_t elem)
{
	uint64_t next = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return true;
	while (next < need)
		next *= 2;
	p = *arr == NULL ? kv->alloc.alloc(kv->alloc.ctx, next * elem)
					 : kv->alloc.realloc(kv->alloc.ctx, *arr, *cap * elem, next * elem);
	if (p == NULL)
		return false;
	*arr = p;
	*cap = next;
	return true;
}

/* Room for n more records and m more leases. */
static bool
reserve(struct pgr_kv *kv, uint64_t n, uint64_t m)
{
	void *recs = kv->recs;
	void *leases = kv->leases;
	bool ok = grow(kv, &recs, &kv->cap_recs, kv->n_recs + n, sizeof(*kv->recs));

	kv->recs = recs;
	ok = ok && grow(kv, &leases, &kv->cap_leases, kv->n_leases + m, sizeof(*kv->leases));
	kv->leases = leases;
	return ok;
}

enum pgr_err
pgr_kv_new(const struct pgr_allocator *alloc, uint64_t quota, struct pgr_kv **out)
{
	struct pgr_kv *kv = alloc->alloc(alloc->ctx, sizeof(*kv));

	*out = NULL;
	if (kv == NULL)
		return PGR_ENOMEM;
	memset(kv, 0, sizeof(*kv));
	kv->alloc = *alloc;
	kv->quota = quota;
	kv->cmp = kv_alloc(kv, PGR_KV_MAX_OPS * sizeof(*kv->cmp));
	kv->ops = kv_alloc(kv, 2 * PGR_KV_MAX_OPS * sizeof(*kv->ops));
	if (kv->cmp == NULL || kv->ops == NULL)
	{
		pgr_kv_free(kv);
		return PGR_ENOMEM;
	}
	*out = kv;
	return PGR_OK;
}

/* Free the state (records, their array, the leases): an empty store. */
static void
release(struct pgr_kv *kv)
{
	for (uint64_t i = 0; i < kv->n_recs; i++)
		kv_free(kv, kv->recs[i]);
	kv_free(kv, kv->recs);
	kv_free(kv, kv->leases);
	kv->recs = NULL;
	kv->leases = NULL;
	kv->n_recs = kv->cap_recs = 0;
	kv->n_leases = kv->cap_leases = 0;
	kv->bytes = 0;
	kv->revision = 0;
	kv->applied = 0;
}

void
pgr_kv_set_watcher(struct pgr_kv *kv, pgr_kv_watch_cb cb, void *arg)
{
	kv->watch = cb;
	kv->watch_arg = arg;
}

void
pgr_kv_reset(struct pgr_kv *kv, uint64_t quota)
{
	release(kv);
	kv->quota = quota;
}

void
pgr_kv_free(struct pgr_kv *kv)
{
	if (kv == NULL)
		return;
	release(kv);
	kv_free(kv, kv->cmp);
	kv_free(kv, kv->ops);
	kv_free(kv, kv);
}

static struct kv_record *
record_new(struct pgr_kv *kv, const uint8_t *key, uint32_t key_len, const uint8_t *value,
		   uint32_t value_len)
{
	struct kv_record *r = kv_alloc(kv, sizeof(*r) + (size_t) key_len + value_len);

	if (r == NULL)
		return NULL;
	memset(&r->e, 0, sizeof(r->e));
	memcpy(r->bytes, key, key_len);
	if (value_len > 0)
		memcpy(r->bytes + key_len, value, value_len);
	r->e.key = r->bytes;
	r->e.key_len = key_len;
	r->e.value = r->bytes + key_len;
	r->e.value_len = value_len;
	return r;
}

/* ---------------------------------------------------------------------- */
/* Commands: encoding                                                     */
/* ---------------------------------------------------------------------- */

static bool
op_valid(const struct pgr_kv_op *op)
{
	if (op->key_len == 0 || op->key_len > PGR_KV_MAX_KEY || op->key == NULL)
		return false;
	if (op->type == PGR_KV_PUT)
		return op->value_len <= PGR_KV_MAX_VALUE && (op->value_len == 0 || op->value != NULL);
	if (op->type == PGR_KV_DELETE)
		return op->lease == 0 && op->range_end_len <= PGR_KV_MAX_KEY &&
			   (op->range_end_len == 0 || op->range_end != NULL);
	return false;
}

static bool
txn_valid(const struct pgr_kv_txn *t)
{
	if (t->n_compares > PGR_KV_MAX_OPS || t->n_success > PGR_KV_MAX_OPS ||
		t->n_failure > PGR_KV_MAX_OPS)
		return false;
	for (uint32_t i = 0; i < t->n_compares; i++)
	{
		const struct pgr_kv_compare *c = &t->compares[i];

		if (c->key_len == 0 || c->key_len > PGR_KV_MAX_KEY || c->key == NULL ||
			c->target > PGR_KV_TARGET_LEASE || c->relation > PGR_KV_GT ||
			c->value_len > PGR_KV_MAX_VALUE || (c->value_len > 0 && c->value == NULL) ||
			(c->target != PGR_KV_TARGET_VALUE && c->value_len != 0))
			return false;
	}
	for (uint32_t i = 0; i < t->n_success; i++)
		if (!op_valid(&t->success[i]))
			return false;
	for (uint32_t i = 0; i < t->n_failure; i++)
		if (!op_valid(&t->failure[i]))
			return false;
	return true;
}

static size_t
op_size(const struct pgr_kv_op *op)
{
	return OP_HEADER + (size_t) op->key_len +
		   (op->type == PGR_KV_PUT ? op->value_len : op->range_end_len);
}

size_t
pgr_kv_txn_size(const struct pgr_kv_txn *t)
{
	size_t n = CMD_HEADER + 12;

	for (uint32_t i = 0; i < t->n_compares; i++)
		n += COMPARE_HEADER + (size_t) t->compares[i].key_len + t->compares[i].value_len;
	for (uint32_t i = 0; i < t->n_success; i++)
		n += op_size(&t->success[i]);
	for (uint32_t i = 0; i < t->n_failure; i++)
		n += op_size(&t->failure[i]);
	return n;
}

static void
write_op(struct pgr_writer *w, const struct pgr_kv_op *op)
{
	bool put = op->type == PGR_KV_PUT;

	pgr_w_u8(w, (uint8_t) op->type);
	pgr_w_u8(w, 0);
	pgr_w_u16(w, 0);
	pgr_w_u32(w, op->key_len);
	pgr_w_u32(w, put ? op->value_len : op->range_end_len);
	pgr_w_u64(w, op->lease);
	pgr_w_bytes(w, op->key, op->key_len);
	if (put)
		pgr_w_bytes(w, op->value, op->value_len);
	else
		pgr_w_bytes(w, op->range_end, op->range_end_len);
}

static void
write_header(struct pgr_writer *w, uint8_t cmd)
{
	pgr_w_u8(w, cmd);
	pgr_w_u8(w, CMD_VERSION);
	pgr_w_u16(w, 0);
}

enum pgr_err
pgr_kv_encode_txn(const struct pgr_kv_txn *t, uint8_t *buf, size_t cap, size_t *len_out)
{
	struct pgr_writer w = {buf, cap, 0, true};

	if (!txn_valid(t))
		return PGR_EINVAL;
	if (pgr_kv_txn_size(t) > cap)
		return PGR_ETOOBIG;
	write_header(&w, CMD_TXN);
	pgr_w_u32(&w, t->n_compares);
	pgr_w_u32(&w, t->n_success);
	pgr_w_u32(&w, t->n_failure);
	for (uint32_t i = 0; i < t->n_compares; i++)
	{
		const struct pgr_kv_compare *c = &t->compares[i];

		pgr_w_u8(&w, (uint8_t) c->target);
		pgr_w_u8(&w, (uint8_t) c->relation);
		pgr_w_u16(&w, 0);
		pgr_w_u32(&w, c->key_len);
		pgr_w_u64(&w, c->number);
		pgr_w_u32(&w, c->value_len);
		pgr_w_u32(&w, 0);
		pgr_w_bytes(&w, c->key, c->key_len);
		pgr_w_bytes(&w, c->value, c->value_len);
	}
	for (uint32_t i = 0; i < t->n_success; i++)
		write_op(&w, &t->success[i]);
	for (uint32_t i = 0; i < t->n_failure; i++)
		write_op(&w, &t->failure[i]);
	if (!w.ok)
		return PGR_ETOOBIG;
	*len_out = w.len;
	return PGR_OK;
}

static void
encode_lease_cmd(uint8_t cmd, uint64_t v, uint8_t buf[PGR_KV_LEASE_CMD_SIZE])
{
	struct pgr_writer w = {buf, PGR_KV_LEASE_CMD_SIZE, 0, true};

	write_header(&w, cmd);
	pgr_w_u32(&w, 0);
	pgr_w_u64(&w, v);
}

void
pgr_kv_encode_grant(uint64_t ttl_ms, uint8_t buf[PGR_KV_LEASE_CMD_SIZE])
{
	encode_lease_cmd(CMD_GRANT, ttl_ms, buf);
}

void
pgr_kv_encode_revoke(uint64_t lease, uint8_t buf[PGR_KV_LEASE_CMD_SIZE])
{
	encode_lease_cmd(CMD_REVOKE, lease, buf);
}

void
pgr_kv_encode_keepalive(uint64_t lease, uint8_t buf[PGR_KV_LEASE_CMD_SIZE])
{
	encode_lease_cmd(CMD_KEEPALIVE, lease, buf);
}

void
pgr_kv_encode_quota(uint64_t bytes, uint8_t buf[PGR_KV_LEASE_CMD_SIZE])
{
	encode_lease_cmd(CMD_QUOTA, bytes, buf);
}

/* ---------------------------------------------------------------------- */
/* Commands: decoding (the bytes are from the log: hostile until checked) */
/* ---------------------------------------------------------------------- */

static bool
read_op(struct pgr_reader *r, struct pgr_kv_op *op)
{
	uint32_t second;

	memset(op, 0, sizeof(*op));
	op->type = pgr_r_u8(r);
	if (pgr_r_u8(r) != 0 || pgr_r_u16(r) != 0)
		return false;
	op->key_len = pgr_r_u32(r);
	second = pgr_r_u32(r);
	op->lease = pgr_r_u64(r);
	if (!r->ok || op->key_len > PGR_KV_MAX_KEY || second > PGR_KV_MAX_VALUE)
		return false;
	op->key = pgr_r_bytes(r, op->key_len);
	if (op->type == PGR_KV_PUT)
	{
		op->value_len = second;
		op->value = pgr_r_bytes(r, second);
	}
	else
	{
		op->range_end_len = second;
		op->range_end = pgr_r_bytes(r, second);
	}
	return r->ok && op_valid(op);
}

/* A transaction's parts into kv->cmp and kv->ops; false if malformed. */
static bool
decode_txn(struct pgr_kv *kv, struct pgr_reader *r, struct pgr_kv_txn *t)
{
	memset(t, 0, sizeof(*t));
	t->n_compares = pgr_r_u32(r);
	t->n_success = pgr_r_u32(r);
	t->n_failure = pgr_r_u32(r);
	if (!r->ok || t->n_compares > PGR_KV_MAX_OPS || t->n_success > PGR_KV_MAX_OPS ||
		t->n_failure > PGR_KV_MAX_OPS)
		return false;
	for (uint32_t i = 0; i < t->n_compares; i++)
	{
		struct pgr_kv_compare *c = &kv->cmp[i];

		memset(c, 0, sizeof(*c));
		c->target = pgr_r_u8(r);
		c->relation = pgr_r_u8(r);
		if (pgr_r_u16(r) != 0)
			return false;
		c->key_len = pgr_r_u32(r);
		c->number = pgr_r_u64(r);
		c->value_len = pgr_r_u32(r);
		if (pgr_r_u32(r) != 0 || !r->ok || c->key_len > PGR_KV_MAX_KEY ||
			c->value_len > PGR_KV_MAX_VALUE)
			return false;
		c->key = pgr_r_bytes(r, c->key_len);
		c->value = pgr_r_bytes(r, c->value_len);
		if (!r->ok)
			return false;
	}
	for (uint32_t i = 0; i < t->n_success + t->n_failure; i++)
		if (!read_op(r, &kv->ops[i]))
			return false;
	t->compares = kv->cmp;
	t->success = kv->ops;
	t->failure = kv->ops + t->n_success;
	return r->pos == r->len && txn_valid(t);
}

/* ---------------------------------------------------------------------- */
/* Applying                                                               */
/* ---------------------------------------------------------------------- */

const char *
pgr_kv_status_name(enum pgr_kv_status st)
{
	switch (st)
	{
		case PGR_KV_OK:
			return "ok";
		case PGR_KV_MALFORMED:
			return "malformed command";
		case PGR_KV_NO_LEASE:
			return "no such lease";
		case PGR_KV_DUPLICATE_KEY:
			return "a key is written twice in one transaction";
		case PGR_KV_QUOTA:
			return "the store is full";
		case PGR_KV_LEASE_NOT_FOUND:
			return "the lease to revoke does not exist";
		case PGR_KV_INDEX_ORDER:
			return "index at or below the last applied";
		case PGR_KV_BAD_TTL:
			return "the lease's time to live is too long";
	}
	return "unknown status";
}

static bool
compare_holds(const struct pgr_kv *kv, const struct pgr_kv_compare *c)
{
	bool found;
	uint64_t i = find(kv, c->key, c->key_len, &found);
	const struct pgr_kv_entry *e = found ? &kv->recs[i]->e : NULL;
	uint64_t have = 0;
	int rel;

	if (c->target == PGR_KV_TARGET_VALUE)
	{
		if (e == NULL)
			return false;
		rel = pgr_kv_key_cmp(e->value, e->value_len, c->value, c->value_len);
	}
	else
	{
		if (e != NULL)
			have = c->target == PGR_KV_TARGET_VERSION      ? e->version
				   : c->target == PGR_KV_TARGET_CREATE_REV ? e->create_rev
				   : c->target == PGR_KV_TARGET_MOD_REV    ? e->mod_rev
														   : e->lease;
		rel = have < c->number ? -1 : have > c->number ? 1 : 0;
	}
	switch (c->relation)
	{
		case PGR_KV_EQ:
			return rel == 0;
		case PGR_KV_NE:
			return rel != 0;
		case PGR_KV_LT:
			return rel < 0;
		default:
			return rel > 0;
	}
}

/*
 * Check a branch against the store: leases exist, no key is put twice or
 * put inside a range the branch deletes, and the store stays within its
 * quota (a branch that shrinks it always may).  Counts the new records.
 */
static enum pgr_kv_status
check_branch(const struct pgr_kv *kv, const struct pgr_kv_op *ops, uint32_t n,
			 uint64_t *new_records)
{
	int64_t delta = 0;

	*new_records = 0;
	for (uint32_t i = 0; i < n; i++)
	{
		const struct pgr_kv_op *op = &ops[i];

		if (op->type != PGR_KV_PUT)
			continue;
		if (op->lease != 0)
		{
			uint64_t pos;

			if (lease_find(kv, op->lease, &pos) == NULL)
				return PGR_KV_NO_LEASE;
		}
		for (uint32_t j = 0; j < n; j++)
		{
			const struct pgr_kv_op *o = &ops[j];
			struct pgr_kv_entry probe = {.key = op->key, .key_len = op->key_len};

			if (j == i)
				continue;
			if (o->type == PGR_KV_PUT
					? (j < i && pgr_kv_key_cmp(o->key, o->key_len, op->key, op->key_len) == 0)
					: pgr_kv_in_range(&probe, o->key, o->key_len, o->range_end, o->range_end_len))
				return PGR_KV_DUPLICATE_KEY;
		}
	}
	/*
	 * The bytes of the deletes: their spans in the store, sorted and merged
	 * (ranges may overlap: each key counts once), then the puts.
	 */
	{
		uint64_t lo[PGR_KV_MAX_OPS];
		uint64_t hi[PGR_KV_MAX_OPS];
		uint32_t m = 0;
		uint64_t upto = 0;

		for (uint32_t i = 0; i < n; i++)
		{
			uint32_t k;

			if (ops[i].type != PGR_KV_DELETE)
				continue;
			range_span(kv, ops[i].key, ops[i].key_len, ops[i].range_end, ops[i].range_end_len,
					   &lo[m], &hi[m]);
			for (k = m; k > 0 && lo[k - 1] > lo[k]; k--)
			{
				uint64_t tl = lo[k], th = hi[k];

				lo[k] = lo[k - 1];
				hi[k] = hi[k - 1];
				lo[k - 1] = tl;
				hi[k - 1] = th;
			}
			m++;
		}
		for (uint32_t k = 0; k < m; k++)
			for (uint64_t j = lo[k] > upto ? lo[k] : upto; j < hi[k]; j++)
			{
				delta -= (int64_t) kv->recs[j]->e.key_len + kv->recs[j]->e.value_len;
				upto = j + 1;
			}
	}
	for (uint32_t i = 0; i < n; i++)
	{
		bool found;
		uint64_t pos;

		if (ops[i].type != PGR_KV_PUT)
			continue;
		pos = find(kv, ops[i].key, ops[i].key_len, &found);
		if (found)
			delta -= (int64_t) kv->recs[pos]->e.value_len;
		else
		{
			delta += (int64_t) ops[i].key_len;
			(*new_records)++;
		}
		delta += (int64_t) ops[i].value_len;
	}
	if (kv->quota != 0 && delta > 0 && kv->bytes + (uint64_t) delta > kv->quota)
		return PGR_KV_QUOTA;
	return PGR_KV_OK;
}

/* Free a record and account for it (the caller closes the gap). */
static void
drop(struct pgr_kv *kv, struct kv_record *r)
{
	kv->bytes -= (uint64_t) r->e.key_len + r->e.value_len;
	lease_count(kv, r->e.lease, -1);
	kv_free(kv, r);
}

/* Delete every key of a range (one move of the tail); how many. */
static uint64_t
delete_range(struct pgr_kv *kv, uint64_t index, const struct pgr_kv_op *op)
{
	uint64_t lo;
	uint64_t hi;

	range_span(kv, op->key, op->key_len, op->range_end, op->range_end_len, &lo, &hi);
	if (hi == lo)
		return 0; /* and recs may be NULL */
	for (uint64_t i = lo; i < hi; i++)
	{
		tell(kv, PGR_KV_EVENT_DELETE, index, &kv->recs[i]->e, NULL);
		drop(kv, kv->recs[i]);
	}
	memmove(&kv->recs[lo], &kv->recs[hi], (kv->n_recs - hi) * sizeof(*kv->recs));
	kv->n_recs -= hi - lo;
	return hi - lo;
}

/* Put, with its record allocated beforehand. */
static void
put(struct pgr_kv *kv, uint64_t index, const struct pgr_kv_op *op, struct kv_record *fresh)
{
	bool found;
	uint64_t pos = find(kv, op->key, op->key_len, &found);
	struct kv_record *old = found ? kv->recs[pos] : NULL;

	if (old != NULL)
	{
		kv->bytes -= (uint64_t) old->e.key_len + old->e.value_len;
		lease_count(kv, old->e.lease, -1);
	}
	else
	{
		memmove(&kv->recs[pos + 1], &kv->recs[pos], (kv->n_recs - pos) * sizeof(*kv->recs));
		kv->n_recs++;
	}
	fresh->e.create_rev = old != NULL ? old->e.create_rev : index;
	fresh->e.version = old != NULL ? old->e.version + 1 : 1;
	fresh->e.mod_rev = index;
	fresh->e.lease = op->lease;
	kv->recs[pos] = fresh;
	kv->bytes += (uint64_t) op->key_len + op->value_len;
	lease_count(kv, op->lease, 1);
	tell(kv, PGR_KV_EVENT_PUT, index, &fresh->e, old != NULL ? &old->e : NULL);
	if (old != NULL)
		kv_free(kv, old);
}

static enum pgr_err
apply_txn(struct pgr_kv *kv, uint64_t index, const struct pgr_kv_txn *t, struct pgr_kv_result *res)
{
	const struct pgr_kv_op *ops;
	uint32_t n;
	uint64_t new_records;
	struct kv_record *fresh[PGR_KV_MAX_OPS];
	uint32_t n_puts = 0;
	bool changed = false;

	res->succeeded = true;
	for (uint32_t i = 0; i < t->n_compares && res->succeeded; i++)
		res->succeeded = compare_holds(kv, &t->compares[i]);
	ops = res->succeeded ? t->success : t->failure;
	n = res->succeeded ? t->n_success : t->n_failure;
	res->status = check_branch(kv, ops, n, &new_records);
	if (res->status != PGR_KV_OK)
		return PGR_OK;

	/* everything that can fail, before anything changes */
	if (!reserve(kv, new_records, 0))
		return PGR_ENOMEM;
	for (uint32_t i = 0; i < n; i++)
	{
		if (ops[i].type != PGR_KV_PUT)
			continue;
		fresh[n_puts] = record_new(kv, ops[i].key, ops[i].key_len, ops[i].value, ops[i].value_len);
		if (fresh[n_puts] == NULL)
		{
			for (uint32_t k = 0; k < n_puts; k++)
				kv_free(kv, fresh[k]);
			return PGR_ENOMEM;
		}
		n_puts++;
	}

	n_puts = 0;
	for (uint32_t i = 0; i < n; i++)
	{
		if (ops[i].type == PGR_KV_DELETE)
		{
			uint64_t d = delete_range(kv, index, &ops[i]);

			res->deleted += d;
			changed |= d > 0;
		}
	}
	for (uint32_t i = 0; i < n; i++)
	{
		if (ops[i].type == PGR_KV_PUT)
		{
			put(kv, index, &ops[i], fresh[n_puts++]);
			changed = true;
		}
	}
	res->puts = n_puts;
	if (changed)
		kv->revision = index;
	return PGR_OK;
}

static enum pgr_err
apply_grant(struct pgr_kv *kv, uint64_t index, uint64_t ttl_ms, struct pgr_kv_result *res)
{
	if (ttl_ms > PGR_KV_MAX_TTL_MS)
	{
		res->status = PGR_KV_BAD_TTL;
		return PGR_OK;
	}
	/* a lease takes room too: none is granted in a full store */
	if (kv->quota != 0 && kv->bytes + (kv->n_leases + 1) * SNAP_LEASE > kv->quota)
	{
		res->status = PGR_KV_QUOTA;
		return PGR_OK;
	}
	if (!reserve(kv, 0, 1))
		return PGR_ENOMEM;
	/* ids are indexes, above every one applied: a new lease sorts last */
	kv->leases[kv->n_leases].id = index;
	kv->leases[kv->n_leases].ttl_ms = ttl_ms;
	kv->leases[kv->n_leases].n_keys = 0;
	kv->n_leases++;
	res->lease = index;
	res->ttl_ms = ttl_ms;
	return PGR_OK;
}

static void
apply_revoke(struct pgr_kv *kv, uint64_t index, uint64_t id, struct pgr_kv_result *res)
{
	uint64_t pos;

	if (id == 0 || lease_find(kv, id, &pos) == NULL)
	{
		res->status = PGR_KV_LEASE_NOT_FOUND;
		return;
	}
	if (kv->leases[pos].n_keys > 0)
	{
		uint64_t j = 0;

		/* one pass: keep the others, in order */
		for (uint64_t i = 0; i < kv->n_recs; i++)
		{
			if (kv->recs[i]->e.lease == id)
			{
				tell(kv, PGR_KV_EVENT_DELETE, index, &kv->recs[i]->e, NULL);
				drop(kv, kv->recs[i]);
				res->deleted++;
			}
			else
				kv->recs[j++] = kv->recs[i];
		}
		kv->n_recs = j;
	}
	memmove(&kv->leases[pos], &kv->leases[pos + 1], (kv->n_leases - pos - 1) * sizeof(*kv->leases));
	kv->n_leases--;
	if (res->deleted > 0)
		kv->revision = index;
}

/* A keepalive changes nothing: the leader's lease clock acts on it (kv.h). */
static void
apply_keepalive(struct pgr_kv *kv, uint64_t id, struct pgr_kv_result *res)
{
	uint64_t pos;
	const struct pgr_kv_lease *l = id == 0 ? NULL : lease_find(kv, id, &pos);

	if (l == NULL)
	{
		res->status = PGR_KV_LEASE_NOT_FOUND;
		return;
	}
	res->kept_alive = id;
	res->ttl_ms = l->ttl_ms;
}

enum pgr_err
pgr_kv_apply(struct pgr_kv *kv, uint64_t index, const uint8_t *cmd, size_t len,
			 struct pgr_kv_result *res)
{
	struct pgr_reader r = {cmd, len, 0, cmd != NULL};
	uint8_t type;
	enum pgr_err err = PGR_OK;

	memset(res, 0, sizeof(*res));
	res->revision = kv->revision;
	if (index <= kv->applied)
	{
		res->status = PGR_KV_INDEX_ORDER;
		return PGR_OK;
	}
	type = pgr_r_u8(&r);
	if (pgr_r_u8(&r) != CMD_VERSION || pgr_r_u16(&r) != 0 || !r.ok)
		res->status = PGR_KV_MALFORMED;
	else if (type == CMD_TXN)
	{
		struct pgr_kv_txn t;

		if (!decode_txn(kv, &r, &t))
			res->status = PGR_KV_MALFORMED;
		else
			err = apply_txn(kv, index, &t, res);
	}
	else if (type == CMD_GRANT || type == CMD_REVOKE || type == CMD_KEEPALIVE || type == CMD_QUOTA)
	{
		uint32_t zero = pgr_r_u32(&r);
		uint64_t v = pgr_r_u64(&r);

		if (!r.ok || zero != 0 || r.pos != r.len)
			res->status = PGR_KV_MALFORMED;
		else if (type == CMD_GRANT)
			err = apply_grant(kv, index, v, res);
		else if (type == CMD_REVOKE)
			apply_revoke(kv, index, v, res);
		else if (type == CMD_KEEPALIVE)
			apply_keepalive(kv, v, res);
		else
			kv->quota = v; /* limits growth from now on; shrinks nothing */
	}
	else
		res->status = PGR_KV_MALFORMED;
	if (err != PGR_OK)
		return err;
	/* a command that changed nothing still counts as applied */
	kv->applied = index;
	res->revision = kv->revision;
	return PGR_OK;
}

/* ---------------------------------------------------------------------- */
/* Reading                                                                */
/* ---------------------------------------------------------------------- */

uint64_t
pgr_kv_revision(const struct pgr_kv *kv)
{
	return kv->revision;
}

uint64_t
pgr_kv_applied(const struct pgr_kv *kv)
{
	return kv->applied;
}

uint64_t
pgr_kv_count(const struct pgr_kv *kv)
{
	return kv->n_recs;
}

uint64_t
pgr_kv_bytes(const struct pgr_kv *kv)
{
	return kv->bytes;
}

uint64_t
pgr_kv_quota(const struct pgr_kv *kv)
{
	return kv->quota;
}

bool
pgr_kv_get(const struct pgr_kv *kv, const uint8_t *key, uint32_t key_len, struct pgr_kv_entry *out)
{
	bool found;
	uint64_t pos = find(kv, key, key_len, &found);

	if (found)
		*out = kv->recs[pos]->e;
	return found;
}

uint64_t
pgr_kv_range(const struct pgr_kv *kv, const uint8_t *from, uint32_t from_len,
			 const uint8_t *range_end, uint32_t range_end_len, uint64_t limit, pgr_kv_range_cb cb,
			 void *arg)
{
	uint64_t lo;
	uint64_t hi;

	range_span(kv, from, from_len, range_end, range_end_len, &lo, &hi);
	for (uint64_t i = lo; i < hi && (limit == 0 || i - lo < limit); i++)
		if (cb != NULL && !cb(arg, &kv->recs[i]->e))
			break;
	return hi - lo;
}

bool
pgr_kv_get_lease(const struct pgr_kv *kv, uint64_t id, struct pgr_kv_lease *out)
{
	uint64_t pos;
	const struct pgr_kv_lease *l = lease_find(kv, id, &pos);

	if (l != NULL)
		*out = *l;
	return l != NULL;
}

uint64_t
pgr_kv_lease_count(const struct pgr_kv *kv)
{
	return kv->n_leases;
}

void
pgr_kv_lease_at(const struct pgr_kv *kv, uint64_t i, struct pgr_kv_lease *out)
{
	*out = kv->leases[i];
}

/* ---------------------------------------------------------------------- */
/* Snapshot data                                                          */
/* ---------------------------------------------------------------------- */

size_t
pgr_kv_encoded_size(const struct pgr_kv *kv)
{
	return SNAP_HEADER + kv->n_leases * SNAP_LEASE + kv->n_recs * SNAP_KEY_HEADER + kv->bytes + 4;
}

/*
 * The encoding goes to a sink: into a buffer (sized exactly, so never
 * short) and into the running checksum, or into the checksum alone (the
 * digest).  One layout for both.
 */
struct sink
{
	uint8_t *buf; /* NULL: checksum only */
	size_t len;
	uint32_t crc;
};

static void
sink_bytes(struct sink *s, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (s->buf != NULL)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->crc = pgr_crc32c(s->crc, p, n);
}

static void
sink_u64(struct sink *s, uint64_t v)
{
	uint8_t b[8];

	pgr_put_u64(b, v);
	sink_bytes(s, b, 8);
}

static void
sink_u32(struct sink *s, uint32_t v)
{
	uint8_t b[4];

	pgr_put_u32(b, v);
	sink_bytes(s, b, 4);
}

static void
encode_into(const struct pgr_kv *kv, struct sink *s)
{
	static const uint8_t version[4] = {SNAP_VERSION, 0, 0, 0};

	sink_bytes(s, SNAP_MAGIC, 4);
	sink_bytes(s, version, 4);
	sink_u64(s, kv->revision);
	sink_u64(s, kv->applied);
	sink_u64(s, kv->n_leases);
	sink_u64(s, kv->n_recs);
	sink_u64(s, kv->quota);
	for (uint64_t i = 0; i < kv->n_leases; i++)
	{
		sink_u64(s, kv->leases[i].id);
		sink_u64(s, kv->leases[i].ttl_ms);
	}
	for (uint64_t i = 0; i < kv->n_recs; i++)
	{
		const struct pgr_kv_entry *e = &kv->recs[i]->e;

		sink_u32(s, e->key_len);
		sink_u32(s, e->value_len);
		sink_u64(s, e->create_rev);
		sink_u64(s, e->mod_rev);
		sink_u64(s, e->version);
		sink_u64(s, e->lease);
		sink_bytes(s, e->key, e->key_len);
		sink_bytes(s, e->value, e->value_len);
	}
}

void
pgr_kv_encode(const struct pgr_kv *kv, uint8_t *buf)
{
	struct sink s = {buf, 0, 0};

	encode_into(kv, &s);
	pgr_put_u32(buf + s.len, s.crc);
}

uint32_t
pgr_kv_digest(const struct pgr_kv *kv)
{
	struct sink s = {NULL, 0, 0};

	encode_into(kv, &s);
	return s.crc;
}

enum pgr_err
pgr_kv_decode(struct pgr_kv *kv, const uint8_t *buf, size_t len)
{
	struct pgr_reader r = {buf, len, 0, buf != NULL};
	struct pgr_kv next;
	uint64_t n_leases;
	uint64_t n_recs;
	const uint8_t *magic;
	enum pgr_err err = PGR_ECORRUPT; /* what a goto fail means, unless set */

	if (len < SNAP_HEADER + 4 || buf == NULL ||
		pgr_get_u32(buf + len - 4) != pgr_crc32c(0, buf, len - 4))
		return PGR_ECORRUPT;
	r.len = len - 4;
	magic = pgr_r_bytes(&r, 4);
	if (magic == NULL || memcmp(magic, SNAP_MAGIC, 4) != 0 || pgr_r_u8(&r) != SNAP_VERSION ||
		pgr_r_u8(&r) != 0 || pgr_r_u16(&r) != 0)
		return PGR_ECORRUPT;
	memset(&next, 0, sizeof(next));
	next.alloc = kv->alloc;
	next.revision = pgr_r_u64(&r);
	next.applied = pgr_r_u64(&r);
	n_leases = pgr_r_u64(&r);
	n_recs = pgr_r_u64(&r);
	next.quota = pgr_r_u64(&r);
	if (!r.ok || next.revision > next.applied || n_leases > (r.len - r.pos) / SNAP_LEASE ||
		n_recs > (r.len - r.pos) / SNAP_KEY_HEADER)
		return PGR_ECORRUPT;
	if (!reserve(&next, n_recs, n_leases))
	{
		err = PGR_ENOMEM;
		goto fail;
	}
	for (uint64_t i = 0; i < n_leases; i++)
	{
		struct pgr_kv_lease *l = &next.leases[i];

		l->id = pgr_r_u64(&r);
		l->ttl_ms = pgr_r_u64(&r);
#ifdef PGR_BUG_KV_SNAPSHOT_LOSES_TTL
		l->ttl_ms = 0; /* deliberately broken (scripts/test-all): the simulator must catch it */
#endif
		l->n_keys = 0;
		if (!r.ok || l->id == 0 || l->id > next.applied || (i > 0 && l->id <= l[-1].id))
			goto fail;
		next.n_leases++;
	}
	for (uint64_t i = 0; i < n_recs; i++)
	{
		uint32_t klen = pgr_r_u32(&r);
		uint32_t vlen = pgr_r_u32(&r);
		uint64_t create_rev = pgr_r_u64(&r);
		uint64_t mod_rev = pgr_r_u64(&r);
		uint64_t version = pgr_r_u64(&r);
		uint64_t lease = pgr_r_u64(&r);
		const uint8_t *key;
		const uint8_t *value;
		struct kv_record *rec;
		uint64_t pos;

		if (!r.ok || klen == 0 || klen > PGR_KV_MAX_KEY || vlen > PGR_KV_MAX_VALUE)
			goto fail;
		key = pgr_r_bytes(&r, klen);
		value = pgr_r_bytes(&r, vlen);
		if (!r.ok || create_rev == 0 || create_rev > mod_rev || mod_rev > next.revision ||
			version == 0 || version == UINT64_MAX ||
			(lease != 0 && lease_find(&next, lease, &pos) == NULL))
			goto fail;
		if (i > 0)
		{
			const struct pgr_kv_entry *prev = &next.recs[i - 1]->e;

			if (pgr_kv_key_cmp(prev->key, prev->key_len, key, klen) >= 0)
				goto fail;
		}
		rec = record_new(&next, key, klen, value, vlen);
		if (rec == NULL)
		{
			err = PGR_ENOMEM;
			goto fail;
		}
		rec->e.create_rev = create_rev;
		rec->e.mod_rev = mod_rev;
		rec->e.version = version;
		rec->e.lease = lease;
		next.recs[next.n_recs++] = rec;
		next.bytes += (uint64_t) klen + vlen;
		lease_count(&next, lease, 1);
	}
	if (r.pos != r.len)
		goto fail;

	/* replace the state; the store's scratch and watcher stay */
	release(kv);
	next.cmp = kv->cmp;
	next.ops = kv->ops;
	next.watch = kv->watch;
	next.watch_arg = kv->watch_arg;
	*kv = next;
	return PGR_OK;

fail:
	release(&next);
	return err;
}
