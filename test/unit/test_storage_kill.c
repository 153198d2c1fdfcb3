/*-------------------------------------------------------------------------
 *
 * test_storage_kill.c
 *		The kill test: a child process appends and syncs batches in a loop
 *		on real files, reporting through a pipe what each sync made durable;
 *		the parent SIGKILLs it at random moments, reopens the storage and
 *		checks that every reported entry is present and intact and that
 *		nothing invalid follows.
 *
 * The race it guards: a kill can land anywhere, in the middle of a batch's
 * write, of a segment rollover, of a suffix truncation, of a snapshot and
 * compaction, or of the recovery of the previous kill.  A report is written
 * only after the call it reports has returned, and a truncation is announced
 * BEFORE it starts (the entries it removes were never committed, so their
 * loss is legitimate, but the parent must stop expecting them).
 *
 * Set PGRAFT_KILL_SEED to replay a run; PGRAFT_KILLS to change the count.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_storage_kill.c
 *
 *-------------------------------------------------------------------------
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgraft/storage.h"

#include "harness.h"
#include "storage_testutil.h"

#define KILL_MAX_INDEX    (1u << 21)
#define KILL_SEGMENT_SIZE (64 * 1024)

enum report_kind
{
	REPORT_SYNCED = 1,     /* entries [a, b] of term c and hs term d are durable */
	REPORT_TRUNCATING = 2, /* entries >= a may disappear from now on */
	REPORT_SNAPSHOT = 3    /* snapshot at a (term c) is durable */
};

struct report
{
	uint64_t kind;
	uint64_t a;
	uint64_t b;
	uint64_t c;
	uint64_t d;
};

static struct pgr_storage *
kill_open(const char *dir, struct pgr_storage_error *err)
{
	struct pgr_storage_options o = {0};
	struct pgr_storage *st = NULL;

	o.segment_size = KILL_SEGMENT_SIZE;
	o.create = true;
	if (pgr_storage_open(dir, &o, &st, err) != PGR_STORAGE_OK)
		return NULL;
	return st;
}

static void
put(int fd, uint64_t kind, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	struct report r = {kind, a, b, c, d};

	/* Smaller than PIPE_BUF: atomic, never torn by the kill. */
	if (write(fd, &r, sizeof(r)) != (ssize_t) sizeof(r))
		_exit(3);
}

/* The child: work until killed.  Exits nonzero only on an error. */
static void
child_main(const char *dir, int fd, unsigned int seed)
{
	struct pgr_storage *st = kill_open(dir, NULL);
	struct pgr_storage_state s;
	struct pgr_storage_info info;
	uint64_t *terms = calloc(KILL_MAX_INDEX, sizeof(uint64_t));
	uint64_t last;
	uint64_t term;
	uint64_t snap;
	struct pgr_hard_state hs;
	uint8_t data[256];

	if (st == NULL || terms == NULL ||
		pgr_storage_load(st, &pgr_libc_allocator, &s) != PGR_STORAGE_OK)
		_exit(2);
	for (size_t i = 0; i < s.n_entries; i++)
		terms[s.entries[i].index] = s.entries[i].term;
	pgr_storage_info(st, &info);
	last = info.last_index;
	snap = info.has_snapshot ? info.snapshot.index : 0;
	if (info.has_snapshot)
		terms[snap] = info.snapshot.term;
	hs = s.hs;
	term = hs.term > info.last_term ? hs.term : info.last_term;
	if (term == 0)
		term = 1;
	pgr_storage_state_free(&pgr_libc_allocator, &s);

	for (uint64_t batch = 0; last + 100 < KILL_MAX_INDEX; batch++)
	{
		uint64_t floor = hs.commit > snap ? hs.commit : snap;
		uint64_t first = last + 1;
		uint64_t n = 1 + (uint64_t) rand_r(&seed) % 64;

		if (rand_r(&seed) % 10 == 0 && last > floor)
		{
			/* A new leader overwrites an uncommitted suffix. */
			first = floor + 1 + (uint64_t) rand_r(&seed) % (last - floor);
			term++;
			put(fd, REPORT_TRUNCATING, first, 0, 0, 0);
		}
		if (tu_append(st, first, first + n - 1, term) != PGR_STORAGE_OK)
			_exit(4);
		for (uint64_t i = first; i < first + n; i++)
			terms[i] = term;
		last = first + n - 1;
		hs.term = term;
		hs.vote = 1;
		hs.commit += (uint64_t) rand_r(&seed) % (last - hs.commit + 1);
		if (pgr_storage_set_hard_state(st, &hs) != PGR_STORAGE_OK ||
			pgr_storage_sync(st) != PGR_STORAGE_OK)
			_exit(5);
		put(fd, REPORT_SYNCED, first, last, term, hs.term);

		if (batch % 50 == 49 && hs.commit > snap)
		{
			struct pgr_snapshot sn;

			tu_snapshot(&sn, data, 100, hs.commit, terms[hs.commit]);
			if (pgr_storage_save_snapshot(st, &sn) != PGR_STORAGE_OK ||
				pgr_storage_compact(st, hs.commit) != PGR_STORAGE_OK ||
				pgr_storage_sync(st) != PGR_STORAGE_OK)
				_exit(6);
			snap = hs.commit;
			put(fd, REPORT_SNAPSHOT, snap, 0, terms[snap], 0);
		}
	}
	_exit(0);
}

/* What the parent knows must be on disk. */
struct expect
{
	uint64_t *terms;
	uint64_t last; /* every entry (snap, last] must be present */
	uint64_t snap;
	uint64_t hs_term;
};

static bool
apply_report(struct expect *x, const struct report *r)
{
	switch (r->kind)
	{
		case REPORT_TRUNCATING:
			if (r->a <= x->last)
				x->last = r->a - 1;
			return true;
		case REPORT_SYNCED:
			if (r->a > x->last + 1 || r->b >= KILL_MAX_INDEX)
				return false;
			for (uint64_t i = r->a; i <= r->b; i++)
				x->terms[i] = r->c;
			x->last = r->b;
			x->hs_term = r->d;
			return true;
		case REPORT_SNAPSHOT:
			x->snap = r->a;
			return x->terms[r->a] == r->c;
	}
	return false;
}

/*
 * Reopen and check against x; then adopt what is on disk as the new
 * expectation (after a kill, unlike a power loss, written data stays).
 */
static bool
verify_after_kill(const char *dir, struct expect *x, int round)
{
	struct pgr_storage_error err;
	struct pgr_storage *st = kill_open(dir, &err);
	struct pgr_storage_state s;
	uint64_t sidx;
	bool ok = true;

	if (st == NULL)
	{
		fprintf(stderr, "    round %d: open failed: %s\n", round, err.msg);
		return false;
	}
	if (pgr_storage_load(st, &pgr_libc_allocator, &s) != PGR_STORAGE_OK)
	{
		fprintf(stderr, "    round %d: load failed: %s\n", round, pgr_storage_last_error(st)->msg);
		pgr_storage_close(st);
		return false;
	}
	sidx = s.has_snapshot ? s.snapshot.meta.index : 0;
	if (sidx < x->snap || s.hs.term < x->hs_term)
		ok = false;
	if (ok && s.has_snapshot && !tu_snapshot_ok(&s.snapshot, sidx, s.snapshot.meta.term, 100))
		ok = false;
	if (ok && s.has_snapshot && sidx <= x->last && x->terms[sidx] != s.snapshot.meta.term)
		ok = false;
	/* Every reported entry after the snapshot, intact. */
	if (ok && sidx + s.n_entries < x->last)
		ok = false;
	for (size_t i = 0; ok && i < s.n_entries; i++)
	{
		uint64_t index = sidx + 1 + i;

		if (index <= x->last)
			ok = tu_entry_ok(&s.entries[i], index, x->terms[index]);
		else
			ok = tu_entry_ok(&s.entries[i], index, s.entries[i].term); /* valid, unreported */
	}
	if (!ok)
		fprintf(stderr,
				"    round %d: expected entries up to %" PRIu64 " (snapshot >= %" PRIu64
				", term >= %" PRIu64 "), found snapshot %" PRIu64 " + %zu entries, term %" PRIu64
				"\n",
				round, x->last, x->snap, x->hs_term, sidx, s.n_entries, s.hs.term);
	else
	{
		for (size_t i = 0; i < s.n_entries; i++)
			x->terms[s.entries[i].index] = s.entries[i].term;
		if (s.has_snapshot)
			x->terms[sidx] = s.snapshot.meta.term;
		x->last = sidx + s.n_entries;
		x->snap = sidx;
		x->hs_term = s.hs.term;
	}
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	pgr_storage_close(st);
	return ok;
}

static void
test_sigkill_never_loses_a_synced_entry(void)
{
	char *dir = tu_mkdtemp();
	const char *env_seed = getenv("PGRAFT_KILL_SEED");
	const char *env_kills = getenv("PGRAFT_KILLS");
	unsigned int seed =
		env_seed != NULL ? (unsigned int) atoi(env_seed) : (unsigned int) time(NULL);
	int kills = env_kills != NULL ? atoi(env_kills) : 220;
	struct expect x = {calloc(KILL_MAX_INDEX, sizeof(uint64_t)), 0, 0, 0};
	int killed = 0;
	uint64_t reports = 0;
	bool ok = true;

	CHECK(dir != NULL && x.terms != NULL);
	printf("    kill test: seed %u, %d kills\n", seed, kills);
	fflush(stdout);
	for (int round = 0; ok && round < kills; round++)
	{
		int fds[2];
		pid_t pid;
		int status;
		struct report r;
		struct timespec delay;
		ssize_t n;
		unsigned int child_seed = (unsigned int) rand_r(&seed);

		CHECK(pipe(fds) == 0);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
		{
			close(fds[0]);
			child_main(dir, fds[1], child_seed);
		}
		close(fds[1]);
		/* 0.2 .. 50 ms: sometimes still recovering, mostly mid-batch. */
		delay.tv_sec = 0;
		delay.tv_nsec = 200000L + (long) (rand_r(&seed) % 50000) * 1000L;
		nanosleep(&delay, NULL);
		kill(pid, SIGKILL);
		CHECK(waitpid(pid, &status, 0) == pid);
		while ((n = read(fds[0], &r, sizeof(r))) == (ssize_t) sizeof(r))
		{
			reports++;
			if (!apply_report(&x, &r))
				ok = false;
		}
		close(fds[0]);
		if (WIFEXITED(status))
		{
			test_fail(__FILE__, __LINE__, "round %d: child exited with %d", round,
					  WEXITSTATUS(status));
			ok = false;
			break;
		}
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			killed++;
		if (!verify_after_kill(dir, &x, round))
			ok = false;
	}
	printf("    %d kills, %" PRIu64 " reports, log ends at %" PRIu64 "\n", killed, reports, x.last);
	free(x.terms);
	tu_rmdir(dir);
	CHECK(ok);
	CHECK(killed >= kills);
	CHECK(reports > 0);
}

static const struct test_case cases[] = {
	TEST(test_sigkill_never_loses_a_synced_entry),
};

TEST_MAIN(cases)
