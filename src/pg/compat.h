/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Differences between the PostgreSQL versions pgraft builds against
 *		(15, 16, 17).  Nothing else in the tree tests PG_VERSION_NUM.
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
 * PostgreSQL 16 split the wait-event constants for extensions out of the
 * generic ones and 17 made custom wait events registrable; PG_WAIT_EXTENSION
 * works in all three.
 */
#define PGRAFT_WAIT_EVENT_MAIN		PG_WAIT_EXTENSION
#define PGRAFT_WAIT_EVENT_REQUEST	PG_WAIT_EXTENSION

/*
 * repalloc_extended() (no-OOM reallocation) appeared in 16.  On 15 the
 * worker's allocator grows blocks by allocate, copy and free.
 */
#if PG_VERSION_NUM >= 160000
#define PGRAFT_HAVE_REPALLOC_EXTENDED 1
#endif

/* PostgreSQL 17 ties wait event sets to a resource owner, not a context. */
#if PG_VERSION_NUM >= 170000
#define pgraft_create_wait_event_set(n) CreateWaitEventSet(NULL, (n))
#else
#define pgraft_create_wait_event_set(n) CreateWaitEventSet(TopMemoryContext, (n))
#endif

#endif							/* PGRAFT_COMPAT_H */
