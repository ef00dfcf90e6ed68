#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_waiter_run
short_description: Start a chef-client run through the Chef Waiter agent and wait for its result
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Asks the Chef Waiter agent of a node for an on-demand chef-client run, either with the node's own run list
    (C(GET /chefclient)) or with a custom run list (C(POST /chefclient), see O(run_list)).
  - Waits for the run to finish by polling C(/chefclient/<guid>), then returns its GUID, status, exit code, times
    and the last lines of its log (C(/cheflogs/<guid>)).
  - A failed run fails the task with the tail of its log in the message. A run the agent refuses (a locked agent, a
    custom run list outside its whitelist) fails the task with the agent's own answer.
  - While a run is queued the agent hands the same GUID to every further request, so two requests close together
    share one run.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.chef_waiter
  - chefops.chef_ha.chef_waiter.run
options:
  wait:
    description:
      - Wait for the run to finish. With V(false) the task returns as soon as the agent accepted the run.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait for the run to finish. The task fails when the run is still queued or running
        then; the run itself goes on.
    type: int
    default: 1800
  poll_interval:
    description:
      - Seconds between two status requests while waiting.
    type: float
    default: 2.0
attributes:
  check_mode:
    details:
      - Starts nothing. Checks that the agent answers and predicts a refusal (lock, whitelist) from C(/chef/lock)
        and C(/status); a predicted refusal fails the task. Reports V(changed=true) otherwise.
  idempotent:
    support: none
    details: Every call starts a chef-client run, which is the point of the module.
notes:
  - The module talks HTTP(S) to the agent; run it on the controller (C(delegate_to=localhost)) or on the node itself.
seealso:
  - module: chefops.chef_ha.chef_waiter
"""

EXAMPLES = r"""
- name: Run chef-client on the node with its own run list and wait for the result
  chefops.chef_ha.chef_waiter_run:
    host: "{{ inventory_hostname }}"
    use_tls: true
    ca_path: /etc/chefops/chef-waiter-ca.pem
  delegate_to: localhost
  register: chef_run

- name: Run one whitelisted recipe even on a locked node
  chefops.chef_ha.chef_waiter_run:
    url: https://node1.example.com:8901
    run_list: recipe[app::deploy]
    force: true
    wait_timeout: 900
    log_lines: 100
  delegate_to: localhost

- name: Queue a run without waiting for it
  chefops.chef_ha.chef_waiter_run:
    wait: false
"""

RETURN = r"""
guid:
  description: GUID of the run given by the agent.
  returned: when a run was started
  type: str
  sample: 35434398-b40a-4686-ab38-38deccd4241b
status:
  description:
    - Status of the run as the agent reports it, V(complete) or V(failed) once it finished; V(registered) or
      V(running) with O(wait=false).
  returned: when a run was started
  type: str
  sample: complete
exitcode:
  description: Exit code of chef-client as the agent reports it (V(99) while the run is queued).
  returned: when a run was started
  type: int
  sample: 0
custom_run:
  description: Whether the run uses a custom run list.
  returned: when a run was started
  type: bool
  sample: false
custom_run_string:
  description: The custom run list of the run, empty for a run with the node's own run list.
  returned: when a run was started
  type: str
  sample: ''
start_time:
  description:
    - When the agent registered the run (its C(starttime)), as a Unix epoch. The agent reports no other time.
  returned: when a run was started
  type: int
  sample: 1763687532
end_time:
  description:
    - When the module first saw the run finished, as a Unix epoch on the agent's clock (its HTTP C(Date) header),
      so within O(poll_interval) of the real end.
  returned: when the run finished while waiting
  type: int
  sample: 1763687601
duration:
  description: RV(end_time) minus RV(start_time) in seconds, queueing included.
  returned: when the run finished while waiting
  type: int
  sample: 69
log_tail:
  description: The last O(log_lines) lines of the run log.
  returned: when a run was started and waited for
  type: list
  elements: str
  sample: ["[2026-11-21T00:59:41+00:00] INFO: Chef Infra Client Run complete in 1.2 seconds"]
agent_url:
  description: Base URL of the agent.
  returned: always
  type: str
  sample: https://node1.example.com:8901
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_waiter_api import (
    ChefWaiterClient,
    RunWatch,
    chef_waiter_argument_spec,
    check_wait_options,
    run_list_problem,
)


def main():
    argument_spec = chef_waiter_argument_spec()
    argument_spec.update(
        run_list=dict(type='str'),
        force=dict(type='bool', default=False),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=1800),
        poll_interval=dict(type='float', default=2.0),
        log_lines=dict(type='int', default=40),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[('force', True, ['run_list'])],
        supports_check_mode=True,
    )
    params = module.params
    check_wait_options(module)
    run_list = params['run_list']
    problem = run_list_problem(run_list)
    if problem:
        module.fail_json(msg=problem)
    watch = RunWatch(ChefWaiterClient(params), params['wait_timeout'], params['log_lines'])

    if module.check_mode:
        watch.check(run_list, params['force'])
    elif watch.start(run_list, params['force']) and params['wait']:
        while not watch.poll():
            time.sleep(max(0, min(params['poll_interval'], watch.seconds_to_deadline())))
    if watch.msg is not None:
        module.fail_json(msg=watch.msg, **watch.result)
    module.exit_json(**watch.result)


if __name__ == '__main__':
    main()
