"""chef_backend_services on recorded chef-backend-ctl status and start calls."""

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_backend_services
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call, fixture_text

HEALTHY = fixture_text('status_2x_healthy.txt')
POSTGRESQL_DOWN = fixture_text('status_2x_degraded.txt')
CTL = '/usr/bin/chef-backend-ctl'


def status(text):
    return call(['status'], out=text)


def two_down():
    return HEALTHY.replace('leaderl        running (pid 1310) ', 'leaderl        down               ').replace(
        'postgresql     running (pid 1377) ', 'postgresql     down               ')


@pytest.fixture
def config_dir(tmp_path):
    (tmp_path / 'chef-backend-running.json').write_text('{}')
    return str(tmp_path)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(chef_backend_services.time, 'sleep', lambda seconds: None)


def test_all_running_changes_nothing(run_module, config_dir):
    run = run_module(chef_backend_services, dict(config_dir=config_dir), [status(HEALTHY)])
    assert run['changed'] is False and run['started'] == [] and run['configured'] is True
    assert run['services']['postgresql'] == 'running'


def test_starts_only_what_is_down_and_waits(run_module, config_dir):
    assert 'leaderl        down' in two_down()
    run = run_module(chef_backend_services, dict(config_dir=config_dir), [
        status(two_down()), call(['start', 'leaderl']), call(['start', 'postgresql']),
        status(POSTGRESQL_DOWN), status(HEALTHY)])
    assert run['changed'] is True
    assert run['started'] == ['leaderl', 'postgresql']
    assert set(run['services'].values()) == {'running'}
    assert [c[1:] for c in run.commands] == [['status'], ['start', 'leaderl'], ['start', 'postgresql'],
                                             ['status'], ['status']]


def test_check_mode_only_reads(run_module, config_dir):
    run = run_module(chef_backend_services, dict(config_dir=config_dir), [status(two_down())], check_mode=True)
    assert run['changed'] is True and run['started'] == ['leaderl', 'postgresql']
    assert run.commands == [[CTL, 'status']]


def test_a_service_that_does_not_come_up_fails_naming_it(run_module, config_dir):
    run = run_module(chef_backend_services, dict(config_dir=config_dir, timeout=0), [
        status(POSTGRESQL_DOWN), call(['start', 'postgresql']), status(POSTGRESQL_DOWN)])
    assert run.failed and run['changed'] is True
    assert run['msg'].startswith('postgresql did not come up within 0 s after chef-backend-ctl start')


def test_a_failing_start_fails_with_its_output(run_module, config_dir):
    run = run_module(chef_backend_services, dict(config_dir=config_dir), [
        status(POSTGRESQL_DOWN), call(['start', 'postgresql'], rc=1, out='fail: postgresql: runsv not running\n')])
    assert run.failed and run['rc'] == 1
    assert 'chef-backend-ctl start postgresql failed (exit 1)' in run['msg']
    assert run['stdout'] == 'fail: postgresql: runsv not running\n'


def test_only_the_services_asked_for(run_module, config_dir):
    run = run_module(chef_backend_services, dict(config_dir=config_dir, services=['etcd', 'leaderl']),
                     [status(two_down()), call(['start', 'leaderl']), status(HEALTHY)])
    assert run['started'] == ['leaderl']
    run = run_module(chef_backend_services, dict(config_dir=config_dir, services=['nginx']), [status(HEALTHY)])
    assert run.failed and 'lists no service nginx' in run['msg']


def test_a_node_that_has_not_joined_is_left_alone(run_module, tmp_path):
    run = run_module(chef_backend_services, dict(config_dir=str(tmp_path)), [])
    assert (run['changed'], run['configured'], run.commands) == (False, False, [])


def test_garbled_status_fails(run_module, config_dir):
    run = run_module(chef_backend_services, dict(config_dir=config_dir), [status('garbage\n')])
    assert run.failed and 'cannot read chef-backend-ctl status' in run['msg']
