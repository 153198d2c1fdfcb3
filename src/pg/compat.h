/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Differences between the PostgreSQL versions pgraft builds against
 *		(15 and later).  Nothing else in the tree tests PG_VERSION_NUM.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_COMPAT_H
#define PGRAFT_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "pgraft needs PostgreSQL 15 or later"
#endif

/*
 * PostgreSQL 18 replaced pg_attribute_noreturn(), written after the
 * declarator, with pg_noreturn, written before it (C11 _Noreturn).  Before
 * 18, the attribute works in front as well (GCC and clang).
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * The varlena macros (VARSIZE_ANY_EXHDR, VARDATA_ANY) moved from postgres.h
 * to varatt.h in 16; from 19 nothing pgraft includes brings them in.
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * PostgreSQL 17 lets an extension register named wait events
 * (WaitEventExtensionNew), so pg_stat_activity shows "PgraftRequest"
 * rather than "Extension"; before 17 every pgraft wait is "Extension"
 * (metrics.c, pgraft_wait_event_*).
 */
#if PG_VERSION_NUM >= 170000
#define PGRAFT_HAVE_CUSTOM_WAIT_EVENTS 1
#endif

/* PostgreSQL 17 ties wait event sets to a resource owner, not a context. */
#if PG_VERSION_NUM >= 170000
#define pgraft_create_wait_event_set(n) CreateWaitEventSet(NULL, (n))
#else
#define pgraft_create_wait_event_set(n) CreateWaitEventSet(TopMemoryContext, (n))
#endif

#endif							/* PGRAFT_COMPAT_H */
