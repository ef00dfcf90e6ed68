#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Why a module of our own: ansible.builtin.iptables applies one rule per call, so it can neither replace a whole
# chain atomically nor drop stale rules; community.general.iptables_state restores whole tables, other rules included.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: iptables_chain
short_description: Keep one iptables chain of its own exactly at a list of rules, atomically
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Keeps the user-defined chain O(chain) of O(table) exactly at the rules rendered from O(rules) and makes the
    builtin chains in O(jump_from) jump to it. Every other chain and rule on the host is left alone.
  - Each rule is rendered in the canonical form C(iptables -S) prints back, and compared with the live chain line
    by line. When they differ, the chain is replaced in one transaction with C(iptables-restore --noflush), after
    the same input passed C(iptables-restore --test). In C(--noflush) mode the chain declaration
    C(:CHAIN - [0:0]) flushes that chain only.
  - After applying, the chain is read back; a read-back that differs from the rendered rules fails the task, so a
    rendering that is not canonical cannot make every run report a change.
  - A missing jump is inserted as rule 1 of the builtin chain; an existing jump is left where it is.
  - With O(dest), the same C(iptables-restore) input is kept in a file for the boot script, which restores it with
    C(--noflush) and adds the jumps itself.
extends_documentation_fragment:
  - chefops.chef_ha.attributes
options:
  chain:
    description:
      - Name of the chain, for example V(CHEFOPS-INPUT).
      - 1 to 28 characters out of letters, digits, V(_) and V(-), not starting with V(-); not a builtin chain
        name.
    type: str
    required: true
  table:
    description:
      - The table of the chain.
    type: str
    default: filter
    choices: [filter, nat, mangle, raw, security]
  ip_version:
    description:
      - V(ipv4) runs C(iptables), C(iptables-save) and C(iptables-restore); V(ipv6) runs C(ip6tables),
        C(ip6tables-save) and C(ip6tables-restore).
    type: str
    default: ipv4
    choices: [ipv4, ipv6]
  rules:
    description:
      - The rules of the chain, in order. An empty list keeps the chain empty.
    type: list
    elements: dict
    default: []
    suboptions:
      target:
        description:
          - What a matching packet gets.
        type: str
        required: true
        choices: [ACCEPT, REJECT, DROP, RETURN]
      protocol:
        description:
          - The protocol to match. V(all) matches every protocol, like leaving it out.
        type: str
        choices: [tcp, udp, all]
      source:
        description:
          - Source address or network, for example V(172.31.250.11) or V(10.0.0.0/8), of the family of
            O(ip_version).
          - An address without a prefix length matches that host only (V(/32) or V(/128)).
          - A network with host bits set, such as V(10.0.0.1/8), is refused.
          - V(0.0.0.0/0) and V(::/0) match every source, like leaving it out.
        type: str
      dport:
        description:
          - Destination port V(N) or port range V(N:M), N lower than M, within 1 to 65535. Needs O(rules[].protocol)
            V(tcp) or V(udp).
          - Quote a range in YAML (V('1000:1030')); unquoted, YAML 1.1 may read it as a base-60 number.
          - V(N:N) is the single port N.
        type: raw
      in_interface:
        description:
          - Name of the interface the packet came in on, for example V(lo); a trailing V(+) matches every name
            starting with the rest.
        type: str
      ctstate:
        description:
          - Connection tracking states to match, any of V(INVALID), V(NEW), V(RELATED), V(ESTABLISHED),
            V(UNTRACKED), V(SNAT) and V(DNAT), in any order.
        type: list
        elements: str
      reject_with:
        description:
          - The answer of a V(REJECT) rule, for example V(tcp-reset) (needs O(rules[].protocol=tcp)) or
            V(icmp-host-prohibited).
          - Only with O(rules[].target=REJECT). By default V(icmp-port-unreachable) for V(ipv4) and
            V(icmp6-port-unreachable) for V(ipv6).
        type: str
      comment:
        description:
          - A comment kept with the rule (C(-m comment)); at most 255 bytes, no control characters. An empty
            comment is the same as none.
        type: str
  jump_from:
    description:
      - Builtin chains of O(table) that must jump to O(chain).
      - A missing jump C(-j CHAIN) without any match is inserted as rule 1. Whether it is there is checked with
        C(iptables -C BUILTIN -j CHAIN); a jump with matches of its own does not count.
    type: list
    elements: str
    default: [INPUT]
  state:
    description:
      - V(present) keeps the chain at O(rules) and the jumps in place.
      - V(absent) removes the jumps from the chains in O(jump_from), flushes and deletes the chain and removes
        O(dest). A jump from a chain not in O(jump_from) makes the deletion fail.
    type: str
    default: present
    choices: [present, absent]
  dest:
    description:
      - File to keep the chain in, as C(iptables-restore --noflush) input, for restoring it at boot. The jumps are not
        in the file.
      - Written atomically with mode 0600 only when its content differs; its directory is created when missing.
    type: path
  wait:
    description:
      - Seconds to wait for the xtables lock (C(-w)) when another program holds it. Passed to C(iptables-restore)
        as well when its version takes it.
    type: int
    default: 10
attributes:
  check_mode:
    details: Reads the chain and the jumps and checks the new rules with C(iptables-restore --test), which changes
      nothing.
  diff_mode:
    support: full
    details: The chain as C(iptables -S) prints it, and the jumps to it, before and after.
notes:
  - Runs every command with C(LC_ALL=C) as an argument list, never through a shell.
  - Works with both the C(nf_tables) and the C(legacy) variants of iptables.
seealso:
  - module: ansible.builtin.iptables
  - module: community.general.iptables_state
"""

EXAMPLES = r"""
- name: Keep the PostgreSQL and Elasticsearch ACLs of a backend in a chain of their own
  chefops.chef_ha.iptables_chain:
    chain: CHEFOPS-INPUT
    dest: /etc/chefops/iptables-chefops.rules
    rules:
      - in_interface: lo
        target: RETURN
      - ctstate: [ESTABLISHED, RELATED]
        target: RETURN
      - source: 172.31.250.11
        protocol: tcp
        dport: 5432
        target: ACCEPT
        comment: postgresql from be1
      - protocol: tcp
        dport: '9200:9400'
        target: REJECT
        reject_with: tcp-reset

- name: The same for IPv6
  chefops.chef_ha.iptables_chain:
    chain: CHEFOPS-INPUT
    ip_version: ipv6
    rules:
      - source: 2001:db8::11
        protocol: tcp
        dport: 5432
        target: ACCEPT

- name: Remove the chain and its jump
  chefops.chef_ha.iptables_chain:
    chain: CHEFOPS-INPUT
    state: absent
    dest: /etc/chefops/iptables-chefops.rules
"""

RETURN = r"""
chain:
  description: The chain.
  returned: always
  type: str
  sample: CHEFOPS-INPUT
rules:
  description: The rules rendered from O(rules), as C(iptables -S) prints them; empty with O(state=absent).
  returned: always
  type: list
  elements: str
  sample: ['-A CHEFOPS-INPUT -i lo -j RETURN', '-A CHEFOPS-INPUT -s 172.31.250.11/32 -p tcp -m tcp --dport 5432 -j ACCEPT']
before:
  description: The rules of the live chain before the run; empty when the chain did not exist.
  returned: always
  type: list
  elements: str
  sample: ['-A CHEFOPS-INPUT -i lo -j RETURN']
after:
  description: The rules of the chain after the run, as read back (as they would be in check mode).
  returned: always
  type: list
  elements: str
  sample: ['-A CHEFOPS-INPUT -i lo -j RETURN', '-A CHEFOPS-INPUT -s 172.31.250.11/32 -p tcp -m tcp --dport 5432 -j ACCEPT']
exists_before:
  description: Whether the chain existed before the run.
  returned: always
  type: bool
jumps_added:
  description: Builtin chains a jump to O(chain) was inserted into (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [INPUT]
jumps_removed:
  description: Builtin chains a jump to O(chain) was removed from (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: []
dest_changed:
  description: Whether O(dest) was written or removed (or would be, in check mode).
  returned: always
  type: bool
commands:
  description: The commands that changed something, in order; empty in check mode.
  returned: always
  type: list
  elements: list
  sample: [[/usr/sbin/iptables-restore, -w, '10', --noflush], [/usr/sbin/iptables, -w, '10', -t, filter, -I, INPUT, '1',
           -j, CHEFOPS-INPUT]]
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import write_file
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import CtlRunner
from ansible_collections.chefops.chef_ha.plugins.module_utils._iptables import (
    RuleError,
    diff_text,
    render_rules,
    restore_payload,
)

BUILTIN_CHAINS = ('INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING')
CHAIN_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_-]{0,27}\Z')  # a leading - would read as an option
TOOLS = {
    'ipv4': ('iptables', 'iptables-save', 'iptables-restore'),
    'ipv6': ('ip6tables', 'ip6tables-save', 'ip6tables-restore'),
}
# What iptables says about a chain that does not exist; iptables-nft 1.8.9 calls it "incompatible" instead, which
# is why any other failure is checked against the table listing.
ABSENT_MARKERS = ('No chain/target/match by that name', 'does not exist')
ERROR_LINE = re.compile(r'line:?\s+(\d+)')
VERSION = re.compile(r'v(\d+)\.(\d+)\.(\d+)')
RESTORE_WAIT_SINCE = (1, 6, 2)  # the first iptables-restore that takes -w
MAX_JUMP_DELETIONS = 64


class Tables:
    """iptables, iptables-save and iptables-restore (or the ip6tables ones) for one table."""

    def __init__(self, module, ip_version, table, wait):
        self.module = module
        self.table = table
        self.wait = str(wait)
        self.runner = CtlRunner(module, TOOLS[ip_version][0])
        self.iptables = self.runner.binary
        self.save, self.restore = [module.get_bin_path(name, required=True) for name in TOOLS[ip_version][1:]]
        self.commands = []
        self.restore_wait = None

    def run(self, argv, data=None, mutating=False):
        if mutating:
            self.commands.append(list(argv))
        rc, out, err, dummy = self.runner.run_argv(argv, data=data, binary_data=True, mutates=mutating)
        return rc, out, err

    def iptables_argv(self, *args):
        return [self.iptables, '-w', self.wait, '-t', self.table] + list(args)

    def fail(self, msg, argv, rc, out, err, **extra):
        self.module.fail_json(msg=msg, cmd=argv, rc=rc, stdout=out, stderr=err, commands=self.commands, **extra)

    def read_chain(self, chain):
        """The rules of the chain as iptables -S prints them, or None when there is no such chain."""
        argv = self.iptables_argv('-S', chain)
        rc, out, err = self.run(argv)
        if rc == 0:
            return [line for line in out.splitlines() if line.strip() and line.strip() != '-N %s' % chain]
        if any(marker in err for marker in ABSENT_MARKERS):
            return None
        save_argv = [self.save, '-t', self.table]
        save_rc, save_out, dummy = self.run(save_argv)
        if save_rc == 0 and not any(line.startswith(':%s ' % chain) for line in save_out.splitlines()):
            return None
        self.fail('cannot read chain %s of table %s: %s' % (chain, self.table, err.strip() or 'exit %d' % rc),
                  argv, rc, out, err)

    def has_jump(self, builtin, chain):
        argv = self.iptables_argv('-C', builtin, '-j', chain)
        rc, out, err = self.run(argv)
        if rc == 0:
            return True
        if rc == 1:
            return False
        self.fail('cannot check the jump from %s to %s: %s' % (builtin, chain, err.strip() or 'exit %d' % rc),
                  argv, rc, out, err)

    def change(self, msg, *args, **extra):
        argv = self.iptables_argv(*args)
        rc, out, err = self.run(argv, mutating=True)
        if rc != 0:
            self.fail('%s: %s' % (msg, err.strip() or 'exit %d' % rc), argv, rc, out, err, changed=True, **extra)

    def restore_argv(self, *args):
        if self.restore_wait is None:
            rc, out, err = self.run([self.restore, '--version'])
            match = VERSION.search(out + err)
            self.restore_wait = bool(rc == 0 and match and (
                tuple(int(part) for part in match.groups()) >= RESTORE_WAIT_SINCE or 'nf_tables' in out))
        return [self.restore] + (['-w', self.wait] if self.restore_wait else []) + list(args)

    def restore_input(self, payload, test):
        argv = self.restore_argv('--test', '--noflush') if test else self.restore_argv('--noflush')
        rc, out, err = self.run(argv, data=payload, mutating=not test)
        if rc != 0:
            msg = 'iptables-restore %s the rules: %s' % ('--test rejected' if test else 'could not apply',
                                                         err.strip() or 'exit %d' % rc)
            match = ERROR_LINE.search(err)
            lines = payload.splitlines()
            if match and 1 <= int(match.group(1)) <= len(lines):
                msg += ' (input line %s: %s)' % (match.group(1), lines[int(match.group(1)) - 1])
            self.fail(msg, argv, rc, out, err, payload=payload)


def ensure_dest(module, dest, payload):
    """Write dest (mode 0600) when its content or mode differs; True when it did (or would)."""
    data = to_bytes(payload, errors='surrogate_or_strict')
    try:
        change = write_file(dest, data, mode=0o600, directory_mode=0o755, check_mode=module.check_mode)
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot write %s: %s' % (dest, to_native(exc)), changed=True)
    return change.changed


def apply_present(module, tables, result, lines, jump_from, jumps_before):
    """The chain holds exactly lines and every builtin of jump_from jumps to it; returns the jumps afterwards."""
    chain, table, dest = result['chain'], result['table'], module.params['dest']
    exists, before = result['exists_before'], result['before']
    payload = restore_payload(table, chain, lines)
    if not exists or before != lines:
        result['changed'] = True
        result['after'] = lines
        tables.restore_input(payload, test=True)
        if not module.check_mode:
            tables.restore_input(payload, test=False)
            read_back = tables.read_chain(chain)
            if read_back != lines:
                module.fail_json(
                    msg='chain %s reads back different from the rules applied, so the next run would change '
                        'it again; applied:\n%s\nread back:\n%s'
                        % (chain, '\n'.join(lines), '\n'.join(read_back or ['(no chain)'])),
                    changed=True, rules=lines, after=read_back, commands=tables.commands)
            result['after'] = read_back
    for builtin in jump_from:
        if builtin in jumps_before:
            continue
        result['jumps_added'].append(builtin)
        result['changed'] = True
        if not module.check_mode:
            tables.change('cannot insert the jump from %s to %s' % (builtin, chain),
                          '-I', builtin, '1', '-j', chain)
    if dest:
        result['dest_changed'] = ensure_dest(module, dest, payload)
    return jump_from


def apply_absent(module, tables, result, jump_from, jumps_before):
    """No chain, no jump to it, no dest file; returns the jumps afterwards (none)."""
    chain, dest = result['chain'], module.params['dest']
    exists = result['exists_before']
    result['after'] = []
    if exists:
        result['changed'] = True
        for builtin in jumps_before:
            result['jumps_removed'].append(builtin)
            if module.check_mode:
                continue
            for dummy in range(MAX_JUMP_DELETIONS):  # the same jump may be there more than once
                tables.change('cannot remove the jump from %s to %s' % (builtin, chain), '-D', builtin, '-j', chain)
                if not tables.has_jump(builtin, chain):
                    break
        if not module.check_mode:
            tables.change('cannot flush chain %s' % chain, '-F', chain)
            tables.change('cannot delete chain %s (does a chain other than %s still jump to it?)'
                          % (chain, ', '.join(jump_from) or 'none'), '-X', chain)
    if dest and os.path.lexists(dest):
        result['dest_changed'] = True
        if not module.check_mode:
            try:
                os.unlink(dest)
            except (IOError, OSError) as exc:
                module.fail_json(msg='cannot remove %s: %s' % (dest, to_native(exc)), **result)
    return []


def main():
    module = AnsibleModule(
        argument_spec=dict(
            chain=dict(type='str', required=True),
            table=dict(type='str', default='filter', choices=['filter', 'nat', 'mangle', 'raw', 'security']),
            ip_version=dict(type='str', default='ipv4', choices=['ipv4', 'ipv6']),
            rules=dict(type='list', elements='dict', default=[], options=dict(
                target=dict(type='str', required=True, choices=['ACCEPT', 'REJECT', 'DROP', 'RETURN']),
                protocol=dict(type='str', choices=['tcp', 'udp', 'all']),
                source=dict(type='str'),
                dport=dict(type='raw'),
                in_interface=dict(type='str'),
                ctstate=dict(type='list', elements='str'),
                reject_with=dict(type='str'),
                comment=dict(type='str'),
            )),
            jump_from=dict(type='list', elements='str', default=['INPUT']),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            dest=dict(type='path'),
            wait=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    chain, table, ip_version = params['chain'], params['table'], params['ip_version']
    if not CHAIN_NAME.match(chain):
        module.fail_json(msg='chain %r must be 1 to 28 letters, digits, _ or -, not starting with -' % chain)
    if chain.upper() in BUILTIN_CHAINS:
        module.fail_json(msg='chain %s is a builtin chain; this module manages a chain of its own' % chain)
    for builtin in params['jump_from']:
        if builtin not in BUILTIN_CHAINS:
            module.fail_json(msg='jump_from %r is not a builtin chain (%s)' % (builtin, ', '.join(BUILTIN_CHAINS)))
    if params['wait'] < 1:
        module.fail_json(msg='wait must be at least 1 second, got %d' % params['wait'])
    dest = params['dest']
    if dest and os.path.isdir(dest):
        module.fail_json(msg='dest %s is a directory; give the path of the file to write' % dest)
    present = params['state'] == 'present'
    try:
        lines = render_rules(chain, params['rules'], ip_version) if present else []
    except RuleError as exc:
        module.fail_json(msg=to_native(exc))

    tables = Tables(module, ip_version, table, params['wait'])
    live = tables.read_chain(chain)
    exists = live is not None
    before = live or []
    jump_from = list(dict.fromkeys(params['jump_from']))  # each once, in the order given
    jumps_before = [builtin for builtin in jump_from if exists and tables.has_jump(builtin, chain)]
    result = dict(changed=False, chain=chain, table=table, ip_version=ip_version, state=params['state'],
                  rules=lines, before=before, after=before, exists_before=exists, jumps_added=[], jumps_removed=[],
                  dest_changed=False, commands=tables.commands)

    if present:
        jumps_after = apply_present(module, tables, result, lines, jump_from, jumps_before)
    else:
        jumps_after = apply_absent(module, tables, result, jump_from, jumps_before)
    if result['dest_changed']:
        result['changed'] = True
    if module._diff:
        header = '%s chain %s (table %s)' % (ip_version, chain, table)
        result['diff'] = dict(
            before_header=header, after_header=header,
            before=diff_text(chain, exists, before, jumps_before),
            after=diff_text(chain, present, result['after'], jumps_after))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
