"""The backend cluster site.yml built: checked on the hosts, not through Ansible's own results."""
import collections
import json
import os

import pytest

from conftest import BACKENDS, ROOT, lab_host, leaf_strings, subcommand_calls


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


def test_bootstrap_created_once_and_followers_joined_once_without_reconfigure():
    # converge, idempotence and check mode have all run by now
    assert len(subcommand_calls("be1", "chef-backend-ctl", "create-cluster")) == 1
    assert subcommand_calls("be1", "chef-backend-ctl", "join-cluster") == []
    for name in ("be2", "be3"):
        joins = subcommand_calls(name, "chef-backend-ctl", "join-cluster")
        assert len(joins) == 1
        assert joins[0]["rc"] == 0
        assert "-s" in joins[0]["argv"]
        secrets_path = joins[0]["argv"][joins[0]["argv"].index("-s") + 1]
        assert secrets_path.startswith("/")
        assert subcommand_calls(name, "chef-backend-ctl", "create-cluster") == []
    for name in BACKENDS:
        assert subcommand_calls(name, "chef-backend-ctl", "reconfigure") == []
