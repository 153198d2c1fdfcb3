# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# The Raft transport over mutual TLS (pgraft.ssl, docs/security.md).
#
# The certificates are made here with the openssl command: a cluster CA
# (run with `openssl ca`, so that it can date certificates in the past and
# revoke them), a certificate per node naming it pgraft-node-<id>.<cluster
# name>, and the bad ones: from another CA, expired, revoked, none at all,
# naming another node.  A three-node cluster forms over TLS, replicates and
# fails over; a follower's certificate is rotated by reload alone (the old
# one is then revoked, and the peers still reach it: it presents the new
# one); a reload with broken files keeps the old ones.  Each bad
# certificate is refused, and the refusal is logged with the remote address
# and the reason.  A node without TLS is told that its peer speaks TLS, and
# TLS works together with the shared key.

use strict;
use warnings;

use File::Copy;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;
use PgraftWire;

my $dir = PostgreSQL::Test::Utils::tempdir();
my $name = $PgraftTest::CLUSTER_NAME;

sub openssl
{
	my @args = @_;
	my ($out, $err);
	IPC::Run::run([ 'openssl', @args ], '<', \undef, '>', \$out, '2>', \$err)
	  or die "openssl @args failed: $err";
	return $out;
}

sub write_file
{
	my ($path, $text) = @_;
	open my $f, '>', $path or die "$path: $!";
	print $f $text;
	close $f;
	return;
}

# A CA that `openssl ca` can run: its own directory, index and serial.
sub make_ca
{
	my ($ca) = @_;
	mkdir "$dir/$ca";
	mkdir "$dir/$ca/certs";
	write_file("$dir/$ca/index.txt", '');
	write_file("$dir/$ca/serial", "1000\n");
	write_file("$dir/$ca/crlnumber", "1000\n");
	write_file(
		"$dir/$ca/ca.cnf", qq{
[ ca ]
default_ca = this_ca
[ this_ca ]
dir = $dir/$ca
database = \$dir/index.txt
new_certs_dir = \$dir/certs
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
serial = \$dir/serial
crlnumber = \$dir/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 30
policy = any_name
copy_extensions = copy
unique_subject = no
[ any_name ]
commonName = supplied
});
	openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
		'-nodes', '-keyout', "$dir/$ca/ca.key", '-out', "$dir/$ca/ca.crt", '-days', '30',
		'-subj', "/CN=$ca");
	return;
}

# A node certificate signed by $ca; returns the base path of .crt/.key.
sub make_cert
{
	my ($ca, $file, $cn, %o) = @_;
	my @san = $o{san} ? ('-addext', "subjectAltName=DNS:$o{san}") : ();
	openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
		'-nodes', '-keyout', "$dir/$file.key", '-out', "$dir/$file.csr", '-subj', "/CN=$cn",
		@san);
	chmod 0600, "$dir/$file.key";
	my @dates =
	  $o{expired} ? ('-startdate', '20200101000000Z', '-enddate', '20200201000000Z') : ();
	openssl('ca', '-batch', '-notext', '-config', "$dir/$ca/ca.cnf", '-in', "$dir/$file.csr",
		'-out', "$dir/$file.crt", @dates);
	return "$dir/$file";
}

sub revoke
{
	my ($ca, $file) = @_;
	openssl('ca', '-config', "$dir/$ca/ca.cnf", '-revoke', "$dir/$file.crt");
	openssl('ca', '-config', "$dir/$ca/ca.cnf", '-gencrl', '-out', "$dir/$ca/crl.pem");
	return;
}

# Give a node its certificate, key and the cluster CA (and CRL).
sub install_certs
{
	my ($node, $base) = @_;
	my $d = $node->data_dir;
	copy("$base.crt", "$d/pgraft.crt") or die $!;
	copy("$base.key", "$d/pgraft.key") or die $!;
	chmod 0600, "$d/pgraft.key";
	copy("$dir/cluster_ca/ca.crt", "$d/pgraft_ca.crt") or die $!;
	copy("$dir/cluster_ca/crl.pem", "$d/pgraft_crl.pem") or die $!;
	return;
}

# A TLS client (openssl s_client) with the given certificate, or none.
sub tls_connect
{
	my ($port, $base) = @_;
	my @cert = $base ? ('-cert', "$base.crt", '-key', "$base.key") : ();
	my ($out, $err);
	IPC::Run::run(
		[
			'openssl', 's_client', '-connect', "127.0.0.1:$port", '-CAfile',
			"$dir/cluster_ca/ca.crt", @cert
		],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(30));
	return;
}

make_ca('cluster_ca');
make_ca('other_ca');
my @base = map { make_cert('cluster_ca', "node$_", "pgraft-node-$_.$name") } 1 .. 2;
push @base, make_cert('cluster_ca', 'node3', 'some host', san => "pgraft-node-3.$name");
my $other_ca = make_cert('other_ca', 'other', "pgraft-node-4.$name");
my $expired = make_cert('cluster_ca', 'expired', "pgraft-node-4.$name", expired => 1);
my $revoked = make_cert('cluster_ca', 'revoked', "pgraft-node-4.$name");
my $wrong_id = make_cert('cluster_ca', 'wrong_id', "pgraft-node-2.$name");
my $other_cluster = make_cert('cluster_ca', 'other_cluster', "pgraft-node-4.another");
revoke('cluster_ca', 'revoked');

my $tls = qq{
pgraft.ssl = on
pgraft.ssl_crl_file = 'pgraft_crl.pem'
};

# ---------------------------------------------------------------------------
# A cluster over TLS
# ---------------------------------------------------------------------------
my @nodes = map { create_node($_, conf => $tls, start => 0) } 1 .. 3;
install_certs($nodes[$_], $base[$_]) for 0 .. 2;
$_->start for @nodes;
init_cluster(@nodes);
my $leader = wait_for_leader(@nodes);
my $cid = do
{
	slurp_file($leader->data_dir . '/pgraft/identity') =~ /cluster_id=([0-9a-f]{32})/
	  or die 'no cluster id';
	pack('H*', $1);
};
my $i = append($leader, 'over TLS');
ok($i > 0, 'the TLS cluster takes an append');
wait_for_applied($i, @nodes);
ok(1, 'and every node applies it');
ok($leader->log_contains(qr/accepted connection from node \d at 127\.0\.0\.1/),
	'its nodes connected (one naming itself in a subjectAltName)');

# Plaintext to a TLS port: refused, with the address.
my $offset = -s $leader->logfile;
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $leader->{pgraft_port});
print $s "PGRF plaintext\n";
close $s;
ok( $leader->wait_for_log(qr/refusing a connection from 127\.0\.0\.1:\d+: TLS failed/, $offset),
	'plaintext to a TLS port is refused and logged with the address');

# Failover.
my @rest = grep { $_ != $leader } @nodes;
kill9_and_wait($leader);
my $new = wait_for_leader(@rest);
ok($new->{pgraft_id} != $leader->{pgraft_id}, 'after kill -9 of the leader, another is elected');
$i = append($new, 'after failover over TLS');
ok($i > 0, 'and takes appends');
$leader->start;
wait_for_applied($i, @nodes);
$leader = wait_for_leader(@nodes);

# ---------------------------------------------------------------------------
# Rotation by reload: a follower gets a new certificate, the old one is revoked
# ---------------------------------------------------------------------------
my ($f) = followers_of($leader, @nodes);
my $fid = $f->{pgraft_id};
my $rotated = make_cert('cluster_ca', "node$fid-new", "pgraft-node-$fid.$name");
copy("$rotated.crt", $f->data_dir . '/pgraft.crt') or die $!;
copy("$rotated.key", $f->data_dir . '/pgraft.key') or die $!;
$f->reload;
revoke('cluster_ca', "node$fid");
for my $n (@nodes)
{
	copy("$dir/cluster_ca/crl.pem", $n->data_dir . '/pgraft_crl.pem') or die $!;
	$n->reload;
}
# The other nodes restart: their new connections to $f meet its new certificate.
for my $n (grep { $_ != $f } @nodes)
{
	$n->restart;
}
$leader = wait_for_leader(@nodes);
$i = append($f, 'through the rotated follower');
ok($i > 0, 'a follower whose certificate was rotated by reload is reached after the old one is revoked');
wait_for_applied($i, @nodes);

# A reload with a broken certificate keeps the old one.
$offset = -s $f->logfile;
write_file($f->data_dir . '/pgraft.crt', "not a certificate\n");
$f->reload;
ok( $f->wait_for_log(qr/could not load the certificate file "pgraft.crt".*\n.*New connections go on using the TLS settings loaded before/,
		$offset),
	'a reload with a broken certificate says so and keeps the old one');
copy("$rotated.crt", $f->data_dir . '/pgraft.crt') or die $!;
$f->reload;

# ---------------------------------------------------------------------------
# Bad certificates: each refused, logged with the address and the reason
# ---------------------------------------------------------------------------
my %bad = (
	'another CA' => [ $other_ca, qr/unable to get local issuer certificate|unknown ca/ ],
	'an expired certificate' => [ $expired, qr/certificate has expired/ ],
	'a revoked certificate' => [ $revoked, qr/certificate revoked/ ],
	'no certificate' => [ undef, qr/peer did not return a certificate|certificate required/ ],
	'a certificate of another cluster' => [ $other_cluster, qr/names a node of another cluster/ ]);
for my $what (sort keys %bad)
{
	my ($cert, $why) = @{ $bad{$what} };
	$offset = -s $leader->logfile;
	tls_connect($leader->{pgraft_port}, $cert);
	ok( $leader->wait_for_log(
			qr/refusing a connection from 127\.0\.0\.1:\d+: TLS failed\n.*DETAIL:  .*(?:$why)/, $offset),
		"$what is refused, logged with the address and the reason");
}

# Attacks with a valid certificate, through openssl s_client: the node
# the certificate names may not claim another id, and a non-member's
# certificate does not make it a member.
sub tls_handshake_as
{
	my ($port, $base, $id) = @_;
	my $frame = PgraftWire::handshake_frame(id => $id, cluster_id => $cid, name => $name,
		config_index => 1);
	my ($out, $err);
	IPC::Run::run(
		[
			'openssl', 's_client', '-quiet', '-connect', "127.0.0.1:$port", '-CAfile',
			"$dir/cluster_ca/ca.crt", '-cert', "$base.crt", '-key', "$base.key"
		],
		'<', \$frame, '>', \$out, '2>', \$err, IPC::Run::timeout(30));
	return $out // '';
}
$offset = -s $leader->logfile;
my $answer = tls_handshake_as($leader->{pgraft_port}, $wrong_id, 3);
unlike($answer, qr/\Q$cid\E/, 'certified as node 2, claiming node 3: told nothing of the cluster');
ok( $leader->wait_for_log(
		qr/refusing a connection from 127\.0\.0\.1:\d+ \(node 3\): peer claims a node id it did not authenticate as/,
		$offset),
	'... refused for claiming an id it did not authenticate as');
my $n4cert = make_cert('cluster_ca', 'node4', "pgraft-node-4.$name");
tls_handshake_as($leader->{pgraft_port}, $n4cert, 4);
ok( $leader->wait_for_log(
		qr/refusing a connection from 127\.0\.0\.1:\d+ \(node 4\): peer is not a member/, $offset),
	'a valid certificate of a non-member: refused as not a member');

# A node presenting another node's certificate is not added.
my $n4 = create_node(4, conf => $tls, start => 0);
install_certs($n4, $wrong_id);
$n4->start;
$n4->safe_psql('postgres', 'CREATE EXTENSION pgraft');
my ($ret, $stdout, $stderr) = $leader->psql('postgres',
	"SELECT pgraft_add_node(4, '127.0.0.1', $n4->{pgraft_port})");
isnt($ret, 0, 'a node whose certificate names another node is not added');
like($stderr, qr/names node 2, not node 4/, '... and the error says so') or diag($stderr);
ok($leader->log_contains(qr/refusing the connection to node 4 at 127\.0\.0\.1:\d+: TLS failed/),
	'... and the leader logs it with the address');
$n4->stop;

# A node without TLS hears that its peer speaks TLS.
my $plain = create_node(5);
$plain->safe_psql('postgres', 'CREATE EXTENSION pgraft');
$offset = -s $plain->logfile;
($ret, $stdout, $stderr) = $leader->psql('postgres',
	"SELECT pgraft_add_node(5, '127.0.0.1', $plain->{pgraft_port})");
isnt($ret, 0, 'a node without TLS is not added to a TLS cluster');
ok($plain->wait_for_log(qr/it looks like TLS: is pgraft.ssl on there and off here/, $offset),
	'and it says its peer speaks TLS');
$plain->stop;

# ---------------------------------------------------------------------------
# TLS and the shared key together: the proofs are bound to the channel
# ---------------------------------------------------------------------------
my $key = openssl('rand', '-hex', '32');
for my $n (@nodes)
{
	write_file($n->data_dir . '/pgraft_auth.key', $key);
	chmod 0600, $n->data_dir . '/pgraft_auth.key';
	$n->append_conf('postgresql.conf', "pgraft.auth_key_file = 'pgraft_auth.key'\n");
	$n->restart;
}
$leader = wait_for_leader(@nodes);
$i = append($leader, 'over TLS with the key');
ok($i > 0, 'with TLS and the key, the cluster forms again and takes appends');
wait_for_applied($i, @nodes);

$_->stop for @nodes;
done_testing();
