# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)

=pod

=head1 NAME

PgraftTest - helpers shared by pgraft's TAP tests

=head1 SYNOPSIS

  use PgraftTest;

  my @nodes  = form_cluster(3);
  my $leader = wait_for_leader(@nodes);
  my $index  = append($leader, 'hello');
  wait_for_applied($index, @nodes);
  is_deeply(entries($nodes[1], 1, $index), entries($leader, 1, $index));

=head1 DESCRIPTION

Every node is a PostgreSQL::Test::Cluster with pgraft preloaded, its own
pgraft.node_id and a free TCP port for the Raft transport.  Nothing here
sleeps for a fixed time: every wait is a poll loop with a generous deadline
($PgraftTest::TIMEOUT seconds), because the machines that run these tests
are slow and shared.  A poll that runs out of time is a test failure, never
a hang.

=cut

package PgraftTest;

use strict;
use warnings;

use Carp;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(
  create_node configure_node form_cluster init_cluster add_node
  wait_for_leader leader_of followers_of
  poll_until q1 status members wait_for_members
  append entries entry_map missing_entries wait_for_applied sync_all log_stats
  kill9_and_wait start_writer stop_writer writer_acks writer_running writer_timings
  net_available net_cut net_heal
);

# Deadline of every poll loop, in seconds.
our $TIMEOUT = $ENV{PGRAFT_TEST_TIMEOUT} // 90;

# The cluster name all nodes of one test share.
our $CLUSTER_NAME = 'pgraft_tap';

=pod

=head1 NODES

=over

=item create_node($id, %opts)

A new, started PostgreSQL server with pgraft loaded as node $id.  Options:
allows_streaming (for a primary that gets a standby), cluster_name, conf
(extra postgresql.conf lines), start => 0 (leave it stopped), addr (its own
pgraft.address on loopback, e.g. 127.0.0.12, so that network faults can
tell it apart; default 127.0.0.1).  The node remembers its Raft id, address
and port in $node->{pgraft_id}, $node->{pgraft_addr} and
$node->{pgraft_port}.

=cut

sub create_node
{
	my ($id, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new("node$id");

	$node->init(allows_streaming => $opts{allows_streaming} ? 1 : 0);
	configure_node($node, $id, %opts);
	$node->start unless defined $opts{start} && !$opts{start};
	return $node;
}

=pod

=item configure_node($node, $id, %opts)

Appends pgraft's settings for node $id to $node's postgresql.conf, with a
fresh Raft port (PostgreSQL::Test::Cluster::get_free_port checks that the
port is free and reserves it against concurrent test runs).  Later lines win,
so this also turns a base backup of another node into node $id.

=cut

sub configure_node
{
	my ($node, $id, %opts) = @_;
	my $raft_port = PostgreSQL::Test::Cluster::get_free_port();
	my $name = $opts{cluster_name} // $CLUSTER_NAME;
	my $addr = $opts{addr} // '127.0.0.1';

	$node->append_conf(
		'postgresql.conf', qq{
# pgraft (t/PgraftTest.pm)
shared_buffers = 16MB
max_connections = 20
fsync = on
shared_preload_libraries = 'pgraft'
pgraft.node_id = $id
pgraft.address = '$addr'
pgraft.port = $raft_port
pgraft.cluster_name = '$name'
pgraft.debug_enabled = on
pgraft.health_period_ms = 60000
} . ($opts{conf} // ''));
	$node->{pgraft_id} = $id;
	$node->{pgraft_addr} = $addr;
	$node->{pgraft_port} = $raft_port;
	return $node;
}

=pod

=item init_cluster(@nodes)

Forms a cluster the way the README tells users to: on the first node
CREATE EXTENSION and pgraft_init(), then pgraft_add_node() for every other
node, from the first node.  Every node gets the extension so the tests can
call the SQL functions there.  Returns once every node sees all members as
voters.

=item form_cluster($n, %opts)

create_node() for ids 1..$n (options passed on), then init_cluster().

=cut

sub init_cluster
{
	my (@nodes) = @_;
	my $first = $nodes[0];

	$_->safe_psql('postgres', 'CREATE EXTENSION IF NOT EXISTS pgraft')
	  for @nodes;
	is(q1($first, 'SELECT pgraft_init()'), 't', 'pgraft_init() on the first node');
	add_node($first, $_) for @nodes[ 1 .. $#nodes ];
	wait_for_members(\@nodes, [ map { $_->{pgraft_id} } @nodes ]);
	return @nodes;
}

sub form_cluster
{
	my ($n, %opts) = @_;
	my @nodes = map { create_node($_, %opts) } 1 .. $n;
	return init_cluster(@nodes);
}

=pod

=item add_node($via, $new)

SELECT pgraft_add_node() on $via for node $new; returns its boolean answer.

=cut

sub add_node
{
	my ($via, $new) = @_;
	return q1($via,
		"SELECT pgraft_add_node($new->{pgraft_id}, '$new->{pgraft_addr}', $new->{pgraft_port})"
	);
}

=pod

=back

=head1 QUERIES AND POLLING

=over

=item q1($node, $sql)

safe_psql on database postgres: the result text (dies on error).

=item poll_until($what, $code)

Calls $code every 100 ms until it returns true or $TIMEOUT seconds pass;
returns whether it succeeded and reports a failing test named $what
otherwise (no test is reported on success, so callers can use it freely
inside other checks).  Errors thrown by $code count as "not yet".

=cut

sub q1
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

sub poll_until
{
	my ($what, $code) = @_;
	my $deadline = time() + $TIMEOUT;
	my $last_err = '';

	while (time() < $deadline)
	{
		my $ok = eval { $code->() };
		return 1 if $ok;
		$last_err = $@ if $@;
		usleep(100_000);
	}
	fail("timed out after $TIMEOUT s: $what");
	diag("last error: $last_err") if $last_err;
	return 0;
}

=pod

=item status($node)

pgraft_get_cluster_status() as a hash reference.

=cut

sub status
{
	my ($node) = @_;
	my @f = split /\|/,
	  q1($node,
		'SELECT node_id, current_term, leader_id, state, num_nodes FROM pgraft_get_cluster_status()'
	  );
	return {
		node_id => $f[0],
		term => $f[1],
		leader => $f[2],
		state => $f[3],
		num_nodes => $f[4]
	};
}

=pod

=item members($node)

pgraft_get_nodes() on $node as a list of hashes ordered by node id.

=cut

sub members
{
	my ($node) = @_;
	my $out = q1($node,
		'SELECT node_id, address, port, is_leader, role FROM pgraft_get_nodes() ORDER BY node_id'
	);
	my @rows;
	for my $line (split /\n/, $out)
	{
		my @f = split /\|/, $line;
		push @rows,
		  {
			id => $f[0],
			address => $f[1],
			port => $f[2],
			is_leader => $f[3],
			role => $f[4]
		  };
	}
	return @rows;
}

=pod

=item wait_for_members(\@nodes, \@ids, %opts)

Waits until pgraft_get_nodes() on every node of @nodes lists exactly the
node ids @ids, all of them voters (unless voters => 0), and reports one
passing test per node.

=cut

sub wait_for_members
{
	my ($nodes, $ids, %opts) = @_;
	my $voters = $opts{voters} // 1;
	my $want = join(',', sort { $a <=> $b } @$ids);

	for my $node (@$nodes)
	{
		my $seen = '';
		my $ok = poll_until(
			"node $node->{pgraft_id} sees members $want",
			sub {
				my @m = members($node);
				$seen = join(',', map { "$_->{id}:$_->{role}" } @m);
				return 0 unless join(',', map { $_->{id} } @m) eq $want;
				return 1 unless $voters;
				return !grep { $_->{role} ne 'voter' } @m;
			});
		ok($ok, "node $node->{pgraft_id} sees members $want"
			  . ($voters ? ' as voters' : ''))
		  or diag("node $node->{pgraft_id} sees $seen");
	}
	return;
}

=pod

=item wait_for_leader(@nodes)

Waits until every node of @nodes names the same leader in the same term,
that leader is one of @nodes and says it leads, and returns the leader's
node object (undef, with a failed test, on timeout).

=item leader_of(@nodes)

The node of @nodes that says it is the leader now, or undef.

=item followers_of($leader, @nodes)

@nodes without $leader.

=cut

sub wait_for_leader
{
	my (@nodes) = @_;
	my $leader;
	my $seen = '';

	poll_until(
		'a leader all nodes agree on',
		sub {
			my @st = map { status($_) } @nodes;
			$seen = join('; ',
				map { "node $_->{node_id}: $_->{state} term $_->{term} leader $_->{leader}" }
				  @st);
			my $id = $st[0]{leader};
			my $term = $st[0]{term};
			return 0 if $id == 0;
			return 0 if grep { $_->{leader} != $id || $_->{term} != $term } @st;
			my ($l) = grep { $_->{pgraft_id} == $id } @nodes;
			return 0 unless defined $l;
			return 0 unless q1($l, 'SELECT pgraft_is_leader()') eq 't';
			$leader = $l;
			return 1;
		}) or diag("last seen: $seen");
	return $leader;
}

sub leader_of
{
	my (@nodes) = @_;
	for my $node (@nodes)
	{
		my $r = eval { q1($node, 'SELECT pgraft_is_leader()') };
		return $node if defined $r && $r eq 't';
	}
	return undef;
}

sub followers_of
{
	my ($leader, @nodes) = @_;
	return grep { $_ != $leader } @nodes;
}

=pod

=back

=head1 THE LOG

=over

=item append($node, $data)

pgraft_log_append(0, $data) on $node: the index it was committed at.

=item entries($node, $from, $count)

pgraft_log_get_entries($from, $count) on $node as a list of
[index, term, type, data] (data '' for entries without data).  Test data
must not contain '|' or newlines.

=item entry_map($node, $from, $count)

The same as a hash index => data, for data entries only.

=item missing_entries($node, \%acked, $from)

The indexes of %acked (index => data) from $from (default 1) on that
$node does not hold with exactly that data: empty when all are there.

=item wait_for_applied($index, @nodes)

Waits until each node has applied $index (pgraft_log_get_stats()).

=item sync_all(@nodes)

pgraft_log_sync_with_leader() on each node (a read barrier); returns the
largest index it answered.

=item log_stats($node)

pgraft_log_get_stats() as a hash reference.

=cut

sub append
{
	my ($node, $data) = @_;
	return q1($node, "SELECT pgraft_log_append(0, '$data')");
}

sub entries
{
	my ($node, $from, $count) = @_;
	my $out = q1($node,
		"SELECT index, term, type, coalesce(data, '') FROM pgraft_log_get_entries($from, $count)"
	);
	return map { [ split /\|/, $_, 4 ] } grep { $_ ne '' } split /\n/, $out;
}

sub entry_map
{
	my ($node, $from, $count) = @_;
	my %map;
	for my $e (entries($node, $from, $count))
	{
		$map{ $e->[0] } = $e->[3] if $e->[2] eq 'data';
	}
	return \%map;
}

sub missing_entries
{
	my ($node, $acked, $from) = @_;
	$from //= 1;
	my @want = grep { $_ >= $from } sort { $a <=> $b } keys %$acked;
	return () unless @want;
	my $map = entry_map($node, $from, $want[-1] - $from + 1);
	return grep { ($map->{$_} // '') ne $acked->{$_} } @want;
}

sub log_stats
{
	my ($node) = @_;
	my @f = split /\|/,
	  q1($node,
		'SELECT first_index, last_index, commit_index, last_applied, snapshot_index, snapshot_term FROM pgraft_log_get_stats()'
	  );
	return {
		first_index => $f[0],
		last_index => $f[1],
		commit_index => $f[2],
		last_applied => $f[3],
		snapshot_index => $f[4],
		snapshot_term => $f[5]
	};
}

sub wait_for_applied
{
	my ($index, @nodes) = @_;
	my $ok = 1;
	for my $node (@nodes)
	{
		$ok &= poll_until("node $node->{pgraft_id} applies index $index",
			sub { log_stats($node)->{last_applied} >= $index });
	}
	return $ok;
}

sub sync_all
{
	my (@nodes) = @_;
	my $max = 0;
	for my $node (@nodes)
	{
		my $i;
		poll_until(
			"read barrier on node $node->{pgraft_id}",
			sub {
				$i = q1($node, 'SELECT pgraft_log_sync_with_leader(30000)');
				return 1;
			});
		$max = $i if defined $i && $i > $max;
	}
	return $max;
}

=pod

=back

=head1 CRASHES

=over

=item kill9_and_wait($node)

kill -9 of the postmaster (PostgreSQL::Test::Cluster::kill9), then waits
until the postmaster and every process it had started are gone.  On these
machines the orphaned zombies are reaped late, and a zombie postmaster keeps
postmaster.pid looking alive, so restarting the data directory early would
fail.  The children (backends, the pgraft worker) exit by themselves on
postmaster death; while any still runs, the old shared memory segment is in
use and the Raft port is bound.

=cut

sub _children_of
{
	my ($ppid) = @_;
	my @kids;
	opendir(my $dh, '/proc') or return ();
	for my $pid (grep { /^\d+$/ } readdir $dh)
	{
		open(my $fh, '<', "/proc/$pid/stat") or next;
		my $stat = <$fh>;
		close $fh;
		next unless defined $stat;
		# pid (comm) state ppid ...: comm may hold spaces and parentheses
		push @kids, $pid if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $ppid;
	}
	closedir $dh;
	return @kids;
}

sub _gone
{
	my ($pid, $allow_zombie) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return 1;
	my $st = join('', <$fh>);
	close $fh;
	return $allow_zombie && $st =~ /^State:\s+Z/m;
}

sub kill9_and_wait
{
	my ($node) = @_;
	my $pid = $node->{_pid};
	croak "node $node->{pgraft_id} is not running" unless defined $pid;
	my @kids = _children_of($pid);

	$node->kill9;
	poll_until(
		"the killed postmaster of node $node->{pgraft_id} and its children are gone",
		sub {
			return 0 unless _gone($pid, 0);
			return !grep { !_gone($_, 1) } @kids;
		});
	return;
}

=pod

=back

=head1 NETWORK FAULTS

Packet filter rules on loopback, applied by scripts/netfault (root) at the
tests' request through the FIFO named in PGRAFT_NETFAULT.  Nodes must have
addresses of their own (create_node's addr).

=over

=item net_available()

Whether the helper runs (scripts/pg-tests starts it when run as root).

=item net_cut($from, $to)

Every packet from $from's address to $to's is dropped at $to: a one-way
cut (TCP in the other direction suffers too: its acknowledgements are
packets from $from).

=item net_heal()

Removes every cut.

=cut

my $net_requests = 0;

sub net_available
{
	return defined $ENV{PGRAFT_NETFAULT} && -p $ENV{PGRAFT_NETFAULT};
}

sub _net_request
{
	my ($cmd) = @_;
	my $reply = "$ENV{TESTDIR}/netfault.reply." . $$ . '.' . $net_requests++;
	unlink $reply;
	open(my $fh, '>', $ENV{PGRAFT_NETFAULT}) or croak "netfault: $!";
	print $fh "$cmd $reply\n";
	close $fh;
	for (1 .. 100)
	{
		if (-s $reply)
		{
			open(my $r, '<', $reply) or croak "netfault reply: $!";
			my $rc = <$r>;
			close $r;
			unlink $reply;
			chomp $rc;
			croak "netfault: '$cmd' failed ($rc)" unless $rc eq '0';
			return;
		}
		usleep(100_000);
	}
	croak "netfault: no answer to '$cmd'";
}

sub net_cut
{
	my ($from, $to) = @_;
	_net_request("cut $from->{pgraft_addr} $to->{pgraft_addr}");
}

sub net_heal
{
	_net_request('heal - -');
}

=pod

=back

=head1 BACKGROUND WRITERS

A writer is one psql session running a server-side loop of
pgraft_log_append() calls; each acknowledged append is reported as a NOTICE
"ack <name>-<n> <index> <ms> <at>" (how long it took, and when it ended, in
milliseconds since the epoch), each failed one as "fail <name>-<n>: <error>",
both as soon as they happen (a notice is flushed to the client at once), so
the test knows every acknowledged entry even if the server dies mid-loop.
The loop ends when the file "stop_writer_<name>" appears in the data
directory of the node it runs on (stop_writer), after $max appends, or when
its server dies.

=over

=item start_writer($node, $name, $max)

=item stop_writer($writer)

Creates the stop file, waits for the psql session to end and returns its
acknowledgements (as writer_acks).

=item writer_acks($writer)

The entries acknowledged so far: a list of [index, data].

=item writer_timings($writer)

The acknowledged appends' timings: a list of [ms it took, ms since the epoch
when it ended].

=item writer_running($writer)

Whether the psql session still runs (collecting its output).

=cut

sub start_writer
{
	my ($node, $name, $max) = @_;
	$max //= 1_000_000;
	my $sql = qq{
DO \$\$
DECLARE
	i int := 0;
	idx bigint;
	t0 timestamptz;
BEGIN
	WHILE i < $max AND pg_stat_file('stop_writer_$name', true) IS NULL LOOP
		i := i + 1;
		BEGIN
			t0 := clock_timestamp();
			idx := pgraft_log_append(0, '$name-' || i);
			RAISE NOTICE 'ack $name-% % % %', i, idx,
				round(extract(epoch FROM clock_timestamp() - t0) * 1000, 2),
				round(extract(epoch FROM clock_timestamp()) * 1000, 2);
		EXCEPTION WHEN OTHERS THEN
			RAISE NOTICE 'fail $name-%: %', i, SQLERRM;
		END;
	END LOOP;
END
\$\$;
};
	my $w = { node => $node, name => $name, stdout => '', stderr => '' };
	$w->{h} = IPC::Run::start(
		[
			'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-c', $sql
		],
		'>', \$w->{stdout}, '2>', \$w->{stderr});
	return $w;
}

sub writer_running
{
	my ($w) = @_;
	return 0 unless $w->{h}->pumpable;
	eval { $w->{h}->pump_nb };
	return $w->{h}->pumpable;
}

sub writer_acks
{
	my ($w) = @_;
	writer_running($w);
	my @acks;
	while ($w->{stderr} =~ /ack (\S+) (\d+)/g)
	{
		push @acks, [ $2, $1 ];
	}
	return @acks;
}

sub writer_timings
{
	my ($w) = @_;
	writer_running($w);
	my @t;
	while ($w->{stderr} =~ /ack \S+ \d+ ([\d.]+) ([\d.]+)/g)
	{
		push @t, [ $1, $2 ];
	}
	return @t;
}

sub stop_writer
{
	my ($w) = @_;
	my $path = $w->{node}->data_dir . "/stop_writer_$w->{name}";
	if (-d $w->{node}->data_dir)
	{
		open(my $fh, '>', $path) or die "could not create $path: $!";
		close $fh;
	}
	my $done = poll_until("writer $w->{name} ends", sub { !writer_running($w) });
	$w->{h}->kill_kill unless $done;
	eval { $w->{h}->finish };
	return writer_acks($w);
}

=pod

=back

=cut

1;
