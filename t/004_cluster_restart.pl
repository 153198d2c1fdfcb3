# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# A full-cluster restart recovers everything.
#
# All three servers go down together, so no node can learn anything from a
# live peer: each must rebuild its Raft state (term, vote, log, membership,
# commit point) from its own files.  Twice: once with a clean shutdown
# (SIGTERM to the worker), once with kill -9 of every postmaster while a
# session is appending.  Each time the test checks that:
#   - the cluster elects a leader again and every node lists the same three
#     voters, with their addresses, without any pgraft_init() or
#     pgraft_add_node();
#   - the log up to the last entry acknowledged before the restart is
#     exactly the same (index, term, type, data) on every node as before;
#   - the term did not go backwards;
#   - new appends succeed and are replicated to all three.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my @nodes = form_cluster(3);
my $leader = wait_for_leader(@nodes);

my %acked;
for my $i (1 .. 30)
{
	my $node = $nodes[ $i % 3 ];
	$acked{ append($node, "before-restart-$i") } = "before-restart-$i";
}

sub log_text
{
	my ($node, $upto) = @_;
	return q1($node,
		"SELECT index, term, type, coalesce(data, '') FROM pgraft_log_get_entries(1, $upto)"
	);
}

sub check_restart
{
	my ($how, $stop, $start) = @_;
	my ($last) = sort { $b <=> $a } keys %acked;
	sync_all(@nodes);
	my $before = log_text($nodes[0], $last);
	my $term_before = q1($nodes[0], 'SELECT pgraft_get_term()');
	my @lines = split /\n/, $before;
	is(scalar(@lines), $last, "$how: node 1 has $last entries before");

	$stop->();
	$start->();

	my $l = wait_for_leader(@nodes);
	ok(defined $l, "$how: the cluster elects a leader again");
	wait_for_members(\@nodes, [ 1, 2, 3 ]);
	for my $node (@nodes)
	{
		my @m = members($node);
		is_deeply(
			[ map { "$_->{id}|$_->{address}|$_->{port}" } @m ],
			[ map { "$_->{pgraft_id}|127.0.0.1|$_->{pgraft_port}" } @nodes ],
			"$how: node $node->{pgraft_id} remembers every member's address");
		cmp_ok(q1($node, 'SELECT pgraft_get_term()'), '>=', $term_before,
			"$how: node $node->{pgraft_id}'s term did not go backwards");
	}
	sync_all(@nodes);
	for my $node (@nodes)
	{
		is(log_text($node, $last), $before,
			"$how: node $node->{pgraft_id} has the same $last entries as before");
	}

	# Writes go on, from every node.
	my @new;
	for my $node (@nodes)
	{
		my $data = "after-$how-node$node->{pgraft_id}";
		my $index = append($node, $data);
		cmp_ok($index, '>', $last, "$how: an append on node $node->{pgraft_id} succeeds");
		$acked{$index} = $data;
		push @new, $index;
	}
	sync_all(@nodes);
	for my $node (@nodes)
	{
		my $map = entry_map($node, 1, $new[-1]);
		is_deeply([ map { $map->{$_} // '' } @new ], [ map { $acked{$_} } @new ],
			"$how: node $node->{pgraft_id} has the new entries");
	}
	return;
}

check_restart(
	'clean restart',
	sub { $_->stop for @nodes },
	sub { $_->start for @nodes });

# Now every postmaster is killed while a session is appending.
my $w = start_writer($nodes[1], 'crash');
check_restart(
	'kill -9 of every node',
	sub {
		ok( poll_until(
				'the writer has appends acknowledged',
				sub { scalar(writer_acks($w)) >= 30 }),
			'a session appends before the crash');
		kill9_and_wait($_) for @nodes;
		my @a = stop_writer($w);
		my @dups = grep { exists $acked{ $_->[0] } } @a;
		is_deeply(\@dups, [], 'no index was acknowledged twice');
		$acked{ $_->[0] } = $_->[1] for @a;
		note(scalar(@a) . ' appends acknowledged before the crash');
	},
	sub { $_->start for @nodes });

# Every entry acknowledged before the crash, at its index, on every node.
for my $node (@nodes)
{
	my @missing = missing_entries($node, \%acked);
	is_deeply(\@missing, [],
		"node $node->{pgraft_id} holds every entry ever acknowledged");
}

$_->stop for @nodes;

# pgraft_dump (installed next to pg_ctl) reads a stopped node's state from
# its storage directory, the node's state directory above it, or $PGDATA.
my $pgdata = $nodes[0]->data_dir;
for my $dir ($pgdata, "$pgdata/pgraft", "$pgdata/pgraft/raft")
{
	command_like(
		[ 'pgraft_dump', '--verify', $dir ],
		qr{^pgraft storage directory: \Q$pgdata/pgraft/raft\E\n.*^verify: every checksum matches$}ms,
		"pgraft_dump --verify reads $dir");
}
command_fails_like(
	[ 'pgraft_dump', "$pgdata/base" ],
	qr{no pgraft storage in "\Q$pgdata/base\E".*pass a node's state directory \(\$PGDATA/pgraft}s,
	'pgraft_dump names the directories to pass');
done_testing();
