# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation stub of the run_lock action plugin."""

from __future__ import annotations

DOCUMENTATION = r"""
module: run_lock
short_description: Refuse a second run against the same cluster while one runs on this controller
version_added: 0.1.0
description:
  - Takes a lock file on the controller, naming the C(ansible-playbook) process of this run (pid, its start time as
    the kernel counts it, the boot, the host name, the play), and fails naming the holder when another live run holds
    it, before anything is changed.
  - The lock is never released by a task. It is free as soon as the process it names is gone, whether that run
    finished, failed or was killed half way (a cancelled AWX job, a dead terminal); the next run takes it over with a
    warning that the previous run may have been interrupted, and continues the work.
  - The same run may take it again, so a playbook that imports another holds it once.
  - Runs from other controllers are seen only through a shared O(lock_dir). In AWX, leave the job templates'
    C(allow_simultaneous) off, so AWX itself runs one job of a template at a time.
author:
  - chefops maintainers (@chefops)
options:
  name:
    description: The lock's name, one per cluster (letters, digits and C(.) C(_) C(-)).
    type: str
    required: true
  lock_dir:
    description: The directory of the lock files on the controller, made C(0700) when missing.
    type: path
    default: ~/.ansible/chefops_locks
attributes:
  check_mode:
    support: full
    description: Takes the lock in check mode too, so a check run never reads a cluster another run is changing.
  diff_mode:
    support: none
    description: Nothing on the hosts changes, so there is no diff.
  platform:
    platforms: posix
    support: full
    description: Runs on the controller; needs Linux C(/proc) there.
notes:
  - A controller whose C(/proc) is not Linux's (macOS) cannot run it.
"""

EXAMPLES = r"""
- name: Take the cluster's run lock
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Refuse to run while another run changes this cluster
      chefops.chef_ha.run_lock:
        name: chef_ha
"""

RETURN = r"""
path:
  description: The lock file.
  returned: always
  type: str
  sample: /home/ops/.ansible/chefops_locks/chef_ha.lock
holder:
  description: Who holds the lock after the call (this run, or the run that refused it).
  returned: always
  type: dict
  sample: {pid: 4242, host: awx-ee-1, since: '2026-12-04T19:30:00Z', play: 'Step 1 - install chef-backend'}
replaced:
  description: The lock of a run that was gone, which this run took over.
  returned: when a dead run's lock was taken over
  type: dict
"""
