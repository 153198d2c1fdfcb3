/*-------------------------------------------------------------------------
 *
 * node.c
 *		The worker's Raft node and its storage: opening them (the core's
 *		restart, contract point 4), founding a cluster, being adopted by one,
 *		and moving aside a state that belongs to another node; the identity
 *		file; and how the worker fails when the node or storage cannot go
 *		on.
 *
 * The identity file is plain text ("cluster_id=<32 hex digits>" and
 * "node_id=<n>"), written to a temporary file, fsynced and renamed into
 * place with durable_rename(), so it is either the old or the new version
 * after a crash.  No file means the node belongs to no cluster yet.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/node.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"

#include "settings.h"
#include "shmem.h"
#include "transport.h"
#include "worker.h"

/* ---------------------------------------------------------------------- */
/* Failing                                                                */
/* ---------------------------------------------------------------------- */

void
pgraft_worker_set_state(int st, const char *why)
{
	LWLockAcquire(pgraft_shared->lock, LW_EXCLUSIVE);
	pgraft_shared->worker_state = (PgraftWorkerState) st;
	strlcpy(pgraft_shared->worker_error, why ? why : "", sizeof(pgraft_shared->worker_error));
	LWLockRelease(pgraft_shared->lock);
}

/* The SQLSTATE of a storage error. */
static int
storage_errcode(enum pgr_storage_err code)
{
	switch (code)
	{
		case PGR_STORAGE_ENOSPC:
			return ERRCODE_DISK_FULL;
		case PGR_STORAGE_ECORRUPT:
			return ERRCODE_DATA_CORRUPTED;
		case PGR_STORAGE_EVERSION:
			return ERRCODE_FEATURE_NOT_SUPPORTED;	/* written by another
													 * build */
		case PGR_STORAGE_ENOMEM:
			return ERRCODE_OUT_OF_MEMORY;
		default:
			return ERRCODE_IO_ERROR;
	}
}

void
pgraft_storage_failed(PgraftWorker *w, const char *what)
{
	const struct pgr_storage_error *e = pgr_storage_last_error(w->storage);

	ereport(FATAL,
			(errcode(storage_errcode(e->code)),
			 errmsg("pgraft: %s failed: %s", what, e->msg),
			 e->code == PGR_STORAGE_EVERSION ?
			 errhint("docs/upgrading.md says which builds read which format versions.") : 0));
}

void
pgraft_core_failed(const char *what, enum pgr_err err)
{
	ereport(FATAL,
			(errcode(err == PGR_ENOMEM ? ERRCODE_OUT_OF_MEMORY : ERRCODE_INTERNAL_ERROR),
			 errmsg("pgraft: %s failed: %s", what, pgr_strerror(err)),
			 errdetail("The worker restarts and recovers from its durable state.")));
}

/*
 * Core calls whose failure means the node must be rebuilt from storage
 * (core contract point 5): the worker exits and the postmaster restarts it.
 */
enum pgr_err
pgraft_check_core(enum pgr_err err, const char *what)
{
	if (err == PGR_ENOMEM || err == PGR_ESTATE || err == PGR_ECORRUPT)
		pgraft_core_failed(what, err);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Member contexts: "host:port"                                           */
/* ---------------------------------------------------------------------- */

void
pgraft_format_context(const char *host, int port, uint8 *ctx, uint32 *len)
{
	*len = (uint32) snprintf((char *) ctx, PGR_MAX_CONTEXT, "%s:%d", host, port);
}

bool
pgraft_context_parse(const uint8 *ctx, uint32 len, char *host, size_t host_size, int *port)
{
	char		buf[PGR_MAX_CONTEXT + 1];
	char	   *colon;
	char	   *end;
	long		p;

	if (len == 0 || len > PGR_MAX_CONTEXT)
		return false;
	memcpy(buf, ctx, len);
	buf[len] = '\0';
	if (strlen(buf) != len)
		return false;
	colon = strrchr(buf, ':');
	if (colon == NULL || colon == buf || (size_t) (colon - buf) >= host_size)
		return false;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || p < 1 || p > 65535)
		return false;
	*colon = '\0';
	strlcpy(host, buf, host_size);
	*port = (int) p;
	return true;
}

void
pgraft_member_addr(const struct pgr_member *m, char *host, size_t size, int *port)
{
	if (!pgraft_context_parse(m->context, m->context_len, host, size, port))
	{
		strlcpy(host, "", size);
		*port = 0;
	}
}

/* ---------------------------------------------------------------------- */
/* The identity file                                                      */
/* ---------------------------------------------------------------------- */

void
pgraft_identity_format(const uint8 *cluster_id, char *out, size_t size)
{
	char		hex[33];

	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", cluster_id[i]);
	strlcpy(out, hex, size);
}

static void
identity_load(const char *dir, PgraftIdentity *id)
{
	char		path[MAXPGPATH];
	FILE	   *f;
	char		line[128];
	bool		have_cluster = false;
	bool		have_node = false;

	memset(id, 0, sizeof(*id));
	snprintf(path, sizeof(path), "%s/identity", dir);
	f = AllocateFile(path, "r");
	if (f == NULL)
	{
		if (errno == ENOENT)
			return;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not open \"%s\": %m", path)));
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		unsigned long long v;

		if (strncmp(line, "cluster_id=", 11) == 0 && strlen(line) >= 11 + 32)
		{
			have_cluster = true;
			for (int i = 0; i < 16; i++)
			{
				unsigned int b;

				if (sscanf(line + 11 + 2 * i, "%2x", &b) != 1)
					have_cluster = false;
				id->cluster_id[i] = (uint8) b;
			}
		}
		else if (sscanf(line, "node_id=%llu", &v) == 1)
		{
			id->node_id = v;
			have_node = true;
		}
	}
	FreeFile(f);
	if (!have_cluster || !have_node)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("pgraft: identity file \"%s\" is damaged", path),
				 errhint("Restore it from a copy of this node, or remove this node's pgraft directory and add the node to its cluster again.")));
	id->initialized = true;
}

/*
 * Replace dir/name with len bytes of buf, all or nothing: a temporary file,
 * written, fsynced, and renamed into place with durable_rename().
 */
static void
write_small_file(const char *dir, const char *name, const char *buf, int len)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	int			fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not create \"%s\": %m", tmp)));
	errno = 0;
	if (write(fd, buf, len) != len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not write \"%s\": %m", tmp)));
	}
	if (pg_fsync(fd) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not fsync \"%s\": %m", tmp)));
	CloseTransientFile(fd);
	(void) durable_rename(tmp, path, FATAL);
}

static void
identity_save(const char *dir, const PgraftIdentity *id)
{
	char		hex[33];
	char		buf[128];
	int			len;

	pgraft_identity_format(id->cluster_id, hex, sizeof(hex));
	len = snprintf(buf, sizeof(buf), "cluster_id=%s\nnode_id=" UINT64_FORMAT "\n",
				   hex, id->node_id);
	write_small_file(dir, "identity", buf, len);
}

/*
 * This start's incarnation, larger than every earlier one of this node (the
 * application layer voids copies of calls an older incarnation made):
 * the larger of the last one plus one and the microseconds since 1970, so
 * that it grows even if the file is lost with a copied or restored data
 * directory.  Kept in "incarnation", written like the identity file.
 */
static uint64
next_incarnation(const char *dir)
{
	char		path[MAXPGPATH];
	char		buf[64];
	unsigned long long last = 0;
	uint64		next;
	FILE	   *f;
	int			len;

	snprintf(path, sizeof(path), "%s/incarnation", dir);
	f = AllocateFile(path, "r");
	if (f != NULL)
	{
		if (fscanf(f, "%llu", &last) != 1)
			last = 0;
		FreeFile(f);
	}
	else if (errno != ENOENT)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not open \"%s\": %m", path)));
	next = Max((uint64) last + 1, (uint64) GetCurrentTimestamp() + UINT64CONST(946684800000000));
	len = snprintf(buf, sizeof(buf), UINT64_FORMAT "\n", next);
	write_small_file(dir, "incarnation", buf, len);
	return next;
}

/* ---------------------------------------------------------------------- */
/* Opening                                                                */
/* ---------------------------------------------------------------------- */

static void
open_storage(PgraftWorker *w)
{
	struct pgr_storage_options opts;
	struct pgr_storage_error err;

	memset(&opts, 0, sizeof(opts));
	opts.create = true;
	pgraft_metrics_storage_options(&w->ms, &opts);
	if (pgr_storage_open(w->raft_dir, &opts, &w->storage, &err) != PGR_STORAGE_OK)
	{
		ereport(FATAL,
				(errcode(storage_errcode(err.code)),
				 errmsg("pgraft: could not open the Raft storage: %s", err.msg),
				 err.code == PGR_STORAGE_EVERSION ?
				 errhint("docs/upgrading.md says which builds read which format versions.") :
				 errhint("pgraft_dump --verify %s shows what is wrong.", w->raft_dir)));
	}
}

static struct pgr_options
node_options(PgraftWorker *w)
{
	struct pgr_options o;

	memset(&o, 0, sizeof(o));
	o.id = pgraft_node_id;
	o.heartbeat_tick = Max(1, pgraft_heartbeat_interval / w->tick_ms);
	o.election_tick = Max(o.heartbeat_tick + 1, pgraft_election_timeout / w->tick_ms);
	o.seed = ((uint64) MyProcPid << 32) ^ (uint64) GetCurrentTimestamp() ^ pgraft_node_id;
	o.max_entry_bytes = PGR_WIRE_MAX_ENTRY_DATA;
	o.max_apply_bytes = 16 * 1024 * 1024;
	o.alloc = w->alloc;
	return o;
}

/* Build the node from what storage holds (the contract's restart). */
static void
open_node(PgraftWorker *w)
{
	struct pgr_storage_state ss;
	struct pgr_restore rs;
	struct pgr_options o = node_options(w);
	enum pgr_err err;

	if (pgr_storage_load(w->storage, &w->alloc, &ss) != PGR_STORAGE_OK)
		pgraft_storage_failed(w, "loading the Raft state");
	pgr_storage_restore(&ss, &rs);
	pgraft_apply_restore(w, ss.has_snapshot ? &ss.snapshot : NULL);
	err = pgr_node_new(&o, &rs, &w->node);
	pgr_storage_state_free(&w->alloc, &ss);
	if (err != PGR_OK)
		pgraft_core_failed("restoring the Raft node", err);
	{
		struct pgr_status s;

		pgr_node_status(w->node, &s);
		w->replay_until = s.commit;
	}
	w->peers_config_index = UINT64_MAX;
}

/*
 * The state directory was copied from another node (a base backup of a
 * primary, say): its Raft identity is not ours.  Keep it aside, untouched,
 * and start as a node that belongs to no cluster yet.
 */
static void
move_foreign_state_aside(PgraftWorker *w, uint64 owner)
{
	char		aside[MAXPGPATH];

	snprintf(aside, sizeof(aside), "%s.node" UINT64_FORMAT ".%ld", w->state_dir, owner,
			 (long) time(NULL));
	ereport(WARNING,
			(errmsg("pgraft: the state in \"%s\" belongs to node " UINT64_FORMAT ", not to this node (pgraft.node_id = %d)",
					w->state_dir, owner, pgraft_node_id),
			 errdetail("It was probably copied by a base backup. It is kept as \"%s\" and this node starts without a cluster.",
					   aside)));
	if (rename(w->state_dir, aside) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not rename \"%s\" to \"%s\": %m", w->state_dir, aside)));
	if (MakePGDirectory(w->state_dir) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not create directory \"%s\": %m", w->state_dir)));
}

void
pgraft_node_setup(PgraftWorker *w)
{
	strlcpy(w->state_dir, pgraft_state_dir(), sizeof(w->state_dir));
	snprintf(w->raft_dir, sizeof(w->raft_dir), "%s/raft", w->state_dir);
	if (MakePGDirectory(w->state_dir) != 0 && errno != EEXIST)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("pgraft: could not create directory \"%s\": %m", w->state_dir)));
	identity_load(w->state_dir, &w->identity);
	if (w->identity.initialized && w->identity.node_id != (uint64) pgraft_node_id)
	{
		move_foreign_state_aside(w, w->identity.node_id);
		memset(&w->identity, 0, sizeof(w->identity));
	}
	w->incarnation = next_incarnation(w->state_dir);
	open_storage(w);
	open_node(w);
	pgraft_transport_set_identity(pgraft_node_id, w->identity.cluster_id, pgraft_cluster_name);
}

void
pgraft_node_close(PgraftWorker *w)
{
	if (w->storage != NULL)
		pgr_storage_close(w->storage);
	w->storage = NULL;
}

/* ---------------------------------------------------------------------- */
/* Founding and adoption                                                  */
/* ---------------------------------------------------------------------- */

/*
 * A fresh cluster id, durable before the state that needs it is persisted;
 * connections made under the old one start over.
 */
void
pgraft_node_new_identity(PgraftWorker *w)
{
	if (!pg_strong_random(w->identity.cluster_id, 16))
		ereport(FATAL, (errmsg("pgraft: could not generate a cluster id")));
	w->identity.initialized = true;
	w->identity.node_id = pgraft_node_id;
	identity_save(w->state_dir, &w->identity);
	pgraft_transport_set_identity(pgraft_node_id, w->identity.cluster_id, pgraft_cluster_name);
}

/* pgraft_init(): a fresh cluster id, and this node its only voter. */
void
pgraft_node_found(PgraftWorker *w, const struct pgr_config *conf)
{
	pgraft_node_new_identity(w);
	pgraft_check_core(pgr_node_bootstrap(w->node, conf), "founding the cluster");
	/* The only voter: leader at once. */
	pgraft_check_core(pgr_node_campaign(w->node), "campaigning");
}

/*
 * Can this node be adopted by another cluster?  Only if it belongs to none,
 * or founded a one-node cluster and holds nothing else: no entry but its
 * own configuration and leaders' no-ops, no snapshot.
 */
bool
pgraft_node_adoptable(PgraftWorker *w)
{
	struct pgr_status s;
	const struct pgr_config *conf = pgr_node_config(w->node);

	if (!w->identity.initialized)
		return true;
	pgr_node_status(w->node, &s);
	if (s.snapshot_index != 0)
		return false;
	if (conf->n_members > 1 ||
		(conf->n_members == 1 && conf->members[0].id != (uint64) pgraft_node_id))
		return false;
	for (uint64 i = s.first_index; i <= s.last_index; i++)
	{
		const struct pgr_entry *e;

		if (pgr_node_entry_at(w->node, i, &e) != PGR_OK)
			return false;
		if (e->type == PGR_ENTRY_NORMAL && e->len > 0)
			return false;
		if (e->type == PGR_ENTRY_CONFIG && i != 1)
			return false;
	}
	return true;
}

/*
 * Wipe this node's Raft state and join cluster_id as an empty node.  Called
 * by the loop between batches (never from inside the transport), with the
 * calls of the old state already ended.
 */
void
pgraft_node_adopt(PgraftWorker *w, const uint8 *cluster_id, uint64 by)
{
	char		hex[33];

	pgraft_identity_format(cluster_id, hex, sizeof(hex));
	ereport(LOG,
			(errmsg("pgraft: joining cluster %s at the request of node " UINT64_FORMAT, hex, by),
			 w->identity.initialized ?
			 errdetail("This node had only founded a one-node cluster of its own; that state is discarded.") : 0));
	pgr_node_free(w->node);
	w->node = NULL;
	pgr_storage_close(w->storage);
	w->storage = NULL;
	if (!rmtree(w->raft_dir, true))
		ereport(FATAL,
				(errmsg("pgraft: could not remove \"%s\"", w->raft_dir)));
	w->identity.initialized = true;
	w->identity.node_id = pgraft_node_id;
	memcpy(w->identity.cluster_id, cluster_id, 16);
	identity_save(w->state_dir, &w->identity);
	open_storage(w);
	open_node(w);
	pgraft_transport_set_identity(pgraft_node_id, w->identity.cluster_id, pgraft_cluster_name);
}
