"""Tests of the chef-backend stand-in (Chef Backend HA cluster: real etcd + PostgreSQL, leaderl, Elasticsearch).

The first tests are pure Python (config parsing, pg_hba.conf rendering, table formatting). The lab tests drive
be1..be3 and fe1 through testinfra's docker backend: they build and install the package, reset the backends
with `cleanse`, and check the real state of etcd, PostgreSQL and the listeners. The module leaves a healthy
3-node cluster behind for the tests that come after it.
"""
import importlib.util
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lab_running import lab_up

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tests" / "standins" / "chef-backend"
LIB = STANDIN / "src" / "opt" / "chef-backend" / "embedded" / "lib" / "python"
BACKENDS = {"be1": "172.31.250.11", "be2": "172.31.250.12", "be3": "172.31.250.13"}
LEADER_IP = BACKENDS["be1"]
SECRETS = "/etc/chef-backend/chef-backend-secrets.json"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, LIB / ("%s.py" % name))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


cb = _load("cbcommon")


# ------------------------------------------------------------------------------------------------ pure Python

def test_parse_backend_rb_both_ruby_forms_and_dotted_keys():
    text = (
        "publish_address '10.0.0.5' # External ip address of this backend box\n"
        "fqdn = \"be1.example.com\"\n"
        "postgresql.md5_auth_cidr_addresses = [\"samehost\", \"samenet\", \"10.1.0.0/16\"]\n"
        "etcd.heartbeat_interval = 600\n"
        "leaderl['leader_ttl_seconds'] = 20\n"
        "elasticsearch.enable = false\n"
        "# publish_address '9.9.9.9'\n"
    )
    cfg = cb.parse_backend_rb(text)
    assert cfg["publish_address"] == "10.0.0.5"
    assert cfg["fqdn"] == "be1.example.com"
    assert cfg["postgresql.md5_auth_cidr_addresses"] == ["samehost", "samenet", "10.1.0.0/16"]
    assert cfg["etcd.heartbeat_interval"] == 600
    assert cfg["leaderl.leader_ttl_seconds"] == 20
    assert cfg["elasticsearch.enable"] is False


def test_parse_backend_rb_quoted_list_form_of_sample_config():
    cfg = cb.parse_backend_rb("postgresql.md5_auth_cidr_addresses = '[\"samehost\", \"samenet\"]'\n")
    assert cfg["postgresql.md5_auth_cidr_addresses"] == ["samehost", "samenet"]


def test_pg_hba_has_two_lines_per_cidr_as_the_seed_describes():
    hba = cb.render_pg_hba(["samehost", "samenet", "192.168.2.0/24"])
    rules = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    network = [r for r in rules if r[0] != "local"]
    assert network == [
        ["host", "all", "all", "samehost", "md5"],
        ["hostssl", "replication", "replicator", "samehost", "md5"],
        ["host", "all", "all", "samenet", "md5"],
        ["hostssl", "replication", "replicator", "samenet", "md5"],
        ["host", "all", "all", "192.168.2.0/24", "md5"],
        ["hostssl", "replication", "replicator", "192.168.2.0/24", "md5"],
    ]
    assert all(r[1:3] in (["all", "chef_pgsql"], ["replication", "chef_pgsql"]) for r in rules if r[0] == "local")


def test_status_table_and_duration_format():
    assert cb.fmt_duration(106983) == "1d 5h 43m 3s"
    table = cb.format_table([["Service", "Local Status"], ["etcd", "running (pid 6742)"], ["postgresql", "down"]])
    assert table.splitlines() == ["Service     Local Status", "etcd        running (pid 6742)", "postgresql  down"]


# ------------------------------------------------------------------------------------------------ lab

lab = pytest.mark.skipif(not lab_up("be1", "be2", "be3", "fe1"), reason="lab containers are not running")


def host(name):
    import testinfra
    return testinfra.get_host("docker://%s" % name)


def ctl(name, args):
    return host(name).run("chef-backend-ctl %s" % args)


def in_parallel(fn, names):
    results = {}

    def worker(n):
        results[n] = fn(n)
    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def copy_between(src, path, dest, dest_path, tmp_path):
    local = tmp_path / Path(path).name
    subprocess.run(["docker", "cp", "%s:%s" % (src, path), str(local)], check=True, capture_output=True)
    subprocess.run(["docker", "cp", str(local), "%s:%s" % (dest, dest_path)], check=True, capture_output=True)


def reset_backends():
    def cleanse(n):
        h = host(n)
        res = h.run("chef-backend-ctl cleanse yes")
        h.run("printf \"publish_address '%s'\\n\" > /etc/chef-backend/chef-backend.rb" % BACKENDS[n])
        return res
    for n, res in in_parallel(cleanse, BACKENDS).items():
        assert res.rc == 0, (n, res.stdout, res.stderr)
        assert not host(n).file("/var/opt/chef-backend").exists


def create_on_be1(tmp_path):
    res = ctl("be1", "create-cluster --accept-license --yes --quiet")
    assert res.rc == 0, res.stdout + res.stderr
    for n in ("be2", "be3"):
        copy_between("be1", SECRETS, n, "/root/cb-secrets.json", tmp_path)


def join(name):
    return ctl(name, "join-cluster %s -s /root/cb-secrets.json --accept-license --yes" % LEADER_IP)


def superuser_password():
    return json.loads(host("be1").file(SECRETS).content_string)["postgresql"]["db_superuser_password"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    subprocess.run([str(STANDIN / "build.sh"), str(out)], check=True, capture_output=True)
    deb = out / "chef-backend_2.3.19-1_all.deb"
    assert deb.exists()

    def install(n):
        subprocess.run(["docker", "cp", str(deb), "%s:/tmp/chef-backend.deb" % n], check=True, capture_output=True)
        return host(n).run("dpkg -i /tmp/chef-backend.deb")
    for n, res in in_parallel(install, BACKENDS).items():
        assert res.rc == 0, (n, res.stderr)
    return deb


@lab
def test_package_layout(installed):
    h = host("be1")
    assert h.file("/usr/bin/chef-backend-ctl").linked_to == "/opt/chef-backend/bin/chef-backend-ctl"
    manifest = json.loads(h.file("/opt/chef-backend/version-manifest.json").content_string)
    assert manifest["build_version"] == "2.3.19"
    assert h.user("chef_pgsql").exists and h.user("chef-backend").exists
    for svc in ("etcd", "postgresql", "leaderl", "elasticsearch"):
        assert h.file("/lib/systemd/system/chef-backend-%s.service" % svc).exists


@lab
def test_license_and_yes_gates(installed, tmp_path):
    reset_backends()
    h = host("be1")
    res = ctl("be1", "create-cluster --yes")
    assert res.rc == 1
    assert "Please view and accept the software license agreement, or pass --accept-license." in res.stdout
    assert not h.file("/var/opt/chef-backend/.license.accepted").exists
    res = ctl("be1", "create-cluster --accept-license")
    assert res.rc == 4
    assert "you must pass in the parameter --yes" in res.stdout and "Canceling operation" in res.stdout
    assert h.file("/var/opt/chef-backend/.license.accepted").exists
    assert ctl("be1", "cluster-status").rc != 0
    assert not h.file(SECRETS).exists
    res = ctl("be1", "no-such-command")
    assert res.rc == 1 and "I don't know that command." in res.stdout
    log = [json.loads(line) for line in h.file("/var/log/chef-backend-ctl.invocations.jsonl")
           .content_string.splitlines()]
    assert {"argv": ["create-cluster", "--accept-license"], "rc": 4} in [
        {"argv": e["argv"], "rc": e["rc"]} for e in log]


@lab
def test_parallel_joins_break_the_cluster(installed, tmp_path):
    reset_backends()
    create_on_be1(tmp_path)
    results = in_parallel(join, ("be2", "be3"))
    rcs = sorted(r.rc for r in results.values())
    members = host("be1").run("etcdctl -w json member list")
    started = [m for m in json.loads(members.stdout).get("members", []) if m.get("name")] if members.rc == 0 else []
    status = ctl("be1", "cluster-status --json")
    followers = [n for n in json.loads(status.stdout)["nodes"] if n["role"] == "follower"] if status.rc == 0 else []
    # Either one join failed, or the cluster did not come up with three working members.
    assert rcs != [0, 0] or len(started) < 3 or len(followers) < 2, (rcs, started, followers)
    failed = [r for r in results.values() if r.rc != 0]
    assert all(r.stderr.strip() and "Traceback" not in r.stderr for r in failed)


@pytest.fixture(scope="module")
def cluster(installed, tmp_path_factory):
    """Three backends formed by create-cluster and two serial joins; timings recorded for the report."""
    tmp = tmp_path_factory.mktemp("secrets")
    reset_backends()
    t0 = time.monotonic()
    create_on_be1(tmp)
    t1 = time.monotonic()
    for n in ("be2", "be3"):
        res = join(n)
        assert res.rc == 0, (n, res.stdout, res.stderr)
        host(n).run("rm -f /root/cb-secrets.json")
    t2 = time.monotonic()
    print("\ncreate-cluster %.1fs, two serial joins %.1fs, total %.1fs" % (t1 - t0, t2 - t1, t2 - t0))
    return {"create": t1 - t0, "joins": t2 - t1}


@lab
def test_serial_joins_form_one_cluster(cluster):
    members = json.loads(host("be1").run_expect([0], "etcdctl -w json member list").stdout)["members"]
    assert len(members) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", m["name"]) for m in members)
    assert sorted(m["clientURLs"][0] for m in members) == ["http://%s:2379" % ip for ip in sorted(BACKENDS.values())]

    res = ctl("be2", "cluster-status")
    assert res.rc == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["Name", "IP", "GUID", "Role", "PG", "ES"]
    rows = [line.split() for line in lines[1:]]
    assert sorted(r[1] for r in rows) == sorted(BACKENDS.values())
    assert [r[3] for r in rows].count("leader") == 1 and [r[3] for r in rows].count("follower") == 2
    leader = [r for r in rows if r[3] == "leader"][0]
    assert leader[1] == LEADER_IP and leader[4] == "leader"
    assert {r[2] for r in rows} == {m["name"] for m in members}

    data = json.loads(ctl("be3", "cluster-status --json").stdout)
    assert all({"name", "ip", "guid", "role", "pg", "es", "partially_synced"} <= set(n) for n in data["nodes"])
    assert not any(n["partially_synced"] for n in data["nodes"])


@lab
def test_followers_are_streaming_standbys(cluster):
    for n in ("be2", "be3"):
        h = host(n)
        q = "runuser -u chef_pgsql -- psql -h /var/opt/chef-backend/postgresql/run -U chef_pgsql -d postgres -XAtc "
        assert h.run(q + "'SELECT pg_is_in_recovery()'").stdout.strip() == "t"
        assert h.run(q + "'SELECT status, sender_host FROM pg_stat_wal_receiver'").stdout.strip() == \
            "streaming|%s" % LEADER_IP
    res = ctl("be1", "status")
    assert res.rc == 0
    assert re.search(r"^postgresql\s+running \(pid \d+\).*leader: 1; offline: 0; syncing: 0; synced: 2$",
                     res.stdout, re.M), res.stdout


@lab
def test_leaderl_and_elasticsearch_listeners(cluster):
    fe = host("fe1")
    codes = {n: fe.run("curl -s -o /dev/null -w '%%{http_code}' http://%s:7331/leader" % ip).stdout
             for n, ip in BACKENDS.items()}
    assert codes == {"be1": "200", "be2": "503", "be3": "503"}
    health = json.loads(fe.run("curl -s http://%s:9200/_cluster/health" % BACKENDS["be2"]).stdout)
    assert health["status"] == "green" and health["number_of_nodes"] == 3
    assert fe.run("timeout 3 bash -c '</dev/tcp/%s/9300'" % BACKENDS["be3"]).rc == 0


@lab
def test_superuser_password_logs_in_from_frontend(cluster):
    fe = host("fe1")
    cmd = "PGPASSWORD=%s PGCONNECT_TIMEOUT=5 psql -h %s -U chef_pgsql -d postgres -XAtc 'SELECT 42'"
    good = fe.run(cmd % (superuser_password(), LEADER_IP))
    assert good.rc == 0 and good.stdout.strip() == "42", good.stderr
    bad = fe.run(cmd % ("not-the-password", LEADER_IP))
    assert bad.rc != 0 and "password authentication failed" in bad.stderr


@lab
def test_uncovered_network_is_refused_by_pg_hba(cluster):
    h = host("be1")
    rb = "/etc/chef-backend/chef-backend.rb"
    original = h.file(rb).content_string
    cmd = "PGPASSWORD=%s PGCONNECT_TIMEOUT=5 psql -h %s -U chef_pgsql -d postgres -XAtc 'SELECT 1'" % (
        superuser_password(), LEADER_IP)
    try:
        h.run("printf '%%s\\npostgresql.md5_auth_cidr_addresses = [\"samehost\"]\\n' \"$(cat %s)\" > %s.new && "
              "mv %s.new %s" % (rb, rb, rb, rb))
        assert ctl("be1", "reconfigure").rc == 0
        assert "samenet" not in h.file("/var/opt/chef-backend/postgresql/15/data/pg_hba.conf").content_string
        refused = host("fe1").run(cmd)
        assert refused.rc != 0 and "no pg_hba.conf entry" in refused.stderr
        running = json.loads(h.file("/etc/chef-backend/chef-backend-running.json").content_string)
        assert running["chef-backend"]["postgresql"]["md5_auth_cidr_addresses"] == ["samehost"]
    finally:
        h.run("cat > %s <<'EOF'\n%sEOF" % (rb, original))
        assert ctl("be1", "reconfigure").rc == 0
    assert host("fe1").run(cmd).rc == 0


@lab
def test_stopped_etcd_shows_as_degraded(cluster):
    res = ctl("be3", "stop etcd")
    assert res.rc == 0 and re.match(r"ok: down: etcd: \d+s, normally up", res.stdout)
    try:
        status = ctl("be1", "status")
        assert re.search(r"^etcd\s+running \(pid \d+\).*health: yellow; healthy nodes: 2/3$", status.stdout, re.M), \
            status.stdout
        local = ctl("be3", "status")
        assert local.rc != 0
        assert re.search(r"^etcd\s+down\s+\d+d \d+h \d+m \d+s\s+health: yellow; healthy nodes: 2/3$", local.stdout,
                         re.M), local.stdout
        assert re.search(r"^down: etcd: \d+s, normally up$", ctl("be3", "status --simple").stdout, re.M)
    finally:
        res = ctl("be3", "start etcd")
    assert res.rc == 0 and re.match(r"ok: run: etcd: \(pid \d+\) \d+s", res.stdout)
    for _ in range(20):
        if "health: green; healthy nodes: 3/3" in ctl("be1", "status").stdout:
            break
        time.sleep(1)
    assert "health: green; healthy nodes: 3/3" in ctl("be1", "status").stdout


@lab
def test_gen_server_config_and_refusals(cluster):
    res = ctl("be2", "gen-server-config fe1.chefops.test")
    assert res.rc == 0
    assert res.stdout.startswith("# This file generated by chef-backend-ctl gen-server-config\n")
    assert 'fqdn "fe1.chefops.test"' in res.stdout
    members = re.search(r"^chef_backend_members (\[.*\])$", res.stdout, re.M).group(1)
    assert sorted(json.loads(members)) == sorted(BACKENDS.values())
    assert "postgresql['db_superuser_password'] = '%s'" % superuser_password() in res.stdout
    assert ctl("be2", "gen-server-config").rc != 0
    assert ctl("be2", "gen-server-config 'bad fqdn!'").rc != 0
    again = ctl("be1", "create-cluster --accept-license --yes")
    assert again.rc != 0 and "already part of a Chef Backend cluster" in again.stderr
    rejoin = ctl("be2", "join-cluster %s --yes" % LEADER_IP)
    assert rejoin.rc != 0 and "already configured" in rejoin.stderr
    relative = ctl("be2", "join-cluster %s -s secrets.json --yes" % LEADER_IP)
    assert relative.rc != 0 and "absolute" in relative.stderr
    secrets = host("be2").file(SECRETS)
    assert (secrets.user, secrets.group, secrets.mode) == ("root", "chef_pgsql", 0o640)


@lab
def test_demote_and_promote_switch_the_postgresql_primary(cluster):
    q = "runuser -u chef_pgsql -- psql -h /var/opt/chef-backend/postgresql/run -U chef_pgsql -d postgres -XAtc "

    def in_recovery(n):
        return host(n).run(q + "'SELECT pg_is_in_recovery()'").stdout.strip()

    def leader_row():
        rows = [line.split() for line in ctl("be1", "cluster-status").stdout.splitlines()[1:]]
        return [r[0] for r in rows if r[3] == "leader" and r[4] == "leader"]

    res = ctl("be2", "demote")
    assert res.rc == 0, res.stderr
    new = leader_row()
    assert len(new) == 1 and new[0] in ("be2", "be3")
    assert in_recovery(new[0]) == "f"
    for _ in range(20):
        if in_recovery("be1") == "t":
            break
        time.sleep(1)
    assert in_recovery("be1") == "t"
    assert ctl("be3", "promote %s" % new[0]).rc != 0  # already the leader
    res = ctl("be3", "promote be1")
    assert res.rc == 0, res.stderr
    assert leader_row() == ["be1"] and in_recovery("be1") == "f"
    for _ in range(20):
        if "synced: 2" in ctl("be1", "status").stdout:
            break
        time.sleep(1)
    assert re.search(r"leader: 1; offline: 0; syncing: 0; synced: 2", ctl("be1", "status").stdout)
