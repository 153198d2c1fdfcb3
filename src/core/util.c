/*-------------------------------------------------------------------------
 *
 * util.c
 *		Error strings, names for enums, and the libc allocator.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/core/util.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>

#include "pgraft/core.h"

const char *
pgr_strerror(enum pgr_err err)
{
	switch (err)
	{
		case PGR_OK:
			return "success";
		case PGR_ENOMEM:
			return "out of memory";
		case PGR_EINVAL:
			return "invalid argument";
		case PGR_EBADMSG:
			return "malformed message";
		case PGR_EIGNORED:
			return "message ignored";
		case PGR_EUNKNOWN_NODE:
			return "unknown node";
		case PGR_ENOLEADER:
			return "no leader";
		case PGR_ENOTLEADER:
			return "not the leader";
		case PGR_EBUSY:
			return "membership change or leadership transfer in progress";
		case PGR_EEXIST:
			return "membership change would change nothing";
		case PGR_ENOENT:
			return "no such member";
		case PGR_ECOMPACTED:
			return "index compacted";
		case PGR_EUNAVAILABLE:
			return "index not available";
		case PGR_ETOOBIG:
			return "too large";
		case PGR_ESTATE:
			return "call out of order";
		case PGR_ECORRUPT:
			return "corrupt data";
	}
	return "unknown error";
}

const char *
pgr_role_name(enum pgr_role role)
{
	switch (role)
	{
		case PGR_ROLE_FOLLOWER:
			return "follower";
		case PGR_ROLE_PRE_CANDIDATE:
			return "pre-candidate";
		case PGR_ROLE_CANDIDATE:
			return "candidate";
		case PGR_ROLE_LEADER:
			return "leader";
	}
	return "unknown";
}

const char *
pgr_msg_type_name(uint32_t type)
{
	static const char *const names[] = {
		[PGR_MSG_APP] = "MsgApp",
		[PGR_MSG_APP_RESP] = "MsgAppResp",
		[PGR_MSG_VOTE] = "MsgVote",
		[PGR_MSG_VOTE_RESP] = "MsgVoteResp",
		[PGR_MSG_PRE_VOTE] = "MsgPreVote",
		[PGR_MSG_PRE_VOTE_RESP] = "MsgPreVoteResp",
		[PGR_MSG_HEARTBEAT] = "MsgHeartbeat",
		[PGR_MSG_HEARTBEAT_RESP] = "MsgHeartbeatResp",
		[PGR_MSG_SNAP] = "MsgSnap",
		[PGR_MSG_PROP] = "MsgProp",
		[PGR_MSG_READ_INDEX] = "MsgReadIndex",
		[PGR_MSG_READ_INDEX_RESP] = "MsgReadIndexResp",
		[PGR_MSG_TIMEOUT_NOW] = "MsgTimeoutNow",
		[PGR_MSG_TRANSFER_LEADER] = "MsgTransferLeader",
		[PGR_MSG_REMOVED] = "MsgRemoved",
	};

	if (type == 0 || type > PGR_MSG_TYPE_MAX)
		return "unknown";
	return names[type];
}

const char *
pgr_progress_state_name(enum pgr_progress_state st)
{
	switch (st)
	{
		case PGR_PROGRESS_PROBE:
			return "probe";
		case PGR_PROGRESS_REPLICATE:
			return "replicate";
		case PGR_PROGRESS_SNAPSHOT:
			return "snapshot";
	}
	return "unknown";
}

static void *
libc_alloc(void *ctx, size_t size)
{
	(void) ctx;
	return malloc(size ? size : 1);
}

static void *
libc_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
	(void) ctx;
	(void) old_size;
	return realloc(ptr, new_size ? new_size : 1);
}

static void
libc_free(void *ctx, void *ptr)
{
	(void) ctx;
	free(ptr);
}

const struct pgr_allocator pgr_libc_allocator = {
	.alloc = libc_alloc,
	.realloc = libc_realloc,
	.free = libc_free,
	.ctx = NULL,
};
