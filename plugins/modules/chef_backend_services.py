#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_backend_services
short_description: Start the Chef Backend services of a cluster member that are down, or stop a node's services
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Reads C(chef-backend-ctl status) and runs C(chef-backend-ctl start SERVICE) for each service that is not running,
    and only for those; then waits until they run.
  - A node that has not finished joining a cluster (no C(chef-backend-running.json) next to the configuration) is left
    alone, since its services are started by the create or join.
  - The services must still run O(settle) seconds later. A former leader that another member replaced while it was
    down finds its PostgreSQL stopped again by leaderl, which leaves C(/var/opt/chef-backend/leaderl/data/no-start-pgsql);
    it is then made a follower of the current leader with
    C(PSQL_INTERNAL_OK=true chef-backend-ctl pgsql-follow LEADER_IP --force-basebackup), as Chef's backend failure
    recovery says (RV(resynced)).
  - Fails within O(timeout) seconds, naming the services, when one does not come up.
  - With O(state=stopped), runs C(chef-backend-ctl stop) when any service of the node runs (or when C(status) cannot
    be read), for example on a node about to be removed from the cluster (C(remove-node) refuses a node whose
    services run).
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.ctl.backend
options:
  state:
    description:
      - V(started) starts the services that are down; V(stopped) stops every service of the node.
    type: str
    choices: [started, stopped]
    default: started
  services:
    description: The services to keep running; by default every service C(status) lists.
    type: list
    elements: str
  timeout:
    description: Seconds to wait for the started services to run.
    type: int
    default: 30
  settle:
    description: Seconds the started services must keep running before they count as up.
    type: int
    default: 5
  resync:
    description:
      - Make a former leader whose PostgreSQL leaderl will not start a follower of the current leader
        (C(pgsql-follow --force-basebackup)). V(false) fails instead, naming the command to run.
    type: bool
    default: true
  config_dir:
    description: Directory of C(chef-backend.rb) and C(chef-backend-running.json).
    type: path
    default: /etc/chef-backend
attributes:
  check_mode:
    details: Reads the status and returns the services it would start.
notes:
  - Runs C(chef-backend-ctl) with C(LC_ALL=C) as an argument list, never through a shell.
seealso:
  - module: chefops.chef_ha.chef_backend_info
"""

EXAMPLES = r"""
- name: Start whatever is down on this member (after a failover, a reboot, a stop by hand)
  chefops.chef_ha.chef_backend_services:
  register: services

- name: Say what was started
  ansible.builtin.debug:
    msg: "Started {{ services.started | join(', ') }}"
  when: services is changed
"""

RETURN = r"""
configured:
  description: Whether the node has finished joining a cluster; nothing is read or started when it has not.
  returned: always
  type: bool
started:
  description: The services that were down and were started (would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [leaderl, postgresql]
stopped:
  description: With O(state=stopped), the services that ran before the stop (would be stopped, in check mode).
  returned: when state is stopped
  type: list
  elements: str
resynced:
  description: The leader this node's PostgreSQL was made to follow with C(pgsql-follow), or null.
  returned: always
  type: str
  sample: 172.31.250.13
services:
  description: Each service's state after the run (before it, in check mode).
  returned: always
  type: dict
  sample: {etcd: running, leaderl: running, postgresql: running, elasticsearch: running}
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import (
    ChefCtlParseError,
    CtlRunner,
    ctl_argument_spec,
)
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_backend_ctl import (
    find_leader,
    parse_cluster_status_json,
    parse_status,
)

RUNNING_JSON = 'chef-backend-running.json'
# leaderl's sentinel on a deposed leader: PostgreSQL must not come back as a primary.
NO_START_PGSQL = '/var/opt/chef-backend/leaderl/data/no-start-pgsql'
# Started in this order, as chef-backend starts them.
START_ORDER = ('etcd', 'postgresql', 'leaderl', 'elasticsearch')


def read_states(runner, strict=True):
    """{service: state} from chef-backend-ctl status; unreadable output fails, or gives None when not strict."""
    rc, out, err, cmd = runner.run('status')
    try:
        services = parse_status(out)['services']
    except ChefCtlParseError as exc:
        if not strict:
            return None
        runner.fail('cannot read chef-backend-ctl status: %s' % exc, rc, out, err, cmd)
    return dict((name, info['state']) for name, info in services.items())


def wait_running(runner, names, timeout, settle):
    """Wait until every name runs and still runs `settle` seconds later; returns (states, names still down)."""
    deadline = time.time() + timeout
    up_since = None
    while True:
        states = read_states(runner)
        down = [name for name in names if states[name] != 'running']
        now = time.time()
        if down:
            up_since = None
        elif up_since is None:
            up_since = now
        if (not down and now - up_since >= settle) or now >= deadline:
            return states, down
        time.sleep(1)


def stop(module, runner, result):
    """chef-backend-ctl stop when anything runs, or when status cannot tell."""
    states = read_states(runner, strict=False)
    running = sorted(name for name, state in (states or {}).items() if state == 'running')
    result.update(services=states or {}, stopped=running, changed=states is None or bool(running))
    if not result['changed'] or module.check_mode:
        module.exit_json(**result)
    runner.change('stop', msg='chef-backend-ctl stop failed; running were: %s' % (', '.join(running) or 'unknown'))
    result['services'] = read_states(runner, strict=False) or {}
    module.exit_json(**result)


def current_leader(runner):
    rc, out, err, cmd = runner.run('cluster-status', '--json')
    try:
        return find_leader(parse_cluster_status_json(out)) if rc == 0 else None
    except ChefCtlParseError:
        return None


def resync(module, runner, down):
    """pgsql-follow the current leader; returns its address."""
    leader = current_leader(runner)
    if not leader or not leader.get('ip'):
        module.fail_json(msg='PostgreSQL is held down on this former leader (%s) and no other member leads the '
                             'cluster to follow; see Chef\'s backend failure recovery (chef-backend-ctl promote or '
                             'force-leader on the most recent member)' % NO_START_PGSQL, changed=bool(down))
    if not module.params['resync']:
        module.fail_json(msg='PostgreSQL is held down on this former leader (%s); make it follow the leader with: '
                             'PSQL_INTERNAL_OK=true chef-backend-ctl pgsql-follow %s --force-basebackup'
                             % (NO_START_PGSQL, leader['ip']), changed=bool(down))
    rc, out, err, argv = runner.run('pgsql-follow', leader['ip'], '--force-basebackup',
                                    env=dict(PSQL_INTERNAL_OK='true'), mutates=True)
    if rc != 0:
        runner.fail('chef-backend-ctl pgsql-follow %s --force-basebackup failed (exit %d) on this former leader'
                    % (leader['ip'], rc), rc, out, err, argv)
    return leader['ip']


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='started', choices=['started', 'stopped']),
            services=dict(type='list', elements='str'),
            timeout=dict(type='int', default=30),
            settle=dict(type='int', default=5),
            resync=dict(type='bool', default=True),
            config_dir=dict(type='path', default='/etc/chef-backend'),
            **ctl_argument_spec(),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = dict(changed=False, configured=False, started=[], resynced=None, services={})
    if params['state'] == 'stopped':
        stop(module, CtlRunner(module, 'chef-backend-ctl', params['ctl_path']), result)
    if not os.path.exists(os.path.join(params['config_dir'], RUNNING_JSON)):
        module.exit_json(**result)

    runner = CtlRunner(module, 'chef-backend-ctl', params['ctl_path'])
    states = read_states(runner)
    wanted = params['services'] or sorted(states)
    unknown = sorted(set(wanted) - set(states))
    if unknown:
        module.fail_json(msg='chef-backend-ctl status lists no service %s; it lists %s'
                             % (', '.join(unknown), ', '.join(sorted(states))))
    order = [name for name in START_ORDER if name in wanted] + [name for name in wanted if name not in START_ORDER]
    down = [name for name in order if states[name] != 'running']
    result.update(configured=True, services=states, started=down, changed=bool(down))
    if not down or module.check_mode:
        module.exit_json(**result)

    for name in down:
        if name == 'postgresql' and os.path.exists(NO_START_PGSQL):
            continue  # held down by leaderl: only a resync brings it back
        rc, out, err, cmd = runner.run('start', name, mutates=True)
        if rc != 0:
            runner.fail('chef-backend-ctl start %s failed (exit %d); down were: %s'
                        % (name, rc, ', '.join(down)), rc, out, err, cmd)
    states, still = wait_running(runner, down, params['timeout'], params['settle'])
    if 'postgresql' in still and os.path.exists(NO_START_PGSQL):
        result['resynced'] = resync(module, runner, down)
        states, still = wait_running(runner, down, params['timeout'], params['settle'])
    result['services'] = states
    if still:
        result['msg'] = ('%s did not come up within %d s after chef-backend-ctl start (started: %s); see '
                         'chef-backend-ctl status and the service logs under /var/log/chef-backend on this node'
                         % (', '.join(still), params['timeout'], ', '.join(down)))
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
