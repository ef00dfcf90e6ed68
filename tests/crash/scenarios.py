"""The crash harness's scenarios, in one place: per playbook, the lab it runs on, its variables, how its starting state
is made and put back before every kill point, and the invariants checked right after the kill and after the re-run.

A scenario is a dict:
  playbook        the playbook under playbooks/
  lab             a key of LABS: the molecule scenario and inventory, and what bringing it up means
  vars            extra variables of every run (clean, killed, re-run, third)
  setup(ctx)      once, after the lab is up: makes the starting state (its result is ctx.start)
  restore(ctx)    before every kill point: back to the starting state
  after_kill(ctx) problems (strings) right after the kill; [] when the invariants hold
  final(ctx)      problems after the re-run
  idempotent      whether a third run must report changed=0 on every host (a reason string when not)
  default         part of `make crash` without CRASH_PLAYBOOKS (cheap: a point costs under ~6 minutes)
ctx is a dict shared by the functions of one scenario ("start", "base_runs", "log").
"""
import fnmatch
import os
import shutil

import yaml

from labstate import (ROOT, backend_lifecycle, chef_api, chef_changes, chef_restore, chef_snapshot,
                      ensure_environment, lab_pytest, molecule, new_runs, rollout_lab, run_counts,
                      set_node_environment, wait_for_idle_agents)
# molecule/shared, put on sys.path by labstate
import labtest  # noqa: E402  pylint: disable=wrong-import-order

LABS = {
    # created once per `make crash`; the scenarios put the Chef server back between points
    "rollout": {"molecule": "rollout", "inventory": "lab/rollout/inventory.yml",
                "up": ["create", "prepare", "converge"]},
    # an empty lab: the scenario's restore destroys and creates it again before every point
    "default-empty": {"molecule": "default", "inventory": "lab/inventory.yml", "up": []},
    # the main lab converged by site.yml
    "default": {"molecule": "default", "inventory": "lab/inventory.yml", "up": ["create", "prepare", "converge"]},
}

# ------------------------------------------------------------------------------------------------------- rollout.yml

ROLLOUT_ALLOWLIST = "feature_a"
ROLLOUT_WAVES = [1, 1, "100%"]
# the plan of a run from an empty allowlist (rollout_waves over the inventory's order): wave 1 node1, wave 2 node2,
# wave 3 node3 and node4 (molecule/rollout/tests/test_rollout.py proves the same order)
ROLLOUT_PLAN = [["node1"], ["node2"], ["node3", "node4"]]


def _fqdn(node):
    return node + rollout_lab().DOMAIN


def _allowlist_covers():
    """{node: whether the allowlist's patterns cover its fqdn}, and the patterns."""
    patterns = rollout_lab().allowlist(ROLLOUT_ALLOWLIST) or []
    return {node: any(fnmatch.fnmatchcase(_fqdn(node), p) for p in patterns) for node in rollout_lab().NODES}, patterns


def _passed(ctx):
    """The nodes with a completed chef-client run since the start that took the allowlist's new branch."""
    lab = rollout_lab()
    passed = set()
    for node, rows in new_runs(ctx["base_runs"]).items():
        for row in rows:
            if row.get("status") == "complete" and lab.in_allowlist(lab.run_log(node, row["guid"]), node,
                                                                    ROLLOUT_ALLOWLIST):
                passed.add(node)
    return passed


def rollout_setup(ctx):
    wait_for_idle_agents()
    api = chef_api()
    chef_restore_allowlists_empty(api)
    ctx["start"] = chef_snapshot(api)


def chef_restore_allowlists_empty(api):
    with open(os.path.join(ROOT, "lab", "rollout", "group_vars", "chef_nodes.yml"), encoding="utf-8") as handle:
        names = yaml.safe_load(handle)["rollout_lab_allowlists"]  # the items the lab's converge made, empty
    for name in names:
        api.put(api.path("data", "whitelist", name), {"id": name, "patterns": []})


def rollout_restore(ctx):
    """The allowlist item empty and no progress record: the whole Chef server back to the snapshot (whatever the
    rollout role records, data bag or item, is new there and deleted), then the run counts taken as the base."""
    wait_for_idle_agents()
    chef_restore(ctx["start"])
    ctx["base_runs"] = run_counts()


def rollout_after_kill(ctx):
    covers, patterns = _allowlist_covers()
    passed = _passed(ctx)
    covered = [node for node in sorted(covers) if covers[node]]
    if not covered:
        return []
    wave = max(i for i, hosts in enumerate(ROLLOUT_PLAN) for node in covered if node in hosts)
    bad = [node for node in covered if node not in passed and node not in ROLLOUT_PLAN[wave]]
    problems = []
    if bad:
        problems.append("allowlist %s covers %s, which did not pass a gate and are not in the wave being run "
                        "(wave %d: %s); patterns %s" % (ROLLOUT_ALLOWLIST, ", ".join(bad), wave + 1,
                                                        ", ".join(ROLLOUT_PLAN[wave]), patterns))
    return problems


def rollout_final(ctx):
    covers, patterns = _allowlist_covers()
    passed = _passed(ctx)
    problems = []
    missing = [node for node in sorted(covers) if not covers[node]]
    if missing:
        problems.append("after the re-run allowlist %s does not cover %s (patterns %s)"
                        % (ROLLOUT_ALLOWLIST, ", ".join(missing), patterns))
    unpassed = sorted(set(covers) - passed)
    if unpassed:
        problems.append("after the re-run %s have no completed run on the new branch since the start"
                        % ", ".join(unpassed))
    return problems


# ---------------------------------------------------------------------------------------------------------- flip.yml

# Each node starts in an environment of its own choosing, not only _default: a re-run that "returns" a node to the
# wrong one shows.
FLIP_ORIGINAL = {"node1": "_default", "node2": "production", "node3": "production", "node4": "_default"}


def flip_setup(ctx):
    wait_for_idle_agents()
    api = chef_api()
    chef_restore_allowlists_empty(api)
    ensure_environment("production", "Pinned, the nodes' own (crash harness)", api)
    for node, environment in FLIP_ORIGINAL.items():
        set_node_environment(_fqdn(node), environment, api)
    ctx["start"] = chef_snapshot(api)


def flip_restore(ctx):
    wait_for_idle_agents()
    chef_restore(ctx["start"])
    ctx["base_runs"] = run_counts()


def _leaves(value):
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _recorded(changes, fqdn, environment):
    """Whether an object the run wrote on the server pairs the node with its original environment: a mapping with
    the node's name as a key whose value is (or holds) the environment, a mapping holding both as values, or the
    environment in the node's own normal attributes."""
    def walk(value):
        if isinstance(value, dict):
            held = value.get(fqdn)
            if held == environment or (isinstance(held, dict) and environment in held.values()):
                return True
            if fqdn in value.values() and environment in value.values():
                return True
            return any(walk(v) for v in value.values())
        if isinstance(value, list):
            return any(walk(v) for v in value)
        return False
    for kind, name, body in changes:
        if kind == "nodes" and name == fqdn:
            if environment in _leaves(body.get("normal") or {}):
                return True
        elif walk(body):
            return True
    return False


def _environments():
    api = chef_api()
    return {node: api.get(api.path("nodes", _fqdn(node)))["chef_environment"] for node in FLIP_ORIGINAL}


def flip_after_kill(ctx):
    now = _environments()
    away = {node: env for node, env in now.items() if env != FLIP_ORIGINAL[node]}
    if not away:
        return []
    changes = chef_changes(ctx["start"], chef_snapshot())
    unrecorded = [node for node in sorted(away) if not _recorded(changes, _fqdn(node), FLIP_ORIGINAL[node])]
    return ["%s in %s with no record of %s on the Chef server" % (node, away[node], FLIP_ORIGINAL[node])
            for node in unrecorded]


def flip_final(ctx):
    now = _environments()
    return ["after the re-run with flip_back=true %s is in %s, not its original %s"
            % (node, now[node], FLIP_ORIGINAL[node]) for node in sorted(now) if now[node] != FLIP_ORIGINAL[node]]


# ---------------------------------------------------------------------------------------------------------- site.yml

SITE_CHECKS = [
    # cluster healthy: chef-backend-ctl cluster-status --json on each backend, one leader and two followers
    "molecule/default/tests/test_backend_cluster.py::test_every_backend_sees_one_leader_and_two_followers",
    "molecule/default/tests/test_backend_cluster.py::test_no_copy_of_the_secrets_is_left_behind",
    "molecule/default/tests/test_frontends.py::test_status_answers_through_each_frontend_with_postgresql_through_haproxy",
    "molecule/default/tests/test_firewall.py::test_the_chain_is_jumped_to_first_and_persisted",
    "molecule/default/tests/test_firewall.py::test_the_outsider_reaches_no_backend_port",
]


def empty_lab(ctx):
    molecule("default", "destroy", "create", "prepare", log=ctx.get("log"))


def converged_lab(ctx):
    molecule("default", "destroy", "create", "prepare", "converge", log=ctx.get("log"))


def nothing(ctx):  # pylint: disable=unused-argument
    return []


def site_final(ctx):
    return lab_pytest(SITE_CHECKS, log=ctx.get("log"))


# ------------------------------------------------------------------------------------ upgrade and replace a backend

FAILOVER_CHECKS = [
    "molecule/default/tests/test_backend_cluster.py::test_every_backend_sees_one_leader_and_two_followers",
]


def failover_restored(ctx):
    """A healthy cluster, the failover record gone and the last set-cluster-failover call on any backend 'on'."""
    problems = lab_pytest(FAILOVER_CHECKS, log=ctx.get("log"))
    if labtest.lab_host("be1").file("/var/opt/chef-backend/.chefops-failover-before").exists:
        problems.append("the failover record /var/opt/chef-backend/.chefops-failover-before is still on be1")
    calls = sorted((call["time"], call["argv"][1]) for name in ("be1", "be2", "be3")
                   for call in labtest.invocations(name, "chef-backend-ctl")
                   if call["argv"][:1] == ["set-cluster-failover"])
    if calls and calls[-1][1] != "on":
        problems.append("cluster failover left %s (set-cluster-failover calls: %s)" % (calls[-1][1], calls))
    return problems


def replace_restore(ctx):
    """The converged lab with be3 rebuilt empty (the lifecycle test's recreate_empty). When the lab is up and its
    cluster healthy with failover on (the state a finished replacement leaves, checked as the final invariants are),
    only be3 is rebuilt: a point then costs its three runs and one rebuilt host, not a new lab."""
    try:
        healthy = not failover_restored(ctx)
    except Exception:  # pylint: disable=broad-except
        healthy = False  # no lab (its containers cannot be read)
    if not healthy:
        converged_lab(ctx)
    backend_lifecycle().recreate_empty("be3")


# ---------------------------------------------------------------------------------------------------- restore.yml

# The set every point restores: taken once of the converged lab, with a user created just before it.
RESTORE_SET = os.path.join(ROOT, ".build", "crash", "restore-set", "set")
RESTORE_USER = "crash-canary"
RESTORE_MARKER = "/var/opt/.chefops-backend-restore-pending"


def restore_setup(ctx):
    """A healthy converged lab and, once, a set backup.yml took of it (kept for later `make crash` runs)."""
    try:
        healthy = not failover_restored(ctx)
    except Exception:  # pylint: disable=broad-except
        healthy = False  # no lab (its containers cannot be read)
    if healthy and os.path.isfile(os.path.join(RESTORE_SET, "SHA256SUMS")):
        return
    if not healthy:
        converged_lab(ctx)
    labtest.lab_host("fe1").run("chef-server-ctl user-create %s Crash Canary %s@chefops.test 'lab-crash-Pa55word'"
                                % (RESTORE_USER, RESTORE_USER))
    root = os.path.dirname(RESTORE_SET)
    shutil.rmtree(root, ignore_errors=True)
    result = labtest.run_playbook("backup.yml", "-e", "chef_ha_backup_dir=" + root)
    if result.returncode != 0:
        raise RuntimeError("backup.yml failed: %s" % result.stdout[-2000:])
    (name,) = [entry for entry in os.listdir(root) if not entry.endswith(".partial")]
    os.rename(os.path.join(root, name), RESTORE_SET)


def restore_restore(ctx):  # pylint: disable=unused-argument
    """The three backends rebuilt empty (the frontends keep what the last restore left)."""
    backend_lifecycle().recreate_empty("be1", "be2", "be3")


def restore_final(ctx):
    """The cluster healthy (the site checks), the set's user back, and no restore left recorded as in progress."""
    problems = lab_pytest(SITE_CHECKS, log=ctx.get("log"))
    users = labtest.lab_host("fe1").run("chef-server-ctl user-list").stdout.split()
    if RESTORE_USER not in users:
        problems.append("%s, in the set, is not among the restored users %s" % (RESTORE_USER, users))
    if labtest.lab_host("be1").file(RESTORE_MARKER).exists:
        problems.append("%s is still on be1" % RESTORE_MARKER)
    return problems


SCENARIOS = {
    "rollout.yml": {
        "playbook": "rollout.yml", "lab": "rollout",
        "vars": {"rollout_allowlist": ROLLOUT_ALLOWLIST, "rollout_waves": ROLLOUT_WAVES},
        "setup": rollout_setup, "restore": rollout_restore, "after_kill": rollout_after_kill,
        "final": rollout_final, "idempotent": True, "default": True,
    },
    "flip.yml": {
        "playbook": "flip.yml", "lab": "rollout",
        "vars": {"flip_hosts": "chef_nodes", "flip_back": True},
        "setup": flip_setup, "restore": flip_restore, "after_kill": flip_after_kill, "final": flip_final,
        "idempotent": "flip.yml flips and runs chef-client on every run by design", "default": True,
    },
    "site.yml": {
        "playbook": "site.yml", "lab": "default-empty", "vars": {},
        "setup": nothing, "restore": empty_lab, "after_kill": nothing, "final": site_final,
        # a point: destroy, create, prepare, three runs: 265 s measured, but K is 59 (about 4.5 hours for all)
        "idempotent": True, "default": False,
    },
    "upgrade_backends.yml": {
        "playbook": "upgrade_backends.yml", "lab": "default",
        "vars": {"chef_ha_backend_upgrade_version": "2.3.20"},
        "setup": nothing, "restore": converged_lab, "after_kill": nothing, "final": failover_restored,
        "idempotent": True, "default": False,  # a point: a new lab converged, three runs (~12 minutes)
    },
    "replace_backend.yml": {
        "playbook": "replace_backend.yml", "lab": "default",
        "vars": {"chef_ha_replace": "be3"},
        "setup": nothing, "restore": replace_restore, "after_kill": nothing, "final": failover_restored,
        "idempotent": True, "default": False,  # a point: be3 rebuilt, three runs (a new lab converged first when the cluster is not healthy)
    },
    "restore.yml": {
        "playbook": "restore.yml", "lab": "default",
        "vars": {"chef_ha_restore_set": RESTORE_SET},
        "setup": restore_setup, "restore": restore_restore, "after_kill": nothing, "final": restore_final,
        "idempotent": True, "default": False,  # a point: three backends rebuilt, three runs
    },
}
