/*-------------------------------------------------------------------------
 *
 * kv.c
 *		The key-value state machine (include/pgraft/kv.h) on every simulated
 *		node, and the check that every node builds the same state.
 *
 * Every append call's payload carries a key-value command after its call
 * number (calls.c): puts, range deletes, compare-and-swap transactions,
 * lease grants and revocations, and now and then a quota small enough to
 * refuse writes, on a small set of keys, so that commands conflict.  A node applies the command of every entry that COUNTS (the
 * verdict of src/app/state.c: a superseded, duplicate or expired copy is
 * not applied), at the entry's index, as the worker will.  The store is in
 * every snapshot; a node that restarts or installs a snapshot rebuilds it
 * from there.
 *
 * The check (KV determinism): after every command applied, and after every
 * snapshot installed, the node's digest at its applied index must equal
 * the digest the first node to reach that index had there.  Crashes,
 * snapshots and membership changes all happen around it.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/sim/kv.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define KEYS 12

static void
oom(void)
{
	fprintf(stderr, "raft-sim: out of memory\n");
	exit(2);
}

/* The digest the first node to apply up to index had; record or compare. */
static void
check_digest(struct sim_cluster *c, struct sim_node *sn, const char *how)
{
	struct sim_kv_check *k = &c->kv;
	uint64_t index = pgr_kv_applied(sn->kv);
	uint32_t digest = pgr_kv_digest(sn->kv);

	if (index == 0)
		return;
	if (index >= k->cap)
	{
		size_t cap = k->cap ? k->cap : 1024;

		while (cap <= index)
			cap *= 2;
		k->digests = realloc(k->digests, cap * sizeof(*k->digests));
		k->seen = realloc(k->seen, cap);
		if (k->digests == NULL || k->seen == NULL)
			oom();
		memset(k->seen + k->cap, 0, cap - k->cap);
		k->cap = cap;
	}
	if (!k->seen[index])
	{
		k->seen[index] = 1;
		k->digests[index] = digest;
		k->n_checked++;
		return;
	}
	k->n_compared++;
	if (k->digests[index] != digest)
		sim_fail(c, "KV determinism",
				 "node %" PRIu64 " %s: its store at index %" PRIu64
				 " has digest %08x, another node's had %08x",
				 sn->id, how, index, digest, k->digests[index]);
}

/* The node (re)starts with an empty store (then its snapshot's, if any). */
void
sim_kv_node_up(struct sim_node *sn)
{
	pgr_kv_free(sn->kv);
	sn->kv = NULL;
	if (pgr_kv_new(&pgr_libc_allocator, 0, &sn->kv) != PGR_OK)
		oom();
}

void
sim_kv_install(struct sim_cluster *c, struct sim_node *sn, const uint8_t *blob, size_t len)
{
	enum pgr_err err = pgr_kv_decode(sn->kv, blob, len);

	if (err == PGR_ENOMEM)
		oom();
	if (err != PGR_OK)
	{
		sim_fail(c, "KV determinism", "node %" PRIu64 " cannot decode the store of a snapshot: %s",
				 sn->id, pgr_strerror(err));
		return;
	}
	check_digest(c, sn, "installed a snapshot");
}

void
sim_kv_apply(struct sim_cluster *c, struct sim_node *sn, uint64_t index, const uint8_t *cmd,
			 size_t len)
{
	struct pgr_kv_result res;

	if (pgr_kv_apply(sn->kv, index, cmd, len, &res) != PGR_OK)
		oom();
	if (res.status == PGR_KV_INDEX_ORDER || res.status == PGR_KV_MALFORMED)
	{
		sim_fail(c, "KV determinism",
				 "node %" PRIu64 " applies the command at %" PRIu64 ": %s (its store is at %" PRIu64
				 ")",
				 sn->id, index, pgr_kv_status_name(res.status), pgr_kv_applied(sn->kv));
		return;
	}
	if (res.lease != 0)
		c->kv.last_lease = res.lease;
	if (res.status == PGR_KV_OK)
		c->kv.n_ok++;
	check_digest(c, sn, "applied a command");
}

/* ---------------------------------------------------------------------- */
/* The workload's commands                                                */
/* ---------------------------------------------------------------------- */

static void
key_of(struct sim_cluster *c, char *buf)
{
	snprintf(buf, 8, "k%02u", (unsigned) sim_rng_below(&c->rng, KEYS));
}

size_t
sim_kv_command(struct sim_cluster *c, uint64_t call, uint8_t *buf, size_t cap)
{
	char keys[3][8];
	char value[32];
	struct pgr_kv_op ops[3];
	struct pgr_kv_compare cmp;
	struct pgr_kv_txn t = {0};
	size_t len = 0;
	uint64_t what = sim_rng_below(&c->rng, 10);

	memset(ops, 0, sizeof(ops));
	memset(&cmp, 0, sizeof(cmp));
	for (int i = 0; i < 3; i++)
		key_of(c, keys[i]);
	snprintf(value, sizeof(value), "v%" PRIu64, call);
	for (int i = 0; i < 3; i++)
	{
		ops[i].type = PGR_KV_PUT;
		ops[i].key = (const uint8_t *) keys[i];
		ops[i].key_len = 3;
		ops[i].value = (const uint8_t *) value;
		ops[i].value_len = (uint32_t) strlen(value);
	}
	if (what == 7 || what == 8)
	{
		/* a grant, or the revocation of the latest lease granted */
		static const uint64_t quotas[] = {0, 120, 300, 1000};

		if (cap < PGR_KV_LEASE_CMD_SIZE)
			return 0;
		if (what == 8 && sim_rng_below(&c->rng, 4) == 0)
		{
			/* now and then a new quota, small enough to refuse writes */
			pgr_kv_encode_quota(quotas[sim_rng_below(&c->rng, 4)], buf);
			return PGR_KV_LEASE_CMD_SIZE;
		}
		if (what == 7)
			pgr_kv_encode_grant(sim_rng_range(&c->rng, 100, 5000), buf);
		else
			pgr_kv_encode_revoke(c->kv.last_lease, buf);
		return PGR_KV_LEASE_CMD_SIZE;
	}
	t.success = ops;
	t.n_success = 1;
	if (what == 4)
		ops[0].lease = c->kv.last_lease; /* may be gone: then NO_LEASE */
	else if (what == 5)
	{
		ops[0].type = PGR_KV_DELETE;
		if (sim_rng_below(&c->rng, 2) == 0)
		{
			ops[0].range_end = (const uint8_t *) keys[1];
			ops[0].range_end_len = 3;
		}
	}
	else if (what == 6)
	{
		/* compare-and-swap on the version; else delete */
		cmp.key = (const uint8_t *) keys[0];
		cmp.key_len = 3;
		cmp.target = PGR_KV_TARGET_VERSION;
		cmp.relation = (uint32_t) sim_rng_below(&c->rng, 4);
		cmp.number = sim_rng_below(&c->rng, 4);
		t.n_compares = 1;
		t.compares = &cmp;
		ops[1].type = PGR_KV_DELETE;
		ops[1].key = (const uint8_t *) keys[0];
		ops[1].key_len = 3;
		ops[1].value = NULL;
		ops[1].value_len = 0;
		t.n_failure = 1;
		t.failure = &ops[1];
	}
	else if (what == 9)
		t.n_success = 3; /* may write one key twice: refused whole */
	if (pgr_kv_encode_txn(&t, buf, cap, &len) != PGR_OK)
		return 0;
	return len;
}

void
sim_kv_free(struct sim_cluster *c)
{
	free(c->kv.digests);
	free(c->kv.seen);
	memset(&c->kv, 0, sizeof(c->kv));
}
