"""flip.yml and promote.yml interrupted or raced (issue 21 cases 4, 5 and 6), on the rollout lab: a flip killed after
its flips and the next run returning the nodes to their recorded original environments, a chef-client run in
progress at flip time, hosts sharing a node and bad agent variables refused before any change, a second flip while
one is open, check mode, and pins sent as JSON text as an AWX survey sends them. State is read from goiardi and from
Chef Waiter's run tables and run logs."""
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

import labtest
from conftest import (ADMIN_KEY, DOMAIN, INVENTORY, NODES, ROOT, SERVER, chef_get, lab_host, run_log, run_playbook,
                      runs)

BEHAVIOUR = "/etc/chef-client-standin/behaviour.json"
RECORD = "/data/chefops_flips/flips"


def fqdn(node):
    return node + DOMAIN


def environment_of(node):
    return chef_get("/nodes/%s" % fqdn(node))["chef_environment"]


def recorded():
    """The open flip record's entries: node -> {original, target, state, recorded}."""
    return (chef_get(RECORD) or {}).get("nodes") or {}


def module(module_name, **args):
    """One module of the collection run ad hoc against goiardi (the test's own setup and teardown)."""
    args = dict(args, server_url=SERVER, client_name="admin", client_key=ADMIN_KEY)
    cmd = ["ansible", "localhost", "-m", "chefops.chef_ha." + module_name, "-a", json.dumps(args)]
    result = subprocess.run(cmd, env=labtest.ansible_env(), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=300)
    labtest.keep_run(cmd, result.stdout)
    assert result.returncode == 0, result.stdout[-2000:]


def put_in(node, environment):
    module("chef_node_environment", name=fqdn(node), environment=environment)


def slow_runs(node, seconds):
    lab_host(node).check_output("mkdir -p /etc/chef-client-standin && echo '{\"duration_seconds\": %d}' > %s"
                                % (seconds, BEHAVIOUR))


def flat(result):
    return " ".join(result.stdout.split())


@pytest.fixture
def production():
    """A production environment; afterwards every node back in _default, its runs at normal speed, no record."""
    module("chef_environment", name="production", description="Where the nodes come from")
    yield
    for node in NODES:
        lab_host(node).check_output("rm -f " + BEHAVIOUR)
    module("chef_node_flip", nodes=[fqdn(node) for node in NODES], state="returned")
    module("chef_node_flip", nodes=[fqdn(node) for node in NODES], state="closed")
    for node in NODES:
        put_in(node, "_default")
    module("chef_environment", name="production", state="absent")


def wait_for(what, check, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError("timed out waiting for " + what)


def test_a_flip_killed_after_its_flips_is_returned_by_the_next_run_to_the_recorded_originals(production):
    put_in("node1", "production")
    put_in("node2", "production")
    slow_runs("node1", 20)
    slow_runs("node2", 20)
    before = {node: len(runs(node)) for node in ("node1", "node2")}
    proc = labtest.start_playbook("flip.yml", "-e", json.dumps({"flip_hosts": "node1,node2", "flip_back": True}),
                                  inventory=INVENTORY)
    try:
        # killed (a cancelled AWX job) once both nodes are flipped and their runs have started
        wait_for("the flips and the runs", lambda: all(len(runs(n)) > before[n] for n in ("node1", "node2")))
        assert [environment_of(n) for n in ("node1", "node2")] == ["testing", "testing"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        labtest.finish_run(proc, 60)
    assert {n: e["original"] for n, e in recorded().items()} == {fqdn("node1"): "production",
                                                                 fqdn("node2"): "production"}
    lab_host("node1").check_output("rm -f " + BEHAVIOUR)
    lab_host("node2").check_output("rm -f " + BEHAVIOUR)
    # the next run, with flip_back, returns them where they came from, never to testing
    result = run_playbook("flip.yml", "-e", json.dumps({"flip_hosts": "node1,node2", "flip_back": True}))
    assert result.returncode == 0, result.stdout[-4000:]
    assert [environment_of(n) for n in ("node1", "node2")] == ["production", "production"]
    assert recorded() == {}
    assert "original_environment=production ran_in=testing" in flat(result), result.stdout[-4000:]


def test_a_run_in_progress_at_flip_time_does_not_take_the_flip_run_out_of_the_environment(production):
    slow_runs("node3", 12)
    before = len(runs("node3"))
    # a chef-client run (periodic, or anyone's) that loaded the node in _default before the flip
    with urllib.request.urlopen("http://%s:8901/chefclient" % NODES["node3"], timeout=10) as answer:
        busy = next(iter(json.loads(answer.read().decode())))
    wait_for("the run in progress", lambda: any(r["guid"] == busy and r["status"] == "running"
                                                 for r in runs("node3")))
    result = run_playbook("flip.yml", "-e", json.dumps({"flip_hosts": "node3", "flip_back": True}))
    assert result.returncode == 0, result.stdout[-4000:]
    new = [r for r in runs("node3")[before:] if r["guid"] != busy]
    assert len(new) == 1 and new[0]["status"] == "complete", new
    assert "Node %s is in environment testing" % fqdn("node3") in run_log("node3", new[0]["guid"])
    assert "Node %s is in environment _default" % fqdn("node3") in run_log("node3", busy)
    assert "original_environment=_default ran_in=testing" in flat(result), result.stdout[-4000:]
    assert environment_of("node3") == "_default" and recorded() == {}


def state_and_runs():
    return {node: (environment_of(node), len(runs(node))) for node in NODES}, recorded()


@pytest.mark.parametrize("extra, words", [
    ({"flip_hosts": "node1,node2", "chef_node_name": "node1.chefops.test"},
     "hosts node1, node2 all have chef_node_name node1.chefops.test"),
    ({"flip_hosts": "node1,node2", "chef_run_port": 99999}, "chef_run_port"),
])
def test_bad_host_variables_are_refused_before_any_change(production, extra, words):
    before = state_and_runs()
    result = run_playbook("flip.yml", "-e", json.dumps(dict(extra, flip_back=True)))
    assert result.returncode != 0
    assert words in flat(result), result.stdout[-3000:]
    assert state_and_runs() == before


def test_check_mode_changes_nothing_and_runs_nothing(production):
    put_in("node4", "production")
    before = state_and_runs()
    result = run_playbook("flip.yml", "--check", "-e", json.dumps({"flip_hosts": "node4", "flip_back": True}))
    assert result.returncode == 0, result.stdout[-4000:]
    assert state_and_runs() == before


def test_a_second_flip_while_one_is_open_keeps_the_recorded_original(production):
    put_in("node4", "production")
    result = run_playbook("flip.yml", "-e", json.dumps({"flip_hosts": "node4"}))
    assert result.returncode == 0, result.stdout[-4000:]
    assert environment_of("node4") == "testing" and recorded()[fqdn("node4")]["original"] == "production"
    # the same flip again: the original stays production (not testing, where the node is now)
    result = run_playbook("flip.yml", "-e", json.dumps({"flip_hosts": "node4"}))
    assert result.returncode == 0, result.stdout[-4000:]
    assert recorded()[fqdn("node4")]["original"] == "production"
    # a flip into another environment is refused before any change
    count = len(runs("node4"))
    result = run_playbook("flip.yml", "-e", json.dumps({"flip_hosts": "node4", "flip_environment": "_default"}))
    assert result.returncode != 0 and "open flip" in flat(result), result.stdout[-4000:]
    assert environment_of("node4") == "testing" and len(runs("node4")) == count
    assert recorded()[fqdn("node4")] == dict(recorded()[fqdn("node4")], original="production", target="testing")
    result = run_playbook("flip.yml", "-e", json.dumps({"flip_hosts": "node4", "flip_back": True}))
    assert result.returncode == 0, result.stdout[-4000:]
    assert environment_of("node4") == "production" and recorded() == {}


def test_pins_sent_as_json_text_are_written_and_reported_as_read_back(production):
    result = run_playbook("promote.yml", "-e", json.dumps({
        "promote_environment": "production", "promote_pins": '{"app": "= 1.4.2", "base": "~> 2.1"}',
        "promote_require_cookbook_versions": "false"}))
    assert result.returncode == 0, result.stdout[-4000:]
    assert chef_get("/environments/production")["cookbook_versions"] == {"app": "= 1.4.2", "base": "~> 2.1"}
    assert "app: = 1.4.2 (was no pin)" in flat(result), result.stdout[-3000:]
