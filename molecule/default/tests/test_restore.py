"""Disaster recovery on the lab: objects created, backup.yml, an object created after it, all three backends rebuilt
empty, restore.yml; what the backup held is back, what came after is not, the cluster serves through the load
balancer with new secrets, and a re-run as the restore drill changes nothing and finds what the set's manifest
recorded. Before that, the sets and the situations restore.yml and restore_drill.yml must refuse with nothing
changed."""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import labtest
from conftest import (BACKENDS, FRONTENDS, LB, backend_info, haproxy_servers, invocations, lab_host, leaders, recap,
                      recreate_empty, run_playbook)

PASSWORD = "lab-drill-Pa55word"  # a lab password, not a secret of anyone's
PSQL = ("runuser -u chef_pgsql -- /usr/lib/postgresql/15/bin/psql -h /var/opt/chef-backend/postgresql/run "
        "-d opscode_chef -XAtc %s")


def create_user(name):
    """user-create on fe1; returns the public key derived from the private key the server handed out."""
    result = lab_host("fe1").run("chef-server-ctl user-create %s Drill %s %s@chefops.test '%s'"
                                 % (name, name, name, PASSWORD))
    assert result.rc == 0, result.stderr
    public = subprocess.run(["openssl", "rsa", "-pubout"], input=result.stdout, capture_output=True, text=True,
                            check=True).stdout
    return public


def users():
    return lab_host("fe1").check_output("chef-server-ctl user-list").split()


def stored_public_key(name):
    leader = leaders()[0]
    return lab_host(leader).check_output(PSQL % ("\"select public_key from users where username = '%s'\"" % name))


def versions(backup_set):
    """The -e options pinning the versions the set recorded, as restore.yml requires."""
    found = {}
    for archive in os.listdir(backup_set):
        member = {"chef-backend-backup-": "backup.json", "chef-backup-config-": "manifest.json"}
        for prefix, name in member.items():
            if archive.startswith(prefix):
                text = subprocess.check_output(["tar", "-xzOf", os.path.join(backup_set, archive), name])
                doc = json.loads(text)
                found[prefix] = doc["version"] if "version" in doc else doc["versions"]["chef-server-core"]["version"]
    return ["-e", "backend_package_version=%s-1" % found["chef-backend-backup-"],
            "-e", "frontend_package_version=%s-1" % found["chef-backup-config-"]]


def changing_backend_calls(before):
    return {name: [call["argv"] for call in invocations(name, "chef-backend-ctl")[before[name]:]
                   if call["argv"][:1] not in (["status"], ["cluster-status"])] for name in BACKENDS}


@pytest.fixture(scope="module")
def backup_set():
    """A set taken by backup.yml with the drill user in it, and a user created after it."""
    root = tempfile.mkdtemp(prefix="chefops-restore-")
    before = create_user("drill-before")
    result = run_playbook("backup.yml", "-e", "chef_ha_backup_dir=" + root)
    assert result.returncode == 0, result.stdout[-3000:]
    (name,) = [entry for entry in os.listdir(root) if not entry.endswith(".partial")]
    create_user("drill-after")
    yield {"path": os.path.join(root, name), "root": root, "public_key": before}
    shutil.rmtree(root, ignore_errors=True)
    for user in ("drill-before", "drill-after"):  # the live cluster's own users are not left behind
        lab_host(leaders()[0]).run(PSQL % ("\"delete from users where username = '%s'\"" % user))


def broken_copy(backup_set, breakage):
    copy = os.path.join(backup_set["root"], "broken", os.path.basename(backup_set["path"]))
    shutil.rmtree(os.path.dirname(copy), ignore_errors=True)
    shutil.copytree(backup_set["path"], copy)
    return breakage(copy) or copy


def flip_one_byte(directory):
    (archive,) = [name for name in os.listdir(directory) if name.startswith("chef-backend-backup-")]
    with open(os.path.join(directory, archive), "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 1]))


def drop_frontend_archive(directory):
    (archive,) = [name for name in os.listdir(directory) if name.startswith("chef-backup-config-")]
    os.remove(os.path.join(directory, archive))


def unsealed(directory):
    os.rename(directory, directory + ".partial")
    return directory + ".partial"


DRILL_ON_THE_LAB = ["-e", "chef_ha_drill_backend_group=chef_backends",
                    "-e", "chef_ha_drill_frontend_group=chef_frontends",
                    "-e", "chef_ha_drill_load_balancer_group=chef_load_balancers"]
MISMATCH = (r"frontend_package_version = '[0-9.]+-1', but the set was taken with chef-server-core [0-9.]+: "
            r"set frontend_package_version to that build")
LIVE = r"be1, be2, be3 hold a Chef Backend cluster .*chef_ha_restore_force=true"


@pytest.mark.parametrize("playbook, breakage, pins, message", [
    ("restore.yml", flip_one_byte, True, r"chef-backend-backup-\S+ does not match its sha256 in SHA256SUMS"),
    ("restore.yml", drop_frontend_archive, True, r"chef-backup-config-\S+, listed in SHA256SUMS, is missing"),
    ("restore.yml", unsealed, True, r"it is an unsealed \.partial set"),
    ("restore.yml", lambda directory: None, False, MISMATCH),
    ("restore.yml", lambda directory: None, True, LIVE),
    ("restore_drill.yml", lambda directory: None, True,
     r"The scratch cluster shares be1, be2, be3, fe1, fe2 with the live cluster"),
], ids=["one-byte-altered", "frontend-archive-missing", "partial-set", "version-mismatch", "live-cluster",
        "drill-on-live-hosts"])
def test_restore_refuses_before_any_change(backup_set, playbook, breakage, pins, message):
    path = broken_copy(backup_set, breakage)
    for name in BACKENDS:  # a cluster this set was restored into is not a live one to it: forget that it was
        lab_host(name).run("rm -f /var/opt/.chefops-backend-restore-set")
    extra = versions(backup_set["path"])
    if not pins:  # the frontend pinned to a build other than the set's
        extra[3] = re.sub(r"=(\d+)\.(\d+)\.(\d+)-1", lambda m: "=%s.%s.%d-1" % (m[1], m[2], int(m[3]) + 1), extra[3])
    if playbook == "restore_drill.yml":
        extra += ["-e", "chef_ha_drill_set=" + path] + DRILL_ON_THE_LAB
    else:
        extra += ["-e", "chef_ha_restore_set=" + path]
    before = {name: len(invocations(name, "chef-backend-ctl")) for name in BACKENDS}
    fe_before = len(invocations("fe1", "chef-server-ctl"))
    result = run_playbook(playbook, *extra)
    assert result.returncode != 0, result.stdout[-3000:]
    assert re.search(message, " ".join(result.stdout.split())), result.stdout[-3000:]
    assert "Nothing was changed" in result.stdout
    assert changing_backend_calls(before) == {name: [] for name in BACKENDS}
    assert invocations("fe1", "chef-server-ctl")[fe_before:] == []


def test_restore_into_backends_rebuilt_empty(backup_set):
    old_secrets = lab_host("be1").file("/etc/chef-backend/chef-backend-secrets.json").content_string
    recreate_empty(*BACKENDS)
    for name in BACKENDS:
        assert not lab_host(name).file("/opt/chef-backend").exists
    fe_before = {name: len(invocations(name, "chef-server-ctl")) for name in FRONTENDS}

    result = run_playbook("restore.yml", "-e", "chef_ha_restore_set=" + backup_set["path"],
                          *versions(backup_set["path"]))
    assert result.returncode == 0, result.stdout[-6000:]
    new_secrets = lab_host("be1").file("/etc/chef-backend/chef-backend-secrets.json").content_string
    assert not [value for value in labtest.secrets_in(new_secrets) if value in result.stdout]
    recovery = re.search(r"recovery point \S+ \((\d+) s before the restore started\); this run took (\d+) s",
                         " ".join(result.stdout.split()))
    assert recovery, result.stdout[-3000:]
    print("restore.yml: recovery point %s s, recovery time %s s" % recovery.groups())

    # the vendor's order: a new cluster from the archive on the bootstrap node, the others joined, one each
    restores = [call for call in invocations("be1", "chef-backend-ctl") if call["argv"][:1] == ["restore"]]
    assert len(restores) == 1 and restores[0]["rc"] == 0
    assert restores[0]["argv"][1:3] == ["--publish_address", BACKENDS["be1"]]
    for name in ("be2", "be3"):
        joins = [call for call in invocations(name, "chef-backend-ctl") if call["argv"][:1] == ["join-cluster"]]
        assert len(joins) == 1 and joins[0]["rc"] == 0 and joins[0]["argv"][1] == BACKENDS["be1"]
    assert json.loads(new_secrets) != json.loads(old_secrets)
    info = backend_info()
    assert all(info[host]["healthy"] for host in BACKENDS), {host: info[host]["problems"] for host in BACKENDS}
    assert sorted(member["ip"] for member in info["be1"]["members"]) == sorted(BACKENDS.values())
    # each frontend restored the configuration archive once (--cleanse), then reconfigured; the first one reindexed
    for name in FRONTENDS:
        calls = [call["argv"] for call in invocations(name, "chef-server-ctl")[fe_before[name]:]
                 if call["argv"][:1] in (["restore"], ["reconfigure"], ["reindex"])]
        kinds = [argv[0] for argv in calls]
        assert kinds.count("restore") == 1 and calls[kinds.index("restore")][-1] == "--cleanse", calls
        assert "reconfigure" in kinds[kinds.index("restore") + 1:], calls
    reindexes = [call for call in invocations("fe1", "chef-server-ctl")[fe_before["fe1"]:]
                 if call["argv"][:1] == ["reindex"]]
    assert len(reindexes) == 1 and reindexes[0]["rc"] == 0
    # no copy of an archive stays on a host
    for name in ("be1",) + tuple(FRONTENDS):
        assert lab_host(name).run("ls -A /var/opt/chef-backup/restore").stdout.strip() == ""

    # what the backup held is back, what came after it is not, the old key authenticates the same user
    names = users()
    assert "drill-before" in names and "chefadmin" in names and "drill-after" not in names
    assert "chefops" in lab_host("fe1").check_output("chef-server-ctl org-list").split()
    assert stored_public_key("drill-before") == backup_set["public_key"].strip()
    # both frontends answer through the load balancer, which has them in rotation
    assert set(haproxy_servers().values()) == {"UP"}, haproxy_servers()
    for _ in range(4):
        assert '"status": "pong"' in lab_host("outsider").check_output("curl -sk https://%s/_status" % LB)

    # Run again as the restore drill, the lab itself as its scratch cluster (no second cluster fits beside it):
    # a finished restore changes nothing, and the server holds exactly the users and organizations of the manifest
    # backup.yml recorded (drill-before, not drill-after). The comparison's failures: unit tests of its filter.
    drill = run_playbook("restore_drill.yml", "-e", "chef_ha_drill_set=" + backup_set["path"],
                         "-e", "chef_ha_drill_allow_live_hosts=true",
                         *(DRILL_ON_THE_LAB + versions(backup_set["path"])))
    assert drill.returncode == 0, drill.stdout[-5000:]
    changed = recap(drill.stdout)
    assert {host: changed.get(host) for host in list(BACKENDS) + list(FRONTENDS)} == \
        {host: 0 for host in list(BACKENDS) + list(FRONTENDS)}, changed
    report = re.search(r"Drill of set (\S+) passed: (\d+) users and (\d+) organizations as recorded; recovery point "
                       r"\S+ \((\d+) s old when the drill started\); recovery time (\d+) s",
                       " ".join(drill.stdout.split()))
    assert report and report.group(1) == os.path.basename(backup_set["path"]), drill.stdout[-3000:]
    with open(os.path.join(backup_set["path"], "manifest.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    assert "drill-before" in manifest["users"] and "drill-after" not in manifest["users"]
    assert (int(report.group(2)), int(report.group(3))) == (len(manifest["users"]), len(manifest["organizations"]))
    print("restore_drill.yml: recovery point %s s, recovery time %s s" % report.group(4, 5))
