# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers of chefops.chef_ha: iptables rules rendered exactly as `iptables -S` prints them back, and the
iptables-restore input that replaces one chain.

Not a public API: names may change between releases.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re
import socket

from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

INTERFACE_NAME = re.compile(r'^[A-Za-z0-9_.:@-]+\+?\Z')
IFNAMSIZ = 16  # the kernel's limit, the terminating NUL included
COMMENT_MAX_BYTES = 255  # xt_comment keeps 256 bytes, the NUL included; iptables cuts longer ones silently
# The order iptables prints conntrack states in (bit order of the match), whatever order they were given in.
CTSTATES = ('INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT')
# The spellings iptables prints back; it also accepts aliases, which would print differently.
REJECT_WITH = {
    'ipv4': ('icmp-net-unreachable', 'icmp-host-unreachable', 'icmp-port-unreachable', 'icmp-proto-unreachable',
             'icmp-net-prohibited', 'icmp-host-prohibited', 'icmp-admin-prohibited', 'tcp-reset'),
    'ipv6': ('icmp6-no-route', 'icmp6-adm-prohibited', 'icmp6-addr-unreachable', 'icmp6-port-unreachable',
             'icmp6-policy-fail', 'icmp6-reject-route', 'tcp-reset'),
}
REJECT_DEFAULT = {'ipv4': 'icmp-port-unreachable', 'ipv6': 'icmp6-port-unreachable'}
ANY_SOURCE = {'ipv4': ipaddress.ip_network(u'0.0.0.0/0'), 'ipv6': ipaddress.ip_network(u'::/0')}
COMMENT_PLAIN = re.compile(r'^[A-Za-z0-9_-]+\Z')
HEADER = '# Managed by chefops.chef_ha (iptables_chain); applied with iptables-restore --noflush.'


class RuleError(ValueError):
    pass


def quote_comment(text):
    """The comment as iptables -S prints it: bare when it is only letters, digits, _ and -, else quoted."""
    if COMMENT_PLAIN.match(text):
        return text
    return '"%s"' % re.sub(r'(["\\\'])', r'\\\1', text)


def ipv6_text(address):
    """An IPv6 address as ip6tables prints it: the C library's inet_ntop, which differs from Python's str() for
    addresses that embed an IPv4 address, such as ::ffff:192.0.2.1."""
    return socket.inet_ntop(socket.AF_INET6, address.packed)


def normalize_source(value, ip_version):
    """The source as iptables prints it (address/prefix), or None for any source."""
    text = to_text(value).strip()
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if 'host bits set' in to_native(exc):
            loose = ipaddress.ip_network(text, strict=False)
            raise RuleError('source %s has host bits set; write the network %s, or the host %s/%d'
                            % (text, loose, text.split('/')[0], loose.max_prefixlen))
        raise RuleError('source %r is not an IP address or CIDR network: %s' % (text, to_native(exc)))
    family = 'ipv4' if network.version == 4 else 'ipv6'
    if family != ip_version:
        raise RuleError('source %s is an %s address, but ip_version is %s' % (text, family, ip_version))
    if network == ANY_SOURCE[ip_version]:
        return None
    address = ipv6_text(network.network_address) if network.version == 6 else str(network.network_address)
    return '%s/%d' % (address, network.prefixlen)


def normalize_port(text, whole):
    if not re.match(r'^[0-9]{1,5}\Z', text):
        raise RuleError('dport %s is not a port number or a range N:M' % whole)
    port = int(text)
    if not 1 <= port <= 65535:
        raise RuleError('port %d in dport %s is out of range 1-65535' % (port, whole))
    return port


def normalize_dport(value):
    if isinstance(value, bool) or value is None or not isinstance(value, (int, str)):
        raise RuleError('dport %r must be a port number or a range N:M' % (value,))
    text = str(value).strip()
    if ':' in text:
        low_text, high_text = text.split(':', 1)
        low, high = normalize_port(low_text, text), normalize_port(high_text, text)
        if low > high:
            raise RuleError('port range %s is the wrong way round; write %d:%d' % (text, high, low))
        return str(low) if low == high else '%d:%d' % (low, high)
    return str(normalize_port(text, text))


def normalize_comment(value):
    text = to_text(value)
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise RuleError('comment %r has a control character (a line break, for example)' % text)
    if len(to_bytes(text, errors='surrogate_or_strict')) > COMMENT_MAX_BYTES:
        raise RuleError('comment is longer than %d bytes, which iptables would cut short' % COMMENT_MAX_BYTES)
    return text


def render_rule(chain, rule, ip_version):
    """One rule as the line iptables -S prints: source, interface, protocol, then the matches, then the target."""
    target = rule['target']
    protocol = rule.get('protocol')
    if protocol == 'all':
        protocol = None
    parts = ['-A', chain]
    if rule.get('source') not in (None, ''):
        source = normalize_source(rule['source'], ip_version)
        if source:
            parts += ['-s', source]
    if rule.get('in_interface') not in (None, ''):
        interface = to_text(rule['in_interface'])
        if len(interface) >= IFNAMSIZ or not INTERFACE_NAME.match(interface):
            raise RuleError('in_interface %r is not an interface name (at most %d letters, digits, _ . : @ -, '
                            'and an optional trailing +)' % (interface, IFNAMSIZ - 1))
        parts += ['-i', interface]
    if protocol:
        parts += ['-p', protocol]
    if rule.get('ctstate'):
        states = set()
        for state in rule['ctstate']:
            state = to_text(state).strip().upper()
            if state not in CTSTATES:
                raise RuleError('ctstate %s is not one of %s' % (state, ', '.join(CTSTATES)))
            states.add(state)
        parts += ['-m', 'conntrack', '--ctstate', ','.join(s for s in CTSTATES if s in states)]
    if rule.get('dport') not in (None, ''):
        if protocol not in ('tcp', 'udp'):
            raise RuleError('dport needs protocol tcp or udp')
        parts += ['-m', protocol, '--dport', normalize_dport(rule['dport'])]
    if rule.get('comment') not in (None, ''):
        parts += ['-m', 'comment', '--comment', quote_comment(normalize_comment(rule['comment']))]
    parts += ['-j', target]
    reject_with = rule.get('reject_with')
    if reject_with not in (None, ''):
        if target != 'REJECT':
            raise RuleError('reject_with %s needs target REJECT, not %s' % (reject_with, target))
        if reject_with not in REJECT_WITH[ip_version]:
            raise RuleError('reject_with %s is not one of %s (%s)'
                            % (reject_with, ', '.join(REJECT_WITH[ip_version]), ip_version))
        if reject_with == 'tcp-reset' and protocol != 'tcp':
            raise RuleError('reject_with tcp-reset needs protocol tcp')
    elif target == 'REJECT':
        reject_with = REJECT_DEFAULT[ip_version]
    if target == 'REJECT':
        parts += ['--reject-with', reject_with]
    return ' '.join(parts)


def render_rules(chain, rules, ip_version):
    lines = []
    for index, rule in enumerate(rules or [], 1):
        try:
            lines.append(render_rule(chain, rule, ip_version))
        except RuleError as exc:
            name = 'rule %d' % index
            if rule.get('comment'):
                name += ' (%s)' % rule['comment']
            raise RuleError('%s: %s' % (name, exc))
    return lines


def restore_payload(table, chain, lines):
    """iptables-restore --noflush input that replaces the chain and touches nothing else."""
    return '\n'.join([HEADER, '*%s' % table, ':%s - [0:0]' % chain] + list(lines) + ['COMMIT']) + '\n'


def diff_text(chain, exists, lines, jumps):
    text = ['-N %s' % chain] + list(lines) if exists else []
    text += ['# %s jumps to %s' % (builtin, chain) for builtin in jumps]
    return ''.join(line + '\n' for line in text)
