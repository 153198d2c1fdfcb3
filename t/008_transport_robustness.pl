# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
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
# leader adopt it or change anything.  Refusals are logged with the remote
# address, once per address and reason every 10 s, and always counted
# (pgraft_get_refusals): the log lines are checked for the first of a kind,
# the counters for the rest.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;
use PgraftWire;

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
	return PgraftWire::handshake_frame(
		version => $version,
		id => $node_id,
		cluster_id => $cluster_id,
		name => $name);
}

sub refused
{
	my ($reason) = @_;
	return q1($leader, "SELECT refused FROM pgraft_get_refusals() WHERE reason = '$reason'");
}

# Garbage: not a frame at all.
my $s = connect_raw();
print $s "GET / HTTP/1.0\r\nHost: example\r\n\r\n";
ok(defined read_until_closed($s), 'garbage: the connection is closed');
ok( $leader->wait_for_log(
		qr/pgraft: refusing a connection from 127\.0\.0\.1:\d+: peer broke the connection setup protocol\n.*DETAIL:  What it sent is not a pgraft frame: invalid frame header/
	),
	'garbage: the leader logs an invalid frame header, with the address');
cluster_still_works('after garbage');

# An oversized frame header, before any handshake.
my $protocol = refused('protocol');
$s = connect_raw();
print $s pack('VCCv', 0x7ffffff0, 1, 1, 0);
ok(defined read_until_closed($s), 'oversized frame: the connection is closed');
ok(poll_until('the oversized frame is counted', sub { refused('protocol') > $protocol }),
	'oversized frame: the refusal is counted');
cluster_still_works('after an oversized frame');

# A handshake of another protocol version (the previous one, as a node not
# yet upgraded would send, and a future one): refused with a reason, no more.
my $offset;
for my $version ($PgraftWire::VERSION_BYTE - 1, 7)
{
	$offset = -s $leader->logfile;
	$s = connect_raw();
	print $s handshake($version, 99, "\0" x 16, $PgraftTest::CLUSTER_NAME);
	my $answer = read_until_closed($s);
	ok(defined $answer, "version $version: the connection is closed");
	ok(length($answer // '') == 9 && substr($answer, 5, 1) eq chr(5) && substr($answer, 8, 1) eq chr(1),
		"version $version: the leader answered with a refusal naming the version, and nothing else");
	ok( $leader->wait_for_log(
			qr/pgraft: refusing a connection from 127\.0\.0\.1:\d+ \(node 99\): peer speaks another protocol version\n[^\n]*DETAIL:  It speaks pgraft protocol version $version; this node speaks $PgraftWire::VERSION_BYTE\./,
			$offset),
		"version $version: the leader logs the version mismatch");
	cluster_still_works("after a handshake of version $version");
}

# Our cluster's name with another cluster id: a stranger, not adopted.
$offset = -s $leader->logfile;
$s = connect_raw();
print $s handshake($PgraftWire::VERSION_BYTE, 77, 'x' x 16, $PgraftTest::CLUSTER_NAME);
ok(defined read_until_closed($s), 'another cluster id: the connection is closed');
ok( $leader->wait_for_log(
		qr/WARNING:  pgraft: two clusters are named "$PgraftTest::CLUSTER_NAME": node 77 belongs to cluster 78787878/,
		$offset),
	'another cluster id: the leader warns that two clusters share the name');
ok(!$leader->log_contains(qr/joining cluster/, $offset),
	'another cluster id: the leader did not join it');
cluster_still_works('after a handshake of another cluster');

# Nothing at all: closed after the setup timeout, meanwhile harmless; a
# crowd of them makes room by evicting its own oldest.
$offset = -s $leader->logfile;
my $timeouts = refused('timeout');
$s = connect_raw();
ok(defined read_until_closed($s), 'silence: the connection is closed eventually');
ok( $leader->wait_for_log(
		qr/pgraft: refusing a connection from 127\.0\.0\.1:\d+: peer did not complete the connection setup in time/,
		$offset),
	'silence: the leader logs a connection that did not complete its setup');
ok(refused('timeout') > $timeouts, 'silence: and counts it');
my $floods = refused('flood');
my @crowd = map { connect_raw() } 1 .. 30;
cluster_still_works('with 30 idle connections open');
ok(refused('flood') >= 30 - 16, 'a crowd in setup beyond 16 evicts its own oldest');
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
		qr/pgraft: refusing a connection from 127\.0\.0\.1:\d+ \(node $leader->{pgraft_id}\): peer belongs to another cluster/,
		$offset),
	'the other cluster\'s node logs that it refused our leader');
is(q1($stranger, 'SELECT count(*) FROM pgraft_get_nodes()'), '1',
	'the other cluster\'s node is still alone in its cluster');
cluster_still_works('after the other cluster\'s node tried to join');

$stranger->stop;
$_->stop for @nodes;
done_testing();
