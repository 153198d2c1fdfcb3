# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# The seed's Quick Start, verbatim, forms a 3-node cluster.
#
# A user who follows the README runs, on node 1:
#     CREATE EXTENSION IF NOT EXISTS pgraft;
#     SELECT pgraft_init();
#     SELECT * FROM pgraft_get_cluster_status();
# and then "on each additional node, add peers":
#     SELECT pgraft_add_node(2, ...); SELECT pgraft_add_node(3, ...);
#     SELECT pgraft_get_worker_state(); SELECT * FROM pgraft_get_nodes();
# The adds are run on node 1 first, then again, unchanged, on nodes 2 and 3
# once they are members: there they must be a harmless success, not an error
# and not a second copy of a member.  Afterwards every status function must
# tell the same story on every node: one leader, the same term, three
# voters, the leader flagged exactly once.  This guards against status that
# is only local (a follower that never learns its peers) and against the
# faked counters of the implementation the seeds describe.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my @nodes = map { create_node($_) } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;

# 1. Initialize the cluster (on node 1).
my $out = $n1->safe_psql(
	'postgres', q{
CREATE EXTENSION IF NOT EXISTS pgraft;
SELECT pgraft_init();
SELECT * FROM pgraft_get_cluster_status();
});
like($out, qr/^t\n1\|\d+\|1\|leader\|1\|\d+\|\d+\|1\|1$/,
	'pgraft_init() founds a one-node cluster led by node 1, after one pre-vote and one election');

# 2. Add additional nodes: the Quick Start's section 2, with our ports.
my $add_sql = qq{
SELECT pgraft_add_node(2, '127.0.0.1', $n2->{pgraft_port});
SELECT pgraft_add_node(3, '127.0.0.1', $n3->{pgraft_port});
SELECT pgraft_get_worker_state();
SELECT * FROM pgraft_get_nodes();
};
$out = $n1->safe_psql('postgres', $add_sql);
like($out, qr/^t\nt\nRUNNING\n/, 'both adds succeed on node 1');

# Nodes 2 and 3 need the extension only for its SQL functions.
$_->safe_psql('postgres', 'CREATE EXTENSION IF NOT EXISTS pgraft')
  for ($n2, $n3);
wait_for_members(\@nodes, [ 1, 2, 3 ]);

# The same adds on each additional node: harmless, nothing changes.
for my $node ($n2, $n3)
{
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $add_sql);
	is($ret, 0, "the Quick Start's adds succeed again on node $node->{pgraft_id}");
	like($stdout, qr/^t\nt\nRUNNING\n/,
		"node $node->{pgraft_id}: both adds answer true, the worker runs");
	is((() = $stdout =~ /^\d+\|127\.0\.0\.1\|/mg), 3,
		"node $node->{pgraft_id}: pgraft_get_nodes() lists three nodes");
	unlike($stderr, qr/ERROR/, "node $node->{pgraft_id}: no error")
	  or diag($stderr);
}

# pgraft_init() on a member changes nothing and says so.
my ($ret, $stdout, $stderr) = $n2->psql('postgres', 'SELECT pgraft_init()');
is($stdout, 't', 'pgraft_init() on a member answers true');
like($stderr, qr/already belongs to a pgraft cluster/,
	'... and notes that the node already belongs to a cluster');

# 3. Verify cluster health: every node agrees.
my $leader = wait_for_leader(@nodes);
ok(defined $leader, 'the nodes agree on a leader');
my $lid = $leader->{pgraft_id};
my $term = status($leader)->{term};

for my $node (@nodes)
{
	my $id = $node->{pgraft_id};
	my $st = status($node);
	is($st->{node_id}, $id, "node $id: status names its own id");
	is($st->{leader}, $lid, "node $id: status names leader $lid");
	is($st->{term}, $term, "node $id: status is in term $term");
	is($st->{num_nodes}, 3, "node $id: status counts three nodes");
	is($st->{state}, $node == $leader ? 'leader' : 'follower',
		"node $id: state is " . ($node == $leader ? 'leader' : 'follower'));
	is( q1($node,
			"SELECT pgraft_is_leader(), pgraft_get_term(), pgraft_get_leader(), "
			  . "pgraft_is_leader('$PgraftTest::CLUSTER_NAME'), pgraft_is_leader('another'), "
			  . "pgraft_get_worker_state()"),
		($node == $leader ? 't' : 'f') . "|$term|$lid|"
		  . ($node == $leader ? 't' : 'f') . '|f|RUNNING',
		"node $id: pgraft_is_leader, pgraft_get_term, pgraft_get_leader agree");

	my @m = members($node);
	is_deeply(
		[ map { "$_->{id}|$_->{address}|$_->{port}|$_->{role}" } @m ],
		[ map { "$_->{pgraft_id}|127.0.0.1|$_->{pgraft_port}|voter" } @nodes ],
		"node $id: pgraft_get_nodes() lists every node with its address, as voters"
	);
	is_deeply([ map { $_->{id} } grep { $_->{is_leader} eq 't' } @m ],
		[$lid], "node $id: exactly one node is flagged leader, node $lid");
}

# The counters are real: the leader has sent heartbeats and won an election,
# followers have processed messages.
my ($hb, $el) = split /\|/,
  q1($leader,
	'SELECT heartbeats_sent > 0, elections_triggered > 0 FROM pgraft_get_cluster_status()'
  );
is("$hb$el", 'tt', 'the leader counts heartbeats and its elections');
for my $node (followers_of($leader, @nodes))
{
	ok( poll_until(
			"node $node->{pgraft_id} counts processed messages",
			sub {
				q1($node,
					'SELECT messages_processed > 0 FROM pgraft_get_cluster_status()'
				) eq 't';
			}),
		"node $node->{pgraft_id} counts processed messages");
}

# The leader sees both followers replicating.
ok( poll_until(
		'the leader reports both followers replicating',
		sub {
			q1($leader,
				"SELECT count(*) FROM pgraft_log_get_replication_status() WHERE state = 'replicate'"
			) == 2;
		}),
	'pgraft_log_get_replication_status() on the leader shows two replicating followers'
);

$_->stop for @nodes;
done_testing();
