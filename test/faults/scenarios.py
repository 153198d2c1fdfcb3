"""Fixed fault sequences: each replays a failure the random runs once found.

A scenario is a function of the nemesis run while the clients write; what
it leaves in force, the run's heal phase ends, as after a random run.  It
returns nothing: the checker decides, from the history, whether the run
went wrong.  Each names the property it guards and what the old code did.
"""

import time

from nemesis import Kill, Partition, split


def wait_leader(nem, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        lead = nem.leader()
        if lead is not None:
            return lead
        time.sleep(0.1)
    raise RuntimeError('no leader within %g s' % timeout)


def follower_kills(nem):
    """kill -9 of a follower, again and again, under writes.

    Guards: no worker dies (server logs, worker state).  A send failing
    while the leader flushed its appends reported the lost peer in the
    middle of a batch; the worker died of "call out of order".  Short
    down and up times make the kill land while the leader sends the
    follower its catch-up: the old code died within a few kills.
    """
    for k in range(30):
        lead = wait_leader(nem)
        followers = [i for i in range(1, nem.n + 1) if i != lead]
        f = Kill(nem, [followers[k % len(followers)]], 0)
        nem.begin(f)
        time.sleep(0.3)
        nem.finish(f)
        time.sleep(0.5)


def stale_add(nem):
    """Add a node through a follower that has not seen its removal.

    Guards: a membership call that returns true leaves the configuration as
    it said.  With the leader's messages to F cut, X removed on the leader
    and added back through F, F answered "already a member" from its own
    stale view and returned true: X stayed out for good.
    """
    time.sleep(2.0)
    lead = wait_leader(nem)
    rest = [i for i in range(1, nem.n + 1) if i != lead]
    f, x = rest[0], rest[1]
    cut = Partition(nem, {(lead, f)}, 0, 'one-way')
    nem.begin(cut)
    time.sleep(2.0)
    nem.membership('remove', x, via=lead)
    nem.membership('add', x, via=f)
    time.sleep(2.0)
    nem.finish(cut)
    time.sleep(8.0)


def cancelled_remove(nem):
    """A removal cancelled while there is no leader, then the node re-added.

    Guards: a call that ended takes its operation with it.  The removal
    was retried with no deadline after its caller cancelled it and removed
    the node once a leader was back, after the node had been added again.
    """
    time.sleep(2.0)
    lead = wait_leader(nem)
    x = lead % nem.n + 1				# another node: survives and gets removed
    others = [i for i in range(1, nem.n + 1) if i != x]
    # a majority down, x among the living: no leader
    down = Kill(nem, others[:nem.n // 2 + 1], 0)
    nem.begin(down)
    via = x
    conn = nem.admin[via]
    conn.query('SET statement_timeout = 1000')
    nem.membership('remove', x, via=via)
    nem.membership('add', x, via=via)
    conn.query('SET statement_timeout = 15000')
    time.sleep(1.0)
    nem.finish(down)
    wait_leader(nem)
    time.sleep(10.0)


def long_partition(nem):
    """A follower cut off for 40 s; the heal phase ends the partition.

    Guards: after healing, every node takes a write within 10 s.  Its
    connections stuck in TCP retransmission backoff, a node took no write
    for 16 s to over 30 s after the partition healed.
    """
    time.sleep(2.0)
    lead = wait_leader(nem)
    x = lead % nem.n + 1
    rest = [i for i in range(1, nem.n + 1) if i != x]
    nem.begin(Partition(nem, split([x] + rest, 1), 0, 'isolated'))
    time.sleep(40.0)


# name -> (function, nodes); the clients write until the function returns
SCENARIOS = {
    'follower-kills': (follower_kills, 3),
    'stale-add': (stale_add, 5),
    'cancelled-remove': (cancelled_remove, 3),
    'long-partition': (long_partition, 3),
}
