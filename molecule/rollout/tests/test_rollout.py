"""Allowlisted rollouts on the rollout lab, with goiardi checking every signature: the bad input refused before any
request, a ramp in waves read from each node's own run log and Chef Waiter's run table, a re-run that does nothing,
check mode, a failing wave stopped and rolled back, a flip to testing and back, cookbook pins refused, concurrent
allowlist writers, and a wrong key."""
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import threading

import pytest

import labtest
from conftest import (ADMIN_KEY, DOMAIN, NODES, ROOT, SERVER, allowlist, chef_get, in_allowlist, lab_host, run_log,
                      run_playbook, runs)

BEHAVIOUR = "/etc/chef-client-standin/behaviour.json"


def fqdn(node):
    return node + DOMAIN


def run_counts():
    return {node: len(runs(node)) for node in NODES}


def chef_state():
    """What the playbooks may write on the server: the allowlist items, the environments, the nodes."""
    return {path: chef_get(path) for path in
            ["/data/whitelist/feature_a", "/data/whitelist/feature_b", "/environments/testing"]
            + ["/nodes/%s" % fqdn(node) for node in NODES]}


def flat(result):
    return " ".join(result.stdout.split())


@pytest.fixture(scope="module")
def other_key(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys")
    rsa, ec = str(path / "other.pem"), str(path / "ec.pem")
    subprocess.check_call(["openssl", "genrsa", "-out", rsa, "2048"], stderr=subprocess.DEVNULL)
    subprocess.check_call(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ec])
    return {"rsa": rsa, "ec": ec}


# ---------------------------------------------------------------------------------------------------------- bad input

BAD_INPUT = [
    ("rollout.yml", {"rollout_allowlist": "feature_a", "chef_api_server_url": "172.31.250.51:4545"},
     "chef_api_server_url"),
    ("rollout.yml", {"rollout_allowlist": "feature_a", "chef_api_client_key": "/nonexistent/admin.pem"},
     "/nonexistent/admin.pem"),
    ("rollout.yml", {"rollout_allowlist": "feature_a", "rollout_waves": []}, "rollout_waves"),
    ("rollout.yml", {"rollout_allowlist": "feature_a", "rollout_waves": ["0%", "100%"]}, "rollout_waves"),
    ("rollout.yml", {"rollout_allowlist": "feature_a", "rollout_hosts": "no_such_group"}, "rollout_hosts"),
    ("rollout.yml", {"rollout_allowlist": "feature_a", "rollout_hosts": "node1",
                     "chef_node_name": "ghost.chefops.test"}, "ghost.chefops.test"),
    ("rollout.yml", {"rollout_allowlist": "feature_a", "rollout_finalize": True,
                     "rollout_finalize_pattern": "{node1,node2}.chefops.test"}, "rollout_finalize_pattern"),
]


@pytest.mark.parametrize("playbook, extra, names", BAD_INPUT)
def test_bad_input_is_refused_before_any_change(playbook, extra, names):
    before_runs, before_state = run_counts(), chef_state()
    result = run_playbook(playbook, "-e", json.dumps(extra))
    assert result.returncode != 0, result.stdout[-3000:]
    assert names in flat(result), result.stdout[-3000:]
    assert run_counts() == before_runs
    assert chef_state() == before_state


def test_a_key_that_is_not_rsa_is_refused(other_key):
    before = chef_state()
    result = run_playbook("rollout.yml", "-e", json.dumps({"rollout_allowlist": "feature_a",
                                                           "chef_api_client_key": other_key["ec"]}))
    assert result.returncode != 0
    assert other_key["ec"] in flat(result) and "RSA" in flat(result), result.stdout[-3000:]
    assert chef_state() == before


def test_a_wrong_key_fails_naming_401_the_client_and_the_key_file(other_key):
    before = chef_state()
    result = run_playbook("rollout.yml", "-e", json.dumps({"rollout_allowlist": "feature_a",
                                                           "chef_api_client_key": other_key["rsa"]}))
    assert result.returncode != 0
    out = flat(result)
    assert "401" in out and "admin" in out and other_key["rsa"] in out, result.stdout[-3000:]
    assert "BEGIN RSA PRIVATE KEY" not in result.stdout and "X-Ops-Authorization" not in result.stdout
    assert chef_state() == before


# ------------------------------------------------------------------------------------------------------------ rollout

def test_check_mode_writes_nothing_and_runs_nothing():
    before_runs, before_state = run_counts(), chef_state()
    result = run_playbook("rollout.yml", "--check", "-e", json.dumps({"rollout_allowlist": "feature_a",
                                                                      "rollout_waves": [1, 1, "100%"]}))
    assert result.returncode == 0, result.stdout[-4000:]
    assert run_counts() == before_runs
    assert chef_state() == before_state


def test_a_rollout_in_waves_reaches_every_node_once_in_order():
    before = run_counts()
    result = run_playbook("rollout.yml", "-e", json.dumps({"rollout_allowlist": "feature_a",
                                                           "rollout_waves": [1, 1, "100%"]}))
    assert result.returncode == 0, result.stdout[-5000:]
    assert allowlist("feature_a") == [fqdn(node) for node in sorted(NODES)]
    new = {node: runs(node)[before[node]:] for node in NODES}
    # chef-client ran exactly once per node, and each run took the new branch
    assert {node: len(rows) for node, rows in new.items()} == {node: 1 for node in NODES}, new
    for node, (row,) in new.items():
        assert row["status"] == "complete", row
        log = run_log(node, row["guid"])
        assert in_allowlist(log, node, "feature_a") is True
        assert in_allowlist(log, node, "feature_b") is False
    # wave 1 (node1) finished before wave 2 (node2) started, which finished before wave 3 (node3, node4) started:
    # the first and last time stamps of each run's own log (seconds)
    def span(node):
        stamps = re.findall(r"^\[([^\]]+)\]", run_log(node, new[node][0]["guid"]), re.M)
        return stamps[0], stamps[-1]
    assert span("node1")[1] <= span("node2")[0] <= span("node2")[1] <= min(span("node3")[0], span("node4")[0])
    assert new["node1"][0]["starttime"] <= new["node2"][0]["starttime"] <= new["node3"][0]["starttime"]
    for node in NODES:
        assert node in result.stdout


def test_a_second_rollout_adds_nothing_and_runs_nothing():
    before_runs, before_state = run_counts(), chef_state()
    result = run_playbook("rollout.yml", "-e", json.dumps({"rollout_allowlist": "feature_a",
                                                           "rollout_waves": [1, 1, "100%"]}))
    assert result.returncode == 0, result.stdout[-4000:]
    assert run_counts() == before_runs
    assert chef_state() == before_state


def test_a_failing_wave_stops_the_ramp_and_rolls_its_hosts_back():
    node2 = lab_host("node2")
    node2.check_output("mkdir -p /etc/chef-client-standin && echo '{\"exit_code\": 1, \"message\": \"boom\"}' > %s"
                       % BEHAVIOUR)
    before = run_counts()
    try:
        result = run_playbook("rollout.yml", "-e", json.dumps({"rollout_allowlist": "feature_b",
                                                               "rollout_waves": [1, 1, "100%"],
                                                               "rollout_rollback": True}))
    finally:
        node2.check_output("rm -f " + BEHAVIOUR)
    assert result.returncode != 0, result.stdout[-4000:]
    # wave 1 stays in; wave 2 is out again; wave 3 was never added nor run
    assert allowlist("feature_b") == [fqdn("node1")]
    after = run_counts()
    assert after["node3"] == before["node3"] and after["node4"] == before["node4"]
    assert after["node1"] == before["node1"] + 1
    assert after["node2"] == before["node2"] + 2  # the failed run, then the run after the rollback
    # node2's wave run took the new branch and failed; its run after the rollback (the later log) took the old one
    rows = runs("node2")[before["node2"]:]
    ended = {row["guid"]: float(lab_host("node2").check_output("stat -c %%.9Y /var/log/chefwaiter/%s.log" % row["guid"]))
             for row in rows}
    branches = [in_allowlist(run_log("node2", guid), "node2", "feature_b") for guid in sorted(ended, key=ended.get)]
    assert branches == [True, False], branches
    assert "node2" in flat(result)


# ------------------------------------------------------------------------------------------------- flip and promote

def test_a_flip_to_testing_and_back():
    before = run_counts()
    assert chef_get("/nodes/%s" % fqdn("node3"))["chef_environment"] == "_default"
    result = run_playbook("flip.yml", "-e", json.dumps({"flip_hosts": "node3", "flip_back": True}))
    assert result.returncode == 0, result.stdout[-4000:]
    new = runs("node3")[before["node3"]:]
    assert len(new) == 1 and new[0]["status"] == "complete"
    assert "Node %s is in environment testing" % fqdn("node3") in run_log("node3", new[0]["guid"])
    assert chef_get("/nodes/%s" % fqdn("node3"))["chef_environment"] == "_default"
    assert {node: count for node, count in run_counts().items() if node != "node3"} == \
        {node: count for node, count in before.items() if node != "node3"}


@pytest.mark.parametrize("pins, words", [
    ({"app": "== 1.0"}, "== 1.0"),
    ({"app": "= 9.9.9"}, "9.9.9"),
])
def test_a_bad_pin_is_refused_before_any_write(pins, words):
    before = chef_state()
    result = run_playbook("promote.yml", "-e", json.dumps({"promote_environment": "testing", "promote_pins": pins}))
    assert result.returncode != 0
    assert words in flat(result), result.stdout[-3000:]
    assert chef_state() == before


# ------------------------------------------------------------------------------------------- concurrent allowlist adds

class InterleavingProxy:
    """Between the module and goiardi: forwards every request unchanged, except that right after the module's first
    write of the item it lets another writer save the item as that writer read it before (plus its own pattern):
    the lost update forced at the one point that makes it, every time."""

    def __init__(self, item_path, other_pattern):
        self.log = []
        proxy = self
        stale = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def relay(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection("172.31.250.51", 4545, timeout=60)
                conn.request(method, self.path, body=data, headers=dict(self.headers.items()))
                answer = conn.getresponse()
                status, body = answer.status, answer.read()
                conn.close()
                proxy.log.append((method, self.path, status))
                if method == "GET" and self.path == item_path and "item" not in stale:
                    stale["item"] = json.loads(body)  # the other writer reads what the module reads
                if method == "PUT" and self.path == item_path and not stale.get("saved"):
                    stale["saved"] = True
                    other = dict(stale["item"], patterns=stale["item"]["patterns"] + [other_pattern])
                    subprocess.run([sys.executable, "-c", OTHER_WRITER, SERVER, ADMIN_KEY, item_path,
                                    json.dumps(other)], check=True, timeout=60)
                    proxy.log.append(("PUT", item_path, "other writer"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.relay("GET")

            def do_PUT(self):
                self.relay("PUT")

            def do_POST(self):
                self.relay("POST")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


OTHER_WRITER = """
import json, sys
sys.path.insert(0, %r)
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import ChefAPIError, client_from_params
api = client_from_params({"server_url": sys.argv[1], "client_name": "admin", "client_key": sys.argv[2],
                          "sign_version": "1.3", "server_api_version": 1, "validate_certs": True, "timeout": 30,
                          "retries": 0})
try:
    api.put(sys.argv[3], json.loads(sys.argv[4]))
except ChefAPIError as exc:
    if exc.status != 404:
        raise
    api.post(sys.argv[3].rsplit("/", 1)[0], json.loads(sys.argv[4]))
""" % os.path.join(ROOT, ".build", "collections")


def test_an_add_survives_another_writer_landing_between_its_read_and_its_write():
    item_path = "/data/whitelist/feature_c"
    # the item holds one pattern, so the module reads it and then PUTs it
    subprocess.run([sys.executable, "-c", OTHER_WRITER, SERVER, ADMIN_KEY, item_path,
                    json.dumps({"id": "feature_c", "patterns": ["old.chefops.test"]})], check=True, timeout=60)
    proxy = InterleavingProxy(item_path, "db*.chefops.test")
    try:
        cmd = ["ansible", "localhost", "-m", "chefops.chef_ha.chef_allowlist", "-a", json.dumps({
            "server_url": proxy.url, "client_name": "admin", "client_key": ADMIN_KEY, "name": "feature_c",
            "add": ["web*.chefops.test"]})]
        result = subprocess.run(cmd, env=labtest.ansible_env(), cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=300)
    finally:
        proxy.close()
    labtest.keep_run(cmd, result.stdout)
    assert result.returncode == 0, result.stdout[-2000:]
    # the other writer's save undid the module's first write; the module read the item again and wrote once more
    assert [entry[:2] for entry in proxy.log] == [("GET", item_path), ("PUT", item_path), ("PUT", item_path),
                                                 ("GET", item_path), ("PUT", item_path), ("GET", item_path)], proxy.log
    assert '"attempts": 2' in result.stdout, result.stdout[-2000:]
    assert sorted(allowlist("feature_c")) == ["db*.chefops.test", "old.chefops.test", "web*.chefops.test"]


def test_every_run_of_this_lab_is_scanned_for_its_secrets():
    # the admin key and each node's client key are read (labtest.run_playbook and keep_run scan every run for them)
    places = set(labtest.lab_secrets().values())
    assert {"controller:" + ADMIN_KEY} | {"%s:/etc/chef/client.pem" % node for node in NODES} <= places, places
    labtest.assert_converge_log_clean("The node's client key")
