"""The faults of a run: what they are, how they start and end, which to pick.

A fault is an object with start() and end(); every start and end is an
event in events.jsonl, so the checker's timelines show them.  Packet
faults (cuts and shaping) do not touch the network themselves: the network
is rewritten from the set of faults in force after every change (net.py).

The random mix (Nemesis.step, from the run's seed) keeps up to a few faults
in force at once: process faults (kill -9 of one node, a minority or a
majority; SIGSTOP; a graceful stop), one partition at a time (majority and
minority, the isolated leader, a bridge, one-way cuts), shaping of one
node's packets (delay with jitter, loss, duplication), leadership transfers,
removing a node and adding it back, and now and then a kill -9 of the whole
cluster.  Membership calls and transfers are calls like the clients': they
are recorded in history-nemesis.jsonl and checked.
"""

import itertools
import threading
import time

import workload
from db import Conn, DbError, Timeout
from history import Calls

STATUS = 'SELECT c.state, c.current_term, c.leader_id FROM pgraft_get_cluster_status() c'
VOTERS = "SELECT node_id FROM pgraft_get_nodes() WHERE role = 'voter' ORDER BY 1"


class Fault:
    kind = None
    process = False			# takes its nodes' processes (no other such fault on them)
    ids = itertools.count(1)

    def __init__(self, nemesis, nodes=(), duration=0.0, **detail):
        self.nemesis = nemesis
        self.nodes = tuple(sorted(nodes))
        self.id = next(Fault.ids)
        self.ends_at = nemesis.clock.now() + duration
        self.detail = detail

    def describe(self):
        d = {'fault': self.id, 'kind': self.kind, 'nodes': list(self.nodes)}
        d.update(self.detail)
        return d

    def start(self):
        pass

    def end(self):
        pass


class Kill(Fault):
    """The nodes' servers go down (how: the Server method) and start again."""
    kind = 'kill'
    process = True
    how = 'kill9'

    def start(self):
        for i in self.nodes:
            getattr(self.nemesis.server(i), self.how)()

    def end(self):
        self.nemesis.cluster.start(self.nodes)


class KillAll(Kill):
    kind = 'kill-all'


class Stop(Kill):
    """A graceful stop."""
    kind = 'stop'
    how = 'stop'


class Pause(Fault):
    kind = 'pause'
    process = True

    def start(self):
        for i in self.nodes:
            self.nemesis.server(i).pause()

    def end(self):
        for i in self.nodes:
            self.nemesis.server(i).resume()


class Partition(Fault):
    """Packets dropped along the directed pairs in self.cuts."""
    kind = 'partition'

    def __init__(self, nemesis, cuts, duration, shape):
        nodes = {a for a, _ in cuts} | {b for _, b in cuts}
        super().__init__(nemesis, nodes, duration, shape=shape,
                         cuts=sorted([list(c) for c in cuts]))
        self.cuts = set(cuts)


class Shape(Fault):
    """What one node sends its peers is delayed, lost or duplicated."""
    kind = 'shape'

    def __init__(self, nemesis, node, duration, params):
        super().__init__(nemesis, [node], duration, **params)
        self.params = params


class Member(Fault):
    """A node removed (through some node) and added back at the end."""
    kind = 'member'

    def start(self):
        self.nemesis.membership('remove', self.nodes[0])

    def end(self):
        x = self.nodes[0]
        if not self.nemesis.readd(x, 5.0):
            self.nemesis.readd_later.add(x)		# tried again at every step


def split(nodes, k):
    """Cut every link between the k first of nodes and the rest, both ways."""
    a, b = nodes[:k], nodes[k:]
    return {(x, y) for x in a for y in b} | {(y, x) for x in a for y in b}


class Nemesis:
    def __init__(self, cluster, net, clock, events, rundir, rng):
        self.cluster = cluster
        self.net = net
        self.clock = clock
        self.events = events
        self.rng = rng
        self.n = cluster.n
        self.calls = Calls(rundir, 'nemesis', clock)
        self.admin = {i: Conn(s.dsn(), workload.SESSION_SETUP) for i, s in cluster.servers.items()}
        self.active = []
        self.readd_later = set()
        self.lock = threading.Lock()

    def server(self, i):
        return self.cluster.servers[i]

    def event(self, ev, **kw):
        rec = {'t': round(self.clock.now(), 6), 'ev': ev}
        rec.update(kw)
        self.events.write(rec)

    # -- the state of the cluster, as far as the nemesis needs it ----------

    def ask(self, i, sql, timeout=2.0):
        try:
            return self.admin[i].query(sql, timeout=timeout)
        except (DbError, Timeout):
            return None

    def leader(self):
        """The node that says it leads in the highest term, or None."""
        best = None
        for s in self.cluster.up():
            rows = self.ask(s.i, STATUS, 1.0)
            if rows and rows[0][0] == 'leader' and (best is None or rows[0][1] > best[1]):
                best = (s.i, rows[0][1])
        return best[0] if best else None

    def voters(self):
        """The voters in the leader's configuration, or None without a leader."""
        lead = self.leader()
        rows = self.ask(lead, VOTERS) if lead else None
        return None if rows is None else {r[0] for r in rows}

    # -- calls the nemesis makes: recorded like the clients' ---------------

    def call(self, op, via, sql, arg):
        """A call that answers true or false; whether it said true."""
        cid = self.calls.invoke(op, via, arg=arg)
        rows = workload.call(self.calls, cid, self.admin[via], sql)
        if rows is None:
            return False
        self.calls.complete(cid, 'ok' if rows[0][0] else 'fail', code=None if rows[0][0]
                            else 'false')
        return bool(rows[0][0])

    def membership(self, op, x, via=None):
        """remove or add node x through via (a random running node)."""
        if via is None:
            up = [s.i for s in self.cluster.up()]
            if not up:
                return False
            via = self.rng.choice(up)
        if op == 'remove':
            sql = 'SELECT pgraft_remove_node(%d)' % x
        else:
            s = self.server(x)
            sql = "SELECT pgraft_add_node(%d, '%s', %d)" % (x, s.addr, s.raft_port)
        return self.call(op, via, sql, x)

    def transfer(self, to):
        lead = self.leader()
        if lead is None or lead == to:
            return False
        return self.call('transfer', lead, 'SELECT pgraft_transfer_leadership(%d)' % to, to)

    def readd(self, x, deadline):
        """Add x back until a call says it is a member (or deadline s pass)."""
        end = time.monotonic() + deadline
        while True:
            if self.membership('add', x):
                self.readd_later.discard(x)
                return True
            if time.monotonic() + 0.5 >= end:
                return False
            time.sleep(0.5)

    # -- faults in force ---------------------------------------------------

    def begin(self, fault):
        with self.lock:
            self.event('start', **fault.describe())
            fault.start()
            self.active.append(fault)
            self.rewire()

    def finish(self, fault):
        with self.lock:
            self.active.remove(fault)
            self.rewire()
            fault.end()
            self.event('end', fault=fault.id, kind=fault.kind, nodes=list(fault.nodes))

    def rewire(self):
        cuts, shapes = set(), {}
        for f in self.active:
            if isinstance(f, Partition):
                cuts |= f.cuts
            elif isinstance(f, Shape):
                shapes[f.nodes[0]] = f.params
        self.net.apply(cuts, shapes)

    def finish_all(self, faults):
        """End faults: processes first, then the network, then members (a
        node is added back once it runs and can be reached)."""
        order = {Pause: 0, Kill: 1, KillAll: 1, Stop: 1, Partition: 2, Shape: 2, Member: 3}
        for f in sorted(faults, key=lambda f: order[type(f)]):
            self.finish(f)

    def heal(self):
        self.finish_all(list(self.active))

    # -- the random mix ----------------------------------------------------

    def busy(self):
        """Nodes whose processes a fault holds."""
        return {i for f in self.active if f.process for i in f.nodes}

    def step(self):
        """End what is due, then maybe start one more fault."""
        now = self.clock.now()
        self.finish_all([f for f in self.active if f.ends_at <= now])
        for x in sorted(self.readd_later):
            self.readd(x, 0)
        limit = 2 if self.n <= 3 else 3
        if len(self.active) >= limit:
            return
        fault = self.pick()
        if fault is not None:
            self.begin(fault)

    def pick(self):
        rng, n = self.rng, self.n
        nodes = list(range(1, n + 1))
        free = [i for i in nodes if i not in self.busy() and self.server(i).state == 'up']
        kinds = {f.kind for f in self.active}
        minority, majority = (n - 1) // 2, n // 2 + 1
        choices = []		# (weight, maker)

        def dur(lo, hi):
            return rng.uniform(lo, hi)

        if free:
            choices.append((3, lambda: Kill(self, [rng.choice(free)], dur(1, 6))))
            choices.append((2, lambda: Pause(self, [rng.choice(free)], dur(1, 6))))
            choices.append((1, lambda: Stop(self, [rng.choice(free)], dur(1, 5))))
        if len(free) >= minority > 1:
            choices.append((1, lambda: Kill(self, rng.sample(free, minority), dur(1, 5))))
            choices.append((1, lambda: Pause(self, rng.sample(free, minority), dur(1, 5))))
        if len(free) >= majority:
            choices.append((1, lambda: Kill(self, rng.sample(free, majority), dur(1, 4))))
        if not self.busy() and len(free) == n:
            choices.append((1, lambda: KillAll(self, nodes, dur(0.5, 3))))
        if 'partition' not in kinds:
            choices.append((4, lambda: self.partition(dur(1, 8))))
        unshaped = [i for i in nodes if not any(isinstance(f, Shape) and i in f.nodes
                                                for f in self.active)]
        if unshaped:
            choices.append((3, lambda: Shape(self, rng.choice(unshaped), dur(2, 8),
                                             self.shape_params())))
        choices.append((2, self.transfer_now))
        if 'member' not in kinds and not self.readd_later:
            choices.append((2, lambda: Member(self, [rng.choice(nodes)], dur(2, 8))))
        total = sum(w for w, _ in choices)
        x = rng.uniform(0, total)
        for w, make in choices:
            x -= w
            if x <= 0:
                return make()
        return None

    def partition(self, duration):
        rng, n = self.rng, self.n
        nodes = list(range(1, n + 1))
        rng.shuffle(nodes)
        shape = rng.choice(['split', 'leader', 'bridge', 'one-way'])
        if shape == 'split':
            cuts = split(nodes, (n - 1) // 2 if rng.random() < 0.5 else 1)
        elif shape == 'leader':
            lead = self.leader() or nodes[0]
            rest = [i for i in nodes if i != lead]
            cuts = split([lead] + rest, 1)
        elif shape == 'bridge':
            # nodes[0] hears everyone; the two sides do not hear each other
            rest = nodes[1:]
            half = len(rest) // 2
            cuts = {(a, b) for a in rest[:half] for b in rest[half:]}
            cuts |= {(b, a) for a, b in cuts}
        else:
            pairs = [(a, b) for a in nodes for b in nodes if a != b]
            cuts = set(rng.sample(pairs, rng.randint(1, max(1, len(pairs) // 3))))
        return Partition(self, cuts, duration, shape)

    def shape_params(self):
        rng = self.rng
        what = rng.choice(['delay', 'loss', 'dup'])
        if what == 'delay':
            d = rng.randint(20, 150)
            return {'delay': d, 'jitter': rng.randint(d // 4, d)}
        if what == 'loss':
            return {'loss': round(rng.uniform(0.05, 0.4), 3)}
        return {'dup': round(rng.uniform(0.1, 0.5), 3)}

    def transfer_now(self):
        """A transfer takes no time: no fault stays in force."""
        to = self.rng.randint(1, self.n)
        self.event('transfer', to=to)
        self.transfer(to)
        return None

    def close(self):
        for c in self.admin.values():
            c.close()
        self.calls.close()
