/*-------------------------------------------------------------------------
 *
 * test_storage.c
 *		Unit tests of the storage operations on real files: open and create,
 *		append and reload, segment rollover, truncate-then-append, hard-state
 *		rules, snapshots, compaction, whole ready batches, the caller's
 *		allocator, read-only opens and format-version refusal.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_storage.c
 *
 *-------------------------------------------------------------------------
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgraft/storage.h"

#include "harness.h"
#include "storage_testutil.h"

static struct pgr_storage *
open_st(const char *dir, uint64_t segment_size, bool create)
{
	struct pgr_storage_options o = {0};
	struct pgr_storage *st = NULL;
	struct pgr_storage_error err;

	o.segment_size = segment_size;
	o.create = create;
	if (pgr_storage_open(dir, &o, &st, &err) != PGR_STORAGE_OK)
	{
		fprintf(stderr, "    open: %s\n", err.msg);
		return NULL;
	}
	return st;
}

/* Reload st's state and check it is exactly entries [from, to] of term_of(). */
static bool
load_matches(struct pgr_storage *st, uint64_t from, uint64_t to,
			 uint64_t (*term_of)(uint64_t index))
{
	struct pgr_storage_state s;
	bool ok;

	if (pgr_storage_load(st, &pgr_libc_allocator, &s) != PGR_STORAGE_OK)
		return false;
	ok = s.n_entries == to + 1 - from;
	for (size_t i = 0; ok && i < s.n_entries; i++)
		ok = tu_entry_ok(&s.entries[i], from + i, term_of(from + i));
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	return ok;
}

static uint64_t
term_one(uint64_t index)
{
	(void) index;
	return 1;
}

static uint64_t
term_by_tens(uint64_t index)
{
	return 1 + (index - 1) / 10;
}

static void
test_open_creates_and_requires_a_directory(void)
{
	char *tmp = tu_mkdtemp();
	char dir[512];
	struct pgr_storage *st;
	struct pgr_storage_options o = {0};
	struct pgr_storage_error err;
	struct pgr_storage_info info;
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/node", tmp);
	CHECK_EQ(pgr_storage_open(dir, &o, &st, &err), PGR_STORAGE_ENOTFOUND);
	CHECK(strstr(err.msg, "not a pgraft storage directory") != NULL);
	st = open_st(dir, 0, true);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.last_index, 0);
	CHECK_EQ(info.hs.term, 0);
	CHECK(!info.has_snapshot);
	CHECK(load_matches(st, 1, 0, term_one));
	pgr_storage_close(st);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/hardstate");
	CHECK(stat(dir, &sb) == 0 && sb.st_size == 1024);
	dir[strlen(dir) - strlen("/hardstate")] = '\0';
	st = open_st(dir, 0, false);
	CHECK(st != NULL);
	pgr_storage_close(st);
	unlink(strcat(dir, "/hardstate"));
	dir[strlen(dir) - strlen("/hardstate")] = '\0';
	rmdir(dir);
	tu_rmdir(tmp);
}

static void
test_appended_entries_survive_reopen(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 0, true);
	struct pgr_storage_info info;

	CHECK(st != NULL);
	for (uint64_t i = 1; i <= 100; i += 10)
		CHECK_EQ(tu_append(st, i, i + 9, term_by_tens(i)), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	CHECK(load_matches(st, 1, 100, term_by_tens));
	pgr_storage_close(st);
	st = open_st(dir, 0, false);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.last_index, 100);
	CHECK_EQ(info.last_term, term_by_tens(100));
	CHECK_EQ(info.n_segments, 1);
	CHECK_EQ(info.torn_bytes, 0);
	CHECK(load_matches(st, 1, 100, term_by_tens));
	pgr_storage_close(st);
	tu_rmdir(dir);
}

static void
test_entries_roll_over_into_contiguous_segments(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 4096, true);
	struct pgr_storage_info info;
	struct pgr_storage_segment_info si;
	uint64_t next = 1;

	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 300, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	st = open_st(dir, 4096, false);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK(info.n_segments > 10);
	for (size_t i = 0; i < info.n_segments; i++)
	{
		CHECK_EQ(pgr_storage_segment(st, i, &si), PGR_STORAGE_OK);
		CHECK_EQ(si.first_index, next);
		CHECK(si.used_bytes <= si.file_bytes);
		next = si.last_index + 1;
	}
	CHECK_EQ(next, 301);
	CHECK(load_matches(st, 1, 300, term_one));
	/* One record larger than a segment gets a segment of its own size. */
	{
		uint8_t *big = calloc(1, 20000);
		struct pgr_entry e = {1, 301, PGR_ENTRY_NORMAL, 20000, big};
		struct pgr_storage_state s;

		CHECK_EQ(pgr_storage_append(st, &e, 1), PGR_STORAGE_OK);
		CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
		pgr_storage_close(st);
		st = open_st(dir, 4096, false);
		CHECK(st != NULL);
		CHECK_EQ(pgr_storage_load(st, &pgr_libc_allocator, &s), PGR_STORAGE_OK);
		CHECK_EQ(s.n_entries, 301);
		CHECK_EQ(s.entries[300].len, 20000);
		pgr_storage_state_free(&pgr_libc_allocator, &s);
		free(big);
	}
	pgr_storage_close(st);
	tu_rmdir(dir);
}

static uint64_t
term_overwritten(uint64_t index)
{
	return index < 30 ? 1 : (index < 35 ? 2 : 3);
}

static void
test_truncate_then_append_replaces_the_suffix(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 4096, true);
	struct pgr_storage_info info;

	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 80, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	/* A new leader overwrites 30.. (across segment boundaries). */
	CHECK_EQ(tu_append(st, 30, 40, 2), PGR_STORAGE_OK);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.last_index, 40);
	/* And another one overwrites 35.. within the last segment. */
	CHECK_EQ(tu_append(st, 35, 36, 3), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	CHECK(load_matches(st, 1, 36, term_overwritten));
	pgr_storage_close(st);
	st = open_st(dir, 4096, false);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.last_index, 36);
	CHECK_EQ(info.last_term, 3);
	CHECK(load_matches(st, 1, 36, term_overwritten));
	/* Overwriting from the very first entry leaves only the new ones. */
	CHECK_EQ(tu_append(st, 1, 3, 4), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	st = open_st(dir, 4096, false);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.last_index, 3);
	CHECK_EQ(info.n_segments, 1);
	pgr_storage_close(st);
	tu_rmdir(dir);
}

static void
test_append_rejects_gaps_and_falling_terms(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 0, true);
	struct pgr_storage_info info;
	uint8_t b1[300];
	uint8_t b2[300];
	struct pgr_entry es[2];

	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 10, 2), PGR_STORAGE_OK);
	CHECK_EQ(tu_append(st, 12, 12, 2), PGR_STORAGE_EINVAL); /* gap */
	CHECK(strstr(pgr_storage_last_error(st)->msg, "cannot append at index 12") != NULL);
	CHECK_EQ(tu_append(st, 11, 11, 1), PGR_STORAGE_EINVAL); /* term falls */
	CHECK_EQ(tu_append(st, 0, 0, 3), PGR_STORAGE_EINVAL);   /* index 0 */
	tu_entry(&es[0], b1, 11, 2);
	tu_entry(&es[1], b2, 13, 2);
	CHECK_EQ(pgr_storage_append(st, es, 2), PGR_STORAGE_EINVAL); /* not dense */
	CHECK_EQ(pgr_storage_append(st, es, 0), PGR_STORAGE_EINVAL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.last_index, 10);
	CHECK(!info.failed);
	/* Still usable after refused calls. */
	CHECK_EQ(tu_append(st, 11, 11, 2), PGR_STORAGE_OK);
	pgr_storage_close(st);
	tu_rmdir(dir);
}

static void
test_hard_state_updates_and_never_goes_backwards(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 0, true);
	struct pgr_storage_info info;
	struct pgr_hard_state hs;

	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 50, 1), PGR_STORAGE_OK);
	for (uint64_t t = 1; t <= 20; t++)
	{
		hs.term = t;
		hs.vote = t % 3;
		hs.commit = t * 2;
		CHECK_EQ(pgr_storage_set_hard_state(st, &hs), PGR_STORAGE_OK);
		CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	}
	hs.term = 19;
	CHECK_EQ(pgr_storage_set_hard_state(st, &hs), PGR_STORAGE_EINVAL);
	hs.term = 20;
	hs.vote = 1; /* voted for 2 in term 20 already */
	CHECK_EQ(pgr_storage_set_hard_state(st, &hs), PGR_STORAGE_EINVAL);
	hs.vote = 2;
	hs.commit = 39;
	CHECK_EQ(pgr_storage_set_hard_state(st, &hs), PGR_STORAGE_EINVAL);
	hs.commit = 45;
	CHECK_EQ(pgr_storage_set_hard_state(st, &hs), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	st = open_st(dir, 0, false);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.hs.term, 20);
	CHECK_EQ(info.hs.vote, 2);
	CHECK_EQ(info.hs.commit, 45);
	CHECK(info.hs_slot_valid[0] && info.hs_slot_valid[1]);
	CHECK_EQ(info.hs_seq, 22);
	/* A commit index beyond the log (log lost its tail) is clamped into it. */
	hs.term = 21;
	hs.vote = 0;
	hs.commit = 50;
	CHECK_EQ(pgr_storage_set_hard_state(st, &hs), PGR_STORAGE_OK);
	CHECK_EQ(tu_append(st, 40, 40, 2), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	st = open_st(dir, 0, false);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.hs.commit, 40);
	CHECK_EQ(info.hs.term, 21);
	pgr_storage_close(st);
	tu_rmdir(dir);
}

static void
test_snapshot_save_and_compaction_drop_whole_segments(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 4096, true);
	struct pgr_storage_info before;
	struct pgr_storage_info after;
	struct pgr_storage_segment_info si;
	struct pgr_storage_state s;
	struct pgr_snapshot snap;
	uint8_t data[1000];

	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 400, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_compact(st, 10), PGR_STORAGE_EINVAL); /* no snapshot */
	tu_snapshot(&snap, data, sizeof(data), 250, 1);
	CHECK_EQ(pgr_storage_save_snapshot(st, &snap), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_compact(st, 251), PGR_STORAGE_EINVAL); /* beyond it */
	pgr_storage_info(st, &before);
	CHECK_EQ(pgr_storage_compact(st, 250), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	pgr_storage_info(st, &after);
	CHECK(after.n_segments < before.n_segments);
	CHECK_EQ(pgr_storage_segment(st, 0, &si), PGR_STORAGE_OK);
	CHECK(si.first_index <= 251 && si.last_index >= 251);
	CHECK_EQ(after.first_index, 251);
	pgr_storage_close(st);

	st = open_st(dir, 4096, false);
	CHECK(st != NULL);
	CHECK_EQ(pgr_storage_load(st, &pgr_libc_allocator, &s), PGR_STORAGE_OK);
	CHECK(s.has_snapshot);
	CHECK(tu_snapshot_ok(&s.snapshot, 250, 1, sizeof(data)));
	CHECK_EQ(s.n_entries, 150);
	CHECK(tu_entry_ok(&s.entries[0], 251, 1));
	CHECK_EQ(s.hs.commit, 250); /* a snapshot is committed by definition */
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	/* Compacting everything, then appending, starts a new first segment. */
	tu_snapshot(&snap, data, 10, 400, 1);
	CHECK_EQ(pgr_storage_save_snapshot(st, &snap), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_compact(st, 400), PGR_STORAGE_OK);
	pgr_storage_info(st, &after);
	CHECK_EQ(after.n_segments, 0);
	CHECK_EQ(tu_append(st, 401, 410, 2), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	st = open_st(dir, 4096, false);
	CHECK(st != NULL);
	CHECK_EQ(pgr_storage_load(st, &pgr_libc_allocator, &s), PGR_STORAGE_OK);
	CHECK_EQ(s.n_entries, 10);
	CHECK(tu_entry_ok(&s.entries[9], 410, 2));
	CHECK_EQ(s.snapshot.meta.index, 400);
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	pgr_storage_close(st);
	tu_rmdir(dir);
}

static int
count_snap_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "snap", 4) == 0)
			n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static void
test_install_snapshot_replaces_log_and_older_snapshot(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 4096, true);
	struct pgr_storage_info info;
	struct pgr_storage_state s;
	struct pgr_snapshot snap;
	uint8_t data[5000];

	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 100, 1), PGR_STORAGE_OK);
	tu_snapshot(&snap, data, 100, 20, 1);
	CHECK_EQ(pgr_storage_save_snapshot(st, &snap), PGR_STORAGE_OK);
	CHECK_EQ(count_snap_files(dir), 1);
	tu_snapshot(&snap, data, sizeof(data), 150, 5);
	CHECK_EQ(pgr_storage_install_snapshot(st, &snap), PGR_STORAGE_OK);
	CHECK_EQ(count_snap_files(dir), 1);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.n_segments, 0);
	CHECK_EQ(info.last_index, 150);
	CHECK_EQ(info.last_term, 5);
	CHECK_EQ(tu_append(st, 150, 150, 5), PGR_STORAGE_EINVAL); /* covered */
	CHECK_EQ(tu_append(st, 151, 160, 5), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	tu_snapshot(&snap, data, 10, 149, 5);
	CHECK_EQ(pgr_storage_install_snapshot(st, &snap), PGR_STORAGE_EINVAL); /* older */
	pgr_storage_close(st);
	st = open_st(dir, 4096, false);
	CHECK(st != NULL);
	CHECK_EQ(pgr_storage_load(st, &pgr_libc_allocator, &s), PGR_STORAGE_OK);
	CHECK(tu_snapshot_ok(&s.snapshot, 150, 5, sizeof(data)));
	CHECK_EQ(s.n_entries, 10);
	CHECK(tu_entry_ok(&s.entries[0], 151, 5));
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	pgr_storage_close(st);
	tu_rmdir(dir);
}

static void
test_persist_executes_a_ready_batch_and_restore_points_at_it(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 0, true);
	struct pgr_storage_state s;
	struct pgr_restore r;
	struct pgr_ready rd;
	struct pgr_snapshot snap;
	struct pgr_entry es[3];
	uint8_t bufs[3][300];
	uint8_t data[64];

	CHECK(st != NULL);
	memset(&rd, 0, sizeof(rd));
	tu_snapshot(&snap, data, sizeof(data), 7, 2);
	for (int i = 0; i < 3; i++)
		tu_entry(&es[i], bufs[i], 8 + i, 3);
	rd.snapshot = &snap;
	rd.entries = es;
	rd.n_entries = 3;
	rd.has_hard_state = true;
	rd.hs.term = 3;
	rd.hs.vote = 2;
	rd.hs.commit = 9;
	rd.must_sync = true;
	CHECK_EQ(pgr_storage_persist(st, &rd), PGR_STORAGE_OK);
	/* A commit-only batch need not sync. */
	memset(&rd, 0, sizeof(rd));
	rd.has_hard_state = true;
	rd.hs.term = 3;
	rd.hs.vote = 2;
	rd.hs.commit = 10;
	CHECK_EQ(pgr_storage_persist(st, &rd), PGR_STORAGE_OK);
	pgr_storage_close(st);
	st = open_st(dir, 0, false);
	CHECK(st != NULL);
	CHECK_EQ(pgr_storage_load(st, &pgr_libc_allocator, &s), PGR_STORAGE_OK);
	pgr_storage_restore(&s, &r);
	CHECK(r.snapshot != NULL && r.snapshot->meta.index == 7);
	CHECK_EQ(r.n_entries, 3);
	CHECK_EQ(r.entries[0].index, 8);
	CHECK_EQ(r.hs.term, 3);
	CHECK_EQ(r.hs.vote, 2);
	/* The unsynced commit may or may not have survived a clean close. */
	CHECK(r.hs.commit == 9 || r.hs.commit == 10);
	CHECK_EQ(r.applied, 7);
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	pgr_storage_close(st);
	tu_rmdir(dir);
}

/* An allocator that counts live blocks and can fail after a budget. */
struct counting
{
	long live;
	long budget; /* allocations left; < 0: unlimited */
};

static void *
counting_alloc(void *ctx, size_t size)
{
	struct counting *c = ctx;

	if (c->budget == 0)
		return NULL;
	if (c->budget > 0)
		c->budget--;
	c->live++;
	return malloc(size);
}

static void *
counting_realloc(void *ctx, void *p, size_t old, size_t size)
{
	(void) ctx;
	(void) old;
	return realloc(p, size);
}

static void
counting_free(void *ctx, void *p)
{
	struct counting *c = ctx;

	if (p != NULL)
		c->live--;
	free(p);
}

static void
test_load_allocates_only_through_the_callers_allocator(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 0, true);
	struct counting c = {0, -1};
	struct pgr_allocator a = {counting_alloc, counting_realloc, counting_free, &c};
	struct pgr_storage_state s;
	struct pgr_snapshot snap;
	uint8_t data[100];

	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 60, 1), PGR_STORAGE_OK);
	tu_snapshot(&snap, data, sizeof(data), 10, 1);
	CHECK_EQ(pgr_storage_save_snapshot(st, &snap), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_load(st, &a, &s), PGR_STORAGE_OK);
	CHECK(c.live > 40);
	pgr_storage_state_free(&a, &s);
	CHECK_EQ(c.live, 0);
	for (long budget = 0; budget < 40; budget += 3)
	{
		c.budget = budget;
		CHECK_EQ(pgr_storage_load(st, &a, &s), PGR_STORAGE_ENOMEM);
		CHECK_EQ(c.live, 0);
		CHECK_EQ(s.n_entries, 0);
	}
	pgr_storage_close(st);
	tu_rmdir(dir);
}

/* Overwrite bytes of a file in dir. */
static bool
patch_file(const char *dir, const char *name, off_t off, const void *bytes, size_t n)
{
	char path[1024];
	int fd;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return false;
	ok = pwrite(fd, bytes, n, off) == (ssize_t) n;
	close(fd);
	return ok;
}

static void
test_unknown_format_versions_are_refused(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 0, true);
	struct pgr_storage_options o = {0};
	struct pgr_storage_error err;
	uint8_t v2[4] = {2, 0, 0, 0};
	uint8_t v1[4] = {1, 0, 0, 0};

	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 5, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	CHECK(patch_file(dir, "log-0000000000000001", 8, v2, 4));
	CHECK_EQ(pgr_storage_open(dir, &o, &st, &err), PGR_STORAGE_EVERSION);
	CHECK(strstr(err.msg, "format version 2") != NULL);
	CHECK(strstr(err.path, "log-0000000000000001") != NULL);
	CHECK(patch_file(dir, "log-0000000000000001", 8, v1, 4));
	CHECK(patch_file(dir, "hardstate", 8, v2, 4));
	CHECK_EQ(pgr_storage_open(dir, &o, &st, &err), PGR_STORAGE_EVERSION);
	CHECK(strstr(err.msg, "hard state slot 0") != NULL);
	CHECK(patch_file(dir, "hardstate", 8, v1, 4));
	st = open_st(dir, 0, false);
	CHECK(st != NULL);
	pgr_storage_close(st);
	tu_rmdir(dir);
}

static void
test_log_without_hardstate_is_refused(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 0, true);
	struct pgr_storage_options o = {0};
	struct pgr_storage_error err;
	char path[1024];

	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 5, 1), PGR_STORAGE_OK);
	pgr_storage_close(st);
	snprintf(path, sizeof(path), "%s/hardstate", dir);
	CHECK(unlink(path) == 0);
	o.create = true; /* must not silently start over */
	CHECK_EQ(pgr_storage_open(dir, &o, &st, &err), PGR_STORAGE_ECORRUPT);
	CHECK(strstr(err.msg, "no hardstate file") != NULL);
	tu_rmdir(dir);
}

static void
test_read_only_open_reports_without_repairing(void)
{
	char *dir = tu_mkdtemp();
	struct pgr_storage *st = open_st(dir, 0, true);
	struct pgr_storage_options o = {0};
	struct pgr_storage_info info;
	struct pgr_hard_state hs = {1, 0, 0};
	uint8_t junk[3] = {0x55, 0x66, 0x77};
	uint64_t end;
	struct pgr_storage_segment_info si;

	CHECK(st != NULL);
	CHECK_EQ(tu_append(st, 1, 5, 1), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_sync(st), PGR_STORAGE_OK);
	CHECK_EQ(pgr_storage_segment(st, 0, &si), PGR_STORAGE_OK);
	end = si.used_bytes;
	pgr_storage_close(st);
	/* A torn next record: three bytes of a header. */
	CHECK(patch_file(dir, "log-0000000000000001", (off_t) end, junk, 3));
	o.read_only = true;
	CHECK_EQ(pgr_storage_open(dir, &o, &st, NULL), PGR_STORAGE_OK);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.torn_offset, end);
	CHECK_EQ(info.torn_bytes, 3);
	CHECK_EQ(tu_append(st, 6, 6, 1), PGR_STORAGE_EREADONLY);
	CHECK_EQ(pgr_storage_set_hard_state(st, &hs), PGR_STORAGE_EREADONLY);
	CHECK_EQ(pgr_storage_verify(st), PGR_STORAGE_OK);
	pgr_storage_close(st);
	/* Still there; a normal open cuts it. */
	CHECK_EQ(pgr_storage_open(dir, &o, &st, NULL), PGR_STORAGE_OK);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.torn_bytes, 3);
	pgr_storage_close(st);
	st = open_st(dir, 0, false);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.torn_bytes, 3);
	pgr_storage_close(st);
	st = open_st(dir, 0, false);
	CHECK(st != NULL);
	pgr_storage_info(st, &info);
	CHECK_EQ(info.torn_bytes, 0);
	CHECK_EQ(info.last_index, 5);
	pgr_storage_close(st);
	tu_rmdir(dir);
}

static const struct test_case cases[] = {
	TEST(test_open_creates_and_requires_a_directory),
	TEST(test_appended_entries_survive_reopen),
	TEST(test_entries_roll_over_into_contiguous_segments),
	TEST(test_truncate_then_append_replaces_the_suffix),
	TEST(test_append_rejects_gaps_and_falling_terms),
	TEST(test_hard_state_updates_and_never_goes_backwards),
	TEST(test_snapshot_save_and_compaction_drop_whole_segments),
	TEST(test_install_snapshot_replaces_log_and_older_snapshot),
	TEST(test_persist_executes_a_ready_batch_and_restore_points_at_it),
	TEST(test_load_allocates_only_through_the_callers_allocator),
	TEST(test_unknown_format_versions_are_refused),
	TEST(test_log_without_hardstate_is_refused),
	TEST(test_read_only_open_reports_without_repairing),
};

TEST_MAIN(cases)
