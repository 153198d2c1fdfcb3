# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# A planned switchover loses no write: a rolling restart of a 3-node
# cluster (pg_ctl stop, then start, one node at a time, the leader
# included) under constant writes from the nodes that stay up.
#
#   - a leader asked to stop hands leadership to its successor first
#     (src/app/handover.c): it logs the handover, the successor wins the
#     next term by TimeoutNow, and no node that stays up starts a pre-vote,
#     so no write waits for an election timeout;
#   - no write fails, and every acknowledged write is on every node after
#     the restarts;
#   - a follower's stop needs no handover, and a lone node stops at once;
#   - the worst time a write waited, and the longest gap between two
#     acknowledged writes, are reported (a diag line).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use PgraftTest;

my @nodes = form_cluster(3, conf => "pgraft.debug_enabled = off\n");
my %acked;
my $worst_wait = 0;
my $worst_gap = 0;
my %restarted;

sub stat_value
{
	my ($node, $metric) = @_;
	return q1($node, "SELECT value FROM pgraft_stat() WHERE metric = '$metric'");
}

for my $round (1 .. 3)
{
	my $leader = wait_for_leader(@nodes);
	# the leader goes next when it has not been restarted yet
	my ($victim) = grep { !$restarted{ $_->{pgraft_id} } } ($leader, @nodes);
	my @up = grep { $_ != $victim } @nodes;
	my $was_leader = $victim == $leader;
	my $mode = $round == 2 ? 'smart' : 'fast';
	my $vid = $victim->{pgraft_id};
	my %pre_votes = map { $_->{pgraft_id} => stat_value($_, 'pgraft_pre_votes_started_total') } @up;
	my $log_pos = -s $victim->logfile;

	my @writers = map { start_writer($_, "r$round-n$_->{pgraft_id}") } @up;
	for my $w (@writers)
	{
		ok(poll_until("writer $w->{name} runs", sub { scalar(writer_acks($w)) >= 5 }),
			"round $round: a writer runs on node $w->{node}{pgraft_id}");
	}

	$victim->stop($mode);
	my $stop_log = substr(slurp_file($victim->logfile), $log_pos);
	if ($was_leader)
	{
		like($stop_log, qr/LOG:  pgraft: stopping: handing leadership to node \d+/,
			"round $round: the leader (node $vid, pg_ctl stop -m $mode) hands leadership over");
		like($stop_log, qr/LOG:  pgraft: stopping: node \d+ leads now, handed over in \d+ ms/,
			"round $round: the handover completed before the node stopped");
	}
	else
	{
		unlike($stop_log, qr/pgraft: stopping/,
			"round $round: a follower (node $vid) stops without a handover");
	}
	my $new = wait_for_leader(@up);
	ok(defined $new, "round $round: the nodes that stay up agree on a leader");
	# writes go on while the node is down
	my %before = map { $_->{name} => scalar(writer_acks($_)) } @writers;
	for my $w (@writers)
	{
		ok(poll_until("writer $w->{name} goes on", sub { scalar(writer_acks($w)) >= $before{ $w->{name} } + 5 }),
			"round $round: writes on node $w->{node}{pgraft_id} go on while node $vid is down");
	}
	$victim->start;
	$restarted{$vid} = 1;

	my @timings;
	for my $w (@writers)
	{
		my @acks = stop_writer($w);
		$acked{ $_->[0] } = $_->[1] for @acks;
		push @timings, writer_timings($w);
		unlike($w->{stderr}, qr/fail r$round/, "round $round: no write on node $w->{node}{pgraft_id} failed");
	}
	for my $t (@timings)
	{
		$worst_wait = $t->[0] if $t->[0] > $worst_wait;
	}
	my @ends = sort { $a <=> $b } map { $_->[1] } @timings;
	for my $i (1 .. $#ends)
	{
		$worst_gap = $ends[$i] - $ends[ $i - 1 ] if $ends[$i] - $ends[ $i - 1 ] > $worst_gap;
	}
	for my $n (@up)
	{
		is(stat_value($n, 'pgraft_pre_votes_started_total'), $pre_votes{ $n->{pgraft_id} },
			"round $round: node $n->{pgraft_id} started no election: no write waited for an election timeout");
	}
	my $top = (sort { $b <=> $a } keys %acked)[0];
	ok(wait_for_applied($top, @nodes), "round $round: node $vid is back and caught up");
}

for my $n (@nodes)
{
	my @missing = missing_entries($n, \%acked);
	is(scalar(@missing), 0,
		"node $n->{pgraft_id} holds all " . scalar(keys %acked) . ' acknowledged writes')
	  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
}
diag(sprintf('rolling restart: %d writes, worst write %.1f ms, longest gap between writes %.1f ms',
		scalar(keys %acked), $worst_wait, $worst_gap));
cmp_ok($worst_wait, '<', 1000, 'no write waited as long as an election timeout');

# A lone node has no one to hand over to: it says so and stops.
my $lone = create_node(9, conf => "pgraft.debug_enabled = off\n");
$lone->safe_psql('postgres', 'CREATE EXTENSION pgraft');
$lone->safe_psql('postgres', 'SELECT pgraft_init()');
ok(poll_until('the lone node leads', sub { q1($lone, 'SELECT pgraft_is_leader()') eq 't' }),
	'a one-node cluster leads');
$lone->stop('fast');
like(slurp_file($lone->logfile),
	qr/LOG:  pgraft: stopping without a handover: no other voter was heard from within the election timeout/,
	'a lone leader stops at once, without a handover');

$_->stop('fast') for @nodes;
done_testing();
