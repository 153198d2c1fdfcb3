# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# Who may talk to a Raft port (docs/security.md).
#
# An attacker who can reach the port, and even one who has sniffed the
# cluster id, plays what worked before pgraft authenticated its peers:
# learning the cluster id from a refusal, claiming the id of a member that
# is connected, claiming the id of a non-member, a forged append "from node
# 3", a forged TimeoutNow "from node 1", and making a fresh node join a
# cluster of the attacker's choosing.  Without a key, a refusal must say
# nothing about the cluster and duplicate or foreign ids are refused; with
# pgraft.auth_key_file every one of the attacks fails at the proof of the
# key.  Every refusal is logged with the remote address (once per address
# and reason per interval) and counted in pgraft_get_refusals().  A test
# client that holds the key shows that the refusals are not a broken client:
# it verifies the node's proof and is refused only for what it claims.
# Finally: a key rotated node by node by reload keeps the cluster whole, a
# node with another key is not added, a flood of idle connections does not
# stop the cluster, and a node without a key on a non-loopback address
# warns at start.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;
use PgraftWire;

sub cluster_id_of
{
	my ($node) = @_;
	my $identity = slurp_file($node->data_dir . '/pgraft/identity');
	$identity =~ /cluster_id=([0-9a-f]{32})/ or die "no cluster id in $identity";
	return pack('H*', $1);
}

sub write_key
{
	my ($node, @keys) = @_;
	my $path = $node->data_dir . '/pgraft_auth.key';
	open my $f, '>', $path or die "$path: $!";
	print $f map { "$_\n" } @keys;
	close $f;
	chmod 0600, $path;
	return;
}

sub new_key
{
	my $key = `openssl rand -hex 32`;
	chomp $key;
	die "openssl rand failed" unless $key =~ /^[0-9a-f]{64}$/;
	return $key;
}

sub refusals
{
	my ($node, $reason) = @_;
	return q1($node, "SELECT refused FROM pgraft_get_refusals() WHERE reason = '$reason'");
}

# Is the forged payload anywhere in a node's Raft storage?
sub storage_contains
{
	my ($node, $needle) = @_;
	my $dir = $node->data_dir . '/pgraft/raft';
	opendir(my $dh, $dir) or return 0;
	for my $f (readdir $dh)
	{
		next unless -f "$dir/$f";
		return 1 if index(slurp_file("$dir/$f"), $needle) >= 0;
	}
	return 0;
}

sub cluster_works
{
	my ($what, $leader, @nodes) = @_;
	my $i = append($leader, "after $what");
	ok($i > 0, "$what: the leader still takes appends");
	wait_for_applied($i, @nodes);
	my $l = wait_for_leader(@nodes);
	is($l->{pgraft_id}, $leader->{pgraft_id}, "$what: the leader is unchanged");
	return;
}

# ---------------------------------------------------------------------------
# Without a key
# ---------------------------------------------------------------------------

my @open = form_cluster(3, cluster_name => 'open_cluster');
my $leader = wait_for_leader(@open);
my $cid = cluster_id_of($leader);
my $offset = -s $leader->logfile;

my $c = PgraftWire->connect($leader->{pgraft_port});
$c->send_bytes(PgraftWire::handshake_frame(id => 77, cluster_id => 'x' x 16, name => 'evil'));
my $answer = $c->read_all;
is(length($answer // ''), 9, 'no key, another cluster: the answer is one refusal frame');
is(substr($answer // '', 5, 1), chr(5), '... of kind REFUSE');
is(ord(substr($answer // '', 8, 1)), 2, '... saying "other cluster"');
unlike($answer // '', qr/\Q$cid\E|open_cluster|PGRF/, '... and naming nothing of this cluster');
ok( $leader->wait_for_log(
		qr/refusing a connection from 127\.0\.0\.1:\d+ \(node 77\): peer belongs to another cluster/,
		$offset),
	'the refusal is logged with the remote address');

# The cluster id sniffed: a member's id, a stranger's id.
my $term = status($leader)->{term};
$c = PgraftWire->connect($leader->{pgraft_port});
my %r = $c->setup(id => 2, cluster_id => $cid, name => 'open_cluster', config_index => 1);
is($r{refused}, 'already_connected', 'no key: claiming a connected member\'s id is refused');
my ($f) = followers_of($leader, @open);
$c = PgraftWire->connect($f->{pgraft_port});
%r = $c->setup(id => 9, cluster_id => $cid, name => 'open_cluster', config_index => 1);
is($r{refused}, 'not_member', 'no key: claiming a non-member\'s id is refused');
# The leader tells a non-member it was removed, then refuses it.
$c = PgraftWire->connect($leader->{pgraft_port});
%r = $c->setup(id => 9, cluster_id => $cid, name => 'open_cluster', config_index => 1);
my ($kind, $body) = $c->read_frame;
ok($r{accepted} && defined $kind && $kind == 2 && ord($body) == 15,
	'the leader tells a non-member that it is not in the configuration');
is(scalar($c->read_frame), undef, '... and closes the connection');
$c = PgraftWire->connect($leader->{pgraft_port});
%r = $c->setup(id => 2, cluster_id => $cid, name => 'open_cluster', key => 'x' x 32);
is($r{refused}, 'auth_unavailable', 'no key here: a peer offering a key proof is told so');
ok($f->wait_for_log(qr/refusing a connection from 127\.0\.0\.1:\d+ \(node 9\): peer is not a member/),
	'the non-member is logged with its address');
ok(refusals($f, 'not_member') >= 1, 'and counted in pgraft_get_refusals()');
ok(refusals($leader, 'not_member') >= 1, 'the leader counts its refusal too');
cluster_works('no key, after the attacks', $leader, @open);
is(status($leader)->{term}, $term, 'no key: the term did not move');
$_->stop for @open;

# ---------------------------------------------------------------------------
# With a key
# ---------------------------------------------------------------------------

my $key = new_key();
my $conf = "pgraft.auth_key_file = 'pgraft_auth.key'\n";
# (node ids 4-6: each server of a test needs its own name)
my @nodes = map { create_node($_, conf => $conf, start => 0) } 4 .. 6;
for my $n (@nodes)
{
	write_key($n, $key);
	$n->start;
}
init_cluster(@nodes);
$leader = wait_for_leader(@nodes);
my ($f1, $f2) = followers_of($leader, @nodes);
$cid = cluster_id_of($leader);
$term = status($leader)->{term};
$offset = -s $leader->logfile;

# Learning the cluster id: nothing before the proof.
$c = PgraftWire->connect($leader->{pgraft_port});
$c->send_bytes(PgraftWire::handshake_frame(id => 77, name => $PgraftTest::CLUSTER_NAME));
$answer = $c->read_all;
is(length($answer // ''), 9, 'key: a handshake without proof gets one refusal frame');
is(ord(substr($answer // '', 8, 1)), 5, '... saying "authentication required"');
unlike($answer // '', qr/\Q$cid\E|\Q$PgraftTest::CLUSTER_NAME\E/, '... and nothing of the cluster');

$c = PgraftWire->connect($leader->{pgraft_port});
%r = $c->setup(to => $leader->{pgraft_id}, id => 2, cluster_id => $cid, name => $PgraftTest::CLUSTER_NAME, bad_proof => 1);
is($r{refused}, 'auth_failed', 'key: a made-up proof is refused');
is($r{acceptor_proof_ok}, 0, 'and the node\'s own proof means nothing without the key');

# A client holding the key: the node's proof verifies; only the claims are refused.
$c = PgraftWire->connect($f1->{pgraft_port});
%r = $c->setup(to => $f1->{pgraft_id}, id => 99, cluster_id => $cid, name => $PgraftTest::CLUSTER_NAME, key => $key,
	config_index => 1);
is($r{acceptor_proof_ok}, 1, 'key holder: the node proves the key');
is($r{refused}, 'not_member', 'key holder: a non-member id is still refused');
$c = PgraftWire->connect($leader->{pgraft_port});
%r = $c->setup(to => $leader->{pgraft_id}, id => $f1->{pgraft_id}, cluster_id => $cid, name => $PgraftTest::CLUSTER_NAME,
	key => $key, config_index => 1);
is($r{refused}, 'already_connected', 'key holder: a connected member\'s id is refused');
$c = PgraftWire->connect($leader->{pgraft_port});
%r = $c->setup(to => $leader->{pgraft_id}, id => 99, cluster_id => $cid, name => $PgraftTest::CLUSTER_NAME, key => $key,
	version => 2);
is($r{refused}, 'other_version', 'key holder of an old version: named as such');

# A node proves itself only as itself: a HELLO meant for another node (a
# stranger relaying a member's HELLO to get a proof for it) is refused.
$c = PgraftWire->connect($leader->{pgraft_port});
%r = $c->setup(to => $f1->{pgraft_id}, id => 99, cluster_id => $cid,
	name => $PgraftTest::CLUSTER_NAME, bad_proof => 1);
is($r{refused}, 'other_node', 'a HELLO meant for another node gets no proof');

# A forged append "from" a follower, a forged TimeoutNow "from" the leader.
$c = PgraftWire->connect($leader->{pgraft_port});
%r = $c->setup(id => $f2->{pgraft_id}, cluster_id => $cid, name => $PgraftTest::CLUSTER_NAME);
is($r{refused}, 'auth_required', 'forged append: the impostor is refused at the setup');
$c->send_msg(
	type => 1, from => $f2->{pgraft_id}, to => $f1->{pgraft_id}, term => $term + 1,
	index => 1000, log_term => $term,
	entries => [ [ $term + 1, 1001, 0, 'FORGED: transfer $1M to mallory' ] ]);
$c = PgraftWire->connect($f2->{pgraft_port});
%r = $c->setup(to => $f2->{pgraft_id}, id => $leader->{pgraft_id}, cluster_id => $cid,
	name => $PgraftTest::CLUSTER_NAME, bad_proof => 1);
is($r{refused}, 'auth_failed', 'forged TimeoutNow: the impostor is refused at the setup');
$c->send_msg(type => 13, from => $leader->{pgraft_id}, to => $f2->{pgraft_id}, term => $term);
cluster_works('key, after the forgeries', $leader, @nodes);
is(status($leader)->{term}, $term, 'key: the term did not move');
ok(!(grep { storage_contains($_, 'FORGED') } @nodes), 'the forged entry is in no node\'s log');

# The refusals are logged once per address and reason, and counted.
$offset = -s $leader->logfile;
my $before = refusals($leader, 'auth_required');
for (1 .. 10)
{
	$c = PgraftWire->connect($leader->{pgraft_port});
	$c->setup(id => 99, name => 'x');
}
poll_until('ten refusals counted', sub { refusals($leader, 'auth_required') >= $before + 10 });
ok(refusals($leader, 'auth_required') >= $before + 10, 'every refusal is counted');
my @lines = grep { /refusing a connection from 127\.0\.0\.1.*authenticate/ }
  split /\n/, slurp_file($leader->logfile, $offset);
ok(@lines <= 1, 'but logged at most once in the interval (' . scalar(@lines) . ')');

# A fresh node, with the key, waiting to be added: a stranger cannot adopt it.
my $fresh = create_node(7, conf => $conf, start => 0);
write_key($fresh, $key);
$fresh->start;
$fresh->safe_psql('postgres', 'CREATE EXTENSION pgraft');
$c = PgraftWire->connect($fresh->{pgraft_port});
%r = $c->setup(to => $fresh->{pgraft_id}, id => 66, cluster_id => 'm' x 16, name => $PgraftTest::CLUSTER_NAME,
	bad_proof => 1);
is($r{refused}, 'auth_failed', 'fresh node: the stranger fails the proof');
ok(!-e $fresh->data_dir . '/pgraft/identity', 'fresh node: it joined no cluster');
is(add_node($leader, $fresh), 't', 'fresh node: the real leader adds it');
wait_for_members([ @nodes, $fresh ], [ 4 .. 7 ]);
is(unpack('H*', cluster_id_of($fresh)), unpack('H*', $cid), 'fresh node: of the real cluster');

# A node with another key is not added, and says why.
my $other = create_node(8, conf => $conf, start => 0);
write_key($other, new_key());
$other->start;
$other->safe_psql('postgres', 'CREATE EXTENSION pgraft');
my ($ret, $stdout, $stderr) = $leader->psql('postgres',
	"SELECT pgraft_add_node(8, '127.0.0.1', $other->{pgraft_port})");
isnt($ret, 0, 'a node with another key is not added');
like($stderr, qr/authentication/, '... the error says it failed authentication') or diag($stderr);
$other->stop;

# Rotation, node by node, by reload; then new connections use the new key.
my $new = new_key();
my @all = (@nodes, $fresh);
for my $stage ([ $key, $new ], [ $new, $key ], [$new])
{
	for my $n (@all)
	{
		write_key($n, @$stage);
		$n->reload;
	}
}
$f1->restart;
cluster_works('after rotating the key and restarting a follower', $leader, @all);
my $i = append($f1, 'through the restarted follower');
ok($i > 0, 'the restarted follower forwards appends with the new key');

# A flood of idle connections.
$offset = -s $leader->logfile;
my @crowd = map { PgraftWire->connect($leader->{pgraft_port}) } 1 .. 40;
cluster_works('with 40 idle connections open', $leader, @all);
ok($leader->wait_for_log(qr/too many connections in setup/, $offset),
	'the flood is logged');
$_->close for @crowd;
cluster_works('after the flood', $leader, @all);
$_->stop for @all;

# ---------------------------------------------------------------------------
# No key on an address others can reach: a warning at start.  (192.0.2.1
# is TEST-NET: the bind fails, nothing is ever sent.)
# ---------------------------------------------------------------------------
my $exposed = create_node(9, addr => '192.0.2.1');
ok( $exposed->wait_for_log(qr/WARNING:  pgraft: the Raft port 192\.0\.2\.1:\d+ accepts unauthenticated peers/),
	'a node without a key on a non-loopback address warns at start');
$exposed->stop;

done_testing();
