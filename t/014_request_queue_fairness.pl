# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# A flood of readers cannot keep an administrator out of the request queue.
#
# Reads (pgraft_log_sync_with_leader, pgraft_log_get_entries) may hold at
# most three quarters of the pgraft.max_requests slots.  To make the flood
# certain rather than a matter of timing, the worker is stopped (SIGSTOP):
# nothing it could answer frees a slot.  60 sessions of a role granted
# reads then ask for a read barrier: 48 of the 64 slots fill, the other 12
# are refused at once with an error that names the limit and the setting.
# An administrator's append still gets a slot, and once the worker goes on
# it commits.  A role without grants may not take a slot at all.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my $node = create_node(1, conf => "max_connections = 100\n");
init_cluster($node);
wait_for_leader($node);
$node->safe_psql(
	'postgres', q{
CREATE ROLE reader LOGIN;
GRANT EXECUTE ON FUNCTION pgraft_log_sync_with_leader(integer),
                          pgraft_log_get_entries(bigint, integer) TO reader;
CREATE ROLE admin LOGIN;
GRANT EXECUTE ON FUNCTION pgraft_log_append(bigint, text) TO admin;
CREATE ROLE nobody LOGIN;
});

my ($ret, $out, $err) = $node->psql('postgres', 'SELECT pgraft_log_sync_with_leader(1000)',
	extra_params => [ '-U', 'nobody' ]);
like($err, qr/permission denied for function pgraft_log_sync_with_leader/,
	'a role without grants may not take a queue slot');

# The worker: the postmaster's child of that title.
my $worker;
opendir(my $proc, '/proc') or die "/proc: $!";
for my $pid (grep { /^\d+$/ } readdir $proc)
{
	my $stat = eval { slurp_file("/proc/$pid/stat") } // next;
	my $cmd = eval { slurp_file("/proc/$pid/cmdline") } // next;
	$worker = $pid if (split ' ', $stat)[3] == $node->{_pid} && $cmd =~ /pgraft worker/;
}
ok(defined $worker, 'the worker runs');
kill 'STOP', $worker;

sub session
{
	my ($role, $sql) = @_;
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-X', '-At', '-h', $node->host, '-p', $node->port, '-U', $role, '-d',
			'postgres', '-c', $sql
		],
		'<', \undef, '>', \$o, '2>', \$e);
	return { h => $h, out => \$o, err => \$e };
}

my @readers = map { session('reader', 'SELECT pgraft_log_sync_with_leader(60000)') } 1 .. 60;
ok( poll_until(
		'48 readers hold slots and 12 were refused',
		sub {
			my $held = q1($node, 'SELECT queue_length FROM pgraft_get_queue_status()');
			my $done = grep { !$_->{h}->pumpable } @readers;
			$_->{h}->pump_nb for grep { $_->{h}->pumpable } @readers;
			return $held == 48 && $done == 12;
		}),
	'the readers fill the 48 slots reads may hold, and no more');
my @refused = grep { ${ $_->{err} } =~ /pgraft request queue is full for reads/ } @readers;
is(scalar @refused, 12, 'the other 12 readers are refused at once');
like(${ $refused[0]{err} // \'' }, qr/may hold 48 of the 64 request slots \(pgraft\.max_requests\)/,
	'the error names the limit and the setting');
like(${ $refused[0]{err} // \'' }, qr/raise pgraft\.max_requests/, 'and how to raise it');

my $admin = session('admin', "SELECT pgraft_log_append(0, 'the admin gets through')");
ok( poll_until(
		'the admin\'s append takes a slot',
		sub { q1($node, 'SELECT queue_length FROM pgraft_get_queue_status()') == 49 }),
	'the administrator\'s append still gets a slot');

kill 'CONT', $worker;
$admin->{h}->finish;
like(${ $admin->{out} }, qr/^\d+$/, 'and commits once the worker goes on')
  or diag(${ $admin->{err} });
$_->{h}->finish for @readers;
is(scalar(grep { ${ $_->{out} } =~ /^\d+$/ } @readers), 48, 'the 48 readers are answered too');

$node->stop;
done_testing();
