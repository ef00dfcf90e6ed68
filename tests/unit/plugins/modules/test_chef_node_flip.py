"""chef_node_flip against a small in-memory Chef server (every request signature-checked by the replay): the record
written before the first flip, a re-run after a run that died keeping the originals, a 403 on one node, another
open flip refused, the return verified before the record is closed, a writer landing between read and write."""

import copy
import json
import threading
import time
from urllib.parse import urlsplit

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_node_flip
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_api_replay import CLIENT, KEY_FILE, ChefServerReplay

ORG = '/organizations/acme'
CONNECTION = dict(server_url='https://chef.example.com' + ORG, client_name=CLIENT, client_key=KEY_FILE, retries=0)
RECORD = ORG + '/data/chefops_flips/flips'


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(time, 'sleep', lambda seconds: None)


class FakeChef(ChefServerReplay):
    """Nodes, environments and data bags held in memory; answers as the Chef Infra Server does. `refuse` maps
    (method, path) to an HTTP status; `hooks` maps (method, path) to a function called after that request."""

    def __init__(self, nodes, environments=('production', 'testing', '_default')):
        ChefServerReplay.__init__(self, [])
        self.store = {}
        for name, environment in nodes.items():
            self.store[ORG + '/nodes/' + name] = dict(name=name, chef_environment=environment, run_list=['role[web]'],
                                                      normal={'keep': name}, json_class='Chef::Node')
        for name in environments:
            self.store[ORG + '/environments/' + name] = dict(name=name)
        self.bags = set()
        self.serial = threading.Lock()  # concurrent reads (get_many) answered one at a time
        self.refuse = {}
        self.hooks = {}

    def answer(self, method, path, body):
        if (method, path) in self.refuse:
            return self.refuse[(method, path)], {'error': ['refused by the test']}
        if method == 'GET':
            return (200, self.store[path]) if path in self.store else (404, {'error': ['not found']})
        if method == 'PUT':
            if path not in self.store:
                return 404, {'error': ['not found']}
            self.store[path] = body
            return 200, body
        if method == 'POST' and path == ORG + '/data':
            if body['name'] in self.bags:
                return 409, {'error': ['exists']}
            self.bags.add(body['name'])
            return 201, {'uri': 'x'}
        if method == 'POST' and path.startswith(ORG + '/data/'):
            if path.rsplit('/', 1)[1] not in self.bags:
                return 404, {'error': ['no such bag']}
            item = path + '/' + body['id']
            if item in self.store:
                return 409, {'error': ['exists']}
            self.store[item] = body
            return 201, body
        raise AssertionError('unexpected %s %s' % (method, path))

    def __call__(self, url, data=None, method=None, headers=None, **kwargs):
        path = urlsplit(url).path
        body = json.loads(data.decode()) if data else None
        with self.serial:
            status, answer = self.answer(method, path, body)
            self.expected = [dict(method=method, path=path, status=status, body=copy.deepcopy(answer))]
            try:
                return ChefServerReplay.__call__(self, url, data=data, method=method, headers=headers, **kwargs)
            finally:
                hook = self.hooks.pop((method, path), None)
                if hook:
                    hook()

    def environment(self, node):
        return self.store[ORG + '/nodes/' + node]['chef_environment']

    def record(self):
        return (self.store.get(RECORD) or {}).get('nodes')

    def node_writes(self):
        return [p.rsplit('/', 1)[1] for m, p in self.writes() if m == 'PUT' and '/nodes/' in p]


def flip(monkeypatch, run_module, server, check_mode=False, **params):
    server.made = []
    server.install(monkeypatch)
    return run_module(chef_node_flip, dict(CONNECTION, **params), check_mode=check_mode)


NODES = ['web01', 'web02', 'web03']


def test_the_originals_are_recorded_before_the_first_flip(monkeypatch, run_module):
    server = FakeChef(dict(web01='production', web02='production', web03='testing'))
    seen = {}
    server.hooks[('PUT', ORG + '/nodes/web01')] = lambda: seen.update(server.record())
    res = flip(monkeypatch, run_module, server, nodes=NODES, environment='testing')
    assert not res.failed, res.result
    # the record held every original environment when the first node was written
    assert dict((n, e['original']) for n, e in seen.items()) == dict(web01='production', web02='production',
                                                                     web03='testing')
    assert [server.environment(n) for n in NODES] == ['testing'] * 3
    assert server.node_writes() == ['web01', 'web02']  # web03 was there already
    assert server.store[ORG + '/nodes/web01']['normal'] == {'keep': 'web01'}  # the whole node written back
    assert dict((n, (e['original'], e['target'], e['state'])) for n, e in server.record().items()) == dict(
        web01=('production', 'testing', 'flipped'), web02=('production', 'testing', 'flipped'),
        web03=('testing', 'testing', 'flipped'))
    assert res['originals'] == dict(web01='production', web02='production', web03='testing')
    assert res['nodes']['web01']['environment'] == 'testing' and res['nodes']['web01']['changed'] is True
    assert res['changed'] is True


def test_a_run_killed_after_the_flips_then_a_flip_back_returns_the_originals(monkeypatch, run_module):
    server = FakeChef(dict(web01='production', web02='_default', web03='production'))
    assert not flip(monkeypatch, run_module, server, nodes=NODES, environment='testing').failed
    # the run died here: nothing but the record knows where the nodes came from. A re-run flips again ...
    res = flip(monkeypatch, run_module, server, nodes=NODES, environment='testing')
    assert not res.failed and res['changed'] is False and server.writes() == []
    assert res['originals'] == dict(web01='production', web02='_default', web03='production')
    # ... and its flip back returns each node where it came from, never to testing, then closes the record
    res = flip(monkeypatch, run_module, server, nodes=NODES, state='returned')
    assert not res.failed, res.result
    assert [server.environment(n) for n in NODES] == ['production', '_default', 'production']
    assert set(e['state'] for e in server.record().values()) == {'returned'}
    res = flip(monkeypatch, run_module, server, nodes=NODES, state='closed')
    assert not res.failed and server.record() == {} and server.node_writes() == []
    assert [res['nodes'][n]['state'] for n in NODES] == [None] * 3


def test_a_403_on_one_node_stops_the_flips_and_the_others_can_be_returned(monkeypatch, run_module):
    server = FakeChef(dict(web01='production', web02='production', web03='production'))
    server.refuse[('PUT', ORG + '/nodes/web02')] = 403
    res = flip(monkeypatch, run_module, server, nodes=NODES, environment='testing')
    assert res.failed and 'node web02' in res['msg'] and 'not allowed to update' in res['msg']
    assert res['failed_nodes'] == ['web02', 'web03']
    assert server.node_writes() == ['web01', 'web02']  # web03 was not touched
    assert [server.environment(n) for n in NODES] == ['testing', 'production', 'production']
    assert set(e['original'] for e in server.record().values()) == {'production'}
    del server.refuse[('PUT', ORG + '/nodes/web02')]
    assert not flip(monkeypatch, run_module, server, nodes=NODES, state='returned').failed
    assert not flip(monkeypatch, run_module, server, nodes=NODES, state='closed').failed
    assert [server.environment(n) for n in NODES] == ['production'] * 3 and server.record() == {}


def test_a_node_in_an_open_flip_into_another_environment_is_refused_before_any_write(monkeypatch, run_module):
    server = FakeChef(dict(web01='production', web02='production', web03='production'))
    assert not flip(monkeypatch, run_module, server, nodes=['web01'], environment='testing').failed
    res = flip(monkeypatch, run_module, server, nodes=NODES, environment='_default')
    assert res.failed and 'web01 (into testing from production' in res['msg'], res['msg']
    assert server.writes() == []
    assert server.record()['web01']['original'] == 'production'


def test_two_flips_of_other_nodes_at_once_both_stay_recorded(monkeypatch, run_module):
    """Another controller's write (from its read made before ours) lands right after our record write."""
    server = FakeChef(dict(web01='production', web02='production', web03='_default'))
    other = {'id': 'flips', 'nodes': {'web03': dict(original='_default', target='testing', state='flipping')}}

    def other_writer():
        server.store[RECORD] = copy.deepcopy(other)
    server.bags.add('chefops_flips')
    server.hooks[('POST', ORG + '/data/chefops_flips')] = other_writer
    res = flip(monkeypatch, run_module, server, nodes=['web01', 'web02'], environment='testing')
    assert not res.failed, res.result
    assert sorted(server.record()) == ['web01', 'web02', 'web03']
    assert server.record()['web01']['original'] == 'production'


def test_closing_finds_a_node_a_chef_run_saved_back_and_keeps_it_recorded(monkeypatch, run_module):
    server = FakeChef(dict(web01='production', web02='production'))
    assert not flip(monkeypatch, run_module, server, nodes=['web01', 'web02'], environment='testing').failed
    assert not flip(monkeypatch, run_module, server, nodes=['web01', 'web02'], state='returned').failed
    # a chef-client run that loaded web02 in testing saves it at its end, after the return
    server.store[ORG + '/nodes/web02']['chef_environment'] = 'testing'
    res = flip(monkeypatch, run_module, server, nodes=['web01', 'web02'], state='closed')
    assert res.failed and res['reverted'] == ['web02'] and 'run the flip back again' in res['msg']
    assert server.environment('web02') == 'production'
    assert list(server.record()) == ['web02']
    assert not flip(monkeypatch, run_module, server, nodes=['web01', 'web02'], state='closed').failed
    assert server.record() == {}


def test_nodes_not_recorded_are_left_alone(monkeypatch, run_module):
    server = FakeChef(dict(web01='testing'))
    res = flip(monkeypatch, run_module, server, nodes=['web01'], state='closed')
    assert not res.failed and res['not_recorded'] == ['web01'] and server.writes() == []
    assert server.environment('web01') == 'testing'


def test_check_mode_writes_nothing(monkeypatch, run_module):
    server = FakeChef(dict(web01='production', web02='production'))
    res = flip(monkeypatch, run_module, server, check_mode=True, nodes=['web01', 'web02'], environment='testing')
    assert not res.failed and res['changed'] is True and server.writes() == []
    assert [res['nodes'][n]['environment'] for n in ['web01', 'web02']] == ['testing', 'testing']
    assert res['originals'] == dict(web01='production', web02='production')
    assert RECORD not in server.store


@pytest.mark.parametrize('params, words', [
    (dict(nodes=['web01', 'web01'], environment='testing'), 'nodes names web01 more than once'),
    (dict(nodes=['web01'], environment='nowhere'), 'environment nowhere does not exist'),
    (dict(nodes=['web09'], environment='testing'), 'node web09 does not exist'),
])
def test_refused_before_any_write(monkeypatch, run_module, params, words):
    server = FakeChef(dict(web01='production'))
    res = flip(monkeypatch, run_module, server, **params)
    assert res.failed and words in res['msg'] and server.writes() == []
