/*-------------------------------------------------------------------------
 *
 * test_app.c
 *		The application layer (include/pgraft/app.h): the envelope, the
 *		state machine and its snapshot encoding, and the lifecycle of calls,
 *		one scenario per way a call used to end wrongly in the worker
 *		(issue 7: calls without a bound, ids that restarted at 1, snapshots
 *		that left calls unresolved, membership judged on stale state).
 *
 * Each scenario runs on a real cluster of Raft nodes (app_fixture.h) and
 * states the race it stages in its header comment.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_app.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgraft/app.h"
#include "pgraft/kv.h"

#include "app_fixture.h"
#include "harness.h"

/* ---------------------------------------------------------------------- */
/* The envelope and the state machine                                     */
/* ---------------------------------------------------------------------- */

static void
test_envelope_round_trips_and_reads_version_1(void)
{
	uint8_t buf[PGR_ENVELOPE_SIZE + 3];
	struct pgr_call_id id = {7, 0x1122334455667788ull, 42};
	struct pgr_envelope env;
	uint8_t v1[28 + 2] = {'P', 'R', 1, 1};

	pgr_envelope_write(buf, &id, 40, 9, PGR_PAYLOAD_KV);
	memcpy(buf + PGR_ENVELOPE_SIZE, "abc", 3);
	CHECK(pgr_envelope_read(buf, sizeof(buf), &env));
	CHECK_EQ(env.kind, PGR_PAYLOAD_KV);
	buf[3] = 3; /* a kind this version does not know: not an envelope */
	CHECK(!pgr_envelope_read(buf, sizeof(buf), &env));
	pgr_envelope_write(buf, &id, 40, 9, PGR_PAYLOAD_DATA);
	CHECK(pgr_envelope_read(buf, sizeof(buf), &env));
	CHECK_EQ(env.kind, PGR_PAYLOAD_DATA);
	CHECK_EQ(env.id.origin, 7);
	CHECK_EQ(env.id.incarnation, 0x1122334455667788ull);
	CHECK_EQ(env.id.seq, 42);
	CHECK_EQ(env.low, 40);
	CHECK_EQ(env.term, 9);
	CHECK_EQ(env.len, 3);
	CHECK(memcmp(env.data, "abc", 3) == 0);
	CHECK(!pgr_envelope_read(buf, PGR_ENVELOPE_SIZE - 1, &env));
	CHECK(!pgr_envelope_read((const uint8_t *) "hello world, not an envelope!!!!!!!!!!!!!!!!!!", 46,
							 &env));
	v1[4] = 3;  /* origin 3 */
	v1[12] = 5; /* request id 5 */
	v1[20] = 2; /* term 2 */
	CHECK(pgr_envelope_read(v1, sizeof(v1), &env));
	CHECK_EQ(env.id.origin, 3);
	CHECK_EQ(env.id.incarnation, 0);
	CHECK_EQ(env.id.seq, 5);
	CHECK_EQ(env.low, 0);
	CHECK_EQ(env.term, 2);
	CHECK_EQ(env.len, 2);
	CHECK_EQ(env.kind, PGR_PAYLOAD_DATA);
}

static struct pgr_entry
data_entry(uint8_t *buf, uint64_t index, uint64_t term, uint64_t origin, uint64_t inc, uint64_t seq,
		   uint64_t low, uint64_t proposed_term)
{
	struct pgr_call_id id = {origin, inc, seq};
	struct pgr_entry e = {term, index, PGR_ENTRY_NORMAL, PGR_ENVELOPE_SIZE + 1, buf};

	pgr_envelope_write(buf, &id, low, proposed_term, PGR_PAYLOAD_DATA);
	buf[PGR_ENVELOPE_SIZE] = 'x';
	return e;
}

static struct pgr_app_state st_a, st_b;

/* Apply one data entry at the next index; its verdict. */
static enum pgr_app_verdict
apply_call(struct pgr_app_state *st, uint64_t term, uint64_t origin, uint64_t inc, uint64_t seq,
		   uint64_t low, uint64_t proposed_term)
{
	uint8_t b[PGR_ENVELOPE_SIZE + 1];
	struct pgr_entry e = data_entry(b, st->applied + 1, term, origin, inc, seq, low, proposed_term);
	enum pgr_app_verdict v = PGR_APP_FOREIGN;

	if (pgr_app_apply(st, &e, &v, NULL) != PGR_OK)
		return PGR_APP_FOREIGN;
	return v;
}

static void
test_state_counts_only_first_copies_proposed_in_their_term(void)
{
	uint8_t b[PGR_ENVELOPE_SIZE + 1];
	struct pgr_entry e;
	struct pgr_entry noop = {1, 1, PGR_ENTRY_NORMAL, 0, NULL};
	enum pgr_app_verdict v;
	uint64_t idx = 0;
	struct pgr_call_id id = {2, 9, 1};

	pgr_app_state_init(&st_a);
	CHECK_EQ(pgr_app_apply(&st_a, &noop, &v, NULL), PGR_OK);
	CHECK_EQ(v, PGR_APP_NOOP);
	CHECK_EQ(apply_call(&st_a, 1, 2, 9, 1, 1, 1), PGR_APP_DATA);
	CHECK_EQ(apply_call(&st_a, 2, 2, 9, 1, 1, 2), PGR_APP_DUPLICATE);  /* again */
	CHECK_EQ(apply_call(&st_a, 2, 2, 9, 2, 1, 1), PGR_APP_SUPERSEDED); /* other term */
	CHECK_EQ(st_a.entries_counted, 1);
	CHECK_EQ(st_a.applied, 4);
	CHECK_EQ(st_a.applied_term, 2);
	/* out of order, or going back in term, is refused and changes nothing */
	e = data_entry(b, 9, 2, 2, 9, 3, 1, 2);
	CHECK_EQ(pgr_app_apply(&st_a, &e, &v, NULL), PGR_EINVAL);
	e = data_entry(b, 5, 1, 2, 9, 3, 1, 1);
	CHECK_EQ(pgr_app_apply(&st_a, &e, &v, NULL), PGR_EINVAL);
	CHECK_EQ(st_a.applied, 4);
	CHECK_EQ(pgr_app_find_call(&st_a, &id, &idx), PGR_OK);
	CHECK_EQ(idx, 2);
	id.seq = 2; /* superseded: never counted */
	CHECK_EQ(pgr_app_find_call(&st_a, &id, &idx), PGR_ENOENT);
	id.origin = 3; /* an origin never seen */
	CHECK_EQ(pgr_app_find_call(&st_a, &id, &idx), PGR_ENOENT);
}

/*
 * A copy of a call that has ended never counts: behind the origin's low
 * watermark, or of an incarnation older than the latest seen.  A full
 * session forgets its lowest counted call and moves the watermark past it.
 */
static void
test_state_voids_copies_of_ended_calls(void)
{
	struct pgr_call_id id = {4, 2, 1};
	uint64_t idx;

	pgr_app_state_init(&st_a);
	CHECK_EQ(apply_call(&st_a, 1, 4, 2, 1, 1, 1), PGR_APP_DATA);
	CHECK_EQ(apply_call(&st_a, 1, 4, 2, 3, 1, 1), PGR_APP_DATA);
	/* calls below 3 have ended at the origin: a late copy of 2 is void */
	CHECK_EQ(apply_call(&st_a, 1, 4, 2, 5, 3, 1), PGR_APP_DATA);
	CHECK_EQ(apply_call(&st_a, 1, 4, 2, 2, 1, 1), PGR_APP_EXPIRED);
	CHECK_EQ(apply_call(&st_a, 1, 4, 2, 3, 1, 1), PGR_APP_DUPLICATE);
	CHECK_EQ(pgr_app_find_call(&st_a, &id, &idx), PGR_ECOMPACTED);
	/* the origin restarted: every call of incarnation 2 has ended */
	CHECK_EQ(apply_call(&st_a, 1, 4, 3, 1, 1, 1), PGR_APP_DATA);
	CHECK_EQ(apply_call(&st_a, 1, 4, 2, 9, 9, 1), PGR_APP_EXPIRED);
	id.incarnation = 3;
	CHECK_EQ(pgr_app_find_call(&st_a, &id, &idx), PGR_OK);
	id.incarnation = 4; /* a newer start: nothing of it yet */
	CHECK_EQ(pgr_app_find_call(&st_a, &id, &idx), PGR_ENOENT);
	CHECK_EQ(st_a.entries_counted, 4);

	/* a full session forgets its lowest call; what is below can never count */
	pgr_app_state_init(&st_a);
	CHECK_EQ(apply_call(&st_a, 1, 5, 1, 1000, 1, 1), PGR_APP_DATA);
	for (uint64_t seq = 2; seq <= PGR_APP_SESSION_CALLS + 1; seq++)
		CHECK_EQ(apply_call(&st_a, 1, 5, 1, seq, 1, 1), PGR_APP_DATA);
	CHECK_EQ(st_a.sessions[0].low, 3);
	CHECK_EQ(apply_call(&st_a, 1, 5, 1, 1, 1, 1), PGR_APP_EXPIRED);
	CHECK_EQ(apply_call(&st_a, 1, 5, 1, 1000, 1, 1), PGR_APP_DUPLICATE);
}

static void
test_state_survives_encoding_and_refuses_damage(void)
{
	static uint8_t enc[PGR_APP_STATE_MAX];
	size_t len;
	struct pgr_snapshot_meta meta;
	uint64_t i;
	const uint8_t *kv;
	size_t kv_len;

	pgr_app_state_init(&st_a);
	for (i = 1; i <= 200; i++)
		(void) apply_call(&st_a, 1 + i / 50, 1 + i % 3, 4, i, i > 30 ? i - 30 : 1, 1 + i / 50);
	memset(&meta, 0, sizeof(meta));
	meta.index = st_a.applied;
	meta.term = st_a.applied_term;
	meta.config.n_members = 1;
	meta.config.members[0].id = 1;
	pgr_app_state_encode(&st_a, NULL, enc, &len);
	CHECK_EQ(len, pgr_app_state_encoded_size(&st_a, NULL));
	CHECK(len <= PGR_APP_STATE_MAX);
	CHECK_EQ(pgr_app_state_decode(enc, len, &meta, &st_b, &kv, &kv_len), PGR_OK);
	CHECK(kv == NULL);
	CHECK_EQ(kv_len, 0);
	CHECK_EQ(st_b.entries_counted, st_a.entries_counted);
	CHECK_EQ(st_b.n_sessions, 3);
	for (uint64_t seq = 1; seq <= 200; seq++)
	{
		struct pgr_call_id id = {1 + seq % 3, 4, seq};
		uint64_t ia = 0, ib = 0;

		CHECK_EQ(pgr_app_find_call(&st_b, &id, &ib), pgr_app_find_call(&st_a, &id, &ia));
		CHECK_EQ(ib, ia);
	}
	/* every truncation and a snapshot of another index are refused */
	for (size_t cut = 0; cut < len; cut += 7)
		CHECK_EQ(pgr_app_state_decode(enc, cut, &meta, &st_b, &kv, &kv_len), PGR_ECORRUPT);
	meta.index++;
	CHECK_EQ(pgr_app_state_decode(enc, len, &meta, &st_b, &kv, &kv_len), PGR_ECORRUPT);
	meta.index--;
	/* version 2: no store after the sessions */
	enc[4] = 2;
	CHECK_EQ(pgr_app_state_decode(enc, len - 8, &meta, &st_b, &kv, &kv_len), PGR_OK);
	CHECK_EQ(st_b.n_sessions, 3);
	CHECK_EQ(kv_len, 0);
	CHECK_EQ(pgr_app_state_decode(enc, len, &meta, &st_b, &kv, &kv_len), PGR_ECORRUPT);
	enc[4] = 3;
	/* with a store: it comes back whole, and a store's length that lies is refused */
	{
		struct pgr_kv *store_a, *store_b;
		struct pgr_kv_op op = {0};
		struct pgr_kv_txn t = {0};
		uint8_t cmd[128];
		size_t cmd_len;
		struct pgr_kv_result res;
		uint8_t *big;

		op.type = PGR_KV_PUT;
		op.key = (const uint8_t *) "k";
		op.key_len = 1;
		op.value = (const uint8_t *) "v";
		op.value_len = 1;
		t.n_success = 1;
		t.success = &op;
		CHECK_EQ(pgr_kv_new(&pgr_libc_allocator, 0, &store_a), PGR_OK);
		CHECK_EQ(pgr_kv_new(&pgr_libc_allocator, 0, &store_b), PGR_OK);
		CHECK_EQ(pgr_kv_encode_txn(&t, cmd, sizeof(cmd), &cmd_len), PGR_OK);
		CHECK_EQ(pgr_kv_apply(store_a, 7, cmd, cmd_len, &res), PGR_OK);
		big = malloc(pgr_app_state_encoded_size(&st_a, store_a));
		pgr_app_state_encode(&st_a, store_a, big, &len);
		CHECK_EQ(len, pgr_app_state_encoded_size(&st_a, store_a));
		CHECK_EQ(pgr_app_state_decode(big, len, &meta, &st_b, &kv, &kv_len), PGR_OK);
		CHECK_EQ(kv_len, pgr_kv_encoded_size(store_a));
		CHECK_EQ(pgr_kv_decode(store_b, kv, kv_len), PGR_OK);
		CHECK_EQ(pgr_kv_digest(store_b), pgr_kv_digest(store_a));
		CHECK_EQ(pgr_app_state_decode(big, len - 1, &meta, &st_b, &kv, &kv_len), PGR_ECORRUPT);
		free(big);
		pgr_kv_free(store_a);
		pgr_kv_free(store_b);
	}
	/* version 1: the count only, every session forgotten */
	{
		uint8_t v1[16] = {'P', 'G', 'R', 'S', 1, 0, 0, 0, 33};
		struct pgr_call_id id = {1, 4, 3};
		uint64_t ix;

		meta.index = 500;
		CHECK_EQ(pgr_app_state_decode(v1, sizeof(v1), &meta, &st_b, &kv, &kv_len), PGR_OK);
		CHECK_EQ(st_b.entries_counted, 33);
		CHECK_EQ(pgr_app_find_call(&st_b, &id, &ix), PGR_EUNAVAILABLE);
	}
}

/* ---------------------------------------------------------------------- */
/* Appends                                                                */
/* ---------------------------------------------------------------------- */

static void
test_append_on_leader_and_follower_end_ok_with_their_index_everywhere(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d1, *d2;
	uint64_t idx = 0;

	CHECK_EQ(ac_leader(w), 1);
	CHECK_EQ(ac_append(w, 1, 1, "on-leader", 5000), PGR_OK);
	CHECK_EQ(ac_append(w, 2, 1, "on-follower", 5000), PGR_OK);
	ac_run(w);
	ac_tick(w, 3);
	d1 = ac_done(w, 1, 1);
	d2 = ac_done(w, 2, 1);
	CHECK(d1 != NULL && d2 != NULL);
	CHECK_EQ(d1->outcome, PGR_CALL_OK);
	CHECK_EQ(d2->outcome, PGR_CALL_OK);
	for (uint64_t id = 1; id <= 3; id++)
	{
		CHECK_EQ(ac_count_data(w, id, "on-leader", &idx), 1);
		CHECK_EQ(idx, d1->index);
		CHECK_EQ(ac_count_data(w, id, "on-follower", &idx), 1);
		CHECK_EQ(idx, d2->index);
	}
	ac_free(w);
}

/*
 * Issue 7, scenario 3: a forwarded append whose message is lost while the
 * term stays the same used to wait forever.  It now ends at its deadline,
 * as UNKNOWN (the message might have been delayed, not lost), and nothing
 * is ever appended by it once it has ended.
 */
static void
test_forwarded_append_lost_in_a_stable_term_ends_unknown_at_its_deadline(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;

	w->drop_type[PGR_MSG_PROP] = true;
	CHECK_EQ(ac_append(w, 2, 7, "lost", 300), PGR_OK);
	ac_tick(w, 20);
	CHECK(ac_done(w, 2, 7) == NULL);
	ac_tick(w, 15);
	d = ac_done(w, 2, 7);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_UNKNOWN);
	CHECK_EQ(d->reason, PGR_CALL_TIMEOUT);
	CHECK_EQ(ac_count_data(w, 1, "lost", NULL), 0);
	ac_free(w);
}

/* No leader from start to deadline: nothing was proposed, a definite failure. */
static void
test_append_without_leader_fails_definitely_at_its_deadline(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;

	/* node 3 alone: it loses its leader and never finds another */
	for (uint64_t o = 1; o <= 2; o++)
	{
		ac_cut(w, o, 3, true);
		ac_cut(w, 3, o, true);
	}
	ac_tick(w, 40);
	{
		struct pgr_status s;

		pgr_node_status(w->n[3].node, &s);
		if (s.leader != PGR_NONE)
		{
			/* still trusting the old leader: the proposal would be "sent" */
			ac_tick(w, 40);
			pgr_node_status(w->n[3].node, &s);
		}
		CHECK_EQ(s.leader, PGR_NONE);
	}
	CHECK_EQ(ac_append(w, 3, 1, "nobody", 200), PGR_OK);
	ac_tick(w, 25);
	d = ac_done(w, 3, 1);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_FAILED);
	CHECK_EQ(d->reason, PGR_CALL_TIMEOUT);
	ac_free(w);
}

/*
 * An append forwarded to a leader that loses leadership before appending
 * it: the old term ends without its entry, so it is proposed again in the
 * new term and ends OK, with exactly one counting copy in the log.
 */
static void
test_append_reproposed_after_leader_change_counts_once(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;
	uint64_t lead;

	w->drop_type[PGR_MSG_PROP] = true;
	CHECK_EQ(ac_append(w, 3, 5, "again", 10000), PGR_OK);
	ac_run(w);
	w->drop_type[PGR_MSG_PROP] = false;
	/* depose node 1: cut it off until another leader commits its no-op */
	for (uint64_t o = 2; o <= 3; o++)
	{
		ac_cut(w, 1, o, true);
		ac_cut(w, o, 1, true);
	}
	for (int i = 0; i < 100 && ((lead = ac_leader(w)) == 1 || lead == 0); i++)
		ac_tick(w, 1);
	CHECK(lead == 2 || lead == 3);
	ac_tick(w, 10);
	d = ac_done(w, 3, 5);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	CHECK_EQ(ac_count_data(w, lead, "again", NULL), 1);
	ac_free(w);
}

/* With a term fence, the same race is a definite failure instead. */
static void
test_fenced_append_fails_when_its_term_passes(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;
	struct pgr_call_spec sp;
	struct pgr_status s;

	pgr_node_status(w->n[3].node, &s);
	memset(&sp, 0, sizeof(sp));
	sp.kind = PGR_CALL_APPEND;
	sp.deadline = w->now + 10000;
	sp.payload = (const uint8_t *) "fenced";
	sp.len = 6;
	sp.expect_term = s.term;
	w->drop_type[PGR_MSG_PROP] = true;
	CHECK_EQ(pgr_calls_start(&w->n[3].calls, 9, &sp), PGR_OK);
	ac_run(w);
	w->drop_type[PGR_MSG_PROP] = false;
	for (uint64_t o = 2; o <= 3; o++)
	{
		ac_cut(w, 1, o, true);
		ac_cut(w, o, 1, true);
	}
	ac_tick(w, 60);
	d = ac_done(w, 3, 9);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_FAILED);
	CHECK_EQ(d->reason, PGR_CALL_TERM_CHANGED);
	ac_free(w);
}

/*
 * Issue 7, scenario 4: an entry forwarded by the previous incarnation of a
 * worker commits after the restart.  It must not finish the new
 * incarnation's call that happens to have the same sequence number: ids
 * carry the incarnation.
 */
static void
test_entry_of_a_previous_incarnation_never_finishes_a_new_call(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;
	uint64_t ix = 0, iy = 0;

	w->hold = true; /* X's proposal stays in the queue */
	CHECK_EQ(ac_append(w, 2, 1, "X", 5000), PGR_OK);
	ac_run(w);
	ac_restart_calls(w, 2, w->n[2].incarnation + 1);
	CHECK_EQ(ac_append(w, 2, 1, "Y", 5000), PGR_OK); /* seq 1 again */
	w->hold = false;
	ac_run(w);
	ac_tick(w, 3);
	d = ac_done(w, 2, 1);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	CHECK_EQ(ac_count_data(w, 2, "X", &ix), 1);
	CHECK_EQ(ac_count_data(w, 2, "Y", &iy), 1);
	CHECK_EQ(d->index, iy);
	CHECK(ix != iy);
	CHECK_EQ(w->n[2].n_done, 1);
	ac_free(w);
}

/*
 * Issue 7, scenario 5: a follower with a pending forwarded append catches
 * up by snapshot; the entry is inside the snapshot, so the follower never
 * applies it.  The snapshot's application state still names the call, and
 * the call ends OK at the right index (it used to end "not appended", and
 * a retry then wrote it twice).
 */
static void
test_snapshot_covering_a_pending_append_ends_it_ok_at_its_index(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;
	uint64_t idx = 0;

	ac_cut(w, 1, 3, true); /* the leader no longer reaches node 3 */
	CHECK_EQ(ac_append(w, 3, 4, "inside", 100000), PGR_OK);
	ac_run(w);
	ac_tick(w, 2);
	CHECK_EQ(ac_count_data(w, 1, "inside", &idx), 1);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(ac_append(w, 1, 10 + i, "more", 100000), PGR_OK);
	ac_tick(w, 2);
	CHECK_EQ(ac_compact(w, 1), PGR_OK);
	CHECK(ac_done(w, 3, 4) == NULL);
	ac_cut(w, 1, 3, false);
	ac_tick(w, 5);
	CHECK(w->n[3].snapshots > 0);
	d = ac_done(w, 3, 4);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	CHECK_EQ(d->index, idx);
	ac_free(w);
}

/*
 * Issue 7, scenario 6: a lone voter commits its entries before they are on
 * its disk (its own vote is the majority; the core persists them in the
 * same batch).  What SQL shows (pgraft_log_get_entries, the published
 * commit index) is therefore bounded by what the application has APPLIED,
 * which happens only after the batch's persist: the core's commit index is
 * the wrong bound, and this shows it.
 */
static void
test_lone_voter_shows_only_what_it_applied(void)
{
	struct ac *w = ac_cluster(1);
	struct ac_node *an = &w->n[1];
	struct pgr_status s;
	struct pgr_ready rd;
	uint64_t idx;
	uint8_t data[PGR_ENVELOPE_SIZE + 1] = {0};

	CHECK_EQ(pgr_node_propose(an->node, data, sizeof(data), &idx), PGR_OK);
	pgr_node_status(an->node, &s);
	CHECK_EQ(s.commit, idx);      /* committed by its own vote... */
	CHECK(an->app.applied < idx); /* ...not applied, as it is not durable */
	CHECK_EQ(pgr_node_ready(an->node, &rd), PGR_OK);
	CHECK_EQ(rd.n_entries, 1); /* this batch is what makes it durable */
	CHECK_EQ(rd.n_committed, 1);
	CHECK_EQ(pgr_app_apply_ready(&an->app, &an->calls, &rd, NULL, NULL), PGR_OK);
	CHECK_EQ(pgr_node_advance(an->node), PGR_OK);
	CHECK_EQ(an->app.applied, idx); /* visible once persisted and applied */
	ac_free(w);
}

/* A cancelled call is never reported, and says whether it was in flight. */
static void
test_cancelled_call_ends_silently(void)
{
	struct ac *w = ac_cluster(3);

	w->drop_type[PGR_MSG_PROP] = true;
	CHECK_EQ(ac_append(w, 2, 3, "cancelled", 5000), PGR_OK);
	ac_run(w);
	CHECK(pgr_calls_in_flight(&w->n[2].calls, 3));
	pgr_calls_cancel(&w->n[2].calls, 3);
	CHECK(!pgr_calls_in_flight(&w->n[2].calls, 3));
	ac_tick(w, 600);
	CHECK(ac_done(w, 2, 3) == NULL);
	CHECK_EQ(pgr_calls_pending(&w->n[2].calls), 0);
	ac_free(w);
}

/* ---------------------------------------------------------------------- */
/* Reads                                                                  */
/* ---------------------------------------------------------------------- */

static enum pgr_err
ac_read(struct ac *w, uint64_t id, uint32_t tag, uint64_t timeout_ms)
{
	struct pgr_call_spec sp;

	memset(&sp, 0, sizeof(sp));
	sp.kind = PGR_CALL_READ;
	sp.deadline = w->now + timeout_ms;
	return pgr_calls_start(&w->n[id].calls, tag, &sp);
}

/*
 * A forwarded read whose request is lost is asked again after retry_ms and
 * ends OK at an index this node has applied; one that cannot be confirmed
 * at all ends FAILED at its deadline (a read changes nothing).
 */
static void
test_read_is_retried_then_bounded_by_its_deadline(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;
	struct pgr_status s;

	w->drop_type[PGR_MSG_READ_INDEX] = true;
	CHECK_EQ(ac_read(w, 2, 1, 5000), PGR_OK);
	ac_tick(w, 3);
	CHECK(ac_done(w, 2, 1) == NULL);
	w->drop_type[PGR_MSG_READ_INDEX] = false;
	ac_tick(w, AC_ELECTION_TICK + 2);
	d = ac_done(w, 2, 1);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	pgr_node_status(w->n[2].node, &s);
	CHECK(d->index <= s.applied);
	CHECK(d->index >= 1);

	w->drop_type[PGR_MSG_READ_INDEX_RESP] = true;
	CHECK_EQ(ac_read(w, 2, 2, 250), PGR_OK);
	ac_tick(w, 30);
	d = ac_done(w, 2, 2);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_FAILED);
	CHECK_EQ(d->reason, PGR_CALL_TIMEOUT);
	ac_free(w);
}

/* ---------------------------------------------------------------------- */
/* Membership                                                             */
/* ---------------------------------------------------------------------- */

static enum pgr_err
ac_change(struct ac *w, uint64_t on, uint32_t tag, uint32_t kind, uint64_t node,
		  uint64_t timeout_ms)
{
	struct pgr_call_spec sp;
	struct pgr_member m;

	memset(&sp, 0, sizeof(sp));
	sp.kind = kind;
	sp.deadline = w->now + timeout_ms;
	sp.node_id = node;
	ac_member(&m, node);
	sp.context_len = m.context_len;
	memcpy(sp.context, m.context, m.context_len);
	return pgr_calls_start(&w->n[on].calls, tag, &sp);
}

/*
 * Issue 7, scenario 8: cut leader -> follower one way, remove node X on the
 * leader, add X on the follower.  The follower still has X in its
 * configuration and used to answer "already a member" (true) while X stayed
 * out for good.  Now the follower's answer waits for the leader's committed
 * state: with the leader unreachable it cannot get it, and says so (a
 * definite failure: it proposed nothing); once healed, the add happens.
 */
static void
test_add_on_a_follower_with_a_stale_configuration_asks_the_leader(void)
{
	struct ac *w = ac_cluster(4);
	const struct pgr_call_done *d;

	ac_cut(w, 1, 3, true);
	CHECK_EQ(ac_change(w, 1, 1, PGR_CALL_REMOVE, 4, 5000), PGR_OK);
	ac_tick(w, 3);
	d = ac_done(w, 1, 1);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	CHECK(pgr_config_find(&w->n[1].app.config, 4) == NULL);
	CHECK(pgr_config_find(&w->n[3].app.config, 4) != NULL); /* stale */

	CHECK_EQ(ac_change(w, 3, 2, PGR_CALL_ADD, 4, 300), PGR_OK);
	ac_tick(w, 3);
	CHECK(ac_done(w, 3, 2) == NULL); /* no answer from the stale view */
	ac_tick(w, 30);
	d = ac_done(w, 3, 2);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_FAILED);
	CHECK_EQ(d->reason, PGR_CALL_TIMEOUT);

	ac_cut(w, 1, 3, false);
	CHECK_EQ(ac_change(w, 3, 3, PGR_CALL_ADD, 4, 5000), PGR_OK);
	ac_tick(w, 20);
	d = ac_done(w, 3, 3);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	CHECK(pgr_config_find(&w->n[1].app.config, 4) != NULL);
	ac_free(w);
}

/* Adding an existing member at its address is done at once; a clash is not. */
static void
test_add_existing_member_is_ok_and_a_clash_fails(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;
	struct pgr_call_spec sp;

	CHECK_EQ(ac_change(w, 2, 1, PGR_CALL_ADD, 3, 5000), PGR_OK);
	ac_tick(w, 3);
	d = ac_done(w, 2, 1);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);

	memset(&sp, 0, sizeof(sp));
	sp.kind = PGR_CALL_ADD;
	sp.deadline = w->now + 5000;
	sp.node_id = 3;
	sp.context_len = 8;
	memcpy(sp.context, "other:99", 8);
	CHECK_EQ(pgr_calls_start(&w->n[2].calls, 2, &sp), PGR_OK);
	ac_tick(w, 3);
	d = ac_done(w, 2, 2);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_FAILED);
	CHECK_EQ(d->reason, PGR_CALL_ID_TAKEN);
	ac_free(w);
}

/* An add that needs a probe waits for it; a failed probe fails the call. */
static void
test_add_waits_for_its_probe(void)
{
	struct ac *w = ac_cluster(3);
	struct pgr_member m;
	struct pgr_call_spec sp;
	const struct pgr_call_spec *asked;
	const struct pgr_call_done *d;
	uint32_t tag;

	memset(&sp, 0, sizeof(sp));
	ac_member(&m, 4);
	sp.kind = PGR_CALL_ADD;
	sp.deadline = w->now + 5000;
	sp.node_id = 4;
	sp.context_len = m.context_len;
	memcpy(sp.context, m.context, m.context_len);
	sp.probe = true;
	CHECK_EQ(pgr_calls_start(&w->n[1].calls, 1, &sp), PGR_OK);
	sp.node_id = 5;
	sp.context[0] = 'X';
	CHECK_EQ(pgr_calls_start(&w->n[1].calls, 2, &sp), PGR_OK);
	ac_tick(w, 2);
	CHECK(pgr_calls_next_probe(&w->n[1].calls, &tag, &asked));
	CHECK(pgr_calls_next_probe(&w->n[1].calls, &tag, &asked));
	CHECK(!pgr_calls_next_probe(&w->n[1].calls, &tag, &asked));
	CHECK(pgr_config_find(&w->n[1].app.config, 4) == NULL);
	pgr_calls_probe_done(&w->n[1].calls, 2, false, "could not connect");
	pgr_calls_probe_done(&w->n[1].calls, 1, true, NULL);
	ac_tick(w, 3);
	d = ac_done(w, 1, 1);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	CHECK(pgr_config_find(&w->n[1].app.config, 4) != NULL);
	d = ac_done(w, 1, 2);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_FAILED);
	CHECK_EQ(d->reason, PGR_CALL_PROBE_FAILED);
	CHECK(strcmp(d->detail, "could not connect") == 0);
	ac_free(w);
}

/*
 * Issue 7, scenario 10: a removal called when no leader was reachable and
 * cancelled by its caller went on by itself.  Cancelled, it stops: it is
 * never proposed later.
 */
static void
test_cancelled_removal_never_happens_later(void)
{
	struct ac *w = ac_cluster(3);

	for (uint64_t o = 1; o <= 2; o++)
	{
		ac_cut(w, o, 3, true);
		ac_cut(w, 3, o, true);
	}
	ac_tick(w, 80);
	CHECK_EQ(ac_change(w, 3, 1, PGR_CALL_REMOVE, 2, 60000), PGR_OK);
	ac_tick(w, 10);
	CHECK(!pgr_calls_in_flight(&w->n[3].calls, 1));
	pgr_calls_cancel(&w->n[3].calls, 1);
	for (uint64_t o = 1; o <= 2; o++)
	{
		ac_cut(w, o, 3, false);
		ac_cut(w, 3, o, false);
	}
	ac_tick(w, 200);
	CHECK(pgr_config_find(&w->n[1].app.config, 2) != NULL);
	CHECK(ac_done(w, 3, 1) == NULL);
	ac_free(w);
}

/* Removing the last voter is refused; removing a non-member says so. */
static void
test_remove_refuses_the_last_voter_and_non_members(void)
{
	struct ac *w = ac_cluster(1);
	const struct pgr_call_done *d;

	CHECK_EQ(ac_change(w, 1, 1, PGR_CALL_REMOVE, 1, 5000), PGR_OK);
	CHECK_EQ(ac_change(w, 1, 2, PGR_CALL_REMOVE, 9, 5000), PGR_OK);
	ac_tick(w, 3);
	d = ac_done(w, 1, 1);
	CHECK(d != NULL);
	CHECK_EQ(d->reason, PGR_CALL_LAST_VOTER);
	d = ac_done(w, 1, 2);
	CHECK(d != NULL);
	CHECK_EQ(d->reason, PGR_CALL_NOT_MEMBER);
	ac_free(w);
}

/* A follower removing itself leads first, so that it sees its removal commit. */
static void
test_follower_removing_itself_sees_the_outcome(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;

	CHECK_EQ(ac_change(w, 3, 1, PGR_CALL_REMOVE, 3, 10000), PGR_OK);
	ac_tick(w, 60);
	d = ac_done(w, 3, 1);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	CHECK(pgr_config_find(&w->n[1].app.config, 3) == NULL);
	ac_free(w);
}

static void
test_transfer_ends_when_the_target_leads(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;
	struct pgr_call_spec sp;

	memset(&sp, 0, sizeof(sp));
	sp.kind = PGR_CALL_TRANSFER;
	sp.deadline = w->now + 5000;
	sp.node_id = 3;
	CHECK_EQ(pgr_calls_start(&w->n[2].calls, 1, &sp), PGR_OK);
	ac_tick(w, 20);
	d = ac_done(w, 2, 1);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	CHECK_EQ(ac_leader(w), 3);
	sp.node_id = 9;
	CHECK_EQ(pgr_calls_start(&w->n[2].calls, 2, &sp), PGR_OK);
	ac_tick(w, 2);
	d = ac_done(w, 2, 2);
	CHECK(d != NULL);
	CHECK_EQ(d->reason, PGR_CALL_NOT_MEMBER);
	ac_free(w);
}

/*
 * A copy that counts while its call waits to propose again still answers
 * the call: here the leader's own append is not yet committed when its
 * retry comes, and a transfer in progress refuses the second copy (EBUSY);
 * then the first copy commits.  The call ends OK at once, at its index,
 * not later through a second copy's fate (which, voided, once ended it
 * FAILED although its data had counted: the simulator's seed 1676).
 */
static void
test_copy_counting_while_a_retry_waits_answers_the_call(void)
{
	struct ac *w = ac_cluster(3);
	const struct pgr_call_done *d;
	struct pgr_status s;
	uint64_t idx;

	ac_cut(w, 2, 1, true);
	ac_cut(w, 3, 1, true);
	CHECK_EQ(ac_append(w, 1, 1, "first", 5000), PGR_OK);
	ac_run(w);
	pgr_node_status(w->n[1].node, &s);
	idx = s.last_index;
	ac_tick(w, 3);
	w->drop_type[PGR_MSG_TIMEOUT_NOW] = true;
	CHECK_EQ(pgr_node_transfer_leadership(w->n[1].node, 2), PGR_OK);
	ac_run(w);
	ac_tick(w, AC_ELECTION_TICK - 2); /* the retry came and was refused */
	pgr_node_status(w->n[1].node, &s);
	CHECK_EQ(s.role, PGR_ROLE_LEADER);
	CHECK_EQ(s.lead_transferee, 2);
	CHECK_EQ(s.last_index, idx);
	CHECK(ac_done(w, 1, 1) == NULL);
	ac_cut(w, 2, 1, false);
	ac_cut(w, 3, 1, false);
	ac_tick(w, 1);
	pgr_node_status(w->n[1].node, &s);
	CHECK_EQ(s.lead_transferee, 2); /* still refusing proposals */
	d = ac_done(w, 1, 1);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	CHECK_EQ(d->index, idx);
	ac_free(w);
}

/* Drive a handover on node id, tick by tick, until it ends (or 100 ticks). */
static void
drive_handover(struct ac *w, uint64_t id, struct pgr_handover *h)
{
	for (int t = 0; t < 100 && h->state == PGR_HANDOVER_WAITING; t++)
	{
		CHECK_EQ(pgr_handover_drive(h, w->n[id].node, w->now), PGR_OK);
		ac_run(w);
		if (h->state == PGR_HANDOVER_WAITING)
			ac_tick(w, 1);
	}
}

/*
 * A stopping leader hands over to the successor within a few ticks, far
 * inside an election timeout; an append forwarded to it meanwhile (which
 * the transferring leader refuses) is proposed again to the new leader and
 * counts once, after the old leader is gone.
 */
static void
test_handover_hands_leadership_over_and_loses_no_write(void)
{
	struct ac *w = ac_cluster(3);
	struct pgr_handover h;
	const struct pgr_call_done *d;
	uint64_t idx;
	uint64_t t0 = w->now;

	CHECK_EQ(ac_append(w, 3, 1, "before", 5000), PGR_OK);
	ac_run(w);
	CHECK(ac_done(w, 3, 1) != NULL);
	CHECK_EQ(pgr_handover_begin(&h, w->n[2].node, w->now, AC_RETRY_MS), PGR_OK);
	CHECK_EQ(h.state, PGR_HANDOVER_NOT_LEADING);

	CHECK_EQ(pgr_handover_begin(&h, w->n[1].node, w->now, AC_RETRY_MS), PGR_OK);
	CHECK_EQ(h.state, PGR_HANDOVER_WAITING);
	CHECK(h.target == 2 || h.target == 3);
	CHECK_EQ(ac_append(w, 3, 2, "during", 5000), PGR_OK);
	drive_handover(w, 1, &h);
	CHECK_EQ(h.state, PGR_HANDOVER_DONE);
	CHECK_EQ(h.leader, h.target);
	CHECK_EQ(h.attempts, 1);
	CHECK(w->now - t0 < AC_RETRY_MS / 2);
	CHECK_EQ(ac_leader(w), h.target);

	/* node 1 stops */
	pgr_node_free(w->n[1].node);
	pgr_calls_free(&w->n[1].calls);
	w->n[1].node = NULL;
	ac_tick(w, 2 * AC_ELECTION_TICK);
	d = ac_done(w, 3, 2);
	CHECK(d != NULL);
	CHECK_EQ(d->outcome, PGR_CALL_OK);
	CHECK_EQ(ac_count_data(w, 3, "during", &idx), 1);
	CHECK_EQ(ac_count_data(w, 2, "during", &idx), 1);
	ac_free(w);
}

/*
 * A successor that never gets TimeoutNow: the core gives the transfer up
 * after an election timeout, the handover asks again, and at its deadline
 * stops anyway with this node still leading.  Alone, there is no one to
 * hand over to.
 */
static void
test_handover_asks_again_then_gives_up_at_its_deadline(void)
{
	struct ac *w = ac_cluster(3);
	struct pgr_handover h;

	w->drop_type[PGR_MSG_TIMEOUT_NOW] = true;
	CHECK_EQ(pgr_handover_begin(&h, w->n[1].node, w->now, 3 * AC_RETRY_MS), PGR_OK);
	drive_handover(w, 1, &h);
	CHECK_EQ(h.state, PGR_HANDOVER_TIMED_OUT);
	CHECK(h.attempts >= 2);
	CHECK_EQ(ac_leader(w), 1);
	ac_free(w);

	w = ac_cluster(1);
	CHECK_EQ(pgr_handover_begin(&h, w->n[1].node, w->now, AC_RETRY_MS), PGR_OK);
	CHECK_EQ(h.state, PGR_HANDOVER_NO_SUCCESSOR);
	ac_free(w);
}

static void
test_start_refuses_bad_specs_and_reused_tags(void)
{
	struct ac *w = ac_cluster(1);
	struct pgr_call_spec sp;

	memset(&sp, 0, sizeof(sp));
	CHECK_EQ(pgr_calls_start(&w->n[1].calls, 1, &sp), PGR_EINVAL);
	sp.kind = PGR_CALL_REMOVE; /* no node */
	CHECK_EQ(pgr_calls_start(&w->n[1].calls, 1, &sp), PGR_EINVAL);
	sp.kind = PGR_CALL_APPEND;
	sp.len = 4; /* no payload */
	CHECK_EQ(pgr_calls_start(&w->n[1].calls, 1, &sp), PGR_EINVAL);
	CHECK_EQ(ac_append(w, 1, 1, "a", 1000), PGR_OK);
	CHECK_EQ(ac_append(w, 1, 1, "b", 1000), PGR_EINVAL);
	for (uint32_t t = 2; t <= PGR_CALLS_MAX; t++)
		CHECK_EQ(ac_append(w, 1, t, "c", 1000), PGR_OK);
	CHECK_EQ(ac_append(w, 1, PGR_CALLS_MAX + 1, "d", 1000), PGR_EBUSY);
	ac_free(w);
}

/*
 * What the store applies: only an entry that counts, in a key-value
 * envelope.  The same command bytes appended as data, a repeat, a voided
 * copy, a configuration entry or bare bytes are never a command.
 */
static void
test_only_counting_key_value_envelopes_are_commands(void)
{
	uint8_t cmd[PGR_KV_LEASE_CMD_SIZE];
	uint8_t buf[PGR_ENVELOPE_SIZE + PGR_KV_LEASE_CMD_SIZE];
	struct pgr_call_id id = {1, 2, 3};
	struct pgr_entry e = {1, 5, PGR_ENTRY_NORMAL, sizeof(buf), buf};
	static const enum pgr_app_verdict voided[] = {PGR_APP_NOOP,       PGR_APP_CONFIG,
												  PGR_APP_SUPERSEDED, PGR_APP_DUPLICATE,
												  PGR_APP_EXPIRED,    PGR_APP_FOREIGN};
	const uint8_t *got = NULL;
	uint32_t len = 0;

	pgr_kv_encode_grant(1000, cmd);
	pgr_envelope_write(buf, &id, 1, 1, PGR_PAYLOAD_KV);
	memcpy(buf + PGR_ENVELOPE_SIZE, cmd, sizeof(cmd));
	CHECK(pgr_app_kv_command(&e, PGR_APP_DATA, &got, &len));
	CHECK_EQ(len, sizeof(cmd));
	CHECK(memcmp(got, cmd, sizeof(cmd)) == 0);
	for (size_t i = 0; i < sizeof(voided) / sizeof(voided[0]); i++)
		CHECK(!pgr_app_kv_command(&e, voided[i], &got, &len));
	e.type = PGR_ENTRY_CONFIG;
	CHECK(!pgr_app_kv_command(&e, PGR_APP_DATA, &got, &len));
	e.type = PGR_ENTRY_NORMAL;
	pgr_envelope_write(buf, &id, 1, 1, PGR_PAYLOAD_DATA); /* the same bytes, appended */
	CHECK(!pgr_app_kv_command(&e, PGR_APP_DATA, &got, &len));
	e.data = cmd; /* bare bytes */
	e.len = sizeof(cmd);
	CHECK(!pgr_app_kv_command(&e, PGR_APP_DATA, &got, &len));
}

static const struct test_case cases[] = {
	TEST(test_envelope_round_trips_and_reads_version_1),
	TEST(test_only_counting_key_value_envelopes_are_commands),
	TEST(test_state_counts_only_first_copies_proposed_in_their_term),
	TEST(test_state_voids_copies_of_ended_calls),
	TEST(test_state_survives_encoding_and_refuses_damage),
	TEST(test_append_on_leader_and_follower_end_ok_with_their_index_everywhere),
	TEST(test_forwarded_append_lost_in_a_stable_term_ends_unknown_at_its_deadline),
	TEST(test_append_without_leader_fails_definitely_at_its_deadline),
	TEST(test_append_reproposed_after_leader_change_counts_once),
	TEST(test_fenced_append_fails_when_its_term_passes),
	TEST(test_entry_of_a_previous_incarnation_never_finishes_a_new_call),
	TEST(test_snapshot_covering_a_pending_append_ends_it_ok_at_its_index),
	TEST(test_lone_voter_shows_only_what_it_applied),
	TEST(test_cancelled_call_ends_silently),
	TEST(test_read_is_retried_then_bounded_by_its_deadline),
	TEST(test_add_on_a_follower_with_a_stale_configuration_asks_the_leader),
	TEST(test_add_existing_member_is_ok_and_a_clash_fails),
	TEST(test_add_waits_for_its_probe),
	TEST(test_cancelled_removal_never_happens_later),
	TEST(test_remove_refuses_the_last_voter_and_non_members),
	TEST(test_follower_removing_itself_sees_the_outcome),
	TEST(test_transfer_ends_when_the_target_leads),
	TEST(test_start_refuses_bad_specs_and_reused_tags),
	TEST(test_copy_counting_while_a_retry_waits_answers_the_call),
	TEST(test_handover_hands_leadership_over_and_loses_no_write),
	TEST(test_handover_asks_again_then_gives_up_at_its_deadline),
};

TEST_MAIN(cases)
