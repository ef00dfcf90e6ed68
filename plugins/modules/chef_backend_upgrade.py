#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_backend_upgrade
short_description: Finish a Chef Backend node's upgrade once its new package is installed
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Runs C(chef-backend-ctl upgrade --yes), which restarts the node's services on the newly installed package; with
    O(failover) (on the leader), C(--failover) first hands the leadership to a synced follower.
  - Chef's order is the followers one at a time, then the leader with O(failover=true), with cluster failover turned
    off for the followers (M(chefops.chef_ha.chef_backend_failover)). The caller decides that the node needs the
    upgrade (a newer package, or an upgrade an earlier run left unfinished); the module always runs it.
  - Returns the build version the node reports afterwards, from the installed package's manifest.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.attributes.every_call
  - chefops.chef_ha.ctl.backend
options:
  failover:
    description: Pass C(--failover), which the leader needs (chef-backend refuses to upgrade the leader without it).
    type: bool
    default: false
  accept_license:
    description: Pass C(--accept-license) (chef-backend 2.x asks for the license on upgrade).
    type: bool
    default: false
  manifest_file:
    description: The installed package's omnibus version manifest, read for RV(version).
    type: path
    default: /opt/chef-backend/version-manifest.json
seealso:
  - module: chefops.chef_ha.chef_backend_failover
  - module: chefops.chef_ha.chef_backend_info
"""

EXAMPLES = r"""
- name: Upgrade a follower whose new package is installed
  chefops.chef_ha.chef_backend_upgrade:
    accept_license: true

- name: Upgrade the leader last
  chefops.chef_ha.chef_backend_upgrade:
    failover: true
    accept_license: true
"""

RETURN = r"""
version:
  description: The installed package's build version after the upgrade (before it, in check mode); null when unreadable.
  returned: always
  type: str
  sample: 2.3.20
cmd:
  description: The command that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
stdout:
  description: Its standard output.
  returned: when the command ran
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_backend_ctl import installed_version
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner, ctl_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            failover=dict(type='bool', default=False),
            accept_license=dict(type='bool', default=False),
            manifest_file=dict(type='path', default='/opt/chef-backend/version-manifest.json'),
            **ctl_argument_spec(),
        ),
        supports_check_mode=True,
    )
    params = module.params
    runner = CtlRunner(module, 'chef-backend-ctl', params['ctl_path'])
    args = ['upgrade'] + (['--failover'] if params['failover'] else []) + ['--yes']
    args += ['--accept-license'] if params['accept_license'] else []
    out = runner.change(*args, msg='chef-backend-ctl %s failed; the new package is installed but the node runs the '
                                   'old services or none: see chef-backend-ctl status' % ' '.join(args), changed=True)
    module.exit_json(changed=True, cmd=runner.argv(*args), stdout=out,
                     version=installed_version(params['manifest_file']))


if __name__ == '__main__':
    main()
