"""Faults during a run: an interrupted join is repaired by a re-run; a follower whose service does not come up is
named and nothing is undone."""
import json
import re
import subprocess
import time

import pytest

import labtest
from conftest import BACKENDS, lab_host, leaders, run_playbook, subcommand_calls


def cluster_nodes(name="be1"):
    return json.loads(lab_host(name).check_output("chef-backend-ctl cluster-status --json"))["nodes"]


def wait_healthy(name="be1", timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = lab_host(name).run("chef-backend-ctl cluster-status --json")
        if result.rc == 0:
            nodes = json.loads(result.stdout)["nodes"]
            roles = sorted(node["role"] for node in nodes)
            if roles == ["follower", "follower", "leader"] and all(node["pg"] in ("leader", "follower") for node in nodes):
                status = lab_host(name).run("chef-backend-ctl status")
                if "healthy nodes: 3/3" in status.stdout and "synced: 2" in status.stdout:
                    return nodes
        time.sleep(3)
    raise AssertionError("cluster not healthy after %ss: %s" % (timeout, lab_host(name).run("chef-backend-ctl status").stdout))


def test_a_join_killed_half_way_is_repaired_by_a_rerun():
    be3 = lab_host("be3")
    # make be3 a fresh follower again: wipe it and take it out of the cluster. This cleanse is the test's, not the
    # collection's: the copy of the secrets it saves under /root goes too (test_backend_cluster looks for strays).
    be3.check_output("chef-backend-ctl cleanse yes && rm -f /root/chef-backend-cleanse-*/chef-backend-secrets.json")
    lab_host("be1").check_output("chef-backend-ctl remove-node %s --yes" % BACKENDS["be3"])
    assert sorted(node["ip"] for node in cluster_nodes()) == sorted([BACKENDS["be1"], BACKENDS["be2"]])
    joins_before = len(subcommand_calls("be3", "chef-backend-ctl", "join-cluster"))
    cleanses_before = len(subcommand_calls("be3", "chef-backend-ctl", "cleanse"))

    run = labtest.start_playbook("site.yml")
    try:
        deadline = time.time() + 300
        while time.time() < deadline and be3.run("pgrep -f '[c]hef-backend-ctl join-cluster'").rc != 0:
            time.sleep(0.5)
        assert be3.run("pgrep -f '[c]hef-backend-ctl join-cluster'").rc == 0, "the join on be3 never started"
        # half-way: the join has added this node's etcd member and started etcd, and has not finished
        while time.time() < deadline and be3.run("pgrep -x etcd").rc != 0:
            time.sleep(0.2)
        assert not be3.file("/etc/chef-backend/chef-backend-running.json").exists
        be3.check_output("pkill -KILL -f '[c]hef-backend-ctl join-cluster'")
        output = labtest.finish_run(run)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0
    assert "be3" in output
    # the copied secrets are gone even though the join died
    assert not be3.file("/root/chef-backend-secrets.join.json").exists

    rerun = run_playbook("site.yml")
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    nodes = wait_healthy()
    assert sorted(node["ip"] for node in nodes) == sorted(BACKENDS.values())
    # the killed join logged nothing (the stand-in logs on exit); the re-run cleaned be3 up and joined it once
    assert len(subcommand_calls("be3", "chef-backend-ctl", "join-cluster")) == joins_before + 1
    assert len(subcommand_calls("be3", "chef-backend-ctl", "cleanse")) == cleanses_before + 1
    etcd = json.loads(lab_host("be1").check_output(
        "ETCDCTL_API=3 etcdctl --endpoints http://%s:2379 member list -w json" % BACKENDS["be1"]))
    assert len(etcd["members"]) == 3


FAIL_FLAG = "/run/chefops-test-fail-cluster-status"
CTL = "/opt/chef-backend/bin/chef-backend-ctl"
# In the real command's place (the modules look in /opt/chef-backend/bin first): cluster-status fails as when etcd
# cannot be reached, while FAIL_FLAG is there; everything else (and cluster-status once the flag is gone) is the real
# command, moved aside.
FLAKY_CTL = """#!/bin/sh
if [ "$1" = cluster-status ] && [ -e %s ]; then
  echo '{"error": "could not reach etcd on any cluster member"}'
  exit 1
fi
exec %s.real "$@"
""" % (FAIL_FLAG, CTL)


def test_a_member_whose_cluster_status_fails_for_a_while_is_read_again_never_wiped():
    # A joined follower whose cluster-status fails for a while (etcd still starting, one slow answer) as site.yml
    # joins the backends. The run reads it again until it answers; it never cleanses a member whose join finished.
    follower = sorted(name for name in BACKENDS if name not in leaders())[0]
    host = lab_host(follower)
    cleanses = len(subcommand_calls(follower, "chef-backend-ctl", "cleanse"))
    host.check_output("mv {0} {0}.real && cat > {0} <<'EOF'\n{1}EOF\nchmod 0755 {0} && touch {2}".format(
        CTL, FLAKY_CTL, FAIL_FLAG))
    lines = []
    retrying = re.compile(r"FAILED - RETRYING: \[%s\]: .*Read this node's cluster state" % follower)
    try:
        run = labtest.start_playbook("site.yml")
        try:
            deadline = time.time() + 400
            for line in run.stdout:
                lines.append(line)
                # the read failed and is being retried: now cluster-status answers again
                if retrying.search(line) or time.time() > deadline:
                    break
            host.check_output("rm -f " + FAIL_FLAG)
            lines.extend(run.stdout)
            run.wait(timeout=900)
        finally:
            if run.poll() is None:
                run.kill()
    finally:
        host.check_output("rm -f {1}; if [ -e {0}.real ]; then mv -f {0}.real {0}; fi".format(CTL, FAIL_FLAG))
    output = "".join(lines)
    labtest.keep_run(run.args, output)
    assert len(subcommand_calls(follower, "chef-backend-ctl", "cleanse")) == cleanses, output[-4000:]
    assert any(retrying.search(line) for line in lines), output[-4000:]
    assert run.returncode == 0, output[-4000:]
    nodes = wait_healthy()
    assert sorted(node["ip"] for node in nodes) == sorted(BACKENDS.values())


MUTATING = ("create-cluster", "join-cluster", "reconfigure", "remove-node", "cleanse", "stop", "restart", "demote",
            "promote", "set-cluster-failover", "upgrade")


def mutating_calls(name):
    return [call for sub in MUTATING for call in subcommand_calls(name, "chef-backend-ctl", sub)]


def test_a_follower_whose_service_does_not_come_up_fails_the_run_naming_it_and_undoes_nothing():
    # site.yml starts what is down on a member (test_failover); here be3's PostgreSQL cannot start at all
    be3 = lab_host("be3")
    before = {name: mutating_calls(name) for name in ("be1", "be2")}
    be3.check_output("chef-backend-ctl stop && systemctl mask chef-backend-postgresql")
    try:
        result = run_playbook("site.yml")
        assert result.returncode != 0
        failure = result.stdout.split("fatal: [be3]", 1)[1][:3000]
        assert "chef-backend-ctl start postgresql failed" in failure, failure
        # the message names the member, what is down, and the playbook for a host that cannot be repaired
        assert re.search(r"Backend be3: chef-backend-ctl start postgresql failed .*replace_backend\.yml -e "
                         r"chef_ha_replace=be3", " ".join(result.stdout.split())), result.stdout[-3000:]
        # it fails at once, before any join or health gate waits for be3
        assert "Wait until the cluster is healthy" not in result.stdout
        assert "Steps 2 and 3" not in result.stdout
        # the healthy members ran nothing that changes state, and still list be3 as a member
        assert {name: mutating_calls(name) for name in ("be1", "be2")} == before
        assert sorted(node["ip"] for node in cluster_nodes()) == sorted(BACKENDS.values())
    finally:
        be3.check_output("systemctl unmask chef-backend-postgresql && chef-backend-ctl start")
    wait_healthy()


@pytest.mark.parametrize("pipelining", ["false", "true"])
def test_an_unreachable_member_fails_the_run_at_once_naming_it_and_the_repair(pipelining):
    # With pipelining (as production is told to run) a paused host is no longer "unreachable": its module result
    # cannot be read, a module failure. Either way the run stops at once, before any change, naming the host.
    follower = sorted(name for name in BACKENDS if name not in leaders())[0]
    before = {name: mutating_calls(name) for name in BACKENDS if name != follower}
    started = time.time()
    subprocess.check_call(["docker", "pause", follower])
    try:
        result = run_playbook("site.yml", "-e", "ansible_pipelining=" + pipelining)
    finally:
        subprocess.check_call(["docker", "unpause", follower])
    elapsed = time.time() - started
    assert result.returncode != 0
    assert elapsed < 60, elapsed
    assert re.search(r"(Unreachable|Facts could not be gathered): %s\. Nothing was changed\..*run "
                     r"replace_backend\.yml -e chef_ha_replace=%s" % (follower, follower),
                     " ".join(result.stdout.split())), result.stdout[-3000:]
    assert "PLAY [Preflight" not in result.stdout
    assert {name: mutating_calls(name) for name in BACKENDS if name != follower} == before
    wait_healthy()
