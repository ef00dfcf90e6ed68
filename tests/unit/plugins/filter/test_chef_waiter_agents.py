"""chef_waiter_agents: the agents of chef_waiter_batch_run from inventory hosts and their variables."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.chefops.chef_ha.plugins.filter.chef_waiter_agents import FilterModule, chef_waiter_agents

HOSTVARS = {
    'n1': {'chef_run_address': '127.0.0.1', 'chef_run_port': 9001, 'ansible_host': '10.0.0.1'},
    'n2': {'ansible_host': '10.0.0.2', 'chef_run_use_tls': 'true', 'chef_run_validate_certs': 'false'},
    'n3': {'chef_run_port': '9003', 'chef_run_run_list': 'recipe[app::deploy]', 'chef_run_force': 'yes'},
    'n4': {'chef_run_address': None, 'chef_run_run_list': ''},
}


def test_connection_settings_in_the_given_order():
    assert chef_waiter_agents(['n3', 'n1', 'n2', 'n4'], HOSTVARS) == [
        dict(name='n3', host='n3', port=9003, use_tls=False, validate_certs=True),
        dict(name='n1', host='127.0.0.1', port=9001, use_tls=False, validate_certs=True),
        dict(name='n2', host='10.0.0.2', port=8901, use_tls=True, validate_certs=False),
        dict(name='n4', host='n4', port=8901, use_tls=False, validate_certs=True),
    ]


def test_run_options():
    agents = chef_waiter_agents(['n3', 'n4'], HOSTVARS, True)
    assert [(a['run_list'], a['force']) for a in agents] == [('recipe[app::deploy]', True), (None, False)]


def test_no_hosts():
    assert chef_waiter_agents([], HOSTVARS) == []


@pytest.mark.parametrize('variables, words', [
    ({'chef_run_port': 'http'}, ["chef_run_port of host h is 'http'", 'default 8901']),
    ({'chef_run_port': 70000}, ['chef_run_port of host h is 70000']),
    ({'chef_run_use_tls': 'maybe'}, ["chef_run_use_tls of host h is 'maybe'", 'true or false']),
])
def test_bad_values_name_the_variable_and_the_host(variables, words):
    with pytest.raises(AnsibleFilterError) as err:
        chef_waiter_agents(['h'], {'h': variables})
    for word in words:
        assert word in str(err.value)


def test_unknown_host():
    with pytest.raises(AnsibleFilterError, match='nope is not a host of the inventory'):
        chef_waiter_agents(['nope'], HOSTVARS)


def test_registered():
    assert FilterModule().filters()['chef_waiter_agents'] is chef_waiter_agents
