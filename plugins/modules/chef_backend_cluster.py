#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_backend_cluster
short_description: Make this node a member of a Chef Backend cluster
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Creates a Chef Backend cluster on the bootstrap node (C(chef-backend-ctl create-cluster)), creates one from a
    backup (C(chef-backend-ctl restore --publish_address ADDRESS --yes ARCHIVE)), or joins this node to an existing
    cluster through a peer (C(chef-backend-ctl join-cluster PEER -s SECRETS_FILE)).
  - Membership is read from the live cluster, never from a marker file. When C(chef-backend-ctl cluster-status --json)
    succeeds and lists this node's publish address among the members, the node is a member and no command runs.
  - The publish address comes from O(publish_address), else from C(publish_address) in O(config_file), else the
    member's name is compared with this host's short and fully qualified names.
  - Joins must run one node at a time; call this module for the followers from a play with C(serial) set to 1.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.ctl.backend
options:
  role:
    description:
      - V(bootstrap) creates the cluster on this node; V(restore) creates it from the backup O(archive) (a new
        cluster with new secrets, holding the backup's data); V(join) joins an existing cluster through O(peer).
      - V(restore) records the restore in O(restore_marker) before it runs and removes the record once it succeeded.
        A node that is a member while the record is there was cut short in an earlier restore (its data may be
        half loaded), so it is cleansed (C(chef-backend-ctl cleanse yes), the secrets copy cleanse saves removed) and
        restored again.
      - With V(bootstrap), the module refuses to create a second cluster when C(cluster-status) lists members that
        do not include this node, or when this node was configured before (C(chef-backend-running.json) next to
        O(config_file)) but C(cluster-status) fails.
    type: str
    required: true
    choices: [bootstrap, restore, join]
  peer:
    description:
      - IP address of a node that is already a cluster member. Required when O(role=join).
    type: str
  secrets_file:
    description:
      - Absolute path on this node of a copy of the cluster's C(chef-backend-secrets.json), passed as C(-s).
        Required when O(role=join).
      - The secrets travel through this file only, never on the command line.
    type: path
  publish_address:
    description:
      - This node's publish address (an IP address on the node).
      - Used to recognise this node among the members. On join it is passed as C(-p) only when O(config_file) is
        missing or empty (the vendor refuses C(-p) when C(chef-backend.rb) already exists); when O(config_file) sets
        a different C(publish_address) the module fails.
    type: str
  config_file:
    description:
      - The node's C(chef-backend.rb), read to find its C(publish_address).
    type: path
    default: /etc/chef-backend/chef-backend.rb
  accept_license:
    description:
      - Accept the Chef Backend license (C(--accept-license)). Creating or joining fails unless this is V(true).
    type: bool
    default: false
  archive:
    description:
      - Path on this node of the C(chef-backend-ctl backup) archive to restore. Required when O(role=restore).
    type: path
  restore_marker:
    description:
      - Where O(role=restore) records a restore in progress (outside the directories C(cleanse) removes).
    type: path
    default: /var/opt/.chefops-backend-restore-pending
  recovery:
    description:
      - Pass C(--recovery) to C(join-cluster), to rejoin a node that was configured for this cluster before.
      - Still nothing runs when C(cluster-status --json) succeeds and lists this node. When it fails but still lists
        this node, the module fails unless O(recovery=true), which runs the join with C(--recovery).
      - Only with O(role=join).
    type: bool
    default: false
attributes:
  check_mode:
    details: Reads C(cluster-status --json) and predicts; never runs C(create-cluster) or C(join-cluster).
notes:
  - Runs C(chef-backend-ctl) with C(LC_ALL=C) as an argument list, never through a shell.
seealso:
  - module: chefops.chef_ha.chef_backend_info
"""

EXAMPLES = r"""
- name: Create the cluster on the bootstrap backend
  chefops.chef_ha.chef_backend_cluster:
    role: bootstrap
    publish_address: 172.31.250.11
    accept_license: true

- name: Join a follower (one at a time)
  chefops.chef_ha.chef_backend_cluster:
    role: join
    peer: 172.31.250.11
    secrets_file: /etc/chef-backend/chef-backend-secrets.json
    publish_address: 172.31.250.12
    accept_license: true

- name: Create a new cluster from a backup on fresh or cleansed nodes
  chefops.chef_ha.chef_backend_cluster:
    role: restore
    archive: /var/opt/chef-backup/restore/chef-backend-backup-2026-12-04-02-00-01.tgz
    publish_address: 172.31.250.11
    accept_license: true

- name: Rejoin a node that was removed and cleansed
  chefops.chef_ha.chef_backend_cluster:
    role: join
    peer: 172.31.250.11
    secrets_file: /etc/chef-backend/chef-backend-secrets.json
    recovery: true
    accept_license: true
"""

RETURN = r"""
members:
  description: The cluster members after the run (before it in check mode), as read from C(cluster-status --json).
  returned: always
  type: list
  elements: dict
  sample:
    - name: be1
      ip: 172.31.250.11
      guid: dc0c6ea77a751f94037cd950e8451fa3
      role: leader
      pg: leader
      es: not_master
      partially_synced: false
leader:
  description: The member whose role is C(leader), or null.
  returned: always
  type: dict
member:
  description: This node's entry among the members, or null when it is not (yet) a member.
  returned: always
  type: dict
publish_address:
  description: The address used to recognise this node, or null when none is known.
  returned: always
  type: str
  sample: 172.31.250.12
cmd:
  description: The command that ran (or would run in check mode); empty when the node is already a member.
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/chef-backend-ctl, join-cluster, 172.31.250.11, -s, /etc/chef-backend/chef-backend-secrets.json,
           --accept-license, --yes]
cleansed:
  description: With O(role=restore), whether an earlier restore cut short was cleansed before this one.
  returned: when a restore ran (or would run in check mode)
  type: bool
rc:
  description: Exit status of the create or join command.
  returned: when a create or join command ran
  type: int
stdout:
  description: Standard output of the create or join command.
  returned: when a create or join command ran
  type: str
stderr:
  description: Standard error of the create or join command.
  returned: when a create or join command ran
  type: str
"""

import json
import os
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner, ctl_argument_spec
from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import read_text
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_backend_ctl import (
    backend_rb_setting,
    cleanse_node,
    cluster_status_failure,
    find_leader,
    find_member,
    is_ip_address,
    read_members,
    same_address,
)


def host_names():
    names = set()
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name)
            names.add(name.split('.')[0])
    return tuple(sorted(names))


def validate(module):
    params = module.params
    if params['role'] == 'join':
        if not is_ip_address(params['peer']):
            module.fail_json(msg='peer must be the IP address of a cluster member, got %r' % params['peer'])
        if not os.path.isabs(params['secrets_file']):
            module.fail_json(msg='secrets_file must be an absolute path (join-cluster -s needs one), got %r'
                             % params['secrets_file'])
    elif params['recovery']:
        module.fail_json(msg='recovery applies only to role=join')
    if params['publish_address'] is not None and not is_ip_address(params['publish_address']):
        module.fail_json(msg='publish_address must be an IP address of this node, got %r'
                         % params['publish_address'])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            role=dict(type='str', required=True, choices=['bootstrap', 'restore', 'join']),
            peer=dict(type='str'),
            secrets_file=dict(type='path'),
            publish_address=dict(type='str'),
            config_file=dict(type='path', default='/etc/chef-backend/chef-backend.rb'),
            accept_license=dict(type='bool', default=False),
            recovery=dict(type='bool', default=False),
            archive=dict(type='path'),
            restore_marker=dict(type='path', default='/var/opt/.chefops-backend-restore-pending'),
            **ctl_argument_spec(),
        ),
        required_if=[('role', 'join', ('peer', 'secrets_file')), ('role', 'restore', ('archive', 'publish_address'))],
        supports_check_mode=True,
    )
    params = module.params
    validate(module)

    config_text = read_text(params['config_file'])
    configured_address = backend_rb_setting(config_text, 'publish_address')
    address = params['publish_address'] or configured_address
    wanted_address = params['publish_address']
    if wanted_address and configured_address and not same_address(wanted_address, configured_address):
        module.fail_json(msg='publish_address %s differs from publish_address %s in %s; change one of them'
                         % (params['publish_address'], configured_address, params['config_file']))

    runner = CtlRunner(module, 'chef-backend-ctl', params['ctl_path'])
    in_cluster, members, probe = read_members(runner)
    member = find_member(members, address, () if address else host_names())
    interrupted = params['role'] == 'restore' and os.path.exists(params['restore_marker'])
    if not in_cluster and not params['recovery'] and not interrupted:
        rc, out, err, cmd = probe
        message, listed = cluster_status_failure(out, err)
        if find_member(listed, address, () if address else host_names()):
            # registered but the cluster is unreachable: a plain create or join would not help
            runner.fail('this node is registered in the cluster but cluster-status fails (%s); bring the cluster '
                        'back, or rejoin this node with role=join and recovery=true' % message, rc, out, err, cmd)
    result = dict(changed=False, members=members, leader=find_leader(members), member=member,
                  publish_address=address, cmd=[])
    if member is not None and not interrupted:
        module.exit_json(**result)

    if params['role'] == 'restore':
        if not params['accept_license']:
            module.fail_json(msg='restore requires accepting the Chef Backend license: set accept_license=true',
                             members=members)
        if members and member is None:
            module.fail_json(msg='cluster-status lists members %s but not this node (%s); restore creates a new '
                                 'cluster on a fresh or cleansed node'
                                 % (', '.join(m.get('name') or m.get('ip') or '?' for m in members), address),
                             members=members)
        args = ['restore', '--publish_address', params['publish_address'], '--yes', params['archive']]
        result.update(cmd=runner.argv(*args), changed=True, cleansed=interrupted)
        if module.check_mode:
            module.exit_json(**result)
        if not os.path.isfile(params['archive']):
            module.fail_json(msg='archive %s does not exist on this node; copy the backup there first'
                             % params['archive'], cmd=result['cmd'])
        if interrupted:
            # an earlier restore was cut short: its data may be half loaded
            cleanse_node(runner, os.path.join(os.path.dirname(params['config_file']), 'chef-backend-secrets.json'))
        else:
            with open(params['restore_marker'], 'w') as handle:
                json.dump({'archive': os.path.basename(params['archive'])}, handle)
        rc, out, err, cmd = runner.run(*args, mutates=True)
        if rc != 0:
            runner.fail('restore failed (exit %d)' % rc, rc, out, err, cmd, changed=True)
        result.update(rc=rc, stdout=out, stderr=err)
        in_cluster, members, probe = read_members(runner, changed=True)
        if not in_cluster:
            rc2, out2, err2, cmd2 = probe
            runner.fail('restore succeeded but cluster-status --json fails afterwards', rc2, out2, err2, cmd2,
                        changed=True)
        os.remove(params['restore_marker'])
        result.update(members=members, leader=find_leader(members), member=find_member(members, address))
        module.exit_json(**result)

    if params['role'] == 'bootstrap':
        if members:
            module.fail_json(msg='cluster-status lists members %s but not this node (%s); refusing to create a second '
                                 'cluster: join this node instead, or fix publish_address'
                                 % (', '.join(m.get('name') or m.get('ip') or '?' for m in members),
                                    address or 'publish address unknown'), members=members)
        running = os.path.join(os.path.dirname(params['config_file']), 'chef-backend-running.json')
        if not in_cluster and os.path.exists(running):
            rc, out, err, cmd = probe
            runner.fail('this node was configured before (%s exists) but cluster-status fails; repair the cluster '
                        'instead of creating a new one' % running, rc, out, err, cmd)
        args = ['create-cluster']
    else:
        args = ['join-cluster', params['peer'], '-s', params['secrets_file']]
    if not params['accept_license']:
        module.fail_json(msg='%s requires accepting the Chef Backend license: set accept_license=true'
                         % args[0], members=members)
    args += ['--accept-license', '--yes']
    if params['role'] == 'join':
        if params['recovery']:
            args.append('--recovery')
        if params['publish_address'] and not (config_text or '').strip():
            args += ['-p', params['publish_address']]

    result['cmd'] = runner.argv(*args)
    result['changed'] = True
    if module.check_mode:
        module.exit_json(**result)

    if params['role'] == 'join' and not os.path.isfile(params['secrets_file']):
        module.fail_json(msg='secrets_file %s does not exist on this node; copy the cluster secrets there first'
                         % params['secrets_file'], cmd=result['cmd'])
    rc, out, err, cmd = runner.run(*args)
    if rc != 0:
        runner.fail('%s failed (exit %d)' % (args[0], rc), rc, out, err, cmd)
    result.update(rc=rc, stdout=out, stderr=err)

    if not address:
        address = backend_rb_setting(read_text(params['config_file']), 'publish_address')
        result['publish_address'] = address
    in_cluster, members, probe = read_members(runner, changed=True)
    if not in_cluster:
        rc2, out2, err2, cmd2 = probe
        runner.fail('%s succeeded but cluster-status --json fails afterwards' % args[0], rc2, out2, err2, cmd2,
                    changed=True)
    result.update(members=members, leader=find_leader(members),
                  member=find_member(members, address, () if address else host_names()))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
