"""Chef Waiter on node1: installed from the lab's release URL, secured, and driving chef-client on demand."""
import http.client
import json
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import labtest
from conftest import lab_host, run_playbook

NODE = "172.31.250.31"
AGENT = "http://%s:8901" % NODE


def agent(path, body=None):
    request = urllib.request.Request(AGENT + path, data=body.encode() if body is not None else None,
                                     method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_release_is_installed_and_its_version_reported():
    node = lab_host("node1")
    binary = node.file("/usr/local/bin/chef-waiter")
    assert (binary.user, binary.group, binary.mode) == ("root", "root", 0o755)
    assert node.check_output("/usr/local/bin/chef-waiter -v").strip() == "1.4.3"


def test_config_has_every_key_and_whitelisting_on():
    config = json.loads(lab_host("node1").file("/etc/chefwaiter/config.json").content_string)
    for key in ("state_table_size", "periodic_chef_runs", "run_interval", "debug", "logs_location", "state_location",
                "listen_address", "listen_port", "enable_tls", "certificate_path", "key_path", "metrics_enabled",
                "metrics_host", "metrics_default_tags", "whitelist_custom_runs", "allowed_custom_runs"):
        assert key in config
    assert config["whitelist_custom_runs"] is True
    assert config["allowed_custom_runs"] == ["recipe[app::deploy]", "recipe[app::smoke]"]


def test_the_unit_runs_and_the_plain_chef_client_units_are_off():
    node = lab_host("node1")
    assert node.service("chefwaiter").is_running
    assert node.service("chefwaiter").is_enabled
    assert "CHEFWAITER_CONFIG=/etc/chefwaiter/config.json" in node.file(
        "/etc/systemd/system/chefwaiter.service").content_string
    for unit in ("chef-client.service", "chef-client.timer"):
        assert node.run("systemctl is-enabled %s" % unit).stdout.strip() in ("disabled", "masked")
        assert node.run("systemctl is-active %s" % unit).stdout.strip() != "active"


def test_a_configuration_written_by_a_killed_run_is_applied_by_the_next(tmp_path):
    # A run killed right after it wrote config.json, before its handler restarted the agent: the file already holds
    # what the inventory asks for (here: the same bytes, written again after the agent started). The next run finds
    # nothing to write, so no handler is notified; the agent is restarted all the same, because it started before
    # its configuration was last written.
    node = lab_host("node1")
    before = node.check_output("systemctl show -p InvocationID --value chefwaiter.service")
    time.sleep(1.1)  # the file's time stamp is in whole seconds
    node.check_output("touch /etc/chefwaiter/config.json")
    result = run_playbook("site.yml", "--limit", "node1")
    assert result.returncode == 0, result.stdout[-3000:]
    after = node.check_output("systemctl show -p InvocationID --value chefwaiter.service")
    assert after != before
    assert re.search(r"Restart the agent, which started before the last change of \| /etc/chefwaiter/config\.json",
                     result.stdout), result.stdout[-3000:]
    # and a run after that restarts nothing
    again = run_playbook("site.yml", "--limit", "node1")
    assert again.returncode == 0, again.stdout[-3000:]
    assert node.check_output("systemctl show -p InvocationID --value chefwaiter.service") == after


def test_healthcheck_answers_over_the_network():
    assert agent("/healthcheck") == (200, '{"state": "OK"}')


def test_a_custom_run_outside_the_whitelist_is_refused():
    status, body = agent("/chefclient", "recipe[evil::everything]")
    assert status == 403
    assert "Whitelist does not contain 'recipe[evil::everything]'" in body


def test_chef_run_playbook_runs_chef_client_through_the_agent():
    before = len(labtest.chef_client_runs("node1"))
    result = run_playbook("chef_run.yml", "-e", "chef_run_run_list=recipe[app::deploy]")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "node1: status=complete exit=0" in result.stdout
    calls = labtest.chef_client_runs("node1")[before:]
    assert len(calls) == 1
    assert calls[0]["argv"][-2:] == ["-o", "recipe[app::deploy]"]


def test_a_failing_chef_client_run_fails_the_task_with_the_log_tail():
    node = lab_host("node1")
    node.check_output("mkdir -p /etc/chef-client-standin && echo '{\"exit_code\": 3, \"message\": \"converge broke "
                      "on purpose\"}' > /etc/chef-client-standin/behaviour.json")
    try:
        result = run_playbook("chef_run.yml")
    finally:
        node.check_output("rm -f /etc/chef-client-standin/behaviour.json")
    assert result.returncode != 0
    assert "converge broke on purpose" in result.stdout
    assert "failed" in result.stdout


def test_a_locked_agent_refuses_a_run_unless_forced():
    assert agent("/chef/lock/set")[0] == 200
    try:
        refused = run_playbook("chef_run.yml", "-e", "chef_run_run_list=recipe[app::smoke]")
        assert refused.returncode != 0
        assert "Chefwaiter is locked" in refused.stdout
        forced = run_playbook("chef_run.yml", "-e", "chef_run_run_list=recipe[app::smoke]", "-e", "chef_run_force=true")
        assert forced.returncode == 0, forced.stdout[-3000:]
        assert "node1: status=complete" in forced.stdout
    finally:
        agent("/chef/lock/remove")
    assert json.loads(agent("/chef/lock")[1]) == {"Locked": False}


def test_tls_mode_serves_https_and_refuses_plain_http():
    tls = ["--limit", "node1", "-e", "chef_waiter_enable_tls=true",
           "-e", "chef_waiter_certificate_path=/etc/ssl/certs/ssl-cert-snakeoil.pem",
           "-e", "chef_waiter_key_path=/etc/ssl/private/ssl-cert-snakeoil.key",
           "-e", "chef_waiter_healthcheck_validate_certs=false"]
    result = run_playbook("site.yml", *tls)
    try:
        assert result.returncode == 0, result.stdout[-3000:]
        # from the controller, the one source the firewall lets reach 8901
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen("https://%s:8901/healthcheck" % NODE, timeout=10, context=insecure) as answer:
            assert json.loads(answer.read()) == {"state": "OK"}
        # verification on: the snakeoil certificate is not trusted
        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen("https://%s:8901/healthcheck" % NODE, timeout=10,
                                   context=ssl.create_default_context())
        assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
        # plain HTTP gets no answer from the agent
        try:
            status, body = agent("/healthcheck")
        except (http.client.HTTPException, OSError):  # URLError and a dropped connection are OSErrors
            status, body = None, ""
        assert '"state": "OK"' not in body and status != 200
    finally:
        restored = run_playbook("site.yml", "--limit", "node1")
    assert restored.returncode == 0
    assert agent("/healthcheck")[0] == 200


def test_bad_input_fails_before_anything_changes():
    node = lab_host("node1")
    unit_before = node.check_output("systemctl show -p ActiveEnterTimestamp chefwaiter")
    config_before = node.file("/etc/chefwaiter/config.json").sha256sum
    cases = [
        (["-e", "chef_waiter_run_interval=0"], "chef_waiter_run_interval = '0' must be a positive whole number"),
        (["-e", "chef_waiter_enable_tls=true"], "chef_waiter_enable_tls is true but chef_waiter_certificate_path"),
        (["-e", '{"chef_waiter_allowed_custom_runs": []}'], "chef_waiter_allowed_custom_runs is empty"),
        (["-e", "chef_waiter_version=1.4.4",
          "-e", "chef_waiter_url=http://172.31.250.99:8080/releases/chef-waiter-linux-amd64-v1.4.3.tar.gz",
          "-e", "chef_waiter_checksum=sha256:" + "0" * 64], "checksum"),
    ]
    for extra, message in cases:
        result = run_playbook("site.yml", "--limit", "node1", *extra)
        assert result.returncode != 0, extra
        assert message in result.stdout, (message, result.stdout[-2000:])
    assert node.check_output("/usr/local/bin/chef-waiter -v").strip() == "1.4.3"
    assert not node.file("/var/cache/chefops/chef-waiter-linux-amd64-v1.4.4").exists
    assert node.check_output("systemctl show -p ActiveEnterTimestamp chefwaiter") == unit_before
    assert node.file("/etc/chefwaiter/config.json").sha256sum == config_before


def test_a_node_without_sudo_is_refused_before_anything_changes():
    node = lab_host("node1")
    unit_before = node.check_output("systemctl show -p ActiveEnterTimestamp chefwaiter")
    node.check_output("mv /usr/bin/sudo /usr/bin/sudo.aside")
    try:
        result = run_playbook("site.yml", "--limit", "node1")
    finally:
        node.check_output("mv /usr/bin/sudo.aside /usr/bin/sudo")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "node1: /usr/bin/sudo is missing. Chef Waiter runs every chef-client run as /usr/bin/sudo " \
           "/usr/bin/chef-client" in out, result.stdout[-3000:]
    assert "Install sudo on the node" in out and "Nothing was changed" in out
    assert node.check_output("systemctl show -p ActiveEnterTimestamp chefwaiter") == unit_before


def test_agent_state_module_rejects_a_fractional_maintenance_window(tmp_path):
    cmd = ["ansible", "localhost", "-m", "chefops.chef_ha.chef_waiter", "-a", "host=%s maintenance=1.5" % NODE]
    result = subprocess.run(cmd, env=labtest.ansible_env(), capture_output=True, text=True, check=False)
    labtest.keep_run(cmd, result.stdout + result.stderr)
    assert result.returncode != 0
    assert "maintenance" in result.stdout + result.stderr
    assert json.loads(agent("/chef/maintenance")[1])["in_maintenance"] is False
