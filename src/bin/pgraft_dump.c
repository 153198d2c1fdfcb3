/*-------------------------------------------------------------------------
 *
 * pgraft_dump.c
 *		Print the durable Raft state of a pgraft storage directory, in the
 *		spirit of pg_controldata and pg_waldump.
 *
 *		pgraft_dump [--entries] [--verify] DIR
 *
 * DIR is the storage directory itself, the node's state directory above it
 * ($PGDATA/pgraft, or pgraft.data_directory), or $PGDATA: the first of DIR,
 * DIR/raft and DIR/pgraft/raft that holds pgraft storage is read.
 * Prints the hard state (and which slot it came from), the snapshot's
 * metadata and configuration, and each log segment with its index range;
 * --entries adds one line per stored record; --verify re-reads everything
 * and checks every checksum.  The directory is opened read-only: a torn tail
 * is reported, never repaired.  Exit status: 0 fine, 1 corruption or any
 * other storage error (the message names the file and offset), 2 usage.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/bin/pgraft_dump.c
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "pgraft/storage.h"

static const char *
entry_type_name(uint32_t type)
{
	switch (type)
	{
		case PGR_ENTRY_NORMAL:
			return "normal";
		case PGR_ENTRY_CONFIG:
			return "config";
		default:
			return "unknown";
	}
}

static int
print_entry(void *arg, const char *file, uint64_t offset, const struct pgr_entry *e)
{
	const struct pgr_storage_info *info = arg;

	printf("  %s @%-10" PRIu64 " index %-10" PRIu64 " term %-6" PRIu64 " %-7s len %-8u%s\n", file,
		   offset, e->index, e->term, entry_type_name(e->type), e->len,
		   info->has_snapshot && e->index <= info->snapshot.index ? " (covered by snapshot)" : "");
	return 0;
}

static int
fail(const char *dir, const struct pgr_storage_error *err)
{
	fprintf(stderr, "pgraft_dump: error: %s\n", err->msg);
	if (err->code == PGR_STORAGE_ECORRUPT && err->has_offset)
		fprintf(stderr,
				"pgraft_dump: storage in \"%s\" is corrupt: file \"%s\", offset %" PRIu64 "\n", dir,
				err->path, err->offset);
	else if (err->code == PGR_STORAGE_ECORRUPT)
		fprintf(stderr, "pgraft_dump: storage in \"%s\" is corrupt: file \"%s\"\n", dir, err->path);
	return 1;
}

/*
 * Open the storage under dir (see the header for where it is looked for);
 * *used is the directory opened.  Only "no storage here" moves on to the
 * next place: any other error is reported for the directory that has it.
 */
static enum pgr_storage_err
open_storage(const char *dir, const struct pgr_storage_options *o, char *used, size_t used_size,
			 struct pgr_storage **st, struct pgr_storage_error *err)
{
	static const char *const under[] = {"", "/raft", "/pgraft/raft"};

	for (size_t i = 0; i < sizeof(under) / sizeof(under[0]); i++)
	{
		enum pgr_storage_err rc;

		if ((size_t) snprintf(used, used_size, "%s%s", dir, under[i]) >= used_size)
			break;
		rc = pgr_storage_open(used, o, st, err);
		if (rc != PGR_STORAGE_ENOTFOUND)
			return rc;
	}
	snprintf(err->msg, sizeof(err->msg),
			 "no pgraft storage in \"%s\", \"%s/raft\" or \"%s/pgraft/raft\"; pass a node's "
			 "state directory ($PGDATA/pgraft, or its pgraft.data_directory), its raft "
			 "subdirectory, or $PGDATA",
			 dir, dir, dir);
	err->code = PGR_STORAGE_ENOTFOUND;
	return PGR_STORAGE_ENOTFOUND;
}

int
main(int argc, char **argv)
{
	const char *arg = NULL;
	char dir[PATH_MAX];
	bool entries = false;
	bool verify = false;
	struct pgr_storage_options o = {0};
	struct pgr_storage_error err;
	struct pgr_storage *st;
	struct pgr_storage_info info;
	int rc = 0;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--entries") == 0 || strcmp(argv[i], "-e") == 0)
			entries = true;
		else if (strcmp(argv[i], "--verify") == 0)
			verify = true;
		else if (argv[i][0] != '-' && arg == NULL)
			arg = argv[i];
		else
		{
			arg = NULL;
			break;
		}
	}
	if (arg == NULL)
	{
		fprintf(stderr, "usage: pgraft_dump [--entries] [--verify] DIR\n");
		return 2;
	}
	o.read_only = true;
	if (open_storage(arg, &o, dir, sizeof(dir), &st, &err) != PGR_STORAGE_OK)
		return fail(err.code == PGR_STORAGE_ENOTFOUND ? arg : dir, &err);
	pgr_storage_info(st, &info);

	printf("pgraft storage directory: %s\n\n", dir);
	printf("Hard state (slot %d, version %" PRIu64 "; slot 0 %s, slot 1 %s):\n", info.hs_slot,
		   info.hs_seq, info.hs_slot_valid[0] ? "valid" : "damaged or unused",
		   info.hs_slot_valid[1] ? "valid" : "damaged or unused");
	printf("  term:   %" PRIu64 "\n  vote:   %" PRIu64 "\n  commit: %" PRIu64 "\n\n", info.hs.term,
		   info.hs.vote, info.hs.commit);
	if (info.has_snapshot)
	{
		printf("Snapshot %s:\n", info.snapshot_file);
		printf("  last included index: %" PRIu64 "\n  its term:            %" PRIu64 "\n",
			   info.snapshot.index, info.snapshot.term);
		printf("  data:                %" PRIu64 " bytes\n", info.snapshot_len);
		printf("  configuration:       %u members\n", info.snapshot.config.n_members);
		for (uint32_t i = 0; i < info.snapshot.config.n_members; i++)
		{
			const struct pgr_member *m = &info.snapshot.config.members[i];

			printf("    id %-6" PRIu64 " %-7s %.*s\n", m->id,
				   m->role == PGR_MEMBER_VOTER ? "voter" : "learner", (int) m->context_len,
				   (const char *) m->context);
		}
	}
	else
		printf("Snapshot: none\n");
	printf("\nLog: entries %" PRIu64 " .. %" PRIu64 " (last term %" PRIu64 "), %zu segments\n",
		   info.first_index, info.last_index, info.last_term, info.n_segments);
	for (size_t i = 0; i < info.n_segments; i++)
	{
		struct pgr_storage_segment_info si;

		pgr_storage_segment(st, i, &si);
		if (si.last_index >= si.first_index)
			printf("  %s  index %" PRIu64 " .. %" PRIu64 "  %" PRIu64 " of %" PRIu64
				   " bytes used\n",
				   si.file, si.first_index, si.last_index, si.used_bytes, si.file_bytes);
		else
			printf("  %s  empty, next index %" PRIu64 "\n", si.file, si.first_index);
	}
	if (info.torn_bytes > 0)
		printf("  torn tail: %" PRIu64 " bytes at offset %" PRIu64
			   " of the newest segment (cut off at the next read-write open)\n",
			   info.torn_bytes, info.torn_offset);

	if (entries)
	{
		printf("\nEntries:\n");
		if (pgr_storage_walk(st, print_entry, &info) != PGR_STORAGE_OK)
			rc = fail(dir, pgr_storage_last_error(st));
	}
	if (rc == 0 && verify)
	{
		if (pgr_storage_verify(st) != PGR_STORAGE_OK)
			rc = fail(dir, pgr_storage_last_error(st));
		else
			printf("\nverify: every checksum matches\n");
	}
	pgr_storage_close(st);
	return rc;
}
