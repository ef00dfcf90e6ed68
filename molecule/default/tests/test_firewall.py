"""The firewall role: per-service ACLs shown with real TCP connections between the lab's hosts."""
import json
import subprocess
import time

import pytest

from conftest import BACKENDS, FRONTENDS, LB, lab_host, probe, run_playbook

NODE = "172.31.250.31"
def chain(name):
    return lab_host(name).check_output("iptables -w -S CHEFOPS-INPUT")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_the_outsider_reaches_no_backend_port(backend):
    for port in (5432, 2379, 2380, 7331, 9200, 9300):
        assert probe("outsider", BACKENDS[backend], port) == "refused", (backend, port)


def test_the_outsider_cannot_reach_chef_waiter():
    assert probe("outsider", NODE, 8901) == "refused"


@pytest.mark.parametrize("frontend", sorted(FRONTENDS))
def test_frontends_reach_the_backend_client_ports_only(frontend):
    for address in BACKENDS.values():
        for port in (5432, 2379, 7331, 9200):
            assert probe(frontend, address, port) == "open", (frontend, address, port)
        for port in (2380, 9300):
            assert probe(frontend, address, port) == "refused", (frontend, address, port)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_backends_reach_their_peers_ports(backend):
    for peer, address in BACKENDS.items():
        if peer != backend:
            for port in (2380, 9300, 5432, 2379):
                assert probe(backend, address, port) == "open", (backend, peer, port)


def test_frontends_answer_only_the_load_balancer_on_80_and_443():
    for port in (80, 443):
        assert probe("outsider", LB, port) == "open"
        for address in FRONTENDS.values():
            assert probe("outsider", address, port) == "refused", (address, port)
            assert probe("node1", address, port) == "refused", (address, port)
            assert probe("lb", address, port) == "open", (address, port)


def test_the_chain_is_jumped_to_first_and_persisted():
    for name in list(BACKENDS) + list(FRONTENDS) + ["node1", "lb"]:
        host = lab_host(name)
        assert host.check_output("iptables -w -S INPUT").splitlines()[1] == "-A INPUT -j CHEFOPS-INPUT", name
        saved = host.file("/etc/chefops/firewall/CHEFOPS-INPUT.v4")
        assert (saved.user, saved.mode) == ("root", 0o600)
        assert host.service("chefops-firewall").is_enabled
        live = [line for line in chain(name).splitlines() if line.startswith("-A ")]
        assert live == [line for line in saved.content_string.splitlines() if line.startswith("-A ")], name


def test_check_mode_shows_a_missing_rule_and_a_run_puts_it_back_leaving_other_rules_alone():
    be2 = lab_host("be2")
    rules = chain("be2").splitlines()
    removed = [line for line in rules if "172.31.250.21/32" in line and "--dport 5432" in line][0]
    be2.check_output("iptables -w %s" % removed.replace("-A ", "-D ", 1))
    be2.check_output("iptables -w -A INPUT -p tcp -m tcp --dport 12345 -j ACCEPT")
    try:
        assert probe("fe1", BACKENDS["be2"], 5432) == "refused"
        check = run_playbook("firewall.yml", "--check", "--diff", "--limit", "be1,be2,be3,fe1,fe2")
        assert check.returncode == 0, check.stdout[-3000:]
        assert "+" + removed in check.stdout or "+ " + removed in check.stdout or removed in check.stdout
        assert removed not in chain("be2")
        applied = run_playbook("firewall.yml", "--limit", "be1,be2,be3,fe1,fe2")
        assert applied.returncode == 0, applied.stdout[-3000:]
        assert removed in chain("be2")
        assert probe("fe1", BACKENDS["be2"], 5432) == "open"
        assert "-A INPUT -p tcp -m tcp --dport 12345 -j ACCEPT" in be2.check_output("iptables -w -S INPUT")
    finally:
        be2.run("iptables -w -D INPUT -p tcp -m tcp --dport 12345 -j ACCEPT")


def wait_healthy(timeout=240):
    deadline = time.time() + timeout
    status = ""
    while time.time() < deadline:
        result = lab_host("be1").run("chef-backend-ctl cluster-status --json")
        if result.rc == 0:
            nodes = json.loads(result.stdout)["nodes"]
            status = lab_host("be1").run("chef-backend-ctl status").stdout
            if sorted(n["role"] for n in nodes) == ["follower", "follower", "leader"] and "healthy nodes: 3/3" in status:
                return
        time.sleep(3)
    raise AssertionError("cluster not healthy after a restart: %s" % status)


def test_a_restarted_backend_has_its_rules_back_and_the_cluster_heals():
    before = chain("be3")
    before6 = lab_host("be3").check_output("ip6tables -w -S CHEFOPS-INPUT")
    subprocess.run(["docker", "restart", "be3"], check=True, capture_output=True, timeout=120)
    deadline = time.time() + 60
    # the boot-time unit has run (the chain is read only after it finished)
    while time.time() < deadline and lab_host("be3").run("systemctl is-active chefops-firewall.service").rc != 0:
        time.sleep(1)
    assert lab_host("be3").run("systemctl is-active chefops-firewall.service").rc == 0
    assert chain("be3") == before
    assert lab_host("be3").check_output("ip6tables -w -S CHEFOPS-INPUT") == before6
    assert lab_host("be3").check_output("ip6tables -w -S INPUT").splitlines()[1] == "-A INPUT -j CHEFOPS-INPUT"
    assert lab_host("be3").check_output("iptables -w -S INPUT").splitlines()[1] == "-A INPUT -j CHEFOPS-INPUT"
    assert probe("outsider", BACKENDS["be3"], 5432) == "refused"
    wait_healthy()
    assert probe("fe1", BACKENDS["be3"], 5432) == "open"


@pytest.mark.parametrize("extra, message", [
    (["-e", '{"firewall_backend_extra_sources": ["10.0.0.0/33"]}'], "'10.0.0.0/33' in the firewall source lists"),
    (["-e", '{"firewall_backend_peer_ports": ["2380", "9400:9300"]}'],
     "firewall port '9400:9300' is a range the wrong way round: write 9300:9400"),
    (["-e", '{"firewall_chef_waiter_sources": []}'], "node1 runs Chef Waiter"),
])
def test_bad_firewall_input_fails_before_any_rule_is_touched(extra, message):
    names = list(BACKENDS) + list(FRONTENDS) + ["node1"]
    before = {name: chain(name) for name in names}
    saved = {name: lab_host(name).file("/etc/chefops/firewall/CHEFOPS-INPUT.v4").sha256sum for name in names}
    result = run_playbook("firewall.yml", *extra)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]
    assert {name: chain(name) for name in names} == before
    assert {name: lab_host(name).file("/etc/chefops/firewall/CHEFOPS-INPUT.v4").sha256sum for name in names} == saved
