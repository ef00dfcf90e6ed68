"""The backend lifecycle on the lab: the bad input the playbooks refuse, the replacement of a backend whose host was
rebuilt empty, and the rolling upgrade (stopped by a broken package on the second follower, then the whole way, then
a re-run that changes nothing) with the backup it takes first."""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import (BACKENDS, FRONTENDS, Watch, backend_info, haproxy_servers, invocations, lab_host,
                      leaders, recap, recreate_empty, run_playbook, subcommand_calls)

OLD, NEW = "2.3.19", "2.3.20"
BROKEN = "/etc/apt/apt.conf.d/99chefops-test-broken-package"
READS = (["status"], ["cluster-status"])


def changing_calls(since=None):
    """Every chef-backend-ctl call per backend that is not a read (status, cluster-status), after `since` counts."""
    calls = {}
    for name in BACKENDS:
        every = invocations(name, "chef-backend-ctl")[(since or {}).get(name, 0):]
        calls[name] = [call for call in every if call["argv"][:1] not in READS]
    return calls


def call_counts():
    return {name: len(invocations(name, "chef-backend-ctl")) for name in BACKENDS}


def wait_until_serving(names, timeout=180):
    """Until every named backend reports itself a leader or follower in a healthy-enough cluster of them."""
    deadline = time.time() + timeout
    info = {}
    while time.time() < deadline:
        info = {}
        for name in names:
            out = lab_host(name).run("chef-backend-ctl cluster-status --json").stdout
            try:
                info[name] = json.loads(out)
            except ValueError:
                info[name] = None
        # the frontends answer, and the load balancer has put them back in rotation (its checks lag behind)
        if leaders() and all(info.values()) and all(
                '"status": "pong"' in lab_host("lb").run("curl -sk https://%s/_status" % address).stdout
                for address in FRONTENDS.values()) and set(haproxy_servers().values()) == {"UP"}:
            return
        time.sleep(3)
    raise AssertionError("backends %s did not serve again: %s" % (names, info))


@pytest.fixture(scope="module")
def backup_dir():
    path = tempfile.mkdtemp(prefix="chefops-backups-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def baseline():
    """chef-backend-ctl call counts before the upgrade tests."""
    return call_counts()


# ---------------------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("playbook, extra, message", [
    ("upgrade_backends.yml", "chef_ha_backend_upgrade_version=2.3.99",
     r"chef_ha_backend_upgrade_version = 2\.3\.99 is not in the package repository \(it offers [^)]*2\.3\.20"),
    ("upgrade_backends.yml", "chef_ha_backend_upgrade_version=2.3.1",
     r"chef_ha_backend_upgrade_version = 2\.3\.1 is older; chef-backend cannot be downgraded"),
    ("upgrade_backends.yml", "chef_ha_backend_upgrade_version=latest",
     r"chef_ha_backend_upgrade_version = 'latest' is not a version"),
    ("replace_backend.yml", "chef_ha_replace=fe1",
     r"chef_ha_replace = 'fe1' is not a host of the backend group chef_backends"),
    ("replace_backend.yml", "chef_ha_replace=be2",
     r"be2 is a healthy member of the cluster .*chef_ha_replace_force=true"),
    ("replace_backend.yml", "chef_ha_replace=be2 chef_ha_replace_force=true backend_package_version=",
     r"backend_package_version is empty, so be2 would get the newest chef-backend the package repository has, "
     r"while the cluster runs 2\.3\.\d+: set backend_package_version to the cluster's build"),
])
def test_bad_input_is_refused_before_any_change(playbook, extra, message):
    before = call_counts()
    result = run_playbook(playbook, "-e", extra)
    assert result.returncode != 0, result.stdout[-3000:]
    assert re.search(message, " ".join(result.stdout.split())), result.stdout[-3000:]
    assert "Nothing was changed" in result.stdout
    assert changing_calls(before) == {name: [] for name in BACKENDS}


# -------------------------------------------------------------------------------------------------------- replacement

def test_replace_a_backend_rebuilt_empty():
    name = "be3"
    recreate_empty(name)
    assert not lab_host(name).file("/opt/chef-backend").exists
    others = [other for other in BACKENDS if other != name]
    wait_until_serving(others)

    # a second member down: no quorum, refused before any change
    subprocess.check_call(["docker", "pause", "be2"])
    try:
        before = call_counts_of(["be1"])
        refused = run_playbook("replace_backend.yml", "-e", "chef_ha_replace=" + name)
    finally:
        subprocess.check_call(["docker", "unpause", "be2"])
    assert refused.returncode != 0
    assert re.search(r"Without two serving members the cluster has no quorum", " ".join(refused.stdout.split())), \
        refused.stdout[-3000:]
    assert "Nothing was changed" in refused.stdout
    assert [call for call in invocations("be1", "chef-backend-ctl")[before["be1"]:]
            if call["argv"][:1] not in READS] == []
    wait_until_serving(others)

    # the replacement, with /_status requests through the load balancer all along
    before = call_counts_of(others)
    watch = Watch()
    watch.start()
    try:
        result = run_playbook("replace_backend.yml", "-e", "chef_ha_replace=" + name)
    finally:
        watch.done.set()
        watch.join()
    assert result.returncode == 0, result.stdout[-5000:]
    assert watch.codes and set(watch.codes) == {"200"}, sorted(set(watch.codes))
    # a serving member removed the old entry; the new node joined through it
    removals = [(other, call["argv"]) for other in others
                for call in invocations(other, "chef-backend-ctl")[before[other]:] if call["argv"][:1] == ["remove-node"]]
    assert [argv[1] for _, argv in removals] == [BACKENDS[name]], removals
    joins = [call for call in invocations(name, "chef-backend-ctl") if call["argv"][:1] == ["join-cluster"]]
    assert len(joins) == 1 and joins[0]["rc"] == 0
    # the copy of the secrets the join used is gone; three healthy members, each reading the same leader
    assert not lab_host(name).file("/root/chef-backend-secrets.join.json").exists
    info = backend_info()
    assert all(info[host]["healthy"] for host in BACKENDS), {host: info[host]["problems"] for host in BACKENDS}
    assert sorted(member["ip"] for member in info["be1"]["members"]) == sorted(BACKENDS.values())
    assert info[name]["member"]["role"] in ("leader", "follower")
    assert len({info[host]["leader"]["ip"] for host in BACKENDS}) == 1


def test_replacing_the_leader_goes_through_another_member():
    # The replaced host is never the peer: its services are stopped and its data wiped, so another serving member
    # removes its entry and it joins through that member.
    leader = leaders()[0]
    others = [other for other in BACKENDS if other != leader]
    before = call_counts()
    result = run_playbook("replace_backend.yml", "-e", "chef_ha_replace=" + leader,
                          "-e", "chef_ha_replace_force=true")
    assert result.returncode == 0, result.stdout[-5000:]
    calls = changing_calls(before)
    assert [call["argv"] for call in calls[leader] if call["argv"][:1] == ["remove-node"]] == []
    removals = [call["argv"][1] for other in others for call in calls[other] if call["argv"][:1] == ["remove-node"]]
    assert removals == [BACKENDS[leader]], calls
    joins = [call for call in calls[leader] if call["argv"][:1] == ["join-cluster"]]
    assert len(joins) == 1 and joins[0]["rc"] == 0, joins
    peer = next(arg for arg in joins[0]["argv"][1:] if arg in BACKENDS.values())
    assert peer in [BACKENDS[other] for other in others], joins[0]["argv"]
    wait_until_serving(list(BACKENDS))
    info = backend_info()
    assert all(info[host]["healthy"] for host in BACKENDS), {host: info[host]["problems"] for host in BACKENDS}
    assert sorted(member["ip"] for member in info[others[0]]["members"]) == sorted(BACKENDS.values())


def test_a_replacement_cut_short_after_the_removal_is_finished_by_the_next_run():
    # A run killed between remove-node and the join leaves a member with its data and chef-backend-running.json that
    # the cluster no longer lists (its cluster-status still answers, from the others). The next run wipes and joins
    # it; the frontends, whose peer view has lost its entry, are read together and then one at a time, and keep a
    # chef-server.rb identical to before (the address did not change), with no reconfigure, though gen-server-config
    # now lists the rejoined member last. The replaced member is the first listed that is not the leader, so its
    # place in that list changes.
    wait_until_serving(list(BACKENDS))
    listed = members_in(lab_host("fe1").check_output("cat /etc/opscode/chef-server.rb"))
    ips = {ip: host for host, ip in BACKENDS.items()}
    leader = leaders()
    name = next(ips[ip] for ip in listed if ips[ip] not in leader)
    others = [other for other in BACKENDS if other != name]
    configs = {fe: lab_host(fe).check_output("sha256sum /etc/opscode/chef-server.rb") for fe in FRONTENDS}
    lab_host(name).check_output("chef-backend-ctl stop")
    lab_host(others[0]).check_output("chef-backend-ctl remove-node %s --yes" % BACKENDS[name])
    assert lab_host(name).file("/etc/chef-backend/chef-backend-running.json").exists
    reconfigures = {fe: len(subcommand_calls(fe, "chef-server-ctl", "reconfigure")) for fe in FRONTENDS}
    before = call_counts()
    result = run_playbook("replace_backend.yml", "-e", "chef_ha_replace=" + name)
    assert result.returncode == 0, result.stdout[-5000:]
    joins = [call for call in changing_calls(before)[name] if call["argv"][:1] == ["join-cluster"]]
    assert len(joins) == 1 and joins[0]["rc"] == 0, joins
    wait_until_serving(list(BACKENDS))
    info = backend_info()
    assert all(info[host]["healthy"] for host in BACKENDS), {host: info[host]["problems"] for host in BACKENDS}
    assert sorted(member["ip"] for member in info[others[0]]["members"]) == sorted(BACKENDS.values())
    assert {fe: lab_host(fe).check_output("sha256sum /etc/opscode/chef-server.rb") for fe in FRONTENDS} == configs
    assert {fe: len(subcommand_calls(fe, "chef-server-ctl", "reconfigure")) for fe in FRONTENDS} == reconfigures
    # cleanse backed up /etc/chef-backend to /root: the configuration stays there, the cluster secrets do not
    backups = lab_host(name).check_output("ls -d /root/chef-backend-cleanse-*").split()
    assert backups and all(lab_host(name).file(path + "/chef-backend.rb").exists for path in backups), backups
    stray = lab_host(name).run("find / -xdev -name '*secrets*.json' -not -path '/proc/*' 2>/dev/null").stdout.split()
    assert stray == ["/etc/chef-backend/chef-backend-secrets.json"]
    generated = members_in(lab_host(others[0]).check_output("chef-backend-ctl gen-server-config fe1.chefops.test"))
    assert generated[-1] == BACKENDS[name] and generated != listed, (generated, listed)


def members_in(config):
    """The addresses chef_backend_members lists in a chef-server.rb, in its order."""
    line = re.search(r'(?m)^chef_backend_members\s*\[(.*)\]\s*$', config).group(1)
    return re.findall(r'"([^"]+)"', line)


def call_counts_of(names):
    return {name: len(invocations(name, "chef-backend-ctl")) for name in names}


# ------------------------------------------------------------------------------------------------------------ upgrade

def roles():
    info = backend_info()
    leader = next(name for name in BACKENDS if info[name]["member"]["role"] == "leader")
    return leader, [name for name in sorted(BACKENDS) if name != leader]


def test_upgrade_stops_at_a_broken_package_and_puts_failover_back(baseline, backup_dir):
    leader, (first, second) = roles()
    lab_host(second).check_output("echo 'DPkg::Pre-Invoke {\"/bin/false\";};' > %s" % BROKEN)
    try:
        result = run_playbook("upgrade_backends.yml", "-e", "chef_ha_backend_upgrade_version=" + NEW,
                              "-e", "chef_ha_backup_dir=" + backup_dir, "-e", "chef_ha_backup_keep=1")
    finally:
        lab_host(second).check_output("rm -f " + BROKEN)
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "The chef-backend upgrade to %s stopped at %s" % (NEW, second) in out, result.stdout[-4000:]
    assert re.search(r"Upgraded to %s: %s\." % (re.escape(NEW), first), out), result.stdout[-4000:]
    assert "%s %s" % (first, NEW) in out and "%s %s" % (second, OLD) in out and "%s %s" % (leader, OLD) in out
    assert "Cluster failover is back to on" in out

    calls = changing_calls(baseline)
    upgrades = {name: [call for call in calls[name] if call["argv"][:1] == ["upgrade"]] for name in BACKENDS}
    assert len(upgrades[first]) == 1 and upgrades[second] == [] and upgrades[leader] == []
    failover = sorted((call["time"], call["argv"][1]) for name in BACKENDS for call in calls[name]
                      if call["argv"][:1] == ["set-cluster-failover"])
    assert [state for _, state in failover] == ["off", "on"], failover
    assert not lab_host("be1").file("/var/opt/chef-backend/.chefops-failover-before").exists
    info = backend_info()
    assert {name: info[name]["version"] for name in BACKENDS} == {first: NEW, second: OLD, leader: OLD}
    assert info[leader]["member"]["role"] == "leader"
    assert all(info[name]["healthy"] for name in BACKENDS), {name: info[name]["problems"] for name in BACKENDS}


def test_upgrade_followers_one_at_a_time_then_the_leader(baseline, backup_dir):
    leader, followers = roles()
    result = run_playbook("upgrade_backends.yml", "-e", "chef_ha_backend_upgrade_version=" + NEW,
                          "-e", "chef_ha_backup_dir=" + backup_dir, "-e", "chef_ha_backup_keep=1")
    assert result.returncode == 0, result.stdout[-5000:]

    calls = changing_calls(baseline)
    upgrades = sorted((call["started"], call["time"], name, call["argv"]) for name in BACKENDS for call in calls[name]
                      if call["argv"][:1] == ["upgrade"] and call["rc"] == 0)
    # over both runs: each follower once, then the leader with --failover; never two at once
    assert [name for _, _, name, _ in upgrades] == followers + [leader], upgrades
    assert "--failover" in upgrades[-1][3] and all("--failover" not in argv for _, _, _, argv in upgrades[:-1])
    for (_, end, _, _), (start, _, _, _) in zip(upgrades, upgrades[1:]):
        assert end <= start, upgrades
    # failover: off for the followers, on for the leader, put back to on; the record is gone
    failover = sorted((call["time"], call["argv"][1]) for name in BACKENDS for call in calls[name]
                      if call["argv"][:1] == ["set-cluster-failover"])
    assert [state for _, state in failover] == ["off", "on", "off", "on", "on"], failover
    assert not lab_host("be1").file("/var/opt/chef-backend/.chefops-failover-before").exists

    info = backend_info()
    assert {name: info[name]["version"] for name in BACKENDS} == {name: NEW for name in BACKENDS}
    assert all(info[name]["healthy"] for name in BACKENDS), {name: info[name]["problems"] for name in BACKENDS}
    for name in BACKENDS:
        assert lab_host(name).check_output("dpkg-query -W -f='${Version}' chef-backend") == NEW + "-1"
        running = json.loads(lab_host(name).file("/etc/chef-backend/chef-backend-running.json").content_string)
        assert running["chef-backend"]["version"] == NEW
        assert not lab_host(name).file("/var/opt/chef-backend/.chefops-upgrade-pending").exists

    # the backup taken first: one set kept (chef_ha_backup_keep=1), sealed, checksums that sha256sum accepts
    sets = sorted(os.listdir(backup_dir))
    assert len(sets) == 1 and re.match(r"^\d{8}T\d{6}Z$", sets[0]), sets
    path = os.path.join(backup_dir, sets[0])
    assert oct(os.stat(path).st_mode & 0o777) == "0o700"
    data, = glob.glob(os.path.join(path, "chef-backend-backup-*.tgz"))
    config, = glob.glob(os.path.join(path, "chef-backup-config-*.tgz"))
    for archive in (data, config):
        assert oct(os.stat(archive).st_mode & 0o777) == "0o600"
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=path, capture_output=True).returncode == 0
    assert sorted(line.split()[1] for line in open(os.path.join(path, "SHA256SUMS"))) == \
        sorted([os.path.basename(archive) for archive in (data, config)] + ["manifest.json"])
    manifest = json.load(open(os.path.join(path, "manifest.json")))
    assert manifest["set"] == sets[0] and {"users", "organizations"} <= set(manifest), manifest
    listing = subprocess.check_output(["tar", "-tzf", data], text=True).split()
    assert "postgresql/pg_dumpall.sql" in listing and "etc/chef-backend/chef-backend.rb" in listing
    dump = subprocess.check_output(["tar", "-xzOf", data, "postgresql/pg_dumpall.sql"], text=True)
    assert "CREATE DATABASE opscode_chef" in dump
    assert "etc/opscode/chef-server.rb" in subprocess.check_output(["tar", "-tzf", config], text=True).split()
    # taken on a follower, and the hosts' copies removed once the controller's were verified
    backups = [name for name in BACKENDS for call in calls[name] if call["argv"][:1] == ["backup"]]
    assert backups and leader not in backups, backups
    for name in BACKENDS:
        assert lab_host(name).run("ls /var/opt/chef-backup/*.tgz").stdout == ""


def test_upgrade_again_changes_nothing(baseline, backup_dir):
    before = call_counts()
    result = run_playbook("upgrade_backends.yml", "-e", "chef_ha_backend_upgrade_version=" + NEW,
                          "-e", "chef_ha_backup_dir=" + backup_dir, "-e", "chef_ha_backup_keep=1")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Every backend already runs chef-backend %s: nothing to do" % NEW in " ".join(result.stdout.split())
    changed = recap(result.stdout)
    assert set(BACKENDS) <= set(changed) and set(changed.values()) == {0}, changed
    assert changing_calls(before) == {name: [] for name in BACKENDS}
