"""The firewall over the address family the cluster does not use: the lab runs on IPv4, so site.yml closes the same
protected ports in ip6tables to every source. Shown with IPv6 addresses given to the lab's hosts for this module
(their docker network has none) and real TCP connections: Chef Waiter's 0.0.0.0 is a dual-stack socket, as Go makes
it, so without those rules the outsider would reach it over IPv6."""
import subprocess

import pytest

from conftest import BACKENDS, lab_host, probe

PREFIX = "fd42:ce0f::"
ADDRESSES = {"be1": PREFIX + "11", "fe1": PREFIX + "21", "node1": PREFIX + "31", "lb": PREFIX + "41",
             "outsider": PREFIX + "99"}
# disable_ipv6 of all, default and eth0: written in that order, read back the same way
SYSCTLS = ("all", "default", "eth0")


def in_netns(name, script):
    """A shell script in the network namespace of a lab container, run from this machine: the container's own
    /proc/sys is read-only, while /proc/sys/net, seen from its namespace, is its own."""
    pid = subprocess.check_output(["docker", "inspect", "-f", "{{.State.Pid}}", name], text=True).strip()
    return subprocess.run(["nsenter", "--net=/proc/%s/ns/net" % pid, "sh", "-c", script], capture_output=True,
                          text=True, timeout=30, check=False)


def disable_ipv6(name):
    return {key: in_netns(name, "cat /proc/sys/net/ipv6/conf/%s/disable_ipv6" % key).stdout.strip()
            for key in SYSCTLS}


def set_disable_ipv6(name, values):
    for key in SYSCTLS:
        result = in_netns(name, "echo %s > /proc/sys/net/ipv6/conf/%s/disable_ipv6" % (values[key], key))
        assert result.returncode == 0, (name, key, result.stderr)


@pytest.fixture(scope="module")
def ipv6():
    before = {name: disable_ipv6(name) for name in ADDRESSES}
    try:
        for name, address in ADDRESSES.items():
            set_disable_ipv6(name, dict.fromkeys(SYSCTLS, "0"))
            added = lab_host(name).run("ip -6 addr add %s/64 dev eth0 nodad" % address)
            assert added.rc == 0, (name, added.stderr)
        yield ADDRESSES
    finally:
        for name, address in ADDRESSES.items():
            lab_host(name).run("ip -6 addr del %s/64 dev eth0" % address)
            set_disable_ipv6(name, before[name])
        assert {name: disable_ipv6(name) for name in ADDRESSES} == before
        assert not any(PREFIX in lab_host(name).check_output("ip -6 addr") for name in ADDRESSES)


def chain6(name):
    return lab_host(name).check_output("ip6tables -w -S CHEFOPS-INPUT")


def test_every_host_closes_its_protected_ports_in_ip6tables_to_every_source():
    protected = {"be1": ["2379", "5432", "7331", "9200:9299", "2380", "9300:9400"], "fe1": ["80", "443"],
                 "node1": ["8901"]}
    for name, ports in protected.items():
        host = lab_host(name)
        assert host.check_output("ip6tables -w -S INPUT").splitlines()[1] == "-A INPUT -j CHEFOPS-INPUT", name
        rules = chain6(name)
        assert " -s " not in rules and "ACCEPT" not in rules, rules
        for port in ports:
            assert "-p tcp -m tcp --dport %s " % port in rules and "-j REJECT --reject-with tcp-reset" in rules, (
                name, port, rules)
        saved = host.file("/etc/chefops/firewall/CHEFOPS-INPUT.v6")
        assert (saved.user, saved.mode) == ("root", 0o600)
        assert [line for line in rules.splitlines() if line.startswith("-A ")] == [
            line for line in saved.content_string.splitlines() if line.startswith("-A ")], name
    # the load balancer's ports are open to "any": no rule closes them on IPv6 either
    assert "--dport 443 " not in chain6("lb")


def test_chef_waiter_listens_on_ipv6_and_the_outsider_is_refused_there(ipv6):
    # the agent answers on IPv6 (from the node itself, over loopback) ...
    assert probe("node1", ipv6["node1"], 8901) == "open"
    # ... and is reset for everyone else, the IPv4 ACL's allowed controller included
    assert probe("outsider", ipv6["node1"], 8901) == "refused"
    assert probe("lb", ipv6["node1"], 8901) == "refused"
    # while over IPv4 the rules stay as they were
    assert probe("outsider", "172.31.250.31", 8901) == "refused"


def test_no_backend_or_frontend_port_answers_over_ipv6(ipv6):
    for source in ("outsider", "node1", "fe1"):
        for port in (5432, 2379, 2380, 7331, 9200, 9300):
            assert probe(source, ipv6["be1"], port) == "refused", (source, port)
    for port in (80, 443):
        assert probe("outsider", ipv6["fe1"], port) == "refused", port
    # the cluster, on IPv4, is untouched
    assert probe("fe1", BACKENDS["be1"], 5432) == "open"
