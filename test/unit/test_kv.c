/*-------------------------------------------------------------------------
 *
 * test_kv.c
 *		The key-value state machine (include/pgraft/kv.h): every operation,
 *		transactions applied whole or not at all, leases, the quota, the
 *		snapshot encoding, hostile commands, and determinism.
 *
 * Commands are built with the encoders and applied at explicit log
 * indexes, as the worker will apply them from committed entries.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_kv.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgraft/crc32c.h"
#include "pgraft/kv.h"
#include "harness.h"

#include "../../src/common/codec.h"

#define BUF 8192

/* CHECK for helpers that return a value: records the failure, goes on. */
#define EXPECT(cond)                                             \
	do                                                           \
	{                                                            \
		if (!(cond))                                             \
			test_fail(__FILE__, __LINE__, "%s is false", #cond); \
	} while (0)

static struct pgr_kv *
store(uint64_t quota)
{
	struct pgr_kv *kv = NULL;

	EXPECT((pgr_kv_new(&pgr_libc_allocator, quota, &kv)) == (PGR_OK));
	return kv;
}

static struct pgr_kv_op
op_put(const char *k, const char *v, uint64_t lease)
{
	struct pgr_kv_op op = {0};

	op.type = PGR_KV_PUT;
	op.key = (const uint8_t *) k;
	op.key_len = (uint32_t) strlen(k);
	op.value = (const uint8_t *) v;
	op.value_len = (uint32_t) strlen(v);
	op.lease = lease;
	return op;
}

/* end NULL: the key alone; "": every key from k on; else [k, end). */
static struct pgr_kv_op
op_del(const char *k, const char *end)
{
	static const uint8_t all[1] = {0};
	struct pgr_kv_op op = {0};

	op.type = PGR_KV_DELETE;
	op.key = (const uint8_t *) k;
	op.key_len = (uint32_t) strlen(k);
	if (end != NULL && end[0] == '\0')
	{
		op.range_end = all;
		op.range_end_len = 1;
	}
	else if (end != NULL)
	{
		op.range_end = (const uint8_t *) end;
		op.range_end_len = (uint32_t) strlen(end);
	}
	return op;
}

static struct pgr_kv_compare
cmp_num(const char *k, uint32_t target, uint32_t rel, uint64_t n)
{
	struct pgr_kv_compare c = {0};

	c.key = (const uint8_t *) k;
	c.key_len = (uint32_t) strlen(k);
	c.target = target;
	c.relation = rel;
	c.number = n;
	return c;
}

static struct pgr_kv_compare
cmp_value(const char *k, uint32_t rel, const char *v)
{
	struct pgr_kv_compare c = cmp_num(k, PGR_KV_TARGET_VALUE, rel, 0);

	c.value = (const uint8_t *) v;
	c.value_len = (uint32_t) strlen(v);
	return c;
}

static struct pgr_kv_result
apply_txn(struct pgr_kv *kv, uint64_t index, const struct pgr_kv_txn *t)
{
	uint8_t buf[BUF];
	size_t len = 0;
	struct pgr_kv_result res;

	EXPECT((pgr_kv_encode_txn(t, buf, sizeof(buf), &len)) == (PGR_OK));
	EXPECT((len) == (pgr_kv_txn_size(t)));
	EXPECT((pgr_kv_apply(kv, index, buf, len, &res)) == (PGR_OK));
	return res;
}

static struct pgr_kv_result
apply_ops(struct pgr_kv *kv, uint64_t index, const struct pgr_kv_op *ops, uint32_t n)
{
	struct pgr_kv_txn t = {0};

	t.n_success = n;
	t.success = ops;
	return apply_txn(kv, index, &t);
}

static struct pgr_kv_result
put(struct pgr_kv *kv, uint64_t index, const char *k, const char *v)
{
	struct pgr_kv_op op = op_put(k, v, 0);

	return apply_ops(kv, index, &op, 1);
}

static struct pgr_kv_result
lease_cmd(struct pgr_kv *kv, uint64_t index, bool grant, uint64_t v)
{
	uint8_t buf[PGR_KV_LEASE_CMD_SIZE];
	struct pgr_kv_result res;

	if (grant)
		pgr_kv_encode_grant(v, buf);
	else
		pgr_kv_encode_revoke(v, buf);
	EXPECT((pgr_kv_apply(kv, index, buf, sizeof(buf), &res)) == (PGR_OK));
	return res;
}

/* The value of k, or NULL (a static copy, as a C string). */
static const char *
value_of(const struct pgr_kv *kv, const char *k)
{
	static char out[256];
	struct pgr_kv_entry e;

	if (!pgr_kv_get(kv, (const uint8_t *) k, (uint32_t) strlen(k), &e))
		return NULL;
	snprintf(out, sizeof(out), "%.*s", (int) e.value_len, (const char *) e.value);
	return out;
}

static struct pgr_kv_entry
entry_of(const struct pgr_kv *kv, const char *k)
{
	struct pgr_kv_entry e;

	memset(&e, 0, sizeof(e));
	EXPECT(pgr_kv_get(kv, (const uint8_t *) k, (uint32_t) strlen(k), &e));
	return e;
}

struct keys
{
	char s[512];
};

static bool
collect(void *arg, const struct pgr_kv_entry *e)
{
	struct keys *k = arg;
	size_t n = strlen(k->s);

	snprintf(k->s + n, sizeof(k->s) - n, "%s%.*s", n ? "," : "", (int) e->key_len,
			 (const char *) e->key);
	return true;
}

/* Keys in the range as "a,b,c"; *total the count in all. */
static const char *
range(const struct pgr_kv *kv, const char *from, const char *end, uint64_t limit, uint64_t *total)
{
	static struct keys k;
	struct pgr_kv_op r = op_del(from, end);

	k.s[0] = '\0';
	*total = pgr_kv_range(kv, r.key, r.key_len, r.range_end, r.range_end_len, limit, collect, &k);
	return k.s;
}

/* ---------------------------------------------------------------------- */

/*
 * A put creates a key at its entry's index: create_rev = mod_rev = index,
 * version 1; a second put keeps create_rev and bumps both others; the
 * store's revision is the index of its last change.
 */
static void
test_puts_record_revisions_and_versions(void)
{
	struct pgr_kv *kv = store(0);
	struct pgr_kv_result r;
	struct pgr_kv_entry e;

	r = put(kv, 5, "a", "one");
	CHECK_EQ(r.status, PGR_KV_OK);
	CHECK(r.succeeded);
	CHECK_EQ(r.puts, 1);
	CHECK_EQ(r.revision, 5);
	e = entry_of(kv, "a");
	CHECK_EQ(e.create_rev, 5);
	CHECK_EQ(e.mod_rev, 5);
	CHECK_EQ(e.version, 1);
	r = put(kv, 9, "a", "two");
	CHECK_EQ(r.revision, 9);
	e = entry_of(kv, "a");
	CHECK_EQ(e.create_rev, 5);
	CHECK_EQ(e.mod_rev, 9);
	CHECK_EQ(e.version, 2);
	CHECK(strcmp(value_of(kv, "a"), "two") == 0);
	CHECK_EQ(pgr_kv_count(kv), 1);
	CHECK_EQ(pgr_kv_bytes(kv), 4);
	CHECK_EQ(pgr_kv_revision(kv), 9);
	CHECK_EQ(pgr_kv_applied(kv), 9);
	/* an empty value is a value */
	put(kv, 10, "b", "");
	CHECK(value_of(kv, "b") != NULL && value_of(kv, "b")[0] == '\0');
	/* deleted and created again: a new life */
	{
		struct pgr_kv_op d = op_del("a", NULL);

		r = apply_ops(kv, 11, &d, 1);
		CHECK_EQ(r.deleted, 1);
		CHECK_EQ(r.revision, 11);
	}
	CHECK(value_of(kv, "a") == NULL);
	put(kv, 12, "a", "three");
	e = entry_of(kv, "a");
	CHECK_EQ(e.create_rev, 12);
	CHECK_EQ(e.version, 1);
	pgr_kv_free(kv);
}

/* Ranges in key order; a single key, [from, to), and from-to-the-end. */
static void
test_ranges_and_range_deletes(void)
{
	struct pgr_kv *kv = store(0);
	struct pgr_kv_op d;
	struct pgr_kv_result r;
	uint64_t total;
	const char *keys[] = {"b", "ab", "c", "a", "abc", "ba"};

	for (int i = 0; i < 6; i++)
		put(kv, (uint64_t) i + 1, keys[i], "v");
	CHECK(strcmp(range(kv, "a", "", 0, &total), "a,ab,abc,b,ba,c") == 0);
	CHECK_EQ(total, 6);
	CHECK(strcmp(range(kv, "a", "b", 0, &total), "a,ab,abc") == 0);
	CHECK(strcmp(range(kv, "ab", NULL, 0, &total), "ab") == 0);
	CHECK(strcmp(range(kv, "zz", NULL, 0, &total), "") == 0);
	CHECK_EQ(total, 0);
	/* the prefix "ab" is [ab, ac) */
	CHECK(strcmp(range(kv, "ab", "ac", 0, &total), "ab,abc") == 0);
	/* a limit returns the first keys and still counts them all */
	CHECK(strcmp(range(kv, "a", "", 2, &total), "a,ab") == 0);
	CHECK_EQ(total, 6);

	d = op_del("ab", "b");
	r = apply_ops(kv, 10, &d, 1);
	CHECK_EQ(r.deleted, 2);
	CHECK(strcmp(range(kv, "a", "", 0, &total), "a,b,ba,c") == 0);
	/* deleting nothing changes no revision */
	d = op_del("x", NULL);
	r = apply_ops(kv, 11, &d, 1);
	CHECK_EQ(r.status, PGR_KV_OK);
	CHECK_EQ(r.deleted, 0);
	CHECK_EQ(r.revision, 10);
	CHECK_EQ(pgr_kv_applied(kv), 11);
	d = op_del("b", "");
	r = apply_ops(kv, 12, &d, 1);
	CHECK_EQ(r.deleted, 3);
	CHECK(strcmp(range(kv, "a", "", 0, &total), "a") == 0);
	CHECK_EQ(pgr_kv_bytes(kv), 2);
	pgr_kv_free(kv);
}

/*
 * Compare-and-swap: the comparisons choose the branch, exactly one branch
 * is applied.  A value comparison on a missing key is false; absence is
 * version 0.
 */
static void
test_transactions_apply_exactly_one_branch(void)
{
	struct pgr_kv *kv = store(0);
	struct pgr_kv_compare c[2];
	struct pgr_kv_op ok[2];
	struct pgr_kv_op ko[1];
	struct pgr_kv_txn t = {0};
	struct pgr_kv_result r;

	put(kv, 3, "lock", "alice");
	c[0] = cmp_num("lock", PGR_KV_TARGET_MOD_REV, PGR_KV_EQ, 3);
	ok[0] = op_put("lock", "bob", 0);
	ok[1] = op_put("owner", "bob", 0);
	ko[0] = op_put("lost", "bob", 0);
	t.n_compares = 1;
	t.compares = c;
	t.n_success = 2;
	t.success = ok;
	t.n_failure = 1;
	t.failure = ko;
	r = apply_txn(kv, 4, &t);
	CHECK(r.succeeded);
	CHECK_EQ(r.puts, 2);
	CHECK(strcmp(value_of(kv, "lock"), "bob") == 0);
	CHECK(value_of(kv, "lost") == NULL);
	/* the same CAS again: mod_rev is 4 now, the other branch runs */
	r = apply_txn(kv, 5, &t);
	CHECK(!r.succeeded);
	CHECK_EQ(r.status, PGR_KV_OK);
	CHECK(strcmp(value_of(kv, "lost"), "bob") == 0);
	CHECK_EQ(entry_of(kv, "lock").mod_rev, 4);

	/* every relation, on numbers and on values */
	{
		static const struct
		{
			uint32_t target;
			uint32_t rel;
			uint64_t n;
			const char *v;
			bool want;
		} cases[] = {
			{PGR_KV_TARGET_VERSION, PGR_KV_EQ, 2, NULL, true},
			{PGR_KV_TARGET_VERSION, PGR_KV_NE, 2, NULL, false},
			{PGR_KV_TARGET_VERSION, PGR_KV_LT, 3, NULL, true},
			{PGR_KV_TARGET_VERSION, PGR_KV_GT, 2, NULL, false},
			{PGR_KV_TARGET_CREATE_REV, PGR_KV_EQ, 3, NULL, true},
			{PGR_KV_TARGET_MOD_REV, PGR_KV_GT, 3, NULL, true},
			{PGR_KV_TARGET_LEASE, PGR_KV_EQ, 0, NULL, true},
			{PGR_KV_TARGET_VALUE, PGR_KV_EQ, 0, "bob", true},
			{PGR_KV_TARGET_VALUE, PGR_KV_NE, 0, "bob", false},
			{PGR_KV_TARGET_VALUE, PGR_KV_LT, 0, "boc", true},
			{PGR_KV_TARGET_VALUE, PGR_KV_GT, 0, "bo", true},
			{PGR_KV_TARGET_VALUE, PGR_KV_GT, 0, "", true}, /* an empty operand */
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			struct pgr_kv_txn q = {0};
			struct pgr_kv_compare one =
				cases[i].v ? cmp_value("lock", cases[i].rel, cases[i].v)
						   : cmp_num("lock", cases[i].target, cases[i].rel, cases[i].n);

			q.n_compares = 1;
			q.compares = &one;
			r = apply_txn(kv, 10 + i, &q);
			if (r.succeeded != cases[i].want)
				test_fail(__FILE__, __LINE__, "comparison case %zu", i);
		}
	}
	/* a missing key: its value compares false either way, its version is 0 */
	c[0] = cmp_value("nobody", PGR_KV_NE, "x");
	t.n_success = 0;
	t.n_failure = 0;
	r = apply_txn(kv, 30, &t);
	CHECK(!r.succeeded);
	c[0] = cmp_num("nobody", PGR_KV_TARGET_VERSION, PGR_KV_EQ, 0);
	c[1] = cmp_num("lock", PGR_KV_TARGET_VERSION, PGR_KV_EQ, 2);
	t.n_compares = 2;
	r = apply_txn(kv, 31, &t);
	CHECK(r.succeeded);
	pgr_kv_free(kv);
}

/*
 * A branch that breaks a rule changes nothing at all: two puts of one key,
 * a put inside the branch's own delete, an unknown lease.
 */
static void
test_a_refused_branch_changes_nothing(void)
{
	struct pgr_kv *kv = store(0);
	struct pgr_kv_op ops[3];
	struct pgr_kv_result r;
	uint32_t digest;

	put(kv, 1, "a", "1");
	put(kv, 2, "b", "2");
	digest = pgr_kv_digest(kv);

	ops[0] = op_put("c", "3", 0);
	ops[1] = op_put("d", "4", 0);
	ops[2] = op_put("c", "5", 0);
	r = apply_ops(kv, 3, ops, 3);
	CHECK_EQ(r.status, PGR_KV_DUPLICATE_KEY);
	ops[0] = op_del("a", "c");
	ops[1] = op_put("b", "x", 0);
	r = apply_ops(kv, 4, ops, 2);
	CHECK_EQ(r.status, PGR_KV_DUPLICATE_KEY);
	ops[0] = op_put("e", "x", 0);
	ops[1] = op_put("f", "x", 77);
	r = apply_ops(kv, 5, ops, 2);
	CHECK_EQ(r.status, PGR_KV_NO_LEASE);
	CHECK_EQ(pgr_kv_count(kv), 2);
	CHECK(value_of(kv, "e") == NULL);
	CHECK(strcmp(value_of(kv, "b"), "2") == 0);
	CHECK_EQ(pgr_kv_revision(kv), 2);
	/* applied moved on (every node judged these entries the same way) */
	CHECK_EQ(pgr_kv_applied(kv), 5);
	{
		/* only the applied index differs from before */
		struct pgr_kv *again = store(0);

		put(again, 1, "a", "1");
		put(again, 2, "b", "2");
		CHECK_EQ(pgr_kv_digest(again), digest);
		CHECK(pgr_kv_digest(kv) != digest);
		pgr_kv_free(again);
	}
	/* overlapping deletes are fine: each key goes once */
	ops[0] = op_del("a", "");
	ops[1] = op_del("a", NULL);
	r = apply_ops(kv, 6, ops, 2);
	CHECK_EQ(r.status, PGR_KV_OK);
	CHECK_EQ(r.deleted, 2);
	CHECK_EQ(pgr_kv_bytes(kv), 0);
	pgr_kv_free(kv);
}

/*
 * Leases: a grant's id is its index; keys may belong to it; revoking it
 * deletes them (a change, at the revocation's index); a second revocation
 * finds nothing.
 */
static void
test_revoking_a_lease_deletes_its_keys(void)
{
	struct pgr_kv *kv = store(0);
	struct pgr_kv_op ops[2];
	struct pgr_kv_result r;
	struct pgr_kv_lease l;

	r = lease_cmd(kv, 10, true, 5000);
	CHECK_EQ(r.status, PGR_KV_OK);
	CHECK_EQ(r.lease, 10);
	CHECK_EQ(r.revision, 0);
	ops[0] = op_put("session/1", "alive", 10);
	ops[1] = op_put("config", "kept", 0);
	r = apply_ops(kv, 11, ops, 2);
	CHECK_EQ(r.status, PGR_KV_OK);
	CHECK_EQ(entry_of(kv, "session/1").lease, 10);
	CHECK(pgr_kv_get_lease(kv, 10, &l));
	CHECK_EQ(l.ttl_ms, 5000);
	CHECK_EQ(l.n_keys, 1);
	/* moving the key off the lease */
	ops[0] = op_put("session/2", "alive", 10);
	apply_ops(kv, 12, ops, 1);
	ops[0] = op_put("session/2", "free", 0);
	apply_ops(kv, 13, ops, 1);
	CHECK(pgr_kv_get_lease(kv, 10, &l));
	CHECK_EQ(l.n_keys, 1);
	{
		/* a keepalive finds the lease and changes nothing */
		uint8_t buf[PGR_KV_LEASE_CMD_SIZE];
		uint32_t before = pgr_kv_digest(kv);

		pgr_kv_encode_keepalive(10, buf);
		CHECK_EQ(pgr_kv_apply(kv, 14, buf, sizeof(buf), &r), PGR_OK);
		CHECK_EQ(r.status, PGR_KV_OK);
		CHECK_EQ(r.kept_alive, 10);
		CHECK_EQ(r.ttl_ms, 5000);
		CHECK_EQ(r.revision, 13);
		CHECK_EQ(pgr_kv_applied(kv), 14);
		CHECK(pgr_kv_digest(kv) != before); /* the applied index is in it */
		pgr_kv_encode_keepalive(99, buf);
		CHECK_EQ(pgr_kv_apply(kv, 15, buf, sizeof(buf), &r), PGR_OK);
		CHECK_EQ(r.status, PGR_KV_LEASE_NOT_FOUND);
		CHECK_EQ(r.kept_alive, 0);
	}

	r = lease_cmd(kv, 20, false, 10);
	CHECK_EQ(r.status, PGR_KV_OK);
	CHECK_EQ(r.deleted, 1);
	CHECK_EQ(r.revision, 20);
	CHECK(value_of(kv, "session/1") == NULL);
	CHECK(strcmp(value_of(kv, "session/2"), "free") == 0);
	CHECK(strcmp(value_of(kv, "config"), "kept") == 0);
	CHECK(!pgr_kv_get_lease(kv, 10, &l));
	r = lease_cmd(kv, 21, false, 10);
	CHECK_EQ(r.status, PGR_KV_LEASE_NOT_FOUND);
	/* leases listed in id order */
	lease_cmd(kv, 30, true, 1);
	lease_cmd(kv, 31, true, 2);
	CHECK_EQ(pgr_kv_lease_count(kv), 2);
	pgr_kv_lease_at(kv, 1, &l);
	CHECK_EQ(l.id, 31);
	pgr_kv_free(kv);
}

/* The quota stops growth, never shrinking. */
static void
test_the_quota_refuses_growth_only(void)
{
	struct pgr_kv *kv = store(20);
	struct pgr_kv_result r;

	CHECK_EQ(put(kv, 1, "k1", "0123456789").status, PGR_KV_OK); /* 12 bytes */
	r = put(kv, 2, "k2", "0123456789");
	CHECK_EQ(r.status, PGR_KV_QUOTA);
	CHECK(value_of(kv, "k2") == NULL);
	/* replacing with a smaller value, and a delete, are fine */
	CHECK_EQ(put(kv, 3, "k1", "01").status, PGR_KV_OK);
	CHECK_EQ(pgr_kv_bytes(kv), 4);
	CHECK_EQ(put(kv, 4, "k2", "0123456789").status, PGR_KV_OK);
	CHECK_EQ(pgr_kv_bytes(kv), 16);
	CHECK_EQ(put(kv, 5, "k3", "01").status, PGR_KV_OK); /* exactly full */
	CHECK_EQ(put(kv, 6, "k4", "").status, PGR_KV_QUOTA);
	{
		/* a quota command moves the limit at its index; a snapshot keeps it */
		uint8_t cmd[PGR_KV_LEASE_CMD_SIZE];
		struct pgr_kv *copy = store(0);
		uint8_t *enc = malloc(pgr_kv_encoded_size(kv) + 64);

		pgr_kv_encode_quota(30, cmd);
		CHECK_EQ(pgr_kv_apply(kv, 7, cmd, sizeof(cmd), &r), PGR_OK);
		CHECK_EQ(r.status, PGR_KV_OK);
		CHECK_EQ(pgr_kv_quota(kv), 30);
		CHECK_EQ(put(kv, 8, "k4", "").status, PGR_KV_OK);
		pgr_kv_encode(kv, enc);
		CHECK_EQ(pgr_kv_decode(copy, enc, pgr_kv_encoded_size(kv)), PGR_OK);
		CHECK_EQ(pgr_kv_quota(copy), 30);
		CHECK_EQ(pgr_kv_digest(copy), pgr_kv_digest(kv));
		pgr_kv_encode_quota(0, cmd);
		CHECK_EQ(pgr_kv_apply(copy, 9, cmd, sizeof(cmd), &r), PGR_OK);
		CHECK_EQ(pgr_kv_quota(copy), 0);
		CHECK(pgr_kv_digest(copy) != pgr_kv_digest(kv));
		free(enc);
		pgr_kv_free(copy);
	}
	pgr_kv_free(kv);
}

/* Commands from the log are hostile: anything malformed is applied as nothing. */
static void
test_malformed_commands_are_applied_as_nothing(void)
{
	struct pgr_kv *kv = store(0);
	uint8_t buf[BUF];
	size_t len;
	struct pgr_kv_op ops[2];
	struct pgr_kv_txn t = {0};
	struct pgr_kv_result r;
	uint64_t index = 10;

	put(kv, 1, "a", "1");
	ops[0] = op_put("b", "2", 0);
	ops[1] = op_del("a", "");
	t.n_success = 2;
	t.success = ops;
	CHECK_EQ(pgr_kv_encode_txn(&t, buf, sizeof(buf), &len), PGR_OK);
	/* every truncation */
	for (size_t cut = 0; cut < len; cut++)
	{
		CHECK_EQ(pgr_kv_apply(kv, index++, buf, cut, &r), PGR_OK);
		if (r.status != PGR_KV_MALFORMED)
			test_fail(__FILE__, __LINE__, "truncation at %zu applied", cut);
	}
	/* a trailing byte, an unknown command, an unknown version */
	CHECK_EQ(pgr_kv_apply(kv, index++, buf, len + 1, &r), PGR_OK);
	CHECK_EQ(r.status, PGR_KV_MALFORMED);
	buf[0] = 9;
	CHECK_EQ(pgr_kv_apply(kv, index++, buf, len, &r), PGR_OK);
	CHECK_EQ(r.status, PGR_KV_MALFORMED);
	buf[0] = 1;
	buf[1] = 2;
	CHECK_EQ(pgr_kv_apply(kv, index++, buf, len, &r), PGR_OK);
	CHECK_EQ(r.status, PGR_KV_MALFORMED);
	CHECK_EQ(pgr_kv_apply(kv, index++, NULL, 0, &r), PGR_OK);
	CHECK_EQ(r.status, PGR_KV_MALFORMED);
	/* random bytes */
	srand(7);
	for (int i = 0; i < 2000; i++)
	{
		size_t n = (size_t) (rand() % 200);

		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t) rand();
		if (n > 1 && i % 2 == 0)
		{
			buf[0] = 1; /* a transaction header, to get further */
			buf[1] = 1;
		}
		CHECK_EQ(pgr_kv_apply(kv, index++, buf, n, &r), PGR_OK);
	}
	/* nothing but the applied index moved */
	CHECK_EQ(pgr_kv_count(kv), 1);
	CHECK(strcmp(value_of(kv, "a"), "1") == 0);
	CHECK_EQ(pgr_kv_revision(kv), 1);
	/* an index at or below the applied one is refused */
	CHECK_EQ(pgr_kv_apply(kv, 3, buf, len, &r), PGR_OK);
	CHECK_EQ(r.status, PGR_KV_INDEX_ORDER);

	/* the encoder refuses what breaks the limits */
	ops[0] = op_put("", "x", 0);
	t.n_success = 1;
	CHECK_EQ(pgr_kv_encode_txn(&t, buf, sizeof(buf), &len), PGR_EINVAL);
	ops[0] = op_put("k", "x", 0);
	t.n_success = PGR_KV_MAX_OPS + 1;
	CHECK_EQ(pgr_kv_encode_txn(&t, buf, sizeof(buf), &len), PGR_EINVAL);
	t.n_success = 1;
	CHECK_EQ(pgr_kv_encode_txn(&t, buf, 10, &len), PGR_ETOOBIG);
	pgr_kv_free(kv);
}

/* A store in some state, built from a fixed sequence of commands. */
static void
build_history(struct pgr_kv *kv, uint64_t first, uint64_t last, unsigned seed)
{
	char key[16];
	char val[32];

	srand(seed);
	for (uint64_t i = first; i <= last; i++)
	{
		int what = rand() % 10;

		snprintf(key, sizeof(key), "k%02d", rand() % 40);
		snprintf(val, sizeof(val), "v%d", rand());
		if (what < 6)
		{
			struct pgr_kv_op op = op_put(key, val, 0);

			if (what == 5 && pgr_kv_lease_count(kv) > 0)
			{
				struct pgr_kv_lease l;

				pgr_kv_lease_at(kv, (uint64_t) rand() % pgr_kv_lease_count(kv), &l);
				op.lease = l.id;
			}
			apply_ops(kv, i, &op, 1);
		}
		else if (what == 6)
		{
			struct pgr_kv_op op = op_del(key, rand() % 2 ? NULL : "k2");

			apply_ops(kv, i, &op, 1);
		}
		else if (what == 7)
			lease_cmd(kv, i, true, (uint64_t) (rand() % 1000));
		else if (what == 8 && pgr_kv_lease_count(kv) > 0)
		{
			struct pgr_kv_lease l;

			pgr_kv_lease_at(kv, 0, &l);
			lease_cmd(kv, i, false, l.id);
		}
		else
		{
			struct pgr_kv_compare c = cmp_value(key, PGR_KV_LT, val);
			struct pgr_kv_op a = op_put(key, "cas", 0);
			struct pgr_kv_op b = op_del(key, NULL);
			struct pgr_kv_txn t = {1, &c, 1, &a, 1, &b};

			apply_txn(kv, i, &t);
		}
	}
}

/*
 * Snapshot data: a round trip gives the same state (same digest, same
 * keys, leases and revisions), and any damage or truncation is refused
 * with the store left as it was.
 */
static void
test_snapshot_round_trip_and_damage(void)
{
	struct pgr_kv *kv = store(0);
	struct pgr_kv *copy = store(0);
	uint8_t *buf;
	size_t len;
	uint32_t before;

	build_history(kv, 1, 400, 3);
	CHECK(pgr_kv_count(kv) > 5);
	CHECK(pgr_kv_lease_count(kv) > 0);
	len = pgr_kv_encoded_size(kv);
	buf = malloc(len);
	CHECK(buf != NULL);
	pgr_kv_encode(kv, buf);
	CHECK_EQ(pgr_kv_decode(copy, buf, len), PGR_OK);
	CHECK_EQ(pgr_kv_digest(copy), pgr_kv_digest(kv));
	CHECK_EQ(pgr_kv_revision(copy), pgr_kv_revision(kv));
	CHECK_EQ(pgr_kv_applied(copy), 400);
	CHECK_EQ(pgr_kv_count(copy), pgr_kv_count(kv));
	CHECK_EQ(pgr_kv_bytes(copy), pgr_kv_bytes(kv));
	for (uint64_t i = 0; i < pgr_kv_lease_count(kv); i++)
	{
		struct pgr_kv_lease a;
		struct pgr_kv_lease b;

		pgr_kv_lease_at(kv, i, &a);
		pgr_kv_lease_at(copy, i, &b);
		CHECK(a.id == b.id && a.ttl_ms == b.ttl_ms && a.n_keys == b.n_keys);
	}
	/* the copy goes on exactly as the original */
	build_history(kv, 401, 600, 4);
	build_history(copy, 401, 600, 4);
	CHECK_EQ(pgr_kv_digest(copy), pgr_kv_digest(kv));

	/* damage: every byte flipped, every truncation; the store keeps its state */
	before = pgr_kv_digest(copy);
	for (size_t i = 0; i < len; i++)
	{
		buf[i] ^= 0x5a;
		if (pgr_kv_decode(copy, buf, len) != PGR_ECORRUPT)
			test_fail(__FILE__, __LINE__, "a flipped byte at %zu was accepted", i);
		buf[i] ^= 0x5a;
	}
	for (size_t cut = 0; cut < len; cut += 7)
		CHECK_EQ(pgr_kv_decode(copy, buf, cut), PGR_ECORRUPT);
	CHECK_EQ(pgr_kv_digest(copy), before);
	/* an empty store round-trips too */
	{
		struct pgr_kv *empty = store(0);
		uint8_t small[64];

		CHECK(pgr_kv_encoded_size(empty) <= sizeof(small));
		pgr_kv_encode(empty, small);
		CHECK_EQ(pgr_kv_decode(copy, small, pgr_kv_encoded_size(empty)), PGR_OK);
		CHECK_EQ(pgr_kv_count(copy), 0);
		CHECK_EQ(pgr_kv_digest(copy), pgr_kv_digest(empty));
		pgr_kv_free(empty);
	}
	free(buf);
	pgr_kv_free(kv);
	pgr_kv_free(copy);
}

/*
 * Determinism: two stores fed the same commands have the same digest at
 * every index; a different history has a different one.
 */
static void
test_same_commands_give_the_same_digest(void)
{
	struct pgr_kv *a = store(0);
	struct pgr_kv *b = store(0);
	struct pgr_kv *c = store(0);

	for (uint64_t i = 1; i <= 300; i += 50)
	{
		build_history(a, i, i + 49, (unsigned) i);
		build_history(b, i, i + 49, (unsigned) i);
		CHECK_EQ(pgr_kv_digest(a), pgr_kv_digest(b));
	}
	build_history(c, 1, 300, 99);
	CHECK(pgr_kv_digest(c) != pgr_kv_digest(a));
	pgr_kv_free(a);
	pgr_kv_free(b);
	pgr_kv_free(c);
}

/* An allocator that fails the n-th allocation from now on. */
static int fail_after = -1;

static void *
failing_alloc(void *ctx, size_t size)
{
	(void) ctx;
	if (fail_after == 0)
		return NULL;
	if (fail_after > 0)
		fail_after--;
	return malloc(size);
}

static void *
failing_realloc(void *ctx, void *p, size_t old, size_t size)
{
	(void) ctx;
	(void) old;
	if (fail_after == 0)
		return NULL;
	if (fail_after > 0)
		fail_after--;
	return realloc(p, size);
}

static void
failing_free(void *ctx, void *p)
{
	(void) ctx;
	free(p);
}

/* A failed allocation is reported and leaves the store as it was. */
static void
test_out_of_memory_leaves_the_store_whole(void)
{
	const struct pgr_allocator alloc = {failing_alloc, failing_realloc, failing_free, NULL};
	struct pgr_kv *kv = NULL;
	struct pgr_kv_op ops[3];
	uint8_t buf[BUF];
	size_t len;
	struct pgr_kv_txn t = {0};

	fail_after = -1;
	CHECK_EQ(pgr_kv_new(&alloc, 0, &kv), PGR_OK);
	build_history(kv, 1, 100, 5);
	ops[0] = op_put("new1", "x", 0);
	ops[1] = op_put("new2", "y", 0);
	ops[2] = op_del("k0", "k1");
	t.n_success = 3;
	t.success = ops;
	CHECK_EQ(pgr_kv_encode_txn(&t, buf, sizeof(buf), &len), PGR_OK);
	for (int n = 0; n < 4; n++)
	{
		uint32_t before = pgr_kv_digest(kv);
		struct pgr_kv_result r;
		enum pgr_err err;

		fail_after = n;
		err = pgr_kv_apply(kv, 200, buf, len, &r);
		fail_after = -1;
		if (err == PGR_OK)
			break;
		CHECK_EQ(err, PGR_ENOMEM);
		CHECK_EQ(pgr_kv_digest(kv), before);
		CHECK_EQ(pgr_kv_applied(kv), 100);
	}
	CHECK(value_of(kv, "new1") != NULL);
	pgr_kv_free(kv);
}

/*
 * The lease clock: a new leader gives every lease its time to live plus
 * grace; a lease granted while leading gets its time to live; an expired
 * lease is named once per retry interval until its revocation applies; a
 * renewal moves the deadline; a revoked lease is forgotten; a leader that
 * steps down forgets every deadline.
 */
static void
test_lease_clock_expires_leases_on_the_leaders_time(void)
{
	struct pgr_kv *kv = store(0);
	struct pgr_lease_clock lc;
	uint64_t ids[4];

	pgr_lease_clock_init(&lc, &pgr_libc_allocator);
	lease_cmd(kv, 5, true, 1000);
	CHECK(!pgr_lease_clock_renew(&lc, kv, 5, 0)); /* not leading yet */
	CHECK_EQ(pgr_lease_clock_sync(&lc, kv, 0, 500), PGR_OK);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 1499, 1000, ids, 4), 0);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 1500, 1000, ids, 4), 1);
	CHECK_EQ(ids[0], 5);
	/* asked: not again before the retry interval */
	CHECK_EQ(pgr_lease_clock_expired(&lc, 2499, 1000, ids, 4), 0);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 2500, 1000, ids, 4), 1);
	/* a keepalive in time after all */
	CHECK(pgr_lease_clock_renew(&lc, kv, 5, 2600));
	CHECK_EQ(pgr_lease_clock_expired(&lc, 3599, 1000, ids, 4), 0);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 3600, 1000, ids, 4), 1);
	CHECK(!pgr_lease_clock_renew(&lc, kv, 99, 3600));

	/* granted while leading: its time to live, no grace; others unchanged */
	lease_cmd(kv, 7, true, 100);
	CHECK_EQ(pgr_lease_clock_sync(&lc, kv, 4000, 500), PGR_OK);
	CHECK(pgr_lease_clock_renew(&lc, kv, 5, 4000));
	CHECK_EQ(pgr_lease_clock_expired(&lc, 4099, 0, ids, 4), 0);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 4100, 0, ids, 4), 1);
	CHECK_EQ(ids[0], 7);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 5000, 0, ids, 4), 2);
	CHECK(ids[0] == 5 && ids[1] == 7);
	/* revoked: forgotten */
	lease_cmd(kv, 8, false, 5);
	CHECK_EQ(pgr_lease_clock_sync(&lc, kv, 4200, 500), PGR_OK);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 9000, 0, ids, 4), 1);
	CHECK_EQ(ids[0], 7);
	CHECK(!pgr_lease_clock_renew(&lc, kv, 5, 9000));

	/* stepped down, then leading again: every lease starts over, with grace */
	pgr_lease_clock_reset(&lc);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 99999, 0, ids, 4), 0);
	CHECK_EQ(pgr_lease_clock_sync(&lc, kv, 10000, 500), PGR_OK);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 10599, 0, ids, 4), 0);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 10600, 0, ids, 4), 1);
	/* at most max at a time */
	lease_cmd(kv, 20, true, 0);
	lease_cmd(kv, 21, true, 0);
	CHECK_EQ(pgr_lease_clock_sync(&lc, kv, 20000, 500), PGR_OK);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 20000, 1000, ids, 2), 2);
	CHECK(ids[0] == 7 && ids[1] == 20);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 20000, 1000, ids, 2), 1);
	CHECK_EQ(ids[0], 21);
	pgr_lease_clock_free(&lc);
	pgr_kv_free(kv);
}

/*
 * Snapshot data whose checksum is right but whose structure is not: every
 * rule decode checks, one damage each (the checksum recomputed, so only
 * the rule can refuse it).  The layout is the one in src/app/kv.c.
 */
static void
test_snapshot_structure_is_validated_behind_the_checksum(void)
{
	struct pgr_kv *kv = store(0);
	struct pgr_kv *copy = store(0);
	struct pgr_kv_op op;
	uint8_t good[256];
	uint8_t buf[256];
	size_t len;
	static const struct
	{
		size_t off;
		int width;
		uint64_t value;
		const char *what;
	} damage[] = {
		{8, 8, 4, "revision above the applied index"},
		{48, 8, 0, "lease id 0"},
		{48, 8, 2, "a key's lease missing"},
		{56 + 8 + 24, 8, 0, "version 0"},
		{56 + 8 + 24, 8, UINT64_MAX, "version at its limit"},
		{56 + 8 + 8, 8, 3, "created after its last change"},
		{106 + 16, 8, 4, "changed after the revision"},
		{106 + 40, 1, 'a', "keys out of order"},
		{32, 8, 3, "more keys than there are"},
		{24, 8, 2, "more leases than there are"},
		{64, 4, 0, "an empty key"},
	};

	lease_cmd(kv, 1, true, 10);
	op = op_put("a", "x", 1);
	apply_ops(kv, 2, &op, 1);
	put(kv, 3, "b", "y");
	len = pgr_kv_encoded_size(kv);
	CHECK_EQ(len, 152);
	pgr_kv_encode(kv, good);
	CHECK(memcmp(good, "PGKV", 4) == 0);
	CHECK_EQ(pgr_get_u64(good + 48), 1); /* the lease */
	CHECK_EQ(good[104], 'a');            /* the first key */
	CHECK_EQ(good[146], 'b');            /* the second key */
	/* the checksum fixed up on undamaged data: accepted */
	memcpy(buf, good, len);
	pgr_put_u32(buf + len - 4, pgr_crc32c(0, buf, len - 4));
	CHECK_EQ(pgr_kv_decode(copy, buf, len), PGR_OK);
	for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++)
	{
		memcpy(buf, good, len);
		if (damage[i].width == 8)
			pgr_put_u64(buf + damage[i].off, damage[i].value);
		else if (damage[i].width == 4)
			pgr_put_u32(buf + damage[i].off, (uint32_t) damage[i].value);
		else
			buf[damage[i].off] = (uint8_t) damage[i].value;
		pgr_put_u32(buf + len - 4, pgr_crc32c(0, buf, len - 4));
		if (pgr_kv_decode(copy, buf, len) != PGR_ECORRUPT)
			test_fail(__FILE__, __LINE__, "accepted: %s", damage[i].what);
	}
	CHECK_EQ(pgr_kv_digest(copy), pgr_kv_digest(kv));
	pgr_kv_free(kv);
	pgr_kv_free(copy);
}

/* Leases: a time to live past the limit is refused; a full store grants none. */
static void
test_lease_limits(void)
{
	struct pgr_kv *kv = store(40);
	struct pgr_lease_clock lc;
	uint64_t ids[2];

	CHECK_EQ(lease_cmd(kv, 1, true, UINT64_MAX).status, PGR_KV_BAD_TTL);
	CHECK_EQ(lease_cmd(kv, 2, true, PGR_KV_MAX_TTL_MS).status, PGR_KV_OK);
	CHECK_EQ(lease_cmd(kv, 3, true, 5).status, PGR_KV_OK);    /* 32 bytes */
	CHECK_EQ(lease_cmd(kv, 4, true, 5).status, PGR_KV_QUOTA); /* 48 > 40 */
	CHECK_EQ(pgr_kv_lease_count(kv), 2);
	/* deadlines near the end of the clock do not wrap */
	pgr_lease_clock_init(&lc, &pgr_libc_allocator);
	CHECK_EQ(pgr_lease_clock_sync(&lc, kv, UINT64_MAX - 10, 500), PGR_OK);
	CHECK_EQ(pgr_lease_clock_expired(&lc, UINT64_MAX - 1, 0, ids, 2), 0);
	pgr_lease_clock_reset(&lc);
	CHECK_EQ(pgr_lease_clock_sync(&lc, kv, 1000, 0), PGR_OK);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 1005, 0, ids, 2), 1);
	CHECK_EQ(ids[0], 3);
	/* asked at time 0 is asked too */
	pgr_lease_clock_reset(&lc);
	CHECK_EQ(pgr_lease_clock_sync(&lc, kv, 0, 0), PGR_OK);
	pgr_lease_clock_reset(&lc);
	CHECK_EQ(pgr_lease_clock_sync(&lc, kv, 0, 0), PGR_OK);
	lease_cmd(kv, 5, false, 2);
	CHECK_EQ(pgr_lease_clock_sync(&lc, kv, 0, 0), PGR_OK);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 5, 1000, ids, 2), 1);
	CHECK_EQ(pgr_lease_clock_expired(&lc, 5, 1000, ids, 2), 0);
	pgr_lease_clock_free(&lc);
	pgr_kv_free(kv);
}

/* What a watcher was told, as "put k@rev" / "del k@rev" lines. */
static char told[1024];

static void
watcher(void *arg, enum pgr_kv_event type, uint64_t revision, const struct pgr_kv_entry *e,
		const struct pgr_kv_entry *prev)
{
	size_t n = strlen(told);

	(void) arg;
	snprintf(told + n, sizeof(told) - n, "%s %.*s@%llu v%llu",
			 type == PGR_KV_EVENT_PUT ? "put" : "del", (int) e->key_len, (const char *) e->key,
			 (unsigned long long) revision, (unsigned long long) e->version);
	n = strlen(told);
	if (prev != NULL)
		snprintf(told + n, sizeof(told) - n, " was %.*s v%llu", (int) prev->value_len,
				 (const char *) prev->value, (unsigned long long) prev->version);
	n = strlen(told);
	snprintf(told + n, sizeof(told) - n, ";");
}

/*
 * A watcher hears every change in order: puts with the key as it now is,
 * deletes (a range's, a revocation's) with the key as it was; nothing for
 * a refused branch, a failed comparison without writes, or a snapshot.
 */
static void
test_a_watcher_hears_every_change_in_order(void)
{
	struct pgr_kv *kv = store(0);
	struct pgr_kv_op ops[2];
	uint8_t *enc;

	told[0] = '\0';
	pgr_kv_set_watcher(kv, watcher, NULL);
	put(kv, 1, "a", "1");
	put(kv, 2, "a", "2");
	lease_cmd(kv, 3, true, 100);
	ops[0] = op_put("b", "x", 3);
	ops[1] = op_put("c", "y", 0);
	apply_ops(kv, 4, ops, 2);
	ops[0] = op_put("d", "z", 0);
	ops[1] = op_put("d", "w", 0);
	CHECK_EQ(apply_ops(kv, 5, ops, 2).status, PGR_KV_DUPLICATE_KEY); /* refused: nothing */
	ops[0] = op_del("a", "b");
	apply_ops(kv, 6, ops, 1);
	lease_cmd(kv, 7, false, 3);
	if (strcmp(told,
			   "put a@1 v1;put a@2 v2 was 1 v1;put b@4 v1;put c@4 v1;del a@6 v2;del b@7 v1;") != 0)
		test_fail(__FILE__, __LINE__, "told: %s", told);
	told[0] = '\0';
	enc = malloc(pgr_kv_encoded_size(kv));
	pgr_kv_encode(kv, enc);
	CHECK_EQ(pgr_kv_decode(kv, enc, pgr_kv_encoded_size(kv)), PGR_OK);
	CHECK(strcmp(told, "") == 0);
	put(kv, 8, "c", "again"); /* the watcher stays through a decode */
	CHECK(strcmp(told, "put c@8 v2 was y v1;") == 0);
	free(enc);
	pgr_kv_free(kv);
}

/* Changes read back as "rev:key" words. */
static bool
collect_change(void *arg, const struct pgr_kv_change *c)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s%llu:%.*s%s", n > 0 ? " " : "", (unsigned long long) c->revision,
			 (int) c->e.key_len, (const char *) c->e.key,
			 c->type == PGR_KV_EVENT_DELETE ? "-" : "");
	return true;
}

static const char *
changes_from(const struct pgr_kv_history *h, uint64_t from, const char *prefix_from,
			 const char *end, uint64_t limit, enum pgr_err *err)
{
	static char out[512];

	out[0] = '\0';
	*err =
		pgr_kv_history_read(h, from, (const uint8_t *) prefix_from, (uint32_t) strlen(prefix_from),
							(const uint8_t *) end, end != NULL ? (uint32_t) strlen(end) : 0, limit,
							collect_change, out);
	return out;
}

/*
 * The history keeps every change from its start, in order, by range; the
 * oldest revisions go whole when it is full, and reading before the start
 * is refused (compacted), never a silent gap.
 */
static void
test_the_history_keeps_whole_revisions_and_refuses_gaps(void)
{
	struct pgr_kv *kv = store(0);
	struct pgr_kv_history h;
	struct pgr_kv_op ops[2];
	enum pgr_err err;

	pgr_kv_history_init(&h, &pgr_libc_allocator, 4 * (PGR_KV_HISTORY_OVERHEAD + 2));
	pgr_kv_set_watcher(kv, pgr_kv_history_watch, &h);
	put(kv, 1, "a", "1");
	ops[0] = op_put("b", "2", 0);
	ops[1] = op_put("c", "3", 0);
	apply_ops(kv, 2, ops, 2);
	ops[0] = op_del("a", NULL);
	apply_ops(kv, 3, ops, 1);
	CHECK(strcmp(changes_from(&h, 1, "a", "z", 0, &err), "1:a 2:b 2:c 3:a-") == 0);
	CHECK_EQ(err, PGR_OK);
	CHECK(strcmp(changes_from(&h, 2, "a", "z", 0, &err), "2:b 2:c 3:a-") == 0);
	CHECK(strcmp(changes_from(&h, 1, "a", NULL, 0, &err), "1:a 3:a-") == 0);
	CHECK(strcmp(changes_from(&h, 1, "a", "z", 2, &err), "1:a 2:b") == 0);
	CHECK(strcmp(changes_from(&h, 4, "a", "z", 0, &err), "") == 0);
	CHECK_EQ(err, PGR_OK);
	/* full: the fifth change drops revision 1, the sixth and seventh revision 2 whole */
	put(kv, 4, "d", "4");
	CHECK(strcmp(changes_from(&h, 2, "a", "z", 0, &err), "2:b 2:c 3:a- 4:d") == 0);
	changes_from(&h, 1, "a", "z", 0, &err);
	CHECK_EQ(err, PGR_ECOMPACTED);
	put(kv, 5, "e", "5");
	CHECK(strcmp(changes_from(&h, 3, "a", "z", 0, &err), "3:a- 4:d 5:e") == 0);
	changes_from(&h, 2, "a", "z", 0, &err);
	CHECK_EQ(err, PGR_ECOMPACTED);
	/* a change larger than the whole history: nothing up to it is kept */
	put(kv, 6, "big",
		"0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789");
	changes_from(&h, 6, "a", "z", 0, &err);
	CHECK_EQ(err, PGR_ECOMPACTED);
	put(kv, 7, "f", "7");
	CHECK(strcmp(changes_from(&h, 7, "a", "z", 0, &err), "7:f") == 0);
	/* a reset (a snapshot installed) starts it again */
	pgr_kv_history_reset(&h, 20);
	changes_from(&h, 19, "a", "z", 0, &err);
	CHECK_EQ(err, PGR_ECOMPACTED);
	CHECK(strcmp(changes_from(&h, 20, "a", "z", 0, &err), "") == 0);
	CHECK_EQ(err, PGR_OK);
	pgr_kv_history_free(&h);
	pgr_kv_free(kv);
}

/* Keys as "key=value@create/mod/version" words, for comparing states. */
static bool
collect_entry(void *arg, const struct pgr_kv_entry *e)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 1024 - n, "%s%.*s=%.*s@%llu/%llu/%llu", n > 0 ? " " : "", (int) e->key_len,
			 (const char *) e->key, (int) e->value_len, (const char *) e->value,
			 (unsigned long long) e->create_rev, (unsigned long long) e->mod_rev,
			 (unsigned long long) e->version);
	return true;
}

/* The three views the test compares: every key, [k1, k4), the first two. */
static void
views_now(const struct pgr_kv *kv, char out[3][1024])
{
	static const uint8_t all[1] = {0};

	for (int v = 0; v < 3; v++)
		out[v][0] = '\0';
	pgr_kv_range(kv, (const uint8_t *) "k", 1, all, 1, 0, collect_entry, out[0]);
	pgr_kv_range(kv, (const uint8_t *) "k1", 2, (const uint8_t *) "k4", 2, 0, collect_entry,
				 out[1]);
	pgr_kv_range(kv, (const uint8_t *) "k", 1, all, 1, 2, collect_entry, out[2]);
}

static enum pgr_err
views_at(const struct pgr_kv_history *h, const struct pgr_kv *kv, uint64_t rev, char out[3][1024])
{
	static const uint8_t all[1] = {0};
	enum pgr_err err;

	for (int v = 0; v < 3; v++)
		out[v][0] = '\0';
	err = pgr_kv_history_range_at(h, kv, rev, (const uint8_t *) "k", 1, all, 1, 0, collect_entry,
								  out[0]);
	if (err == PGR_OK)
		err = pgr_kv_history_range_at(h, kv, rev, (const uint8_t *) "k1", 2, (const uint8_t *) "k4",
									  2, 0, collect_entry, out[1]);
	if (err == PGR_OK)
		err = pgr_kv_history_range_at(h, kv, rev, (const uint8_t *) "k", 1, all, 1, 2,
									  collect_entry, out[2]);
	return err;
}

#define AT_STEPS 300

/*
 * Reading at a past revision gives what a read then gave: random puts,
 * overwrites, deletes of keys and ranges, leases granted and revoked on
 * six keys, the views recorded after every index, and read again at every
 * index once all is applied; then a history too small for the oldest
 * revisions refuses them, and an index not applied yet is refused.
 */
static void
test_a_past_revision_reads_as_it_was(void)
{
	static char then[AT_STEPS + 1][3][1024];
	char now[3][1024];
	struct pgr_kv *kv = store(0);
	struct pgr_kv_history h;
	uint64_t seed = 12345;
	uint64_t lease = 0;
	uint64_t start;

	pgr_kv_history_init(&h, &pgr_libc_allocator, UINT64_C(1) << 30);
	pgr_kv_set_watcher(kv, pgr_kv_history_watch, &h);
	views_now(kv, then[0]);
	for (uint64_t i = 1; i <= AT_STEPS; i++)
	{
		char k[3] = {'k', 0, 0};
		char v[16];
		struct pgr_kv_op op;
		uint64_t r;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		r = seed >> 33;
		k[1] = (char) ('0' + r % 6);
		snprintf(v, sizeof(v), "v%llu", (unsigned long long) i);
		switch ((r / 6) % 8)
		{
			case 0:
				op = op_del(k, NULL);
				apply_ops(kv, i, &op, 1);
				break;
			case 1:
				op = op_del(k, "k4");
				apply_ops(kv, i, &op, 1);
				break;
			case 2:
				if (lease == 0)
					lease = lease_cmd(kv, i, true, 1000).lease;
				else
				{
					lease_cmd(kv, i, false, lease);
					lease = 0;
				}
				break;
			case 3:
				op = op_put(k, v, lease);
				apply_ops(kv, i, &op, 1);
				break;
			default:
				put(kv, i, k, v);
				break;
		}
		views_now(kv, then[i]);
	}
	for (uint64_t i = 0; i <= AT_STEPS; i++)
	{
		CHECK_EQ(views_at(&h, kv, i, now), PGR_OK);
		for (int v = 0; v < 3; v++)
			if (strcmp(now[v], then[i][v]) != 0)
				test_fail(__FILE__, __LINE__, "at %llu, view %d: %s, then: %s",
						  (unsigned long long) i, v, now[v], then[i][v]);
	}
	CHECK_EQ(views_at(&h, kv, AT_STEPS + 1, now), PGR_EINVAL);

	/* a smaller bound drops the oldest revisions: reading before them is refused */
	pgr_kv_history_set_max(&h, 40 * (PGR_KV_HISTORY_OVERHEAD + 8));
	start = h.start;
	CHECK(start > 2);
	CHECK_EQ(views_at(&h, kv, start - 2, now), PGR_ECOMPACTED);
	CHECK_EQ(views_at(&h, kv, start - 1, now), PGR_OK);
	CHECK(strcmp(now[0], then[start - 1][0]) == 0);
	CHECK_EQ(views_at(&h, kv, AT_STEPS, now), PGR_OK);
	CHECK(strcmp(now[0], then[AT_STEPS][0]) == 0);
	pgr_kv_history_free(&h);
	pgr_kv_free(kv);
}

static const struct test_case cases[] = {
	TEST(test_puts_record_revisions_and_versions),
	TEST(test_ranges_and_range_deletes),
	TEST(test_transactions_apply_exactly_one_branch),
	TEST(test_a_refused_branch_changes_nothing),
	TEST(test_revoking_a_lease_deletes_its_keys),
	TEST(test_the_quota_refuses_growth_only),
	TEST(test_malformed_commands_are_applied_as_nothing),
	TEST(test_snapshot_round_trip_and_damage),
	TEST(test_same_commands_give_the_same_digest),
	TEST(test_out_of_memory_leaves_the_store_whole),
	TEST(test_lease_clock_expires_leases_on_the_leaders_time),
	TEST(test_snapshot_structure_is_validated_behind_the_checksum),
	TEST(test_lease_limits),
	TEST(test_a_watcher_hears_every_change_in_order),
	TEST(test_the_history_keeps_whole_revisions_and_refuses_gaps),
	TEST(test_a_past_revision_reads_as_it_was),
};

TEST_MAIN(cases)
