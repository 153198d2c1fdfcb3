# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# Membership changes online: two nodes added, a follower, the leader and
# another follower removed, while a session keeps appending.
#
# Membership travels through the replicated log, so every node must learn
# every change, not just the node the change was asked on.  This test
# grows a 3-node cluster to 5 and shrinks it to 2, asking for each change
# on a different kind of member (a follower, the leader, a newly added
# node), and checks after each step that pgraft_get_nodes() on every
# remaining node lists exactly the expected members, all promoted to
# voters.  Removing the leader must hand leadership to another voter first:
# a new leader among the remaining nodes, and the cluster keeps taking
# writes.  A node that removes itself must get its answer too (it can only
# see its removal commit as the leader that commits it).  A session appends
# through a follower the whole time; at the end
# every acknowledged entry is on every remaining node.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my @nodes = form_cluster(3);
my $leader = wait_for_leader(@nodes);
my ($writer_node, $doomed_follower) = followers_of($leader, @nodes);

my $w = start_writer($writer_node, 'members');
sub acks_grow
{
	my ($what) = @_;
	my $base = scalar(writer_acks($w));
	ok(poll_until("appends go on $what", sub { scalar(writer_acks($w)) >= $base + 10 }),
		"appends go on $what")
	  or diag($w->{stderr});
}
acks_grow('before the changes');

# Two new nodes, started empty; one added through a follower, one through
# the leader.
my $n4 = create_node(4);
my $n5 = create_node(5);
$_->safe_psql('postgres', 'CREATE EXTENSION pgraft') for ($n4, $n5);
is(add_node($writer_node, $n4), 't', 'node 4 added through a follower');
is(add_node($leader, $n5), 't', 'node 5 added through the leader');
my @five = (@nodes, $n4, $n5);
wait_for_members(\@five, [ 1 .. 5 ]);
acks_grow('after adding nodes 4 and 5');

# The same id with another address is refused; nothing changes.
my ($ret, $stdout, $stderr) = $n5->psql('postgres',
	"SELECT pgraft_add_node(4, '127.0.0.1', $n5->{pgraft_port} + 1000)");
isnt($ret, 0, 'adding node 4 again with another address fails');
like($stderr, qr/ERROR/, '... with an error') or diag($stderr);

# A follower removed, asked on a newly added node.
my $doomed_id = $doomed_follower->{pgraft_id};
is(q1($n5, "SELECT pgraft_remove_node($doomed_id)"), 't',
	"node $doomed_id (a follower) removed through node 5");
my @four = grep { $_ != $doomed_follower } @five;
wait_for_members(\@four, [ map { $_->{pgraft_id} } @four ]);
acks_grow("after removing node $doomed_id");
is(q1($doomed_follower, 'SELECT pgraft_is_leader()'), 'f',
	'the removed follower does not lead');
$doomed_follower->stop;

# The leader removed, asked on the leader itself: leadership moves first.
my $lid = $leader->{pgraft_id};
is(q1($leader, "SELECT pgraft_remove_node($lid)"), 't',
	"node $lid (the leader) removed through itself");
my @three = grep { $_ != $leader } @four;
my $new_leader = wait_for_leader(@three);
ok(defined $new_leader && $new_leader != $leader,
	'a remaining node leads after the leader was removed');
wait_for_members(\@three, [ map { $_->{pgraft_id} } @three ]);
acks_grow("after removing the leader, node $lid");
ok( poll_until(
		'the removed leader steps down',
		sub { q1($leader, 'SELECT pgraft_is_leader()') eq 'f' }),
	'the removed leader no longer leads');
$leader->stop;

# A follower removes itself: it has to take leadership to see its own
# removal commit, then steps down.
my ($self_remover) = grep { $_ != $writer_node && $_ != $new_leader } @three;
my $sid = $self_remover->{pgraft_id};
is(q1($self_remover, "SELECT pgraft_remove_node($sid)"), 't',
	"node $sid (a follower) removed through itself");
my @two = grep { $_ != $self_remover } @three;
my $two_leader = wait_for_leader(@two);
ok(defined $two_leader, 'the two remaining nodes agree on a leader');
wait_for_members(\@two, [ map { $_->{pgraft_id} } @two ]);
acks_grow("after node $sid removed itself");
$self_remover->stop;

# The remaining nodes still form a working cluster: a write from each,
# then every acknowledged entry everywhere.
my %acked;
my @dups;
for my $node (@two)
{
	my $data = "after-changes-node$node->{pgraft_id}";
	my $index = append($node, $data);
	$acked{$index} = $data;
}
for my $a (stop_writer($w))
{
	push @dups, $a->[0] if exists $acked{ $a->[0] };
	$acked{ $a->[0] } = $a->[1];
}
is_deeply(\@dups, [], 'no index was acknowledged twice');
sync_all(@two);
for my $node (@two)
{
	my @missing = missing_entries($node, \%acked);
	is_deeply(\@missing, [],
		"node $node->{pgraft_id} holds every acknowledged entry");
}

$_->stop for @two;
done_testing();
