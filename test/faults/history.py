"""What a fault run records, and how the checker reads it back.

A run directory holds (all JSON lines, times in seconds since the run's
start on the machine's monotonic clock, which every process shares):

  history-<process>.jsonl  every call a process made: an "invoke" line
                           before it is sent, then one completion line:
                             {"p","id","k":"invoke","op","node","v"|"arg","t"}
                             {"p","id","k":"ok"|"fail"|"unknown","t",
                              "idx"?, "applied"?, "code"?, "msg"?,
                              "detail"?}
                           op is append (v: its unique payload), read (a
                           read barrier: idx is the index it answered,
                           applied what the node had applied right after),
                           add, remove or transfer (arg: the node id);
                           kv-put (arg: the key, v: its unique value; idx
                           the revision), kv-get (arg: the key; res: [the
                           value or null]), kv-cas (arg: [key, the value
                           expected], v: the new one; res: [swapped]).
                           "fail" is a definite failure: nothing happened
                           (outcome_of_error says which errors are; the
                           checker judges every error again by it).  A
                           membership call that answered false has code
                           "false".
  samples-n<i>.jsonl       what the sampler saw on node i:
                             {"t","s":[term, leader, state, worker,
                                       commit, applied, first]}
                             {"t","e":[index, term, type, data]}  (each
                              committed entry once, when first seen)
                             {"t","gap":[from, to]}  (compacted unseen)
                             {"t","m":[[id, role], ...]}  (members)
  events.jsonl             faults as they start and end, phases of the run
                             {"t","ev":"fault"|"heal"|..., ...}
  run.json                 the run's parameters and the heal phase's results
  logs/n<i>.log            the servers' logs
"""

import glob
import itertools
import json
import os
import threading
import time


class Clock:
    """Seconds since the run started, the same in every process."""

    def __init__(self, base=None):
        self.base = time.monotonic() if base is None else base

    def now(self):
        return time.monotonic() - self.base


class Writer:
    """A JSON-lines file written line by line (a crash loses no whole line)."""

    def __init__(self, path):
        self.f = open(path, 'a', buffering=1)
        self.lock = threading.Lock()

    def write(self, obj):
        line = json.dumps(obj, separators=(',', ':')) + '\n'
        with self.lock:
            self.f.write(line)

    def close(self):
        self.f.close()


class Calls:
    """Invoke and complete calls of one process (of any of its threads) into
    its history file."""

    def __init__(self, rundir, process, clock):
        self.p = process
        self.clock = clock
        self.w = Writer(os.path.join(rundir, 'history-%s.jsonl' % process))
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def invoke(self, op, node, **kw):
        with self.lock:
            cid = next(self.ids)
        rec = {'p': self.p, 'id': cid, 'k': 'invoke', 'op': op, 'node': node,
               't': round(self.clock.now(), 6)}
        rec.update(kw)
        self.w.write(rec)
        return cid

    def complete(self, cid, kind, t=None, **kw):
        """The call's end; t if it ended before now (default: now)."""
        rec = {'p': self.p, 'id': cid, 'k': kind,
               't': round(self.clock.now() if t is None else t, 6)}
        rec.update({k: v for k, v in kw.items() if v is not None})
        self.w.write(rec)

    def close(self):
        self.w.close()


# The errors after which pgraft promises that nothing happened: a call
# that timed out before a leader took it (55000), a term mismatch (40001),
# too large (54000), the request queue full (53400), an argument refused
# (22023, 42704 not a member, 42710 already a member elsewhere), and a
# cancel before the worker started on it (57014 without pgraft's detail
# that what was proposed may still take effect; PostgreSQL's promise for a
# cancelled statement).  Every other error (pgraft's own 08007, a server
# going away, a broken connection, an internal error, any code not listed)
# leaves the outcome unknown.
DEFINITE = {'55000', '40001', '54000', '53400', '22023', '42704', '42710'}
MAY_STILL = 'may still take effect'


def outcome_of_error(code, detail=None):
    if code in DEFINITE:
        return 'fail'
    if code == '57014' and MAY_STILL not in (detail or ''):
        return 'fail'
    return 'unknown'


def _lines(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except ValueError:
                continue		# a line cut short by a crash


class Op:
    """One call: its invocation joined with its completion (if any)."""

    __slots__ = ('p', 'id', 'op', 'node', 'v', 'arg', 't0', 't1', 'out', 'idx', 'applied',
                 'code', 'msg', 'res')

    def __init__(self, inv):
        self.p = inv['p']
        self.id = inv['id']
        self.op = inv['op']
        self.node = inv.get('node')
        self.v = inv.get('v')
        self.arg = inv.get('arg')
        self.t0 = inv['t']
        self.t1 = None
        self.out = 'unknown'		# never completed: may have happened
        self.idx = None
        self.applied = None
        self.code = None
        self.msg = None
        self.res = None			# a key-value call's answer, in a list

    def complete(self, rec):
        self.t1 = rec['t']
        self.out = rec['k']
        self.idx = rec.get('idx')
        self.applied = rec.get('applied')
        self.code = rec.get('code')
        self.msg = rec.get('msg')
        self.res = rec.get('res')
        if self.out != 'ok' and self.code not in (None, 'false'):
            # judged again from the error, so that a saved history is
            # checked by today's rules
            self.out = outcome_of_error(self.code, rec.get('detail'))

    def __repr__(self):
        return '%s#%d %s(%s) on n%s [%.3f, %s] -> %s%s' % (
            self.p, self.id, self.op, self.v if self.v is not None else self.arg, self.node,
            self.t0, '%.3f' % self.t1 if self.t1 is not None else '-', self.out,
            ' %s' % self.idx if self.idx is not None else
            (' %s' % self.code if self.code else ''))


class Run:
    """Everything a run directory holds, loaded for the checker."""

    def __init__(self):
        self.params = {}
        self.ops = []
        self.status = {}		# node -> [(t, term, leader, state, worker, commit, applied, first)]
        self.entries = {}		# node -> {index: (t, term, type, data)}, first seen
        self.changed = []		# (node, index, first, later): a node showed two entries
        self.gaps = {}			# node -> [(t, from, to)]
        self.members = {}		# node -> [(t, [(id, role)])]
        self.events = []
        self.logs = {}			# node -> path of its server log

    @classmethod
    def load(cls, rundir):
        run = cls()
        with open(os.path.join(rundir, 'run.json')) as f:
            run.params = json.load(f)
        for path in sorted(glob.glob(os.path.join(rundir, 'history-*.jsonl'))):
            open_ops = {}
            for rec in _lines(path):
                if rec['k'] == 'invoke':
                    op = Op(rec)
                    open_ops[rec['id']] = op
                    run.ops.append(op)
                elif rec['id'] in open_ops:
                    open_ops.pop(rec['id']).complete(rec)
        for path in sorted(glob.glob(os.path.join(rundir, 'samples-n*.jsonl'))):
            n = int(os.path.basename(path)[len('samples-n'):-len('.jsonl')])
            run.add_samples(n, _lines(path))
        path = os.path.join(rundir, 'events.jsonl')
        if os.path.exists(path):
            run.events = list(_lines(path))
        for path in glob.glob(os.path.join(rundir, 'logs', 'n*.log')):
            run.logs[int(os.path.basename(path)[1:-4])] = path
        return run

    def add_samples(self, n, records):
        st = self.status.setdefault(n, [])
        ents = self.entries.setdefault(n, {})
        gaps = self.gaps.setdefault(n, [])
        mem = self.members.setdefault(n, [])
        for rec in records:
            t = rec['t']
            if 's' in rec:
                st.append((t,) + tuple(rec['s']))
            elif 'e' in rec:
                index, term, kind, data = rec['e']
                e = (t, term, kind, data)
                first = ents.setdefault(index, e)
                if first[1:] != e[1:]:
                    self.changed.append((n, index, first, e))
            elif 'gap' in rec:
                gaps.append((t, rec['gap'][0], rec['gap'][1]))
            elif 'm' in rec:
                mem.append((t, [tuple(m) for m in rec['m']]))
