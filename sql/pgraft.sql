--
-- pgraft on a single node: the shape of every function and every bad-input
-- error.  The server runs with shared_preload_libraries = 'pgraft' and a
-- fresh pgraft state (sql/pgraft.conf, the temporary instance of "make
-- installcheck").
--
CREATE EXTENSION pgraft;

-- Before pgraft_init(): no cluster yet, nothing to lead.
SELECT pgraft_get_worker_state();
SELECT pgraft_is_leader(), pgraft_get_leader(), pgraft_get_term();
SELECT node_id, current_term, leader_id, state, num_nodes FROM pgraft_get_cluster_status();
SELECT count(*) FROM pgraft_get_nodes();
SELECT pgraft_log_append(0, 'too early');
SELECT pgraft_add_node(2, '127.0.0.1', 7102);
SELECT pgraft_force_new_cluster();

-- Found a one-node cluster: this node is the leader at once.
SELECT pgraft_init();
SELECT pgraft_init();  -- a second time changes nothing
SELECT pgraft_force_new_cluster();  -- alone already: nothing to force
SELECT pgraft_is_leader(), pgraft_get_leader(), pgraft_get_term();
SELECT pgraft_is_leader('pgraft_regress'), pgraft_is_leader('another_cluster');
SELECT node_id, current_term, leader_id, state, num_nodes,
       messages_processed >= 0 AS counted, elections_triggered >= 1 AS elected
  FROM pgraft_get_cluster_status();
SELECT node_id, address, port, is_leader, role FROM pgraft_get_nodes();

-- The log: appends return their index once committed; entries read back.
SELECT pgraft_log_append(0, 'first');
SELECT pgraft_log_append(NULL, 'second');
SELECT pgraft_log_append(pgraft_get_term(), 'fenced by the current term');
SELECT pgraft_log_append(pgraft_get_term() + 1, 'wrong term');
SELECT pgraft_log_commit(4), pgraft_log_apply(4);
SELECT pgraft_log_commit(1000, 100);
SELECT pgraft_log_sync_with_leader() >= 5 AS synced;
SELECT * FROM pgraft_log_get_entries(1, 100);
SELECT * FROM pgraft_log_get_entries(4, 1);
SELECT log_size, first_index, last_index, commit_index, last_applied, entries_appended
  FROM pgraft_log_get_stats();
SELECT last_term = pgraft_get_term() AS last_entry_of_this_term FROM pgraft_log_get_stats();
SELECT count(*) FROM pgraft_log_get_replication_status();
SELECT length(data) FROM pgraft_log_get_entries(pgraft_log_append(0, repeat('x', 100000)), 1);

-- Debugging can be switched at run time.
SELECT pgraft_set_debug(true);
SELECT pgraft_set_debug(false);
SELECT queue_capacity, queue_length FROM pgraft_get_queue_status();

-- Bad input: clear errors, nothing done.
SELECT pgraft_log_append(0, NULL);
SELECT pgraft_log_append(-1, 'negative term');
SELECT pgraft_log_append(0, repeat('x', 1048577));
SELECT pgraft_log_commit(0);
SELECT pgraft_log_commit(1, -5);
SELECT pgraft_log_apply(-3);
SELECT * FROM pgraft_log_get_entries(0, 10);
SELECT * FROM pgraft_log_get_entries(1, -1);
SELECT pgraft_add_node(NULL, '127.0.0.1', 7102);
SELECT pgraft_add_node(2, NULL, 7102);
SELECT pgraft_add_node(0, '127.0.0.1', 7102);
SELECT pgraft_add_node(-4, '127.0.0.1', 7102);
SELECT pgraft_add_node(2, '', 7102);
SELECT pgraft_add_node(2, 'bad host name!', 7102);
SELECT pgraft_add_node(2, '127.0.0.1', 0);
SELECT pgraft_add_node(2, '127.0.0.1', 70000);
SELECT pgraft_add_node(1, '127.0.0.1', 7999);       -- our own id, another address
SELECT pgraft_add_node(1, '127.0.0.1', 7101);       -- ourselves again: harmless
SELECT pgraft_add_node(2, '127.0.0.1', 7101);       -- our own address, another id
SELECT pgraft_add_node(2, '127.0.0.1', 7199);       -- nobody listens there
SELECT pgraft_remove_node(0);
SELECT pgraft_remove_node(42);
SELECT pgraft_remove_node(1);                       -- the last voter
SELECT pgraft_transfer_leadership(42);

-- Still one healthy node, and nothing above changed the log.
SELECT pgraft_is_leader(), (SELECT count(*) FROM pgraft_get_nodes()) AS nodes;
SELECT last_index = commit_index AS all_committed FROM pgraft_log_get_stats();

-- Metrics (docs/metrics.md): every family has samples or is per peer, a
-- one-node leader leads, its fsyncs are timed, and the writes above counted.
-- The worker copies its metrics every 50 ms: wait for the appends to show.
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN (SELECT value FROM pgraft_stat() WHERE metric = 'pgraft_proposals_committed_total')
              = (SELECT count(*) FROM pgraft_log_get_entries(1, 1000) WHERE type IN ('data', 'kv'));
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT count(DISTINCT metric) > 60 AS many, count(*) = count(DISTINCT metric || labels) AS unique_samples
  FROM pgraft_stat();
SELECT metric, value FROM pgraft_stat()
 WHERE metric IN ('pgraft_is_leader', 'pgraft_has_leader', 'pgraft_voters', 'pgraft_members',
                  'pgraft_worker_running', 'pgraft_elections_won_total')
 ORDER BY metric;
SELECT (SELECT value FROM pgraft_stat() WHERE metric = 'pgraft_proposals_committed_total')
     = (SELECT count(*) FROM pgraft_log_get_entries(1, 1000) WHERE type IN ('data', 'kv')) AS appends_counted,
       (SELECT value FROM pgraft_stat() WHERE metric = 'pgraft_proposals_committed_total')
     = (SELECT entries_appended FROM pgraft_log_get_stats()) AS as_in_stats;
SELECT value > 0 AS fsyncs_timed FROM pgraft_stat()
 WHERE metric = 'pgraft_disk_fsync_duration_seconds_count';
WITH s AS (SELECT * FROM pgraft_stat())
SELECT (SELECT value FROM s WHERE metric = 'pgraft_disk_fsync_duration_seconds_bucket' AND labels = 'le="+Inf"')
     = (SELECT value FROM s WHERE metric = 'pgraft_disk_fsync_duration_seconds_count') AS inf_bucket_is_count;
SELECT DISTINCT type FROM pgraft_stat() ORDER BY type;

-- Least privilege: PUBLIC may call nothing; pg_monitor may see the
-- status, and nothing that reveals payloads, writes or takes queue slots;
-- everything else takes explicit grants (docs/security.md).
CREATE ROLE pgraft_regress_user;
SET ROLE pgraft_regress_user;
SELECT pgraft_log_append(0, 'not allowed');
SELECT pgraft_init();
SELECT pgraft_add_node(2, '127.0.0.1', 7102);
SELECT pgraft_remove_node(2);
SELECT pgraft_force_new_cluster();
SELECT pgraft_set_debug(true);
SELECT pgraft_is_leader();
SELECT count(*) FROM pgraft_stat();
SELECT count(*) FROM pgraft_get_nodes();
SELECT count(*) FROM pgraft_log_get_entries(1, 10);
SELECT pgraft_log_sync_with_leader(1000) > 0;
RESET ROLE;
CREATE ROLE pgraft_regress_monitor IN ROLE pg_monitor;
SET ROLE pgraft_regress_monitor;
SELECT pgraft_is_leader(), pgraft_get_leader() = node_id AS leads FROM pgraft_get_cluster_status();
SELECT count(*) > 0 AS members FROM pgraft_get_nodes();
SELECT queue_capacity FROM pgraft_get_queue_status();
SELECT reason, refused FROM pgraft_get_refusals() ORDER BY reason;
SELECT count(*) > 0 AS metrics FROM pgraft_stat();
SELECT last_applied > 0 AS applied FROM pgraft_log_get_stats();
SELECT pgraft_log_commit(1, 1000), pgraft_log_apply(1, 1000);
SELECT count(*) FROM pgraft_log_get_entries(1, 10);    -- payloads: no
SELECT pgraft_log_sync_with_leader(1000) > 0;           -- queue slots: no
SELECT pgraft_log_append(0, 'not allowed');
RESET ROLE;
-- the writer recipe of docs/security.md
CREATE ROLE pgraft_regress_writer;
GRANT EXECUTE ON FUNCTION pgraft_log_append(bigint, text),
                          pgraft_log_get_entries(bigint, integer),
                          pgraft_log_sync_with_leader(integer) TO pgraft_regress_writer;
SET ROLE pgraft_regress_writer;
SELECT pgraft_log_append(0, 'granted') > 0 AS appended;
SELECT data FROM pgraft_log_get_entries(pgraft_log_sync_with_leader(1000), 1);
SELECT pgraft_add_node(2, '127.0.0.1', 7102);
RESET ROLE;
DROP ROLE pgraft_regress_user;
DROP ROLE pgraft_regress_monitor;
REVOKE ALL ON FUNCTION pgraft_log_append(bigint, text),
                       pgraft_log_get_entries(bigint, integer),
                       pgraft_log_sync_with_leader(integer) FROM pgraft_regress_writer;
DROP ROLE pgraft_regress_writer;

-- The key-value store (docs/kv.md): revisions, reads, compare-and-swap,
-- transactions, leases, and bad input refused before anything is queued.
SELECT pgraft_kv_put('config/a', '1') AS rev_a \gset
SELECT pgraft_kv_put('config/b', '2') > :rev_a AS later;
SELECT key, value, create_revision = mod_revision AS created, version, lease
  FROM pgraft_kv_get('config/a');
SELECT key, value FROM pgraft_kv_prefix('config/');
SELECT key FROM pgraft_kv_range('config/a', 'config/b');        -- [from, to)
SELECT key FROM pgraft_kv_range('config/', NULL, 1);            -- at most 1
SELECT key, value FROM pgraft_kv_get('config/a', serializable => true);
SELECT count(*) FROM pgraft_kv_get('nothing');
-- a value larger than the first reply segment: the read asks again with room
SELECT pgraft_kv_put('config/big', repeat('x', 100000)) > 0 AS put;
SELECT length(value) FROM pgraft_kv_get('config/big');
SELECT count(*), sum(length(value)) FROM pgraft_kv_prefix('config/');
SELECT pgraft_kv_delete('config/big');
SELECT pgraft_kv_cas('config/a', :rev_a, 'swapped') > :rev_a AS swapped;
SELECT pgraft_kv_cas('config/a', :rev_a, 'again') IS NULL AS stale_revision_loses;
SELECT pgraft_kv_cas('config/a', 'swapped', 'by value') IS NOT NULL AS by_value;
SELECT pgraft_kv_cas('config/new', 0::bigint, 'created') IS NOT NULL AS created_if_absent;
SELECT value, version FROM pgraft_kv_get('config/a');
SELECT succeeded FROM pgraft_kv_txn(
  '[{"key": "config/a", "target": "value", "op": "=", "value": "by value"},
    {"key": "config/missing", "target": "version", "value": 0}]',
  '[{"put": "config/c", "value": "3"}, {"delete": "config/b"}]',
  '[{"put": "config/failed", "value": "x"}]');
SELECT succeeded FROM pgraft_kv_txn(
  '[{"key": "config/a", "target": "mod_revision", "op": "<", "value": 1}]',
  '[]', '[{"put": "config/else", "value": "taken"}]');
SELECT key, value FROM pgraft_kv_prefix('config/');
SELECT max(mod_revision) AS rev_full FROM pgraft_kv_prefix('config/') \gset
SELECT pgraft_kv_delete('config/', prefix => true) AS deleted;
-- reading at a past revision: the store as it was then
SELECT key, value, version FROM pgraft_kv_prefix('config/', revision => :rev_a);
SELECT key, value FROM pgraft_kv_range('config/', NULL, 2, revision => :rev_full);
SELECT value FROM pgraft_kv_get('config/c', true, :rev_full);
SELECT count(*) FROM pgraft_kv_prefix('config/');               -- now: deleted
SELECT pgraft_kv_get('config/a', revision => -1);
DO $$
BEGIN
  PERFORM pgraft_kv_get('config/a', revision => 9223372036854775807);
EXCEPTION WHEN invalid_parameter_value THEN
  RAISE NOTICE 'future: %', SQLERRM LIKE 'revision % is in the future';
END $$;
SELECT pgraft_lease_grant(60000) AS lease \gset
SELECT pgraft_kv_put('session/1', 'alive', :lease) > 0 AS put_with_lease;
SELECT lease = :lease AS owned FROM pgraft_kv_get('session/1');
SELECT pgraft_lease_keepalive(:lease) AS ttl_ms;
SELECT pgraft_lease_revoke(:lease) AS keys_deleted;
SELECT count(*) FROM pgraft_kv_get('session/1');
SELECT pgraft_lease_keepalive(:lease);                          -- revoked
SELECT pgraft_kv_put('k', 'v', :lease);                         -- revoked
SELECT token > 0 AS locked FROM pgraft_lock('job', 60000) \gset
SELECT pgraft_lock('job', 60000, 100);                          -- held
SELECT pgraft_unlock('job', (SELECT mod_revision FROM pgraft_kv_get('pgraft/lock/job')));
SELECT pgraft_unlock('job', 1);                                 -- not the holder now
SELECT keys, quota > 0 AS has_quota, applied_index > 0 AS applied, length(digest)
  FROM pgraft_kv_status();
-- watches: the changes from a revision, on this node, in order
SELECT pgraft_kv_put('watched/x', '1') AS rev_w \gset
SELECT pgraft_kv_put('watched/y', '2') > 0 AS put;
SELECT pgraft_kv_delete('watched/', prefix => true) AS deleted;
SELECT revision - :rev_w AS after, type, key, value FROM pgraft_kv_changes(:rev_w, 'watched/');
SELECT count(*) FROM pgraft_kv_changes(:rev_w, 'watched/', 1);
SELECT count(*) FROM pgraft_kv_changes(:rev_w + 100, 'watched/', 0, 100);  -- waits, then none
-- with no history kept, the changes are gone: a clear error, never a gap
ALTER SYSTEM SET pgraft.kv_history_size = 0;
SELECT pg_reload_conf();
DO $$
DECLARE
  rev bigint;
BEGIN
  FOR i IN 1..100 LOOP
    rev := pgraft_kv_put('watched/z', 'z');
    BEGIN
      PERFORM pgraft_kv_changes(rev);
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
      RAISE NOTICE 'compacted: %', SQLERRM LIKE 'the changes from revision % are no longer kept';
      BEGIN
        PERFORM pgraft_kv_get('watched/z', revision => rev - 1);
      EXCEPTION WHEN object_not_in_prerequisite_state THEN
        RAISE NOTICE 'past revision: %', SQLERRM LIKE 'revision % is no longer kept';
      END;
      EXIT;
    END;
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
ALTER SYSTEM RESET pgraft.kv_history_size;
SELECT pg_reload_conf();
SELECT pgraft_kv_delete('watched/z');
-- bad input
SELECT pgraft_kv_changes(0);
SELECT pgraft_kv_changes(1, NULL, -1);
SELECT pgraft_kv_changes(1, '');
SELECT pgraft_kv_put('', 'v');
SELECT pgraft_kv_put(NULL, 'v');
SELECT pgraft_kv_put('k', NULL);
SELECT pgraft_kv_put(repeat('k', 4097), 'v');
SELECT pgraft_kv_put('k', 'v', -1);
SELECT pgraft_kv_range('a', NULL, -1);
SELECT pgraft_kv_cas('k', -1::bigint, 'v');
SELECT pgraft_lease_grant(0);
SELECT pgraft_lease_revoke(0);
SELECT pgraft_kv_txn('{}');
SELECT pgraft_kv_txn('[1]');
SELECT pgraft_kv_txn('[{"key": "k", "target": "colour", "value": 1}]');
SELECT pgraft_kv_txn('[{"key": "k", "target": "version", "op": "~", "value": 1}]');
SELECT pgraft_kv_txn('[{"key": "k", "target": "version", "value": "one"}]');
SELECT pgraft_kv_txn('[]', '[{"put": "k"}]');
SELECT pgraft_kv_txn('[]', '[{"get": "k"}]');
SELECT pgraft_kv_txn('[]', '[{"put": "k", "value": "1"}, {"put": "k", "value": "2"}]');
SELECT count(*) FROM pgraft_kv_get('k');                        -- nothing written
-- and PUBLIC may call none of it
CREATE ROLE pgraft_regress_kv_user;
SET ROLE pgraft_regress_kv_user;
SELECT pgraft_kv_put('k', 'v');
SELECT count(*) FROM pgraft_kv_get('k');
SELECT pgraft_lock('job');
RESET ROLE;
DROP ROLE pgraft_regress_kv_user;
