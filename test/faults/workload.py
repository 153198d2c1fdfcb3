"""The load of a fault run, and what it watches.

Clients are processes of their own: each appends unique payloads and reads
through the read barrier, against one server at a time, moving to another
after a failure, and records every call (history.py).  A payload is
"<process>.<n>": unique in the run.  A share of the calls go to the
key-value store instead (docs/kv.md), on a few keys so that they conflict:
puts of unique values, linearizable gets, and compare-and-swaps from the
value the client last saw; the checker decides whether each key's calls
are linearizable as a register's.

The sampler is one thread per server, in the driver: every SAMPLE_PERIOD it
records the node's term, leader, role, worker state and log bounds, every
committed entry it has not yet seen (up to what the node has applied; the
whole log again after the node was unreachable or its applied index went
back), and now and then the members.  The checker compares what the nodes
said at every index, and what each said at two looks; the sampler reads
fast enough that the log's compaction (pgraft.max_log_entries) does not
remove an entry before it is seen.
"""

import os
import random
import threading
import time

from db import Conn, DbError, Timeout
from history import Calls, Clock, Writer, outcome_of_error

# Each call's server-side bound (pgraft.request_timeout, ms), and our own
# bound on a call: past it we stop waiting (a paused server answers nothing)
# and the outcome is unknown.
REQUEST_TIMEOUT_MS = 3000
CALL_TIMEOUT = 20.0
SESSION_SETUP = ('SET pgraft.request_timeout = %d' % REQUEST_TIMEOUT_MS,
                 'SET statement_timeout = 15000')
READ_SHARE = 0.25
KV_SHARE = 0.3
KV_KEYS = ('reg/a', 'reg/b', 'reg/c')
SAMPLE_PERIOD = 0.1
MEMBERS_EVERY = 5			# sampler rounds between two looks at the members


def client_main(rundir, name, dsns, clock_base, stop, seed):
    """One client process: calls until the event stop is set."""
    clock = Clock(clock_base)
    calls = Calls(rundir, name, clock)
    rng = random.Random(seed)
    conns = {n: Conn(dsn, SESSION_SETUP) for n, dsn in dsns.items()}
    nodes = sorted(dsns)
    node = rng.choice(nodes)
    n = 0
    seen = {}				# key -> the value this client last saw there
    while not stop.is_set():
        conn = conns[node]
        try:
            conn.connect(2.0)
        except (DbError, Timeout):
            node = rng.choice(nodes)
            time.sleep(0.05)
            continue
        move = False
        r = rng.random()
        if r < KV_SHARE:
            n += 1
            move = kv_call(calls, conn, node, rng, seen, '%s.%d' % (name, n))
        elif r < KV_SHARE + READ_SHARE:
            move = read(calls, conn, node)
        else:
            n += 1
            move = append(calls, conn, node, '%s.%d' % (name, n))
        if move:
            node = rng.choice(nodes)
        time.sleep(rng.uniform(0, 0.005))
    for c in conns.values():
        c.close()
    calls.close()


def call(calls, cid, conn, sql, args=None):
    """The rows of call cid, or None once its end (failed or unknown) is
    recorded."""
    try:
        return conn.query(sql, args, timeout=CALL_TIMEOUT)
    except Timeout:
        calls.complete(cid, 'unknown', msg='no answer within %g s' % CALL_TIMEOUT)
    except DbError as e:
        calls.complete(cid, outcome_of_error(e.code, e.detail), code=e.code, msg=e.msg,
                       detail=e.detail)
    return None


def append(calls, conn, node, payload):
    """One append; returns whether to move to another server."""
    cid = calls.invoke('append', node, v=payload)
    rows = call(calls, cid, conn, 'SELECT pgraft_log_append(0, %s)', (payload,))
    if rows is None:
        return True
    calls.complete(cid, 'ok', idx=rows[0][0])
    return False


def read(calls, conn, node):
    """One read barrier, then what the node has applied; True to move."""
    cid = calls.invoke('read', node)
    rows = call(calls, cid, conn, 'SELECT pgraft_log_sync_with_leader(%d)' % REQUEST_TIMEOUT_MS)
    if rows is None:
        return True
    t = calls.clock.now()
    try:
        applied = conn.query('SELECT last_applied FROM pgraft_log_get_stats()', timeout=5.0)[0][0]
    except (DbError, Timeout):
        applied = None
    calls.complete(cid, 'ok', t=t, idx=rows[0][0], applied=applied)
    return False


def kv_call(calls, conn, node, rng, seen, value):
    """A put, get or compare-and-swap on one of KV_KEYS; True to move."""
    key = rng.choice(KV_KEYS)
    r = rng.random()
    if r < 0.35 or (r >= 0.7 and seen.get(key) is None):
        cid = calls.invoke('kv-get', node, arg=key)
        rows = call(calls, cid, conn, 'SELECT value FROM pgraft_kv_get(%s)', (key,))
        if rows is None:
            return True
        seen[key] = rows[0][0] if rows else None
        calls.complete(cid, 'ok', res=[seen[key]])
    elif r < 0.7:
        cid = calls.invoke('kv-put', node, arg=key, v=value)
        rows = call(calls, cid, conn, 'SELECT pgraft_kv_put(%s, %s)', (key, value))
        if rows is None:
            return True
        seen[key] = value
        calls.complete(cid, 'ok', idx=rows[0][0])
    else:
        old = seen[key]
        cid = calls.invoke('kv-cas', node, arg=[key, old], v=value)
        rows = call(calls, cid, conn, 'SELECT pgraft_kv_cas(%s, %s::text, %s)', (key, old, value))
        if rows is None:
            return True
        swapped = rows[0][0] is not None
        if swapped:
            seen[key] = value
        calls.complete(cid, 'ok', res=[swapped], idx=rows[0][0])
    return False


STATUS_SQL = ('SELECT c.current_term, c.leader_id, c.state, pgraft_get_worker_state(), '
              's.commit_index, s.last_applied, s.first_index '
              'FROM pgraft_get_cluster_status() c, pgraft_log_get_stats() s')
ENTRIES_SQL = ("SELECT index, term, type, coalesce(data, '') "
               'FROM pgraft_log_get_entries(%s, %s)')
MEMBERS_SQL = 'SELECT node_id, role FROM pgraft_get_nodes() ORDER BY node_id'


class Sampler(threading.Thread):
    """Watches one server until stopped; see the module's comment."""

    def __init__(self, rundir, node, dsn, clock):
        super().__init__(daemon=True)
        self.node = node
        self.conn = Conn(dsn)
        self.clock = clock
        self.w = Writer(os.path.join(rundir, 'samples-n%d.jsonl' % node))
        self.next = 1			# the first index not yet seen
        self.applied = 0		# what the node had applied at the last look
        self.lost = False		# the last look failed: the node may have restarted
        self.halt = threading.Event()
        self.rounds = 0

    def run(self):
        while not self.halt.is_set():
            began = time.monotonic()
            self.sample()
            self.halt.wait(max(0.0, SAMPLE_PERIOD - (time.monotonic() - began)))
        self.conn.close()
        self.w.close()

    def sample(self):
        self.rounds += 1
        try:
            t = self.clock.now()
            st = self.conn.query(STATUS_SQL, timeout=2.0)[0]
            self.w.write({'t': round(t, 6), 's': list(st)})
            if self.lost or st[5] < self.applied:
                # after a restart (or a snapshot) read the node's log again:
                # the checker compares what it shows now with what it showed
                self.next = max(st[6], 1)
            self.lost = False
            self.applied = st[5]
            upto = min(st[4], st[5])
            while self.next <= upto:
                count = min(upto - self.next + 1, 500)
                rows = self.conn.query(ENTRIES_SQL, (self.next, count), timeout=5.0)
                t = round(self.clock.now(), 6)
                if not rows:
                    break
                if rows[0][0] > self.next:
                    self.w.write({'t': t, 'gap': [self.next, rows[0][0] - 1]})
                for r in rows:
                    self.w.write({'t': t, 'e': list(r)})
                self.next = rows[-1][0] + 1
            if self.rounds % MEMBERS_EVERY == 1:
                rows = self.conn.query(MEMBERS_SQL, timeout=2.0)
                self.w.write({'t': round(self.clock.now(), 6), 'm': [list(r) for r in rows]})
        except (DbError, Timeout):
            self.lost = True

    def stop(self):
        self.halt.set()
        self.join()
