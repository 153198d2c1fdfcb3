/*-------------------------------------------------------------------------
 *
 * crc32c.c
 *		pgr_crc32c() on top of PostgreSQL's CRC-32C.
 *
 * This one file is compiled both into the extension and into the standalone
 * programs (unit tests, pgraft_dump, benchmarks), which link libpgport.  So it
 * includes c.h, the base of both postgres.h and postgres_fe.h, rather than
 * either of them.
 *
 * src/pg/crc32c.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "port/pg_crc32c.h"

#include "pgraft/crc32c.h"

uint32_t
pgr_crc32c(uint32_t crc, const void *data, size_t len)
{
	pg_crc32c	c = crc ^ 0xFFFFFFFF;

	COMP_CRC32C(c, data, len);
	FIN_CRC32C(c);
	return c;
}
