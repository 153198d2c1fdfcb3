# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# What an operator sees: the Prometheus endpoint, pgraft_stat(), the log
# lines and the wait events, on a 3-node cluster that takes writes and
# loses its leader (docs/metrics.md, docs/operations.md).
#
#   - /metrics is valid text exposition by Prometheus's own promtool, on
#     every node, before and after a failover;
#   - counters move as they must: proposals committed equals the appends
#     made (on every node), the fsync and commit histograms grow, peers'
#     bytes and heartbeat round trips are counted, a kill -9 of the leader
#     is exactly one leader change on each survivor and one election won;
#   - pgraft_stat() shows the same samples as the endpoint;
#   - a hostile scraper (connections held open, a request sent a byte at a
#     time, an oversized request, garbage) gets its errors and costs the
#     cluster nothing: no election, writes go on, and a normal scrape still
#     works;
#   - at default log settings (pgraft.debug_enabled off) a leader change, a
#     lost peer and a membership change are one LOG line each, and a peer
#     that stays down is not a line per redial;
#   - a worker that fails is restarted and counted, and says why;
#   - a backend waiting on pgraft shows a wait event of type Extension (the
#     worker has no row in pg_stat_activity: it has no database connection).

use strict;
use warnings;

use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PgraftTest;

my ($promtool) = grep { -x } map { "$_/promtool" } split /:/, $ENV{PATH};
BAIL_OUT('promtool (Debian package prometheus) is needed: scripts/install-deps installs it')
  unless $promtool;

# ---------------------------------------------------------------------------
# A scraper
# ---------------------------------------------------------------------------

# GET $path from the node's endpoint: (status code, headers, body).
sub http_get
{
	my ($node, $request) = @_;
	my $sock = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $node->{metrics_port},
		Proto => 'tcp',
		Timeout => 10) or return (0, '', "connect: $!");
	print $sock $request;
	local $/;
	my $resp = <$sock> // '';
	close $sock;
	my ($head, $body) = split /\r\n\r\n/, $resp, 2;
	my ($code) = ($head // '') =~ m{^HTTP/1\.1 (\d+)};
	return ($code // 0, $head // '', $body // '');
}

sub scrape_text
{
	my ($node) = @_;
	my ($code, $head, $body) =
	  http_get($node, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	return $code == 200 ? $body : undef;
}

# "name{labels}" => value
sub parse_metrics
{
	my ($text) = @_;
	my %m;
	for my $line (split /\n/, $text // '')
	{
		next if $line =~ /^#/;
		if ($line =~ /^(\w+)(?:\{(.*)\})? (\S+)$/)
		{
			$m{ $1 . (defined $2 ? "{$2}" : '') } = $3 eq '+Inf' ? 9**9**9 : $3;
		}
	}
	return \%m;
}

sub scrape
{
	my ($node) = @_;
	return parse_metrics(scrape_text($node));
}

sub stat_sql
{
	my ($node) = @_;
	my %m;
	for my $row (split /\n/,
		q1($node, q{SELECT metric || CASE WHEN labels = '' THEN '' ELSE '{' || labels || '}' END, value FROM pgraft_stat()}))
	{
		my ($k, $v) = split /\|/, $row;
		$m{$k} = $v;
	}
	return \%m;
}

sub promtool_check
{
	my ($text, $what) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ $promtool, 'check', 'metrics' ], '<', \$text, '>', \$out, '2>', \$err);
	ok($ok && $out eq '' && $err eq '', "promtool check metrics accepts $what")
	  or diag("promtool: $out$err");
	return;
}

# ---------------------------------------------------------------------------
# The cluster: debug logging off (the default), an endpoint per node
# ---------------------------------------------------------------------------

my @nodes;
for my $id (1 .. 3)
{
	my $mport = PostgreSQL::Test::Cluster::get_free_port();
	my $node = create_node($id,
		conf => "pgraft.debug_enabled = off\npgraft.metrics_port = $mport\n");
	$node->{metrics_port} = $mport;
	push @nodes, $node;
}
init_cluster(@nodes);
my $leader = wait_for_leader(@nodes);
my @followers = followers_of($leader, @nodes);

# -- the endpoint answers, and its text is valid
for my $node (@nodes)
{
	my $text = scrape_text($node);
	ok(defined $text, "node $node->{pgraft_id} answers GET /metrics");
	promtool_check($text, "the text of node $node->{pgraft_id}");
}
my ($code, $head) = http_get($leader, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
like($head, qr{^Content-Type: text/plain; version=0\.0\.4}mi, 'the content type is the text format 0.0.4');
($code, $head) = http_get($leader, "HEAD /metrics HTTP/1.0\r\n\r\n");
is($code, 200, 'HEAD /metrics is answered');

# -- membership changes: one LOG line per change, on every node, debug off
for my $node (@nodes)
{
	ok( poll_until(
			"node $node->{pgraft_id} logs the promotions",
			sub {
				my $log = slurp_file($node->logfile);
				for my $id (2, 3)
				{
					return 0
					  unless $log =~ /LOG:  pgraft: membership changed at index \d+: node $id at 127\.0\.0\.1:\d+ added as learner/
					  && $log =~ /LOG:  pgraft: membership changed at index \d+: node $id promoted to voter/;
				}
				return $log =~ /\n.*DETAIL:  Members now: 1 \(voter\), 2 \(voter\), 3 \(voter\)\./;
			}),
		"node $node->{pgraft_id} logs each membership change at default settings");
}

# -- counters move with writes
my $before = scrape($leader);
my %before_f = map { $_->{pgraft_id} => scrape($_) } @nodes;
my $appends = 50;
append($leader, "m$_") for 1 .. $appends;
append($followers[0], "f$_") for 1 .. 10;
$appends += 10;
for my $node (@nodes)
{
	my $id = $node->{pgraft_id};
	ok( poll_until(
			"node $id counts the appends",
			sub {
				scrape($node)->{pgraft_proposals_committed_total} ==
				  $before_f{$id}{pgraft_proposals_committed_total} + $appends;
			}),
		"node $id: pgraft_proposals_committed_total grew by exactly the $appends appends made");
}
my $after = scrape($leader);
cmp_ok($after->{pgraft_disk_fsync_duration_seconds_count},
	'>', $before->{pgraft_disk_fsync_duration_seconds_count}, 'the fsync histogram grows');
cmp_ok($after->{pgraft_commit_latency_seconds_count},
	'>=', $before->{pgraft_commit_latency_seconds_count} + $appends, 'the leader observed a commit latency for every append');
cmp_ok($after->{pgraft_entries_appended_total},
	'>=', $before->{pgraft_entries_appended_total} + $appends, 'entries appended grew');
cmp_ok($after->{pgraft_request_queue_wait_seconds_count},
	'>=', $before->{pgraft_request_queue_wait_seconds_count} + 50, 'the queue wait of every request is measured');
cmp_ok($after->{pgraft_requests_processed_total},
	'>=', $before->{pgraft_requests_processed_total} + 50, 'the requests are counted');
cmp_ok($after->{'pgraft_disk_fsync_duration_seconds_bucket{le="+Inf"}'},
	'==', $after->{pgraft_disk_fsync_duration_seconds_count}, 'the +Inf bucket is the count');
is($after->{pgraft_is_leader}, 1, 'the leader says it leads');
is($after->{pgraft_leader_id}, $leader->{pgraft_id}, 'and names itself');
for my $f (@followers)
{
	my $p = $f->{pgraft_id};
	cmp_ok($after->{"pgraft_peer_sent_bytes_total{peer=\"$p\"}"}, '>', 0, "bytes sent to node $p are counted");
	cmp_ok($after->{"pgraft_peer_received_messages_total{peer=\"$p\"}"}, '>', 0, "messages from node $p are counted");
	cmp_ok($after->{"pgraft_peer_round_trip_time_seconds_count{peer=\"$p\"}"}, '>', 0, "heartbeat round trips to node $p are measured");
	ok(defined $after->{"pgraft_peer_match_lag_entries{peer=\"$p\"}"}, "the leader shows the lag of node $p");
	is(scrape($f)->{pgraft_is_leader}, 0, "node $p says it does not lead");
}

# -- pgraft_stat() shows the same samples as the endpoint (the cluster idle)
{
	my $node = $followers[0];
	my ($http, $sql, $again);
	my $same_keys;
	# Values that move while idle (heartbeats, ages, bytes) are left out.
	my $moving = qr/^pgraft_(?:peer_|heartbeats|messages_stepped|metrics_scrapes|request|requests_)/;
	my @diff;
	for my $try (1 .. 20)
	{
		$http = scrape($node);
		$sql = stat_sql($node);
		$again = scrape($node);
		@diff = grep { !/$moving/ && (!defined $sql->{$_} || $sql->{$_} != $http->{$_}) } sort keys %$http;
		last if !@diff && !grep { !/$moving/ && $http->{$_} != $again->{$_} } keys %$http;
		usleep(100_000);
	}
	is_deeply([ sort keys %$sql ], [ sort keys %$http ], 'pgraft_stat() has exactly the samples of /metrics');
	is_deeply(\@diff, [], 'and the same values') or diag("differ: @diff");
}

# -- a hostile scraper costs nothing
{
	my $term = q1($leader, 'SELECT pgraft_get_term()');
	my %changes = map { $_->{pgraft_id} => scrape($_)->{pgraft_leader_changes_seen_total} } @nodes;
	my $writer = start_writer($leader, 'hostile');
	ok(poll_until('the writer runs', sub { scalar(writer_acks($writer)) >= 5 }), 'a writer runs on the leader');
	my $acks = scalar(writer_acks($writer));

	# connections held open without a word, more than the endpoint serves
	my @idle = map {
		IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $leader->{metrics_port}, Proto => 'tcp')
	} 1 .. 40;
	# a request a byte at a time
	my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $leader->{metrics_port}, Proto => 'tcp');
	# oversized, malformed and wrong requests get their errors
	my ($c1) = http_get($followers[0], "GET /metrics HTTP/1.1\r\nX: " . ('a' x 20000) . "\r\n\r\n");
	is($c1, 431, 'an oversized request is refused with 431');
	my ($c2) = http_get($followers[0], "\x00\x01garbage\r\n\r\n");
	is($c2, 400, 'garbage gets 400');
	my ($c3) = http_get($followers[0], "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	is($c3, 405, 'POST gets 405');
	my ($c4) = http_get($followers[0], "GET /secret HTTP/1.1\r\n\r\n");
	is($c4, 404, 'another path gets 404');

	for my $i (1 .. 30)
	{
		print $slow 'G' if $slow;
		usleep(100_000);
	}
	cmp_ok(scalar(writer_acks($writer)), '>', $acks + 10, 'writes went on while the endpoint was flooded');
	# the endpoint closes what it held after its deadline, then serves again
	ok(poll_until('a scrape after the flood', sub { defined scrape_text($leader) }),
		'a normal scrape works after the flood');
	close $_ for grep { defined } @idle;
	close $slow if $slow;
	stop_writer($writer);
	is(q1($leader, 'SELECT pgraft_get_term()'), $term, 'no election happened during the flood');
	is(scrape($_)->{pgraft_leader_changes_seen_total}, $changes{ $_->{pgraft_id} },
		"node $_->{pgraft_id} saw no leader change during the flood") for @nodes;
}

# -- a failover: one leader change on each survivor, one election won
{
	my %changes = map { $_->{pgraft_id} => scrape($_)->{pgraft_leader_changes_seen_total} } @followers;
	my %won = map { $_->{pgraft_id} => scrape($_)->{pgraft_elections_won_total} } @followers;
	my $old = $leader;
	kill9_and_wait($old);
	my $new = wait_for_leader(@followers);
	ok(defined $new, 'a new leader after kill -9 of the old one');
	for my $node (@followers)
	{
		my $id = $node->{pgraft_id};
		ok( poll_until(
				"node $id counts the leader change",
				sub { scrape($node)->{pgraft_leader_changes_seen_total} == $changes{$id} + 1 }),
			"node $id: pgraft_leader_changes_seen_total grew by one");
		my $m = scrape($node);
		is($m->{pgraft_elections_won_total}, $won{$id} + ($node == $new ? 1 : 0),
			"node $id: elections won " . ($node == $new ? 'grew by one' : 'unchanged'));
		promtool_check(scrape_text($node), "node $id after the failover");
		like(
			slurp_file($node->logfile),
			qr/LOG:  pgraft: node $new->{pgraft_id} is the leader of term \d+(?: \(this node\))?, after node $old->{pgraft_id}|LOG:  pgraft: node $new->{pgraft_id} is the leader of term \d+/,
			"node $id logs the new leader at default settings");
	}
	is(scrape($new)->{pgraft_is_leader}, 1, 'the new leader says so in its metrics');

	# the lost peer: one line, however long it stays down
	for my $node (@followers)
	{
		ok( poll_until(
				"node $node->{pgraft_id} logs the lost peer",
				sub { slurp_file($node->logfile) =~ /LOG:  pgraft: node $old->{pgraft_id} at 127\.0\.0\.1:\d+ is unreachable/ }),
			"node $node->{pgraft_id} logs that node $old->{pgraft_id} is unreachable");
	}
	sleep 3;
	for my $node (@followers)
	{
		my @lines = slurp_file($node->logfile) =~ /(pgraft: node $old->{pgraft_id} at \S+ is unreachable)/g;
		is(scalar(@lines), 1, "node $node->{pgraft_id}: one unreachable line for a peer that stays down");
	}

	# a backend waiting on pgraft shows its wait event: no majority now
	my $lone = $new;
	my ($other) = grep { $_ != $new } @followers;
	kill9_and_wait($other);
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $lone->connstr('postgres'), '-c', q{SELECT pgraft_log_append(0, 'no majority')} ],
		'>', \$out, '2>', \$err);
	my $want_event = $lone->safe_psql('postgres', 'SHOW server_version_num') >= 170000 ? 'PgraftRequest' : 'Extension';
	ok( poll_until(
			'the waiting backend shows its wait event',
			sub {
				q1($lone, q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pgraft_log_append(0, ''no majority'')%'}
					  . qq{ AND wait_event_type = 'Extension' AND wait_event = '$want_event'}) == 1;
			}),
		"a backend waiting for the worker shows wait event Extension/$want_event");
	$h->kill_kill;

	# back: the peers log that it is reachable again
	$old->start;
	$other->start;
	ok( poll_until(
			'node reachable again',
			sub { slurp_file($lone->logfile) =~ /LOG:  pgraft: node $old->{pgraft_id} at \S+ is reachable again\n.*DETAIL:  It was unreachable for [\d.]+ s\./ }),
		'the peer that came back is logged as reachable again');
	my $l = wait_for_leader(@nodes);
	promtool_check(scrape_text($_), "node $_->{pgraft_id} after the restart") for @nodes;

	# a transfer says so on the old leader
	my ($to) = followers_of($l, @nodes);
	wait_for_applied(q1($l, 'SELECT commit_index FROM pgraft_log_get_stats()'), $to);
	is(q1($l, "SELECT pgraft_transfer_leadership($to->{pgraft_id})"), 't', 'a leadership transfer');
	ok( poll_until(
			'the old leader logs the handover',
			sub {
				slurp_file($l->logfile) =~
				  /LOG:  pgraft: node $to->{pgraft_id} is the leader of term \d+, after node $l->{pgraft_id}\n.*DETAIL:  This node handed leadership over to it\./;
			}),
		'the old leader logs that it handed leadership over');
}

$_->stop for @nodes;

# -- a worker that fails is restarted, counted, and says why
{
	my $node = create_node(9, conf => "pgraft.debug_enabled = off\n");
	$node->safe_psql('postgres', 'CREATE EXTENSION pgraft');
	is(q1($node, 'SELECT pgraft_init()'), 't', 'a lone node founds a cluster');
	$node->stop;
	my $identity = $node->data_dir . '/pgraft/identity';
	open my $fh, '>', $identity or die "$identity: $!";
	print $fh "damaged\n";
	close $fh;
	$node->start;
	ok( poll_until(
			'the failing worker is restarted',
			sub {
				my $m = stat_sql($node);
				return $m->{pgraft_worker_restarts_total} >= 2 && $m->{pgraft_worker_running} == 0;
			}),
		'pgraft_worker_restarts_total counts the restarts of a failing worker');
	like(slurp_file($node->logfile), qr/FATAL:  pgraft: identity file "[^"]+" is damaged/,
		'the worker says why it fails');
	$node->stop;
}
done_testing();
