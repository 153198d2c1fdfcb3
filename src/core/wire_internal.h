/*-------------------------------------------------------------------------
 *
 * wire_internal.h
 *		Pieces of the wire format shared by wire.c (frames, handshake,
 *		messages) and wire_snap.c (snapshot chunks); not a public API.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/wire_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_WIRE_INTERNAL_H
#define PGRAFT_WIRE_INTERNAL_H

#include "pgraft/core.h"
#include "pgraft/wire.h"

#include "../common/codec.h"

/* type u8, flags u8, from/to/term/log_term/index/commit/context u64, n_entries u32 */
#define PGR_WIRE_MSG_HEADER_SIZE (1 + 1 + 7 * 8 + 4)

/* Bits of the message flags byte; all others must be zero. */
#define PGR_WIRE_MSG_REJECT 0x01
#define PGR_WIRE_MSG_FORCE  0x02
#define PGR_WIRE_MSG_QUIET  0x04 /* only on MsgApp without entries */

/*
 * Write a frame header of our version for a body of body_len bytes.  The
 * caller has checked that the whole frame fits PGR_WIRE_MAX_FRAME.
 */
void pgr_wire_put_header(struct pgr_writer *w, uint8_t kind, size_t body_len);

/*
 * Check that frame[0 .. len) is exactly one frame of our version and of this
 * kind, within PGR_WIRE_MAX_FRAME, and point *body at its body.  Returns
 * PGR_OK, PGR_ETOOBIG or PGR_EBADMSG.
 */
enum pgr_err pgr_wire_open_frame(const uint8_t *frame, size_t len, uint8_t kind,
								 struct pgr_reader *body);

/* Write the fixed message header of m, with n_entries entries to follow. */
void pgr_wire_put_msg_header(struct pgr_writer *w, const struct pgr_msg *m, uint32_t n_entries);

/*
 * Read a fixed message header into *m (zeroing the rest of *m), with the
 * entry count in *n_entries.  False if the bytes run out or the flags byte
 * has unknown bits; the type is the caller's to check.
 */
bool pgr_wire_get_msg_header(struct pgr_reader *r, struct pgr_msg *m, uint32_t *n_entries);

#endif /* PGRAFT_WIRE_INTERNAL_H */
