#!/usr/bin/env python3
"""Cases 1 to 3 of the benchmark: site.yml on the docker lab, against bench/floor.sh and against itself.

The hosts are those of molecule's bench scenario (the main lab's, with frontends fe1 to fe4), made fresh with
`molecule destroy` + `molecule create` before each deploy. The playbooks run with an inventory per topology
(written here, beside the lab's group_vars and host_vars), pipelining on and the lab's 10 forks:

  1. bench/floor.sh (only the commands of Chef's HA procedure, one after the other) on a fresh 3+2 lab, then
     site.yml on a fresh 3+2+1 lab (with its load balancer): first deploy / floor, target at most 1.5.
  2. On that deployed lab: site.yml again (the no-op re-run) and site.yml --check; each / first deploy, target at
     most 0.30, and no vendor command that changes anything (the stand-ins' invocation logs: chef-backend-ctl and
     chef-server-ctl subcommands other than the read-only ones; chef-waiter and HAProxy not restarted).
  3. site.yml on a fresh lab with 4 frontends and on one with 1: ratio target at most 1.2.
  Also: Ansible alone, BENCH_ANSIBLE_ROUNDS ping tasks over the 3+2+1 lab's hosts: the cost of one module call (one
  docker exec, with pipelining) with the machine busy, which times the re-run's docker execs bounds any no-op run.
  Every run is given with its docker execs (docker events) and the machine's CPU (/proc/stat, the docker cgroup).

Writes its rows as JSON to BENCH_LAB_RESULTS (.build/bench/lab_deploy.json), which bench/chef_run_fleet.py puts in
the one table; prints them too. Environment: BENCH_ANSIBLE_ROUNDS (40), BENCH_KEEP (1 leaves the last lab up).
Needs what `make bootstrap` builds (the lab image, the lab repository, the collection).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chef_run_fleet import LAB_RESULTS, ROOT, VENV_BIN, Controller, env_int, mib  # noqa: E402

SCENARIO = 'bench'
BACKENDS = ('be1', 'be2', 'be3')
FLOOR_TARGET = 1.5
NOOP_TARGET = 0.30
SCALE_TARGET = 1.2
# Subcommands that only read: every other call of a vendor CLI counts as a change.
READ_ONLY = {
    'chef-backend-ctl': {'status', 'cluster-status', 'gen-server-config', 'version', 'show-config', 'help'},
    'chef-server-ctl': {'status', 'version', 'user-list', 'user-show', 'org-list', 'org-show', 'org-user-list',
                        'show-config', 'help', 'test'},
}
# Units that a no-op run must leave running as they were.
UNITS = {'node1': 'chef-waiter.service', 'lb': 'haproxy.service'}
RECAP = re.compile(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)
ALONE_PLAY = """\
- name: Ansible alone, one module call per host and task
  hosts: all
  gather_facts: false
  tasks:
"""
ALONE_TASK = """\
    - name: Ping {number}
      ansible.builtin.ping:
"""


def machine_cpu():
    """(busy, all) CPU seconds of the machine since boot, every core, from /proc/stat."""
    with open('/proc/stat') as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    ticks = float(os.sysconf('SC_CLK_TCK'))
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return (sum(fields[:8]) - idle) / ticks, sum(fields[:8]) / ticks


def containers_cpu():
    """CPU seconds used by every docker container so far (cgroup v1 cpuacct or v2 cpu.stat), or None."""
    for path, scale in (('/sys/fs/cgroup/cpuacct/docker/cpuacct.usage', 1e9),
                        ('/sys/fs/cgroup/system.slice/cpu.stat', 1e6)):
        try:
            with open(path) as handle:
                text = handle.read()
        except OSError:
            continue
        if scale == 1e9:
            return int(text.split()[0]) / scale
        usage = dict(line.split() for line in text.splitlines()).get('usage_usec')
        return int(usage) / scale if usage else None
    return None


class Measured(object):
    """A Controller run with the machine's CPU around it: how busy the cores were, and how much of it was the lab's
    containers (their modules, chef-backend-ctl, chef-server-ctl) rather than the controller and docker."""

    def __init__(self, controller):
        self.controller = controller
        busy0, all0 = machine_cpu()
        containers0 = containers_cpu()
        started = time.time()
        controller.run()
        ended = time.time()
        busy1, all1 = machine_cpu()
        containers1 = containers_cpu()
        self.busy = busy1 - busy0
        self.share = self.busy / (all1 - all0) if all1 > all0 else 0.0
        self.containers = containers1 - containers0 if containers0 is not None and containers1 is not None else None
        self.execs = docker_execs(started, ended)
        controller.execs = self.execs

    def text(self):
        return '%s docker execs; CPU %.0f s busy (%.0f%% of %d cores%s)' % (
            self.execs if self.execs is not None else '?', self.busy, 100 * self.share, os.cpu_count() or 0,
            ', containers %.0f s' % self.containers if self.containers is not None else '')


def docker_execs(started, ended):
    """How many docker exec started between these times (one per module call with pipelining), or None."""
    result = subprocess.run(['docker', 'events', '--since', '%.6f' % started, '--until', '%.6f' % ended,
                             '--filter', 'type=container', '--filter', 'event=exec_start', '--format', '{{.ID}}'],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    return len(result.stdout.split()) if result.returncode == 0 else None


def environment():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'collections'),
               CHEFOPS_LAB_ROOT=ROOT, ANSIBLE_FORCE_COLOR='false', ANSIBLE_NOCOLOR='true', ANSIBLE_FORKS='10',
               ANSIBLE_RETRY_FILES_ENABLED='false', MOLECULE_NO_LOG='false',
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    # every task's time in the logs (the same small cost in every run compared)
    env.update(ANSIBLE_CALLBACKS_ENABLED='ansible.posix.profile_tasks', PROFILE_TASKS_TASK_OUTPUT_LIMIT='all')
    for name in ('ANSIBLE_CONFIG', 'ANSIBLE_LOG_PATH'):
        env.pop(name, None)
    return env


class Lab(object):
    """The bench scenario's containers, an inventory per topology, the playbook runs and the hosts' state."""

    def __init__(self, base, env):
        self.base, self.env = base, env

    def molecule(self, action):
        result = subprocess.run(['molecule', action, '-s', SCENARIO], cwd=ROOT, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if result.returncode:
            raise RuntimeError('molecule %s -s %s failed:\n%s' % (action, SCENARIO, result.stdout[-3000:]))

    def fresh(self):
        started = time.monotonic()
        self.molecule('destroy')
        self.molecule('create')
        print('  fresh lab in %.0f s' % (time.monotonic() - started), flush=True)

    def inventory(self, name, frontends, load_balancer=True, node=True):
        """An inventory of the lab's backends, these frontends, lb and node1, beside the lab's group_vars."""
        directory = os.path.join(self.base, name)
        os.makedirs(directory, exist_ok=True)
        for part in ('group_vars', 'host_vars'):
            link = os.path.join(directory, part)
            if not os.path.islink(link):
                os.symlink(os.path.join(ROOT, 'lab', part), link)
        groups = {'chef_backends': BACKENDS, 'chef_frontends': frontends,
                  'chef_load_balancers': ('lb',) if load_balancer else (), 'chef_nodes': ('node1',) if node else ()}
        # pipelining, as the README recommends for production: each module call is one docker exec
        inventory = {'all': {'vars': {'ansible_python_interpreter': '/usr/bin/python3', 'ansible_pipelining': True,
                                      'ansible_connection': 'community.docker.docker'},
                             'children': dict((group, {'hosts': dict((host, None) for host in hosts)})
                                              for group, hosts in groups.items())}}
        path = os.path.join(directory, 'hosts.yml')
        with open(path, 'w') as handle:
            json.dump(inventory, handle, indent=1)  # JSON is YAML
        return path

    def playbook(self, inventory, playbook, log_name, *extra):
        measured = Measured(Controller(['ansible-playbook', '-i', inventory, playbook] + list(extra), ROOT,
                                       self.env, os.path.join(self.base, log_name + '.log')))
        controller = measured.controller
        controller.cpu = measured.text()
        print('  %s: rc=%d in %.1f s, %s' % (log_name, controller.rc, controller.wall, controller.cpu), flush=True)
        return controller

    def shell(self, host, command):
        return subprocess.run(['docker', 'exec', host, 'sh', '-c', command], text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)

    def vendor_calls(self, hosts):
        """Every call of chef-backend-ctl and chef-server-ctl on these hosts, from the stand-ins' logs, by (host,
        command)."""
        calls = {}
        for host in hosts:
            for command in READ_ONLY:
                log = self.shell(host, 'cat /var/log/%s.invocations.jsonl 2>/dev/null || true' % command).stdout
                calls[host, command] = [json.loads(line)['argv'] for line in log.splitlines() if line.strip()]
        return calls

    def unit_invocations(self):
        return dict((host, self.shell(host, 'systemctl show -p InvocationID --value %s' % unit).stdout.strip())
                    for host, unit in UNITS.items())


def changes(before, after):
    """The calls logged since before that change something, as (host, command, argv)."""
    found = []
    for (host, command), argvs in sorted(after.items()):
        for argv in argvs[len(before.get((host, command), [])):]:
            if not argv or argv[0] not in READ_ONLY[command]:
                found.append((host, command, argv))
    return found


def changed_tasks(output):
    return sum(int(changed) for dummy, dummy2, changed, dummy3, dummy4 in RECAP.findall(output))


def row(label, hosts, controller, reference, target, verdict, reference_name):
    ratio = controller.wall / reference if reference else None
    return {'case': label, 'hosts': hosts, 'wall': round(controller.wall, 1),
            'reference': round(reference, 1) if reference else None, 'reference_name': reference_name,
            'ratio': round(ratio, 2) if ratio is not None else None, 'target': target,
            'holds': None if target is None or ratio is None else ratio <= target,
            'peak_rss_mib': mib(controller.max_rss), 'peak_pss_mib': mib(controller.peak_pss),
            'results': '; '.join(part for part in (verdict, getattr(controller, 'cpu', '')) if part)}


def main():
    rounds = env_int('BENCH_ANSIBLE_ROUNDS', 40, 1)
    results_path = LAB_RESULTS
    os.makedirs(os.path.dirname(results_path), exist_ok=True)
    if os.path.exists(results_path):
        os.unlink(results_path)  # no rows of an earlier run in this run's table
    base = tempfile.mkdtemp(prefix='chef_ha-bench-lab-')
    env = environment()
    lab = Lab(base, env)
    site = os.path.join(ROOT, 'playbooks', 'site.yml')
    two = lab.inventory('two', ('fe1', 'fe2'))
    rows = []
    all_hosts = BACKENDS + ('fe1', 'fe2')

    print('case 1: bench/floor.sh on a fresh 3+2 lab', flush=True)
    lab.fresh()
    floor = Measured(Controller(['bash', os.path.join(ROOT, 'bench', 'floor.sh')], ROOT, env,
                                os.path.join(base, 'floor.log')))
    floor_cpu, floor = floor.text(), floor.controller
    healthy = lab.shell('be3', 'chef-backend-ctl status').returncode == 0 and \
        lab.shell('fe2', 'chef-server-ctl status').returncode == 0
    print('  floor: rc=%d in %.1f s, %s, cluster %s' % (floor.rc, floor.wall, floor_cpu,
                                                      'healthy' if healthy else 'NOT healthy'), flush=True)
    if floor.rc or not healthy:
        raise RuntimeError('bench/floor.sh did not build a healthy cluster; see %s' % floor.log_path)

    print('case 1: site.yml on a fresh 3+2+1 lab', flush=True)
    lab.fresh()
    first = lab.playbook(two, site, 'site_first')
    verdict = 'rc=%d, %d changed; floor: %s' % (first.rc, changed_tasks(first.output), floor_cpu)
    rows.append(row('1 first deploy (site.yml) vs bench/floor.sh', '3+2+1', first, floor.wall, FLOOR_TARGET,
                    verdict, 'floor %.1f s' % floor.wall))

    print('case 2: the no-op re-run and check mode', flush=True)
    calls, units = lab.vendor_calls(all_hosts), lab.unit_invocations()
    noop = None
    for label, extra in (('re-run', ()), ('--check', ('--check',))):
        controller = lab.playbook(two, site, 'site_' + label.strip('-'), *extra)
        after, units_after = lab.vendor_calls(all_hosts), lab.unit_invocations()
        mutating = changes(calls, after)
        restarted = sorted(host for host in UNITS if units_after.get(host) != units.get(host))
        verdict = 'rc=%d, %d changed, %d mutating vendor commands%s%s' % (
            controller.rc, changed_tasks(controller.output), len(mutating),
            ' (%s)' % ', '.join('%s: %s %s' % (h, c, ' '.join(a[:1])) for h, c, a in mutating[:3]) if mutating else '',
            ', restarted: %s' % ', '.join(restarted) if restarted else '')
        rows.append(row('2 no-op %s vs first deploy' % label, '3+2+1', controller, first.wall, NOOP_TARGET, verdict,
                        'first %.1f s' % first.wall))
        calls, units = after, units_after
        noop = noop or controller

    print('Ansible alone: %d ping tasks over the 3+2+1 lab' % rounds, flush=True)
    alone_path = os.path.join(base, 'ansible_alone.yml')
    with open(alone_path, 'w') as handle:
        handle.write(ALONE_PLAY + ''.join(ALONE_TASK.format(number=n) for n in range(rounds)))
    alone = lab.playbook(two, alone_path, 'ansible_alone')
    per_exec = alone.wall / alone.execs if alone.execs else None
    noop_execs = noop.execs if noop is not None else None
    rows.append(row('2 Ansible alone: %d ping tasks' % rounds, '3+2+1', alone, None, None,
                    'rc=%d, %.2f s per task on every host, %s per docker exec; the re-run made %s: %s of Ansible alone'
                    % (alone.rc, alone.wall / rounds, '%.2f s' % per_exec if per_exec else '?', noop_execs,
                       '%.0f s' % (noop_execs * per_exec) if per_exec and noop_execs else '?'), None))

    deploys = {}
    for count in (1, 4):
        frontends = tuple('fe%d' % i for i in range(1, count + 1))
        print('case 3: site.yml on a fresh lab with %d frontend%s' % (count, 's' if count > 1 else ''), flush=True)
        lab.fresh()
        deploys[count] = lab.playbook(lab.inventory('fe%d' % count, frontends), site, 'site_%d_frontends' % count)
    four, one = deploys[4], deploys[1]
    rows.append(row('3 deploy with 4 frontends vs 1', '3+4+1', four, one.wall, SCALE_TARGET,
                    'rc=%d (4), rc=%d (1); 1 frontend: %s' % (four.rc, one.rc, one.cpu),
                    '1 frontend %.1f s' % one.wall))

    if os.environ.get('BENCH_KEEP') != '1':
        lab.molecule('destroy')
    with open(results_path, 'w') as handle:
        json.dump({'rows': rows, 'forks': env['ANSIBLE_FORKS'], 'logs': base}, handle, indent=1)
    for entry in rows:
        print('%(case)s: %(wall)s s against %(reference_name)s -> ratio %(ratio)s (target %(target)s, holds '
              '%(holds)s); %(results)s' % entry)
    print('rows written to %s; logs in %s' % (results_path, base))
    return 0 if all(r['results'].startswith('rc=0') for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
