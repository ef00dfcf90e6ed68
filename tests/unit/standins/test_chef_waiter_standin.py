"""Pure-Python tests of the Chef Waiter and chef-client stand-ins (tests/standins/chef-waiter, chef-client).

Each test starts the chef-waiter stand-in on 127.0.0.1 on a free port with a temporary config, state and
log directories. Runs go through a recording fake sudo to the chef-client stand-in, whose behaviour file and
invocation log live in the temporary directory too. Expected bodies are the exact bytes of the reference.
"""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from ansible_collections.chefops.chef_ha.tests.unit.plugins.fixtures.chef_waiter.agent import (
    free_port,
    instances,
    launch,
    terminate,
)

REPO = Path(__file__).resolve().parents[3]
WAITER = REPO / "tests" / "standins" / "chef-waiter" / "chef-waiter"
WAITER_BUILD = REPO / "tests" / "standins" / "chef-waiter" / "build.sh"
CHEF_CLIENT = REPO / "tests" / "standins" / "chef-client" / "chef-client"
CHEF_CLIENT_BUILD = REPO / "tests" / "standins" / "chef-client" / "build.sh"
GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
JSON_CT = "application/json; charset=UTF-8"

FAKE_SUDO = """#!{python}
import json, os, sys
with open({record!r}, "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
os.execv(sys.executable, [sys.executable] + sys.argv[1:])
"""


def job(status, exitcode, starttime, ondemand, custom_run, custom_run_string):
    return {"status": status, "exitcode": exitcode, "starttime": starttime, "ondemand": ondemand,
            "custom_run": custom_run, "custom_run_string": custom_run_string}


def pretty(guid, details):
    """The indented {"<guid>": JobDetails} body the reference describes (json.MarshalIndent + "\\n")."""
    if details is None:
        return ('{\n  "%s": null\n}\n' % guid).encode()
    lines = ['{', '  "%s": {' % guid]
    items = list(details.items())
    for i, (key, value) in enumerate(items):
        lines.append('    "%s": %s%s' % (key, json.dumps(value), "," if i < len(items) - 1 else ""))
    lines += ['  }', '}']
    return ("\n".join(lines) + "\n").encode()


class Waiter:
    def __init__(self, tmp, config=None, env=None, tick=None, port=None):
        self.tmp = tmp
        self.port = port or free_port()
        self.logs = tmp / "logs"
        self.state_dir = tmp / "state"
        self.behaviour = tmp / "behaviour.json"
        self.sudo_record = tmp / "sudo-argv.jsonl"
        self.cc_invocations = tmp / "chef-client.invocations.jsonl"
        self.invocations = tmp / "chef-waiter.invocations.jsonl"
        self.requests = tmp / "chef-waiter.requests.jsonl"
        self.config_path = tmp / "config.json"
        self.stderr_path = tmp / "chef-waiter.stderr"
        sudo = tmp / "fake-sudo"
        sudo.write_text(FAKE_SUDO.format(python=sys.executable, record=str(self.sudo_record)))
        sudo.chmod(0o755)
        cfg = {"listen_address": "127.0.0.1", "listen_port": self.port, "logs_location": str(self.logs),
               "state_location": str(self.state_dir), "periodic_chef_runs": False}
        cfg.update(config or {})
        self.config = cfg
        self.config_path.write_text(json.dumps(cfg))
        self.env = dict(os.environ)
        self.env.update({
            "TZ": "UTC",
            "CHEFWAITER_CONFIG": str(self.config_path),
            "CHEFWAITER_STANDIN_CHEF_CLIENT": str(CHEF_CLIENT),
            "CHEFWAITER_STANDIN_SUDO": str(sudo),
            "CHEFWAITER_STANDIN_INVOCATION_LOG": str(self.invocations),
            "CHEFWAITER_STANDIN_REQUEST_LOG": str(self.requests),
            "CHEF_CLIENT_STANDIN_BEHAVIOUR": str(self.behaviour),
            "CHEF_CLIENT_STANDIN_INVOCATION_LOG": str(self.cc_invocations),
        })
        if tick:
            self.env["CHEFWAITER_STANDIN_TICK_SECONDS"] = str(tick)
            self.env["CHEFWAITER_STANDIN_STATUS_REFRESH_SECONDS"] = str(tick)
        self.env.update(env or {})
        self.proc = None

    def cli(self, *args, timeout=15):
        return subprocess.run([sys.executable, str(WAITER)] + list(args), env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def start(self):
        self.proc, self.stderr = launch([sys.executable, str(WAITER)], self.env, self.port, self.stderr_path)
        return self

    def stop(self):
        return terminate(self.proc, self.stderr if self.proc else None)

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, data):
        return self.request("POST", path, body=data)

    def get_json(self, path):
        status, _, body = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def run_guid(self, path="/chefclient", data=None):
        status, headers, body = self.request("GET" if data is None else "POST", path, body=data)
        assert status == 200, body
        assert headers["Content-Type"] == JSON_CT
        doc = json.loads(body)
        assert len(doc) == 1
        guid = next(iter(doc))
        assert GUID_RE.match(guid), guid
        return guid, doc[guid], body

    def wait_status(self, guid, wanted=("complete", "failed"), timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            details = self.get_json("/chefclient/" + guid)[guid]
            if details and details["status"] in wanted:
                return details
            time.sleep(0.05)
        raise AssertionError("run %s never reached %s" % (guid, wanted))

    def sudo_calls(self):
        if not self.sudo_record.exists():
            return []
        return [json.loads(line) for line in self.sudo_record.read_text().splitlines()]


@pytest.fixture
def waiter_factory(tmp_path):
    yield from instances(tmp_path, Waiter)


@pytest.fixture
def waiter(waiter_factory):
    return waiter_factory().start()


# ---------------------------------------------------------------------------------------------- build / CLI

def test_build_tarball_layout_and_version(tmp_path):
    for version in ("1.4.3", "1.5.0"):
        out = tmp_path / version
        env = dict(os.environ, VERSION=version)
        subprocess.run(["bash", str(WAITER_BUILD), str(out)], env=env, check=True, capture_output=True)
        tarball = out / ("chef-waiter-linux-amd64-v%s.tar.gz" % version)
        assert tarball.is_file()
        with tarfile.open(tarball) as tar:
            members = {m.name: m for m in tar.getmembers()}
            binary = "chef-waiter-linux-amd64-v%s/chef-waiter" % version
            assert set(members) == {"chef-waiter-linux-amd64-v%s" % version, binary}
            assert members[binary].mode & 0o777 == 0o755
            assert members[binary].uid == 0
            tar.extractall(out / "x")
        result = subprocess.run([sys.executable, str(out / "x" / binary), "-v"], capture_output=True, text=True,
                                env=dict(os.environ, CHEFWAITER_STANDIN_INVOCATION_LOG=str(out / "inv.jsonl")))
        assert result.returncode == 0
        assert result.stdout == version + "\n"
    # the default is the version the cookbook pins
    out = tmp_path / "default"
    env = {k: v for k, v in os.environ.items() if k != "VERSION"}
    subprocess.run(["bash", str(WAITER_BUILD), str(out)], env=env, check=True, capture_output=True)
    assert (out / "chef-waiter-linux-amd64-v1.4.3.tar.gz").is_file()


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not available")
def test_build_chef_client_deb(tmp_path):
    subprocess.run(["bash", str(CHEF_CLIENT_BUILD), str(tmp_path)], check=True, capture_output=True)
    deb = tmp_path / "chef-client_18.4.12-1_all.deb"
    assert deb.is_file()
    info = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture", "Depends"],
                          capture_output=True, text=True, check=True).stdout
    assert "Package: chef-client" in info and "Version: 18.4.12-1" in info
    assert "Architecture: all" in info and "Depends: python3" in info
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^-rwxr-xr-x root/root .* \./opt/chef/bin/chef-client$", listing, re.M)
    assert re.search(r"\./usr/bin/chef-client -> /opt/chef/bin/chef-client$", listing, re.M)
    assert "./lib/systemd/system/chef-client.service" in listing
    assert "./lib/systemd/system/chef-client.timer" in listing


def test_cli_flags_and_invocation_log(waiter_factory):
    w = waiter_factory()
    result = w.cli("-v")
    assert (result.returncode, result.stdout) == (0, "1.0.0\n")
    result = w.cli("-h")
    assert result.returncode == 0
    assert "  -service string\n    \tControl the system service.\n" in result.stderr
    result = w.cli("--bogus")
    assert result.returncode == 2
    assert result.stderr.startswith("flag provided but not defined: -bogus\nUsage of ")
    result = w.cli("-service", "dance")
    assert result.returncode == 1
    assert 'Valid actions: ["start" "stop" "restart" "install" "uninstall"]' in result.stderr
    result = w.cli("-service")
    assert result.returncode == 2 and "flag needs an argument: -service" in result.stderr
    calls = [json.loads(line) for line in w.invocations.read_text().splitlines()]
    assert [(c["argv"], c["rc"]) for c in calls] == [
        (["-v"], 0), (["-h"], 0), (["--bogus"], 2), (["-service", "dance"], 1), (["-service"], 2)]
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", c["time"]) for c in calls)


def test_invalid_config_exits_2_and_unknown_keys_ignored(waiter_factory):
    w = waiter_factory()
    w.config_path.write_text('{"run_interval": 5,')
    result = w.cli(timeout=10)
    assert result.returncode == 2
    assert "Config file found but not valid" in result.stderr
    w.config_path.write_text('{"run_interval": "5"}')
    assert w.cli(timeout=10).returncode == 2
    # unknown keys are ignored, keys match case-insensitively like encoding/json, null keeps the default
    cfg = dict(w.config, some_unknown_key=[1, 2], RUN_INTERVAL=7, state_table_size=None)
    w.config_path.write_text(json.dumps(cfg))
    w.start()
    assert w.get("/chef/interval")[2] == b'{"current_interval":"7 minutes"}\n'


def test_port_in_use_is_a_critical_error(waiter_factory):
    w = waiter_factory()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", w.port))
        blocker.listen(1)
        result = w.cli(timeout=15)
    assert result.returncode == 1
    assert ("We got a critical error. Stopping application. Error: listen tcp 127.0.0.1:%d: bind: "
            "address already in use" % w.port) in result.stderr


@pytest.mark.skipif(not socket.has_ipv6 or not os.path.exists("/proc/net/if_inet6"), reason="needs IPv6")
def test_a_wildcard_listen_address_answers_ipv4_and_ipv6_as_go_does(waiter_factory):
    w = waiter_factory(config={"listen_address": "0.0.0.0"}).start()
    assert w.get("/healthcheck")[0] == 200
    conn = http.client.HTTPConnection("::1", w.port, timeout=15)
    try:
        conn.request("GET", "/healthcheck")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    # the agent logs a request once it has answered it: the second line may come a moment after the response
    wait_for(lambda: len(w.requests.read_text().splitlines()) == 2, what="both requests logged")
    remotes = [json.loads(line)["remote"] for line in w.requests.read_text().splitlines()]
    # the IPv4 client by its IPv4 address, as Go reports it on a dual-stack socket
    assert [remote.rsplit(":", 1)[0] for remote in remotes] == ["127.0.0.1", "::1"], remotes


# ---------------------------------------------------------------------------------------------- exact bodies

def test_simple_endpoints_exact_bodies(waiter):
    status, headers, body = waiter.get("/healthcheck")
    assert (status, headers["Content-Type"], body) == (200, JSON_CT, b'{"state": "OK"}')
    assert waiter.get("/chef/interval")[2] == b'{"current_interval":"30 minutes"}\n'
    assert waiter.get("/chef/interval/15")[::2] == (200, b"")
    assert waiter.get("/chef/interval")[2] == b'{"current_interval":"15 minutes"}\n'
    for bad in ("0", "-3", "x", "1.5"):
        assert waiter.get("/chef/interval/" + bad)[::2] == (
            400, b'{"Error":"Only a positive number will be accepted"}\n')
    assert waiter.get("/chef/nextrun")[2] == \
        b'{"epoch":1257894900,"human":"2009-11-10 23:15:00 +0000 UTC"}\n'
    assert waiter.get("/chef/enabled")[2] == b'{"chef_runs_enabled":false}\n'
    assert waiter.get("/chef/on")[2] == b'{"chef_runs_enabled":true}\n'
    assert waiter.get("/chef/enabled")[2] == b'{"chef_runs_enabled":true}\n'
    assert waiter.get("/chef/off")[2] == b'{"chef_runs_enabled":false}\n'
    assert waiter.get("/chef/lastrun")[2] == b'{"last_run_guid":""}\n'
    assert waiter.get("/chef/allruns")[2] == b"{}\n"
    epoch0 = b'{"end_time":"1970-01-01 00:00:00 +0000 UTC"'
    assert waiter.get("/chef/maintenance")[2] == epoch0 + b', "in_maintenance":false}\n'
    before = int(time.time())
    status, _, body = waiter.get("/chef/maintenance/start/10")
    after = int(time.time())
    assert status == 200
    allowed = {('{"end_time":"%s"}\n' % time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(t + 600))).encode()
               for t in range(before, after + 1)}
    assert body in allowed
    assert waiter.get("/chef/maintenance")[2].endswith(b', "in_maintenance":true}\n')
    assert waiter.get("/chef/maintenance/start/soon")[::2] == (400, b"")
    assert waiter.get("/chef/maintenance/end")[2] == epoch0 + b"}\n"
    assert waiter.get("/chef/maintenance")[2] == epoch0 + b', "in_maintenance":false}\n'
    status, headers, body = waiter.get("/no/such/path")
    assert (status, body) == (404, b"404 page not found\n")
    assert waiter.request("POST", "/healthcheck")[::2] == (405, b"")
    assert waiter.request("DELETE", "/chefclient")[0] == 405


def test_status_document(waiter_factory):
    w = waiter_factory(config={"whitelist_custom_runs": True, "allowed_custom_runs": ["recipe[a]"]}).start()
    for path in ("/_status", "/status"):
        status, headers, body = w.get(path)
        assert status == 200 and headers["Content-Type"] == JSON_CT
        assert body.startswith(b'{\n  "service_name": "ChefWaiter",\n  "hostname": ') and body.endswith(b"\n}\n")
        doc = json.loads(body)
        assert list(doc) == ["service_name", "hostname", "start_time", "uptime", "start_time_human_readable",
                             "version", "chef_version", "healthy", "in_maintenance_mode", "last_run_id",
                             "locked", "whitelisting_enabled", "whitelisted_payloads"]
        assert doc["hostname"] == socket.gethostname()
        assert doc["uptime"] == doc["start_time"] and abs(doc["start_time"] - time.time()) < 30
        assert re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{1,2} \d{4} - \d\d:\d\d:\d\d \+0000 UTC$",
                        doc["start_time_human_readable"])
        assert (doc["version"], doc["chef_version"], doc["healthy"]) == ("1.0.0", "18.4.12", True)
        assert doc["whitelisting_enabled"] is True and doc["whitelisted_payloads"] == ["recipe[a]"]
        assert doc["locked"] is False and doc["last_run_id"] == ""


def test_unhealthy_when_chef_client_version_fails(waiter_factory):
    w = waiter_factory()
    w.behaviour.write_text(json.dumps({"version_exit_code": 1}))
    w.start()
    doc = w.get_json("/_status")
    assert doc["healthy"] is False and doc["chef_version"] == ""
    assert doc["whitelisted_payloads"] is None and doc["whitelisting_enabled"] is False


# ---------------------------------------------------------------------------------------------- runs

def test_on_demand_and_custom_runs_invoke_chef_client_through_sudo(waiter):
    guid, details, body = waiter.run_guid()
    # the answer is written as the run is queued; the runner may already have picked it up
    assert details["status"] in ("registered", "running")
    assert body == pretty(guid, job(details["status"], 99, details["starttime"], True, False, ""))
    assert abs(details["starttime"] - time.time()) < 30
    done = waiter.wait_status(guid)
    assert done == job("complete", 0, details["starttime"], True, False, "")
    assert waiter.get("/chefclient/" + guid)[2] == pretty(guid, done)
    log_path = str(waiter.logs / (guid + ".log"))
    assert waiter.sudo_calls() == [[str(CHEF_CLIENT), "-L", log_path]]
    status, headers, body = waiter.get("/cheflogs/" + guid)
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert b"INFO: Started Chef Infra Client, version 18.4.12" in body
    assert b"Chef Infra Client finished" in body
    assert waiter.get("/chef/lastrun")[2] == ('{"last_run_guid":"%s"}\n' % guid).encode()

    text = "recipe[chefwaiter::test]"
    cguid, cdetails, body = waiter.run_guid(data=text.encode())
    assert cdetails["status"] in ("registered", "running")
    assert body == pretty(cguid, job(cdetails["status"], 99, cdetails["starttime"], True, True, text))
    assert waiter.wait_status(cguid)["status"] == "complete"
    assert waiter.sudo_calls()[-1] == [str(CHEF_CLIENT), "-L", str(waiter.logs / (cguid + ".log")), "-o", text]
    assert b"Overridden Run List: [recipe[chefwaiter::test]]" in waiter.get("/cheflogs/" + cguid)[2]

    invocations = [json.loads(line) for line in waiter.cc_invocations.read_text().splitlines()]
    assert [i["argv"] for i in invocations if i["argv"] != ["-v"]] == [
        ["-L", log_path], ["-L", str(waiter.logs / (cguid + ".log")), "-o", text]]

    unknown = "00000000-0000-4000-8000-000000000000"
    assert waiter.get("/chefclient/" + unknown)[::2] == (200, pretty(unknown, None))
    status, headers, body = waiter.get("/cheflogs/" + unknown)
    assert (status, headers["Content-Type"], body) == (404, "text/plain; charset=utf-8",
                                                        ("404 - %s not found\n" % unknown).encode())
    allruns = waiter.get("/chef/allruns")[2]
    assert json.loads(allruns) == {guid: done, cguid: waiter.get_json("/chefclient/" + cguid)[cguid]}
    assert allruns.startswith(b'{\n  "%s": {\n    "status": ' % min(guid, cguid).encode())


def test_failed_run_records_exit_code(waiter):
    waiter.behaviour.write_text(json.dumps({"exit_code": 3, "message": "Chef::Exceptions::Test"}))
    guid, details, _ = waiter.run_guid()
    done = waiter.wait_status(guid)
    assert done == job("failed", 3, details["starttime"], True, False, "")
    assert b"FATAL: RuntimeError: Chef::Exceptions::Test" in waiter.get("/cheflogs/" + guid)[2]


def test_queue_reuses_registered_guid(waiter):
    waiter.behaviour.write_text(json.dumps({"duration_seconds": 1.5}))
    first, _, _ = waiter.run_guid()
    waiter.wait_status(first, wanted=("running",))
    second, _, _ = waiter.run_guid()
    assert second != first
    assert waiter.run_guid()[0] == second                       # same queued on-demand job
    assert waiter.run_guid(data=b"recipe[other]")[0] == second  # a custom run re-uses it too
    assert waiter.get_json("/chefclient/" + second)[second]["status"] == "registered"
    assert waiter.wait_status(first)["status"] == "complete"
    assert waiter.wait_status(second)["status"] == "complete"
    assert len(waiter.sudo_calls()) == 2
    assert len(waiter.get_json("/chef/allruns")) == 2


def test_custom_run_queued_behind_running_is_reused_by_other_custom(waiter):
    waiter.behaviour.write_text(json.dumps({"duration_seconds": 1.0}))
    first, _, _ = waiter.run_guid()
    waiter.wait_status(first, wanted=("running",))
    queued, details, _ = waiter.run_guid(data=b"recipe[a]")
    assert details["custom_run_string"] == "recipe[a]"
    assert waiter.run_guid(data=b"recipe[b]")[0] == queued
    assert waiter.run_guid()[0] == queued
    waiter.wait_status(queued)
    assert waiter.sudo_calls()[-1][-2:] == ["-o", "recipe[a]"]


def test_lock_blocks_runs_unless_forced(waiter):
    assert waiter.get("/chef/lock")[2] == b'{"Locked": false}\n'
    assert waiter.get("/chef/lock/set")[2] == b'{"Locked": true}\n'
    assert waiter.get("/chef/lock")[2] == b'{"Locked": true}\n'
    locked = (403, b'{"Error":"Chefwaiter is locked"}\n')
    assert waiter.get("/chefclient")[::2] == locked
    assert waiter.post("/chefclient", b"recipe[x]")[::2] == locked
    assert waiter.post("/chefclient?force=yes", b"recipe[x]")[::2] == locked
    assert waiter.post("/chefclient?force=false&force=true", b"recipe[x]")[::2] == locked
    guid, details, _ = waiter.run_guid("/chefclient?force=true&force=false", b"recipe[x]")
    assert details["custom_run_string"] == "recipe[x]"
    assert waiter.wait_status(guid)["status"] == "complete"
    assert waiter.get("/chef/lock/remove")[2] == b'{"Locked": false}\n'
    assert waiter.get("/chefclient")[0] == 200


def test_post_body_rules(waiter):
    too_big = (400, b'{"Error":"Body sent is too large. Max size 512 bytes"}\n')
    assert waiter.post("/chefclient", b"r" * 513)[::2] == too_big
    assert waiter.post("/chefclient", b"r" * 4000)[::2] == too_big
    assert waiter.get_json("/chef/allruns") == {}
    guid, details, _ = waiter.run_guid(data=b"recipe[x]\n\x00\x00")
    assert details["custom_run_string"] == "recipe[x]\n"
    waiter.wait_status(guid)
    guid, details, _ = waiter.run_guid(data=b"x" * 512)
    assert details["custom_run_string"] == "x" * 512
    waiter.wait_status(guid)
    guid, details, _ = waiter.run_guid(data=b"")
    assert details["custom_run"] is True and details["custom_run_string"] == ""
    waiter.wait_status(guid)
    assert waiter.sudo_calls()[-1][-2:] == ["-o", ""]
    assert waiter.sudo_calls()[0][-2:] == ["-o", "recipe[x]\n"]


def test_whitelist_enforced_with_entries(waiter_factory):
    w = waiter_factory(config={"whitelist_custom_runs": True, "allowed_custom_runs": ["recipe[oneshot]"]}).start()
    assert w.post("/chefclient", b"recipe[other]")[::2] == (
        403, b"{\"Error\":\"Whitelist does not contain 'recipe[other]'\"}\n")
    assert w.post("/chefclient", b'"recipe[oneshot]"')[::2] == (
        403, b"{\"Error\":\"Whitelist does not contain '\"recipe[oneshot]\"'\"}\n")
    assert w.post("/chefclient", b"recipe[oneshot]\n")[0] == 403
    guid, details, _ = w.run_guid(data=b"recipe[oneshot]")
    assert details["custom_run_string"] == "recipe[oneshot]"
    w.wait_status(guid)
    assert w.get("/chefclient")[0] == 200  # the whitelist applies to POST custom runs only


@pytest.mark.parametrize("allowed", [[], None])
def test_whitelist_on_with_empty_list_is_not_enforced(waiter_factory, allowed):
    cfg = {"whitelist_custom_runs": True}
    if allowed is not None:
        cfg["allowed_custom_runs"] = allowed
    w = waiter_factory(config=cfg).start()
    guid, details, _ = w.run_guid(data=b"recipe[anything]")
    assert details["custom_run_string"] == "recipe[anything]"
    status = w.get_json("/_status")
    assert status["whitelisting_enabled"] is True and status["whitelisted_payloads"] == allowed
    w.wait_status(guid)


# ---------------------------------------------------------------------------------------------- periodic / state

def wait_for(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_first_periodic_run_and_interval(waiter_factory):
    w = waiter_factory(config={"periodic_chef_runs": True}, tick=0.4).start()
    wait_for(lambda: w.get("/chef/lastrun")[2] != b'{"last_run_guid":""}\n', what="no periodic run")
    guid = w.get_json("/chef/lastrun")["last_run_guid"]
    details = w.get_json("/chefclient/" + guid)[guid]
    assert (details["ondemand"], details["custom_run"], details["status"]) == (False, False, "complete")
    assert w.sudo_calls() == [[str(CHEF_CLIENT), "-L", str(w.logs / (guid + ".log"))]]
    nextrun = w.get_json("/chef/nextrun")
    assert abs(nextrun["epoch"] - (time.time() + 1800)) < 30
    time.sleep(1.2)
    assert len(w.get_json("/chef/allruns")) == 1   # the 30 minute interval is not over yet
    wait_for(lambda: w.get_json("/_status")["last_run_id"] == guid, what="status not refreshed")


def test_periodic_runs_stop_when_turned_off(waiter_factory):
    w = waiter_factory(config={"periodic_chef_runs": True, "run_interval": 0}, tick=0.3).start()
    wait_for(lambda: len(w.get_json("/chef/allruns")) >= 2, what="periodic runs did not repeat")
    assert w.get("/chef/off")[2] == b'{"chef_runs_enabled":false}\n'
    time.sleep(0.6)
    count = len(w.get_json("/chef/allruns"))
    time.sleep(1.2)
    runs = w.get_json("/chef/allruns")
    assert len(runs) == count
    assert all(not r["ondemand"] for r in runs.values())


def test_periodic_job_queued_while_off_stays_registered_forever(waiter_factory):
    w = waiter_factory(config={"periodic_chef_runs": True, "run_interval": 0}, tick=0.3)
    w.behaviour.write_text(json.dumps({"duration_seconds": 1.5}))
    w.start()

    def by_status():
        runs = w.get_json("/chef/allruns")
        return {s: [g for g, r in runs.items() if r["status"] == s] for s in ("running", "registered", "complete")}
    wait_for(lambda: len(by_status()["registered"]) == 1 and len(by_status()["running"]) == 1,
             what="no periodic job queued behind the running one")
    queued = by_status()["registered"][0]
    w.get("/chef/off")
    wait_for(lambda: len(by_status()["complete"]) == 1, what="first periodic run did not finish")
    w.get("/chef/on")
    time.sleep(1.0)
    runs = w.get_json("/chef/allruns")
    assert len(runs) == 2 and runs[queued]["status"] == "registered"
    assert len(w.sudo_calls()) == 1


def test_maintenance_and_lock_block_periodic_runs(waiter_factory):
    w = waiter_factory(config={"periodic_chef_runs": True}, tick=1.0).start()
    w.get("/chef/lock/set")
    w.get("/chef/maintenance/start/5")
    # the first tick is already due (LastRunStartTime starts in 2009), but lock and maintenance block it
    time.sleep(1.2)
    w.get("/chef/lock/remove")
    time.sleep(1.2)
    assert w.get_json("/chef/allruns") == {}
    w.get("/chef/maintenance/end")
    wait_for(lambda: w.get_json("/chef/allruns"), what="periodic run did not start after maintenance")


def test_state_file_survives_restart(waiter_factory):
    w = waiter_factory(config={"run_interval": 45})
    w.behaviour.write_text(json.dumps({"duration_seconds": 3}))
    w.start()
    running, _, _ = w.run_guid()
    w.wait_status(running, wanted=("running",))
    queued, _, _ = w.run_guid()
    w.get("/chef/lock/set")
    w.get("/chef/interval/5")
    assert w.stop() == 0
    state_file = w.state_dir / "stateTable.db"
    assert state_file.is_file()
    w.behaviour.write_text(json.dumps({"duration_seconds": 0.1}))
    w.start()
    assert w.get_json("/chefclient/" + running)[running]["status"] == "unknown"
    assert w.get_json("/chefclient/" + queued)[queued]["status"] == "abandoned"
    assert w.get("/chef/lock")[2] == b'{"Locked": true}\n'
    assert w.get("/chef/interval")[2] == b'{"current_interval":"45 minutes"}\n'  # reset from the config
    calls = [json.loads(line) for line in w.invocations.read_text().splitlines()]
    assert calls[0] == {"time": calls[0]["time"], "argv": [], "rc": 0}


def test_retention_prunes_complete_runs_and_sweeps_logs(waiter_factory):
    w = waiter_factory(config={"state_table_size": 1}, tick=0.5).start()
    w.behaviour.write_text(json.dumps({"exit_code": 1, "duration_seconds": 0}))
    failed, _, _ = w.run_guid()
    w.wait_status(failed)
    w.behaviour.write_text(json.dumps({"duration_seconds": 0}))
    guids = [failed]
    for _ in range(2):
        time.sleep(1.05)  # distinct registration seconds
        guid, _, _ = w.run_guid()
        w.wait_status(guid)
        guids.append(guid)
    (w.logs / "stray.txt").write_text("x")
    deadline = time.monotonic() + 10
    while len(w.get_json("/chef/allruns")) != 2 or (w.logs / "stray.txt").exists():
        assert time.monotonic() < deadline, (w.get_json("/chef/allruns"), os.listdir(w.logs))
        time.sleep(0.1)
    assert set(w.get_json("/chef/allruns")) == {failed, guids[2]}  # failed runs are never pruned
    assert sorted(os.listdir(w.logs)) == sorted([failed + ".log", guids[2] + ".log"])


# ---------------------------------------------------------------------------------------------- TLS

@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not available")
def test_tls_mode(waiter_factory, tmp_path):
    cert, key = tmp_path / "cert.crt", tmp_path / "key.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    w = waiter_factory(config={"enable_tls": True, "certificate_path": str(cert), "key_path": str(key)}).start()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", w.port, context=ctx, timeout=10)
    conn.request("GET", "/healthcheck")
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (200, b'{"state": "OK"}')
    conn.close()
    with socket.create_connection(("127.0.0.1", w.port), timeout=10) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data == b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    # a missing key file is a critical error at startup
    broken = waiter_factory("broken", config={"enable_tls": True, "certificate_path": str(cert),
                                              "key_path": str(tmp_path / "missing.key")})
    result = broken.cli(timeout=15)
    assert result.returncode == 1 and "We got a critical error. Stopping application." in result.stderr


# ---------------------------------------------------------------------------------------------- chef-client

def test_chef_client_standin_cli(tmp_path):
    env = dict(os.environ, CHEF_CLIENT_STANDIN_BEHAVIOUR=str(tmp_path / "behaviour.json"),
               CHEF_CLIENT_STANDIN_INVOCATION_LOG=str(tmp_path / "inv.jsonl"))

    def run(*args):
        return subprocess.run([sys.executable, str(CHEF_CLIENT)] + list(args), env=env, capture_output=True,
                              text=True, timeout=30)
    assert run("-v").stdout == "Chef Infra Client: 18.4.12\n"
    assert run("--version").returncode == 0
    bad = run("--bogus-flag")
    assert bad.returncode == 2 and bad.stdout.startswith("invalid option: --bogus-flag\nUsage: chef-client (options)")
    assert run("-L").returncode == 2
    log = tmp_path / "run.log"
    started = time.monotonic()
    ok = run("-L", str(log), "-o", "recipe[a],b::c", "--chef-license", "accept", "--no-color", "-c", "/nonexistent")
    assert ok.returncode == 0 and time.monotonic() - started < 10
    text = log.read_text()
    assert "INFO: Started Chef Infra Client, version 18.4.12" in text
    assert "Overridden Run List: [recipe[a], recipe[b::c]]" in text
    assert "Chef Infra Client finished" in text
    (tmp_path / "behaviour.json").write_text(json.dumps({"exit_code": 42, "duration_seconds": 1, "message": "nope"}))
    started = time.monotonic()
    failed = run("-L", str(tmp_path / "fail.log"))
    assert failed.returncode == 42 and time.monotonic() - started >= 1
    assert "FATAL: RuntimeError: nope" in (tmp_path / "fail.log").read_text()
    assert run("-o", "broken[").returncode == 1
    calls = [json.loads(line) for line in (tmp_path / "inv.jsonl").read_text().splitlines()]
    assert [c["rc"] for c in calls] == [0, 0, 2, 2, 0, 42, 1]
    assert calls[4]["argv"][:4] == ["-L", str(log), "-o", "recipe[a],b::c"]
