/*-------------------------------------------------------------------------
 *
 * bench_crc32c.c
 *		The pure layers' CRC-32C (src/common/crc32c.c) against PostgreSQL's
 *		(libpgport's pg_comp_crc32c), on the sizes the storage layer checks:
 *		a 32-byte record header, a 100-byte entry, a 4 KiB entry, a 1 MiB
 *		entry.  Both must give the same value; the figure that matters is
 *		the ratio of their times (below 1.0: ours is faster).
 *
 *	bench_crc32c		one line per size: ns per call for each and the ratio
 *
 * Built only where PostgreSQL's server headers and libpgport are installed
 * (the pure layers themselves never link PostgreSQL).
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * bench/bench_crc32c.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "port/pg_crc32c.h"

#include <time.h>

#include "pgraft/crc32c.h"

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint32_t
pg_crc(const void *data, size_t len)
{
	pg_crc32c c;

	INIT_CRC32C(c);
	COMP_CRC32C(c, data, len);
	FIN_CRC32C(c);
	return c;
}

int
main(void)
{
	static const size_t sizes[] = {32, 100, 4096, 1024 * 1024};
	size_t max = 1024 * 1024;
	uint8_t *buf = malloc(max);
	volatile uint32_t sink = 0;

	if (buf == NULL)
		return 1;
	for (size_t i = 0; i < max; i++)
		buf[i] = (uint8_t) (i * 2654435761u >> 13);
	printf("pgraft implementation: %s\n", pgr_crc32c_implementation());
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
	{
		size_t len = sizes[k];
		long iters = (long) (256L * 1024 * 1024 / len);
		double best_ours = 1e300;
		double best_pg = 1e300;

		if (pgr_crc32c(0, buf, len) != pg_crc(buf, len))
		{
			fprintf(stderr, "bench_crc32c: the two disagree at %zu bytes\n", len);
			return 1;
		}
		if (iters > 20000000)
			iters = 20000000;
		/* best of five rounds each, interleaved, against a noisy machine */
		for (int round = 0; round < 5; round++)
		{
			double t0 = now_ns();

			for (long i = 0; i < iters; i++)
				sink += pgr_crc32c(0, buf, len);
			t0 = (now_ns() - t0) / iters;
			if (t0 < best_ours)
				best_ours = t0;
			t0 = now_ns();
			for (long i = 0; i < iters; i++)
				sink += pg_crc(buf, len);
			t0 = (now_ns() - t0) / iters;
			if (t0 < best_pg)
				best_pg = t0;
		}
		printf("%8zu bytes: pgraft %10.1f ns, PostgreSQL %10.1f ns, ratio %.2f\n", len, best_ours,
			   best_pg, best_ours / best_pg);
	}
	free(buf);
	return sink == 42 ? 2 : 0;
}
