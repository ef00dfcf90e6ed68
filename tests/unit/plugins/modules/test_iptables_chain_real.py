"""iptables_chain against the real iptables: the module runs as a script inside a network namespace of its own.

Needs root, ip and iptables/ip6tables; skipped otherwise. Only the throwaway namespace is touched, never the
rules of the namespace the tests run in.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import iptables_chain

CHAIN = 'CHEFOPS-INPUT'
MODULE = os.path.abspath(iptables_chain.__file__)
# .../ansible_collections/chefops/chef_ha/plugins/modules/iptables_chain.py: the directory above ansible_collections
COLLECTIONS_BASE = MODULE
for _level in range(6):
    COLLECTIONS_BASE = os.path.dirname(COLLECTIONS_BASE)
SEARCH_PATH = os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin', '/sbin'])
TOOLS = ('ip', 'iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore')

# One rule for each form the rendering has to get right, checked against what iptables prints back.
RULES_V4 = [
    dict(in_interface='lo', target='RETURN'),
    dict(ctstate=['established', 'RELATED'], target='RETURN'),
    dict(ctstate=['DNAT', 'NEW', 'INVALID'], protocol='tcp', dport='22', target='ACCEPT', comment='ssh'),
    dict(source='172.31.250.11', protocol='tcp', dport=5432, target='ACCEPT', comment='postgresql from be1'),
    dict(source='172.31.250.0/24', in_interface='eth+', protocol='udp', dport='8000:8100', target='ACCEPT',
         comment='say "hi" it\'s a\\b'),
    dict(source='0.0.0.0/0', protocol='all', target='ACCEPT', comment='Chef_HA-1'),
    dict(protocol='tcp', dport='443:443', target='ACCEPT', comment=u'caf\u00e9 #1: 100%'),
    dict(protocol='tcp', dport='9200:9400', target='REJECT', reject_with='tcp-reset'),
    dict(protocol='udp', target='REJECT', reject_with='icmp-host-prohibited'),
    dict(target='REJECT'),
    dict(target='DROP', comment='x' * 255),
]
RULES_V6 = [
    dict(in_interface='lo', target='RETURN'),
    dict(ctstate=['ESTABLISHED', 'RELATED'], target='RETURN'),
    dict(source='2001:DB8:0:0::11', protocol='tcp', dport=5432, target='ACCEPT'),
    dict(source='2001:db8:0:1::/64', protocol='udp', dport='53', target='ACCEPT'),
    dict(source='::ffff:192.0.2.1', target='ACCEPT'),
    dict(source='::ffff:0:0/96', target='ACCEPT'),
    dict(source='::/0', target='RETURN'),
    dict(protocol='tcp', target='REJECT', reject_with='tcp-reset'),
    dict(target='REJECT', reject_with='icmp6-adm-prohibited'),
    dict(target='REJECT'),
]


def tool_path(name):
    return shutil.which(name, path=SEARCH_PATH)


@pytest.fixture
def netns(request):
    """A network namespace of its own, deleted afterwards."""
    if os.geteuid() != 0:
        pytest.skip('needs root to create a network namespace')
    missing = [name for name in TOOLS if not tool_path(name)]
    if missing:
        pytest.skip('needs %s' % ', '.join(missing))
    name = 'chefops-unit-%d' % os.getpid()
    ip = tool_path('ip')
    subprocess.run([ip, 'netns', 'del', name], capture_output=True, check=False)  # left over from a killed run
    proc = subprocess.run([ip, 'netns', 'add', name], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip('cannot create a network namespace: %s' % proc.stderr.strip())
    request.addfinalizer(lambda: subprocess.run([ip, 'netns', 'del', name], capture_output=True, check=False))
    ns = Namespace(name)
    probe = ns.run('iptables', '-w', '10', '-S', check=False)
    if probe.returncode != 0:
        pytest.skip('iptables does not work in a network namespace here: %s' % probe.stderr.strip())
    return ns


class Namespace:
    def __init__(self, name):
        self.name = name

    def run(self, *argv, check=True, stdin=None):
        argv = list(argv)
        argv[0] = tool_path(argv[0]) or argv[0]
        proc = subprocess.run([tool_path('ip'), 'netns', 'exec', self.name] + argv, capture_output=True, text=True,
                              input=stdin, timeout=60, check=False)
        if check:
            assert proc.returncode == 0, '%r failed: %s' % (argv, proc.stderr)
        return proc

    def lines(self, *argv):
        return self.run(*argv).stdout.splitlines()

    def chain(self, chain=CHAIN, tool='iptables'):
        """The rules of the chain as iptables -S prints them, None when there is no such chain."""
        proc = self.run(tool, '-w', '10', '-S', chain, check=False)
        if proc.returncode != 0:
            return None
        return [line for line in proc.stdout.splitlines() if line != '-N %s' % chain]

    def save(self, tool='iptables-save'):
        """iptables-save output without its comment lines (they hold the time)."""
        return [line for line in self.lines(tool) if not line.startswith('#')]

    def module(self, tmp_path, check_mode=False, **args):
        """Run the module as a script in the namespace; its JSON result, with the exit status as 'exit'."""
        args.update(_ansible_check_mode=check_mode, _ansible_diff=True)
        args_file = tmp_path / 'args.json'
        args_file.write_text(json.dumps(dict(ANSIBLE_MODULE_ARGS=args)))
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(p for p in [COLLECTIONS_BASE, env.get('PYTHONPATH')] if p)
        proc = subprocess.run([tool_path('ip'), 'netns', 'exec', self.name, sys.executable, MODULE, str(args_file)],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError('module printed no JSON (exit %d): %s %s' % (proc.returncode, proc.stdout,
                                                                              proc.stderr))
        result['exit'] = proc.returncode
        return result


def without_chain(save_lines, chain=CHAIN):
    return [line for line in save_lines if chain not in line]


def test_first_run_applies_canonical_rules_and_second_run_changes_nothing(netns, tmp_path):
    first = netns.module(tmp_path, chain=CHAIN, rules=RULES_V4)
    assert first['exit'] == 0, first.get('msg')
    assert first['changed'] is True
    assert first['exists_before'] is False
    assert len(first['rules']) == len(RULES_V4)
    # the module read back exactly what it rendered, and so do we
    assert first['after'] == first['rules']
    assert netns.chain() == first['rules']
    assert netns.lines('iptables', '-S', 'INPUT')[1:] == ['-A INPUT -j CHEFOPS-INPUT']
    assert first['jumps_added'] == ['INPUT']

    second = netns.module(tmp_path, chain=CHAIN, rules=RULES_V4)
    assert second['exit'] == 0, second.get('msg')
    assert second['changed'] is False
    assert second['commands'] == []

    check = netns.module(tmp_path, check_mode=True, chain=CHAIN, rules=RULES_V4)
    assert check['changed'] is False


def test_stale_rule_removed_and_other_rules_left_alone(netns, tmp_path):
    # rules of other owners: in INPUT, in a chain of their own, in another table
    netns.run('iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '2222', '-j', 'ACCEPT')
    netns.run('iptables', '-N', 'OTHER')
    netns.run('iptables', '-A', 'OTHER', '-s', '10.9.9.9', '-j', 'DROP')
    netns.run('iptables', '-A', 'FORWARD', '-j', 'OTHER')
    netns.run('iptables', '-t', 'mangle', '-A', 'PREROUTING', '-p', 'udp', '-j', 'ACCEPT')
    rules = RULES_V4[:4]

    first = netns.module(tmp_path, chain=CHAIN, rules=rules)
    assert first['exit'] == 0, first.get('msg')
    assert first['changed'] is True
    wanted = first['rules']
    # the jump went in as rule 1, before the rule that was there
    assert netns.lines('iptables', '-S', 'INPUT')[1:] == [
        '-A INPUT -j CHEFOPS-INPUT', '-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT']

    netns.run('iptables', '-I', CHAIN, '3', '-p', 'tcp', '--dport', '1234', '-j', 'ACCEPT')
    netns.run('iptables', '-A', CHAIN, '-s', '192.0.2.7', '-j', 'ACCEPT')
    # the jump moved by hand below the other rule: an existing jump stays where it is
    netns.run('iptables', '-D', 'INPUT', '-j', CHAIN)
    netns.run('iptables', '-A', 'INPUT', '-j', CHAIN)
    others = without_chain(netns.save())  # every table
    stale = netns.chain()
    assert stale != wanted

    check = netns.module(tmp_path, check_mode=True, chain=CHAIN, rules=rules)
    assert check['exit'] == 0, check.get('msg')
    assert check['changed'] is True
    assert check['commands'] == []
    assert '-A CHEFOPS-INPUT -p tcp -m tcp --dport 1234 -j ACCEPT\n' in check['diff']['before']
    assert '--dport 1234' not in check['diff']['after']
    assert netns.chain() == stale  # check mode changed nothing

    fix = netns.module(tmp_path, chain=CHAIN, rules=rules)
    assert fix['exit'] == 0, fix.get('msg')
    assert fix['changed'] is True
    assert fix['before'] == stale
    assert fix['jumps_added'] == []
    assert [os.path.basename(argv[0]) for argv in fix['commands']] == ['iptables-restore']
    assert netns.chain() == wanted
    # everything but the chain is as it was: the other owners' rules, the OTHER chain, the jump where it was put
    assert without_chain(netns.save()) == others
    assert '-A PREROUTING -p udp -j ACCEPT' in others
    assert netns.lines('iptables', '-S', 'INPUT')[1:] == [
        '-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT', '-A INPUT -j CHEFOPS-INPUT']

    again = netns.module(tmp_path, chain=CHAIN, rules=rules)
    assert again['changed'] is False


def test_ipv6(netns, tmp_path):
    first = netns.module(tmp_path, chain=CHAIN, ip_version='ipv6', rules=RULES_V6)
    assert first['exit'] == 0, first.get('msg')
    assert first['changed'] is True
    assert netns.chain(tool='ip6tables') == first['rules']
    assert '-A CHEFOPS-INPUT -s 2001:db8::11/128 -p tcp -m tcp --dport 5432 -j ACCEPT' in first['rules']
    assert '-A CHEFOPS-INPUT -s ::ffff:192.0.2.1/128 -j ACCEPT' in first['rules']
    assert netns.chain(tool='iptables') is None  # the IPv4 side was not touched

    second = netns.module(tmp_path, chain=CHAIN, ip_version='ipv6', rules=RULES_V6)
    assert second['exit'] == 0, second.get('msg')
    assert second['changed'] is False


def test_dest_restores_the_chain_at_boot(netns, tmp_path):
    dest = tmp_path / 'iptables' / 'chefops.rules'
    first = netns.module(tmp_path, chain=CHAIN, rules=RULES_V4, dest=str(dest))
    assert first['exit'] == 0, first.get('msg')
    assert first['dest_changed'] is True
    assert oct(dest.stat().st_mode & 0o7777) == oct(0o600)
    wanted = netns.chain()

    # what a reboot leaves: no chain, no jump; the boot script restores the file and adds the jump
    netns.run('iptables', '-D', 'INPUT', '-j', CHAIN)
    netns.run('iptables', '-F', CHAIN)
    netns.run('iptables', '-X', CHAIN)
    netns.run('iptables-restore', '-w', '10', '--noflush', str(dest))
    assert netns.chain() == wanted

    after_boot = netns.module(tmp_path, chain=CHAIN, rules=RULES_V4, dest=str(dest))
    assert after_boot['exit'] == 0, after_boot.get('msg')
    assert after_boot['jumps_added'] == ['INPUT']
    assert after_boot['dest_changed'] is False
    assert [argv[5:] for argv in after_boot['commands']] == [['-I', 'INPUT', '1', '-j', CHAIN]]


def test_absent(netns, tmp_path):
    dest = tmp_path / 'chefops.rules'
    assert netns.module(tmp_path, chain=CHAIN, rules=RULES_V4[:2], dest=str(dest))['changed'] is True
    netns.run('iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '2222', '-j', 'ACCEPT')

    gone = netns.module(tmp_path, chain=CHAIN, state='absent', dest=str(dest))
    assert gone['exit'] == 0, gone.get('msg')
    assert gone['changed'] is True
    assert gone['jumps_removed'] == ['INPUT']
    assert netns.chain() is None
    assert netns.lines('iptables', '-S', 'INPUT')[1:] == ['-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT']
    assert not dest.exists()

    again = netns.module(tmp_path, chain=CHAIN, state='absent', dest=str(dest))
    assert again['changed'] is False
