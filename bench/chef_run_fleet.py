#!/usr/bin/env python3
"""Cases 4 and 5 of the benchmark: chef_run.yml and rollout.yml over a fleet of Chef Waiter agents on loopback.

Starts N Chef Waiter stand-ins (tests/standins), each with its own port, config, state and log directory, whose
chef-client stand-in runs take BENCH_RUN_SECONDS; writes an inventory of them (ansible_connection=local) in a temp
directory; then runs, one after the other in this one run:

  - case 4, the tasks of chef_run.yml with no agent work (what Ansible alone costs for N hosts),
  - case 4, chef_run.yml with batch 100% and with batch BENCH_BATCH, Ansible's default forks,
  - case 4, chef_run.yml under two --limit halves at once (two AWX job slices), compared host by host with the whole
    run,
  - case 4, bench/chef_run_one_fork_per_host.yml, the playbook before the change, over BENCH_BASELINE_AGENTS hosts,
  - case 5, rollout.yml over the same agents in waves [1, '10%', '100%'], runs of BENCH_ROLLOUT_SECONDS, every agent
    set to succeed; its Chef API server is Debian's goiardi (installed with apt-get when missing and the bench is
    root; case 5 is skipped, with the reason in the table, otherwise), started on a free loopback port with
    authentication on and its data in memory, one node per agent (automatic fqdn NAME.bench.test) created with the
    collection's own signed client; checked against goiardi's allowlist item, the agents' runs and the playbook's
    per-host report,
  - case 5, the same with one agent of the second wave failing: the ramp stops there, the third wave neither added
    nor run (BENCH_ROLLOUT_STOP=0 skips it),

and prints a table: wall time, the ideal (ceil(hosts / batch), or the number of waves, x run time), their ratio
against the target, each batch's or wave's longest run as its agent reported it, the controller's peak memory, and
whether every host got the result its agent was set up to give.

Environment: BENCH_CASES (4,5: the cases to run), BENCH_AGENTS (200), BENCH_RUN_SECONDS (60), BENCH_BATCH (50),
BENCH_FAILING (2: agents whose runs exit 3 in case 4), BENCH_BASELINE_AGENTS (10; 0 skips the baseline),
BENCH_ROLLOUT_SECONDS (30), BENCH_ROLLOUT_STOP (1), BENCH_KEEP (1 keeps the temp directory).
Quick check: BENCH_CASES=5 BENCH_AGENTS=20 BENCH_ROLLOUT_SECONDS=5 .venv/bin/python bench/chef_run_fleet.py
"""

import concurrent.futures
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STANDINS = os.path.join(ROOT, 'tests', 'standins')
WAITER = os.path.join(STANDINS, 'chef-waiter', 'chef-waiter')
CHEF_CLIENT = os.path.join(STANDINS, 'chef-client', 'chef-client')
VENV_BIN = os.path.join(ROOT, '.venv', 'bin')
LAB_RESULTS = os.environ.get('BENCH_LAB_RESULTS') or os.path.join(ROOT, '.build', 'bench', 'lab_deploy.json')
RUN_LIST = 'recipe[bench::deploy]'
TARGET = 1.25  # the target for case 4: at most 1.25 x the ideal
SUMMARY = re.compile(r'(\S+): status=(\S+) exit=(\S+) duration=(\S+)s guid=(\S+);')
ROLLOUT_TARGET = 1.3  # the issue's target for case 5: at most 1.3 x the sum of the waves' run times
ROLLOUT_WAVES = [1, '10%', '100%']
FQDN_DOMAIN = 'bench.test'  # each node's automatic fqdn: NAME.bench.test, what the allowlist lists
# a line of rollout.yml's 'Report every host' debug output
REPORT = re.compile(r'"(\S+) \((\S+)\): wave=(\S+) status=([^"=]+?) run_id=(\S+) duration=(\S+) '
                    r'in_allowlist=(true|false)')
PROXY_VARIABLES = ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY')

# The tasks of chef_run.yml without the agent work: what the controller spends on N hosts whatever the agents do.
ANSIBLE_ALONE = """\
- name: The tasks of chef_run.yml with nothing to wait for
  hosts: chef_nodes
  gather_facts: false
  serial: "{{ chef_run_batch | default('100%') }}"
  tasks:
    - name: One task for the batch
      ansible.builtin.debug:
        msg: "{{ ansible_play_batch | length }} hosts"
      delegate_to: localhost
      run_once: true
    - name: Hand each host its result
      ansible.builtin.set_fact:
        chef_run_result: {status: complete, exitcode: 0, failed: false}
    - name: Fail the failed ones
      ansible.builtin.fail:
        msg: never
      when: chef_run_result.failed
"""


def env_int(name, default, minimum=0):
    value = int(os.environ.get(name, default))
    if value < minimum:
        sys.exit('%s must be at least %d, got %d' % (name, minimum, value))
    return value


def free_ports(count):
    """count distinct free loopback ports, all held open while they are picked."""
    socks = []
    try:
        for dummy in range(count):
            sock = socket.socket()
            sock.bind(('127.0.0.1', 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class Fleet(object):
    """N agents, each with its own directory (config, state, logs, behaviour, invocation logs)."""

    def __init__(self, base, count, run_seconds, failing):
        self.base = base
        self.names = ['n%03d' % i for i in range(count)]
        self.ports = dict(zip(self.names, free_ports(count)))
        # the failing agents spread over the fleet, so that they fall in different batches
        step = count // failing if failing else 0
        self.failing = set(self.names[step * i + step - 1] for i in range(failing)) if failing else set()
        self.run_seconds = run_seconds
        self.procs = {}

    def directory(self, name):
        return os.path.join(self.base, 'agents', name)

    def invocations(self, name):
        path = os.path.join(self.directory(name), 'chef-client.invocations.jsonl')
        if not os.path.exists(path):
            return []
        with open(path) as handle:
            return [json.loads(line) for line in handle if '"-L"' in line]

    def start(self):
        for name in self.names:
            directory = self.directory(name)
            os.makedirs(directory)
            config = os.path.join(directory, 'config.json')
            with open(config, 'w') as handle:
                json.dump({'listen_address': '127.0.0.1', 'listen_port': self.ports[name],
                           'logs_location': os.path.join(directory, 'logs'),
                           'state_location': os.path.join(directory, 'state'), 'periodic_chef_runs': False,
                           'whitelist_custom_runs': True, 'allowed_custom_runs': [RUN_LIST]}, handle)
            self.behave(name, self.run_seconds, name in self.failing)
            env = dict(os.environ, TZ='UTC', CHEFWAITER_CONFIG=config, CHEFWAITER_STANDIN_CHEF_CLIENT=CHEF_CLIENT,
                       CHEFWAITER_STANDIN_SUDO='',  # straight to the chef-client stand-in, one process less per run
                       CHEFWAITER_STANDIN_INVOCATION_LOG=os.path.join(directory, 'chef-waiter.invocations.jsonl'),
                       CHEFWAITER_STANDIN_REQUEST_LOG=os.devnull,
                       CHEF_CLIENT_STANDIN_BEHAVIOUR=os.path.join(directory, 'behaviour.json'),
                       CHEF_CLIENT_STANDIN_INVOCATION_LOG=os.path.join(directory, 'chef-client.invocations.jsonl'))
            with open(os.path.join(directory, 'chef-waiter.stderr'), 'wb') as stderr:
                self.procs[name] = subprocess.Popen([sys.executable, WAITER], env=env, stdout=subprocess.DEVNULL,
                                                    stderr=stderr, start_new_session=True)
        deadline = time.monotonic() + 60 + self.count() / 2.0
        waiting = list(self.names)
        while waiting:
            if time.monotonic() > deadline:
                raise RuntimeError('agents not listening: %s' % ', '.join(waiting[:10]))
            still = []
            for name in waiting:
                if self.procs[name].poll() is not None:
                    raise RuntimeError('agent %s exited with %s; see %s' % (
                        name, self.procs[name].returncode, self.directory(name)))
                try:
                    with socket.create_connection(('127.0.0.1', self.ports[name]), timeout=0.5):
                        pass
                except OSError:
                    still.append(name)
            waiting = still
            if waiting:
                time.sleep(0.5)

    def behave(self, name, run_seconds, fail=False):
        """What the agent's next chef-client runs do (the stand-in reads its behaviour file at every run)."""
        behaviour = {'duration_seconds': run_seconds}
        if fail:
            behaviour.update(exit_code=3, message='%s fails on purpose' % name)
        path = os.path.join(self.directory(name), 'behaviour.json')
        with open(path + '.part', 'w') as handle:
            json.dump(behaviour, handle)
        os.rename(path + '.part', path)

    def count(self):
        return len(self.names)

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def write_inventory(self, path):
        with open(path, 'w') as handle:
            handle.write('[chef_nodes]\n')
            for name in self.names:
                handle.write('%s ansible_connection=local chef_run_address=127.0.0.1 chef_run_port=%d\n'
                             % (name, self.ports[name]))

    def expected(self, names):
        return dict((name, ('failed', '3') if name in self.failing else ('complete', '0')) for name in names)


def process_tree(root_pid):
    """root_pid and all its descendants, from /proc."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                ppid = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def pss_kib(pid):
    try:
        with open('/proc/%d/smaps_rollup' % pid) as handle:
            for line in handle:
                if line.startswith('Pss:'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class Controller(object):
    """One ansible-playbook run: wall time, peak RSS of its largest process, peak PSS of all its processes."""

    def __init__(self, argv, cwd, env, log_path):
        self.argv, self.cwd, self.env, self.log_path = argv, cwd, env, log_path
        self.peak_pss = 0
        self.max_rss = 0
        self.wall = None
        self.waited = None  # seconds of the batches' longest runs, when known
        self.rc = None
        self.output = ''

    def _sample(self, proc, stop):
        while not stop.wait(0.5):
            total = sum(pss_kib(pid) for pid in process_tree(proc.pid))
            self.peak_pss = max(self.peak_pss, total)

    def run(self):
        start = time.monotonic()
        with open(self.log_path, 'w') as log:
            proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            stop = threading.Event()
            sampler = threading.Thread(target=self._sample, args=(proc, stop), daemon=True)
            sampler.start()
            dummy, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            stop.set()
            sampler.join()
        self.wall = time.monotonic() - start
        self.rc = proc.returncode
        self.max_rss = usage.ru_maxrss  # KiB, the largest process of the run (ansible-playbook or a worker)
        with open(self.log_path) as log:
            self.output = log.read()
        return self


def install_goiardi(log_path):
    """goiardi's path, installed with apt-get when it is missing; (None, why not) when it cannot be."""
    path = shutil.which('goiardi') or ('/usr/bin/goiardi' if os.access('/usr/bin/goiardi', os.X_OK) else None)
    if path:
        return path, None
    if os.geteuid() != 0:
        return None, 'goiardi is not installed and the bench is not root: apt-get install goiardi'
    if not shutil.which('apt-get'):
        return None, 'goiardi is not installed and there is no apt-get (a Debian package)'
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    install = ['apt-get', 'install', '-y', '--no-install-recommends', 'goiardi']
    print('case 5: installing goiardi (%s)' % ' '.join(install), flush=True)
    with open(log_path, 'w') as log:
        for argv in (install, ['apt-get', 'update'], install):
            rc = subprocess.call(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if argv == install and rc == 0:
                break
    path = shutil.which('goiardi') or ('/usr/bin/goiardi' if os.access('/usr/bin/goiardi', os.X_OK) else None)
    if not path:
        return None, 'apt-get install goiardi failed; see %s' % log_path
    return path, None


class Goiardi(object):
    """Debian's goiardi, a Chef Infra Server API: a child process on a free loopback port, authentication on (every
    request signed and checked), its data in memory, its configuration, keys and log in a directory of its own."""

    def __init__(self, program, directory):
        self.program, self.directory = program, directory
        self.port = free_ports(1)[0]
        self.url = 'http://127.0.0.1:%d' % self.port
        self.admin_key = os.path.join(directory, 'admin.pem')  # written by goiardi at its first start
        self.proc = None

    def start(self):
        os.makedirs(self.directory)
        conf = os.path.join(self.directory, 'goiardi.conf')
        with open(conf, 'w') as handle:
            handle.write('ipaddress = "127.0.0.1"\nport = %d\nhostname = "127.0.0.1"\nuse-auth = true\n'
                         'conf-root = "%s"\nlog-file = "%s"\nlog-level = "warning"\ntime-slew = "15m"\n'
                         % (self.port, self.directory, os.path.join(self.directory, 'goiardi.log')))
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith('GOIARDI_'))
        with open(os.path.join(self.directory, 'goiardi.stderr'), 'wb') as stderr:
            self.proc = subprocess.Popen([self.program, '-c', conf, '-A'], env=env, stdout=subprocess.DEVNULL,
                                         stderr=stderr, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('goiardi exited with %s; see %s' % (self.proc.returncode, self.directory))
            if os.path.exists(self.admin_key):
                try:
                    with socket.create_connection(('127.0.0.1', self.port), timeout=0.5):
                        break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError('goiardi not listening on port %d after 60 s; see %s' % (self.port, self.directory))
            time.sleep(0.2)
        # authentication must be on: an unsigned request is refused
        try:
            urllib.request.urlopen(urllib.request.Request(self.url + '/nodes', headers={
                'Accept': 'application/json', 'X-Chef-Version': '18.4.12'}), timeout=10)
            raise RuntimeError('goiardi answered an unsigned request: authentication is off')
        except urllib.error.HTTPError as exc:
            if exc.code not in (400, 401, 403):
                raise RuntimeError('goiardi answered an unsigned request with HTTP %d, not 401' % exc.code)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self):
        """The collection's own signed Chef API client, as admin (from the built collection)."""
        collections = os.path.join(ROOT, '.build', 'collections')
        if collections not in sys.path:
            sys.path.insert(0, collections)
        from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import client_from_params
        return client_from_params({'server_url': self.url, 'client_name': 'admin', 'client_key': self.admin_key,
                                   'sign_version': '1.3', 'server_api_version': 1, 'validate_certs': True,
                                   'timeout': 30, 'retries': 3})


def register_nodes(api, names):
    """One Chef node per agent, in _default, with an automatic fqdn; a few requests at a time."""
    def create(name):
        api.post('/nodes', {'name': name, 'chef_type': 'node', 'json_class': 'Chef::Node',
                            'chef_environment': '_default', 'run_list': [], 'normal': {}, 'default': {},
                            'override': {}, 'automatic': {'fqdn': fqdn(name), 'hostname': name}})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(create, names))


def fqdn(name):
    return '%s.%s' % (name, FQDN_DOMAIN)


def planned_waves(names, waves):
    """The hosts each wave adds, as the rollout_waves filter documents it: cumulative targets, a percentage rounded
    up, every wave adding at least one host while any is left (worked out here independently of the filter)."""
    plan, done = [], 0
    for wave in waves:
        if isinstance(wave, str) and wave.endswith('%'):
            target = -(-len(names) * int(wave[:-1]) // 100)
        else:
            target = int(wave)
        target = min(len(names), max(target, done + 1))
        if target > done:
            plan.append(names[done:target])
            done = target
    return plan


def rollout_report(output):
    """host -> (fqdn, wave, status, duration in s or None, in allowlist) from rollout.yml's per-host report."""
    report = {}
    for host, name, wave, status, dummy, duration, listed in REPORT.findall(output):
        seconds = duration[:-1] if duration.endswith('s') else ''
        report[host] = (name, wave, status.strip(), int(float(seconds)) if seconds.replace('.', '', 1).isdigit()
                        else None, listed == 'true')
    return report


def results(output):
    return dict((host, (status, code)) for host, status, code, dummy, dummy2 in SUMMARY.findall(output))


def longest_runs(outputs, batches):
    """Sum over the batches of the batch's longest run as its agent reported it (registration to finish)."""
    durations = {}
    for output in outputs:
        durations.update((host, int(d)) for host, dummy, dummy2, d, dummy3 in SUMMARY.findall(output) if d.isdigit())
    return sum(max([durations.get(name, 0) for name in batch] or [0]) for batch in batches)


def mib(kib):
    return '%.0f' % (kib / 1024.0)


def meminfo_total():
    with open('/proc/meminfo') as handle:
        for line in handle:
            if line.startswith('MemTotal:'):
                return int(line.split()[1])
    return 0


def env_cases():
    text = os.environ.get('BENCH_CASES', '4,5')
    try:
        cases = set(int(part) for part in text.replace(' ', '').split(',') if part)
    except ValueError:
        sys.exit('BENCH_CASES is a list of case numbers such as 4,5; got %r' % text)
    if not cases or not cases <= {4, 5}:
        sys.exit('BENCH_CASES: this bench runs cases 4 and 5 (1 to 3 need the docker lab); got %r' % text)
    return cases


def rollout_case(fleet, goiardi, playbook_run, counts, run_seconds, stop):
    """Case 5: rows for rollout.yml over the fleet, every agent passing, then (stop) one failing in the 2nd wave."""
    label = '5 rollout.yml, waves %s' % ','.join(str(wave) for wave in ROLLOUT_WAVES)
    print('case 5: goiardi on %s (authentication on), %d nodes' % (goiardi.url, fleet.count()), flush=True)
    started = time.monotonic()
    try:
        goiardi.start()
        api = goiardi.client()
    except ImportError as exc:
        return [(label, None, None, None, None, None, 'skipped: the built collection or ansible is missing from '
                 'this Python (%s); run with .venv/bin/python after make bootstrap' % exc)]
    register_nodes(api, fleet.names)
    print('case 5: goiardi up and %d nodes registered after %.1f s' % (fleet.count(), time.monotonic() - started),
          flush=True)
    for name in fleet.names:
        fleet.behave(name, run_seconds)  # case 4's failing agents pass here: a failed host stops the ramp
    plan = planned_waves(fleet.names, ROLLOUT_WAVES)
    sizes = '+'.join(str(len(wave)) for wave in plan)
    playbook = os.path.join(ROOT, 'playbooks', 'rollout.yml')

    def run(allowlist, failing, log_name):
        before = counts()
        extra = {'rollout_allowlist': allowlist, 'rollout_hosts': 'chef_nodes', 'rollout_waves': ROLLOUT_WAVES,
                 'chef_api_server_url': goiardi.url, 'chef_api_client_name': 'admin',
                 'chef_api_client_key': goiardi.admin_key}
        controller = playbook_run(playbook, ['-e', json.dumps(extra)], log_name).run()
        verdict = check_rollout(fleet, api, controller, allowlist, plan, before, failing)
        report = rollout_report(controller.output)
        seconds = dict((name, row[3]) for name, row in report.items() if row[3] is not None)
        ran = [wave for wave in plan if any(name in seconds for name in wave)]
        controller.waited = sum(max(seconds.get(name, 0) for name in wave) for wave in ran) if ran else None
        return controller, verdict

    rows = []
    print('case 5: rollout.yml over %d hosts in waves %s (%s), runs of %d s'
          % (fleet.count(), ROLLOUT_WAVES, sizes, run_seconds), flush=True)
    controller, verdict = run('bench', set(), 'rollout')
    rows.append((label, fleet.count(), sizes, controller, len(plan) * run_seconds, ROLLOUT_TARGET, verdict))
    if stop and len(plan) >= 3:
        failing = plan[1][0]
        fleet.behave(failing, run_seconds, fail=True)
        print('case 5: rollout.yml again (allowlist bench_stop) with %s of wave 2 failing' % failing, flush=True)
        controller, verdict = run('bench_stop', {failing}, 'rollout_stop')
        fleet.behave(failing, run_seconds)
        rows.append(('5 rollout.yml, wave 2 fails: ramp stops', fleet.count(), sizes, controller, 2 * run_seconds,
                     None, verdict))
    return rows


def check_rollout(fleet, api, controller, allowlist, plan, before, failing):
    """The state after a rollout against what its agents were set up for: the ramp stops after the first wave with a
    failing host (rollout_max_fail_percentage 0), every host of the waves up to it is in the allowlist item, as
    goiardi holds it, and ran once, with the status the report gives; the hosts of later waves are neither."""
    stop_wave = next((i for i, wave in enumerate(plan, 1) if failing & set(wave)), None)
    report = rollout_report(controller.output)
    problems = []
    if (controller.rc == 0) != (stop_wave is None):
        problems.append('rc=%d' % controller.rc)
    listed = []
    for number, wave in enumerate(plan, 1):
        ran = stop_wave is None or number <= stop_wave
        for name in wave:
            status = ('failed' if name in failing else 'passed') if ran else 'not run'
            want = (fqdn(name), str(number), status, ran)
            got = report.get(name)
            got = got and (got[0], got[1], got[2], got[4])
            if got != want:
                shown = '(%s) wave=%s status=%s in_allowlist=%s'
                problems.append('%s reported %s, not %s' % (name, got and shown % got, shown % want))
            runs = len(fleet.invocations(name)) - before[name]
            if runs != (1 if ran else 0):
                problems.append('%s ran chef-client %d times' % (name, runs))
            if ran:
                listed.append(fqdn(name))
    item = api.get(api.path('data', 'whitelist', allowlist), missing_ok=True)
    patterns = (item or {}).get('patterns')
    if sorted(patterns or []) != sorted(listed):
        extra, missing = set(patterns or []) - set(listed), set(listed) - set(patterns or [])
        problems.append('whitelist/%s: %s' % (allowlist, 'missing' if item is None else '%d missing (%s), %d extra (%s)'
                                              % (len(missing), ', '.join(sorted(missing)[:3]), len(extra),
                                                 ', '.join(sorted(extra)[:3]))))
    if problems:
        return 'WRONG: %s%s' % ('; '.join(problems[:3]), '; ...' if len(problems) > 3 else '')
    if stop_wave is None:
        return '%d passed; whitelist/%s lists their %d fqdns' % (len(listed), allowlist, len(listed))
    later = sum(len(wave) for wave in plan[stop_wave:])
    return 'stopped at wave %d (%s failed); %d hosts neither added nor run' % (
        stop_wave, ', '.join(sorted(failing)), later)


def main():
    cases = env_cases()
    count = env_int('BENCH_AGENTS', 200, 2)
    run_seconds = env_int('BENCH_RUN_SECONDS', 60, 1)
    batch = env_int('BENCH_BATCH', 50, 1)
    failing = min(env_int('BENCH_FAILING', 2), count // 2)
    baseline_count = min(env_int('BENCH_BASELINE_AGENTS', 10), count) if 4 in cases else 0
    rollout_seconds = env_int('BENCH_ROLLOUT_SECONDS', 30, 1)
    rollout_stop = env_int('BENCH_ROLLOUT_STOP', 1) > 0
    keep = os.environ.get('BENCH_KEEP') == '1'
    for tool in ('ansible-playbook',):
        if not os.access(os.path.join(VENV_BIN, tool), os.X_OK):
            sys.exit('%s is missing from .venv; run make bootstrap (or scripts/venv.sh) first' % tool)

    base = tempfile.mkdtemp(prefix='chef_ha-bench-')
    rows = []
    goiardi = None
    if 5 in cases:
        program, why_not = install_goiardi(os.path.join(base, 'apt-get.log'))
        if program:
            goiardi = Goiardi(program, os.path.join(base, 'goiardi'))
        else:
            rows.append(('5 rollout.yml over the fleet', None, None, None, None, None, 'skipped: ' + why_not))
    if 4 not in cases:  # the agents as case 5 sets them up
        run_seconds, failing = rollout_seconds, 0
    fleet = Fleet(base, count, run_seconds, failing)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'collections'),
               ANSIBLE_FORCE_COLOR='false', ANSIBLE_NOCOLOR='true', ANSIBLE_HOST_KEY_CHECKING='false',
               ANSIBLE_RETRY_FILES_ENABLED='false', PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    env.pop('ANSIBLE_FORKS', None)  # Ansible's default forks (5), as the issue asks
    env.pop('ANSIBLE_CONFIG', None)
    for name in PROXY_VARIABLES:
        env.pop(name, None)
        os.environ.pop(name, None)  # the bench's own requests to goiardi (after apt-get, which may need them)
    inventory = os.path.join(base, 'hosts.ini')
    playbook = os.path.join(ROOT, 'playbooks', 'chef_run.yml')
    baseline = os.path.join(ROOT, 'bench', 'chef_run_one_fork_per_host.yml')
    alone = os.path.join(base, 'ansible_alone.yml')
    with open(alone, 'w') as handle:
        handle.write(ANSIBLE_ALONE)
    common = ['-e', 'chef_run_run_list=%s' % RUN_LIST, '-e', 'chef_run_max_fail_percentage=100']
    load_before = os.getloadavg()

    def playbook_run(path, extra, log_name):
        return Controller(['ansible-playbook', '-i', inventory, path] + extra, base, env,
                          os.path.join(base, log_name + '.log'))

    def check(names, controllers, before):
        """Every host got the result its agent was set up for, from exactly one new chef-client run."""
        got = {}
        for controller in controllers:
            got.update(results(controller.output))
        want = fleet.expected(names)
        wrong = sorted(name for name in names if got.get(name) != want[name])
        runs = sorted(name for name in names if len(fleet.invocations(name)) != before[name] + 1)
        if wrong or runs:
            return got, 'WRONG: %s' % ', '.join((wrong + runs)[:5])
        return got, '%d as set up (%d failed)' % (len(names), len([n for n in names if n in fleet.failing]))

    def counts():
        return dict((name, len(fleet.invocations(name))) for name in fleet.names)

    try:
        if 4 in cases or goiardi is not None:
            print('starting %d Chef Waiter stand-ins (chef-client runs of %d s, %d failing) in %s'
                  % (count, run_seconds, failing, base), flush=True)
            started = time.monotonic()
            fleet.start()
            fleet.write_inventory(inventory)
            print('agents listening after %.1f s' % (time.monotonic() - started), flush=True)

        if 4 not in cases:
            rows.insert(0, ('4 chef_run.yml over the fleet', None, None, None, None, None,
                            'skipped: not in BENCH_CASES'))
        else:
            print('case 4, Ansible alone: chef_run.yml\'s tasks with no agent work over %d hosts' % count, flush=True)
            floor = playbook_run(alone, [], 'ansible_alone').run()
            rows.append(('4 Ansible alone (no agent work)', count, '100%', floor, 0, None, 'rc=%d' % floor.rc))

            whole = None
            for label, batch_value, batches in (('4 chef_run.yml', '100%', 1),
                                                ('4 chef_run.yml', str(batch), math.ceil(count / float(batch)))):
                print('case 4: chef_run.yml, batch %s' % batch_value, flush=True)
                before = counts()
                controller = playbook_run(playbook, common + ['-e', 'chef_run_batch=%s' % batch_value],
                                          'chef_run_batch_%s' % batch_value.replace('%', 'pct')).run()
                got, verdict = check(fleet.names, [controller], before)
                size = count if batch_value == '100%' else batch
                controller.waited = longest_runs([controller.output],
                                                 [fleet.names[i:i + size] for i in range(0, count, size)])
                if batch_value == '100%':
                    whole = got
                rows.append((label, count, batch_value, controller, batches * run_seconds, TARGET, verdict))

            print('case 4, sliced: chef_run.yml under two --limit halves at once', flush=True)
            halves = [fleet.names[:count // 2], fleet.names[count // 2:]]
            before = counts()
            slices = [playbook_run(playbook, common + ['--limit', ','.join(half)], 'chef_run_slice_%d' % i)
                      for i, half in enumerate(halves)]
            threads = [threading.Thread(target=s.run) for s in slices]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
            got, verdict = check(fleet.names, slices, before)
            if whole is not None and verdict[:5] != 'WRONG':
                differ = sorted(name for name in fleet.names if got.get(name) != whole.get(name))
                verdict = ('same as the whole run' if not differ else 'DIFFERS from the whole run: %s'
                           % ', '.join(differ[:5]))
            merged = Controller([], base, env, os.devnull)
            merged.wall, merged.rc = wall, max(s.rc for s in slices)
            merged.max_rss = max(s.max_rss for s in slices)
            merged.peak_pss = sum(s.peak_pss for s in slices)
            merged.waited = longest_runs([s.output for s in slices], [fleet.names])  # the slices run side by side
            rows.append(('4 chef_run.yml, 2 slices (--limit)', count, '100%', merged, run_seconds, TARGET, verdict))

            if baseline_count:
                names = fleet.names[:baseline_count]
                print('case 4, before: one fork per host over %d hosts' % baseline_count, flush=True)
                before = counts()
                controller = playbook_run(baseline, common + ['--limit', ','.join(names)],
                                          'chef_run_one_fork_per_host').run()
                dummy, verdict = check(names, [controller], before)
                rows.append(('4 before: one fork per host', baseline_count, '100%', controller, run_seconds, TARGET,
                             verdict))

        if goiardi is not None:
            try:
                rows.extend(rollout_case(fleet, goiardi, playbook_run, counts, rollout_seconds, rollout_stop))
            except Exception as exc:  # the table still shows what ran; the failure is the row's result
                rows.append(('5 rollout.yml over the fleet', None, None, None, None, None,
                             'FAILED: %s: %s; see %s' % (type(exc).__name__, exc, base)))
                keep = True
        elif 5 not in cases:
            rows.append(('5 rollout.yml over the fleet', None, None, None, None, None, 'skipped: not in BENCH_CASES'))
    finally:
        fleet.stop()
        if goiardi is not None:
            goiardi.stop()

    print_table(rows, cases, count, run_seconds, rollout_seconds, baseline_count, load_before)
    if keep:
        print('kept: %s' % base)
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if all(not row[6].startswith(('WRONG', 'DIFFERS', 'FAILED')) for row in rows) else 1


def lab_lines():
    """The rows of cases 1 to 3, which bench/lab_deploy.py (run first by make bench) left in LAB_RESULTS."""
    if not os.path.exists(LAB_RESULTS):
        return [(label, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', 'skipped: bench/lab_deploy.py did not run')
                for label in ('1 first deploy vs bench/floor.sh', '2 no-op re-run and check mode vs first deploy',
                              '3 frontends scale out (4 vs 1)')]
    with open(LAB_RESULTS) as handle:
        rows = json.load(handle)['rows']
    return [(r['case'], r['hosts'], '-', '%.1f' % r['wall'], '%.1f' % r['reference'] if r['reference'] else '-',
             '%.2f' % r['ratio'] if r['ratio'] is not None else '-', '%.2f' % r['target'] if r['target'] else '-',
             '-' if r['holds'] is None else ('yes' if r['holds'] else 'NO'), '-', r['peak_rss_mib'], r['peak_pss_mib'],
             r['results']) for r in rows]


def print_table(rows, cases, count, run_seconds, rollout_seconds, baseline_count, load_before):
    head = ('case', 'hosts', 'batch/waves', 'wall s', 'ideal/ref s', 'ratio', 'target', 'holds', 'longest runs s',
            'peak RSS MiB', 'peak PSS MiB', 'results')
    lines = lab_lines()
    for label, hosts, batch_value, controller, ideal, target, verdict in rows:
        if controller is None:
            lines.append((label, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', verdict))
            continue
        ratio = controller.wall / ideal if ideal else None
        holds = '-' if target is None or ratio is None else ('yes' if ratio <= target else 'NO')
        lines.append((label, str(hosts), batch_value, '%.1f' % controller.wall, str(ideal) if ideal else '-',
                      '%.2f' % ratio if ratio is not None else '-', '%.2f' % target if target else '-', holds,
                      str(controller.waited) if controller.waited is not None else '-',
                      mib(controller.max_rss), mib(controller.peak_pss), verdict))
    widths = [max(len(str(line[i])) for line in [head] + lines) for i in range(len(head))]
    print()
    print('  '.join(h.ljust(w) for h, w in zip(head, widths)))
    print('  '.join('-' * w for w in widths))
    for line in lines:
        print('  '.join(str(v).ljust(w) for v, w in zip(line, widths)))
    print()
    print('cases 1-3 (bench/lab_deploy.py, docker lab, forks 10, pipelining on): ref = bench/floor.sh (1), the first '
          'deploy (2), the deploy with 1 frontend (3); ratio = wall / ref')
    if 4 in cases:
        print('case 4: ideal = ceil(hosts / batch) x %d s of chef-client; ratio = wall / ideal; forks: Ansible\'s '
              'default (5)' % run_seconds)
    if 5 in cases:
        print('case 5: ideal = waves x %d s of chef-client (waves: the hosts each adds); the rollout play runs on '
              'localhost, one chef_waiter_batch_run task per wave, against goiardi (authentication on)'
              % rollout_seconds)
    print('longest runs: each batch\'s (wave\'s) longest run as its agent reports it (registration to finish, seen '
          'within the 2 s poll), summed over the batches; wall - longest runs = the controller\'s own time')
    print('peak RSS: the largest controller process; peak PSS: all controller processes together (sampled 2/s)')
    if baseline_count:
        print('before: the playbook before this change holds a fork per host for the whole run; over %d hosts it '
              'would need about ceil(%d / 5) x %d = %d s' % (count, count, run_seconds,
                                                             math.ceil(count / 5.0) * run_seconds))
    print('machine: %d cores, %.1f GiB memory, load average %.2f at the start, %.2f at the end; Python %s'
          % (os.cpu_count() or 0, meminfo_total() / 1048576.0, load_before[0], os.getloadavg()[0],
             platform.python_version()))


if __name__ == '__main__':
    sys.exit(main())
