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
 * src/pg/status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "settings.h"
#include "shmem.h"
#include "transport.h"
#include "worker.h"

void
pgraft_status_publish(PgraftWorker *w)
{
	struct pgr_status s;
	const struct pgr_config *conf = pgr_node_config(w->node);
	uint64		commit;
	bool		moved;

	pgr_node_status(w->node, &s);
	commit = Min(s.commit, w->app->applied);

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
	pgraft_shared->commit = commit;
	pgraft_shared->applied = w->app->applied;
	pgraft_shared->snapshot_index = s.snapshot_index;
	pgraft_shared->snapshot_term = s.snapshot_term;
	pgraft_shared->msgs_processed = s.msgs_stepped;
	pgraft_shared->heartbeats_sent = s.heartbeats_sent;
	pgraft_shared->pre_votes_started = s.pre_votes_started;
	pgraft_shared->elections_started = s.elections_started;
	pgraft_shared->entries_counted = w->app->entries_counted;
	pgraft_transport_refusals(pgraft_shared->refusals);
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

/* A line in the debug log whenever the term or the leader changes. */
void
pgraft_status_log_changes(PgraftWorker *w)
{
	struct pgr_status s;

	pgr_node_status(w->node, &s);
	if (s.term == w->last_term && s.leader == w->last_leader)
		return;
	w->last_term = s.term;
	w->last_leader = s.leader;
	ereport(PGRAFT_DEBUG_LEVEL(),
			(errmsg("pgraft: term " UINT64_FORMAT ", %s, leader " UINT64_FORMAT,
					s.term, pgr_role_name(s.role), s.leader)));
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
