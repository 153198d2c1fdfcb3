/*-------------------------------------------------------------------------
 *
 * toy_mac.h
 *		A keyed toy hash in the shape of pgr_wire_mac_fn, for the tests and
 *		fuzzers of a connection's setup.
 *
 * What they test is which proof the setup asks for and checks when, not
 * HMAC itself (the server uses OpenSSL's): FNV-1a over key and message,
 * finalized so that every input bit reaches every output byte.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/toy_mac.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_TOY_MAC_H
#define PGRAFT_TOY_MAC_H

#include <stddef.h>
#include <stdint.h>

#include "pgraft/wire.h"

static void
toy_mac(void *arg, const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
		uint8_t out[PGR_WIRE_MAC_LEN])
{
	(void) arg;
	for (int j = 0; j < PGR_WIRE_MAC_LEN; j++)
	{
		uint64_t h = 1469598103934665603ULL ^ (uint64_t) j;

		for (size_t i = 0; i < key_len; i++)
			h = (h ^ key[i]) * 1099511628211ULL;
		for (size_t i = 0; i < len; i++)
			h = (h ^ msg[i]) * 1099511628211ULL;
		h ^= h >> 33;
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
		out[j] = (uint8_t) (h >> 24);
	}
}

#endif /* PGRAFT_TOY_MAC_H */
