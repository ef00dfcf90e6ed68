#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_reconfigure
short_description: Run chef-backend-ctl or chef-server-ctl reconfigure when the configuration changed
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Runs C(chef-backend-ctl reconfigure) or C(chef-server-ctl reconfigure) only when the sha256 of O(config_file)
    (and of every O(extra_files) entry) differs from the one recorded on this host after the last successful
    reconfigure, or when O(force=true).
  - Records the checksums in O(state_file) only after a successful reconfigure, so a failed run is retried next time.
    The record is taken after the reconfigure, because a frontend's first reconfigure creates files such as
    C(private-chef-secrets.json) and C(migration-level).
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.ctl.timeout
options:
  product:
    description:
      - Which ctl to run. V(chef-backend) runs C(chef-backend-ctl); V(chef-server) runs C(chef-server-ctl).
    type: str
    required: true
    choices: [chef-backend, chef-server]
  config_file:
    description:
      - The configuration file whose change triggers a reconfigure. It must exist.
      - Default C(/etc/chef-backend/chef-backend.rb) for V(chef-backend), C(/etc/opscode/chef-server.rb) for
        V(chef-server).
    type: path
  extra_files:
    description:
      - More files whose change triggers a reconfigure, for example a frontend's
        C(/etc/opscode/private-chef-secrets.json) and C(/var/opt/opscode/upgrades/migration-level).
      - A missing file is recorded as absent; its appearance later counts as a change.
    type: list
    elements: path
    default: []
  state_file:
    description:
      - Where the checksums of the last successful reconfigure are recorded (one C(sha256  path) line per file).
      - Default C(/var/opt/chef-backend/.chefops-reconfigure.sha256) for V(chef-backend),
        C(/var/opt/opscode/.chefops-reconfigure.sha256) for V(chef-server).
    type: path
  force:
    description:
      - Reconfigure even when no watched file changed.
    type: bool
    default: false
  mark_applied:
    description:
      - Record the current checksums as applied without running the reconfigure.
      - For right after C(create-cluster) or C(join-cluster), which apply C(chef-backend.rb) themselves, so the next
        run does not reconfigure a configuration that is already in effect.
    type: bool
    default: false
  accept_license:
    description:
      - Accept the product license on the command line. V(chef-backend) gets C(--accept-license); V(chef-server) gets
        C(--chef-license=accept).
      - Without it the reconfigure succeeds only when the license was accepted on this host before.
    type: bool
    default: false
  ctl_path:
    description:
      - Path of the ctl command. By default C(chef-backend-ctl) or C(chef-server-ctl) is searched in E(PATH) and
        the product's C(bin) directory.
    type: path
attributes:
  check_mode:
    details: Predicts from the checksums; never runs the reconfigure nor writes the record.
notes:
  - Runs the ctl command with C(LC_ALL=C) as an argument list, never through a shell.
"""

EXAMPLES = r"""
- name: Reconfigure a backend after its chef-backend.rb changed
  chefops.chef_ha.chef_reconfigure:
    product: chef-backend
    accept_license: true

- name: Reconfigure a frontend when its config, secrets or migration level changed
  chefops.chef_ha.chef_reconfigure:
    product: chef-server
    accept_license: true
    extra_files:
      - /etc/opscode/private-chef-secrets.json
      - /var/opt/opscode/upgrades/migration-level

- name: Reconfigure unconditionally
  chefops.chef_ha.chef_reconfigure:
    product: chef-backend
    force: true
    accept_license: true
"""

RETURN = r"""
reason:
  description: Why a reconfigure ran (or would run), or why not.
  returned: always
  type: str
  sample: configuration changed
changed_files:
  description: Watched files whose checksum differs from the record (all of them when there is no record).
  returned: always
  type: list
  elements: str
  sample: [/etc/chef-backend/chef-backend.rb]
checksums:
  description: sha256 of each watched file (C(absent) for a missing one), after the reconfigure when one ran.
  returned: always
  type: dict
  sample: {/etc/chef-backend/chef-backend.rb: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
state_file:
  description: The checksum record.
  returned: always
  type: str
  sample: /var/opt/chef-backend/.chefops-reconfigure.sha256
cmd:
  description: The reconfigure command that ran (or would run in check mode); empty when none is due.
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/chef-backend-ctl, reconfigure, --accept-license]
rc:
  description: Exit status of the reconfigure.
  returned: when a reconfigure ran
  type: int
stdout:
  description: Standard output of the reconfigure.
  returned: when a reconfigure ran
  type: str
stderr:
  description: Standard error of the reconfigure.
  returned: when a reconfigure ran
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner, ctl_argument_spec
from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import read_text, write_file
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_reconfigure import (
    changed_paths,
    compute_checksums,
    parse_state,
    render_state,
)

PRODUCTS = {
    'chef-backend': dict(ctl='chef-backend-ctl', config_file='/etc/chef-backend/chef-backend.rb',
                         state_file='/var/opt/chef-backend/.chefops-reconfigure.sha256',
                         license_args=['--accept-license']),
    'chef-server': dict(ctl='chef-server-ctl', config_file='/etc/opscode/chef-server.rb',
                        state_file='/var/opt/opscode/.chefops-reconfigure.sha256',
                        license_args=['--chef-license=accept']),
}
LICENSE_EXIT = 172  # chef-server-ctl: license not accepted


def write_state(path, text):
    write_file(path, text, mode=0o600, directory_mode=0o755)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            product=dict(type='str', required=True, choices=list(PRODUCTS)),
            config_file=dict(type='path'),
            extra_files=dict(type='list', elements='path', default=[]),
            state_file=dict(type='path'),
            force=dict(type='bool', default=False),
            mark_applied=dict(type='bool', default=False),
            accept_license=dict(type='bool', default=False),
            **ctl_argument_spec(),
        ),
        mutually_exclusive=[('force', 'mark_applied')],
        supports_check_mode=True,
    )
    params = module.params
    product = PRODUCTS[params['product']]
    config_file = params['config_file'] or product['config_file']
    state_file = params['state_file'] or product['state_file']
    if not os.path.isfile(config_file):
        module.fail_json(msg='config_file %s does not exist; render it before the reconfigure' % config_file)
    watched = [config_file] + list(params['extra_files'])
    try:
        checksums = compute_checksums(watched)
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot read a watched file: %s' % to_native(exc))

    changed_files = changed_paths(checksums, parse_state(read_text(state_file)))
    if params['force']:
        reason = 'forced'
    elif params['mark_applied'] and changed_files:
        reason = 'configuration recorded as applied'
    elif changed_files:
        reason = 'configuration changed'
    else:
        reason = 'configuration unchanged since the last successful reconfigure'
    result = dict(changed=False, reason=reason, changed_files=changed_files, checksums=dict(checksums),
                  state_file=state_file, cmd=[])
    if not (params['force'] or changed_files):
        module.exit_json(**result)

    if params['mark_applied']:
        result['changed'] = True
        if not module.check_mode:
            try:
                write_state(state_file, render_state(checksums))
            except (IOError, OSError) as exc:
                module.fail_json(msg='the checksum record %s could not be written: %s' % (state_file, to_native(exc)))
        module.exit_json(**result)

    runner = CtlRunner(module, product['ctl'], params['ctl_path'])
    args = ['reconfigure'] + (product['license_args'] if params['accept_license'] else [])
    result.update(changed=True, cmd=runner.argv(*args))
    if module.check_mode:
        module.exit_json(**result)

    rc, out, err, cmd = runner.run(*args)
    if rc != 0:
        msg = '%s reconfigure failed (exit %d)' % (product['ctl'], rc)
        if not params['accept_license'] and (rc == LICENSE_EXIT or 'license' in (out + err).lower()):
            msg += '; the license may not be accepted on this host: set accept_license=true'
        runner.fail(msg, rc, out, err, cmd, changed=True)
    result.update(rc=rc, stdout=out, stderr=err)

    try:
        checksums = compute_checksums(watched)
        write_state(state_file, render_state(checksums))
    except (IOError, OSError) as exc:
        module.fail_json(msg='reconfigure succeeded but the checksum record %s could not be written: %s'
                         % (state_file, to_native(exc)), changed=True, rc=rc, stdout=out, stderr=err, cmd=cmd)
    result['checksums'] = dict(checksums)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
