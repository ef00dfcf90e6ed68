"""What the crash harness reads and puts back on the labs: the Chef server's objects (snapshot and restore, signed with
the collection's own client through molecule/rollout/chef_lab.py), the rollout lab's Chef Waiter run tables and run
logs (molecule/rollout/tests/conftest.py), molecule itself, and the main lab's existing checks (pytest node ids of
molecule/default/tests)."""
import importlib.util
import json
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "molecule", "shared"))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_rollout = None
_chef_lab = None
_lifecycle = None


def rollout_lab():
    """The rollout scenario's test helpers (NODES, SERVER, ADMIN_KEY, runs, run_log, in_allowlist...)."""
    global _rollout  # pylint: disable=global-statement
    if _rollout is None:
        _rollout = _load("chefops_crash_rollout_conftest", "molecule/rollout/tests/conftest.py")
    return _rollout


def backend_lifecycle():
    """The main scenario's backend lifecycle tests (recreate_empty)."""
    global _lifecycle  # pylint: disable=global-statement
    if _lifecycle is None:
        sys.path.insert(0, os.path.join(ROOT, "molecule", "default", "tests"))  # its `from conftest import`
        _lifecycle = _load("chefops_crash_lifecycle", "molecule/default/tests/test_backend_lifecycle.py")
    return _lifecycle


def chef_api():
    """A client signed as the lab server's admin."""
    global _chef_lab  # pylint: disable=global-statement
    if _chef_lab is None:
        _chef_lab = _load("chefops_crash_chef_lab", "molecule/rollout/chef_lab.py")
    lab = rollout_lab()
    return _chef_lab.client(lab.SERVER, lab.ADMIN_KEY)


# ------------------------------------------------------------------------------------------------------ Chef server

def chef_snapshot(api=None):
    """Every data bag item, environment and node the server holds: {"data": {bag: {item: json}}, "environments":
    {name: json}, "nodes": {name: json}}."""
    api = api or chef_api()
    snap = {"data": {}, "environments": {}, "nodes": {}}
    for bag in sorted(api.get("/data") or {}):
        items = api.get(api.path("data", bag)) or {}
        snap["data"][bag] = {item: api.get(api.path("data", bag, item)) for item in sorted(items)}
    for name in sorted(api.get("/environments") or {}):
        snap["environments"][name] = api.get(api.path("environments", name))
    for name in sorted(api.get("/nodes") or {}):
        snap["nodes"][name] = api.get(api.path("nodes", name))
    return snap


def chef_changes(before, after):
    """The objects of `after` that are new or differ from `before`, as a list of (kind, name, json)."""
    changed = []
    for bag, items in after["data"].items():
        for item, body in items.items():
            if before["data"].get(bag, {}).get(item) != body:
                changed.append(("data", "%s/%s" % (bag, item), body))
    for kind in ("environments", "nodes"):
        for name, body in after[kind].items():
            if before[kind].get(name) != body:
                changed.append((kind, name, body))
    return changed


def chef_restore(snap, api=None):
    """Put the server back to the snapshot: data bags and items that are new are deleted, changed ones written back;
    new environments deleted, changed ones written back; each node's environment and normal attributes put back
    (the rest of a node is what its last chef-client run saved)."""
    api = api or chef_api()
    now = chef_snapshot(api)
    for bag, items in now["data"].items():
        if bag not in snap["data"]:
            api.delete(api.path("data", bag))
            continue
        for item in items:
            if item not in snap["data"][bag]:
                api.delete(api.path("data", bag, item))
    for bag, items in snap["data"].items():
        if bag not in now["data"]:
            api.post("/data", {"name": bag})
        for item, body in items.items():
            current = now["data"].get(bag, {}).get(item)
            if current is None:
                api.post(api.path("data", bag), body)
            elif current != body:
                api.put(api.path("data", bag, item), body)
    for name, body in now["environments"].items():
        if name not in snap["environments"]:
            api.delete(api.path("environments", name))
        elif body != snap["environments"][name] and name != "_default":
            api.put(api.path("environments", name), snap["environments"][name])
    for name, body in snap["environments"].items():
        if name not in now["environments"]:
            api.post("/environments", body)
    for name, body in now["nodes"].items():
        want = snap["nodes"].get(name)
        if want is None:
            api.delete(api.path("nodes", name))
        elif node_state(body) != node_state(want):
            api.put(api.path("nodes", name), dict(body, chef_environment=want.get("chef_environment"),
                                                  normal=want.get("normal")))
    after = chef_snapshot(api)
    left = [change[:2] for change in chef_changes(snap, after) if change[0] != "nodes"]
    left += [("nodes", name) for name, body in after["nodes"].items()
             if name not in snap["nodes"] or node_state(body) != node_state(snap["nodes"][name])]
    left += [("data", bag) for bag in set(after["data"]) ^ set(snap["data"])]
    left += [("environments", name) for name in set(snap["environments"]) - set(after["environments"])]
    if left:
        raise RuntimeError("the Chef server did not go back to the starting state: %s" % left)


def node_state(body):
    """What the harness puts back on a node: its environment and normal attributes."""
    return body.get("chef_environment"), body.get("normal")


def ensure_environment(name, description, api=None):
    api = api or chef_api()
    if api.get(api.path("environments", name), missing_ok=True) is None:
        api.post("/environments", {"name": name, "description": description, "json_class": "Chef::Environment",
                                   "chef_type": "environment", "cookbook_versions": {}, "default_attributes": {},
                                   "override_attributes": {}})


def set_node_environment(node, environment, api=None):
    api = api or chef_api()
    body = api.get(api.path("nodes", node))
    if body.get("chef_environment") != environment:
        api.put(api.path("nodes", node), dict(body, chef_environment=environment))


# ------------------------------------------------------------------------------------------------------ Chef Waiter

def run_counts():
    """{node: the ids of the runs its Chef Waiter lists now} (ids, not a count: the agent keeps a bounded table)."""
    lab = rollout_lab()
    return {node: {row["guid"] for row in lab.runs(node)} for node in lab.NODES}


def wait_for_idle_agents(timeout=600):
    """Until no node's Chef Waiter has a run in progress (one a killed playbook started finishes on its own)."""
    lab = rollout_lab()
    deadline = time.time() + timeout
    while True:
        busy = {node: [row["guid"] for row in lab.runs(node) if row.get("status") not in ("complete", "failed")]
                for node in lab.NODES}
        busy = {node: guids for node, guids in busy.items() if guids}
        if not busy:
            return
        if time.time() > deadline:
            raise RuntimeError("Chef Waiter runs still in progress after %ds: %s" % (timeout, busy))
        time.sleep(2)


def new_runs(base):
    """{node: the runs its Chef Waiter lists that base (run_counts) did not, oldest first}."""
    lab = rollout_lab()
    return {node: [row for row in lab.runs(node) if row["guid"] not in base.get(node, set())] for node in lab.NODES}


# --------------------------------------------------------------------------------------------------------- molecule

def molecule(scenario, *actions, log=None):
    """Run molecule actions in order; raises with the tail of the output when one fails."""
    env = dict(os.environ, MOLECULE_NO_LOG="false", ANSIBLE_FORCE_COLOR="false", PY_COLORS="0")
    for action in actions:
        proc = subprocess.run(["molecule", action, "-s", scenario], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=3600, check=False)
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write("\n==== molecule %s -s %s (rc %d)\n%s" % (action, scenario, proc.returncode, proc.stdout))
        if proc.returncode != 0:
            raise RuntimeError("molecule %s -s %s failed (rc %d): %s"
                               % (action, scenario, proc.returncode, proc.stdout[-2000:]))


def lab_pytest(node_ids, log=None):
    """The scenario's existing checks, by pytest node id; returns the problems (empty when they pass)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x"] + list(node_ids),
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800,
                          check=False)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write("\n==== pytest %s (rc %d)\n%s" % (" ".join(node_ids), proc.returncode, proc.stdout))
    if proc.returncode == 0:
        return []
    failed = [line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return failed or ["pytest rc %d: %s" % (proc.returncode, proc.stdout[-500:])]


def json_dumps(value):
    return json.dumps(value, sort_keys=True)
