/*-------------------------------------------------------------------------
 *
 * workload.c
 *		What happens to the cluster from outside: client operations
 *		(proposals, membership changes, leadership transfers, compactions,
 *		reads, forced campaigns) and faults (crashes, restarts, partitions).
 *
 * Each seed weighs the operations and faults differently (see sim.c), so
 * the seed range covers calm clusters as well as election storms.  Some
 * faults are aimed at the windows where a broken core shows itself:
 *  - crashing a node right after it persisted a vote grant, then restarting
 *	  it while other candidates' requests of that term are still in flight
 *	  (a forgotten vote lets it vote twice: two leaders in one term);
 *  - isolating the leader, so that a stale minority keeps campaigning and
 *	  meets up-to-date nodes again (the up-to-date vote check);
 *  - crashing leaders while small messages replicate old-term entries
 *	  piecemeal (the Figure 8 commitment rule).
 *
 * Membership: added members get fresh ids and start empty (zeroed restore,
 * no bootstrap); a member removed by a committed configuration is stopped
 * a little later.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/sim/workload.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"

/* A uniformly random node in the given state, or NULL. */
static struct sim_node *
sim_pick_node(struct sim_cluster *c, enum sim_node_state state)
{
	uint64_t ids[SIM_MAX_IDS];
	size_t n = 0;

	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
		if (c->nodes[id].state == state)
			ids[n++] = id;
	if (n == 0)
		return NULL;
	return &c->nodes[ids[sim_rng_below(&c->rng, n)]];
}

/* The live leader with the highest term, or NULL. */
struct sim_node *
sim_find_leader(struct sim_cluster *c)
{
	struct sim_node *best = NULL;
	uint64_t best_term = 0;

	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
	{
		struct sim_node *sn = &c->nodes[id];
		struct pgr_status s;

		if (sn->state != SIM_NODE_UP)
			continue;
		pgr_node_status(sn->node, &s);
		if (s.role == PGR_ROLE_LEADER && s.term > best_term)
		{
			best = sn;
			best_term = s.term;
		}
	}
	return best;
}

/* The leader half the time, any live node otherwise (it forwards). */
static struct sim_node *
sim_pick_target(struct sim_cluster *c)
{
	struct sim_node *sn = NULL;

	if (sim_rng_chance(&c->rng, 500000))
		sn = sim_find_leader(c);
	return sn ? sn : sim_pick_node(c, SIM_NODE_UP);
}

/* ---------------------------------------------------------------------- */
/* Client operations                                                      */
/* ---------------------------------------------------------------------- */

/* Payloads: a sequence number then random bytes, never empty. */
static uint32_t
sim_payload(struct sim_cluster *c, uint8_t *buf)
{
	uint32_t len = 8 + (uint32_t) sim_rng_below(&c->rng, c->p.payload_max + 1);
	uint64_t seq = ++c->next_prop;

	memcpy(buf, &seq, 8);
	for (uint32_t i = 8; i < len; i++)
		buf[i] = (uint8_t) sim_rng_next(&c->rng);
	return len;
}

static void
sim_op_propose(struct sim_cluster *c, uint32_t count)
{
	struct sim_node *sn = sim_pick_target(c);
	uint8_t bufs[8][8 + 256];
	const uint8_t *data[8];
	uint32_t lens[8];
	uint64_t index = 0;
	struct pgr_status s;
	enum pgr_err err;

	if (sn == NULL)
		return;

	/*
	 * Clients wait for their requests instead of piling up an unbounded
	 * uncommitted backlog on one leader: with one small entry per message
	 * that backlog alone could outlast the liveness bound.
	 */
	pgr_node_status(sn->node, &s);
	if (s.last_index > s.commit + SIM_MAX_BACKLOG)
		return;
	for (uint32_t i = 0; i < count; i++)
	{
		lens[i] = sim_payload(c, bufs[i]);
		data[i] = bufs[i];
	}
	sn->alloc.armed = true;
	if (count == 1)
		err = pgr_node_propose(sn->node, data[0], lens[0], &index);
	else
		err = pgr_node_propose_batch(sn->node, data, lens, count, &index);
	sn->alloc.armed = false;
	sim_trace(c, "propose x%u on n%" PRIu64 ": %s (index %" PRIu64 ")", count, sn->id,
			  pgr_strerror(err), index);
	if (err == PGR_OK)
		c->n_proposed += count;
	sim_node_after_call(c, sn, err, "propose");
}

static void
sim_member_context(uint64_t id, struct pgr_conf_change *cc)
{
	int n = snprintf((char *) cc->context, sizeof(cc->context), "sim-node-%" PRIu64, id);

	cc->context_len = n > 0 ? (uint32_t) n : 0;
}

static void
sim_op_conf_change(struct sim_cluster *c)
{
	struct sim_node *sn = sim_pick_target(c);
	const struct pgr_config *conf;
	struct pgr_conf_change cc;
	uint64_t learners[PGR_MAX_MEMBERS];
	uint32_t n_learners = 0;
	uint64_t index = 0;
	uint64_t r;
	bool fresh = false;
	enum pgr_err err;
	static const char *const names[] = {"add-voter", "add-learner", "promote", "remove"};

	if (sn == NULL)
		return;
	conf = pgr_node_config(sn->node);
	if (conf == NULL || conf->n_members == 0)
		return;
	for (uint32_t i = 0; i < conf->n_members; i++)
		if (conf->members[i].role == PGR_MEMBER_LEARNER)
			learners[n_learners++] = conf->members[i].id;
	memset(&cc, 0, sizeof(cc));
	r = sim_rng_below(&c->rng, 10);
	if (r < 4 && conf->n_members < SIM_MAX_MEMBERS && c->next_id < SIM_MAX_IDS)
	{
		/* Mostly learners first, as an operator would; sometimes a voter. */
		cc.type = r == 0 ? PGR_CC_ADD_VOTER : PGR_CC_ADD_LEARNER;
		cc.node_id = c->next_id;
		sim_member_context(cc.node_id, &cc);
		fresh = true;
	}
	else if (r < 7 && n_learners > 0)
	{
		cc.type = PGR_CC_PROMOTE;
		cc.node_id = learners[sim_rng_below(&c->rng, n_learners)];
	}
	else
	{
		cc.type = PGR_CC_REMOVE;
		cc.node_id = conf->members[sim_rng_below(&c->rng, conf->n_members)].id;
	}
	sn->alloc.armed = true;
	err = pgr_node_propose_conf_change(sn->node, &cc, &index);
	sn->alloc.armed = false;
	sim_trace(c, "conf change %s n%" PRIu64 " on n%" PRIu64 ": %s (index %" PRIu64 ")",
			  names[cc.type], cc.node_id, sn->id, pgr_strerror(err), index);
	sim_node_after_call(c, sn, err, "conf change");
	if (err == PGR_OK && fresh)
	{
		/* A brand-new node: empty, waiting for the leader to contact it. */
		c->next_id++;
		sim_node_create(c, cc.node_id, false, NULL);
	}
}

static void
sim_op_transfer(struct sim_cluster *c)
{
	struct sim_node *sn = sim_pick_target(c);
	const struct pgr_config *conf;
	uint64_t target;
	enum pgr_err err;

	if (sn == NULL)
		return;
	conf = pgr_node_config(sn->node);
	if (conf == NULL || conf->n_members == 0)
		return;
	target = conf->members[sim_rng_below(&c->rng, conf->n_members)].id;
	sn->alloc.armed = true;
	err = pgr_node_transfer_leadership(sn->node, target);
	sn->alloc.armed = false;
	sim_trace(c, "transfer to n%" PRIu64 " on n%" PRIu64 ": %s", target, sn->id, pgr_strerror(err));
	sim_node_after_call(c, sn, err, "transfer");
}

static void
sim_op_read(struct sim_cluster *c)
{
	struct sim_node *sn = sim_pick_target(c);
	uint64_t ctx;
	enum pgr_err err;

	if (sn == NULL)
		return;
	ctx = ++c->next_read_ctx;
	sim_check_read_issued(c, sn->id, ctx);
	sn->alloc.armed = true;
	err = pgr_node_read_index(sn->node, ctx);
	sn->alloc.armed = false;
	sim_trace(c, "read %" PRIu64 " on n%" PRIu64 ": %s (commit known %" PRIu64 ")", ctx, sn->id,
			  pgr_strerror(err), c->chk.known_commit);
	sim_node_after_call(c, sn, err, "read index");
}

static void
sim_op_campaign(struct sim_cluster *c)
{
	struct sim_node *sn = sim_pick_node(c, SIM_NODE_UP);
	enum pgr_err err;

	if (sn == NULL)
		return;
	sn->alloc.armed = true;
	err = pgr_node_campaign(sn->node);
	sn->alloc.armed = false;
	sim_trace(c, "campaign on n%" PRIu64 ": %s", sn->id, pgr_strerror(err));
	sim_node_after_call(c, sn, err, "campaign");
}

static uint32_t
sim_pick_weighted(struct sim_cluster *c, const uint32_t *w, uint32_t n)
{
	uint64_t total = 0, r;

	for (uint32_t i = 0; i < n; i++)
		total += w[i];
	r = sim_rng_below(&c->rng, total);
	for (uint32_t i = 0; i < n; i++)
	{
		if (r < w[i])
			return i;
		r -= w[i];
	}
	return 0;
}

void
sim_client_op(struct sim_cluster *c)
{
	switch (sim_pick_weighted(c, c->p.op_weight, SIM_OP_COUNT))
	{
		case SIM_OP_PROPOSE:
			sim_op_propose(c, 1);
			break;
		case SIM_OP_PROPOSE_BATCH:
			sim_op_propose(c, (uint32_t) sim_rng_range(&c->rng, 2, 8));
			break;
		case SIM_OP_CONF_CHANGE:
			sim_op_conf_change(c);
			break;
		case SIM_OP_TRANSFER:
			sim_op_transfer(c);
			break;
		case SIM_OP_COMPACT:
		{
			struct sim_node *sn = sim_pick_node(c, SIM_NODE_UP);

			if (sn != NULL)
				sim_node_compact(c, sn);
			break;
		}
		case SIM_OP_READ:
			sim_op_read(c);
			break;
		case SIM_OP_CAMPAIGN:
			sim_op_campaign(c);
			break;
		case SIM_OP_CALL_APPEND:
			sim_calls_op(c, PGR_CALL_APPEND);
			break;
		case SIM_OP_CALL_READ:
			sim_calls_op(c, PGR_CALL_READ);
			break;
	}
}

/* ---------------------------------------------------------------------- */
/* Faults                                                                 */
/* ---------------------------------------------------------------------- */

static void
sim_block(struct sim_cluster *c, uint64_t from, uint64_t to, uint64_t until)
{
	if (from < SIM_MAX_IDS && to < SIM_MAX_IDS && from != to)
		c->net.blocked_until[from][to] = until;
}

/* Split the nodes in two random groups; `alone` isolates one node. */
static void
sim_partition(struct sim_cluster *c, uint64_t alone)
{
	bool side[SIM_MAX_IDS];
	uint64_t until = c->now + sim_rng_range(&c->rng, 50, c->p.partition_max_ms);
	char desc[SIM_MAX_IDS * 4 + 8];
	int n = 0;

	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
		side[id] = alone ? id == alone : sim_rng_chance(&c->rng, 500000);
	for (uint64_t a = 1; a < SIM_MAX_IDS; a++)
		for (uint64_t b = 1; b < SIM_MAX_IDS; b++)
			if (side[a] != side[b])
				sim_block(c, a, b, until);
	desc[0] = '\0';
	for (uint64_t id = 1; id < SIM_MAX_IDS && n < (int) sizeof(desc) - 4; id++)
		if (side[id] && c->nodes[id].state != SIM_NODE_UNUSED)
			n += snprintf(desc + n, sizeof(desc) - (size_t) n, " %" PRIu64, id);
	sim_trace(c, "PARTITION {%s } from the rest until %" PRIu64, desc, until);

	/* The transport notices broken connections; tell some of the nodes. */
	for (uint64_t a = 1; a < SIM_MAX_IDS; a++)
	{
		if (c->nodes[a].state != SIM_NODE_UP || !sim_rng_chance(&c->rng, 300000))
			continue;
		for (uint64_t b = 1; b < SIM_MAX_IDS; b++)
			if (side[a] != side[b] && c->nodes[b].state != SIM_NODE_UNUSED)
				sim_net_report(c, SIM_FLIGHT_RESET, b, a);
	}
}

void
sim_fault(struct sim_cluster *c)
{
	struct sim_node *sn;

	switch (sim_pick_weighted(c, c->p.fault_weight, SIM_FAULT_COUNT))
	{
		case SIM_FAULT_CRASH:
			if ((sn = sim_pick_node(c, SIM_NODE_UP)) != NULL)
				sim_node_crash(c, sn, SIM_CRASH_PROCESS, "kill -9");
			break;
		case SIM_FAULT_POWER_LOSS:
			if ((sn = sim_pick_node(c, SIM_NODE_UP)) != NULL)
				sim_node_crash(c, sn, SIM_CRASH_POWER, "power loss");
			break;
		case SIM_FAULT_CRASH_LEADER:
			if ((sn = sim_find_leader(c)) != NULL)
				sim_node_crash(c, sn, sim_crash_kind_pick(c), "leader fault");
			break;
		case SIM_FAULT_MIDCRASH:
			if ((sn = sim_pick_node(c, SIM_NODE_UP)) != NULL)
			{
				sn->midcrash = SIM_MIDCRASH_NEXT_SEND;
				sim_trace(c, "arm n%" PRIu64 ": crash after its next persist", sn->id);
			}
			break;
		case SIM_FAULT_VOTE_CRASH:
			if ((sn = sim_pick_node(c, SIM_NODE_UP)) != NULL)
			{
				sn->midcrash = SIM_MIDCRASH_AFTER_VOTE;
				sim_trace(c, "arm n%" PRIu64 ": crash after its next vote", sn->id);
			}
			break;
		case SIM_FAULT_RESTART:
			if ((sn = sim_pick_node(c, SIM_NODE_DOWN)) != NULL)
				sim_node_restart(c, sn);
			break;
		case SIM_FAULT_PARTITION:
			sim_partition(c, 0);
			break;
		case SIM_FAULT_ISOLATE_LEADER:
			if ((sn = sim_find_leader(c)) != NULL)
				sim_partition(c, sn->id);
			break;
		case SIM_FAULT_ONE_WAY:
		{
			uint64_t a = sim_rng_range(&c->rng, 1, c->next_id - 1);
			uint64_t b = sim_rng_range(&c->rng, 1, c->next_id - 1);
			uint64_t until = c->now + sim_rng_range(&c->rng, 50, c->p.partition_max_ms);

			if (a == b)
				b = a % (c->next_id - 1) + 1;
			if (a == b)
				break; /* a single-node cluster has no link */
			sim_block(c, a, b, until);
			sim_trace(c, "ONE-WAY drop n%" PRIu64 " -> n%" PRIu64 " until %" PRIu64, a, b, until);
			break;
		}
		case SIM_FAULT_HEAL:
			sim_net_heal(c);
			sim_trace(c, "HEAL network");
			break;
	}
}

/*
 * Short reigns: a new leader that dies a moment after winning leaves
 * entries of its term on a few nodes only.  Several of those in a row are
 * the Figure 8 situation: old-term entries on a majority, a newer
 * uncommitted entry elsewhere, and a leader tempted to count replicas.
 */
void
sim_on_new_leader(struct sim_cluster *c, struct sim_node *sn)
{
	if (!c->chaos || c->quiet || !sim_rng_chance(&c->rng, c->p.leader_crash_ppm))
		return;
	if (sim_rng_chance(&c->rng, c->storm ? 800000 : 500000))
	{
		/* Called between persist and send of its first batch: dies there. */
		sn->midcrash = SIM_MIDCRASH_NEXT_SEND;
		sim_trace(c, "n%" PRIu64 " will crash before its first messages", sn->id);
		return;
	}
	sn->crash_at = c->now + sim_rng_range(&c->rng, 1, 3 * c->net.delay_max);
	sim_trace(c, "n%" PRIu64 " will crash at %" PRIu64, sn->id, sn->crash_at);
}

/*
 * A leader whose commit index just advanced dies before the messages of
 * that batch (which carry the new commit index and the next chunks of
 * entries) are all sent: followers then hold a commitment only the dead
 * leader knew about, and whoever wins next must still have every entry.
 */
void
sim_on_leader_commit(struct sim_cluster *c, struct sim_node *sn)
{
	if (!c->chaos || c->quiet || sn->midcrash != SIM_MIDCRASH_NONE ||
		!sim_rng_chance(&c->rng, c->p.commit_crash_ppm))
		return;
	sn->midcrash = SIM_MIDCRASH_NEXT_SEND;
	sim_trace(c, "n%" PRIu64 " will crash before sending its commit", sn->id);
}

/* ---------------------------------------------------------------------- */
/* Quiet windows and false alarms                                         */
/* ---------------------------------------------------------------------- */

/*
 * A window in which no fault touches the cluster: partitions healed, no
 * loss, duplication, long delays or allocation failures, no crash or
 * restart, no client operation.  After a settling period, if one leader
 * rules every live member with its quorum up and no change or transfer in
 * flight, it must stay leader, in its term, until the window ends, while
 * the transports raise false alarms: connection resets seen by every
 * follower at once (a leader-side blip), and resets flapping on single
 * links.  That is issue 7's scenario 2: a reset used to make followers
 * forget their leader, leave its lease and elect another.
 */
static void
sim_quiet_begin(struct sim_cluster *c)
{
	uint64_t et = (uint64_t) c->p.election_tick * 11;

	c->quiet = true;
	c->saved_loss_ppm = c->net.loss_ppm;
	c->saved_dup_ppm = c->net.dup_ppm;
	c->saved_slow_ppm = c->net.slow_ppm;
	c->saved_alloc_fail_ppm = c->p.alloc_fail_ppm;
	c->net.loss_ppm = c->net.dup_ppm = c->net.slow_ppm = 0;
	c->p.alloc_fail_ppm = 0;
	sim_net_heal(c);
	/* settled once every slow message has arrived and timeouts have passed */
	c->quiet_check_at = c->now + c->net.slow_max + 6 * et;
	c->quiet_end = c->quiet_check_at + 8 * et;
	c->quiet_leader = 0;
	c->next_alarm_at = c->quiet_check_at;
	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
	{
		struct sim_node *sn = &c->nodes[id];

		sn->midcrash = SIM_MIDCRASH_NONE;
		sn->crash_at = 0;
		sn->stopping = false; /* a stop under way is called off */
		sn->alloc.fail_ppm = 0;
		if (sn->state == SIM_NODE_DOWN && sn->restart_at != 0 && sn->restart_at < c->quiet_end)
			sn->restart_at = c->quiet_end + 1;
	}
	sim_trace(c, "QUIET from now to %" PRIu64 " (checked from %" PRIu64 ")", c->quiet_end,
			  c->quiet_check_at);
}

static void
sim_quiet_end(struct sim_cluster *c)
{
	c->quiet = false;
	c->net.loss_ppm = c->saved_loss_ppm;
	c->net.dup_ppm = c->saved_dup_ppm;
	c->net.slow_ppm = c->saved_slow_ppm;
	c->p.alloc_fail_ppm = c->saved_alloc_fail_ppm;
	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
		c->nodes[id].alloc.fail_ppm = c->p.alloc_fail_ppm;
	c->next_quiet_at = c->now + sim_rng_range(&c->rng, 1, 2 * c->p.quiet_gap_ms);
	sim_trace(c, "QUIET ends");
}

/* Is there one leader with every live member behind it and nothing moving? */
static uint64_t
sim_stable_leader(struct sim_cluster *c, uint64_t *term)
{
	struct sim_node *lead = sim_find_leader(c);
	struct pgr_status ls;
	const struct pgr_config *conf;
	uint32_t up_voters = 0;

	if (lead == NULL)
		return 0;
	pgr_node_status(lead->node, &ls);
	conf = pgr_node_config(lead->node);
	if (ls.lead_transferee != PGR_NONE || ls.config_index > ls.commit ||
		pgr_config_find(conf, lead->id) == NULL)
		return 0;
	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
	{
		struct sim_node *sn = &c->nodes[id];
		struct pgr_status s;

		if (sn->state == SIM_NODE_DOWN && sn->st.hs.term > ls.term)
			return 0;
		if (sn->state != SIM_NODE_UP)
			continue;
		pgr_node_status(sn->node, &s);
		if (s.term != ls.term)
			return 0;
		if (pgr_config_find(conf, id) == NULL)
			continue;
		if (s.leader != lead->id)
			return 0;
		if (pgr_config_find(conf, id)->role == PGR_MEMBER_VOTER)
			up_voters++;
	}
	if (up_voters <= pgr_config_voters(conf) / 2)
		return 0;
	*term = ls.term;
	return lead->id;
}

/* The quiet window's scheduled moments: its start, alarms, its end. */
void
sim_quiet_step(struct sim_cluster *c)
{
	struct sim_node *lead;
	uint64_t hb = (uint64_t) c->p.heartbeat_tick * 10;

	if (!c->quiet)
	{
		sim_quiet_begin(c);
		return;
	}
	if (c->now >= c->quiet_end)
	{
		if (c->quiet_leader != 0)
			c->n_quiet_checked++;
		sim_quiet_end(c);
		return;
	}
	if (c->quiet_leader == 0 && c->now >= c->quiet_check_at &&
		c->next_alarm_at == c->quiet_check_at)
	{
		c->quiet_leader = sim_stable_leader(c, &c->quiet_term);
		sim_trace(c, "QUIET check: %s n%" PRIu64 " of term %" PRIu64,
				  c->quiet_leader ? "leader" : "no stable leader", c->quiet_leader, c->quiet_term);
	}
	c->next_alarm_at = c->now + sim_rng_range(&c->rng, 1, 3 * hb);
	lead = c->quiet_leader ? sim_node_get(c, c->quiet_leader) : NULL;
	if (lead == NULL || lead->state != SIM_NODE_UP)
		return;
	c->n_alarms++;
	if (sim_rng_chance(&c->rng, 500000))
	{
		/* a blip on the leader's side: every connection resets at once */
		for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
			if (id != lead->id && c->nodes[id].state == SIM_NODE_UP)
			{
				sim_net_report(c, SIM_FLIGHT_RESET, lead->id, id);
				sim_net_report(c, SIM_FLIGHT_RESET, id, lead->id);
			}
	}
	else
	{
		/* one link flapping */
		uint64_t a = sim_rng_range(&c->rng, 1, c->next_id - 1);

		if (a != lead->id && c->nodes[a].state == SIM_NODE_UP)
		{
			sim_net_report(c, SIM_FLIGHT_RESET, lead->id, a);
			sim_net_report(c, SIM_FLIGHT_RESET, a, lead->id);
		}
	}
}

/* After every step of a checked quiet window: the leader is still there. */
void
sim_quiet_check(struct sim_cluster *c)
{
	struct sim_node *lead;
	struct pgr_status s;

	if (!c->quiet || c->quiet_leader == 0)
		return;
	lead = sim_node_get(c, c->quiet_leader);
	if (lead->state == SIM_NODE_UP)
	{
		pgr_node_status(lead->node, &s);
		if (s.role == PGR_ROLE_LEADER && s.term == c->quiet_term)
			return;
	}
	sim_fail(c, "No spurious deposal",
			 "leader %" PRIu64 " of term %" PRIu64 " had its"
			 " quorum and no fault touched it, but it was deposed at t=%" PRIu64
			 " (false alarms only)",
			 c->quiet_leader, c->quiet_term, c->now);
}

/* ---------------------------------------------------------------------- */
/* Membership bookkeeping and the liveness marker                         */
/* ---------------------------------------------------------------------- */

/*
 * A configuration entry was committed: its members are members for good
 * until a later committed configuration drops them; then they are stopped
 * after a while (a removed node may still be needed to learn its removal,
 * and stopping it at once would hide bugs in how removal propagates).
 */
void
sim_note_committed_config(struct sim_cluster *c, uint64_t index, const uint8_t *buf, size_t len)
{
	struct pgr_config *conf = &c->scratch_config;

	if (pgr_config_decode(buf, len, conf) != PGR_OK)
	{
		sim_fail(c, "State Machine Safety",
				 "committed configuration entry %" PRIu64 " does not decode", index);
		return;
	}
	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
	{
		struct sim_node *sn = &c->nodes[id];
		bool member = pgr_config_find(conf, id) != NULL;

		if (member)
			sn->ever_member = true;
		else if (sn->ever_member && sn->state != SIM_NODE_STOPPED && sn->stop_at == 0)
		{
			sn->stop_at = c->now + sim_rng_range(&c->rng, 1, 20 * c->p.election_tick * 10);
			sim_trace(c, "n%" PRIu64 " removed at %" PRIu64 ", stops at %" PRIu64, id, index,
					  sn->stop_at);
		}
	}
}

/* The liveness marker: "LIVE" then the seed, as a normal entry. */
static uint32_t
sim_marker(uint64_t seed, uint8_t *buf)
{
	memcpy(buf, "LIVE", 4);
	memcpy(buf + 4, &seed, 8);
	return 12;
}

bool
sim_is_marker(const struct pgr_entry *e, uint64_t seed)
{
	uint8_t buf[12];

	return e->type == PGR_ENTRY_NORMAL && e->len == sim_marker(seed, buf) &&
		   memcmp(e->data, buf, sizeof(buf)) == 0;
}

/* Propose the marker on the leader; true if the leader took it. */
bool
sim_marker_propose(struct sim_cluster *c)
{
	struct sim_node *sn = sim_find_leader(c);
	uint8_t buf[12];
	uint32_t len;
	uint64_t index = 0;
	enum pgr_err err;

	if (sn == NULL)
		return false;
	len = sim_marker(c->seed, buf);
	err = pgr_node_propose(sn->node, buf, len, &index);
	sim_trace(c, "propose marker on n%" PRIu64 ": %s (index %" PRIu64 ")", sn->id,
			  pgr_strerror(err), index);
	sim_node_after_call(c, sn, err, "propose marker");
	return err == PGR_OK;
}
