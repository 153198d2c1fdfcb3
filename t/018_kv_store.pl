# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# The key-value store on a three-node cluster (docs/kv.md).
#
# The log is compacted small from the start (snapshot_threshold 20,
# max_log_entries 10; a compaction also waits until the entries it drops
# outweigh the snapshot, which overwrites of one key see to), so that
# everything below lives through many snapshots:
#   - puts from every node are read back, the same, on every node, and
#     every node's store reaches the same digest at the same index;
#   - compare-and-swap races between sessions on all three nodes: in every
#     round exactly one session wins, and the key holds its value;
#   - the whole store survives compaction: every key is still there long
#     after the entries that wrote it are gone from the log, and a node
#     restarted cleanly rebuilds the same store from its snapshot;
#   - a node stopped while the others write catches up from a snapshot and
#     reaches the same digest;
#   - watches: sessions that LISTEN on channel pgraft_kv on every node are
#     told of every change, in order, and pgraft_kv_changes() gives every
#     node the same changes in the same order; reads at a past revision
#     give every node the keys as they were then;
#   - a lock taken through the leader, whose server is then killed with
#     kill -9, is still held just after (its lease has time left, and the
#     new leader grants every lease an election timeout of grace), and is
#     taken by a session on another node once the lease expires, with a
#     larger fencing token.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my @nodes = form_cluster(3);
my $leader = wait_for_leader(@nodes);

for my $node (@nodes)
{
	$node->safe_psql(
		'postgres', q{
ALTER SYSTEM SET pgraft.snapshot_threshold = 20;
ALTER SYSTEM SET pgraft.max_log_entries = 10;
SELECT pg_reload_conf();
});
}
ok( poll_until(
		'the settings are reloaded',
		sub {
			!grep { q1($_, 'SHOW pgraft.max_log_entries') ne '10' } @nodes;
		}),
	'the compaction settings are reloaded on every node');

# The store's applied index and digest, the same on every running node.
sub same_digest
{
	my ($what, @on) = @_;
	my %seen;
	my $ok = poll_until(
		$what,
		sub {
			%seen = map {
				$_->{pgraft_id} =>
				  q1($_, 'SELECT applied_index || \' \' || digest FROM pgraft_kv_status()')
			} @on;
			my %distinct = map { $_ => 1 } values %seen;
			return keys %distinct == 1;
		});
	note("node $_: store at $seen{$_}") for sort keys %seen;
	return $ok;
}

# ---------------------------------------------------------------------
# Puts from every node
# ---------------------------------------------------------------------
for my $node (@nodes)
{
	my $id = $node->{pgraft_id};
	q1($node,
		"SELECT pgraft_kv_put('node$id/key' || lpad(g::text, 3, '0'), 'value ' || g || ' from $id') FROM generate_series(1, 40) g"
	);
}
# a compaction waits until the entries it drops outweigh the snapshot it
# writes: overwrites of one key grow the log, not the store
q1($leader,
	"SELECT count(pgraft_kv_put('churn', repeat('c', 100) || g)) FROM generate_series(1, 300) g");
my $expected = join("\n",
	map { my $id = $_; map { sprintf("node%d/key%03d|value %d from %d", $id, $_, $_, $id) } 1 .. 40 }
	  1 .. 3);
for my $node (@nodes)
{
	is(q1($node, "SELECT key, value FROM pgraft_kv_prefix('node') ORDER BY key"),
		$expected, "node $node->{pgraft_id} reads back every put of every node");
}
ok(same_digest('the stores agree after the puts', @nodes),
	'every node reaches the same store, digest and index');
cmp_ok(log_stats($leader)->{first_index},
	'>', 100, 'the log was compacted far past the first puts');
ok( poll_until(
		'the metrics show the store',
		sub {
			!grep {
				q1($_, "SELECT string_agg(value::text, ',' ORDER BY metric) FROM pgraft_stat() WHERE metric IN ('pgraft_kv_keys', 'pgraft_kv_size_bytes')")
				  ne '121,'
				  . q1($_,
					"SELECT sum(octet_length(key) + octet_length(value)) FROM (SELECT * FROM pgraft_kv_prefix('node') UNION ALL SELECT * FROM pgraft_kv_get('churn')) k"
				  )
			} @nodes;
		}),
	'every node reports the keys and their bytes in its metrics');

# ---------------------------------------------------------------------
# Compare-and-swap races: exactly one winner per round
# ---------------------------------------------------------------------
for my $round (1 .. 5)
{
	my $rev = q1($leader, "SELECT pgraft_kv_put('race', 'round $round')");
	my @sessions;
	for my $i (0 .. 5)
	{
		my $node = $nodes[ $i % 3 ];
		my $s = { out => '', err => '' };
		$s->{h} = IPC::Run::start(
			[
				'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
				'-d', $node->connstr('postgres'), '-c',
				"SELECT coalesce(pgraft_kv_cas('race', ${rev}::bigint, 'winner $i')::text, 'lost')"
			],
			'>', \$s->{out}, '2>', \$s->{err});
		push @sessions, $s;
	}
	$_->{h}->finish for @sessions;
	my @won = grep { $sessions[$_]{out} =~ /^\d+$/m } 0 .. 5;
	my @lost = grep { $sessions[$_]{out} =~ /^lost$/m } 0 .. 5;
	is(scalar(@won), 1, "round $round: exactly one session wins the compare-and-swap")
	  or diag(join("\n", map { "session $_: $sessions[$_]{out} $sessions[$_]{err}" } 0 .. 5));
	is(scalar(@lost), 5, "round $round: the five others lose, without an error");
	is(q1($nodes[ $round % 3 ], "SELECT value FROM pgraft_kv_get('race')"),
		"winner $won[0]", "round $round: the key holds the winner's value");
}

# ---------------------------------------------------------------------
# A clean restart rebuilds the store from the snapshot and the log
# ---------------------------------------------------------------------
my ($restarted) = followers_of($leader, @nodes);
$restarted->restart;
ok(same_digest('the restarted node rebuilds the same store', @nodes),
	'a node restarted cleanly rebuilds the same store');
is(q1($restarted, "SELECT count(*) FROM pgraft_kv_prefix('node')"),
	'120', 'with every key');

# ---------------------------------------------------------------------
# A node that was down catches up from a snapshot
# ---------------------------------------------------------------------
my ($lagging, $other) = followers_of($leader, @nodes);
my $before = log_stats($lagging);
$lagging->stop;
q1($other,
	"SELECT pgraft_kv_put('while-down/' || g, repeat('x', g)) FROM generate_series(1, 60) g");
q1($other,
	"SELECT count(pgraft_kv_put('churn', repeat('c', 100) || g)) FROM generate_series(1, 300) g");
q1($leader, "SELECT pgraft_kv_delete('node3/', prefix => true)");
ok( poll_until(
		'the leader compacts past the stopped node',
		sub { log_stats($leader)->{first_index} > $before->{last_index} + 1 }),
	'the leader compacted away what the stopped node lacks');
$lagging->start;
ok(same_digest('the node that was down reaches the same store', @nodes),
	'the node that was down reaches the same store');
cmp_ok(log_stats($lagging)->{snapshot_index},
	'>', $before->{last_index}, 'it caught up through a snapshot');
is( q1($lagging,
		"SELECT count(*), sum(length(value)) FROM pgraft_kv_prefix('while-down/', serializable => true)"),
	'60|1830',
	'it holds every key written while it was down');
is(q1($lagging, "SELECT count(*) FROM pgraft_kv_prefix('node3/')"),
	'0', 'and none that was deleted meanwhile');

# ---------------------------------------------------------------------
# Watches: notifications and the history on every node
# ---------------------------------------------------------------------
my $from = q1($leader, 'SELECT revision FROM pgraft_kv_status()') + 1;
my @listeners;
for my $node (@nodes)
{
	my $l = { node => $node, out => '', err => '' };
	$l->{h} = IPC::Run::start(
		[
			'psql', '-X', '-q', '-d', $node->connstr('postgres'),
			'-c', 'LISTEN pgraft_kv',
			'-c', q{DO $$ BEGIN
				FOR i IN 1..600 LOOP
					EXIT WHEN EXISTS (SELECT FROM pgraft_kv_get('watch/done', serializable => true));
					PERFORM pg_sleep(0.1);
				END LOOP; END $$},
			'-c', 'SELECT pg_sleep(2)'
		],
		'>', \$l->{out}, '2>', \$l->{err});
	push @listeners, $l;
}
# the sessions listen before the first change: their LISTEN has run once
# each shows up among the backends
ok( poll_until(
		'every listener listens',
		sub {
			!grep {
				q1($_, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DO%watch/done%'") eq '0'
			} @nodes;
		}),
	'a session listens on every node');
for my $i (1 .. 20)
{
	my $node = $nodes[ $i % 3 ];
	q1($node, "SELECT pgraft_kv_put('watch/' || lpad('$i', 2, '0'), 'v$i')");
}
q1($nodes[0], "SELECT pgraft_kv_delete('watch/', prefix => true)");
q1($nodes[1], "SELECT pgraft_kv_put('watch/done', 'yes')");
$_->{h}->finish for @listeners;
my @want;
for my $node (@nodes)
{
	my $changes = q1($node,
		"SELECT revision || ' ' || type || ' ' || key FROM pgraft_kv_changes($from, 'watch/')");
	@want = split /\n/, $changes unless @want;
	is($changes, join("\n", @want),
		"node $node->{pgraft_id}: pgraft_kv_changes() gives the same changes in the same order");
}
is(scalar(@want), 41, 'twenty puts, their twenty deletes and one more put');

# Reading at a past revision: every node, from its own history, gives the
# keys as they were just before the delete, and none before the puts.
my ($deleted_at) = map { /^(\d+) delete/ ? $1 : () } @want;
my $before_delete = join("\n", map { sprintf("watch/%02d v%d", $_, $_) } 1 .. 20);
for my $node (@nodes)
{
	is( q1($node,
			"SELECT key || ' ' || value FROM pgraft_kv_prefix('watch/', 0, true, $deleted_at - 1)"),
		$before_delete,
		"node $node->{pgraft_id}: read at revision @{[$deleted_at - 1]}, the twenty keys as they were");
	is(q1($node, "SELECT count(*) FROM pgraft_kv_prefix('watch/', 0, true, $from - 1)"),
		'0', "node $node->{pgraft_id}: read at revision @{[$from - 1]}, none yet");
}
for my $l (@listeners)
{
	my @told;
	while ($l->{out} =~ /"revision": (\d+), "type": "(\w+)", "key": "(watch\/[^"]+)"/g)
	{
		push @told, "$1 $2 $3";
	}
	is(join("\n", @told), join("\n", @want),
		"node $l->{node}{pgraft_id}: the listener was told of every change, in order")
	  or diag("listener said: $l->{out} $l->{err}");
}

# ---------------------------------------------------------------------
# A lock whose holder's server dies is released when its lease expires
# ---------------------------------------------------------------------
$leader = wait_for_leader(@nodes);
my $token1 = q1($leader, "SELECT token FROM pgraft_lock('nightly-job', 8000)");
ok($token1 > 0, "the lock is taken through the leader, token $token1");
my @rest = followers_of($leader, @nodes);
kill9_and_wait($leader);
my $new_leader = wait_for_leader(@rest);
my ($ret, $out, $err) = $rest[0]->psql('postgres', "SELECT pgraft_lock('nightly-job', 8000, 0)");
like($err, qr/held by another session/,
	'just after the kill, the lock is still held: its lease has time left');
my $token2 = q1($rest[1], "SELECT token FROM pgraft_lock('nightly-job', 8000, 60000)");
cmp_ok($token2, '>', $token1,
	"once the lease expired, a session on another node takes the lock with a larger token ($token2)");
is(q1($rest[0], "SELECT count(*) FROM pgraft_kv_get('pgraft/lock/nightly-job')"),
	'1', 'one holder');
is(q1($rest[1], "SELECT pgraft_unlock('nightly-job', $token1)"),
	'f', 'the old token cannot release it');
is(q1($rest[1], "SELECT pgraft_unlock('nightly-job', $token2)"),
	't', 'its holder releases it');

# The killed node comes back to the same store.
$leader->start;
ok(same_digest('the killed node comes back to the same store', @nodes),
	'the killed node comes back to the same store');

$_->stop for @nodes;
done_testing();
