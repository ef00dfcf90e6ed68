# -*- coding: utf-8 -*-
"""The cluster's run lock: one live run at a time, free as soon as its process is gone (finished or killed), taken
again by the run that holds it; and the same with real ansible-playbook processes and playbooks/shared/run_lock.yml."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.chefops.chef_ha.plugins.action import run_lock

HOST = socket.gethostname()
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def me_for(pid):
    ticks, boot = run_lock.process_identity(pid)
    return dict(pid=pid, start_ticks=ticks, boot_id=boot, play='test', since='2026-12-04T00:00:00Z')


def test_a_free_lock_is_taken_and_written_private(tmp_path):
    path = str(tmp_path / 'locks' / 'chef_ha.lock')
    taken, holder, replaced = run_lock.acquire(path, me_for(os.getpid()), HOST)
    assert taken and replaced is None and holder['pid'] == os.getpid()
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == '0o700'
    with open(path) as handle:
        assert json.load(handle)['host'] == HOST


def test_the_holder_takes_it_again(tmp_path):
    path = str(tmp_path / 'chef_ha.lock')
    assert run_lock.acquire(path, me_for(os.getpid()), HOST)[0]
    assert run_lock.acquire(path, me_for(os.getpid()), HOST)[0]


def test_a_live_run_keeps_it(tmp_path):
    path = str(tmp_path / 'chef_ha.lock')
    other = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        assert run_lock.acquire(path, me_for(other.pid), HOST)[0]
        taken, holder, replaced = run_lock.acquire(path, me_for(os.getpid()), HOST)
        assert not taken and holder['pid'] == other.pid and replaced is None
    finally:
        other.kill()
        other.wait()


def test_a_dead_runs_lock_is_taken_over(tmp_path):
    path = str(tmp_path / 'chef_ha.lock')
    other = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    assert run_lock.acquire(path, me_for(other.pid), HOST)[0]
    other.send_signal(signal.SIGKILL)
    other.wait()
    taken, holder, replaced = run_lock.acquire(path, me_for(os.getpid()), HOST)
    assert taken and holder['pid'] == os.getpid() and replaced['pid'] == other.pid
    assert sorted(os.listdir(str(tmp_path))) == ['chef_ha.lock']


def test_a_reused_pid_is_not_the_holder(tmp_path):
    # same pid, another start time: the process that took the lock is gone, another one has its number
    path = str(tmp_path / 'chef_ha.lock')
    stale = dict(me_for(os.getpid()), start_ticks='1', pid=os.getpid(), host=HOST)
    with open(path, 'w') as handle:
        json.dump(stale, handle)
    other = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        taken, holder, replaced = run_lock.acquire(path, me_for(other.pid), HOST)
        assert taken and replaced['start_ticks'] == '1'
    finally:
        other.kill()
        other.wait()


def test_another_controllers_lock_is_kept(tmp_path):
    path = str(tmp_path / 'chef_ha.lock')
    with open(path, 'w') as handle:
        json.dump(dict(pid=1, start_ticks='0', boot_id='x', host='another-controller'), handle)
    taken, holder, dummy = run_lock.acquire(path, me_for(os.getpid()), HOST)
    assert not taken and holder['host'] == 'another-controller'


# ---- real runs ----------------------------------------------------------------------------------------------------

def playbook(tmp_path, seconds):
    path = tmp_path / 'locked.yml'
    lock_play = os.path.join(ROOT, 'playbooks', 'shared', 'run_lock.yml')
    path.write_text('- ansible.builtin.import_playbook: %s\n'
                    '- hosts: localhost\n  gather_facts: false\n  tasks:\n'
                    '    - ansible.builtin.pause:\n        seconds: %d\n' % (lock_play, seconds))
    return str(path)


def start(tmp_path, seconds):
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    env.pop('ANSIBLE_LOG_PATH', None)
    return subprocess.Popen(['ansible-playbook', playbook(tmp_path, seconds), '-e',
                             'chef_ha_lock_dir=%s' % (tmp_path / 'locks')],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='the run lock needs Linux /proc')
def test_real_runs_one_at_a_time_and_a_killed_run_blocks_nothing(tmp_path):
    lock = tmp_path / 'locks' / 'chef_ha.lock'
    first = start(tmp_path, 120)
    try:
        deadline = time.time() + 60
        while not lock.exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.2)
        assert lock.exists(), first.communicate()[0] if first.poll() is not None else 'no lock after 60 s'
        assert json.loads(lock.read_text())['pid'] == first.pid

        second = start(tmp_path, 0)
        out = second.communicate(timeout=120)[0]
        assert second.returncode != 0, out
        text = ' '.join(out.split())
        assert 'holds the run lock %s: pid %d on %s' % (lock, first.pid, HOST) in text, out
        assert 'Nothing was changed' in text
    finally:
        # a cancelled job: the whole run killed, no cleanup
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()

    third = start(tmp_path, 0)
    out = third.communicate(timeout=120)[0]
    assert third.returncode == 0, out
    assert 'took over the lock of a run that is gone (pid %d' % first.pid in ' '.join(out.split()), out
    assert json.loads(lock.read_text())['pid'] == third.pid
