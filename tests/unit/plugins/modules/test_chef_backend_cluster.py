"""chef_backend_cluster on recorded chef-backend-ctl calls."""

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_backend_cluster
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call, fixture_text

NOT_CONFIGURED = call(['cluster-status', '--json'], rc=1, err='Unable to reach etcd: this node is not configured\n')
THREE = call(['cluster-status', '--json'], out=fixture_text('cluster_status_list.json'))
ONE = call(['cluster-status', '--json'], out=fixture_text('cluster_status_one_node.json'))
TWO = call(['cluster-status', '--json'], out=fixture_text('cluster_status_two_nodes.json'))
SECRETS = '/etc/chef-backend/chef-backend-secrets.json'


@pytest.fixture
def config_file(tmp_path):
    """A chef-backend.rb as the backend role renders it."""
    def write(address='172.31.250.12', text=None):
        path = tmp_path / 'chef-backend.rb'
        path.write_text(text if text is not None else "publish_address '%s'\n" % address)
        return str(path)
    return write


@pytest.fixture
def secrets_file(tmp_path):
    path = tmp_path / 'secrets.json'
    path.write_text('{"postgresql": {"db_superuser_password": "x"}}\n')
    return str(path)


def join_args(config, secrets, **extra):
    args = dict(role='join', peer='172.31.250.11', secrets_file=secrets, accept_license=True, config_file=config)
    args.update(extra)
    return args


def join_argv(secrets, *tail):
    return ['join-cluster', '172.31.250.11', '-s', secrets, '--accept-license', '--yes'] + list(tail)


# ---- already a member: nothing runs ------------------------------------------------------------------------------

def test_bootstrap_already_member_runs_nothing(run_module, config_file):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True,
                                                config_file=config_file('172.31.250.11')), [THREE])
    assert run['changed'] is False
    assert run['member']['name'] == 'be1'
    assert run['leader']['name'] == 'be1'
    assert run['cmd'] == []
    assert run.commands == [['/usr/bin/chef-backend-ctl', 'cluster-status', '--json']]


def test_join_already_member_from_option(run_module, secrets_file, tmp_path):
    args = join_args(str(tmp_path / 'missing.rb'), secrets_file, publish_address='172.31.250.13')
    run = run_module(chef_backend_cluster, args, [THREE])
    assert run['changed'] is False
    assert run['member']['guid'] == '1af654172b1830927a571d9a5ba7965b'
    assert [m['role'] for m in run['members']] == ['leader', 'follower', 'follower']


def test_join_already_member_needs_no_license(run_module, config_file, secrets_file):
    args = join_args(config_file('172.31.250.12'), secrets_file, accept_license=False)
    run = run_module(chef_backend_cluster, args, [THREE])
    assert run['changed'] is False


def test_already_member_with_recovery_runs_nothing(run_module, config_file, secrets_file):
    run = run_module(chef_backend_cluster, join_args(config_file('172.31.250.12'), secrets_file, recovery=True),
                     [THREE])
    assert run['changed'] is False
    assert run['cmd'] == []


def test_already_member_check_mode(run_module, config_file, secrets_file):
    run = run_module(chef_backend_cluster, join_args(config_file('172.31.250.12'), secrets_file), [THREE],
                     check_mode=True)
    assert run['changed'] is False


def test_member_found_by_host_name_without_address(run_module, config_file, monkeypatch):
    monkeypatch.setattr(chef_backend_cluster, 'host_names', lambda: ('be1', 'be1.chefops.test'))
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True,
                                                config_file=config_file(text='')), [THREE])
    assert run['changed'] is False
    assert run['member']['ip'] == '172.31.250.11'
    assert run['publish_address'] is None


# ---- bootstrap ---------------------------------------------------------------------------------------------------

def test_bootstrap_creates_cluster(run_module, config_file):
    config = config_file('172.31.250.11')
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True, config_file=config), [
        NOT_CONFIGURED,
        call(['create-cluster', '--accept-license', '--yes'], out='Cluster created\n'),
        ONE,
    ])
    assert run['changed'] is True
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl', 'create-cluster', '--accept-license', '--yes']
    assert run['member']['name'] == 'be1'
    assert run['leader'] == run['member']
    assert run['stdout'] == 'Cluster created\n'
    assert run['rc'] == 0


def test_bootstrap_check_mode_runs_nothing_mutating(run_module, config_file):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True,
                                                config_file=config_file('172.31.250.11')),
                     [NOT_CONFIGURED], check_mode=True)
    assert run['changed'] is True
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl', 'create-cluster', '--accept-license', '--yes']
    assert run.commands == [['/usr/bin/chef-backend-ctl', 'cluster-status', '--json']]
    assert run['members'] == []


def test_bootstrap_without_license_fails(run_module, config_file):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', config_file=config_file('172.31.250.11')),
                     [NOT_CONFIGURED])
    assert run.failed
    assert 'accept_license=true' in run['msg']
    assert run.commands == [['/usr/bin/chef-backend-ctl', 'cluster-status', '--json']]


def test_bootstrap_without_license_fails_in_check_mode_too(run_module, config_file):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', config_file=config_file('172.31.250.11')),
                     [NOT_CONFIGURED], check_mode=True)
    assert run.failed
    assert 'accept_license' in run['msg']


def test_bootstrap_refuses_second_cluster(run_module, config_file):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True,
                                                config_file=config_file('172.31.250.99')), [THREE])
    assert run.failed
    assert 'refusing to create a second cluster' in run['msg']
    assert 'be1, be2, be3' in run['msg']


def test_bootstrap_refuses_when_configured_before(run_module, config_file, tmp_path):
    config = config_file('172.31.250.11')
    (tmp_path / 'chef-backend-running.json').write_text('{}')
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True, config_file=config),
                     [NOT_CONFIGURED])
    assert run.failed
    assert 'configured before' in run['msg']
    assert run['rc'] == 1
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl', 'cluster-status', '--json']


def test_bootstrap_create_failure(run_module, config_file):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True,
                                                config_file=config_file('172.31.250.11')), [
        NOT_CONFIGURED,
        call(['create-cluster', '--accept-license', '--yes'], rc=1, out='Bootstrapping etcd\n',
             err='etcd did not become available in 30 seconds\n'),
    ])
    assert run.failed
    assert run['msg'] == 'create-cluster failed (exit 1)'
    assert run['rc'] == 1
    assert run['stdout'] == 'Bootstrapping etcd\n'
    assert run['stderr'] == 'etcd did not become available in 30 seconds\n'
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl', 'create-cluster', '--accept-license', '--yes']


def test_bootstrap_status_fails_after_create(run_module, config_file):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True,
                                                config_file=config_file('172.31.250.11')), [
        NOT_CONFIGURED,
        call(['create-cluster', '--accept-license', '--yes']),
        call(['cluster-status', '--json'], rc=2, err='timeout\n'),
    ])
    assert run.failed
    assert run['changed'] is True
    assert 'cluster-status --json fails afterwards' in run['msg']
    assert run['stderr'] == 'timeout\n'


def test_bootstrap_reads_address_written_by_create(run_module, config_file, monkeypatch, tmp_path):
    config = config_file(text='')
    monkeypatch.setattr(chef_backend_cluster, 'host_names', lambda: ('node-x',))

    real_run = chef_backend_cluster.CtlRunner.run

    def run_and_write(self, *args):
        if args[0] == 'create-cluster':
            (tmp_path / 'chef-backend.rb').write_text("publish_address '172.31.250.11'\n")
        return real_run(self, *args)

    monkeypatch.setattr(chef_backend_cluster.CtlRunner, 'run', run_and_write)
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True, config_file=config), [
        NOT_CONFIGURED, call(['create-cluster', '--accept-license', '--yes']), ONE])
    assert run['publish_address'] == '172.31.250.11'
    assert run['member']['name'] == 'be1'


# ---- join --------------------------------------------------------------------------------------------------------

def test_join_runs_join_cluster(run_module, config_file, secrets_file):
    run = run_module(chef_backend_cluster, join_args(config_file('172.31.250.12'), secrets_file), [
        ONE,
        call(join_argv(secrets_file), out='Joined\n'),
        TWO,
    ])
    assert run['changed'] is True
    assert run['member']['name'] == 'be2'
    assert run['member']['role'] == 'follower'
    assert [m['name'] for m in run['members']] == ['be1', 'be2']
    assert run['leader']['name'] == 'be1'


def test_join_passes_publish_address_only_without_config(run_module, secrets_file, tmp_path):
    args = join_args(str(tmp_path / 'chef-backend.rb'), secrets_file, publish_address='172.31.250.12')
    run = run_module(chef_backend_cluster, args, [
        NOT_CONFIGURED,
        call(join_argv(secrets_file, '-p', '172.31.250.12')),
        TWO,
    ])
    assert run['changed'] is True
    assert run['cmd'][-2:] == ['-p', '172.31.250.12']


def test_join_does_not_pass_publish_address_when_config_has_it(run_module, config_file, secrets_file):
    args = join_args(config_file('172.31.250.12'), secrets_file, publish_address='172.31.250.12')
    run = run_module(chef_backend_cluster, args, [NOT_CONFIGURED, call(join_argv(secrets_file)), TWO])
    assert '-p' not in run['cmd']


def test_join_recovery(run_module, config_file, secrets_file):
    args = join_args(config_file('172.31.250.12'), secrets_file, recovery=True)
    run = run_module(chef_backend_cluster, args, [NOT_CONFIGURED, call(join_argv(secrets_file, '--recovery')), TWO])
    assert run['changed'] is True
    assert '--recovery' in run['cmd']


def test_join_check_mode_runs_nothing_mutating(run_module, config_file, tmp_path):
    # in check mode the secrets copy may not exist yet: no failure for that
    args = join_args(config_file('172.31.250.12'), str(tmp_path / 'not-copied-yet.json'))
    run = run_module(chef_backend_cluster, args, [ONE], check_mode=True)
    assert run['changed'] is True
    assert run.commands == [['/usr/bin/chef-backend-ctl', 'cluster-status', '--json']]
    assert run['cmd'][1:] == join_argv(str(tmp_path / 'not-copied-yet.json'))
    assert [m['name'] for m in run['members']] == ['be1']


def test_join_without_license_fails(run_module, config_file, secrets_file):
    run = run_module(chef_backend_cluster, join_args(config_file('172.31.250.12'), secrets_file,
                                                     accept_license=False), [ONE])
    assert run.failed
    assert run['msg'] == 'join-cluster requires accepting the Chef Backend license: set accept_license=true'


def test_join_missing_secrets_file_fails_before_running(run_module, config_file, tmp_path):
    args = join_args(config_file('172.31.250.12'), str(tmp_path / 'absent.json'))
    run = run_module(chef_backend_cluster, args, [ONE])
    assert run.failed
    assert 'does not exist on this node' in run['msg']


def test_join_failure_reports_command(run_module, config_file, secrets_file):
    err = 'This node is already configured for this cluster; use --recovery\n'
    run = run_module(chef_backend_cluster, join_args(config_file('172.31.250.12'), secrets_file), [
        NOT_CONFIGURED, call(join_argv(secrets_file), rc=1, err=err)])
    assert run.failed
    assert run['msg'] == 'join-cluster failed (exit 1)'
    assert run['stderr'] == err
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl'] + join_argv(secrets_file)


def test_join_not_listed_after_join_reports_null_member(run_module, config_file, secrets_file):
    run = run_module(chef_backend_cluster, join_args(config_file('172.31.250.13'), secrets_file), [
        ONE, call(join_argv(secrets_file)), TWO])
    assert run['changed'] is True
    assert run['member'] is None


def test_registered_node_with_unreachable_cluster_fails_without_joining(run_module, config_file, secrets_file):
    run = run_module(chef_backend_cluster, join_args(config_file('172.31.250.12'), secrets_file), [
        call(['cluster-status', '--json'], rc=1, out=fixture_text('cluster_status_unreachable.json'))])
    assert run.failed
    assert 'registered in the cluster but cluster-status fails (could not reach etcd on any cluster member)' \
        in run['msg']
    assert run.commands == [['/usr/bin/chef-backend-ctl', 'cluster-status', '--json']]


def test_registered_node_with_broken_status_rejoins_with_recovery(run_module, config_file, secrets_file):
    args = join_args(config_file('172.31.250.12'), secrets_file, recovery=True)
    run = run_module(chef_backend_cluster, args, [
        call(['cluster-status', '--json'], rc=1, out=fixture_text('cluster_status_unreachable.json')),
        call(join_argv(secrets_file, '--recovery')),
        THREE])
    assert run['changed'] is True
    assert run['member']['name'] == 'be2'


def test_unregistered_node_with_unreachable_cluster_tries_to_join(run_module, config_file, secrets_file):
    run = run_module(chef_backend_cluster, join_args(config_file('172.31.250.13'), secrets_file), [
        call(['cluster-status', '--json'], rc=1, out=fixture_text('cluster_status_unreachable.json')),
        call(join_argv(secrets_file), rc=1, err='Could not reach the peer 172.31.250.11\n')])
    assert run.failed
    assert run['msg'] == 'join-cluster failed (exit 1)'


def test_member_in_nodes_wrapper_output(run_module, config_file):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True,
                                                config_file=config_file('172.31.250.11')),
                     [call(['cluster-status', '--json'], out=fixture_text('cluster_status_nodes_wrapper.json'))])
    assert run['changed'] is False
    assert run['member']['is_leader'] is True


# ---- garbled output and bad input --------------------------------------------------------------------------------

def test_garbled_cluster_status_fails_and_creates_nothing(run_module, config_file):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True,
                                                config_file=config_file('172.31.250.11')),
                     [call(['cluster-status', '--json'], out=fixture_text('cluster_status_truncated.json'))])
    assert run.failed
    assert run['msg'].startswith('cannot read the cluster members: cluster-status --json did not print JSON')
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl', 'cluster-status', '--json']
    assert run['rc'] == 0


def test_garbled_cluster_status_after_join_fails_changed(run_module, config_file, secrets_file):
    run = run_module(chef_backend_cluster, join_args(config_file('172.31.250.12'), secrets_file), [
        ONE, call(join_argv(secrets_file)),
        call(['cluster-status', '--json'], out=fixture_text('cluster_status_scalar_nodes.json'))])
    assert run.failed
    assert run['changed'] is True


@pytest.mark.parametrize('args, message', [
    (dict(role='join', secrets_file='/etc/chef-backend/chef-backend-secrets.json'), 'missing: peer'),
    (dict(role='join', peer='172.31.250.11'), 'missing: secrets_file'),
    (dict(role='join', peer='be1.chefops.test', secrets_file=SECRETS), 'peer must be the IP address'),
    (dict(role='join', peer='172.31.250.11', secrets_file='chef-backend-secrets.json'),
     'secrets_file must be an absolute path'),
    (dict(role='bootstrap', recovery=True), 'recovery applies only to role=join'),
    (dict(role='bootstrap', publish_address='be1'), 'publish_address must be an IP address'),
    (dict(role='create'), 'value of role must be one of'),
])
def test_bad_input_fails_before_any_command(run_module, args, message):
    run = run_module(chef_backend_cluster, dict(args, accept_license=True), [])
    assert run.failed
    assert message in run['msg']
    assert run.commands == []


def test_publish_address_conflicting_with_config_fails(run_module, config_file):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True, publish_address='10.1.1.1',
                                                config_file=config_file('172.31.250.11')), [])
    assert run.failed
    assert 'differs from publish_address 172.31.250.11' in run['msg']


def test_missing_ctl_fails(run_module, config_file):
    def no_bin(self, arg, required=False, opt_dirs=None):
        self.fail_json(msg='Failed to find required executable "%s"' % arg)

    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True,
                                                config_file=config_file('172.31.250.11')), [], bin_path=no_bin)
    assert run.failed
    assert 'chef-backend-ctl' in run['msg']


def test_ctl_path_must_be_executable(run_module, config_file, tmp_path):
    run = run_module(chef_backend_cluster, dict(role='bootstrap', accept_license=True, ctl_path=str(tmp_path),
                                                config_file=config_file('172.31.250.11')), [])
    assert run.failed
    assert 'is not an executable file' in run['msg']


# ---- restore -----------------------------------------------------------------------------------------------------

def restore_args(config, tmp_path, **extra):
    archive = tmp_path / 'chef-backend-backup-2026-12-04-02-00-01.tgz'
    archive.write_bytes(b'\x1f\x8b')
    args = dict(role='restore', archive=str(archive), publish_address='172.31.250.11', accept_license=True,
                config_file=config, restore_marker=str(tmp_path / 'restore-pending'))
    args.update(extra)
    return args


def restore_argv(args):
    return ['restore', '--publish_address', '172.31.250.11', '--yes', args['archive']]


def test_restore_creates_the_cluster_from_the_archive_and_clears_its_record(run_module, config_file, tmp_path):
    args = restore_args(config_file('172.31.250.11'), tmp_path)

    def recorded():  # the record exists while the vendor's restore runs
        assert (tmp_path / 'restore-pending').exists()
    run = run_module(chef_backend_cluster, args, [
        NOT_CONFIGURED, call(restore_argv(args), out='Restore complete.\n', effect=recorded), ONE])
    assert run['changed'] is True and run['cleansed'] is False
    assert run['cmd'] == ['/usr/bin/chef-backend-ctl'] + restore_argv(args)
    assert run['member']['name'] == 'be1' and run['leader'] == run['member']
    assert not (tmp_path / 'restore-pending').exists()


def test_restore_on_a_member_without_a_record_runs_nothing(run_module, config_file, tmp_path):
    run = run_module(chef_backend_cluster, restore_args(config_file('172.31.250.11'), tmp_path), [ONE])
    assert run['changed'] is False and run['cmd'] == []


def test_restore_cut_short_is_cleansed_and_restored_again(run_module, config_file, tmp_path):
    args = restore_args(config_file('172.31.250.11'), tmp_path)
    (tmp_path / 'restore-pending').write_text('{"archive": "chef-backend-backup-2026-12-04-02-00-01.tgz"}')
    run = run_module(chef_backend_cluster, args, [
        ONE, call(['cleanse', 'yes'], out='Scrub completed.\n'), call(restore_argv(args), out='Restore complete.\n'),
        ONE])
    assert run['changed'] is True and run['cleansed'] is True
    assert not (tmp_path / 'restore-pending').exists()


def test_restore_failure_keeps_the_record_for_the_next_run(run_module, config_file, tmp_path):
    args = restore_args(config_file('172.31.250.11'), tmp_path)
    run = run_module(chef_backend_cluster, args, [
        NOT_CONFIGURED, call(restore_argv(args), rc=1, err='PostgreSQL did not start within 60 seconds\n')])
    assert run.failed and 'restore failed (exit 1)' in run['msg']
    assert (tmp_path / 'restore-pending').exists()


def test_restore_refuses_a_node_of_another_cluster(run_module, config_file, tmp_path):
    args = restore_args(config_file('172.31.250.14'), tmp_path, publish_address='172.31.250.14')
    run = run_module(chef_backend_cluster, args, [THREE])
    assert run.failed and 'restore creates a new cluster on a fresh or cleansed node' in run['msg']
    assert not (tmp_path / 'restore-pending').exists()


def test_restore_check_mode_predicts_and_runs_nothing(run_module, config_file, tmp_path):
    args = restore_args(config_file('172.31.250.11'), tmp_path)
    run = run_module(chef_backend_cluster, args, [NOT_CONFIGURED], check_mode=True)
    assert run['changed'] is True and run['cmd'][1] == 'restore'
    assert not (tmp_path / 'restore-pending').exists()


def test_restore_of_a_missing_archive_fails_before_running(run_module, config_file, tmp_path):
    args = restore_args(config_file('172.31.250.11'), tmp_path, archive=str(tmp_path / 'nothing.tgz'))
    run = run_module(chef_backend_cluster, args, [NOT_CONFIGURED])
    assert run.failed and 'does not exist on this node' in run['msg']
