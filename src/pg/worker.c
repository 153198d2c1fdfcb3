/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The pgraft background worker: one Raft node driven by one loop.
 *
 * THE CONTRACT WITH THE CORE (include/pgraft/core.h), kept by run_batches()
 * for every ready batch, strictly in this order:
 *	0. a leader's appends and heartbeats that the core marks early are sent
 *	   first, so followers write to disk while the leader does (they
 *	   acknowledge nothing, and nothing is stepped before step 1 completes);
 *	1. persist: snapshot, entries, hard state, ONE fsync (pgr_storage_persist);
 *	2. send: every other message goes to the transport's queues;
 *	3. apply: committed entries and snapshots build the application state
 *	   and resolve the calls they decide (apply.c, src/app);
 *	4. advance.
 * Nothing is sent before it is durable, so a vote or an acknowledgement is
 * never forgotten in a crash; nothing is applied that could be lost.  No
 * other call reaches the node between ready and advance: the transport only
 * queues what happens during a batch (a peer lost while sending, say) as
 * events, and the loop handles them in its next EVENTS phase.
 *
 * THE LOOP, once per wake-up, in named phases:
 *	wait		one WaitEventSet (latch, postmaster death, the listening
 *				socket, every peer) until the next deadline; socket I/O
 *				there only reads and writes bytes and queues events
 *	reload		SIGHUP
 *	tick		one core tick per elapsed tick period; transport timers
 *	events		messages stepped into the node; lost peers and their
 *				verdicts; adoption by another cluster; probe results
 *	requests	SQL requests taken into calls; abandoned ones cancelled
 *	calls		every pending call acts on the node (propose, re-propose,
 *				read index, membership steps) or expires
 *	duties		the leader promotes learners that caught up
 *	batches		the contract above, until the node has nothing ready
 *	compact		bound the log (apply.c)
 *	kv duties	the leader proposes lease revocations and the quota
 *				(kvstore.c); they act at the next wake-up's calls phase
 *	publish		status for SQL (status.c)
 *	answer		finished calls to their backends, after the status that
 *				shows their effect
 * Everything that arrived during one wake-up (messages, SQL requests) is fed
 * to the node before the batches, so one fsync covers all of it: that is the
 * group commit.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "compat.h"
#include "metrics.h"
#include "queue.h"
#include "security.h"
#include "settings.h"
#include "shmem.h"
#include "transport.h"
#include "worker.h"

/* ---------------------------------------------------------------------- */
/* Time                                                                   */
/* ---------------------------------------------------------------------- */

/* Deadlines use a monotonic clock: a wall clock step must not expire calls. */
uint64
pgraft_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64) ts.tv_sec * 1000 + (uint64) ts.tv_nsec / 1000000;
}

static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * Whatever ends the worker with FATAL (storage, the node, a setting, the
 * address it cannot bind) is what SQL shows as the reason it FAILED: one
 * place for all of them.  Never waits for the lock: the error may have come
 * from anywhere.
 */
static void
worker_log_hook(ErrorData *edata)
{
	if (edata->elevel >= FATAL && pgraft_shared != NULL &&
		LWLockConditionalAcquire(pgraft_shared->lock, LW_EXCLUSIVE))
	{
		const char *msg = edata->message ? edata->message : "";

		/* the NOTICE that shows it names pgraft already */
		if (strncmp(msg, "pgraft: ", 8) == 0)
			msg += 8;
		pgraft_shared->worker_state = PGRAFT_WORKER_FAILED;
		strlcpy(pgraft_shared->worker_error, msg, sizeof(pgraft_shared->worker_error));
		LWLockRelease(pgraft_shared->lock);
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
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
/* Phases                                                                 */
/* ---------------------------------------------------------------------- */

/* Dial every member of the latest configuration (once per change of it). */
static void
refresh_peers(PgraftWorker *w)
{
	struct pgr_status s;
	const struct pgr_config *conf;
	PgraftPeerAddr addrs[PGR_MAX_MEMBERS];
	int			n = 0;

	pgr_node_status(w->node, &s);
	pgraft_transport_set_leader(s.role == PGR_ROLE_LEADER && s.config_index <= s.commit ?
								s.term : 0);
	if (s.config_index == w->peers_config_index)
		return;
	w->peers_config_index = s.config_index;
	conf = pgr_node_config(w->node);
	for (uint32 i = 0; i < conf->n_members; i++)
	{
		const struct pgr_member *m = &conf->members[i];

		if (m->id == (uint64) pgraft_node_id)
			continue;
		addrs[n].id = m->id;
		pgraft_member_addr(m, addrs[n].host, sizeof(addrs[n].host), &addrs[n].port);
		n++;
	}
	pgraft_transport_set_peers(addrs, n, s.config_index);
}

/* What a persisted batch adds to the metrics (metrics.c says what counts). */
static void
count_batch(PgraftWorker *w, const struct pgr_ready *rd)
{
	struct pgr_metrics *m = &w->ms.m;
	struct pgr_status s;

	m->entries_appended += rd->n_entries;
	m->entries_applied += rd->n_committed;
	if (rd->must_sync && rd->n_entries > 0)
	{
		uint64		bytes = 0;

		for (size_t i = 0; i < rd->n_entries; i++)
			bytes += rd->entries[i].len;
		pgr_hist_observe(&m->batch_entries, PGR_HIST_ENTRIES, (double) rd->n_entries, 1);
		pgr_hist_observe(&m->batch_bytes, PGR_HIST_BYTES, (double) bytes, 1);
	}
	if (rd->n_entries == 0)
		return;
	pgr_node_status(w->node, &s);
	if (s.role == PGR_ROLE_LEADER)
		pgraft_metrics_appended(&w->ms, rd->entries[rd->n_entries - 1].index, rd->n_entries);
}

/* batches: the core's contract, batch after batch, until nothing is ready */
static void
run_batches(PgraftWorker *w)
{
	while (pgr_node_has_ready(w->node))
	{
		struct pgr_ready rd;
		uint64		snap_t0;

		pgraft_check_core(pgr_node_ready(w->node, &rd), "collecting a ready batch");

		/* 0. a leader's appends may leave before its own fsync */
		refresh_peers(w);
		for (size_t i = 0; i < rd.n_msgs_early; i++)
			(void) pgraft_transport_send(&rd.msgs[i]);
		if (rd.n_msgs_early > 0)
			pgraft_transport_flush();

		/* 1. persist, one fsync */
		snap_t0 = rd.snapshot != NULL ? pgraft_clock_ns() : 0;
		if (pgr_storage_persist(w->storage, &rd) != PGR_STORAGE_OK)
			pgraft_storage_failed(w, "persisting a ready batch");
		count_batch(w, &rd);

		/*
		 * 2. send the rest (to every member of the configuration as of this
		 * batch)
		 */
		for (size_t i = rd.n_msgs_early; i < rd.n_msgs; i++)
			(void) pgraft_transport_send(&rd.msgs[i]);

		/* 3. apply */
		pgraft_apply_ready(w, &rd);
		if (rd.snapshot != NULL)
		{
			w->ms.m.snapshots_installed++;
			pgr_hist_observe(&w->ms.m.snapshot_install, PGR_HIST_DURATION,
							 (double) (pgraft_clock_ns() - snap_t0) / 1e9, 1);
		}

		/* 4. advance */
		pgraft_check_core(pgr_node_advance(w->node), "advancing");
	}
	refresh_peers(w);
	pgraft_transport_flush();
}

/*
 * An ADOPT event: join the peer's cluster if this node holds nothing, and
 * has no call of its own in progress (two founders adding each other at
 * the same moment would otherwise each wipe the other: two clusters).
 */
static void
handle_adoption(PgraftWorker *w, const PgraftTransportEvent *ev)
{
	bool		adopt = pgraft_node_adoptable(w) && pgr_calls_pending(&w->calls) == 0;

	if (adopt)
	{
		pgraft_requests_end_all(w, -1, "this node joined another cluster");
		pgraft_node_adopt(w, ev->hs.cluster_id, ev->hs.node_id);
		pgr_calls_free(&w->calls);
		if (pgr_calls_init(&w->calls, &w->alloc, pgraft_node_id, w->incarnation,
						   (uint32) pgraft_election_timeout) != PGR_OK)
			pgraft_core_failed("starting the calls", PGR_ENOMEM);
	}
	pgraft_transport_adopt_done(ev->conn, adopt);
}

/* events: what the transport saw since the last wake-up */
static void
handle_events(PgraftWorker *w)
{
	PgraftTransportEvent ev;

	while (pgraft_transport_next_event(&ev))
	{
		enum pgr_err err;

		switch (ev.kind)
		{
			case PGRAFT_TEV_MESSAGE:
				err = pgraft_check_core(pgr_node_step(w->node, &ev.msg), "stepping a message");
				if (err != PGR_OK && err != PGR_EIGNORED)
					ereport(DEBUG1,
							(errmsg("pgraft: %s from node " UINT64_FORMAT " not accepted: %s",
									pgr_msg_type_name(ev.msg.type), ev.msg.from,
									pgr_strerror(err))));
				break;
			case PGRAFT_TEV_PEER_RESET:
				(void) pgraft_check_core(pgr_node_report_unreachable(w->node, ev.peer),
										 "reporting a broken connection");
				break;
			case PGRAFT_TEV_PEER_DOWN:
				ereport(PGRAFT_DEBUG_LEVEL(),
						(errmsg("pgraft: node " UINT64_FORMAT " refuses connections: its process is gone",
								ev.peer)));
				(void) pgraft_check_core(pgr_node_report_peer_down(w->node, ev.peer),
										 "reporting a peer down");
				break;
			case PGRAFT_TEV_ADOPT:
				handle_adoption(w, &ev);
				break;
			case PGRAFT_TEV_PROBE_DONE:
				if (ev.error[0] == '\0')
					pgr_calls_probe_done(&w->calls, (uint32) ev.tag, true, NULL);
				else
				{
					char		detail[sizeof(ev.error) + sizeof(ev.detail) + 4];

					snprintf(detail, sizeof(detail), "%s%s%s", ev.error,
							 ev.detail[0] ? ": " : "", ev.detail);
					pgr_calls_probe_done(&w->calls, (uint32) ev.tag, false, detail);
				}
				break;
		}
	}
}

/* duties: the leader promotes learners once they have caught up */
static void
promote_learners(PgraftWorker *w)
{
	const struct pgr_config *conf = pgr_node_config(w->node);
	struct pgr_status s;

	pgr_node_status(w->node, &s);
	if (s.role != PGR_ROLE_LEADER)
		return;
	for (uint32 i = 0; i < conf->n_members; i++)
	{
		const struct pgr_member *m = &conf->members[i];
		struct pgr_progress_info pi;

		if (m->role != PGR_MEMBER_LEARNER)
			continue;
		if (pgr_node_progress(w->node, m->id, &pi) == PGR_OK && pi.match >= s.commit)
		{
			struct pgr_conf_change cc;
			uint64		idx;

			memset(&cc, 0, sizeof(cc));
			cc.type = PGR_CC_PROMOTE;
			cc.node_id = m->id;
			if (pgraft_check_core(pgr_node_propose_conf_change(w->node, &cc, &idx),
								  "promoting") == PGR_OK)
				ereport(PGRAFT_DEBUG_LEVEL(),
						(errmsg("pgraft: promoting node " UINT64_FORMAT " to voter", m->id)));
			return;				/* one change at a time */
		}
	}
}

static void
reload(PgraftWorker *w)
{
	bool		debug = pgraft_debug_enabled;

	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	pgraft_security_reload();
	pgraft_kv_reload(w);
	if (pgraft_debug_enabled != debug)
		pgraft_shared->debug = pgraft_debug_enabled;
}

/*
 * The stop (SIGTERM: pg_ctl stop in any mode but immediate, or a
 * terminated worker): a leader first hands leadership to its successor,
 * bounded by an election timeout, so a planned restart makes no write fail
 * or wait for an election (src/app/handover.c).  Called at the top of every
 * iteration, outside any ready batch; true once the loop may end.  The
 * iteration after the decision has already sent the last batch: the vote
 * and the answers the new leader waits for.
 */
static bool
stop_now(PgraftWorker *w)
{
	struct pgr_handover *h = &w->handover;
	uint64		now = pgraft_now_ms();

	if (!ShutdownRequestPending)
		return false;
	if (!w->stopping)
	{
		w->stopping = true;
		pgraft_check_core(pgr_handover_begin(h, w->node, now, (uint32) pgraft_election_timeout),
						  "starting the handover");
		if (h->state == PGR_HANDOVER_WAITING)
			ereport(LOG,
					(errmsg("pgraft: stopping: handing leadership to node " UINT64_FORMAT,
							h->target)));
	}
	else
		pgraft_check_core(pgr_handover_drive(h, w->node, now), "handing leadership over");

	switch (h->state)
	{
		case PGR_HANDOVER_WAITING:
			return false;
		case PGR_HANDOVER_NOT_LEADING:
			break;
		case PGR_HANDOVER_DONE:
			ereport(LOG,
					(errmsg("pgraft: stopping: node " UINT64_FORMAT " leads now, handed over in " UINT64_FORMAT " ms",
							h->leader, now - h->started_ms)));
			break;
		case PGR_HANDOVER_NO_SUCCESSOR:
			ereport(LOG,
					(errmsg("pgraft: stopping without a handover: no other voter was heard from within the election timeout")));
			break;
		case PGR_HANDOVER_TIMED_OUT:
			ereport(LOG,
					(errmsg("pgraft: stopping without a handover: node " UINT64_FORMAT " did not take over within %d ms",
							h->target, pgraft_election_timeout),
					 errdetail("The other members elect a leader after an election timeout.")));
			break;
	}
	return true;
}

/* ---------------------------------------------------------------------- */
/* Main                                                                   */
/* ---------------------------------------------------------------------- */

static void
worker_start(PgraftWorker *w)
{
	memset(w, 0, sizeof(*w));
	w->founding_slot = -1;
	w->cxt = AllocSetContextCreate(TopMemoryContext, "pgraft raft", ALLOCSET_DEFAULT_SIZES);

	/*
	 * The node's own memory (log entries, messages, the calls table) comes
	 * from malloc, not from a memory context: an AllocSet rounds a chunk up
	 * to a power of two, so a 300-byte entry would take 512 bytes, and the
	 * log retains up to pgraft.max_log_entries of them (2 MB more at the
	 * defaults).  The core reports a failed allocation itself.
	 */
	w->alloc = pgr_libc_allocator;
	w->app = MemoryContextAllocZero(w->cxt, sizeof(struct pgr_app_state));
	w->snap_app = MemoryContextAllocZero(w->cxt, sizeof(struct pgr_app_state));
	pgraft_kv_init(w);
	w->payload_segs = MemoryContextAllocZero(w->cxt, pgraft_max_requests * sizeof(dsm_segment *));
	w->slot_buf = MemoryContextAllocZero(w->cxt, pgraft_max_requests * sizeof(int));

	/*
	 * A tick is a fifth of the heartbeat interval (at least 10 ms): fine
	 * enough to spread the followers' delays after a leader's process dies,
	 * coarse enough to cost nothing while idle.
	 */
	w->tick_ms = Max(10, pgraft_heartbeat_interval / 5);
	if (w->tick_ms > pgraft_heartbeat_interval)
		w->tick_ms = pgraft_heartbeat_interval;

	pgraft_security_init();
	pgraft_transport_init(&w->alloc);
	pgraft_metrics_http_start();
	pgraft_node_setup(w);
	/* call ids never repeat across restarts: the incarnation grows */
	if (pgr_calls_init(&w->calls, &w->alloc, pgraft_node_id, w->incarnation,
					   (uint32) pgraft_election_timeout) != PGR_OK)
		ereport(FATAL, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	run_batches(w);
	pgraft_status_publish(w);
}

void
PgraftWorkerMain(Datum main_arg)
{
	PgraftWorker *w;
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
	pgraft_shared->worker_starts++;
	LWLockRelease(pgraft_shared->lock);

	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = worker_log_hook;

	/* Requests a previous incarnation took can no longer be answered. */
	pgraft_request_fail_active("the pgraft worker restarted");
	if (pgraft_timing_error() != NULL)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgraft: %s", pgraft_timing_error()),
				 errdetail("pgraft.election_timeout is %d ms, pgraft.heartbeat_interval is %d ms.",
						   pgraft_election_timeout, pgraft_heartbeat_interval),
				 errhint("Fix them in postgresql.conf and restart the server.")));

	w = MemoryContextAllocZero(TopMemoryContext, sizeof(PgraftWorker));
	worker_start(w);
	pgraft_worker_set_state(PGRAFT_WORKER_RUNNING, NULL);
	ereport(LOG,
			(errmsg("pgraft: node %d listening on %s:%d", pgraft_node_id,
					pgraft_address, pgraft_port)));

	next_tick = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), w->tick_ms);
	next_health = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), pgraft_health_period_ms);
	while (!stop_now(w))
	{
		WaitEvent	events[32];
		int			nevents;
		TimestampTz now;
		long		timeout;

		/* wait: round up, a timeout of 0 for the last partial ms would spin */
		timeout = (long) ((next_tick - GetCurrentTimestamp() + 999) / 1000);
		if (timeout < 0)
			timeout = 0;
		nevents = WaitEventSetWait(pgraft_transport_wait_set(), timeout, events,
								   lengthof(events), pgraft_wait_event_main());
		w->ms.wake_ns = pgraft_clock_ns();
		for (int i = 0; i < nevents; i++)
		{
			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
				continue;
			}
			if (!pgraft_metrics_http_handle_event(&events[i]))
				pgraft_transport_handle_event(&events[i]);
		}

		/* reload */
		if (ConfigReloadPending)
			reload(w);

		/* tick */
		now = GetCurrentTimestamp();
		while (now >= next_tick)
		{
			pgraft_check_core(pgr_node_tick(w->node), "ticking");
			next_tick = TimestampTzPlusMilliseconds(next_tick, w->tick_ms);
			/* after a long stall, do not replay every missed tick */
			if (now - next_tick > 10 * (int64) w->tick_ms * 1000)
				next_tick = TimestampTzPlusMilliseconds(now, w->tick_ms);
		}
		pgraft_transport_tick();
		pgraft_metrics_http_tick();
		if (now >= next_health)
		{
			pgraft_status_health(w);
			next_health = TimestampTzPlusMilliseconds(now, pgraft_health_period_ms);
		}

		/* events, requests, calls, duties */
		handle_events(w);
		pgraft_requests_take(w);
		pgraft_check_core(pgr_calls_drive(&w->calls, w->node, w->app, pgraft_now_ms()),
						  "driving the calls");
		pgraft_requests_start_probes(w);
		promote_learners(w);

		/* batches, compact */
		run_batches(w);
		pgraft_maybe_compact(w);
		pgraft_kv_duties(w);

		/*
		 * publish, answer: a backend that has its answer sees a status at
		 * least as new (a read barrier's index is applied in
		 * pgraft_log_get_stats, an append's index committed)
		 */
		pgraft_status_log_changes(w);
		pgraft_status_publish(w);
		pgraft_requests_answer(w);
	}

	/* Everything acknowledged is already durable: end the calls, close. */
	pgraft_requests_end_all(w, -1, "the pgraft worker is shutting down");
	pgraft_transport_shutdown();
	pgraft_metrics_http_stop();
	pgraft_node_close(w);
	proc_exit(0);
}
