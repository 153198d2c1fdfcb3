# Copyright (c) pgraft contributors
#
# The Raft port survives strangers.
#
# pgraft.port is a TCP port anyone on the network can reach.  This test
# connects to the leader's port with raw sockets and sends garbage (an
# HTTP request), an oversized frame header, a handshake of another protocol
# version, a handshake claiming the cluster's name with another cluster id,
# and nothing at all; it also keeps a crowd of idle connections open, and
# lets a real pgraft node of another cluster_name try to join.  Each time:
#   - the leader closes the offending connection (the socket reads EOF);
#   - it writes a clear line to its log saying why;
#   - the cluster keeps working: appends succeed on the leader and through
#     a follower, and the membership is unchanged.
# The stranger with the cluster's name and another id must not make the
# leader adopt it or change anything.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my @nodes = form_cluster(3);
my $leader = wait_for_leader(@nodes);
my ($follower) = followers_of($leader, @nodes);
my $port = $leader->{pgraft_port};
my $round = 0;

sub connect_raw
{
	my $s = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => 10) or die "could not connect to port $port: $!";
	binmode $s;
	return $s;
}

# Reads until the peer closes; returns what it sent, undef on timeout.
sub read_until_closed
{
	my ($s) = @_;
	my $sel = IO::Select->new($s);
	my $got = '';
	my $deadline = time() + $PgraftTest::TIMEOUT;
	while (time() < $deadline)
	{
		next unless $sel->can_read(0.5);
		my $n = sysread($s, my $buf, 65536);
		return $got if !defined $n || $n == 0;    # closed (or reset)
		$got .= $buf;
	}
	return undef;
}

sub cluster_still_works
{
	my ($after) = @_;
	$round++;
	ok(append($leader, "after-$round") > 0, "$after: an append on the leader succeeds");
	ok(append($follower, "after-$round-f") > 0,
		"$after: an append through a follower succeeds");
	is(q1($leader, 'SELECT string_agg(node_id::text, \',\' ORDER BY node_id) FROM pgraft_get_nodes()'),
		'1,2,3', "$after: the membership is unchanged");
}

sub handshake
{
	my ($version, $node_id, $cluster_id, $name) = @_;
	my $body = 'PGRF' . pack('Q<', $node_id) . $cluster_id . chr(length $name) . $name;
	# version 2 carries the sender's timing: the cluster's own
	$body .= pack('VV', 100, 1000) if $version == 2;
	return pack('VCCv', length $body, $version, 1, 0) . $body;
}

# Garbage: not a frame at all.
my $s = connect_raw();
print $s "GET / HTTP/1.0\r\nHost: example\r\n\r\n";
ok(defined read_until_closed($s), 'garbage: the connection is closed');
ok($leader->wait_for_log(qr/pgraft: closing connection from node 0: invalid frame header/),
	'garbage: the leader logs an invalid frame header');
cluster_still_works('after garbage');

# An oversized frame header, before any handshake.
$s = connect_raw();
print $s pack('VCCv', 0x7ffffff0, 1, 1, 0);
ok(defined read_until_closed($s), 'oversized frame: the connection is closed');
ok($leader->wait_for_log(qr/pgraft: closing connection from node 0: frame exceeds the size limit/),
	'oversized frame: the leader logs that the frame exceeds the size limit');
cluster_still_works('after an oversized frame');

# A handshake of another protocol version: refused with an answer.
my $offset = -s $leader->logfile;
$s = connect_raw();
print $s handshake(7, 99, "\0" x 16, $PgraftTest::CLUSTER_NAME);
my $answer = read_until_closed($s);
ok(defined $answer, 'other version: the connection is closed');
ok(length($answer // '') >= 8 && substr($answer, 5, 1) eq chr(1),
	'other version: the leader answered with its own handshake first');
ok( $leader->wait_for_log(
		qr/pgraft: refusing connection from node 99: peer speaks another protocol version/,
		$offset),
	'other version: the leader logs the version mismatch');
cluster_still_works('after a handshake of another version');

# Our cluster's name with another cluster id: a stranger, not adopted.
$offset = -s $leader->logfile;
$s = connect_raw();
print $s handshake(2, 77, 'x' x 16, $PgraftTest::CLUSTER_NAME);
ok(defined read_until_closed($s), 'another cluster id: the connection is closed');
ok( $leader->wait_for_log(
		qr/WARNING:  pgraft: two clusters are named "$PgraftTest::CLUSTER_NAME": node 77 belongs to cluster 78787878/,
		$offset),
	'another cluster id: the leader warns that two clusters share the name');
ok(!$leader->log_contains(qr/joining cluster/, $offset),
	'another cluster id: the leader did not join it');
cluster_still_works('after a handshake of another cluster');

# Nothing at all: closed after the handshake timeout, meanwhile harmless.
$offset = -s $leader->logfile;
$s = connect_raw();
my @crowd = map { connect_raw() } 1 .. 30;
cluster_still_works('with 31 idle connections open');
ok(defined read_until_closed($s), 'silence: the connection is closed eventually');
ok($leader->wait_for_log(qr/pgraft: closing a connection that sent no handshake/, $offset),
	'silence: the leader logs a connection that sent no handshake');
close $_ for @crowd;
cluster_still_works('after the idle connections');

# A real pgraft node of another cluster_name.
my $stranger = create_node(4, cluster_name => 'another_cluster');
$stranger->safe_psql('postgres', 'CREATE EXTENSION pgraft; SELECT pgraft_init()');
$offset = -s $stranger->logfile;
my ($ret, $stdout, $stderr) = $leader->psql('postgres',
	"SELECT pgraft_add_node(4, '127.0.0.1', $stranger->{pgraft_port})");
isnt($ret, 0, 'adding a node of another cluster_name fails');
like($stderr, qr/ERROR:  cannot add node 4: peer belongs to another cluster/,
	'... with a clear error') or diag($stderr);
ok( $stranger->wait_for_log(
		qr/pgraft: refusing connection from node $leader->{pgraft_id}: peer belongs to another cluster/,
		$offset),
	'the other cluster\'s node logs that it refused our leader');
is(q1($stranger, 'SELECT count(*) FROM pgraft_get_nodes()'), '1',
	'the other cluster\'s node is still alone in its cluster');
cluster_still_works('after the other cluster\'s node tried to join');

$stranger->stop;
$_->stop for @nodes;
done_testing();
