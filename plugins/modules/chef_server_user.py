#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_server_user
short_description: Create a Chef Infra Server user with chef-server-ctl user-create
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Creates a user on a Chef Infra Server frontend with
    C(chef-server-ctl user-create USER FIRST LAST EMAIL PASSWORD -f FILE), unless C(chef-server-ctl user-list)
    already lists O(username).
  - The user's private key is written to O(key_path) with mode C(0600). The ctl writes it into a new directory of
    mode C(0700) beside O(key_path); the module sets the key to C(0600) and renames it into place, so the key is
    never readable by other users, not even for a moment.
  - An existing user is left alone. Its details are not compared or updated, and no key is written for it (the
    server keeps only the public key).
  - Users live in the cluster database, so on an HA cluster run this module on one frontend only.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.ctl.server
options:
  username:
    description:
      - Name of the user.
    type: str
    required: true
  first_name:
    description:
      - First name of the user.
    type: str
    required: true
  last_name:
    description:
      - Last name of the user.
    type: str
    required: true
  email:
    description:
      - E-mail address of the user. The server refuses an address that another user already has.
    type: str
    required: true
  password:
    description:
      - Password of the user.
      - C(chef-server-ctl user-create) accepts the password only as a positional argument, so it is on the command
        line of that one call and visible in the process list of the frontend while the call runs. The module
        keeps it out of every result and error message.
    type: str
    required: true
  key_path:
    description:
      - Absolute path on the frontend where the new user's private key is written (mode C(0600), owned by the user
        the module runs as). Its directory must exist.
      - An existing file at this path is replaced when the user is created.
    type: path
    required: true
attributes:
  check_mode:
    details: Runs only C(chef-server-ctl user-list).
notes:
  - Runs C(chef-server-ctl) with C(LC_ALL=C) as an argument list, never through a shell.
  - When C(user-create) fails with the knife error C(Conflict) (HTTP 409, exit 100), the module reads C(user-list)
    again. If the user is listed now, another run created it at the same moment; the result is C(changed=false) with a warning that
    no key was written. Otherwise the e-mail address belongs to another user and the task fails.
  - Arguments that start with C(-) are refused, because the ctl would read them as options.
seealso:
  - module: chefops.chef_ha.chef_server_org
"""

EXAMPLES = r"""
- name: Create the first admin user
  chefops.chef_ha.chef_server_user:
    username: admin
    first_name: Chef
    last_name: Admin
    email: admin@example.com
    password: "{{ vault_chef_admin_password }}"
    key_path: /root/admin.pem
  run_once: true
"""

RETURN = r"""
username:
  description: The user.
  returned: always
  type: str
  sample: admin
created:
  description: Whether this run created the user (in check mode, whether it would).
  returned: always
  type: bool
  sample: true
key_written:
  description: Whether the private key was written to O(key_path) by this run.
  returned: always
  type: bool
  sample: true
key_path:
  description: Where the private key is (or would be) written.
  returned: always
  type: str
  sample: /root/admin.pem
cmd:
  description: The C(user-create) command that ran or would run, with the password masked; empty when none is due.
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/chef-server-ctl, user-create, admin, Chef, Admin, admin@example.com, '********', -f,
           /root/.chefops-key.x1y2/admin.pem]
rc:
  description: Exit status of C(user-create).
  returned: when user-create ran
  type: int
stdout:
  description: Standard output of C(user-create), secrets masked.
  returned: when user-create ran
  type: str
stderr:
  description: Standard error of C(user-create), secrets masked.
  returned: when user-create ran
  type: str
  sample: Created admin
"""


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner, ctl_argument_spec
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_server_ctl import (
    KeyedCreate,
    key_path_problem,
    list_names,
)

FIELDS = ('username', 'first_name', 'last_name', 'email', 'password')


def validate(module):
    params = module.params
    for field in FIELDS:
        value = params[field]
        shown = '********' if field == 'password' else repr(value)
        if not value or not value.strip():
            module.fail_json(msg='%s must not be empty' % field)
        if value.startswith('-'):
            module.fail_json(msg='%s %s starts with "-", which chef-server-ctl would read as an option; '
                                 'choose another value' % (field, shown))
    if any(char.isspace() for char in params['username']):
        module.fail_json(msg='username %r contains whitespace; use a name without spaces' % params['username'])
    if '@' not in params['email']:
        module.fail_json(msg='email %r is not an e-mail address' % params['email'])
    problem = key_path_problem('key_path', params['key_path'])
    if problem:
        module.fail_json(msg=problem)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            username=dict(type='str', required=True),
            first_name=dict(type='str', required=True),
            last_name=dict(type='str', required=True),
            email=dict(type='str', required=True),
            password=dict(type='str', required=True, no_log=True),
            key_path=dict(type='path', required=True, no_log=False),
            **ctl_argument_spec(),
        ),
        supports_check_mode=True,
    )
    params = module.params
    validate(module)
    secrets = [params['password']]
    username = params['username']
    runner = CtlRunner(module, 'chef-server-ctl', params['ctl_path'], secrets=secrets)
    result = dict(changed=False, username=username, created=False, key_written=False, key_path=params['key_path'],
                  cmd=[])

    if username in list_names(runner, 'user-list'):
        module.exit_json(**result)

    create_args = ['user-create', username, params['first_name'], params['last_name'], params['email'],
                   params['password'], '-f']
    KeyedCreate(module, runner, username, params['key_path'], lambda: username in list_names(runner, 'user-list'),
                kind='user', key_option='key_path', key='key',
                missing='wrote no private key; the key cannot be read back from the server, so generate a new one '
                        'for this user',
                unlisted_conflict='chef-server-ctl user-create %s failed: the server reports a conflict but does not '
                                  'list the user, so the e-mail address %s belongs to another user'
                                  % (username, params['email'])).run(create_args, result)


if __name__ == '__main__':
    main()
