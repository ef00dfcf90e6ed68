#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_backend_services
short_description: Start the Chef Backend services of a cluster member that are down
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Reads C(chef-backend-ctl status) and runs C(chef-backend-ctl start SERVICE) for each service that is not running,
    and only for those; then waits until they run.
  - A node that has not finished joining a cluster (no C(chef-backend-running.json) next to the configuration) is left
    alone, since its services are started by the create or join.
  - Fails within O(timeout) seconds, naming the services, when one does not come up.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
options:
  services:
    description: The services to keep running; by default every service C(status) lists.
    type: list
    elements: str
  timeout:
    description: Seconds to wait for the started services to run.
    type: int
    default: 30
  config_dir:
    description: Directory of C(chef-backend.rb) and C(chef-backend-running.json).
    type: path
    default: /etc/chef-backend
  ctl_path:
    description:
      - Path of C(chef-backend-ctl). By default it is searched in E(PATH) and C(/opt/chef-backend/bin).
    type: path
attributes:
  check_mode:
    description: Can run in check mode and return a changed status prediction without modifying the target.
    support: full
    details: Reads the status and returns the services it would start.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) in diff mode.
    support: none
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
services:
  description: Each service's state after the run (before it, in check mode).
  returned: always
  type: dict
  sample: {etcd: running, leaderl: running, postgresql: running, elasticsearch: running}
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_backend_ctl import (
    ChefCtlParseError,
    CtlRunner,
    parse_status,
)

RUNNING_JSON = 'chef-backend-running.json'


def read_states(runner):
    rc, out, err, cmd = runner.run('status')
    try:
        services = parse_status(out)['services']
    except ChefCtlParseError as exc:
        runner.fail('cannot read chef-backend-ctl status: %s' % exc, rc, out, err, cmd)
    return dict((name, info['state']) for name, info in services.items())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type='list', elements='str'),
            timeout=dict(type='int', default=30),
            config_dir=dict(type='path', default='/etc/chef-backend'),
            ctl_path=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.exists(os.path.join(params['config_dir'], RUNNING_JSON)):
        module.exit_json(changed=False, configured=False, started=[], services={})

    runner = CtlRunner(module, 'chef-backend-ctl', params['ctl_path'])
    states = read_states(runner)
    wanted = params['services'] or sorted(states)
    unknown = sorted(set(wanted) - set(states))
    if unknown:
        module.fail_json(msg='chef-backend-ctl status lists no service %s; it lists %s'
                             % (', '.join(unknown), ', '.join(sorted(states))))
    down = [name for name in wanted if states[name] != 'running']
    if not down or module.check_mode:
        module.exit_json(changed=bool(down), configured=True, started=down, services=states)

    for name in down:
        rc, out, err, cmd = runner.run('start', name)
        if rc != 0:
            runner.fail('chef-backend-ctl start %s failed (exit %d); down were: %s'
                        % (name, rc, ', '.join(down)), rc, out, err, cmd)
    deadline = time.time() + params['timeout']
    while True:
        states = read_states(runner)
        still = [name for name in down if states[name] != 'running']
        if not still or time.time() >= deadline:
            break
        time.sleep(1)
    if still:
        module.fail_json(msg='%s did not come up within %d s after chef-backend-ctl start (started: %s); see '
                             'chef-backend-ctl status and the service logs under /var/log/chef-backend on this node'
                             % (', '.join(still), params['timeout'], ', '.join(down)),
                         changed=True, configured=True, started=down, services=states)
    module.exit_json(changed=True, configured=True, started=down, services=states)


if __name__ == '__main__':
    main()
