"""chef_waiter_info against the Chef Waiter stand-in on loopback."""

import time

from ansible_collections.chefops.chef_ha.plugins.modules import chef_waiter, chef_waiter_info, chef_waiter_run
from ansible_collections.chefops.chef_ha.tests.unit.plugins.fixtures.chef_waiter.agent import free_port


def test_a_fresh_agent(run_module, agent):
    res = run_module(chef_waiter_info, agent.params())
    assert not res.failed and res['changed'] is False
    assert res['reachable'] is True and res['error'] is None
    assert res['version'] == agent.get_json('/status')['version']
    assert (res['locked'], res['periodic_runs'], res['interval']) == (False, False, 30)
    assert res['maintenance']['in_maintenance'] is False
    assert res['last_run'] is None
    assert res["runs_in_progress"] == []
    assert (res['healthy'], res['problems']) == (True, [])
    # nothing but reads
    assert {r['method'] for r in agent.requests()} == {'GET'}
    assert not any(r['target'].startswith(('/chef/lock/', '/chef/on', '/chef/off', '/chef/maintenance/'))
                   for r in agent.requests())


def test_the_last_run_and_the_lock(run_module, agent):
    run = run_module(chef_waiter_run, agent.params(poll_interval=0.1, wait_timeout=20))
    assert run['status'] == 'complete'
    assert run_module(chef_waiter, agent.params(locked=True, maintenance=30))['changed']
    res = run_module(chef_waiter_info, agent.params(), check_mode=True)
    assert res['last_run']['guid'] == run['guid']
    assert (res['last_run']['status'], res['last_run']['exitcode']) == ('complete', 0)
    assert res['locked'] is True and res['maintenance']['in_maintenance'] is True
    assert res['healthy'] is True


def test_a_failed_last_run_is_reported_but_the_agent_is_healthy(run_module, agents):
    agent = agents(behaviour={'exit_code': 2, 'message': 'boom'})
    run = run_module(chef_waiter_run, agent.params(poll_interval=0.1, wait_timeout=20))
    assert run.failed
    res = run_module(chef_waiter_info, agent.params())
    assert not res.failed
    assert (res['last_run']['guid'], res['last_run']['status'], res['last_run']['exitcode']) == (run['guid'], 'failed', 2)
    assert (res['healthy'], res['problems']) == (True, [])


def test_an_agent_that_does_not_answer_is_reported_not_failed(run_module):
    res = run_module(chef_waiter_info, dict(host='127.0.0.1', port=free_port(), timeout=2))
    assert not res.failed
    assert res['reachable'] is False and res['healthy'] is False
    assert res['error'].startswith('cannot reach the Chef Waiter agent at http://127.0.0.1:')


def test_a_run_in_progress_is_listed_until_it_ends(run_module, agents):
    agent = agents(behaviour={'duration_seconds': 3})
    started = run_module(chef_waiter_run, agent.params(wait=False))
    deadline = time.monotonic() + 10
    while agent.all_runs()[started['guid']]['status'] != 'running' and time.monotonic() < deadline:
        time.sleep(0.05)
    res = run_module(chef_waiter_info, agent.params())
    assert [(r['guid'], r['status'], r['ondemand']) for r in res['runs_in_progress']] == \
        [(started['guid'], 'running', True)]
    while agent.all_runs()[started['guid']]['status'] == 'running' and time.monotonic() < deadline + 10:
        time.sleep(0.05)
    assert run_module(chef_waiter_info, agent.params())['runs_in_progress'] == []
