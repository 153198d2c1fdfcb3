# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# A node that was down while the log was compacted catches up through a
# snapshot.
#
# Compaction is switched on small at run time (ALTER SYSTEM of
# pgraft.snapshot_threshold and pgraft.max_log_entries, then a reload: both
# are SIGHUP settings).  One follower is stopped; the others take a few
# hundred appends, enough that the leader compacts away every entry the
# stopped follower would need.  The follower restarts and must be brought
# up to date by a snapshot: its snapshot_index and first_index move past
# the log it had, it holds every acknowledged entry after its snapshot, it
# agrees with the leader on the entries both still hold, and it then
# follows new appends like any other node.  The leader's log stays bounded
# meanwhile.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my @nodes = form_cluster(3);
my $leader = wait_for_leader(@nodes);
my ($lagging, $other) = followers_of($leader, @nodes);

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
			!grep {
				q1($_, 'SHOW pgraft.snapshot_threshold') ne '20'
			} @nodes;
		}),
	'the compaction settings are reloaded on every node');

my %acked;
for my $i (1 .. 10)
{
	$acked{ append($leader, "before-$i") } = "before-$i";
}
sync_all(@nodes);
my $before = log_stats($lagging);
note("the lagging node, node $lagging->{pgraft_id}, has log [$before->{first_index}, $before->{last_index}]");
$lagging->stop;

# A few hundred appends while it is down, from the leader and the other
# follower.
for my $node ($leader, $other)
{
	my $tag = "down-node$node->{pgraft_id}";
	my $out = q1($node,
		"SELECT pgraft_log_append(0, '$tag-' || g) || ':$tag-' || g FROM generate_series(1, 150) g"
	);
	for (split /\n/, $out)
	{
		my ($index, $data) = split /:/;
		$acked{$index} = $data;
	}
}
my ($last) = sort { $b <=> $a } keys %acked;

my $ls;
ok( poll_until(
		'the leader compacts past the stopped node',
		sub {
			$ls = log_stats($leader);
			$ls->{first_index} > $before->{last_index} + 1;
		}),
	'the leader compacted away the entries the stopped node lacks');
note("leader: first_index $ls->{first_index}, snapshot_index $ls->{snapshot_index}, last_index $ls->{last_index}");
cmp_ok($ls->{last_index} - $ls->{first_index} + 1, '<', 150,
	"the leader's log stays bounded");

# The lagging node restarts and is sent a snapshot.
$lagging->start;
ok( poll_until(
		'the restarted node catches up',
		sub { log_stats($lagging)->{last_applied} >= $last }),
	'the restarted node applies everything');
my $after = log_stats($lagging);
note("the restarted node: first_index $after->{first_index}, snapshot_index $after->{snapshot_index}, last_index $after->{last_index}");
cmp_ok($after->{snapshot_index}, '>', $before->{last_index},
	'its snapshot_index moved past the log it had');
cmp_ok($after->{first_index}, '>', $before->{last_index} + 1,
	'its first_index moved too: the old entries are gone');

my @missing = missing_entries($lagging, \%acked, $after->{snapshot_index} + 1);
is_deeply(\@missing, [], 'it holds every acknowledged entry after its snapshot');

my ($ret, $stdout, $stderr) = $lagging->psql('postgres',
	'SELECT count(*) FROM pgraft_log_get_entries(1, 5)');
like($stderr, qr/compacted away/,
	'reading before its first index says the entries were compacted away');

# Where both still hold entries, they agree.
my $from = (sort { $b <=> $a } (log_stats($leader)->{first_index}, $after->{first_index}))[0];
is( q1($lagging, "SELECT index, term, type, coalesce(data, '') FROM pgraft_log_get_entries($from, $last)"),
	q1($leader, "SELECT index, term, type, coalesce(data, '') FROM pgraft_log_get_entries($from, $last)"),
	"the restarted node and the leader agree from index $from on");
is( q1($lagging, 'SELECT entries_appended FROM pgraft_log_get_stats()'),
	q1($leader, 'SELECT entries_appended FROM pgraft_log_get_stats()'),
	'the snapshot carried the count of applied entries');

# It follows new appends like any other node.
my $new = append($other, 'after-catch-up');
ok(q1($lagging, 'SELECT pgraft_log_sync_with_leader()') >= $new,
	'the read barrier passes on the restarted node');
is(entry_map($lagging, $new, 1)->{$new}, 'after-catch-up',
	'the restarted node has a new entry');
wait_for_members(\@nodes, [ 1, 2, 3 ]);

$_->stop for @nodes;
done_testing();
