"""Parsers of chef-backend-ctl output, on the reference's verbatim samples and recorded variations."""

import pytest

from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_backend_ctl as ctl
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import fixture_text


# ---- status table ------------------------------------------------------------------------------------------------

def test_status_1x_verbatim_sample():
    status = ctl.parse_status(fixture_text('status_1x_healthy.txt'))
    assert sorted(status['services']) == ['elasticsearch', 'etcd', 'leaderl', 'postgresql']
    assert status['system'] == {}
    es = status['services']['elasticsearch']
    assert es['state'] == 'running'
    assert es['pid'] == 6661
    assert es['time_in_state'] == '1d 5h 59m 41s'
    assert es['time_in_state_seconds'] == 86400 + 5 * 3600 + 59 * 60 + 41
    assert es['distributed'] == {'state': 'green', 'nodes_online': '3/3'}
    assert status['services']['postgresql']['distributed'] == {
        'leader': '1', 'offline': '0', 'syncing': '0', 'synced': '2'}


def test_status_1x_summary():
    summary = ctl.summarize_status(ctl.parse_status(fixture_text('status_1x_healthy.txt'))['services'])
    assert summary == {
        'elasticsearch': {'state': 'green', 'online': 3, 'total': 3},
        'etcd': {'health': 'green', 'healthy': 3, 'total': 3},
        'leaderl': {'leader': 1, 'waiting': 0, 'follower': 2, 'total': 3},
        'postgresql': {'leader': 1, 'offline': 0, 'syncing': 0, 'synced': 2},
    }


def test_status_2x_degraded_verbatim_sample():
    status = ctl.parse_status(fixture_text('status_2x_degraded.txt'))
    services = status['services']
    assert list(services) == ['leaderl', 'epmd', 'etcd', 'postgresql', 'elasticsearch']
    assert services['epmd']['distributed'] == {'status': 'local-only'}
    pg = services['postgresql']
    assert pg['state'] == 'down'
    assert pg['pid'] is None
    assert pg['time_in_state_seconds'] == 627
    assert pg['distributed'] == {'error': 'could not reach pgsql leader for replication stats'}
    assert services['elasticsearch']['time_in_state_seconds'] == 7 * 86400 + 10 * 3600 + 30 * 60 + 21
    assert status['system'] == {
        'disks': {
            'local': {'/var/log/chef-backend': 'OK', '/var/opt/chef-backend': 'OK'},
            'local_raw': '/var/log/chef-backend: OK; /var/opt/chef-backend: OK',
            'distributed': {'health': 'green', 'healthy_nodes': '3/3'},
            'distributed_raw': 'health: green; healthy nodes: 3/3',
        }
    }
    summary = ctl.summarize_status(services)
    assert summary['leaderl'] == {'leader': 0, 'waiting': 3, 'follower': 0, 'total': 3}
    assert summary['postgresql'] == {'leader': None, 'offline': None, 'syncing': None, 'synced': None,
                                     'error': 'could not reach pgsql leader for replication stats'}


def test_status_2x_system_table_problem():
    status = ctl.parse_status(fixture_text('status_2x_etcd_red.txt'))
    assert status['system']['disks']['local']['/var/opt/chef-backend'] == 'FULL'
    assert status['services']['elasticsearch']['state'] == 'down'
    summary = ctl.summarize_status(status['services'])
    assert summary['etcd'] == {'health': 'red', 'healthy': 2, 'total': 3}
    assert summary['elasticsearch'] == {'state': 'yellow', 'online': 2, 'total': 3}


@pytest.mark.parametrize('name', ['status_garbled.txt', 'status_truncated.txt'])
def test_status_garbled_output_raises(name):
    with pytest.raises(ctl.ChefCtlParseError):
        ctl.parse_status(fixture_text(name))


@pytest.mark.parametrize('text', ['', '\n\n', 'Service        Local Status        Time in State  Distributed Node Status\n'])
def test_status_without_rows_raises(text):
    with pytest.raises(ctl.ChefCtlParseError):
        ctl.parse_status(text)


def test_status_row_with_bad_distributed_cell_raises():
    text = ('Service  Local Status        Time in State  Distributed Node Status\n'
            'etcd     running (pid 1)     0d 0h 0m 1s    garbage without separator\n')
    with pytest.raises(ctl.ChefCtlParseError):
        ctl.parse_status(text)


def test_parse_duration_rejects_other_formats():
    assert ctl.parse_duration('0d 0h 0m 0s') == 0
    with pytest.raises(ctl.ChefCtlParseError):
        ctl.parse_duration('106983s')


# ---- cluster-status --json ---------------------------------------------------------------------------------------

def test_cluster_status_json_list():
    members = ctl.parse_cluster_status_json(fixture_text('cluster_status_list.json'))
    assert len(members) == 3
    assert members[1] == {'name': 'be2', 'ip': '172.31.250.12', 'guid': '008782c59d3628b6bb7f43556ac0c66c',
                          'role': 'follower', 'pg': 'follower', 'es': 'not_master', 'partially_synced': False}
    assert ctl.find_leader(members)['guid'] == 'dc0c6ea77a751f94037cd950e8451fa3'


def test_cluster_status_json_keyed_by_name_with_alternate_keys():
    members = ctl.parse_cluster_status_json(fixture_text('cluster_status_keyed_by_name.json'))
    assert [(m['name'], m['guid'], m['ip']) for m in members] == [
        ('be1', 'dc0c6ea77a751f94037cd950e8451fa3', '172.31.250.11'),
        ('be2', '008782c59d3628b6bb7f43556ac0c66c', '172.31.250.12')]
    assert members[0]['pg'] == {'status': 'leader'}
    assert members[0]['es'] == {'status': 'master'}
    assert 'postgresql' not in members[0] and 'id' not in members[0]


def test_cluster_status_json_keyed_by_guid():
    members = ctl.parse_cluster_status_json(fixture_text('cluster_status_keyed_by_guid.json'))
    assert [(m['name'], m['guid']) for m in members] == [
        ('be1', 'dc0c6ea77a751f94037cd950e8451fa3'),
        ('be2', '008782c59d3628b6bb7f43556ac0c66c'),
        ('be3', '1af654172b1830927a571d9a5ba7965b')]


def test_cluster_status_json_wrapped_and_degraded():
    members = ctl.parse_cluster_status_json(fixture_text('cluster_status_degraded.json'))
    assert [m['role'] for m in members] == ['waiting_for_leader'] * 3
    assert members[1]['partially_synced'] is True
    assert members[0]['pg'] == 'down'
    assert ctl.find_leader(members) is None


def test_cluster_status_json_keeps_unknown_keys():
    members = ctl.parse_cluster_status_json('[{"name": "be1", "ip": "10.0.0.1", "failover": "enabled"}]')
    assert members[0]['failover'] == 'enabled'
    assert members[0]['guid'] is None


def test_cluster_status_json_empty_cluster():
    assert not ctl.parse_cluster_status_json('[]')
    assert not ctl.parse_cluster_status_json('{}')


@pytest.mark.parametrize('name', ['cluster_status_truncated.json', 'cluster_status_no_identity.json',
                                  'cluster_status_scalar_nodes.json', 'cluster_status.txt'])
def test_cluster_status_json_garbled_raises(name):
    with pytest.raises(ctl.ChefCtlParseError):
        ctl.parse_cluster_status_json(fixture_text(name))


@pytest.mark.parametrize('text', ['"leader"', '42', '{"name": "be1", "role": "leader"}', 'null'])
def test_cluster_status_json_wrong_shape_raises(text):
    with pytest.raises(ctl.ChefCtlParseError):
        ctl.parse_cluster_status_json(text)


def test_find_member_by_address_and_name():
    members = ctl.parse_cluster_status_json(fixture_text('cluster_status_list.json'))
    assert ctl.find_member(members, '172.31.250.13')['name'] == 'be3'
    assert ctl.find_member(members, '172.31.250.99') is None
    assert ctl.find_member(members, None, ('be2', 'be2.chefops.test'))['ip'] == '172.31.250.12'
    assert ctl.find_member(members, None, ('outsider',)) is None
    v6 = [{'name': 'a', 'ip': '2001:db8::1'}]
    assert ctl.find_member(v6, '2001:0db8:0:0::1') is v6[0]


# ---- chef-backend.rb ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ("publish_address '172.31.250.11'\n", '172.31.250.11'),
    ('publish_address = "172.31.250.12"\n', '172.31.250.12'),
    ("fqdn 'be1'\npostgresql.md5_auth_cidr_addresses = [\"samehost\"]\npublish_address '10.0.0.3'  # mine\n",
     '10.0.0.3'),
    ("# publish_address '10.0.0.9'\n", None),
    ('', None),
    (None, None),
])
def test_backend_rb_publish_address(text, expected):
    assert ctl.backend_rb_setting(text, 'publish_address') == expected


# ---- gen-server-config -------------------------------------------------------------------------------------------

PASSWORD = '3f9c1d7be2a84c06a5e1b0d9f47e6c2a18b5d0e3f6a7c9b2d4e8f1a3c5b7d9e0f2a4c6b8d0e1f3a5c7'


def test_server_config_parse():
    text = fixture_text('gen_server_config_fe1.rb')
    parsed = ctl.parse_server_config(text)
    assert parsed['fqdn'] == 'fe1.chefops.test'
    assert parsed['chef_backend_members'] == ['172.31.250.11', '172.31.250.12', '172.31.250.13']
    assert parsed['settings']["postgresql['vip']"] == "'127.0.0.1'"
    assert parsed['settings']["bookshelf['storage_type']"] == ':sql'
    assert parsed['settings']["postgresql['db_superuser_password']"] == "'%s'" % ctl.MASK
    assert ctl.server_config_passwords(text) == [PASSWORD]


def test_server_config_mask_keeps_everything_else():
    text = fixture_text('gen_server_config_fe1.rb')
    masked = ctl.mask_server_config(text)
    assert PASSWORD not in masked
    assert "postgresql['db_superuser_password'] = '********'\n" in masked
    assert masked.replace('********', PASSWORD) == text


@pytest.mark.parametrize('line', [
    'postgresql["db_superuser_password"] = "s3cret"',
    "  postgresql['db_superuser_password']='s3cret'  # set by hand",
])
def test_server_config_mask_variants(line):
    assert 's3cret' not in ctl.mask_server_config(line + '\n')
    assert ctl.server_config_passwords(line) == ['s3cret']


@pytest.mark.parametrize('name', ['gen_server_config_garbled.txt'])
def test_server_config_garbled_raises(name):
    with pytest.raises(ctl.ChefCtlParseError):
        ctl.parse_server_config(fixture_text(name))


def test_server_config_empty_raises():
    with pytest.raises(ctl.ChefCtlParseError):
        ctl.parse_server_config('# only a comment\n')


def test_garbled_server_config_error_does_not_leak_password():
    text = "fqdn 'fe1'\npostgresql['db_superuser_password'] = 'hunter2'\n%%% broken\n"
    with pytest.raises(ctl.ChefCtlParseError) as exc:
        ctl.parse_server_config(text)
    assert 'hunter2' not in str(exc.value)


# ---- health ------------------------------------------------------------------------------------------------------

def _health(status_name, members_name):
    services = ctl.parse_status(fixture_text(status_name))['services']
    members = ctl.parse_cluster_status_json(fixture_text(members_name)) if members_name else []
    return ctl.assess_health(services, ctl.summarize_status(services), members)


def test_health_healthy_cluster():
    assert _health('status_1x_healthy.txt', 'cluster_status_list.json') == (True, [])
    assert _health('status_2x_healthy.txt', 'cluster_status_keyed_by_guid.json') == (True, [])


def test_health_single_node_cluster_is_healthy():
    assert _health('status_2x_single_node.txt', 'cluster_status_one_node.json') == (True, [])


def test_health_degraded_2x():
    healthy, problems = _health('status_2x_degraded.txt', 'cluster_status_degraded.json')
    assert not healthy
    assert 'service postgresql is down' in problems
    assert 'leaderl reports 0 leaders (want 1)' in problems
    assert 'member be2 is partially synced' in problems
    assert 'postgresql: could not reach pgsql leader for replication stats' in problems


def test_health_follower_still_syncing():
    healthy, problems = _health('status_1x_syncing.txt', 'cluster_status_list.json')
    assert not healthy
    assert problems == ['postgresql synced followers 1 (want 2)', 'elasticsearch state yellow']


def test_health_etcd_red():
    healthy, problems = _health('status_2x_etcd_red.txt', 'cluster_status_list.json')
    assert not healthy
    assert 'etcd health red, healthy nodes 2/3' in problems
    assert 'service elasticsearch is down' in problems


def test_health_not_in_cluster():
    healthy, problems = _health('status_2x_single_node.txt', None)
    assert not healthy
    assert problems == ['node is not a member of a cluster']


def test_health_members_more_than_synced():
    # a third node joined but PostgreSQL still counts one follower
    healthy, problems = _health('status_2x_single_node.txt', 'cluster_status_two_nodes.json')
    assert not healthy
    assert 'postgresql synced followers 0 (want 1)' in problems


def test_health_a_member_that_does_not_serve_is_unhealthy():
    services = ctl.parse_status(fixture_text('status_2x_healthy.txt'))['services']
    members = ctl.parse_cluster_status_json(fixture_text('cluster_status_keyed_by_guid.json'))
    members[1]['role'] = 'waiting_for_leader'
    members[2]['pg'] = 'offline'
    healthy, problems = ctl.assess_health(services, ctl.summarize_status(services), members)
    assert not healthy
    assert problems == ['member %s is waiting_for_leader' % members[1]['name'],
                        'member %s has PostgreSQL offline' % members[2]['name']]


def test_health_leaderl_waiting_is_unhealthy():
    services = ctl.parse_status(fixture_text('status_2x_healthy.txt'))['services']
    summary = ctl.summarize_status(services)
    summary['leaderl']['waiting'] = 1
    members = ctl.parse_cluster_status_json(fixture_text('cluster_status_keyed_by_guid.json'))
    assert ctl.assess_health(services, summary, members) == (False, ['leaderl reports 1 member(s) waiting'])


# ---- failed cluster-status ---------------------------------------------------------------------------------------

def test_cluster_status_json_nodes_wrapper_keeps_extra_keys():
    members = ctl.parse_cluster_status_json(fixture_text('cluster_status_nodes_wrapper.json'))
    assert [m['name'] for m in members] == ['be1', 'be2', 'be3']
    assert members[0]['is_leader'] is True
    assert members[1]['etcd_member_id'] == '8e9e05c52164694d'


def test_cluster_status_failure_with_json_error():
    message, members = ctl.cluster_status_failure(fixture_text('cluster_status_unreachable.json'), '')
    assert message == 'could not reach etcd on any cluster member'
    assert [m['ip'] for m in members] == ['172.31.250.11', '172.31.250.12']


@pytest.mark.parametrize('out, err, message', [
    ('', 'This node is not part of a Chef Backend cluster.\n', 'This node is not part of a Chef Backend cluster.'),
    ('not json\n', '', 'not json'),
    ('{"error": "x"}', '', 'x'),
    ('', '', None),
])
def test_cluster_status_failure_plain(out, err, message):
    assert ctl.cluster_status_failure(out, err) == (message, [])
