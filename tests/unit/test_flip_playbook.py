"""flip.yml run for real by ansible-playbook on this machine: two Chef Waiter stand-ins on loopback whose chef-client
stand-in loads and saves its node on an in-memory Chef server (test_chef_node_flip's), so that the paths the lab
cannot force are deterministic here: a 403 on one node's flip, a chef-client run in progress at flip time, and a
run killed after its flips followed by a run with flip_back=true."""

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

import ansible_collections.chefops.chef_ha.plugins as collection_plugins
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_api_replay import KEY_FILE
from ansible_collections.chefops.chef_ha.tests.unit.plugins.fixtures.chef_waiter.agent import StandinAgent
from ansible_collections.chefops.chef_ha.tests.unit.plugins.modules.test_chef_node_flip import ORG, FakeChef

COLLECTION = os.path.dirname(list(collection_plugins.__path__)[0])
COLLECTIONS_PATH = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION)))
PLAYBOOK = os.path.join(COLLECTION, 'playbooks', 'flip.yml')


class ChefServer(object):
    """The in-memory Chef server over HTTP on loopback (signatures are checked by the module tests, not here)."""

    def __init__(self, nodes):
        self.fake = FakeChef(nodes)
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self, method):
                length = int(self.headers.get('Content-Length') or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with server.lock:
                    status, answer = server.fake.answer(method, ORG + self.path.split('?')[0], body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.answer('GET')

            def do_PUT(self):
                self.answer('PUT')

            def do_POST(self):
                self.answer('POST')

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """Nodes n1 (in production) and n2 (in _default) with their agents; returns (server, agents, run(args))."""
    server = ChefServer(dict(n1='production', n2='_default'))
    agents = {}
    for name in ('n1', 'n2'):
        client_rb = tmp_path / ('%s.rb' % name)
        client_rb.write_text('chef_server_url "%s"\nnode_name "%s"\nclient_key "%s"\n' % (server.url, name, KEY_FILE))
        monkeypatch.setenv('CHEF_CLIENT_STANDIN_CONFIG', str(client_rb))  # read by the agent's chef-client
        directory = tmp_path / name
        directory.mkdir()
        agents[name] = StandinAgent(directory, behaviour={'duration_seconds': 3}).start()
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'all': {
        'children': {'chef_nodes': {'hosts': dict((n, {'chef_run_address': '127.0.0.1', 'chef_run_port': a.port})
                                                  for n, a in agents.items())}},
        'vars': {'chef_api_server_url': server.url, 'chef_api_client_name': 'deployer', 'chef_api_client_key': KEY_FILE,
                 'ansible_python_interpreter': sys.executable}}}))

    def run(*args, **popen):
        """The playbook's CompletedProcess; with popen=True, the Popen of it in a session of its own."""
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_FORCE_COLOR='false')
        env.pop('ANSIBLE_LOG_PATH', None)
        argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inventory), PLAYBOOK]
        if popen:
            return subprocess.Popen(argv + list(args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        return subprocess.run(argv + list(args), env=env, capture_output=True, text=True, timeout=600, check=False)
    yield server.fake, agents, run
    for agent in agents.values():
        agent.stop()
    server.stop()


def flat(result):
    return ' '.join(result.stdout.split())


def test_a_403_on_one_node_returns_the_flipped_ones_and_fails_before_any_run(lab):
    chef, agents, run = lab
    chef.refuse[('PUT', ORG + '/nodes/n2')] = 403
    result = run('-e', 'flip_back=false')
    assert result.returncode != 0
    assert "node n2: client 'deployer' is not allowed to update node n2" in flat(result), result.stdout[-3000:]
    assert (chef.environment('n1'), chef.environment('n2')) == ('production', '_default')
    assert chef.record() == {}
    assert [a.chef_client_runs() for a in agents.values()] == [[], []]


def test_a_run_in_progress_at_flip_time_is_waited_for_and_its_save_flipped_again(lab):
    chef, agents, run = lab
    with urllib.request.urlopen('http://127.0.0.1:%d/chefclient' % agents['n1'].port, timeout=10) as answer:
        busy = next(iter(json.loads(answer.read().decode())))
    deadline = time.monotonic() + 20
    while agents['n1'].all_runs()[busy]['status'] != 'running' and time.monotonic() < deadline:
        time.sleep(0.05)
    result = run('-e', 'flip_back=true')
    assert result.returncode == 0, result.stdout[-4000:]
    runs = agents['n1'].all_runs()
    mine = [guid for guid in runs if guid != busy]
    assert len(mine) == 1 and runs[mine[0]]['status'] == 'complete'
    logs = dict((guid, open(os.path.join(agents['n1'].logs, guid + '.log')).read()) for guid in runs)
    assert 'Node n1 is in environment production' in logs[busy]  # it loaded the node before the flip
    assert 'Node n1 is in environment testing' in logs[mine[0]]
    assert 'n1 (node n1): original_environment=production ran_in=testing' in flat(result)
    assert (chef.environment('n1'), chef.environment('n2')) == ('production', '_default') and chef.record() == {}


def test_a_run_killed_after_its_flips_is_returned_by_the_next_run_to_the_recorded_originals(lab):
    chef, agents, run = lab
    proc = run('-e', 'flip_back=true', popen=True)
    try:
        # killed (a cancelled AWX job) once both nodes are flipped and their runs have started
        deadline = time.monotonic() + 120
        while not all(a.all_runs() for a in agents.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (chef.environment('n1'), chef.environment('n2')) == ('testing', 'testing')
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert dict((n, e['original']) for n, e in chef.record().items()) == dict(n1='production', n2='_default')
    result = run('-e', 'flip_back=true')
    assert result.returncode == 0, result.stdout[-4000:]
    assert (chef.environment('n1'), chef.environment('n2')) == ('production', '_default') and chef.record() == {}
