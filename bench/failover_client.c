/*-------------------------------------------------------------------------
 *
 * failover_client.c
 *		Time from a fault to the first acknowledged write, for
 *		bench/cluster-bench.
 *
 *	failover_client T0_NS SOCKET_DIR PORT [PORT...]
 *
 * T0_NS is when the fault was injected (CLOCK_REALTIME, nanoseconds, as
 * printed by `date +%s%N`).  The client keeps trying pgraft_log_append on
 * each surviving node in turn until one succeeds, then prints the elapsed
 * milliseconds since T0_NS.  A failed attempt (no leader yet, leadership
 * changed) is retried after 2 ms; it gives up after 30 s.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * bench/failover_client.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "libpq-fe.h"

#define MAX_NODES 16

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	PGconn *conns[MAX_NODES];
	int n;
	double t0;

	if (argc < 4 || argc - 3 > MAX_NODES)
	{
		fprintf(stderr, "usage: %s T0_NS SOCKET_DIR PORT [PORT...]\n", argv[0]);
		return 2;
	}
	t0 = atof(argv[1]);
	n = argc - 3;
	for (int i = 0; i < n; i++)
	{
		char conninfo[1024];

		snprintf(
			conninfo, sizeof(conninfo),
			"host=%s port=%s user=postgres dbname=postgres options='-c statement_timeout=2000'",
			argv[2], argv[3 + i]);
		conns[i] = PQconnectdb(conninfo);
	}
	while (now_ns() - t0 < 30e9)
	{
		for (int i = 0; i < n; i++)
		{
			PGresult *res;

			if (PQstatus(conns[i]) != CONNECTION_OK)
				continue;
			res = PQexec(conns[i], "SELECT pgraft_log_append(0, 'failover probe')");
			if (PQresultStatus(res) == PGRES_TUPLES_OK)
			{
				printf("%.1f\n", (now_ns() - t0) / 1e6);
				PQclear(res);
				return 0;
			}
			PQclear(res);
		}
		nanosleep(&(struct timespec){0, 2000000}, NULL);
	}
	fprintf(stderr, "no write succeeded within 30 s\n");
	return 1;
}
