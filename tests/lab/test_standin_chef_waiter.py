"""Lab tests of the Chef Waiter and chef-client stand-ins on node1.

They build the chef-client .deb and the chef-waiter release tarball, install both on node1 the way the role
does (dpkg -i; tarball unpacked to /usr/local/bin/chef-waiter), run chef-waiter under a transient systemd
unit on a test port with its own config, state and log directories, and prove that a run really executes
/usr/bin/chef-client through /usr/bin/sudo (chef-client's invocation log and sudo's journal lines) and that a
failing behaviour file gives status "failed" with the exit code. node1 is left as it was found.
"""
import base64
import json
import subprocess
import time
from pathlib import Path

import pytest

from lab_running import lab_up

REPO = Path(__file__).resolve().parents[2]
STANDINS = REPO / "tests" / "standins"
NODE = "node1"
UNIT = "chefwaiter-standin-lab"
WORK = "/tmp/chefwaiter-standin-lab"
PORT = 18901
BASE = "http://127.0.0.1:%d" % PORT
CC_LOG = "/var/log/chef-client.invocations.jsonl"
BEHAVIOUR = "/etc/chef-client-standin/behaviour.json"
VERSION = "1.4.3"
EVIDENCE_LOGS = (CC_LOG, "/var/log/chef-waiter.invocations.jsonl", "/var/log/chef-waiter.requests.jsonl")


pytestmark = pytest.mark.skipif(not lab_up(NODE), reason="lab containers are not running")


def node():
    import testinfra
    return testinfra.get_host("docker://%s" % NODE)


def sh(cmd):
    res = node().run(cmd)
    assert res.rc == 0, (cmd, res.rc, res.stdout, res.stderr)
    return res.stdout


def api(path, method="GET", data=None):
    cmd = "curl -sS -X %s -o - -w '\\n%%{http_code}' %s%s" % (method, BASE, path)
    if data is not None:
        cmd += " --data-raw '%s'" % data
    out = sh(cmd)
    body, _, code = out.rpartition("\n")
    return int(code), body


def api_json(path, method="GET", data=None):
    code, body = api(path, method, data)
    assert code == 200, (path, code, body)
    return json.loads(body)


def cc_invocations():
    h = node()
    if not h.file(CC_LOG).exists:
        return []
    return [json.loads(line) for line in h.file(CC_LOG).content_string.splitlines() if line.strip()]


def wait_done(guid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        details = api_json("/chefclient/%s" % guid)[guid]
        if details["status"] in ("complete", "failed"):
            return details
        time.sleep(0.2)
    raise AssertionError("run %s did not finish" % guid)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("cw-artifacts")
    subprocess.run([str(STANDINS / "chef-client" / "build.sh"), str(out)], check=True, capture_output=True)
    subprocess.run([str(STANDINS / "chef-waiter" / "build.sh"), str(out)], check=True, capture_output=True)
    deb = out / "chef-client_18.4.12-1_all.deb"
    tarball = out / ("chef-waiter-linux-amd64-v%s.tar.gz" % VERSION)
    assert deb.is_file() and tarball.is_file()
    h = node()
    had_chef_client = h.run("dpkg-query -W -f='${Status}' chef-client").stdout.startswith("install ok installed")
    had_waiter = h.file("/usr/local/bin/chef-waiter").exists
    saved_behaviour = h.file(BEHAVIOUR).content_string if h.file(BEHAVIOUR).exists else None
    new_logs = [p for p in EVIDENCE_LOGS if not h.file(p).exists]
    sh("rm -rf %s && mkdir -p %s" % (WORK, WORK))
    for src in (deb, tarball):
        subprocess.run(["docker", "cp", str(src), "%s:%s/%s" % (NODE, WORK, src.name)], check=True,
                       capture_output=True)
    sh("dpkg -i %s/%s" % (WORK, deb.name))
    sh("rm -f %s" % BEHAVIOUR)
    sh("tar -C %s -xzf %s/%s" % (WORK, WORK, tarball.name))
    if not had_waiter:
        sh("install -o root -g root -m 0755 %s/chef-waiter-linux-amd64-v%s/chef-waiter /usr/local/bin/chef-waiter"
           % (WORK, VERSION))
    yield {"had_chef_client": had_chef_client, "had_waiter": had_waiter}
    h.run("systemctl stop %s; systemctl reset-failed %s" % (UNIT, UNIT))
    if saved_behaviour is None:
        h.run("rm -f %s" % BEHAVIOUR)
    else:
        encoded = base64.b64encode(saved_behaviour.encode()).decode()
        h.run("mkdir -p /etc/chef-client-standin && echo %s | base64 -d > %s" % (encoded, BEHAVIOUR))
    if not had_waiter:
        h.run("rm -f /usr/local/bin/chef-waiter")
    if not had_chef_client:
        h.run("dpkg --purge chef-client")
    h.run("rm -rf %s" % WORK)
    for path in new_logs:  # logs this module created; pre-existing ones are kept
        h.run("rm -f %s" % path)


@pytest.fixture(scope="module")
def service(installed):
    config = {"listen_address": "0.0.0.0", "listen_port": PORT, "logs_location": WORK + "/logs",
              "state_location": WORK + "/state", "periodic_chef_runs": False, "run_interval": 30}
    sh("cat > %s/config.json <<'EOF'\n%s\nEOF" % (WORK, json.dumps(config, indent=2)))
    h = node()
    h.run("systemctl stop %s; systemctl reset-failed %s" % (UNIT, UNIT))
    sh("systemd-run --unit=%s --property=Restart=no --setenv=CHEFWAITER_CONFIG=%s/config.json "
       "/usr/local/bin/chef-waiter" % (UNIT, WORK))
    deadline = time.monotonic() + 20
    while h.run("curl -sf %s/healthcheck" % BASE).rc != 0:
        assert time.monotonic() < deadline, h.run("journalctl -u %s --no-pager -n 30" % UNIT).stdout
        time.sleep(0.2)
    yield config
    h.run("systemctl stop %s" % UNIT)


def test_packages_installed_like_the_vendor_layout(installed):
    h = node()
    assert h.file("/usr/bin/chef-client").linked_to == "/opt/chef/bin/chef-client"
    assert h.run("chef-client -v").stdout == "Chef Infra Client: 18.4.12\n"
    for unit in ("chef-client.service", "chef-client.timer"):
        assert h.run("systemctl is-enabled %s" % unit).stdout.strip() == "disabled"
        assert h.run("systemctl is-active %s" % unit).stdout.strip() == "inactive"
    binary = h.file("/usr/local/bin/chef-waiter")
    assert binary.mode == 0o755 and binary.user == "root"
    assert h.run("/usr/local/bin/chef-waiter -v").stdout == VERSION + "\n"


def test_service_install_writes_the_reference_unit(installed):
    h = node()
    if h.file("/etc/systemd/system/chefwaiter.service").exists:
        pytest.skip("chefwaiter.service already installed on node1 (left alone)")
    try:
        sh("/usr/local/bin/chef-waiter -service install")
        text = h.file("/etc/systemd/system/chefwaiter.service").content_string
        assert text == (
            "[Unit]\nDescription=Chef Waiter: API that allows you to control the chef client remotely.\n"
            "ConditionFileIsExecutable=/usr/local/bin/chef-waiter\n\n[Service]\nStartLimitInterval=5\n"
            "StartLimitBurst=10\nExecStart=/usr/local/bin/chef-waiter\nRestart=always\nRestartSec=120\n"
            "EnvironmentFile=-/etc/sysconfig/chefwaiter\n\n[Install]\nWantedBy=multi-user.target\n")
        assert h.run("systemctl is-enabled chefwaiter.service").stdout.strip() == "enabled"
        assert h.run("systemctl is-active chefwaiter.service").stdout.strip() == "inactive"  # not started
        again = h.run("/usr/local/bin/chef-waiter -service install")
        assert again.rc == 1 and "Init already exists: /etc/systemd/system/chefwaiter.service" in again.stderr
    finally:
        h.run("/usr/local/bin/chef-waiter -service uninstall")
    assert not h.file("/etc/systemd/system/chefwaiter.service").exists
    assert h.run("systemctl is-enabled chefwaiter.service").rc != 0


def test_status_reports_versions(service):
    code, body = api("/healthcheck")
    assert (code, body) == (200, '{"state": "OK"}')
    status = api_json("/_status")
    assert status["version"] == VERSION
    assert status["chef_version"] == "18.4.12" and status["healthy"] is True
    assert status["hostname"] == NODE


def test_run_goes_through_sudo_to_chef_client(service):
    before = len(cc_invocations())
    since = node().run("date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    guid = next(iter(api_json("/chefclient")))
    details = wait_done(guid)
    assert (details["status"], details["exitcode"]) == ("complete", 0)
    log_path = "%s/logs/%s.log" % (WORK, guid)
    new = [c for c in cc_invocations()[before:] if c["argv"] != ["-v"]]
    assert [(c["argv"], c["rc"], c["parent"]) for c in new] == [(["-L", log_path], 0, "sudo")]
    journal = node().run("journalctl -t sudo --no-pager --since '%s'" % since).stdout
    assert "COMMAND=/usr/bin/chef-client -L %s" % log_path in journal
    code, text = api("/cheflogs/%s" % guid)
    assert code == 200 and "Chef Infra Client finished" in text
    assert node().file(log_path).exists
    assert api("/chef/lastrun")[1] == '{"last_run_guid":"%s"}\n' % guid


def test_failing_behaviour_gives_failed_status(service):
    sh("mkdir -p /etc/chef-client-standin && echo '{\"exit_code\": 4, \"duration_seconds\": 0.5, "
       "\"message\": \"simulated converge failure\"}' > %s" % BEHAVIOUR)
    try:
        before = len(cc_invocations())
        guid = next(iter(api_json("/chefclient", method="POST", data="recipe[fails]")))
        details = wait_done(guid)
        assert details == {"status": "failed", "exitcode": 4, "starttime": details["starttime"], "ondemand": True,
                           "custom_run": True, "custom_run_string": "recipe[fails]"}
        new = [c for c in cc_invocations()[before:] if c["argv"] != ["-v"]]
        assert [(c["argv"][2:], c["rc"], c["parent"]) for c in new] == [(["-o", "recipe[fails]"], 4, "sudo")]
        code, text = api("/cheflogs/%s" % guid)
        assert "FATAL: RuntimeError: simulated converge failure" in text
    finally:
        sh("rm -f %s" % BEHAVIOUR)


def test_stop_logs_invocation_and_saves_state(service):
    h = node()
    requests_log = h.file("/var/log/chef-waiter.requests.jsonl")
    assert requests_log.exists and '"target": "/chefclient"' in requests_log.content_string
    sh("systemctl stop %s" % UNIT)
    state = json.loads(h.file("%s/state/stateTable.db" % WORK).content_string)
    assert {j["status"] for j in state["Status"].values()} >= {"complete", "failed"}
    last = h.file("/var/log/chef-waiter.invocations.jsonl").content_string.splitlines()[-1]
    assert json.loads(last)["argv"] == [] and json.loads(last)["rc"] == 0
