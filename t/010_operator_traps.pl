# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# The traps an operator met by following the documents (issue 7, 12):
#  - pgraft_add_node() given the node's PostgreSQL port said only
#    "connection closed before the handshake completed";
#  - ALTER SYSTEM took a heartbeat/election pair the server then refused
#    to start with;
#  - nodes of different timing joined silently, and flapped;
#  - an unresolvable pgraft.address left SQL saying STOPPED, with no reason;
#  - elections_triggered counted pre-votes too;
#  - a removed node never learned it was removed, and campaigned for ever;
#  - pgraft_init() on two nodes that then went on made two clusters of one
#    name, without a word.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

sub sql_error
{
	my ($node, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $sql, stdout => \$out, stderr => \$err);
	return $err;
}

my $n1 = create_node(1);
# node 2's PostgreSQL listens on TCP too, where an operator would find it
my $n2 = create_node(2, conf => "listen_addresses = '127.0.0.1'\n");
$_->safe_psql('postgres', 'CREATE EXTENSION pgraft') for $n1, $n2;
is(q1($n1, 'SELECT pgraft_init()'), 't', 'node 1 founds a cluster');

# PostgreSQL's port instead of pgraft.port
my $err = sql_error($n1, "SELECT pgraft_add_node(2, '127.0.0.1', " . $n2->port . ")");
like($err, qr/does not speak pgraft's protocol/, "add_node at PostgreSQL's port says the node does not speak pgraft");
like($err, qr/pgraft\.port/, 'and to pass its pgraft.port');
is(add_node($n1, $n2), 't', 'with its pgraft.port the node is added');
wait_for_members([ $n1, $n2 ], [ 1, 2 ]);

# counters: pre-votes and elections apart
my ($elections, $pre_votes) = split /\|/,
  q1($n1, 'SELECT elections_triggered, pre_votes_triggered FROM pgraft_get_cluster_status()');
cmp_ok($elections, '>=', 1, 'the founder campaigned');
cmp_ok($pre_votes, '>=', $elections, 'every election began with a pre-vote, counted apart');

# ALTER SYSTEM refuses a timing pair the server could not use
$err = sql_error($n1, "ALTER SYSTEM SET pgraft.election_timeout = '150ms'");
like($err, qr/invalid value for parameter "pgraft.election_timeout"/,
	'ALTER SYSTEM refuses an election timeout below twice the heartbeat');
like($err, qr/Lower pgraft.heartbeat_interval first/, 'and says what to do');
$err = sql_error($n1, "ALTER SYSTEM SET pgraft.heartbeat_interval = '600ms'");
like($err, qr/invalid value for parameter "pgraft.heartbeat_interval"/,
	'ALTER SYSTEM refuses a heartbeat above half the election timeout');
is(q1($n1, "SELECT count(*) FROM pg_file_settings WHERE name LIKE 'pgraft.%' AND sourcefile LIKE '%auto.conf'"),
	'0', 'nothing was written to postgresql.auto.conf');

# a node of other timing is not added
my $n3 = create_node(3,
	conf => "pgraft.heartbeat_interval = 200\npgraft.election_timeout = 2000\n");
$n3->safe_psql('postgres', 'CREATE EXTENSION pgraft');
$err = sql_error($n1, "SELECT pgraft_add_node(3, '127.0.0.1', $n3->{pgraft_port})");
like($err, qr/its timing settings differ/, 'a node of other timing is refused');
like($err, qr/heartbeat_interval = 200 ms and pgraft\.election_timeout = 2000 ms; this node with \d+ ms and \d+ ms\./,
	'naming its timing and ours, whole');
$n3->stop;

# an address that does not resolve: FAILED, and why
my $n4 = create_node(4, conf => "pgraft.address = 'no-such-host.invalid'\n", start => 0);
$n4->start;
$n4->safe_psql('postgres', 'CREATE EXTENSION pgraft');
ok( poll_until(
		'the worker with a bad address is FAILED',
		sub { q1($n4, 'SELECT pgraft_get_worker_state()') eq 'FAILED' }),
	'a worker that cannot resolve pgraft.address is FAILED, not STOPPED');
$err = '';
$n4->psql('postgres', 'SELECT pgraft_get_worker_state()', stderr => \$err);
like($err, qr/NOTICE:  the pgraft worker failed: could not resolve pgraft.address "no-such-host.invalid"/,
	'and says why, naming pgraft once');
$n4->stop;

# two clusters of one name
my $n5 = create_node(5);
$n5->safe_psql('postgres', 'CREATE EXTENSION pgraft');
is(q1($n5, 'SELECT pgraft_init()'), 't', 'node 5 founds a second cluster of the same name');
like(q1($n5, "SELECT pgraft_log_append(0, 'data of its own')"), qr/^\d+$/,
	'and writes to it');
my $log_offset = -s $n5->logfile;
$err = sql_error($n1, "SELECT pgraft_add_node(5, '127.0.0.1', $n5->{pgraft_port})");
like($err, qr/cannot add node 5/, 'the node of the other cluster is not added');
ok( poll_until(
		'node 5 warns about two clusters',
		sub {
			slurp_file($n5->logfile, $log_offset) =~ /two clusters are named "pgraft_tap"/;
		}),
	'node 5 warns that two clusters share the name');
like(slurp_file($n5->logfile, $log_offset), qr/To merge, keep one cluster/,
	'and says how to merge');

# a removed node learns it, and stops campaigning
is(q1($n1, 'SELECT pgraft_remove_node(2)'), 't', 'node 2 is removed');
ok( poll_until(
		'node 2 says it was removed',
		sub { status($n2)->{state} eq 'removed' }),
	'the removed node learns it was removed');
my $pv = q1($n2, 'SELECT pre_votes_triggered FROM pgraft_get_cluster_status()');
sleep(3);
is(q1($n2, 'SELECT pre_votes_triggered FROM pgraft_get_cluster_status()'), $pv,
	'and campaigns no more');

done_testing();
