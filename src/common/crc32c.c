/*-------------------------------------------------------------------------
 *
 * crc32c.c
 *		CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) for the pure
 *		layers, with the CPU's CRC instruction where there is one.
 *
 * The pure layers must build and run without PostgreSQL (STYLE.md, boundary
 * rule 1), so they carry their own CRC-32C rather than PostgreSQL's.  Two
 * implementations compute the same function:
 *	- the x86-64 SSE 4.2 crc32 instruction (8 bytes per instruction), chosen
 *	  at the first call when the CPU has it; on AArch64 the ARMv8 CRC
 *	  instructions when the compiler targets them;
 *	- slicing-by-8 tables everywhere else (8 bytes per step, 8 KiB of tables
 *	  built at the first call).
 * On x86-64 with glibc the choice is made once by the dynamic linker (an
 * ifunc), elsewhere at the first call.
 * test/unit/test_crc32c.c checks both against the standard check value and
 * against each other; bench/bench_crc32c.c compares the speed with
 * PostgreSQL's implementation.
 *
 * Not thread-safe on the very first call (the tables and the choice are
 * made then); every user of the pure layers is single-threaded.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/common/crc32c.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <string.h>

#include "pgraft/crc32c.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PGR_CRC32C_X86 1
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#define PGR_CRC32C_ARM 1
#include <arm_acle.h>
#endif

#define PGR_CRC32C_POLY 0x82F63B78u

static uint32_t crc_tables[8][256];

static void
build_tables(void)
{
	for (uint32_t i = 0; i < 256; i++)
	{
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ ((c & 1) ? PGR_CRC32C_POLY : 0);
		crc_tables[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tables[t][i] =
				(crc_tables[t - 1][i] >> 8) ^ crc_tables[0][crc_tables[t - 1][i] & 0xFF];
}

/* crc is the running (not inverted) register value in both helpers. */
static uint32_t
crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len > 0 && ((uintptr_t) p & 7) != 0)
	{
		crc = (crc >> 8) ^ crc_tables[0][(crc ^ *p++) & 0xFF];
		len--;
	}
	while (len >= 8)
	{
		/* little-endian load of 8 bytes, independent of the host order */
		uint32_t lo =
			(uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
		uint32_t hi =
			(uint32_t) p[4] | (uint32_t) p[5] << 8 | (uint32_t) p[6] << 16 | (uint32_t) p[7] << 24;

		lo ^= crc;
		crc = crc_tables[7][lo & 0xFF] ^ crc_tables[6][(lo >> 8) & 0xFF] ^
			  crc_tables[5][(lo >> 16) & 0xFF] ^ crc_tables[4][lo >> 24] ^
			  crc_tables[3][hi & 0xFF] ^ crc_tables[2][(hi >> 8) & 0xFF] ^
			  crc_tables[1][(hi >> 16) & 0xFF] ^ crc_tables[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = (crc >> 8) ^ crc_tables[0][(crc ^ *p++) & 0xFF];
	return crc;
}

#ifdef PGR_CRC32C_X86
/* x86 loads unaligned words at full speed: no alignment prologue. */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	uint32_t c32;

	while (len >= 8)
	{
		uint64_t v;

		memcpy(&v, p, 8); /* x86 is little-endian */
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	c32 = (uint32_t) c;
	if (len >= 4)
	{
		uint32_t v;

		memcpy(&v, p, 4);
		c32 = __builtin_ia32_crc32si(c32, v);
		p += 4;
		len -= 4;
	}
	while (len-- > 0)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}
#elif defined(PGR_CRC32C_ARM)
static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len > 0 && ((uintptr_t) p & 7) != 0)
	{
		crc = __crc32cb(crc, *p++);
		len--;
	}
	while (len >= 8)
	{
		uint64_t v;

		memcpy(&v, p, 8);
		crc = __crc32cd(crc, v);
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = __crc32cb(crc, *p++);
	return crc;
}
#endif

static bool tables_built;

static uint32_t
crc32c_sw_entry(uint32_t crc, const void *data, size_t len)
{
	if (!tables_built)
	{
		build_tables();
		tables_built = true;
	}
	return ~crc32c_sw(~crc, (const uint8_t *) data, len);
}

#if defined(PGR_CRC32C_X86) || defined(PGR_CRC32C_ARM)
#ifdef PGR_CRC32C_X86
__attribute__((target("sse4.2")))
#endif
static uint32_t
crc32c_hw_entry(uint32_t crc, const void *data, size_t len)
{
	return ~crc32c_hw(~crc, (const uint8_t *) data, len);
}
#endif

typedef uint32_t (*crc_fn)(uint32_t crc, const void *data, size_t len);

/* The implementation for this CPU. */
static crc_fn
crc32c_choose(void)
{
#if defined(PGR_CRC32C_X86)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_hw_entry;
#elif defined(PGR_CRC32C_ARM)
	return crc32c_hw_entry;
#endif
	return crc32c_sw_entry;
}

#if defined(__SANITIZE_ADDRESS__)
#define PGR_CRC32C_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PGR_CRC32C_SANITIZED 1
#endif
#endif

#if defined(PGR_CRC32C_X86) && defined(__ELF__) && defined(__GLIBC__) && \
	!defined(PGR_CRC32C_SANITIZED)
/*
 * An indirect function: the dynamic linker binds pgr_crc32c to the chosen
 * implementation once, at load, so a call costs what a plain call costs
 * (the 28-byte record headers are where a dispatch would show).  Not under
 * AddressSanitizer: the resolver runs before the sanitizer is set up.
 */
static crc_fn pgr_crc32c_resolve(void) __attribute__((used));

uint32_t pgr_crc32c(uint32_t crc, const void *data, size_t len)
	__attribute__((ifunc("pgr_crc32c_resolve")));

__attribute__((used)) static crc_fn
pgr_crc32c_resolve(void)
{
	return crc32c_choose();
}
#else
static crc_fn crc_impl;

uint32_t
pgr_crc32c(uint32_t crc, const void *data, size_t len)
{
	if (crc_impl == NULL)
		crc_impl = crc32c_choose();
	return crc_impl(crc, data, len);
}
#endif

uint32_t
pgr_crc32c_software(uint32_t crc, const void *data, size_t len)
{
	return crc32c_sw_entry(crc, data, len);
}

const char *
pgr_crc32c_implementation(void)
{
	return crc32c_choose() == crc32c_sw_entry ? "software" : "hardware";
}
