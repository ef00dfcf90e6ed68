"""The backend cluster site.yml built: checked on the hosts, not through Ansible's own results."""
import collections
import json

import pytest

from conftest import BACKENDS, invocations, lab_host, subcommand_calls


def etcd_members():
    out = lab_host("be1").check_output(
        "ETCDCTL_API=3 etcdctl --endpoints http://%s:2379 member list -w json" % BACKENDS["be1"])
    return json.loads(out)["members"]


def test_etcd_has_the_three_backends_as_members():
    members = etcd_members()
    assert len(members) == 3
    peers = sorted(url for member in members for url in member["peerURLs"])
    assert peers == sorted("http://%s:2380" % ip for ip in BACKENDS.values())


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_sees_one_leader_and_two_followers(name):
    nodes = json.loads(lab_host(name).check_output("chef-backend-ctl cluster-status --json"))["nodes"]
    assert sorted(node["ip"] for node in nodes) == sorted(BACKENDS.values())
    assert collections.Counter(node["role"] for node in nodes) == {"leader": 1, "follower": 2}


def leader_ip():
    nodes = json.loads(lab_host("be1").check_output("chef-backend-ctl cluster-status --json"))["nodes"]
    return [node["ip"] for node in nodes if node["role"] == "leader"][0]


def test_postgresql_superuser_password_from_the_secrets_logs_in_from_a_frontend(backend_secrets):
    password = backend_secrets["postgresql"]["db_superuser_password"]
    query = "psql -h %s -U chef_pgsql -d postgres -tAc 'select count(*) from pg_stat_replication'" % leader_ip()
    result = lab_host("fe1").run("PGPASSWORD='%s' %s" % (password, query))
    assert result.rc == 0, result.stderr
    # both followers stream from the leader
    assert result.stdout.strip() == "2"
    wrong = lab_host("fe1").run("PGPASSWORD='not-the-password' %s" % query)
    assert wrong.rc != 0
    assert "password authentication failed" in wrong.stderr


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_secrets_file_is_shared_with_the_vendor_owner_and_mode(name, backend_secrets):
    secrets = lab_host(name).file("/etc/chef-backend/chef-backend-secrets.json")
    assert secrets.user == "root"
    assert secrets.group == "chef_pgsql"
    assert secrets.mode == 0o640
    assert json.loads(secrets.content_string) == backend_secrets


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_no_copy_of_the_secrets_is_left_behind(name):
    host = lab_host(name)
    assert not host.file("/root/chef-backend-secrets.join.json").exists
    stray = host.run("find / -xdev -name '*secrets*.json' -not -path '/proc/*' 2>/dev/null").stdout.split()
    assert stray == ["/etc/chef-backend/chef-backend-secrets.json"]


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_chef_backend_rb_carries_this_hosts_address_and_the_shared_cidrs(name):
    config = lab_host(name).file("/etc/chef-backend/chef-backend.rb")
    assert config.mode == 0o644
    assert "publish_address '%s'" % BACKENDS[name] in config.content_string
    assert 'postgresql.md5_auth_cidr_addresses = ["samehost", "samenet"]' in config.content_string
    assert "vip '%s'" % BACKENDS[name] in config.content_string


def test_each_backend_made_a_member_once_and_joins_one_at_a_time_without_reconfigure():
    # Converge and check mode have both run by now, and maybe other tests that rebuild a backend (its
    # invocation log starts again), cleanse and rejoin one, or restore the cluster: whatever ran, since its last
    # cleanse each host became a member by exactly one call, the creation (create-cluster, or restore from a
    # backup) on at most one host and a join elsewhere.
    made = {}
    for name in BACKENDS:
        calls = invocations(name, "chef-backend-ctl")
        cleanses = [index for index, call in enumerate(calls) if call["argv"][:1] == ["cleanse"]]
        made[name] = [call for call in calls[cleanses[-1] + 1 if cleanses else 0:]
                      if call["argv"][:1] in (["create-cluster"], ["restore"], ["join-cluster"]) and call["rc"] == 0]
        assert len(made[name]) == 1, (name, made[name])
        if made[name][0]["argv"][0] == "join-cluster":
            argv = made[name][0]["argv"]
            assert "-s" in argv and argv[argv.index("-s") + 1].startswith("/"), argv
    assert len([name for name in BACKENDS if made[name][0]["argv"][0] != "join-cluster"]) <= 1, made
    for name in BACKENDS:
        assert subcommand_calls(name, "chef-backend-ctl", "reconfigure") == []
