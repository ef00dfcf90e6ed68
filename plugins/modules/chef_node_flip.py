#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_node_flip
short_description: Flip Chef nodes into an environment and back, with their original environments recorded first
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Moves Chef nodes into an environment for a short test (as C(knife node flip) does) and back into the environment
    each came from, with the original environments kept on the Chef server, where any later run (another controller,
    a relaunched AWX job, a run after one that was killed) finds them.
  - "The record is the data bag item O(data_bag)/O(record): C({\"id\": \"flips\", \"nodes\": {NODE: {\"original\":
    ENV, \"target\": ENV, \"state\": STATE, \"recorded\": UTC TIME}}}), one entry per node that may be away from its
    original environment. STATE is C(flipping) (recorded, the flip may or may not have happened), C(flipped)
    (verified in the target) or C(returned) (put back, not verified after the runs in progress yet). The bag and the
    item are created when missing; a closed record is an item with no nodes."
  - O(state=flipped) writes the record before it changes any node. A node already recorded keeps its recorded
    original environment (never the one it is in now, which is the target after an interrupted flip); a node
    recorded into another environment is refused before anything is written. Then each node is written back whole
    with only C(chef_environment) changed and read again; the first node that fails stops the flips.
  - O(state=returned) puts each recorded node of O(nodes) back into its recorded original environment and reads it
    again; the record stays. O(state=closed) does the same, then removes from the record the nodes that were found
    in their original environment; a node that had to be put back again (a chef-client run saved it after the
    return) stays recorded and fails the task.
  - Nodes of O(nodes) that the record does not hold are left alone by O(state=returned) and O(state=closed) and
    listed in RV(not_recorded).
  - The record is read again after every write and a write lost to another writer is made again, as the other
    read-modify-write modules of the collection do.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.chef_api
options:
  nodes:
    description:
      - Names of the Chef nodes. Each may appear once.
    type: list
    elements: str
    required: true
  environment:
    description:
      - The environment to flip the nodes into (O(state=flipped)); it must exist. Not used by the other states.
    type: str
  state:
    description:
      - V(flipped) records the nodes' original environments, then flips them into O(environment).
      - V(returned) puts the recorded nodes back into their original environments; V(closed) also closes their
        entries of the record once each was found there.
    type: str
    choices: [flipped, returned, closed]
    default: flipped
  data_bag:
    description:
      - Data bag of the record.
    type: str
    default: chefops_flips
  record:
    description:
      - Id of the record's data bag item. Every flip of the organization should use the same one, so that a node
        can be recorded only once.
    type: str
    default: flips
attributes:
  check_mode:
    details: Reads the record, the nodes and the environment, and predicts the result; writes nothing.
  diff_mode:
    support: none
notes:
  - A chef-client run in progress when a node is flipped saves the node at its end with the environment it loaded.
    Wait for such runs to end (M(chefops.chef_ha.chef_waiter_info) RV(chefops.chef_ha.chef_waiter_info#module:runs_in_progress)),
    then run this module again with the same options, which flips again what a run put back.
seealso:
  - module: chefops.chef_ha.chef_node_environment
  - module: chefops.chef_ha.chef_waiter_info
"""

EXAMPLES = r"""
- name: Record the original environments, then flip the nodes into testing
  chefops.chef_ha.chef_node_flip:
    nodes: [web01.example.com, web02.example.com]
    environment: testing
  register: flip

- name: Put them back where the record says they came from, and close their entries
  chefops.chef_ha.chef_node_flip:
    nodes: [web01.example.com, web02.example.com]
    state: closed
"""

RETURN = r"""
nodes:
  description: Per node of O(nodes) that was handled, its C(original) and C(target) environments as recorded, the
    environment it was in before the task (C(previous)), the one read back after it (C(environment)), whether it
    was written (C(changed)), its C(state) in the record afterwards (null once closed) and C(error) when it failed.
  returned: always
  type: dict
  sample: {"web01.example.com": {"original": "production", "target": "testing", "previous": "production",
           "environment": "testing", "changed": true, "state": "flipped", "error": null}}
originals:
  description: Each recorded node of O(nodes) and its original environment, from the record.
  returned: always
  type: dict
  sample: {"web01.example.com": "production"}
not_recorded:
  description: Nodes of O(nodes) the record does not hold (O(state=returned) and O(state=closed)); left alone.
  returned: always
  type: list
  elements: str
reverted:
  description: Nodes O(state=closed) found out of their original environment and put back again; still recorded.
  returned: always
  type: list
  elements: str
failed_nodes:
  description: Nodes whose change failed (RV(nodes) gives the error), and with O(state=flipped) the nodes not
    flipped because an earlier one failed.
  returned: always
  type: list
  elements: str
record:
  description: The record's entries as read back after the task (predicted in check mode).
  returned: always
  type: dict
requests:
  description: The writing requests sent (or, in check mode, that would be sent), in order.
  returned: always
  type: list
  elements: str
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import (
    CHEF_API_MUTUALLY_EXCLUSIVE,
    ENVIRONMENT_NAME_RE,
    ChefAPIError,
    LostUpdates,
    chef_api_argument_spec,
    check_name,
    module_client,
    node_environment,
    put_node_environment,
    write_item,
    write_until_held,
)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


class FlipRecord(object):
    """The record item: read, and changed by read-modify-write."""

    def __init__(self, module, client, requests):
        self.module = module
        self.client = client
        self.requests = requests
        self.bag = module.params['data_bag']
        self.id = module.params['record']
        self.path = client.path('data', self.bag, self.id)
        self.label = 'data bag item %s/%s' % (self.bag, self.id)

    def read(self):
        item = self.client.get(self.path, missing_ok=True)
        if item is None:
            return None
        if not isinstance(item, dict) or not isinstance(item.get('nodes', {}), dict):
            self.module.fail_json(msg='%s is not a flip record (no "nodes" mapping): %r; move it away or set record '
                                      'to another id' % (self.label, item), requests=self.requests)
        return item

    @staticmethod
    def entries(item):
        return dict((item or {}).get('nodes') or {})

    def change(self, held, edit):
        """Make `edit(entries)` hold (held(entries) says when it does): (entries read back, or predicted in check
        mode)."""
        def wanted(item):
            entries = self.entries(item)
            edit(entries)
            new = dict(item or {}, id=self.id)
            new['nodes'] = entries
            return new

        before, after, dummy = write_until_held(
            self.client, self.read, lambda item: item is not None and held(self.entries(item)), wanted,
            lambda item, new: write_item(self.client, self.bag, item, new, self.requests),
            self.module.check_mode, self.label)
        if self.module.check_mode and after is not before:
            self.requests.append(('PUT ' + self.client.full_path(self.path)) if before is not None
                                 else ('POST ' + self.client.full_path(self.client.path('data', self.bag))))
        return self.entries(after)


class Flip(object):
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.names = list(module.params['nodes'])
        self.requests = []
        self.record = FlipRecord(module, client, self.requests)
        self.results = {}
        self.failed = []
        self.msgs = []

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **dict(self.outcome({}), **extra))

    def outcome(self, entries):
        return dict(changed=any(r['changed'] for r in self.results.values()) or bool(self.requests),
                    nodes=self.results, record=entries, requests=self.requests, failed_nodes=self.failed,
                    originals=dict((n, entries[n]['original']) for n in self.names if n in entries),
                    not_recorded=[], reverted=[])

    def read_nodes(self, names):
        """The nodes as read now, by name; fails before any write on a missing or unreadable node."""
        answers = self.client.get_many([self.client.path('nodes', n) for n in names], missing_ok=True)
        nodes = {}
        for name, node in zip(names, answers):
            if isinstance(node, ChefAPIError):
                raise node
            if node is None:
                self.fail('node %s does not exist on %s; is the node name right (it is not always the fqdn)? '
                          'Nothing was changed' % (name, self.client.base))
            if not isinstance(node, dict):
                self.fail('unexpected answer for node %s: %r' % (name, node))
            nodes[name] = node
        return nodes

    def move(self, name, node, environment, entry):
        """Put one node into the environment and read it back; the per-node result. False when it failed."""
        previous = node_environment(node)
        result = dict(original=entry.get('original'), target=entry.get('target'), previous=previous,
                      environment=previous, changed=False, state=entry.get('state'), error=None)
        self.results[name] = result
        if previous == environment:
            return True
        result['changed'] = True
        self.requests.append('PUT ' + self.client.full_path(self.client.path('nodes', name)))
        if self.module.check_mode:
            result['environment'] = environment
            return True
        try:
            result['environment'] = node_environment(put_node_environment(self.client, name, node, environment))
        except ChefAPIError as exc:
            result['error'] = exc.msg
            self.failed.append(name)
            self.msgs.append('node %s: %s' % (name, exc.msg))
            return False
        if result['environment'] != environment:
            result['error'] = 'read back in %s after the change to %s' % (result['environment'], environment)
            self.failed.append(name)
            self.msgs.append('node %s was read back in %s after the change to %s (another writer?)'
                             % (name, result['environment'], environment))
            return False
        return True

    def set_state(self, names, state):
        if not names or self.module.check_mode:
            return None

        def edit(entries):
            for name in names:
                if name in entries:
                    entries[name] = dict(entries[name], state=state)
        return self.record.change(lambda entries: all(entries.get(n, {}).get('state', state) == state for n in names),
                                  edit)

    def flipped(self):
        target = self.params['environment']
        if self.client.get(self.client.path('environments', target), missing_ok=True) is None:
            self.fail('environment %s does not exist on %s; create it first (chef_environment) or fix the name. '
                      'Nothing was changed' % (target, self.client.base))
        nodes = self.read_nodes(self.names)

        def edit(found):
            self.refuse_other_targets(found, target)
            for name in self.names:
                if name not in found:
                    found[name] = dict(original=node_environment(nodes[name]), target=target, state='flipping',
                                       recorded=utc_now())
        entries = self.record.change(lambda found: all(n in found for n in self.names), edit)
        self.refuse_other_targets(entries, target)
        flipped = []
        for index, name in enumerate(self.names):
            if not self.move(name, nodes[name], target, entries[name]):
                self.failed.extend(self.names[index + 1:])
                break
            flipped.append(name)
        entries = self.set_state([n for n in flipped if entries[n].get('state') != 'flipped'], 'flipped') or entries
        for name in flipped:
            self.results[name]['state'] = entries.get(name, {}).get('state')
        return entries

    def refuse_other_targets(self, entries, target):
        others = ['%s (into %s from %s, recorded %s)'
                  % (n, entries[n].get('target'), entries[n].get('original'), entries[n].get('recorded'))
                  for n in self.names if n in entries and entries[n].get('target') != target]
        if others:
            self.fail('an open flip in %s holds %s; a node is flipped by one flip at a time: return it first '
                      '(flip.yml with flip_environment set to that environment and flip_back=true), or leave it out. '
                      'Nothing was changed' % (self.record.label, ', '.join(others)))

    def returned(self, close):
        entries = self.record.entries(self.record.read())
        recorded = [n for n in self.names if n in entries]
        not_recorded = [n for n in self.names if n not in entries]
        nodes = self.read_nodes(recorded)
        back, reverted = [], []
        for name in recorded:
            if self.move(name, nodes[name], entries[name]['original'], entries[name]):
                (reverted if close and self.results[name]['changed'] else back).append(name)
        if close:
            def edit(found):
                for name in back:
                    found.pop(name, None)
            after = self.record.change(lambda found: not any(n in found for n in back), edit) if back else entries
        else:
            after = self.set_state([n for n in back if entries[n].get('state') != 'returned'], 'returned') or entries
        for name in recorded:
            self.results[name]['state'] = after.get(name, {}).get('state')
        if reverted:
            self.msgs.append('%s left their original environments after the return (a chef-client run in progress '
                             'saved them?); put back again and still recorded: run the flip back again'
                             % ', '.join(reverted))
        return after, not_recorded, reverted

    def run(self):
        state = self.params['state']
        not_recorded, reverted = [], []
        if state == 'flipped':
            entries = self.flipped()
        else:
            entries, not_recorded, reverted = self.returned(state == 'closed')
        result = self.outcome(entries)
        result.update(not_recorded=not_recorded, reverted=reverted)
        if self.msgs:
            self.module.fail_json(msg='; '.join(self.msgs), **result)
        self.module.exit_json(**result)


def main():
    argument_spec = chef_api_argument_spec()
    argument_spec.update(
        nodes=dict(type='list', elements='str', required=True),
        environment=dict(type='str'),
        state=dict(type='str', default='flipped', choices=['flipped', 'returned', 'closed']),
        data_bag=dict(type='str', default='chefops_flips'),
        record=dict(type='str', default='flips'),
    )
    module = AnsibleModule(argument_spec=argument_spec, mutually_exclusive=CHEF_API_MUTUALLY_EXCLUSIVE,
                           required_if=[('state', 'flipped', ['environment'])], supports_check_mode=True)
    params = module.params
    try:
        for name in params['nodes']:
            check_name(name, 'nodes: node')
        check_name(params['data_bag'], 'data_bag')
        check_name(params['record'], 'record')
        if params['environment'] is not None:
            check_name(params['environment'], 'environment', ENVIRONMENT_NAME_RE)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    twice = sorted(set(n for n in params['nodes'] if params['nodes'].count(n) > 1))
    if twice:
        module.fail_json(msg='nodes names %s more than once (two hosts with one chef_node_name?); a node can be '
                             'flipped once only, nothing was changed' % ', '.join(twice))
    if not params['nodes']:
        module.fail_json(msg='nodes is empty; give the names of the Chef nodes to flip')

    flip = Flip(module, module_client(module))
    try:
        flip.run()
    except LostUpdates as exc:
        module.fail_json(msg=exc.msg, **flip.outcome(flip.record.entries(exc.current)))
    except ChefAPIError as exc:
        module.fail_json(msg=exc.msg, **dict(flip.outcome({}), **exc.details()))


if __name__ == '__main__':
    main()
