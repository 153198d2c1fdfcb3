/*-------------------------------------------------------------------------
 *
 * pgraft.c
 *		Module entry point: settings, shared memory, and the background
 *		worker's registration.
 *
 * pgraft must be loaded through shared_preload_libraries: it needs shared
 * memory and a background worker, both of which exist only if requested
 * while the postmaster starts.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/pgraft.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "compat.h"
#include "pgraft/wire.h"
#include "settings.h"
#include "shmem.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

int			pgraft_node_id = 1;
char	   *pgraft_address = NULL;
int			pgraft_port = 7001;
char	   *pgraft_cluster_name = NULL;
int			pgraft_heartbeat_interval = 100;
int			pgraft_election_timeout = 1000;
bool		pgraft_worker_enabled = true;
bool		pgraft_debug_enabled = false;
int			pgraft_health_period_ms = 5000;
int			pgraft_snapshot_threshold = 1000;
int			pgraft_max_log_entries = 10000;
int			pgraft_kv_max_size = 64 * 1024;
int			pgraft_kv_history_size = 16 * 1024;
char	   *pgraft_kv_notify_database = NULL;
char	   *pgraft_data_directory = NULL;
int			pgraft_max_entry_size = 1024 * 1024;
int			pgraft_request_timeout = 10000;
char	   *pgraft_auth_key_file = NULL;
bool		pgraft_ssl = false;
char	   *pgraft_ssl_cert_file = NULL;
char	   *pgraft_ssl_key_file = NULL;
char	   *pgraft_ssl_ca_file = NULL;
char	   *pgraft_ssl_crl_file = NULL;
int			pgraft_max_requests = 64;
char	   *pgraft_metrics_address = NULL;
int			pgraft_metrics_port = 0;

PgraftShared *pgraft_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static bool
check_cluster_name(char **newval, void **extra, GucSource source)
{
	size_t		len = *newval ? strlen(*newval) : 0;

	if (len == 0 || len > PGR_WIRE_CLUSTER_NAME_MAX)
	{
		GUC_check_errdetail("pgraft.cluster_name must be 1 to %d bytes long.",
							PGR_WIRE_CLUSTER_NAME_MAX);
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if ((*newval)[i] < 0x21 || (*newval)[i] > 0x7e)
		{
			GUC_check_errdetail("pgraft.cluster_name may contain only printable ASCII characters without spaces.");
			return false;
		}
	return true;
}

static bool
check_address(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' ||
		strlen(*newval) > PGRAFT_HOST_MAX)
	{
		GUC_check_errdetail("pgraft.address must be a host name or IP address of at most %d bytes.",
							PGRAFT_HOST_MAX);
		return false;
	}
	return true;
}

/*
 * The heartbeat must fit twice in the election timeout.  Checked when one of
 * them is set (ALTER SYSTEM, SET in postgresql.conf at reload) against the
 * other's value in force, so a bad pair is refused before it is stored;
 * not while the settings are first defined at server start, when the other
 * may not be defined yet (the pair is checked once both are: _PG_init).
 */
static bool
check_heartbeat_interval(int *newval, void **extra, GucSource source)
{
	if (process_shared_preload_libraries_in_progress || 2 * *newval <= pgraft_election_timeout)
		return true;
	GUC_check_errdetail("pgraft.heartbeat_interval must be at most half of pgraft.election_timeout, which is %d ms.",
						pgraft_election_timeout);
	GUC_check_errhint("Raise pgraft.election_timeout first.");
	return false;
}

static bool
check_election_timeout(int *newval, void **extra, GucSource source)
{
	if (process_shared_preload_libraries_in_progress || *newval >= 2 * pgraft_heartbeat_interval)
		return true;
	GUC_check_errdetail("pgraft.election_timeout must be at least twice pgraft.heartbeat_interval, which is %d ms.",
						pgraft_heartbeat_interval);
	GUC_check_errhint("Lower pgraft.heartbeat_interval first.");
	return false;
}

static void
pgraft_define_settings(void)
{
	DefineCustomIntVariable("pgraft.node_id",
							"This node's id in the Raft cluster.",
							"Unique within the cluster and never reused.",
							&pgraft_node_id, 1, 1, INT_MAX,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgraft.address",
							   "Address the Raft transport listens on and that peers use to reach this node.",
							   NULL,
							   &pgraft_address, "127.0.0.1",
							   PGC_POSTMASTER, 0, check_address, NULL, NULL);
	DefineCustomIntVariable("pgraft.port",
							"TCP port of the Raft transport.",
							"Must differ from PostgreSQL's own port.",
							&pgraft_port, 7001, 1, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgraft.cluster_name",
							   "Name of the Raft cluster; peers with another name are refused.",
							   NULL,
							   &pgraft_cluster_name, "pgraft",
							   PGC_POSTMASTER, 0, check_cluster_name, NULL, NULL);
	DefineCustomIntVariable("pgraft.heartbeat_interval",
							"Interval between the leader's heartbeats.",
							NULL,
							&pgraft_heartbeat_interval, 100, 10, 60000,
							PGC_POSTMASTER, GUC_UNIT_MS, check_heartbeat_interval, NULL, NULL);
	DefineCustomIntVariable("pgraft.election_timeout",
							"Time without hearing from a leader before a follower starts an election.",
							"Each timeout is drawn at random between this value and twice it. Must be at least twice pgraft.heartbeat_interval.",
							&pgraft_election_timeout, 1000, 20, 600000,
							PGC_POSTMASTER, GUC_UNIT_MS, check_election_timeout, NULL, NULL);
	DefineCustomBoolVariable("pgraft.worker_enabled",
							 "Starts the pgraft background worker.",
							 NULL,
							 &pgraft_worker_enabled, true,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgraft.debug_enabled",
							 "Logs Raft events (elections, membership, connections) at LOG level.",
							 NULL,
							 &pgraft_debug_enabled, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgraft.health_period_ms",
							"Interval of the worker's health check: peer connections and a status line when debugging.",
							NULL,
							&pgraft_health_period_ms, 5000, 100, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgraft.snapshot_threshold",
							"Applied entries between two snapshots of the log, at least.",
							"A snapshot also waits until the entries it drops hold as many bytes as the previous snapshot: a large key-value store is not rewritten every few entries.",
							&pgraft_snapshot_threshold, 1000, 1, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgraft.max_log_entries",
							"Entries kept in the log after compaction (for catching up and reading back).",
							NULL,
							&pgraft_max_log_entries, 10000, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgraft.data_directory",
							   "Directory of this node's Raft state; empty means pgraft under the data directory.",
							   NULL,
							   &pgraft_data_directory, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgraft.max_entry_size",
							"Largest payload pgraft_log_append accepts.",
							NULL,
							&pgraft_max_entry_size, 1024 * 1024, 1, 64 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("pgraft.kv_max_size",
							"Quota of the key-value store: bytes of keys and values (and 16 per lease) it may hold.",
							"The leader's setting is the cluster's: it proposes it through the log, so that every node refuses the same writes. Set the same value on every node. 0: no limit.",
							&pgraft_kv_max_size, 64 * 1024, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("pgraft.kv_history_size",
							"Memory for the key-value store's recent changes, which pgraft_kv_changes() and reads at a past revision use.",
							"Each node keeps its own: the oldest revisions are dropped to stay within it, and reading from a dropped revision is an error. 0 keeps none.",
							&pgraft_kv_history_size, 16 * 1024, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomStringVariable("pgraft.kv_notify_database",
							   "Database in which the pgraft notifier NOTIFYs channel pgraft_kv of every key-value change.",
							   "Empty: no notifier. LISTEN pgraft_kv in this database to be told of changes.",
							   &pgraft_kv_notify_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgraft.request_timeout",
							"Longest time a pgraft call waits for its outcome.",
							"The worker ends a call that has not completed by then: with an error saying nothing happened, or, if something it proposed may still commit, SQLSTATE 08007 (outcome unknown).",
							&pgraft_request_timeout, 10000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("pgraft.auth_key_file",
							   "File holding the cluster's shared key, which every peer must prove it holds.",
							   "Relative to the data directory. One key per line (two during a rotation). Empty: peers are not authenticated by a key.",
							   &pgraft_auth_key_file, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgraft.ssl",
							 "Runs every Raft connection over TLS with mutual certificate authentication.",
							 "Every node must then present a certificate from pgraft.ssl_ca_file naming it pgraft-node-<id>.<cluster name>.",
							 &pgraft_ssl, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgraft.ssl_cert_file",
							   "This node's TLS certificate (chain) for the Raft transport.",
							   "Relative to the data directory.",
							   &pgraft_ssl_cert_file, "pgraft.crt",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("pgraft.ssl_key_file",
							   "The private key of pgraft.ssl_cert_file.",
							   "Relative to the data directory. Must not be readable by group or others, and not encrypted.",
							   &pgraft_ssl_key_file, "pgraft.key",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("pgraft.ssl_ca_file",
							   "The cluster's CA certificate(s): peers' certificates must be signed by it.",
							   "Relative to the data directory.",
							   &pgraft_ssl_ca_file, "pgraft_ca.crt",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("pgraft.ssl_crl_file",
							   "Revoked certificates, checked for the whole chain of every peer.",
							   "Relative to the data directory. Empty: no revocation list.",
							   &pgraft_ssl_crl_file, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("pgraft.max_requests",
							"Slots of the request queue between SQL sessions and the worker.",
							"Each pgraft call in progress holds one. Reads may hold at most three quarters of them; the rest are kept for writes and membership changes.",
							&pgraft_max_requests, 64, 8, 4096,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgraft.metrics_address",
							   "Address the Prometheus metrics endpoint listens on.",
							   "The endpoint has no authentication: keep it on loopback or a monitoring network.",
							   &pgraft_metrics_address, "127.0.0.1",
							   PGC_POSTMASTER, 0, check_address, NULL, NULL);
	DefineCustomIntVariable("pgraft.metrics_port",
							"TCP port of the Prometheus metrics endpoint (GET /metrics); 0 turns it off.",
							"Off by default. The same numbers are always in SQL: pgraft_stat().",
							&pgraft_metrics_port, 0, 0, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("pgraft");
}

/* Why the timing settings cannot be used together, or NULL. */
const char *
pgraft_timing_error(void)
{
	if (pgraft_election_timeout < 2 * pgraft_heartbeat_interval)
		return "pgraft.election_timeout must be at least twice pgraft.heartbeat_interval";
	return NULL;
}

const char *
pgraft_state_dir(void)
{
	static char path[MAXPGPATH];

	if (pgraft_data_directory != NULL && pgraft_data_directory[0] != '\0')
		strlcpy(path, pgraft_data_directory, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s/pgraft", DataDir);
	return path;
}

Size
pgraft_shmem_size(void)
{
	return MAXALIGN(add_size(offsetof(PgraftShared, slots),
							 mul_size(pgraft_max_requests, sizeof(PgraftRequest))));
}

static void
pgraft_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(pgraft_shmem_size());
	RequestNamedLWLockTranche("pgraft", 1);
}

static void
pgraft_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	pgraft_shmem_init();
}

void
pgraft_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pgraft_shared = ShmemInitStruct("pgraft", pgraft_shmem_size(), &found);
	if (!found)
	{
		memset(pgraft_shared, 0, sizeof(PgraftShared));
		pgraft_shared->lock = &(GetNamedLWLockTranche("pgraft"))->lock;
		ConditionVariableInit(&pgraft_shared->progress_cv);
		pgraft_shared->worker_state = PGRAFT_WORKER_STOPPED;
		pgraft_shared->debug = pgraft_debug_enabled;
		pgraft_shared->node_id = pgraft_node_id;
		for (int i = 0; i < pgraft_max_requests; i++)
		{
			pgraft_shared->slots[i].state = PGRAFT_SLOT_FREE;
			pgraft_shared->slots[i].dsm = DSM_HANDLE_INVALID;
			ConditionVariableInit(&pgraft_shared->slots[i].cv);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
pgraft_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));

	/*
	 * No database connection: all Raft state lives in pgraft's own files, so
	 * the worker starts with the postmaster and runs on hot standbys too.
	 */
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_PostmasterStart;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgraft");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "PgraftWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgraft worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgraft worker");
	RegisterBackgroundWorker(&worker);

	/*
	 * The notifier (notifier.c) needs a database for NOTIFY, and a primary:
	 * it starts once recovery is over.
	 */
	if (pgraft_kv_notify_database[0] == '\0')
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgraft");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "PgraftNotifierMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgraft notifier");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgraft notifier");
	RegisterBackgroundWorker(&worker);
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgraft must be loaded via shared_preload_libraries"),
				 errhint("Add pgraft to shared_preload_libraries in postgresql.conf and restart the server.")));

	pgraft_define_settings();

	if (pgraft_port == PostPortNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgraft.port must differ from the server's port"),
				 errdetail("Both are set to %d.", pgraft_port),
				 errhint("Choose another TCP port for pgraft.port, the Raft transport.")));
	if (pgraft_metrics_port != 0 &&
		(pgraft_metrics_port == PostPortNumber || pgraft_metrics_port == pgraft_port))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgraft.metrics_port must differ from the server's port and from pgraft.port"),
				 errdetail("pgraft.metrics_port is %d, the server's port %d, pgraft.port %d.",
						   pgraft_metrics_port, PostPortNumber, pgraft_port),
				 errhint("Choose another TCP port for the metrics endpoint, or 0 to turn it off.")));

	/*
	 * A bad pair can only come from editing postgresql.conf by hand (the
	 * checks above refuse it otherwise).  It must not keep the server from
	 * starting: the worker refuses to run, and says why
	 * (pgraft_timing_error).
	 */
	if (pgraft_timing_error() != NULL)
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgraft: %s", pgraft_timing_error()),
				 errdetail("pgraft.election_timeout is %d ms, pgraft.heartbeat_interval is %d ms; the pgraft worker will not run.",
						   pgraft_election_timeout, pgraft_heartbeat_interval)));

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pgraft_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pgraft_shmem_startup;

	if (pgraft_worker_enabled)
		pgraft_register_worker();
}
