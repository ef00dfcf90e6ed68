#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_backend_server_config
short_description: Generate the chef-server.rb of one Chef Infra Server frontend on a Chef Backend node
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Runs C(chef-backend-ctl gen-server-config FQDN) on a backend node that is a cluster member and returns the
    generated C(chef-server.rb).
  - With O(dest), writes the file only when its content differs (atomic replace) and applies O(mode), O(owner) and
    O(group). The diff masks the PostgreSQL superuser password.
  - Fails with a clear message when this node is not in a cluster.
options:
  fqdn:
    description:
      - Fully qualified domain name of the frontend the configuration is for (a DNS name, for example
        C(fe1.example.com)).
    type: str
    required: true
  dest:
    description:
      - Where to write the generated file on this node. Without it the module only returns RV(content).
    type: path
  mode:
    description:
      - Permissions of O(dest). The file holds the PostgreSQL superuser password.
    type: raw
    default: '0640'
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.ctl.backend
  - ansible.builtin.files
attributes:
  check_mode:
    details: C(gen-server-config) only prints; check mode runs it to predict the change and the diff.
  diff_mode:
    support: full
    details: The superuser password is masked in the diff.
  safe_file_operations:
    description: Uses Ansible's atomic file operations to ensure proper permissions and avoid data corruption.
    support: full
    details:
      - The content goes to a temporary file in the directory of O(dest) that gets O(mode), O(owner) and O(group) and
        is flushed to disk before it is renamed over O(dest); a symbolic O(mode) and the SELinux attributes are set
        after the rename, while the file is still 0600 (a new file) or keeps its old mode.
notes:
  - RV(content) is sensitive. The module registers the superuser password as a no_log value, so Ansible prints it
    as C(********) in RV(content) and everywhere else in the result; use O(dest) to place the real file.
  - The member list in the generated file is the list at generation time; generate it after all backends joined.
"""

EXAMPLES = r"""
- name: Generate chef-server.rb for a frontend on the leader
  chefops.chef_ha.chef_backend_server_config:
    fqdn: fe1.chefops.test
    dest: /etc/chef-backend/chef-server.rb.fe1.chefops.test
    mode: '0600'

- name: Generate for every frontend
  chefops.chef_ha.chef_backend_server_config:
    fqdn: "{{ hostvars[item].ansible_facts.fqdn }}"
    dest: "/etc/chef-backend/chef-server.rb.{{ item }}"
  loop: "{{ groups['frontends'] }}"
"""

RETURN = r"""
content:
  description:
    - The generated C(chef-server.rb). Sensitive; the superuser password shows as C(********) in module output.
  returned: always
  type: str
fqdn:
  description: The FQDN the configuration was generated for (as written in the file).
  returned: always
  type: str
  sample: fe1.chefops.test
chef_backend_members:
  description: The backend addresses listed in the generated file.
  returned: always
  type: list
  elements: str
  sample: [172.31.250.11, 172.31.250.12, 172.31.250.13]
dest:
  description: The written file.
  returned: when O(dest) is set
  type: str
  sample: /etc/chef-backend/chef-server.rb.fe1.chefops.test
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import (
    ChefCtlParseError,
    CtlRunner,
    ctl_argument_spec,
)
from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import (
    octal_mode,
    read_bytes,
    write_file,
)
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_backend_ctl import (
    mask_server_config,
    parse_server_config,
    server_config_passwords,
)

_LABEL_RE = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')


def valid_fqdn(name):
    if not name or len(name) > 253:
        return False
    labels = name.split('.')
    if labels[-1].isdigit():
        return False
    return all(_LABEL_RE.match(label) for label in labels)


def write_config(module, dest, data):
    """Replace dest with data, mode, owner and group set before the rename so the secret is never exposed.

    A symbolic mode is applied afterwards with the other file attributes; until then a new file is 0600.
    """
    params = module.params
    write_file(dest, data, mode=octal_mode(params['mode']), owner=params['owner'], group=params['group'],
               unsafe_writes=params['unsafe_writes'])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            fqdn=dict(type='str', required=True),
            dest=dict(type='path'),
            mode=dict(type='raw', default='0640'),
            **ctl_argument_spec(),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    fqdn = params['fqdn']
    if not valid_fqdn(fqdn):
        module.fail_json(msg='fqdn must be a DNS name such as fe1.example.com (letters, digits and hyphens in '
                             'dot-separated labels), got %r' % fqdn)
    dest = params['dest']
    if dest:
        if os.path.isdir(dest):
            module.fail_json(msg='dest %s is a directory; give the path of the file to write' % dest)
        if not os.path.isdir(os.path.dirname(dest) or '.'):
            module.fail_json(msg='the directory of dest %s does not exist' % dest)

    runner = CtlRunner(module, 'chef-backend-ctl', params['ctl_path'])
    rc, out, err, cmd = runner.run('gen-server-config', fqdn)
    passwords = server_config_passwords(out)
    module.no_log_values.update(passwords)
    if rc != 0:
        probe_rc = runner.run('cluster-status', '--json')[0]
        if probe_rc != 0:
            runner.fail('this node is not in a Chef Backend cluster (cluster-status fails): create or join the cluster '
                        'before generating a frontend configuration', rc, out, err, cmd)
        runner.fail('gen-server-config %s failed (exit %d)' % (fqdn, rc), rc, out, err, cmd)
    try:
        parsed = parse_server_config(out)
    except ChefCtlParseError as exc:
        runner.fail('cannot read gen-server-config output: %s' % exc, rc, mask_server_config(out), err, cmd)
    if parsed['fqdn'] != fqdn:
        runner.fail('gen-server-config wrote fqdn %r, expected %r' % (parsed['fqdn'], fqdn), rc,
                    mask_server_config(out), err, cmd)
    if not passwords:
        runner.fail('gen-server-config printed no postgresql db_superuser_password', rc, out, err, cmd)

    result = dict(changed=False, content=out, fqdn=parsed['fqdn'],
                  chef_backend_members=parsed['chef_backend_members'] or [])
    if dest:
        result['dest'] = dest
        new = to_bytes(out, errors='surrogate_or_strict')
        old = read_bytes(dest, strict=False)
        if old is not None:
            # an earlier file may carry an older password: keep it out of the output as well
            module.no_log_values.update(server_config_passwords(to_native(old, errors='surrogate_or_strict')))
        if old != new:
            result['changed'] = True
            if module._diff:
                result['diff'] = dict(
                    before_header=dest, after_header=dest,
                    before=mask_server_config(to_native(old, errors='surrogate_or_strict')) if old is not None else '',
                    after=mask_server_config(out))
            if not module.check_mode:
                try:
                    write_config(module, dest, new)
                except (IOError, OSError) as exc:
                    module.fail_json(msg='cannot write %s: %s' % (dest, to_native(exc)))
        if os.path.exists(dest):
            file_args = module.load_file_common_arguments(params, path=dest)
            result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
