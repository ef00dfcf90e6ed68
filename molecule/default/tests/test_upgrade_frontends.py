"""upgrade_frontends.yml: one frontend first, its migration level carried to the others, then the others."""
import json

from conftest import FRONTENDS, Watch, haproxy_servers, lab_host, run_playbook, subcommand_calls


def version(name):
    return lab_host(name).check_output("chef-server-ctl version").strip()


def level(name):
    return lab_host(name).file("/var/opt/opscode/upgrades/migration-level").content_string


def test_an_older_version_is_refused_before_anything_changes():
    before = {name: (version(name), level(name)) for name in FRONTENDS}
    servers = haproxy_servers()
    calls = {name: [len(subcommand_calls(name, "chef-server-ctl", sub)) for sub in ("stop", "upgrade")]
             for name in FRONTENDS}
    result = run_playbook("upgrade_frontends.yml", "-e", "chef_ha_upgrade_version=15.9.3")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "version 15.9.3 is older than the installed %s: Chef Infra Server cannot be downgraded" \
        % before["fe1"][0] in out, result.stdout[-3000:]
    assert "Nothing was changed" in out
    assert {name: (version(name), level(name)) for name in FRONTENDS} == before
    assert {name: [len(subcommand_calls(name, "chef-server-ctl", sub)) for sub in ("stop", "upgrade")]
            for name in FRONTENDS} == calls
    assert haproxy_servers() == servers  # nobody was drained


def test_a_failed_first_upgrade_stops_the_run_and_says_so():
    before = {name: (version(name), level(name)) for name in FRONTENDS}
    assert before["fe1"][0] == "15.9.20"
    result = run_playbook("upgrade_frontends.yml", "-e", "chef_ha_upgrade_version=15.10.12",
                          "-e", "chef_ha_upgrade_package=chef-server-core=99.9.9-1")
    assert result.returncode != 0
    assert "services are stopped" in result.stdout
    # nothing reached the other frontend
    assert (version("fe2"), level("fe2")) == before["fe2"]
    assert subcommand_calls("fe2", "chef-server-ctl", "upgrade") == []
    # the broken frontend stays out of the load balancer's rotation; the other one serves
    assert haproxy_servers() == {"fe1": "MAINT", "fe2": "UP"}


def test_upgrade_moves_every_frontend_to_the_new_build_with_one_migration_level():
    watch = Watch()
    watch.start()
    try:
        result = run_playbook("upgrade_frontends.yml", "-e", "chef_ha_upgrade_version=15.10.12")
    finally:
        watch.done.set()
        watch.join()
    assert result.returncode == 0, result.stdout[-4000:]
    for name in FRONTENDS:
        assert version(name) == "15.10.12"
    assert level("fe1") == level("fe2")
    assert json.loads(level("fe1")) == {"major": 1, "minor": 42}
    first = subcommand_calls("fe1", "chef-server-ctl", "upgrade")[-1]
    second = subcommand_calls("fe2", "chef-server-ctl", "upgrade")[-1]
    assert first["rc"] == 0 and second["rc"] == 0
    assert first["time"] < second["time"]
    # each frontend was taken out of the load balancer while it upgraded, never both at once, and both are back
    out = [{name for name, state in sample.items() if state != "UP"} for sample in watch.samples]
    assert any(names == {"fe1"} for names in out) and any(names == {"fe2"} for names in out), watch.samples
    assert all(len(names) < 2 for names in out), watch.samples
    assert haproxy_servers() == {"fe1": "UP", "fe2": "UP"}
    # and the Chef API answered through it all the while
    assert set(watch.codes) == {"200"}, watch.codes
    for address in FRONTENDS.values():
        status = json.loads(lab_host("lb").check_output("curl -sk https://%s/_status" % address))
        assert status["status"] == "pong"
    # a second run finds the version in place and upgrades nothing
    upgrades = {name: len(subcommand_calls(name, "chef-server-ctl", "upgrade")) for name in FRONTENDS}
    again = run_playbook("upgrade_frontends.yml", "-e", "chef_ha_upgrade_version=15.10.12")
    assert again.returncode == 0, again.stdout[-3000:]
    assert {name: len(subcommand_calls(name, "chef-server-ctl", "upgrade")) for name in FRONTENDS} == upgrades


def test_site_after_the_upgrade_neither_downgrades_nor_reconfigures():
    # the lab still pins 15.9.20-1: site.yml leaves the newer build and says so
    reconfigures = {name: len(subcommand_calls(name, "chef-server-ctl", "reconfigure")) for name in FRONTENDS}
    result = run_playbook("site.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    for name in FRONTENDS:
        assert version(name) == "15.10.12"
        assert "%s: chef-server-core 15.10.12-1 is installed, newer than the 15.9.20-1 asked for" % name in result.stdout
    assert {name: len(subcommand_calls(name, "chef-server-ctl", "reconfigure")) for name in FRONTENDS} == reconfigures
