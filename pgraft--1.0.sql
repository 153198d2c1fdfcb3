/* pgraft--1.0.sql
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE) */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pgraft" to load this file. \quit

-- Cluster management

CREATE FUNCTION pgraft_init()
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgraft_init'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_add_node(node_id integer, address text, port integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgraft_add_node'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_remove_node(node_id integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgraft_remove_node'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION pgraft_transfer_leadership(node_id integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgraft_transfer_leadership'
LANGUAGE C VOLATILE STRICT;

-- Recovery after a majority of the voters is lost for good (docs/operations.md)
CREATE FUNCTION pgraft_force_new_cluster()
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgraft_force_new_cluster'
LANGUAGE C VOLATILE;

-- Status

CREATE FUNCTION pgraft_get_cluster_status(
	OUT node_id integer,
	OUT current_term bigint,
	OUT leader_id bigint,
	OUT state text,
	OUT num_nodes integer,
	OUT messages_processed bigint,
	OUT heartbeats_sent bigint,
	OUT elections_triggered bigint,
	OUT pre_votes_triggered bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pgraft_get_cluster_status'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_is_leader()
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgraft_is_leader'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_is_leader(cluster_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgraft_is_leader_of'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION pgraft_get_leader()
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_get_leader'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_get_term()
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_get_term'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_get_nodes(
	OUT node_id integer,
	OUT address text,
	OUT port integer,
	OUT is_leader boolean,
	OUT role text,
	OUT match_index bigint,
	OUT last_contact_ms bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgraft_get_nodes'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_get_worker_state()
RETURNS text
AS 'MODULE_PATHNAME', 'pgraft_get_worker_state'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_get_queue_status(
	OUT queue_length integer,
	OUT queue_capacity integer,
	OUT requests_processed bigint,
	OUT requests_failed bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pgraft_get_queue_status'
LANGUAGE C VOLATILE;

-- Connections the Raft port refused since the worker started, by reason.
CREATE FUNCTION pgraft_get_refusals(
	OUT reason text,
	OUT description text,
	OUT refused bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgraft_get_refusals'
LANGUAGE C VOLATILE;

-- Every metric of the Prometheus endpoint (docs/metrics.md), one row per
-- sample: histograms as their _bucket (labels with le), _sum and _count.
CREATE FUNCTION pgraft_stat(
	OUT metric text,
	OUT labels text,
	OUT value double precision,
	OUT type text,
	OUT help text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgraft_stat'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_set_debug(enabled boolean)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgraft_set_debug'
LANGUAGE C VOLATILE STRICT;

-- The replicated log

CREATE FUNCTION pgraft_log_append(term bigint, data text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_log_append'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_log_commit(index bigint, timeout_ms integer DEFAULT 10000)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgraft_log_commit'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION pgraft_log_apply(index bigint, timeout_ms integer DEFAULT 10000)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgraft_log_apply'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION pgraft_log_get_stats(
	OUT log_size bigint,
	OUT first_index bigint,
	OUT last_index bigint,
	OUT commit_index bigint,
	OUT last_applied bigint,
	OUT snapshot_index bigint,
	OUT snapshot_term bigint,
	OUT entries_appended bigint,
	OUT last_term bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pgraft_log_get_stats'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_log_get_replication_status(
	OUT node_id integer,
	OUT match_index bigint,
	OUT next_index bigint,
	OUT state text,
	OUT lag bigint,
	OUT last_contact_ms bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgraft_log_get_replication_status'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_log_sync_with_leader(timeout_ms integer DEFAULT 10000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_log_sync_with_leader'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION pgraft_log_get_entries(
	from_index bigint,
	max_count integer,
	OUT index bigint,
	OUT term bigint,
	OUT type text,
	OUT data text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgraft_log_get_entries'
LANGUAGE C VOLATILE STRICT;

-- Least privilege (docs/security.md).  PUBLIC may call nothing.  Members of
-- pg_monitor may call what shows the state of the cluster, and nothing that
-- reveals a payload, writes, changes the membership or takes a slot of the
-- request queue.  Everything else is granted explicitly, function by
-- function (docs/security.md has the recipes for a pgraft_admin role).
REVOKE ALL ON FUNCTION pgraft_init() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_add_node(integer, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_remove_node(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_transfer_leadership(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_force_new_cluster() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_get_cluster_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_is_leader() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_is_leader(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_get_leader() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_get_term() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_get_nodes() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_get_worker_state() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_get_queue_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_get_refusals() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_stat() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_set_debug(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_log_append(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_log_commit(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_log_apply(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_log_get_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_log_get_replication_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_log_sync_with_leader(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_log_get_entries(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgraft_get_cluster_status() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_is_leader() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_is_leader(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_get_leader() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_get_term() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_get_nodes() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_get_worker_state() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_get_queue_status() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_get_refusals() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_stat() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_log_commit(bigint, integer) TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_log_apply(bigint, integer) TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_log_get_stats() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgraft_log_get_replication_status() TO pg_monitor;
