"""iptables_boot_restore: the directory, the script and the unit compared in one call; systemctl recorded.

The lab (molecule/default/tests/test_firewall.py) checks the unit enabled and the chain back after a restart.
"""

import os
import subprocess

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import iptables_boot_restore
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call, mode_of

UNIT = 'chefops-firewall.service'


def systemctl(*args, **kwargs):
    kwargs.setdefault('command', 'systemctl')
    return call(list(args), **kwargs)


def is_enabled(state):
    return systemctl('is-enabled', UNIT, rc=0 if state == 'enabled' else 1, out=state + '\n')


@pytest.fixture
def paths(tmp_path):
    (tmp_path / 'unit').mkdir()
    (tmp_path / 'sbin').mkdir()
    return dict(rules_dir=str(tmp_path / 'rules'), script=str(tmp_path / 'sbin' / 'chefops-firewall'),
                unit_dir=str(tmp_path / 'unit'))


def unit_path(paths):
    return os.path.join(paths['unit_dir'], UNIT)


def test_a_fresh_host_gets_the_directory_script_and_unit_then_reload_and_enable(run_module, paths):
    run = run_module(iptables_boot_restore, paths, [systemctl('daemon-reload'), is_enabled('disabled'),
                                                    systemctl('enable', UNIT)])
    assert run['changed'] is True
    assert run['written'] == [paths['rules_dir'], paths['script'], unit_path(paths)]
    assert run['enabled_now'] is True
    assert mode_of(paths['rules_dir']) == 0o700
    assert mode_of(paths['script']) == 0o755
    assert mode_of(unit_path(paths)) == 0o644
    with open(unit_path(paths)) as handle:
        unit = handle.read()
    assert 'ExecStart=%s\n' % paths['script'] in unit
    assert 'Before=network-pre.target' in unit and 'WantedBy=multi-user.target' in unit
    with open(paths['script']) as handle:
        assert 'dir=%s\n' % paths['rules_dir'] in handle.read()


def test_a_second_call_only_asks_whether_the_unit_is_enabled(run_module, paths):
    run_module(iptables_boot_restore, paths, [systemctl('daemon-reload'), is_enabled('disabled'),
                                              systemctl('enable', UNIT)])
    run = run_module(iptables_boot_restore, paths, [is_enabled('enabled')])
    assert run['changed'] is False
    assert run['written'] == [] and run['commands'] == []


def test_check_mode_predicts_and_touches_nothing(run_module, paths):
    run = run_module(iptables_boot_restore, paths, [is_enabled('not-found')], check_mode=True, diff=True)
    assert run['changed'] is True
    assert run['written'] == [paths['rules_dir'], paths['script'], unit_path(paths)]
    assert run['enabled_now'] is True and run['commands'] == []
    assert not any(os.path.exists(paths[name]) for name in ('rules_dir', 'script'))
    assert not os.path.exists(unit_path(paths))
    assert 'ExecStart=' in run['diff']['after'] and run['diff']['before'] == ''


def test_drift_is_put_back_and_a_changed_unit_reloads_systemd(run_module, paths):
    run_module(iptables_boot_restore, paths, [systemctl('daemon-reload'), is_enabled('disabled'),
                                              systemctl('enable', UNIT)])
    os.chmod(paths['rules_dir'], 0o755)
    with open(unit_path(paths), 'a') as handle:
        handle.write('# edited by hand\n')
    run = run_module(iptables_boot_restore, paths, [systemctl('daemon-reload'), is_enabled('enabled')], diff=True)
    assert run['written'] == [paths['rules_dir'], unit_path(paths)]
    assert mode_of(paths['rules_dir']) == 0o700
    assert '# edited by hand' in run['diff']['before'] and '# edited by hand' not in run['diff']['after']
    with open(unit_path(paths)) as handle:
        assert '# edited by hand' not in handle.read()


def test_a_script_with_another_mode_is_fixed_without_a_reload(run_module, paths):
    run_module(iptables_boot_restore, paths, [systemctl('daemon-reload'), is_enabled('disabled'),
                                              systemctl('enable', UNIT)])
    os.chmod(paths['script'], 0o700)
    run = run_module(iptables_boot_restore, paths, [is_enabled('enabled')])
    assert run['written'] == [paths['script']] and run['changed'] is True
    assert mode_of(paths['script']) == 0o755


def test_a_failed_enable_fails_naming_the_command(run_module, paths):
    run = run_module(iptables_boot_restore, paths, [
        systemctl('daemon-reload'), is_enabled('disabled'),
        systemctl('enable', UNIT, rc=1, err='Failed to enable unit: Access denied\n')])
    assert run.failed and run['changed'] is True
    assert run['msg'] == 'systemctl enable %s failed (exit 1)' % UNIT
    assert 'Access denied' in run['stderr']


@pytest.mark.parametrize('extra, message', [
    (dict(unit='chefops firewall'), "unit 'chefops firewall' is not a systemd service name"),
    (dict(unit='chefops-firewall.timer'), "unit 'chefops-firewall.timer' is not a systemd service name"),
    (dict(rules_dir='/etc/chefops/fire wall'), "rules_dir '/etc/chefops/fire wall' may hold only"),
    (dict(rules_dir='/etc/$(reboot)'), "rules_dir '/etc/$(reboot)' may hold only"),
    (dict(wait=0), 'wait must be at least 1 second, got 0'),
])
def test_bad_options_fail_before_anything_is_written(run_module, paths, extra, message):
    run = run_module(iptables_boot_restore, dict(paths, **extra), [])
    assert run.failed and message in run['msg']
    assert not os.path.exists(paths['script'])


def test_the_script_restores_every_chain_file_and_adds_missing_jumps_only(run_module, paths, tmp_path):
    run_module(iptables_boot_restore, paths, [systemctl('daemon-reload'), is_enabled('enabled')])
    rules = paths['rules_dir']
    for name, text in (('CHEFOPS-INPUT.v4', 'v4 rules\n'), ('CHEFOPS-INPUT.v6', 'v6 rules\n'),
                       ('BROKEN.v4', 'broken\n'), ('README', 'not a chain\n')):
        with open(os.path.join(rules, name), 'w') as handle:
            handle.write(text)
    bin_dir = tmp_path / 'fakebin'
    bin_dir.mkdir()
    log = tmp_path / 'calls.log'
    # the restores log their input; "broken" is refused; the v4 jump exists already, the v6 jump does not
    fakes = {
        'iptables-restore': 'read line; echo "iptables-restore $* <$line" >> %s; [ "$line" != broken ]' % log,
        'ip6tables-restore': 'read line; echo "ip6tables-restore $* <$line" >> %s' % log,
        'iptables': 'echo "iptables $*" >> %s; exit 0' % log,
        'ip6tables': 'echo "ip6tables $*" >> %s; case "$*" in *" -C "*) exit 1;; esac' % log,
    }
    for name, body in fakes.items():
        path = bin_dir / name
        path.write_text('#!/bin/sh\n' + body + '\n')
        path.chmod(0o755)
    env = dict(os.environ, PATH='%s:/usr/bin:/bin' % bin_dir)
    result = subprocess.run(['sh', paths['script']], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert '%s/BROKEN.v4 could not be restored' % rules in result.stderr
    assert log.read_text().splitlines() == [
        'iptables-restore -w 10 --noflush <broken',
        'iptables-restore -w 10 --noflush <v4 rules',
        'iptables -w 10 -C INPUT -j CHEFOPS-INPUT',
        'ip6tables-restore -w 10 --noflush <v6 rules',
        'ip6tables -w 10 -C INPUT -j CHEFOPS-INPUT',
        'ip6tables -w 10 -I INPUT 1 -j CHEFOPS-INPUT',
    ]
