"""chef_backend_info on recorded chef-backend-ctl calls."""

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_backend_info
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call, fixture_text

STATUS_ARGV = ['/usr/bin/chef-backend-ctl', 'status']
CLUSTER_ARGV = ['/usr/bin/chef-backend-ctl', 'cluster-status', '--json']


def status(name, rc=0):
    return call(['status'], rc=rc, out=fixture_text(name))


def cluster(name, rc=0):
    return call(['cluster-status', '--json'], rc=rc, out=fixture_text(name))


@pytest.mark.parametrize('check_mode', [False, True])
def test_healthy_1x_cluster(run_module, check_mode):
    run = run_module(chef_backend_info, {}, [status('status_1x_healthy.txt'), cluster('cluster_status_list.json')],
                     check_mode=check_mode)
    assert run['changed'] is False
    assert run['healthy'] is True
    assert run['problems'] == []
    assert run['in_cluster'] is True
    assert run['cluster_error'] is None
    assert run['leader'] == {'name': 'be1', 'ip': '172.31.250.11'}
    assert run['etcd'] == {'health': 'green', 'healthy': 3, 'total': 3}
    assert run['leaderl'] == {'leader': 1, 'waiting': 0, 'follower': 2, 'total': 3}
    assert run['postgresql'] == {'leader': 1, 'offline': 0, 'syncing': 0, 'synced': 2}
    assert run['elasticsearch'] == {'state': 'green', 'online': 3, 'total': 3}
    assert run['services']['leaderl']['pid'] == 6788
    assert run['services']['leaderl']['time_in_state_seconds'] == 107975
    assert [m['guid'] for m in run['members']] == ['dc0c6ea77a751f94037cd950e8451fa3',
                                                   '008782c59d3628b6bb7f43556ac0c66c',
                                                   '1af654172b1830927a571d9a5ba7965b']
    assert run.commands == [STATUS_ARGV, CLUSTER_ARGV]


def test_healthy_2x_cluster_with_epmd_and_system_table(run_module):
    run = run_module(chef_backend_info, {}, [status('status_2x_healthy.txt'),
                                             cluster('cluster_status_keyed_by_guid.json')])
    assert run['healthy'] is True
    assert run['services']['epmd']['state'] == 'running'
    assert run['system']['disks']['distributed'] == {'health': 'green', 'healthy_nodes': '3/3'}


def test_degraded_2x_leaderless_cluster(run_module):
    run = run_module(chef_backend_info, {}, [status('status_2x_degraded.txt'),
                                             cluster('cluster_status_degraded.json')])
    assert run['changed'] is False
    assert run['healthy'] is False
    assert run['leader'] is None
    assert run['services']['postgresql']['state'] == 'down'
    assert run['postgresql']['error'] == 'could not reach pgsql leader for replication stats'
    assert run['leaderl']['waiting'] == 3
    assert 'service postgresql is down' in run['problems']
    assert 'leaderl reports 0 leaders (want 1)' in run['problems']
    assert 'member be2 is partially synced' in run['problems']


def test_follower_still_syncing_is_not_healthy(run_module):
    run = run_module(chef_backend_info, {}, [status('status_1x_syncing.txt'), cluster('cluster_status_list.json')])
    assert run['healthy'] is False
    assert run['postgresql']['syncing'] == 1
    assert 'postgresql synced followers 1 (want 2)' in run['problems']


def test_node_not_in_cluster(run_module):
    run = run_module(chef_backend_info, {}, [
        status('status_2x_single_node.txt'),
        call(['cluster-status', '--json'], rc=1, err='Unable to reach etcd\n')])
    assert run['changed'] is False
    assert run['in_cluster'] is False
    assert run['members'] == []
    assert run['leader'] is None
    assert run['healthy'] is False
    assert run['problems'] == ['node is not a member of a cluster']
    assert run['cluster_error'] == 'Unable to reach etcd'


def test_cluster_unreachable_reports_the_error(run_module):
    run = run_module(chef_backend_info, {}, [status('status_2x_degraded.txt'),
                                             cluster('cluster_status_unreachable.json', rc=1)])
    assert run['in_cluster'] is False
    assert run['members'] == []
    assert run['cluster_error'] == 'could not reach etcd on any cluster member'
    assert run['healthy'] is False


def test_status_nonzero_exit_with_table_is_read(run_module):
    run = run_module(chef_backend_info, {}, [status('status_2x_etcd_red.txt', rc=3),
                                             cluster('cluster_status_list.json')])
    assert run['healthy'] is False
    assert run['etcd'] == {'health': 'red', 'healthy': 2, 'total': 3}
    assert run['system']['disks']['local']['/var/opt/chef-backend'] == 'FULL'


@pytest.mark.parametrize('name, rc', [('status_garbled.txt', 1), ('status_truncated.txt', 0)])
def test_garbled_status_fails(run_module, name, rc):
    run = run_module(chef_backend_info, {}, [status(name, rc=rc)])
    assert run.failed
    assert run['msg'].startswith('cannot read chef-backend-ctl status: ')
    assert run['cmd'] == STATUS_ARGV
    assert run['rc'] == rc
    assert run['stdout'] == fixture_text(name)


@pytest.mark.parametrize('name', ['cluster_status_truncated.json', 'cluster_status_no_identity.json'])
def test_garbled_cluster_status_fails(run_module, name):
    run = run_module(chef_backend_info, {}, [status('status_1x_healthy.txt'), cluster(name)])
    assert run.failed
    assert run['msg'].startswith('cannot read chef-backend-ctl cluster-status --json: ')
    assert run['cmd'] == CLUSTER_ARGV


def test_ctl_path_option(run_module, tmp_path):
    ctl = tmp_path / 'chef-backend-ctl'
    ctl.write_text('#!/bin/sh\n')
    ctl.chmod(0o755)
    run = run_module(chef_backend_info, dict(ctl_path=str(ctl)), [
        dict(call(['status'], out=fixture_text('status_1x_healthy.txt')), argv=[str(ctl), 'status']),
        dict(call([], out=fixture_text('cluster_status_list.json')), argv=[str(ctl), 'cluster-status', '--json'])])
    assert run['healthy'] is True
