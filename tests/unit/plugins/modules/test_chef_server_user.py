"""chef_server_user on recorded chef-server-ctl calls, and the chef-server-ctl list and masking helpers."""

import os

import pytest

from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_server_ctl, _ctl_runner
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import ChefCtlParseError
from ansible_collections.chefops.chef_ha.plugins.modules import chef_server_user
from ansible_collections.chefops.chef_ha.tests.unit.plugins import chef_ha_replay
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import (
    DROP_NAME,
    assert_private_file,
    call,
    fixture_text,
    key_create_call,
    mode_of,
)

CTL = '/usr/bin/chef-server-ctl'
PASSWORD = 'S3cret-pa55word-7f1c'
KEY = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAtestkeymaterial\n-----END RSA PRIVATE KEY-----\n'
LIST_WITHOUT = call(['user-list'], out=fixture_text('chef_server/user_list_pivotal_only.txt'),
                    command='chef-server-ctl')
LIST_WITH = call(['user-list'], out=fixture_text('chef_server/user_list.txt'), command='chef-server-ctl')


def args(keydir, **extra):
    result = dict(username='admin', first_name='Chef', last_name='Admin', email='admin@example.com',
                  password=PASSWORD, key_path=str(keydir / 'admin.pem'))
    result.update(extra)
    return result


def drop_path(keydir, name='admin.pem'):
    return str(keydir / DROP_NAME / name)


def create_call(keydir, rc=0, out='', err='Created admin\n', writes=KEY, file_mode=0o644):
    argv = ['user-create', 'admin', 'Chef', 'Admin', 'admin@example.com', PASSWORD, '-f']
    return key_create_call(argv, keydir, 'admin.pem', writes, rc=rc, out=out, err=err, file_mode=file_mode)


def leftovers(keydir):
    return sorted(name for name in os.listdir(str(keydir)) if name != 'admin.pem')


# -- helpers ---------------------------------------------------------------------------------------------------

def test_parse_name_list():
    assert _chef_server_ctl.parse_name_list(fixture_text('chef_server/user_list.txt')) == ['admin', 'jdoe', 'pivotal']
    assert _chef_server_ctl.parse_name_list('\n  admin  \r\n\n') == ['admin']
    assert _chef_server_ctl.parse_name_list('') == []


def test_parse_name_list_garbled():
    with pytest.raises(ChefCtlParseError):
        _chef_server_ctl.parse_name_list(fixture_text('chef_server/list_garbled.txt'))


def test_is_conflict():
    assert _chef_server_ctl.is_conflict(100, '', fixture_text('chef_server/user_create_conflict.txt'))
    assert not _chef_server_ctl.is_conflict(100, '', fixture_text('chef_server/network_error.txt'))
    assert not _chef_server_ctl.is_conflict(1, 'ERROR: Conflict', '')


def test_mask_text_and_argv():
    text = 'pw %s then\n%sdone' % (PASSWORD, KEY)
    assert _ctl_runner.mask_text(text, [PASSWORD]) == 'pw ******** then\n********\ndone'
    truncated = '-----BEGIN PRIVATE KEY-----\nMIIEv'
    assert _ctl_runner.mask_text(truncated) == '********'
    assert _ctl_runner.mask_argv(['x', PASSWORD, 'a=%s' % PASSWORD], [PASSWORD]) == ['x', '********',
                                                                                          'a=********']


# -- module ----------------------------------------------------------------------------------------------------

def test_existing_user_runs_only_user_list(run_module, keydir):
    run = run_module(chef_server_user, args(keydir), [LIST_WITH])
    assert run['changed'] is False
    assert run['created'] is False
    assert run['key_written'] is False
    assert run['cmd'] == []
    assert run.commands == [[CTL, 'user-list']]
    assert os.listdir(str(keydir)) == []
    assert PASSWORD not in run.raw


def test_creates_user_and_key_0600(run_module, keydir):
    run = run_module(chef_server_user, args(keydir), [LIST_WITHOUT, create_call(keydir)])
    assert run['changed'] is True
    assert run['created'] is True
    assert run['key_written'] is True
    assert_private_file(keydir / 'admin.pem', KEY)
    assert leftovers(keydir) == []
    assert run['cmd'] == [CTL, 'user-create', 'admin', 'Chef', 'Admin', 'admin@example.com', '********', '-f',
                          drop_path(keydir)]
    assert run['stderr'] == 'Created admin\n'
    assert PASSWORD not in run.raw
    assert 'PRIVATE KEY' not in run.raw


def test_second_run_is_idempotent(run_module, keydir):
    run_module(chef_server_user, args(keydir), [LIST_WITHOUT, create_call(keydir)])
    run = run_module(chef_server_user, args(keydir), [LIST_WITH])
    assert run['changed'] is False


def test_existing_key_file_is_replaced(run_module, keydir):
    key_path = keydir / 'admin.pem'
    key_path.write_text('old key\n')
    os.chmod(str(key_path), 0o644)
    run = run_module(chef_server_user, args(keydir), [LIST_WITHOUT, create_call(keydir)])
    assert run['changed'] is True
    assert key_path.read_text() == KEY
    assert mode_of(str(key_path)) == 0o600


def test_check_mode_runs_only_user_list(run_module, keydir):
    run = run_module(chef_server_user, args(keydir), [LIST_WITHOUT], check_mode=True)
    assert run['changed'] is True
    assert run['created'] is True
    assert run['key_written'] is False
    assert run.commands == [[CTL, 'user-list']]
    assert run['cmd'] == [CTL, 'user-create', 'admin', 'Chef', 'Admin', 'admin@example.com', '********', '-f',
                          str(keydir / 'admin.pem')]
    assert os.listdir(str(keydir)) == []
    assert PASSWORD not in run.raw


def test_check_mode_existing_user(run_module, keydir):
    run = run_module(chef_server_user, args(keydir), [LIST_WITH], check_mode=True)
    assert run['changed'] is False
    assert run.commands == [[CTL, 'user-list']]


def test_conflict_from_a_race_counts_as_existing(run_module, keydir, warnings):
    conflict = create_call(keydir, rc=100, err=fixture_text('chef_server/user_create_conflict.txt'), writes=None)
    run = run_module(chef_server_user, args(keydir), [LIST_WITHOUT, conflict, LIST_WITH])
    assert not run.failed
    assert run['changed'] is False
    assert run['created'] is False
    assert run['key_written'] is False
    assert 'created by someone else' in ' '.join(warnings)
    assert os.listdir(str(keydir)) == []
    assert PASSWORD not in run.raw


def test_conflict_on_email_fails(run_module, keydir):
    conflict = create_call(keydir, rc=100, err=fixture_text('chef_server/user_create_conflict.txt'), writes=None)
    run = run_module(chef_server_user, args(keydir), [LIST_WITHOUT, conflict, LIST_WITHOUT])
    assert run.failed
    assert 'e-mail address admin@example.com belongs to another user' in run['msg']
    assert run['rc'] == 100
    assert run['stderr'] == fixture_text('chef_server/user_create_conflict.txt')
    assert '********' in run['cmd']
    assert os.listdir(str(keydir)) == []
    assert PASSWORD not in run.raw


def test_other_failure_masks_password_everywhere(run_module, keydir):
    err = 'ERROR: The data in your request was invalid\nResponse: password %s rejected\n' % PASSWORD
    failing = create_call(keydir, rc=100, out='echo %s\n' % PASSWORD, err=err, writes=None)
    run = run_module(chef_server_user, args(keydir), [LIST_WITHOUT, failing])
    assert run.failed
    assert run['msg'] == 'chef-server-ctl user-create admin failed (exit 100); the user was not created'
    assert run['rc'] == 100
    assert run['stdout'] == 'echo ********\n'
    assert run['stderr'].endswith('password ******** rejected\n')
    assert run['cmd'][6] == '********'
    assert PASSWORD not in run.raw
    assert os.listdir(str(keydir)) == []


def test_user_list_failure(run_module, keydir):
    run = run_module(chef_server_user, args(keydir), [
        call(['user-list'], rc=100, err=fixture_text('chef_server/network_error.txt'), command='chef-server-ctl')])
    assert run.failed
    assert run['msg'].startswith('chef-server-ctl user-list failed (exit 100)')
    assert run['rc'] == 100
    assert 'Connection refused' in run['stderr']
    assert run['cmd'] == [CTL, 'user-list']


def test_user_list_garbled(run_module, keydir):
    run = run_module(chef_server_user, args(keydir), [
        call(['user-list'], out=fixture_text('chef_server/list_garbled.txt'), command='chef-server-ctl')])
    assert run.failed
    assert run['msg'].startswith('cannot read chef-server-ctl user-list output')


def test_created_without_key_fails_loudly(run_module, keydir):
    run = run_module(chef_server_user, args(keydir), [LIST_WITHOUT, create_call(keydir, writes=None)])
    assert run.failed
    assert run['changed'] is True
    assert 'was created, but chef-server-ctl wrote no private key' in run['msg']
    assert os.listdir(str(keydir)) == []


def test_key_written_even_if_ctl_makes_it_world_readable(run_module, keydir):
    run = run_module(chef_server_user, args(keydir), [LIST_WITHOUT, create_call(keydir, file_mode=0o666)])
    assert run['key_written'] is True
    assert mode_of(str(keydir / 'admin.pem')) == 0o600


def test_real_private_directory_is_0700_and_removed(run_module, tmp_path, monkeypatch):
    """With the real temporary directory: its random name is taken from the argv the module passes."""
    keydir = tmp_path / 'real'
    keydir.mkdir()
    seen = {}
    original = chef_ha_replay.CommandReplay.__call__

    def replay_any_key_path(self, module, argv, **kwargs):
        if argv[1:2] == ['user-create']:
            seen['mode'] = mode_of(os.path.dirname(argv[-1]))
            assert argv[:-1] == [CTL, 'user-create', 'admin', 'Chef', 'Admin', 'admin@example.com', PASSWORD, '-f']
            self.expected[0]['argv'] = list(argv)
            with open(argv[-1], 'w') as handle:
                handle.write(KEY)
        return original(self, module, argv, **kwargs)

    monkeypatch.setattr(chef_ha_replay.CommandReplay, '__call__', replay_any_key_path)
    run = run_module(chef_server_user, args(keydir), [LIST_WITHOUT, call(['user-create'], command='chef-server-ctl')])
    assert run['key_written'] is True
    assert seen['mode'] == 0o700
    assert os.listdir(str(keydir)) == ['admin.pem']
    assert mode_of(str(keydir / 'admin.pem')) == 0o600


@pytest.mark.parametrize('field, value, message', [
    ('password', '-S3cret', 'password ******** starts with "-"'),
    ('username', 'ad min', 'contains whitespace'),
    ('email', 'not-an-address', 'is not an e-mail address'),
    ('first_name', ' ', 'first_name must not be empty'),
])
def test_bad_input_fails_before_any_command(run_module, keydir, field, value, message):
    run = run_module(chef_server_user, args(keydir, **{field: value}), [])
    assert run.failed
    assert message in run['msg']
    assert run.commands == []
    assert '-S3cret' not in run.raw


def test_key_directory_must_exist(run_module, keydir):
    run = run_module(chef_server_user, args(keydir, key_path=str(keydir / 'missing' / 'admin.pem')), [])
    assert run.failed
    assert 'does not exist' in run['msg']


def test_key_path_must_be_absolute(run_module, keydir):
    run = run_module(chef_server_user, args(keydir, key_path='admin.pem'), [])
    assert run.failed
    assert 'absolute path' in run['msg']
