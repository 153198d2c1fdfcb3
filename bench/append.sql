SELECT pgraft_log_append(0, 'pgbench entry 0123456789abcdef');
