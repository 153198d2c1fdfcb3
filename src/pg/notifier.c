/*-------------------------------------------------------------------------
 *
 * notifier.c
 *		The pgraft notifier: a background worker that turns every change
 *		the key-value store applies on this node into a NOTIFY, so that
 *		clients can LISTEN instead of polling (docs/kv.md, "Watches").
 *
 * NOTIFY belongs to a database, so the notifier connects to one,
 * pgraft.kv_notify_database (the pgraft worker itself has none, so that it
 * runs on standbys).  It waits for the store's published revision to move,
 * reads the changes since the last one it sent through the same request
 * as pgraft_kv_changes(), and sends each as a notification on the channel
 * pgraft_kv, in one transaction per round, in revision order.  The payload
 * is JSON: {"revision": R, "type": "put" or "delete", "key": K}; the value
 * is left out (a payload is at most 8000 bytes): read it with
 * pgraft_kv_get() or pgraft_kv_changes().  A key too long for the payload is
 * sent as "key_truncated": true without the key.
 *
 * Notifications are a hint, not the history: a listener that connects
 * late, or a notifier that restarts, misses what came before, and a round
 * whose revisions are no longer in the history (pgraft.kv_history_size)
 * is skipped with a WARNING.  A client that must see every change reads
 * pgraft_kv_changes() from its last revision when woken.  A hot standby
 * cannot NOTIFY: there the notifier only waits.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/notifier.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "pgraft/kv.h"
#include "metrics.h"
#include "queue.h"
#include "settings.h"
#include "shmem.h"

#define NOTIFY_CHANNEL "pgraft_kv"
/* the longest payload NOTIFY takes, as commands/async.c computes it */
#define NOTIFY_PAYLOAD_LIMIT (BLCKSZ - NAMEDATALEN - 128)

PGDLLEXPORT void PgraftNotifierMain(Datum main_arg);

static void
notify_one(void *arg, const PgraftChange *c)
{
	StringInfoData payload;
	uint64	   *last = arg;
	char	   *key = pnstrdup(c->key, c->key_len);
	int			head;

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"revision\": " UINT64_FORMAT ", \"type\": \"%s\", ",
					 c->revision, c->deleted ? "delete" : "put");
	head = payload.len;
	appendStringInfoString(&payload, "\"key\": ");
	escape_json(&payload, key);
	appendStringInfoChar(&payload, '}');
	if (payload.len >= NOTIFY_PAYLOAD_LIMIT)
	{
		/* too long for a notification: the listener reads the changes */
		payload.len = head;
		payload.data[head] = '\0';
		appendStringInfoString(&payload, "\"key_truncated\": true}");
	}
	Async_Notify(NOTIFY_CHANNEL, payload.data);
	pfree(payload.data);
	pfree(key);
	*last = Max(*last, c->revision);
}

static uint64
published_revision(void)
{
	uint64		rev;

	LWLockAcquire(pgraft_shared->lock, LW_SHARED);
	rev = pgraft_shared->kv_revision;
	LWLockRelease(pgraft_shared->lock);
	return rev;
}

static bool
revision_above(void *arg)
{
	return ShutdownRequestPending || published_revision() > *(const uint64 *) arg;
}

/*
 * One round: notify every change after *sent; *sent becomes the last
 * revision notified (or skipped).
 */
static void
notify_round(uint64 *sent)
{
	const uint8 *key;
	uint32		key_len;
	uint8		end[1];
	uint32		end_len;
	uint64		last = *sent;
	MemoryContext cxt = CurrentMemoryContext;

	pgraft_kv_prefix_range(NULL, 0, &key, &key_len, end, &end_len);
	StartTransactionCommand();
	PG_TRY();
	{
		uint64		at = pgraft_kv_fetch_changes(*sent + 1, key, key_len, end, end_len, 0,
												 notify_one, &last);

		CommitTransactionCommand();
		/* changes of keys the history holds nothing for still moved it */
		*sent = Max(last, at);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		if (edata->sqlerrcode == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE)
		{
			/* the history lost them, or this node is no member yet */
			ereport(WARNING,
					(errmsg("pgraft notifier: skipped changes: %s", edata->message),
					 edata->detail ? errdetail("%s", edata->detail) : 0));
			*sent = published_revision();
		}
		else
			ereport(LOG,
					(errmsg("pgraft notifier: could not read the changes: %s", edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

void
PgraftNotifierMain(Datum main_arg)
{
	uint64		sent;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(pgraft_kv_notify_database, NULL, 0);
	pgstat_report_appname("pgraft notifier");

	/* what was applied before it started is not news */
	sent = published_revision();
	while (!ShutdownRequestPending)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!pgraft_wait_for(revision_above, &sent, 1000) || ShutdownRequestPending)
			continue;
		if (RecoveryInProgress())
		{
			/* a standby cannot NOTIFY: keep up, say nothing */
			sent = published_revision();
			continue;
		}
		notify_round(&sent);
	}
	proc_exit(0);
}
