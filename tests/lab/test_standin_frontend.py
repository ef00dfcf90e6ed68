"""Lab tests of the chef-server-core stand-in (Chef Infra Server frontend of a chef-backend HA cluster).

The first tests are pure Python (parsers of the stand-in). The lab tests need the lab containers
(be1..be3, fe1, fe2): they build the chef-backend and chef-server-core stand-in packages, reuse a healthy
3-node backend cluster or create one, and drive chef-server-ctl on the frontends.
"""
import importlib.util
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from lab_running import lab_up

REPO = Path(__file__).resolve().parents[2]
STANDINS = REPO / "tests" / "standins"
CSC_SRC = STANDINS / "chef-server-core" / "src"
BACKENDS = {"be1": "172.31.250.11", "be2": "172.31.250.12", "be3": "172.31.250.13"}
FRONTENDS = ("fe1", "fe2")
OLD, NEW = "15.9.20", "15.10.12"


def _load_cscore():
    spec = importlib.util.spec_from_file_location("cscore", CSC_SRC / "cscore.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cscore = _load_cscore()

# The chef-backend stand-in's gen-server-config template, which the frontend stand-in must parse.
GEN_SERVER_CONFIG_TEMPLATE = (STANDINS / "chef-backend" / "src" / "opt" / "chef-backend" / "embedded" / "share"
                              / "gen-server-config.template").read_text()


def gen_server_config(password):
    """What gen-server-config prints for frontend1.example.com and three backends, with a Ruby-quoted password."""
    members = '["10.0.1.6", "10.0.1.5", "10.0.1.4"]'
    return GEN_SERVER_CONFIG_TEMPLATE.format(fqdn="frontend1.example.com", members=members, password=password)


# ------------------------------------------------------------------------------------------------
# pure Python
# ------------------------------------------------------------------------------------------------

def test_parse_gen_server_config_output():
    cfg = cscore.parse_chef_server_rb(gen_server_config("pa\\'ss"))
    assert cfg["fqdn"] == "frontend1.example.com"
    assert cfg["use_chef_backend"] is True
    assert cfg["chef_backend_members"] == ["10.0.1.6", "10.0.1.5", "10.0.1.4"]
    assert cfg["haproxy"] == {"remote_postgresql_port": 5432, "remote_elasticsearch_port": 9200}
    assert cfg["postgresql"]["db_superuser_password"] == "pa'ss"
    assert cfg["bookshelf"]["storage_type"] == "sql"
    assert cfg["rabbitmq"]["enable"] is False
    s = cscore.frontend_settings(cfg)
    assert (s["pg_vip"], s["pg_port"], s["db_superuser"]) == ("127.0.0.1", 5432, "chef_pgsql")
    assert s["leaderl_healthcheck_port"] == 7331


def test_parse_rejects_garbage_with_line_number():
    with pytest.raises(cscore.ConfigError, match="line 2"):
        cscore.parse_chef_server_rb("fqdn 'a'\npostgresql['x'] = `rm -rf /`\n")


def test_parse_multiline_array_and_dot_syntax():
    cfg = cscore.parse_chef_server_rb('chef_backend_members [\n  "1.2.3.4",\n  "1.2.3.5"\n]\nnginx.ssl_port = 8443\n')
    assert cfg["chef_backend_members"] == ["1.2.3.4", "1.2.3.5"]
    assert cfg["nginx"] == {"ssl_port": 8443}


def test_haproxy_config_routes_to_leaderl_checked_servers():
    s = cscore.frontend_settings(cscore.parse_chef_server_rb(gen_server_config("x")))
    text = cscore.render_haproxy_cfg(s, {"backend0": "10.0.1.6", "backend1": "10.0.1.5"})
    assert "bind 0.0.0.0:5432" in text and "bind 0.0.0.0:9200" in text
    assert "option httpchk GET /leader" in text
    assert "server backend0 10.0.1.6:5432 check port 7331" in text
    assert "server backend1 10.0.1.5:9200 check port 7331" in text


def test_show_stat_parser_counts_up_servers():
    header = "# pxname,svname," + ",".join("c%d" % i for i in range(2, 20))
    rows = []
    for px, sv, st in (("chef_backend_postgresql", "a", "UP"), ("chef_backend_postgresql", "b", "DOWN"),
                       ("chef_backend_postgresql", "BACKEND", "UP"), ("chef_backend_elasticsearch", "a", "UP"),
                       ("chef_backend_elasticsearch", "c", "UP"), ("postgresql", "FRONTEND", "OPEN")):
        cols = [px, sv] + [""] * 15 + [st, ""]
        rows.append(",".join(cols))
    up = cscore.parse_show_stat("\n".join([header] + rows))
    assert up == {"chef_backend_postgresql": ["a"], "chef_backend_elasticsearch": ["a", "c"]}


def test_invocation_log_masks_user_create_password():
    assert cscore.mask_argv(["user-create", "bob", "Bob", "Lee", "b@x.io", "pw123456", "-f", "/tmp/b.pem"]) == \
        ["user-create", "bob", "Bob", "Lee", "b@x.io", "********", "-f", "/tmp/b.pem"]
    assert cscore.mask_argv(["user-create", "bob", "Bob", "M", "Lee", "b@x.io", "pw123456"])[-1] == "********"
    masked = cscore.mask_argv(["user-create", "bob", "Bob", "Lee", "b@x.io", "pw", "extra", "more"])
    assert "pw" not in masked and "extra" not in masked


def test_migration_level_text_format():
    assert cscore.migration_level_text({"major": 1, "minor": 42}) == '{"major":1,"minor":42}\n'


# ------------------------------------------------------------------------------------------------
# lab helpers
# ------------------------------------------------------------------------------------------------

lab = pytest.mark.skipif(not lab_up(*BACKENDS, *FRONTENDS), reason="lab containers are not running")


def sh(host, cmd, env=None, timeout=300):
    """Run a shell command in a lab container; env values travel in the environment, not argv."""
    argv = ["docker", "exec"]
    penv = dict(os.environ)
    for k, v in (env or {}).items():
        argv += ["-e", k]
        penv[k] = v
    argv += [host, "/bin/sh", "-c", cmd]
    p = subprocess.run(argv, capture_output=True, text=True, env=penv, timeout=timeout)
    return p


def ok(host, cmd, **kw):
    p = sh(host, cmd, **kw)
    assert p.returncode == 0, "%s: %s failed (rc %d)\n%s\n%s" % (host, cmd, p.returncode, p.stdout, p.stderr)
    return p.stdout


def reconfigure_refused(host, message):
    """chef-server-ctl reconfigure on host exits 1 and says message on stderr."""
    p = sh(host, "chef-server-ctl reconfigure")
    assert p.returncode == 1, p.stdout + p.stderr
    assert message in p.stderr, p.stderr


def cp_to(host, src, dest):
    subprocess.run(["docker", "cp", str(src), "%s:%s" % (host, dest)], check=True, capture_output=True)


def transfer(src_host, path, dest_host, dest_path=None):
    with tempfile.TemporaryDirectory() as td:
        local = Path(td) / "f"
        subprocess.run(["docker", "cp", "%s:%s" % (src_host, path), str(local)], check=True, capture_output=True)
        cp_to(dest_host, local, dest_path or path)


def cluster_healthy():
    p = sh("be1", "chef-backend-ctl cluster-status 2>&1")
    if p.returncode != 0:
        return False
    ips = set(re.findall(r"172\.31\.250\.1[123]", p.stdout))
    leaders = [line for line in p.stdout.splitlines() if re.search(r"\bleader\s+leader\b", line)]
    return ips == set(BACKENDS.values()) and len(leaders) == 1


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    out = tmp_path_factory.mktemp("debs")
    subprocess.run([str(STANDINS / "chef-server-core" / "build.sh"), str(out)], check=True, capture_output=True)
    subprocess.run([str(STANDINS / "chef-backend" / "build.sh"), str(out)], check=True, capture_output=True)
    found = {p.name: p for p in out.glob("*.deb")}
    assert "chef-server-core_%s-1_all.deb" % OLD in found
    assert "chef-server-core_%s-1_all.deb" % NEW in found
    return found


@pytest.fixture(scope="module")
def cluster(debs):
    """A healthy 3-node chef-backend cluster (reused when one is already up)."""
    for _ in range(30):  # another suite may be (re)building the cluster right now
        if cluster_healthy():
            break
        time.sleep(2)
    if not cluster_healthy():
        backend_deb = next(p for n, p in debs.items() if n.startswith("chef-backend_"))
        for host, ip in BACKENDS.items():
            cp_to(host, backend_deb, "/tmp/chef-backend.deb")
            ok(host, "dpkg -i /tmp/chef-backend.deb >/dev/null")
            sh(host, "chef-backend-ctl cleanse --yes >/dev/null 2>&1")
            ok(host, "mkdir -p /etc/chef-backend && printf \"publish_address '%s'\\n\" > "
                     "/etc/chef-backend/chef-backend.rb" % ip)
        ok("be1", "chef-backend-ctl create-cluster --accept-license --yes")
        for host in ("be2", "be3"):
            transfer("be1", "/etc/chef-backend/chef-backend-secrets.json", host, "/root/cb-secrets.json")
            ok(host, "chef-backend-ctl join-cluster 172.31.250.11 -s /root/cb-secrets.json --accept-license --yes")
            sh(host, "rm -f /root/cb-secrets.json")
        for _ in range(60):
            if cluster_healthy():
                break
            time.sleep(2)
    assert cluster_healthy(), sh("be1", "chef-backend-ctl cluster-status 2>&1").stdout
    return BACKENDS


def server_rb(fqdn):
    return ok("be1", "chef-backend-ctl gen-server-config %s" % fqdn)


def superuser_password(config_text):
    return cscore.parse_chef_server_rb(config_text)["postgresql"]["db_superuser_password"]


def reset_frontend(host):
    sh(host, "systemctl stop chef-server-nginx chef-server-haproxy >/dev/null 2>&1; "
             "dpkg --purge chef-server-core >/dev/null 2>&1; "
             "rm -rf /etc/opscode /var/opt/opscode /var/log/opscode /etc/chef/accepted_licenses "
             "/var/log/chef-server-ctl.invocations.jsonl /root/*.pem")


def drop_frontend_database(password):
    """Forget any earlier bootstrap: drop opscode_chef on whichever backend is the PostgreSQL leader."""
    for ip in BACKENDS.values():
        sh("be1", "psql -X -q -h %s -U chef_pgsql -d postgres -c 'DROP DATABASE IF EXISTS opscode_chef WITH (FORCE)'"
                  " >/dev/null 2>&1" % ip, env={"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"})


def install(host, debs, version, config_text):
    cp_to(host, debs["chef-server-core_%s-1_all.deb" % version], "/tmp/chef-server-core.deb")
    out = ok(host, "dpkg -i /tmp/chef-server-core.deb")
    with tempfile.TemporaryDirectory() as td:
        f = Path(td) / "chef-server.rb"
        f.write_text(config_text)
        cp_to(host, f, "/etc/opscode/chef-server.rb")
    ok(host, "chown root:root /etc/opscode/chef-server.rb && chmod 0640 /etc/opscode/chef-server.rb")
    return out


def last_invocation(host):
    return json.loads(ok(host, "tail -n 1 /var/log/chef-server-ctl.invocations.jsonl"))


@pytest.fixture(scope="module")
def frontends(cluster, debs):
    cfg1, cfg2 = server_rb("fe1.chefops.test"), server_rb("fe2.chefops.test")
    for host in FRONTENDS:
        reset_frontend(host)
    drop_frontend_database(superuser_password(cfg1))
    out1 = install("fe1", debs, OLD, cfg1)
    out2 = install("fe2", debs, NEW, cfg2)
    yield {"fe1": cfg1, "fe2": cfg2, "install_out": {"fe1": out1, "fe2": out2}}


# ------------------------------------------------------------------------------------------------
# lab tests (run in file order; each builds on the state the previous ones left)
# ------------------------------------------------------------------------------------------------

@lab
def test_install_links_ctl_and_prints_fresh_install_message(frontends):
    assert "Thank you for installing Chef Infra Server!" in frontends["install_out"]["fe1"]
    assert ok("fe1", "readlink /usr/bin/chef-server-ctl").strip() == "/opt/opscode/bin/chef-server-ctl"
    assert ok("fe1", "stat -c %a /etc/opscode/chef-server.rb").strip() in ("640", "600")
    assert ok("fe1", "chef-server-ctl version").strip() == OLD
    assert ok("fe2", "chef-server-ctl version").strip() == NEW


@lab
def test_reconfigure_without_license_exits_172(frontends):
    p = sh("fe1", "chef-server-ctl reconfigure")
    assert p.returncode == 172
    assert "Chef Infra Server cannot execute without accepting the license" in p.stdout
    assert sh("fe1", "test -e /var/opt/opscode/haproxy/haproxy.cfg").returncode != 0
    assert last_invocation("fe1")["rc"] == 172
    # --accept-license is not a chef-server-ctl license flag
    assert sh("fe1", "chef-server-ctl reconfigure --accept-license").returncode == 172


@lab
def test_fe1_reconfigure_bootstraps_and_serves_status(frontends):
    p = sh("fe1", "chef-server-ctl reconfigure --chef-license=accept")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Chef Infra Server Reconfigured!" in p.stdout
    assert "2 product licenses accepted." in p.stdout
    assert last_invocation("fe1") == {"time": last_invocation("fe1")["time"],
                                      "argv": ["reconfigure", "--chef-license=accept"], "rc": 0}
    modes = ok("fe1", "stat -c '%n %a %U' /etc/opscode/private-chef-secrets.json /etc/opscode/pivotal.pem "
                      "/etc/opscode/webui_priv.pem /etc/opscode/webui_pub.pem /var/opt/opscode/bootstrapped "
                      "/etc/opscode/chef-server-running.json").split("\n")
    assert modes[:6] == ["/etc/opscode/private-chef-secrets.json 600 root", "/etc/opscode/pivotal.pem 600 root",
                         "/etc/opscode/webui_priv.pem 600 root", "/etc/opscode/webui_pub.pem 644 root",
                         "/var/opt/opscode/bootstrapped 600 root", "/etc/opscode/chef-server-running.json 600 root"]
    assert ok("fe1", "cat /var/opt/opscode/upgrades/migration-level") == '{"major":1,"minor":41}\n'
    assert re.match(r"bootstrapped on \S+ \(you punk\)", ok("fe1", "cat /var/opt/opscode/bootstrapped"))
    secrets = json.loads(ok("fe1", "cat /etc/opscode/private-chef-secrets.json"))
    assert secrets["veil"]["type"] == "Veil::CredentialCollection::ChefSecretsFile"
    assert "BEGIN RSA PRIVATE KEY" in secrets["veil"]["credentials"]["chef-server"]["superuser_key"]
    # haproxy: real config, three leaderl-checked servers, listening on 5432 and 9200
    cfg = ok("fe1", "cat /var/opt/opscode/haproxy/haproxy.cfg")
    for ip in BACKENDS.values():
        assert "%s:5432 check port 7331" % ip in cfg
        assert "%s:9200 check port 7331" % ip in cfg
    listen = ok("fe1", "ss -Hltnp")
    assert re.search(r"0\.0\.0\.0:5432 .*haproxy", listen) and re.search(r"0\.0\.0\.0:9200 .*haproxy", listen)
    # PostgreSQL reached through haproxy lands on the leader (not in recovery)
    q = sh("fe1", "psql -X -At -h 127.0.0.1 -p 5432 -U chef_pgsql -d opscode_chef "
                  "-c 'SELECT pg_is_in_recovery(), count(*) FROM chef_server_bootstrap'",
           env={"PGPASSWORD": superuser_password(frontends["fe1"])})
    assert q.returncode == 0, q.stderr
    assert q.stdout.strip() == "f|1"
    # /_status over HTTPS answers 200 with the SQL upstream reached
    st = ok("fe1", "curl -sk -o /tmp/status.json -w '%{http_code}' https://fe1.chefops.test/_status; "
                   "echo; cat /tmp/status.json")
    code, body = st.split("\n", 1)
    assert code == "200"
    body = json.loads(body)
    assert body["status"] == "pong" and body["upstreams"]["chef_sql"] == "pong"
    # ... and from another host over the lab network
    assert ok("fe2", "curl -sk -o /dev/null -w '%{http_code}' https://172.31.250.21/_status") == "200"


@lab
def test_fe1_status_reports_internal_and_external_services(frontends):
    out = ok("fe1", "chef-server-ctl status")
    assert " Internal Services " in out and " External Services " in out
    assert re.search(r"^run: haproxy: \(pid \d+\) \d+s", out, re.M)
    assert re.search(r"^run: nginx: \(pid \d+\) \d+s", out, re.M)
    assert "run: postgresql: connected OK to 127.0.0.1:5432" in out
    assert "run: elasticsearch: connected OK to http://127.0.0.1:9200" in out


@lab
def test_fe2_reconfigure_without_fe1_secrets_fails(frontends):
    p = sh("fe2", "CHEF_LICENSE=accept chef-server-ctl reconfigure")
    assert p.returncode == 1
    out = p.stdout + p.stderr
    assert "superuser 'pivotal' already exists in the database" in out
    assert "private-chef-secrets.json" in out
    assert "Chef Infra Server Reconfigured!" not in out
    assert sh("fe2", "test -e /var/opt/opscode/bootstrapped").returncode != 0


@lab
def test_fe2_bootstrapped_without_secrets_names_the_secrets_file(frontends):
    ok("fe2", "mkdir -p /var/opt/opscode/upgrades && touch /var/opt/opscode/bootstrapped")
    reconfigure_refused("fe2", "/etc/opscode/private-chef-secrets.json is missing")


@lab
def test_fe2_with_other_secrets_fails(frontends):
    # a secrets file from some other bootstrap (valid shape, different values)
    other = json.loads(ok("fe1", "cat /etc/opscode/private-chef-secrets.json"))
    other["veil"]["credentials"]["redis_lb"]["password"] = "not-the-cluster-one"
    with tempfile.TemporaryDirectory() as td:
        f = Path(td) / "s.json"
        f.write_text(json.dumps(other))
        cp_to("fe2", f, "/etc/opscode/private-chef-secrets.json")
    transfer("fe1", "/var/opt/opscode/upgrades/migration-level", "fe2")
    reconfigure_refused("fe2", "/etc/opscode/private-chef-secrets.json does not match")


@lab
def test_fe2_missing_migration_level_fails_with_reference_message(frontends):
    transfer("fe1", "/etc/opscode/private-chef-secrets.json", "fe2")
    ok("fe2", "rm -f /var/opt/opscode/upgrades/migration-level")
    reconfigure_refused("fe2", "The /var/opt/opscode/upgrades/migration-level file is missing or corrupt!")


@lab
def test_fe2_with_fe1_state_joins(frontends):
    for path in ("/etc/opscode/private-chef-secrets.json", "/var/opt/opscode/upgrades/migration-level",
                 "/var/opt/opscode/bootstrapped"):
        transfer("fe1", path, "fe2")
    ok("fe2", "chmod 600 /etc/opscode/private-chef-secrets.json")
    p = sh("fe2", "chef-server-ctl reconfigure")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Chef Infra Server Reconfigured!" in p.stdout
    # keys come from the shared secrets: identical on both frontends
    assert ok("fe2", "sha256sum < /etc/opscode/pivotal.pem") == ok("fe1", "sha256sum < /etc/opscode/pivotal.pem")
    assert ok("fe2", "curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1/_status") == "200"


@lab
def test_users_and_orgs_are_shared_through_the_cluster(frontends):
    p = sh("fe1", "chef-server-ctl user-create alice Alice Smith alice@example.com 'Pa55word!' -f /root/alice.pem")
    assert p.returncode == 0, p.stderr
    assert "BEGIN RSA PRIVATE KEY" in ok("fe1", "cat /root/alice.pem")
    assert "alice" in ok("fe2", "chef-server-ctl user-list").split()
    dup = sh("fe2", "chef-server-ctl user-create alice Alice Smith alice@example.com 'Pa55word!'")
    assert dup.returncode == 100
    assert "ERROR: Conflict" in dup.stderr
    assert "Response: Username or email address already in use." in dup.stderr
    log = ok("fe1", "cat /var/log/chef-server-ctl.invocations.jsonl") + \
        ok("fe2", "cat /var/log/chef-server-ctl.invocations.jsonl")
    assert "Pa55word!" not in log and '"********"' in log
    org = sh("fe2", "chef-server-ctl org-create acme 'Acme Inc.' -a alice")
    assert org.returncode == 0, org.stderr
    assert org.stdout.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert ok("fe1", "chef-server-ctl org-list").split() == ["acme"]
    again = sh("fe1", "chef-server-ctl org-create acme 'Acme Inc.'")
    assert again.returncode == 100 and "Response: Organization already exists" in again.stderr
    bad = sh("fe1", "chef-server-ctl org-create Bad.Name 'x'")
    assert bad.returncode != 0


@lab
def test_wrong_superuser_password_fails_with_postgresql_refusal(frontends):
    ok("fe2", "cp /etc/opscode/chef-server.rb /root/chef-server.rb.good && "
              "sed -i \"s/^postgresql\\['db_superuser_password'\\] = .*/postgresql['db_superuser_password'] = "
              "'wrong-password'/\" /etc/opscode/chef-server.rb")
    try:
        p = sh("fe2", "chef-server-ctl reconfigure")
        assert p.returncode == 1
        assert 'password authentication failed for user "chef_pgsql"' in p.stdout
        assert "wrong-password" not in p.stdout + p.stderr
        assert "Chef Infra Server Reconfigured!" not in p.stdout
    finally:
        ok("fe2", "mv /root/chef-server.rb.good /etc/opscode/chef-server.rb")


@lab
def test_cli_errors(frontends):
    p = sh("fe1", "chef-server-ctl --version")
    assert p.returncode == 1 and "I don't know that command." in p.stdout
    p = sh("fe1", "su nobody -s /bin/sh -c 'chef-server-ctl status'")
    assert p.returncode == 1 and "This command must be run as root" in p.stdout
    p = sh("fe1", "chef-server-ctl upgrade --chef-license=accept")
    assert p.returncode == 1 and "invalid option: --chef-license=accept" in p.stderr
    assert "Traceback" not in p.stdout + p.stderr


@lab
def test_upgrade_fe1_bumps_migration_level_and_leaves_services_down(frontends, debs):
    cp_to("fe1", debs["chef-server-core_%s-1_all.deb" % NEW], "/tmp/chef-server-core.deb")
    out = ok("fe1", "dpkg -i /tmp/chef-server-core.deb")
    assert "You have upgraded Chef Infra Server!" in out
    p = sh("fe1", "CHEF_LICENSE=accept chef-server-ctl upgrade --yes")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Chef Infra Server Upgraded!" in p.stdout
    assert ok("fe1", "cat /var/opt/opscode/upgrades/migration-level") == '{"major":1,"minor":42}\n'
    status = ok("fe1", "chef-server-ctl status")
    assert re.search(r"^down: haproxy:", status, re.M) and re.search(r"^down: nginx:", status, re.M)
    ok("fe1", "chef-server-ctl start")
    # HAProxy needs its leader checks to pass again before the upstreams answer: up to 90 s on a loaded machine.
    status_of = "curl -sk -o /dev/stderr -w '%{http_code}' https://127.0.0.1/_status"
    for _ in range(90):
        p = sh("fe1", status_of)
        if p.stdout == "200":
            break
        time.sleep(1)
    assert p.stdout == "200", "_status answered %s: %s" % (p.stdout, p.stderr)
    assert ok("fe1", "chef-server-ctl cleanup --no-op") and sh("fe1", "chef-server-ctl cleanup").returncode == 0
