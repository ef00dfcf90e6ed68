#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Why a module of our own: the same state took four tasks (file, two templates, systemd_service), each a round trip
# per host on every run; this one compares the directory, both files and the unit's enablement in one call.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: iptables_boot_restore
short_description: Restore the chains that iptables_chain keeps in a directory at every boot
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Keeps everything that the chains written by M(chefops.chef_ha.iptables_chain) with
    O(chefops.chef_ha.iptables_chain#module:dest) need to come back after a reboot, and compares all of it in one call.
  - The directory O(rules_dir) (mode 0700, owned by root), where each chain is one file C(CHAIN.v4) or C(CHAIN.v6).
  - The script O(script) (mode 0755), which restores each file with C(iptables-restore --noflush) (or
    C(ip6tables-restore)), so only those chains are replaced, and makes C(INPUT) jump to each chain unless it does
    already. A file that cannot be restored is reported and the others are still restored.
  - The systemd oneshot unit O(unit) in O(unit_dir) (mode 0644), ordered before C(network-pre.target), running the
    script; enabled for C(multi-user.target). C(systemctl daemon-reload) runs when the unit file was written.
  - Files are written atomically and only when their content or mode differs.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
options:
  rules_dir:
    description:
      - The directory of the chain files, as given to O(chefops.chef_ha.iptables_chain#module:dest).
      - Created when missing; its mode is kept at 0700.
    type: path
    required: true
  script:
    description:
      - Where the restore script goes.
    type: path
    default: /usr/local/sbin/chefops-firewall
  unit:
    description:
      - The name of the systemd unit, ending in C(.service).
    type: str
    default: chefops-firewall.service
  unit_dir:
    description:
      - The directory of the unit file.
    type: path
    default: /etc/systemd/system
  wait:
    description:
      - Seconds the script waits for the xtables lock (C(-w)).
    type: int
    default: 10
attributes:
  check_mode:
    details: Compares the files and reads whether the unit is enabled; writes and enables nothing.
  diff_mode:
    support: full
    details: The script and the unit file, before and after.
"""

EXAMPLES = r"""
- name: Restore the firewall chains at boot
  chefops.chef_ha.iptables_boot_restore:
    rules_dir: /etc/chefops/firewall

- name: Keep a chain in that directory
  chefops.chef_ha.iptables_chain:
    chain: CHEFOPS-INPUT
    rules: [{target: ACCEPT, protocol: tcp, dport: 22}]
    dest: /etc/chefops/firewall/CHEFOPS-INPUT.v4
"""

RETURN = r"""
written:
  description: The paths written (or, in check mode, that would be), the directory included when it was created or
    its mode set.
  type: list
  elements: str
  returned: always
  sample: [/usr/local/sbin/chefops-firewall]
enabled_now:
  description: Whether the unit was (or would be) enabled by this call.
  type: bool
  returned: always
commands:
  description: The systemctl commands that ran.
  type: list
  elements: list
  returned: always
  sample: [[/usr/bin/systemctl, daemon-reload], [/usr/bin/systemctl, enable, chefops-firewall.service]]
"""

import errno
import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import read_bytes, write_file
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner

HEADER = '# Managed by chefops.chef_ha (iptables_boot_restore); local changes are overwritten.'
UNIT_NAME = re.compile(r'^[A-Za-z0-9:_.\\-]+\.service$')

SCRIPT = """\
#!/bin/sh
{header}
# Restore the chains kept in {rules_dir} (iptables-restore --noflush: only those chains are replaced) and make
# INPUT jump to each of them. Run at boot by {unit}.
set -eu
dir={rules_dir}
status=0
for rules in "$dir"/*.v4 "$dir"/*.v6; do
  [ -e "$rules" ] || continue
  case "$rules" in
    *.v6) restore=ip6tables-restore; tables=ip6tables ;;
    *) restore=iptables-restore; tables=iptables ;;
  esac
  chain=$(basename "$rules"); chain=${{chain%.*}}
  if "$restore" -w {wait} --noflush < "$rules"; then
    "$tables" -w {wait} -C INPUT -j "$chain" 2>/dev/null || "$tables" -w {wait} -I INPUT 1 -j "$chain"
  else
    echo "{script_name}: $rules could not be restored" >&2
    status=1
  fi
done
exit "$status"
"""

UNIT = """\
{header}
[Unit]
Description=chefops.chef_ha per-service firewall chains
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=local-fs.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={script}

[Install]
WantedBy=multi-user.target
"""


def render(params):
    """The script and the unit file, as text."""
    values = dict(header=HEADER, rules_dir=params['rules_dir'], unit=params['unit'], wait=params['wait'],
                  script=params['script'], script_name=os.path.basename(params['script']))
    return SCRIPT.format(**values), UNIT.format(**values)


def check_params(module):
    params = module.params
    if not UNIT_NAME.match(params['unit']):
        module.fail_json(msg='unit %r is not a systemd service name (letters, digits, : _ . \\ -, ending in '
                             '.service); leave it at chefops-firewall.service or give such a name' % params['unit'])
    if params['wait'] < 1:
        module.fail_json(msg='wait must be at least 1 second, got %d' % params['wait'])
    for name in ('rules_dir', 'script', 'unit_dir'):
        if not os.path.isabs(params[name]):
            module.fail_json(msg='%s must be an absolute path, got %r' % (name, params[name]))
    # the directory goes into a shell script unquoted: refuse what the shell would split or expand
    if re.search(r'[^A-Za-z0-9/._+-]', params['rules_dir']):
        module.fail_json(msg='rules_dir %r may hold only letters, digits and / . _ + -; choose a plain path such as '
                             '/etc/chefops/firewall' % params['rules_dir'])


def ensure_directory(module, path):
    """path is a directory of mode 0700; True when it was (or would be) created or its mode set."""
    try:
        current = os.stat(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            module.fail_json(msg='cannot read %s: %s' % (path, to_native(exc)))
        if not module.check_mode:
            try:
                os.makedirs(path, 0o700)
                os.chmod(path, 0o700)  # makedirs' mode is filtered by the umask
            except OSError as exc:
                module.fail_json(msg='cannot create %s: %s' % (path, to_native(exc)), changed=True)
        return True
    if not stat.S_ISDIR(current.st_mode):
        module.fail_json(msg='rules_dir %s exists and is not a directory' % path)
    if stat.S_IMODE(current.st_mode) == 0o700:
        return False
    if not module.check_mode:
        os.chmod(path, 0o700)
    return True


def systemctl_change(systemctl, result, *args):
    """Run a systemctl command that changes something, recorded in result; it must succeed."""
    result['commands'].append(systemctl.argv(*args))
    systemctl.change(*args, msg='systemctl %s failed' % ' '.join(args), changed=True, written=result['written'],
                     commands=result['commands'])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            rules_dir=dict(type='path', required=True),
            script=dict(type='path', default='/usr/local/sbin/chefops-firewall'),
            unit=dict(type='str', default='chefops-firewall.service'),
            unit_dir=dict(type='path', default='/etc/systemd/system'),
            wait=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    check_params(module)
    params = module.params
    script_text, unit_text = render(params)
    unit_path = os.path.join(params['unit_dir'], params['unit'])
    result = dict(changed=False, written=[], enabled_now=False, commands=[])
    diff = dict(before_header=[], after_header=[], before='', after='')

    if ensure_directory(module, params['rules_dir']):
        result['written'].append(params['rules_dir'])
    unit_written = False
    for path, text, mode in ((params['script'], script_text, 0o755), (unit_path, unit_text, 0o644)):
        try:
            old = read_bytes(path, strict=False)
            change = write_file(path, text, mode=mode, owner='root', group='root', check_mode=module.check_mode)
        except (IOError, OSError) as exc:
            result['changed'] = True
            module.fail_json(msg='cannot write %s: %s' % (path, to_native(exc)), **result)
        if change.changed:
            result['written'].append(path)
            unit_written = unit_written or path == unit_path
        if change.content:
            diff['before'] += to_native(old or b'', errors='surrogate_or_strict')
            diff['after'] += text
            diff['before_header'].append(path)
            diff['after_header'].append(path)

    systemctl = CtlRunner(module, 'systemctl')
    if unit_written and not module.check_mode:
        systemctl_change(systemctl, result, 'daemon-reload')
    if systemctl.run('is-enabled', params['unit'])[1].strip() != 'enabled':
        result['enabled_now'] = True
        if not module.check_mode:
            systemctl_change(systemctl, result, 'enable', params['unit'])
    result['changed'] = bool(result['written'] or result['enabled_now'])
    if module._diff and diff['before_header']:
        result['diff'] = dict(diff, before_header=', '.join(diff['before_header']),
                              after_header=', '.join(diff['after_header']))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
