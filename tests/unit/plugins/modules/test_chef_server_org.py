"""chef_server_org on recorded chef-server-ctl calls."""

import os

import pytest

from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_server_ctl
from ansible_collections.chefops.chef_ha.plugins.modules import chef_server_org
from ansible_collections.chefops.chef_ha.tests.unit.plugins import chef_ha_replay as replay

CTL = '/usr/bin/chef-server-ctl'
KEY = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAvalidatorkeymaterial\n-----END RSA PRIVATE KEY-----\n'
LIST_WITH = replay.call(['org-list'], out=replay.fixture_text('chef_server/org_list.txt'), command='chef-server-ctl')
LIST_EMPTY = replay.call(['org-list'], out='', command='chef-server-ctl')


def args(keydir, **extra):
    result = dict(name='acme', full_name='Acme Widgets, Inc.', association_user='admin',
                  validator_path=str(keydir / 'acme-validator.pem'))
    result.update(extra)
    return result


def drop_path(keydir):
    return str(keydir / replay.DROP_NAME / 'acme-validator.pem')


def create_call(keydir, rc=0, out='', err='', writes=KEY, assoc=True):
    argv = ['org-create', 'acme', 'Acme Widgets, Inc.'] + (['-a', 'admin'] if assoc else []) + ['-f']
    return replay.key_create_call(argv, keydir, 'acme-validator.pem', writes, rc=rc, out=out, err=err)


def test_existing_org_runs_only_org_list(run_module, keydir):
    run = run_module(chef_server_org, args(keydir, name='chefops'), [LIST_WITH])
    assert run['changed'] is False
    assert run['created'] is False
    assert run['key_written'] is False
    assert run.commands == [[CTL, 'org-list']]
    assert os.listdir(str(keydir)) == []


def test_creates_org_and_validator_0600(run_module, keydir):
    run = run_module(chef_server_org, args(keydir), [LIST_WITH, create_call(keydir)])
    assert run['changed'] is True
    assert run['created'] is True
    assert run['key_written'] is True
    replay.assert_private_file(keydir / 'acme-validator.pem', KEY)
    assert os.listdir(str(keydir)) == ['acme-validator.pem']
    assert run['cmd'] == [CTL, 'org-create', 'acme', 'Acme Widgets, Inc.', '-a', 'admin', '-f', drop_path(keydir)]
    assert 'PRIVATE KEY' not in run.raw


def test_without_association_user(run_module, keydir):
    run = run_module(chef_server_org, args(keydir, association_user=None), [LIST_EMPTY,
                                                                            create_call(keydir, assoc=False)])
    assert run['changed'] is True
    assert '-a' not in run['cmd']


def test_second_run_is_idempotent(run_module, keydir):
    run_module(chef_server_org, args(keydir), [LIST_EMPTY, create_call(keydir)])
    run = run_module(chef_server_org, args(keydir), [replay.call(['org-list'], out='acme\n', command='chef-server-ctl')])
    assert run['changed'] is False


def test_key_printed_on_stdout_is_masked(run_module, keydir):
    run = run_module(chef_server_org, args(keydir), [LIST_EMPTY, create_call(keydir, out=KEY)])
    assert run['stdout'] == '********\n'
    assert 'PRIVATE KEY' not in run.raw


def test_check_mode_runs_only_org_list(run_module, keydir):
    run = run_module(chef_server_org, args(keydir), [LIST_WITH], check_mode=True)
    assert run['changed'] is True
    assert run['created'] is True
    assert run.commands == [[CTL, 'org-list']]
    assert run['cmd'] == [CTL, 'org-create', 'acme', 'Acme Widgets, Inc.', '-a', 'admin', '-f',
                          str(keydir / 'acme-validator.pem')]
    assert os.listdir(str(keydir)) == []


def test_check_mode_existing_org(run_module, keydir):
    run = run_module(chef_server_org, args(keydir, name='other-org'), [LIST_WITH], check_mode=True)
    assert run['changed'] is False


def test_conflict_from_a_race_counts_as_existing(run_module, keydir, warnings):
    conflict = create_call(keydir, rc=100, err=replay.fixture_text('chef_server/org_create_conflict.txt'), writes=None)
    run = run_module(chef_server_org, args(keydir), [LIST_EMPTY, conflict,
                                                     replay.call(['org-list'], out='acme\n', command='chef-server-ctl')])
    assert not run.failed
    assert run['changed'] is False
    assert run['key_written'] is False
    assert 'created by someone else' in ' '.join(warnings)
    assert os.listdir(str(keydir)) == []


def test_conflict_but_not_listed_fails(run_module, keydir):
    conflict = create_call(keydir, rc=100, err=replay.fixture_text('chef_server/org_create_conflict.txt'), writes=None)
    run = run_module(chef_server_org, args(keydir), [LIST_EMPTY, conflict, LIST_EMPTY])
    assert run.failed
    assert run['rc'] == 100


def test_unknown_association_user_fails(run_module, keydir):
    err = 'ERROR: The object you are looking for could not be found\nResponse: Cannot find a user admin\n'
    run = run_module(chef_server_org, args(keydir), [LIST_EMPTY, create_call(keydir, rc=100, err=err, writes=None)])
    assert run.failed
    assert run['msg'] == 'chef-server-ctl org-create acme failed (exit 100); the organization was not created'
    assert run['rc'] == 100
    assert run['stderr'] == err
    assert run['stdout'] == ''
    assert run['cmd'][:3] == [CTL, 'org-create', 'acme']
    assert os.listdir(str(keydir)) == []


def test_org_list_failure(run_module, keydir):
    run = run_module(chef_server_org, args(keydir), [
        replay.call(['org-list'], rc=100, err=replay.fixture_text('chef_server/network_error.txt'), command='chef-server-ctl')])
    assert run.failed
    assert run['msg'].startswith('chef-server-ctl org-list failed (exit 100)')
    assert run['cmd'] == [CTL, 'org-list']


def test_created_without_key_fails_loudly(run_module, keydir):
    run = run_module(chef_server_org, args(keydir), [LIST_EMPTY, create_call(keydir, writes=None)])
    assert run.failed
    assert run['changed'] is True
    assert 'wrote no validator key' in run['msg']


@pytest.mark.parametrize('name', ['Acme', '-acme', '_acme', 'ac me', 'acme.org', '', 'a' * 256])
def test_invalid_org_name(run_module, keydir, name):
    run = run_module(chef_server_org, args(keydir, name=name), [])
    assert run.failed
    assert 'is not a valid organization name' in run['msg']
    assert run.commands == []


@pytest.mark.parametrize('name', ['a', '0', 'a-b_c', 'a' * 255])
def test_valid_org_names(name):
    assert _chef_server_ctl.ORG_NAME_RE.match(name)


@pytest.mark.parametrize('full_name, problem', [
    ('', 'it is empty'),
    (' Acme', 'it starts with whitespace'),
    ('\tAcme', 'it starts with whitespace'),
    ('x' * 1024, 'it is 1024 characters long (at most 1023)'),
])
def test_invalid_full_name(run_module, keydir, full_name, problem):
    run = run_module(chef_server_org, args(keydir, full_name=full_name), [])
    assert run.failed
    assert problem in run['msg']
    assert run.commands == []


def test_full_name_limits():
    assert _chef_server_ctl.full_name_problem('x' * 1023) is None
    assert _chef_server_ctl.full_name_problem('A') is None


def test_validator_directory_must_exist(run_module, keydir):
    run = run_module(chef_server_org, args(keydir, validator_path=str(keydir / 'no' / 'v.pem')), [])
    assert run.failed
    assert 'does not exist' in run['msg']
