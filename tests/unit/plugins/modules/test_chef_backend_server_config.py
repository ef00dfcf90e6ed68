"""chef_backend_server_config on recorded chef-backend-ctl calls."""

import os

import pytest

from ansible_collections.chefops.chef_ha.plugins.module_utils import _atomic_file
from ansible_collections.chefops.chef_ha.plugins.modules import chef_backend_server_config
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call, fixture_text, mode_of

FQDN = 'fe1.chefops.test'
PASSWORD = '3f9c1d7be2a84c06a5e1b0d9f47e6c2a18b5d0e3f6a7c9b2d4e8f1a3c5b7d9e0f2a4c6b8d0e1f3a5c7'
CONFIG = fixture_text('gen_server_config_fe1.rb')
GEN = call(['gen-server-config', FQDN], out=CONFIG)


@pytest.fixture
def dest(tmp_path):
    return str(tmp_path / 'chef-server.rb.fe1')


def existing(dest, mode, text=CONFIG):
    """dest as an earlier run left it: text with mode."""
    with open(dest, 'w') as handle:
        handle.write(text)
    os.chmod(dest, mode)


def test_returns_content_with_password_hidden(run_module):
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN), [GEN])
    assert run['changed'] is False
    assert PASSWORD not in run.raw
    assert run['content'] == CONFIG.replace(PASSWORD, '********')
    assert run['fqdn'] == FQDN
    assert run['chef_backend_members'] == ['172.31.250.11', '172.31.250.12', '172.31.250.13']
    assert 'dest' not in run.result


def test_writes_new_file_with_mode_and_masked_diff(run_module, dest):
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest), [GEN], diff=True)
    assert run['changed'] is True
    with open(dest) as handle:
        assert handle.read() == CONFIG
    assert mode_of(dest) == 0o640
    assert PASSWORD not in run.raw
    assert run['diff']['before'] == ''
    assert "postgresql['db_superuser_password'] = '********'" in run['diff']['after']
    assert run['diff']['after_header'] == dest
    assert [p for p in os.listdir(os.path.dirname(dest)) if p != os.path.basename(dest)] == []


def test_unchanged_file_is_not_rewritten(run_module, dest):
    existing(dest, 0o640)
    before = os.stat(dest).st_ino
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest), [GEN], diff=True)
    assert run['changed'] is False
    assert 'diff' not in run.result
    assert os.stat(dest).st_ino == before


def test_mode_only_change(run_module, dest):
    existing(dest, 0o644)
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest, mode='0600'), [GEN])
    assert run['changed'] is True
    assert mode_of(dest) == 0o600


def test_changed_members_replace_file_and_mask_old_password(run_module, dest):
    # the configuration generated while the cluster had one member, with another password
    old = CONFIG.replace('chef_backend_members ["172.31.250.11", "172.31.250.12", "172.31.250.13"]',
                         'chef_backend_members ["172.31.250.11"]').replace(PASSWORD, 'oldsecret-0123')
    assert old.count('chef_backend_members ["172.31.250.11"]') == 1
    existing(dest, 0o600, old)
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest, mode='0600'), [GEN], diff=True)
    assert run['changed'] is True
    assert 'oldsecret-0123' not in run.raw
    assert PASSWORD not in run.raw
    assert 'chef_backend_members ["172.31.250.11"]' in run['diff']['before']
    assert "'********'" in run['diff']['before']
    with open(dest) as handle:
        assert handle.read() == CONFIG
    assert mode_of(dest) == 0o600


def test_check_mode_predicts_and_writes_nothing(run_module, dest):
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest), [GEN], check_mode=True, diff=True)
    assert run['changed'] is True
    assert not os.path.exists(dest)
    assert PASSWORD not in run.raw
    assert run.commands == [['/usr/bin/chef-backend-ctl', 'gen-server-config', FQDN]]


def test_check_mode_unchanged(run_module, dest):
    existing(dest, 0o640)
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest), [GEN], check_mode=True)
    assert run['changed'] is False


def test_check_mode_predicts_mode_change_without_applying(run_module, dest):
    existing(dest, 0o644)
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest), [GEN], check_mode=True)
    assert run['changed'] is True
    assert mode_of(dest) == 0o644


def test_not_in_cluster_fails_clearly(run_module, dest):
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest), [
        call(['gen-server-config', FQDN], rc=1, err='Could not load the cluster state from etcd\n'),
        call(['cluster-status', '--json'], rc=1, err='Unable to reach etcd\n'),
    ])
    assert run.failed
    assert run['msg'].startswith('this node is not in a Chef Backend cluster')
    assert run['rc'] == 1
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl', 'gen-server-config', FQDN]
    assert run['stderr'] == 'Could not load the cluster state from etcd\n'
    assert not os.path.exists(dest)


def test_other_failure_in_cluster(run_module):
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN), [
        call(['gen-server-config', FQDN], rc=2, err='boom\n'),
        call(['cluster-status', '--json'], out=fixture_text('cluster_status_list.json')),
    ])
    assert run.failed
    assert run['msg'] == 'gen-server-config fe1.chefops.test failed (exit 2)'


def test_garbled_output_fails_and_writes_nothing(run_module, dest):
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest), [
        call(['gen-server-config', FQDN], out=fixture_text('gen_server_config_garbled.txt'))])
    assert run.failed
    assert run['msg'].startswith('cannot read gen-server-config output')
    assert not os.path.exists(dest)


def test_output_for_another_fqdn_fails(run_module):
    run = run_module(chef_backend_server_config, dict(fqdn='fe2.chefops.test'), [
        call(['gen-server-config', 'fe2.chefops.test'], out=CONFIG)])
    assert run.failed
    assert "expected 'fe2.chefops.test'" in run['msg']
    assert PASSWORD not in run.raw


def test_output_without_password_fails(run_module):
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN), [
        call(['gen-server-config', FQDN], out=fixture_text('gen_server_config_no_password.rb'))])
    assert run.failed
    assert 'no postgresql db_superuser_password' in run['msg']


@pytest.mark.parametrize('fqdn', ['', 'fe1..chefops.test', '-fe1.chefops.test', 'fe_1.chefops.test',
                                  'fe1.chefops.test; rm -rf /', 'a' * 64 + '.example.com', '10.0.0.1',
                                  'fe1.chefops.test.'])
def test_invalid_fqdn_fails_before_any_command(run_module, fqdn):
    run = run_module(chef_backend_server_config, dict(fqdn=fqdn), [])
    assert run.failed
    assert 'fqdn must be a DNS name' in run['msg']
    assert run.commands == []


@pytest.mark.parametrize('fqdn', ['fe1', 'fe1.chefops.test', 'chef-fe-01.eu-west-1.example.com'])
def test_valid_fqdn(fqdn):
    assert chef_backend_server_config.valid_fqdn(fqdn)


def test_dest_directory_fails(run_module, tmp_path):
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=str(tmp_path)), [])
    assert run.failed
    assert 'is a directory' in run['msg']


def test_dest_parent_missing_fails(run_module, tmp_path):
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=str(tmp_path / 'no' / 'file.rb')), [])
    assert run.failed
    assert 'does not exist' in run['msg']


def test_new_file_has_its_mode_before_it_gets_its_name(run_module, dest, monkeypatch):
    seen = []
    real_rename = os.rename

    def rename(src, dst):
        seen.append((dst, mode_of(src)))
        return real_rename(src, dst)

    monkeypatch.setattr(_atomic_file.os, 'rename', rename)
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest, mode='0640'), [GEN])
    assert run['changed'] is True
    assert seen == [(dest, 0o640)]
    assert mode_of(dest) == 0o640


def test_failed_write_keeps_the_old_file(run_module, dest, monkeypatch):
    with open(dest, 'w') as handle:
        handle.write('old\n')

    def no_space(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(_atomic_file.os, 'fsync', no_space)
    run = run_module(chef_backend_server_config, dict(fqdn=FQDN, dest=dest), [GEN])
    assert run.failed
    assert run['msg'] == 'cannot write %s: [Errno 28] No space left on device' % dest
    with open(dest) as handle:
        assert handle.read() == 'old\n'
    assert os.listdir(os.path.dirname(dest)) == [os.path.basename(dest)]
