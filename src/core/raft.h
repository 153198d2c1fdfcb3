/*-------------------------------------------------------------------------
 *
 * raft.h
 *		Internal structures of the Raft core, shared by its files and by the
 *		core's white-box unit tests (test/unit/test_raft_*.c).
 *
 * Files of the core, one concern each:
 *		log.c			the in-memory log: snapshot boundary, entries, commit
 *		progress.c		the leader's view of each member, in-flight window
 *		quorum.c		majorities: commit index, vote tallies, read acks
 *		node.c			node lifecycle, term rules, step dispatch, ready/advance
 *		election.c		pre-vote, vote, campaign, leadership transfer target
 *		replication.c	leader: append, heartbeat, commit; follower: accept
 *		membership.c	configuration tracking and changes
 *		readindex.c		linearizable reads
 *		proposal.c		application requests: propose, change, transfer, compact
 *		config.c		configuration encoding and single-server changes
 *		arena.c			per-batch memory and deferred frees
 *		util.c			error strings, names, the libc allocator
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/raft.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_RAFT_H
#define PGRAFT_RAFT_H

#include "pgraft/core.h"

/* ---------------------------------------------------------------------- */
/* Memory                                                                 */
/* ---------------------------------------------------------------------- */

void *pgr_mem_alloc(const struct pgr_allocator *a, size_t size);
void *pgr_mem_realloc(const struct pgr_allocator *a, void *p, size_t old_size, size_t new_size);
void pgr_mem_free(const struct pgr_allocator *a, void *p);

/*
 * A bump allocator for memory that lives exactly until the next advance:
 * shallow copies of entries carried by outgoing messages, forwarded
 * proposals' payloads.
 */
struct pgr_arena_chunk;

struct pgr_arena
{
	const struct pgr_allocator *alloc;
	struct pgr_arena_chunk *head;
};

void *pgr_arena_alloc(struct pgr_arena *arena, size_t size);
void pgr_arena_reset(struct pgr_arena *arena);

/*
 * Buffers (entry payloads, snapshot data) that a queued message may still
 * point to are not freed when the log drops them, but parked here and freed
 * at the next advance, after the batch that carried those messages.
 */
struct pgr_garbage
{
	const struct pgr_allocator *alloc;
	void **ptrs;
	size_t n;
	size_t cap;
};

enum pgr_err pgr_garbage_add(struct pgr_garbage *g, void *p);
void pgr_garbage_collect(struct pgr_garbage *g);

/* ---------------------------------------------------------------------- */
/* Log                                                                    */
/* ---------------------------------------------------------------------- */

/*
 * The log kept in memory: everything after the latest snapshot.
 *
 *	snap_index <= applied <= committed <= last_index
 *	stable <= last_index: entries above stable are not yet persisted
 *	ents[start + i].index == snap_index + 1 + i for i in [0, n)
 *	ents[k].term is non-decreasing in k and >= snap_term
 */
struct pgr_log
{
	const struct pgr_allocator *alloc;
	struct pgr_garbage *garbage;
	uint64_t snap_index;
	uint64_t snap_term;
	struct pgr_entry *ents; /* array of cap slots, live ones [start, start+n) */
	size_t start;
	size_t n;
	size_t cap;
	uint64_t committed;
	uint64_t applied;
	uint64_t stable;
};

static inline uint64_t
pgr_log_last_index(const struct pgr_log *log)
{
	return log->snap_index + log->n;
}

static inline uint64_t
pgr_log_first_index(const struct pgr_log *log)
{
	return log->snap_index + 1;
}

/* Entry at index; the caller ensures first_index <= index <= last_index. */
static inline struct pgr_entry *
pgr_log_at(const struct pgr_log *log, uint64_t index)
{
	return &log->ents[log->start + (size_t) (index - log->snap_index - 1)];
}

uint64_t pgr_log_last_term(const struct pgr_log *log);
enum pgr_err pgr_log_term(const struct pgr_log *log, uint64_t index, uint64_t *term);
bool pgr_log_match_term(const struct pgr_log *log, uint64_t index, uint64_t term);
bool pgr_log_is_up_to_date(const struct pgr_log *log, uint64_t last_index, uint64_t last_term);

/* Append copies of ents (must continue the log exactly). */
enum pgr_err pgr_log_append(struct pgr_log *log, const struct pgr_entry *ents, size_t n);

/* Make room for n more entries (so a following append cannot fail on the array). */
enum pgr_err pgr_log_reserve(struct pgr_log *log, size_t n);

/* Drop entries with index >= from (from > committed). */
enum pgr_err pgr_log_truncate(struct pgr_log *log, uint64_t from);

/* Drop entries <= index (index <= applied), moving the snapshot boundary. */
enum pgr_err pgr_log_compact(struct pgr_log *log, uint64_t index, uint64_t term);

/* Replace everything by a snapshot boundary at (index, term). */
enum pgr_err pgr_log_restore(struct pgr_log *log, uint64_t index, uint64_t term);

/*
 * Largest index <= index whose term <= term (fast backtracking, the
 * follower's hint and the leader's use of it).  Stops at the snapshot.
 */
uint64_t pgr_log_find_conflict_by_term(const struct pgr_log *log, uint64_t index, uint64_t term);

void pgr_log_free(struct pgr_log *log);

/* ---------------------------------------------------------------------- */
/* Progress                                                               */
/* ---------------------------------------------------------------------- */

/*
 * The leader's view of one member.
 *
 *	match < next; match is what the member acknowledged having (durably)
 *	PROBE: at most one MsgApp in flight (probe_sent), next may be wrong
 *	REPLICATE: next is optimistic; up to max_inflight MsgApps pipelined,
 *		inflight[] holds the last index of each, oldest first
 *	SNAPSHOT: waiting for pending_snapshot to be installed; nothing sent
 */
struct pgr_progress
{
	uint64_t id;
	bool is_learner;
	uint64_t match;
	uint64_t next;
	enum pgr_progress_state state;
	uint64_t pending_snapshot;
	bool probe_sent;
	bool recent_active;        /* heard from it since the last quorum check */
	uint32_t snapshot_elapsed; /* ticks in SNAPSHOT, to retry lost ones */
	uint64_t contact_elapsed;  /* ticks since last message from it */
	uint64_t read_ack;         /* highest heartbeat read sequence it echoed */
	uint64_t *inflight;        /* ring of max_inflight last indexes */
	uint32_t inflight_start;
	uint32_t inflight_count;
	uint32_t inflight_cap;
};

void pgr_progress_become_probe(struct pgr_progress *pr);
void pgr_progress_become_replicate(struct pgr_progress *pr);
void pgr_progress_become_snapshot(struct pgr_progress *pr, uint64_t snap_index);
bool pgr_progress_maybe_update(struct pgr_progress *pr, uint64_t index);
bool pgr_progress_maybe_decr_to(struct pgr_progress *pr, uint64_t rejected, uint64_t match_hint);
bool pgr_progress_is_paused(const struct pgr_progress *pr);
void pgr_progress_sent(struct pgr_progress *pr, uint64_t last_index, size_t n_entries);
void pgr_progress_free_to(struct pgr_progress *pr, uint64_t index);
void pgr_progress_free_first(struct pgr_progress *pr);

/* ---------------------------------------------------------------------- */
/* Quorum                                                                 */
/* ---------------------------------------------------------------------- */

enum pgr_vote_result
{
	PGR_VOTE_PENDING,
	PGR_VOTE_WON,
	PGR_VOTE_LOST
};

struct pgr_node;

uint64_t pgr_quorum_commit_index(const struct pgr_node *node);
enum pgr_vote_result pgr_quorum_vote_result(const struct pgr_node *node);
bool pgr_quorum_active(const struct pgr_node *node);
bool pgr_quorum_read_acked(const struct pgr_node *node, uint64_t seq);

/* ---------------------------------------------------------------------- */
/* The node                                                               */
/* ---------------------------------------------------------------------- */

struct pgr_vote
{
	uint64_t id;
	bool granted;
};

/* A ReadIndex request the leader is confirming. */
struct pgr_pending_read
{
	uint64_t seq;   /* heartbeat read sequence; 0 until sent */
	uint64_t index; /* commit index when the request arrived */
	uint64_t from;  /* requester (self for local reads) */
	uint64_t context;
};

struct pgr_node
{
	struct pgr_options opts;
	struct pgr_allocator alloc;
	uint64_t id;

	/* persistent state (hard state) */
	uint64_t term;
	uint64_t vote;
	struct pgr_log log;

	/* volatile state */
	enum pgr_role role;
	uint64_t lead;
	uint32_t election_elapsed; /* ticks since reset (leader: since quorum check) */
	uint32_t leaderless_ticks; /* ticks since a leader was last known (this node
								 * included); 0 at start, saturating */
	uint32_t heartbeat_elapsed;
	uint32_t randomized_election_timeout; /* in [T, 2T) */
	uint64_t prng;

	/* membership: the latest configuration in the log */
	struct pgr_config config;
	uint64_t config_index;
	bool removed;                 /* a leader said we are not a member (MsgRemoved);
								 * cleared when a leader replicates to us */
	struct pgr_snapshot snapshot; /* latest snapshot (data owned), index 0 = none */

	/* leader state */
	struct pgr_progress *prs; /* one per member of config, same order */
	uint32_t n_prs;
	uint64_t lead_transferee;
	uint32_t transfer_elapsed;

	/* candidate state */
	struct pgr_vote votes[PGR_MAX_MEMBERS];
	uint32_t n_votes;

	/* reads: pending on the leader, and completed ones for the next ready */
	struct pgr_pending_read *reads;
	size_t n_reads;
	size_t cap_reads;
	uint64_t read_seq;   /* last heartbeat read sequence issued */
	bool read_round_due; /* reads wait for a round: started at the next ready */
	struct pgr_read_state *done_reads;
	size_t n_done_reads;
	size_t cap_done_reads;

	/* outbox and per-batch memory */
	struct pgr_msg *msgs;
	size_t n_msgs;
	size_t cap_msgs;
	struct pgr_arena arena;
	struct pgr_garbage garbage;

	/* ready bookkeeping */
	struct pgr_hard_state prev_hs; /* as of the last advance */
	bool snapshot_unstable;        /* snapshot to hand out for installing */
	bool in_ready;
	uint64_t ready_stable;  /* last entry index handed out to persist */
	uint64_t ready_applied; /* last committed index handed out */

	/* counters */
	uint64_t msgs_stepped;
	uint64_t heartbeats_sent;
	uint64_t pre_votes_started; /* pre-elections (PreVote) */
	uint64_t elections_started; /* elections: this node became candidate */
	uint64_t pre_votes_won;     /* pre-elections that led to an election */
	uint64_t elections_won;     /* elections that made this node leader */
};

/*
 * invariants.c: the invariants above, checked after every call that changes
 * a node in the builds that define PGR_CHECK_INVARIANTS (make SAN=1 or
 * DEBUG=1); a violation aborts.
 */
void pgr_check_invariants(const struct pgr_node *node, const char *where);
#ifdef PGR_CHECK_INVARIANTS
#define PGR_CHECK_NODE(node, where) pgr_check_invariants((node), (where))
#else
#define PGR_CHECK_NODE(node, where) ((void) 0)
#endif

/* node.c */
void pgr_become_follower(struct pgr_node *node, uint64_t term, uint64_t lead);
enum pgr_err pgr_become_candidate(struct pgr_node *node);
void pgr_become_pre_candidate(struct pgr_node *node);
enum pgr_err pgr_become_leader(struct pgr_node *node);
enum pgr_err pgr_send(struct pgr_node *node, const struct pgr_msg *msg);
void pgr_reset_randomized_timeout(struct pgr_node *node);
bool pgr_is_voter(const struct pgr_node *node);
bool pgr_promotable(const struct pgr_node *node);
struct pgr_progress *pgr_progress_of(const struct pgr_node *node, uint64_t id);
bool pgr_past_election_timeout(const struct pgr_node *node);

/* election.c */
enum pgr_err pgr_hup(struct pgr_node *node, bool transfer);
enum pgr_err pgr_handle_vote_request(struct pgr_node *node, const struct pgr_msg *m);
enum pgr_err pgr_handle_vote_response(struct pgr_node *node, const struct pgr_msg *m);

/* replication.c */
enum pgr_err pgr_append_entries(struct pgr_node *node, const struct pgr_entry *ents, size_t n);
enum pgr_err pgr_send_append(struct pgr_node *node, struct pgr_progress *pr, bool send_if_empty);
enum pgr_err pgr_bcast_append(struct pgr_node *node);
enum pgr_err pgr_bcast_heartbeat(struct pgr_node *node, uint64_t read_seq);
bool pgr_maybe_commit(struct pgr_node *node);
enum pgr_err pgr_handle_append(struct pgr_node *node, const struct pgr_msg *m);
enum pgr_err pgr_handle_heartbeat(struct pgr_node *node, const struct pgr_msg *m);
enum pgr_err pgr_handle_snapshot(struct pgr_node *node, const struct pgr_msg *m);
enum pgr_err pgr_handle_append_response(struct pgr_node *node, const struct pgr_msg *m);
enum pgr_err pgr_handle_heartbeat_response(struct pgr_node *node, const struct pgr_msg *m);
enum pgr_err pgr_validate_entries(const struct pgr_node *node, const struct pgr_msg *m);

/* config.c */
bool pgr_config_valid(const struct pgr_config *conf);
enum pgr_err pgr_conf_change_encode(const struct pgr_conf_change *cc, uint8_t *buf, size_t cap,
									size_t *len_out);
enum pgr_err pgr_conf_change_decode(const uint8_t *buf, size_t len, struct pgr_conf_change *out);

/* membership.c */
enum pgr_err pgr_config_changed(struct pgr_node *node);
/* Bytes a configuration entry's data may take (pgr_config_encode). */
#define PGR_CONFIG_ENTRY_MAX (PGR_MAX_MEMBERS * (8 + 1 + 2 + PGR_MAX_CONTEXT) + 16)
/* conf encoded into buf as the configuration entry at (term, index). */
enum pgr_err pgr_config_entry(const struct pgr_config *conf, uint64_t term, uint64_t index,
							  uint8_t buf[PGR_CONFIG_ENTRY_MAX], struct pgr_entry *out);
enum pgr_err pgr_progress_reset_all(struct pgr_node *node);
enum pgr_err pgr_leader_conf_change(struct pgr_node *node, const struct pgr_conf_change *cc,
									uint64_t *index_out);
enum pgr_err pgr_config_at(const struct pgr_node *node, uint64_t index, struct pgr_config *out);

/* readindex.c */
enum pgr_err pgr_leader_read_index(struct pgr_node *node, uint64_t from, uint64_t context);
enum pgr_err pgr_reads_release_committed(struct pgr_node *node);
enum pgr_err pgr_reads_start_round(struct pgr_node *node);
enum pgr_err pgr_reads_on_ack(struct pgr_node *node);
enum pgr_err pgr_reads_fail_all(struct pgr_node *node);
enum pgr_err pgr_read_done(struct pgr_node *node, uint64_t context, uint64_t index, bool failed);

#endif /* PGRAFT_RAFT_H */
