# Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)

=pod

=head1 NAME

PgraftWire - a test client that speaks pgraft's wire protocol (docs/wire.md)

=head1 SYNOPSIS

  use PgraftWire;

  my $c = PgraftWire->connect($node->{pgraft_port});
  my ($kind, $body) = $c->setup(key => $key, id => 9, cluster_id => $cid);
  $c->send_msg(type => 1, from => 3, to => 1, term => 99, entries => [...]);

=head1 DESCRIPTION

What an attacker on the network can do to a Raft port, from raw bytes:
frames, handshakes, the shared-key exchange (HMAC-SHA-256 from Digest::SHA)
and Raft messages, built by hand from the layouts in docs/wire.md so that
the tests do not trust the code they test.

=cut

package PgraftWire;

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use IO::Select;
use IO::Socket::INET;

our $VERSION_BYTE = 4;

our %KIND = (
	handshake => 1,
	msg => 2,
	snap_chunk => 3,
	ping => 4,
	refuse => 5,
	hello => 6,
	challenge => 7,
	proof => 8);

# enum pgr_wire_refusal
our @REFUSAL = qw(none other_version other_cluster self other_node
  auth_required auth_unavailable auth_failed identity not_member
  already_connected not_adopted protocol);

=pod

=head1 METHODS

=over

=item PgraftWire->connect($port, $host)

A blocking TCP connection to a Raft port (host 127.0.0.1 by default).

=cut

sub connect
{
	my ($class, $port, $host) = @_;
	my $s = IO::Socket::INET->new(
		PeerAddr => $host // '127.0.0.1',
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => 10) or die "could not connect to port $port: $!";
	binmode $s;
	return bless { sock => $s, buf => '' }, $class;
}

=pod

=item frame($kind, $body)

The bytes of one frame of our version (a class function).

=cut

sub frame
{
	my ($kind, $body, $version) = @_;
	return pack('VCCv', length $body, $version // $VERSION_BYTE, $KIND{$kind}, 0) . $body;
}

=pod

=item handshake_frame(id => , cluster_id => , name => , config_index => , version =>)

A handshake as a node sends it (a class function).

=cut

sub handshake_frame
{
	my (%o) = @_;
	my $version = $o{version} // $VERSION_BYTE;
	my $body =
	    'PGRF'
	  . pack('Q<', $o{id})
	  . ($o{cluster_id} // ("\0" x 16))
	  . chr(length $o{name})
	  . $o{name};
	$body .= pack('VVQ<', $o{heartbeat_ms} // 100, $o{election_ms} // 1000,
		$o{config_index} // 0)
	  if $version == $VERSION_BYTE;
	return frame('handshake', $body, $version);
}

sub send_bytes
{
	my ($self, $bytes) = @_;
	my $s = $self->{sock};
	local $SIG{PIPE} = 'IGNORE';
	print $s $bytes;
	$s->flush;
	return;
}

=pod

=item read_frame($timeout)

The next frame as ($kind_number, $body); () when the peer closed the
connection, or undef on timeout.

=cut

sub read_frame
{
	my ($self, $timeout) = @_;
	my $sel = IO::Select->new($self->{sock});
	my $deadline = time() + ($timeout // 30);
	for (;;)
	{
		if (length $self->{buf} >= 8)
		{
			my ($len, $ver, $kind) = unpack('VCC', $self->{buf});
			if (length $self->{buf} >= 8 + $len)
			{
				my $body = substr($self->{buf}, 8, $len);
				substr($self->{buf}, 0, 8 + $len) = '';
				return ($kind, $body);
			}
		}
		return undef if time() > $deadline;
		next unless $sel->can_read(0.2);
		my $n = sysread($self->{sock}, my $chunk, 65536);
		return () if !defined $n || $n == 0;
		$self->{buf} .= $chunk;
	}
}

=pod

=item read_all($timeout)

Everything the peer sends until it closes; undef on timeout.

=cut

sub read_all
{
	my ($self, $timeout) = @_;
	my $sel = IO::Select->new($self->{sock});
	my $deadline = time() + ($timeout // 30);
	my $got = $self->{buf};
	$self->{buf} = '';
	while (time() < $deadline)
	{
		next unless $sel->can_read(0.2);
		my $n = sysread($self->{sock}, my $chunk, 65536);
		return $got if !defined $n || $n == 0;
		$got .= $chunk;
	}
	return undef;
}

sub mac
{
	my ($key, $label, $nonce_d, $nonce_a, $dialer, $acceptor) = @_;
	return hmac_sha256(
		"pgraft-auth-3 $label" . $nonce_d . $nonce_a . pack('Q<Q<', $dialer, $acceptor) . chr(0),
		$key);
}

=pod

=item setup(id => , to => , cluster_id => , name => , key => , config_index => , bad_proof => 1)

Plays the dialer's side of a connection's setup: with a key (or bad_proof,
to try one without it) the HELLO/CHALLENGE/PROOF exchange first, as node id
dialling node to (the proofs name both), then the handshake.  Returns a hash: refused => reason name (from a REFUSE frame),
or accepted => 1 with the acceptor's handshake body; closed => 1 when the
peer closed without a word; acceptor_proof_ok => whether the acceptor's MAC
verified under key.

=cut

sub setup
{
	my ($self, %o) = @_;
	my %r;
	if (defined $o{key} || $o{bad_proof})
	{
		my $nonce_d = join '', map { chr(int(rand(256))) } 1 .. 32;
		$self->send_bytes(frame('hello', $nonce_d . pack('Q<Q<', $o{id}, $o{to} // 0)));
		my ($kind, $body) = $self->read_frame;
		return (closed => 1) unless defined $kind;
		return (refused => $REFUSAL[ ord $body ] // 'unknown')
		  if $kind == $KIND{refuse};
		die "expected a challenge, got frame kind $kind" unless $kind == $KIND{challenge};
		my ($nonce_a, $their) = (substr($body, 0, 32), substr($body, 32, 32));
		my $key = $o{key} // 'no key at all';
		$r{acceptor_proof_ok} =
		  mac($key, 'acceptor', $nonce_d, $nonce_a, $o{id}, $o{to} // 0) eq $their ? 1 : 0;
		my $proof =
		  $o{bad_proof}
		  ? join('', map { chr(int(rand(256))) } 1 .. 32)
		  : mac($key, 'dialer', $nonce_d, $nonce_a, $o{id}, $o{to} // 0);
		$self->send_bytes(frame('proof', $proof));
	}
	$self->send_bytes(
		handshake_frame(
			id => $o{id},
			cluster_id => $o{cluster_id},
			name => $o{name},
			config_index => $o{config_index},
			version => $o{version}));
	my ($kind, $body) = $self->read_frame;
	return (%r, closed => 1) unless defined $kind;
	return (%r, refused => $REFUSAL[ ord $body ] // 'unknown') if $kind == $KIND{refuse};
	return (%r, accepted => 1, handshake => $body) if $kind == $KIND{handshake};
	die "unexpected frame kind $kind in the setup";
}

=pod

=item send_msg(type => , from => , to => , term => , log_term => , index => , commit => , context => , entries => [[term, index, type, data], ...])

Sends one Raft message frame (layout in docs/wire.md).

=cut

sub send_msg
{
	my ($self, %m) = @_;
	my @e = @{ $m{entries} // [] };
	my $body = pack('CC', $m{type}, $m{flags} // 0)
	  . pack('Q<Q<Q<Q<Q<Q<Q<',
		$m{from}, $m{to}, $m{term} // 0, $m{log_term} // 0,
		$m{index} // 0, $m{commit} // 0, $m{context} // 0)
	  . pack('V', scalar @e);
	$body .= pack('Q<Q<CV', $_->[0], $_->[1], $_->[2], length $_->[3]) . $_->[3] for @e;
	$self->send_bytes(frame('msg', $body));
	return;
}

sub close
{
	my ($self) = @_;
	CORE::close($self->{sock});
	return;
}

=pod

=back

=cut

1;
