"""chef_allowlist and chef_rollout_progress against a stateful Chef server with another writer forced in between
a module's read and its write (issue 21 case 3 and the rollout lease): deterministic, no timing window."""

import os
import time

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_allowlist, chef_rollout_progress
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_api_replay import CLIENT, KEY_FILE
from ansible_collections.chefops.chef_ha.tests.unit.plugins.fake_chef_server import FakeChefServer

CONNECTION = dict(server_url='https://chef.example.com/organizations/acme', client_name=CLIENT, client_key=KEY_FILE,
                  retries=0)
ITEM = '/data/whitelist/php8'
RECORD = '/data/chefops_rollouts/whitelist.php8'


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch, tmp_path):
    for name in ('CHEF_SERVER_URL', 'CHEF_CLIENT_NAME', 'CHEF_NODE_NAME', 'CHEF_CLIENT_KEY', 'CHEF_PROFILE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.setattr(time, 'sleep', lambda seconds: None)


def run(run_module, monkeypatch, server, module, check_mode=False, **params):
    server.install(monkeypatch)
    return run_module(module, dict(CONNECTION, **params), check_mode=check_mode)


def other_writer_from_an_older_read(pattern):
    """A writer (a `knife data bag edit` saved late) that read the item before the module's write and saves it now:
    the item as it was before, plus its own pattern."""
    state = {}

    def remember(server):
        state['read'] = server.item('whitelist', 'php8')

    def save(server):
        item = dict(state['read'])
        item['patterns'] = item['patterns'] + [pattern]
        server.bags['whitelist']['php8'] = item
    return remember, save


def test_an_add_survives_a_writer_landing_between_its_read_and_its_write(run_module, monkeypatch):
    server = FakeChefServer({'whitelist': {'php8': {'id': 'php8', 'patterns': ['web01.example.com']}}})
    remember, save = other_writer_from_an_older_read('db*.example.com')
    server.after('GET', ITEM, remember)  # the other writer read what the module read
    server.after('PUT', ITEM, save)  # and saves right after the module's write, undoing it
    res = run(run_module, monkeypatch, server, chef_allowlist, name='php8', add=['web02.example.com'],
              candidates=['web02.example.com'])
    assert not res.failed, res.result
    held = server.item('whitelist', 'php8')['patterns']
    assert sorted(held) == ['db*.example.com', 'web01.example.com', 'web02.example.com']
    assert res['attempts'] == 2 and res['matched'] == ['web02.example.com']
    assert res['patterns'] == held  # what was read back, not what was sent
    assert [m for m, p in server.log] == ['GET', 'PUT', 'GET', 'PUT', 'GET']


def test_an_add_that_keeps_being_undone_fails_after_five_writes(run_module, monkeypatch):
    server = FakeChefServer({'whitelist': {'php8': {'id': 'php8', 'patterns': []}}})

    def undo(srv):
        srv.bags['whitelist']['php8'] = {'id': 'php8', 'patterns': []}
    server.after('PUT', ITEM, undo, times=10)
    res = run(run_module, monkeypatch, server, chef_allowlist, name='php8', add=['web02.example.com'])
    assert res.failed and 'kept changing under this task: after 5 writes' in res['msg']
    assert len(server.writes()) == 5


def test_a_remove_is_also_made_again_over_a_lost_update(run_module, monkeypatch):
    server = FakeChefServer({'whitelist': {'php8': {'id': 'php8', 'patterns': ['a.example.com', 'b.example.com']}}})
    remember, save = other_writer_from_an_older_read('c.example.com')
    server.after('GET', ITEM, remember)
    server.after('PUT', ITEM, save)
    res = run(run_module, monkeypatch, server, chef_allowlist, name='php8', remove=['b.example.com'])
    assert not res.failed and server.item('whitelist', 'php8')['patterns'] == ['a.example.com', 'c.example.com']


# --------------------------------------------------------------------------------------------- the rollout record

def progress(run_module, monkeypatch, server, owner='run-a', check_mode=False, **params):
    args = dict(name='whitelist.php8', allowlist='whitelist/php8', owner=owner, settle_seconds=0)
    args.update(params)
    return run(run_module, monkeypatch, server, chef_rollout_progress, check_mode=check_mode, **args)


def test_the_first_hold_creates_the_bag_the_record_and_the_lease(run_module, monkeypatch):
    server = FakeChefServer()
    res = progress(run_module, monkeypatch, server, hosts={'n1.example.com': {'status': 'pending', 'wave': 1}})
    assert not res.failed and res['changed'], res.result
    record = server.item('chefops_rollouts', 'whitelist.php8')
    assert record['lease']['owner'] == 'run-a' and record['allowlist'] == 'whitelist/php8'
    assert record['hosts']['n1.example.com']['status'] == 'pending' and record['hosts']['n1.example.com']['wave'] == 1
    assert record['lease']['expires'] - record['lease']['renewed'] == 2400
    assert res['record'] == record and res['hosts'] == record['hosts']


def test_check_mode_reads_and_writes_nothing(run_module, monkeypatch):
    server = FakeChefServer()
    res = progress(run_module, monkeypatch, server, check_mode=True, hosts={'n1.example.com': {'status': 'pending'}})
    assert not res.failed and res['changed'] and server.writes() == []


def live_lease(owner='run-b', controller='elsewhere', expires_in=600, **extra):
    now = int(time.time())
    lease = dict(owner=owner, controller=controller, pid=None, start_ticks=None, boot_id='x', since=now,
                 renewed=now, expires=now + expires_in, stamp='s')
    lease.update(extra)
    return lease


def test_a_second_rollout_is_refused_while_the_first_holds_the_lease(run_module, monkeypatch):
    server = FakeChefServer({'chefops_rollouts': {'whitelist.php8': {
        'id': 'whitelist.php8', 'hosts': {}, 'lease': live_lease()}}})
    res = progress(run_module, monkeypatch, server, hosts={'n1.example.com': {'status': 'pending'}})
    assert res.failed and res['msg'].startswith('Another run holds the rollout of whitelist/php8 (run run-b on '
                                                'controller elsewhere'), res['msg']
    assert 'nothing was changed' in res['msg'] and 'rollout_take_over=true' in res['msg']
    assert server.writes() == []


@pytest.mark.parametrize('lease, why', [
    (live_lease(expires_in=-5), 'expired'),
    (live_lease(controller=None, pid=2 ** 22 + 7, start_ticks='1'), 'dead process on this controller'),
])
def test_an_expired_or_dead_lease_is_taken_over(run_module, monkeypatch, lease, why):
    import socket
    if lease['controller'] is None:
        lease['controller'] = socket.gethostname()
        with open('/proc/sys/kernel/random/boot_id') as handle:
            lease['boot_id'] = handle.read().strip()
    server = FakeChefServer({'chefops_rollouts': {'whitelist.php8': {
        'id': 'whitelist.php8', 'hosts': {'n1.example.com': {'status': 'pending'}}, 'lease': lease}}})
    res = progress(run_module, monkeypatch, server)
    assert not res.failed, (why, res.result)
    assert res['took_over']['owner'] == 'run-b' and server.item('chefops_rollouts', 'whitelist.php8')['lease'][
        'owner'] == 'run-a'
    assert res['hosts']['n1.example.com']['status'] == 'pending'  # the dead run's progress is kept


def test_take_over_forces_a_live_lease(run_module, monkeypatch):
    server = FakeChefServer({'chefops_rollouts': {'whitelist.php8': {
        'id': 'whitelist.php8', 'hosts': {}, 'lease': live_lease()}}})
    res = progress(run_module, monkeypatch, server, take_over=True)
    assert not res.failed and res['took_over']['owner'] == 'run-b'


def test_of_two_runs_taking_the_lease_at_once_the_overwritten_one_stops(run_module, monkeypatch):
    """Both read a free record; run-b's write lands right after run-a's: run-a sees it when it reads again."""
    server = FakeChefServer({'chefops_rollouts': {}})

    def run_b_writes(srv):
        record = srv.item('chefops_rollouts', 'whitelist.php8')
        record['lease'] = live_lease()
        srv.bags['chefops_rollouts']['whitelist.php8'] = record
    server.after('POST', '/data/chefops_rollouts', run_b_writes)
    res = progress(run_module, monkeypatch, server)
    assert res.failed and res['msg'].startswith('Another run took over the rollout of whitelist/php8 (run run-b'), \
        res.result
    assert server.item('chefops_rollouts', 'whitelist.php8')['lease']['owner'] == 'run-b'


def test_a_later_write_of_a_run_whose_lease_was_taken_stops_it(run_module, monkeypatch):
    server = FakeChefServer()
    assert not progress(run_module, monkeypatch, server).failed
    record = server.item('chefops_rollouts', 'whitelist.php8')
    record['lease'] = live_lease()
    server.bags['chefops_rollouts']['whitelist.php8'] = record
    res = progress(run_module, monkeypatch, server, hosts={'n2.example.com': {'status': 'pending'}})
    assert res.failed and 'Another run holds' in res['msg']
    assert 'n2.example.com' not in server.item('chefops_rollouts', 'whitelist.php8')['hosts']


def test_host_marks_survive_a_lost_update_and_release_drops_only_our_lease(run_module, monkeypatch):
    server = FakeChefServer()
    assert not progress(run_module, monkeypatch, server, hosts={'n1.example.com': {'status': 'pending'}}).failed
    stale = server.item('chefops_rollouts', 'whitelist.php8')

    def old_save(srv):  # a writer that read before the mark saves its old copy (our lease, old hosts)
        srv.bags['chefops_rollouts']['whitelist.php8'] = dict(stale)
    server.after('PUT', RECORD, old_save)
    res = progress(run_module, monkeypatch, server, hosts={'n1.example.com': {'status': 'passed', 'run_id': 'g'}})
    assert not res.failed and res['attempts'] == 2
    assert server.item('chefops_rollouts', 'whitelist.php8')['hosts']['n1.example.com']['status'] == 'passed'
    res = progress(run_module, monkeypatch, server, state='released')
    assert not res.failed and server.item('chefops_rollouts', 'whitelist.php8')['lease'] == {}
    assert res['hosts']['n1.example.com'] == dict(status='passed', run_id='g', updated=res['hosts'][
        'n1.example.com']['updated'])


def test_release_leaves_another_runs_lease_alone(run_module, monkeypatch):
    server = FakeChefServer({'chefops_rollouts': {'whitelist.php8': {
        'id': 'whitelist.php8', 'hosts': {}, 'lease': live_lease()}}})
    res = progress(run_module, monkeypatch, server, state='released')
    assert not res.failed and not res['changed'] and server.writes() == []


def test_the_lease_names_this_ansible_playbook_process(monkeypatch):
    """The owner's process is the topmost ansible-playbook ancestor (its workers are forks with its command line)."""
    playbook = 'python3\0/usr/bin/ansible-playbook\0site.yml'
    tree = {50: (40, playbook), 40: (30, playbook), 30: (20, 'bash'), 20: (1, 'init')}
    monkeypatch.setattr(os, 'getppid', lambda: 60)
    tree[60] = (50, '/bin/sh\0-c\0python3 AnsiballZ.py')
    monkeypatch.setattr(chef_rollout_progress, 'process_stat', lambda pid: (tree[pid][0], str(pid * 10)) if pid in tree
                        else None)
    monkeypatch.setattr(chef_rollout_progress, 'read_proc', lambda path: tree[int(path.split('/')[2])][1]
                        if path.endswith('cmdline') else None)
    assert chef_rollout_progress.playbook_process() == (40, '400')


def test_node_info_reads_every_node_of_the_organization(run_module, monkeypatch):
    """all_nodes: GET /nodes, then each node by name (current, not a search), for the finalize check of rollout.yml."""
    from ansible_collections.chefops.chef_ha.plugins.modules import chef_node_info
    from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_api_replay import ChefServerReplay
    org = '/organizations/acme/nodes'
    replay = ChefServerReplay([
        {'method': 'GET', 'path': org, 'body': {'web01': 'https://x/nodes/web01', 'stray': 'https://x/nodes/stray'}},
        {'method': 'GET', 'path': org + '/web01', 'body': {'name': 'web01', 'automatic': {'fqdn': 'web01.example.com'}}},
        {'method': 'GET', 'path': org + '/stray', 'body': {'name': 'stray', 'automatic': {}}},
    ]).install(monkeypatch)
    res = run_module(chef_node_info, dict(CONNECTION, names=['web01'], all_nodes=True))
    assert not res.failed, res.result
    assert [(n['name'], n['fqdn']) for n in res['nodes']] == [('web01', 'web01.example.com'), ('stray', None)]
    assert replay.expected == []
