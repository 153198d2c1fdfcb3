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

-- The key-value store (docs/kv.md): a state machine applied from the log on
-- every node, in etcd's model.  Writes go through the log; reads are
-- linearizable unless serializable => true asks for this node's state.

CREATE FUNCTION pgraft_kv_put(key text, value text, lease bigint DEFAULT 0)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_kv_put'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_kv_get(
	key text,
	serializable boolean DEFAULT false,
	revision bigint DEFAULT 0,
	OUT key text,
	OUT value text,
	OUT create_revision bigint,
	OUT mod_revision bigint,
	OUT version bigint,
	OUT lease bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgraft_kv_get'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_kv_range(
	range_from text,
	range_to text DEFAULT NULL,
	max_keys integer DEFAULT 0,
	serializable boolean DEFAULT false,
	revision bigint DEFAULT 0,
	OUT key text,
	OUT value text,
	OUT create_revision bigint,
	OUT mod_revision bigint,
	OUT version bigint,
	OUT lease bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgraft_kv_range'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_kv_prefix(
	prefix text,
	max_keys integer DEFAULT 0,
	serializable boolean DEFAULT false,
	revision bigint DEFAULT 0,
	OUT key text,
	OUT value text,
	OUT create_revision bigint,
	OUT mod_revision bigint,
	OUT version bigint,
	OUT lease bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgraft_kv_prefix'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_kv_delete(key text, prefix boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_kv_delete'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_kv_cas(key text, expected_mod_revision bigint, new_value text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_kv_cas_revision'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_kv_cas(key text, expected_value text, new_value text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_kv_cas_value'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_kv_txn(
	compares jsonb,
	success jsonb DEFAULT '[]',
	failure jsonb DEFAULT '[]',
	OUT succeeded boolean,
	OUT revision bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pgraft_kv_txn'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_lease_grant(ttl_ms bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_lease_grant'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_lease_keepalive(lease bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_lease_keepalive'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_lease_revoke(lease bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgraft_lease_revoke'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_kv_status(
	OUT revision bigint,
	OUT keys bigint,
	OUT bytes bigint,
	OUT quota bigint,
	OUT leases bigint,
	OUT applied_index bigint,
	OUT digest text)
RETURNS record
AS 'MODULE_PATHNAME', 'pgraft_kv_status'
LANGUAGE C VOLATILE;

CREATE FUNCTION pgraft_kv_changes(
	from_revision bigint,
	prefix text DEFAULT NULL,
	max_changes integer DEFAULT 0,
	timeout_ms integer DEFAULT 0,
	OUT revision bigint,
	OUT type text,
	OUT key text,
	OUT value text,
	OUT create_revision bigint,
	OUT mod_revision bigint,
	OUT version bigint,
	OUT lease bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgraft_kv_changes'
LANGUAGE C VOLATILE;

-- Recipes on the store (docs/kv.md): a key held under a lease, by one
-- holder at a time.  Acquiring puts the key if it does not exist, waiting
-- up to timeout_ms (renewing the lease while it waits); the revision of
-- that put is the fencing token, larger for every later holder.  Releasing
-- revokes the lease if the key still holds the token.
CREATE FUNCTION pgraft_kv_acquire(
	key text,
	value text,
	ttl_ms bigint,
	timeout_ms integer,
	OUT lease bigint,
	OUT token bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	deadline timestamptz;
	renewed timestamptz;
	r record;
BEGIN
	IF timeout_ms IS NULL OR timeout_ms < 0 THEN
		RAISE EXCEPTION 'timeout_ms must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	deadline := clock_timestamp() + make_interval(secs => timeout_ms / 1000.0);
	lease := pgraft_lease_grant(ttl_ms);
	renewed := clock_timestamp();
	LOOP
		SELECT * INTO r FROM pgraft_kv_txn(
			jsonb_build_array(jsonb_build_object('key', key, 'target', 'version', 'value', 0)),
			jsonb_build_array(jsonb_build_object('put', key, 'value', value, 'lease', lease)));
		IF r.succeeded THEN
			token := r.revision;
			RETURN;
		END IF;
		IF clock_timestamp() >= deadline THEN
			PERFORM pgraft_lease_revoke(lease);
			RAISE EXCEPTION '% is held by another session', key
				USING ERRCODE = 'lock_not_available',
					  DETAIL = format('It was still held after %s ms.', timeout_ms),
					  HINT = 'Wait longer (timeout_ms), or see pgraft_kv_get() for its holder.';
		END IF;
		IF clock_timestamp() >= renewed + make_interval(secs => ttl_ms / 2000.0) THEN
			PERFORM pgraft_lease_keepalive(lease);
			renewed := clock_timestamp();
		END IF;
		PERFORM pg_sleep(0.02);
	END LOOP;
END
$$;

CREATE FUNCTION pgraft_kv_release(key text, token bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	r record;
BEGIN
	SELECT * INTO r FROM pgraft_kv_get(key);
	IF NOT FOUND OR r.mod_revision IS DISTINCT FROM token OR r.lease = 0 THEN
		RETURN false;
	END IF;
	PERFORM pgraft_lease_revoke(r.lease);
	RETURN true;
EXCEPTION WHEN undefined_object THEN
	RETURN false;				-- the lease expired meanwhile
END
$$;

CREATE FUNCTION pgraft_lock(
	name text,
	ttl_ms bigint DEFAULT 10000,
	timeout_ms integer DEFAULT 10000,
	OUT lease bigint,
	OUT token bigint)
RETURNS record
LANGUAGE sql VOLATILE
AS $$
	SELECT a.lease, a.token
	FROM pgraft_kv_acquire('pgraft/lock/' || name,
						   format('node %s pid %s', current_setting('pgraft.node_id'), pg_backend_pid()),
						   ttl_ms, timeout_ms) a
$$;

CREATE FUNCTION pgraft_unlock(name text, token bigint)
RETURNS boolean
LANGUAGE sql VOLATILE
AS $$ SELECT pgraft_kv_release('pgraft/lock/' || name, token) $$;

CREATE FUNCTION pgraft_campaign(
	election text,
	value text,
	ttl_ms bigint DEFAULT 10000,
	timeout_ms integer DEFAULT 10000,
	OUT lease bigint,
	OUT token bigint)
RETURNS record
LANGUAGE sql VOLATILE
AS $$
	SELECT a.lease, a.token
	FROM pgraft_kv_acquire('pgraft/election/' || election, value, ttl_ms, timeout_ms) a
$$;

CREATE FUNCTION pgraft_election_leader(
	election text,
	OUT value text,
	OUT token bigint,
	OUT lease bigint)
RETURNS SETOF record
LANGUAGE sql VOLATILE
AS $$
	SELECT g.value, g.mod_revision, g.lease FROM pgraft_kv_get('pgraft/election/' || election) g
$$;

CREATE FUNCTION pgraft_resign(election text, token bigint)
RETURNS boolean
LANGUAGE sql VOLATILE
AS $$ SELECT pgraft_kv_release('pgraft/election/' || election, token) $$;

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
REVOKE ALL ON FUNCTION pgraft_kv_put(text, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_get(text, boolean, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_range(text, text, integer, boolean, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_prefix(text, integer, boolean, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_delete(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_cas(text, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_cas(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_txn(jsonb, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_lease_grant(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_lease_keepalive(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_lease_revoke(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_changes(bigint, text, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_acquire(text, text, bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_kv_release(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_lock(text, bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_unlock(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_campaign(text, text, bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_election_leader(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgraft_resign(text, bigint) FROM PUBLIC;
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
