/*-------------------------------------------------------------------------
 *
 * sim.c
 *		raft-sim: run the deterministic cluster simulator over a seed range.
 *
 *		raft-sim --seeds A-B [--nodes N] [--steps K] [--trace] [--verbose]
 *				 [--no-contract-checks]
 *
 * Each seed is one independent run: the seed alone determines the cluster
 * size (3, 5 or 7 unless --nodes), the core options, the fault rates, and
 * every random choice of the run, so `--seeds S-S --trace` replays a seed
 * exactly.  A run has two phases:
 *
 *	chaos:	 K steps of client load and faults.  A step is one event of the
 *			 virtual clock: a message delivery, a tick of one node, one
 *			 client operation or one fault.  The checker runs after each.
 *	healing: the network heals, loss stops, crashed members restart and
 *			 faults end; within 30 maximal election timeouts a leader must
 *			 commit a new proposal that every member of the latest
 *			 configuration applies (liveness).
 *
 * The last line of output is "N passed, M failed"; the exit status is 0
 * only if every seed passed.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/sim/sim.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define SIM_DEFAULT_STEPS 20000

struct sim_cli
{
	uint64_t seed_lo;
	uint64_t seed_hi;
	uint32_t nodes; /* 0 = per seed */
	uint32_t steps; /* 0 = default */
	bool trace;
	bool verbose;
	bool contract_checks;
};

/* Scale a base weight by a per-seed factor in {0, 1, 2, 3} halves. */
static uint32_t
sim_weight(struct sim_cluster *c, uint32_t base)
{
	return base * (uint32_t) sim_rng_below(&c->rng, 7) / 2;
}

/*
 * Everything that differs between seeds.  The ranges are wide on purpose:
 * tiny max_msg_bytes and max_inflight split replication into many small
 * messages (the Figure 8 window), long tails of delay keep stale requests
 * alive across crashes, and fault mixes range from none to storms.
 */
static void
sim_choose_params(struct sim_cluster *c, const struct sim_cli *cli)
{
	struct sim_params *p = &c->p;
	struct sim_net *net = &c->net;
	static const uint32_t sizes[] = {3, 5, 7};
	static const uint32_t op_base[SIM_OP_COUNT] = {
		[SIM_OP_PROPOSE] = 10, [SIM_OP_PROPOSE_BATCH] = 4, [SIM_OP_CONF_CHANGE] = 2,
		[SIM_OP_TRANSFER] = 1, [SIM_OP_COMPACT] = 2,       [SIM_OP_READ] = 4,
		[SIM_OP_CAMPAIGN] = 1, [SIM_OP_CALL_APPEND] = 6,   [SIM_OP_CALL_READ] = 3,
	};
	static const uint32_t fault_base[SIM_FAULT_COUNT] = {
		[SIM_FAULT_CRASH] = 2,     [SIM_FAULT_POWER_LOSS] = 1,     [SIM_FAULT_CRASH_LEADER] = 3,
		[SIM_FAULT_MIDCRASH] = 3,  [SIM_FAULT_VOTE_CRASH] = 4,     [SIM_FAULT_RESTART] = 2,
		[SIM_FAULT_PARTITION] = 2, [SIM_FAULT_ISOLATE_LEADER] = 2, [SIM_FAULT_ONE_WAY] = 2,
		[SIM_FAULT_HEAL] = 1,
	};
	uint32_t total;

	p->n_initial = cli->nodes ? cli->nodes : sizes[c->seed % 3];
	p->election_tick = (uint32_t) sim_rng_range(&c->rng, 10, 20);
	p->heartbeat_tick = (uint32_t) sim_rng_range(&c->rng, 1, 3);
	p->max_msg_bytes = sim_rng_chance(&c->rng, 250000) ? 0 : sim_rng_range(&c->rng, 1, 256);
	p->max_inflight = sim_rng_chance(&c->rng, 250000) ? 0 : (uint32_t) sim_rng_range(&c->rng, 1, 8);
	p->max_apply_bytes = sim_rng_chance(&c->rng, 500000) ? 0 : sim_rng_range(&c->rng, 1, 512);
	p->chaos_steps = cli->steps ? cli->steps : SIM_DEFAULT_STEPS;
	p->client_gap_ms = (uint32_t) sim_rng_range(&c->rng, 3, 40);
	p->fault_gap_ms = (uint32_t) sim_rng_range(&c->rng, 20, 1000);
	total = 0;
	for (int i = 0; i < SIM_OP_COUNT; i++)
		total += p->op_weight[i] = sim_weight(c, op_base[i]);
	if (total == 0)
		p->op_weight[SIM_OP_PROPOSE] = 1;
	total = 0;
	for (int i = 0; i < SIM_FAULT_COUNT; i++)
		total += p->fault_weight[i] = sim_weight(c, fault_base[i]);
	if (total == 0)
		p->fault_weight[SIM_FAULT_CRASH] = 1;
	p->restart_max_ms = (uint32_t) sim_rng_range(&c->rng, 10, p->election_tick * 10 * 4);
	p->partition_max_ms = (uint32_t) sim_rng_range(&c->rng, 100, p->election_tick * 10 * 8);
	p->compact_lag = (uint32_t) sim_rng_range(&c->rng, 8, 400);
	p->snap_pad = (uint32_t) sim_rng_below(&c->rng, 200);
	p->payload_max = sim_rng_chance(&c->rng, 100000) ? 256 : (uint32_t) sim_rng_below(&c->rng, 48);
	p->alloc_fail_ppm =
		sim_rng_chance(&c->rng, 150000) ? (uint32_t) sim_rng_range(&c->rng, 20, 300) : 0;
	p->leader_crash_ppm =
		sim_rng_chance(&c->rng, 500000) ? (uint32_t) sim_rng_range(&c->rng, 100000, 800000) : 0;
	p->commit_crash_ppm =
		sim_rng_chance(&c->rng, 500000) ? (uint32_t) sim_rng_range(&c->rng, 5000, 100000) : 0;
	p->quiet_gap_ms =
		sim_rng_chance(&c->rng, 600000) ? (uint32_t) sim_rng_range(&c->rng, 500, 5000) : 0;

	net->loss_ppm = (uint32_t) sim_rng_below(&c->rng, 100000);
	net->dup_ppm = (uint32_t) sim_rng_below(&c->rng, 50000);
	net->delay_min = (uint32_t) sim_rng_range(&c->rng, 1, 3);
	net->delay_max = net->delay_min + (uint32_t) sim_rng_range(&c->rng, 1, 30);
	net->slow_ppm = (uint32_t) sim_rng_below(&c->rng, 50000);
	net->slow_max =
		net->delay_max + (uint32_t) sim_rng_range(&c->rng, 10, p->election_tick * 10 * 3);

	/*
	 * Two seeds in five are election storms: nearly every leader dies
	 * young, often inside its first batch or right after committing,
	 * crashed nodes come back quickly, and every entry travels in its own
	 * message.  That is where leaders inherit partially replicated entries
	 * of several older terms (Figure 8), and where restarted voters meet
	 * requests of a term they already voted in.
	 */
	if (sim_rng_chance(&c->rng, 400000))
	{
		c->storm = true;
		p->max_msg_bytes = 1;
		p->max_inflight = (uint32_t) sim_rng_range(&c->rng, 1, 2);
		p->leader_crash_ppm = (uint32_t) sim_rng_range(&c->rng, 800000, 1000000);
		p->commit_crash_ppm = (uint32_t) sim_rng_range(&c->rng, 400000, 800000);
		p->restart_max_ms = (uint32_t) sim_rng_range(&c->rng, 10, p->election_tick * 10);
		p->fault_weight[SIM_FAULT_MIDCRASH] += 6;
		p->fault_weight[SIM_FAULT_CRASH_LEADER] += 3;
		p->fault_weight[SIM_FAULT_VOTE_CRASH] += 6;
		p->op_weight[SIM_OP_PROPOSE_BATCH] += 6;
		net->loss_ppm /= 4;
	}
}

/* ---------------------------------------------------------------------- */
/* The scheduler                                                          */
/* ---------------------------------------------------------------------- */

enum sim_event
{
	SIM_EV_NONE,
	SIM_EV_NET,
	SIM_EV_STOP,
	SIM_EV_CRASH,
	SIM_EV_RESTART,
	SIM_EV_TICK,
	SIM_EV_CLIENT,
	SIM_EV_FAULT,
	SIM_EV_QUIET /* a quiet window begins, alarms, or ends */
};

static inline uint64_t
Min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void
sim_consider(uint64_t at, enum sim_event ev, struct sim_node *sn, uint64_t *best_at,
			 enum sim_event *best, struct sim_node **best_sn)
{
	if (*best == SIM_EV_NONE || at < *best_at)
	{
		*best_at = at;
		*best = ev;
		*best_sn = sn;
	}
}

/* Execute the earliest pending event (ties: the order considered). */
static void
sim_step(struct sim_cluster *c)
{
	enum sim_event ev = SIM_EV_NONE;
	struct sim_node *sn = NULL;
	uint64_t at = 0, t;

	if (sim_net_next_time(&c->net, &t))
		sim_consider(t, SIM_EV_NET, NULL, &at, &ev, &sn);
	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
	{
		struct sim_node *n = &c->nodes[id];

		if (n->state == SIM_NODE_UNUSED || n->state == SIM_NODE_STOPPED)
			continue;
		if (n->stop_at != 0)
			sim_consider(n->stop_at, SIM_EV_STOP, n, &at, &ev, &sn);
		if (n->state == SIM_NODE_DOWN && n->restart_at != 0)
			sim_consider(n->restart_at, SIM_EV_RESTART, n, &at, &ev, &sn);
		if (n->state == SIM_NODE_UP && n->crash_at != 0 && c->chaos && !c->quiet)
			sim_consider(n->crash_at, SIM_EV_CRASH, n, &at, &ev, &sn);
		if (n->state == SIM_NODE_UP)
			sim_consider(n->next_tick, SIM_EV_TICK, n, &at, &ev, &sn);
	}
	if (c->chaos && !c->quiet)
	{
		sim_consider(c->next_client_at, SIM_EV_CLIENT, NULL, &at, &ev, &sn);
		sim_consider(c->next_fault_at, SIM_EV_FAULT, NULL, &at, &ev, &sn);
		if (c->p.quiet_gap_ms > 0)
			sim_consider(c->next_quiet_at, SIM_EV_QUIET, NULL, &at, &ev, &sn);
	}
	else if (c->quiet)
		sim_consider(Min64(c->next_alarm_at, c->quiet_end), SIM_EV_QUIET, NULL, &at, &ev, &sn);
	if (ev == SIM_EV_NONE)
	{
		sim_fail(c, "Liveness", "nothing left to happen: every node is stopped");
		return;
	}
	if (at > c->now)
		c->now = at;
	c->steps++;
	switch (ev)
	{
		case SIM_EV_NONE:
			break;
		case SIM_EV_NET:
			sim_net_deliver_next(c);
			break;
		case SIM_EV_STOP:
			sim_node_stop(c, sn);
			break;
		case SIM_EV_CRASH:
			if (!sim_node_begin_stop(c, sn))
				sim_node_crash(c, sn, sim_crash_kind_pick(c), "scheduled");
			break;
		case SIM_EV_RESTART:
			sim_node_restart(c, sn);
			break;
		case SIM_EV_TICK:
			sim_node_tick(c, sn);
			break;
		case SIM_EV_CLIENT:
			sim_client_op(c);
			c->next_client_at = c->now + sim_rng_range(&c->rng, 1, 2 * c->p.client_gap_ms);
			break;
		case SIM_EV_FAULT:
			sim_fault(c);
			c->next_fault_at = c->now + sim_rng_range(&c->rng, 1, 2 * c->p.fault_gap_ms);
			break;
		case SIM_EV_QUIET:
			sim_quiet_step(c);
			break;
	}
	if (!c->failed)
		sim_check_step(c);
	if (!c->failed)
		sim_quiet_check(c);
	if (!c->failed)
		sim_calls_check_bound(c);
}

/* ---------------------------------------------------------------------- */
/* Liveness                                                               */
/* ---------------------------------------------------------------------- */

/* Heal everything: no partitions, no loss, no faults, members restarted. */
static void
sim_heal(struct sim_cluster *c)
{
	if (c->quiet)
	{
		c->quiet_end = c->now;
		sim_quiet_step(c);
	}
	c->chaos = false;
	sim_net_heal(c);
	sim_trace(c, "HEAL all: liveness phase");
	for (uint64_t id = 1; id < SIM_MAX_IDS && !c->failed; id++)
	{
		struct sim_node *sn = &c->nodes[id];

		sn->midcrash = SIM_MIDCRASH_NONE;
		sn->stopping = false; /* a planned stop is called off */
		if (sn->state == SIM_NODE_DOWN)
		{
			sn->restart_at = 0;
			sim_node_restart(c, sn);
		}
	}
	if (!c->failed)
		sim_check_step(c);
}

/* Has every member of the leader's configuration applied the marker? */
static bool
sim_live_done(struct sim_cluster *c)
{
	struct sim_node *leader;
	const struct pgr_config *conf;

	if (c->marker_index == 0 || (leader = sim_find_leader(c)) == NULL)
		return false;
	conf = pgr_node_config(leader->node);
	for (uint32_t i = 0; i < conf->n_members; i++)
	{
		struct sim_node *sn = sim_node_get(c, conf->members[i].id);

		if (sn == NULL || sn->state != SIM_NODE_UP || sn->app.applied < c->marker_index)
			return false;
	}
	return true;
}

static void
sim_live_report(struct sim_cluster *c, uint64_t limit_ms)
{
	struct sim_node *leader = sim_find_leader(c);
	const struct pgr_config *conf;
	const struct pgr_member *m;
	char desc[900];
	int n = 0;

	desc[0] = '\0';
	for (uint64_t id = 1; id < SIM_MAX_IDS && n < (int) sizeof(desc) - 100; id++)
	{
		struct sim_node *sn = &c->nodes[id];
		struct pgr_status s;

		if (sn->state == SIM_NODE_UNUSED)
			continue;
		if (sn->state != SIM_NODE_UP)
		{
			n += snprintf(desc + n, sizeof(desc) - (size_t) n, " n%" PRIu64 ":%s", id,
						  sn->state == SIM_NODE_DOWN ? "down" : "stopped");
			continue;
		}
		pgr_node_status(sn->node, &s);
		conf = pgr_node_config(sn->node);
		m = conf != NULL ? pgr_config_find(conf, id) : NULL;
		n += snprintf(desc + n, sizeof(desc) - (size_t) n,
					  " n%" PRIu64 ":%s/t%" PRIu64 "/last=%" PRIu64 "/commit=%" PRIu64
					  "/applied=%" PRIu64 "/%s(%u voters)",
					  id, pgr_role_name(s.role), s.term, s.last_index, s.commit, sn->app.applied,
					  m == NULL                     ? "absent"
					  : m->role == PGR_MEMBER_VOTER ? "voter"
													: "learner",
					  conf != NULL ? pgr_config_voters(conf) : 0);
	}
	sim_fail(c, "Liveness",
			 "no new proposal committed and applied on all members"
			 " within %" PRIu64 " ms of healing (leader %" PRIu64 ", marker at %" PRIu64 "):%s",
			 limit_ms, leader ? leader->id : 0, c->marker_index, desc);
}

static void
sim_liveness(struct sim_cluster *c)
{
	uint64_t limit = 30 * 2 * (uint64_t) c->p.election_tick * 10;
	uint64_t deadline = c->now + limit;
	uint64_t next_marker = c->now;

	bool call_started = false;

	sim_heal(c);
	while (!c->failed)
	{
		if (call_started && sim_calls_live_lost(c))
			call_started = false;
		if (sim_live_done(c) && call_started && sim_calls_live_done(c))
			return;
		if (!call_started && !c->failed)
			call_started = sim_calls_live_start(c);
		if (c->now >= deadline)
		{
			sim_live_report(c, limit);
			return;
		}
		/* Propose until the marker is applied somewhere; leaders may change. */
		if (c->marker_index == 0 && c->now >= next_marker)
		{
			next_marker =
				c->now + (sim_marker_propose(c) ? 2 * (uint64_t) c->p.election_tick * 10 : 10);
			if (!c->failed)
				sim_check_step(c);
			continue;
		}
		sim_step(c);
	}
}

/* Voters of the latest committed configuration, for the summary line. */
static uint32_t
sim_committed_voters(struct sim_cluster *c)
{
	const struct sim_config_rec *cr = sim_checker_latest_config(&c->chk);

	if (cr == NULL || pgr_config_decode(cr->buf, cr->len, &c->scratch_config) != PGR_OK)
		return 0;
	return pgr_config_voters(&c->scratch_config);
}

/* ---------------------------------------------------------------------- */
/* One seed                                                               */
/* ---------------------------------------------------------------------- */

static bool
sim_run_seed(uint64_t seed, const struct sim_cli *cli)
{
	struct sim_cluster *c = calloc(1, sizeof(*c));
	struct pgr_config *initial = calloc(1, sizeof(*initial));
	bool ok;

	if (c == NULL || initial == NULL)
	{
		fprintf(stderr, "raft-sim: out of memory\n");
		exit(2);
	}
	c->seed = seed;
	c->rng.state = sim_mix(seed ^ UINT64_C(0x5eed5eed5eed5eed));
	c->trace = cli->trace;
	c->contract_checks = cli->contract_checks;
	sim_net_init(&c->net);
	sim_checker_init(&c->chk);
	c->scratch_app = malloc(sizeof(*c->scratch_app));
	if (c->scratch_app == NULL)
	{
		fprintf(stderr, "raft-sim: out of memory\n");
		exit(2);
	}
	sim_choose_params(c, cli);
	if (c->trace)
		printf("seed %" PRIu64 ": nodes=%u election_tick=%u heartbeat_tick=%u "
			   "max_msg_bytes=%" PRIu64 " max_inflight=%u max_apply_bytes=%" PRIu64
			   " loss=%u dup=%u delay=%u..%u slow=%u/%u client_gap=%u fault_gap=%u"
			   " alloc_fail=%u\n",
			   seed, c->p.n_initial, c->p.election_tick, c->p.heartbeat_tick, c->p.max_msg_bytes,
			   c->p.max_inflight, c->p.max_apply_bytes, c->net.loss_ppm, c->net.dup_ppm,
			   c->net.delay_min, c->net.delay_max, c->net.slow_ppm, c->net.slow_max,
			   c->p.client_gap_ms, c->p.fault_gap_ms, c->p.alloc_fail_ppm);

	/* The initial members bootstrap with identical configurations. */
	initial->n_members = c->p.n_initial;
	for (uint32_t i = 0; i < c->p.n_initial; i++)
	{
		struct pgr_member *m = &initial->members[i];
		int n;

		m->id = i + 1;
		m->role = PGR_MEMBER_VOTER;
		n = snprintf((char *) m->context, sizeof(m->context), "sim-node-%u", i + 1);
		m->context_len = n > 0 ? (uint32_t) n : 0;
	}
	c->next_id = c->p.n_initial + 1;
	c->chaos = true;
	for (uint32_t i = 0; i < c->p.n_initial && !c->failed; i++)
		sim_node_create(c, i + 1, true, initial);
	c->next_client_at = c->now + c->p.client_gap_ms;
	c->next_fault_at = c->now + c->p.fault_gap_ms;
	c->next_quiet_at = c->now + c->p.quiet_gap_ms;

	while (!c->failed && c->steps < c->p.chaos_steps)
		sim_step(c);
	if (!c->failed)
		sim_liveness(c);

	for (uint64_t id = 1; id < SIM_MAX_IDS; id++)
		sim_node_destroy(c, &c->nodes[id]);

	ok = !c->failed;
	if (!ok)
	{
		printf("seed %" PRIu64 " FAILED (%u nodes): %s\n", seed, c->p.n_initial, c->failure);
		char extra[64] = "";

		if (cli->nodes)
			snprintf(extra, sizeof(extra), " --nodes %u", cli->nodes);
		if (cli->steps)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " --steps %u",
					 cli->steps);
		printf("  replay: raft-sim --seeds %" PRIu64 "-%" PRIu64 "%s --trace%s\n", seed, seed,
			   extra, cli->contract_checks ? "" : " --no-contract-checks");
	}
	if (cli->verbose || cli->trace)
		printf("seed %" PRIu64 " %s: nodes=%u steps=%" PRIu64 " time=%" PRIu64 "ms leaders=%" PRIu64
			   " elections=%" PRIu64 " commit=%" PRIu64 " proposed=%" PRIu64 " crashes=%" PRIu64
			   " handovers=%" PRIu64 "/%" PRIu64 " snapshots=%" PRIu64 " reads=%" PRIu64
			   " msgs=%" PRIu64 "/%" PRIu64 " ids=%" PRIu64 " oldtermcommits=%" PRIu64
			   " voters=%u calls=%zu/ok=%" PRIu64 "/unknown=%" PRIu64 " quiet=%" PRIu64
			   " alarms=%" PRIu64 " kv=%" PRIu64 "/%" PRIu64 "/ok=%" PRIu64 "%s\n",
			   seed, ok ? "ok" : "FAILED", c->p.n_initial, c->steps, c->now, c->chk.leaders_seen,
			   c->n_elections, c->chk.known_commit, c->n_proposed, c->n_crashes,
			   c->n_handovers_done, c->n_handovers, c->n_snap_installs, c->n_reads_done,
			   c->net.delivered, c->net.sent, c->next_id - 1, c->n_old_term_commits,
			   sim_committed_voters(c), c->calls.n, c->calls.ok, c->calls.unknown,
			   c->n_quiet_checked, c->n_alarms, c->kv.n_checked, c->kv.n_compared, c->kv.n_ok,
			   c->storm ? " storm" : "");
	sim_net_free(&c->net);
	sim_checker_free(&c->chk);
	sim_calls_free(c);
	sim_kv_free(c);
	free(c->scratch_app);
	free(initial);
	free(c);
	return ok;
}

/* ---------------------------------------------------------------------- */
/* Command line                                                           */
/* ---------------------------------------------------------------------- */

static void
sim_usage(void)
{
	fprintf(stderr,
			"usage: raft-sim --seeds A-B [--nodes N] [--steps K] [--trace] [--verbose]\n"
			"                [--no-contract-checks]\n"
			"  --seeds A-B   run every seed from A to B (inclusive)\n"
			"  --nodes N     initial cluster size 1..7 (default: 3, 5 or 7 by seed)\n"
			"  --steps K     chaos steps per seed before healing (default %d)\n"
			"  --trace       print every step (use with one seed to replay it)\n"
			"  --verbose     print a summary line per seed\n"
			"  --no-contract-checks  check only the Raft paper's invariants, not\n"
			"                the durability-before-send contract\n",
			SIM_DEFAULT_STEPS);
	exit(2);
}

static uint64_t
sim_parse_u64(const char *s, char **end)
{
	if (*s < '0' || *s > '9')
		sim_usage();
	return strtoull(s, end, 10);
}

int
main(int argc, char **argv)
{
	struct sim_cli cli;
	uint64_t passed = 0, failed = 0;
	bool have_seeds = false;

	memset(&cli, 0, sizeof(cli));
	cli.contract_checks = true;
	for (int i = 1; i < argc; i++)
	{
		char *end;

		if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc)
		{
			const char *s = argv[++i];

			cli.seed_lo = sim_parse_u64(s, &end);
			if (*end == '-')
				cli.seed_hi = sim_parse_u64(end + 1, &end);
			else
				cli.seed_hi = cli.seed_lo;
			if (*end != '\0' || cli.seed_hi < cli.seed_lo)
				sim_usage();
			have_seeds = true;
		}
		else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
		{
			cli.nodes = (uint32_t) sim_parse_u64(argv[++i], &end);
			if (*end != '\0' || cli.nodes < 1 || cli.nodes > SIM_MAX_MEMBERS)
				sim_usage();
		}
		else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
		{
			uint64_t k = sim_parse_u64(argv[++i], &end);

			if (*end != '\0' || k == 0 || k > UINT32_MAX)
				sim_usage();
			cli.steps = (uint32_t) k;
		}
		else if (strcmp(argv[i], "--trace") == 0)
			cli.trace = true;
		else if (strcmp(argv[i], "--verbose") == 0)
			cli.verbose = true;
		else if (strcmp(argv[i], "--no-contract-checks") == 0)
			cli.contract_checks = false;
		else
			sim_usage();
	}
	if (!have_seeds)
		sim_usage();

	for (uint64_t seed = cli.seed_lo;; seed++)
	{
		if (sim_run_seed(seed, &cli))
			passed++;
		else
			failed++;
		fflush(stdout);
		if (seed == cli.seed_hi)
			break;
	}
	printf("%" PRIu64 " passed, %" PRIu64 " failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
