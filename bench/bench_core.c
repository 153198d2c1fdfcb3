/*-------------------------------------------------------------------------
 *
 * bench_core.c
 *		Core benchmark: entries committed per second through the Raft core
 *		alone, with nothing else in the way.
 *
 *		bench_core [--entries N] [--size BYTES]
 *
 * Three nodes in one process, an instant in-memory network and no disk:
 * every message of a ready batch is stepped into its receiver at once
 * (pgr_node_step copies what it keeps, so no copy is made here), persisting
 * is a no-op and applying counts entries.  The contract order of
 * include/pgraft/core.h is kept: a node's batch is sent, applied and
 * advanced before the next node's batch is taken.  Every node compacts its
 * log every 64Ki applied entries so that memory stays bounded however long
 * the run.
 *
 * Reported, for 1 entry per proposal (pgr_node_propose) and 64 entries per
 * proposal (pgr_node_propose_batch): entries committed by the leader per
 * second, and the number of node calls (step, ready, advance) per entry.
 * Goal (issue 2): at least 1,000,000 entries/s with 64-entry batches, so
 * the core is never the bottleneck next to a ~0.3 ms fsync.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * bench/bench_core.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgraft/core.h"

#define BENCH_NODES         3
#define BENCH_COMPACT_EVERY 65536
#define BENCH_MAX_BATCH     64

struct bench_node
{
	struct pgr_node *node;
	uint64_t applied;      /* last index applied */
	uint64_t applied_data; /* normal entries with data applied */
	uint64_t snap_index;
};

struct bench
{
	struct bench_node nodes[BENCH_NODES + 1]; /* by id */
	uint64_t calls;                           /* step + ready + advance */
};

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
bench_check(enum pgr_err err, const char *what)
{
	if (err != PGR_OK)
	{
		fprintf(stderr, "bench_core: %s: %s\n", what, pgr_strerror(err));
		exit(1);
	}
}

/*
 * Execute every pending ready batch until the cluster is quiet.  Messages
 * go straight into pgr_node_step of their receiver: the sender is between
 * ready and advance, but the receiver is not, and it copies what it keeps.
 */
static void
bench_pump(struct bench *b)
{
	bool busy = true;

	while (busy)
	{
		busy = false;
		for (uint64_t id = 1; id <= BENCH_NODES; id++)
		{
			struct bench_node *bn = &b->nodes[id];
			struct pgr_ready rd;
			enum pgr_err err;

			if (!pgr_node_has_ready(bn->node))
				continue;
			busy = true;
			bench_check(pgr_node_ready(bn->node, &rd), "ready");
			b->calls++;
			/* persist: no disk */
			for (size_t i = 0; i < rd.n_msgs; i++)
			{
				const struct pgr_msg *m = &rd.msgs[i];

				if (m->to < 1 || m->to > BENCH_NODES)
					continue;
				err = pgr_node_step(b->nodes[m->to].node, m);
				b->calls++;
				if (err != PGR_OK && err != PGR_EIGNORED)
					bench_check(err, "step");
			}
			if (rd.snapshot != NULL)
				bn->applied = rd.snapshot->meta.index;
			for (size_t i = 0; i < rd.n_committed; i++)
			{
				bn->applied = rd.committed[i].index;
				if (rd.committed[i].type == PGR_ENTRY_NORMAL && rd.committed[i].len > 0)
					bn->applied_data++;
			}
			bench_check(pgr_node_advance(bn->node), "advance");
			b->calls++;
			if (bn->applied >= bn->snap_index + BENCH_COMPACT_EVERY)
			{
				struct pgr_snapshot_meta meta;
				uint8_t state[8];

				memcpy(state, &bn->applied_data, sizeof(state));
				bench_check(pgr_node_compact(bn->node, bn->applied, state, sizeof(state), &meta),
							"compact");
				bn->snap_index = bn->applied;
			}
		}
	}
}

static void
bench_setup(struct bench *b)
{
	struct pgr_config *conf = calloc(1, sizeof(*conf));
	struct pgr_status st;

	if (conf == NULL)
	{
		fprintf(stderr, "bench_core: out of memory\n");
		exit(1);
	}
	memset(b, 0, sizeof(*b));
	conf->n_members = BENCH_NODES;
	for (uint32_t i = 0; i < BENCH_NODES; i++)
	{
		conf->members[i].id = i + 1;
		conf->members[i].role = PGR_MEMBER_VOTER;
	}
	for (uint64_t id = 1; id <= BENCH_NODES; id++)
	{
		struct pgr_options o;
		struct pgr_restore r;

		memset(&o, 0, sizeof(o));
		memset(&r, 0, sizeof(r));
		o.id = id;
		o.election_tick = 10;
		o.heartbeat_tick = 1;
		o.seed = id;
		o.alloc = pgr_libc_allocator;
		bench_check(pgr_node_new(&o, &r, &b->nodes[id].node), "pgr_node_new");
		bench_check(pgr_node_bootstrap(b->nodes[id].node, conf), "bootstrap");
	}
	free(conf);
	bench_pump(b);
	bench_check(pgr_node_campaign(b->nodes[1].node), "campaign");
	bench_pump(b);
	pgr_node_status(b->nodes[1].node, &st);
	if (st.role != PGR_ROLE_LEADER)
	{
		fprintf(stderr, "bench_core: node 1 did not become leader\n");
		exit(1);
	}
}

static void
bench_teardown(struct bench *b)
{
	for (uint64_t id = 1; id <= BENCH_NODES; id++)
		pgr_node_free(b->nodes[id].node);
}

/* Run one mode; returns entries/s and reports calls per entry. */
static double
bench_run(uint64_t entries, uint32_t batch, uint32_t size, double *calls_per_entry)
{
	struct bench b;
	uint8_t *payload = malloc(size);
	const uint8_t *data[BENCH_MAX_BATCH];
	uint32_t lens[BENCH_MAX_BATCH];
	struct bench_node *leader;
	uint64_t start_data;
	double t0, t1;

	if (payload == NULL)
	{
		fprintf(stderr, "bench_core: out of memory\n");
		exit(1);
	}
	memset(payload, 'x', size);
	for (uint32_t i = 0; i < batch; i++)
	{
		data[i] = payload;
		lens[i] = size;
	}
	bench_setup(&b);
	leader = &b.nodes[1];
	start_data = leader->applied_data;
	b.calls = 0;
	t0 = bench_now();
	for (uint64_t done = 0; done < entries; done += batch)
	{
		uint64_t index;

		if (batch == 1)
			bench_check(pgr_node_propose(leader->node, payload, size, &index), "propose");
		else
			bench_check(pgr_node_propose_batch(leader->node, data, lens, batch, &index),
						"propose_batch");
		bench_pump(&b);
	}
	t1 = bench_now();

	/* Everything proposed must be committed on the leader by now. */
	if (leader->applied_data - start_data < entries)
	{
		fprintf(stderr, "bench_core: only %llu of %llu entries committed\n",
				(unsigned long long) (leader->applied_data - start_data),
				(unsigned long long) entries);
		exit(1);
	}
	/* A heartbeat carries the final commit index to the followers. */
	bench_check(pgr_node_tick(leader->node), "tick");
	bench_pump(&b);
	for (uint64_t id = 2; id <= BENCH_NODES; id++)
		if (b.nodes[id].applied != leader->applied)
		{
			fprintf(stderr, "bench_core: node %llu applied %llu, leader %llu\n",
					(unsigned long long) id, (unsigned long long) b.nodes[id].applied,
					(unsigned long long) leader->applied);
			exit(1);
		}
	*calls_per_entry = (double) b.calls / (double) entries;
	bench_teardown(&b);
	free(payload);
	return (double) entries / (t1 - t0);
}

int
main(int argc, char **argv)
{
	uint64_t entries = 2000000;
	uint32_t size = 100;
	static const uint32_t batches[] = {1, 64};

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc)
			entries = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
			size = (uint32_t) strtoul(argv[++i], NULL, 10);
		else
		{
			fprintf(stderr, "usage: bench_core [--entries N] [--size BYTES]\n");
			return 2;
		}
	}
	if (entries == 0 || size == 0)
	{
		fprintf(stderr, "bench_core: --entries and --size must be positive\n");
		return 2;
	}

	printf("pgraft core: %d nodes, instant in-memory network, no disk, "
		   "%u-byte entries, compaction every %d entries\n\n",
		   BENCH_NODES, size, BENCH_COMPACT_EVERY);
	printf("%-24s %6s %12s %14s %16s\n", "proposal", "batch", "entries", "entries/s",
		   "core calls/entry");
	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++)
	{
		uint32_t batch = batches[i];
		uint64_t n = batch == 1 ? entries / 4 : entries;
		double calls;
		double rate;

		n -= n % batch;
		if (n == 0)
			n = batch;
		rate = bench_run(n, batch, size, &calls);
		printf("%-24s %6u %12llu %14.0f %16.2f\n",
			   batch == 1 ? "pgr_node_propose" : "pgr_node_propose_batch", batch,
			   (unsigned long long) n, rate, calls);
	}
	return 0;
}
