#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_server_upgrade
short_description: Upgrade Chef Infra Server on one frontend
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Runs the standalone upgrade sequence of a Chef Infra Server frontend when C(chef-server-ctl version) differs from
    O(version). The sequence is C(chef-server-ctl stop), install the new package, C(chef-server-ctl upgrade --yes),
    C(chef-server-ctl start), C(chef-server-ctl cleanup).
  - When the installed version already equals O(version) and no earlier upgrade was left unfinished, nothing runs.
  - An O(version) older than the installed one is refused before anything runs, as Chef Infra Server has no
    downgrade (its data has been migrated to the newer schema).
  - Before it stops anything the module records the upgrade in C(/var/opt/opscode/.chefops-upgrade-pending) and
    removes that record only after C(cleanup) succeeded. When a run fails after the new package was installed, the
    installed version already equals O(version); the record makes the next run finish the sequence (stop, upgrade,
    start, cleanup, without installing again) instead of reporting nothing to do.
  - The license is accepted for C(chef-server-ctl upgrade) with C(CHEF_LICENSE=accept) in its environment;
    C(upgrade) rejects C(--chef-license) on its command line.
  - On an HA cluster, upgrade one frontend first, copy its C(/var/opt/opscode/upgrades/migration-level) to the other
    frontends, then upgrade them.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.ctl.server
options:
  version:
    description:
      - The build version to end on, as C(chef-server-ctl version) prints it, for example V(15.10.12).
    type: str
    required: true
  package:
    description:
      - What to install.
      - An absolute path ending in C(.deb) or C(.rpm) is a package file already on the host, installed with
        C(dpkg -i) or C(rpm -U). It must exist.
      - Anything else is a package specification passed unchanged to the host's package manager, in that manager's
        syntax (C(apt-get install -y), else C(dnf install -y), else C(yum install -y)), for example
        V(chef-server-core=15.10.12-1) for apt or V(chef-server-core-15.10.12) for dnf. The repository must already
        be configured.
    type: str
    required: true
  accept_license:
    description:
      - Accept the Chef license for C(chef-server-ctl upgrade) (C(CHEF_LICENSE=accept) in its environment).
      - Without it the module refuses to start the sequence unless the license markers C(chef_infra_server) and
        C(chef_infra_client) exist in C(/etc/chef/accepted_licenses/), because C(upgrade) would fail with services
        stopped.
    type: bool
    default: false
attributes:
  check_mode:
    details: Predicts from C(chef-server-ctl version) and the pending-upgrade record; runs nothing else.
notes:
  - Every command runs with C(LC_ALL=C) as an argument list, never through a shell.
  - A failed step fails the task with the step's name, C(rc), C(stdout), C(stderr), C(cmd), the steps that ran, and
    RV(node_state), a sentence saying what state the node was left in.
seealso:
  - module: chefops.chef_ha.chef_reconfigure
"""

EXAMPLES = r"""
- name: Upgrade this frontend from a package file copied to it before
  chefops.chef_ha.chef_server_upgrade:
    version: 15.10.12
    package: /var/tmp/chef-server-core_15.10.12-1_amd64.deb
    accept_license: true

- name: Upgrade this frontend from the configured apt repository
  chefops.chef_ha.chef_server_upgrade:
    version: 15.10.12
    package: chef-server-core=15.10.12-1
    accept_license: true
"""

RETURN = r"""
old_version:
  description: The version installed before the run.
  returned: always
  type: str
  sample: 15.9.20
new_version:
  description: The version installed after the run (in check mode, the one that would be).
  returned: always
  type: str
  sample: 15.10.12
resumed:
  description: Whether the run finishes an upgrade that an earlier run left unfinished.
  returned: always
  type: bool
  sample: false
steps:
  description:
    - The steps that ran, in order, each with its name, command, exit status and output. In check mode, the steps
      that would run (name and command only).
    - Step names are C(stop), C(install), C(version), C(upgrade), C(start), C(cleanup).
  returned: always
  type: list
  elements: dict
  sample: [{name: stop, cmd: [/usr/bin/chef-server-ctl, stop], rc: 0, stdout: '', stderr: ''}]
migration_level:
  description: The content of C(/var/opt/opscode/upgrades/migration-level) after the upgrade; null when unreadable.
  returned: when an upgrade ran
  type: dict
  sample: {major: 1, minor: 42}
node_state:
  description: What state the node is in after the run.
  returned: always
  type: str
  sample: upgraded to 15.10.12 and running
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import (
    ChefCtlParseError,
    CtlRunner,
    ctl_argument_spec,
)
from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import read_text, write_file
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_server_ctl import (
    MIGRATION_LEVEL_FILE,
    parse_migration_level,
    parse_version,
)

PENDING_FILE = '/var/opt/opscode/.chefops-upgrade-pending'
LICENSE_DIR = '/etc/chef/accepted_licenses'
LICENSE_MARKERS = ('chef_infra_server', 'chef_infra_client')
LICENSE_EXIT = 172
PACKAGE_MANAGERS = (('apt-get', ['install', '-y', '-q']), ('dnf', ['install', '-y']), ('yum', ['install', '-y']))
APT_ENV = {'DEBIAN_FRONTEND': 'noninteractive'}


def read_pending():
    """The target version of an unfinished upgrade recorded on this host, or None."""
    text = read_text(PENDING_FILE)
    if text is None:
        return None
    try:
        return json.loads(text).get('to')
    except (ValueError, AttributeError):
        return ''  # unreadable, but an upgrade was started


def write_pending(old, new):
    write_file(PENDING_FILE, json.dumps({'from': old, 'to': new}) + '\n', mode=0o644, directory_mode=0o755)


def install_command(module, package):
    """(argv, extra environment) that installs the package."""
    if os.path.isabs(package) and package.endswith('.deb'):
        return [module.get_bin_path('dpkg', required=True), '-i', package], APT_ENV
    if os.path.isabs(package) and package.endswith('.rpm'):
        return [module.get_bin_path('rpm', required=True), '-U', '--replacepkgs', package], {}
    for name, args in PACKAGE_MANAGERS:
        path = module.get_bin_path(name)
        if path:
            return [path] + args + [package], (APT_ENV if name == 'apt-get' else {})
    module.fail_json(msg='package %r is not a .deb or .rpm file path and no apt-get, dnf or yum was found to '
                         'install it; nothing was changed' % package)


class Upgrade:
    """Runs the steps in order; a failing step fails the task with the state it left the node in."""

    def __init__(self, module, runner, old_version):
        self.module = module
        self.runner = runner
        self.old_version = old_version
        self.steps = []

    def run(self, name, argv, left_in, extra_env=None):
        rc, out, err, dummy = self.runner.run_argv(argv, env=extra_env, mutates=name != 'version')
        self.steps.append(dict(name=name, cmd=argv, rc=rc, stdout=out, stderr=err))
        if rc != 0:
            self.fail('step %s failed (exit %d): %s' % (name, rc, left_in), left_in, rc=rc, stdout=out, stderr=err,
                      cmd=argv)
        return out

    def fail(self, msg, left_in, step=None, **extra):
        if step is None and self.steps:
            step = self.steps[-1]['name']
        self.module.fail_json(msg=msg, failed_step=step,
                              node_state=left_in, steps=self.steps, old_version=self.old_version,
                              changed=bool(self.steps), **extra)


def _release(version):
    """The numeric release of a build version (15.10.12+20230101 -> (15, 10, 12)), for ordering."""
    parts = []
    for part in version.split('+', 1)[0].split('.'):
        digits = ''.join(char for char in part if char.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def license_accepted_on_host():
    return all(os.path.isfile(os.path.join(LICENSE_DIR, name)) for name in LICENSE_MARKERS)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            version=dict(type='str', required=True),
            package=dict(type='str', required=True),
            accept_license=dict(type='bool', default=False),
            **ctl_argument_spec(),
        ),
        supports_check_mode=True,
    )
    params = module.params
    target = params['version'].strip()
    package = params['package'].strip()
    if not target:
        module.fail_json(msg='version must not be empty; give the build version to upgrade to, e.g. 15.10.12')
    if not package:
        module.fail_json(msg='package must not be empty; give a package file path or a package specification')
    if os.path.isabs(package) and not package.endswith(('.deb', '.rpm')):
        module.fail_json(msg='package %s is a path but not a .deb or .rpm file; give the package file or a package '
                             'specification such as chef-server-core=%s-1' % (package, target))
    if os.path.isabs(package) and not os.path.isfile(package):
        module.fail_json(msg='package file %s does not exist on this host; copy it there first' % package)

    runner = CtlRunner(module, 'chef-server-ctl', params['ctl_path'])
    rc, out, err, cmd = runner.run('version')
    try:
        installed = parse_version(out) if rc == 0 else None
    except ChefCtlParseError:
        installed = None
    if installed is None:
        runner.fail('cannot determine the installed version with chef-server-ctl version (exit %d); nothing was '
                    'changed' % rc, rc, out, err, cmd)

    pending = read_pending()
    resumed = pending is not None
    result = dict(changed=False, old_version=installed, new_version=installed, resumed=resumed, steps=[])
    if installed == target and not resumed:
        result['node_state'] = 'already at %s' % target
        module.exit_json(**result)

    if not resumed and _release(target) < _release(installed):
        module.fail_json(msg='version %s is older than the installed %s: Chef Infra Server cannot be downgraded '
                             '(its data is migrated to the newer schema); give %s or a newer build. Nothing was '
                             'changed' % (target, installed, installed), changed=False, old_version=installed,
                         steps=[])

    ctl = runner.argv
    need_install = installed != target
    plan = [('stop', ctl('stop'))]
    if need_install:
        install_argv, install_env = install_command(module, package)
        plan += [('install', install_argv), ('version', ctl('version'))]
    plan += [('upgrade', ctl('upgrade', '--yes')), ('start', ctl('start')), ('cleanup', ctl('cleanup'))]
    result.update(changed=True, new_version=target)

    if not params['accept_license'] and not license_accepted_on_host():
        module.fail_json(msg='chef-server-ctl upgrade needs the Chef license accepted and %s holds no acceptance; '
                             'set accept_license=true. Nothing was changed' % LICENSE_DIR, changed=False,
                         old_version=installed, steps=[])

    if module.check_mode:
        result['steps'] = [dict(name=name, cmd=argv) for name, argv in plan]
        result['node_state'] = 'would be upgraded to %s' % target
        module.exit_json(**result)

    upgrade = Upgrade(module, runner, installed)
    try:
        write_pending(installed, target)
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot record the upgrade in %s: %s; nothing was changed'
                             % (PENDING_FILE, to_native(exc)))
    upgrade.run('stop', ctl('stop'), 'chef-server-ctl stop failed; some services may be stopped, the package was '
                'not changed')
    if need_install:
        upgrade.run('install', install_argv, 'services are stopped; installing the new package failed, so %s or a '
                    'partly installed package is in place and chef-server-ctl upgrade did not run' % installed,
                    install_env)
        out = upgrade.run('version', ctl('version'), 'services are stopped; the new package is installed but '
                          'chef-server-ctl version fails, and chef-server-ctl upgrade did not run')
        try:
            now = parse_version(out)
        except ChefCtlParseError as exc:
            upgrade.fail('step version printed no version: %s' % to_native(exc), 'services are stopped; the new '
                         'package is installed but its version is unknown, and chef-server-ctl upgrade did not run',
                         stdout=out, cmd=ctl('version'))
        if now != target:
            upgrade.fail('package %s installed version %s, not %s' % (package, now, target),
                         'services are stopped; version %s is installed instead of %s and chef-server-ctl upgrade '
                         'did not run' % (now, target), stdout=out, cmd=ctl('version'))
    license_env = {'CHEF_LICENSE': 'accept'} if params['accept_license'] else {}
    state = ('services are stopped; the new package (%s) is installed but chef-server-ctl upgrade failed, so the '
             'data migrations may be partly applied; fix the cause and run this task again to finish' % target)
    if not params['accept_license']:
        state += ' (exit %d means the license is not accepted: set accept_license=true)' % LICENSE_EXIT
    upgrade.run('upgrade', ctl('upgrade', '--yes'), state, license_env)
    upgrade.run('start', ctl('start'), 'chef-server-ctl upgrade succeeded but chef-server-ctl start failed; '
                'services may be partly down; cleanup did not run')
    upgrade.run('cleanup', ctl('cleanup'), 'upgraded to %s and services started, but chef-server-ctl cleanup '
                'failed; old upgrade files remain; run this task again to finish' % target)
    try:
        os.remove(PENDING_FILE)
    except OSError as exc:
        if os.path.exists(PENDING_FILE):
            upgrade.fail('the upgrade finished but %s could not be removed: %s' % (PENDING_FILE, to_native(exc)),
                         'upgraded to %s and running' % target, step='record')

    level_text = read_text(MIGRATION_LEVEL_FILE)
    try:
        level = parse_migration_level(level_text)
    except ChefCtlParseError as exc:
        level = None
        module.warn('cannot read %s after the upgrade: %s' % (MIGRATION_LEVEL_FILE, to_native(exc)))
    result.update(steps=upgrade.steps, migration_level=level, node_state='upgraded to %s and running' % target)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
