/*-------------------------------------------------------------------------
 *
 * settings.h
 *		pgraft's settings (defined in pgraft.c, documented in docs/sql.md).
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_SETTINGS_H
#define PGRAFT_SETTINGS_H

extern int	pgraft_node_id;
extern char *pgraft_address;
extern int	pgraft_port;
extern char *pgraft_cluster_name;
extern int	pgraft_heartbeat_interval;
extern int	pgraft_election_timeout;
extern bool pgraft_worker_enabled;
extern bool pgraft_debug_enabled;
extern int	pgraft_health_period_ms;
extern int	pgraft_snapshot_threshold;
extern int	pgraft_max_log_entries;
extern char *pgraft_data_directory;
extern int	pgraft_max_entry_size;
extern int	pgraft_kv_max_size;
extern int	pgraft_kv_history_size;
extern char *pgraft_kv_notify_database;
extern int	pgraft_request_timeout;
extern char *pgraft_auth_key_file;
extern bool pgraft_ssl;
extern char *pgraft_ssl_cert_file;
extern char *pgraft_ssl_key_file;
extern char *pgraft_ssl_ca_file;
extern char *pgraft_ssl_crl_file;
extern int	pgraft_max_requests;
extern char *pgraft_metrics_address;
extern int	pgraft_metrics_port;

/* The directory holding this node's Raft state. */
extern const char *pgraft_state_dir(void);

/* Why pgraft.heartbeat_interval and pgraft.election_timeout clash, or NULL. */
extern const char *pgraft_timing_error(void);

#endif							/* PGRAFT_SETTINGS_H */
