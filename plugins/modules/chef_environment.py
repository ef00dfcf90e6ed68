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
  - Decides from a direct read of the environment and reads it again after writing it. When another writer changed
    it in between (two promotes pinning different cookbooks at once, each writing back what it read), the change is
    made again on top of the other one, at most five times, so both survive. What it returns is what it read back.
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
  description: The environment as read back from the server after the change (predicted in check mode); empty when
    it is absent.
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
  description: The pins that changed between the first read and the read after the last write, cookbook to before and
    after (V(null) for no pin).
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
attempts:
  description: How many times the environment was written; more than one means a concurrent change was merged.
  returned: always
  type: int
  sample: 1
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import (
    CHEF_API_MUTUALLY_EXCLUSIVE,
    COOKBOOK_NAME_RE,
    ENVIRONMENT_KEYS,
    ENVIRONMENT_NAME_RE,
    ChefAPIError,
    LostUpdates,
    chef_api_argument_spec,
    check_name,
    module_client,
    parse_constraint,
    version_satisfies,
    write_until_held,
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


def read_environment(module, client, path, name, result):
    current = client.get(path, missing_ok=True)
    if current is not None and not isinstance(current, dict):
        module.fail_json(msg='unexpected answer for environment %s: %r' % (name, current), **result)
    return current


def present(module, client, path, params, result):
    """Create or update the environment, re-reading after each write and writing again over a lost update:
    (before, after as read back, changed)."""
    name = params['name']
    requests = result['requests']
    first = read_environment(module, client, path, name, result)
    reads = [first]

    def read():
        return reads.pop() if reads else read_environment(module, client, path, name, result)

    def held(current):
        return current is not None and comparable(current, name) == wanted_environment(current, params)

    def write(current, new):
        try:
            if current is None:
                requests.append('POST ' + client.full_path(client.path('environments')))
                client.post(client.path('environments'), new)
                result['created'] = True
            else:
                requests.append('PUT ' + client.full_path(path))
                client.put(path, new)
        except ChefAPIError as exc:
            # 409: created by someone else after our read; 404 on PUT: deleted after it. Read again and redo.
            if exc.status not in ((409,) if current is None else (404,)):
                raise

    if not held(first):
        if name == '_default':
            module.fail_json(msg='the _default environment cannot be changed (the server answers 405); '
                                 'pin cookbooks in an environment of your own', **result)
        wanted = wanted_environment(first, params)
        if params['require_cookbook_versions']:
            missing = ['%s %s' % (c, p['after']) for c, p in sorted(pin_changes(first, wanted).items())
                       if p['after'] is not None and not server_has(client, c, p['after'])]
            if missing:
                module.fail_json(msg='require_cookbook_versions: the server has no cookbook version for %s; '
                                     'upload the cookbook first' % ', '.join(missing), **result)
    before, after, writes = write_until_held(client, read, held, lambda current: wanted_environment(current, params),
                                             write, module.check_mode, 'environment %s' % name)
    if module.check_mode and after is not before:
        requests.append(('POST ' + client.full_path(client.path('environments'))) if before is None
                        else ('PUT ' + client.full_path(path)))
        result['created'] = before is None
    before, after = comparable(before, name), comparable(after, name)
    result.update(attempts=writes, pins_changed=pin_changes(before, after))
    return before, after, before != after or writes > 0


def pin_changes(before, after):
    """The pins that differ, cookbook to before and after (None for no pin)."""
    before_pins = (before or {}).get('cookbook_versions') or {}
    after_pins = (after or {}).get('cookbook_versions') or {}
    return dict((c, dict(before=before_pins.get(c), after=after_pins.get(c)))
                for c in sorted(set(before_pins) | set(after_pins)) if before_pins.get(c) != after_pins.get(c))


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
    result = dict(changed=False, requests=requests, pins_changed={}, created=False, attempts=0)
    try:
        if params['state'] == 'absent':
            current = read_environment(module, client, path, name, result)
            after = None
            if current is not None:
                requests.append('DELETE ' + client.full_path(path))
                if not module.check_mode:
                    try:
                        client.delete(path)
                    except ChefAPIError as exc:
                        if exc.status != 404:
                            raise
            before = comparable(current, name)
            changed = before is not None
        else:
            before, after, changed = present(module, client, path, params, result)
    except LostUpdates as exc:
        result.update(attempts=exc.writes, environment=exc.current or {})
        module.fail_json(msg=exc.msg, **result)
    except ChefAPIError as exc:
        module.fail_json(msg=exc.msg, **dict(result, **exc.details()))

    result.update(changed=changed, environment=after or {})
    if module._diff:
        label = 'environment %s' % name
        result['diff'] = dict(before=before or {}, after=after or {}, before_header=label, after_header=label)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
