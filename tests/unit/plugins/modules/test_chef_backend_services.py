"""chef_backend_services on recorded chef-backend-ctl status and start calls."""

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_backend_services
from ansible_collections.chefops.chef_ha.tests.unit.plugins import chef_ha_replay
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
def config_dir(tmp_path, monkeypatch):
    (tmp_path / 'chef-backend-running.json').write_text('{}')
    monkeypatch.setattr(chef_backend_services, 'NO_START_PGSQL', str(tmp_path / 'no-start-pgsql'))
    return str(tmp_path)


class Clock:
    """time.time and time.sleep of the module: sleeping moves the clock on, instantly."""

    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(chef_backend_services, 'time', fake)
    return fake


def test_all_running_changes_nothing(run_module, config_dir):
    run = run_module(chef_backend_services, dict(config_dir=config_dir), [status(HEALTHY)])
    assert run['changed'] is False and run['started'] == [] and run['configured'] is True
    assert run['services']['postgresql'] == 'running'


def test_starts_only_what_is_down_in_order_and_waits_until_they_stay_up(run_module, config_dir):
    assert 'leaderl        down' in two_down()
    run = run_module(chef_backend_services, dict(config_dir=config_dir, settle=2), [
        status(two_down()), call(['start', 'postgresql']), call(['start', 'leaderl']),
        status(POSTGRESQL_DOWN), status(HEALTHY), status(HEALTHY), status(HEALTHY)])
    assert run['changed'] is True
    assert run['started'] == ['postgresql', 'leaderl']
    assert set(run['services'].values()) == {'running'} and run['resynced'] is None
    assert [c[1:] for c in run.commands] == [['status'], ['start', 'postgresql'], ['start', 'leaderl'],
                                             ['status'], ['status'], ['status'], ['status']]


def test_check_mode_only_reads(run_module, config_dir):
    run = run_module(chef_backend_services, dict(config_dir=config_dir), [status(two_down())], check_mode=True)
    assert run['changed'] is True and run['started'] == ['postgresql', 'leaderl']
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
    run = run_module(chef_backend_services, dict(config_dir=config_dir, services=['etcd', 'leaderl'], settle=0),
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


def test_a_former_leader_held_down_is_made_a_follower_of_the_new_leader(run_module, config_dir, tmp_path):
    # leaderl stops the old primary again and leaves its sentinel: only pgsql-follow brings it back
    def hold_down():
        (tmp_path / 'no-start-pgsql').write_text('demoted\n')
    run = run_module(chef_backend_services, dict(config_dir=config_dir, settle=1, timeout=3), [
        status(two_down()), call(['start', 'postgresql']), call(['start', 'leaderl']),
        status(HEALTHY), call(['status'], out=POSTGRESQL_DOWN, effect=hold_down), status(POSTGRESQL_DOWN),
        status(POSTGRESQL_DOWN),
        call(['cluster-status', '--json'], out=fixture_text('cluster_status_list.json')),
        call(['pgsql-follow', '172.31.250.11', '--force-basebackup'], out='PostgreSQL is streaming\n'),
        status(HEALTHY), status(HEALTHY)])
    assert not run.failed, run['msg']
    assert run['resynced'] == '172.31.250.11'
    assert run['services']['postgresql'] == 'running'


def test_a_held_down_postgresql_is_not_started_and_resync_can_be_refused(run_module, config_dir, tmp_path):
    (tmp_path / 'no-start-pgsql').write_text('demoted\n')
    run = run_module(chef_backend_services, dict(config_dir=config_dir, timeout=0, resync=False), [
        status(POSTGRESQL_DOWN), status(POSTGRESQL_DOWN),
        call(['cluster-status', '--json'], out=fixture_text('cluster_status_list.json'))])
    assert run.failed
    assert run['msg'] == ('PostgreSQL is held down on this former leader (%s); make it follow the leader with: '
                          'PSQL_INTERNAL_OK=true chef-backend-ctl pgsql-follow 172.31.250.11 --force-basebackup'
                          % (tmp_path / 'no-start-pgsql'))
    assert ['start', 'postgresql'] not in [c[1:] for c in run.commands]


def test_pgsql_follow_runs_with_the_internal_flag(run_module, config_dir, tmp_path, monkeypatch):
    (tmp_path / 'no-start-pgsql').write_text('demoted\n')
    seen = []
    original = chef_ha_replay.CommandReplay.__call__

    def recording(self, module, argv, **kwargs):
        seen.append((argv[1], dict(kwargs.get('environ_update') or {})))
        return original(self, module, argv, **kwargs)

    monkeypatch.setattr(chef_ha_replay.CommandReplay, '__call__', recording)
    run = run_module(chef_backend_services, dict(config_dir=config_dir, timeout=0, settle=0), [
        status(POSTGRESQL_DOWN), status(POSTGRESQL_DOWN),
        call(['cluster-status', '--json'], out=fixture_text('cluster_status_list.json')),
        call(['pgsql-follow', '172.31.250.11', '--force-basebackup'], rc=1, err='172.31.250.11 is not the leader')])
    assert run.failed and 'pgsql-follow 172.31.250.11 --force-basebackup failed (exit 1)' in run['msg']
    follow = [env for name, env in seen if name == 'pgsql-follow']
    assert follow == [{'LC_ALL': 'C', 'LANG': 'C', 'LANGUAGE': 'C', 'PSQL_INTERNAL_OK': 'true'}]
    assert [env.get('PSQL_INTERNAL_OK') for name, env in seen if name != 'pgsql-follow'] == [None] * 3
