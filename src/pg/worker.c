/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The pgraft background worker: one Raft node driven by one event loop.
 *
 * THE CONTRACT WITH THE CORE (include/pgraft/core.h), kept by
 * process_ready() for every ready batch, strictly in this order:
 *	0. a leader's appends and heartbeats the core marks early are sent first,
 *	   so followers write to disk while the leader does (they acknowledge
 *	   nothing, and nothing is stepped before step 1 completes);
 *	1. persist: snapshot, entries, hard state, ONE fsync (pgr_storage_persist);
 *	2. send: every other message goes to the transport's queues;
 *	3. apply: committed entries update the members and answer requests;
 *	   completed reads answer read requests;
 *	4. advance.
 * Nothing is sent before it is durable, so a vote or an acknowledgement is
 * never forgotten in a crash; nothing is applied that could be lost.
 *
 * The loop waits on one WaitEventSet (latch, postmaster death, the listening
 * socket, every peer socket) until the next tick's deadline.  Everything
 * that arrived during one wake-up (messages, SQL requests) is fed to the
 * node before the next ready batch, so one fsync covers all of it: that is
 * the group commit.
 *
 * src/pg/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "pgraft.h"
#include "pgraft/storage.h"
#include "transport.h"
#include "worker.h"

/* ---------------------------------------------------------------------- */
/* State                                                                  */
/* ---------------------------------------------------------------------- */

typedef enum OpKind
{
	OP_APPEND,
	OP_READ,
	OP_ADD,
	OP_REMOVE,
	OP_TRANSFER
} OpKind;

/* A request the worker is still working on. */
typedef struct PendingOp
{
	bool		used;
	OpKind		kind;
	int			slot;
	uint64		request_id;
	uint64		term;			/* term when proposed (APPEND, READ) */
	uint64		node_id;		/* ADD, REMOVE, TRANSFER */
	struct pgr_conf_change cc;	/* ADD, REMOVE */
	bool		probed;			/* ADD: the new node answered our probe */
	bool		probing;
	TimestampTz next_try;
	TimestampTz deadline;		/* TRANSFER */
} PendingOp;

static MemoryContext raft_cxt;
static struct pgr_allocator raft_alloc;
static struct pgr_node *node;
static struct pgr_storage *storage;
static PgraftIdentity identity;
static PgraftAppState app_state;
static PendingOp ops[PGRAFT_QUEUE_SLOTS];
static char state_dir[MAXPGPATH];
static char raft_dir[MAXPGPATH];
static uint64 peers_config_index = UINT64_MAX;
static int	tick_ms;
static uint64 last_term;
static bool last_debug_guc;

static void process_ready(void);

/* ---------------------------------------------------------------------- */
/* Memory: the core's allocator over a MemoryContext, never throwing      */
/* ---------------------------------------------------------------------- */

static void *
mcxt_alloc(void *ctx, size_t size)
{
	return MemoryContextAllocExtended((MemoryContext) ctx, size,
									  MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE);
}

static void *
mcxt_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
#ifdef PGRAFT_HAVE_REPALLOC_EXTENDED
	(void) ctx;
	(void) old_size;
	return repalloc_extended(ptr, new_size, MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE);
#else
	void	   *p = mcxt_alloc(ctx, new_size);

	if (p == NULL)
		return NULL;
	memcpy(p, ptr, Min(old_size, new_size));
	pfree(ptr);
	return p;
#endif
}

static void
mcxt_free(void *ctx, void *ptr)
{
	(void) ctx;
	if (ptr != NULL)			/* the allocator contract allows NULL */
		pfree(ptr);
}

/* ---------------------------------------------------------------------- */
/* Failing                                                                */
/* ---------------------------------------------------------------------- */

static void
set_worker_state(PgraftWorkerState st, const char *why)
{
	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	pgraft_shared->worker_state = st;
	strlcpy(pgraft_shared->worker_error, why ? why : "", sizeof(pgraft_shared->worker_error));
	LWLockRelease(pgraft_shared->lock);
}

static void pg_attribute_noreturn()
storage_failed(const char *what)
{
	const struct pgr_storage_error *e = pgr_storage_last_error(storage);

	set_worker_state(PGRAFT_WORKER_FAILED, e->msg);
	ereport(FATAL,
			(errcode(e->code == PGR_STORAGE_ENOSPC ? ERRCODE_DISK_FULL :
					 e->code == PGR_STORAGE_ECORRUPT ? ERRCODE_DATA_CORRUPTED :
					 ERRCODE_IO_ERROR),
			 errmsg("pgraft: %s failed: %s", what, e->msg)));
}

static void pg_attribute_noreturn()
core_failed(const char *what, enum pgr_err err)
{
	set_worker_state(PGRAFT_WORKER_FAILED, pgr_strerror(err));
	ereport(FATAL,
			(errcode(err == PGR_ENOMEM ? ERRCODE_OUT_OF_MEMORY : ERRCODE_INTERNAL_ERROR),
			 errmsg("pgraft: %s failed: %s", what, pgr_strerror(err)),
			 errdetail("The worker restarts and recovers from its durable state.")));
}

/* Core calls whose failure means the node must be rebuilt from storage. */
static enum pgr_err
check_core(enum pgr_err err, const char *what)
{
	if (err == PGR_ENOMEM || err == PGR_ESTATE || err == PGR_ECORRUPT)
		core_failed(what, err);
	return err;
}

static void
worker_exit(int code, Datum arg)
{
	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	if (pgraft_shared->worker_state != PGRAFT_WORKER_FAILED)
		pgraft_shared->worker_state = PGRAFT_WORKER_STOPPED;
	pgraft_shared->worker_pid = 0;
	pgraft_shared->worker_latch = NULL;
	LWLockRelease(pgraft_shared->lock);
}

/* ---------------------------------------------------------------------- */
/* Opening the node                                                       */
/* ---------------------------------------------------------------------- */

static void
open_storage(void)
{
	struct pgr_storage_options opts;
	struct pgr_storage_error err;

	memset(&opts, 0, sizeof(opts));
	opts.create = true;
	if (pgr_storage_open(raft_dir, &opts, &storage, &err) != PGR_STORAGE_OK)
	{
		set_worker_state(PGRAFT_WORKER_FAILED, err.msg);
		ereport(FATAL,
				(errcode(err.code == PGR_STORAGE_ECORRUPT ? ERRCODE_DATA_CORRUPTED : ERRCODE_IO_ERROR),
				 errmsg("pgraft: could not open the Raft storage: %s", err.msg),
				 errhint("pgraft_dump --verify %s shows what is wrong.", raft_dir)));
	}
}

static struct pgr_options
node_options(void)
{
	struct pgr_options o;

	memset(&o, 0, sizeof(o));
	o.id = pgraft_node_id;
	o.heartbeat_tick = Max(1, pgraft_heartbeat_interval / tick_ms);
	o.election_tick = Max(o.heartbeat_tick + 1, pgraft_election_timeout / tick_ms);
	o.seed = ((uint64) MyProcPid << 32) ^ (uint64) GetCurrentTimestamp() ^ pgraft_node_id;
	o.max_entry_bytes = PGR_WIRE_MAX_ENTRY_DATA;
	o.max_apply_bytes = 16 * 1024 * 1024;
	o.alloc = raft_alloc;
	return o;
}

/* Build the node from what storage holds (the contract's restart). */
static void
open_node(void)
{
	struct pgr_storage_state ss;
	struct pgr_restore rs;
	struct pgr_options o = node_options();
	enum pgr_err err;

	if (pgr_storage_load(storage, &raft_alloc, &ss) != PGR_STORAGE_OK)
		storage_failed("loading the Raft state");
	pgr_storage_restore(&ss, &rs);
	memset(&app_state, 0, sizeof(app_state));
	if (ss.has_snapshot &&
		!pgraft_app_state_decode(ss.snapshot.data, ss.snapshot.len, &app_state))
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("pgraft: the snapshot's application state is not recognised")));
	err = pgr_node_new(&o, &rs, &node);
	pgr_storage_state_free(&raft_alloc, &ss);
	if (err != PGR_OK)
		core_failed("restoring the Raft node", err);
	peers_config_index = UINT64_MAX;
}

/*
 * The state directory was copied from another node (a base backup of a
 * primary, say): its Raft identity is not ours.  Keep it aside, untouched,
 * and start as a node that belongs to no cluster yet.
 */
static void
move_foreign_state_aside(uint64 owner)
{
	char		aside[MAXPGPATH];

	snprintf(aside, sizeof(aside), "%s.node" UINT64_FORMAT ".%ld", state_dir, owner,
			 (long) time(NULL));
	ereport(WARNING,
			(errmsg("pgraft: the state in \"%s\" belongs to node " UINT64_FORMAT ", not to this node (pgraft.node_id = %d)",
					state_dir, owner, pgraft_node_id),
			 errdetail("It was probably copied by a base backup. It is kept as \"%s\" and this node starts without a cluster.",
					   aside)));
	if (rename(state_dir, aside) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not rename \"%s\" to \"%s\": %m", state_dir, aside)));
	if (MakePGDirectory(state_dir) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not create directory \"%s\": %m", state_dir)));
}

static void
setup_state(void)
{
	strlcpy(state_dir, pgraft_state_dir(), sizeof(state_dir));
	snprintf(raft_dir, sizeof(raft_dir), "%s/raft", state_dir);
	if (MakePGDirectory(state_dir) != 0 && errno != EEXIST)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not create directory \"%s\": %m", state_dir)));
	pgraft_identity_load(state_dir, &identity);
	if (identity.initialized && identity.node_id != (uint64) pgraft_node_id)
	{
		move_foreign_state_aside(identity.node_id);
		memset(&identity, 0, sizeof(identity));
	}
	open_storage();
	open_node();
	pgraft_transport_set_identity(pgraft_node_id, identity.cluster_id, pgraft_cluster_name);
}

/* ---------------------------------------------------------------------- */
/* Publishing status                                                      */
/* ---------------------------------------------------------------------- */

static void
member_addr(const struct pgr_member *m, char *host, size_t size, int *port)
{
	if (!pgraft_context_parse(m->context, m->context_len, host, size, port))
	{
		strlcpy(host, "", size);
		*port = 0;
	}
}

/* Dial every member of the latest configuration (once per change of it). */
static void
refresh_peers(void)
{
	struct pgr_status s;
	const struct pgr_config *conf;
	PgraftPeerAddr addrs[PGR_MAX_MEMBERS];
	int			n = 0;

	pgr_node_status(node, &s);
	if (s.config_index == peers_config_index)
		return;
	peers_config_index = s.config_index;
	conf = pgr_node_config(node);
	for (uint32 i = 0; i < conf->n_members; i++)
	{
		const struct pgr_member *m = &conf->members[i];

		if (m->id == (uint64) pgraft_node_id)
			continue;
		addrs[n].id = m->id;
		member_addr(m, addrs[n].host, sizeof(addrs[n].host), &addrs[n].port);
		n++;
	}
	pgraft_transport_set_peers(addrs, n);
}

static void
publish_status(void)
{
	struct pgr_status s;
	const struct pgr_config *conf = pgr_node_config(node);
	bool		moved;

	pgr_node_status(node, &s);

	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	moved = pgraft_shared->commit != s.commit || pgraft_shared->applied != s.applied ||
		pgraft_shared->term != s.term || pgraft_shared->leader != s.leader;
	pgraft_shared->initialized = identity.initialized;
	memcpy(pgraft_shared->cluster_id, identity.cluster_id, 16);
	pgraft_shared->node_id = s.id;
	pgraft_shared->term = s.term;
	pgraft_shared->leader = s.leader;
	pgraft_shared->role = s.role;
	pgraft_shared->first_index = s.first_index;
	pgraft_shared->last_index = s.last_index;
	pgraft_shared->commit = s.commit;
	pgraft_shared->applied = s.applied;
	pgraft_shared->snapshot_index = s.snapshot_index;
	pgraft_shared->snapshot_term = s.snapshot_term;
	pgraft_shared->msgs_processed = s.msgs_stepped;
	pgraft_shared->heartbeats_sent = s.heartbeats_sent;
	pgraft_shared->elections_started = s.elections_started;
	pgraft_shared->entries_appended = app_state.entries_appended;
	pgraft_shared->n_members = conf->n_members;
	for (uint32 i = 0; i < conf->n_members; i++)
	{
		const struct pgr_member *m = &conf->members[i];
		PgraftMemberStatus *ms = &pgraft_shared->members[i];
		struct pgr_progress_info pi;

		ms->id = m->id;
		ms->voter = m->role == PGR_MEMBER_VOTER;
		member_addr(m, ms->host, sizeof(ms->host), &ms->port);
		ms->connected = m->id == (uint64) pgraft_node_id ||
			pgraft_transport_connected(m->id);
		if (pgr_node_progress(node, m->id, &pi) == PGR_OK)
		{
			ms->match = pi.match;
			ms->next = pi.next;
			ms->progress_state = pi.state;
			ms->last_contact_ms = m->id == (uint64) pgraft_node_id ? 0 :
				(int64) pi.ticks_since_contact * tick_ms;
		}
		else
		{
			ms->match = ms->next = 0;
			ms->progress_state = -1;
			ms->last_contact_ms = -1;
		}
	}
	LWLockRelease(pgraft_shared->lock);
	if (moved)
		ConditionVariableBroadcast(&pgraft_shared->progress_cv);
}

/* ---------------------------------------------------------------------- */
/* Pending requests                                                       */
/* ---------------------------------------------------------------------- */

static PendingOp *
op_new(OpKind kind, int slot)
{
	PendingOp  *op = &ops[slot];

	memset(op, 0, sizeof(*op));
	op->used = true;
	op->kind = kind;
	op->slot = slot;
	op->request_id = pgraft_shared->slots[slot].id;
	return op;
}

static void
op_finish(PendingOp *op, uint64 index)
{
	pgraft_request_finish(op->slot, PGRAFT_RES_OK, 0, NULL, NULL, NULL, index, 0);
	op->used = false;
}

static void
op_fail(PendingOp *op, int sqlstate, const char *msg, const char *detail, const char *hint)
{
	pgraft_request_finish(op->slot, PGRAFT_RES_ERROR, sqlstate, msg, detail, hint, 0, 0);
	op->used = false;
}

static void
fail_no_leader(int slot)
{
	pgraft_request_finish(slot, PGRAFT_RES_ERROR, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						  "no Raft leader is known", NULL,
						  "Retry once a leader is elected; see pgraft_get_cluster_status().",
						  0, 0);
}

static void
fail_all_ops(const char *msg)
{
	for (int i = 0; i < PGRAFT_QUEUE_SLOTS; i++)
		if (ops[i].used)
			op_fail(&ops[i], ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg, NULL, NULL);
}

static const struct pgr_member *
member_by_context(const struct pgr_config *conf, const uint8 *ctx, uint32 len)
{
	for (uint32 i = 0; i < conf->n_members; i++)
		if (conf->members[i].context_len == len &&
			memcmp(conf->members[i].context, ctx, len) == 0)
			return &conf->members[i];
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Applying committed entries                                             */
/* ---------------------------------------------------------------------- */

/* A configuration committed: membership requests waiting for it are done. */
static void
apply_config(const struct pgr_entry *e)
{
	struct pgr_config conf;

	if (pgr_config_decode(e->data, e->len, &conf) != PGR_OK)
		return;					/* the core validated it; cannot happen */
	for (int i = 0; i < PGRAFT_QUEUE_SLOTS; i++)
	{
		PendingOp  *op = &ops[i];
		const struct pgr_member *m;

		if (!op->used)
			continue;
		m = pgr_config_find(&conf, op->node_id);
		if (op->kind == OP_ADD && m != NULL)
			op_finish(op, e->index);
		else if (op->kind == OP_REMOVE && m == NULL)
			op_finish(op, e->index);
	}
	ereport(PGRAFT_DEBUG_LEVEL(),
			(errmsg("pgraft: configuration at index " UINT64_FORMAT " committed with %u members",
					e->index, conf.n_members)));
}

static void
apply_normal(const struct pgr_entry *e)
{
	PgraftEnvelope env;
	bool		valid;

	if (e->len == 0)
		return;					/* a leader's no-op */
	if (!pgraft_envelope_read(e->data, e->len, &env))
		return;
	/* An entry counts only if appended in the term it was proposed in. */
	valid = env.term == e->term;
	if (valid)
		app_state.entries_appended++;
	if (env.origin != (uint64) pgraft_node_id)
		return;
	for (int i = 0; i < PGRAFT_QUEUE_SLOTS; i++)
	{
		PendingOp  *op = &ops[i];

		if (!op->used || op->kind != OP_APPEND || op->request_id != env.request_id)
			continue;
		if (valid)
			op_finish(op, e->index);
		else
		{
			char		detail[PGRAFT_MSG_MAX];

			snprintf(detail, sizeof(detail),
					 "It was proposed in term " UINT64_FORMAT " but reached the log in term " UINT64_FORMAT ", so it does not count.",
					 env.term, e->term);
			op_fail(op, ERRCODE_T_R_SERIALIZATION_FAILURE,
					"the entry was not appended: leadership changed", detail,
					"Retry the call.");
		}
	}
}

/*
 * Entries are applied in log order and terms never decrease along the log:
 * once an entry of a later term is applied, no entry proposed in an earlier
 * term can still be appended, so those proposals have definitely failed.
 */
static void
sweep_superseded(uint64 applied_term)
{
	for (int i = 0; i < PGRAFT_QUEUE_SLOTS; i++)
	{
		PendingOp  *op = &ops[i];

		if (op->used && op->kind == OP_APPEND && op->term < applied_term)
			op_fail(op, ERRCODE_T_R_SERIALIZATION_FAILURE,
					"the entry was not appended: leadership changed",
					"The leader it was sent to lost its leadership before appending it.",
					"Retry the call.");
	}
}

static void
apply_entry(const struct pgr_entry *e)
{
	if (e->type == PGR_ENTRY_CONFIG)
		apply_config(e);
	else
		apply_normal(e);
	sweep_superseded(e->term);
}

static void
install_snapshot(const struct pgr_snapshot *snap)
{
	if (!pgraft_app_state_decode(snap->data, snap->len, &app_state))
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("pgraft: received a snapshot whose application state is not recognised")));
	ereport(PGRAFT_DEBUG_LEVEL(),
			(errmsg("pgraft: installed snapshot at index " UINT64_FORMAT " term " UINT64_FORMAT,
					snap->meta.index, snap->meta.term)));
}

static void
complete_read(const struct pgr_read_state *r)
{
	for (int i = 0; i < PGRAFT_QUEUE_SLOTS; i++)
	{
		PendingOp  *op = &ops[i];

		if (!op->used || op->kind != OP_READ || op->request_id != r->context)
			continue;
		if (r->failed)
			op_fail(op, ERRCODE_T_R_SERIALIZATION_FAILURE,
					"the read barrier failed: leadership changed", NULL, "Retry the call.");
		else
			op_finish(op, r->index);
	}
}

/* ---------------------------------------------------------------------- */
/* Ready batches                                                          */
/* ---------------------------------------------------------------------- */

static void
process_ready(void)
{
	while (pgr_node_has_ready(node))
	{
		struct pgr_ready rd;

		check_core(pgr_node_ready(node, &rd), "collecting a ready batch");

		/*
		 * 0. a leader's appends may leave before its own fsync, so that the
		 * followers write while it writes (the contract's exception)
		 */
		refresh_peers();
		for (size_t i = 0; i < rd.n_msgs_early; i++)
			(void) pgraft_transport_send(&rd.msgs[i]);
		if (rd.n_msgs_early > 0)
			pgraft_transport_flush();

		/* 1. persist, one fsync */
		if (pgr_storage_persist(storage, &rd) != PGR_STORAGE_OK)
			storage_failed("persisting a ready batch");

		/* 2. send the rest (to every member of the configuration as of this batch) */
		for (size_t i = rd.n_msgs_early; i < rd.n_msgs; i++)
			(void) pgraft_transport_send(&rd.msgs[i]);

		/* 3. apply */
		if (rd.snapshot != NULL)
			install_snapshot(rd.snapshot);
		for (size_t i = 0; i < rd.n_committed; i++)
			apply_entry(&rd.committed[i]);
		for (size_t i = 0; i < rd.n_reads; i++)
			complete_read(&rd.reads[i]);

		/* 4. advance */
		check_core(pgr_node_advance(node), "advancing");
	}
	pgraft_transport_flush();
}

/* ---------------------------------------------------------------------- */
/* Membership helpers                                                     */
/* ---------------------------------------------------------------------- */

/*
 * Can this node be adopted by another cluster?  Only if it belongs to none,
 * or founded a one-node cluster and holds nothing else: no entry but its
 * own configuration and leaders' no-ops, no snapshot.
 */
static bool
adoptable(void)
{
	struct pgr_status s;
	const struct pgr_config *conf = pgr_node_config(node);

	if (!identity.initialized)
		return true;
	pgr_node_status(node, &s);
	if (s.snapshot_index != 0)
		return false;
	if (conf->n_members > 1 ||
		(conf->n_members == 1 && conf->members[0].id != (uint64) pgraft_node_id))
		return false;
	for (uint64 i = s.first_index; i <= s.last_index; i++)
	{
		const struct pgr_entry *e;

		if (pgr_node_entry_at(node, i, &e) != PGR_OK)
			return false;
		if (e->type == PGR_ENTRY_NORMAL && e->len > 0)
			return false;
		if (e->type == PGR_ENTRY_CONFIG && i != 1)
			return false;
	}
	return true;
}

/* Wipe this node's Raft state and join cluster_id as an empty node. */
static void
adopt(const uint8 *cluster_id, uint64 by)
{
	char		hex[33];

	pgraft_identity_format(cluster_id, hex, sizeof(hex));
	ereport(LOG,
			(errmsg("pgraft: joining cluster %s at the request of node " UINT64_FORMAT, hex, by),
			 identity.initialized ?
			 errdetail("This node had only founded a one-node cluster of its own; that state is discarded.") : 0));
	fail_all_ops("this node joined another cluster");
	pgr_node_free(node);
	node = NULL;
	pgr_storage_close(storage);
	storage = NULL;
	if (!rmtree(raft_dir, true))
		ereport(FATAL,
				(errmsg("pgraft: could not remove \"%s\"", raft_dir)));
	identity.initialized = true;
	identity.node_id = pgraft_node_id;
	memcpy(identity.cluster_id, cluster_id, 16);
	pgraft_identity_save(state_dir, &identity);
	open_storage();
	open_node();
	publish_status();
}

static bool
on_foreign_cluster(const struct pgr_wire_handshake *peer)
{
	if (!adoptable())
		return false;
	adopt(peer->cluster_id, peer->node_id);
	pgraft_transport_set_identity(pgraft_node_id, identity.cluster_id, pgraft_cluster_name);
	return true;
}

static void
on_message(const struct pgr_msg *m)
{
	enum pgr_err err = check_core(pgr_node_step(node, m), "stepping a message");

	if (err != PGR_OK && err != PGR_EIGNORED)
		ereport(DEBUG1,
				(errmsg("pgraft: %s from node " UINT64_FORMAT " not accepted: %s",
						pgr_msg_type_name(m->type), m->from, pgr_strerror(err))));
}

static void
on_peer_lost(uint64 peer)
{
	(void) check_core(pgr_node_report_unreachable(node, peer), "reporting a lost peer");
}

static void
on_probe_done(int slot, const char *error, const char *detail)
{
	PendingOp  *op = &ops[slot];

	if (!op->used || op->kind != OP_ADD || !op->probing)
		return;
	op->probing = false;
	if (error != NULL)
	{
		char		msg[PGRAFT_MSG_MAX];

		snprintf(msg, sizeof(msg), "cannot add node " UINT64_FORMAT ": %s",
				 op->node_id, error);
		op_fail(op, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg, detail,
				"The node must be running with pgraft loaded, its pgraft.node_id and pgraft.cluster_name set, and hold no data of another cluster.");
		return;
	}
	op->probed = true;
	op->next_try = 0;
}

/* ---------------------------------------------------------------------- */
/* Requests                                                               */
/* ---------------------------------------------------------------------- */

static void
format_context(char *buf, size_t size, const char *host, int port, uint32 *len)
{
	*len = (uint32) snprintf(buf, size, "%s:%d", host, port);
}

static void
handle_init(int slot)
{
	struct pgr_config conf;
	char		ctx[PGR_MAX_CONTEXT + 1];
	uint32		len;

	if (identity.initialized)
	{
		/* result_index 0: it already was */
		pgraft_request_finish(slot, PGRAFT_RES_OK, 0, NULL, NULL, NULL, 0, 0);
		return;
	}
	memset(&conf, 0, sizeof(conf));
	conf.n_members = 1;
	conf.members[0].id = pgraft_node_id;
	conf.members[0].role = PGR_MEMBER_VOTER;
	format_context(ctx, sizeof(ctx), pgraft_address, pgraft_port, &len);
	conf.members[0].context_len = len;
	memcpy(conf.members[0].context, ctx, len);

	if (!pg_strong_random(identity.cluster_id, 16))
	{
		pgraft_request_finish(slot, PGRAFT_RES_ERROR, ERRCODE_INTERNAL_ERROR,
							  "could not generate a cluster id", NULL, NULL, 0, 0);
		return;
	}
	identity.initialized = true;
	identity.node_id = pgraft_node_id;
	pgraft_identity_save(state_dir, &identity);
	pgraft_transport_set_identity(pgraft_node_id, identity.cluster_id, pgraft_cluster_name);
	check_core(pgr_node_bootstrap(node, &conf), "founding the cluster");
	/* The only voter: leader at once. */
	check_core(pgr_node_campaign(node), "campaigning");
	process_ready();
	publish_status();
	pgraft_request_finish(slot, PGRAFT_RES_OK, 0, NULL, NULL, NULL, 1, 0);
}

static bool
require_member(int slot)
{
	if (identity.initialized && pgr_node_config(node)->n_members > 0)
		return true;
	pgraft_request_finish(slot, PGRAFT_RES_ERROR, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						  "this node is not a member of a pgraft cluster", NULL,
						  "Run pgraft_init() on the first node, then add the others from it with pgraft_add_node().",
						  0, 0);
	return false;
}

static void
handle_add(int slot)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];
	const struct pgr_config *conf;
	const struct pgr_member *m;
	PendingOp  *op;
	char		ctx[PGR_MAX_CONTEXT + 1];
	uint32		len;

	if (!require_member(slot))
		return;
	conf = pgr_node_config(node);
	format_context(ctx, sizeof(ctx), req->arg_host, req->arg_port, &len);
	m = pgr_config_find(conf, req->arg_node_id);
	if (m != NULL)
	{
		char		host[PGRAFT_HOST_MAX + 1];
		int			port;
		char		detail[PGRAFT_MSG_MAX];

		/* The seed runs the same adds on several nodes: that is harmless. */
		if (m->context_len == len && memcmp(m->context, ctx, len) == 0)
		{
			pgraft_request_finish(slot, PGRAFT_RES_OK, 0, NULL, NULL, NULL, 0, 0);
			return;
		}
		member_addr(m, host, sizeof(host), &port);
		snprintf(detail, sizeof(detail), "Node " INT64_FORMAT " is a member at %s:%d.",
				 req->arg_node_id, host, port);
		pgraft_request_finish(slot, PGRAFT_RES_ERROR, ERRCODE_DUPLICATE_OBJECT,
							  "node id is already a member with another address", detail,
							  "Remove the node first to move it to another address.", 0, 0);
		return;
	}
	m = member_by_context(conf, (uint8 *) ctx, len);
	if (m != NULL)
	{
		char		detail[PGRAFT_MSG_MAX];

		snprintf(detail, sizeof(detail), "Node " UINT64_FORMAT " is a member at %s.", m->id, ctx);
		pgraft_request_finish(slot, PGRAFT_RES_ERROR, ERRCODE_DUPLICATE_OBJECT,
							  "another node is already a member at that address", detail, NULL, 0, 0);
		return;
	}
	op = op_new(OP_ADD, slot);
	op->node_id = req->arg_node_id;
	op->cc.type = PGR_CC_ADD_LEARNER;
	op->cc.node_id = req->arg_node_id;
	op->cc.context_len = len;
	memcpy(op->cc.context, ctx, len);
	op->probing = true;
	/* First make sure the node is there and is ours to add. */
	pgraft_transport_probe(req->arg_host, req->arg_port, req->arg_node_id, slot);
}

static void
handle_remove(int slot)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];
	PendingOp  *op;

	if (!require_member(slot))
		return;
	if (pgr_config_find(pgr_node_config(node), req->arg_node_id) == NULL)
	{
		pgraft_request_finish(slot, PGRAFT_RES_ERROR, ERRCODE_UNDEFINED_OBJECT,
							  "node is not a member of the cluster", NULL,
							  "See pgraft_get_nodes().", 0, 0);
		return;
	}
	op = op_new(OP_REMOVE, slot);
	op->node_id = req->arg_node_id;
	op->cc.type = PGR_CC_REMOVE;
	op->cc.node_id = req->arg_node_id;
}

static void
handle_transfer(int slot)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];
	const struct pgr_member *m;
	PendingOp  *op;

	if (!require_member(slot))
		return;
	m = pgr_config_find(pgr_node_config(node), req->arg_node_id);
	if (m == NULL || m->role != PGR_MEMBER_VOTER)
	{
		pgraft_request_finish(slot, PGRAFT_RES_ERROR, ERRCODE_INVALID_PARAMETER_VALUE,
							  "leadership can only go to a voting member", NULL,
							  "See pgraft_get_nodes().", 0, 0);
		return;
	}
	op = op_new(OP_TRANSFER, slot);
	op->node_id = req->arg_node_id;
	op->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 4 * pgraft_election_timeout);
}

static void
handle_append(int slot)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];
	struct pgr_status s;
	uint8	   *buf;
	uint64		index;
	enum pgr_err err;
	PendingOp  *op;
	dsm_segment *seg = NULL;
	const uint8 *payload = req->inline_payload;

	if (!require_member(slot))
		return;
	pgr_node_status(node, &s);
	if (req->arg_term != 0 && req->arg_term != s.term)
	{
		char		detail[PGRAFT_MSG_MAX];

		snprintf(detail, sizeof(detail), "The call expected term " UINT64_FORMAT "; the current term is " UINT64_FORMAT ".",
				 req->arg_term, s.term);
		pgraft_request_finish(slot, PGRAFT_RES_ERROR, ERRCODE_T_R_SERIALIZATION_FAILURE,
							  "term mismatch: nothing was appended", detail,
							  "Pass 0 or NULL to accept any term.", 0, 0);
		return;
	}
	if (s.leader == PGR_NONE)
	{
		fail_no_leader(slot);
		return;
	}
	if (req->dsm != DSM_HANDLE_INVALID)
	{
		seg = dsm_attach(req->dsm);
		if (seg == NULL)
		{
			pgraft_request_finish(slot, PGRAFT_RES_ERROR, ERRCODE_INTERNAL_ERROR,
								  "could not read the payload", NULL, NULL, 0, 0);
			return;
		}
		payload = dsm_segment_address(seg);
	}
	buf = MemoryContextAllocHuge(raft_cxt, PGRAFT_ENVELOPE_HEADER + req->payload_len);
	pgraft_envelope_write(buf, pgraft_node_id, req->id, s.term);
	memcpy(buf + PGRAFT_ENVELOPE_HEADER, payload, req->payload_len);
	if (seg != NULL)
		dsm_detach(seg);
	err = check_core(pgr_node_propose(node, buf, PGRAFT_ENVELOPE_HEADER + req->payload_len, &index),
					 "proposing");
	pfree(buf);
	if (err == PGR_ENOLEADER)
	{
		fail_no_leader(slot);
		return;
	}
	if (err != PGR_OK)
	{
		pgraft_request_finish(slot, PGRAFT_RES_ERROR,
							  err == PGR_EBUSY ? ERRCODE_T_R_SERIALIZATION_FAILURE :
							  ERRCODE_PROGRAM_LIMIT_EXCEEDED,
							  "the entry was not appended", pgr_strerror(err),
							  err == PGR_EBUSY ? "Retry the call." : NULL, 0, 0);
		return;
	}
	op = op_new(OP_APPEND, slot);
	op->term = s.term;
}

static void
handle_read_index(int slot)
{
	PendingOp  *op;
	struct pgr_status s;
	enum pgr_err err;

	if (!require_member(slot))
		return;
	pgr_node_status(node, &s);
	err = check_core(pgr_node_read_index(node, pgraft_shared->slots[slot].id), "reading");
	if (err == PGR_ENOLEADER)
	{
		fail_no_leader(slot);
		return;
	}
	op = op_new(OP_READ, slot);
	op->term = s.term;
}

/* A configuration entry as text: "1=host:port voter, 2=host:port learner". */
static uint32
render_config(const struct pgr_entry *e, char *buf, size_t size)
{
	struct pgr_config conf;
	size_t		used = 0;

	buf[0] = '\0';
	if (pgr_config_decode(e->data, e->len, &conf) != PGR_OK)
		return 0;
	for (uint32 i = 0; i < conf.n_members && used < size; i++)
	{
		const struct pgr_member *m = &conf.members[i];

		used += snprintf(buf + used, size - used, "%s" UINT64_FORMAT "=%.*s %s",
						 i > 0 ? ", " : "", m->id, (int) m->context_len,
						 (const char *) m->context,
						 m->role == PGR_MEMBER_VOTER ? "voter" : "learner");
	}
	return (uint32) Min(used, size - 1);
}

/* Copy committed entries into the backend's reply segment. */
static void
handle_get_entries(int slot)
{
	PgraftRequest *req = &pgraft_shared->slots[slot];
	dsm_segment *seg = dsm_attach(req->dsm);
	uint8	   *out;
	Size		used = 0;
	uint32		count = 0;
	struct pgr_status s;
	uint64		i;
	char		text[PGR_MAX_MEMBERS * (PGR_MAX_CONTEXT + 32)];

	if (seg == NULL)
	{
		pgraft_request_finish(slot, PGRAFT_RES_ERROR, ERRCODE_INTERNAL_ERROR,
							  "could not attach the reply segment", NULL, NULL, 0, 0);
		return;
	}
	out = dsm_segment_address(seg);
	pgr_node_status(node, &s);
	i = Max(req->arg_index, s.first_index);
	for (; i <= s.commit && count < (uint32) req->arg_count; i++)
	{
		const struct pgr_entry *e;
		const uint8 *data;
		uint32		len;
		uint8		type;
		PgraftEnvelope env;

		if (pgr_node_entry_at(node, i, &e) != PGR_OK)
			break;
		data = e->data;
		len = e->len;
		if (e->type == PGR_ENTRY_CONFIG)
		{
			type = 'c';
			len = render_config(e, text, sizeof(text));
			data = (const uint8 *) text;
		}
		else if (e->len == 0)
			type = 'n';
		else if (pgraft_envelope_read(e->data, e->len, &env))
		{
			type = env.term == e->term ? 'd' : 'f';
			data = env.data;
			len = env.len;
		}
		else
			type = 'u';
		/* record: u64 index, u64 term, u8 type, u32 len, bytes */
		if (used + 21 + len > req->dsm_size)
			break;
		memcpy(out + used, &e->index, 8);
		memcpy(out + used + 8, &e->term, 8);
		out[used + 16] = type;
		memcpy(out + used + 17, &len, 4);
		if (len > 0)
			memcpy(out + used + 21, data, len);
		used += 21 + len;
		count++;
	}
	dsm_detach(seg);
	/* result_index: the first index still in the log, so callers can tell */
	pgraft_request_finish(slot, PGRAFT_RES_OK, 0, NULL, NULL, NULL, s.first_index, count);
}

static void
take_requests(void)
{
	int			slots[PGRAFT_QUEUE_SLOTS];
	int			n = pgraft_request_take(slots, PGRAFT_QUEUE_SLOTS);

	for (int k = 0; k < n; k++)
	{
		int			slot = slots[k];

		switch (pgraft_shared->slots[slot].type)
		{
			case PGRAFT_REQ_INIT:
				handle_init(slot);
				break;
			case PGRAFT_REQ_ADD_NODE:
				handle_add(slot);
				break;
			case PGRAFT_REQ_REMOVE_NODE:
				handle_remove(slot);
				break;
			case PGRAFT_REQ_TRANSFER:
				handle_transfer(slot);
				break;
			case PGRAFT_REQ_APPEND:
				handle_append(slot);
				break;
			case PGRAFT_REQ_READ_INDEX:
				handle_read_index(slot);
				break;
			case PGRAFT_REQ_GET_ENTRIES:
				handle_get_entries(slot);
				break;
		}
	}
}

/* The best voter to hand leadership to: the most caught-up other voter. */
static uint64
best_successor(uint64 excluding)
{
	const struct pgr_config *conf = pgr_node_config(node);
	uint64		best = PGR_NONE;
	uint64		best_match = 0;

	for (uint32 i = 0; i < conf->n_members; i++)
	{
		const struct pgr_member *m = &conf->members[i];
		struct pgr_progress_info pi;
		uint64		match = 0;

		if (m->id == excluding || m->role != PGR_MEMBER_VOTER)
			continue;
		if (pgr_node_progress(node, m->id, &pi) == PGR_OK)
			match = pi.match;
		if (best == PGR_NONE || match > best_match)
		{
			best = m->id;
			best_match = match;
		}
	}
	return best;
}

/*
 * Membership and transfer requests take several steps and may have to wait
 * (a change in flight, no leader yet): retry them every tick.  Proposals on
 * a follower are forwarded; re-forwarding is harmless because applying the
 * same change twice is refused by the leader as a no-op.
 */
static void
drive_ops(void)
{
	TimestampTz now = GetCurrentTimestamp();
	struct pgr_status s;

	pgr_node_status(node, &s);
	for (int i = 0; i < PGRAFT_QUEUE_SLOTS; i++)
	{
		PendingOp  *op = &ops[i];
		enum pgr_err err;
		uint64		idx;

		if (!op->used)
			continue;
		switch (op->kind)
		{
			case OP_READ:
				/* a forwarded read lost in a leader change never returns */
				if (s.term != op->term)
					op_fail(op, ERRCODE_T_R_SERIALIZATION_FAILURE,
							"the read barrier failed: leadership changed", NULL, "Retry the call.");
				break;
			case OP_APPEND:
				break;
			case OP_TRANSFER:
				if (s.leader == op->node_id)
					op_finish(op, 0);
				else if (now > op->deadline)
					op_fail(op, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
							"leadership transfer did not complete", NULL,
							"The target may be lagging or unreachable; see pgraft_log_get_replication_status().");
				else if (now >= op->next_try)
				{
					(void) check_core(pgr_node_transfer_leadership(node, op->node_id), "transferring");
					op->next_try = TimestampTzPlusMilliseconds(now, pgraft_election_timeout);
				}
				break;
			case OP_ADD:
			case OP_REMOVE:
				if (op->kind == OP_ADD && !op->probed)
					break;
				if (now < op->next_try)
					break;
				op->next_try = TimestampTzPlusMilliseconds(now, pgraft_election_timeout);
				if (s.leader == PGR_NONE)
					break;
				if (op->kind == OP_REMOVE && op->node_id == (uint64) pgraft_node_id)
				{
					/*
					 * Removing ourselves.  We answer when we apply the
					 * committed removal, but a leader that has applied it no
					 * longer replicates to us: if another node led, we would
					 * never learn the outcome and the call would hang
					 * forever.  So we commit it as the leader ourselves
					 * (dissertation 4.2.2: a leader that removes itself
					 * leads until the entry commits, then steps down and the
					 * remaining voters elect a successor), asking for
					 * leadership first if we are a follower.
					 */
					if (s.role != PGR_ROLE_LEADER)
					{
						(void) check_core(pgr_node_transfer_leadership(node, op->node_id),
										  "transferring");
						op->next_try = TimestampTzPlusMilliseconds(now, pgraft_heartbeat_interval);
						break;
					}
					if (best_successor(op->node_id) == PGR_NONE)
					{
						op_fail(op, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
								"cannot remove the last voting member", NULL,
								"Add another node first.");
						break;
					}
				}
				else if (op->kind == OP_REMOVE && op->node_id == s.leader)
				{
					/* Removing the leader: hand leadership to another voter first. */
					uint64		succ = best_successor(op->node_id);

					if (succ == PGR_NONE)
					{
						op_fail(op, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
								"cannot remove the last voting member", NULL,
								"Add another node first.");
						break;
					}
					(void) check_core(pgr_node_transfer_leadership(node, succ), "transferring");
					op->next_try = TimestampTzPlusMilliseconds(now, pgraft_heartbeat_interval);
					break;
				}
				err = check_core(pgr_node_propose_conf_change(node, &op->cc, &idx),
								 "proposing a membership change");
				if (err == PGR_OK || err == PGR_EBUSY || err == PGR_ENOLEADER)
					break;
				if (err == PGR_EEXIST && op->kind == OP_ADD)
					break;		/* applied already: apply_config finishes it */
				if (err == PGR_ENOENT && op->kind == OP_REMOVE)
				{
					op_finish(op, 0);
					break;
				}
				op_fail(op, ERRCODE_INVALID_PARAMETER_VALUE,
						err == PGR_EINVAL && op->kind == OP_REMOVE ?
						"cannot remove the last voting member" :
						"the membership change was refused",
						pgr_strerror(err), NULL);
				break;
		}
	}
}

/* The leader promotes learners once they have caught up. */
static void
promote_learners(void)
{
	const struct pgr_config *conf = pgr_node_config(node);
	struct pgr_status s;

	pgr_node_status(node, &s);
	if (s.role != PGR_ROLE_LEADER)
		return;
	for (uint32 i = 0; i < conf->n_members; i++)
	{
		const struct pgr_member *m = &conf->members[i];
		struct pgr_progress_info pi;

		if (m->role != PGR_MEMBER_LEARNER)
			continue;
		if (pgr_node_progress(node, m->id, &pi) == PGR_OK && pi.match >= s.commit)
		{
			struct pgr_conf_change cc;
			uint64		idx;

			memset(&cc, 0, sizeof(cc));
			cc.type = PGR_CC_PROMOTE;
			cc.node_id = m->id;
			if (check_core(pgr_node_propose_conf_change(node, &cc, &idx), "promoting") == PGR_OK)
				ereport(PGRAFT_DEBUG_LEVEL(),
						(errmsg("pgraft: promoting node " UINT64_FORMAT " to voter", m->id)));
			return;				/* one change at a time */
		}
	}
}

/*
 * Keep the log bounded: once more than max_log_entries + snapshot_threshold
 * entries are applied since the last snapshot, snapshot and drop all but the
 * last max_log_entries.
 */
static void
maybe_compact(void)
{
	struct pgr_status s;
	uint64		target;
	PgraftAppState at;
	struct pgr_snapshot snap;
	uint8		blob[PGRAFT_APP_STATE_SIZE];
	size_t		len;

	pgr_node_status(node, &s);
	if (s.applied < s.snapshot_index + (uint64) pgraft_max_log_entries +
		(uint64) pgraft_snapshot_threshold)
		return;
	target = s.applied - (uint64) pgraft_max_log_entries;
	/* the application state as of target: undo what came after it */
	at = app_state;
	for (uint64 i = target + 1; i <= s.applied; i++)
	{
		const struct pgr_entry *e;
		PgraftEnvelope env;

		if (pgr_node_entry_at(node, i, &e) == PGR_OK && e->type == PGR_ENTRY_NORMAL &&
			pgraft_envelope_read(e->data, e->len, &env) && env.term == e->term)
			at.entries_appended--;
	}
	pgraft_app_state_encode(&at, blob, &len);
	memset(&snap, 0, sizeof(snap));
	check_core(pgr_node_compact(node, target, blob, len, &snap.meta), "compacting");
	snap.len = len;
	snap.data = blob;
	if (pgr_storage_save_snapshot(storage, &snap) != PGR_STORAGE_OK)
		storage_failed("saving a snapshot");
	if (pgr_storage_compact(storage, target) != PGR_STORAGE_OK)
		storage_failed("compacting the log");
	ereport(PGRAFT_DEBUG_LEVEL(),
			(errmsg("pgraft: compacted the log up to index " UINT64_FORMAT, target)));
}

static void
health_check(void)
{
	struct pgr_status s;

	if (!pgraft_shared->debug)
		return;
	pgr_node_status(node, &s);
	ereport(LOG,
			(errmsg("pgraft: node " UINT64_FORMAT " %s term " UINT64_FORMAT " leader " UINT64_FORMAT " commit " UINT64_FORMAT " applied " UINT64_FORMAT " log [" UINT64_FORMAT ", " UINT64_FORMAT "]",
					s.id, pgr_role_name(s.role), s.term, s.leader, s.commit, s.applied,
					s.first_index, s.last_index)));
}

/* ---------------------------------------------------------------------- */
/* Main                                                                   */
/* ---------------------------------------------------------------------- */

static const PgraftTransportCallbacks transport_callbacks = {
	.on_message = on_message,
	.on_peer_lost = on_peer_lost,
	.on_foreign_cluster = on_foreign_cluster,
	.on_probe_done = on_probe_done,
};

void
PgraftWorkerMain(Datum main_arg)
{
	TimestampTz next_tick;
	TimestampTz next_health;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	before_shmem_exit(worker_exit, (Datum) 0);
	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	pgraft_shared->worker_pid = MyProcPid;
	pgraft_shared->worker_latch = MyLatch;
	pgraft_shared->worker_state = PGRAFT_WORKER_STARTING;
	pgraft_shared->worker_error[0] = '\0';
	pgraft_shared->debug = pgraft_debug_enabled;
	LWLockRelease(pgraft_shared->lock);
	last_debug_guc = pgraft_debug_enabled;

	/* Requests a previous incarnation took can no longer be answered. */
	pgraft_request_fail_active("the pgraft worker restarted");

	raft_cxt = AllocSetContextCreate(TopMemoryContext, "pgraft raft", ALLOCSET_DEFAULT_SIZES);
	raft_alloc.alloc = mcxt_alloc;
	raft_alloc.realloc = mcxt_realloc;
	raft_alloc.free = mcxt_free;
	raft_alloc.ctx = raft_cxt;
	/*
	 * A tick is a fifth of the heartbeat interval (at least 10 ms): fine
	 * enough to spread the followers' delays after a leader's connection
	 * drops, coarse enough to cost nothing while idle.
	 */
	tick_ms = Max(10, pgraft_heartbeat_interval / 5);
	if (tick_ms > pgraft_heartbeat_interval)
		tick_ms = pgraft_heartbeat_interval;

	pgraft_transport_init(&transport_callbacks, &raft_alloc);
	setup_state();
	refresh_peers();
	process_ready();
	publish_status();
	set_worker_state(PGRAFT_WORKER_RUNNING, NULL);
	ereport(LOG,
			(errmsg("pgraft: node %d listening on %s:%d", pgraft_node_id,
					pgraft_address, pgraft_port)));

	next_tick = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), tick_ms);
	next_health = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), pgraft_health_period_ms);
	while (!ShutdownRequestPending)
	{
		WaitEvent	events[32];
		int			nevents;
		TimestampTz now;
		long		timeout;
		struct pgr_status s;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (pgraft_debug_enabled != last_debug_guc)
			{
				last_debug_guc = pgraft_debug_enabled;
				pgraft_shared->debug = pgraft_debug_enabled;
			}
		}

		now = GetCurrentTimestamp();
		while (now >= next_tick)
		{
			check_core(pgr_node_tick(node), "ticking");
			next_tick = TimestampTzPlusMilliseconds(next_tick, tick_ms);
			/* after a long stall, do not replay every missed tick */
			if (now - next_tick > 10 * (int64) tick_ms * 1000)
				next_tick = TimestampTzPlusMilliseconds(now, tick_ms);
			drive_ops();
			pgraft_transport_tick();
		}
		if (now >= next_health)
		{
			health_check();
			next_health = TimestampTzPlusMilliseconds(now, pgraft_health_period_ms);
		}

		take_requests();
		process_ready();
		promote_learners();
		process_ready();
		maybe_compact();
		pgr_node_status(node, &s);
		if (s.term != last_term)
		{
			last_term = s.term;
			drive_ops();
			ereport(PGRAFT_DEBUG_LEVEL(),
					(errmsg("pgraft: term " UINT64_FORMAT ", %s, leader " UINT64_FORMAT,
							s.term, pgr_role_name(s.role), s.leader)));
		}
		publish_status();

		/* round up: a timeout of 0 for the last partial millisecond would spin */
		timeout = (long) ((next_tick - GetCurrentTimestamp() + 999) / 1000);
		if (timeout < 0)
			timeout = 0;
		nevents = WaitEventSetWait(pgraft_transport_wait_set(), timeout, events,
								   lengthof(events), PGRAFT_WAIT_EVENT_MAIN);
		for (int i = 0; i < nevents; i++)
		{
			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
				continue;
			}
			pgraft_transport_handle_event(&events[i]);
		}
	}

	/* Everything acknowledged is already durable: just close. */
	fail_all_ops("the pgraft worker is shutting down");
	pgraft_transport_shutdown();
	pgr_storage_close(storage);
	proc_exit(0);
}
