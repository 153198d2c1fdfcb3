"""The PostgreSQL servers of a fault run: made, started, stopped, killed, paused.

Servers run as an unprivileged user (PostgreSQL refuses root), each in its
node's network (net.py).  One data directory is made by initdb, with the
extension created, and copied for every node: initdb is the slowest step of
a run.

The driver makes itself a child subreaper, so a killed postmaster becomes
our child and is reaped at once (PID 1 on these machines reaps orphans only
every second or two, and a zombie postmaster makes its data directory look
in use).
"""

import ctypes
import os
import shutil
import signal
import subprocess
import time

from net import sh

PR_SET_CHILD_SUBREAPER = 36
CLUSTER_NAME = 'pgraft_faults'


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), 'prctl(PR_SET_CHILD_SUBREAPER)')


def pg_bindir():
    return sh([os.environ.get('PG_CONFIG', 'pg_config'), '--bindir']).stdout.strip()


def gone(pid):
    """Whether pid has exited and been reaped (reaping it if it is ours)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    except ChildProcessError:
        pass
    # Not ours: gone once PID 1 has reaped it (a zombie still holds the pid).
    return not os.path.exists('/proc/%d' % pid)


def children(ppid):
    kids = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(')') + 2:].split()
        if len(rest) > 1 and int(rest[1]) == ppid:
            kids.append(int(name))
    return kids


def _signal(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    return pids


class Server:
    """Node i: its data directory, its log, and what it is doing."""

    def __init__(self, cluster, i):
        self.cluster = cluster
        self.i = i
        self.dir = os.path.join(cluster.workdir, 'n%d' % i)
        self.data = os.path.join(self.dir, 'data')
        self.log = os.path.join(self.dir, 'server.log')
        self.state = 'down'			# down, up, paused
        self.paused_pids = []

    @property
    def addr(self):
        return self.cluster.net.addr(self.i)

    @property
    def raft_port(self):
        return self.cluster.net.raft_port(self.i)

    def dsn(self):
        net = self.cluster.net
        return 'host=%s port=%d dbname=postgres user=postgres' % (self.addr, net.pg_port(self.i))

    def _as_user(self, argv):
        return self.cluster.net.wrap(self.i, ['runuser', '-u', self.cluster.user, '--'] + argv)

    def configure(self, extra):
        net = self.cluster.net
        with open(os.path.join(self.data, 'postgresql.conf'), 'a') as f:
            f.write('\n# test/faults\n'
                    "listen_addresses = '%s'\n" % self.addr +
                    'port = %d\n' % net.pg_port(self.i) +
                    "unix_socket_directories = '%s'\n" % self.dir +
                    'pgraft.node_id = %d\n' % self.i +
                    "pgraft.address = '%s'\n" % self.addr +
                    'pgraft.port = %d\n' % net.raft_port(self.i) + extra)

    def pid(self):
        """The postmaster's pid, if postmaster.pid names a live process."""
        try:
            with open(os.path.join(self.data, 'postmaster.pid')) as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            return None
        return None if gone(pid) else pid

    def pids(self):
        pid = self.pid()
        return [] if pid is None else [pid] + children(pid)

    def start_argv(self):
        return self._as_user([os.path.join(self.cluster.bindir, 'pg_ctl'), '-D', self.data,
                              '-l', self.log, '-w', '-t', '120', 'start'])

    def start(self):
        r = sh(self.start_argv(), check=False)
        if r.returncode != 0:
            raise RuntimeError('node %d did not start: %s' % (self.i, (r.stderr or r.stdout).strip()))
        self.state = 'up'

    def stop(self):
        """A graceful (fast) shutdown."""
        pid = self.pid()
        sh(self._as_user([os.path.join(self.cluster.bindir, 'pg_ctl'), '-D', self.data, '-m',
                          'fast', '-w', '-t', '120', 'stop']), check=False)
        if pid is not None:
            self._wait_gone([pid])
        self.state = 'down'

    def kill9(self):
        """Every process of the server at once: a crash of the whole node."""
        pids = _signal(self.pids(), signal.SIGKILL)
        self._wait_gone(pids)
        self.state = 'down'

    def pause(self):
        """SIGSTOP, the postmaster first (so that it starts no one else)."""
        self.paused_pids = _signal(self.pids(), signal.SIGSTOP)
        self.state = 'paused'

    def resume(self):
        _signal(self.paused_pids + self.pids(), signal.SIGCONT)
        self.paused_pids = []
        self.state = 'up'

    def _wait_gone(self, pids, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(gone(p) for p in pids):
                return
            time.sleep(0.02)
        raise RuntimeError('node %d: processes %s did not exit' % (self.i, pids))


class Cluster:
    def __init__(self, net, workdir, n, conf, user='postgres', tls=False, key=False):
        self.tls = tls
        self.key = key
        self.net = net
        self.workdir = workdir
        self.n = n
        self.user = user
        self.conf = conf
        self.bindir = pg_bindir()
        self.servers = {i: Server(self, i) for i in range(1, n + 1)}

    def make(self):
        """Data directories for every node, from one initdb."""
        os.makedirs(self.workdir, exist_ok=True)
        shutil.chown(self.workdir, self.user)
        template = os.path.join(self.workdir, 'template')
        run = lambda argv: sh(['runuser', '-u', self.user, '--'] + argv)
        run([os.path.join(self.bindir, 'initdb'), '-D', template, '-A', 'trust', '-U', 'postgres',
             '--no-sync'])
        with open(os.path.join(template, 'pg_hba.conf'), 'a') as f:
            f.write('host all all 0.0.0.0/0 trust\n')
        opts = ("-c shared_preload_libraries=pgraft -c pgraft.worker_enabled=off "
                "-c listen_addresses='' -c unix_socket_directories=%s -c port=5999" % self.workdir)
        log = os.path.join(self.workdir, 'template.log')
        run([os.path.join(self.bindir, 'pg_ctl'), '-D', template, '-l', log, '-w', '-o', opts,
             'start'])
        try:
            run([os.path.join(self.bindir, 'psql'), '-X', '-q', '-h', self.workdir, '-p', '5999',
                 '-U', 'postgres', '-d', 'postgres', '-c', 'CREATE EXTENSION pgraft'])
        finally:
            run([os.path.join(self.bindir, 'pg_ctl'), '-D', template, '-m', 'fast', '-w', 'stop'])
        shutil.rmtree(os.path.join(template, 'pgraft'), ignore_errors=True)
        with open(os.path.join(template, 'postgresql.conf'), 'a') as f:
            f.write(self.conf)
        for s in self.servers.values():
            os.makedirs(s.dir, exist_ok=True)
            sh(['cp', '-a', template, s.data])
            shutil.chown(s.dir, self.user)
            s.configure('')
        shutil.rmtree(template)
        if self.tls:
            self._certificates()
        if self.key:
            self._key()

    def _key(self):
        """One cluster key for every node (docs/security.md)."""
        key = sh(['openssl', 'rand', '-hex', '32']).stdout
        for s in self.servers.values():
            path = os.path.join(s.data, 'pgraft_auth.key')
            with open(path, 'w') as f:
                f.write(key)
            os.chmod(path, 0o600)
            shutil.chown(path, self.user)
            with open(os.path.join(s.data, 'postgresql.conf'), 'a') as f:
                f.write("pgraft.auth_key_file = 'pgraft_auth.key'\n")

    def _certificates(self):
        """A CA for the run and a certificate per node naming it
        (docs/security.md), each in its data directory; pgraft.ssl on."""
        pki = os.path.join(self.workdir, 'pki')
        os.makedirs(pki)
        ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        sh(['openssl', 'req', '-x509'] + ec + ['-keyout', pki + '/ca.key', '-out',
                                               pki + '/ca.crt', '-days', '2', '-subj',
                                               '/CN=fault suite CA'])
        for s in self.servers.values():
            base = '%s/n%d' % (pki, s.i)
            sh(['openssl', 'req', '-new'] + ec + ['-keyout', base + '.key', '-out', base + '.csr',
                                                  '-subj', '/CN=pgraft-node-%d.%s'
                                                  % (s.i, CLUSTER_NAME)])
            sh(['openssl', 'x509', '-req', '-in', base + '.csr', '-CA', pki + '/ca.crt', '-CAkey',
                pki + '/ca.key', '-CAcreateserial', '-days', '2', '-out', base + '.crt'])
            for src, dst, mode in ((base + '.crt', 'pgraft.crt', 0o644),
                                   (base + '.key', 'pgraft.key', 0o600),
                                   (pki + '/ca.crt', 'pgraft_ca.crt', 0o644)):
                path = os.path.join(s.data, dst)
                shutil.copy(src, path)
                os.chmod(path, mode)
                shutil.chown(path, self.user)
            with open(os.path.join(s.data, 'postgresql.conf'), 'a') as f:
                f.write('pgraft.ssl = on\n')

    def up(self):
        return [s for s in self.servers.values() if s.state == 'up']

    def start(self, nodes=None):
        """The stopped servers of nodes (default: all), in parallel: each
        replays its WAL first."""
        nodes = self.servers if nodes is None else nodes
        ps = [(s, subprocess.Popen(s.start_argv(), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True))
              for s in (self.servers[i] for i in nodes) if s.state == 'down']
        for s, p in ps:
            out, _ = p.communicate()
            if p.returncode != 0:
                raise RuntimeError('node %d did not start: %s' % (s.i, out.strip()))
            s.state = 'up'

    def destroy(self):
        for s in self.servers.values():
            if s.state == 'paused':
                s.resume()
            if s.pid() is not None:
                s.kill9()
