/*-------------------------------------------------------------------------
 *
 * crc32c.h
 *		CRC-32C (Castagnoli) for the storage layer's records.
 *
 * The implementation is PostgreSQL's own (hardware-accelerated where the CPU
 * allows), reached through src/pg/crc32c.c, which is linked into the
 * extension and, with libpgport, into the standalone tests and tools.  The
 * pure layers only see this declaration.
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
uint32_t	pgr_crc32c(uint32_t crc, const void *data, size_t len);

#endif							/* PGRAFT_CRC32C_H */
