#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_allowlist
short_description: Keep the host patterns of an allowlist data bag item on a Chef Infra Server
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Manages one allowlist of the chef-whitelist library cookbook (read by C(node.is_in_whitelist?(name))), that is
    the data bag item O(data_bag)/O(name) and its list of fqdn patterns under O(key).
  - The patterns are kept as an exact list (O(patterns)), or changed with O(add) and O(remove), which leave every
    other pattern alone. Other keys of the item (for example C(roles)) are kept as they are.
  - Creates the data bag and the item when they are missing; an item with an empty list is valid and is what a
    recipe needs before it reads the allowlist (a missing item fails every Chef run that reads it).
  - Decides from direct reads of the item (never from search), and reads the item again after writing it. When
    another writer changed it in between (two plays adding different hosts at once), the change is made again on
    top of the other one, at most five times.
  - With O(candidates), returns which of those fqdns the resulting patterns match, with the cookbook's own rule
    (Ruby's C(File.fnmatch(pattern, node['fqdn'])) without flags).
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.chef_api
options:
  name:
    description:
      - Name of the allowlist, the id of its data bag item (the first argument of C(is_in_whitelist?)).
    type: str
    required: true
  data_bag:
    description:
      - Data bag of the allowlists (the cookbook's C(data_bag) argument).
    type: str
    default: whitelist
  key:
    description:
      - Key of the item that holds the patterns (the cookbook's C(attribute) argument).
    type: str
    default: patterns
  patterns:
    description:
      - The exact list of patterns the item must hold, in this order. V([]) empties it.
      - Each pattern is matched against the node's fqdn (Ohai's, not the node name) as a whole, case-sensitively.
        C(*) matches any characters, dots included; C(?) one character; C([abc]), C([a-z]), C([!a-z]) one
        character of (or not of) a set; C(\\) escapes the next character.
      - Braces are taken literally (no expansion), so a pattern with C({) or C(}) never matches and is refused, as
        are patterns with white space, an unclosed C([), an empty C([]) or a trailing lone backslash.
      - Mutually exclusive with O(add) and O(remove).
    type: list
    elements: str
  add:
    description:
      - Patterns to add when they are not in the list yet, appended in this order. Validated as O(patterns).
    type: list
    elements: str
  remove:
    description:
      - Patterns to remove from the list, compared as text. Not validated, so any stray entry can be removed.
    type: list
    elements: str
  state:
    description:
      - V(present) keeps the item with its patterns; V(absent) deletes the item.
      - Delete an item only once no recipe reads it any more.
    type: str
    choices: [present, absent]
    default: present
  candidates:
    description:
      - Fqdns to test against the resulting patterns; see RV(matched), RV(not_matched) and RV(matches).
    type: list
    elements: str
attributes:
  check_mode:
    details: Reads the item and predicts the result; sends no request that changes anything.
  diff_mode:
    support: full
    details: The item before and after, as dictionaries.
notes:
  - The item's C(roles) list, which the cookbook consults when no pattern matched, is neither changed nor used for
    RV(matched).
seealso:
  - module: chefops.chef_ha.chef_node_info
  - name: chef-whitelist library cookbook
    description: The cookbook that reads the allowlists.
    link: https://github.com/etsy/chef-whitelist
"""

EXAMPLES = r"""
- name: Create the allowlist before the cookbook that reads it is promoted
  chefops.chef_ha.chef_allowlist:
    name: php8
    patterns: []
    server_url: https://chef.example.com/organizations/acme
    client_name: deployer
    client_key: ~/.chef/deployer.pem
  delegate_to: localhost
  run_once: true

- name: Add one wave of hosts, leaving the other patterns alone
  chefops.chef_ha.chef_allowlist:
    name: php8
    add: "{{ wave_fqdns }}"
    candidates: "{{ wave_fqdns }}"
  delegate_to: localhost
  run_once: true
  register: allowlist

- name: Take a host back out
  chefops.chef_ha.chef_allowlist:
    name: php8
    remove: [web07.example.com]
  delegate_to: localhost
  run_once: true

- name: One pattern for the whole web tier, with a custom bag and key
  chefops.chef_ha.chef_allowlist:
    name: php8
    data_bag: rollouts
    key: hosts
    patterns: ['web*.example.com']
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
item:
  description: The data bag item after the change (predicted in check mode); empty when it is absent.
  returned: always
  type: dict
  sample: {"id": "php8", "patterns": ["web01.example.com", "*.db.example.com"]}
patterns:
  description: The patterns the item holds after the change (predicted in check mode).
  returned: always
  type: list
  elements: str
  sample: ["web01.example.com", "*.db.example.com"]
added:
  description: Patterns that were not in the item before and are now.
  returned: always
  type: list
  elements: str
  sample: ["web01.example.com"]
removed:
  description: Patterns that were in the item before and are not now.
  returned: always
  type: list
  elements: str
  sample: []
created:
  description: Whether the item was (or would be) created.
  returned: always
  type: bool
  sample: false
requests:
  description: The writing requests sent (or, in check mode, that would be sent), in order.
  returned: always
  type: list
  elements: str
  sample: ["PUT /organizations/acme/data/whitelist/php8"]
attempts:
  description: How many times the item was written; more than one means a concurrent change was merged.
  returned: always
  type: int
  sample: 1
matched:
  description: The O(candidates) that the resulting patterns match.
  returned: when O(candidates) is given
  type: list
  elements: str
  sample: ["web01.example.com"]
not_matched:
  description: The O(candidates) that no resulting pattern matches.
  returned: when O(candidates) is given
  type: list
  elements: str
  sample: ["web02.example.com"]
matches:
  description: For each matched candidate, the first pattern that matches it (the one the cookbook logs).
  returned: when O(candidates) is given
  type: dict
  sample: {"web01.example.com": "web0?.example.com"}
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import (
    CHEF_API_MUTUALLY_EXCLUSIVE,
    ChefAPIError,
    LostUpdates,
    chef_api_argument_spec,
    check_name,
    first_match,
    module_client,
    pattern_problem,
    write_item,
    write_until_held,
)


def unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


class Allowlist(object):
    def __init__(self, module, client):
        self.module = module
        self.client = client
        params = module.params
        self.name = params['name']
        self.bag = params['data_bag']
        self.key = params['key']
        self.exact = unique(params['patterns']) if params['patterns'] is not None else None
        self.add = unique(params['add'] or [])
        self.remove = unique(params['remove'] or [])
        self.bag_path = client.path('data', self.bag)
        self.item_path = client.path('data', self.bag, self.name)
        self.requests = []

    def current_patterns(self, item):
        """The item's patterns, or None when the key is missing or not a list."""
        if item is None:
            return None
        value = item.get(self.key)
        return list(value) if isinstance(value, list) else None

    def satisfied(self, item):
        current = self.current_patterns(item)
        if current is None:
            return False
        if self.exact is not None:
            return current == self.exact
        return all(p in current for p in self.add) and not any(p in current for p in self.remove)

    def wanted(self, item):
        if self.exact is not None:
            return list(self.exact)
        current = self.current_patterns(item)
        if current is None:
            if item is not None and self.key in item:
                self.module.fail_json(msg='the %s key of data bag item %s/%s holds %r, not a list; set patterns to '
                                          'replace it' % (self.key, self.bag, self.name, item[self.key]))
            current = []
        result = current + [p for p in self.add if p not in current]
        return [p for p in result if p not in self.remove]

    def new_item(self, item, patterns):
        result = copy.deepcopy(item) if item is not None else {'id': self.name}
        result[self.key] = patterns
        return result

    def present(self):
        """(before, after, writes): the item is read again after every write, and the change made again on top of
        another writer's (write_until_held); in check mode `after` is the prediction and the requests are listed."""
        before, after, writes = write_until_held(
            self.client, lambda: self.client.get(self.item_path, missing_ok=True), self.satisfied,
            lambda item: self.new_item(item, self.wanted(item)),
            lambda item, new: write_item(self.client, self.bag, item, new, self.requests),
            self.module.check_mode, 'data bag item %s/%s' % (self.bag, self.name))
        if self.module.check_mode and not self.satisfied(before):
            self.requests.append('%s %s' % ('POST', self.client.full_path(self.bag_path)) if before is None
                                 else '%s %s' % ('PUT', self.client.full_path(self.item_path)))
        return before, after, writes

    def absent(self):
        before = self.client.get(self.item_path, missing_ok=True)
        if before is None:
            return before, None, 0
        self.requests.append('DELETE ' + self.client.full_path(self.item_path))
        if self.module.check_mode:
            return before, None, 0
        try:
            self.client.delete(self.item_path)
        except ChefAPIError as exc:
            if exc.status != 404:  # gone already is what was asked
                raise
        return before, None, 1


def main():
    argument_spec = chef_api_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        data_bag=dict(type='str', default='whitelist'),
        key=dict(type='str', default='patterns', no_log=False),
        patterns=dict(type='list', elements='str'),
        add=dict(type='list', elements='str'),
        remove=dict(type='list', elements='str'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        candidates=dict(type='list', elements='str'),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=CHEF_API_MUTUALLY_EXCLUSIVE + [('patterns', 'add'), ('patterns', 'remove')],
        supports_check_mode=True,
    )
    params = module.params
    try:
        check_name(params['name'], 'name')
        check_name(params['data_bag'], 'data_bag')
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if not params['key'] or params['key'] == 'id':
        module.fail_json(msg='key %r cannot hold the patterns: give the name of a list key such as patterns'
                             % params['key'])
    if params['state'] == 'absent' and any(params[o] is not None for o in ('patterns', 'add', 'remove')):
        module.fail_json(msg='state=absent deletes the whole item; patterns, add and remove are for state=present')
    for option in ('patterns', 'add'):
        for pattern in params[option] or []:
            problem = pattern_problem(pattern)
            if problem:
                module.fail_json(msg='%s: pattern %r is refused: %s' % (option, pattern, problem))
    both = [p for p in params['add'] or [] if p in (params['remove'] or [])]
    if both:
        module.fail_json(msg='add and remove both name %s; name each pattern in one of them only' % ', '.join(both))

    client = module_client(module)
    allowlist = Allowlist(module, client)
    result = dict(changed=False, requests=allowlist.requests, attempts=0)
    try:
        if params['state'] == 'present':
            before, after, writes = allowlist.present()
        else:
            before, after, writes = allowlist.absent()
    except LostUpdates as exc:
        result.update(attempts=exc.writes, item=exc.current or {})
        module.fail_json(msg=exc.msg, **result)
    except ChefAPIError as exc:
        module.fail_json(msg=exc.msg, **dict(result, **exc.details()))

    before_patterns = allowlist.current_patterns(before) or []
    after_patterns = allowlist.current_patterns(after) or []
    result.update(
        changed=before != after,
        item=after or {},
        patterns=after_patterns,
        added=[p for p in after_patterns if p not in before_patterns],
        removed=[p for p in before_patterns if p not in after_patterns],
        created=before is None and after is not None,
        attempts=writes,
    )
    if params['candidates'] is not None:
        matches = {}
        for fqdn in params['candidates']:
            pattern = first_match(after_patterns, fqdn)
            if pattern is not None:
                matches[fqdn] = pattern
        result.update(matches=matches, matched=[c for c in params['candidates'] if c in matches],
                      not_matched=[c for c in params['candidates'] if c not in matches])
    if module._diff:
        label = 'data bag item %s/%s' % (allowlist.bag, allowlist.name)
        result['diff'] = dict(before=before or {}, after=after or {}, before_header=label, after_header=label)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
