#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_server_restore
short_description: Restore a frontend from a config-only backup, or reindex it, failing on the silent failures
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - With O(state=restored), runs C(chef-server-ctl restore ARCHIVE --cleanse) on a frontend of a Chef Backend
    cluster, the vendor's restore of a C(chef-server-ctl backup --config-only) archive. That command exits 0 in two
    cases where it did nothing useful, and the module fails on both. On a version mismatch it logs
    C(Please install correct version, restore, then upgrade) and stops before any change, so the module fails
    naming both versions. When its output lacks C(Restoration Completed!) the module fails with the output's end.
  - The restore puts back the archive's C(chef-server.rb), which names the old cluster's addresses and passwords,
    and ignores the failure of the reconfigure it runs. Place the newly generated C(chef-server.rb) and reconfigure
    after it (the C(frontend) role does).
  - With O(state=reindexed), runs C(chef-server-ctl reindex --all-orgs), which prints
    C(Failed to reindex data for ORG!) on standard error and still exits 0; the module fails naming the organizations.
  - Every call runs the command; the caller decides whether the restore is due (C(playbooks/restore.yml) records on
    each host which archive it was restored from).
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.ctl.server
  - chefops.chef_ha.attributes.every_call
options:
  state:
    description: V(restored) restores O(archive); V(reindexed) rebuilds the search index of every organization.
    type: str
    required: true
    choices: [restored, reindexed]
  archive:
    description: Path on this frontend of the C(chef-server-ctl backup --config-only) archive. Required when O(state=restored).
    type: path
seealso:
  - module: chefops.chef_ha.chef_backup
  - module: chefops.chef_ha.chef_backup_set_info
"""

EXAMPLES = r"""
- name: Restore the configuration archive
  chefops.chef_ha.chef_server_restore:
    state: restored
    archive: /var/opt/chef-backup/restore/chef-backup-config-2026-12-04-02-00-09.tgz

- name: Reindex every organization once the frontends are reconfigured
  chefops.chef_ha.chef_server_restore:
    state: reindexed
  run_once: true
"""

RETURN = r"""
cmd:
  description: The command that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
stdout:
  description: Standard output of the command.
  returned: when the command ran
  type: str
stderr:
  description: Standard error of the command.
  returned: when the command ran
  type: str
failed_orgs:
  description: With O(state=reindexed), the organizations reindex reported it could not reindex.
  returned: when state is reindexed and the command ran
  type: list
  elements: str
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner, ctl_argument_spec

MISMATCH = re.compile(r'package (\S+) (\S+) installed, but backup was from (\S+)\. Please install correct version')
COMPLETED = 'Restoration Completed!'
REINDEX_FAILED = re.compile(r'Failed to reindex data for (\S+?)!')


def tail(text, lines=5):
    return ' / '.join((text or '').strip().splitlines()[-lines:])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', required=True, choices=['restored', 'reindexed']),
            archive=dict(type='path'),
            **ctl_argument_spec(),
        ),
        required_if=[('state', 'restored', ('archive',))],
        supports_check_mode=True,
    )
    params = module.params
    runner = CtlRunner(module, 'chef-server-ctl', params['ctl_path'])
    if params['state'] == 'restored':
        args = ['restore', params['archive'], '--cleanse']
    else:
        args = ['reindex', '--all-orgs']
    result = dict(changed=True, cmd=runner.argv(*args))
    if module.check_mode:
        module.exit_json(**result)
    if params['state'] == 'restored' and not os.path.isfile(params['archive']):
        module.fail_json(msg='archive %s does not exist on this frontend; copy the backup there first'
                         % params['archive'], **result)
    rc, out, err, cmd = runner.run(*args, mutates=True)
    result.update(stdout=out, stderr=err)
    if rc != 0:
        runner.fail('chef-server-ctl %s failed (exit %d): %s' % (args[0], rc, tail(err) or tail(out)), rc, out, err,
                    cmd, changed=True)
    if params['state'] == 'restored':
        mismatch = MISMATCH.search(out + err)
        if mismatch:
            runner.fail('chef-server-ctl restore did nothing: %s %s is installed but the backup was taken with %s. '
                        'Install %s %s, restore, then upgrade' % (mismatch.group(1), mismatch.group(2),
                                                                  mismatch.group(3), mismatch.group(1),
                                                                  mismatch.group(3)), rc, out, err, cmd)
        if COMPLETED not in out + err:
            runner.fail('chef-server-ctl restore exited 0 without "%s": %s' % (COMPLETED, tail(out + '\n' + err)),
                        rc, out, err, cmd, changed=True)
    else:
        failed = REINDEX_FAILED.findall(out + '\n' + err)
        result['failed_orgs'] = failed
        if failed:
            runner.fail('chef-server-ctl reindex exited 0 but could not reindex %s; search stays stale for them. '
                        'Check that Elasticsearch on the backend leader is healthy and its indexes are not '
                        'read_only_allow_delete (a full disk), then run it again' % ', '.join(failed),
                        rc, out, err, cmd, changed=True, failed_orgs=failed)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
