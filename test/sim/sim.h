/*-------------------------------------------------------------------------
 *
 * sim.h
 *		Shared declarations of the deterministic cluster simulator.
 *
 * The simulator runs a whole pgraft cluster inside one process on a virtual
 * clock: each node is a struct pgr_node plus the storage the caller's
 * contract says must survive a crash (hard state, snapshot, log), and an
 * application state machine.  A network of in-flight message copies loses,
 * duplicates, delays and reorders messages; faults crash and restart nodes
 * and partition the network.  After every step the checker verifies the
 * safety properties of Raft; after a final heal it checks liveness.
 *
 * Everything random comes from one PRNG seeded by the seed number, so a
 * failing seed replays exactly.  The simulator uses only the public API of
 * include/pgraft/core.h.
 *
 * Files, one concern each:
 *		sim.c		command line, per-seed parameters, the event scheduler,
 *					the liveness phase
 *		cluster.c	nodes, simulated storage, the application, ready batches
 *		net.c		the in-flight message queue and partitions
 *		checker.c	the invariants
 *		workload.c	client operations and fault injection
 *		kv.c		the key-value state machine on every node
 *		trace.c		hashing, the counting allocator, tracing and failures
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/sim/sim.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_SIM_H
#define PGRAFT_SIM_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgraft/app.h"
#include "pgraft/core.h"
#include "pgraft/kv.h"

/*
 * Node ids are 1 .. SIM_MAX_IDS - 1 over a whole run: the initial members
 * take the first ids and every added member gets a fresh one, never reused.
 */
#define SIM_MAX_IDS     24
#define SIM_MAX_MEMBERS 7 /* members in one configuration */
#define SIM_NODE_NONE   0
#define SIM_MAX_BACKLOG 64 /* uncommitted entries clients tolerate */

/* ---------------------------------------------------------------------- */
/* PRNG (splitmix64): tiny, fast, and good enough for fault injection      */
/* ---------------------------------------------------------------------- */

struct sim_rng
{
	uint64_t state;
};

static inline uint64_t
sim_rng_next(struct sim_rng *r)
{
	uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0.  The modulo bias is irrelevant here. */
static inline uint64_t
sim_rng_below(struct sim_rng *r, uint64_t n)
{
	return n == 0 ? 0 : sim_rng_next(r) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t
sim_rng_range(struct sim_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + sim_rng_below(r, hi - lo + 1);
}

/* True with probability ppm / 1,000,000. */
static inline bool
sim_rng_chance(struct sim_rng *r, uint32_t ppm)
{
	return ppm > 0 && sim_rng_below(r, 1000000) < ppm;
}

/* ---------------------------------------------------------------------- */
/* Hashing                                                                */
/* ---------------------------------------------------------------------- */

uint64_t sim_mix(uint64_t x);

/*
 * The chain hash of a log: chain(i) = H(chain(i - 1), entry i), chain(0) = 0.
 * Equal chains at an index mean equal logs up to it, which makes Log
 * Matching a constant-time check.  The application's state is the same
 * chain over the entries it applied, so a snapshot (the application state)
 * carries the chain at its index.
 */
uint64_t sim_chain(uint64_t prev, const struct pgr_entry *e);

/* ---------------------------------------------------------------------- */
/* Counting allocator: proves that a freed node returned every byte        */
/* ---------------------------------------------------------------------- */

struct sim_alloc
{
	int64_t bytes; /* outstanding */
	int64_t blocks;
	struct sim_rng *rng; /* for injected failures; NULL = never fail */
	uint32_t fail_ppm;
	bool armed; /* failures only while the simulator calls in */
	uint64_t failures;
	uint64_t misuse; /* reallocs with a wrong old_size */
};

void sim_alloc_init(struct sim_alloc *a, struct pgr_allocator *out);

/* ---------------------------------------------------------------------- */
/* Simulated storage and the application                                  */
/* ---------------------------------------------------------------------- */

/*
 * What a node has made durable.  Entries are kept densely after the
 * snapshot: ents[k] has index snap.meta.index + 1 + k; chains[k] is the
 * chain hash at that index.
 */
struct sim_storage
{
	struct pgr_hard_state hs;      /* durable (written with sync) */
	struct pgr_hard_state hs_lazy; /* written without sync: may be lost */
	bool has_lazy;
	bool has_snap;
	struct pgr_snapshot snap; /* data owned here */
	uint64_t snap_chain;      /* chain hash at snap.meta.index */
	struct pgr_entry *ents;   /* data owned here */
	uint64_t *chains;
	size_t n_ents;
	size_t cap_ents;
};

/*
 * The application state machine: a chain hash over every entry applied
 * (normal, no-op and configuration entries alike).  It is volatile: after
 * a crash it restarts from the snapshot and the node re-delivers the rest.
 */
struct sim_app
{
	uint64_t applied;
	uint64_t hash;
	uint64_t n_normal; /* normal entries with data applied */
};

/*
 * Snapshot data: the chain state (24 bytes), pad bytes derived from the
 * hash, the key-value store (8 bytes of length, then pgr_kv_encode), then
 * pgraft's application state (struct pgr_app_state, encoded).
 */
#define SIM_SNAP_HEADER 24

static inline uint64_t
sim_storage_snap_index(const struct sim_storage *st)
{
	return st->has_snap ? st->snap.meta.index : 0;
}

static inline uint64_t
sim_storage_last(const struct sim_storage *st)
{
	return sim_storage_snap_index(st) + st->n_ents;
}

/* ---------------------------------------------------------------------- */
/* Nodes                                                                  */
/* ---------------------------------------------------------------------- */

enum sim_node_state
{
	SIM_NODE_UNUSED = 0, /* id not allocated yet */
	SIM_NODE_UP,
	SIM_NODE_DOWN,   /* crashed; storage survives */
	SIM_NODE_STOPPED /* removed from the cluster and shut down */
};

/* How an armed node crashes in the middle of its next ready batch. */
enum sim_midcrash
{
	SIM_MIDCRASH_NONE = 0,
	SIM_MIDCRASH_NEXT_SEND, /* after persisting a batch that sends */
	SIM_MIDCRASH_AFTER_VOTE /* after persisting a batch granting a vote */
};

struct sim_node
{
	uint64_t id;
	enum sim_node_state state;
	struct pgr_node *node; /* when UP */
	struct sim_alloc alloc;
	struct pgr_allocator allocator;
	struct sim_storage st;
	struct sim_app app;
	/* pgraft's application layer, as the worker runs it (calls.c) */
	struct pgr_app_state *papp;
	struct pgr_kv *kv; /* the key-value store its counted entries build (kv.c) */
	struct pgr_calls calls;
	bool has_calls;
	uint64_t incarnation; /* of its calls: grows with every start */
	uint64_t next_tick;   /* virtual ms of the next tick (UP) */
	uint32_t tick_ms;     /* this node's tick period: clocks drift */
	uint64_t restart_at;  /* DOWN: virtual ms of the restart, 0 = none */
	uint64_t stop_at;     /* UP/DOWN: scheduled stop, 0 = none */
	uint64_t crash_at;    /* UP: scheduled crash, 0 = none */
	enum sim_midcrash midcrash;
	uint32_t crashes;
	bool stopping; /* a planned stop: handing over, then down */
	struct pgr_handover handover;

	/* checker state about this node */
	uint64_t lead_term;      /* term in which it was last seen leading */
	uint64_t lead_last;      /* its last index then */
	uint64_t lead_last_term; /* and the term at that index */
	uint64_t max_term;       /* highest term seen on it (never goes back) */
	enum pgr_role last_role; /* at the last observation */
	bool ever_member;        /* in some committed configuration */
};

/* ---------------------------------------------------------------------- */
/* Network                                                                */
/* ---------------------------------------------------------------------- */

enum sim_flight_kind
{
	SIM_FLIGHT_MSG = 0,     /* a Raft message */
	SIM_FLIGHT_SNAP_STATUS, /* transport tells m.to whether its snapshot to
								 * m.from arrived (m.reject = failed) */
	SIM_FLIGHT_RESET,       /* transport tells m.to its connection with
								 * m.from broke (the weak signal) */
	SIM_FLIGHT_PEER_DOWN    /* transport tells m.to that m.from refuses
								 * connections: its process is gone */
};

struct sim_flight
{
	uint64_t at;  /* delivery time (virtual ms) */
	uint64_t seq; /* tie breaker: FIFO among equal times */
	uint32_t kind;
	struct pgr_msg m; /* entries/snapshot point into buf */
	void *buf;
};

struct sim_net
{
	struct sim_flight *heap; /* min-heap on (at, seq) */
	size_t n;
	size_t cap;
	uint64_t seq;
	uint64_t blocked_until[SIM_MAX_IDS][SIM_MAX_IDS]; /* from -> to */
	uint32_t loss_ppm;
	uint32_t dup_ppm;
	uint32_t slow_ppm;  /* share of messages with a long delay */
	uint32_t delay_min; /* ms */
	uint32_t delay_max;
	uint32_t slow_max; /* ms */
	uint64_t sent;
	uint64_t dropped;
	uint64_t delivered;
};

/* ---------------------------------------------------------------------- */
/* Checker                                                                */
/* ---------------------------------------------------------------------- */

/* What the checker knows about a committed index. */
struct sim_commit_rec
{
	uint64_t term;
	uint64_t chain;
	uint64_t commit_term; /* term of the leader first seen committing it */
};

/* A run of consecutive committed indexes first committed in one term. */
struct sim_commit_run
{
	uint64_t commit_term;
	uint64_t last;
};

struct sim_config_rec
{
	uint64_t index;
	uint8_t *buf; /* encoded configuration */
	size_t len;
};

struct sim_read_rec
{
	uint64_t node;
	uint64_t issue_commit; /* checker's commit index when issued */
};

struct sim_checker
{
	uint64_t *term_leader; /* Election Safety: term -> first leader seen */
	size_t cap_terms;
	struct sim_commit_rec *recs; /* index -> record, 1 .. known_commit */
	size_t cap_recs;
	uint64_t known_commit;
	struct sim_commit_run *runs;
	size_t n_runs;
	size_t cap_runs;
	/* Log Matching: (index, term) -> chain, first seen anywhere */
	uint64_t *lm_index;
	uint64_t *lm_term;
	uint64_t *lm_chain;
	size_t lm_cap; /* power of two */
	size_t lm_n;
	struct sim_config_rec *cfgs; /* committed configuration entries */
	size_t n_cfgs;
	size_t cap_cfgs;
	struct sim_read_rec *reads; /* context - 1 -> read */
	size_t n_reads;
	size_t cap_reads;
	uint64_t max_leader_term;
	uint64_t leaders_seen;
};

/* ---------------------------------------------------------------------- */
/* The cluster of one seed                                                */
/* ---------------------------------------------------------------------- */

/* Relative weights of client operations and faults; chosen per seed. */
enum sim_op
{
	SIM_OP_PROPOSE = 0,
	SIM_OP_PROPOSE_BATCH,
	SIM_OP_CONF_CHANGE,
	SIM_OP_TRANSFER,
	SIM_OP_COMPACT,
	SIM_OP_READ,
	SIM_OP_CAMPAIGN,
	SIM_OP_CALL_APPEND, /* through the application layer (calls.c) */
	SIM_OP_CALL_READ,
	SIM_OP_COUNT
};

/*
 * A client call made through the application layer, as a SQL function's
 * request would be, and what the checker knows of it.  Its tag in the
 * node's struct pgr_calls is its index here.
 */
struct sim_call
{
	uint64_t node;
	uint32_t kind; /* enum pgr_call_kind */
	uint64_t start;
	uint64_t deadline;
	uint64_t issue_commit; /* READ: commit index known at the start */
	bool answered;
	enum pgr_call_outcome outcome;
	uint32_t reason;
	uint64_t index;
	bool counted;           /* APPEND: its data counted in the log... */
	uint64_t counted_index; /* ...at this index */
	uint8_t *payload;       /* APPEND: stays put until the run ends */
};

struct sim_calls
{
	struct sim_call *v;
	size_t n;
	size_t cap;
	uint64_t next_bound_check;
	uint64_t answered;
	uint64_t ok;
	uint64_t unknown;
	uint64_t live_call; /* the liveness phase's call, index + 1 */
};

enum sim_fault
{
	SIM_FAULT_CRASH = 0,  /* a random node's process */
	SIM_FAULT_POWER_LOSS, /* a random node loses power */
	SIM_FAULT_CRASH_LEADER,
	SIM_FAULT_MIDCRASH,   /* arm a crash between persist and send */
	SIM_FAULT_VOTE_CRASH, /* arm a crash right after granting a vote */
	SIM_FAULT_RESTART,    /* restart a crashed node now */
	SIM_FAULT_PARTITION,  /* symmetric, two random groups */
	SIM_FAULT_ISOLATE_LEADER,
	SIM_FAULT_ONE_WAY, /* drop a -> b only */
	SIM_FAULT_HEAL,
	SIM_FAULT_COUNT
};

struct sim_params
{
	uint32_t n_initial; /* voters bootstrapped at the start */
	uint32_t election_tick;
	uint32_t heartbeat_tick;
	uint64_t max_msg_bytes;
	uint32_t max_inflight;
	uint64_t max_apply_bytes;
	uint32_t chaos_steps;   /* steps before the final heal */
	uint32_t client_gap_ms; /* mean gap between client operations */
	uint32_t fault_gap_ms;  /* mean gap between faults */
	uint32_t op_weight[SIM_OP_COUNT];
	uint32_t fault_weight[SIM_FAULT_COUNT];
	uint32_t restart_max_ms; /* crashed nodes restart after up to this */
	uint32_t partition_max_ms;
	uint32_t compact_lag; /* auto-compact when applied - snapshot > this */
	uint32_t snap_pad;    /* extra snapshot bytes */
	uint32_t payload_max;
	uint32_t alloc_fail_ppm;
	uint32_t leader_crash_ppm; /* a new leader crashes soon after winning */
	uint32_t commit_crash_ppm; /* a leader crashes as its commit advances */
	uint32_t quiet_gap_ms;     /* mean gap between quiet windows, 0 = none */
};

/* KV determinism: the digest of the store at each index, first seen. */
struct sim_kv_check
{
	uint32_t *digests;
	uint8_t *seen;
	size_t cap;
	uint64_t last_lease; /* the latest lease a grant created */
	uint64_t n_checked;  /* indexes with a digest */
	uint64_t n_compared; /* digests compared with the first */
	uint64_t n_ok;       /* commands applied with status OK */
};

struct sim_cluster
{
	uint64_t seed;
	struct sim_rng rng;
	struct sim_params p;
	bool trace;
	bool contract_checks; /* durability checks on sent messages */
	uint64_t now;         /* virtual ms */
	uint64_t steps;
	bool chaos; /* faults and client load enabled */
	bool storm; /* this seed is an election storm */
	struct sim_node nodes[SIM_MAX_IDS];
	uint64_t next_id; /* next fresh node id */
	struct sim_net net;
	struct sim_checker chk;
	struct sim_calls calls;
	struct sim_kv_check kv;
	struct pgr_app_state *scratch_app; /* decoding snapshots */
	/*
	 * Quiet windows: no fault touches the cluster, the network is sound,
	 * and only false alarms (connection resets) are injected; a leader that
	 * has its quorum must stay leader through the check part of it.
	 */
	bool quiet;
	uint64_t next_quiet_at;
	uint64_t quiet_check_at; /* settled: the check begins */
	uint64_t quiet_end;
	uint64_t quiet_leader; /* 0: no stable leader to check this time */
	uint64_t quiet_term;
	uint64_t next_alarm_at;
	uint32_t saved_loss_ppm;
	uint32_t saved_dup_ppm;
	uint32_t saved_slow_ppm;
	uint32_t saved_alloc_fail_ppm;
	uint64_t n_quiet_checked;
	uint64_t n_alarms;
	uint64_t next_client_at;
	uint64_t next_fault_at;
	uint64_t next_read_ctx;
	uint64_t next_prop;
	struct pgr_config scratch_config; /* too big for the stack */
	/* liveness phase */
	uint64_t marker_index; /* first index at which the marker was applied */
	/* outcome */
	bool failed;
	char failure[1536];
	/* statistics for --trace / --stats */
	uint64_t n_elections;
	uint64_t n_crashes;
	uint64_t n_handovers;      /* planned stops of a leader */
	uint64_t n_handovers_done; /* that ended with another leader */
	uint64_t n_snap_installs;
	uint64_t n_proposed;
	uint64_t n_reads_done;
	uint64_t n_old_term_commits; /* leader commits ending on an old-term entry */
};

/* trace.c */
void sim_trace(struct sim_cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_fail(struct sim_cluster *c, const char *invariant, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sim_format_msg(char *buf, size_t cap, const struct pgr_msg *m);

/* cluster.c */
struct sim_node *sim_node_get(struct sim_cluster *c, uint64_t id);
void sim_node_create(struct sim_cluster *c, uint64_t id, bool bootstrap,
					 const struct pgr_config *initial);
/*
 * A process crash (kill -9, ENOMEM's rebuild) keeps what was written but
 * not synced: the page cache survives, and the restart makes it durable
 * (pgr_storage_open syncs what it reads).  A power loss keeps only what was
 * synced.
 */
enum sim_crash_kind
{
	SIM_CRASH_PROCESS = 0,
	SIM_CRASH_POWER
};

void sim_node_crash(struct sim_cluster *c, struct sim_node *sn, enum sim_crash_kind kind,
					const char *why);
enum sim_crash_kind sim_crash_kind_pick(struct sim_cluster *c);
void sim_node_restart(struct sim_cluster *c, struct sim_node *sn);
void sim_node_stop(struct sim_cluster *c, struct sim_node *sn);
void sim_node_destroy(struct sim_cluster *c, struct sim_node *sn);
void sim_node_after_call(struct sim_cluster *c, struct sim_node *sn, enum pgr_err err,
						 const char *what);
void sim_node_tick(struct sim_cluster *c, struct sim_node *sn);
bool sim_node_begin_stop(struct sim_cluster *c, struct sim_node *sn);
void sim_node_compact(struct sim_cluster *c, struct sim_node *sn);
void sim_app_encode(const struct sim_cluster *c, const struct sim_node *sn, uint8_t *buf,
					size_t *len);
size_t sim_app_size(const struct sim_cluster *c, const struct sim_node *sn);
bool sim_app_decode(const struct sim_cluster *c, const uint8_t *buf, uint64_t len,
					struct sim_app *out);
bool sim_storage_chain_at(const struct sim_storage *st, uint64_t index, uint64_t *chain,
						  uint64_t *term);

/* net.c */
void sim_net_init(struct sim_net *net);
void sim_net_free(struct sim_net *net);
void sim_net_send(struct sim_cluster *c, const struct pgr_msg *m);
void sim_net_snap_status(struct sim_cluster *c, uint64_t sender, uint64_t target, bool ok);
void sim_net_report(struct sim_cluster *c, enum sim_flight_kind kind, uint64_t about, uint64_t to);
bool sim_net_next_time(const struct sim_net *net, uint64_t *at);
void sim_net_deliver_next(struct sim_cluster *c);
bool sim_net_blocked(const struct sim_cluster *c, uint64_t from, uint64_t to);
void sim_net_heal(struct sim_cluster *c);

/* checker.c */
void sim_checker_init(struct sim_checker *chk);
void sim_checker_free(struct sim_checker *chk);
void sim_check_bootstrap(struct sim_cluster *c, const struct sim_node *sn);
void sim_check_persist_entries(struct sim_cluster *c, struct sim_node *sn,
							   const struct pgr_entry *ents, size_t n, bool is_leader);
void sim_check_log_matching(struct sim_cluster *c, struct sim_node *sn, uint64_t index,
							uint64_t term, uint64_t chain);
void sim_check_hard_state(struct sim_cluster *c, struct sim_node *sn,
						  const struct pgr_hard_state *hs);
void sim_check_snapshot(struct sim_cluster *c, struct sim_node *sn, const struct pgr_snapshot *snap,
						const char *how);
void sim_check_sent(struct sim_cluster *c, struct sim_node *sn, const struct pgr_msg *m);
void sim_check_leader_commit(struct sim_cluster *c, struct sim_node *sn);
void sim_check_apply(struct sim_cluster *c, struct sim_node *sn, const struct pgr_entry *e);
void sim_check_read_issued(struct sim_cluster *c, uint64_t node, uint64_t ctx);
void sim_check_read_done(struct sim_cluster *c, struct sim_node *sn,
						 const struct pgr_read_state *rs);
void sim_check_leader_seen(struct sim_cluster *c, struct sim_node *sn, const struct pgr_status *s);
void sim_check_step(struct sim_cluster *c);
const struct sim_config_rec *sim_checker_latest_config(const struct sim_checker *chk);

/* calls.c */
void sim_calls_node_up(struct sim_cluster *c, struct sim_node *sn);
void sim_calls_node_down(struct sim_cluster *c, struct sim_node *sn, const char *why);
enum pgr_err sim_calls_drive(struct sim_cluster *c, struct sim_node *sn);
void sim_calls_apply(struct sim_cluster *c, struct sim_node *sn, const struct pgr_ready *rd);
void sim_calls_collect(struct sim_cluster *c, struct sim_node *sn);
void sim_calls_op(struct sim_cluster *c, uint32_t kind);
void sim_calls_check_bound(struct sim_cluster *c);
bool sim_calls_live_start(struct sim_cluster *c);
bool sim_calls_live_lost(struct sim_cluster *c);
bool sim_calls_live_done(struct sim_cluster *c);
void sim_calls_free(struct sim_cluster *c);
size_t sim_app_blob(const struct sim_cluster *c, const uint8_t *buf, uint64_t len,
					const uint8_t **blob);

/* kv.c */
void sim_kv_node_up(struct sim_node *sn);
void sim_kv_install(struct sim_cluster *c, struct sim_node *sn, const uint8_t *blob, size_t len);
void sim_kv_apply(struct sim_cluster *c, struct sim_node *sn, uint64_t index, const uint8_t *cmd,
				  size_t len);
size_t sim_kv_command(struct sim_cluster *c, uint64_t call, uint8_t *buf, size_t cap);
void sim_kv_free(struct sim_cluster *c);

/* workload.c */
void sim_quiet_step(struct sim_cluster *c);
void sim_quiet_check(struct sim_cluster *c);
void sim_client_op(struct sim_cluster *c);
void sim_fault(struct sim_cluster *c);
struct sim_node *sim_find_leader(struct sim_cluster *c);
bool sim_marker_propose(struct sim_cluster *c);
bool sim_is_marker(const struct pgr_entry *e, uint64_t seed);
void sim_on_new_leader(struct sim_cluster *c, struct sim_node *sn);
void sim_on_leader_commit(struct sim_cluster *c, struct sim_node *sn);
void sim_note_committed_config(struct sim_cluster *c, uint64_t index, const uint8_t *buf,
							   size_t len);

#endif /* PGRAFT_SIM_H */
