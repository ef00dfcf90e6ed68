"""A frontend on a second subnet, reached through a router: refused by the backends' PostgreSQL until its CIDR is in
md5_auth_cidr_addresses, then admitted by playbooks/backend_network.yml (followers first, the leader last)."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
import labtest  # noqa: E402
from labtest import ROOT, subcommand_calls  # noqa: E402
from labtest import lab_host as host  # noqa: E402

BACKENDS = {"ob1": "172.31.251.11", "ob2": "172.31.251.12", "ob3": "172.31.251.13"}
FRONTEND = "172.31.252.21"
CIDRS = '{"backend_md5_auth_cidr_addresses": ["samehost", "samenet", "172.31.252.0/24"]}'
# This lab's inventory names its groups differently from the collection's defaults; the names are set once, in
# groups.yml, passed as extra variables (the only variables the playbooks' host patterns read).
INVENTORY = os.path.join(ROOT, "lab", "othernet", "inventory.yml")
GROUPS = os.path.join(ROOT, "lab", "othernet", "groups.yml")
# The secrets this lab holds: no playbook run may show them (labtest.run_playbook).
labtest.SECRET_FILES.update({
    "ob1": ["/etc/chef-backend/chef-backend-secrets.json"],
    "ofe1": ["/etc/opscode/private-chef-secrets.json", "/etc/opscode/pivotal.pem", "/etc/opscode/webui_priv.pem"],
})


def run_playbook(playbook, *args):
    return labtest.run_playbook(playbook, *args, inventory=INVENTORY, extra_vars_file=GROUPS)


def recap(output):
    return {match.group(1): (int(match.group(2)), int(match.group(3))) for match in re.finditer(
        r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", output, re.M)}


def test_the_frontend_is_on_another_subnet_and_routed():
    assert FRONTEND in host("ofe1").check_output("ip -4 -o addr show")
    assert "default via 172.31.252.254" in host("ofe1").check_output("ip route")
    assert "default" not in host("router").check_output("ip route")
    # the backends' samenet does not cover it
    assert "172.31.252." not in host("ob1").check_output("ip -4 -o addr show")


def test_without_its_cidr_the_frontend_is_refused_and_the_message_names_the_cidr():
    result = run_playbook("site.yml")
    output = result.stdout.replace('\\"', '"')  # the failure is printed as JSON
    assert result.returncode != 0
    assert ("ofe1: chef-server-ctl reconfigure failed because the backends' PostgreSQL refuses connections from "
            "172.31.252.21 (no pg_hba.conf entry)") in output, output[-4000:]
    assert "Add 172.31.252.0/24 to backend_md5_auth_cidr_addresses" in output
    # the refusal is PostgreSQL's own, seen by the frontend's reconfigure
    assert 'PostgreSQL said: no pg_hba.conf entry for host "172.31.252.21"' in output
    # the backends got as far as a healthy cluster
    status = host("ob1").check_output("chef-backend-ctl status")
    assert "healthy nodes: 3/3" in status
    # the firewall let the frontend through: the refusal is PostgreSQL's, not a reset
    probe = host("ofe1").run("python3 -c \"import socket; socket.create_connection(('%s', 5432), 3)\"" % BACKENDS["ob1"])
    assert probe.rc == 0, probe.stderr


def test_backend_network_adds_the_cidr_followers_first_and_the_leader_last():
    before = {name: len(subcommand_calls(name, "chef-backend-ctl", "reconfigure")) for name in BACKENDS}
    nodes = json.loads(host("ob1").check_output("chef-backend-ctl cluster-status --json"))["nodes"]
    leader_ip = [node["ip"] for node in nodes if node["role"] == "leader"][0]
    leader = [name for name, ip in BACKENDS.items() if ip == leader_ip][0]

    result = run_playbook("backend_network.yml", "-e", CIDRS)
    assert result.returncode == 0, result.stdout[-4000:]
    for name in BACKENDS:
        assert "172.31.252.0/24" in host(name).file("/etc/chef-backend/chef-backend.rb").content_string
        hba = host(name).check_output("cat /var/opt/chef-backend/postgresql/15/data/pg_hba.conf")
        assert "172.31.252.0/24" in hba, name
    new = {name: subcommand_calls(name, "chef-backend-ctl", "reconfigure")[before[name]:] for name in BACKENDS}
    assert all(len(entries) == 1 and entries[0]["rc"] == 0 for entries in new.values()), new
    followers = [name for name in BACKENDS if name != leader]
    assert max(new[name][0]["time"] for name in followers) < new[leader][0]["time"]
    # one at a time: the second follower started after the first had finished its health gate
    assert "healthy nodes: 3/3" in host("ob1").check_output("chef-backend-ctl status")


def test_then_the_frontend_converges_and_answers():
    result = run_playbook("site.yml", "-e", CIDRS)
    assert result.returncode == 0, result.stdout[-4000:]
    status = json.loads(host("router").check_output("curl -sk https://%s/_status" % FRONTEND))
    assert status["status"] == "pong"
    assert status["upstreams"]["chef_sql"] == "pong"


def test_a_further_run_changes_nothing():
    result = run_playbook("site.yml", "-e", CIDRS)
    assert result.returncode == 0, result.stdout[-4000:]
    counts = recap(result.stdout)
    # localhost: the status report that ends site.yml
    assert set(counts) == set(BACKENDS) | {"ofe1", "localhost"}
    assert all(changed == 0 and failed == 0 for changed, failed in counts.values()), counts
