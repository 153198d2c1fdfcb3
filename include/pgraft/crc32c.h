/*-------------------------------------------------------------------------
 *
 * crc32c.h
 *		CRC-32C (Castagnoli) for the pure layers' records and files.
 *
 * Implemented in src/common/crc32c.c, without PostgreSQL: the CPU's CRC
 * instruction where there is one (SSE 4.2 on x86-64, chosen at run time),
 * slicing-by-8 tables elsewhere.  Both compute the standard CRC-32C, the
 * same function as PostgreSQL's pg_crc32c, so files written by either read
 * back with the other.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * include/pgraft/crc32c.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_CRC32C_H
#define PGRAFT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extend a finished CRC-32C over len more bytes.  Start with crc = 0; the
 * result is the standard CRC-32C (check value 0xE3069283 for "123456789").
 */
uint32_t pgr_crc32c(uint32_t crc, const void *data, size_t len);

/* The same function by the table-driven code alone (tests, benchmarks). */
uint32_t pgr_crc32c_software(uint32_t crc, const void *data, size_t len);

/* "hardware" or "software": what pgr_crc32c uses on this CPU. */
const char *pgr_crc32c_implementation(void);

#endif /* PGRAFT_CRC32C_H */
