"""chef_waiter_run against the Chef Waiter stand-in on loopback (and the chef-client stand-in behind it)."""

import shutil

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_waiter, chef_waiter_run
from ansible_collections.chefops.chef_ha.tests.unit.plugins.fixtures.chef_waiter.agent import (
    free_port,
    make_certificate,
)

ALLOWED = 'recipe[app::deploy]'


def run_args(agent, **extra):
    args = dict(poll_interval=0.1, wait_timeout=20)
    args.update(extra)
    return agent.params(**args)


def test_run_with_the_node_run_list(run_module, agent):
    res = run_module(chef_waiter_run, run_args(agent))
    assert not res.failed and res['changed']
    guid = res['guid']
    assert res['status'] == 'complete' and res['exitcode'] == 0
    assert res['custom_run'] is False and res['custom_run_string'] == ''
    assert res['agent_url'] == 'http://127.0.0.1:%d' % agent.port
    assert res['end_time'] >= res['start_time'] and res['duration'] == res['end_time'] - res['start_time']
    assert any('Chef Infra Client finished' in line for line in res['log_tail'])
    # the agent's own record agrees, and chef-client really ran once, without -o
    assert agent.all_runs()[guid]['status'] == 'complete'
    calls = agent.chef_client_runs()
    assert len(calls) == 1 and calls[0]['rc'] == 0 and '-o' not in calls[0]['argv']
    assert [(r['method'], r['target']) for r in agent.requests()][0] == ('GET', '/chefclient')


def test_custom_run_list_and_log_lines(run_module, agent):
    res = run_module(chef_waiter_run, run_args(agent, run_list='recipe[base],recipe[app::deploy]', log_lines=3))
    assert res['status'] == 'complete' and res['custom_run'] is True
    assert res['custom_run_string'] == 'recipe[base],recipe[app::deploy]'
    assert len(res['log_tail']) == 3
    calls = agent.chef_client_runs()
    assert calls[0]['argv'][-2:] == ['-o', 'recipe[base],recipe[app::deploy]']
    assert agent.requests()[0]['method'] == 'POST'


def test_failed_run_fails_with_the_log_tail(run_module, agents):
    agent = agents(behaviour={'exit_code': 3, 'message': 'cookbook app failed to converge'})
    res = run_module(chef_waiter_run, run_args(agent, log_lines=10))
    assert res.failed and res['changed']
    assert res['status'] == 'failed' and res['exitcode'] == 3
    assert 'failed (exit code 3)' in res['msg']
    assert 'RuntimeError: cookbook app failed to converge' in res['msg']
    assert len(res['log_tail']) == 10 and 'RuntimeError: cookbook app failed to converge' in '\n'.join(res['log_tail'])
    assert agent.chef_client_runs()[0]['rc'] == 3


def test_locked_agent_refuses_unless_forced(run_module, agent):
    assert run_module(chef_waiter, agent.params(locked=True))['changed']
    res = run_module(chef_waiter_run, run_args(agent))
    assert res.failed and not res['changed']
    assert 'Chefwaiter is locked' in res['msg'] and res['http_status'] == 403
    res = run_module(chef_waiter_run, run_args(agent, run_list=ALLOWED))
    assert res.failed and 'Chefwaiter is locked' in res['msg']
    assert agent.all_runs() == {} and agent.chef_client_runs() == []
    res = run_module(chef_waiter_run, run_args(agent, run_list=ALLOWED, force=True))
    assert not res.failed and res['status'] == 'complete' and res['custom_run_string'] == ALLOWED
    assert ('POST', '/chefclient?force=true') in [(r['method'], r['target']) for r in agent.requests()]
    assert len(agent.chef_client_runs()) == 1


def test_force_needs_a_run_list(run_module, agent):
    res = run_module(chef_waiter_run, run_args(agent, force=True))
    assert res.failed and 'run_list' in res['msg']
    assert agent.requests() == []


def test_whitelist_refusal_is_the_agent_answer(run_module, agents):
    agent = agents(config={'whitelist_custom_runs': True, 'allowed_custom_runs': [ALLOWED]})
    res = run_module(chef_waiter_run, run_args(agent, run_list='recipe[evil]'))
    assert res.failed and res['http_status'] == 403
    assert "Whitelist does not contain 'recipe[evil]'" in res['msg']
    assert agent.all_runs() == {}
    # check mode predicts the same refusal without asking for a run
    res = run_module(chef_waiter_run, run_args(agent, run_list='recipe[evil]'), check_mode=True)
    assert res.failed and "Whitelist does not contain 'recipe[evil]'" in res['msg']
    res = run_module(chef_waiter_run, run_args(agent, run_list=ALLOWED))
    assert not res.failed and res['status'] == 'complete'


def test_timeout_fails_while_the_run_goes_on(run_module, agents):
    agent = agents(behaviour={'duration_seconds': 4})
    res = run_module(chef_waiter_run, run_args(agent, wait_timeout=1))
    assert res.failed and res['changed']
    assert 'did not finish within 1 seconds (status running)' in res['msg']
    assert res['status'] == 'running' and 'end_time' not in res.result
    assert agent.all_runs()[res['guid']]['status'] == 'running'


def test_no_wait_returns_the_queued_run(run_module, agents):
    agent = agents(behaviour={'duration_seconds': 2})
    res = run_module(chef_waiter_run, run_args(agent, wait=False))
    assert not res.failed and res['changed']
    assert res['status'] in ('registered', 'running') and 'log_tail' not in res.result
    assert res['guid'] in agent.all_runs()


def test_check_mode_starts_nothing(run_module, agent):
    res = run_module(chef_waiter_run, run_args(agent, run_list=ALLOWED), check_mode=True)
    assert not res.failed and res['changed'] and 'guid' not in res.result
    assert agent.all_runs() == {} and agent.chef_client_runs() == []
    assert all(r['method'] == 'GET' and not r['target'].startswith('/chefclient') for r in agent.requests())
    # a locked agent is predicted as refused
    assert run_module(chef_waiter, agent.params(locked=True))['changed']
    res = run_module(chef_waiter_run, run_args(agent), check_mode=True)
    assert res.failed and 'would refuse the run: Chefwaiter is locked' in res['msg']
    res = run_module(chef_waiter_run, run_args(agent, run_list=ALLOWED, force=True), check_mode=True)
    assert not res.failed and res['changed']
    assert agent.all_runs() == {}


def test_unreachable_agent(run_module):
    res = run_module(chef_waiter_run, dict(host='127.0.0.1', port=free_port(), timeout=2))
    assert res.failed and 'cannot reach the Chef Waiter agent at http://127.0.0.1:' in res['msg']


@pytest.mark.parametrize('args, option', [
    (dict(wait_timeout=0), 'wait_timeout'),
    (dict(poll_interval=-1), 'poll_interval'),
    (dict(run_list=' '), 'run_list is empty'),
    (dict(run_list='recipe[%s]' % ('x' * 600)), 'run_list is 608 bytes long; the agent accepts at most 512'),
])
def test_bad_input_fails_before_any_request(run_module, agent, args, option):
    res = run_module(chef_waiter_run, run_args(agent, **args))
    assert res.failed and option in res['msg']
    assert agent.requests() == []


@pytest.mark.skipif(shutil.which('openssl') is None, reason='openssl is needed for a self-signed certificate')
def test_tls_with_a_self_signed_certificate(run_module, agents, tmp_path):
    cert, key = make_certificate(str(tmp_path))
    agent = agents(config={'enable_tls': True, 'certificate_path': cert, 'key_path': key})
    # verification is on by default: the self-signed certificate is refused before any request reaches the agent
    res = run_module(chef_waiter_run, run_args(agent))
    assert res.failed and 'certificate' in res['msg'].lower()
    assert agent.requests() == [] and agent.all_runs() == {}
    # plain HTTP to the TLS port: the agent's own answer
    res = run_module(chef_waiter_run, run_args(agent, use_tls=False))
    assert res.failed and res['http_status'] == 400
    assert 'Client sent an HTTP request to an HTTPS server.' in res['msg']
    # trusting the certificate through ca_path works, with the host name checked
    res = run_module(chef_waiter_run, run_args(agent, ca_path=cert))
    assert not res.failed and res['status'] == 'complete'
    assert res['agent_url'] == 'https://127.0.0.1:%d' % agent.port
    res = run_module(chef_waiter_run, run_args(agent, ca_path=cert, host='localhost'), check_mode=True)
    assert not res.failed
    assert len(agent.chef_client_runs()) == 1


def test_https_to_a_plain_agent_fails(run_module, agent):
    res = run_module(chef_waiter_run, run_args(agent, url='https://127.0.0.1:%d/' % agent.port))
    assert res.failed and 'https://127.0.0.1:%d/chefclient' % agent.port in res['msg']
    assert agent.all_runs() == {}
