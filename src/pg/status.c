/*-------------------------------------------------------------------------
 *
 * status.c
 *		What the worker publishes in shared memory for the SQL functions,
 *		and what it says in the server log about its node.
 *
 * The published commit index is the node's commit index capped at what
 * this node has applied: publishing happens after the wake-up's ready
 * batches, so everything applied is durable here, and a caller that waits
 * for an index (pgraft_log_commit) never sees one that a crash of this node
 * could take back.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "settings.h"
#include "metrics.h"
#include "shmem.h"
#include "transport.h"
#include "worker.h"

/* Log bytes: the records in every segment of the storage. */
static uint64
log_bytes(PgraftWorker *w)
{
	struct pgr_storage_info info;
	uint64		bytes = 0;

	pgr_storage_info(w->storage, &info);
	for (size_t i = 0; i < info.n_segments; i++)
	{
		struct pgr_storage_segment_info seg;

		if (pgr_storage_segment(w->storage, i, &seg) == PGR_STORAGE_OK)
			bytes += seg.used_bytes;
	}
	return bytes;
}

/* The worker's metrics as of now (metrics.c has the counters it keeps). */
static void
fill_metrics(PgraftWorker *w, const struct pgr_status *s, uint64 commit)
{
	struct pgr_metrics *m = &w->ms.m;
	const struct pgr_config *conf = pgr_node_config(w->node);

	m->node_id = s->id;
	m->term = s->term;
	m->leader_id = s->leader;
	m->is_leader = s->role == PGR_ROLE_LEADER;
	m->is_voter = false;
	m->members = conf->n_members;
	m->voters = 0;
	for (uint32 i = 0; i < conf->n_members; i++)
		if (conf->members[i].role == PGR_MEMBER_VOTER)
		{
			m->voters++;
			if (conf->members[i].id == s->id)
				m->is_voter = true;
		}
	m->pre_votes_started = s->pre_votes_started;
	m->pre_votes_won = s->pre_votes_won;
	m->elections_started = s->elections_started;
	m->elections_won = s->elections_won;
	m->heartbeats_sent = s->heartbeats_sent;
	m->messages_stepped = s->msgs_stepped;
	m->commit_index = commit;
	m->applied_index = w->app->applied;
	m->first_index = s->first_index;
	m->last_index = s->last_index;
	m->snapshot_index = s->snapshot_index;
	m->log_bytes = log_bytes(w);
	m->proposals_committed = w->app->entries_counted;
	m->kv_revision = pgr_kv_revision(w->kv);
	m->kv_keys = pgr_kv_count(w->kv);
	m->kv_bytes = pgr_kv_bytes(w->kv);
	m->kv_quota_bytes = pgr_kv_quota(w->kv);
	m->kv_leases = pgr_kv_lease_count(w->kv);
	m->kv_history_bytes = w->history.bytes;
	m->scrapes = pgraft_metrics_http_scrapes();
	pgraft_transport_metrics(m);
	for (uint32 i = 0; i < m->n_peers; i++)
	{
		struct pgr_metrics_peer *p = &m->peers[i];
		struct pgr_progress_info pi;

		/*
		 * A peer the leader has not heard from lately has no known match (a
		 * new leader starts every peer at 0 until it answers): its lag is not
		 * shown, its last contact is.  Not recent_active: CheckQuorum clears
		 * it for every peer each election timeout, and a caught-up follower
		 * answers nothing but heartbeats, so the lag would vanish for up to a
		 * heartbeat interval each time.
		 */
		p->leader_view = pgr_node_progress(w->node, p->id, &pi) == PGR_OK;
		if (p->leader_view)
		{
			p->lag_known = pi.match > 0 &&
				(int64) pi.ticks_since_contact * w->tick_ms < pgraft_election_timeout;
			p->match_lag = s->last_index > pi.match ? s->last_index - pi.match : 0;
			p->last_contact_seconds = (double) pi.ticks_since_contact * w->tick_ms / 1000.0;
		}
	}
}

void
pgraft_status_publish(PgraftWorker *w)
{
	struct pgr_status s;
	const struct pgr_config *conf = pgr_node_config(w->node);
	uint64		commit;
	bool		moved;
	bool		metrics_due;
	uint64		now = pgraft_clock_ns();

	pgr_node_status(w->node, &s);
	commit = Min(s.commit, w->app->applied);
	pgraft_metrics_committed(&w->ms, commit, s.role == PGR_ROLE_LEADER);
	metrics_due = now - w->ms.last_publish_ns >= (uint64) PGRAFT_METRICS_PUBLISH_MS * 1000000;
	if (metrics_due)
	{
		fill_metrics(w, &s, commit);
		w->ms.last_publish_ns = now;
	}

	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	moved = pgraft_shared->commit != commit || pgraft_shared->applied != w->app->applied ||
		pgraft_shared->term != s.term || pgraft_shared->leader != s.leader;
	pgraft_shared->initialized = w->identity.initialized;
	memcpy(pgraft_shared->cluster_id, w->identity.cluster_id, 16);
	pgraft_shared->node_id = s.id;
	pgraft_shared->term = s.term;
	pgraft_shared->leader = s.leader;
	pgraft_shared->role = s.role;
	pgraft_shared->removed = s.removed;
	pgraft_shared->first_index = s.first_index;
	pgraft_shared->last_index = s.last_index;
	if (pgr_node_term_at(w->node, s.last_index, &pgraft_shared->last_term) != PGR_OK)
		pgraft_shared->last_term = 0;	/* an empty log */
	pgraft_shared->commit = commit;
	pgraft_shared->applied = w->app->applied;
	pgraft_shared->snapshot_index = s.snapshot_index;
	pgraft_shared->snapshot_term = s.snapshot_term;
	pgraft_shared->msgs_processed = s.msgs_stepped;
	pgraft_shared->heartbeats_sent = s.heartbeats_sent;
	pgraft_shared->pre_votes_started = s.pre_votes_started;
	pgraft_shared->elections_started = s.elections_started;
	pgraft_shared->entries_counted = w->app->entries_counted;
	pgraft_kv_publish(w);
	pgraft_transport_refusals(pgraft_shared->refusals);
	if (metrics_due)
		pgraft_metrics_copy_out(&w->ms.m);
	pgraft_shared->n_members = conf->n_members;
	for (uint32 i = 0; i < conf->n_members; i++)
	{
		const struct pgr_member *m = &conf->members[i];
		PgraftMemberStatus *ms = &pgraft_shared->members[i];
		struct pgr_progress_info pi;

		ms->id = m->id;
		ms->voter = m->role == PGR_MEMBER_VOTER;
		pgraft_member_addr(m, ms->host, sizeof(ms->host), &ms->port);
		ms->connected = m->id == (uint64) pgraft_node_id ||
			pgraft_transport_connected(m->id);
		if (pgr_node_progress(w->node, m->id, &pi) == PGR_OK)
		{
			ms->match = pi.match;
			ms->next = pi.next;
			ms->progress_state = pi.state;
			ms->last_contact_ms = m->id == (uint64) pgraft_node_id ? 0 :
				(int64) pi.ticks_since_contact * w->tick_ms;
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

/*
 * One LOG line per change of leader, at any log level: who leads now, who
 * led before, the term, and why as far as this node can tell.  Losing the
 * leader (an election in progress) is a line too; the counter of leader
 * changes counts only new known leaders, as etcd's does.  Term changes
 * with no change of leader are for the debug log.
 */
void
pgraft_status_log_changes(PgraftWorker *w)
{
	struct pgr_status s;
	uint64		prev_leader = w->last_leader;
	uint64		prev_term = w->last_term;
	int			prev_role = w->last_role;

	pgr_node_status(w->node, &s);

	/*
	 * The target of a transfer this node leads (none once it gave up), kept
	 * after this node steps down until the next leader is logged.
	 */
	if (s.role == PGR_ROLE_LEADER)
		w->last_transferee = s.lead_transferee;
	if (s.term == w->last_term && s.leader == w->last_leader && (int) s.role == w->last_role)
		return;
	w->last_term = s.term;
	w->last_leader = s.leader;
	w->last_role = (int) s.role;
	if (s.leader == prev_leader)
	{
		ereport(PGRAFT_DEBUG_LEVEL(),
				(errmsg("pgraft: term " UINT64_FORMAT ", %s, leader " UINT64_FORMAT,
						s.term, pgr_role_name(s.role), s.leader)));
		return;
	}
	if (s.leader == PGR_NONE)
	{
		if (prev_leader != PGR_NONE)
			ereport(LOG,
					(errmsg("pgraft: no leader in term " UINT64_FORMAT " (the leader was node " UINT64_FORMAT ")",
							s.term, prev_leader),
					 w->last_transferee != PGR_NONE ?
					 errdetail("This node is handing leadership over to node " UINT64_FORMAT ".",
							   w->last_transferee) :
					 errdetail("%s",
							   s.role == PGR_ROLE_PRE_CANDIDATE || s.role == PGR_ROLE_CANDIDATE ?
							   "This node heard nothing from the leader for an election timeout and started an election." :
							   s.term != prev_term ?
							   "A higher term began: another node started an election." :
							   prev_role == PGR_ROLE_LEADER ?
							   "This node stepped down: it heard from no majority within an election timeout, or it was removed." :
							   "The leader stepped down.")));
		return;
	}
	if (s.leader != w->ms.last_leader)
	{
		w->ms.m.leader_changes++;
		w->ms.last_leader = s.leader;
	}
	if (prev_leader == PGR_NONE && w->last_transferee != s.leader)
		ereport(LOG,
				(errmsg("pgraft: node " UINT64_FORMAT " is the leader of term " UINT64_FORMAT "%s",
						s.leader, s.term, s.role == PGR_ROLE_LEADER ? " (this node)" : ""),
				 s.role == PGR_ROLE_LEADER ?
				 errdetail("This node won the election.") :
				 errdetail("Its first message of the term reached this node.")));
	else
		ereport(LOG,
				(errmsg("pgraft: node " UINT64_FORMAT " is the leader of term " UINT64_FORMAT "%s, after node " UINT64_FORMAT,
						s.leader, s.term, s.role == PGR_ROLE_LEADER ? " (this node)" : "",
						prev_leader != PGR_NONE ? prev_leader : (uint64) pgraft_node_id),
				 w->last_transferee == s.leader ?
				 errdetail("This node handed leadership over to it.") :
				 s.role == PGR_ROLE_LEADER ?
				 errdetail("This node won the election.") :
				 errdetail("Node " UINT64_FORMAT " won an election: the previous leader handed leadership over, or was lost.",
						   s.leader)));
	w->last_transferee = PGR_NONE;
}

void
pgraft_status_health(PgraftWorker *w)
{
	struct pgr_status s;

	if (!pgraft_shared->debug)
		return;
	pgr_node_status(w->node, &s);
	ereport(LOG,
			(errmsg("pgraft: node " UINT64_FORMAT " %s term " UINT64_FORMAT " leader " UINT64_FORMAT " commit " UINT64_FORMAT " applied " UINT64_FORMAT " log [" UINT64_FORMAT ", " UINT64_FORMAT "], %u calls pending",
					s.id, pgr_role_name(s.role), s.term, s.leader, s.commit, s.applied,
					s.first_index, s.last_index, pgr_calls_pending(&w->calls))));
}
