"""rollout_waves: the waves of an allowlisted rollout, from the hosts, the wave sizes and the covered hosts."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.chefops.chef_ha.plugins.filter.rollout_waves import FilterModule, rollout_waves

FOUR = ['n1', 'n2', 'n3', 'n4']
TWELVE = ['h%02d' % n for n in range(1, 13)]
HUNDRED = ['h%03d' % n for n in range(1, 101)]


def sizes(plan):
    return [len(wave) for wave in plan]


# (id, hosts, waves, covered, expected waves)
PLANS = [
    ('one, one, the rest', FOUR, [1, 1, '100%'], [], [['n1'], ['n2'], ['n3', 'n4']]),
    ('all at once', FOUR, ['100%'], [], [FOUR]),
    ('a single number', FOUR, 2, [], [['n1', 'n2']]),
    ('percent rounds up', TWELVE, [1, '25%', '100%'], [], [['h01'], ['h02', 'h03'], TWELVE[3:]]),
    ('ceil of a small share', FOUR, ['10%', '100%'], [], [['n1'], ['n2', 'n3', 'n4']]),
    ('fractional percent', HUNDRED, ['0.5%', '12.5%'], [], [HUNDRED[:1], HUNDRED[1:13]]),
    ('at least one more each wave', FOUR, ['1%', '2%', '3%'], [], [['n1'], ['n2'], ['n3']]),
    ('a partial ramp stays partial', TWELVE, [1, '50%'], [], [['h01'], TWELVE[1:6]]),
    ('a count over the hosts means all', FOUR, [1, 5000], [], [['n1'], ['n2', 'n3', 'n4']]),
    ('waves after every host are left out', FOUR, [3, 4, 10, '100%'], [], [['n1', 'n2', 'n3'], ['n4']]),
    ('numbers and percentages mixed', HUNDRED, [5, '10%', 50, '100%'], [],
     [HUNDRED[:5], HUNDRED[5:10], HUNDRED[10:50], HUNDRED[50:]]),
    ('a percentage below an earlier number', TWELVE, [5, '10%', '100%'], [], [TWELVE[:5], TWELVE[5:6], TWELVE[6:]]),
    ('survey text', FOUR, '1,1,100%', [], [['n1'], ['n2'], ['n3', 'n4']]),
    ('survey text with spaces', FOUR, ' 1 , 50 % ,100%', [], [['n1'], ['n2'], ['n3', 'n4']]),
    ('JSON text', FOUR, '[1, "50%", "100%"]', [], [['n1'], ['n2'], ['n3', 'n4']]),
    ('YAML-like text', FOUR, "[1, '50%', '100%']", [], [['n1'], ['n2'], ['n3', 'n4']]),
    ('numbers as strings', FOUR, ['1', '2', '+4'], [], [['n1'], ['n2'], ['n3', 'n4']]),
    ('whole floats', FOUR, [1.0, 4.0], [], [['n1'], ['n2', 'n3', 'n4']]),
    ('hosts as text, duplicates dropped', 'n1,n2, n2 ,n3', [1, '100%'], [], [['n1'], ['n2', 'n3']]),
    # covered hosts count towards the targets and are never added again
    ('re-run after success', FOUR, [1, 1, '100%'], FOUR, []),
    ('resume after wave one', FOUR, [1, 1, '100%'], ['n1'], [['n2'], ['n3', 'n4']]),
    ('resume after a rolled back wave two', TWELVE, [1, '25%', '100%'], ['h01'], [['h02', 'h03'], TWELVE[3:]]),
    ('covered out of order', FOUR, [1, 2, '100%'], ['n3'], [['n1'], ['n2', 'n4']]),
    ('covered hosts outside the rollout are ignored', FOUR, [1, '100%'], ['x1', 'x2'], [['n1'], ['n2', 'n3', 'n4']]),
    ('covered given as text', FOUR, [1, '100%'], 'n1,n2', [['n3', 'n4']]),
    ('nothing covered (None)', FOUR, [2], None, [['n1', 'n2']]),
]


@pytest.mark.parametrize('hosts, waves, covered, expected', [p[1:] for p in PLANS], ids=[p[0] for p in PLANS])
def test_plans(hosts, waves, covered, expected):
    assert rollout_waves(hosts, waves, covered) == expected


def test_every_host_once_in_order_for_any_fleet_size():
    for total in range(1, 60):
        hosts = ['h%d' % n for n in range(total)]
        for waves in ([1, '10%', '100%'], ['1%', '2%', '100%'], [1, 1, 1, '100%'], [3, '50%', 7, '100%']):
            plan = rollout_waves(hosts, waves)
            assert [h for wave in plan for h in wave] == hosts
            assert all(plan) and len(plan) <= len(waves)


# (id, hosts, waves, words the message must hold)
ERRORS = [
    ('empty list', FOUR, [], ['rollout_waves is empty ([])', "[1, '10%', '100%']"]),
    ('empty text', FOUR, '', ["rollout_waves is empty ('')", 'at least one wave']),
    ('empty JSON text', FOUR, '[]', ["rollout_waves is empty ('[]')"]),
    ('None', FOUR, None, ['rollout_waves is empty (None)']),
    ('a wave of 0', FOUR, [0, '100%'], ['rollout_waves [0, "100%"]', 'a wave of 0', 'give 1 or more']),
    ('a wave of 0%', FOUR, ['0%', '100%'], ["a wave of '0%'", 'above 0%']),
    ('a wave of 0.0%', FOUR, '1,0.0%', ["a wave of '0.0%'", 'above 0%']),
    ('a wave of "0"', FOUR, '0', ['a wave of 0', 'give 1 or more']),
    ('a negative wave', FOUR, [-1], ['a wave of -1', 'give 1 or more']),
    ('over 100%', FOUR, [1, '150%'], ["a wave of '150%'", 'up to 100%']),
    ('not a number', FOUR, [1, 'ten'], ["'ten'", 'not a number of hosts or a percentage', 'such as 10%']),
    ('a percent sign alone', FOUR, '1,%', ["'%'", 'not a number of hosts']),
    ('a negative percentage', FOUR, ['-5%'], ["'-5%'", 'not a number of hosts']),
    ('a boolean', FOUR, [True], ['true', 'not a number of hosts']),
    ('a dict', FOUR, [{'size': 1}], ['{"size": 1}', 'not a number of hosts']),
    ('a fraction of a host', FOUR, [1.5], ['1.5', 'not a whole number of hosts']),
    ('an empty item in text', FOUR, '1,,100%', ["''", 'not a number of hosts']),
    ('a dict for waves', FOUR, {'a': 1}, ['rollout_waves must be a list', 'dict']),
    ('unclosed text', FOUR, '[1, 2', ["rollout_waves '[1, 2'", 'does not close']),
    ('JSON that is no list', FOUR, '["1"', ['does not close']),
    ('numbers going down', FOUR, [2, 1, '100%'], ['goes down from 2 to 1', 'cumulative target']),
    ('percentages going down', FOUR, ['50%', 3, '10%'], ["goes down from '50%' to '10%'", 'at least as large']),
    ('text going down', FOUR, '1,50%,20%', ["rollout_waves '1,50%,20%' goes down from '50%' to '20%'"]),
    ('no hosts', [], [1], ['rollout_hosts gives no host to roll out to', 'matches at least one host']),
    ('no hosts (text)', '', [1], ['rollout_hosts gives no host']),
    ('no hosts (None)', None, [1], ['rollout_hosts gives no host']),
    ('hosts not a list', {'n1': 1}, [1], ['rollout_hosts must be a list of hosts']),
    ('a host that is no name', ['n1', 5], [1], ['rollout_hosts has 5, which is not a host name']),
]


@pytest.mark.parametrize('hosts, waves, words', [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_name_the_variable_the_value_and_the_fix(hosts, waves, words):
    with pytest.raises(AnsibleFilterError) as error:
        rollout_waves(hosts, waves)
    for word in words:
        assert word in str(error.value)


def test_no_hosts_is_reported_before_bad_waves():
    with pytest.raises(AnsibleFilterError, match='rollout_hosts'):
        rollout_waves([], [])


def test_registered_under_its_name():
    assert FilterModule().filters() == {'rollout_waves': rollout_waves}
