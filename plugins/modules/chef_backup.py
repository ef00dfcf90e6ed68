#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_backup
short_description: Take one backup archive of a Chef Backend node or a Chef Infra Server frontend
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Runs C(chef-backend-ctl backup --yes) (O(product=chef-backend), on a synced follower, as the vendor refuses the
    leader) or C(chef-server-ctl backup --yes) (O(product=chef-server); with O(config_only), C(--config-only), the
    frontend configuration of an HA cluster whose data the backends hold).
  - Then finds the one new archive the command wrote in O(backup_dir) and returns its path, size and sha256. A command
    that exits 0 but leaves no new archive, or several, fails the task with the end of its output.
  - Every run takes a new backup, so the module always reports a change.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.ctl.timeout
  - chefops.chef_ha.attributes.every_call
options:
  product:
    description: Which product's backup to take.
    type: str
    required: true
    choices: [chef-backend, chef-server]
  config_only:
    description: With O(product=chef-server), back up only the configuration (C(--config-only)).
    type: bool
    default: false
  backup_dir:
    description: Where the vendor command writes its archives.
    type: path
    default: /var/opt/chef-backup
  ctl_path:
    description:
      - Path of the product's ctl command. By default C(chef-backend-ctl) or C(chef-server-ctl) is searched in E(PATH)
        and the product's C(bin) directory.
    type: path
seealso:
  - module: chefops.chef_ha.chef_backend_info
"""

EXAMPLES = r"""
- name: Back up the backend data on a follower
  chefops.chef_ha.chef_backup:
    product: chef-backend
  register: backup

- name: Fetch it
  ansible.builtin.fetch:
    src: "{{ backup.archive }}"
    dest: /srv/chef-backups/
    flat: true
"""

RETURN = r"""
archive:
  description: Path of the new archive on the host; null in check mode.
  returned: always
  type: str
  sample: /var/opt/chef-backup/chef-backend-backup-2026-12-02-10-00-00.tgz
sha256:
  description: The archive's sha256.
  returned: when an archive was written
  type: str
size:
  description: The archive's size in bytes.
  returned: when an archive was written
  type: int
cmd:
  description: The command that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
"""

import fnmatch
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner, ctl_argument_spec

# The archives each command writes, by product and --config-only (which only chef-server-ctl takes).
PATTERNS = {
    ('chef-backend', False): 'chef-backend-backup-*.tgz',
    ('chef-server', False): 'chef-backup-*.tgz',
    ('chef-server', True): 'chef-backup-config-*.tgz',
}


def archives(directory, pattern):
    try:
        names = os.listdir(directory)
    except OSError:
        return set()
    return set(os.path.join(directory, name) for name in names if fnmatch.fnmatch(name, pattern))


def tail(text, lines=5):
    return ' / '.join((text or '').strip().splitlines()[-lines:])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            product=dict(type='str', required=True, choices=['chef-backend', 'chef-server']),
            config_only=dict(type='bool', default=False),
            backup_dir=dict(type='path', default='/var/opt/chef-backup'),
            **ctl_argument_spec(),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['config_only'] and params['product'] != 'chef-server':
        module.fail_json(msg='config_only applies only to product=chef-server')
    runner = CtlRunner(module, params['product'] + '-ctl', params['ctl_path'])
    args = ['backup'] + (['--config-only'] if params['config_only'] else []) + ['--yes']
    result = dict(changed=True, cmd=runner.argv(*args), archive=None)
    if module.check_mode:
        module.exit_json(**result)
    pattern = PATTERNS[(params['product'], params['config_only'])]
    before = archives(params['backup_dir'], pattern)
    rc, out, err, cmd = runner.run(*args, mutates=True)
    if rc != 0:
        runner.fail('%s backup failed (exit %d): %s' % (params['product'] + '-ctl', rc, tail(err) or tail(out)),
                    rc, out, err, cmd)
    new = sorted(archives(params['backup_dir'], pattern) - before)
    if len(new) != 1:
        runner.fail('%s exited 0 but left %d new archives matching %s in %s (want 1). Its output: %s'
                    % (' '.join(cmd), len(new), pattern, params['backup_dir'], tail(out)), rc, out, err, cmd,
                    archives=new)
    result.update(archive=new[0], sha256=module.sha256(new[0]), size=os.path.getsize(new[0]))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
