"""status_report: the cluster report from the info modules' results."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.chefops.chef_ha.plugins.filter.status_report import status_report

MEMBERS = [{'name': 'be1', 'ip': '10.0.0.11', 'role': 'leader', 'pg': 'leader', 'es': 'master'},
           {'name': 'be2', 'ip': '10.0.0.12', 'role': 'follower', 'pg': 'follower', 'es': 'not_master'}]


def backend(healthy=True, problems=()):
    return dict(healthy=healthy, problems=list(problems), in_cluster=True, leader={'name': 'be1', 'ip': '10.0.0.11'},
                members=MEMBERS, services={'etcd': {'state': 'running'}, 'postgresql': {'state': 'running'}},
                etcd={'health': 'green'}, postgresql={'synced': 2, 'syncing': 0, 'offline': 0},
                elasticsearch={'state': 'green'})


def frontend(healthy=True, problems=()):
    return dict(healthy=healthy, problems=list(problems), version='15.10.12', migration_level={'major': 1, 'minor': 42},
                bootstrapped=True, status={'status': 'pong' if healthy else 'fail', 'upstreams': {}})


def node(last_status='complete', reachable=True):
    if not reachable:
        return dict(reachable=False, healthy=False, problems=['the agent does not answer: refused'])
    return dict(reachable=True, healthy=True, problems=[], version='1.4.3', locked=False,
                maintenance={'in_maintenance': False}, last_run={'guid': 'g1', 'status': last_status, 'exitcode': 0})


def sections(**extra):
    data = dict(backends={'be1': backend(), 'be2': backend()}, frontends={'fe1': frontend()},
                load_balancers={'lb': dict(status=200, json={'status': 'pong'})}, nodes={'node1': node()})
    data.update(extra)
    return data


def test_a_healthy_cluster():
    report = status_report(sections())
    assert report['healthy'] is True and report['problems'] == []
    assert report['cluster'] == dict(read_from='be1', leader={'name': 'be1', 'ip': '10.0.0.11'}, members=MEMBERS)
    assert [entry['host'] for entry in report['backends']] == ['be1', 'be2']
    assert report['frontends'][0]['version'] == '15.10.12'
    assert report['table'][0] == 'Backends (leader: be1 10.0.0.11)'
    assert report['table'][-1] == 'Healthy'
    assert any(line.startswith('  fe1 ') and '15.10.12' in line and '1.42' in line for line in report['table'])


def test_each_kind_of_trouble_is_named_with_its_host():
    report = status_report(sections(
        backends={'be1': backend(False, ['service postgresql is down']), 'be2': {'unreachable': True, 'msg': 'ssh'}},
        frontends={'fe1': frontend(False, ['/_status answers fail (HTTP 500): chef_sql is fail'])},
        load_balancers={'lb': dict(status=503, json=None)},
        nodes={'node1': node(reachable=False)}))
    assert report['healthy'] is False
    assert report['problems'] == [
        'be1: service postgresql is down', 'be2: unreachable: ssh',
        'fe1: /_status answers fail (HTTP 500): chef_sql is fail',
        'lb: /_status through it answers None (HTTP 503)',
        'node1: the agent does not answer: refused']
    assert report['table'][-1].startswith('UNHEALTHY: be1: service postgresql is down; ')


def test_a_failed_chef_run_is_shown_but_not_unhealthy():
    report = status_report(sections(nodes={'node1': node(last_status='failed')}))
    assert report['healthy'] is True
    assert report['nodes'][0]['last_run']['status'] == 'failed'
    assert any('last run failed (exit 0)' in line for line in report['table'])


def test_a_host_that_was_not_read_or_failed():
    report = status_report(sections(frontends={'fe1': {}, 'fe2': {'failed': True, 'msg': 'chef-server-ctl: boom'}}))
    assert report['problems'] == ['fe1: not read', 'fe2: chef-server-ctl: boom']


def test_no_backend_in_a_cluster_is_a_problem():
    lost = dict(backend(), in_cluster=False, members=[], leader=None)
    report = status_report(sections(backends={'be1': lost}))
    assert report['cluster'] == {} and 'no backend could read the cluster' in report['problems']
    assert report['table'][0] == 'Backends (leader: none)'


def test_bad_input():
    with pytest.raises(AnsibleFilterError):
        status_report(['not', 'a', 'dict'])
