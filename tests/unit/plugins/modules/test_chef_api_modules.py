"""The Chef API modules replayed against recorded exchanges (chef_api_cases.yml), plus the cases YAML cannot hold."""

import importlib
import json
import os
import threading
import time

import pytest
import yaml

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_api
from ansible_collections.chefops.chef_ha.plugins.modules import chef_allowlist
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_api_replay import (
    CLIENT,
    KEY_FILE,
    ChefServerReplay,
    key_text,
)

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'chef_api_cases.yml')) as _handle:
    CASES = yaml.safe_load(_handle)

CONNECTION = dict(server_url='https://chef.example.com/organizations/acme', client_name=CLIENT, client_key=KEY_FILE,
                  retries=0)
ENV_VARS = ('CHEF_SERVER_URL', 'CHEF_CLIENT_NAME', 'CHEF_NODE_NAME', 'CHEF_CLIENT_KEY', 'CHEF_PROFILE')


@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch, tmp_path):
    """No knife settings of the machine running the tests leak in, and no test really sleeps."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.setattr(time, 'sleep', lambda seconds: None)


def replay_module(monkeypatch, run_module, module_name, params, exchanges=(), check_mode=False, diff=False,
                  replay=None):
    replay = replay or ChefServerReplay(exchanges)
    replay.install(monkeypatch)
    module = importlib.import_module('ansible_collections.chefops.chef_ha.plugins.modules.%s' % module_name)
    args = dict(CONNECTION)
    args.update(params)
    args = dict((k, v) for k, v in args.items() if v is not None)
    res = run_module(module, args, check_mode=check_mode, diff=diff)
    assert not replay.expected, 'recorded exchanges not used: %r' % [(e['method'], e['path']) for e in replay.expected]
    return res, replay


@pytest.mark.parametrize('case', CASES, ids=[c['id'] for c in CASES])
def test_recorded_case(monkeypatch, run_module, case):
    res, replay = replay_module(monkeypatch, run_module, case['module'], case.get('params') or {},
                                case.get('exchanges') or (), case.get('check_mode', False), case.get('diff', False))
    expected = dict(case['expected'])
    assert res.failed is expected.pop('failed', False), res.result
    for part in expected.pop('msg_contains', []):
        assert part in res['msg'], res['msg']
    for key, value in expected.items():
        assert res[key] == value, '%s: %r, expected %r' % (key, res.result.get(key), value)
    if case.get('check_mode'):
        assert replay.writes() == []
    if 'diff' not in expected:
        assert 'diff' not in res.result or case.get('diff')
    # nothing of the key and no signature in what Ansible receives
    for line in key_text().splitlines()[1:-1]:
        assert line not in res.raw
    for request in replay.made:
        assert request['headers']['X-Ops-Authorization-1'] not in res.raw


def test_every_module_has_cases():
    modules = set(c['module'] for c in CASES)
    assert modules == {'chef_allowlist', 'chef_node_environment', 'chef_environment', 'chef_node_info'}
    statuses = set(e.get('status', 200) for c in CASES for e in c.get('exchanges') or ())
    assert {401, 403, 404, 409}.issubset(statuses)


def test_key_that_is_not_rsa_is_refused_before_any_request(monkeypatch, run_module, tmp_path):
    path = tmp_path / 'ec.pem'
    path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    res, replay = replay_module(monkeypatch, run_module, 'chef_allowlist',
                                dict(name='php8', add=['web01.example.com'], client_key=str(path)))
    assert res.failed and replay.made == []
    assert res['msg'].startswith('client_key %s is not an RSA private key' % path)


def test_key_content_is_never_logged(monkeypatch, run_module):
    exchanges = [dict(method='GET', path='/organizations/acme/nodes/web01', status=401, body='bad signature')]
    res, replay = replay_module(monkeypatch, run_module, 'chef_node_info',
                                dict(names=['web01'], client_key=None, client_key_content=key_text()), exchanges)
    assert res.failed and "client 'deployer'" in res['msg'] and 'client_key_content' in res['msg']
    assert 'BEGIN RSA PRIVATE KEY' not in res.raw
    assert res.result['invocation']['module_args']['client_key_content'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'


def test_connection_from_the_environment_and_a_profile(monkeypatch, run_module, tmp_path):
    chef = tmp_path / '.chef'
    chef.mkdir()
    (chef / 'deployer.pem').write_text(key_text())
    (chef / 'credentials').write_text('[default]\nclient_name = "nobody"\n\n[acme]\nclient_name = "deployer"\n'
                                      'client_key = "deployer.pem"\n'
                                      'chef_server_url = "https://chef.example.com/organizations/acme"\n')
    monkeypatch.setenv('CHEF_PROFILE', 'acme')
    exchanges = [dict(method='GET', path='/organizations/acme/nodes/web01', body={'name': 'web01'})]
    res, replay = replay_module(monkeypatch, run_module, 'chef_node_info',
                                dict(names=['web01'], server_url=None, client_name=None, client_key=None), exchanges)
    assert not res.failed and res['nodes'][0]['name'] == 'web01'
    assert replay.made[0]['headers']['X-Ops-Userid'] == 'deployer'
    # an environment variable outranks the profile, an option outranks both
    monkeypatch.setenv('CHEF_SERVER_URL', 'http://goiardi.lab.test:4545')
    exchanges = [dict(method='GET', path='/nodes/web01', body={'name': 'web01'})]
    res, replay = replay_module(monkeypatch, run_module, 'chef_node_info',
                                dict(names=['web01'], server_url=None, client_name=None, client_key=None), exchanges)
    assert not res.failed and replay.made[0]['path'] == '/nodes/web01'


def test_tls_options_reach_the_opener(monkeypatch, run_module, tmp_path):
    ca = tmp_path / 'ca.pem'
    ca.write_text('not used by the fake server')
    exchanges = [dict(method='GET', path='/organizations/acme/nodes/web01', body={'name': 'web01'})]
    res, replay = replay_module(monkeypatch, run_module, 'chef_node_info',
                                dict(names=['web01'], ca_path=str(ca), timeout=7), exchanges)
    assert not res.failed
    kwargs = replay.made[0]['kwargs']
    assert kwargs['validate_certs'] is True and kwargs['ca_path'] == str(ca) and kwargs['timeout'] == 7


def test_two_concurrent_adds_both_survive(monkeypatch, run_module):
    """Two plays interleaved on one item held by a tiny in-memory server: each re-reads and re-adds."""
    store = {'item': {'id': 'php8', 'patterns': []}}
    path = '/organizations/acme/data/whitelist/php8'
    other_writes = iter([['web02.example.com']])

    class Server(ChefServerReplay):
        def __call__(self, url, data=None, method=None, headers=None, **kwargs):
            # the other play writes its own list (from its stale read) right after our first write
            response_item = None
            if method == 'PUT':
                store['item'] = json.loads(data.decode())
                response_item = store['item']
                for patterns in other_writes:
                    store['item'] = {'id': 'php8', 'patterns': patterns}
            self.expected = [dict(method=method, path=path,
                                  body=response_item if response_item is not None else store['item'])]
            return ChefServerReplay.__call__(self, url, data=data, method=method, headers=headers, **kwargs)

    server = Server([])
    server.install(monkeypatch)
    args = dict(CONNECTION, name='php8', add=['web01.example.com'])
    res = run_module(chef_allowlist, args)
    assert not res.failed and res['attempts'] == 2
    assert store['item']['patterns'] == ['web02.example.com', 'web01.example.com']
    assert [r['method'] for r in server.made] == ['GET', 'PUT', 'GET', 'PUT', 'GET']


class SlowReplay(ChefServerReplay):
    """The replay answering each node after its own delay, so that concurrent reads finish out of order."""

    def __init__(self, exchanges, delays):
        ChefServerReplay.__init__(self, exchanges)
        self.delays = delays
        self.in_flight = 0
        self.most_in_flight = 0

    def __call__(self, url, **kwargs):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            threading.Event().wait(self.delays.get(url.rsplit('/', 1)[-1], 0))  # time.sleep is patched
            return ChefServerReplay.__call__(self, url, **kwargs)
        finally:
            with self.lock:
                self.in_flight -= 1


def node_exchange(name, status=200, body=None):
    if body is None and status == 200:
        body = {'name': name, 'chef_environment': 'production', 'run_list': ['role[web]'],
                'automatic': {'fqdn': name + '.example.com'}}
    return dict(method='GET', path='/organizations/acme/nodes/' + name, status=status, body=body)


def node_info_in_both_ways(monkeypatch, run_module, names, exchanges, delays):
    """chef_node_info read concurrently, then one by one (PARALLEL_READS 1): (concurrent run, its replay, the other)."""
    replay = SlowReplay(exchanges, delays)
    res, replay = replay_module(monkeypatch, run_module, 'chef_node_info', dict(names=names), replay=replay)
    monkeypatch.setattr(_chef_api, 'PARALLEL_READS', 1)
    one_by_one, dummy = replay_module(monkeypatch, run_module, 'chef_node_info', dict(names=names), exchanges)
    return res, replay, one_by_one


def test_node_info_reads_concurrently_with_the_same_result(monkeypatch, run_module):
    names = ['web%02d' % n for n in range(24)]
    missing = ['web03', 'web17', 'web22']
    names = names + ['web05', 'web03']  # asked twice: read once, listed once
    unique = names[:24]
    exchanges = []
    for name in unique:
        if name in missing:
            exchanges.append(node_exchange(name, 404, {'error': ["node '%s' not found" % name]}))
        elif name == 'web09':
            exchanges.append(node_exchange(name, body={'run_list': []}))  # no name in the answer: the name asked
        else:
            exchanges.append(node_exchange(name))
    delays = dict((name, 0.002 * (24 - n)) for n, name in enumerate(unique))  # the first asked answer last
    res, replay, one_by_one = node_info_in_both_ways(monkeypatch, run_module, names, exchanges, delays)
    assert not res.failed and not one_by_one.failed
    assert 1 < replay.most_in_flight <= 8
    assert sorted(r['path'] for r in replay.made) == sorted(e['path'] for e in exchanges)  # each node read once
    for key in ('nodes', 'by_name', 'missing'):
        assert res[key] == one_by_one[key], key
    assert res['missing'] == missing
    assert [node['name'] for node in res['nodes']] == [name for name in unique if name not in missing]
    assert list(res['by_name']) == [node['name'] for node in res['nodes']]
    assert res['by_name']['web09'] == dict(name='web09', fqdn=None, chef_environment='_default', run_list=[],
                                           found_by=['name'])
    assert res['by_name']['web10'] == dict(name='web10', fqdn='web10.example.com', chef_environment='production',
                                           run_list=['role[web]'], found_by=['name'])


def test_node_info_reports_the_first_failing_node_in_the_order_asked(monkeypatch, run_module):
    names = ['web%02d' % n for n in range(12)]
    exchanges = [node_exchange(name) for name in names]
    exchanges[5] = node_exchange('web05', 403, {'error': ['missing read permission']})
    exchanges[9] = node_exchange('web09', 500, {'error': ['internal error']})
    # web09's error comes back long before web05's
    res, replay, one_by_one = node_info_in_both_ways(monkeypatch, run_module, names, exchanges, {'web05': 0.2})
    assert res.failed and one_by_one.failed
    assert res['msg'] == one_by_one['msg'] == (
        "client 'deployer' is not allowed to read node web05 in organization acme (HTTP 403 on GET "
        "/organizations/acme/nodes/web05: missing read permission): it needs the read permission on it")
    assert (res['http_status'], res['request']) == (403, 'GET /organizations/acme/nodes/web05')
    assert 'nodes' not in res.result and 'missing' not in res.result
    # alone, the other failing node is named the same way
    res, dummy = replay_module(monkeypatch, run_module, 'chef_node_info', dict(names=['web08', 'web09']),
                               exchanges[8:10])
    assert res.failed and res['msg'] == ('the Chef server answered GET /organizations/acme/nodes/web09 with HTTP 500: '
                                         'internal error')
