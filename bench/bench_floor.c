/*-------------------------------------------------------------------------
 *
 * bench_floor.c
 *		The physical floor under a replicated commit, measured on this
 *		machine: the latency of one fdatasync of a small write to the disk
 *		holding DIR, and of one loopback TCP round trip.
 *
 * A Raft commit needs at least one of each (the leader's fsync and a
 * follower's fsync overlap; the follower's acknowledgement is one round
 * trip), so cluster latencies are reported as ratios to their sum.
 *
 *	bench_floor [DIR]	prints "fdatasync_us=..." and "rtt_us=..." (medians)
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * bench/bench_floor.c
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SYNCS 300
#define PINGS 5000

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a;
	double y = *(const double *) b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return v[n / 2];
}

/* fdatasync of a 4 KiB overwrite in a preallocated file, as the log does. */
static double
measure_fsync(const char *dir)
{
	char path[4096];
	char buf[4096];
	double lat[SYNCS];
	int fd;

	snprintf(path, sizeof(path), "%s/bench_floor.%d", dir, (int) getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || posix_fallocate(fd, 0, (off_t) SYNCS * sizeof(buf)) != 0 || fsync(fd) != 0)
	{
		perror(path);
		exit(1);
	}
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < SYNCS; i++)
	{
		double t0 = now_us();

		if (pwrite(fd, buf, sizeof(buf), (off_t) i * sizeof(buf)) != (ssize_t) sizeof(buf) ||
			fdatasync(fd) != 0)
		{
			perror("fdatasync");
			exit(1);
		}
		lat[i] = now_us() - t0;
	}
	close(fd);
	unlink(path);
	return median(lat, SYNCS);
}

/* A 64-byte ping-pong over loopback TCP with TCP_NODELAY, as peers talk. */
static double
measure_rtt(void)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	char buf[64];
	double lat[PINGS];
	pid_t child;
	int s;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *) &addr, sizeof(addr)) != 0 || listen(ls, 1) != 0 ||
		getsockname(ls, (struct sockaddr *) &addr, &len) != 0)
	{
		perror("listen");
		exit(1);
	}
	child = fork();
	if (child == 0)
	{
		int c = accept(ls, NULL, NULL);

		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while (recv(c, buf, sizeof(buf), MSG_WAITALL) == (ssize_t) sizeof(buf))
			if (send(c, buf, sizeof(buf), 0) != (ssize_t) sizeof(buf))
				break;
		_exit(0);
	}
	close(ls);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(s, (struct sockaddr *) &addr, sizeof(addr)) != 0)
	{
		perror("connect");
		exit(1);
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(buf, 'p', sizeof(buf));
	for (int i = 0; i < PINGS; i++)
	{
		double t0 = now_us();

		if (send(s, buf, sizeof(buf), 0) != (ssize_t) sizeof(buf) ||
			recv(s, buf, sizeof(buf), MSG_WAITALL) != (ssize_t) sizeof(buf))
		{
			perror("ping");
			exit(1);
		}
		lat[i] = now_us() - t0;
	}
	close(s);
	waitpid(child, NULL, 0);
	return median(lat, PINGS);
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";

	printf("fdatasync_us=%.1f\n", measure_fsync(dir));
	printf("rtt_us=%.1f\n", measure_rtt());
	return 0;
}
