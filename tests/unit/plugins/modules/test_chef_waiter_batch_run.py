"""chef_waiter_batch_run against several Chef Waiter stand-ins on loopback at once (and chef-client stand-ins)."""

import http.client
import http.server
import re
import shutil
import socket
import threading
import time

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_waiter, chef_waiter_batch_run, chef_waiter_run
from ansible_collections.chefops.chef_ha.tests.unit.plugins.fixtures.chef_waiter.agent import (
    free_port,
    make_certificate,
)

ALLOWED = 'recipe[app::deploy]'
GUID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')


def entry(name, agent, **extra):
    item = dict(name=name, host='127.0.0.1', port=agent.port)
    item.update(extra)
    return item


def batch_args(entries, **extra):
    args = dict(agents=entries, poll_interval=0.1, wait_timeout=20, timeout=5)
    args.update(extra)
    return args


def test_every_run_starts_at_once_and_each_gets_its_own_result(run_module, agents):
    fleet = {
        'web1': agents('web1', behaviour={'duration_seconds': 2}),
        'web2': agents('web2', behaviour={'duration_seconds': 2}),
        'web3': agents('web3', behaviour={'duration_seconds': 2, 'exit_code': 3, 'message': 'web3 broke'}),
    }
    res = run_module(chef_waiter_batch_run, batch_args([entry(n, a) for n, a in fleet.items()],
                                                       log_lines=5, fail_on_error=False))
    assert not res.failed and res['changed']
    runs = res['runs']
    assert sorted(runs) == ['web1', 'web2', 'web3'] and res['failed_agents'] == ['web3']
    for name in ('web1', 'web2'):
        run = runs[name]
        assert run['status'] == 'complete' and run['exitcode'] == 0 and not run['failed'] and 'msg' not in run
        assert run['changed'] and run['agent_url'] == 'http://127.0.0.1:%d' % fleet[name].port
        assert run['duration'] == run['end_time'] - run['start_time'] >= 2
        assert fleet[name].all_runs()[run['guid']]['status'] == 'complete'
    failed = runs['web3']
    assert failed['failed'] and failed['changed'] and failed['status'] == 'failed' and failed['exitcode'] == 3
    assert failed['msg'].startswith('chef-client run %s failed (exit code 3); last lines of its log:' % failed['guid'])
    assert 'RuntimeError: web3 broke' in failed['msg'] and len(failed['log_tail']) == 5
    # one run per agent, each with the node's own run list, and all of them registered together, not one by one
    for agent in fleet.values():
        calls = agent.chef_client_runs()
        assert len(calls) == 1 and '-o' not in calls[0]['argv']
    starts = [run['start_time'] for run in runs.values()]
    assert max(starts) - min(starts) <= 1


def test_a_failed_run_fails_the_task_unless_asked_to_report_only(run_module, agents):
    good = agents('good')
    bad = agents('bad', behaviour={'exit_code': 1})
    res = run_module(chef_waiter_batch_run, batch_args([entry('good', good), entry('bad', bad)]))
    assert res.failed and res['changed']
    assert res['msg'] == '1 of 2 chef-client runs failed: bad; see runs for each one'
    assert res['failed_agents'] == ['bad'] and res['runs']['good']['status'] == 'complete'


def test_a_run_that_outlasts_the_timeout_fails_alone_and_goes_on(run_module, agents):
    quick = agents('quick', behaviour={'duration_seconds': 0.2})
    slow = agents('slow', behaviour={'duration_seconds': 5})
    res = run_module(chef_waiter_batch_run, batch_args([entry('quick', quick), entry('slow', slow)], wait_timeout=2,
                                                       fail_on_error=False))
    runs = res['runs']
    assert runs['quick']['status'] == 'complete' and not runs['quick']['failed']
    assert runs['slow']['failed'] and runs['slow']['status'] == 'running' and 'end_time' not in runs['slow']
    assert 'did not finish within 2 seconds (status running)' in runs['slow']['msg']
    assert slow.all_runs()[runs['slow']['guid']]['status'] == 'running'


def test_refusals_bad_entries_and_unreachable_agents_do_not_stop_the_others(run_module, agents):
    good = agents('good', config={'whitelist_custom_runs': True, 'allowed_custom_runs': [ALLOWED]})
    locked = agents('locked')
    assert run_module(chef_waiter, locked.params(locked=True))['changed']
    picky = agents('picky', config={'whitelist_custom_runs': True, 'allowed_custom_runs': [ALLOWED]})
    entries = [
        entry('good', good),
        entry('locked', locked),
        entry('picky', picky, run_list='recipe[evil]'),
        entry('long', good, run_list='recipe[%s]' % ('x' * 600)),
        dict(name='gone', host='127.0.0.1', port=free_port()),
    ]
    res = run_module(chef_waiter_batch_run, batch_args(entries, run_list=ALLOWED, force=False, fail_on_error=False))
    runs = res['runs']
    assert res['failed_agents'] == ['locked', 'picky', 'long', 'gone']
    assert runs['good']['status'] == 'complete' and runs['good']['custom_run_string'] == ALLOWED
    assert runs['locked']['msg'] == 'the Chef Waiter agent refused the run: Chefwaiter is locked'
    assert runs['locked']['http_status'] == 403 and not runs['locked']['changed']
    assert runs['picky']['msg'] == "the Chef Waiter agent refused the run: Whitelist does not contain 'recipe[evil]'"
    assert runs['long']['msg'] == 'run_list is 608 bytes long; the agent accepts at most 512'
    assert runs['gone']['msg'].startswith('cannot reach the Chef Waiter agent at http://127.0.0.1:')
    assert len(good.chef_client_runs()) == 1
    assert locked.all_runs() == {} and picky.all_runs() == {}


def test_force_without_any_run_list_fails_that_entry_before_a_request(run_module, agent):
    res = run_module(chef_waiter_batch_run, batch_args([entry('node', agent, force=True)], fail_on_error=False))
    assert res['runs']['node']['msg'] == 'force is True but all of the following are missing: run_list'
    assert not res['changed'] and agent.requests() == []


def test_forced_run_on_a_locked_agent(run_module, agent):
    assert run_module(chef_waiter, agent.params(locked=True))['changed']
    res = run_module(chef_waiter_batch_run, batch_args([entry('node', agent)], run_list=ALLOWED, force=True))
    assert not res.failed and res['runs']['node']['status'] == 'complete'
    assert ('POST', '/chefclient?force=true') in [(r['method'], r['target']) for r in agent.requests()]


def test_waits_for_a_run_started_elsewhere(run_module, agents):
    agent = agents(behaviour={'duration_seconds': 1})
    started = run_module(chef_waiter_run, agent.params(wait=False))
    assert not started.failed
    res = run_module(chef_waiter_batch_run, batch_args([entry('node', agent, guid=started['guid'])]))
    run = res['runs']['node']
    assert not res.failed and not res['changed'] and not run['changed']
    assert run['guid'] == started['guid'] and run['status'] == 'complete' and run['start_time'] == started['start_time']
    assert len(agent.chef_client_runs()) == 1
    assert [r['method'] for r in agent.requests()].count('GET') >= 2
    assert [r['target'] for r in agent.requests()].count('/chefclient') == 1


def test_an_unknown_guid_fails_that_entry(run_module, agent):
    res = run_module(chef_waiter_batch_run, batch_args([entry('node', agent, guid='0' * 8)], fail_on_error=False))
    assert res['runs']['node']['msg'] == 'the Chef Waiter agent no longer knows run 00000000'
    assert agent.chef_client_runs() == []


def test_check_mode_starts_nothing_and_predicts_refusals(run_module, agents):
    free = agents('free')
    locked = agents('locked')
    assert run_module(chef_waiter, locked.params(locked=True))['changed']
    res = run_module(chef_waiter_batch_run, batch_args([entry('free', free), entry('locked', locked)],
                                                       fail_on_error=False), check_mode=True)
    assert res['changed'] and res['failed_agents'] == ['locked']
    assert res['runs']['free'] == dict(changed=True, failed=False, agent_url='http://127.0.0.1:%d' % free.port)
    assert res['runs']['locked']['msg'] == 'the Chef Waiter agent would refuse the run: Chefwaiter is locked'
    for agent in (free, locked):
        assert agent.all_runs() == {} and agent.chef_client_runs() == []
        assert all(r['method'] == 'GET' and not r['target'].startswith('/chefclient') for r in agent.requests())


def test_the_host_defaults_to_the_name_and_a_url_wins(run_module, agents):
    one = agents('one')
    two = agents('two')
    res = run_module(chef_waiter_batch_run, batch_args([
        dict(name='127.0.0.1', port=one.port),
        dict(name='two', url='http://127.0.0.1:%d/' % two.port, host='ignored.invalid', port=1)]))
    assert not res.failed
    assert res['runs']['127.0.0.1']['agent_url'] == 'http://127.0.0.1:%d' % one.port
    assert res['runs']['two']['agent_url'] == 'http://127.0.0.1:%d' % two.port
    assert len(one.chef_client_runs()) == len(two.chef_client_runs()) == 1


def test_same_outcome_as_chef_waiter_run(run_module, agents):
    """A failed run gives the same keys and message through either module."""
    single = agents('single', behaviour={'exit_code': 3, 'message': 'same'})
    batch = agents('batch', behaviour={'exit_code': 3, 'message': 'same'})
    one = run_module(chef_waiter_run, single.params(poll_interval=0.1, log_lines=4))
    many = run_module(chef_waiter_batch_run, batch_args([entry('batch', batch)], log_lines=4, fail_on_error=False))
    run = many['runs']['batch']
    assert one.failed and run['failed']
    assert set(run) == set(one.result) - {'invocation'}
    assert GUID.sub('G', run['msg']).split('\n')[0] == GUID.sub('G', one['msg']).split('\n')[0]
    assert [line.split('] ', 1)[1] for line in run['log_tail']] == [line.split('] ', 1)[1] for line in one['log_tail']]


@pytest.mark.parametrize('args, message', [
    (dict(wait_timeout=0), 'wait_timeout must be a positive number of seconds, got 0'),
    (dict(poll_interval=0), 'poll_interval must be a positive number of seconds, got 0.0'),
    (dict(workers=0), 'workers must be a positive number, got 0'),
])
def test_bad_options_fail_before_any_request(run_module, agent, args, message):
    res = run_module(chef_waiter_batch_run, batch_args([entry('node', agent)], **args))
    assert res.failed and res['msg'] == message
    assert agent.requests() == []


def test_names_must_be_unique(run_module, agent):
    res = run_module(chef_waiter_batch_run, batch_args([entry('node', agent), entry('node', agent),
                                                        entry('other', agent)]))
    assert res.failed and res['msg'] == 'agents: every name must be unique; repeated: node'
    assert agent.requests() == []


def test_an_empty_batch_does_nothing(run_module):
    res = run_module(chef_waiter_batch_run, batch_args([]))
    assert not res.failed and not res['changed'] and res['runs'] == {} and res['failed_agents'] == []


@pytest.mark.skipif(shutil.which('openssl') is None, reason='openssl is needed for a self-signed certificate')
def test_each_agent_keeps_its_own_tls_settings(run_module, agents, tmp_path):
    cert, key = make_certificate(str(tmp_path))
    tls = {'enable_tls': True, 'certificate_path': cert, 'key_path': key}
    trusted = agents('trusted', config=tls)
    unchecked = agents('unchecked', config=tls)
    verified = agents('verified', config=tls)
    plain = agents('plain')
    res = run_module(chef_waiter_batch_run, batch_args([
        entry('trusted', trusted, use_tls=True, url='https://localhost:%d' % trusted.port),
        entry('unchecked', unchecked, use_tls=True, validate_certs=False),
        entry('verified', verified, use_tls=True, validate_certs=True),
        entry('plain', plain)], ca_path=None, fail_on_error=False))
    runs = res['runs']
    # the verified agent's self-signed certificate is refused before any request reaches it, the others run
    assert res['failed_agents'] == ['trusted', 'verified']
    assert 'certificate' in runs['verified']['msg'].lower() and verified.requests() == []
    assert runs['unchecked']['status'] == 'complete' and runs['plain']['status'] == 'complete'
    res = run_module(chef_waiter_batch_run, batch_args([
        entry('trusted', trusted, url='https://localhost:%d' % trusted.port), entry('plain', plain)], ca_path=cert))
    assert not res.failed and res['runs']['trusted']['status'] == 'complete'
    assert res['runs']['trusted']['agent_url'] == 'https://localhost:%d' % trusted.port


class FlakyProxy:
    """An HTTP proxy on loopback in front of one agent that spoils the first `faults` status polls of a run
    (GET /chefclient/<guid>): 'refuse' closes the connection without an answer, 'hang' answers nothing until the
    client's timeout has passed, '503' answers HTTP 503. Every other request goes through unchanged."""

    def __init__(self, agent, fault, faults=1):
        self.agent = agent
        self.fault = fault
        self.left = faults
        self.spoiled = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def handle_one(self, method):
                length = int(self.headers.get('Content-Length') or 0)
                data = self.rfile.read(length) if length else None
                with proxy.lock:
                    spoil = proxy.left > 0 and method == 'GET' and re.match(r'^/chefclient/[0-9a-f-]+$', self.path)
                    if spoil:
                        proxy.left -= 1
                        proxy.spoiled.append(self.path)
                if spoil and proxy.fault == 'refuse':
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if spoil and proxy.fault == 'hang':
                    threading.Event().wait(2.5)  # the module's request timeout is 1 s
                    self.close_connection = True
                    return
                if spoil:
                    status, body = 503, b'{"Error":"busy"}'
                else:
                    conn = http.client.HTTPConnection('127.0.0.1', proxy.agent.port, timeout=10)
                    headers = {k: v for k, v in self.headers.items() if k.lower() in ('content-type', 'user-agent')}
                    conn.request(method, self.path, body=data, headers=headers)
                    answer = conn.getresponse()
                    status, body = answer.status, answer.read()
                    conn.close()
                self.send_response(status)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.handle_one('GET')

            def do_POST(self):
                self.handle_one('POST')

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def flaky(agents):
    made = []

    def make(name, fault, faults=1, behaviour=None):
        made.append(FlakyProxy(agents(name, behaviour=behaviour or {'duration_seconds': 1}), fault, faults))
        return made[-1]
    yield make
    for proxy in made:
        proxy.close()


@pytest.mark.parametrize('fault', ['refuse', 'hang', '503'])
def test_one_unanswered_poll_is_tried_again_until_the_deadline(run_module, flaky, agents, fault):
    """Issue 21 case 7: one failed poll (refused, timed out, 503) does not fail the host; the run is followed on."""
    proxy = flaky('flaky', fault)
    steady = agents('steady', behaviour={'duration_seconds': 1})
    res = run_module(chef_waiter_batch_run, batch_args([dict(name='flaky', host='127.0.0.1', port=proxy.port),
                                                        entry('steady', steady)], timeout=1, fail_on_error=False))
    assert len(proxy.spoiled) == 1, proxy.spoiled
    runs = res['runs']
    assert res['failed_agents'] == [], runs
    assert runs['flaky']['status'] == 'complete' and runs['flaky']['poll_errors'] == 1 and 'msg' not in runs['flaky']
    assert proxy.agent.all_runs()[runs['flaky']['guid']]['status'] == 'complete'
    assert len(proxy.agent.chef_client_runs()) == 1  # followed, not started again
    assert 'poll_errors' not in runs['steady']


def test_an_agent_that_stops_answering_fails_the_host_at_the_deadline(run_module, flaky):
    proxy = flaky('silent', 'refuse', faults=1000, behaviour={'duration_seconds': 30})
    started = time.monotonic()
    res = run_module(chef_waiter_batch_run, batch_args([dict(name='silent', host='127.0.0.1', port=proxy.port)],
                                                       wait_timeout=3, timeout=1, fail_on_error=False))
    run = res['runs']['silent']
    assert res['failed_agents'] == ['silent'] and 3 <= time.monotonic() - started < 15
    assert run['msg'].startswith('chef-client run %s: the Chef Waiter agent did not answer within 3 seconds of its '
                                 'start' % run['guid']), run['msg']
    assert run['poll_errors'] >= 1 and len(proxy.spoiled) == run['poll_errors'] + 1


def test_a_real_answer_is_not_retried(run_module, agents):
    """A run that failed or an agent that no longer knows the run ends at once, as before."""
    bad = agents('bad', behaviour={'exit_code': 2})
    started = time.monotonic()
    res = run_module(chef_waiter_batch_run, batch_args([entry('bad', bad)], wait_timeout=60, fail_on_error=False))
    assert res['failed_agents'] == ['bad'] and time.monotonic() - started < 30
    assert 'poll_errors' not in res['runs']['bad']
