/*-------------------------------------------------------------------------
 *
 * bench_storage.c
 *		Storage benchmark: group commit against the raw fdatasync rate, and
 *		recovery time of a large log, all in one run on one disk.
 *
 *		bench_storage [DIR] [--syncs N] [--recovery-entries N]
 *
 * DIR (default /tmp) is where a temporary directory is made and removed.
 * Reported, on the same disk:
 *	  raw		pwrite of one 136-byte record + fdatasync, in a preallocated
 *				file (the floor any log can reach) and appending to a growing
 *				file (what a log without preallocation pays);
 *	  1/16/128	entries of 100 bytes appended per pgr_storage_sync, as
 *				entries/s and as a ratio to the raw rate;
 *	  1+hs		one entry plus a hard-state change per sync (a new term);
 *	  recovery	pgr_storage_open of a log of 1,000,000 entries of 100 bytes,
 *				and open + pgr_storage_load (page cache warm: it was just
 *				written).
 * Goals (issue 3): 1/sync within 1.2x of raw fdatasync latency; 128/sync at
 * least 100x the entries/s of 1/sync; recovery of 1M entries under 1 s.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * bench/bench_storage.c
 *
 *-------------------------------------------------------------------------
 */
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgraft/storage.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_storage: %s: %s\n", what, msg);
	exit(1);
}

static void
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[2048];

	while (d != NULL && (de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

/* Mean latency in seconds of pwrite(136 bytes) + fdatasync. */
static double
raw_fdatasync(const char *dir, int n, bool prealloc)
{
	char path[2048];
	char rec[136];
	int fd;
	double t0;
	double t1;

	snprintf(path, sizeof(path), "%s/raw", dir);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	if (fd < 0)
		die("open", path);
	if (prealloc && (posix_fallocate(fd, 0, (off_t) n * sizeof(rec) + 4096) != 0 || fsync(fd) != 0))
		die("preallocate", path);
	memset(rec, 'r', sizeof(rec));
	t0 = now();
	for (int i = 0; i < n; i++)
		if (pwrite(fd, rec, sizeof(rec), (off_t) i * (off_t) sizeof(rec)) !=
				(ssize_t) sizeof(rec) ||
			fdatasync(fd) != 0)
			die("raw write", path);
	t1 = now();
	close(fd);
	unlink(path);
	return (t1 - t0) / n;
}

static struct pgr_storage *
open_storage(const char *dir)
{
	struct pgr_storage_options o = {0};
	struct pgr_storage_error err;
	struct pgr_storage *st;

	o.create = true;
	if (pgr_storage_open(dir, &o, &st, &err) != PGR_STORAGE_OK)
		die("open", err.msg);
	return st;
}

/* Mean latency in seconds of one append of `per` entries + sync. */
static double
group_commit(const char *base, int syncs, int per, bool with_hs)
{
	char dir[2048];
	struct pgr_storage *st;
	struct pgr_entry *es = calloc((size_t) per, sizeof(*es));
	uint8_t payload[100];
	uint64_t next = 1;
	struct pgr_hard_state hs = {0, 0, 0};
	double t0;
	double t1;

	snprintf(dir, sizeof(dir), "%s/gc-%d", base, per);
	st = open_storage(dir);
	memset(payload, 'p', sizeof(payload));
	t0 = now();
	for (int s = 0; s < syncs; s++)
	{
		for (int i = 0; i < per; i++)
		{
			es[i].term = 1;
			es[i].index = next++;
			es[i].type = PGR_ENTRY_NORMAL;
			es[i].len = sizeof(payload);
			es[i].data = payload;
		}
		if (pgr_storage_append(st, es, (size_t) per) != PGR_STORAGE_OK)
			die("append", pgr_storage_last_error(st)->msg);
		if (with_hs)
		{
			hs.term++;
			if (pgr_storage_set_hard_state(st, &hs) != PGR_STORAGE_OK)
				die("hard state", pgr_storage_last_error(st)->msg);
			for (int i = 0; i < per; i++)
				es[i].term = hs.term + 1;
		}
		if (pgr_storage_sync(st) != PGR_STORAGE_OK)
			die("sync", pgr_storage_last_error(st)->msg);
	}
	t1 = now();
	pgr_storage_close(st);
	remove_dir(dir);
	free(es);
	return (t1 - t0) / syncs;
}

static void
recovery(const char *base, long n_entries)
{
	char dir[2048];
	struct pgr_storage *st;
	struct pgr_storage_state s;
	struct pgr_storage_info info;
	struct pgr_entry es[1000];
	uint8_t payload[100];
	uint64_t next = 1;
	double t0;
	double t_open;
	double t_load;

	snprintf(dir, sizeof(dir), "%s/recovery", base);
	st = open_storage(dir);
	memset(payload, 'q', sizeof(payload));
	t0 = now();
	while ((long) next <= n_entries)
	{
		size_t k = 0;

		for (; k < 1000 && (long) next <= n_entries; k++)
		{
			es[k].term = 1 + next / 100000;
			es[k].index = next++;
			es[k].type = PGR_ENTRY_NORMAL;
			es[k].len = sizeof(payload);
			es[k].data = payload;
		}
		if (pgr_storage_append(st, es, k) != PGR_STORAGE_OK)
			die("append", pgr_storage_last_error(st)->msg);
	}
	if (pgr_storage_sync(st) != PGR_STORAGE_OK)
		die("sync", pgr_storage_last_error(st)->msg);
	printf("  (wrote %ld entries in %.2f s)\n", n_entries, now() - t0);
	pgr_storage_close(st);

	t0 = now();
	st = open_storage(dir);
	t_open = now() - t0;
	if (pgr_storage_load(st, &pgr_libc_allocator, &s) != PGR_STORAGE_OK)
		die("load", pgr_storage_last_error(st)->msg);
	t_load = now() - t0;
	pgr_storage_info(st, &info);
	if ((long) s.n_entries != n_entries || info.last_index != (uint64_t) n_entries)
		die("recovery", "wrong number of entries");
	printf("recovery of %ld entries of 100 bytes (%zu segments):\n", n_entries, info.n_segments);
	printf("  open (scan + verify every checksum): %8.3f s  %s\n", t_open,
		   t_open < 1.0 ? "(goal < 1 s: met)" : "(goal < 1 s: MISSED)");
	printf("  open + load into memory:             %8.3f s\n", t_load);
	pgr_storage_state_free(&pgr_libc_allocator, &s);
	pgr_storage_close(st);
	remove_dir(dir);
}

int
main(int argc, char **argv)
{
	const char *where = "/tmp";
	int syncs = 2000;
	long rec_entries = 1000000;
	char base[2048];
	double raw;
	double raw_append;
	double lat[3];
	int per[3] = {1, 16, 128};
	double hs_lat;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--syncs") == 0 && i + 1 < argc)
			syncs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--recovery-entries") == 0 && i + 1 < argc)
			rec_entries = atol(argv[++i]);
		else if (argv[i][0] != '-')
			where = argv[i];
		else
		{
			fprintf(stderr, "usage: bench_storage [DIR] [--syncs N] [--recovery-entries N]\n");
			return 2;
		}
	}
	snprintf(base, sizeof(base), "%s/pgraft-bench-XXXXXX", where);
	if (mkdtemp(base) == NULL)
		die("mkdtemp", base);
	printf("bench_storage in %s, %d syncs per measurement\n", base, syncs);

	raw = raw_fdatasync(base, syncs, true);
	raw_append = raw_fdatasync(base, syncs, false);
	printf("raw fdatasync, preallocated file:  %8.1f us  %9.0f syncs/s\n", raw * 1e6, 1 / raw);
	printf("raw fdatasync, growing file:       %8.1f us  %9.0f syncs/s\n", raw_append * 1e6,
		   1 / raw_append);
	for (int i = 0; i < 3; i++)
	{
		lat[i] = group_commit(base, per[i] == 128 ? syncs / 2 : syncs, per[i], false);
		printf(
			"append %3d entries + sync:          %8.1f us  %9.0f entries/s  %6.2fx raw latency  %7.1fx raw rate\n",
			per[i], lat[i] * 1e6, per[i] / lat[i], lat[i] / raw, (per[i] / lat[i]) / (1 / raw));
	}
	hs_lat = group_commit(base, syncs / 2, 1, true);
	printf("append 1 entry + hard state + sync: %7.1f us  %9.0f entries/s  %6.2fx raw latency\n",
		   hs_lat * 1e6, 1 / hs_lat, hs_lat / raw);
	printf(
		"goals: 1/sync %.2fx raw latency (goal <= 1.2x: %s); 128/sync %.0fx the entries/s of 1/sync (goal >= 100x: %s)\n",
		lat[0] / raw, lat[0] / raw <= 1.2 ? "met" : "MISSED", (128 / lat[2]) / (1 / lat[0]),
		(128 / lat[2]) / (1 / lat[0]) >= 100 ? "met" : "MISSED");
	if (rec_entries > 0)
		recovery(base, rec_entries);
	remove_dir(base);
	return 0;
}
