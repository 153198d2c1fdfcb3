/*-------------------------------------------------------------------------
 *
 * progress.c
 *		The leader's view of each member and its flow control.
 *
 * A follower moves between three states (the invariants are in raft.h):
 *	PROBE -> REPLICATE		an append was acknowledged: next is right, pipeline
 *	REPLICATE -> PROBE		a rejection, or the peer became unreachable
 *	PROBE -> SNAPSHOT		the entries it needs were compacted away
 *	SNAPSHOT -> PROBE		the snapshot was acknowledged, failed or timed out
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft.h"

static void
reset_state(struct pgr_progress *pr, enum pgr_progress_state state)
{
	pr->state = state;
	pr->probe_sent = false;
	pr->pending_snapshot = 0;
	pr->snapshot_elapsed = 0;
	pr->inflight_start = 0;
	pr->inflight_count = 0;
}

void
pgr_progress_become_probe(struct pgr_progress *pr)
{
	/*
	 * Coming back from a snapshot, the follower has at least the snapshot
	 * (if it installed it); start probing right after it.
	 */
	if (pr->state == PGR_PROGRESS_SNAPSHOT)
	{
		uint64_t snap = pr->pending_snapshot;

		reset_state(pr, PGR_PROGRESS_PROBE);
		pr->next = (pr->match + 1 > snap + 1) ? pr->match + 1 : snap + 1;
	}
	else
	{
		reset_state(pr, PGR_PROGRESS_PROBE);
		pr->next = pr->match + 1;
	}
}

void
pgr_progress_become_replicate(struct pgr_progress *pr)
{
	reset_state(pr, PGR_PROGRESS_REPLICATE);
	pr->next = pr->match + 1;
}

void
pgr_progress_become_snapshot(struct pgr_progress *pr, uint64_t snap_index)
{
	reset_state(pr, PGR_PROGRESS_SNAPSHOT);
	pr->pending_snapshot = snap_index;
}

/*
 * An acknowledgement up to index arrived.  Returns true if it told us
 * something new (match moved).  A stale ack never moves match back.
 */
bool
pgr_progress_maybe_update(struct pgr_progress *pr, uint64_t index)
{
	bool updated = false;

	if (pr->match < index)
	{
		pr->match = index;
		updated = true;
		pr->probe_sent = false;
	}
	if (pr->next < index + 1)
		pr->next = index + 1;
	return updated;
}

/*
 * The follower rejected an append whose previous index was rejected, and
 * suggested match_hint (where our logs may agree).  Returns false if the
 * rejection is stale (an answer to something we no longer have in flight).
 */
bool
pgr_progress_maybe_decr_to(struct pgr_progress *pr, uint64_t rejected, uint64_t match_hint)
{
	if (pr->state == PGR_PROGRESS_REPLICATE)
	{
		/* In REPLICATE, only a rejection of next-1's successor path counts. */
		if (rejected <= pr->match)
			return false;
		pr->next = pr->match + 1;
		return true;
	}
	/* PROBE: only the rejection of our last probe (prev index next-1) counts. */
	if (pr->next == 0 || pr->next - 1 != rejected)
		return false;
	/* Back off to the hint, by at least one, but never at or below match. */
	pr->next = match_hint + 1 < rejected ? match_hint + 1 : rejected;
	if (pr->next < pr->match + 1)
		pr->next = pr->match + 1;
	pr->probe_sent = false;
	return true;
}

bool
pgr_progress_is_paused(const struct pgr_progress *pr)
{
	switch (pr->state)
	{
		case PGR_PROGRESS_PROBE:
			return pr->probe_sent;
		case PGR_PROGRESS_REPLICATE:
			return pr->inflight_count >= pr->inflight_cap;
		case PGR_PROGRESS_SNAPSHOT:
			return true;
	}
	return true;
}

/* An append carrying entries up to last_index was sent. */
void
pgr_progress_sent(struct pgr_progress *pr, uint64_t last_index, size_t n_entries)
{
	switch (pr->state)
	{
		case PGR_PROGRESS_REPLICATE:
			if (n_entries > 0)
			{
				pr->next = last_index + 1;
				if (pr->inflight_count < pr->inflight_cap)
				{
					uint32_t slot = (pr->inflight_start + pr->inflight_count) % pr->inflight_cap;

					pr->inflight[slot] = last_index;
					pr->inflight_count++;
				}
			}
			break;
		case PGR_PROGRESS_PROBE:
			pr->probe_sent = true;
			break;
		case PGR_PROGRESS_SNAPSHOT:
			break;
	}
}

/* Everything up to index was acknowledged: release those window slots. */
void
pgr_progress_free_to(struct pgr_progress *pr, uint64_t index)
{
	while (pr->inflight_count > 0 && pr->inflight[pr->inflight_start] <= index)
	{
		pr->inflight_start = (pr->inflight_start + 1) % pr->inflight_cap;
		pr->inflight_count--;
	}
}

void
pgr_progress_free_first(struct pgr_progress *pr)
{
	if (pr->inflight_count > 0)
	{
		pr->inflight_start = (pr->inflight_start + 1) % pr->inflight_cap;
		pr->inflight_count--;
	}
}
