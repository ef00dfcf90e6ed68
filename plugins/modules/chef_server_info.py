#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_server_info
short_description: Report a Chef Infra Server frontend's version, migration level, bootstrap state and health
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Reads the installed build with C(chef-server-ctl version), the migration level from
    C(/var/opt/opscode/upgrades/migration-level), whether the frontend is bootstrapped and holds the shared secrets,
    and the answer of its own C(/_status) endpoint.
  - A host without Chef Infra Server is reported with RV(installed=false), not as a failure.
  - Never changes anything.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.attributes.info_module
  - chefops.chef_ha.ctl.server
options:
  status_url:
    description:
      - URL of the frontend's C(/_status) endpoint; empty skips the request.
    type: str
    default: https://127.0.0.1/_status
  validate_certs:
    description:
      - Verify the certificate of O(status_url). Off by default because the default URL is the frontend's own
        loopback address, for which its certificate is not issued.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for O(status_url).
    type: int
    default: 10
  objects:
    description:
      - Also list the users and organizations the server holds (C(chef-server-ctl user-list) and C(org-list)), as
        C(playbooks/backup.yml) records them in a set's manifest and C(playbooks/restore_drill.yml) compares them.
      - The module fails when a list cannot be read.
    type: bool
    default: false
notes:
  - Runs C(chef-server-ctl) with C(LC_ALL=C) as an argument list, never through a shell.
seealso:
  - module: chefops.chef_ha.chef_backend_info
  - module: chefops.chef_ha.chef_server_upgrade
"""

EXAMPLES = r"""
- name: Read the frontend's state
  chefops.chef_ha.chef_server_info:
  register: frontend

- name: Stop when the frontend is not healthy
  ansible.builtin.assert:
    that: frontend.healthy
    fail_msg: "{{ frontend.problems | join('; ') }}"
"""

RETURN = r"""
installed:
  description: Whether C(chef-server-ctl) is on the host.
  returned: always
  type: bool
version:
  description: The installed build, or null when it is not installed or C(chef-server-ctl version) fails.
  returned: always
  type: str
  sample: 15.10.12
migration_level:
  description: The migration level (C(major), C(minor)), or null when the file is missing or unreadable.
  returned: always
  type: dict
  sample: {major: 1, minor: 42}
bootstrapped:
  description: Whether C(/var/opt/opscode/bootstrapped) exists.
  returned: always
  type: bool
secrets:
  description: Whether C(/etc/opscode/private-chef-secrets.json) exists.
  returned: always
  type: bool
status:
  description:
    - The C(/_status) answer (C(status) and C(upstreams)) with the HTTP code in C(http_status), or null when
      O(status_url) is empty. C(status) is C(unreachable) with an C(error) when no answer came.
  returned: always
  type: dict
  sample: {http_status: 200, status: pong, upstreams: {chef_sql: pong, chef_elasticsearch: pong, oc_chef_authz: pong}}
users:
  description: The users the server holds, sorted (C(pivotal) included).
  returned: when O(objects) is true
  type: list
  elements: str
  sample: [chefadmin, pivotal]
organizations:
  description: The organizations the server holds, sorted.
  returned: when O(objects) is true
  type: list
  elements: str
  sample: [chefops]
healthy:
  description: Installed, with a version and a migration level, bootstrapped, and C(/_status) answering C(pong).
  returned: always
  type: bool
problems:
  description: Why RV(healthy) is false, one sentence each; empty when healthy.
  returned: always
  type: list
  elements: str
  sample: ["/_status answers fail (HTTP 500): chef_sql is fail"]
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.urls import open_url

from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import (
    CTL_DIRS,
    ChefCtlParseError,
    CtlRunner,
    ctl_argument_spec,
)
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_server_ctl import (
    MIGRATION_LEVEL_FILE,
    list_names,
    parse_migration_level,
    parse_version,
)

BOOTSTRAPPED_FILE = '/var/opt/opscode/bootstrapped'
SECRETS_FILE = '/etc/opscode/private-chef-secrets.json'


def read_status(url, validate_certs, timeout):
    """GET /_status -> {'http_status', 'status', 'upstreams'}; an HTTP error still carries erchef's JSON body."""
    try:
        response = open_url(url, method='GET', validate_certs=validate_certs, timeout=timeout)
        code, body = response.getcode(), response.read()
    except HTTPError as exc:
        code, body = exc.code, exc.read()
    except Exception as exc:  # connection refused, TLS, timeout: all mean no answer
        return dict(http_status=None, status='unreachable', upstreams={}, error=to_native(exc))
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return dict(http_status=code, status='unreadable', upstreams={},
                    error='the answer is not a JSON object: %r' % to_native(body)[:200])
    upstreams = doc.get('upstreams') if isinstance(doc.get('upstreams'), dict) else {}
    return dict(http_status=code, status=to_native(doc.get('status')), upstreams=upstreams)


def assess(installed, version, level, bootstrapped, status):
    problems = []
    if not installed:
        return ['chef-server-ctl is not installed']
    if version is None:
        problems.append('chef-server-ctl version prints no version')
    if level is None:
        problems.append('%s is missing or unreadable' % MIGRATION_LEVEL_FILE)
    if not bootstrapped:
        problems.append('%s is missing: the frontend is not set up' % BOOTSTRAPPED_FILE)
    if status is not None and (status['status'] != 'pong' or status['http_status'] != 200):
        failing = sorted(name for name, value in status['upstreams'].items() if value != 'pong')
        detail = status.get('error') or ', '.join('%s is %s' % (name, status['upstreams'][name]) for name in failing)
        suffix = ': ' + detail if detail else ''
        problems.append('/_status answers %s (HTTP %s)%s' % (status['status'], status['http_status'], suffix))
    return problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **ctl_argument_spec(),
            status_url=dict(type='str', default='https://127.0.0.1/_status'),
            validate_certs=dict(type='bool', default=False),
            timeout=dict(type='int', default=10),
            objects=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    installed = bool(params['ctl_path']
                     or module.get_bin_path('chef-server-ctl', opt_dirs=CTL_DIRS.get('chef-server-ctl', [])))
    version = None
    if installed:
        rc, out, dummy, dummy = CtlRunner(module, 'chef-server-ctl', params['ctl_path']).run('version')
        try:
            version = parse_version(out) if rc == 0 else None
        except ChefCtlParseError:
            version = None

    level = None
    try:
        with open(MIGRATION_LEVEL_FILE) as handle:
            level = parse_migration_level(handle.read())
    except (IOError, OSError, ChefCtlParseError):
        level = None

    bootstrapped = os.path.exists(BOOTSTRAPPED_FILE)
    status = None
    if params['status_url'] and installed:
        status = read_status(params['status_url'], params['validate_certs'], params['timeout'])

    problems = assess(installed, version, level, bootstrapped, status)
    result = dict(changed=False, installed=installed, version=version, migration_level=level,
                  bootstrapped=bootstrapped, secrets=os.path.exists(SECRETS_FILE), status=status,
                  healthy=not problems, problems=problems)
    if params['objects']:
        if not installed:
            module.fail_json(msg='chef-server-ctl is not installed: there are no users or organizations to list',
                             **result)
        runner = CtlRunner(module, 'chef-server-ctl', params['ctl_path'])
        result.update(users=sorted(list_names(runner, 'user-list')),
                      organizations=sorted(list_names(runner, 'org-list')))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
