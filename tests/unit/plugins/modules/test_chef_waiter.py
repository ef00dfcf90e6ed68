"""chef_waiter against the Chef Waiter stand-in on loopback, and the API client's parsers on recorded answers."""

import time

import pytest

from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_waiter_api as api
from ansible_collections.chefops.chef_ha.plugins.modules import chef_waiter
from ansible_collections.chefops.chef_ha.tests.unit.plugins.fixtures.chef_waiter.agent import free_port

DEFAULT_STATE = dict(locked=False, in_maintenance=False, maintenance_end='1970-01-01 00:00:00 +0000 UTC',
                     periodic_runs=False, interval=30)


def agent_state(agent):
    """The agent's state read directly from its API."""
    maintenance = agent.get_json('/chef/maintenance')
    return dict(locked=agent.get_json('/chef/lock')['Locked'], in_maintenance=maintenance['in_maintenance'],
                periodic_runs=agent.get_json('/chef/enabled')['chef_runs_enabled'],
                interval=agent.get_json('/chef/interval')['current_interval'])


def changing_requests(agent):
    readers = ('/chef/lock', '/chef/maintenance', '/chef/enabled', '/chef/interval')
    return [r['target'] for r in agent.requests() if r['target'] not in readers]


def test_reads_state_without_options(run_module, agent):
    res = run_module(chef_waiter, agent.params(), diff=True)
    assert not res.failed and not res['changed']
    assert res['state'] == DEFAULT_STATE and res['requests'] == []
    assert res['diff'] == dict(before=DEFAULT_STATE, after=DEFAULT_STATE)


def test_sets_everything_then_is_idempotent(run_module, agent):
    args = agent.params(locked=True, maintenance=60, periodic_runs=True, interval=15)
    res = run_module(chef_waiter, args, diff=True)
    assert not res.failed and res['changed']
    assert res['requests'] == ['/chef/interval/15', '/chef/on', '/chef/maintenance/start/60', '/chef/lock/set']
    assert agent_state(agent) == dict(locked=True, in_maintenance=True, periodic_runs=True,
                                      interval='15 minutes')
    assert res['diff']['before'] == DEFAULT_STATE
    after = res['diff']['after']
    assert after == res['state']
    wanted = dict(locked=True, in_maintenance=True, maintenance_end=None, periodic_runs=True, interval=15)
    assert dict(after, maintenance_end=None) == wanted
    end = api.go_time_epoch(after['maintenance_end'])
    assert abs(end - (time.time() + 3600)) < 30
    assert end == api.go_time_epoch(agent.get_json('/chef/maintenance')['end_time'])

    sent = len(changing_requests(agent))
    again = run_module(chef_waiter, args, diff=True)
    assert not again.failed and not again['changed'] and again['requests'] == []
    assert again['diff']['before'] == again['diff']['after'] == res['state']
    assert len(changing_requests(agent)) == sent


def test_check_mode_predicts_and_writes_nothing(run_module, agent):
    args = agent.params(locked=True, maintenance='45', periodic_runs=True, interval=5)
    res = run_module(chef_waiter, args, check_mode=True, diff=True)
    assert not res.failed and res['changed']
    assert res['requests'] == ['/chef/interval/5', '/chef/on', '/chef/maintenance/start/45', '/chef/lock/set']
    assert res['diff']['before'] == DEFAULT_STATE
    assert res['diff']['after']['locked'] is True and res['diff']['after']['interval'] == 5
    assert res['diff']['after']['in_maintenance'] is True
    assert changing_requests(agent) == []
    assert agent_state(agent) == dict(locked=False, in_maintenance=False, periodic_runs=False,
                                      interval='30 minutes')


def test_unlock_and_end_maintenance(run_module, agent):
    agent.get('/chef/lock/set')
    agent.get('/chef/maintenance/start/30')
    agent.get('/chef/on')
    res = run_module(chef_waiter, agent.params(locked=False, maintenance=False, periodic_runs=False))
    assert res['changed']
    assert res['requests'] == ['/chef/off', '/chef/maintenance/end', '/chef/lock/remove']
    assert agent_state(agent) == dict(locked=False, in_maintenance=False, periodic_runs=False,
                                      interval='30 minutes')
    assert res['state'] == DEFAULT_STATE
    res = run_module(chef_waiter, agent.params(locked=False, maintenance=0, periodic_runs=False))
    assert not res['changed']


def test_running_window_is_kept_unless_too_short(run_module, agent):
    agent.get('/chef/maintenance/start/120')
    end = agent.get_json('/chef/maintenance')['end_time']
    res = run_module(chef_waiter, agent.params(maintenance=60))
    assert not res['changed'] and agent.get_json('/chef/maintenance')['end_time'] == end
    res = run_module(chef_waiter, agent.params(maintenance=180))
    assert res['changed'] and res['requests'] == ['/chef/maintenance/start/180']
    new_end = agent.get_json('/chef/maintenance')['end_time']
    assert api.go_time_epoch(new_end) - api.go_time_epoch(end) >= 3600


@pytest.mark.parametrize('interval', [0, -5])
def test_non_positive_interval_fails(run_module, agent, interval):
    res = run_module(chef_waiter, agent.params(interval=interval))
    assert res.failed and res['msg'].startswith('interval must be a positive whole number of minutes')
    assert agent.requests() == []


@pytest.mark.parametrize('value', [1.5, '1.5', 'an hour', True, -3, '-3'])
def test_bad_maintenance_fails(run_module, agent, value):
    res = run_module(chef_waiter, agent.params(maintenance=value))
    assert res.failed and res['msg'].startswith('maintenance=')
    assert 'is not valid' in res['msg']
    assert agent.requests() == []


def test_unreachable_agent(run_module):
    res = run_module(chef_waiter, dict(url='http://127.0.0.1:%d' % free_port(), locked=True, timeout=2))
    assert res.failed and 'cannot reach the Chef Waiter agent' in res['msg']


# Parsers, on answers as the reference documents them

@pytest.mark.parametrize('value, minutes', [(0, 0), (False, 0), ('false', 0), ('0', 0), (90, 90), ('90', 90),
                                            (90.0, 90), (' 15 ', 15)])
def test_maintenance_minutes(value, minutes):
    assert chef_waiter.maintenance_minutes(value) == minutes


def test_interval_answer():
    assert api.parse_interval('{"current_interval":"30 minutes"}\n') == 30
    assert api.parse_interval('{"current_interval":"1 minutes"}\n') == 1
    with pytest.raises(api.ChefWaiterError):
        api.parse_interval('{"current_interval":"soon"}\n')
    with pytest.raises(api.ChefWaiterError):
        api.parse_interval('')  # what /chef/interval/{i} answers: not a read answer


def test_lock_enabled_and_maintenance_answers():
    assert api.parse_lock('{"Locked": true}\n') is True
    assert api.parse_enabled('{"chef_runs_enabled":false}\n') is False
    state = api.parse_maintenance('{"end_time":"2026-11-21 02:30:00 +0100 CET", "in_maintenance":true}\n')
    assert state == dict(in_maintenance=True, end_time='2026-11-21 02:30:00 +0100 CET', end_epoch=1795224600)
    assert api.go_time_epoch('1970-01-01 00:00:00 +0000 UTC') == 0
    assert api.go_time_epoch('garbled') is None
    with pytest.raises(api.ChefWaiterError):
        api.parse_lock('{"locked": true}')
    with pytest.raises(api.ChefWaiterError):
        api.parse_enabled('<html>proxy error</html>')


def test_run_answers():
    body = ('{\n  "g1": {\n    "status": "failed",\n    "exitcode": 1,\n    "starttime": 1795220000,\n'
            '    "ondemand": true,\n    "custom_run": false,\n    "custom_run_string": ""\n  }\n}\n')
    guid, details = api.parse_job(body)
    assert guid == 'g1' and details['status'] == 'failed' and details['exitcode'] == 1
    assert api.parse_job('{\n  "g2": null\n}\n', 'g2') == ('g2', None)
    with pytest.raises(api.ChefWaiterError):
        api.parse_job(body, 'other')
    with pytest.raises(api.ChefWaiterError):
        api.parse_job('{}\n')
    assert api.error_text('{"Error":"Chefwaiter is locked"}\n') == 'Chefwaiter is locked'
    assert api.error_text('404 page not found\n') == '404 page not found'
    assert api.log_tail('a\nb\nc\n', 2) == ['b', 'c']
    assert api.log_tail('a\nb\n', 0) == [] and api.log_tail('a\nb\n', -1) == ['a', 'b']


def test_base_url():
    assert api.base_url(dict(url='https://node1:8901/', host='x')) == 'https://node1:8901'
    assert api.base_url(dict(host='node1', port=8901, use_tls=True)) == 'https://node1:8901'
    assert api.base_url(dict(host='::1', port=9000, use_tls=False)) == 'http://[::1]:9000'
