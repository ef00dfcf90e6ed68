#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_environment
short_description: Keep a Chef environment, its attributes and its cookbook version pins
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Creates, updates or deletes one environment on a Chef Infra Server, with its description, default and override
    attributes, and its C(cookbook_versions) pins.
  - Pins are merged into the existing ones (O(pin_mode=merge), the way C(knife spork promote) pins one cookbook) or
    replace them all (O(pin_mode=exact)).
  - Names and version constraints are checked with the real server's rules before any request, so a constraint
    such as C(== 1.0), which some servers would store and Chef Infra Server refuses, never reaches a server.
  - With O(require_cookbook_versions=true), a new or changed pin is refused unless the server has a version of the
    cookbook that satisfies it, as spork promote refuses to promote a version that was not uploaded.
  - Only the options given are managed; an option left out keeps the server's value. The whole environment is
    written back, with the same name (never renamed).
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.chef_api
options:
  name:
    description:
      - Name of the environment (letters, digits, C(.), C(_), C(-)).
      - V(_default) cannot be changed or deleted; the server refuses it.
    type: str
    required: true
  description:
    description:
      - Description of the environment.
    type: str
  default_attributes:
    description:
      - The environment's default attributes, as a whole (not merged into the existing ones).
    type: dict
  override_attributes:
    description:
      - The environment's override attributes, as a whole (not merged into the existing ones).
    type: dict
  cookbook_versions:
    description:
      - Version pins, cookbook name to constraint, for example V(= 1.4.2) for C(app) and V(~> 2.1) for C(base).
      - A constraint is an operator (C(=), C(<), C(>), C(<=), C(>=), C(~>)), exactly one space and a version
        C(MAJOR.MINOR) or C(MAJOR.MINOR.PATCH), or a bare version. Quote it in YAML (C(1.10) unquoted is the number
        1.1); anything else is refused.
    type: dict
  pin_mode:
    description:
      - V(merge) sets the pins of O(cookbook_versions) and keeps the environment's other pins.
      - V(exact) makes O(cookbook_versions) the environment's only pins; V({}) then removes every pin.
    type: str
    choices: [merge, exact]
    default: merge
  require_cookbook_versions:
    description:
      - Refuse a new or changed pin unless the server has a version of the cookbook that satisfies it
        (C(GET /cookbooks/NAME/VERSION) for C(=), C(GET /cookbooks/NAME) otherwise). Checked before any write.
    type: bool
    default: false
  state:
    description:
      - V(present) creates or updates the environment; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    details: Reads the environment (and the cookbooks with O(require_cookbook_versions)); writes nothing.
  diff_mode:
    support: full
    details: The environment before and after, as dictionaries.
seealso:
  - module: chefops.chef_ha.chef_node_environment
  - name: knife spork promote
    description: The command whose pinning this module follows.
    link: https://github.com/jonlives/knife-spork
"""

EXAMPLES = r"""
- name: The unpinned testing environment
  chefops.chef_ha.chef_environment:
    name: testing
    description: Nodes under test; no cookbook is pinned
    cookbook_versions: {}
    pin_mode: exact
  delegate_to: localhost
  run_once: true

- name: Promote app 1.4.2 to production, refusing a version that was not uploaded
  chefops.chef_ha.chef_environment:
    name: production
    cookbook_versions:
      app: "= 1.4.2"
    require_cookbook_versions: true
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
environment:
  description: The environment after the change (predicted in check mode); empty when it is absent.
  returned: always
  type: dict
  sample:
    name: production
    description: Production
    json_class: Chef::Environment
    chef_type: environment
    default_attributes: {}
    override_attributes: {}
    cookbook_versions: {"app": "= 1.4.2"}
pins_changed:
  description: The pins that changed, cookbook to before and after (V(null) for no pin).
  returned: always
  type: dict
  sample: {"app": {"before": "= 1.4.1", "after": "= 1.4.2"}}
created:
  description: Whether the environment was (or would be) created.
  returned: always
  type: bool
  sample: false
requests:
  description: The writing requests sent (or, in check mode, that would be sent), in order.
  returned: always
  type: list
  elements: str
  sample: ["PUT /organizations/acme/environments/production"]
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import (
    CHEF_API_MUTUALLY_EXCLUSIVE,
    COOKBOOK_NAME_RE,
    ENVIRONMENT_KEYS,
    ENVIRONMENT_NAME_RE,
    ChefAPIError,
    chef_api_argument_spec,
    check_name,
    module_client,
    parse_constraint,
    version_satisfies,
)


def new_environment(name):
    return dict(name=name, description='', json_class='Chef::Environment', chef_type='environment',
                default_attributes={}, override_attributes={}, cookbook_versions={})


def wanted_environment(current, params):
    """The environment to store: the current one (keys the server accepts only) with the options applied."""
    result = new_environment(params['name'])
    if current is not None:
        result.update((k, copy.deepcopy(v)) for k, v in current.items() if k in ENVIRONMENT_KEYS)
        result['name'] = params['name']  # a different name in the body renames on some servers
    for key in ('description', 'default_attributes', 'override_attributes'):
        if params[key] is not None:
            result[key] = copy.deepcopy(params[key])
    if params['cookbook_versions'] is not None:
        if params['pin_mode'] == 'exact':
            result['cookbook_versions'] = dict(params['cookbook_versions'])
        else:
            pins = dict(result.get('cookbook_versions') or {})
            pins.update(params['cookbook_versions'])
            result['cookbook_versions'] = pins
    return result


def comparable(environment, name):
    """The stored environment as this module would write it: the accepted keys, missing ones at their defaults."""
    if environment is None:
        return None
    result = new_environment(name)
    result.update((k, v) for k, v in environment.items() if k in ENVIRONMENT_KEYS)
    return result


def check_pins(pins):
    """Refuse cookbook names and constraints the real server refuses (ValueError naming the pin)."""
    for cookbook, constraint in pins.items():
        check_name(cookbook, 'cookbook_versions: cookbook', COOKBOOK_NAME_RE)
        if not isinstance(constraint, str):
            raise ValueError('cookbook_versions: the constraint of %s is %r, not text; quote it (for example '
                             '"= 1.10.0")' % (cookbook, constraint))
        try:
            parse_constraint(constraint)
        except ValueError as exc:
            raise ValueError('cookbook_versions: %s: %s' % (cookbook, exc))


def server_has(client, cookbook, constraint):
    """Whether the server has a version of the cookbook that satisfies the constraint."""
    op, version, dummy = parse_constraint(constraint)
    if op == '=':
        return client.get(client.path('cookbooks', cookbook, '%d.%d.%d' % version), missing_ok=True) is not None
    answer = client.get(client.path('cookbooks', cookbook), missing_ok=True)
    if not isinstance(answer, dict):
        return False
    entry = answer.get(cookbook) or {}
    versions = [v.get('version') for v in entry.get('versions') or [] if isinstance(v, dict)]
    for have in versions:
        try:
            if version_satisfies(have, constraint):
                return True
        except ValueError:
            continue
    return False


def main():
    argument_spec = chef_api_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        description=dict(type='str'),
        default_attributes=dict(type='dict'),
        override_attributes=dict(type='dict'),
        cookbook_versions=dict(type='dict'),
        pin_mode=dict(type='str', default='merge', choices=['merge', 'exact']),
        require_cookbook_versions=dict(type='bool', default=False),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
    module = AnsibleModule(argument_spec=argument_spec, mutually_exclusive=CHEF_API_MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    params = module.params
    name = params['name']
    try:
        check_name(name, 'name', ENVIRONMENT_NAME_RE)
        check_pins(params['cookbook_versions'] or {})
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if params['state'] == 'absent' and name == '_default':
        module.fail_json(msg='the _default environment cannot be deleted')

    client = module_client(module)
    path = client.path('environments', name)
    requests = []
    result = dict(changed=False, requests=requests, pins_changed={}, created=False)
    try:
        current = client.get(path, missing_ok=True)
        if current is not None and not isinstance(current, dict):
            module.fail_json(msg='unexpected answer for environment %s: %r' % (name, current), **result)
        if params['state'] == 'absent':
            after = None
            if current is not None:
                requests.append('DELETE ' + client.full_path(path))
                if not module.check_mode:
                    try:
                        client.delete(path)
                    except ChefAPIError as exc:
                        if exc.status != 404:
                            raise
        else:
            after = wanted_environment(current, params)
            before_pins = (current or {}).get('cookbook_versions') or {}
            changed_pins = dict((c, dict(before=before_pins.get(c), after=after['cookbook_versions'].get(c)))
                                for c in sorted(set(before_pins) | set(after['cookbook_versions']))
                                if before_pins.get(c) != after['cookbook_versions'].get(c))
            result['pins_changed'] = changed_pins
            if after != comparable(current, name):
                if name == '_default':
                    module.fail_json(msg='the _default environment cannot be changed (the server answers 405); '
                                         'pin cookbooks in an environment of your own', **result)
                if params['require_cookbook_versions']:
                    missing = ['%s %s' % (c, p['after']) for c, p in changed_pins.items()
                               if p['after'] is not None and not server_has(client, c, p['after'])]
                    if missing:
                        module.fail_json(msg='require_cookbook_versions: the server has no cookbook version for %s; '
                                             'upload the cookbook first' % ', '.join(missing), **result)
                if current is None:
                    requests.append('POST ' + client.full_path(client.path('environments')))
                    result['created'] = True
                    if not module.check_mode:
                        try:
                            client.post(client.path('environments'), after)
                        except ChefAPIError as exc:
                            if exc.status != 409:
                                raise
                            # created by someone else after our read: update it
                            requests.append('PUT ' + client.full_path(path))
                            result['created'] = False
                            client.put(path, after)
                else:
                    requests.append('PUT ' + client.full_path(path))
                    if not module.check_mode:
                        client.put(path, after)
    except ChefAPIError as exc:
        module.fail_json(msg=exc.msg, **dict(result, **exc.details()))

    before = comparable(current, name)
    result.update(changed=before != after, environment=after or {})
    if module._diff:
        label = 'environment %s' % name
        result['diff'] = dict(before=before or {}, after=after or {}, before_header=label, after_header=label)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
