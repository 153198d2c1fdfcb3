"""A run's report: what was done, what was injected, what went wrong and when."""

import collections
import os

import checker
import history

TIMELINE_WINDOW = 5.0


def summary(run):
    """Counts: operations by kind and outcome, faults by kind."""
    ops = collections.Counter((o.op, o.out) for o in run.ops)
    faults = collections.Counter(ev['kind'] for ev in run.events if ev['ev'] == 'start')
    transfers = sum(1 for ev in run.events if ev['ev'] == 'transfer')
    if transfers:
        faults['transfer'] = transfers
    return ops, faults


def role_changes(run, t0, t1):
    """(t, node, 'role term leader') whenever a node's view changed in [t0, t1]."""
    out = []
    for n, st in sorted(run.status.items()):
        last = None
        for s in st:
            t, term, leader, state = s[:4]
            view = '%s term %d leader %d' % (state, term, leader)
            if view != last and t0 <= t <= t1:
                out.append((t, n, view))
            last = view
    return out


def timeline(run, t):
    lo, hi = t - TIMELINE_WINDOW, t + TIMELINE_WINDOW
    lines = []
    for ev in run.events:
        if lo <= ev['t'] <= hi:
            what = {k: v for k, v in ev.items() if k not in ('t', 'ev')}
            lines.append((ev['t'], '%-9s %s' % (ev['ev'], what)))
    for ct, n, view in role_changes(run, lo, hi):
        lines.append((ct, 'node %d    %s' % (n, view)))
    return ['      %9.3f  %s' % (ct, text) for ct, text in sorted(lines)]


def render(run, violations, kv_checked=None):
    p = run.params
    ops, faults = summary(run)
    out = ['fault run: %s nodes, %s, seed %s, %s s of faults' % (
        p.get('nodes'), 'scenario ' + p['scenario'] if p.get('scenario') else 'random faults',
        p.get('seed'), p.get('time')),
        'network: %s (packet shaping: %s)%s%s; servers: %s'
        % (p.get('net'), p.get('shaping'), ', mutual TLS' if p.get('tls') else '',
           ', cluster key' if p.get('key') else '', p.get('server_version')), '']
    out.append('operations (%d):' % sum(ops.values()))
    for (op, res), k in sorted(ops.items()):
        out.append('  %-10s %-8s %7d' % (op, res, k))
    if kv_checked:
        out.append('key-value linearizability (a register per key): %s' % ', '.join(
            '%s %d calls %s' % (key, n, {True: 'linearizable', False: 'NOT linearizable',
                                         None: 'undecided (search budget)'}[ok])
            for key, (n, ok) in sorted(kv_checked.items())))
    out.append('faults (%d):' % sum(faults.values()))
    for kind, k in sorted(faults.items()):
        out.append('  %-12s %5d' % (kind, k))
    heal = p.get('heal')
    if heal:
        out.append('heal: faults ended at %.1f s; first write per node after it: %s; '
                   'converged: %s' % (heal['healed_at'], ', '.join(
                       'n%s %s' % (n, '%.2f s' % d if d is not None else 'none')
                       for n, d in sorted(heal.get('first_write', {}).items())),
                       heal.get('converged')))
    out.append('')
    out.append('violations: %d' % len(violations))
    for v in violations:
        out.append('  %s at %.3f s: %s' % (v.kind, v.t, v.msg))
        out.extend(timeline(run, v.t))
    return '\n'.join(out) + '\n'


def check_run(rundir):
    """Check a saved run, write its report.txt, print it; the violations."""
    run = history.Run.load(rundir)
    c = checker.Checker(run)
    found = c.check()
    text = render(run, found, c.kv_checked)
    with open(os.path.join(rundir, 'report.txt'), 'w') as f:
        f.write(text)
    print(text, end='')
    return found
