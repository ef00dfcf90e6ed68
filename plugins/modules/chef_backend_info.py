#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_backend_info
short_description: Report the state of a Chef Backend node and its cluster
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Runs C(chef-backend-ctl status) and C(chef-backend-ctl cluster-status --json) and returns their content as
    structured facts, with one RV(healthy) verdict usable as a health gate.
  - Reads both status table layouts (1.x with four services; 2.x with the C(epmd) row and the C(System) table).
  - A node that is not in a cluster is reported with RV(in_cluster=false), not as a failure.
  - Reads this node's C(publish_address) in O(config_file) to return its own member entry as RV(member), and the
    build version of the installed package from C(/opt/chef-backend/version-manifest.json) as RV(version).
  - Never changes anything.
options:
  config_file:
    description: The node's C(chef-backend.rb), read for its C(publish_address).
    type: path
    default: /etc/chef-backend/chef-backend.rb
  manifest_file:
    description: The installed package's omnibus version manifest.
    type: path
    default: /opt/chef-backend/version-manifest.json
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.attributes.info_module
  - chefops.chef_ha.ctl.backend
notes:
  - Runs C(chef-backend-ctl) with C(LC_ALL=C) as an argument list, never through a shell.
seealso:
  - module: chefops.chef_ha.chef_backend_cluster
"""

EXAMPLES = r"""
- name: Read the cluster state
  chefops.chef_ha.chef_backend_info:
  register: backend

- name: Wait until the cluster is healthy after a join
  chefops.chef_ha.chef_backend_info:
  register: backend
  until: backend.healthy
  retries: 30
  delay: 10

- name: Show why the cluster is not healthy
  ansible.builtin.debug:
    var: backend.problems
  when: not backend.healthy
"""

RETURN = r"""
services:
  description: Local state of each service in C(status), keyed by service name.
  returned: always
  type: dict
  sample:
    etcd:
      state: running
      pid: 6742
      local_status: running (pid 6742)
      time_in_state: 1d 5h 59m 39s
      time_in_state_seconds: 107979
      distributed: {health: green, healthy_nodes: 3/3}
      distributed_raw: "health: green; healthy nodes: 3/3"
system:
  description: The C(System) table of 2.x (for example C(disks)); empty for 1.x.
  returned: always
  type: dict
  sample:
    disks:
      local: {/var/log/chef-backend: OK, /var/opt/chef-backend: OK}
      local_raw: "/var/log/chef-backend: OK; /var/opt/chef-backend: OK"
      distributed: {health: green, healthy_nodes: 3/3}
      distributed_raw: "health: green; healthy nodes: 3/3"
etcd:
  description: etcd health and healthy node count (null values when not reported).
  returned: always
  type: dict
  sample: {health: green, healthy: 3, total: 3}
leaderl:
  description: Leader election counts.
  returned: always
  type: dict
  sample: {leader: 1, waiting: 0, follower: 2, total: 3}
postgresql:
  description: PostgreSQL replication counts; has an C(error) key when C(status) reports one.
  returned: always
  type: dict
  sample: {leader: 1, offline: 0, syncing: 0, synced: 2}
elasticsearch:
  description: Elasticsearch cluster state and nodes online.
  returned: always
  type: dict
  sample: {state: green, online: 3, total: 3}
in_cluster:
  description: Whether C(cluster-status --json) succeeded on this node.
  returned: always
  type: bool
cluster_error:
  description: Why C(cluster-status --json) failed (its JSON C(error) or its output), or null when it succeeded.
  returned: always
  type: str
  sample: could not reach etcd on any cluster member
members:
  description: The cluster members from C(cluster-status --json); empty when not in a cluster.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: be1, ip: 172.31.250.11, guid: dc0c6ea77a751f94037cd950e8451fa3, role: leader, pg: leader,
       es: not_master, partially_synced: false}
member:
  description: This node's own entry of RV(members) (matched by the C(publish_address) of O(config_file)), or null.
  returned: always
  type: dict
  sample: {name: be2, ip: 172.31.250.12, guid: 5b6f0c1e2d3a4b5c6d7e8f9012345678, role: follower, pg: follower,
           es: not_master, partially_synced: false}
version:
  description: The C(build_version) of the installed chef-backend package, or null when its manifest is unreadable.
  returned: always
  type: str
  sample: 2.3.19
leader:
  description: Name and IP address of the leader, or null.
  returned: always
  type: dict
  sample: {name: be1, ip: 172.31.250.11}
healthy:
  description:
    - True when every service runs, etcd is green with all nodes healthy, leaderl has exactly one leader and none
      waiting, every member is leader or follower in leaderl and in PostgreSQL, PostgreSQL reports members-1 synced
      followers and no member is partially synced, and Elasticsearch is green.
  returned: always
  type: bool
problems:
  description: Why RV(healthy) is false, one sentence each; empty when healthy.
  returned: always
  type: list
  elements: str
  sample: ["service postgresql is down", "leaderl reports 0 leaders (want 1)"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import (
    ChefCtlParseError,
    CtlRunner,
    ctl_argument_spec,
)
from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import read_text
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_backend_ctl import (
    assess_health,
    cluster_status_failure,
    backend_rb_setting,
    find_leader,
    find_member,
    parse_cluster_status_json,
    parse_status,
    installed_version,
    summarize_status,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **ctl_argument_spec(),
            config_file=dict(type='path', default='/etc/chef-backend/chef-backend.rb'),
            manifest_file=dict(type='path', default='/opt/chef-backend/version-manifest.json'),
        ),
        supports_check_mode=True,
    )
    runner = CtlRunner(module, 'chef-backend-ctl', module.params['ctl_path'])

    rc, out, err, cmd = runner.run('status')
    try:
        status = parse_status(out)
    except ChefCtlParseError as exc:
        # The exit status of `status` is not documented: judge by the output.
        runner.fail('cannot read chef-backend-ctl status: %s' % exc, rc, out, err, cmd)
    summary = summarize_status(status['services'])

    rc, out, err, cmd = runner.run('cluster-status', '--json')
    members = []
    in_cluster = rc == 0
    cluster_error = None
    if not in_cluster:
        cluster_error = cluster_status_failure(out, err)[0]
    else:
        try:
            members = parse_cluster_status_json(out)
        except ChefCtlParseError as exc:
            runner.fail('cannot read chef-backend-ctl cluster-status --json: %s' % exc, rc, out, err, cmd)

    leader = find_leader(members)
    address = backend_rb_setting(read_text(module.params['config_file']), 'publish_address')
    member = find_member(members, address=address) if address else None
    healthy, problems = assess_health(status['services'], summary, members)
    result = dict(
        changed=False,
        services=status['services'],
        system=status['system'],
        in_cluster=in_cluster,
        cluster_error=cluster_error,
        members=members,
        member=member,
        version=installed_version(module.params['manifest_file']),
        leader=dict(name=leader.get('name'), ip=leader.get('ip')) if leader else None,
        healthy=healthy,
        problems=problems,
    )
    result.update(summary)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
