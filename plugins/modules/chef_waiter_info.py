#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_waiter_info
short_description: Report the state of a Chef Waiter agent and its last chef-client run
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Reads the agent's C(/healthcheck), C(/status), lock, maintenance window, periodic runs and interval, the
    details of the last finished run (C(/chef/lastrun), then C(/chefclient/<guid>)), and the runs in progress
    (C(/chef/allruns)).
  - An agent that does not answer is reported with RV(reachable=false), not as a failure.
  - Never changes anything.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.attributes.info_module
  - chefops.chef_ha.chef_waiter
notes:
  - The module talks HTTP(S) to the agent; run it on the controller (C(delegate_to=localhost)) or on the node itself.
  - The agent refreshes C(locked) and C(last_run_id) in its C(/status) every 10 seconds; RV(locked) and RV(last_run)
    are read from their own endpoints, which are current.
seealso:
  - module: chefops.chef_ha.chef_waiter
  - module: chefops.chef_ha.chef_waiter_run
"""

EXAMPLES = r"""
- name: Read every agent's state from the controller
  chefops.chef_ha.chef_waiter_info:
    host: "{{ ansible_host | default(inventory_hostname) }}"
  delegate_to: localhost
  register: agent
"""

RETURN = r"""
reachable:
  description: Whether the agent answered its C(/healthcheck).
  returned: always
  type: bool
error:
  description: Why the agent could not be read, or null.
  returned: always
  type: str
version:
  description: The agent's version, from C(/status).
  returned: always
  type: str
  sample: 1.4.3
chef_version:
  description: The chef-client version the agent found, from C(/status).
  returned: always
  type: str
  sample: 18.5.0
healthy:
  description: Reachable, and C(/status) says healthy (it found a working chef-client). The last run's result is in
    RV(last_run), not part of this verdict.
  returned: always
  type: bool
locked:
  description: Whether the agent is locked.
  returned: always
  type: bool
maintenance:
  description: Whether a maintenance window is running, and when it ends.
  returned: always
  type: dict
  sample: {in_maintenance: false, end_time: "1970-01-01 00:00:00 +0000 UTC"}
periodic_runs:
  description: Whether periodic chef-client runs are on.
  returned: always
  type: bool
interval:
  description: Minutes between two periodic runs.
  returned: always
  type: int
last_run:
  description: The last finished run (C(guid), C(status), C(exitcode), C(start_time), C(end_time)), or null.
  returned: always
  type: dict
  sample: {guid: 4f1c..., status: complete, exitcode: 0}
runs_in_progress:
  description:
    - The runs whose chef-client has started and not ended (status C(running)), periodic or on demand, oldest
      first, each with its C(guid), C(status), C(ondemand) and C(start_time) (when it was queued).
    - A run in progress saves its node at its end with the environment it loaded at its start, so a play that
      changed the node meanwhile waits for these runs to end and then reads the node again. Queued runs
      (C(registered)) are not listed; they load the node when they start.
  returned: always
  type: list
  elements: dict
  sample: [{guid: 4f1c..., status: running, ondemand: false, start_time: 1764870000}]
problems:
  description: Why RV(healthy) is false, one sentence each.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_waiter_api import (
    ChefWaiterClient,
    ChefWaiterError,
    chef_waiter_argument_spec,
    parse_json,
)

RUN_KEYS = ('status', 'exitcode', 'start_time', 'end_time', 'type')


def runs_in_progress(table):
    """The running runs of the agent's run table (GET /chef/allruns: guid -> JobDetails), oldest first."""
    if not isinstance(table, dict):
        raise ChefWaiterError('unexpected answer to /chef/allruns: %r' % (table,))
    rows = [dict(guid=guid, status=details.get('status'), ondemand=details.get('ondemand'),
                 start_time=details.get('starttime'))
            for guid, details in table.items() if isinstance(details, dict) and details.get('status') == 'running']
    return sorted(rows, key=lambda row: (row['start_time'] or 0, row['guid']))


def read_agent(client):
    client.healthcheck()
    status = client.app_status()
    state = dict(version=status.get('version'), chef_version=status.get('chef_version'),
                 agent_healthy=status.get('healthy') is True, locked=client.locked(),
                 periodic_runs=client.periodic_runs(), interval=client.interval())
    maintenance = client.maintenance()
    state['maintenance'] = dict(in_maintenance=maintenance['in_maintenance'], end_time=maintenance['end_time'])
    guid = parse_json(client.request('/chef/lastrun').body, '/chef/lastrun').get('last_run_guid') or None
    state['runs_in_progress'] = runs_in_progress(parse_json(client.request('/chef/allruns').body, '/chef/allruns'))
    state['last_run'] = None
    if guid:
        details = client.run_status(guid)[0] or {}
        state['last_run'] = dict(guid=guid, **dict((key, details.get(key)) for key in RUN_KEYS if key in details))
    return state


def main():
    module = AnsibleModule(argument_spec=chef_waiter_argument_spec(), supports_check_mode=True)
    result = dict(changed=False, reachable=False, error=None, version=None, chef_version=None, healthy=False,
                  locked=None, maintenance=None, periodic_runs=None, interval=None, last_run=None, runs_in_progress=[],
                  problems=[])
    try:
        state = read_agent(ChefWaiterClient(module.params))
    except ChefWaiterError as exc:
        result.update(error=exc.msg, problems=['the agent does not answer: %s' % exc.msg])
        module.exit_json(**result)
    problems = []
    if not state.pop('agent_healthy'):
        problems.append('the agent reports itself unhealthy (chef-client -v failed or printed no version)')
    result.update(state, reachable=True, healthy=not problems, problems=problems)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
