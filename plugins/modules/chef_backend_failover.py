#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_backend_failover
short_description: Turn a Chef Backend cluster's automatic failover on or off
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Runs C(chef-backend-ctl set-cluster-failover on|off) on a cluster member, as Chef's rolling upgrade of the backends
    does before the followers are upgraded and after the leader is.
  - chef-backend has no command that reads the setting, so the module cannot tell whether it changes anything; it
    always runs and always reports a change. Keep the setting to put back yourself (the backend role's C(failover)
    entry point records it on a backend).
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.attributes.every_call
  - chefops.chef_ha.ctl.backend
options:
  state:
    description: V(on) lets leaderl fail over to a synced follower when the leader is lost; V(off) holds the leader.
    type: str
    required: true
    choices: ['on', 'off']
seealso:
  - module: chefops.chef_ha.chef_backend_upgrade
"""

EXAMPLES = r"""
- name: Hold the leader while the followers are upgraded
  chefops.chef_ha.chef_backend_failover:
    state: "off"
  run_once: true
"""

RETURN = r"""
cmd:
  description: The command that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner, ctl_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', required=True, choices=['on', 'off']),
            **ctl_argument_spec(),
        ),
        supports_check_mode=True,
    )
    runner = CtlRunner(module, 'chef-backend-ctl', module.params['ctl_path'])
    args = ['set-cluster-failover', module.params['state']]
    runner.change(*args, msg='set-cluster-failover %s failed' % module.params['state'])
    module.exit_json(changed=True, cmd=runner.argv(*args))


if __name__ == '__main__':
    main()
