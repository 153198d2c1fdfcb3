/*-------------------------------------------------------------------------
 *
 * harness.h
 *		A minimal unit-test harness for the pure layers.
 *
 * Each test is a void function registered in a table; a failed CHECK marks
 * the test failed and returns from it.  test_main() runs the table (or the
 * tests named on the command line) and ends with "N passed, M failed".
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/harness.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_TEST_HARNESS_H
#define PGRAFT_TEST_HARNESS_H

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

struct test_case
{
	const char *name;
	void (*fn)(void);
};

/* an initializer, not a block: */
/* clang-format off */
#define TEST(fn) { #fn, fn }
/* clang-format on */

extern int test_current_failed;

void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int test_main(const struct test_case *cases, size_t n, int argc, char **argv);

#define CHECK(cond)                                                   \
	do                                                                \
	{                                                                 \
		if (!(cond))                                                  \
		{                                                             \
			test_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
			return;                                                   \
		}                                                             \
	} while (0)

#define CHECK_EQ(a, b)                                                                        \
	do                                                                                        \
	{                                                                                         \
		uint64_t check_a_ = (uint64_t) (a), check_b_ = (uint64_t) (b);                        \
		if (check_a_ != check_b_)                                                             \
		{                                                                                     \
			test_fail(__FILE__, __LINE__, "%s == %s failed: %" PRIu64 " != %" PRIu64, #a, #b, \
					  check_a_, check_b_);                                                    \
			return;                                                                           \
		}                                                                                     \
	} while (0)

#define TEST_MAIN(cases)                                                       \
	int main(int argc, char **argv)                                            \
	{                                                                          \
		return test_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv); \
	}

#endif /* PGRAFT_TEST_HARNESS_H */
