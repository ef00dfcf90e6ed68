"""rollout.yml interrupted, raced and flaky on the rollout lab (issue 21 cases 1, 2, 3, 7, 8), read from goiardi's
allowlist items and progress records and from Chef Waiter's run tables. Each other writer is forced in at a point
the rollout cannot have passed (a node's run seen running, its run lasting long after), never left to timing.
Every test uses allowlists of its own that no node's recipes read, and removes them and their records at the end."""
import http.server
import json
import os
import re
import signal
import sys
import threading
import time

import pytest

import labtest
from conftest import ADMIN_KEY, DOMAIN, INVENTORY, NODES, ROOT, SERVER, chef_get, lab_host, run_playbook, runs

sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import client_from_params  # noqa: E402

BEHAVIOUR = "/etc/chef-client-standin/behaviour.json"
RECORDS = "chefops_rollouts"


def fqdn(node):
    return node + DOMAIN


def api():
    return client_from_params({"server_url": SERVER, "client_name": "admin", "client_key": ADMIN_KEY,
                               "sign_version": "1.3", "server_api_version": 1, "validate_certs": True,
                               "timeout": 30, "retries": 3})


def patterns(name):
    item = chef_get("/data/whitelist/%s" % name)
    return None if item is None else item["patterns"]


def record(name):
    return chef_get("/data/%s/whitelist.%s" % (RECORDS, name))


def statuses(name):
    return {entry["host"]: entry["status"] for entry in (record(name) or {}).get("hosts", {}).values()}


def run_counts():
    return {node: len(runs(node)) for node in NODES}


def flat(result):
    return " ".join(result.stdout.split())


def set_behaviour(node, behaviour):
    lab_host(node).check_output("mkdir -p /etc/chef-client-standin && echo %s > %s"
                                % ("'" + json.dumps(behaviour) + "'", BEHAVIOUR))


def clear_behaviour():
    for node in NODES:
        lab_host(node).check_output("rm -f " + BEHAVIOUR)


def rollout_args(name, **extra):
    args = {"rollout_allowlist": name, "rollout_waves": [1, 1, "100%"]}
    args.update(extra)
    return ["-e", json.dumps(args)]


def start_rollout(*args, inventory=INVENTORY):
    """rollout.yml in the background, leading its own process group (so a test can kill it like a dead controller)."""
    return labtest.start_playbook("rollout.yml", *args, inventory=inventory)


def wait_for_run(node, since, status="running", timeout=300):
    """The node's first run after `since` runs once it has reached `status`; fails after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = runs(node)[since:]
        if new and new[0]["status"] == status:
            return new[0]
        time.sleep(0.3)
    raise AssertionError("no %s run on %s within %d s: %r" % (status, node, timeout, runs(node)[since:]))


@pytest.fixture
def allowlist(request):
    """A fresh allowlist name for the test; its item and its progress record are removed afterwards, the stand-in
    behaviour files too."""
    name = "safety_%s" % request.node.name.split("[")[0][5:][:40]
    client = api()
    for path in (client.path("data", "whitelist", name), client.path("data", RECORDS, "whitelist." + name)):
        if client.get(path, missing_ok=True) is not None:
            client.delete(path)
    yield name
    clear_behaviour()
    for path in (client.path("data", "whitelist", name), client.path("data", RECORDS, "whitelist." + name)):
        if client.get(path, missing_ok=True) is not None:
            client.delete(path)


@pytest.fixture
def extra_inventory(tmp_path):
    """extra_inventory(hosts) -> the lab inventory plus a YAML inventory of host variables; use both with -i."""
    def make(hosts):
        path = tmp_path / "extra.yml"
        path.write_text(json.dumps({"all": {"children": {"chef_nodes": {"hosts": hosts}}}}))
        return str(path)
    return make


@pytest.fixture
def extra_nodes():
    """extra_nodes({name: fqdn}) registers Chef nodes (not in the lab inventory); removed afterwards."""
    client = api()
    made = []

    def make(nodes):
        for name, node_fqdn in nodes.items():
            client.post("/nodes", {"name": name, "chef_type": "node", "json_class": "Chef::Node",
                                   "chef_environment": "_default", "run_list": [], "normal": {}, "default": {},
                                   "override": {}, "automatic": {"fqdn": node_fqdn}})
            made.append(name)
    yield make
    for name in made:
        client.delete(client.path("nodes", name))


# ------------------------------------------------------------------------------------------ case 2: a short ramp

def test_a_ramp_short_of_100_percent_stops_after_its_last_wave(allowlist):
    before = run_counts()
    result = run_playbook("rollout.yml", *rollout_args(allowlist, rollout_waves="1,50%"))
    assert result.returncode == 0, result.stdout[-5000:]
    assert patterns(allowlist) == [fqdn("node1"), fqdn("node2")]
    after = run_counts()
    assert {node: after[node] - before[node] for node in NODES} == {"node1": 1, "node2": 1, "node3": 0, "node4": 0}
    out = flat(result)
    assert "node3 (node3.chefops.test): wave=- status=not in this ramp" in out, out[-3000:]
    assert statuses(allowlist) == {"node1": "passed", "node2": "passed"}
    assert record(allowlist)["lease"] == {}
    # the same short ramp again: nothing to add, nothing run, nothing changed
    again = run_playbook("rollout.yml", *rollout_args(allowlist, rollout_waves="1,50%"))
    assert again.returncode == 0 and re.search(r"localhost\s*:\s*ok=\d+\s+changed=0", again.stdout), \
        again.stdout[-3000:]
    assert run_counts() == after and patterns(allowlist) == [fqdn("node1"), fqdn("node2")]


# ---------------------------------------------------------- case 1: a failed wave kept, then an AWX relaunch

def test_a_relaunch_gates_the_failed_wave_again_before_adding_or_finalizing(allowlist):
    args = rollout_args(allowlist, rollout_finalize=True, rollout_finalize_pattern="*" + DOMAIN)
    set_behaviour("node2", {"exit_code": 1, "message": "boom"})
    before = run_counts()
    first = run_playbook("rollout.yml", *args)
    assert first.returncode != 0, first.stdout[-4000:]
    assert patterns(allowlist) == [fqdn("node1"), fqdn("node2")]  # rollout_rollback=false keeps wave 2 in
    assert statuses(allowlist) == {"node1": "passed", "node2": "failed"}
    # the relaunch, node2 still broken: it is gated again first, fails again, and nothing else happens
    relaunch = run_playbook("rollout.yml", *args)
    assert relaunch.returncode != 0, relaunch.stdout[-4000:]
    assert patterns(allowlist) == [fqdn("node1"), fqdn("node2")]
    after = run_counts()
    assert {node: after[node] - before[node] for node in NODES} == {"node1": 1, "node2": 2, "node3": 0, "node4": 0}
    assert "gated again first" in flat(relaunch), relaunch.stdout[-4000:]
    # fixed: the relaunch gates node2, ramps node3 and node4, and only then finalizes
    clear_behaviour()
    fixed = run_playbook("rollout.yml", *args)
    assert fixed.returncode == 0, fixed.stdout[-5000:]
    assert patterns(allowlist) == ["*" + DOMAIN]
    after = run_counts()
    assert {node: after[node] - before[node] for node in NODES} == {"node1": 1, "node2": 3, "node3": 1, "node4": 1}
    assert statuses(allowlist) == {node: "passed" for node in NODES}


# ------------------------------------------ case 1: a run killed between the allowlist write and the gate

def test_a_run_killed_after_its_allowlist_write_is_gated_by_the_next_run(allowlist):
    set_behaviour("node1", {"duration_seconds": 6})
    before = run_counts()
    proc = start_rollout(*rollout_args(allowlist))
    try:
        wait_for_run("node1", before["node1"])  # wave 1 is in the allowlist and its run has started
        os.killpg(proc.pid, signal.SIGKILL)  # a dead controller: no rescue, no always, no handlers
    finally:
        labtest.finish_run(proc, 60)
    assert patterns(allowlist) == [fqdn("node1")]
    assert statuses(allowlist) == {"node1": "pending"}
    assert record(allowlist)["lease"]["owner"]  # the dead run's lease is still there
    clear_behaviour()
    result = run_playbook("rollout.yml", *rollout_args(allowlist))
    assert result.returncode == 0, result.stdout[-5000:]
    assert "took over the lease" in flat(result), result.stdout[-4000:]
    after = run_counts()
    # node1 ran in the killed run and once more for its gate; the others once
    assert {node: after[node] - before[node] for node in NODES} == {"node1": 2, "node2": 1, "node3": 1, "node4": 1}
    assert patterns(allowlist) == [fqdn(node) for node in sorted(NODES)]
    assert statuses(allowlist) == {node: "passed" for node in NODES}


# ------------------------------------------------ case 3: another writer drops the wave's host during its runs

def test_a_host_dropped_from_the_allowlist_during_its_wave_does_not_pass(allowlist):
    set_behaviour("node1", {"duration_seconds": 12})
    before = run_counts()
    proc = start_rollout(*rollout_args(allowlist))
    try:
        wait_for_run("node1", before["node1"])
        # a `knife data bag edit` opened before the wave's write, saved now: the item without node1
        client = api()
        client.put(client.path("data", "whitelist", allowlist), {"id": allowlist, "patterns": []})
        out = labtest.finish_run(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            labtest.finish_run(proc, 60)
    assert proc.returncode != 0, out[-4000:]
    text = " ".join(out.split())
    assert "node1 (node1.chefops.test): wave=1 status=dropped from allowlist" in text, text[-4000:]
    assert "dropped from the allowlist by another writer" in text and "in_allowlist=false" in text
    assert patterns(allowlist) == []
    assert statuses(allowlist) == {"node1": "dropped from allowlist"}
    after = run_counts()
    assert {node: after[node] - before[node] for node in NODES} == {"node1": 1, "node2": 0, "node3": 0, "node4": 0}


# ------------------------------------------------------------------ a second rollout of the same allowlist

def test_a_second_rollout_of_the_same_allowlist_is_refused_while_one_runs(allowlist):
    set_behaviour("node1", {"duration_seconds": 45})  # the first run waits for it while the second one starts
    before = run_counts()
    proc = start_rollout(*rollout_args(allowlist))
    try:
        wait_for_run("node1", before["node1"])
        held = record(allowlist)
        second = run_playbook("rollout.yml", *rollout_args(allowlist))
        assert second.returncode != 0, second.stdout[-4000:]
        assert "Another run holds the rollout of whitelist/%s" % allowlist in flat(second), second.stdout[-4000:]
        assert wait_for_run("node1", before["node1"])  # still running: the first run has not written since
        assert record(allowlist) == held and patterns(allowlist) == [fqdn("node1")]
        out = labtest.finish_run(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            labtest.finish_run(proc, 60)
    assert proc.returncode == 0, out[-4000:]
    after = run_counts()
    assert {node: after[node] - before[node] for node in NODES} == {node: 1 for node in NODES}


# ------------------------------------------------------- case 8 and the agents: refused before the first write

def test_a_bad_agent_port_later_in_the_ramp_is_refused_before_any_write(allowlist, extra_inventory):
    before = run_counts()
    extra = extra_inventory({"node4": {"chef_run_port": 99999}})
    result = run_playbook("rollout.yml", "-i", extra, *rollout_args(allowlist))
    assert result.returncode != 0
    assert "chef_run_port of host node4 is 99999" in flat(result), result.stdout[-3000:]
    assert patterns(allowlist) is None and record(allowlist) is None
    assert run_counts() == before


def test_hosts_reporting_the_same_fqdn_are_refused_before_any_write(allowlist, extra_inventory, extra_nodes):
    extra_nodes({"clone1.chefops.test": "localhost.localdomain", "clone2.chefops.test": "localhost.localdomain"})
    extra = extra_inventory({"clone1": {"chef_node_name": "clone1.chefops.test", "chef_run_address": "192.0.2.1"},
                             "clone2": {"chef_node_name": "clone2.chefops.test", "chef_run_address": "192.0.2.2"}})
    result = run_playbook("rollout.yml", "-i", extra, *rollout_args(allowlist, rollout_hosts="node1,clone1,clone2"))
    assert result.returncode != 0
    assert "hosts clone1, clone2 all report the fqdn localhost.localdomain" in flat(result), result.stdout[-3000:]
    assert patterns(allowlist) is None and record(allowlist) is None


def test_a_finalize_pattern_that_reaches_other_nodes_is_refused_before_any_write(allowlist, extra_nodes):
    extra_nodes({"stray.chefops.test": "stray.chefops.test"})
    before = run_counts()
    result = run_playbook("rollout.yml", *rollout_args(allowlist, rollout_hosts="node1,node2,node3,node4",
                                                       rollout_finalize=True,
                                                       rollout_finalize_pattern="*" + DOMAIN))
    assert result.returncode != 0
    out = flat(result)
    assert "also matches stray.chefops.test" in out and "rollout_finalize_allow_others" in out, out[-3000:]
    assert patterns(allowlist) is None and record(allowlist) is None
    assert run_counts() == before


# ------------------------------------------------------------- case 7: a check URL that answers late

class LateService:
    """A health endpoint on the controller that answers 503 to each fqdn's first request, 200 afterwards."""

    def __init__(self):
        self.seen = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                first = self.path not in service.seen
                service.seen.append(self.path)
                self.send_response(503 if first else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_check_url_that_answers_late_is_tried_again(allowlist):
    service = LateService()
    try:
        result = run_playbook("rollout.yml", *rollout_args(
            allowlist, rollout_waves=["100%"], rollout_check_timeout=30,
            rollout_check_url="http://127.0.0.1:%d/{fqdn}" % service.port))
    finally:
        service.close()
    assert result.returncode == 0, result.stdout[-5000:]
    assert sorted(service.seen) == sorted(["/" + fqdn(node) for node in NODES] * 2)
    assert statuses(allowlist) == {node: "passed" for node in NODES}
