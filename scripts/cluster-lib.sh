# Shell functions for a local pgraft cluster on loopback, shared by the demo
# and the benchmarks.  Source it, set CLUSTER_DIR (owned by CLUSTER_USER),
# CLUSTER_PG_BASE and CLUSTER_RAFT_BASE, then call cluster_create N.
# Servers run as CLUSTER_USER (PostgreSQL refuses to run as root).

export PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BIN=$("$PG_CONFIG" --bindir)
CLUSTER_USER=${CLUSTER_USER:-postgres}
CLUSTER_NAME=${CLUSTER_NAME:-pgraft_cluster}

# Run a command as CLUSTER_USER, from a directory it can read (the checkout
# may live where it cannot, e.g. under /root, and initdb needs its cwd).
as_user() { (cd "$CLUSTER_DIR" && runuser -u "$CLUSTER_USER" -- env PATH="$PG_BIN:$PATH" "$@"); }
pgport() { echo $((CLUSTER_PG_BASE + $1)); }
raftport() { echo $((CLUSTER_RAFT_BASE + $1)); }

# sql N [psql args...]: run psql against node N
sql() {
	local n=$1
	shift
	as_user psql -X -h "$CLUSTER_DIR" -p "$(pgport "$n")" -U postgres -v ON_ERROR_STOP=1 "$@"
}

node_start() { as_user pg_ctl -D "$CLUSTER_DIR/n$1" -l "$CLUSTER_DIR/n$1.log" -w start >/dev/null; }
node_stop() { as_user pg_ctl -D "$CLUSTER_DIR/n$1" -m fast -w stop >/dev/null 2>&1 || true; }
node_pid() { head -n 1 "$CLUSTER_DIR/n$1/postmaster.pid"; }

# The pgraft worker's pid on node N: the postmaster's child of that title.
worker_pid() {
	local p
	for p in $(pgrep -P "$(node_pid "$1")"); do
		grep -q "pgraft worker" "/proc/$p/cmdline" 2>/dev/null && { echo "$p"; return; }
	done
}

# Wait until pid is gone for good: PID 1 reaps a killed postmaster only
# after a second or two, and until then its zombie makes the data directory
# look in use.
wait_gone() { while [ -e "/proc/$1" ]; do sleep 0.05; done; }

# cluster_create N [extra postgresql.conf lines]: N servers, started, with
# the extension created; none initialized.
cluster_create() {
	local count=$1 extra=${2:-} n
	for n in $(seq 1 "$count"); do
		as_user initdb -D "$CLUSTER_DIR/n$n" -A trust -U postgres >/dev/null
		cat >>"$CLUSTER_DIR/n$n/postgresql.conf" <<-CONF
			port = $(pgport "$n")
			listen_addresses = ''
			unix_socket_directories = '$CLUSTER_DIR'
			shared_preload_libraries = 'pgraft'
			pgraft.node_id = $n
			pgraft.address = '127.0.0.1'
			pgraft.port = $(raftport "$n")
			pgraft.cluster_name = '$CLUSTER_NAME'
			$extra
		CONF
		node_start "$n"
		sql "$n" -qc "CREATE EXTENSION IF NOT EXISTS pgraft"
	done
}

# cluster_form N: node 1 founds the cluster and adds the others; returns
# once all N are voters.
cluster_form() {
	local count=$1 n
	sql 1 -qAtc "SELECT pgraft_init()" >/dev/null
	for n in $(seq 2 "$count"); do
		sql 1 -qAtc "SELECT pgraft_add_node($n, '127.0.0.1', $(raftport "$n"))" >/dev/null
	done
	cluster_wait_voters "$count" 1
}

# cluster_wait_voters N NODE: until NODE sees N voters (up to 30 s).
cluster_wait_voters() {
	local count=$1 on=$2 i
	for i in $(seq 1 300); do
		[ "$(sql "$on" -Atc "SELECT count(*) FROM pgraft_get_nodes() WHERE role = 'voter'" 2>/dev/null)" = "$count" ] && return 0
		sleep 0.1
	done
	echo "cluster did not reach $count voters" >&2
	return 1
}

# cluster_leader NODE: the leader NODE knows of (0 if none).
cluster_leader() { sql "$1" -Atc "SELECT pgraft_get_leader()" 2>/dev/null || echo 0; }

cluster_destroy() {
	local d
	for d in "$CLUSTER_DIR"/n*; do
		[ -f "$d/postmaster.pid" ] && as_user pg_ctl -D "$d" -m immediate stop >/dev/null 2>&1
	done
	rm -rf "$CLUSTER_DIR"
}
