"""rollout_plan, rollout_outcome and rollout_record_entries: the rollout's plan and gate from the Chef server's state
(issue 21 cases 1, 2 and 3)."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.chefops.chef_ha.plugins.filter.rollout_outcome import rollout_outcome
from ansible_collections.chefops.chef_ha.plugins.filter.rollout_plan import rollout_plan
from ansible_collections.chefops.chef_ha.plugins.filter.rollout_record_entries import rollout_record_entries

HOSTS = ['n1', 'n2', 'n3', 'n4']
FQDN = dict((h, h + '.example.com') for h in HOSTS)


def fq(*hosts):
    return [FQDN[h] for h in hosts]


def test_a_fresh_ramp_plans_every_host():
    plan = rollout_plan(HOSTS, [1, 1, '100%'], FQDN, [], {})
    assert plan['waves'] == [['n1'], ['n2'], ['n3', 'n4']] and plan['regate'] == [] and plan['outside'] == []
    assert [plan['rows'][h]['wave'] for h in HOSTS] == [1, 2, 3, 3]
    assert all(row['status'] == 'not run' and row['in_allowlist'] is False for row in plan['rows'].values())


def test_a_failed_wave_kept_in_the_allowlist_is_gated_again_first():
    """Case 1: wave 2 (n2) failed with rollout_rollback=false; the relaunch must not count n2 as done."""
    record = {FQDN['n1']: {'status': 'passed', 'wave': 1}, FQDN['n2']: {'status': 'failed', 'wave': 2}}
    plan = rollout_plan(HOSTS, [1, 1, '100%'], FQDN, fq('n1', 'n2'), record)
    assert plan['passed'] == ['n1'] and plan['regate'] == ['n2']
    assert plan['waves'] == [['n2'], ['n3', 'n4']]
    assert plan['rows']['n1']['status'] == 'already passed'
    assert plan['rows']['n2']['status'] == 'not run' and 'record: failed' in plan['rows']['n2']['detail']


def test_hosts_added_by_a_run_that_died_before_its_gate_are_gated_again():
    """Case 1: the run died between the allowlist write and the gate: pending in the record, in the allowlist."""
    record = {FQDN['n1']: {'status': 'passed'}, FQDN['n2']: {'status': 'pending'}, FQDN['n3']: {'status': 'pending'}}
    plan = rollout_plan(HOSTS, ['100%'], FQDN, fq('n1', 'n2', 'n3'), record)
    assert plan['waves'] == [['n2', 'n3'], ['n4']]


def test_a_host_in_the_allowlist_without_any_record_is_gated():
    plan = rollout_plan(HOSTS, ['100%'], FQDN, fq('n3'), {})
    assert plan['regate'] == ['n3'] and plan['waves'] == [['n3'], ['n1', 'n2', 'n4']]
    assert 'no record' in plan['rows']['n3']['detail']


def test_a_passed_record_without_the_allowlist_entry_is_planned_again():
    """The record alone is not coverage: another writer removed the host since."""
    plan = rollout_plan(HOSTS, ['100%'], FQDN, [], {FQDN['n1']: {'status': 'passed'}})
    assert plan['waves'] == [HOSTS] and plan['passed'] == []


def test_everything_passed_plans_nothing():
    record = dict((FQDN[h], {'status': 'passed'}) for h in HOSTS)
    plan = rollout_plan(HOSTS, [1, '100%'], FQDN, fq(*HOSTS), record)
    assert plan['waves'] == [] and plan['passed'] == HOSTS


@pytest.mark.parametrize('waves', ['1,10%', [1, '50%'], [2]])
def test_a_ramp_short_of_100_percent_reports_the_rest_as_not_in_this_ramp(waves):
    """Case 2: hosts beyond the last wave are neither planned nor looked up in a wave map."""
    plan = rollout_plan(HOSTS, waves, FQDN, [], {})
    planned = [h for wave in plan['waves'] for h in wave]
    assert planned and len(planned) < 4
    assert plan['outside'] == [h for h in HOSTS if h not in planned]
    for host in plan['outside']:
        assert plan['rows'][host]['status'] == 'not in this ramp' and plan['rows'][host]['wave'] is None


def test_a_host_without_fqdn_is_an_error():
    with pytest.raises(AnsibleFilterError, match='no fqdn for n4'):
        rollout_plan(HOSTS, ['100%'], dict((h, FQDN[h]) for h in HOSTS[:3]), [], {})


def run(guid, status='complete', failed=False, msg=None):
    out = dict(guid=guid, status=status, failed=failed, duration=3)
    if msg:
        out['msg'] = msg
    return out


def test_the_gate_judges_from_the_allowlist_read_back():
    """Case 3: a host dropped from the allowlist by another writer during the wave does not pass."""
    runs = {'n1': run('g1'), 'n2': run('g2')}
    rows = rollout_outcome(['n1', 'n2'], runs, [], FQDN, fq('n1'), 2)
    assert rows['n1']['ok'] and rows['n1']['status'] == 'passed' and rows['n1']['in_allowlist'] is True
    assert not rows['n2']['ok'] and rows['n2']['status'] == 'dropped from allowlist'
    assert 'dropped from the allowlist by another writer' in rows['n2']['detail']
    assert rows['n2']['in_allowlist'] is False and rows['n2']['wave'] == 2 and rows['n2']['run_id'] == 'g2'


def test_failed_runs_and_checks():
    runs = {'n1': run('g1', 'failed', True, 'chef-client run g1 failed (exit code 1); last lines of its log:\nx'),
            'n2': run('g2'), 'n3': run('g3', 'running')}
    checks = [{'item': 'n2', 'status': 503, 'url': 'http://n2/health'}]
    rows = rollout_outcome(['n1', 'n2', 'n3'], runs, checks, FQDN, fq('n1', 'n2', 'n3'), 1)
    assert rows['n1']['status'] == 'failed' and rows['n1']['detail'] == 'chef-client run g1 failed (exit code 1)'
    assert rows['n2']['status'] == 'check failed' and rows['n2']['detail'] == 'http://n2/health answered 503'
    assert rows['n3']['status'] == 'failed' and rows['n3']['detail'] == 'run status running'


def test_check_mode_predicts():
    rows = rollout_outcome(['n1'], {'n1': {'changed': True, 'failed': False}}, [], FQDN, [], 1, True)
    assert rows['n1']['ok'] and rows['n1']['status'] == 'would run'


def test_a_rollback_run_is_judged_out_of_the_allowlist():
    previous = {'n1': {'status': 'failed', 'run_id': 'g0', 'detail': 'boom', 'wave': 2}}
    rows = rollout_outcome(['n1'], {'n1': run('g1')}, [], FQDN, [], None, False, False, previous)
    assert rows['n1']['status'] == 'rolled back' and rows['n1']['wave'] == 2
    assert rows['n1']['detail'] == 'failed in run g0: boom'
    rows = rollout_outcome(['n1'], {'n1': run('g1')}, [], FQDN, fq('n1'), None, False, False, previous)
    assert rows['n1']['status'] == 'rollback run failed' and not rows['n1']['ok']


def test_record_entries():
    assert rollout_record_entries(['n1'], FQDN, status='pending', wave=3) == {
        FQDN['n1']: dict(host='n1', status='pending', wave=3, run_id=None, detail='')}
    rows = {'n2': dict(ok=True, status='passed', wave=1, run_id='g', detail='', in_allowlist=True)}
    assert rollout_record_entries(rows, FQDN) == {FQDN['n2']: dict(host='n2', status='passed', wave=1, run_id='g',
                                                                   detail='')}


def test_a_thousand_hosts_plan_in_one_pass():
    hosts = ['h%04d' % n for n in range(1000)]
    fqdn = dict((h, h + '.example.com') for h in hosts)
    record = dict((fqdn[h], {'status': 'passed'}) for h in hosts[:500])
    plan = rollout_plan(hosts, [1, '10%', '100%'], fqdn, [fqdn[h] for h in hosts[:510]], record)
    assert plan['regate'] == hosts[500:510] and plan['waves'][0] == hosts[500:510]
    assert [h for w in plan['waves'] for h in w] == hosts[500:]
