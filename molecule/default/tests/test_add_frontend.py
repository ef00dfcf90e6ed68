"""add_frontend.yml: a frontend newly put in the group converges; the existing frontend is not changed."""
import json
import re

from conftest import Watch, haproxy_servers, lab_host, run_playbook, subcommand_calls

WATCHED = ("/etc/opscode/chef-server.rb", "/etc/opscode/private-chef-secrets.json",
           "/var/opt/opscode/upgrades/migration-level", "/var/opt/opscode/bootstrapped")


def recap(output, host):
    match = re.search(r"^%s\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)" % host, output, re.M)
    assert match, output[-2000:]
    return int(match.group(1)), int(match.group(2))


def test_adding_a_frontend_changes_only_the_new_host():
    fe1, fe2 = lab_host("fe1"), lab_host("fe2")
    # fe2 becomes a new, empty host
    fe2.check_output("chef-server-ctl stop; dpkg --purge chef-server-core && rm -rf /etc/opscode /var/opt/opscode")
    assert not fe2.file("/etc/opscode/private-chef-secrets.json").exists
    fe1_files = {path: fe1.file(path).sha256sum for path in WATCHED}
    fe1_reconfigures = len(subcommand_calls("fe1", "chef-server-ctl", "reconfigure"))
    # fe1's build: the lab's pin, or the one an upgrade test moved it to
    build = fe1.check_output("dpkg-query -W -f='${Version}' chef-server-core")

    # another build than fe1's is refused before anything changes: the new host gets nothing
    refused = run_playbook("add_frontend.yml", "-e", "frontend_package_version=15.0.0-1")
    assert refused.returncode != 0
    assert ("fe2 is a new frontend and frontend_package_version = '15.0.0-1', but the frontends already set up run "
            "chef-server-core %s (fe1): set frontend_package_version to %s" % (build, build)) \
        in " ".join(refused.stdout.split()), refused.stdout[-3000:]
    assert fe2.run("dpkg-query -W chef-server-core").rc != 0
    assert not fe2.file("/etc/opscode").exists

    watch = Watch()
    watch.start()
    try:
        result = run_playbook("add_frontend.yml", "-e", "frontend_package_version=" + build)
    finally:
        watch.done.set()
        watch.join()
    assert result.returncode == 0, result.stdout[-4000:]
    # the new frontend was held out of the load balancer's rotation until it answered, then put back
    assert "MAINT" in [sample["fe2"] for sample in watch.samples], watch.samples
    assert haproxy_servers() == {"fe1": "UP", "fe2": "UP"}
    assert set(watch.codes) == {"200"}, watch.codes
    assert recap(result.stdout, "fe1") == (0, 0)
    changed, failed = recap(result.stdout, "fe2")
    assert failed == 0 and changed > 0

    assert {path: fe1.file(path).sha256sum for path in WATCHED} == fe1_files
    assert len(subcommand_calls("fe1", "chef-server-ctl", "reconfigure")) == fe1_reconfigures
    for path in WATCHED[1:3]:
        assert fe2.file(path).sha256sum == fe1_files[path]
    status = json.loads(lab_host("lb").check_output("curl -sk https://172.31.250.22/_status"))
    assert status["status"] == "pong"
