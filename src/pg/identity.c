/*-------------------------------------------------------------------------
 *
 * identity.c
 *		The small durable files of a node besides its Raft storage: which
 *		cluster it belongs to, and the application state in snapshots.
 *
 * The identity file is plain text ("cluster_id=<32 hex digits>" and
 * "node_id=<n>"), written to a temporary file, fsynced and renamed into
 * place with durable_rename(), so it is either the old or the new version
 * after a crash.  No file means the node belongs to no cluster yet.
 *
 * src/pg/identity.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "storage/fd.h"

#include "pgraft.h"
#include "worker.h"

void
pgraft_identity_format(const uint8 *cluster_id, char *out, size_t size)
{
	char		hex[33];

	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", cluster_id[i]);
	strlcpy(out, hex, size);
}

void
pgraft_identity_load(const char *dir, PgraftIdentity *id)
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

void
pgraft_identity_save(const char *dir, const PgraftIdentity *id)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	char		hex[33];
	char		buf[128];
	int			fd;
	int			len;

	snprintf(path, sizeof(path), "%s/identity", dir);
	snprintf(tmp, sizeof(tmp), "%s/identity.tmp", dir);
	pgraft_identity_format(id->cluster_id, hex, sizeof(hex));
	len = snprintf(buf, sizeof(buf), "cluster_id=%s\nnode_id=" UINT64_FORMAT "\n",
				   hex, id->node_id);
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

/*
 * The application state in a snapshot: "PGRS", version 1, then the count of
 * application entries applied up to the snapshot's index.
 */
void
pgraft_app_state_encode(const PgraftAppState *st, uint8 *buf, size_t *len)
{
	buf[0] = 'P';
	buf[1] = 'G';
	buf[2] = 'R';
	buf[3] = 'S';
	buf[4] = 1;
	buf[5] = buf[6] = buf[7] = 0;
	for (int i = 0; i < 8; i++)
		buf[8 + i] = (uint8) (st->entries_appended >> (8 * i));
	*len = PGRAFT_APP_STATE_SIZE;
}

bool
pgraft_app_state_decode(const uint8 *buf, uint64 len, PgraftAppState *st)
{
	if (len != PGRAFT_APP_STATE_SIZE || memcmp(buf, "PGRS", 4) != 0 || buf[4] != 1)
		return false;
	st->entries_appended = 0;
	for (int i = 7; i >= 0; i--)
		st->entries_appended = (st->entries_appended << 8) | buf[8 + i];
	return true;
}
