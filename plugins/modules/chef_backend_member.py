#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_backend_member
short_description: Take a node out of a Chef Backend cluster, or wipe what an unfinished join left on a node
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - With O(state=absent), run on a serving member, the cluster forgets the node at O(address)
    (C(chef-backend-ctl remove-node ADDRESS --yes)) when it still knows it, as a registered node
    (C(cluster-status --json)) or as an etcd member whose peer URL names the address (a join that stopped half-way
    leaves one). Nothing runs when it knows neither.
  - With O(state=cleansed), run on the node itself, C(chef-backend-ctl cleanse yes) wipes chef-backend's local
    configuration and data when an earlier join left something behind (O(secrets_file) installed) or when O(force)
    says the cluster still knows the node. Use it only on a node that must join again; it destroys the node's data.
    C(cleanse) backs up C(/etc/chef-backend) to C(/root/chef-backend-cleanse-<time>); the copy of the cluster
    secrets in it is removed (the join places them again), the rest of the backup stays.
  - chef-backend refuses to remove a node whose services still run, so cleanse the node first, then remove it.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.ctl.backend
options:
  state:
    description:
      - V(absent) removes the node at O(address) from the cluster, from this member.
      - V(cleansed) wipes this node's chef-backend state.
    type: str
    required: true
    choices: [absent, cleansed]
  address:
    description:
      - Publish address of the node to remove. Required when O(state=absent).
    type: str
  etcd_url:
    description:
      - Client URL of the cluster's etcd, read for members a half-way join added.
      - Default C(http://PUBLISH_ADDRESS:2379) with this member's C(publish_address) from O(config_file).
    type: str
  config_file:
    description:
      - This node's C(chef-backend.rb), read for its C(publish_address).
    type: path
    default: /etc/chef-backend/chef-backend.rb
  secrets_file:
    description:
      - The cluster secrets a join installs first; with O(state=cleansed), its presence means a join started here.
    type: path
    default: /etc/chef-backend/chef-backend-secrets.json
  force:
    description:
      - With O(state=cleansed), cleanse even when O(secrets_file) is absent (the cluster still knows this node).
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for etcd's answer.
    type: int
    default: 10
attributes:
  check_mode:
    details: Reads the cluster's view and etcd's members and predicts; never runs C(remove-node) or C(cleanse).
seealso:
  - module: chefops.chef_ha.chef_backend_cluster
"""

EXAMPLES = r"""
- name: Wipe what an unfinished join left on this node
  chefops.chef_ha.chef_backend_member:
    state: cleansed

- name: Then make the cluster forget it, from the bootstrap node
  chefops.chef_ha.chef_backend_member:
    state: absent
    address: 172.31.250.13
  delegate_to: be1
"""

RETURN = r"""
registered:
  description: With O(state=absent), whether C(cluster-status --json) listed the node before the run.
  returned: when state is absent
  type: bool
etcd_member:
  description: With O(state=absent), whether etcd had a member for the address before the run.
  returned: when state is absent
  type: bool
cmd:
  description: The command that ran (or would run in check mode); empty when nothing had to.
  returned: always
  type: list
  elements: str
stdout:
  description: Its standard output.
  returned: when a command ran
  type: str
removed:
  description:
    - With O(state=cleansed), the copies of the cluster secrets removed from the backup C(cleanse) wrote
      (C(/root/chef-backend-cleanse-<time>/chef-backend-secrets.json)); the backup's other files stay.
  returned: when state is cleansed and the node was cleansed
  type: list
  elements: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url
from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import read_text
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_backend_ctl import (
    backend_rb_setting,
    cleanse_node,
    find_member,
    is_ip_address,
    read_members,
)
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner, ctl_argument_spec


def etcd_members(module, url):
    """The etcd members (v2 members API) as a list of dicts; fails naming the URL when etcd cannot be read."""
    try:
        response = open_url(url.rstrip('/') + '/v2/members', timeout=module.params['timeout'], use_proxy=False)
        return json.loads(response.read()).get('members') or []
    except Exception as exc:  # any network or JSON failure means the same: etcd's view is unknown
        module.fail_json(msg='cannot read the etcd members at %s: %s' % (url, to_native(exc)))


def url_host(address):
    """The address as the host part of a URL (an IPv6 address in brackets)."""
    return '[%s]' % address if ':' in address else address


def names_address(member, address):
    return any('//%s:' % url_host(address) in url for url in member.get('peerURLs') or [])


def remove(module, runner):
    params = module.params
    address = params['address']
    url = params['etcd_url']
    if not url:
        own = backend_rb_setting(read_text(params['config_file']), 'publish_address')
        if not own:
            module.fail_json(msg='no publish_address in %s to find etcd at; set etcd_url' % params['config_file'])
        url = 'http://%s:2379' % url_host(own)
    in_cluster, members, probe = read_members(runner)
    if not in_cluster:
        rc, out, err, cmd = probe
        runner.fail('cluster-status fails on this node, which must be a serving member to remove another', rc, out,
                    err, cmd)
    registered = find_member(members, address) is not None
    in_etcd = any(names_address(member, address) for member in etcd_members(module, url))
    result = dict(changed=registered or in_etcd, registered=registered, etcd_member=in_etcd, cmd=[])
    if not result['changed']:
        module.exit_json(**result)
    args = ['remove-node', address, '--yes']
    result.update(cmd=runner.argv(*args), stdout=runner.change(*args, msg='remove-node %s failed' % address,
                                                               registered=registered, etcd_member=in_etcd))
    module.exit_json(**result)


def cleanse(module, runner):
    params = module.params
    leftover = os.path.exists(params['secrets_file'])
    result = dict(changed=leftover or params['force'], cmd=[])
    if not result['changed']:
        module.exit_json(**result)
    result['cmd'] = runner.argv('cleanse', 'yes')
    result['stdout'], removed = cleanse_node(runner, params['secrets_file'])
    if not module.check_mode:
        result['removed'] = removed
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', required=True, choices=['absent', 'cleansed']),
            address=dict(type='str'),
            etcd_url=dict(type='str'),
            config_file=dict(type='path', default='/etc/chef-backend/chef-backend.rb'),
            secrets_file=dict(type='path', default='/etc/chef-backend/chef-backend-secrets.json'),
            force=dict(type='bool', default=False),
            timeout=dict(type='int', default=10),
            **ctl_argument_spec(),
        ),
        required_if=[('state', 'absent', ('address',))],
        supports_check_mode=True,
    )
    params = module.params
    if params['state'] == 'absent' and not is_ip_address(params['address']):
        module.fail_json(msg='address must be the IP address the node was published at, got %r' % params['address'])
    runner = CtlRunner(module, 'chef-backend-ctl', params['ctl_path'])
    if params['state'] == 'absent':
        remove(module, runner)
    cleanse(module, runner)


if __name__ == '__main__':
    main()
