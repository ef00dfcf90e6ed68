# -*- coding: utf-8 -*-
"""The ctl runner's time limit: every command runs under coreutils timeout, reads with a short limit and changes with
a long one unless the module's ctl_timeout says otherwise; a command that hangs is stopped with its children and the
module fails naming it."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import json
import os
import subprocess
import time

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.chefops.chef_ha.plugins.module_utils import _ctl_runner
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner, ctl_argument_spec
from ansible_collections.chefops.chef_ha.plugins.modules import chef_backend_cluster, chef_backend_info
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call, fixture_text


@contextlib.contextmanager
def real_module(capsys, **params):
    """An AnsibleModule with the ctl options, its command runs real (no replay)."""
    with patch_module_args(dict(params, _ansible_check_mode=False)):
        module = basic.AnsibleModule(argument_spec=ctl_argument_spec())
        capsys.readouterr()
        yield module


def failure(capsys, action):
    with pytest.raises(SystemExit):
        action()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def hanging_ctl(tmp_path):
    """A ctl that starts a child which outlives it unless its whole process group is stopped, then hangs."""
    pidfile = tmp_path / 'child.pid'
    script = tmp_path / 'fake-ctl'
    script.write_text('#!/bin/sh\nsleep 300 &\necho $! > %s\necho started\nsleep 300\n' % pidfile)
    script.chmod(0o755)
    return script, pidfile


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie has finished too
    with open('/proc/%d/stat' % pid) as handle:
        return handle.read().split(')')[-1].split()[0] != 'Z'


def test_a_hanging_command_is_stopped_with_its_children_and_named(capsys, hanging_ctl):
    script, pidfile = hanging_ctl
    with real_module(capsys, ctl_path=str(script), ctl_timeout=1) as module:
        runner = CtlRunner(module, 'chef-backend-ctl', module.params['ctl_path'])
        started = time.monotonic()
        result = failure(capsys, lambda: runner.run('join-cluster', '172.31.250.11'))
        elapsed = time.monotonic() - started
    assert elapsed < 20, elapsed
    assert result['failed'] and result['timed_out'] is True
    assert 'fake-ctl join-cluster did not finish within 1 seconds and was stopped (ctl_timeout' in result['msg']
    assert result['cmd'] == [str(script), 'join-cluster', '172.31.250.11']
    assert result['stdout'] == 'started\n'
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child), 'the command\'s child %d still runs' % child


def test_a_command_that_finishes_in_time_returns_as_before(capsys, tmp_path):
    script = tmp_path / 'fake-ctl'
    script.write_text('#!/bin/sh\necho "$@"\nexit 3\n')
    script.chmod(0o755)
    with real_module(capsys, ctl_path=str(script)) as module:
        rc, out, err, argv = CtlRunner(module, 'chef-backend-ctl', str(script)).run('status')
    assert (rc, out, argv) == (3, 'status\n', [str(script), 'status'])


def test_a_command_killed_before_its_limit_is_not_called_a_timeout(capsys, tmp_path):
    script = tmp_path / 'fake-ctl'
    script.write_text('#!/bin/sh\nkill -KILL $$\n')
    script.chmod(0o755)
    with real_module(capsys, ctl_path=str(script)) as module:
        rc, dummy, dummy, dummy = CtlRunner(module, 'chef-backend-ctl', str(script)).run('reconfigure')
    # the command's own death passes through timeout as the same signal, not as timeout's 124 or 137
    assert rc == -9


@pytest.mark.parametrize('value', [0, -5])
def test_a_ctl_timeout_that_is_not_seconds_is_refused(capsys, tmp_path, value):
    script = tmp_path / 'fake-ctl'
    script.write_text('#!/bin/sh\n')
    script.chmod(0o755)
    with real_module(capsys, ctl_path=str(script), ctl_timeout=value) as module:
        result = failure(capsys, lambda: CtlRunner(module, 'chef-backend-ctl', str(script)))
    assert result['msg'].startswith('ctl_timeout = %d is not a number of seconds' % value)


def test_reads_get_the_short_limit_and_changes_the_long_one(run_module, tmp_path):
    config = tmp_path / 'chef-backend.rb'
    config.write_text("publish_address '172.31.250.12'\n")
    run = run_module(chef_backend_info, dict(config_file=str(config), manifest_file=str(tmp_path / 'none')), [
        call(['status'], out=fixture_text('status_1x_healthy.txt')),
        call(['cluster-status', '--json'], rc=1, out='{"error": "could not reach etcd on any cluster member"}')])
    assert [seconds for dummy, seconds in run.limits] == [_ctl_runner.READ_TIMEOUT] * 2
    secrets = tmp_path / 'secrets.json'
    secrets.write_text('{"postgresql": {"db_superuser_password": "x"}}\n')
    not_member = call(['cluster-status', '--json'], rc=1, out='{"error": "could not reach etcd on any cluster member"}')
    join = ['join-cluster', '172.31.250.11', '-s', str(secrets), '--accept-license', '--yes']
    args = dict(role='join', peer='172.31.250.11', accept_license=True, secrets_file=str(secrets),
                config_file=str(config))
    run = run_module(chef_backend_cluster, args, [not_member, call(join), not_member])
    read, change = _ctl_runner.READ_TIMEOUT, _ctl_runner.CHANGE_TIMEOUT
    assert [seconds for dummy, seconds in run.limits] == [read, change, read]
    run = run_module(chef_backend_cluster, dict(args, ctl_timeout=7200), [not_member, call(join), not_member])
    assert [seconds for dummy, seconds in run.limits] == [7200, 7200, 7200]
    assert _ctl_runner.READ_TIMEOUT < _ctl_runner.CHANGE_TIMEOUT


def test_the_timeout_binary_is_coreutils():
    out = subprocess.run(['timeout', '--version'], capture_output=True, text=True, check=True).stdout
    assert 'coreutils' in out
