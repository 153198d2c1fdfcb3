"""What must hold in a fault run, checked over its saved history.

Every check reads only what the run directory holds (history.py), so a
failed run can be checked again, and a history replayed, without servers.
Each violation has a kind (KINDS), a time, the nodes involved and a
message; the report shows the timeline around it.  The self-test plants
every kind in a clean history.
"""

import bisect
import re

KINDS = {
    # the log, from the sampled entries and the acknowledged calls
    'divergence': 'two nodes showed different entries at one index',
    'ack-lost': 'a node showed another entry at an acknowledged index',
    'ack-unseen': 'no node ever showed an acknowledged index',
    'duplicate': 'one payload appended as data at two indexes',
    'failed-appended': 'an append reported failed is in the log as data',
    'phantom': 'a data entry no client wrote, or seen before it was sent',
    'order': 'an append acknowledged after another began got a lower index',
    # read barriers
    'stale-read': 'lower than an index acknowledged before the read began',
    'read-shrank': 'lower than a read that ended before it began',
    'read-ahead': 'covers an append that began after the read ended, or beyond '
                  'every commit index the nodes reported',
    'read-unapplied': 'the node had not applied the index its barrier answered',
    # leaders, workers, servers
    'two-leaders': 'two nodes said they led in one term',
    'worker-failed': 'a worker reported FAILED',
    'server-fatal': "FATAL or PANIC in a server log (not a client's going away)",
    'worker-died': 'the postmaster reported the pgraft worker exiting',
    'unbounded': 'a call took longer than its bound on a server not paused',
    # after healing
    'heal-write': 'a node took no write within HEAL_WRITE_BOUND s of the heal',
    'no-convergence': 'the nodes did not come to one log and one configuration',
    'not-member': 'a node was not a voter once everything was healed',
    'membership': 'an add or remove that returned true did not leave the '
                  'configuration as it said (seen in the committed log)',
}

HEAL_WRITE_BOUND = 10.0
# A call's bound: pgraft.request_timeout (3 s) and room for a slow machine.
CALL_BOUND = 10.0
# FATALs that are a client's or the postmaster's business, not pgraft's:
# shutdown (57P01), not accepting connections yet or any more (57P03),
# a client that went away (08006, 08003, 08P01).
BENIGN_FATAL = {'57P01', '57P03', '08006', '08003', '08P01'}
LOG_LINE = re.compile(r'^(\S+ \S+ \S+) \[(\d+)\] (.*?) ?([0-9A-Z]{5}) (FATAL|PANIC|LOG|ERROR|'
                      r'WARNING):  (.*)$')
WORKER_EXIT = re.compile(r'background worker "pgraft[^"]*" \(PID \d+\) (exited with exit code '
                         r'[1-9]|was terminated by signal)')


class Violation:
    def __init__(self, kind, t, msg, nodes=()):
        self.kind = kind
        self.t = t
        self.msg = msg
        self.nodes = sorted(set(nodes))

    def __repr__(self):
        return '%s at %.3f: %s' % (self.kind, self.t, self.msg)


def config_members(text):
    """Member ids of a configuration entry as pgraft_log_get_entries shows it."""
    return {int(m.group(1)) for m in re.finditer(r'(?:^|, )(\d+)=', text)}


class Checker:
    def __init__(self, run):
        self.run = run
        self.found = []
        self.ops = run.ops
        self.appends = [o for o in self.ops if o.op == 'append']
        self.by_payload = {o.v: o for o in self.appends}
        self.acks = [o for o in self.appends if o.out == 'ok']
        self.reads = [o for o in self.ops if o.op == 'read' and o.out == 'ok']
        # index -> {node: (t, term, type, data)}
        self.obs = {}
        for n, ents in run.entries.items():
            for i, e in ents.items():
                self.obs.setdefault(i, {})[n] = e

    def violation(self, kind, t, msg, nodes=()):
        assert kind in KINDS, kind
        self.found.append(Violation(kind, t, msg, nodes))

    def check(self):
        for step in (self.check_log, self.check_acks, self.check_payloads, self.check_order,
                     self.check_reads, self.check_leaders, self.check_logs, self.check_bounds,
                     self.check_heal, self.check_membership):
            step()
        self.found.sort(key=lambda v: v.t)
        return self.found

    # -- the log -----------------------------------------------------------

    def entry(self, index):
        """The entry at index as the nodes agree on it: (term, type, data)."""
        seen = self.obs.get(index)
        if not seen:
            return None
        return next(iter(seen.values()))[1:]

    def check_log(self):
        for i, seen in sorted(self.obs.items()):
            kinds = {e[1:] for e in seen.values()}
            if len(kinds) > 1:
                t = max(e[0] for e in seen.values())
                self.violation('divergence', t, 'index %d: %s' % (i, '; '.join(
                    'n%d term %d %s %r' % (n, e[1], e[2], e[3]) for n, e in sorted(seen.items()))),
                    seen)

    def check_acks(self):
        for o in self.acks:
            seen = self.obs.get(o.idx)
            if not seen:
                self.violation('ack-unseen', o.t1, '%r: no node showed index %d' % (o, o.idx),
                               [o.node])
                continue
            for n, e in sorted(seen.items()):
                if e[2] != 'data' or e[3] != o.v:
                    self.violation('ack-lost', max(o.t1, e[0]), '%r: node %d shows %s %r there'
                                   % (o, n, e[2], e[3]), [n, o.node])

    def check_payloads(self):
        where = {}
        for i, seen in self.obs.items():
            for n, e in seen.items():
                if e[2] == 'data':
                    where.setdefault(e[3], {}).setdefault(i, e[0])
        for payload, at in sorted(where.items()):
            op = self.by_payload.get(payload)
            t_seen = min(at.values())
            if len(at) > 1:
                self.violation('duplicate', max(at.values()), '%r appended at indexes %s'
                               % (payload, sorted(at)))
            if op is None:
                self.violation('phantom', t_seen, '%r at index %s: no client appended it'
                               % (payload, sorted(at)))
            elif op.t0 > t_seen:
                self.violation('phantom', t_seen, '%r seen at %.3f, before its append began: %r'
                               % (payload, t_seen, op))
            elif op.out == 'fail':
                self.violation('failed-appended', t_seen, '%r is at index %s' % (op, sorted(at)),
                               [op.node])

    def check_order(self):
        """Appends in real-time order get increasing indexes."""
        done = sorted(self.acks, key=lambda o: o.t1)
        ends = [o.t1 for o in done]
        best, prefix = None, []
        for o in done:
            if best is None or o.idx > best.idx:
                best = o
            prefix.append(best)
        for o in self.acks:
            k = bisect.bisect_left(ends, o.t0)
            if k > 0 and prefix[k - 1].idx >= o.idx:
                self.violation('order', o.t1, '%r got a lower index than %r, which ended before '
                               'it began' % (o, prefix[k - 1]), [o.node, prefix[k - 1].node])

    # -- reads ---------------------------------------------------------------

    def check_reads(self):
        acks = sorted(self.acks, key=lambda o: o.t1)
        ack_ends = [o.t1 for o in acks]
        ack_max = list(_running_max(o.idx for o in acks))
        reads = sorted(self.reads, key=lambda o: o.t1)
        read_ends = [o.t1 for o in reads]
        read_max = list(_running_max(o.idx for o in reads))
        top = max((s[5] for st in self.run.status.values() for s in st), default=0)
        for o in self.reads:
            k = bisect.bisect_left(ack_ends, o.t0)
            if k > 0 and ack_max[k - 1] > o.idx:
                self.violation('stale-read', o.t1, '%r: index %d was acknowledged before it began'
                               % (o, ack_max[k - 1]), [o.node])
            k = bisect.bisect_left(read_ends, o.t0)
            if k > 0 and read_max[k - 1] > o.idx:
                self.violation('read-shrank', o.t1, '%r: a read that ended before it began '
                               'answered %d' % (o, read_max[k - 1]), [o.node])
            if o.idx > top:
                self.violation('read-ahead', o.t1, '%r: no node ever reported a commit index '
                               'that high (%d)' % (o, top), [o.node])
            if o.applied is not None and o.applied < o.idx:
                self.violation('read-unapplied', o.t1, '%r: the node had applied only %d'
                               % (o, o.applied), [o.node])
        # a read covers only appends that began before it ended
        for i, seen in self.obs.items():
            e = next(iter(seen.values()))
            op = self.by_payload.get(e[3]) if e[2] == 'data' else None
            if op is None:
                continue
            k = bisect.bisect_left(read_ends, op.t0)
            if k > 0 and read_max[k - 1] >= i:
                r = max(reads[:k], key=lambda r: r.idx)
                self.violation('read-ahead', op.t0, '%r answered %d, covering index %d of %r, '
                               'which began after the read ended' % (r, r.idx, i, op), [r.node])

    # -- leaders, workers, servers ---------------------------------------------

    def check_leaders(self):
        leaders = {}
        for n, st in self.run.status.items():
            for s in st:
                t, term, _, state, worker = s[:5]
                if state == 'leader':
                    leaders.setdefault(term, {}).setdefault(n, t)
                if worker == 'FAILED':
                    self.violation('worker-failed', t, 'node %d reported its worker FAILED' % n,
                                   [n])
        for term, who in sorted(leaders.items()):
            if len(who) > 1:
                self.violation('two-leaders', max(who.values()), 'term %d: nodes %s said they '
                               'led' % (term, sorted(who)), who)

    def check_logs(self):
        base = self.run.params.get('wall_start', 0.0)
        for n, path in sorted(self.run.logs.items()):
            with open(path, errors='replace') as f:
                for line in f:
                    if WORKER_EXIT.search(line):
                        self.violation('worker-died', _log_time(line, base), 'node %d: %s'
                                       % (n, line.strip()), [n])
                        continue
                    m = LOG_LINE.match(line)
                    if m and m.group(5) in ('FATAL', 'PANIC') and m.group(4) not in BENIGN_FATAL:
                        self.violation('server-fatal', _log_time(line, base), 'node %d: %s'
                                       % (n, line.strip()), [n])

    def check_bounds(self):
        paused = {}
        for ev in self.run.events:
            if ev.get('kind') == 'pause' and ev['ev'] in ('start', 'end'):
                for n in ev['nodes']:
                    paused.setdefault(n, []).append((ev['ev'], ev['t']))
        spans = {}
        for n, evs in paused.items():
            start = None
            for what, t in evs:
                if what == 'start':
                    start = t
                elif start is not None:
                    spans.setdefault(n, []).append((start, t))
                    start = None
            if start is not None:
                spans.setdefault(n, []).append((start, float('inf')))
        for o in self.ops:
            end = o.t1 if o.t1 is not None else self.run.params.get('ended', o.t0)
            if end - o.t0 <= CALL_BOUND:
                continue
            if any(a < end and b > o.t0 for a, b in spans.get(o.node, [])):
                continue
            self.violation('unbounded', end, '%r took %.1f s on a server that was not paused'
                           % (o, end - o.t0), [o.node])

    # -- after healing -----------------------------------------------------

    def check_heal(self):
        heal = self.run.params.get('heal')
        if heal is None:
            self.violation('no-convergence', self.run.params.get('ended', 0.0),
                           'the run ended before its heal phase')
            return
        t = heal['healed_at']
        for n in range(1, self.run.params['nodes'] + 1):
            oks = [o.t1 for o in self.ops if o.p == 'heal' and o.node == n and o.out == 'ok']
            first = min(oks, default=None)
            if first is None or first - t > HEAL_WRITE_BOUND:
                self.violation('heal-write', t + HEAL_WRITE_BOUND, 'node %d took %s after every '
                               'fault was healed' % (n, 'no write' if first is None else
                                                     'its first write %.1f s' % (first - t)), [n])
        if not heal.get('converged'):
            self.violation('no-convergence', heal.get('converge_end', t), 'the nodes did not '
                           'converge: %s' % heal.get('converge_detail'))
        want = list(range(1, self.run.params['nodes'] + 1))
        for n, voters in sorted(heal.get('voters', {}).items()):
            if voters != want:
                self.violation('not-member', heal.get('converge_end', t), 'node %s sees voters '
                               '%s, not %s' % (n, voters, want), [int(n)])

    def check_membership(self):
        """An add or remove that returned true holds until the next call on that node."""
        configs = []		# (index, members), committed configuration entries
        holes = []		# indexes no node ever showed
        last = max(self.obs, default=0)
        for i in range(1, last + 1):
            e = self.entry(i)
            if e is None:
                holes.append(i)
            elif e[1] == 'config':
                configs.append((i, config_members(e[2])))
        cidx = [c[0] for c in configs]
        data = []		# (index, op) of data entries
        for i in self.obs:
            e = self.entry(i)
            op = self.by_payload.get(e[2]) if e[1] == 'data' else None
            if op is not None:
                data.append((i, op))
        calls = [o for o in self.ops if o.op in ('add', 'remove')]
        for m in calls:
            if m.out != 'ok':
                continue
            later = [o.t0 for o in calls if o.arg == m.arg and o.t0 > m.t1]
            until = min(later, default=float('inf'))
            for i, op in data:
                if not m.t1 < op.t0 < until:
                    continue
                k = bisect.bisect_left(cidx, i) - 1
                if k < 0:
                    continue
                c, members = configs[k]
                h = bisect.bisect_right(holes, c)
                if h < len(holes) and holes[h] < i:
                    continue		# a configuration we may not have seen
                if (m.arg in members) != (m.op == 'add'):
                    self.violation('membership', op.t0, '%r returned true, but index %d, '
                                   'appended by %r after it, is under the configuration of '
                                   'index %d: members %s' % (m, i, op, c, sorted(members)),
                                   [m.node, m.arg])
                    break


def _running_max(values):
    best = None
    for v in values:
        best = v if best is None or v > best else best
        yield best


def _log_time(line, base):
    """A log line's time on the run's clock (its timestamp less the run's start)."""
    import datetime
    try:
        stamp = datetime.datetime.strptime(' '.join(line.split()[:2]), '%Y-%m-%d %H:%M:%S.%f')
        return stamp.replace(tzinfo=datetime.timezone.utc).timestamp() - base
    except ValueError:
        return 0.0
