/*-------------------------------------------------------------------------
 *
 * test_crc32c.c
 *		The pure layers' CRC-32C: the standard check values, chaining, and
 *		the hardware and table-driven implementations agreeing on every
 *		length and alignment.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_crc32c.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "pgraft/crc32c.h"

#include "harness.h"

static void
test_crc32c_matches_the_standard_check_values(void)
{
	static const uint8_t zeros[32];
	uint8_t ones[32];

	memset(ones, 0xFF, sizeof(ones));
	CHECK_EQ(pgr_crc32c(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ(pgr_crc32c_software(0, "123456789", 9), 0xE3069283u);
	/* RFC 3720 (iSCSI), appendix B.4 */
	CHECK_EQ(pgr_crc32c(0, zeros, sizeof(zeros)), 0x8A9136AAu);
	CHECK_EQ(pgr_crc32c(0, ones, sizeof(ones)), 0x62A8AB43u);
	CHECK_EQ(pgr_crc32c(0, NULL, 0), 0);
}

static void
test_crc32c_chains_over_split_buffers(void)
{
	const char *s = "The quick brown fox jumps over the lazy dog";
	size_t n = strlen(s);
	uint32_t whole = pgr_crc32c(0, s, n);

	CHECK_EQ(whole, 0x22620404u);
	for (size_t cut = 0; cut <= n; cut++)
		CHECK_EQ(pgr_crc32c(pgr_crc32c(0, s, cut), s + cut, n - cut), whole);
}

static void
test_crc32c_hardware_and_tables_agree_on_every_length_and_alignment(void)
{
	enum
	{
		MAXLEN = 1100
	};
	uint8_t *buf = malloc(MAXLEN + 16);
	unsigned int seed = 12345;

	CHECK(buf != NULL);
	for (size_t i = 0; i < MAXLEN + 16; i++)
		buf[i] = (uint8_t) rand_r(&seed);
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len <= MAXLEN; len += (len < 80 ? 1 : 37))
		{
			uint32_t a = pgr_crc32c(0x1234u, buf + off, len);
			uint32_t b = pgr_crc32c_software(0x1234u, buf + off, len);

			if (a != b)
			{
				free(buf);
				CHECK_EQ(a, b);
			}
		}
	free(buf);
	printf("    pgr_crc32c uses the %s implementation\n", pgr_crc32c_implementation());
}

static const struct test_case cases[] = {
	TEST(test_crc32c_matches_the_standard_check_values),
	TEST(test_crc32c_chains_over_split_buffers),
	TEST(test_crc32c_hardware_and_tables_agree_on_every_length_and_alignment),
};

TEST_MAIN(cases)
