"""The frontends site.yml built: shared secrets and migration level, /_status through haproxy, no repeat reconfigure."""
import json

import pytest

from conftest import BACKENDS, FRONTENDS, lab_host

SHARED = ("/etc/opscode/private-chef-secrets.json", "/var/opt/opscode/upgrades/migration-level")


@pytest.mark.parametrize("path", SHARED)
def test_frontends_hold_byte_identical_copies(path):
    digests = {name: lab_host(name).file(path).sha256sum for name in FRONTENDS}
    assert len(set(digests.values())) == 1, digests


def test_modes_and_owners_are_the_vendors():
    for name in FRONTENDS:
        host = lab_host(name)
        for path, mode in (("/etc/opscode/private-chef-secrets.json", 0o600), ("/etc/opscode/chef-server.rb", 0o640),
                           ("/var/opt/opscode/bootstrapped", 0o600),
                           ("/var/opt/opscode/upgrades/migration-level", 0o644)):
            f = host.file(path)
            assert f.exists, (name, path)
            assert (f.user, f.group, f.mode) == ("root", "root", mode), (name, path, oct(f.mode))


def test_migration_level_is_the_packages():
    level = json.loads(lab_host("fe1").file("/var/opt/opscode/upgrades/migration-level").content_string)
    assert set(level) == {"major", "minor"}


@pytest.mark.parametrize("name", sorted(FRONTENDS))
def test_chef_server_rb_lists_every_backend_for_this_frontend(name):
    config = lab_host(name).file("/etc/opscode/chef-server.rb").content_string
    assert 'fqdn "%s.chefops.test"' % name in config
    members = [line for line in config.splitlines() if line.startswith("chef_backend_members")][0]
    for ip in BACKENDS.values():
        assert '"%s"' % ip in members


@pytest.mark.parametrize("name", sorted(FRONTENDS))
def test_status_answers_through_each_frontend_with_postgresql_through_haproxy(name):
    # from the load balancer (the one source the frontends accept), over the network, to the HTTPS port
    answer = lab_host("lb").check_output("curl -sk https://%s/_status" % FRONTENDS[name])
    status = json.loads(answer)
    assert status["status"] == "pong"
    assert status["upstreams"]["chef_sql"] == "pong"
    haproxy = lab_host(name).check_output("ss -tlnp")
    assert ":5432" in haproxy and "haproxy" in haproxy


def test_each_frontend_reconfigured_once_across_converge_and_check(as_converged):
    for name in FRONTENDS:
        calls = [call for call in as_converged[name] if call["argv"][:1] == ["reconfigure"]]
        assert len(calls) == 1, (name, calls)
        assert calls[0]["rc"] == 0


def test_the_first_admin_user_and_organization_exist_once_with_private_keys(as_converged):
    for name in FRONTENDS:
        # users and orgs live in the cluster database: both frontends list them
        assert "chefadmin" in lab_host(name).check_output("chef-server-ctl user-list").split()
        assert "chefops" in lab_host(name).check_output("chef-server-ctl org-list").split()
    fe1 = lab_host("fe1")
    for path in ("/etc/opscode/chefadmin.pem", "/etc/opscode/chefops-validator.pem"):
        key = fe1.file(path)
        assert (key.user, key.group, key.mode) == ("root", "root", 0o600), path
        assert "PRIVATE KEY-----" in key.content_string
        assert fe1.run("openssl pkey -in %s -noout" % path).rc == 0
    creates = [call for name in FRONTENDS for call in as_converged[name]
               if call["argv"][:1] in (["user-create"], ["org-create"])]
    assert sorted(call["argv"][0] for call in creates) == ["org-create", "user-create"], creates
    assert all(call["rc"] == 0 for call in creates)
