"""chef_server_upgrade on recorded chef-server-ctl and package manager calls."""

import errno
import json
import os

import pytest


from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import ChefCtlParseError
from ansible_collections.chefops.chef_ha.plugins.module_utils import _atomic_file, _chef_server_ctl
from ansible_collections.chefops.chef_ha.plugins.modules import chef_server_upgrade
from ansible_collections.chefops.chef_ha.tests.unit.plugins import chef_ha_replay
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call, fixture_text

CTL = '/usr/bin/chef-server-ctl'
OLD = '15.9.20'
NEW = '15.10.12'
LEVEL = fixture_text('chef_server/migration_level.json')


def ctl(args, **kwargs):
    return call(args, command='chef-server-ctl', **kwargs)


VERSION_OLD = ctl(['version'], out=fixture_text('chef_server/version_15.9.20.txt'))
VERSION_NEW = ctl(['version'], out=fixture_text('chef_server/version_15.10.12.txt'))
STOP = ctl(['stop'], out='ok: down: nginx: 0s\n')
UPGRADE = ctl(['upgrade', '--yes'], out=fixture_text('chef_server/upgrade_ok.txt'))
START = ctl(['start'], out='ok: run: nginx: (pid 4242) 0s\n')
CLEANUP = ctl(['cleanup'])


@pytest.fixture
def host(tmp_path, monkeypatch):
    """Host paths of the module moved under tmp_path; returns them and a package file."""
    paths = dict(pending=tmp_path / 'var' / '.chefops-upgrade-pending',
                 level=tmp_path / 'upgrades' / 'migration-level',
                 licenses=tmp_path / 'accepted_licenses',
                 deb=tmp_path / 'chef-server-core_15.10.12-1_all.deb',
                 rpm=tmp_path / 'chef-server-core-15.10.12-1.el8.x86_64.rpm')
    monkeypatch.setattr(chef_server_upgrade, 'PENDING_FILE', str(paths['pending']))
    monkeypatch.setattr(chef_server_upgrade, 'MIGRATION_LEVEL_FILE', str(paths['level']))
    monkeypatch.setattr(chef_server_upgrade, 'LICENSE_DIR', str(paths['licenses']))
    paths['deb'].write_bytes(b'!<arch>\n')
    paths['rpm'].write_bytes(b'\xed\xab\xee\xdb')
    return paths


@pytest.fixture
def envs(monkeypatch):
    """The environ_update of every replayed command, in order."""
    seen = []
    original = chef_ha_replay.CommandReplay.__call__

    def recording(self, module, argv, **kwargs):
        seen.append(dict(kwargs.get('environ_update') or {}))
        return original(self, module, argv, **kwargs)

    monkeypatch.setattr(chef_ha_replay.CommandReplay, '__call__', recording)
    return seen


def args(host, **extra):
    result = dict(version=NEW, package=str(host['deb']), accept_license=True)
    result.update(extra)
    return result


def dpkg(host, rc=0, out='', err=''):
    return call(['-i', str(host['deb'])], rc=rc, out=out, err=err, command='dpkg')


def upgrade_writes_level(host):
    def effect():
        host['level'].parent.mkdir(exist_ok=True)
        host['level'].write_text(LEVEL)
    return ctl(['upgrade', '--yes'], out=fixture_text('chef_server/upgrade_ok.txt'), effect=effect)


def full_sequence(host, install):
    return [VERSION_OLD, STOP, install, VERSION_NEW, upgrade_writes_level(host), START, CLEANUP]


def pending_must_exist(host):
    def effect():
        assert json.loads(host['pending'].read_text()) == {'from': OLD, 'to': NEW}
    return effect


# -- parsers ---------------------------------------------------------------------------------------------------

def test_parse_version():
    assert _chef_server_ctl.parse_version('15.10.12\n') == '15.10.12'
    assert _chef_server_ctl.parse_version('Some notice\n\n14.0.58+20210105\n') == '14.0.58+20210105'


@pytest.mark.parametrize('text', ['', '\n', fixture_text('chef_server/version_error.txt'), 'version: 15.10.12\n'])
def test_parse_version_garbled(text):
    with pytest.raises(ChefCtlParseError):
        _chef_server_ctl.parse_version(text)


def test_parse_migration_level():
    assert _chef_server_ctl.parse_migration_level(LEVEL) == {'major': 1, 'minor': 42}


@pytest.mark.parametrize('text', [None, '', '{"major":1}', '[1, 42]', '{"major":"1","minor":42}', '{"major":1,',
                                  '{"major":true,"minor":42}'])
def test_parse_migration_level_garbled(text):
    with pytest.raises(ChefCtlParseError):
        _chef_server_ctl.parse_migration_level(text)


# -- module ----------------------------------------------------------------------------------------------------

def test_at_target_runs_only_version(run_module, host):
    run = run_module(chef_server_upgrade, args(host, version=OLD), [VERSION_OLD])
    assert run['changed'] is False
    assert run['old_version'] == OLD
    assert run['new_version'] == OLD
    assert run['steps'] == []
    assert run.commands == [[CTL, 'version']]
    assert not host['pending'].exists()


@pytest.mark.parametrize('check_mode', [False, True])
def test_an_older_version_is_refused_before_anything_runs(run_module, host, check_mode):
    run = run_module(chef_server_upgrade, args(host, version='15.9.3'), [VERSION_OLD], check_mode=check_mode)
    assert run.failed
    assert 'version 15.9.3 is older than the installed 15.9.20: Chef Infra Server cannot be downgraded' in run['msg']
    assert run['changed'] is False and run['steps'] == []
    assert run.commands == [[CTL, 'version']]
    assert not host['pending'].exists()


def test_a_build_suffix_does_not_count_as_older(run_module, host):
    run = run_module(chef_server_upgrade, args(host, version='15.10.12'),
                     [ctl(['version'], out='15.10.12+20230101\n')], check_mode=True)
    assert not run.failed and run['changed'] is True


def test_full_upgrade_from_deb(run_module, host, envs):
    calls = full_sequence(host, dpkg(host))
    calls[1] = ctl(['stop'], effect=pending_must_exist(host))
    run = run_module(chef_server_upgrade, args(host), calls)
    assert run['changed'] is True
    assert run['old_version'] == OLD
    assert run['new_version'] == NEW
    assert run['resumed'] is False
    assert [step['name'] for step in run['steps']] == ['stop', 'install', 'version', 'upgrade', 'start', 'cleanup']
    assert all(step['rc'] == 0 for step in run['steps'])
    assert run['steps'][1]['cmd'] == ['/usr/bin/dpkg', '-i', str(host['deb'])]
    assert run['migration_level'] == {'major': 1, 'minor': 42}
    assert run['node_state'] == 'upgraded to %s and running' % NEW
    assert not host['pending'].exists()
    # the license goes through the environment of `upgrade` only, never on argv
    assert all('--chef-license' not in arg for argv in run.commands for arg in argv)
    upgrade_env = envs[4]
    assert upgrade_env['CHEF_LICENSE'] == 'accept'
    assert [env.get('CHEF_LICENSE') for index, env in enumerate(envs) if index != 4] == [None] * 6
    assert envs[2]['DEBIAN_FRONTEND'] == 'noninteractive'


def test_second_run_is_idempotent(run_module, host):
    run_module(chef_server_upgrade, args(host), full_sequence(host, dpkg(host)))
    run = run_module(chef_server_upgrade, args(host), [VERSION_NEW])
    assert run['changed'] is False


def test_upgrade_from_rpm_file(run_module, host):
    rpm = call(['-U', '--replacepkgs', str(host['rpm'])], command='rpm')
    run = run_module(chef_server_upgrade, args(host, package=str(host['rpm'])), full_sequence(host, rpm))
    assert run['changed'] is True
    assert run['steps'][1]['cmd'] == ['/usr/bin/rpm', '-U', '--replacepkgs', str(host['rpm'])]


def test_upgrade_from_apt_repository(run_module, host, envs):
    spec = 'chef-server-core=15.10.12-1'
    apt = call(['install', '-y', '-q', spec], command='apt-get')
    run = run_module(chef_server_upgrade, args(host, package=spec), full_sequence(host, apt))
    assert run['changed'] is True
    assert envs[2]['DEBIAN_FRONTEND'] == 'noninteractive'


def test_upgrade_from_dnf_repository(run_module, host):
    def bin_path(self, name, required=False, opt_dirs=None):
        return None if name == 'apt-get' else os.path.join('/usr/bin', name)

    spec = 'chef-server-core-15.10.12'
    dnf = call(['install', '-y', spec], command='dnf')
    run = run_module(chef_server_upgrade, args(host, package=spec), full_sequence(host, dnf), bin_path=bin_path)
    assert run['steps'][1]['cmd'] == ['/usr/bin/dnf', 'install', '-y', spec]


def test_check_mode_predicts_and_runs_only_version(run_module, host):
    run = run_module(chef_server_upgrade, args(host), [VERSION_OLD], check_mode=True)
    assert run['changed'] is True
    assert run['new_version'] == NEW
    assert run.commands == [[CTL, 'version']]
    assert [step['name'] for step in run['steps']] == ['stop', 'install', 'version', 'upgrade', 'start', 'cleanup']
    assert run['steps'][3]['cmd'] == [CTL, 'upgrade', '--yes']
    assert not host['pending'].exists()


def test_check_mode_at_target(run_module, host):
    run = run_module(chef_server_upgrade, args(host), [VERSION_NEW], check_mode=True)
    assert run['changed'] is False


def test_upgrade_failure_names_step_and_state(run_module, host):
    failing = ctl(['upgrade', '--yes'], rc=1, out='Stopping services for the upgrade\n', err='partybus failed\n')
    run = run_module(chef_server_upgrade, args(host), [VERSION_OLD, STOP, dpkg(host), VERSION_NEW, failing])
    assert run.failed
    assert run['changed'] is True
    assert run['failed_step'] == 'upgrade'
    assert run['msg'].startswith('step upgrade failed (exit 1): services are stopped; the new package (15.10.12) '
                                 'is installed but chef-server-ctl upgrade failed')
    assert run['node_state'] in run['msg']
    assert run['rc'] == 1
    assert run['stdout'] == 'Stopping services for the upgrade\n'
    assert run['stderr'] == 'partybus failed\n'
    assert run['cmd'] == [CTL, 'upgrade', '--yes']
    assert [step['name'] for step in run['steps']] == ['stop', 'install', 'version', 'upgrade']
    assert host['pending'].exists()


def test_pending_record_is_written_whole_with_its_mode(run_module, host):
    failing = ctl(['upgrade', '--yes'], rc=1)
    run_module(chef_server_upgrade, args(host), [VERSION_OLD, STOP, dpkg(host), VERSION_NEW, failing])
    assert json.loads(host['pending'].read_text()) == {'from': OLD, 'to': NEW}
    assert oct(host['pending'].stat().st_mode & 0o7777) == oct(0o644)
    assert os.listdir(str(host['pending'].parent)) == [host['pending'].name]


def test_pending_record_that_cannot_be_written_stops_before_any_step(run_module, host, monkeypatch):
    def no_space(src, dst):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(_atomic_file.os, 'rename', no_space)
    run = run_module(chef_server_upgrade, args(host), [VERSION_OLD])
    assert run.failed
    assert run['msg'] == ('cannot record the upgrade in %s: [Errno 28] No space left on device; nothing was changed'
                          % host['pending'])
    assert os.listdir(str(host['pending'].parent)) == []


def test_rerun_after_failed_upgrade_finishes_the_sequence(run_module, host):
    failing = ctl(['upgrade', '--yes'], rc=1)
    run_module(chef_server_upgrade, args(host), [VERSION_OLD, STOP, dpkg(host), VERSION_NEW, failing])
    run = run_module(chef_server_upgrade, args(host), [VERSION_NEW, STOP, upgrade_writes_level(host), START,
                                                       CLEANUP])
    assert run['changed'] is True
    assert run['resumed'] is True
    assert [step['name'] for step in run['steps']] == ['stop', 'upgrade', 'start', 'cleanup']
    assert run['migration_level'] == {'major': 1, 'minor': 42}
    assert not host['pending'].exists()
    run = run_module(chef_server_upgrade, args(host), [VERSION_NEW])
    assert run['changed'] is False


def test_resume_in_check_mode(run_module, host):
    host['pending'].parent.mkdir()
    host['pending'].write_text('{"from": "15.9.20", "to": "15.10.12"}\n')
    run = run_module(chef_server_upgrade, args(host), [VERSION_NEW], check_mode=True)
    assert run['changed'] is True
    assert run['resumed'] is True
    assert [step['name'] for step in run['steps']] == ['stop', 'upgrade', 'start', 'cleanup']


def test_stop_failure(run_module, host):
    run = run_module(chef_server_upgrade, args(host), [VERSION_OLD, ctl(['stop'], rc=1, err='timeout: nginx\n')])
    assert run.failed
    assert run['failed_step'] == 'stop'
    assert 'the package was not changed' in run['node_state']
    assert run['cmd'] == [CTL, 'stop']


def test_install_failure(run_module, host):
    err = 'dpkg: error processing archive\n'
    run = run_module(chef_server_upgrade, args(host), [VERSION_OLD, STOP, dpkg(host, rc=1, err=err)])
    assert run.failed
    assert run['failed_step'] == 'install'
    assert run['node_state'].startswith('services are stopped; installing the new package failed')
    assert run['stderr'] == err
    assert run['cmd'] == ['/usr/bin/dpkg', '-i', str(host['deb'])]


def test_wrong_package_version(run_module, host):
    calls = [VERSION_OLD, STOP, dpkg(host), ctl(['version'], out='15.10.13\n')]
    run = run_module(chef_server_upgrade, args(host), calls)
    assert run.failed
    assert run['failed_step'] == 'version'
    assert 'installed version 15.10.13, not 15.10.12' in run['msg']
    assert 'chef-server-ctl upgrade did not run' in run['node_state']


def test_start_failure(run_module, host):
    calls = [VERSION_OLD, STOP, dpkg(host), VERSION_NEW, UPGRADE, ctl(['start'], rc=1)]
    run = run_module(chef_server_upgrade, args(host), calls)
    assert run.failed
    assert run['failed_step'] == 'start'
    assert 'chef-server-ctl start failed' in run['node_state']


def test_cleanup_failure_keeps_record(run_module, host):
    calls = [VERSION_OLD, STOP, dpkg(host), VERSION_NEW, UPGRADE, START, ctl(['cleanup'], rc=1)]
    run = run_module(chef_server_upgrade, args(host), calls)
    assert run.failed
    assert run['failed_step'] == 'cleanup'
    assert host['pending'].exists()


def test_license_required_before_anything_runs(run_module, host):
    run = run_module(chef_server_upgrade, args(host, accept_license=False), [VERSION_OLD])
    assert run.failed
    assert run['changed'] is False
    assert 'set accept_license=true' in run['msg']
    assert run.commands == [[CTL, 'version']]
    assert not host['pending'].exists()


def test_license_markers_on_host_suffice(run_module, host, envs):
    host['licenses'].mkdir()
    for name in ('chef_infra_server', 'chef_infra_client'):
        (host['licenses'] / name).write_text('name: %s\n' % name)
    run = run_module(chef_server_upgrade, args(host, accept_license=False), full_sequence(host, dpkg(host)))
    assert run['changed'] is True
    assert 'CHEF_LICENSE' not in envs[4]


def test_license_refused_by_upgrade(run_module, host):
    host['licenses'].mkdir()
    for name in ('chef_infra_server', 'chef_infra_client'):
        (host['licenses'] / name).write_text('name: %s\n' % name)
    refused = ctl(['upgrade', '--yes'], rc=172, out=fixture_text('chef_server/upgrade_license.txt'))
    calls = [VERSION_OLD, STOP, dpkg(host), VERSION_NEW, refused]
    run = run_module(chef_server_upgrade, args(host, accept_license=False), calls)
    assert run.failed
    assert 'exit 172 means the license is not accepted' in run['msg']


def test_missing_package_file(run_module, host):
    run = run_module(chef_server_upgrade, args(host, package=str(host['deb']) + '.missing.deb'), [])
    assert run.failed
    assert 'does not exist on this host' in run['msg']
    assert run.commands == []


def test_package_path_must_be_a_package_file(run_module, host):
    run = run_module(chef_server_upgrade, args(host, package='/var/tmp/chef-server-core.tar.gz'), [])
    assert run.failed
    assert 'not a .deb or .rpm file' in run['msg']
    assert run.commands == []


def test_version_unreadable(run_module, host):
    run = run_module(chef_server_upgrade, args(host), [
        ctl(['version'], rc=1, out=fixture_text('chef_server/version_error.txt'))])
    assert run.failed
    assert run['msg'].startswith('cannot determine the installed version')
    assert run['rc'] == 1
    assert run['cmd'] == [CTL, 'version']


def test_missing_migration_level_warns(run_module, host, warnings):
    calls = full_sequence(host, dpkg(host))
    calls[4] = UPGRADE
    run = run_module(chef_server_upgrade, args(host), calls)
    assert run['changed'] is True
    assert run['migration_level'] is None
    assert 'migration-level' in ' '.join(warnings)
