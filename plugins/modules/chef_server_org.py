#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_server_org
short_description: Create a Chef Infra Server organization with chef-server-ctl org-create
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Creates an organization on a Chef Infra Server frontend with
    C(chef-server-ctl org-create NAME "FULL NAME" [-a USER] -f FILE), unless C(chef-server-ctl org-list) already
    lists O(name).
  - The organization's validator key is written to O(validator_path) with mode C(0600). The ctl writes it into a
    new directory of mode C(0700) beside O(validator_path); the module sets the key to C(0600) and renames it into
    place, so the key is never readable by other users.
  - An existing organization is left alone. Its full name and admins are not compared, and no validator key is
    written for it.
  - Organizations live in the cluster database, so on an HA cluster run this module on one frontend only.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.ctl.server
options:
  name:
    description:
      - Short name of the organization. It must match C(^[a-z0-9][a-z0-9_-]{0,254}$).
    type: str
    required: true
  full_name:
    description:
      - Full name of the organization, 1 to 1023 characters, not starting with whitespace.
    type: str
    required: true
  association_user:
    description:
      - An existing user to add to the organization's C(admins) and C(billing-admins) groups (C(-a)).
    type: str
  validator_path:
    description:
      - Absolute path on the frontend where the organization's validator key is written (mode C(0600), owned by
        the user the module runs as). Its directory must exist.
      - An existing file at this path is replaced when the organization is created.
    type: path
    required: true
attributes:
  check_mode:
    details: Runs only C(chef-server-ctl org-list).
notes:
  - Runs C(chef-server-ctl) with C(LC_ALL=C) as an argument list, never through a shell.
  - When C(org-create) fails with the knife error C(Conflict) (HTTP 409, exit 100), another run created the
    organization at the same moment. The module checks that C(org-list) lists it now and reports C(changed=false) with a warning that no
    validator key was written.
seealso:
  - module: chefops.chef_ha.chef_server_user
"""

EXAMPLES = r"""
- name: Create the first organization with admin as its administrator
  chefops.chef_ha.chef_server_org:
    name: chefops
    full_name: Chef Operations
    association_user: admin
    validator_path: /root/chefops-validator.pem
  run_once: true
"""

RETURN = r"""
name:
  description: The organization.
  returned: always
  type: str
  sample: chefops
created:
  description: Whether this run created the organization (in check mode, whether it would).
  returned: always
  type: bool
  sample: true
key_written:
  description: Whether the validator key was written to O(validator_path) by this run.
  returned: always
  type: bool
  sample: true
validator_path:
  description: Where the validator key is (or would be) written.
  returned: always
  type: str
  sample: /root/chefops-validator.pem
cmd:
  description: The C(org-create) command that ran or would run; empty when none is due.
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/chef-server-ctl, org-create, chefops, Chef Operations, -a, admin, -f,
           /root/.chefops-key.x1y2/chefops-validator.pem]
rc:
  description: Exit status of C(org-create).
  returned: when org-create ran
  type: int
stdout:
  description: Standard output of C(org-create), private keys masked.
  returned: when org-create ran
  type: str
stderr:
  description: Standard error of C(org-create), private keys masked.
  returned: when org-create ran
  type: str
"""


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner, ctl_argument_spec
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_server_ctl import (
    ORG_NAME_RE,
    KeyedCreate,
    full_name_problem,
    key_path_problem,
    list_names,
)


def validate(module):
    params = module.params
    if not ORG_NAME_RE.match(params['name']):
        module.fail_json(msg='name %r is not a valid organization name: use 1 to 255 lower-case letters, digits, '
                             '"_" or "-", starting with a letter or digit' % params['name'])
    problem = full_name_problem(params['full_name'])
    if problem:
        module.fail_json(msg='full_name %r is not a valid organization full name: %s; use 1 to 1023 characters '
                             'that do not start with whitespace' % (params['full_name'], problem))
    if params['full_name'].startswith('-'):
        module.fail_json(msg='full_name %r starts with "-", which chef-server-ctl would read as an option'
                             % params['full_name'])
    user = params['association_user']
    if user is not None and (not user.strip() or user.startswith('-')):
        module.fail_json(msg='association_user %r is not a user name' % user)
    problem = key_path_problem('validator_path', params['validator_path'])
    if problem:
        module.fail_json(msg=problem)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            full_name=dict(type='str', required=True),
            association_user=dict(type='str'),
            validator_path=dict(type='path', required=True),
            **ctl_argument_spec(),
        ),
        supports_check_mode=True,
    )
    params = module.params
    validate(module)
    name = params['name']
    runner = CtlRunner(module, 'chef-server-ctl', params['ctl_path'])
    result = dict(changed=False, name=name, created=False, key_written=False,
                  validator_path=params['validator_path'], cmd=[])

    if name in list_names(runner, 'org-list'):
        module.exit_json(**result)

    create_args = ['org-create', name, params['full_name']]
    if params['association_user']:
        create_args += ['-a', params['association_user']]
    create_args.append('-f')
    KeyedCreate(module, runner, name, params['validator_path'], lambda: name in list_names(runner, 'org-list'),
                kind='organization', key_option='validator_path', key='validator key',
                missing='wrote no validator key; generate a new validator client key for it').run(create_args, result)


if __name__ == '__main__':
    main()
