#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_waiter
short_description: Set the lock, maintenance window, periodic runs and interval of a Chef Waiter agent
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Reads the current state of a Chef Waiter agent from its API (C(/chef/lock), C(/chef/maintenance),
    C(/chef/enabled), C(/chef/interval)), then changes only what differs from the options given.
  - Options left out are neither read into the decision nor changed.
  - Interval and periodic runs set through the API last until the agent restarts, which resets them from its
    configuration file; the lock and the maintenance window survive a restart.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.chef_waiter
options:
  locked:
    description:
      - V(true) locks the agent (C(/chef/lock/set)) so it starts no periodic and no on-demand run, except forced
        custom runs. V(false) removes the lock.
    type: bool
  maintenance:
    description:
      - Maintenance window in whole minutes. A positive number puts the agent in maintenance (no periodic runs) for
        that long; V(0) or V(false) ends the maintenance.
      - A window already running is kept when it ends no more than a minute before the requested length from now,
        so repeating the task does not extend it; otherwise it restarts with the requested length.
      - Anything else (a fraction, a negative number, V(true), text) fails the task.
    type: raw
  periodic_runs:
    description:
      - Turn the agent's periodic chef-client runs on (C(/chef/on)) or off (C(/chef/off)).
    type: bool
  interval:
    description:
      - Minutes between two periodic runs, a positive whole number.
    type: int
attributes:
  check_mode:
    details: Reads the state and predicts it; sends no request that changes anything.
  diff_mode:
    support: full
    details: Before and after state of the agent as dictionaries.
notes:
  - The module talks HTTP(S) to the agent; run it on the controller (C(delegate_to=localhost)) or on the node itself.
seealso:
  - module: chefops.chef_ha.chef_waiter_run
"""

EXAMPLES = r"""
- name: Keep periodic runs away from the node during a deployment
  chefops.chef_ha.chef_waiter:
    host: "{{ inventory_hostname }}"
    use_tls: true
    ca_path: /etc/chefops/chef-waiter-ca.pem
    maintenance: 90
  delegate_to: localhost

- name: Protect a production node from every run
  chefops.chef_ha.chef_waiter:
    url: https://node1.example.com:8901
    locked: true
  delegate_to: localhost

- name: Back to normal operation, a periodic run every 30 minutes
  chefops.chef_ha.chef_waiter:
    locked: false
    maintenance: 0
    periodic_runs: true
    interval: 30
"""

RETURN = r"""
state:
  description: State of the agent after the task (predicted in check mode).
  returned: always
  type: dict
  contains:
    locked:
      description: Whether the agent is locked.
      type: bool
      sample: false
    in_maintenance:
      description: Whether a maintenance window is running.
      type: bool
      sample: true
    maintenance_end:
      description: End of the maintenance window as the agent shows it (the epoch when none was set).
      type: str
      sample: 2026-11-21 02:30:00 +0000 UTC
    periodic_runs:
      description: Whether periodic runs are on.
      type: bool
      sample: true
    interval:
      description: Minutes between periodic runs.
      type: int
      sample: 30
  sample:
    locked: false
    in_maintenance: true
    maintenance_end: 2026-11-21 02:30:00 +0000 UTC
    periodic_runs: true
    interval: 30
requests:
  description: The API requests that changed (or in check mode would change) the agent, in order.
  returned: always
  type: list
  elements: str
  sample: [/chef/interval/15, /chef/lock/set]
agent_url:
  description: Base URL of the agent.
  returned: always
  type: str
  sample: https://node1.example.com:8901
"""

import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_waiter_api import (
    ChefWaiterClient,
    ChefWaiterError,
    chef_waiter_argument_spec,
)

# A running window this close to the requested length is kept, so that a repeated task changes nothing.
MAINTENANCE_SLACK = 60
NO_WINDOW = '1970-01-01 00:00:00 +0000 UTC'


def maintenance_minutes(value):
    """The maintenance option as minutes (0 ends maintenance); ValueError with the reason when it is not valid."""
    if isinstance(value, bool):
        if value:
            raise ValueError('true does not say how long; give the window in whole minutes')
        return 0
    if isinstance(value, int):
        minutes = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError('not a whole number of minutes')
        minutes = int(value)
    else:
        text = to_text(value).strip()
        if text.lower() in ('false', 'no', 'off'):
            return 0
        if not re.match(r'^[+-]?\d+$', text):
            raise ValueError('not a whole number of minutes')
        minutes = int(text)
    if minutes < 0:
        raise ValueError('a negative window; use 0 or false to end the maintenance')
    return minutes


def utc_time_string(epoch):
    return time.strftime('%Y-%m-%d %H:%M:%S +0000 UTC', time.gmtime(epoch))


def read_state(client):
    maintenance = client.maintenance()
    state = dict(locked=client.locked(), in_maintenance=maintenance['in_maintenance'],
                 maintenance_end=maintenance['end_time'], periodic_runs=client.periodic_runs(),
                 interval=client.interval())
    return state, maintenance


def keep_window(maintenance, minutes):
    if not maintenance['in_maintenance'] or maintenance['end_epoch'] is None:
        return False
    return maintenance['end_epoch'] - maintenance['now'] >= minutes * 60 - MAINTENANCE_SLACK


def plan(params, state, maintenance, minutes):
    """(requests, predicted state): the changing requests in order."""
    requests = []
    after = dict(state)
    if params['interval'] is not None and params['interval'] != state['interval']:
        requests.append('/chef/interval/%d' % params['interval'])
        after['interval'] = params['interval']
    if params['periodic_runs'] is not None and params['periodic_runs'] != state['periodic_runs']:
        requests.append('/chef/on' if params['periodic_runs'] else '/chef/off')
        after['periodic_runs'] = params['periodic_runs']
    if minutes == 0 and state['in_maintenance']:
        requests.append('/chef/maintenance/end')
        after.update(in_maintenance=False, maintenance_end=NO_WINDOW)
    elif minutes and not keep_window(maintenance, minutes):
        requests.append('/chef/maintenance/start/%d' % minutes)
        after.update(in_maintenance=True, maintenance_end=utc_time_string(maintenance['now'] + minutes * 60))
    if params['locked'] is not None and params['locked'] != state['locked']:
        requests.append('/chef/lock/set' if params['locked'] else '/chef/lock/remove')
        after['locked'] = params['locked']
    return requests, after


def apply(client, request):
    if request.startswith('/chef/interval/'):
        client.set_interval(int(request.rsplit('/', 1)[1]))
    elif request in ('/chef/on', '/chef/off'):
        client.set_periodic_runs(request == '/chef/on')
    elif request.startswith('/chef/maintenance/start/'):
        client.start_maintenance(int(request.rsplit('/', 1)[1]))
    elif request == '/chef/maintenance/end':
        client.end_maintenance()
    else:
        client.set_lock(request == '/chef/lock/set')


def main():
    argument_spec = chef_waiter_argument_spec()
    argument_spec.update(
        locked=dict(type='bool'),
        maintenance=dict(type='raw'),
        periodic_runs=dict(type='bool'),
        interval=dict(type='int'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if params['interval'] is not None and params['interval'] <= 0:
        module.fail_json(msg='interval must be a positive whole number of minutes, got %d' % params['interval'])
    minutes = None
    if params['maintenance'] is not None:
        try:
            minutes = maintenance_minutes(params['maintenance'])
        except ValueError as exc:
            module.fail_json(msg='maintenance=%r is not valid: %s (for example maintenance=60, or 0 to end it)'
                                 % (params['maintenance'], exc))

    client = ChefWaiterClient(params)
    result = dict(changed=False, agent_url=client.base, requests=[])
    try:
        before, maintenance = read_state(client)
        requests, after = plan(params, before, maintenance, minutes)
        result.update(changed=bool(requests), requests=requests, state=after)
        if requests and not module.check_mode:
            for request in requests:
                apply(client, request)
            after = read_state(client)[0]
            result['state'] = after
    except ChefWaiterError as exc:
        module.fail_json(msg=exc.msg, **dict(result, **exc.details()))

    wrong = [key for key in ('locked', 'periodic_runs', 'interval')
             if params[key] is not None and after[key] != params[key]]
    if minutes is not None and after['in_maintenance'] != bool(minutes):
        wrong.append('maintenance')
    if wrong:
        module.fail_json(msg='the Chef Waiter agent does not show the requested %s after the change'
                             % ', '.join(wrong), **result)
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
