"""What must hold in a fault run, checked over its saved history.

Every check reads only what the run directory holds (history.py), so a
failed run can be checked again, and a history replayed, without servers.
Each violation has a kind (KINDS), a time, the nodes involved and a
message; the report shows the timeline around it.  The self-test plants
every kind in a clean history.
"""

import bisect
import datetime
import re

KINDS = {
    # the log, from the sampled entries and the acknowledged calls
    'divergence': 'two nodes, or one node at two looks, showed different entries '
                  'at one index',
    'ack-lost': 'a node showed another entry at an acknowledged index',
    'ack-unseen': 'no node ever showed an acknowledged index',
    'kv-lost': 'a node showed another kind of entry at the revision of an '
               'acknowledged key-value put',
    'kv-nonlinearizable': "one key's puts, gets and compare-and-swaps have no "
                          'linearization as a register',
    'duplicate': 'one payload appended as data at two indexes',
    'failed-appended': 'an append reported failed is in the log as data',
    'phantom': 'a data entry no client wrote, or seen before it was sent',
    'order': 'an append begun after an index was committed (acknowledged or '
             'seen) landed at or below it',
    # read barriers
    'stale-read': 'lower than an index committed (acknowledged or seen) before '
                  'the read began',
    'read-shrank': 'lower than a read that ended before it began',
    'read-ahead': 'covers an append that began after the read ended',
    'read-unapplied': 'the node had not applied the index its barrier answered',
    # leaders, workers, servers
    'two-leaders': 'two leaders in one term (as the nodes said of themselves or '
                   'of whom they followed)',
    'worker-failed': 'a worker reported FAILED',
    'server-fatal': "FATAL or PANIC in a server log (not a client's going away)",
    'worker-died': 'the postmaster reported the pgraft worker exiting',
    'refused-peer': 'a node refused a connection of another node for a reason no '
                    'honest peer gives (a broken setup, a claimed identity, a '
                    'failed proof): the suite has no strangers',
    'unbounded': 'a call took longer than its bound on a server not paused',
    # after healing
    'heal-write': 'a node took no write within HEAL_WRITE_BOUND s of the heal',
    'no-convergence': 'the nodes did not come to one log and one configuration',
    'not-member': 'a node was not a voter once everything was healed',
    'membership': 'an add or remove that returned true did not leave the '
                  'configuration as it said, or the configuration changed '
                  'with no call that may have changed it',
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
# Refusals between the suite's own nodes that only a bug explains; the
# others (not a member, already connected, timeout, a TLS handshake cut by
# a kill) are what faults cause.
BAD_REFUSAL = re.compile(r'pgraft: (refusing .*|.* refused the connection): (peer broke the '
                         r'connection setup protocol|peer claims a node id it did not '
                         r'authenticate as|peer failed authentication|peer did not '
                         r'authenticate|peer speaks another protocol version)')
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
        # index -> the first time any node showed it (committed by then)
        self.seen = {i: min(e[0] for e in seen.values()) for i, seen in self.obs.items()}
        # the appends whose index is known: (index, op), acknowledged or seen
        self.placed = {}
        for i, seen in self.obs.items():
            e = next(iter(seen.values()))
            op = self.by_payload.get(e[3]) if e[2] == 'data' else None
            if op is not None:
                self.placed.setdefault(op.v, (i, op))
        for o in self.acks:
            self.placed.setdefault(o.v, (o.idx, o))
        # what was committed by when: a list per source of (t, index, what)
        self.committed = {
            'ack': Prefix([(o.t1, o.idx, o) for o in self.acks]),
            'seen': Prefix([(t, i, 'index %d, seen at %.3f' % (i, t))
                            for i, t in self.seen.items()]),
            'read': Prefix([(o.t1, o.idx, o) for o in self.reads]),
        }

    def violation(self, kind, t, msg, nodes=()):
        assert kind in KINDS, kind
        self.found.append(Violation(kind, t, msg, nodes))

    def check(self):
        for step in (self.check_log, self.check_acks, self.check_payloads, self.check_order,
                     self.check_reads, self.check_kv, self.check_leaders, self.check_logs,
                     self.check_bounds, self.check_heal, self.check_membership):
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
        for n, i, first, later in self.run.changed:
            self.violation('divergence', later[0], 'node %d showed index %d as term %d %s %r, '
                           'later as term %d %s %r' % ((n, i) + first[1:] + later[1:]), [n])

    def check_acks(self):
        for o in self.acks:
            seen = self.obs.get(o.idx)
            if not seen:
                gone = all(any(a <= o.idx <= b for _, a, b in self.run.gaps.get(n, []))
                           for n in self.run.status)
                self.violation('ack-unseen', o.t1, '%r: no node showed index %d%s' % (
                    o, o.idx, ' (every node had compacted it before its sampler looked)'
                    if gone else ''), [o.node])
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
                    at = where.setdefault(e[3], {})
                    at[i] = min(at.get(i, e[0]), e[0])
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
        """An append lands above everything committed before it began."""
        for i, op in self.placed.values():
            for source in ('ack', 'seen'):
                top, what = self.committed[source].before(op.t0)
                if top is not None and top >= i:
                    self.violation('order', op.t0, '%r landed at index %d, but %s (index %d) '
                                   'was committed before it began' % (op, i, what, top),
                                   [op.node])

    # -- reads ---------------------------------------------------------------

    def check_reads(self):
        for o in self.reads:
            for source, kind in (('ack', 'stale-read'), ('seen', 'stale-read'),
                                 ('read', 'read-shrank')):
                top, what = self.committed[source].before(o.t0)
                if top is not None and top > o.idx:
                    self.violation(kind, o.t1, '%r: %s (index %d) ended before it began'
                                   % (o, what, top), [o.node])
            if o.applied is not None and o.applied < o.idx:
                self.violation('read-unapplied', o.t1, '%r: the node had applied only %d'
                               % (o, o.applied), [o.node])
        # a read covers only appends that began before it ended
        for i, op in self.placed.values():
            top, r = self.committed['read'].before(op.t0)
            if top is not None and top >= i:
                self.violation('read-ahead', op.t0, '%r answered %d, covering index %d of %r, '
                               'which began after the read ended' % (r, top, i, op), [r.node])

    # -- the key-value store ------------------------------------------------------

    def check_kv(self):
        for o in self.ops:
            if o.op != 'kv-put' or o.out != 'ok':
                continue
            for n, e in sorted(self.obs.get(o.idx, {}).items()):
                if e[2] != 'kv':
                    self.violation('kv-lost', max(o.t1, e[0]), '%r: node %d shows %s %r at its '
                                   'revision' % (o, n, e[2], e[3]), [n, o.node])
        by_key = {}
        for o in self.ops:
            if o.op in ('kv-put', 'kv-get', 'kv-cas'):
                by_key.setdefault(o.arg if o.op != 'kv-cas' else o.arg[0], []).append(o)
        self.kv_checked = {}
        for key, ops in sorted(by_key.items()):
            ok, detail = register_linearizable(ops)
            self.kv_checked[key] = (len(ops), ok)
            if ok is False:
                self.violation('kv-nonlinearizable', detail[0],
                               'key %r: %s' % (key, detail[1]),
                               sorted({o.node for o in ops if o.node is not None}))

    # -- leaders, workers, servers ---------------------------------------------

    def check_leaders(self):
        """One leader per term, as the nodes said of themselves (state) and of
        whom they followed (leader: only the leader of a term sends in it)."""
        leaders = {}
        for n, st in self.run.status.items():
            for s in st:
                t, term, leader, state, worker = s[:5]
                if state == 'leader':
                    leaders.setdefault(term, {}).setdefault(n, (t, n))
                if leader:
                    leaders.setdefault(term, {}).setdefault(leader, (t, n))
                if worker == 'FAILED':
                    self.violation('worker-failed', t, 'node %d reported its worker FAILED' % n,
                                   [n])
        for term, who in sorted(leaders.items()):
            if len(who) > 1:
                self.violation('two-leaders', max(t for t, _ in who.values()), 'term %d: %s'
                               % (term, '; '.join('node %d led (said node %d at %.3f)'
                                                  % (l, by, t) for l, (t, by) in
                                                  sorted(who.items()))), who)

    def check_logs(self):
        base = self.run.params.get('wall_start', 0.0)
        for n, path in sorted(self.run.logs.items()):
            with open(path, errors='replace') as f:
                for line in f:
                    if WORKER_EXIT.search(line):
                        self.violation('worker-died', _log_time(line, base), 'node %d: %s'
                                       % (n, line.strip()), [n])
                        continue
                    if BAD_REFUSAL.search(line):
                        self.violation('refused-peer', _log_time(line, base), 'node %d: %s'
                                       % (n, line.strip()), [n])
                        continue
                    m = LOG_LINE.match(line)
                    if m and m.group(5) in ('FATAL', 'PANIC') and m.group(4) not in BENIGN_FATAL:
                        self.violation('server-fatal', _log_time(line, base), 'node %d: %s'
                                       % (n, line.strip()), [n])

    def check_bounds(self):
        """Calls end within CALL_BOUND, unless their server was paused (or,
        under netem, which shapes the clients' packets too, shaped)."""
        exempt = ['pause'] + (['shape'] if self.run.params.get('shaping') == 'netem' else [])
        spans = {}
        began = {}
        for ev in self.run.events:
            if ev.get('kind') in exempt and ev['ev'] in ('start', 'end'):
                if ev['ev'] == 'start':
                    began[ev['fault']] = ev
                elif ev['fault'] in began:
                    b = began.pop(ev['fault'])
                    for n in b['nodes']:
                        spans.setdefault(n, []).append((b['t'], ev['t']))
        for b in began.values():
            for n in b['nodes']:
                spans.setdefault(n, []).append((b['t'], float('inf')))
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

    def configurations(self):
        """The committed configuration entries: [(index, members)], and the
        indexes no node ever showed."""
        configs, holes = [], []
        for i in range(1, max(self.obs, default=0) + 1):
            e = self.entry(i)
            if e is None:
                holes.append(i)
            elif e[1] == 'config':
                configs.append((i, config_members(e[2])))
        return configs, holes

    def check_membership(self):
        configs, holes = self.configurations()
        calls = [o for o in self.ops if o.op in ('add', 'remove')]
        self.check_calls_held(calls, configs, holes)
        self.check_changes_explained(calls, configs)

    def check_calls_held(self, calls, configs, holes):
        """An add or remove that returned true holds for every append
        acknowledged after it, until the next call on that node begins.  An
        earlier call the other way whose outcome is unknown may still land
        later: a call with one pending is not judged."""
        cidx = [c[0] for c in configs]
        for m in calls:
            if m.out != 'ok':
                continue
            other = 'remove' if m.op == 'add' else 'add'
            if any(o.arg == m.arg and o.op == other and o.out == 'unknown' and o.t0 < m.t1
                   for o in calls):
                continue
            until = min((o.t0 for o in calls if o.arg == m.arg and o.t0 > m.t1),
                        default=float('inf'))
            for o in self.acks:
                if not (m.t1 < o.t0 and o.t1 < until):
                    continue
                k = bisect.bisect_left(cidx, o.idx) - 1
                if k < 0:
                    continue
                c, members = configs[k]
                h = bisect.bisect_right(holes, c)
                if h < len(holes) and holes[h] < o.idx:
                    continue		# a configuration we may not have seen
                if (m.arg in members) != (m.op == 'add'):
                    self.violation('membership', o.t1, '%r returned true, but index %d, '
                                   'appended by %r after it, is under the configuration of '
                                   'index %d: members %s' % (m, o.idx, o, c, sorted(members)),
                                   [m.node, m.arg])
                    break

    def check_changes_explained(self, calls, configs):
        """Every change of the configuration after the cluster was formed
        (the first configuration with every node) has a call that may have
        made it: begun before the change was seen, and not reported failed."""
        everyone = set(range(1, self.run.params['nodes'] + 1))
        prev = None
        for i, members in configs:
            if prev is None:
                if members == everyone:
                    prev = members
                continue
            for x, op in [(x, 'add') for x in members - prev] + \
                         [(x, 'remove') for x in prev - members]:
                if not any(o.op == op and o.arg == x and o.out != 'fail' and
                           o.t0 < self.seen[i] for o in calls):
                    failed = [o for o in calls if o.op == op and o.arg == x and
                              o.t0 < self.seen[i]]
                    self.violation('membership', self.seen[i], 'index %d %s node %d, with no '
                                   'call that may have done it%s' % (
                                       i, 'added' if op == 'add' else 'removed', x,
                                       ' (reported failed: %s)' % failed if failed else ''), [x])
            prev = members


class Prefix:
    """Items (t, index, what) by time: the highest index before a time."""

    def __init__(self, items):
        items = sorted(items, key=lambda x: x[0])
        self.times = [x[0] for x in items]
        self.best = []
        top = None
        for x in items:
            if top is None or x[1] > top[1]:
                top = x
            self.best.append(top)

    def before(self, t):
        """(index, what) of the highest index with time < t, or (None, None)."""
        k = bisect.bisect_left(self.times, t)
        if k == 0:
            return None, None
        return self.best[k - 1][1], self.best[k - 1][2]


def _log_time(line, base):
    """A log line's time on the run's clock (its timestamp less the run's start)."""
    try:
        stamp = datetime.datetime.strptime(' '.join(line.split()[:2]), '%Y-%m-%d %H:%M:%S.%f')
        return stamp.replace(tzinfo=datetime.timezone.utc).timestamp() - base
    except ValueError:
        return 0.0


# -- linearizability of a register (Wing & Gong, with Lowe's memoization) ------

KV_SEARCH_BUDGET = 2000000


def register_linearizable(ops):
    """Whether one key's calls have a linearization as a register that starts
    absent: (True, None), (False, (t, why)), or (None, why) when the search
    ran out of its budget (undecided, not a violation).

    A call that failed did nothing and is left out, as is a get whose
    outcome is unknown.  A put or compare-and-swap whose outcome is unknown
    may have taken effect at any time after it began, or never: it is a
    call that never returns, linearized or not as the search needs.  The
    search linearizes, one at a time, a call that no pending call's return
    precedes, and remembers every (set linearized, value) it has been in."""
    INF = float('inf')
    calls = []
    for o in ops:
        if o.out == 'fail' or (o.out != 'ok' and o.op == 'kv-get'):
            continue
        t1 = o.t1 if o.out == 'ok' and o.t1 is not None else INF
        calls.append((o.t0, t1, o))
    calls.sort(key=lambda c: (c[0], c[1]))
    n = len(calls)
    required = 0
    for i, c in enumerate(calls):
        if c[1] != INF:
            required |= 1 << i

    def step(i, value):
        """The value after call i from value, or a reason it cannot be next."""
        o = calls[i][2]
        if o.op == 'kv-put':
            return True, o.v
        if o.op == 'kv-get':
            return o.res[0] == value, value
        old = o.arg[1]
        if o.out != 'ok':		# unknown: linearized only where it swaps
            return value == old, o.v
        if o.res[0]:
            return value == old, o.v
        return value != old, value

    unknown = [i for i in range(n) if not required >> i & 1]
    seen = set()
    stack = [(0, None)]
    deepest = (0, 0)
    while stack:
        done, value = stack.pop()
        if done & required == required:
            return True, None
        if (done, value) in seen:
            continue
        seen.add((done, value))
        if len(seen) > KV_SEARCH_BUDGET:
            return None, 'the search ran out of its budget of %d states' % KV_SEARCH_BUDGET
        # the first returning call not yet linearized; the earliest return
        # among those bounds who may go next (calls are sorted by start)
        rest = ~(done | ~required)
        first = (rest & -rest).bit_length() - 1
        bound = INF
        for i in range(first, n):
            if calls[i][0] > bound:
                break
            if required >> i & 1 and not done >> i & 1 and calls[i][1] < bound:
                bound = calls[i][1]
        linearized = bin(done & required).count('1')
        if linearized > deepest[0]:
            deepest = (linearized, first)
        nexts = [i for i in unknown if not done >> i & 1 and calls[i][0] <= bound]
        for i in range(first, n):
            if calls[i][0] > bound:
                break
            if required >> i & 1 and not done >> i & 1:
                nexts.append(i)
        for i in nexts:
            ok, after = step(i, value)
            if ok:
                stack.append((done | 1 << i, after))
    # no linearization: name the first call the deepest attempt could not place
    i = deepest[1]
    o = calls[i][2] if calls else None
    return False, (calls[i][0] if calls else 0.0,
                   'no order of its %d calls is a register\'s; the longest prefix '
                   'that is stops before %r' % (n, o))
