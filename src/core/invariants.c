/*-------------------------------------------------------------------------
 *
 * invariants.c
 *		The invariants written next to the fields of raft.h, checked.
 *
 * Compiled into every build, called only where PGR_CHECK_INVARIANTS is
 * defined (the sanitizer and debug builds: make SAN=1, make DEBUG=1), after
 * every call that changes a node.  A violation is a bug in the core, never
 * bad input, so it aborts at once with what broke: the simulator and the
 * unit tests then stop at the first step that broke it instead of at a
 * later symptom.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/invariants.c
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "raft.h"

static void
broken(const struct pgr_node *node, const char *where, const char *what, uint64_t a, uint64_t b)
{
	fprintf(stderr,
			"pgraft core invariant violated on node %" PRIu64 " after %s: %s (%" PRIu64 ", %" PRIu64
			")\n",
			node->id, where, what, a, b);
	abort();
}

void
pgr_check_invariants(const struct pgr_node *node, const char *where)
{
	const struct pgr_log *log = &node->log;
	uint64_t last = pgr_log_last_index(log);
	uint64_t prev_term = log->snap_term;

	/* struct pgr_log */
	if (log->applied < log->snap_index)
		broken(node, where, "applied below the snapshot", log->applied, log->snap_index);
	if (log->committed < log->applied)
		broken(node, where, "committed below applied", log->committed, log->applied);
	if (log->committed > last)
		broken(node, where, "committed past the log", log->committed, last);
	if (log->stable > last || log->stable < log->snap_index)
		broken(node, where, "stable outside the log", log->stable, last);
	if (log->start + log->n > log->cap)
		broken(node, where, "live entries past the array", log->start + log->n, log->cap);
	for (uint64_t i = log->snap_index + 1; i <= last; i++)
	{
		const struct pgr_entry *e = pgr_log_at(log, i);

		if (e->index != i)
			broken(node, where, "log index not dense", e->index, i);
		if (e->term < prev_term)
			broken(node, where, "log term falls", e->term, prev_term);
		prev_term = e->term;
	}
	if (prev_term > node->term)
		broken(node, where, "log holds a term the node has not seen", prev_term, node->term);

	/* membership */
	if (node->config_index > last)
		broken(node, where, "configuration past the log", node->config_index, last);

	/* struct pgr_progress, on the leader */
	if (node->role == PGR_ROLE_LEADER)
	{
		if (node->lead != node->id)
			broken(node, where, "a leader that does not lead", node->lead, node->id);
		if (node->n_prs != node->config.n_members)
			broken(node, where, "progress not one per member", node->n_prs, node->config.n_members);
		for (uint32_t i = 0; i < node->n_prs; i++)
		{
			const struct pgr_progress *pr = &node->prs[i];

			if (pr->id != node->config.members[i].id)
				broken(node, where, "progress out of member order", pr->id,
					   node->config.members[i].id);
			if (pr->match >= pr->next)
				broken(node, where, "match not below next", pr->match, pr->next);
			if (pr->match > last)
				broken(node, where, "match past the leader's log", pr->match, last);
			if (pr->inflight_count > pr->inflight_cap)
				broken(node, where, "more in flight than the window", pr->inflight_count,
					   pr->inflight_cap);
		}
	}
	else if (node->n_prs != 0)
		broken(node, where, "progress kept by a non-leader", node->n_prs, node->role);
}
