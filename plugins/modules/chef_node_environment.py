#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_node_environment
short_description: Move one Chef node into an environment (knife node flip)
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Sets the C(chef_environment) of one node on a Chef Infra Server, as C(knife node flip NODE ENV) does, and
    returns the environment the node was in, so that a play can move it back.
  - Refuses an environment that does not exist on the server (the server itself would accept it, and the node's
    next Chef run would then fail).
  - Reads the node directly (never through search) and writes the whole node object back with only
    C(chef_environment) changed; run list, attributes and everything else stay as they were. Reads it again after
    the write and fails when it is not in the environment then.
  - Keeps no record of the environment the node came from; to flip nodes for a test and back safely (a record on
    the server written first), use M(chefops.chef_ha.chef_node_flip).
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.chef_api
options:
  name:
    description:
      - Name of the Chef node.
    type: str
    required: true
  environment:
    description:
      - The environment to put the node in, for example V(testing) or V(_default).
    type: str
    required: true
attributes:
  check_mode:
    details: Reads the node and the environment; sends no request that changes anything.
  diff_mode:
    support: full
    details: The node's environment before and after.
notes:
  - A node whose C(client.rb) sets C(environment) goes back to that environment on its next Chef run, and a flip
    made while a run is in progress can be overwritten by that run's final node save. Check the node after its
    next run.
seealso:
  - module: chefops.chef_ha.chef_node_flip
  - module: chefops.chef_ha.chef_environment
  - module: chefops.chef_ha.chef_node_info
"""

EXAMPLES = r"""
- name: Flip the node into testing
  chefops.chef_ha.chef_node_environment:
    name: "{{ inventory_hostname }}"
    environment: testing
  delegate_to: localhost
  register: flip

- name: And back where it came from
  chefops.chef_ha.chef_node_environment:
    name: "{{ inventory_hostname }}"
    environment: "{{ flip.previous_environment }}"
  delegate_to: localhost
"""

RETURN = r"""
previous_environment:
  description: The environment the node was in before the task.
  returned: success
  type: str
  sample: production
environment:
  description: The environment the node is in after the task, as read back from the server (predicted in check
    mode).
  returned: success
  type: str
  sample: testing
node:
  description: Name of the node.
  returned: always
  type: str
  sample: web01.example.com
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import (
    CHEF_API_MUTUALLY_EXCLUSIVE,
    ENVIRONMENT_NAME_RE,
    ChefAPIError,
    chef_api_argument_spec,
    check_name,
    module_client,
    node_environment,
    put_node_environment,
)


def main():
    argument_spec = chef_api_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        environment=dict(type='str', required=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, mutually_exclusive=CHEF_API_MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    params = module.params
    try:
        check_name(params['name'], 'name')
        check_name(params['environment'], 'environment', ENVIRONMENT_NAME_RE)
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    client = module_client(module)
    name, target = params['name'], params['environment']
    result = dict(changed=False, node=name)
    try:
        node = client.get(client.path('nodes', name), missing_ok=True)
        if node is None:
            module.fail_json(msg='node %s does not exist on %s; is the node name right (it is not always the fqdn)?'
                                 % (name, client.base), **result)
        if not isinstance(node, dict):
            module.fail_json(msg='unexpected answer for node %s: %r' % (name, node), **result)
        if client.get(client.path('environments', target), missing_ok=True) is None:
            module.fail_json(msg='environment %s does not exist on %s; create it first (chef_environment), '
                                 'node %s was left in %s' % (target, client.base, name, node.get('chef_environment')),
                             **result)
        previous = node_environment(node)
        result.update(previous_environment=previous, environment=target, changed=previous != target)
        if result['changed'] and not module.check_mode:
            # the node read back after the write: what the server holds, not what was sent
            result['environment'] = node_environment(put_node_environment(client, name, node, target))
            if result['environment'] != target:
                module.fail_json(msg='node %s was read back in %s after the change to %s (another writer, such as '
                                     'a chef-client run saving the node, changed it meanwhile)'
                                     % (name, result['environment'], target), **result)
    except ChefAPIError as exc:
        module.fail_json(msg=exc.msg, **dict(result, **exc.details()))
    if module._diff:
        label = 'node %s' % name
        result['diff'] = dict(before={'chef_environment': previous}, after={'chef_environment': target},
                              before_header=label, after_header=label)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
