# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# Every SQL call ends with its true outcome, on a real cluster (issue 7).
#
# The races each part stages:
#  1. kill -9 of a follower while the leader flushes the appends it sends
#     before its own fsync: the broken connection used to be reported to
#     the core in the middle of the leader's batch, and the leader's worker
#     died of it.  Followers are killed again and again under writes; the
#     leader's worker process and its leadership must survive every kill.
#  3. a lost majority: a write or a read barrier without statement_timeout
#     used to wait for ever (ten minutes and more).  Both end within their
#     own timeout, with a clear SQLSTATE, long before statement_timeout.
#  4. kill -9 of a follower with appends in flight, and a restart: request
#     ids restarted at 1, so an entry forwarded by the old worker could
#     answer a new call.  Every index a call returned holds that call's
#     data, on every node.
#  7. removing the leader while another voter is down: the successor was
#     the lowest id even when down, and writes stopped for good.  The
#     leader hands over to a live voter and writes go on.
# 10. a removal cancelled by its caller while no leader was reachable: the
#     worker went on retrying and removed the node later by itself.
#     Cancelled, it stays undone.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

sub worker_pid
{
	my ($node) = @_;
	return q1($node,
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgraft worker'");
}

# psql on $node: (exit code, stdout, stderr) of $sql, never dying.
sub try_sql
{
	my ($node, $sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', $sql,
		stdout => \$out, stderr => \$err, on_error_stop => 1,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($rc, $out, $err);
}

my @nodes = form_cluster(4);
my $leader = wait_for_leader(@nodes);
my $leader_pid = worker_pid($leader);
my $term = q1($leader, 'SELECT pgraft_get_term()');
my @followers = followers_of($leader, @nodes);

# ---------------------------------------------------------------------------
# 1. kill -9 of followers under writes
# ---------------------------------------------------------------------------
my $writer = start_writer($leader, 'w1');
for my $round (1 .. 4)
{
	my $victim = $followers[ $round % @followers ];
	poll_until("writes go on before kill $round",
		sub { scalar(writer_acks($writer)) >= 20 * $round });
	kill9_and_wait($victim);
	note("round $round: killed node $victim->{pgraft_id}");
	$victim->start;
}
my %acked = map { $_->[0] => $_->[1] } stop_writer($writer);
cmp_ok(scalar(keys %acked), '>=', 80, 'the writer on the leader kept writing through four kills');
is(worker_pid($leader), $leader_pid, "the leader's worker never restarted");
is(leader_of(@nodes), $leader, 'the leader kept its leadership');
is(q1($leader, 'SELECT pgraft_get_term()'), $term, 'in the same term');
sync_all(@nodes);
is(join(',', missing_entries($_, \%acked)), '',
	"node $_->{pgraft_id} holds every acknowledged entry at its index")
  for @nodes;

# ---------------------------------------------------------------------------
# 4. a follower killed with appends in flight, restarted, writes again
# ---------------------------------------------------------------------------
my $f = $followers[0];
my $fw = start_writer($f, 'f1');
poll_until('the follower forwards writes', sub { scalar(writer_acks($fw)) >= 10 });
kill9_and_wait($f);
my @before = writer_acks($fw);
eval { $fw->{h}->finish };
$f->start;
my $fw2 = start_writer($f, 'f2', 30);
poll_until('the restarted follower writes again', sub { !writer_running($fw2) });
my @after = stop_writer($fw2);
cmp_ok(scalar(@after), '>=', 20, 'the restarted follower took writes');
my %forwarded = map { $_->[0] => $_->[1] } @before, @after;
is(scalar(keys %forwarded), scalar(@before) + scalar(@after),
	'no index was answered to two calls');
sync_all(@nodes);
is(join(',', missing_entries($_, \%forwarded)), '',
	"node $_->{pgraft_id}: every index a call returned holds that call's data")
  for @nodes;

# ---------------------------------------------------------------------------
# 7. removing the leader from a follower while another voter is down
# ---------------------------------------------------------------------------
$leader = wait_for_leader(@nodes);
my @live = followers_of($leader, @nodes);
my ($down) = sort { $a->{pgraft_id} <=> $b->{pgraft_id} } @live;
@live = grep { $_ != $down } @live;
$down->stop('immediate');
note("stopped node $down->{pgraft_id}, the lowest follower");
is(q1($live[0], "SELECT pgraft_remove_node($leader->{pgraft_id})"),
	't', "node $live[0]->{pgraft_id} removes the leader, node $leader->{pgraft_id}");
my $next = wait_for_leader(@live);
ok(defined $next && $next != $leader && $next != $down,
	'a live voter took over');
like(append($live[1], 'after-leader-removal'), qr/^\d+$/,
	'writes go on after the leader was removed');
$leader->stop;
$down->start;
@nodes = grep { $_ != $leader } @nodes;
wait_for_members(\@nodes, [ map { $_->{pgraft_id} } @nodes ]);

# ---------------------------------------------------------------------------
# 3. a lost majority: the call's own deadline, not statement_timeout
# ---------------------------------------------------------------------------
$leader = wait_for_leader(@nodes);
my ($keep, @others) = @nodes;
$_->stop('immediate') for @others;
my ($rc, $out, $err) = try_sql($keep,
	"SET statement_timeout = '120s'; SET pgraft.request_timeout = '2s';
	 SELECT pgraft_log_append(0, 'no-majority')");
isnt($rc, 0, 'an append without a majority fails');
like($err, qr/ERROR:  (08007|55000):/, 'with its own SQLSTATE (unknown outcome, or nothing done)');
unlike($err, qr/57014/, 'ended by the request timeout, not by statement_timeout');
($rc, $out, $err) = try_sql($keep,
	"SET statement_timeout = '120s'; SELECT pgraft_log_sync_with_leader(1500)");
isnt($rc, 0, 'a read barrier without a majority fails');
like($err, qr/ERROR:  55000: the read barrier did not complete within 1500 ms/,
	'within its own timeout_ms');
like($err, qr/HINT:  See pgraft_get_cluster_status\(\); pass a larger timeout_ms to wait longer\./,
	'and its hint names that argument');

# ---------------------------------------------------------------------------
# 10. a cancelled removal stays undone
# ---------------------------------------------------------------------------
my $target = $others[0]->{pgraft_id};
($rc, $out, $err) = try_sql($keep,
	"SET statement_timeout = '1s'; SELECT pgraft_remove_node($target)");
like($err, qr/57014/, 'the removal is cancelled by statement_timeout');
$_->start for @others;
$leader = wait_for_leader(@nodes);
ok(defined $leader, 'a leader again once the nodes are back');
# the old worker retried every election timeout for as long as it lived
sleep(5);
append($leader, 'after-cancelled-removal');
sync_all(@nodes);
ok((grep { $_->{id} == $target } members($_)),
	"node $_->{pgraft_id} still has node $target: the cancelled removal never happened")
  for @nodes;

# What pgraft_log_get_entries calls data is exactly what counted: calls
# proposed again after lost messages (above) left duplicates and void
# copies in the log, and they must not show as data.  (Key-value commands
# that counted, such as the leader's quota, show as kv.)
for my $node (@nodes)
{
	my ($first, $counted) = split /\|/,
	  q1($node, 'SELECT first_index, entries_appended FROM pgraft_log_get_stats()');
	my $data = grep { $_->[2] eq 'data' || $_->[2] eq 'kv' } entries($node, 1, 100000);
	is($first, 1, "node $node->{pgraft_id} still has its whole log");
	is($data, $counted, "node $node->{pgraft_id} shows as data (or kv) exactly the entries that counted");
}

done_testing();
