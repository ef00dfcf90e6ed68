#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_node_info
short_description: Read Chef nodes by name or by search, with their fqdn, environment and run list
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Reads nodes from a Chef Infra Server, by name (C(GET /nodes/NAME), one request each, up to 8 at a time) and
    optionally by a search query (C(GET /search/node)), and returns for each its name, fqdn (Ohai's
    C(automatic.fqdn), what allowlist patterns are matched against), environment and run list.
  - Names that have no node are listed in RV(missing), so a play can map inventory hosts to Chef nodes and stop
    on a host without one.
  - Search results on a real Chef Infra Server lag behind changes by up to a minute (the index is updated
    asynchronously); nodes looked up by name are always current.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.attributes.info_module
  - chefops.chef_ha.chef_api
options:
  names:
    description:
      - Names of the nodes to read.
    type: list
    elements: str
    default: []
  search:
    description:
      - A search query on the node index, for example V(chef_environment:testing) or V(role:web).
    type: str
  all_nodes:
    description:
      - Also read every node of the organization, listed with C(GET /nodes) and then read by name like O(names)
        (current, unlike a search); found by V(name).
    type: bool
    default: false
seealso:
  - module: chefops.chef_ha.chef_allowlist
  - module: chefops.chef_ha.chef_node_environment
"""

EXAMPLES = r"""
- name: The Chef nodes of the play's hosts
  chefops.chef_ha.chef_node_info:
    names: "{{ ansible_play_hosts }}"
  delegate_to: localhost
  run_once: true
  register: chef_nodes

- name: Every host must have a node
  ansible.builtin.assert:
    that: chef_nodes.missing | length == 0
    fail_msg: "no Chef node for {{ chef_nodes.missing | join(', ') }}"

- name: The nodes in the testing environment
  chefops.chef_ha.chef_node_info:
    search: "chef_environment:testing"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
nodes:
  description: The nodes found, by name first (in the order of O(names)), then those only the search found.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
    fqdn:
      description: The node's fqdn as Ohai reported it (C(automatic.fqdn)); V(null) before its first Chef run.
      type: str
    chef_environment:
      description: The node's environment.
      type: str
    run_list:
      description: The node's run list.
      type: list
      elements: str
    found_by:
      description: V(name), V(search) or both.
      type: list
      elements: str
  sample:
    - name: web01.example.com
      fqdn: web01.example.com
      chef_environment: production
      run_list: ["role[web]"]
      found_by: [name]
by_name:
  description: The same nodes as a dictionary keyed by node name.
  returned: always
  type: dict
  sample: {"web01.example.com": {"name": "web01.example.com", "fqdn": "web01.example.com"}}
missing:
  description: The O(names) that have no node on the server.
  returned: always
  type: list
  elements: str
  sample: ["web09.example.com"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import (
    CHEF_API_MUTUALLY_EXCLUSIVE,
    ChefAPIError,
    chef_api_argument_spec,
    check_name,
    module_client,
)


def summary(node, found_by):
    automatic = node.get('automatic') if isinstance(node.get('automatic'), dict) else {}
    run_list = node.get('run_list')
    return dict(name=node.get('name'), fqdn=automatic.get('fqdn'),
                chef_environment=node.get('chef_environment') or '_default',
                run_list=list(run_list) if isinstance(run_list, list) else [], found_by=[found_by])


def main():
    argument_spec = chef_api_argument_spec()
    argument_spec.update(
        names=dict(type='list', elements='str', default=[]),
        search=dict(type='str'),
        all_nodes=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, mutually_exclusive=CHEF_API_MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    params = module.params
    if not params['names'] and not params['search'] and not params['all_nodes']:
        module.fail_json(msg='give names, search or both, or all_nodes')
    if params['search'] is not None and not params['search'].strip():
        module.fail_json(msg='search is empty; give a query such as chef_environment:testing, or leave it out')
    try:
        for name in params['names']:
            check_name(name, 'names: node')
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    client = module_client(module)
    nodes = []
    by_name = {}
    missing = []
    try:
        names = list(params['names'])
        if params['all_nodes']:
            listed = client.get(client.path('nodes'))
            if not isinstance(listed, dict):
                module.fail_json(msg='unexpected answer to GET /nodes: %r' % (listed,))
            names += sorted(name for name in listed if name not in names)
        # read concurrently, then taken in the order of names: the same result and first error as one by one
        wanted = list(dict.fromkeys(names))
        answers = dict(zip(wanted, client.get_many([client.path('nodes', name) for name in wanted], missing_ok=True)))
        for name in names:
            if name in by_name or name in missing:
                continue
            node = answers[name]
            if isinstance(node, ChefAPIError):
                raise node
            if node is None:
                missing.append(name)
                continue
            if not isinstance(node, dict):
                module.fail_json(msg='unexpected answer for node %s: %r' % (name, node))
            item = summary(node, 'name')
            item['name'] = item['name'] or name
            nodes.append(item)
            by_name[item['name']] = item
        if params['search']:
            for node in client.search('node', params['search']):
                if not isinstance(node, dict) or not node.get('name'):
                    continue
                if node['name'] in by_name:
                    by_name[node['name']]['found_by'].append('search')
                    continue
                item = summary(node, 'search')
                nodes.append(item)
                by_name[item['name']] = item
    except ChefAPIError as exc:
        module.fail_json(msg=exc.msg, **exc.details())
    module.exit_json(changed=False, nodes=nodes, by_name=by_name, missing=missing)


if __name__ == '__main__':
    main()
