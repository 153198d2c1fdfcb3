# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# kill -9 of the leader: a new leader, writes go on, nothing acknowledged
# is lost.
#
# Three sessions (one per node, the followers' proposals forwarded) append
# in loops while the leader's postmaster is killed with SIGKILL; its pgraft
# worker dies with it, mid-batch, without a goodbye to its peers.  The test
# records every append that was acknowledged to a client (index and data),
# whoever answered it, then checks that:
#   - the two survivors elect a new leader among themselves, in a higher
#     term, and the sessions on the survivors keep getting appends
#     acknowledged (through the new leader);
#   - no index was ever acknowledged for two different entries;
#   - every acknowledged entry is at its index on both survivors, and again
#     on all three nodes once the killed node has restarted and caught up;
#   - the three logs are then identical.
# Acknowledged means durable on a majority: losing one after a crash would
# be the worst bug a consensus log can have.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my @nodes = form_cluster(3);
my $leader = wait_for_leader(@nodes);
my $old_term = q1($leader, 'SELECT pgraft_get_term()');
my @survivors = followers_of($leader, @nodes);

my %writer;
$writer{ $_->{pgraft_id} } = start_writer($_, "w$_->{pgraft_id}") for @nodes;

# Let the writers run until each has had a few appends acknowledged.
ok( poll_until(
		'every writer has appends acknowledged',
		sub {
			!grep { scalar(writer_acks($_)) < 20 } values %writer;
		}),
	'every writer has appends acknowledged before the kill');

kill9_and_wait($leader);
note("killed the leader, node $leader->{pgraft_id}");
my %acks_at_kill =
  map { $_ => scalar(writer_acks($writer{$_})) } keys %writer;

my $new_leader = wait_for_leader(@survivors);
ok(defined $new_leader, 'the survivors elect a new leader');
isnt($new_leader->{pgraft_id}, $leader->{pgraft_id}, 'the new leader is another node');
is(leader_of(@survivors), $new_leader, 'exactly that node says it leads');
cmp_ok(q1($new_leader, 'SELECT pgraft_get_term()'), '>', $old_term,
	'the new leader rules in a higher term');

# Writes continue on both survivors, through the new leader.
for my $node (@survivors)
{
	my $w = $writer{ $node->{pgraft_id} };
	my $base = $acks_at_kill{ $node->{pgraft_id} };
	ok( poll_until(
			"writer $w->{name} keeps appending",
			sub { scalar(writer_acks($w)) >= $base + 20 }),
		"the session on node $node->{pgraft_id} keeps appending after the failover"
	) or diag($w->{stderr});
}
my $direct = append($new_leader, 'after-failover');
ok($direct > 0, 'a direct append on the new leader succeeds');

# Collect every acknowledgement: the killed node's session ended with it.
my %acked = ($direct => 'after-failover');
my @dups;
my $last = $direct;
for my $id (sort keys %writer)
{
	my $w = $writer{$id};
	my @a = stop_writer($w);
	note("writer $w->{name}: " . scalar(@a) . ' acknowledged, '
		  . (() = $w->{stderr} =~ /fail /g) . ' failed');
	for my $a (@a)
	{
		my ($index, $data) = @$a;
		push @dups, "$index: $acked{$index} and $data" if exists $acked{$index};
		$acked{$index} = $data;
		$last = $index if $index > $last;
	}
}
is_deeply(\@dups, [], 'no index was acknowledged for two entries');
cmp_ok(scalar(keys %acked), '>=', 60 + 40, 'enough entries were acknowledged');

sub check_acked
{
	my ($when, @on) = @_;
	sync_all(@on);
	for my $node (@on)
	{
		my @missing = missing_entries($node, \%acked);
		is_deeply(\@missing, [],
			"$when: node $node->{pgraft_id} holds every acknowledged entry at its index"
		) or diag(scalar(@missing) . ' missing, first ' . $missing[0]);
	}
}

check_acked('after the failover', @survivors);

# The killed node restarts, recovers from its own files and catches up.
$leader->start;
my $final = wait_for_leader(@nodes);
ok(defined $final, 'the three nodes agree on a leader after the restart');
wait_for_members(\@nodes, [ 1, 2, 3 ]);
my $restarted = append($leader, 'on-the-restarted-node');
$acked{$restarted} = 'on-the-restarted-node';
$last = $restarted if $restarted > $last;
check_acked('after the restart', @nodes);

my @logs = map {
	q1($_, "SELECT index, term, type, coalesce(data, '') FROM pgraft_log_get_entries(1, $last)")
} @nodes;
is($logs[1], $logs[0], 'node 2 has the same log as node 1');
is($logs[2], $logs[0], 'node 3 has the same log as node 1');

$_->stop for @nodes;
done_testing();
