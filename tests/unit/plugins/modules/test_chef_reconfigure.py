"""chef_reconfigure on recorded chef-backend-ctl / chef-server-ctl calls."""

import hashlib
import os

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_reconfigure
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call

BACKEND_OK = call(['reconfigure', '--accept-license'], out='Chef Backend Reconfigured!\n')
SERVER_OK = call(['reconfigure', '--chef-license=accept'], out='Chef Infra Server Reconfigured!\n',
                 command='chef-server-ctl')


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def files(tmp_path):
    config = tmp_path / 'chef-backend.rb'
    config.write_text("publish_address '172.31.250.11'\n")
    return dict(config=config, state=tmp_path / 'state' / 'reconfigure.sha256', dir=tmp_path)


def backend_args(files, **extra):
    args = dict(product='chef-backend', config_file=str(files['config']), state_file=str(files['state']),
                accept_license=True)
    args.update(extra)
    return args


def record(files, data=None):
    files['state'].parent.mkdir(exist_ok=True)
    data = files['config'].read_bytes() if data is None else data
    files['state'].write_text('%s  %s\n' % (sha(data), files['config']))


def test_first_run_reconfigures_and_records(run_module, files):
    run = run_module(chef_reconfigure, backend_args(files), [BACKEND_OK])
    assert run['changed'] is True
    assert run['reason'] == 'configuration changed'
    assert run['changed_files'] == [str(files['config'])]
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl', 'reconfigure', '--accept-license']
    assert run['stdout'] == 'Chef Backend Reconfigured!\n'
    assert files['state'].read_text() == '%s  %s\n' % (sha(files['config'].read_bytes()), files['config'])
    assert oct(os.stat(str(files['state'])).st_mode & 0o777) == oct(0o600)


def test_unchanged_runs_nothing(run_module, files):
    record(files)
    run = run_module(chef_reconfigure, backend_args(files), [])
    assert run['changed'] is False
    assert run['changed_files'] == []
    assert run['cmd'] == []
    assert run['reason'] == 'configuration unchanged since the last successful reconfigure'


def test_second_run_after_first_is_idempotent(run_module, files):
    run_module(chef_reconfigure, backend_args(files), [BACKEND_OK])
    run = run_module(chef_reconfigure, backend_args(files), [])
    assert run['changed'] is False


def test_changed_config_reconfigures(run_module, files):
    record(files, b"publish_address '172.31.250.99'\n")
    run = run_module(chef_reconfigure, backend_args(files), [BACKEND_OK])
    assert run['changed'] is True
    assert run['changed_files'] == [str(files['config'])]


def test_force_reconfigures_unchanged(run_module, files):
    record(files)
    run = run_module(chef_reconfigure, backend_args(files, force=True), [BACKEND_OK])
    assert run['changed'] is True
    assert run['reason'] == 'forced'


def test_check_mode_predicts_and_runs_nothing(run_module, files):
    run = run_module(chef_reconfigure, backend_args(files), [], check_mode=True)
    assert run['changed'] is True
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl', 'reconfigure', '--accept-license']
    assert run.commands == []
    assert not files['state'].exists()


def test_check_mode_unchanged(run_module, files):
    record(files)
    run = run_module(chef_reconfigure, backend_args(files), [], check_mode=True)
    assert run['changed'] is False


def test_failure_does_not_record(run_module, files):
    run = run_module(chef_reconfigure, backend_args(files), [
        call(['reconfigure', '--accept-license'], rc=1, out='Running handlers\n', err='Chef run failed\n')])
    assert run.failed
    assert run['changed'] is True
    assert run['msg'] == 'chef-backend-ctl reconfigure failed (exit 1)'
    assert run['rc'] == 1
    assert run['stderr'] == 'Chef run failed\n'
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl', 'reconfigure', '--accept-license']
    assert not files['state'].exists()


def test_failure_keeps_previous_record(run_module, files):
    record(files, b'old\n')
    before = files['state'].read_text()
    run = run_module(chef_reconfigure, backend_args(files), [
        call(['reconfigure', '--accept-license'], rc=1)])
    assert run.failed
    assert files['state'].read_text() == before


def test_backend_without_license_flag(run_module, files):
    msg = ('To use this software, you must agree to the terms of the software license agreement.\n'
           'Please view and accept the software license agreement, or pass --accept-license.\n')
    run = run_module(chef_reconfigure, backend_args(files, accept_license=False), [
        call(['reconfigure'], rc=1, out=msg)])
    assert run.failed
    assert 'set accept_license=true' in run['msg']


def test_chef_server_first_frontend_records_files_created_by_reconfigure(run_module, tmp_path):
    config = tmp_path / 'chef-server.rb'
    config.write_text('fqdn "fe1.chefops.test"\n')
    secrets = tmp_path / 'private-chef-secrets.json'
    level = tmp_path / 'migration-level'

    def first_reconfigure():
        secrets.write_text('{"veil": {}}\n')
        level.write_text('{"major":1,"minor":37}\n')

    args = dict(product='chef-server', config_file=str(config), state_file=str(tmp_path / 'fe.sha256'),
                accept_license=True, extra_files=[str(secrets), str(level)])
    run = run_module(chef_reconfigure, args, [], check_mode=True)
    assert run['changed'] is True
    assert run['cmd'] == ['/usr/bin/chef-server-ctl', 'reconfigure', '--chef-license=accept']
    assert run['checksums'][str(secrets)] == 'absent'

    run = run_module(chef_reconfigure, args, [
        call(['reconfigure', '--chef-license=accept'], out='Chef Infra Server Reconfigured!\n',
             command='chef-server-ctl', effect=first_reconfigure)])
    assert run['changed'] is True
    assert run['checksums'][str(level)] == sha(b'{"major":1,"minor":37}\n')
    # the record was taken after the reconfigure that created the files: the next run has nothing to do
    assert run_module(chef_reconfigure, args, [])['changed'] is False


def test_chef_server_copied_secrets_trigger(run_module, tmp_path):
    config = tmp_path / 'chef-server.rb'
    config.write_text('fqdn "fe2.chefops.test"\n')
    secrets = tmp_path / 'private-chef-secrets.json'
    args = dict(product='chef-server', config_file=str(config), state_file=str(tmp_path / 'fe.sha256'),
                accept_license=True, extra_files=[str(secrets)])
    run_module(chef_reconfigure, args, [SERVER_OK])
    secrets.write_text('{"veil": {"copied": "from fe1"}}\n')
    run = run_module(chef_reconfigure, args, [SERVER_OK])
    assert run['changed'] is True
    assert run['changed_files'] == [str(secrets)]


def test_chef_server_license_exit_code(run_module, tmp_path):
    config = tmp_path / 'chef-server.rb'
    config.write_text('fqdn "fe1"\n')
    args = dict(product='chef-server', config_file=str(config), state_file=str(tmp_path / 's'))
    run = run_module(chef_reconfigure, args, [
        call(['reconfigure'], rc=172, out='Chef Infra Server cannot execute without accepting the license\n',
             command='chef-server-ctl')])
    assert run.failed
    assert run['rc'] == 172
    assert 'accept_license=true' in run['msg']


def test_extra_file_change_triggers(run_module, files):
    extra = files['dir'] / 'private-chef-secrets.json'
    extra.write_text('{"a": 1}\n')
    args = backend_args(files, extra_files=[str(extra)])
    run_module(chef_reconfigure, args, [BACKEND_OK])
    assert run_module(chef_reconfigure, args, [])['changed'] is False
    extra.write_text('{"a": 2}\n')
    run = run_module(chef_reconfigure, args, [BACKEND_OK])
    assert run['changed'] is True
    assert run['changed_files'] == [str(extra)]


def test_dropping_an_extra_file_triggers(run_module, files):
    extra = files['dir'] / 'migration-level'
    extra.write_text('{"major":1,"minor":37}\n')
    run_module(chef_reconfigure, backend_args(files, extra_files=[str(extra)]), [BACKEND_OK])
    run = run_module(chef_reconfigure, backend_args(files), [], check_mode=True)
    assert run['changed'] is True
    assert run['changed_files'] == [str(extra)]


def test_garbled_record_triggers(run_module, files):
    files['state'].parent.mkdir()
    files['state'].write_text('garbage\n')
    run = run_module(chef_reconfigure, backend_args(files), [], check_mode=True)
    assert run['changed'] is True


def test_missing_config_file_fails(run_module, files):
    run = run_module(chef_reconfigure, backend_args(files, config_file=str(files['dir'] / 'nope.rb')), [])
    assert run.failed
    assert 'does not exist; render it before the reconfigure' in run['msg']
    assert run.commands == []


def test_unreadable_record_directory_fails_after_reconfigure(run_module, files):
    blocker = files['dir'] / 'blocker'
    blocker.write_text('a file where a directory should be')
    run = run_module(chef_reconfigure, backend_args(files, state_file=str(blocker / 'state')), [BACKEND_OK])
    assert run.failed
    assert run['changed'] is True
    assert 'could not be written' in run['msg']


def test_default_paths_by_product():
    assert chef_reconfigure.PRODUCTS['chef-backend']['config_file'] == '/etc/chef-backend/chef-backend.rb'
    assert chef_reconfigure.PRODUCTS['chef-backend']['state_file'] == \
        '/var/opt/chef-backend/.chefops-reconfigure.sha256'
    assert chef_reconfigure.PRODUCTS['chef-server']['config_file'] == '/etc/opscode/chef-server.rb'
    assert chef_reconfigure.PRODUCTS['chef-server']['state_file'] == '/var/opt/opscode/.chefops-reconfigure.sha256'


def test_mark_applied_records_without_running_anything(run_module, files):
    run = run_module(chef_reconfigure, backend_args(files, mark_applied=True), [])
    assert run['changed'] is True
    assert run['reason'] == 'configuration recorded as applied'
    assert run['cmd'] == []
    assert files['state'].read_text() == '%s  %s\n' % (sha(files['config'].read_bytes()), files['config'])
    again = run_module(chef_reconfigure, backend_args(files), [])
    assert again['changed'] is False


def test_mark_applied_on_a_recorded_config_changes_nothing(run_module, files):
    record(files)
    before = files['state'].read_text()
    run = run_module(chef_reconfigure, backend_args(files, mark_applied=True), [])
    assert run['changed'] is False
    assert files['state'].read_text() == before


def test_mark_applied_in_check_mode_writes_nothing(run_module, files):
    run = run_module(chef_reconfigure, backend_args(files, mark_applied=True), [], check_mode=True)
    assert run['changed'] is True
    assert not files['state'].exists()


def test_mark_applied_and_force_exclude_each_other(run_module, files):
    run = run_module(chef_reconfigure, backend_args(files, mark_applied=True, force=True), [])
    assert run.failed
    assert 'mutually exclusive' in run['msg']
    assert not files['state'].exists()
