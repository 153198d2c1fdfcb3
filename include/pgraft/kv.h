/*-------------------------------------------------------------------------
 *
 * kv.h
 *		A key-value state machine applied from the Raft log: keys with
 *		revisions, transactions that compare and then write, and leases.
 *		Pure: no PostgreSQL, no I/O, no clock, memory only through the
 *		caller's allocator.  The PostgreSQL worker and the cluster simulator
 *		run exactly this code.
 *
 * THE MODEL (etcd's, version 3).  Keys and values are byte strings.  Every
 * write is a transaction: a list of comparisons on keys, then one list of
 * operations (puts and range deletes) if all comparisons hold, another if
 * not; a plain put is a transaction without comparisons.  A transaction
 * that changes anything gets the log index of its entry as its REVISION, a
 * number that grows along the log and names the state after it; each key
 * records the revision that created it (create_rev), the one that last
 * changed it (mod_rev), and how often it was written since it was created
 * (version).  A lease (an id and a time to live) may own keys: revoking it
 * deletes them.  Leases are granted and revoked through the log like
 * everything else; when one expires is decided by whoever proposes the
 * revocation (the leader), never by each node's clock.
 *
 * DETERMINISM.  Applying the same commands at the same indexes gives the
 * same state on every node, byte for byte: nothing here depends on the
 * node, the clock, chance or the allocator.  pgr_kv_digest() names that
 * state, so nodes can be compared.
 *
 * HOSTILE INPUT.  A command is bytes from the log; one that does not
 * decode, or breaks a rule (an unknown lease, two writes to one key, a
 * full store), is applied as nothing, with a status saying why: the same
 * verdict on every node, never an abort and never half a transaction.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * include/pgraft/kv.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_KV_H
#define PGRAFT_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgraft/core.h"

#define PGR_KV_MAX_KEY    4096      /* bytes in a key (at least 1) */
#define PGR_KV_MAX_VALUE  (1 << 20) /* bytes in a value */
#define PGR_KV_MAX_OPS    128       /* comparisons, and operations per branch */
#define PGR_KV_MAX_TTL_MS (UINT64_C(10) * 365 * 24 * 3600 * 1000) /* ten years */

/* What a comparison looks at. */
enum pgr_kv_target
{
	PGR_KV_TARGET_VALUE = 0,      /* bytes, compared as memcmp then length */
	PGR_KV_TARGET_VERSION = 1,    /* 0 for a key that does not exist */
	PGR_KV_TARGET_CREATE_REV = 2, /* 0 for a key that does not exist */
	PGR_KV_TARGET_MOD_REV = 3,    /* 0 for a key that does not exist */
	PGR_KV_TARGET_LEASE = 4       /* 0: no lease, or no key */
};

enum pgr_kv_relation
{
	PGR_KV_EQ = 0,
	PGR_KV_NE = 1,
	PGR_KV_LT = 2,
	PGR_KV_GT = 3
};

/*
 * key <target> <relation> operand.  A VALUE comparison on a key that does
 * not exist is false whatever the relation (etcd's rule): test VERSION = 0
 * for absence.
 */
struct pgr_kv_compare
{
	uint32_t target;   /* enum pgr_kv_target */
	uint32_t relation; /* enum pgr_kv_relation */
	const uint8_t *key;
	uint32_t key_len;
	uint64_t number; /* VERSION, CREATE_REV, MOD_REV, LEASE */
	const uint8_t *value;
	uint32_t value_len; /* VALUE */
};

enum pgr_kv_op_type
{
	PGR_KV_PUT = 1,   /* key = value, owned by lease (0: none) */
	PGR_KV_DELETE = 2 /* key alone (range_end_len 0), or every key in [key, range_end) */
};

struct pgr_kv_op
{
	uint32_t type; /* enum pgr_kv_op_type */
	const uint8_t *key;
	uint32_t key_len;
	const uint8_t *value; /* PUT */
	uint32_t value_len;
	uint64_t lease;           /* PUT */
	const uint8_t *range_end; /* DELETE; a single 0 byte: every key from key on */
	uint32_t range_end_len;
};

struct pgr_kv_txn
{
	uint32_t n_compares;
	const struct pgr_kv_compare *compares;
	uint32_t n_success; /* applied if every comparison holds */
	const struct pgr_kv_op *success;
	uint32_t n_failure; /* applied otherwise */
	const struct pgr_kv_op *failure;
};

/*
 * Commands, as the payload of a log entry.  A transaction; a lease grant
 * (the lease's id is the index of its entry); a lease revocation (its keys
 * are deleted); a lease keepalive (it changes nothing in the store: it
 * tells the leader's lease clock, which applies it too, to start the
 * lease's time to live again); a quota (the store's limit from then on:
 * since verdicts depend on it, it travels through the log and in the
 * snapshot, so that every node applies the same limit at the same index).  Encoding validates the limits (PGR_EINVAL, PGR_ETOOBIG
 * when cap is too small); pgr_kv_command_size() says how much room to give.
 */
size_t pgr_kv_txn_size(const struct pgr_kv_txn *t);
enum pgr_err pgr_kv_encode_txn(const struct pgr_kv_txn *t, uint8_t *buf, size_t cap,
							   size_t *len_out);
#define PGR_KV_LEASE_CMD_SIZE 16
void pgr_kv_encode_grant(uint64_t ttl_ms, uint8_t buf[PGR_KV_LEASE_CMD_SIZE]);
void pgr_kv_encode_revoke(uint64_t lease, uint8_t buf[PGR_KV_LEASE_CMD_SIZE]);
void pgr_kv_encode_keepalive(uint64_t lease, uint8_t buf[PGR_KV_LEASE_CMD_SIZE]);
void pgr_kv_encode_quota(uint64_t bytes, uint8_t buf[PGR_KV_LEASE_CMD_SIZE]);

/* A key as stored.  Pointers stay valid until the next change of the store. */
struct pgr_kv_entry
{
	const uint8_t *key;
	uint32_t key_len;
	const uint8_t *value;
	uint32_t value_len;
	uint64_t create_rev;
	uint64_t mod_rev;
	uint64_t version;
	uint64_t lease;
};

struct pgr_kv_lease
{
	uint64_t id;
	uint64_t ttl_ms;
	uint64_t n_keys;
};

struct pgr_kv;

/*
 * quota: bytes of keys and values (and 16 per lease) the store may hold
 * until a quota command changes it; 0: no limit.  Verdicts depend on it:
 * every node must start with the same one.
 */
enum pgr_err pgr_kv_new(const struct pgr_allocator *alloc, uint64_t quota, struct pgr_kv **out);
void pgr_kv_free(struct pgr_kv *kv);
/* Back to a new store's state, with this quota. */
void pgr_kv_reset(struct pgr_kv *kv, uint64_t quota);

/*
 * A watcher is told of every change applying a command makes, in order, as
 * it makes it: a put (e is the key as it now is, prev as it was before, NULL
 * if it did not exist), a delete (e is the key as it was, a revocation's
 * deletes too; prev NULL), at revision (the command's index).
 * e and prev are valid only during the call; the watcher must not touch
 * the store.
 * Installing a snapshot (pgr_kv_decode) tells nothing: it is not a change
 * of the log's.  One watcher per store; NULL removes it.
 */
enum pgr_kv_event
{
	PGR_KV_EVENT_PUT = 1,
	PGR_KV_EVENT_DELETE = 2
};
typedef void (*pgr_kv_watch_cb)(void *arg, enum pgr_kv_event type, uint64_t revision,
								const struct pgr_kv_entry *e, const struct pgr_kv_entry *prev);
void pgr_kv_set_watcher(struct pgr_kv *kv, pgr_kv_watch_cb cb, void *arg);

/* What applying one command did. */
enum pgr_kv_status
{
	PGR_KV_OK = 0,
	PGR_KV_MALFORMED,       /* the bytes are not a command */
	PGR_KV_NO_LEASE,        /* a put names a lease that does not exist */
	PGR_KV_DUPLICATE_KEY,   /* a branch writes one key twice, or puts into its own delete */
	PGR_KV_QUOTA,           /* the store would grow past its quota */
	PGR_KV_LEASE_NOT_FOUND, /* a revocation of a lease that does not exist */
	PGR_KV_INDEX_ORDER,     /* the index is not above the store's applied index */
	PGR_KV_BAD_TTL          /* a grant's time to live is above PGR_KV_MAX_TTL_MS */
};

struct pgr_kv_result
{
	enum pgr_kv_status status; /* anything but OK: nothing changed */
	bool succeeded;            /* transaction: the comparisons held */
	uint32_t puts;
	uint64_t deleted;    /* keys deleted (a revocation's too) */
	uint64_t revision;   /* the store's revision after the command */
	uint64_t lease;      /* a grant: the new lease's id */
	uint64_t kept_alive; /* a keepalive: the lease it found */
	uint64_t ttl_ms;     /* a grant, a keepalive: the lease's time to live */
};

const char *pgr_kv_status_name(enum pgr_kv_status st);

/*
 * Apply the command at log index (above every index applied before).  Only
 * PGR_ENOMEM is an error (the store is left as it was, the command not
 * applied); everything else is a result.
 */
enum pgr_err pgr_kv_apply(struct pgr_kv *kv, uint64_t index, const uint8_t *cmd, size_t len,
						  struct pgr_kv_result *res);

/* Reading. */
uint64_t pgr_kv_revision(const struct pgr_kv *kv);
uint64_t pgr_kv_applied(const struct pgr_kv *kv);
uint64_t pgr_kv_count(const struct pgr_kv *kv);
uint64_t pgr_kv_bytes(const struct pgr_kv *kv); /* keys and values, as the quota counts */
uint64_t pgr_kv_quota(const struct pgr_kv *kv);
bool pgr_kv_get(const struct pgr_kv *kv, const uint8_t *key, uint32_t key_len,
				struct pgr_kv_entry *out);
/*
 * Keys in [from, range_end) in order (range_end as for DELETE), at most
 * limit of them (0: all); returns how many there are in the range in all.
 * cb returns false to stop early.
 */
typedef bool (*pgr_kv_range_cb)(void *arg, const struct pgr_kv_entry *e);
uint64_t pgr_kv_range(const struct pgr_kv *kv, const uint8_t *from, uint32_t from_len,
					  const uint8_t *range_end, uint32_t range_end_len, uint64_t limit,
					  pgr_kv_range_cb cb, void *arg);
/* Keys' order: bytes (memcmp), then the shorter first. */
int pgr_kv_key_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen);
/* Is e's key inside [from, range_end) (range_end as for DELETE)? */
bool pgr_kv_in_range(const struct pgr_kv_entry *e, const uint8_t *from, uint32_t from_len,
					 const uint8_t *range_end, uint32_t range_end_len);
bool pgr_kv_get_lease(const struct pgr_kv *kv, uint64_t id, struct pgr_kv_lease *out);
/* Leases in id order: the i-th, for i < pgr_kv_lease_count(). */
uint64_t pgr_kv_lease_count(const struct pgr_kv *kv);
void pgr_kv_lease_at(const struct pgr_kv *kv, uint64_t i, struct pgr_kv_lease *out);

/*
 * The whole state as snapshot data, and back.  encode writes
 * pgr_kv_encoded_size() bytes; decode validates everything (order, limits,
 * references, checksum) and replaces the store's state only on success
 * (PGR_ECORRUPT otherwise).  The digest is a checksum of the encoding.
 */
size_t pgr_kv_encoded_size(const struct pgr_kv *kv);
void pgr_kv_encode(const struct pgr_kv *kv, uint8_t *buf);
enum pgr_err pgr_kv_decode(struct pgr_kv *kv, const uint8_t *buf, size_t len);
uint32_t pgr_kv_digest(const struct pgr_kv *kv);

/* ---------------------------------------------------------------------- */
/* The lease clock (src/app/lease_clock.c)                                */
/* ---------------------------------------------------------------------- */

/*
 * When a lease expires is the leader's decision, on the leader's clock; the
 * store only learns it from the revocation the leader proposes.  The lease
 * clock is that decision, kept by the leader alone and never replicated:
 *	  pgr_lease_clock_sync()	 on the leader only, after every applied batch
 *								 (and when this node becomes leader, the
 *								 first call after a reset: with grace, an election
 *								 timeout, as etcd does, so a lease is not
 *								 revoked for the time no leader could renew
 *								 it); new leases start their time to live,
 *								 revoked ones are forgotten;
 *	  pgr_lease_clock_renew()	 a keepalive reached the leader;
 *	  pgr_lease_clock_expired() the leases to revoke now: each is returned
 *								 again only after retry_ms, while its
 *								 revocation is on its way through the log;
 *	  pgr_lease_clock_reset()	 this node stopped leading: every deadline
 *								 is forgotten (the next leader grants grace).
 * Times are milliseconds on the caller's clock.
 */
struct pgr_lease_deadline
{
	uint64_t id;
	uint64_t deadline_ms;
	bool revoke_asked;        /* named by pgr_lease_clock_expired... */
	uint64_t revoke_asked_ms; /* ...then */
};

struct pgr_lease_clock
{
	struct pgr_allocator alloc;
	struct pgr_lease_deadline *v; /* sorted by id */
	uint64_t n;
	uint64_t cap;
	bool leading;
};

void pgr_lease_clock_init(struct pgr_lease_clock *lc, const struct pgr_allocator *alloc);
void pgr_lease_clock_free(struct pgr_lease_clock *lc);
enum pgr_err pgr_lease_clock_sync(struct pgr_lease_clock *lc, const struct pgr_kv *kv,
								  uint64_t now_ms, uint64_t grace_ms);
/* false if this node does not lead (no sync since the last reset) or the store has no such lease */
bool pgr_lease_clock_renew(struct pgr_lease_clock *lc, const struct pgr_kv *kv, uint64_t id,
						   uint64_t now_ms);
/* Up to max ids into out; how many. */
size_t pgr_lease_clock_expired(struct pgr_lease_clock *lc, uint64_t now_ms, uint64_t retry_ms,
							   uint64_t *out, size_t max);
void pgr_lease_clock_reset(struct pgr_lease_clock *lc);

/* ---------------------------------------------------------------------- */
/* The history (src/app/kv_history.c)                                     */
/* ---------------------------------------------------------------------- */

/*
 * The changes a store went through, newest last, for watches: a store's
 * watcher (pgr_kv_history_watch) adds every change as it is applied; the
 * oldest revisions are dropped, whole, to stay within max_bytes (a
 * change's key, value and previous value, and PGR_KV_HISTORY_OVERHEAD).  The history is
 * each node's own (it is not in snapshots): it starts where the node's
 * store started, at its start or at the snapshot it installed.
 *
 *	every change at a revision >= start is kept, in order; start only grows
 *	(pgr_kv_history_reset may move it anywhere: a snapshot installed)
 */
#define PGR_KV_HISTORY_OVERHEAD 64

struct pgr_kv_change
{
	enum pgr_kv_event type;
	uint64_t revision;
	struct pgr_kv_entry e; /* key and value point into the change's own allocation */
	bool has_prev;         /* a put of a key that existed: prev is the key as it was */
	struct pgr_kv_entry prev;
};

struct pgr_kv_history
{
	struct pgr_allocator alloc;
	uint64_t max_bytes; /* 0: keep nothing */
	uint64_t bytes;
	uint64_t start;
	struct pgr_kv_change **ring; /* cap slots, n used from head */
	uint64_t head;
	uint64_t n;
	uint64_t cap;
};

void pgr_kv_history_init(struct pgr_kv_history *h, const struct pgr_allocator *alloc,
						 uint64_t max_bytes);
void pgr_kv_history_free(struct pgr_kv_history *h);
/* Forget everything: changes at revisions >= start are what it keeps from now on. */
void pgr_kv_history_reset(struct pgr_kv_history *h, uint64_t start);
/* A new bound; what no longer fits is dropped, oldest revisions first. */
void pgr_kv_history_set_max(struct pgr_kv_history *h, uint64_t max_bytes);
/* The watcher to install on the store (arg: the history). */
void pgr_kv_history_watch(void *arg, enum pgr_kv_event type, uint64_t revision,
						  const struct pgr_kv_entry *e, const struct pgr_kv_entry *prev);
/*
 * The changes at revisions >= from to keys in [key, range_end), in order,
 * at most limit (0: all): cb returns false to stop.  PGR_ECOMPACTED when
 * from < start (changes are missing: read the keys again instead), else
 * PGR_OK.
 */
typedef bool (*pgr_kv_change_cb)(void *arg, const struct pgr_kv_change *c);
enum pgr_err pgr_kv_history_read(const struct pgr_kv_history *h, uint64_t from, const uint8_t *key,
								 uint32_t key_len, const uint8_t *range_end, uint32_t range_end_len,
								 uint64_t limit, pgr_kv_change_cb cb, void *arg);

/*
 * The keys of [key, range_end) as they were at revision, in order, at most
 * limit (0: all), cb as for pgr_kv_range: the store kv as it is now (the
 * one h watches), with every change after revision undone.  PGR_ECOMPACTED
 * when those changes are no longer all kept (revision < start - 1),
 * PGR_EINVAL when revision is past the store's applied index, PGR_ENOMEM.
 */
enum pgr_err pgr_kv_history_range_at(const struct pgr_kv_history *h, const struct pgr_kv *kv,
									 uint64_t revision, const uint8_t *key, uint32_t key_len,
									 const uint8_t *range_end, uint32_t range_end_len,
									 uint64_t limit, pgr_kv_range_cb cb, void *arg);

#endif /* PGRAFT_KV_H */
