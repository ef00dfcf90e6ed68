#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_waiter_batch_run
short_description: Run chef-client through the Chef Waiter agents of many nodes at once and wait for all the runs
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Starts an on-demand chef-client run on every agent of O(agents) at once, then waits for all of them from this
    one task, polling the agents concurrently, and returns each run's result by name in RV(runs).
  - Each run is started, followed and judged exactly as M(chefops.chef_ha.chef_waiter_run) does it for one node
    (the same requests, result keys and failure messages), so a play can run this module once per batch
    (C(run_once)) and hand every host its own result, instead of holding one fork per host for a whole run.
  - An agent given with a O(agents[].guid) is not asked for a run; the module waits for that run instead, for
    example one started by M(chefops.chef_ha.chef_waiter_run) with O(chefops.chef_ha.chef_waiter_run#module:wait=false).
  - One agent that cannot be reached, refuses the run, or whose run fails does not stop the others.
  - Once a run started, a status poll the agent does not answer (connection refused or reset, a request timeout, an
    HTTP 5xx, as while the host is busy loading chef-client) is tried again at the next poll, until the run's
    O(wait_timeout); only that deadline or the agent's own answer (the run failed, the run is unknown) fails the
    run. RV(runs) counts such polls in C(poll_errors).
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.chef_waiter.run
options:
  agents:
    description:
      - The agents, one entry per node. Options left out of an entry come from the options of the same name
        below.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the entry in RV(runs), usually the inventory host name. Names must be unique.
        type: str
        required: true
      url:
        description:
          - Base URL of the agent, for example C(https://node1.example.com:8901). When set, O(agents[].host),
            O(agents[].port) and O(agents[].use_tls) are not used.
        type: str
      host:
        description:
          - Host name or address of the agent. Default O(agents[].name).
        type: str
      port:
        description:
          - TCP port of the agent. Default O(port).
        type: int
      use_tls:
        description:
          - Talk HTTPS to the agent. Default O(use_tls).
        type: bool
      validate_certs:
        description:
          - Verify the agent's TLS certificate. Default O(validate_certs).
        type: bool
      run_list:
        description:
          - Custom run list of this node's run. Default O(run_list).
        type: str
      force:
        description:
          - Run the custom run list even when the agent is locked. Default O(force).
        type: bool
      guid:
        description:
          - GUID of a run already started on the agent. The module waits for that run instead of starting one.
        type: str
  port:
    description:
      - TCP port of the agents (their C(listen_port)).
    type: int
    default: 8901
  use_tls:
    description:
      - Talk HTTPS to the agents, configured with C(enable_tls=true).
    type: bool
    default: false
  validate_certs:
    description:
      - Verify the agents' TLS certificates (chain and host name).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the certificate authority (or the self-signed certificate) that signed the agents' certificates.
    type: path
  timeout:
    description:
      - Timeout in seconds of each HTTP request to an agent.
    type: int
    default: 10
  wait_timeout:
    description:
      - How many seconds to wait for each run, counted from its start. A run still queued or running then counts as
        failed; the run itself goes on.
    type: int
    default: 1800
  poll_interval:
    description:
      - Seconds between two rounds of status requests to the agents whose runs have not finished.
    type: float
    default: 2.0
  workers:
    description:
      - How many requests to agents at once at most.
    type: int
    default: 32
  fail_on_error:
    description:
      - Fail the task when any run failed, timed out or was refused.
      - With V(false) the task succeeds and RV(runs) tells which runs failed and why, so that a play can fail each
        host on its own result.
    type: bool
    default: true
attributes:
  check_mode:
    details:
      - Starts nothing. Checks that each agent answers and predicts a refusal (lock, whitelist) from C(/chef/lock)
        and C(/status), as M(chefops.chef_ha.chef_waiter_run) does. Runs given by O(agents[].guid) are waited for,
        which changes nothing.
  idempotent:
    support: none
    details: Every call starts chef-client runs, which is the point of the module.
notes:
  - The module talks HTTP(S) to the agents; run it once (C(run_once)) on the controller or on a host the agents'
    firewall lets in (C(delegate_to)). The agent has no authentication; restrict its port to trusted networks.
  - Its own work is a few requests per agent and poll round, in threads; the time the task takes is the time of the
    slowest run.
seealso:
  - module: chefops.chef_ha.chef_waiter_run
"""

EXAMPLES = r"""
- name: Run the deploy recipe on every node of the batch at once and wait for all the runs
  chefops.chef_ha.chef_waiter_batch_run:
    agents: "{{ ansible_play_batch | map('community.general.dict_kv', 'name') }}"
    run_list: recipe[app::deploy]
    use_tls: true
    ca_path: /etc/chefops/chef-waiter-ca.pem
    fail_on_error: false
  run_once: true
  delegate_to: localhost
  register: deploy

- name: Fail each host whose run failed, with its own message
  ansible.builtin.fail:
    msg: "{{ deploy.runs[inventory_hostname].msg }}"
  when: deploy.runs[inventory_hostname].failed

- name: Wait for runs started earlier, agents on their own ports
  chefops.chef_ha.chef_waiter_batch_run:
    agents:
      - {name: node1, host: 10.0.5.11, guid: 35434398-b40a-4686-ab38-38deccd4241b}
      - {name: node2, host: 10.0.5.12, port: 8902, guid: 0038cf85-3c4d-4a52-9d7e-53d3e9bb1d04}
    wait_timeout: 900
  delegate_to: localhost
"""

RETURN = r"""
runs:
  description:
    - The result of each agent's run by O(agents[].name), with the keys M(chefops.chef_ha.chef_waiter_run) returns
      for one run (C(guid), C(status), C(exitcode), C(custom_run), C(custom_run_string), C(start_time),
      C(end_time), C(duration), C(log_tail), C(agent_url), and C(url), C(http_status), C(body) of a failed
      request), plus C(changed), C(failed), for a failed run C(msg), and C(poll_errors), the number of status
      polls the agent did not answer and that were tried again, when there were any.
    - C(changed) is true when the module started the run (in check mode, when it would start it).
  returned: always
  type: dict
  sample:
    node1:
      changed: true
      failed: false
      agent_url: http://10.0.5.11:8901
      guid: 35434398-b40a-4686-ab38-38deccd4241b
      status: complete
      exitcode: 0
      custom_run: true
      custom_run_string: recipe[app::deploy]
      start_time: 1763687532
      end_time: 1763687593
      duration: 61
      log_tail: ["[2026-11-21T00:59:41+00:00] INFO: Chef Infra Client Run complete in 60.1 seconds"]
failed_agents:
  description: Names of the agents whose run failed, timed out or was refused, in the order of O(agents).
  returned: always
  type: list
  elements: str
  sample: [node7]
"""

import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_waiter_api import (
    ChefWaiterClient,
    RunWatch,
    check_wait_options,
    run_list_problem,
)

AGENT_OPTIONS = ('url', 'host', 'port', 'use_tls', 'validate_certs', 'run_list', 'force')


class AgentRun(object):
    """One entry of agents: its connection settings and run options, resolved against the module's own."""

    def __init__(self, entry, params):
        self.name = entry['name']
        self.opts = dict((key, params.get(key) if entry.get(key) is None else entry[key]) for key in AGENT_OPTIONS)
        if not self.opts['host']:
            self.opts['host'] = self.name
        self.guid = entry.get('guid')
        client = ChefWaiterClient(dict(self.opts, ca_path=params['ca_path'], timeout=params['timeout']))
        self.watch = RunWatch(client, params['wait_timeout'], params['log_lines'])

    def problem(self):
        """Bad input of this entry alone: the message, or None."""
        if self.guid is not None:
            return None
        if self.opts['force'] and self.opts['run_list'] is None:
            return 'force is True but all of the following are missing: run_list'
        return run_list_problem(self.opts['run_list'])

    def begin(self, check_mode):
        """Start the run (or predict it in check mode, or follow the given guid)."""
        if self.guid is not None:
            self.watch.follow(self.guid)
        elif check_mode:
            self.watch.check(self.opts['run_list'], self.opts['force'])
        else:
            self.watch.start(self.opts['run_list'], self.opts['force'])

    def poll(self):
        return self.watch.poll()

    def outcome(self):
        out = dict(self.watch.result, failed=self.watch.msg is not None)
        if self.watch.msg is not None:
            out['msg'] = self.watch.msg
        return out


def wait_for_all(runs, pool, poll_interval):
    """Poll every unfinished run in rounds until each has finished, timed out or failed."""
    pending = [run for run in runs if not run.watch.done]
    while pending:
        round_start = time.monotonic()
        list(pool.map(lambda run: run.poll(), pending))
        pending = [run for run in pending if not run.watch.done]
        if pending:
            next_round = poll_interval - (time.monotonic() - round_start)
            first_deadline = min(run.watch.seconds_to_deadline() for run in pending)
            time.sleep(max(0, min(next_round, first_deadline)))


def main():
    agent_spec = dict(
        name=dict(type='str', required=True),
        url=dict(type='str'),
        host=dict(type='str'),
        port=dict(type='int'),
        use_tls=dict(type='bool'),
        validate_certs=dict(type='bool'),
        run_list=dict(type='str'),
        force=dict(type='bool'),
        guid=dict(type='str'),
    )
    module = AnsibleModule(
        argument_spec=dict(
            agents=dict(type='list', elements='dict', options=agent_spec, required=True),
            port=dict(type='int', default=8901),
            use_tls=dict(type='bool', default=False),
            validate_certs=dict(type='bool', default=True),
            ca_path=dict(type='path'),
            timeout=dict(type='int', default=10),
            run_list=dict(type='str'),
            force=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=1800),
            poll_interval=dict(type='float', default=2.0),
            log_lines=dict(type='int', default=40),
            workers=dict(type='int', default=32),
            fail_on_error=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    check_wait_options(module, 'workers')
    names = [entry['name'] for entry in params['agents']]
    repeated = sorted(set(name for name in names if names.count(name) > 1))
    if repeated:
        module.fail_json(msg='agents: every name must be unique; repeated: %s' % ', '.join(repeated))

    runs = [AgentRun(entry, params) for entry in params['agents']]
    ready = []
    for run in runs:
        problem = run.problem()
        if problem:
            run.watch.fail(problem)
        else:
            ready.append(run)
    if ready:
        with ThreadPoolExecutor(max_workers=min(params['workers'], len(ready))) as pool:
            list(pool.map(lambda run: run.begin(module.check_mode), ready))
            wait_for_all(ready, pool, params['poll_interval'])

    results = dict((run.name, run.outcome()) for run in runs)
    failed = [run.name for run in runs if results[run.name]['failed']]
    result = dict(changed=any(r['changed'] for r in results.values()), runs=results, failed_agents=failed)
    if failed and params['fail_on_error']:
        module.fail_json(msg='%d of %d chef-client runs failed: %s; see runs for each one'
                             % (len(failed), len(runs), ', '.join(failed)), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
