"""status.yml: the report matches what the hosts say, and an unhealthy frontend fails the run and is named."""
import json

from conftest import BACKENDS, FRONTENDS, lab_host, run_playbook, wait_for_state


def agent(path):
    """An answer of node1's Chef Waiter, asked on the node itself."""
    return json.loads(lab_host("node1").check_output("curl -s http://127.0.0.1:8901%s" % path))


def test_the_report_matches_the_hosts(tmp_path):
    result = run_playbook("status.yml", "-e", "chef_ha_report_dir=%s" % tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    report = json.loads((tmp_path / "chef-ha-status.json").read_text())
    assert report["healthy"] is True and report["problems"] == []
    # the leader is the member whose leaderl answers /leader with 200
    leader = [name for name, address in BACKENDS.items()
              if lab_host(name).run("curl -s -o /dev/null -w '%%{http_code}' http://%s:7331/leader" % address).stdout
              == "200"]
    assert report["cluster"]["leader"]["ip"] == BACKENDS[leader[0]]
    assert sorted(member["ip"] for member in report["cluster"]["members"]) == sorted(BACKENDS.values())
    for entry in report["frontends"]:
        assert entry["version"] == lab_host(entry["host"]).check_output("chef-server-ctl version").strip()
        level = json.loads(lab_host(entry["host"]).file("/var/opt/opscode/upgrades/migration-level").content_string)
        assert entry["migration_level"] == level and entry["status"] == "pong"
    assert [entry["host"] for entry in report["load_balancers"]] == ["lb"]
    node = report["nodes"][0]
    assert node["version"] == agent("/status")["version"]
    assert node["last_run"]["guid"] == agent("/chef/lastrun")["last_run_guid"]
    assert node["locked"] == agent("/chef/lock")["Locked"]
    assert "Healthy" in result.stdout


def test_an_unhealthy_frontend_fails_the_run_and_is_named(tmp_path):
    lab_host("fe2").check_output("systemctl stop chef-server-haproxy")
    try:
        result = run_playbook("status.yml", "-e", "chef_ha_report_dir=%s" % tmp_path)
    finally:
        lab_host("fe2").check_output("systemctl start chef-server-haproxy")
        # put back as found: the load balancer has fe2 in rotation again before the next test
        wait_for_state("fe2", "UP", 60)
    assert result.returncode != 0
    report = json.loads((tmp_path / "chef-ha-status.json").read_text())
    assert report["healthy"] is False
    assert [problem for problem in report["problems"] if problem.startswith("fe2: /_status answers fail (HTTP 500)")]
    assert not [problem for problem in report["problems"] if problem.startswith("fe1")]
    assert "The cluster is not healthy: fe2: /_status answers fail" in result.stdout
    assert set(FRONTENDS) == {entry["host"] for entry in report["frontends"]}
