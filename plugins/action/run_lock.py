# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: refuse a second run of the cluster's playbooks while one is running on this controller.

The lock is a file naming the ansible-playbook process that holds it (its pid, the start time the kernel gives that
process, the boot, the host, the playbook). It is never released by a task: it is free as soon as that process is
gone, whether it finished, failed, or was killed half way (a cancelled AWX job, a dead terminal), so a killed run
never blocks the next one and nothing has to run at the end. The same process may take it again (a playbook that
imports another).
"""

from __future__ import annotations

import datetime
import json
import os
import socket

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.chefops.chef_ha.plugins.module_utils._process import boot_id, process_stat, read_proc


def process_identity(pid):
    """(start time in clock ticks since boot, boot id) of a live process, or None when there is no such process."""
    stat = process_stat(pid)
    return None if stat is None else (stat[1], boot_id())


def holder_alive(holder, host):
    """Whether the process a lock file names still runs: same host, same boot, same pid with the same start time."""
    if holder.get('host') != host:
        return True  # another controller's run: its process cannot be seen from here
    try:
        pid = int(holder.get('pid'))
    except (TypeError, ValueError):
        return False
    identity = process_identity(pid)
    return identity is not None and list(identity) == [holder.get('start_ticks'), holder.get('boot_id')]


def acquire(path, me, host):
    """Take the lock at path for the process described by me (pid, start_ticks, boot_id, playbook, since).

    Returns (taken, holder, replaced): taken is False when a live run holds it, holder is the record of whoever holds
    it after the call, replaced the record of a dead run's lock that was taken over (or None).
    """
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    replaced = None
    for dummy in range(5):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            text = read_proc(path)
            if text is None:
                continue  # removed meanwhile: try again
            try:
                holder = json.loads(text)
            except ValueError:
                holder = {}
            if holder.get('pid') == me['pid'] and holder.get('start_ticks') == me['start_ticks'] \
                    and holder.get('host') == host:
                return True, holder, None  # this run holds it already (an imported playbook)
            if holder_alive(holder, host):
                return False, holder, None
            # a dead run's lock: move it aside atomically; of two runs taking it over at once, one wins the O_EXCL
            aside = '%s.stale.%d' % (path, me['pid'])
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                continue
            stale_text = read_proc(aside)
            os.unlink(aside)
            if stale_text != text:
                continue  # another run replaced it between our read and our rename: look again
            replaced = holder
            continue
        with os.fdopen(fd, 'w') as handle:
            json.dump(dict(me, host=host), handle)
            handle.flush()
            os.fsync(handle.fileno())
        return True, dict(me, host=host), replaced
    raise AnsibleActionFail('could not take the lock %s: it changed hands five times while trying' % path)


class ActionModule(ActionBase):
    """Take the run lock on the controller, or fail naming the run that holds it."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('name', 'lock_dir'))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        name = str(self._task.args.get('name') or '')
        lock_dir = os.path.expanduser(str(self._task.args.get('lock_dir') or '~/.ansible/chefops_locks'))
        if not name or not all(c.isalnum() or c in '._-' for c in name):
            raise AnsibleActionFail("name = %r is not a lock name (letters, digits and . _ -); give the cluster's "
                                    "name, for example chef_ha" % name)
        # the worker that runs this task is a child of the ansible-playbook process, which the lock names
        pid = os.getppid()
        identity = process_identity(pid)
        if identity is None:
            raise AnsibleActionFail('cannot read the ansible-playbook process %d in /proc: the run lock needs Linux '
                                    '/proc on the controller' % pid)
        playbooks = task_vars.get('ansible_play_name') or ''
        me = dict(pid=pid, start_ticks=identity[0], boot_id=identity[1], play=playbooks,
                  since=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))
        path = os.path.join(lock_dir, name + '.lock')
        host = socket.gethostname()
        taken, holder, replaced = acquire(path, me, host)
        result.update(changed=False, path=path, holder=holder)
        if replaced:
            result['replaced'] = replaced
            gone = (path, replaced.get('pid'), replaced.get('since'), replaced.get('play') or 'unknown play')
            # Every run ends this way, finished or not (nothing runs at the end to release it): a note, not a warning.
            self._display.display('run lock %s: took over the lock of a run that is gone (pid %s since %s, %s); '
                                  'if that run did not finish (killed, failed), this run continues its work'
                                  % gone)
        if not taken:
            result.update(failed=True, msg=(
                'Another run of the cluster %s holds the run lock %s: pid %s on %s since %s (%s). Nothing was '
                'changed. Wait until it ends and run this again; two runs at once would interleave their changes. '
                'If that run is gone (its controller died), remove %s.'
                % (name, path, holder.get('pid'), holder.get('host'), holder.get('since'),
                   holder.get('play') or 'unknown play', path)))
        return result
