#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_rollout_progress
short_description: Keep the progress record and the lease of an allowlisted rollout on a Chef Infra Server
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Keeps one data bag item per allowlist, O(data_bag)/O(name), that says how far a rollout of that allowlist got,
    host by host (keyed by the fqdn that goes into the allowlist), and which run holds it now (the lease). It lives
    on the Chef server, so any controller and any AWX relaunch finds it.
  - V(held) takes the lease for O(owner) (or keeps it) and merges O(hosts) into the record in the same write; the
    item is read again after the write and the write made again over a lost update (another writer's write from an
    older read). A lease held by another run is refused with a message naming it, unless it expired (no write of
    that run for O(lease_seconds)), its ansible-playbook process is gone from this controller, or O(take_over) is
    set. A lease taken anew is read once more after O(settle_seconds), so that of two runs taking it at the same
    moment the one whose write was overwritten stops.
  - V(released) drops the lease of O(owner) and merges O(hosts); V(read) only reads.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.chef_api
options:
  name:
    description: Id of the record item, for example the allowlist's data bag and name, C(whitelist.php8).
    type: str
    required: true
  data_bag:
    description: Data bag of the records; created when missing.
    type: str
    default: chefops_rollouts
  allowlist:
    description: The allowlist the record is about (C(data bag/item)), kept in the record for its readers.
    type: str
  state:
    description:
      - V(held) takes or keeps the lease and merges O(hosts); V(released) merges O(hosts) and drops the lease of
        O(owner); V(read) changes nothing.
    type: str
    choices: [held, released, read]
    default: held
  owner:
    description: Token of this run, the same for all its tasks and different for every run. Required unless V(read).
    type: str
  hosts:
    description:
      - Per fqdn, the fields to set in its entry (for example C(status), C(wave), C(host), C(run_id), C(detail)).
        Other hosts' entries and other fields are kept.
    type: dict
    default: {}
  lease_seconds:
    description:
      - How long the lease lasts after this run's last write to the record; longer than any gap between two of its
        writes (a wave's runs and checks).
    type: int
    default: 2400
  take_over:
    description: Take the lease even from a run whose lease has not expired (one known to be dead).
    type: bool
    default: false
  settle_seconds:
    description: Pause before the second read that confirms a newly taken lease.
    type: float
    default: 2.0
attributes:
  check_mode:
    details: Reads the record and the lease, refuses a lease held by another run, predicts the record, and writes
      nothing.
notes:
  - The Chef server has no conditional write, so the lease rests on reading after every write; two runs can both
    believe they hold it only when one takes longer than O(settle_seconds) between its read and its write.
seealso:
  - module: chefops.chef_ha.chef_allowlist
"""

EXAMPLES = r"""
- name: Take the lease of the php8 rollout and mark wave 2 as pending before adding it to the allowlist
  chefops.chef_ha.chef_rollout_progress:
    name: whitelist.php8
    allowlist: whitelist/php8
    owner: "{{ run_token }}"
    hosts:
      web02.example.com: {status: pending, wave: 2, host: web02}
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
record:
  description: The record item as read back after the change (predicted in check mode).
  returned: always
  type: dict
hosts:
  description: The record's hosts, by fqdn.
  returned: always
  type: dict
  sample: {"web01.example.com": {"status": "passed", "wave": 1, "host": "web01", "run_id": "0b9d..."}}
lease:
  description: The lease after the call (empty when free).
  returned: always
  type: dict
took_over:
  description: The lease of another run that this call replaced (expired, dead, or O(take_over)); empty otherwise.
  returned: always
  type: dict
attempts:
  description: Writes made; more than one means a concurrent change was merged.
  returned: always
  type: int
requests:
  description: The writing requests sent (or that would be sent in check mode).
  returned: always
  type: list
  elements: str
"""

import copy
import os
import socket
import time
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._process import boot_id, process_stat, read_proc
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import (
    CHEF_API_MUTUALLY_EXCLUSIVE,
    ChefAPIError,
    LostUpdates,
    chef_api_argument_spec,
    check_name,
    module_client,
    write_item,
    write_until_held,
)


def playbook_process():
    """(pid, start ticks) of the ansible-playbook process this module runs under (the topmost ancestor whose command
    is ansible-playbook: its workers are forks with the same command line), or (None, None)."""
    pid, found = os.getppid(), (None, None)
    for dummy in range(64):
        stat = process_stat(pid) if pid > 1 else None
        if stat is None:
            break
        argv = (read_proc('/proc/%d/cmdline' % pid) or '').split('\0')[:2]
        if any(os.path.basename(arg) == 'ansible-playbook' for arg in argv):
            found = (pid, stat[1])
        elif found[0] is not None:
            break
        pid = stat[0]
    return found


class Progress(object):
    def __init__(self, module, client):
        self.module = module
        self.client = client
        params = module.params
        self.params = params
        self.bag = params['data_bag']
        self.path = client.path('data', self.bag, params['name'])
        self.requests = []
        self.now = time.time()
        self.controller = socket.gethostname()
        self.boot_id = boot_id()
        pid, ticks = playbook_process()
        self.me = dict(owner=params['owner'], controller=self.controller, pid=pid, start_ticks=ticks,
                       boot_id=self.boot_id, renewed=int(self.now), expires=int(self.now + params['lease_seconds']),
                       stamp=uuid.uuid4().hex)
        self.taken_from = None

    def read(self):
        return self.client.get(self.path, missing_ok=True)

    @staticmethod
    def lease_of(item):
        lease = (item or {}).get('lease')
        return lease if isinstance(lease, dict) and lease.get('owner') else {}

    def alive(self, lease):
        """Whether the run holding the lease may still be at work: its lease has not expired and, when it runs on
        this controller, its ansible-playbook process is still there."""
        if (lease.get('expires') or 0) < self.now:
            return False
        if lease.get('controller') != self.controller or not lease.get('pid') or lease.get('boot_id') != self.boot_id:
            return True  # another controller's run: only its expiry tells
        stat = process_stat(int(lease['pid']))
        return stat is not None and stat[1] == lease.get('start_ticks')

    def blocking(self, item):
        """The lease of another live run that this call must not take, or None."""
        lease = self.lease_of(item)
        if not lease or lease['owner'] == self.params['owner']:
            return None
        if self.taken_from is not None and lease['owner'] == self.taken_from:
            return None
        if self.params['take_over'] and self.taken_from is None or not self.alive(lease):
            return None
        return lease

    def refuse(self, lease, later=False):
        since = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(lease.get('since') or lease.get('renewed') or 0))
        expires = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(lease.get('expires') or 0))
        self.module.fail_json(
            msg='%s rollout of %s (run %s on controller %s, pid %s, since %s, lease until %s): %s Wait until it ends '
                'and run this again; two rollouts of one allowlist at once would interleave their waves. If that run '
                'is gone, re-run with rollout_take_over=true (take_over) or wait until its lease expires. '
                'Record: data bag item %s/%s.'
                % ('Another run took over the' if later else 'Another run holds the',
                   self.params['allowlist'] or self.params['name'], lease.get('owner'), lease.get('controller'),
                   lease.get('pid') or '?', since, expires,
                   'this run stops before its next change.' if later else 'nothing was changed.',
                   self.bag, self.params['name']),
            holder=lease, requests=self.requests)

    def merged(self, current, keep_lease):
        new = copy.deepcopy(current) if current else {'id': self.params['name']}
        if self.params['allowlist']:
            new['allowlist'] = self.params['allowlist']
        hosts = new.get('hosts') if isinstance(new.get('hosts'), dict) else {}
        for fqdn, fields in self.params['hosts'].items():
            entry = dict(hosts.get(fqdn) or {})
            entry.update(fields or {})
            entry['updated'] = int(self.now)
            hosts[fqdn] = entry
        new['hosts'] = hosts
        if keep_lease:
            old = self.lease_of(current)
            since = old.get('since') if old.get('owner') == self.params['owner'] else int(self.now)
            new['lease'] = dict(self.me, since=since or int(self.now))
        else:
            new['lease'] = {}
        return new

    def hosts_held(self, current):
        hosts = (current or {}).get('hosts') or {}
        return all(all((hosts.get(fqdn) or {}).get(k) == v for k, v in (fields or {}).items())
                   for fqdn, fields in self.params['hosts'].items())

    def hold(self):
        def held(current):
            return current is not None and self.lease_of(current).get('stamp') == self.me['stamp'] \
                and self.hosts_held(current)

        def wanted(current):
            lease = self.blocking(current)
            if lease:
                self.refuse(lease, later=True)
            return self.merged(current, True)

        before = self.read()
        lease = self.blocking(before)
        if lease:
            self.refuse(lease)
        previous = self.lease_of(before)
        if previous and previous['owner'] != self.params['owner']:
            self.taken_from = previous['owner']
        before, after, writes = write_until_held(
            self.client, lambda: before if not self.requests else self.read(), held, wanted,
            lambda item, new: write_item(self.client, self.bag, item, new, self.requests),
            self.module.check_mode, 'the rollout record %s/%s' % (self.bag, self.params['name']))
        fresh = previous.get('owner') != self.params['owner']
        if fresh and not self.module.check_mode:
            self.client.sleep(self.params['settle_seconds'])
            after = self.read()
            if self.lease_of(after).get('stamp') != self.me['stamp']:
                self.refuse(self.lease_of(after) or {'owner': '(none)'}, later=True)
        return before, after, writes, previous if self.taken_from else {}

    def release(self):
        before = self.read()
        if self.lease_of(before).get('owner') not in (None, self.params['owner']) and self.alive(self.lease_of(before)):
            return before, before, 0, {}

        def held(current):
            return self.hosts_held(current) and self.lease_of(current).get('owner') != self.params['owner']

        before, after, writes = write_until_held(
            self.client, lambda: before if not self.requests else self.read(), held,
            lambda current: self.merged(current, False),
            lambda item, new: write_item(self.client, self.bag, item, new, self.requests),
            self.module.check_mode, 'the rollout record %s/%s' % (self.bag, self.params['name']))
        return before, after, writes, {}


def main():
    argument_spec = chef_api_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        data_bag=dict(type='str', default='chefops_rollouts'),
        allowlist=dict(type='str'),
        state=dict(type='str', default='held', choices=['held', 'released', 'read']),
        owner=dict(type='str'),
        hosts=dict(type='dict', default={}),
        lease_seconds=dict(type='int', default=2400),
        take_over=dict(type='bool', default=False),
        settle_seconds=dict(type='float', default=2.0),
    )
    module = AnsibleModule(argument_spec=argument_spec, mutually_exclusive=CHEF_API_MUTUALLY_EXCLUSIVE,
                           required_if=[('state', 'held', ('owner',)), ('state', 'released', ('owner',))],
                           supports_check_mode=True)
    params = module.params
    try:
        check_name(params['name'], 'name')
        check_name(params['data_bag'], 'data_bag')
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if params['lease_seconds'] < 60:
        module.fail_json(msg='lease_seconds must be at least 60, got %d; give more than a wave takes'
                             % params['lease_seconds'])
    for fqdn, fields in params['hosts'].items():
        if not isinstance(fields, dict):
            module.fail_json(msg='hosts: the entry of %s is %r, not a dictionary of fields' % (fqdn, fields))

    client = module_client(module)
    progress = Progress(module, client)
    result = dict(changed=False, requests=progress.requests, attempts=0, took_over={})
    try:
        if params['state'] == 'read':
            before = after = progress.read()
            writes, took_over = 0, {}
        elif params['state'] == 'held':
            before, after, writes, took_over = progress.hold()
        else:
            before, after, writes, took_over = progress.release()
    except LostUpdates as exc:
        module.fail_json(msg=exc.msg, requests=progress.requests, attempts=exc.writes, record=exc.current or {})
    except ChefAPIError as exc:
        module.fail_json(msg=exc.msg, **dict(result, **exc.details()))
    if took_over:
        module.warn('took over the lease of run %s (controller %s, pid %s): that run is gone, its lease expired or '
                    'take_over was set; its work may be half done and this run continues it'
                    % (took_over.get('owner'), took_over.get('controller'), took_over.get('pid')))
    record = after or {}
    result.update(changed=bool(progress.requests) or (module.check_mode and before != after), record=record, hosts=record.get('hosts') or {},
                  lease=Progress.lease_of(record), took_over=took_over, attempts=writes)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
