# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
#
# Recovery after a majority is lost for good: pgraft_force_new_cluster().
#
# A 3-node cluster loses a follower, then, under a writer, its leader: the
# last node cannot elect anyone.  The test checks that:
#   - the function is refused while a leader is alive (on the leader and on
#     a follower), with SQLSTATE 55000 and nothing changed;
#   - on the survivor, once it has no leader, it makes the survivor the only
#     voter and leader of a higher term, under a new cluster id;
#   - every append acknowledged to a client is still at its index (the ones
#     the survivor did not yet know were committed included), and the
#     survivor takes new appends alone;
#   - two fresh nodes are added and catch up: all three hold the same log,
#     with every acknowledged entry;
#   - a lost node that comes back is refused as another cluster and does
#     not disturb the new one.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgraftTest;

my @nodes = form_cluster(3);
my $leader = wait_for_leader(@nodes);
my ($survivor, $lost) = followers_of($leader, @nodes);
my $old_term = q1($leader, 'SELECT pgraft_get_term()');

sub force_on
{
	my ($node) = @_;
	my ($ret, $stdout, $stderr) =
	  $node->psql('postgres', 'SELECT pgraft_force_new_cluster()',
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($ret, $stderr);
}

# Refused while the cluster has a leader: on the leader, on a follower.
my ($ret, $stderr) = force_on($leader);
isnt($ret, 0, 'refused on the leader');
like($stderr, qr/ERROR:  55000: this node leads its cluster, so a majority of the voters is alive/,
	'the leader says it has a majority');
($ret, $stderr) = force_on($survivor);
isnt($ret, 0, 'refused on a follower of a live leader');
like($stderr,
	qr/ERROR:  55000: node $leader->{pgraft_id} leads the cluster, so a majority of the voters is alive/,
	'the follower names the leader');
is(scalar(members($survivor)), 3, 'nothing changed: three members');

# Some history everyone has.
my %acked;
for my $i (1 .. 20)
{
	my $idx = append($leader, "before-$i");
	$acked{$idx} = "before-$i";
}

# A follower is lost for good; the leader and the survivor go on.
kill9_and_wait($lost);
note("lost node $lost->{pgraft_id}");
for my $i (1 .. 20)
{
	my $idx = append($leader, "two-left-$i");
	$acked{$idx} = "two-left-$i";
}

# Then the leader, while a writer appends to it: its last acknowledgements
# reach the survivor's log before the survivor learns they committed.
my $w = start_writer($leader, 'last');
ok(poll_until('the writer gets appends acknowledged', sub { scalar(writer_acks($w)) >= 30 }),
	'the writer on the leader has appends acknowledged');
kill9_and_wait($leader);
note("lost node $leader->{pgraft_id}, the leader");
my @last = stop_writer($w);
$acked{ $_->[0] } = $_->[1] for @last;
my $before = log_stats($survivor);
diag(scalar(keys %acked)
	  . ' appends acknowledged, up to index '
	  . (sort { $b <=> $a } keys %acked)[0]
	  . "; the survivor holds up to $before->{last_index} and knows $before->{commit_index} committed");

# The survivor alone: no leader for it, ever.  It may be forced once it has
# known no leader for an election timeout (refused until then).
my $identity = $survivor->data_dir . '/pgraft/identity';
my $id_old = slurp_file($identity);
my $offset = -s $survivor->logfile;
my $forced = poll_until(
	'pgraft_force_new_cluster() succeeds on the survivor',
	sub {
		my ($r, $err) = force_on($survivor);
		return $r == 0;
	});
ok($forced, 'pgraft_force_new_cluster() on the survivor');
ok( $survivor->wait_for_log(
		qr/pgraft: forced a new cluster [0-9a-f]{32} with this node as its only voter, in term \d+: the log up to index \d+ is kept and committed/,
		$offset),
	'the survivor logs the forced configuration');
isnt(slurp_file($identity), $id_old, 'under a new cluster id');
is(q1($survivor, 'SELECT pgraft_is_leader()'), 't', 'the survivor leads');
cmp_ok(q1($survivor, 'SELECT pgraft_get_term()'), '>', $old_term, 'in a higher term');
is(join(',', map { "$_->{id}:$_->{role}" } members($survivor)),
	"$survivor->{pgraft_id}:voter", 'it is the only member');
is(join(',', missing_entries($survivor, \%acked)), '',
	'every acknowledged append is at its index on the survivor');
my $alone = append($survivor, 'alone');
ok($alone > 0, 'the survivor commits an append alone');
$acked{$alone} = 'alone';
my ($out, $err);
$survivor->psql('postgres', 'SELECT pgraft_force_new_cluster()', stdout => \$out, stderr => \$err);
is($out, 't', 'a second call succeeds');
like($err, qr/NOTICE:  this node already is the only voter of its pgraft cluster/,
	'and says there was nothing to do');
is(scalar(members($survivor)), 1, 'still one member');

# The forced state and the new identity are durable: after a restart the
# survivor is still a cluster of its own, with the same log.
my $id_before = slurp_file($identity);
$survivor->restart;
is(wait_for_leader($survivor), $survivor, 'after a restart the survivor leads again');
is(slurp_file($identity), $id_before, 'under the new cluster id still');
is(scalar(members($survivor)), 1, 'still alone');
is(join(',', missing_entries($survivor, \%acked)), '',
	'with every acknowledged append');

# Two fresh nodes join the new cluster.
my @fresh = (create_node(4), create_node(5));
$_->safe_psql('postgres', 'CREATE EXTENSION pgraft') for @fresh;
is(add_node($survivor, $_), 't', "node $_->{pgraft_id} is added") for @fresh;
my @cluster = ($survivor, @fresh);
wait_for_members(\@cluster, [ map { $_->{pgraft_id} } @cluster ]);
my $after = append($survivor, 'three-again');
$acked{$after} = 'three-again';
wait_for_applied($after, @cluster);
for my $node (@cluster)
{
	is(join(',', missing_entries($node, \%acked)), '',
		"every acknowledged append is at its index on node $node->{pgraft_id}");
}
my @on_survivor = entries($survivor, 1, $after);
is_deeply([ entries($_, 1, $after) ], \@on_survivor,
	"node $_->{pgraft_id} holds the survivor's log") for @fresh;

# A lost node comes back: another cluster now, refused, and harmless.
my $term = q1($survivor, 'SELECT pgraft_get_term()');
$offset = -s $survivor->logfile;
$lost->start;
ok( $survivor->wait_for_log(
		qr/WARNING:  pgraft: two clusters are named "$PgraftTest::CLUSTER_NAME": node $lost->{pgraft_id} belongs to cluster [0-9a-f]{32}, this node to cluster [0-9a-f]{32}/,
		$offset),
	'the lost node is refused as a node of another cluster');
my $more = append($survivor, 'after-return');
$acked{$more} = 'after-return';
wait_for_applied($more, @cluster);
is(q1($survivor, 'SELECT pgraft_get_term()'), $term, 'the new cluster keeps its term');
is(join(',', map { $_->{id} } members($survivor)),
	join(',', map { $_->{pgraft_id} } @cluster),
	'and its members');
$lost->stop('immediate');
$_->stop for @cluster;

done_testing();
