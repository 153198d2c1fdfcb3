/*-------------------------------------------------------------------------
 *
 * core.h
 *		The pgraft Raft engine: a pure, deterministic state machine.
 *
 * The core implements Raft (Ongaro & Ousterhout, and Ongaro's dissertation)
 * with PreVote, CheckQuorum, pipelined replication, ReadIndex, leadership
 * transfer, single-server membership changes and snapshots.  It performs no
 * I/O, reads no clock and allocates only through the caller's allocator:
 * time enters through pgr_node_tick(), randomness through a PRNG seeded by
 * the caller, and everything the node wants done leaves through a ready
 * batch.  The same node, fed the same calls, makes the same decisions; the
 * cluster simulator (test/sim/) relies on that.
 *
 * THE CALLER'S CONTRACT
 *
 * 1. Drive.  Call pgr_node_tick() at a fixed interval (one tick; the
 *	  election and heartbeat timeouts are counted in ticks), pgr_node_step()
 *	  for every message that arrives, and the request functions (propose,
 *	  conf change, read index, transfer, compact) when the application asks.
 *
 * 2. Collect.  After any of those, pgr_node_has_ready() says whether there is
 *	  work; pgr_node_ready() fills a struct pgr_ready.  Between
 *	  pgr_node_ready() and pgr_node_advance() the caller must not call any
 *	  other mutating function on the node: everything the ready batch points
 *	  to (entries, messages, the snapshot) is owned by the node and stays
 *	  valid, unchanged, exactly until pgr_node_advance().
 *
 * 3. Execute the batch strictly in this order:
 *	  a. PERSIST: if ready.snapshot is set, store it durably and discard every
 *		 stored log entry (the log now starts after the snapshot); then, if
 *		 n_entries > 0, store the entries, first discarding every stored entry
 *		 with index >= entries[0].index (a new leader may overwrite an
 *		 uncommitted suffix); then, if has_hard_state, store the hard state.
 *		 When must_sync is true, all of that must be durable (fsync) before
 *		 step b; when it is false only the commit index changed and it may be
 *		 written lazily (a lost commit index is relearned from the leader).
 *	  b. SEND every message in ready.msgs (in any order; any may be lost).
 *		 Sending before persisting would let a node acknowledge entries or
 *		 grant votes it may forget in a crash.  The exception: the first
 *		 ready.n_msgs_early messages may be sent BEFORE step a.  They are a
 *		 leader's appends, heartbeats and snapshots, which acknowledge
 *		 nothing, so the leader writes its log while its followers write
 *		 theirs (dissertation 10.2.1).  That is safe because the leader
 *		 counts its own copy toward commitment only through answers it steps
 *		 after this batch, by which time step a is done, and the core offers
 *		 early messages only when no commit index they carry exceeds what was
 *		 already durable.
 *	  c. APPLY ready.committed in order, then report ready.reads (each says:
 *		 the read with this context is linearizable once this node has
 *		 applied up to .index).  Entries are applied only after step a, so an
 *		 entry is never applied by a node that could lose it.
 *	  d. ADVANCE: call pgr_node_advance().
 *
 * 4. Restart.  After a crash, build the node again from what step a stored:
 *	  pgr_node_new() with the stored hard state, the newest snapshot (meta and
 *	  data) and the stored entries after it.  Term and vote are never lost, so
 *	  a restarted node never votes twice in one term.
 *
 * 5. Errors.  Every function returns enum pgr_err.  Input from the network
 *	  (pgr_node_step) is never trusted: a malformed message is rejected with
 *	  PGR_EBADMSG and leaves the node unchanged; a message that is valid but
 *	  useless (stale term, unknown sender) returns a PGR_EIGNORED-class code.
 *	  PGR_ENOMEM may leave the node half-updated: the caller must then throw
 *	  the node away (pgr_node_free) and rebuild it from storage, as after a
 *	  crash.  No function ever asserts or aborts on input.
 *
 * MEMBERSHIP: single-server changes (dissertation, section 4.1).  A node uses
 * the latest configuration in its log, committed or not; the leader proposes
 * a change only when the previous configuration entry is committed and an
 * entry of its own term is committed (the fix for the single-server bug
 * Ongaro reported in 2015); each change adds or removes one voter, or adds,
 * promotes or removes one learner, so any majority of the old configuration
 * overlaps any majority of the new one.  Configuration entries carry the whole
 * configuration (each member's id, role and opaque context, e.g. its
 * address), so every node learns every member from the log alone.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * include/pgraft/core.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_CORE_H
#define PGRAFT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */
/* ---------------------------------------------------------------------- */

enum pgr_err
{
	PGR_OK = 0,
	PGR_ENOMEM,        /* allocation failed; rebuild the node */
	PGR_EINVAL,        /* a caller's argument is invalid */
	PGR_EBADMSG,       /* a message is malformed or impossible */
	PGR_EIGNORED,      /* message valid but not for us now (stale term...) */
	PGR_EUNKNOWN_NODE, /* sender is not a member we track */
	PGR_ENOLEADER,     /* no leader is known; retry later */
	PGR_ENOTLEADER,    /* only the leader may do this */
	PGR_EBUSY,         /* a conf change or transfer is in progress */
	PGR_EEXIST,        /* membership change would change nothing */
	PGR_ENOENT,        /* no such member */
	PGR_ECOMPACTED,    /* the index was compacted away */
	PGR_EUNAVAILABLE,  /* the index is not in the log (yet) */
	PGR_ETOOBIG,       /* a payload or membership exceeds a limit */
	PGR_ESTATE,        /* call out of order (ready/advance misuse) */
	PGR_ECORRUPT       /* encoded bytes fail validation */
};

/* A short lower-case description of an error code, never NULL. */
const char *pgr_strerror(enum pgr_err err);

/* ---------------------------------------------------------------------- */
/* Allocation and randomness                                              */
/* ---------------------------------------------------------------------- */

/*
 * Every byte the core holds comes from this allocator.  alloc and realloc
 * return NULL on failure (they must not longjmp).  free(ctx, NULL) is a no-op.
 * realloc's old size is passed for allocators that need it.
 */
struct pgr_allocator
{
	void *(*alloc)(void *ctx, size_t size);
	void *(*realloc)(void *ctx, void *ptr, size_t old_size, size_t new_size);
	void (*free)(void *ctx, void *ptr);
	void *ctx;
};

/* An allocator over libc malloc/realloc/free (the worker's, tests', tools'). */
extern const struct pgr_allocator pgr_libc_allocator;

/* ---------------------------------------------------------------------- */
/* Log entries, hard state, configuration, snapshots                      */
/* ---------------------------------------------------------------------- */

#define PGR_NONE 0 /* no node: ids start at 1 */

enum pgr_entry_type
{
	PGR_ENTRY_NORMAL = 0,     /* application data; empty = leader no-op */
	PGR_ENTRY_CONFIG = 1,     /* a whole configuration (pgr_config_encode) */
	PGR_ENTRY_CONF_CHANGE = 2 /* only inside PGR_MSG_PROP: a change request */
};

/*
 * One log entry.  In the log, index is dense and term never decreases
 * along the log.  data is owned by whoever produced the struct; entries
 * handed out in a ready batch belong to the node.
 */
struct pgr_entry
{
	uint64_t term;
	uint64_t index;
	uint32_t type; /* enum pgr_entry_type */
	uint32_t len;  /* bytes at data; data may be NULL if 0 */
	uint8_t *data;
};

/* What must survive a crash besides the log.  term and vote never go back. */
struct pgr_hard_state
{
	uint64_t term;   /* latest term this node has seen */
	uint64_t vote;   /* node voted for in term, or PGR_NONE */
	uint64_t commit; /* highest index known committed */
};

enum pgr_member_role
{
	PGR_MEMBER_VOTER = 0,
	PGR_MEMBER_LEARNER = 1 /* receives the log; neither votes nor counts */
};

#define PGR_MAX_MEMBERS 64
#define PGR_MAX_CONTEXT 256 /* bytes of opaque context per member */

struct pgr_member
{
	uint64_t id;
	uint32_t role; /* enum pgr_member_role */
	uint32_t context_len;
	uint8_t context[PGR_MAX_CONTEXT]; /* e.g. "host:port"; opaque to the core */
};

/* A configuration: members sorted by id, ids unique and non-zero. */
struct pgr_config
{
	uint32_t n_members;
	struct pgr_member members[PGR_MAX_MEMBERS];
};

/*
 * Configuration encoding used in PGR_ENTRY_CONFIG entries and snapshots.
 * Versioned, little-endian, validated on decode (sorted unique ids, known
 * roles, lengths in bounds).  encode writes at most pgr_config_encoded_size()
 * bytes; decode rejects anything malformed with PGR_ECORRUPT.
 */
size_t pgr_config_encoded_size(const struct pgr_config *conf);
enum pgr_err pgr_config_encode(const struct pgr_config *conf, uint8_t *buf, size_t cap,
							   size_t *len_out);
enum pgr_err pgr_config_decode(const uint8_t *buf, size_t len, struct pgr_config *out);
/* Member with this id, or NULL. */
const struct pgr_member *pgr_config_find(const struct pgr_config *conf, uint64_t id);
/* Number of voters. */
uint32_t pgr_config_voters(const struct pgr_config *conf);

enum pgr_conf_change_type
{
	PGR_CC_ADD_VOTER = 0,   /* absent -> voter, or learner -> voter (promote) */
	PGR_CC_ADD_LEARNER = 1, /* absent -> learner */
	PGR_CC_PROMOTE = 2,     /* learner -> voter; anything else is an error */
	PGR_CC_REMOVE = 3       /* voter or learner -> absent */
};

struct pgr_conf_change
{
	uint32_t type; /* enum pgr_conf_change_type */
	uint64_t node_id;
	uint32_t context_len;
	uint8_t context[PGR_MAX_CONTEXT]; /* for adds; kept on promote if empty */
};

/*
 * Apply a change to a configuration (pure; used by the leader and available
 * to callers for validation).  PGR_EEXIST when the change would change
 * nothing (e.g. adding a voter that is a voter with the same context),
 * PGR_ENOENT for removing or promoting a non-member, PGR_EINVAL for
 * impossible changes (demoting a voter, removing the last voter, id 0),
 * PGR_ETOOBIG past PGR_MAX_MEMBERS.  out may alias in.
 */
enum pgr_err pgr_config_apply(const struct pgr_config *in, const struct pgr_conf_change *cc,
							  struct pgr_config *out);

/* Snapshot metadata: the log up to index (whose entry had term) is replaced. */
struct pgr_snapshot_meta
{
	uint64_t index;
	uint64_t term;
	struct pgr_config config; /* configuration as of index */
};

struct pgr_snapshot
{
	struct pgr_snapshot_meta meta;
	uint64_t len;
	uint8_t *data; /* opaque application state at meta.index */
};

/* ---------------------------------------------------------------------- */
/* Messages                                                               */
/* ---------------------------------------------------------------------- */

enum pgr_msg_type
{
	PGR_MSG_APP = 1,      /* AppendEntries: index/log_term = prev entry */
	PGR_MSG_APP_RESP = 2, /* index = last matched; reject + hints */
	PGR_MSG_VOTE = 3,     /* RequestVote: index/log_term = last entry */
	PGR_MSG_VOTE_RESP = 4,
	PGR_MSG_PRE_VOTE = 5, /* term = the term the sender would campaign in */
	PGR_MSG_PRE_VOTE_RESP = 6,
	PGR_MSG_HEARTBEAT = 7, /* commit capped at follower's match; context = read seq */
	PGR_MSG_HEARTBEAT_RESP = 8,
	PGR_MSG_SNAP = 9,             /* InstallSnapshot: snapshot != NULL */
	PGR_MSG_PROP = 10,            /* proposal forwarded to the leader */
	PGR_MSG_READ_INDEX = 11,      /* follower asks leader; context = caller's id */
	PGR_MSG_READ_INDEX_RESP = 12, /* index = read index; reject = failed */
	PGR_MSG_TIMEOUT_NOW = 13,     /* leadership transfer: campaign at once */
	PGR_MSG_TRANSFER_LEADER = 14, /* follower forwards a transfer request; index = target */
	PGR_MSG_REMOVED = 15          /* leader to a non-member that spoke to it: you are
								 * not in the committed configuration at index */
};

#define PGR_MSG_TYPE_MAX PGR_MSG_REMOVED

/*
 * One Raft message.  Fields not used by a type are zero.  In messages from a
 * ready batch, entries and snapshot point into the node's memory (valid until
 * advance).  In messages passed to pgr_node_step they belong to the caller;
 * the node copies what it keeps.
 */
struct pgr_msg
{
	uint32_t type; /* enum pgr_msg_type */
	uint64_t from;
	uint64_t to;
	uint64_t term;     /* sender's term (PRE_VOTE: proposed term) */
	uint64_t log_term; /* APP: prev term; VOTE: last term; APP_RESP reject: term at reject_hint */
	uint64_t index;    /* APP: prev index; VOTE: last index; APP_RESP: matched
								 * index, or on reject the prev index rejected */
	uint64_t commit;   /* leader's commit (APP, HEARTBEAT) */
	uint64_t context;  /* read-index context / heartbeat read sequence */
	uint64_t reject_hint; /* APP_RESP reject: follower's guess of the match (<= its last index) */
	bool reject;
	bool force; /* VOTE/PRE_VOTE: leadership transfer, skip lease check */
	bool quiet; /* APP without entries: accepted, it needs no answer
								 * (the sender knows the follower has prev) */
	uint32_t n_entries;
	struct pgr_entry *entries;
	struct pgr_snapshot *snapshot; /* SNAP only */
};

/* ---------------------------------------------------------------------- */
/* The node                                                               */
/* ---------------------------------------------------------------------- */

enum pgr_role
{
	PGR_ROLE_FOLLOWER = 0,
	PGR_ROLE_PRE_CANDIDATE = 1,
	PGR_ROLE_CANDIDATE = 2,
	PGR_ROLE_LEADER = 3
};

const char *pgr_role_name(enum pgr_role role); /* "follower", ... */
const char *pgr_msg_type_name(uint32_t type);  /* "MsgApp", ..., "unknown" */

struct pgr_options
{
	uint64_t id;               /* this node, > 0 */
	uint32_t election_tick;    /* T: timeouts are drawn from [T, 2T); > heartbeat_tick */
	uint32_t heartbeat_tick;   /* leader heartbeat period, >= 1 */
	uint64_t seed;             /* PRNG seed for election timeouts */
	bool disable_pre_vote;     /* PreVote is on unless this is set */
	bool disable_check_quorum; /* CheckQuorum is on unless this is set */
	uint64_t max_msg_bytes;    /* entry bytes per MsgApp (at least one entry); 0 = 1 MiB */
	uint32_t max_inflight;     /* MsgApp in flight per follower; 0 = 256 */
	uint64_t max_apply_bytes;  /* committed entry bytes per ready; 0 = unlimited */
	uint32_t max_entry_bytes;  /* largest proposal payload; 0 = 64 MiB */
	struct pgr_allocator alloc;
};

/*
 * State loaded from storage at start.  A brand-new node passes all zeros:
 * it has no configuration and waits to be contacted by a leader (join), or
 * the caller calls pgr_node_bootstrap() to found a cluster.
 */
struct pgr_restore
{
	struct pgr_hard_state hs;
	const struct pgr_snapshot *snapshot; /* NULL if none; copied */
	const struct pgr_entry *entries;     /* entries after the snapshot; copied */
	size_t n_entries;
	uint64_t applied; /* the application's applied index (>= snapshot index) */
};

struct pgr_node;

/*
 * Create a node.  Validates options and the restored state (dense indexes,
 * non-decreasing terms, commit within the log, etc.): inconsistent state
 * yields PGR_ECORRUPT and no node.
 */
enum pgr_err pgr_node_new(const struct pgr_options *opts, const struct pgr_restore *restore,
						  struct pgr_node **out);
void pgr_node_free(struct pgr_node *node);

/*
 * Found a cluster whose initial configuration is conf: only on a node with an
 * empty log and term 0.  Appends entry 1 (term 1, PGR_ENTRY_CONFIG), commits
 * it, and sets term 1.  Every initial member must bootstrap with the same
 * configuration (or only one member bootstraps and the others join).
 */
enum pgr_err pgr_node_bootstrap(struct pgr_node *node, const struct pgr_config *conf);

/* One unit of logical time. */
enum pgr_err pgr_node_tick(struct pgr_node *node);

/* Feed one received message.  See contract point 5 for the return codes. */
enum pgr_err pgr_node_step(struct pgr_node *node, const struct pgr_msg *msg);

/* Start an election now (as if the election timeout had fired). */
enum pgr_err pgr_node_campaign(struct pgr_node *node);

/*
 * The transport saw an established connection with peer break: a WEAK
 * signal (a TCP reset, a network blip, a restart of the peer's transport).
 * A leader marks the peer for probing (what was in flight is probably
 * lost).  A follower ignores it: it keeps its leader and the lease that
 * protects that leader, because a reset seen by every follower at once
 * must not depose a leader that still has its quorum.
 */
enum pgr_err pgr_node_report_unreachable(struct pgr_node *node, uint64_t peer);

/*
 * A STRONG signal that peer's process is gone (its host refused a new
 * connection right after the old one broke).  A follower whose leader it
 * is forgets the leader and starts a pre-vote after a random delay of at
 * most a quarter of the election timeout (followers that noticed together
 * must not split the vote); PreVote still protects a leader that is in
 * fact alive.  A leader treats it as pgr_node_report_unreachable.
 * Anything else ignores it.
 */
enum pgr_err pgr_node_report_peer_down(struct pgr_node *node, uint64_t peer);

/* The transport finished (ok=true) or failed to deliver a snapshot to peer. */
enum pgr_err pgr_node_report_snapshot(struct pgr_node *node, uint64_t peer, bool ok);

/*
 * Propose application data.  On the leader the entry is appended and its
 * index returned in *index_out.  On a follower with a known leader the
 * proposal is forwarded (*index_out = 0; the caller learns the outcome by
 * recognising its entry when applied).  PGR_ENOLEADER without a leader,
 * PGR_EBUSY during a leadership transfer, PGR_ETOOBIG past max_entry_bytes.
 * The data is copied.
 */
enum pgr_err pgr_node_propose(struct pgr_node *node, const uint8_t *data, uint32_t len,
							  uint64_t *index_out);

/* Propose several entries at once (one append, one message per follower). */
enum pgr_err pgr_node_propose_batch(struct pgr_node *node, const uint8_t *const *data,
									const uint32_t *lens, uint32_t count,
									uint64_t *first_index_out);

/*
 * Propose a membership change.  On the leader: validated with
 * pgr_config_apply against the latest configuration, refused with PGR_EBUSY
 * while a configuration entry is uncommitted or no entry of the leader's
 * term is committed yet, then the new configuration is appended (and takes
 * effect at once) and its index returned.  On a follower it is forwarded.
 */
enum pgr_err pgr_node_propose_conf_change(struct pgr_node *node, const struct pgr_conf_change *cc,
										  uint64_t *index_out);

/*
 * Disaster recovery after a majority of voters is lost for good (what
 * etcd's --force-new-cluster does): make this node the only voter, in a new
 * term, with a configuration entry appended at *index_out, and its leader.
 * Everything in its log is committed by that; what the lost voters
 * committed beyond it is gone.  PGR_EBUSY while a leader is known, or was
 * within the last election_tick ticks (counted from the node's creation: a
 * restart waits too), so that a working majority is never split;
 * PGR_ENOENT if this node is not in its latest configuration (or a leader
 * said it was removed), PGR_EINVAL on a learner, PGR_EEXIST if it already
 * is the only voter.  A refused call changes nothing.
 */
enum pgr_err pgr_node_force_alone(struct pgr_node *node, uint64_t *index_out);

/*
 * Linearizable read (ReadIndex).  When the read is confirmed, a struct
 * pgr_read_state with this context appears in a ready batch; the read may be
 * served once the caller has applied up to its index.  Reads that cannot be
 * confirmed (leadership lost) appear with failed = true when this node is the
 * one that knows; a follower's forwarded read that is lost simply never
 * completes, so callers use a timeout.
 */
enum pgr_err pgr_node_read_index(struct pgr_node *node, uint64_t context);

/*
 * Hand leadership to target: the leader stops accepting proposals, brings
 * target up to date, then sends it TimeoutNow.  Aborted after an election
 * timeout.  On a follower the request is forwarded to the leader.
 */
enum pgr_err pgr_node_transfer_leadership(struct pgr_node *node, uint64_t target);

/*
 * Leader only: the voter best placed to lead next, PGR_NONE if there is
 * none (or this node does not lead): heard from within the election timeout,
 * with the longest log, the one heard from last among equals.  The same
 * choice a removed leader makes for its TimeoutNow.
 */
uint64_t pgr_node_successor(const struct pgr_node *node);

/*
 * Compact the log up to index (<= applied) with the application's state at
 * index.  The node keeps a copy of data to send to lagging followers and
 * fills *meta_out; the caller then stores the snapshot durably and may drop
 * stored entries <= index (the node drops them from memory now).
 */
enum pgr_err pgr_node_compact(struct pgr_node *node, uint64_t index, const uint8_t *data,
							  uint64_t len, struct pgr_snapshot_meta *meta_out);

/* ---------------------------------------------------------------------- */
/* Ready batches                                                          */
/* ---------------------------------------------------------------------- */

struct pgr_read_state
{
	uint64_t context;
	uint64_t index; /* serve the read once applied >= index */
	bool failed;    /* leadership lost before confirmation */
};

struct pgr_ready
{
	const struct pgr_snapshot *snapshot; /* install: persist, reset state */
	const struct pgr_entry *entries;     /* persist (overwrite from entries[0].index) */
	size_t n_entries;
	bool has_hard_state;
	struct pgr_hard_state hs;   /* persist */
	bool must_sync;             /* fsync before sending */
	const struct pgr_msg *msgs; /* send after persisting... */
	size_t n_msgs;
	size_t n_msgs_early;               /* ...but msgs[0 .. n_msgs_early) may go before */
	const struct pgr_entry *committed; /* apply in order after persisting */
	size_t n_committed;
	const struct pgr_read_state *reads; /* completed reads */
	size_t n_reads;
};

bool pgr_node_has_ready(const struct pgr_node *node);
enum pgr_err pgr_node_ready(struct pgr_node *node, struct pgr_ready *rd);
enum pgr_err pgr_node_advance(struct pgr_node *node);

/* ---------------------------------------------------------------------- */
/* Observation (read-only; safe at any time)                              */
/* ---------------------------------------------------------------------- */

struct pgr_status
{
	uint64_t id;
	uint64_t term;
	uint64_t vote;
	uint64_t leader; /* PGR_NONE if unknown */
	enum pgr_role role;
	uint64_t first_index; /* first entry in memory (snapshot index + 1) */
	uint64_t last_index;
	uint64_t commit;
	uint64_t applied;
	uint64_t snapshot_index;
	uint64_t snapshot_term;
	uint64_t config_index;    /* index of the latest config entry (or snapshot) */
	uint64_t lead_transferee; /* leader: transfer target, else PGR_NONE */
	bool removed;             /* a leader said we are not a member: we do not
								 * campaign until a leader replicates to us */
	/* counters since the node was created */
	uint64_t msgs_stepped;
	uint64_t heartbeats_sent;
	uint64_t pre_votes_started; /* pre-elections; most never become elections */
	uint64_t elections_started; /* terms this node campaigned in as candidate */
	uint64_t pre_votes_won;     /* pre-elections a majority granted */
	uint64_t elections_won;     /* elections that made this node leader (a
								 * transfer's too) */
};

void pgr_node_status(const struct pgr_node *node, struct pgr_status *out);

/* The latest configuration in the log (committed or not). */
const struct pgr_config *pgr_node_config(const struct pgr_node *node);

/* Term of the entry at index: PGR_ECOMPACTED below the snapshot (the
 * snapshot's own index answers its term), PGR_EUNAVAILABLE past the end. */
enum pgr_err pgr_node_term_at(const struct pgr_node *node, uint64_t index, uint64_t *term_out);

/* Entry at index (points into node memory; valid until the next mutating call). */
enum pgr_err pgr_node_entry_at(const struct pgr_node *node, uint64_t index,
							   const struct pgr_entry **out);

enum pgr_progress_state
{
	PGR_PROGRESS_PROBE = 0,
	PGR_PROGRESS_REPLICATE = 1,
	PGR_PROGRESS_SNAPSHOT = 2
};

const char *pgr_progress_state_name(enum pgr_progress_state st);

/* The leader's view of one member (leader only; PGR_ENOTLEADER otherwise). */
struct pgr_progress_info
{
	uint64_t id;
	uint64_t match;
	uint64_t next;
	enum pgr_progress_state state;
	bool recent_active;
	uint32_t inflight;
	uint64_t ticks_since_contact; /* ticks since we last heard from it */
};

enum pgr_err pgr_node_progress(const struct pgr_node *node, uint64_t id,
							   struct pgr_progress_info *out);

#endif /* PGRAFT_CORE_H */
