# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# Appended entries reach every node, in one order.
#
# pgraft_log_append() may be called on any node: a follower forwards the
# proposal to the leader, and the call returns the entry's index once a
# majority has it.  This test appends from the leader and from both
# followers, one at a time and then from three concurrent sessions, and
# checks that:
#   - every acknowledged index holds exactly the data that was acknowledged
#     for it, and no index was acknowledged twice;
#   - after pgraft_log_sync_with_leader() (a read barrier) a node shows
#     everything acknowledged before the call, with no further waiting;
#   - every node returns the same log (index, term, type, data), with terms
#     never decreasing;
#   - a payload of pgraft.max_entry_size (1 MB) proposed on a follower
#     arrives whole on every node;
#   - the term fence of pgraft_log_append() holds on a follower too.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my @nodes = form_cluster(3);
my $leader = wait_for_leader(@nodes);
my @followers = followers_of($leader, @nodes);

# Sequential appends, taking turns between the leader and the followers.
my %acked;    # index => data
my $last = 0;
my $monotonic = 1;
my @dups;
for my $round (1 .. 5)
{
	for my $node ($leader, @followers)
	{
		my $data = "seq-node$node->{pgraft_id}-$round";
		my $index = append($node, $data);
		$monotonic = 0 unless $index > $last;
		push @dups, "$index: $acked{$index} and $data" if exists $acked{$index};
		$acked{$index} = $data;
		$last = $index;
	}
}
ok($monotonic, 'sequential appends get increasing indexes');

# The read barrier: once it returns, this node shows every entry
# acknowledged before the call began.
for my $node (@nodes)
{
	my $barrier = q1($node, 'SELECT pgraft_log_sync_with_leader()');
	cmp_ok($barrier, '>=', $last,
		"node $node->{pgraft_id}: the read barrier covers index $last");
	my $map = entry_map($node, 1, $last);
	is_deeply($map, \%acked,
		"node $node->{pgraft_id}: every acknowledged entry, right after the barrier");
}

# Three concurrent sessions, one per node.
my @writers = map { start_writer($_, "conc$_->{pgraft_id}", 40) } @nodes;
my @acks;
for my $w (@writers)
{
	ok( poll_until(
			"writer $w->{name} finishes",
			sub { !writer_running($w) }),
		"writer $w->{name} finishes");
	my @a = stop_writer($w);
	is(scalar(@a), 40, "writer $w->{name}: 40 appends acknowledged")
	  or diag($w->{stderr});
	push @acks, @a;
}
for my $a (@acks)
{
	my ($index, $data) = @$a;
	push @dups, "$index: $acked{$index} and $data" if exists $acked{$index};
	$acked{$index} = $data;
	$last = $index if $index > $last;
}

is_deeply(\@dups, [], 'no index was acknowledged for two entries');

# A payload of the maximum size, proposed on a follower.
my $big = q1($followers[0],
	"SELECT pgraft_log_append(0, repeat('0123456789abcdef', 65536))");
$last = $big if $big > $last;

# The term fence, on a follower: the current term passes, another fails.
my $term = q1($leader, 'SELECT pgraft_get_term()');
my $fenced = q1($followers[1],
	"SELECT pgraft_log_append($term, 'fenced-in-term-$term')");
$acked{$fenced} = "fenced-in-term-$term";
$last = $fenced if $fenced > $last;
my ($ret, $stdout, $stderr) = $followers[1]->psql('postgres',
	'SELECT pgraft_log_append(' . ($term + 5) . ", 'wrong-term')");
isnt($ret, 0, 'an append fenced by a wrong term fails on a follower');
like($stderr, qr/ERROR:.*term/, '... with an error about the term');

my $synced = sync_all(@nodes);
cmp_ok($synced, '>=', $last, 'every node passes the read barrier');

# Every node: the same log, every acknowledged entry at its index.
my @reference;
for my $node (@nodes)
{
	my $id = $node->{pgraft_id};
	my @e = q1($node,
		"SELECT index, term, type, CASE WHEN length(data) > 1000 THEN md5(data) ELSE coalesce(data, '') END "
		  . "FROM pgraft_log_get_entries(1, $last)");
	my $text = $e[0];
	my @rows = map { [ split /\|/, $_, 4 ] } split /\n/, $text;

	is(scalar(@rows), $last, "node $id: $last entries");
	is_deeply([ map { $_->[0] } @rows ], [ 1 .. $last ],
		"node $id: indexes 1..$last without gaps");
	my $terms_ok = 1;
	for my $i (1 .. $#rows)
	{
		$terms_ok = 0 if $rows[$i][1] < $rows[ $i - 1 ][1];
	}
	ok($terms_ok, "node $id: terms never decrease along the log");
	my %data = map { $_->[0] => $_->[3] } grep { $_->[2] eq 'data' } @rows;
	my @missing = grep { ($data{$_} // '') ne $acked{$_} } sort { $a <=> $b } keys %acked;
	is_deeply(\@missing, [], "node $id: every acknowledged entry at its index");
	is( $data{$big},
		q1($node, "SELECT md5(repeat('0123456789abcdef', 65536))"),
		"node $id: the 1 MB entry arrived whole");
	if (@reference)
	{
		is_deeply(\@rows, \@reference, "node $id: the same log as node 1");
	}
	else
	{
		@reference = @rows;
	}
}

$_->stop for @nodes;
done_testing();
