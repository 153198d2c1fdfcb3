"""The fault suite's network: where each server lives and how packets suffer.

Two layouts, one interface:

- NetnsNet: every server in a network namespace of its own, joined by a
  veth pair to a bridge in a hub namespace, where the clients and the
  driver run.  The addresses (10.213.0.0/24) exist only inside those
  namespaces: nothing reaches a real network.
- LoopbackNet: where namespaces cannot be made, every server on an address
  of its own in 127.0.0.0/8 of this host; the filter rules then match on
  source and destination address.

The faults on packets are a function of the faults in force: apply() gets
the whole set (cuts, and per node a delay, a loss or a duplication rate on
what it sends to its peers) and rewrites every rule at once, so healing one
fault never disturbs another and a final apply([]) leaves nothing behind.
Cuts drop at the receiver (INPUT), so a one-way cut is real: what A sends
never arrives at B while B's packets still reach A.

Loss, delay and duplication use tc netem where the kernel has it (probed at
setup; netem then shapes the node's whole interface, clients included).
Where it does not, the fallback is netfilter: loss by the statistic match,
duplication by the TEE target (the kernel sends a clone of the packet to
the same peer), delay with jitter by the NFQUEUE target and netdelay.py,
which gives each packet its verdict late and out of order.  `shaping`
names which was used; the run report says it.
"""

import ctypes
import os
import socket
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CLONE_NEWNET = 0x40000000
PREFIX = 'pgrf'


def sh(argv, check=True, input=None):
    """Run a command; raise with its output if it fails and check is set."""
    r = subprocess.run(argv, input=input, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError('%s: exit %d: %s' % (' '.join(argv), r.returncode,
                                                (r.stderr or r.stdout).strip()))
    return r


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale():
    """Namespaces left by earlier runs whose driver died: delete them."""
    r = sh(['ip', 'netns', 'list'], check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ''
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX):].split('-')[0]
        if pid.isdigit() and not _alive(int(pid)):
            sh(['ip', 'netns', 'del', name], check=False)


class Net:
    """What both layouts share: the rule set and the delay daemons."""

    kind = None
    shaping = None

    def __init__(self, n, workdir):
        self.n = n
        self.workdir = workdir
        self.delayers = {}		# node -> netdelay.py process
        self.shaped = set()		# nodes with a netem qdisc

    def wrap(self, i, argv):
        """argv run in node i's network (its namespace, or this host)."""
        raise NotImplementedError

    def apply(self, cuts, shapes):
        """Make the packet faults exactly these.

        cuts: set of (src, dst): packets from src to dst are dropped at dst.
        shapes: dict node -> {'delay': ms, 'jitter': ms, 'loss': p, 'dup': p}
        for what that node sends to its peers.
        """
        if self.shaping == 'netem':
            self._apply_netem(shapes)
        else:
            self._apply_delayers(shapes)
        self._apply_rules(cuts, shapes if self.shaping != 'netem' else {})

    def _apply_netem(self, shapes):
        for i in range(1, self.n + 1):
            s = shapes.get(i)
            dev = self.dev(i)
            if s is None:
                if i in self.shaped:
                    sh(self.wrap(i, ['tc', 'qdisc', 'del', 'dev', dev, 'root']), check=False)
                    self.shaped.discard(i)
                continue
            argv = ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'netem']
            if s.get('delay'):
                argv += ['delay', '%dms' % s['delay'], '%dms' % s.get('jitter', 0)]
            if s.get('loss'):
                argv += ['loss', '%g%%' % (100 * s['loss'])]
            if s.get('dup'):
                argv += ['duplicate', '%g%%' % (100 * s['dup'])]
            sh(self.wrap(i, argv))
            self.shaped.add(i)

    def _apply_delayers(self, shapes):
        """One netdelay.py per node whose packets are delayed."""
        want = {i: (s['delay'], s.get('jitter', 0)) for i, s in shapes.items() if s.get('delay')}
        for i in list(self.delayers):
            p, params = self.delayers[i]
            if want.get(i) != params:
                p.terminate()
                p.wait()
                del self.delayers[i]
        for i, (delay, jitter) in want.items():
            if i in self.delayers:
                continue
            log = open(os.path.join(self.workdir, 'netdelay-n%d.log' % i), 'a')
            p = subprocess.Popen(self.wrap(i, ['/usr/bin/python3', os.path.join(HERE, 'netdelay.py'),
                                               str(self.queue(i)), str(delay), str(jitter)]),
                                 stdout=log, stderr=log)
            log.close()
            self.delayers[i] = (p, (delay, jitter))

    def rules_for(self, i, cuts, shapes):
        """iptables-restore input for what node i's rules must be now."""
        raise NotImplementedError

    def close(self):
        self.apply(set(), {})


class NetnsNet(Net):
    kind = 'netns'

    def __init__(self, n, workdir):
        super().__init__(n, workdir)
        self.tag = '%s%d' % (PREFIX, os.getpid())
        self.hub = self.tag + '-hub'
        self.made = []

    @staticmethod
    def available():
        if os.geteuid() != 0:
            return False
        name = '%s%d-probe' % (PREFIX, os.getpid())
        if sh(['ip', 'netns', 'add', name], check=False).returncode != 0:
            return False
        ok = sh(['ip', '-n', name, 'link', 'add', 'pgrfa', 'type', 'veth', 'peer', 'name', 'pgrfb'],
                check=False).returncode == 0
        sh(['ip', 'netns', 'del', name], check=False)
        return ok

    def ns(self, i):
        return '%s-n%d' % (self.tag, i)

    def dev(self, i):
        return 'eth0'

    def addr(self, i):
        return '10.213.0.%d' % (10 + i)

    def hub_addr(self):
        return '10.213.0.1'

    def pg_port(self, i):
        return 5432

    def raft_port(self, i):
        return 7001

    def queue(self, i):
        return 1

    def wrap(self, i, argv):
        return ['ip', 'netns', 'exec', self.ns(i)] + list(argv)

    def setup(self):
        remove_stale()
        sh(['ip', 'netns', 'add', self.hub])
        self.made.append(self.hub)
        hub = ['ip', '-n', self.hub]
        sh(hub + ['link', 'set', 'lo', 'up'])
        sh(hub + ['link', 'add', 'br0', 'type', 'bridge'])
        sh(hub + ['addr', 'add', self.hub_addr() + '/24', 'dev', 'br0'])
        sh(hub + ['link', 'set', 'br0', 'up'])
        for i in range(1, self.n + 1):
            ns = self.ns(i)
            sh(['ip', 'netns', 'add', ns])
            self.made.append(ns)
            inner, outer = 'pfi%d' % i, 'pfo%d' % i
            sh(['ip', '-n', ns, 'link', 'add', inner, 'type', 'veth', 'peer', 'name', outer,
                'netns', self.hub])
            sh(['ip', '-n', ns, 'link', 'set', inner, 'name', 'eth0'])
            sh(['ip', '-n', ns, 'addr', 'add', self.addr(i) + '/24', 'dev', 'eth0'])
            sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
            sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
            sh(hub + ['link', 'set', outer, 'master', 'br0'])
            sh(hub + ['link', 'set', outer, 'up'])
            for table, chain, parent in (('filter', 'PGRF_IN', 'INPUT'),
                                         ('filter', 'PGRF_OUT', 'OUTPUT'),
                                         ('mangle', 'PGRF_DUP', 'OUTPUT')):
                sh(self.wrap(i, ['iptables', '-w', '-t', table, '-N', chain]))
                sh(self.wrap(i, ['iptables', '-w', '-t', table, '-A', parent, '-j', chain]))
        self.shaping = 'netem' if self._netem_works() else 'netfilter'

    def _netem_works(self):
        r = sh(self.wrap(1, ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay',
                             '1ms']), check=False)
        if r.returncode != 0:
            return False
        sh(self.wrap(1, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']), check=False)
        return True

    def enter_hub(self):
        """Move this process (before it starts threads) into the hub."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open('/run/netns/' + self.hub, os.O_RDONLY)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), 'setns into ' + self.hub)
        os.close(fd)

    def _apply_rules(self, cuts, shapes):
        for i in range(1, self.n + 1):
            sh(self.wrap(i, ['iptables-restore', '-w', '--noflush']),
               input=self.rules_for(i, cuts, shapes))

    def rules_for(self, i, cuts, shapes):
        peers = [self.addr(j) for j in range(1, self.n + 1) if j != i]
        inp = ['-A PGRF_IN -s %s -j DROP' % self.addr(src) for src, dst in sorted(cuts)
               if dst == i]
        out, dup = [], []
        s = shapes.get(i, {})
        for a in peers:
            if s.get('loss'):
                out.append('-A PGRF_OUT -d %s -m statistic --mode random --probability %.4f -j DROP'
                           % (a, s['loss']))
            if s.get('delay'):
                out.append('-A PGRF_OUT -d %s -j NFQUEUE --queue-num %d --queue-bypass'
                           % (a, self.queue(i)))
            if s.get('dup'):
                dup.append('-A PGRF_DUP -d %s -m statistic --mode random --probability %.4f '
                           '-j TEE --gateway %s' % (a, s['dup'], a))
        return '\n'.join(['*filter', '-F PGRF_IN', '-F PGRF_OUT'] + inp + out +
                         ['COMMIT', '*mangle', '-F PGRF_DUP'] + dup + ['COMMIT', ''])

    def teardown(self):
        for p, _ in self.delayers.values():
            p.terminate()
        self.delayers = {}
        for ns in reversed(self.made):
            sh(['ip', 'netns', 'del', ns], check=False)
        self.made = []


class LoopbackNet(Net):
    """Servers on 127.0.0.x addresses of this host, rules in chains of our own."""

    kind = 'loopback'
    shaping = 'netfilter'

    def __init__(self, n, workdir):
        super().__init__(n, workdir)
        self.tag = 'PGRF%d' % os.getpid()
        self.base = self._free_base()
        self.made = False

    @staticmethod
    def _free_base():
        """A run of ports free on every address we use: 20 from the base."""
        for base in range(21000, 60000, 97):
            try:
                socks = []
                for k in range(20):
                    s = socket.socket()
                    s.bind(('127.0.0.1', base + k))
                    socks.append(s)
                for s in socks:
                    s.close()
                return base
            except OSError:
                for s in socks:
                    s.close()
        raise RuntimeError('no free ports')

    def dev(self, i):
        return 'lo'

    def addr(self, i):
        return '127.0.%d.%d' % (os.getpid() % 200 + 20, 10 + i)

    def hub_addr(self):
        return '127.0.0.1'

    def pg_port(self, i):
        return self.base + i

    def raft_port(self, i):
        return self.base + 10 + i

    def queue(self, i):
        return 1000 + (os.getpid() % 1000) * 10 + i

    def wrap(self, i, argv):
        return list(argv)

    def chain(self, what):
        return '%s_%s' % (self.tag, what)

    def setup(self):
        self.made = True
        for table, what, parent in (('filter', 'IN', 'INPUT'), ('filter', 'OUT', 'OUTPUT'),
                                    ('mangle', 'DUP', 'OUTPUT')):
            sh(['iptables', '-w', '-t', table, '-N', self.chain(what)])
            sh(['iptables', '-w', '-t', table, '-I', parent, '-j', self.chain(what)])

    def enter_hub(self):
        pass

    def _apply_rules(self, cuts, shapes):
        sh(['iptables-restore', '-w', '--noflush'], input=self.rules_for(0, cuts, shapes))

    def rules_for(self, _, cuts, shapes):
        c_in, c_out, c_dup = self.chain('IN'), self.chain('OUT'), self.chain('DUP')
        inp = ['-A %s -s %s -d %s -j DROP' % (c_in, self.addr(s), self.addr(d))
               for s, d in sorted(cuts)]
        out, dup = [], []
        for i, s in sorted(shapes.items()):
            for j in range(1, self.n + 1):
                if j == i:
                    continue
                a, b = self.addr(i), self.addr(j)
                if s.get('loss'):
                    out.append('-A %s -s %s -d %s -m statistic --mode random --probability %.4f '
                               '-j DROP' % (c_out, a, b, s['loss']))
                if s.get('delay'):
                    out.append('-A %s -s %s -d %s -j NFQUEUE --queue-num %d --queue-bypass'
                               % (c_out, a, b, self.queue(i)))
                if s.get('dup'):
                    dup.append('-A %s -s %s -d %s -m statistic --mode random --probability %.4f '
                               '-j TEE --gateway %s' % (c_dup, a, b, s['dup'], b))
        return '\n'.join(['*filter', '-F ' + c_in, '-F ' + c_out] + inp + out +
                         ['COMMIT', '*mangle', '-F ' + c_dup] + dup + ['COMMIT', ''])

    def teardown(self):
        for p, _ in self.delayers.values():
            p.terminate()
        self.delayers = {}
        if not self.made:
            return
        for table, what, parent in (('filter', 'IN', 'INPUT'), ('filter', 'OUT', 'OUTPUT'),
                                    ('mangle', 'DUP', 'OUTPUT')):
            sh(['iptables', '-w', '-t', table, '-D', parent, '-j', self.chain(what)], check=False)
            sh(['iptables', '-w', '-t', table, '-F', self.chain(what)], check=False)
            sh(['iptables', '-w', '-t', table, '-X', self.chain(what)], check=False)
        self.made = False


def make(kind, n, workdir):
    """The layout asked for: 'netns', 'loopback', or 'auto' (netns if it works)."""
    if kind == 'auto':
        kind = 'netns' if NetnsNet.available() else 'loopback'
    return NetnsNet(n, workdir) if kind == 'netns' else LoopbackNet(n, workdir)
