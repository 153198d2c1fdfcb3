/*-------------------------------------------------------------------------
 *
 * harness.c
 *		Runner for the unit tests: see harness.h.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/harness.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

int test_current_failed;

void
test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	test_current_failed = 1;
}

static int
test_selected(const char *name, int argc, char **argv)
{
	if (argc <= 1)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

int
test_main(const struct test_case *cases, size_t n, int argc, char **argv)
{
	int passed = 0;
	int failed = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (!test_selected(cases[i].name, argc, argv))
			continue;
		test_current_failed = 0;
		cases[i].fn();
		if (test_current_failed)
		{
			printf("FAIL %s\n", cases[i].name);
			failed++;
		}
		else
		{
			printf("ok   %s\n", cases[i].name);
			passed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
