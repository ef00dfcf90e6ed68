"""Helpers for the rollout scenario's tests: the nodes' Chef Waiter run tables and run logs, goiardi's state."""
import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
import labtest  # noqa: E402
from labtest import ROOT, lab_host  # noqa: E402,F401
# the test modules in an order drawn from a seed (CHEFOPS_TEST_SEED replays one), the order printed
from labtest import pytest_collection_modifyitems, pytest_report_collectionfinish  # noqa: E402,F401

NODES = {"node1": "172.31.250.31", "node2": "172.31.250.32", "node3": "172.31.250.33", "node4": "172.31.250.34"}
DOMAIN = ".chefops.test"
SERVER = "http://172.31.250.51:4545"
ADMIN_KEY = os.path.join(ROOT, ".build", "lab-chef", "admin.pem")
INVENTORY = os.path.join(ROOT, "lab", "rollout", "inventory.yml")
# The secrets this lab holds: no playbook run may show them (labtest.run_playbook).
labtest.SECRET_FILES.update({None: [ADMIN_KEY], **{node: ["/etc/chef/client.pem"] for node in NODES}})


def run_playbook(playbook, *args):
    return labtest.run_playbook(playbook, *args, inventory=INVENTORY)


def chef_get(path):
    """The JSON goiardi holds at path (signed as its admin), or None when it is missing."""
    out = subprocess.run([sys.executable, os.path.join(ROOT, "molecule", "rollout", "chef_lab.py"), "get", SERVER,
                          ADMIN_KEY, path], capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def allowlist(name):
    item = chef_get("/data/whitelist/%s" % name)
    return None if item is None else item.get("patterns")


def runs(node):
    """Chef Waiter's run table on the node: its runs, oldest first."""
    with urllib.request.urlopen("http://%s:8901/chef/allruns" % NODES[node], timeout=10) as answer:
        table = json.loads(answer.read().decode())
    rows = [dict(details, guid=guid) for guid, details in table.items()]
    return sorted(rows, key=lambda row: (row.get("starttime") or 0, row["guid"]))


def run_log(node, guid):
    with urllib.request.urlopen("http://%s:8901/cheflogs/%s" % (NODES[node], guid), timeout=10) as answer:
        return answer.read().decode()


def in_allowlist(log, node, name):
    """The branch the node's chef-client took for the allowlist, from chef-whitelist's own log lines."""
    fqdn = node + DOMAIN
    if "Whitelisting: Node '%s' didn't match any patterns for whitelist '%s'" % (fqdn, name) in log:
        return False
    if "to host '%s' for whitelist '%s'" % (fqdn, name) in log:
        return True
    raise AssertionError("no allowlist line for %s / %s in the run log:\n%s" % (fqdn, name, log[-2000:]))
