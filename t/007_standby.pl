# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# pgraft on a streaming standby.
#
# In a real HA cluster the Raft followers are hot standbys: read-only
# servers made from a base backup of the primary.  Two traps guard this
# test:
#   - the base backup copies the primary's $PGDATA/pgraft, that is node 1's
#     Raft identity, term and log.  A standby configured as node 2 must not
#     run with node 1's state (two nodes claiming to be node 1 would break
#     every Raft guarantee): its worker must move the copy aside, say so in
#     the log, and start as a node of no cluster;
#   - pgraft keeps its state in its own files, never in tables, so the
#     worker runs on a read-only server, the standby can be added to the
#     cluster, reads the replicated log, and can even append (forwarded to
#     the leader) while in recovery.
# The standby is restarted at the end: it must come back as node 2 with its
# own state, without moving anything aside again.

use strict;
use warnings;

use File::Basename;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my $primary = create_node(1, allows_streaming => 1);
$primary->safe_psql('postgres', 'CREATE EXTENSION pgraft');
is(q1($primary, 'SELECT pgraft_init()'), 't', 'pgraft_init() on the primary');
my %acked;
for my $i (1 .. 5)
{
	$acked{ append($primary, "before-backup-$i") } = "before-backup-$i";
}

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('node2');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
configure_node($standby, 2);
ok(-d $standby->data_dir . '/pgraft', "the base backup copied the primary's pgraft directory");
$standby->start;

is(q1($standby, 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
ok( poll_until(
		"the standby's worker runs",
		sub { q1($standby, 'SELECT pgraft_get_worker_state()') eq 'RUNNING' }),
	"pgraft_get_worker_state() is RUNNING on the standby");
ok($standby->log_contains(qr/the state in ".*pgraft" belongs to node 1, not to this node/),
	'the worker logs that the copied state belongs to node 1');
my @aside = glob($standby->data_dir . '/pgraft.node1.*');
is(scalar(@aside), 1, "the copied state is kept aside as " . join(',', map { basename($_) } @aside));
is(q1($standby, 'SELECT count(*) FROM pgraft_get_nodes()'), '0',
	'the standby starts as a node of no cluster');
is(status($standby)->{leader}, '0', 'and knows no leader');
is(q1($primary, 'SELECT count(*) FROM pgraft_get_nodes()'), '1',
	'the primary is still alone in its cluster');

# The standby joins the cluster.
is(add_node($primary, $standby), 't', 'the standby is added from the primary');
wait_for_members([ $primary, $standby ], [ 1, 2 ]);
my $leader = wait_for_leader($primary, $standby);
is($leader, $primary, 'the primary (node 1) leads');

# The standby sees the log, and appends through the leader while read-only.
my $from_standby = append($standby, 'appended-on-the-standby');
$acked{$from_standby} = 'appended-on-the-standby';
$acked{ append($primary, 'after-join') } = 'after-join';
my ($last) = sort { $b <=> $a } keys %acked;
cmp_ok(q1($standby, 'SELECT pgraft_log_sync_with_leader()'), '>=', $last,
	'the read barrier passes on the standby');
for my $node ($primary, $standby)
{
	my @missing = missing_entries($node, \%acked);
	is_deeply(\@missing, [], "node $node->{pgraft_id} holds every entry");
}
is( q1($standby, "SELECT index, term, type, coalesce(data, '') FROM pgraft_log_get_entries(1, $last)"),
	q1($primary, "SELECT index, term, type, coalesce(data, '') FROM pgraft_log_get_entries(1, $last)"),
	'the standby and the primary have the same log');

# Streaming replication still works alongside.
$primary->safe_psql('postgres', 'CREATE TABLE t AS SELECT 42 AS answer');
$primary->wait_for_catchup($standby);
is(q1($standby, 'SELECT answer FROM t'), '42', 'streaming replication still works');

# A restart keeps the standby's own state.
$standby->restart;
ok( poll_until(
		"the standby's worker runs again",
		sub { q1($standby, 'SELECT pgraft_get_worker_state()') eq 'RUNNING' }),
	'the worker runs again after a restart of the standby');
@aside = glob($standby->data_dir . '/pgraft.node*');
is(scalar(@aside), 1, 'nothing more was moved aside');
wait_for_members([ $primary, $standby ], [ 1, 2 ]);
my $again = append($standby, 'after-standby-restart');
cmp_ok(q1($standby, 'SELECT pgraft_log_sync_with_leader()'), '>=', $again,
	'the restarted standby follows the log');
is(entry_map($standby, $again, 1)->{$again}, 'after-standby-restart',
	'and reads the new entry');

$standby->stop;
$primary->stop;
done_testing();
