/*-------------------------------------------------------------------------
 *
 * app.h
 *		pgraft's application layer: what the node does with its Raft log,
 *		and the lifecycle of the calls made to it.  Pure: no PostgreSQL, no
 *		I/O, no clock (time enters as milliseconds on the caller's clock),
 *		memory only through the caller's allocator.  The PostgreSQL worker
 *		and the cluster simulator run exactly this code.
 *
 * Three parts:
 *
 * THE ENVELOPE (src/app/envelope.c).  Every application entry starts with a
 * header naming the call that proposed it: origin node, the origin's
 * incarnation (larger at every start of its worker) and a sequence number
 * within that incarnation, the lowest number of the origin's calls still
 * pending, and the term it was proposed in.  (origin, incarnation, seq) is
 * unique across restarts, so an entry proposed by an earlier incarnation
 * can never finish a later incarnation's call.
 *
 * THE STATE MACHINE (src/app/state.c).  Applying committed entries in order
 * (and installing snapshots) maintains struct pgr_app_state: the applied
 * index and term, the count of entries that count, the membership as
 * committed, and for each origin its session: the calls of its latest
 * incarnation that counted and are not yet behind its low watermark.  An
 * application entry COUNTS if it was appended in the term it was proposed in
 * (a proposal forwarded across a leader change is void, never a silent late
 * write), belongs to the origin's latest incarnation, is not behind its
 * watermark (its call has ended) and is the first copy of its call (a
 * repeated copy is a duplicate).  So a call may be proposed as often as a
 * lost message requires and still counts at most once.  The state is what
 * snapshots carry, so a node that catches up by snapshot still knows which
 * of its pending calls the snapshot covers.
 *
 * THE CALLS (src/app/calls.c).  A call (append, read barrier, add or remove
 * a member, transfer leadership) lives in a struct pgr_calls from start to
 * outcome.  The caller's loop drives it:
 *	  pgr_calls_start()		a request arrived (with its deadline);
 *	  pgr_calls_drive()		once per wake-up, BEFORE collecting a ready batch:
 *							propose, re-propose, issue reads, retry steps,
 *							expire deadlines (this is the only function
 *							that calls into the Raft node);
 *	  pgr_app_apply_ready() in the APPLY step of every ready batch: install the
 *							snapshot, apply the committed entries, report
 *							completed reads, and resolve the calls they decide;
 *	  pgr_calls_cancel()	the caller gave up (the call ends, unanswered);
 *	  pgr_calls_next_done() take the finished calls and answer them.
 * Every call ends exactly once, with one of
 *	  OK		it happened (an append: at this index, which holds its data on
 *				every node for good; a read: this index is safe to read at);
 *	  FAILED	it did not happen and never will;
 *	  UNKNOWN	it may or may not have happened (the deadline passed while a
 *				proposal was still alive).
 * The simulator (test/sim) checks these promises over thousands of seeds.
 *
 * THE HANDOVER (src/app/handover.c).  A leader whose process is asked to
 * stop first hands leadership to its successor (pgr_node_successor), so
 * that a planned restart costs the cluster no election timeout and no
 * failed write.  The caller keeps its loop running after the stop request:
 *	  pgr_handover_begin()	once, when the stop is requested;
 *	  pgr_handover_drive()	once per wake-up, BEFORE collecting a ready batch;
 * and stops once the state is no longer PGR_HANDOVER_WAITING: another node
 * leads, or the deadline passed, or there was nothing to hand over.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * include/pgraft/app.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_APP_H
#define PGRAFT_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgraft/core.h"

/* ---------------------------------------------------------------------- */
/* The envelope                                                           */
/* ---------------------------------------------------------------------- */

#define PGR_ENVELOPE_SIZE 44 /* header bytes before the payload */

/* Who proposed an application entry. */
struct pgr_call_id
{
	uint64_t origin;      /* proposing node */
	uint64_t incarnation; /* its worker's start: grows with every start */
	uint64_t seq;         /* call number within the incarnation */
};

/* What the payload is. */
enum pgr_payload_kind
{
	PGR_PAYLOAD_DATA = 1, /* bytes for the log (pgraft_log_append) */
	PGR_PAYLOAD_KV = 2    /* a key-value command (kv.h) */
};

struct pgr_envelope
{
	struct pgr_call_id id;
	enum pgr_payload_kind kind;
	uint64_t low;        /* every call of the incarnation numbered below
								 * low had ended when this was proposed */
	uint64_t term;       /* term it was proposed in */
	const uint8_t *data; /* the payload, inside the entry */
	uint32_t len;
};

/* Write the header (PGR_ENVELOPE_SIZE bytes) at buf. */
void pgr_envelope_write(uint8_t *buf, const struct pgr_call_id *id, uint64_t low, uint64_t term,
						enum pgr_payload_kind kind);

/* Parse an entry's data; false if it is not an envelope. */
bool pgr_envelope_read(const uint8_t *buf, uint32_t len, struct pgr_envelope *out);

/* ---------------------------------------------------------------------- */
/* The application state machine                                          */
/* ---------------------------------------------------------------------- */

#define PGR_APP_SESSION_CALLS 256 /* counted calls remembered per origin */

/* A call that counted, and where. */
struct pgr_app_call
{
	uint64_t seq;
	uint64_t index;
};

/*
 * What the log says about one origin's calls (the client session of the
 * Raft dissertation, 6.3).  Only the latest incarnation seen is tracked:
 * entries of an older one no longer count (all its calls ended when it
 * stopped).
 *
 *	calls[] are the counted calls numbered >= low, sorted by seq, at most
 *	PGR_APP_SESSION_CALLS; a call numbered below low never counts again
 *	(the origin said every such call had ended, or the session had to
 *	forget it for room, and then it had not counted)
 */
struct pgr_app_session
{
	uint64_t origin;
	uint64_t incarnation;
	uint64_t low;
	uint32_t n;
	struct pgr_app_call calls[PGR_APP_SESSION_CALLS];
};

/*
 * The state the log builds.  applied and applied_term follow every entry
 * applied (or the snapshot installed); config is the configuration of the
 * latest configuration entry at or below applied, i.e. committed.
 *
 *	sessions are sorted by origin, at most one per origin; an origin
 *	without a session had none, or lost it when the table was full: then
 *	forgotten is set and its pending calls' outcome can no longer be told
 *	from the state alone
 */
struct pgr_app_state
{
	uint64_t applied;
	uint64_t applied_term;
	uint64_t entries_counted; /* application entries that counted */
	uint64_t config_index;
	struct pgr_config config;
	bool forgotten;
	uint32_t n_sessions;
	struct pgr_app_session sessions[PGR_MAX_MEMBERS];
};

/* What applying one entry made of it. */
enum pgr_app_verdict
{
	PGR_APP_NOOP = 0,   /* a leader's empty entry */
	PGR_APP_CONFIG,     /* a configuration: now the committed one */
	PGR_APP_DATA,       /* an application entry that counts */
	PGR_APP_SUPERSEDED, /* proposed in another term: void */
	PGR_APP_DUPLICATE,  /* a repeat of a call that counted */
	PGR_APP_EXPIRED,    /* a copy of a call that had ended: void */
	PGR_APP_FOREIGN     /* data pgraft did not write: ignored */
};

const char *pgr_app_verdict_name(enum pgr_app_verdict v);

/*
 * The key-value command an applied entry carries, if it carries one: an
 * entry that counts (verdict PGR_APP_DATA) in an envelope of kind
 * PGR_PAYLOAD_KV.  Appended data (kind DATA), repeats, voided copies and
 * foreign bytes never are, whatever their bytes.  The one rule of what the
 * store applies, for the worker and the tests alike.
 */
bool pgr_app_kv_command(const struct pgr_entry *e, enum pgr_app_verdict v, const uint8_t **cmd,
						uint32_t *len);

/* An empty state (a node that holds nothing). */
void pgr_app_state_init(struct pgr_app_state *st);

/*
 * Apply one committed entry (e->index must be applied + 1).  Fills *env when
 * the entry is an envelope (DATA, SUPERSEDED, DUPLICATE, EXPIRED).
 */
enum pgr_err pgr_app_apply(struct pgr_app_state *st, const struct pgr_entry *e,
						   enum pgr_app_verdict *verdict, struct pgr_envelope *env);

/*
 * Whether a PENDING call of the running incarnation has counted, as far as
 * st tells:
 *	PGR_OK				it counted at *index_out;
 *	PGR_ENOENT			it has not counted (at or below st->applied);
 *	PGR_ECOMPACTED		it never can (its session moved past it);
 *	PGR_EUNAVAILABLE	st cannot tell (its session was forgotten).
 */
enum pgr_err pgr_app_find_call(const struct pgr_app_state *st, const struct pgr_call_id *id,
							   uint64_t *index_out);

/*
 * The state as snapshot data, and back, with the key-value store (kv.h)
 * that the same entries built (kv NULL: an empty one).  The configuration
 * is not in it: it travels in the snapshot's metadata, which
 * pgr_app_state_decode takes.  Decoding checks the state and says where the
 * store's encoding is (*kv NULL, *kv_len 0 for an empty store): the caller
 * decodes it with pgr_kv_decode.  Without the store, encoded_size is at
 * most PGR_APP_STATE_MAX bytes.
 */
#define PGR_APP_STATE_MAX (72 + PGR_MAX_MEMBERS * (32 + PGR_APP_SESSION_CALLS * 16))
struct pgr_kv;
size_t pgr_app_state_encoded_size(const struct pgr_app_state *st, const struct pgr_kv *kv);
void pgr_app_state_encode(const struct pgr_app_state *st, const struct pgr_kv *kv, uint8_t *buf,
						  size_t *len_out);
enum pgr_err pgr_app_state_decode(const uint8_t *buf, uint64_t len,
								  const struct pgr_snapshot_meta *meta, struct pgr_app_state *out,
								  const uint8_t **kv, size_t *kv_len);

/* ---------------------------------------------------------------------- */
/* Calls                                                                  */
/* ---------------------------------------------------------------------- */

#define PGR_CALLS_MAX 256

enum pgr_call_kind
{
	PGR_CALL_APPEND = 1, /* replicate a payload; OK with its index */
	PGR_CALL_READ,       /* read barrier; OK with an index applied here */
	PGR_CALL_ADD,        /* add node_id at context as a learner */
	PGR_CALL_REMOVE,     /* remove node_id */
	PGR_CALL_TRANSFER    /* make node_id the leader */
};

enum pgr_call_outcome
{
	PGR_CALL_PENDING = 0,
	PGR_CALL_OK,
	PGR_CALL_FAILED,
	PGR_CALL_UNKNOWN
};

/* Why a call failed or its outcome is unknown. */
enum pgr_call_reason
{
	PGR_CALL_DONE = 0,      /* OK */
	PGR_CALL_TIMEOUT,       /* the deadline passed */
	PGR_CALL_TERM_CHANGED,  /* append with a term fence: the term moved on */
	PGR_CALL_TOO_BIG,       /* payload over the core's limit */
	PGR_CALL_ID_TAKEN,      /* add: the id is a member at another address */
	PGR_CALL_ADDRESS_TAKEN, /* add: another member has the address */
	PGR_CALL_NOT_MEMBER,    /* remove/transfer: no such member (voter) */
	PGR_CALL_LAST_VOTER,    /* remove: it is the only voter */
	PGR_CALL_REFUSED,       /* the leader refused the change (detail) */
	PGR_CALL_PROBE_FAILED,  /* add: the node could not be reached or adopted */
	PGR_CALL_FORGOTTEN      /* snapshot: this node no longer remembers it */
};

const char *pgr_call_reason_name(enum pgr_call_reason r);

struct pgr_call_spec
{
	uint32_t kind;     /* enum pgr_call_kind */
	uint64_t deadline; /* ms on the caller's clock */
	/* APPEND: the payload stays valid, unchanged, until the call is done */
	const uint8_t *payload;
	uint32_t len;
	uint32_t payload_kind; /* APPEND: enum pgr_payload_kind; 0 is DATA */
	uint64_t expect_term;  /* APPEND: 0, or fail unless proposed in this term */
	/* ADD, REMOVE, TRANSFER */
	uint64_t node_id;
	uint32_t context_len; /* ADD: the member's context ("host:port") */
	uint8_t context[PGR_MAX_CONTEXT];
	bool probe; /* ADD: wait for pgr_calls_probe_done() first */
};

struct pgr_call_done
{
	uint32_t tag;
	uint32_t kind;
	enum pgr_call_outcome outcome;
	enum pgr_call_reason reason;
	uint64_t index;   /* OK: the append's index, the read's index,
								 * the configuration's index */
	uint64_t term;    /* TERM_CHANGED: the term it would have had */
	char detail[256]; /* REFUSED, PROBE_FAILED: why */
};

struct pgr_call; /* one pending call (calls.c) */

struct pgr_calls
{
	struct pgr_allocator alloc;
	uint64_t origin;
	uint64_t incarnation;
	uint64_t next_seq;
	uint32_t retry_ms;      /* re-issue reads and changes this often */
	struct pgr_call *calls; /* PGR_CALLS_MAX of them */
	uint32_t hi;            /* calls[hi..] are all free: every scan stops
								 * there (a call takes the lowest free slot) */
	uint32_t n_active;
	uint32_t n_done; /* finished, not yet taken */
};

/*
 * Set up an empty table for node origin, incarnation incarnation: larger
 * than every earlier incarnation of the origin (the worker persists it);
 * it is what keeps call ids unique across restarts and lets the state
 * machine void copies of calls a restart ended.
 * retry_ms: how long to wait for a forwarded read or change before asking
 * again (an election timeout is right).  PGR_ENOMEM or PGR_OK.
 */
enum pgr_err pgr_calls_init(struct pgr_calls *c, const struct pgr_allocator *alloc, uint64_t origin,
							uint64_t incarnation, uint32_t retry_ms);
void pgr_calls_free(struct pgr_calls *c);

/*
 * A new call under the caller's tag (unique among pending calls).  It does
 * nothing to the node yet: the next pgr_calls_drive() acts.  PGR_EINVAL
 * for a bad spec or a tag in use, PGR_EBUSY when the table is full.
 */
enum pgr_err pgr_calls_start(struct pgr_calls *c, uint32_t tag, const struct pgr_call_spec *spec);

/* The caller gave up on tag: the call ends now and is never reported. */
void pgr_calls_cancel(struct pgr_calls *c, uint32_t tag);

/* Was anything of tag's call proposed that may still take effect? */
bool pgr_calls_in_flight(const struct pgr_calls *c, uint32_t tag);

/* ADD calls waiting for their probe; the caller probes and reports back. */
bool pgr_calls_next_probe(struct pgr_calls *c, uint32_t *tag, const struct pgr_call_spec **spec);
void pgr_calls_probe_done(struct pgr_calls *c, uint32_t tag, bool ok, const char *detail);

/*
 * Act on the node for every pending call, and end the calls whose deadline
 * passed.  Must not be called between pgr_node_ready and pgr_node_advance.
 * Returns PGR_ENOMEM (rebuild the node, as the core's contract says) or
 * PGR_OK.
 */
enum pgr_err pgr_calls_drive(struct pgr_calls *c, struct pgr_node *node,
							 const struct pgr_app_state *app, uint64_t now);

/*
 * The APPLY step of a ready batch (core contract 3c), for the worker and the
 * simulator alike: install the snapshot (snap_state is rd->snapshot's data,
 * decoded by the caller with pgr_app_state_decode; NULL when the batch has
 * no snapshot), apply rd->committed in order, then resolve the calls that
 * the snapshot, the entries and rd->reads decide.  verdicts, if not NULL,
 * receives one verdict per committed entry.  An error (PGR_EINVAL: an entry
 * that does not continue the applied log, or a snapshot state that does
 * not match the snapshot; PGR_ECORRUPT: a configuration entry that does not
 * decode) means app no longer follows the log: rebuild from storage.
 */
enum pgr_err pgr_app_apply_ready(struct pgr_app_state *app, struct pgr_calls *calls,
								 const struct pgr_ready *rd, const struct pgr_app_state *snap_state,
								 enum pgr_app_verdict *verdicts);

/* Take one finished call; false when there is none. */
bool pgr_calls_next_done(struct pgr_calls *c, struct pgr_call_done *out);

/* Pending calls (not yet taken). */
uint32_t pgr_calls_pending(const struct pgr_calls *c);

/* ---------------------------------------------------------------------- */
/* The handover                                                           */
/* ---------------------------------------------------------------------- */

enum pgr_handover_state
{
	PGR_HANDOVER_WAITING = 0,  /* the transfer is under way: keep running */
	PGR_HANDOVER_NOT_LEADING,  /* nothing to hand over */
	PGR_HANDOVER_NO_SUCCESSOR, /* no other voter alive: stop anyway */
	PGR_HANDOVER_DONE,         /* another node leads: stop */
	PGR_HANDOVER_TIMED_OUT     /* the deadline passed: stop anyway */
};

struct pgr_handover
{
	enum pgr_handover_state state;
	uint64_t target; /* the successor asked last, PGR_NONE before */
	uint64_t leader; /* DONE: who leads now */
	uint64_t started_ms;
	uint64_t deadline_ms;
	uint32_t attempts; /* transfers asked for */
};

const char *pgr_handover_state_name(enum pgr_handover_state st);

/*
 * Start handing over, to end by now_ms + timeout_ms (an election timeout is
 * the natural bound: the core gives up a transfer after one).  Errors are
 * the core's (PGR_ENOMEM: rebuild the node); h->state says what to do.
 */
enum pgr_err pgr_handover_begin(struct pgr_handover *h, struct pgr_node *node, uint64_t now_ms,
								uint32_t timeout_ms);

/*
 * Once per wake-up while h->state is PGR_HANDOVER_WAITING: finish when
 * another node leads or at the deadline, and ask the next successor when
 * the core gave up a transfer while the deadline is still ahead.
 */
enum pgr_err pgr_handover_drive(struct pgr_handover *h, struct pgr_node *node, uint64_t now_ms);

#endif /* PGRAFT_APP_H */
