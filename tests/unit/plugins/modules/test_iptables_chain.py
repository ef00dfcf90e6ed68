"""iptables_chain on recorded iptables, iptables-save and iptables-restore calls.

The canonical forms below are what iptables 1.8.9 (nf_tables) prints back with -S; test_iptables_chain_real.py
checks them against the real iptables in a network namespace.
"""

import ipaddress
import os
import time

import pytest

from ansible_collections.chefops.chef_ha.plugins.module_utils import _iptables
from ansible_collections.chefops.chef_ha.plugins.modules import iptables_chain
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call

CHAIN = 'CHEFOPS-INPUT'
HEADER = '# Managed by chefops.chef_ha (iptables_chain); applied with iptables-restore --noflush.\n'
RULES = [
    dict(in_interface='lo', target='RETURN'),
    dict(ctstate=['ESTABLISHED', 'RELATED'], target='RETURN'),
    dict(source='172.31.250.11', protocol='tcp', dport=5432, target='ACCEPT'),
    dict(protocol='tcp', dport='9200:9400', target='REJECT', reject_with='tcp-reset'),
]
LINES = [
    '-A CHEFOPS-INPUT -i lo -j RETURN',
    '-A CHEFOPS-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
    '-A CHEFOPS-INPUT -s 172.31.250.11/32 -p tcp -m tcp --dport 5432 -j ACCEPT',
    '-A CHEFOPS-INPUT -p tcp -m tcp --dport 9200:9400 -j REJECT --reject-with tcp-reset',
]
PAYLOAD = HEADER + '*filter\n:CHEFOPS-INPUT - [0:0]\n' + ''.join(line + '\n' for line in LINES) + 'COMMIT\n'
LEGACY_ABSENT = 'iptables: No chain/target/match by that name.\n'
NFT_ABSENT = "iptables v1.8.9 (nf_tables): chain `CHEFOPS-INPUT' in table `filter' is incompatible, use 'nft' tool.\n"
BAD_RULE = 'iptables: Bad rule (does a matching rule exist in that chain?).\n'

APPLY = ['/usr/bin/iptables-restore', '-w', '10', '--noflush']
INSERT = ['/usr/bin/iptables', '-w', '10', '-t', 'filter', '-I', 'INPUT', '1', '-j', CHAIN]


def ipt(*args, **kwargs):
    kwargs.setdefault('command', 'iptables')
    return call(['-w', '10', '-t', 'filter'] + list(args), **kwargs)


def listing(lines, chain=CHAIN):
    return ''.join(line + '\n' for line in ['-N %s' % chain] + list(lines))


def read(lines, **kwargs):
    return ipt('-S', CHAIN, out=listing(lines), **kwargs)


def read_absent(err=LEGACY_ABSENT, **kwargs):
    return ipt('-S', CHAIN, rc=1, err=err, **kwargs)


def jump(present, builtin='INPUT', **kwargs):
    return ipt('-C', builtin, '-j', CHAIN, rc=0 if present else 1, err='' if present else BAD_RULE, **kwargs)


def restore(*args, **kwargs):
    kwargs.setdefault('command', 'iptables-restore')
    return call(list(args), **kwargs)


def version(text='iptables-restore v1.8.9 (nf_tables)\n', command='iptables-restore'):
    return call(['--version'], out=text, command=command)


def apply_calls(readback=None, command='iptables-restore', chain_read=read):
    readback = LINES if readback is None else readback
    return [version(command=command), restore('-w', '10', '--test', '--noflush', command=command),
            restore('-w', '10', '--noflush', command=command), chain_read(readback)]


def args(**extra):
    result = dict(chain=CHAIN, rules=RULES)
    result.update(extra)
    return result


def mutating(commands):
    """The commands of a run that would change the firewall."""
    found = []
    for argv in commands:
        tool = os.path.basename(argv[0])
        if tool.endswith('-restore') and '--noflush' in argv and '--test' not in argv:
            found.append(argv)
        elif tool in ('iptables', 'ip6tables') and set(argv) & {'-I', '-A', '-D', '-F', '-X', '-N', '-R', '-P'}:
            found.append(argv)
    return found


# --- rendering ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('rule, line', [
    (dict(target='ACCEPT'), '-A C -j ACCEPT'),
    (dict(target='DROP', protocol='all'), '-A C -j DROP'),
    (dict(target='DROP', source='0.0.0.0/0'), '-A C -j DROP'),
    (dict(target='REJECT'), '-A C -j REJECT --reject-with icmp-port-unreachable'),
    (dict(target='REJECT', protocol='udp', reject_with='icmp-host-prohibited'),
     '-A C -p udp -j REJECT --reject-with icmp-host-prohibited'),
    (dict(target='ACCEPT', source='10.1.0.0/16', in_interface='eth0', protocol='udp', dport='53'),
     '-A C -s 10.1.0.0/16 -i eth0 -p udp -m udp --dport 53 -j ACCEPT'),
    (dict(target='ACCEPT', protocol='tcp', dport='80:80'), '-A C -p tcp -m tcp --dport 80 -j ACCEPT'),
    (dict(target='ACCEPT', protocol='tcp', dport=' 0443 '), '-A C -p tcp -m tcp --dport 443 -j ACCEPT'),
    (dict(target='ACCEPT', in_interface='eth+'), '-A C -i eth+ -j ACCEPT'),
    (dict(target='RETURN', ctstate=['dnat', 'ESTABLISHED', 'new', 'INVALID', 'RELATED', 'SNAT', 'UNTRACKED', 'NEW']),
     '-A C -m conntrack --ctstate INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED,SNAT,DNAT -j RETURN'),
    (dict(target='ACCEPT', protocol='tcp', ctstate=['NEW'], dport=22, comment='ssh', in_interface='lo'),
     '-A C -i lo -p tcp -m conntrack --ctstate NEW -m tcp --dport 22 -m comment --comment ssh -j ACCEPT'),
    (dict(target='ACCEPT', comment='Chef_HA-1'), '-A C -m comment --comment Chef_HA-1 -j ACCEPT'),
    (dict(target='ACCEPT', comment='pg from be1'), '-A C -m comment --comment "pg from be1" -j ACCEPT'),
    (dict(target='ACCEPT', comment='a.b'), '-A C -m comment --comment "a.b" -j ACCEPT'),
    (dict(target='ACCEPT', comment='say "hi"'), '-A C -m comment --comment "say \\"hi\\"" -j ACCEPT'),
    (dict(target='ACCEPT', comment="it's"), '-A C -m comment --comment "it\\\'s" -j ACCEPT'),
    (dict(target='ACCEPT', comment='a\\b'), '-A C -m comment --comment "a\\\\b" -j ACCEPT'),
    (dict(target='ACCEPT', comment=''), '-A C -j ACCEPT'),
])
def test_render_ipv4(rule, line):
    assert _iptables.render_rule('C', rule, 'ipv4') == line


@pytest.mark.parametrize('rule, line', [
    (dict(target='REJECT'), '-A C -j REJECT --reject-with icmp6-port-unreachable'),
    (dict(target='ACCEPT', source='2001:DB8:0:0::11'), '-A C -s 2001:db8::11/128 -j ACCEPT'),
    (dict(target='ACCEPT', source='2001:db8::/32'), '-A C -s 2001:db8::/32 -j ACCEPT'),
    (dict(target='ACCEPT', source='::/0'), '-A C -j ACCEPT'),
    (dict(target='REJECT', protocol='tcp', reject_with='tcp-reset'), '-A C -p tcp -j REJECT --reject-with tcp-reset'),
    (dict(target='REJECT', reject_with='icmp6-adm-prohibited'), '-A C -j REJECT --reject-with icmp6-adm-prohibited'),
])
def test_render_ipv6(rule, line):
    assert _iptables.render_rule('C', rule, 'ipv6') == line


@pytest.mark.parametrize('address, text', [
    # what ip6tables 1.8.9 printed for each
    ('::ffff:1.2.3.4', '::ffff:1.2.3.4'),
    ('::102:304', '::1.2.3.4'),
    ('::ffff:0:0', '::ffff:0.0.0.0'),
    ('64:ff9b::102:304', '64:ff9b::102:304'),
    ('2001:db8:0:1::', '2001:db8:0:1::'),
    ('2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'),
    ('2001:0:0:1::1', '2001:0:0:1::1'),
    ('::1', '::1'),
    ('::', '::'),
    ('1:0:2:0:3:0:4:0', '1:0:2:0:3:0:4:0'),
    ('1:0:0:2:0:0:0:3', '1:0:0:2::3'),
    ('1:0:0:2:3:0:0:4', '1::2:3:0:0:4'),
    ('fe80::', 'fe80::'),
])
def test_ipv6_text_is_inet_ntop(address, text):
    assert _iptables.ipv6_text(ipaddress.IPv6Address(address)) == text


def test_payload_declares_only_the_chain():
    assert iptables_chain.restore_payload('filter', CHAIN, LINES) == PAYLOAD
    assert iptables_chain.restore_payload('raw', CHAIN, []) == HEADER + '*raw\n:CHEFOPS-INPUT - [0:0]\nCOMMIT\n'


# --- runs ---------------------------------------------------------------------------------------------------------

def test_fresh_chain_created(run_module):
    # a chain that did not exist has no jump to it: no -C before the insert
    run = run_module(iptables_chain, args(), [read_absent()] + apply_calls() + [ipt('-I', 'INPUT', '1', '-j', CHAIN)])
    assert run['changed'] is True
    assert run['exists_before'] is False
    assert run['rules'] == LINES
    assert run['before'] == []
    assert run['after'] == LINES
    assert run['jumps_added'] == ['INPUT']
    assert run['commands'] == [APPLY, INSERT]
    # the very same input was tested, then applied
    assert run.stdin == [(['/usr/bin/iptables-restore', '-w', '10', '--test', '--noflush'], PAYLOAD),
                         (APPLY, PAYLOAD)]


def test_fresh_chain_when_nft_calls_a_missing_chain_incompatible(run_module):
    save = call(['-t', 'filter'], command='iptables-save',
                out='*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:OTHER - [0:0]\n'
                    '-A OTHER -j ACCEPT\nCOMMIT\n')
    run = run_module(iptables_chain, args(), [read_absent(NFT_ABSENT), save] + apply_calls() + [
        ipt('-I', 'INPUT', '1', '-j', CHAIN)])
    assert run['changed'] is True
    assert run['exists_before'] is False
    assert run['commands'] == [APPLY, INSERT]


def test_chain_that_exists_but_cannot_be_read_fails(run_module):
    save = call(['-t', 'filter'], command='iptables-save', out='*filter\n:INPUT ACCEPT [0:0]\n:CHEFOPS-INPUT - [0:0]\n')
    run = run_module(iptables_chain, args(), [read_absent(NFT_ABSENT), save])
    assert run.failed
    assert run['msg'] == ("cannot read chain CHEFOPS-INPUT of table filter: iptables v1.8.9 (nf_tables): chain "
                          "`CHEFOPS-INPUT' in table `filter' is incompatible, use 'nft' tool.")
    assert run['commands'] == []


def test_read_failure_fails_with_stderr(run_module):
    err = 'iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n'
    run = run_module(iptables_chain, args(), [
        ipt('-S', CHAIN, rc=4, err=err), call(['-t', 'filter'], rc=4, err=err, command='iptables-save')])
    assert run.failed
    assert 'Permission denied (you must be root)' in run['msg']
    assert run['stderr'] == err
    assert run['rc'] == 4


def test_no_change_runs_nothing_that_mutates(run_module):
    run = run_module(iptables_chain, args(), [read(LINES), jump(True)])
    assert run['changed'] is False
    assert run['commands'] == []
    assert run['jumps_added'] == []
    assert run['before'] == LINES
    assert run['after'] == LINES
    assert mutating(run.commands) == []
    assert run.stdin == []


def test_stale_rule_replaced(run_module):
    live = [LINES[0], '-A CHEFOPS-INPUT -s 172.31.250.99/32 -p tcp -m tcp --dport 5432 -j ACCEPT'] + LINES[1:]
    run = run_module(iptables_chain, args(), [read(live), jump(True)] + apply_calls(), diff=True)
    assert run['changed'] is True
    assert run['before'] == live
    assert run['after'] == LINES
    assert run['jumps_added'] == []
    assert run['commands'] == [APPLY]  # the whole chain in one transaction; the existing jump is left alone
    assert run.stdin[-1] == (APPLY, PAYLOAD)
    assert '172.31.250.99' in run['diff']['before']
    assert '172.31.250.99' not in run['diff']['after']


def test_reordered_rules_are_a_change(run_module):
    live = [LINES[1], LINES[0]] + LINES[2:]
    run = run_module(iptables_chain, args(), [read(live), jump(True)] + apply_calls())
    assert run['changed'] is True
    assert run['commands'] == [APPLY]


def test_check_mode_runs_nothing_mutating_and_reports_diff(run_module):
    live = LINES[:2] + ['-A CHEFOPS-INPUT -p tcp -m tcp --dport 22 -j ACCEPT']
    run = run_module(iptables_chain, args(jump_from=['INPUT', 'FORWARD']), [
        read(live), jump(True), jump(False, 'FORWARD'), version(),
        restore('-w', '10', '--test', '--noflush')], check_mode=True, diff=True)
    assert run['changed'] is True
    assert run['commands'] == []
    assert mutating(run.commands) == []
    assert run['jumps_added'] == ['FORWARD']
    assert run['after'] == LINES
    assert run['diff']['before'] == ''.join(line + '\n' for line in ['-N CHEFOPS-INPUT'] + live + [
        '# INPUT jumps to CHEFOPS-INPUT'])
    assert run['diff']['after'] == ''.join(line + '\n' for line in ['-N CHEFOPS-INPUT'] + LINES + [
        '# INPUT jumps to CHEFOPS-INPUT', '# FORWARD jumps to CHEFOPS-INPUT'])


def test_check_mode_fresh_chain_predicts_the_jump(run_module):
    run = run_module(iptables_chain, args(), [read_absent(), version(), restore('-w', '10', '--test', '--noflush')],
                     check_mode=True, diff=True)
    assert run['changed'] is True
    assert run['jumps_added'] == ['INPUT']
    assert run['diff']['before'] == ''
    assert run['diff']['after'].startswith('-N CHEFOPS-INPUT\n-A CHEFOPS-INPUT -i lo -j RETURN\n')
    assert mutating(run.commands) == []


def test_check_mode_unchanged(run_module):
    run = run_module(iptables_chain, args(), [read(LINES), jump(True)], check_mode=True, diff=True)
    assert run['changed'] is False
    assert run['diff']['before'] == run['diff']['after']


def test_test_rejection_fails_without_applying(run_module):
    err = ("iptables-restore v1.8.9 (nf_tables): Couldn't load match `conntrack':No such file or directory\n"
           "Error occurred at line: 5\nTry `iptables-restore -h' or 'iptables-restore --help' for more information.\n")
    run = run_module(iptables_chain, args(), [read(LINES[:1]), jump(True), version(),
                                              restore('-w', '10', '--test', '--noflush', rc=2, err=err)])
    assert run.failed
    assert run['msg'].startswith("iptables-restore --test rejected the rules: iptables-restore v1.8.9 (nf_tables): "
                                 "Couldn't load match `conntrack'")
    assert run['msg'].endswith('(input line 5: -A CHEFOPS-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN)')
    assert run['commands'] == []
    assert mutating(run.commands) == []
    assert run['payload'] == PAYLOAD


def test_apply_failure_fails(run_module):
    err = 'iptables-restore: line 5 failed\n'
    run = run_module(iptables_chain, args(), [read_absent(), version(), restore('-w', '10', '--test', '--noflush'),
                                              restore('-w', '10', '--noflush', rc=1, err=err)])
    assert run.failed
    assert run['msg'] == ('iptables-restore could not apply the rules: iptables-restore: line 5 failed '
                          '(input line 5: -A CHEFOPS-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN)')
    assert run['commands'] == [APPLY]


def test_read_back_mismatch_fails(run_module):
    printed = LINES[:3] + ['-A CHEFOPS-INPUT -p tcp -m tcp --dport 9200:9400 -j REJECT --reject-with icmp-port-unreachable']
    run = run_module(iptables_chain, args(), [read_absent()] + apply_calls(readback=printed))
    assert run.failed
    assert run['changed'] is True
    assert 'reads back different from the rules applied' in run['msg']
    applied, read_back = run['msg'].split('applied:\n')[1].split('\nread back:\n')
    assert applied.splitlines() == LINES
    assert read_back.splitlines() == printed
    assert run['commands'] == [APPLY]  # no jump to a chain that is not what it should be


def test_old_iptables_restore_gets_no_wait(run_module):
    old = 'iptables-restore v1.6.1\n'
    run = run_module(iptables_chain, args(), [
        read(LINES[:1]), jump(True), version(old), restore('--test', '--noflush'), restore('--noflush'), read(LINES)])
    assert run['changed'] is True
    assert run['commands'] == [['/usr/bin/iptables-restore', '--noflush']]


def test_ipv6_uses_ip6tables_and_128(run_module):
    rules = [dict(source='2001:db8::11', protocol='tcp', dport=5432, target='ACCEPT'), dict(target='REJECT')]
    lines = ['-A CHEFOPS-INPUT -s 2001:db8::11/128 -p tcp -m tcp --dport 5432 -j ACCEPT',
             '-A CHEFOPS-INPUT -j REJECT --reject-with icmp6-port-unreachable']

    def ip6t(*more, **kwargs):
        return ipt(*more, command='ip6tables', **kwargs)

    run = run_module(iptables_chain, args(rules=rules, ip_version='ipv6'), [
        ip6t('-S', CHAIN, rc=1, err='ip6tables: No chain/target/match by that name.\n'),
        version('ip6tables-restore v1.8.9 (nf_tables)\n', 'ip6tables-restore'),
        restore('-w', '10', '--test', '--noflush', command='ip6tables-restore'),
        restore('-w', '10', '--noflush', command='ip6tables-restore'),
        ip6t('-S', CHAIN, out=listing(lines)),
        ip6t('-I', 'INPUT', '1', '-j', CHAIN)])
    assert run['changed'] is True
    assert run['rules'] == lines
    assert run['commands'] == [['/usr/bin/ip6tables-restore', '-w', '10', '--noflush'],
                               ['/usr/bin/ip6tables', '-w', '10', '-t', 'filter', '-I', 'INPUT', '1', '-j', CHAIN]]
    assert run.stdin[-1][1] == HEADER + '*filter\n:CHEFOPS-INPUT - [0:0]\n' + lines[0] + '\n' + lines[1] + '\nCOMMIT\n'


def test_other_table_and_wait(run_module):
    lines = ['-A CHEFOPS-RAW -j RETURN']
    run = run_module(iptables_chain, dict(chain='CHEFOPS-RAW', table='raw', wait=3, jump_from=['PREROUTING'],
                                          rules=[dict(target='RETURN')]), [
        call(['-w', '3', '-t', 'raw', '-S', 'CHEFOPS-RAW'], out='-N CHEFOPS-RAW\n' + lines[0] + '\n',
             command='iptables'),
        call(['-w', '3', '-t', 'raw', '-C', 'PREROUTING', '-j', 'CHEFOPS-RAW'], rc=1, command='iptables'),
        call(['-w', '3', '-t', 'raw', '-I', 'PREROUTING', '1', '-j', 'CHEFOPS-RAW'], command='iptables')])
    assert run['changed'] is True
    assert run['jumps_added'] == ['PREROUTING']


def test_jump_check_failure_fails(run_module):
    run = run_module(iptables_chain, args(jump_from=['FORWARD']), [
        read(LINES), ipt('-C', 'FORWARD', '-j', CHAIN, rc=2, err="iptables: Chain 'FORWARD' does not exist\n")])
    assert run.failed
    assert run['msg'] == "cannot check the jump from FORWARD to CHEFOPS-INPUT: iptables: Chain 'FORWARD' does not exist"


def test_no_jumps(run_module):
    run = run_module(iptables_chain, args(jump_from=[]), [read(LINES)])
    assert run['changed'] is False


# --- validation ----------------------------------------------------------------------------------------------------

def failure(run_module, **extra):
    run = run_module(iptables_chain, args(**extra), [])  # nothing may run
    assert run.failed
    return run['msg']


@pytest.mark.parametrize('source, msg', [
    ('172.31.250.0/33', "rule 1: source '172.31.250.0/33' is not an IP address or CIDR network"),
    ('172.31.250', "rule 1: source '172.31.250' is not an IP address or CIDR network"),
    ('be1.chefops.test', "rule 1: source 'be1.chefops.test' is not an IP address or CIDR network"),
    ('172.31.250.11/24', 'rule 1: source 172.31.250.11/24 has host bits set; write the network 172.31.250.0/24, or '
                         'the host 172.31.250.11/32'),
    ('2001:db8::11', 'rule 1: source 2001:db8::11 is an ipv6 address, but ip_version is ipv4'),
])
def test_invalid_source(run_module, source, msg):
    assert failure(run_module, rules=[dict(source=source, target='ACCEPT')]).startswith(msg)


def test_host_bits_name_the_rule_by_number_and_comment(run_module):
    msg = failure(run_module, rules=RULES + [dict(source='10.1.2.3/8', target='ACCEPT', comment='office')])
    assert msg == ('rule 5 (office): source 10.1.2.3/8 has host bits set; write the network 10.0.0.0/8, or the host '
                   '10.1.2.3/32')


def test_ipv6_host_bits(run_module):
    msg = failure(run_module, ip_version='ipv6', rules=[dict(source='2001:db8::11/64', target='ACCEPT')])
    assert msg == ('rule 1: source 2001:db8::11/64 has host bits set; write the network 2001:db8::/64, or the host '
                   '2001:db8::11/128')


@pytest.mark.parametrize('dport, msg', [
    ('9400:9200', 'rule 1: port range 9400:9200 is the wrong way round; write 9200:9400'),
    (0, 'rule 1: port 0 in dport 0 is out of range 1-65535'),
    ('65536', 'rule 1: port 65536 in dport 65536 is out of range 1-65535'),
    ('1:70000', 'rule 1: port 70000 in dport 1:70000 is out of range 1-65535'),
    ('http', 'rule 1: dport http is not a port number or a range N:M'),
    ('80:', 'rule 1: dport 80: is not a port number or a range N:M'),
    ('-1', 'rule 1: dport -1 is not a port number or a range N:M'),
    (True, 'rule 1: dport True must be a port number or a range N:M'),
    ([80], 'rule 1: dport [80] must be a port number or a range N:M'),
])
def test_invalid_dport(run_module, dport, msg):
    assert failure(run_module, rules=[dict(protocol='tcp', dport=dport, target='ACCEPT')]) == msg


@pytest.mark.parametrize('protocol', [{}, dict(protocol='all')])
def test_dport_without_protocol(run_module, protocol):
    rule = dict(dport=22, target='ACCEPT', **protocol)
    msg = failure(run_module, rules=[rule])
    assert msg == 'rule 1: dport needs protocol tcp or udp'


@pytest.mark.parametrize('target', ['ACCEPT', 'DROP', 'RETURN'])
def test_reject_with_without_reject(run_module, target):
    msg = failure(run_module, rules=[dict(protocol='tcp', target=target, reject_with='tcp-reset')])
    assert msg == 'rule 1: reject_with tcp-reset needs target REJECT, not %s' % target


@pytest.mark.parametrize('extra, msg', [
    (dict(reject_with='tcp-reset'), 'rule 1: reject_with tcp-reset needs protocol tcp'),
    (dict(reject_with='tcp-reset', protocol='udp'), 'rule 1: reject_with tcp-reset needs protocol tcp'),
    (dict(reject_with='tcp-rst', protocol='tcp'), 'rule 1: reject_with tcp-rst is not one of'),
    (dict(reject_with='icmp6-no-route'), 'rule 1: reject_with icmp6-no-route is not one of'),
])
def test_invalid_reject_with(run_module, extra, msg):
    rule = dict(target='REJECT')
    rule.update(extra)
    assert failure(run_module, rules=[rule]).startswith(msg)


@pytest.mark.parametrize('rule, msg', [
    (dict(target='ACCEPT', ctstate=['ESTABLISHED', 'BOGUS']), 'rule 1: ctstate BOGUS is not one of INVALID, NEW'),
    (dict(target='ACCEPT', comment='line\nbreak'), "rule 1 (line\nbreak): comment 'line\\nbreak' has a control"),
    (dict(target='ACCEPT', comment='x' * 256), 'rule 1 (%s): comment is longer than 255 bytes' % ('x' * 256)),
    (dict(target='ACCEPT', comment=u'\u00fc' * 128), 'rule 1 (%s): comment is longer than 255 bytes' % (u'\u00fc' * 128)),
    (dict(target='ACCEPT', in_interface='eth0 -j DROP'), "rule 1: in_interface 'eth0 -j DROP' is not an interface"),
    (dict(target='ACCEPT', in_interface='a234567890123456'), "rule 1: in_interface 'a234567890123456' is not"),
])
def test_invalid_rule_fields(run_module, rule, msg):
    assert failure(run_module, rules=[rule]).startswith(msg)


def test_long_comment_within_limit_is_fine():
    line = _iptables.render_rule('C', dict(target='ACCEPT', comment='x' * 255), 'ipv4')
    assert line == '-A C -m comment --comment %s -j ACCEPT' % ('x' * 255)


def test_unknown_target_is_refused(run_module):
    msg = failure(run_module, rules=[dict(target='LOG')])
    assert 'ACCEPT, REJECT, DROP, RETURN' in msg and 'LOG' in msg


@pytest.mark.parametrize('chain', ['INPUT', 'input', 'PREROUTING', 'POSTROUTING', 'FORWARD', 'OUTPUT', '',
                                   'A' * 29, 'CHEFOPS INPUT', 'CHEFOPS/INPUT', 'CHEFOPS-INPUT\n', '-j'])
def test_bad_chain_name(run_module, chain):
    msg = failure(run_module, chain=chain)
    assert 'must be 1 to 28 letters' in msg or 'is a builtin chain' in msg
    if chain.upper() in ('INPUT', 'PREROUTING', 'POSTROUTING', 'FORWARD', 'OUTPUT'):
        assert msg == 'chain %s is a builtin chain; this module manages a chain of its own' % chain


def test_chain_name_of_28_characters_is_fine(run_module):
    chain = 'A' * 28
    run = run_module(iptables_chain, dict(chain=chain, jump_from=[]), [
        ipt('-S', chain, out='-N %s\n' % chain)])
    assert run['changed'] is False


def test_jump_from_must_be_builtin(run_module):
    assert failure(run_module, jump_from=['INPUT', 'OTHER']).startswith("jump_from 'OTHER' is not a builtin chain")


def test_wait_must_be_positive(run_module):
    assert failure(run_module, wait=0) == 'wait must be at least 1 second, got 0'


# --- state=absent --------------------------------------------------------------------------------------------------

def test_absent_removes_jumps_and_chain_and_dest(run_module, tmp_path):
    dest = tmp_path / 'chefops.rules'
    dest.write_text(PAYLOAD)
    run = run_module(iptables_chain, dict(chain=CHAIN, state='absent', dest=str(dest)), [
        read(LINES), jump(True), ipt('-D', 'INPUT', '-j', CHAIN), jump(True), ipt('-D', 'INPUT', '-j', CHAIN),
        jump(False), ipt('-F', CHAIN), ipt('-X', CHAIN)], diff=True)
    assert run['changed'] is True
    assert run['jumps_removed'] == ['INPUT']
    assert run['before'] == LINES
    assert run['after'] == []
    assert run['rules'] == []
    assert run['dest_changed'] is True
    assert not dest.exists()
    assert [argv[5:] for argv in run['commands']] == [
        ['-D', 'INPUT', '-j', CHAIN], ['-D', 'INPUT', '-j', CHAIN], ['-F', CHAIN], ['-X', CHAIN]]
    assert run['diff']['after'] == ''


def test_absent_check_mode(run_module, tmp_path):
    dest = tmp_path / 'chefops.rules'
    dest.write_text(PAYLOAD)
    run = run_module(iptables_chain, dict(chain=CHAIN, state='absent', dest=str(dest)), [read(LINES), jump(True)],
                     check_mode=True)
    assert run['changed'] is True
    assert run['jumps_removed'] == ['INPUT']
    assert run['commands'] == []
    assert dest.exists()


def test_absent_when_already_gone(run_module, tmp_path):
    run = run_module(iptables_chain, dict(chain=CHAIN, state='absent', dest=str(tmp_path / 'none.rules')),
                     [read_absent()])
    assert run['changed'] is False
    assert run['commands'] == []


def test_absent_delete_still_referenced_fails(run_module):
    err = 'iptables v1.8.9 (nf_tables): CHAIN_DEL failed (Device or resource busy): chain CHEFOPS-INPUT\n'
    run = run_module(iptables_chain, dict(chain=CHAIN, state='absent'), [
        read(LINES), jump(False), ipt('-F', CHAIN), ipt('-X', CHAIN, rc=1, err=err)])
    assert run.failed
    assert run['changed'] is True
    assert run['msg'].startswith('cannot delete chain CHEFOPS-INPUT (does a chain other than INPUT still jump to it?)')


# --- dest ---------------------------------------------------------------------------------------------------------

def test_dest_written_only_on_change(run_module, tmp_path):
    dest = tmp_path / 'etc' / 'chefops.rules'  # the directory is created
    run = run_module(iptables_chain, args(dest=str(dest)), [read(LINES), jump(True)], check_mode=True)
    assert run['changed'] is True and run['dest_changed'] is True
    assert not dest.exists()

    run = run_module(iptables_chain, args(dest=str(dest)), [read(LINES), jump(True)])
    assert run['changed'] is True
    assert run['dest_changed'] is True
    assert run['commands'] == []  # the firewall was right already; only the file was written
    assert dest.read_text() == PAYLOAD
    assert oct(dest.stat().st_mode & 0o7777) == oct(0o600)

    old = time.time() - 3600
    os.utime(str(dest), (old, old))
    inode = dest.stat().st_ino
    run = run_module(iptables_chain, args(dest=str(dest)), [read(LINES), jump(True)])
    assert run['changed'] is False
    assert run['dest_changed'] is False
    assert dest.stat().st_mtime == old
    assert dest.stat().st_ino == inode

    rules = RULES[:2]
    run = run_module(iptables_chain, args(dest=str(dest), rules=rules), [read(LINES), jump(True)] + apply_calls(
        readback=LINES[:2]))
    assert run['dest_changed'] is True
    assert dest.read_text() == HEADER + '*filter\n:CHEFOPS-INPUT - [0:0]\n' + LINES[0] + '\n' + LINES[1] + '\nCOMMIT\n'
    assert oct(dest.stat().st_mode & 0o7777) == oct(0o600)


def test_dest_mode_is_put_back(run_module, tmp_path):
    dest = tmp_path / 'chefops.rules'
    dest.write_text(PAYLOAD)
    dest.chmod(0o644)
    run = run_module(iptables_chain, args(dest=str(dest)), [read(LINES), jump(True)])
    assert run['changed'] is True
    assert oct(dest.stat().st_mode & 0o7777) == oct(0o600)


def test_dest_of_a_failed_apply_is_not_written(run_module, tmp_path):
    dest = tmp_path / 'chefops.rules'
    run = run_module(iptables_chain, args(dest=str(dest)), [
        read_absent(), version(), restore('-w', '10', '--test', '--noflush', rc=2, err='bad\n')])
    assert run.failed
    assert not dest.exists()


def test_dest_directory_refused(run_module, tmp_path):
    assert failure(run_module, dest=str(tmp_path)).startswith('dest %s is a directory' % tmp_path)
