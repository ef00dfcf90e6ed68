"""Bad input stops site.yml in preflight, with a message naming host, variable and value, before anything changes."""
import re

import pytest
import yaml

from conftest import BACKENDS, FRONTENDS, lab_host, invocations, run_playbook

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def inventory(tmp_path, backends=("be1", "be2", "be3"), host_vars=None, group_vars=None):
    host_vars = host_vars or {}
    data = {"all": {
        "vars": {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"},
        "children": {
            "chef_backends": {"hosts": {name: host_vars.get(name) or None for name in backends},
                              "vars": group_vars or {}},
            "chef_frontends": {"hosts": {"fe1": None, "fe2": None}},
        },
    }}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def nothing_changes():
    """The backends' chef-backend-ctl logs and configs are the same after the run as before it."""
    def snapshot():
        state = {name: (len(invocations(name, "chef-backend-ctl")),
                        lab_host(name).file("/etc/chef-backend/chef-backend.rb").md5sum) for name in BACKENDS}
        state.update({name: (len(invocations(name, "chef-server-ctl")),
                             lab_host(name).file("/etc/opscode/chef-server.rb").md5sum,
                             lab_host(name).file("/etc/opscode/private-chef-secrets.json").md5sum)
                      for name in FRONTENDS})
        return state
    before = snapshot()
    yield
    assert snapshot() == before


def assert_preflight_failure(result, *fragments):
    assert result.returncode != 0
    output = result.stdout
    assert "Preflight" in output
    assert "Step 1" not in output, "the run went past preflight"
    for fragment in fragments:
        assert fragment in output, (fragment, output[-3000:])


def test_two_backends(tmp_path, nothing_changes):
    result = run_playbook("site.yml", inventory=inventory(tmp_path, backends=("be1", "be2")))
    assert_preflight_failure(result, "'chef_backends'", "has 2 host(s)", "needs exactly 3")


def test_four_backends(tmp_path, nothing_changes):
    result = run_playbook("site.yml", inventory=inventory(tmp_path, backends=("be1", "be2", "be3", "node1")))
    assert_preflight_failure(result, "has 4 host(s)", "needs exactly 3")


def test_address_not_on_the_host(tmp_path, nothing_changes):
    inv = inventory(tmp_path, host_vars={"be2": {"backend_publish_address": "172.31.250.200"}})
    result = run_playbook("site.yml", inventory=inv)
    assert_preflight_failure(result, "be2: backend_publish_address = '172.31.250.200' is not an address of this host")


def test_publish_address_that_is_not_an_ip(tmp_path, nothing_changes):
    inv = inventory(tmp_path, host_vars={"be3": {"backend_publish_address": "be3.chefops.test"}})
    result = run_playbook("site.yml", inventory=inv)
    assert_preflight_failure(result, "be3: backend_publish_address = 'be3.chefops.test' is not a valid IP address")


def test_duplicate_publish_address(tmp_path, nothing_changes):
    be2 = lab_host("be2")
    # be1's address also on be2's loopback, so only the duplicate is wrong
    be2.check_output("ip addr add %s/32 dev lo" % BACKENDS["be1"])
    try:
        inv = inventory(tmp_path, host_vars={"be2": {"backend_publish_address": BACKENDS["be1"]}})
        result = run_playbook("site.yml", inventory=inv)
    finally:
        be2.check_output("ip addr del %s/32 dev lo" % BACKENDS["be1"])
    assert_preflight_failure(result, "Two backends share a publish address", "be1=172.31.250.11",
                             "be2=172.31.250.11")


def test_invalid_cidr(tmp_path, nothing_changes):
    inv = inventory(tmp_path, group_vars={"backend_md5_auth_cidr_addresses": ["samehost", "samenet", "10.0.0.0/33"]})
    result = run_playbook("site.yml", inventory=inv)
    assert_preflight_failure(result, "backend_md5_auth_cidr_addresses has '10.0.0.0/33'")


def test_cidr_with_host_bits(tmp_path, nothing_changes):
    inv = inventory(tmp_path, group_vars={"backend_md5_auth_cidr_addresses": ["samehost", "samenet", "10.1.2.3/16"]})
    result = run_playbook("site.yml", inventory=inv)
    assert_preflight_failure(result, "backend_md5_auth_cidr_addresses has '10.1.2.3/16'", "host bits zero")


def test_cidr_lists_that_differ_between_backends(tmp_path, nothing_changes):
    inv = inventory(tmp_path, host_vars={
        "be3": {"backend_md5_auth_cidr_addresses": ["samehost", "samenet", "10.20.0.0/16"]}})
    result = run_playbook("site.yml", inventory=inv)
    assert_preflight_failure(result, "backend_md5_auth_cidr_addresses differs between backends",
                             "be3=['samehost', 'samenet', '10.20.0.0/16']")


def test_clock_drift_of_three_seconds(nothing_changes):
    be2 = lab_host("be2")
    # every new process on be2 sees a clock 3 s ahead
    be2.check_output("echo +3s > /etc/faketimerc && echo %s > /etc/ld.so.preload" % FAKETIME_LIB)
    try:
        assert float(be2.check_output("date +%s.%N")) - float(lab_host("be1").check_output("date +%s.%N")) > 2.5
        result = run_playbook("site.yml")
    finally:
        be2.run("rm -f /etc/ld.so.preload /etc/faketimerc")
    assert_preflight_failure(result, "Clock drift across the backends is", "preflight_max_clock_drift = 1.5",
                             "be2=")
    drift = float(re.search(r"Clock drift across the backends is ([0-9.]+) s", result.stdout).group(1))
    assert 2.5 < drift < 3.5


def test_frontend_license_not_accepted(nothing_changes):
    result = run_playbook("site.yml", "-e", "frontend_accept_license=false")
    assert_preflight_failure(result, "fe1: frontend_accept_license is false", "set frontend_accept_license to true")


def test_empty_frontend_fqdn(nothing_changes):
    result = run_playbook("site.yml", "-e", "frontend_fqdn=")
    assert_preflight_failure(result, "fe1: frontend_fqdn = '' is not a fully qualified domain name")


def test_invalid_frontend_fqdn(nothing_changes):
    result = run_playbook("site.yml", "-e", "frontend_fqdn=chef_server!.example")
    assert_preflight_failure(result, "frontend_fqdn = 'chef_server!.example' is not a fully qualified domain name")


def test_two_frontends_with_one_fqdn(nothing_changes):
    result = run_playbook("site.yml", "-e", "frontend_fqdn=chef.chefops.test")
    assert_preflight_failure(result, "Two frontends share an FQDN", "fe1=chef.chefops.test", "fe2=chef.chefops.test")


def test_frontend_holding_different_secrets_is_not_overwritten():
    fe2 = lab_host("fe2")
    path = "/etc/opscode/private-chef-secrets.json"
    original = fe2.file(path).content_string
    reconfigures = len([c for c in invocations("fe2", "chef-server-ctl") if c["argv"][:1] == ["reconfigure"]])
    fe2.check_output("cp -p %s /root/secrets.orig && "
                     "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d[\"postgresql\"]={\"db_superuser_password\": \"other\"}; "
                     "json.dump(d, open(sys.argv[1], \"w\"))' %s" % (path, path))
    changed = fe2.file(path).sha256sum
    try:
        result = run_playbook("site.yml")
        output = result.stdout
        assert result.returncode != 0
        assert "fe2 already holds a /etc/opscode/private-chef-secrets.json that differs from the one on fe1" in output
        assert "frontend_replace_differing_secrets" in output
        # the frontend's own secrets were left as they were, and it was not reconfigured
        assert fe2.file(path).sha256sum == changed
        assert len([c for c in invocations("fe2", "chef-server-ctl")
                    if c["argv"][:1] == ["reconfigure"]]) == reconfigures
    finally:
        fe2.check_output("cp -p /root/secrets.orig %s && rm -f /root/secrets.orig" % path)
    assert fe2.file(path).content_string == original
