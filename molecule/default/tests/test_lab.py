"""The lab itself: seven systemd hosts on the lab subnet, names resolving, the lab repository served."""
import pytest
import testinfra

LAB = {
    "be1": "172.31.250.11",
    "be2": "172.31.250.12",
    "be3": "172.31.250.13",
    "fe1": "172.31.250.21",
    "fe2": "172.31.250.22",
    "node1": "172.31.250.31",
    "outsider": "172.31.250.99",
}


def lab_host(name):
    return testinfra.get_host("docker://" + name)


@pytest.mark.parametrize("name", sorted(LAB))
def test_host_runs_systemd_as_pid_1(name):
    host = lab_host(name)
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


@pytest.mark.parametrize("name", sorted(LAB))
def test_host_has_its_lab_address(name):
    addresses = lab_host(name).check_output("ip -4 -o addr show dev eth0")
    assert " %s/24 " % LAB[name] in addresses


def test_fqdns_resolve_on_every_host():
    for name in LAB:
        host = lab_host(name)
        for peer, address in LAB.items():
            resolved = host.check_output("getent hosts %s.chefops.test" % peer).split()[0]
            assert resolved == address


def test_lab_hosts_reach_each_other_over_tcp():
    # outsider's repository web server answers a real TCP connection from every other host.
    for name in LAB:
        if name == "outsider":
            continue
        probe = lab_host(name).run(
            "python3 -c \"import socket; socket.create_connection(('172.31.250.99', 8080), 3).close()\""
        )
        assert probe.rc == 0, (name, probe.stderr)


def test_lab_repository_is_the_only_apt_source():
    host = lab_host("node1")
    sources = host.check_output("cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list")
    assert sources.strip() == "deb [trusted=yes] http://172.31.250.99:8080/apt ./"
    policy = host.check_output("apt-cache policy chef-backend")
    assert "172.31.250.99" in policy
