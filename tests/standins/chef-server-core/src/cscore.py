"""Core of the chef-server-core test stand-in (Chef Infra Server frontend of a chef-backend HA cluster).

Python 3 standard library only. Installed as /opt/opscode/embedded/lib/cscore.py and used by
/opt/opscode/bin/chef-server-ctl and by the frontend daemon (/opt/opscode/embedded/bin/chef-server-frontd).
"""
import base64
import datetime
import hashlib
import json
import os
import re
import secrets as rnd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

OPT = "/opt/opscode"
ETC = "/etc/opscode"
VAR = "/var/opt/opscode"
CONFIG_FILE = ETC + "/chef-server.rb"
RUNNING_JSON = ETC + "/chef-server-running.json"
BOOTSTRAPPED = VAR + "/bootstrapped"
UPGRADES_DIR = VAR + "/upgrades"
MIGRATION_LEVEL = UPGRADES_DIR + "/migration-level"
PKG_MIGRATION_LEVEL = OPT + "/embedded/service/partybus/migration-level"
VERSION_MANIFEST = OPT + "/version-manifest.json"
HAPROXY_DIR = VAR + "/haproxy"
HAPROXY_CFG = HAPROXY_DIR + "/haproxy.cfg"
HAPROXY_SOCK = HAPROXY_DIR + "/haproxy.sock"
LICENSE_DIR = "/etc/chef/accepted_licenses"
INVOCATION_LOG = "/var/log/chef-server-ctl.invocations.jsonl"
PSQL_CANDIDATES = ("/usr/lib/postgresql/15/bin/psql", "/usr/bin/psql")
DATABASE = "opscode_chef"

# Internal services (runit names) -> systemd units shipped by the package.
SERVICES = [("haproxy", "chef-server-haproxy.service"), ("nginx", "chef-server-nginx.service")]

DOC_PATENT_MSG = "\nDocumentation: https://docs.chef.io/server/\nPatents:       https://www.chef.io/patents\n"
LICENSE_FAIL = "Chef Infra Server cannot execute without accepting the license"
LICENSE_VALUES = ("accept", "accept-silent", "accept-no-persist")

ORG_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,254}$")
USER_NAME_RE = re.compile(r"^[a-z0-9_-]+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


class CtlError(Exception):
    """An expected failure: message printed as-is, process exits with rc."""

    def __init__(self, message, rc=1, stream="stderr"):
        super().__init__(message)
        self.message = message
        self.rc = rc
        self.stream = stream


def secrets_file():
    # Reference 2.6: the secrets path can be overridden with SECRETS_FILE.
    return os.environ.get("SECRETS_FILE") or ETC + "/private-chef-secrets.json"


# --------------------------------------------------------------------------------------------
# chef-server.rb parser (the Ruby subset written by `chef-backend-ctl gen-server-config` and
# by operators: `key value`, `key = value`, `group['k'] = value`, `group.k = value`).
# --------------------------------------------------------------------------------------------

class ConfigError(Exception):
    pass


_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#.*)
  | (?P<sq>'(?:[^'\\]|\\.)*')
  | (?P<dq>"(?:[^"\\]|\\.)*")
  | (?P<sym>:[A-Za-z_][A-Za-z0-9_]*)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*[?!]?)
  | (?P<punct>\[|\]|,|=>|=|\{|\}|\.)
""", re.VERBOSE)


def _tokenize(line):
    pos, out = 0, []
    while pos < len(line):
        m = _TOKEN_RE.match(line, pos)
        if not m:
            raise ConfigError("unexpected character %r" % line[pos])
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        out.append((kind, m.group(kind)))
    return out


def _unquote(kind, text):
    body = text[1:-1]
    if kind == "sq":
        return re.sub(r"\\([\\'])", r"\1", body)
    escapes = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "s": " ", "e": "\x1b"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), body)


def _parse_items(tokens, i, close, what, parse_item):
    """The items of an array or hash from tokens[i] up to its closing token, commas between; (items, next index)."""
    items = []
    while True:
        if i >= len(tokens):
            raise ConfigError("unterminated %s" % what)
        if tokens[i][1] == close:
            return items, i + 1
        item, i = parse_item(tokens, i)
        items.append(item)
        if i < len(tokens) and tokens[i][1] == ",":
            i += 1


def _parse_pair(tokens, i):
    """key => value in a hash: ((str(key), value), next index)."""
    key, i = _parse_value(tokens, i)
    if i >= len(tokens) or tokens[i][1] != "=>":
        raise ConfigError("expected => in hash")
    value, i = _parse_value(tokens, i + 1)
    return (str(key), value), i


def _parse_value(tokens, i):
    kind, text = tokens[i]
    if kind in ("sq", "dq"):
        return _unquote(kind, text), i + 1
    if kind == "sym":
        return text[1:], i + 1
    if kind == "num":
        return (float(text) if "." in text else int(text)), i + 1
    if kind == "word":
        if text in ("true", "false"):
            return text == "true", i + 1
        if text == "nil":
            return None, i + 1
        raise ConfigError("unsupported expression %r" % text)
    if text == "[":
        return _parse_items(tokens, i + 1, "]", "array", _parse_value)
    if text == "{":
        pairs, i = _parse_items(tokens, i + 1, "}", "hash", _parse_pair)
        return dict(pairs), i
    raise ConfigError("unexpected %r" % text)


def _join_continuations(text):
    """Join lines of multi-line arrays/hashes (bracket depth > 0) into one logical line."""
    logical, buf, depth, start = [], "", 0, 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = lineno
        buf = buf + " " + raw if buf else raw
        try:
            toks = _tokenize(raw)
        except ConfigError:
            toks = []
        for kind, tok in toks:
            if tok in ("[", "{"):
                depth += 1
            elif tok in ("]", "}"):
                depth -= 1
        if depth <= 0:
            logical.append((start, buf))
            buf, depth = "", 0
    if buf:
        logical.append((start, buf))
    return logical


def parse_chef_server_rb(text):
    """Return a dict: top-level settings and nested dicts for group['key'] settings."""
    cfg = {}
    for lineno, line in _join_continuations(text):
        try:
            toks = _tokenize(line)
            if not toks:
                continue
            if toks[0][0] != "word":
                raise ConfigError("expected a setting name")
            name = toks[0][1]
            i = 1
            if i < len(toks) and toks[i][1] == "[" and re.match(r"\s*[A-Za-z_][A-Za-z0-9_]*\[", line):
                if i + 2 >= len(toks) or toks[i + 1][0] not in ("sq", "dq", "sym") or toks[i + 2][1] != "]":
                    raise ConfigError("expected group['key']")
                key = _unquote(toks[i + 1][0], toks[i + 1][1]) if toks[i + 1][0] != "sym" else toks[i + 1][1][1:]
                i += 3
                if i >= len(toks) or toks[i][1] != "=":
                    raise ConfigError("expected = after %s['%s']" % (name, key))
                value, i = _parse_value(toks, i + 1)
                cfg.setdefault(name, {})
                if not isinstance(cfg[name], dict):
                    raise ConfigError("%s is not a group" % name)
                cfg[name][key] = value
            elif i < len(toks) and toks[i][1] == ".":
                if i + 1 >= len(toks) or toks[i + 1][0] != "word" or i + 2 >= len(toks) or toks[i + 2][1] != "=":
                    raise ConfigError("expected group.key = value")
                key = toks[i + 1][1]
                value, i = _parse_value(toks, i + 3)
                cfg.setdefault(name, {})
                cfg[name][key] = value
            else:
                if i < len(toks) and toks[i][1] == "=":
                    i += 1
                if i >= len(toks):
                    raise ConfigError("missing value for %s" % name)
                value, i = _parse_value(toks, i)
                cfg[name] = value
            if i != len(toks):
                raise ConfigError("unexpected trailing %r" % toks[i][1])
        except (ConfigError, IndexError) as exc:
            raise ConfigError("line %d: %s" % (lineno, exc)) from None
    return cfg


def frontend_settings(cfg):
    """Effective settings of a chef-backend frontend (defaults of the infra-server cookbook)."""
    hap = dict(cfg.get("haproxy") or {})
    pg = dict(cfg.get("postgresql") or {})
    solr = dict(cfg.get("opscode_solr4") or {})
    members = cfg.get("chef_backend_members") or []
    if isinstance(members, str):
        members = [members]
    return {
        "fqdn": cfg.get("fqdn") or socket.getfqdn(),
        "use_chef_backend": bool(cfg.get("use_chef_backend")),
        "chef_backend_members": [str(m) for m in members],
        "local_postgresql_port": int(hap.get("local_postgresql_port", 5432)),
        "remote_postgresql_port": int(hap.get("remote_postgresql_port", 5432)),
        "local_elasticsearch_port": int(hap.get("local_elasticsearch_port", 9200)),
        "remote_elasticsearch_port": int(hap.get("remote_elasticsearch_port", 9200)),
        "leaderl_healthcheck_port": int(hap.get("leaderl_healthcheck_port", 7331)),
        "etcd_port": int(hap.get("etcd_port", 2379)),
        "pg_external": bool(pg.get("external", False)),
        "pg_vip": str(pg.get("vip", "127.0.0.1")),
        "pg_port": int(pg.get("port", hap.get("local_postgresql_port", 5432))),
        "db_superuser": str(pg.get("db_superuser", "opscode-pgsql")),
        "db_superuser_password": pg.get("db_superuser_password"),
        "es_url": str(solr.get("external_url", "http://127.0.0.1:9200")),
    }


def load_config(path=CONFIG_FILE):
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        text = ""
    try:
        return parse_chef_server_rb(text)
    except ConfigError as exc:
        raise CtlError("ERROR: could not parse %s: %s" % (path, exc)) from None


def load_settings():
    return frontend_settings(load_config())


# --------------------------------------------------------------------------------------------
# haproxy
# --------------------------------------------------------------------------------------------

def discover_members(settings, timeout=2.0):
    """Ask etcd on each configured member for the live list; fall back to backend0..N."""
    for member in settings["chef_backend_members"]:
        url = "http://%s:%d/v2/members" % (member, settings["etcd_port"])
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                data = json.loads(resp.read().decode("utf-8"))
            found = {}
            for m in data.get("members") or []:
                peer = (m.get("peerURLs") or [None])[0]
                if not peer or not m.get("name"):
                    continue
                host = urllib.request.urlparse(peer).hostname
                found[m["name"]] = host
            if found:
                return found, "etcd"
        except Exception:
            continue
    return {"backend%d" % i: ip for i, ip in enumerate(settings["chef_backend_members"])}, "static"


def render_haproxy_cfg(settings, members):
    lines = [
        "# Generated by chef-server-ctl reconfigure from /etc/opscode/chef-server.rb.",
        "# Local changes are overwritten by the next reconfigure.",
        "global",
        "  maxconn 2048",
        "  log stdout format raw local0 info",
        "  stats socket %s mode 600 level admin" % HAPROXY_SOCK,
        "",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 30m",
        "  timeout server 30m",
        "  timeout check 2s",
        "",
        "frontend postgresql",
        "  bind 0.0.0.0:%d" % settings["local_postgresql_port"],
        "  default_backend chef_backend_postgresql",
        "",
        "frontend elasticsearch",
        "  bind 0.0.0.0:%d" % settings["local_elasticsearch_port"],
        "  default_backend chef_backend_elasticsearch",
        "",
    ]
    for group, port in (("chef_backend_postgresql", settings["remote_postgresql_port"]),
                        ("chef_backend_elasticsearch", settings["remote_elasticsearch_port"])):
        lines += [
            "backend %s" % group,
            "  log global",
            "  option log-health-checks",
            "  option httpchk GET /leader",
            "  http-check expect status 200",
            "  default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions",
        ]
        for name in sorted(members):
            lines.append("  server %s %s:%d check port %d" % (name, members[name], port,
                                                            settings["leaderl_healthcheck_port"]))
        lines.append("")
    return "\n".join(lines)


def haproxy_show_stat(timeout=3.0):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(HAPROXY_SOCK)
        sock.sendall(b"show stat\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    return b"".join(chunks).decode("utf-8", "replace")


def parse_show_stat(text):
    """{pxname: [UP server names]} for the two chef_backend groups."""
    up = {"chef_backend_postgresql": [], "chef_backend_elasticsearch": []}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        cols = line.split(",")
        if len(cols) < 18:
            continue
        px, sv, state = cols[0], cols[1], cols[17]
        if px in up and sv not in ("BACKEND", "FRONTEND") and state == "UP":
            up[px].append(sv)
    return up


# --------------------------------------------------------------------------------------------
# systemd helpers
# --------------------------------------------------------------------------------------------

def systemctl(*args, check=False):
    proc = subprocess.run(["systemctl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    if check and proc.returncode != 0:
        raise CtlError("ERROR: systemctl %s failed: %s" % (" ".join(args), (proc.stderr or proc.stdout).strip()))
    return proc


def unit_state(unit):
    proc = systemctl("show", unit, "-p", "ActiveState", "-p", "MainPID", "-p", "UnitFileState",
                     "-p", "ActiveEnterTimestampMonotonic", "-p", "InactiveEnterTimestampMonotonic")
    props = {}
    for line in proc.stdout.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            props[k] = v
    now = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
    active = props.get("ActiveState") == "active"
    since = props.get("ActiveEnterTimestampMonotonic" if active else "InactiveEnterTimestampMonotonic") or "0"
    try:
        secs = max(0, int((now - int(since)) / 1e6)) if int(since) else 0
    except ValueError:
        secs = 0
    return {"active": active, "pid": int(props.get("MainPID") or 0), "seconds": secs,
            "enabled": props.get("UnitFileState") == "enabled"}


def journald_state():
    st = unit_state("systemd-journald.service")
    return st if st["active"] and st["pid"] else None


def runit_line(name, unit):
    st = unit_state(unit)
    log = journald_state()
    logpart = "; run: log: (pid %d) %ds" % (log["pid"], log["seconds"]) if log else ""
    if st["active"] and st["pid"]:
        return "run: %s: (pid %d) %ds%s" % (name, st["pid"], st["seconds"], logpart)
    normally = "normally up" if st["enabled"] else "normally down"
    return "down: %s: %ds, %s%s" % (name, st["seconds"], normally, logpart)


# --------------------------------------------------------------------------------------------
# PostgreSQL through haproxy (psql; password only in the environment)
# --------------------------------------------------------------------------------------------

def psql_binary():
    for cand in PSQL_CANDIDATES:
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which("psql") or "psql"


def sql_literal(value):
    if value is None:
        return "NULL"
    text = str(value)
    if "\0" in text:
        raise CtlError("ERROR: NUL character in value")
    return "'" + text.replace("'", "''") + "'"


def psql(settings, sql, database="postgres", timeout=20):
    """Run SQL (on stdin) as the db superuser. Returns (rc, rows, stderr)."""
    env = dict(os.environ)
    env.update({"PGPASSWORD": str(settings.get("db_superuser_password") or ""), "PGCONNECT_TIMEOUT": "5",
                "LC_ALL": "C", "LANG": "C", "PGAPPNAME": "chef-server-ctl"})
    argv = [psql_binary(), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
            "-h", settings["pg_vip"], "-p", str(settings["pg_port"]), "-U", settings["db_superuser"],
            "-d", database, "-f", "-"]
    try:
        proc = subprocess.run(argv, input=sql, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, [], "psql: error: timed out after %ds talking to %s:%s" % (timeout, settings["pg_vip"],
                                                                             settings["pg_port"])
    rows = [line.split("\t") for line in proc.stdout.splitlines() if line != ""]
    return proc.returncode, rows, proc.stderr.strip()


SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS chef_server_bootstrap (
  id smallint PRIMARY KEY CHECK (id = 1),
  secrets_sha256 text NOT NULL,
  bootstrapped_by text NOT NULL,
  bootstrapped_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS users (
  username text PRIMARY KEY,
  first_name text, middle_name text, last_name text,
  email text UNIQUE,
  public_key text NOT NULL,
  hashed_password text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS orgs (
  name text PRIMARY KEY,
  full_name text NOT NULL,
  validator_public_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS org_admins (
  org text NOT NULL REFERENCES orgs(name),
  username text NOT NULL REFERENCES users(username),
  PRIMARY KEY (org, username)
);
CREATE TABLE IF NOT EXISTS search_reindexed (
  org text PRIMARY KEY REFERENCES orgs(name),
  reindexed_at timestamptz NOT NULL
);
"""


# --------------------------------------------------------------------------------------------
# Files, keys, secrets
# --------------------------------------------------------------------------------------------

def write_file(path, content, mode, binary=False):
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            fh.write(content)
        os.chown(tmp, 0, 0) if os.geteuid() == 0 else None
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def gen_rsa_keypair():
    """(private PEM in PKCS#1 'RSA PRIVATE KEY' form, public PEM) via openssl."""
    priv = subprocess.run(["openssl", "genrsa", "-traditional", "2048"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if priv.returncode != 0:
        raise CtlError("ERROR: openssl genrsa failed: %s" % priv.stderr.strip())
    pub = subprocess.run(["openssl", "rsa", "-pubout"], input=priv.stdout, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if pub.returncode != 0:
        raise CtlError("ERROR: openssl rsa -pubout failed: %s" % pub.stderr.strip())
    return priv.stdout, pub.stdout


def public_from_private(pem):
    pub = subprocess.run(["openssl", "rsa", "-pubout"], input=pem, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if pub.returncode != 0:
        raise CtlError("ERROR: could not derive a public key: %s" % pub.stderr.strip())
    return pub.stdout


def new_secrets():
    superuser_key, superuser_pub = gen_rsa_keypair()
    webui_key, webui_pub = gen_rsa_keypair()

    def pw(n=50):
        return rnd.token_hex(n)

    creds = {
        "redis_lb": {"password": pw()},
        "opscode_erchef": {"sql_password": pw(), "sql_ro_password": pw(), "stats_password": pw()},
        "oc_bifrost": {"superuser_id": rnd.token_hex(16), "sql_password": pw(), "sql_ro_password": pw()},
        "oc_id": {"secret_key_base": pw(64), "sql_password": pw(), "sql_ro_password": pw()},
        "bookshelf": {"access_key_id": rnd.token_hex(20), "secret_access_key": pw(40),
                      "sql_password": pw(), "sql_ro_password": pw()},
        "data_collector": {"token": pw(32)},
        "chef-server": {"superuser_key": superuser_key, "superuser_pub_key": superuser_pub,
                        "webui_key": webui_key, "webui_pub_key": webui_pub},
    }
    return {"veil": {
        "type": "Veil::CredentialCollection::ChefSecretsFile",
        "version": 1,
        "hasher": {"type": "Veil::Hasher::PBKDF2", "secret": rnd.token_hex(256), "salt": rnd.token_hex(32),
                   "iterations": 10000, "hash_function": "OpenSSL::Digest::SHA512"},
        "credentials": creds,
    }}


def secrets_digest(doc):
    canon = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def read_secrets(path):
    """Parsed secrets document, or raise CtlError naming the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise CtlError("missing") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CtlError("ERROR: %s is not valid JSON (%s). Copy it unchanged from the first frontend."
                       % (path, exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("veil"), dict):
        raise CtlError("ERROR: %s does not hold a veil credential collection. Copy it unchanged from the first "
                       "frontend." % path)
    return doc


def secret_value(doc, group, name):
    veil = doc.get("veil") or {}
    creds = veil.get("credentials") if isinstance(veil.get("credentials"), dict) else {}
    val = (creds.get(group) or {}).get(name)
    if val is None:
        val = (doc.get(group) or {}).get(name)  # legacy flat form
    return val


def migration_level_text(level):
    return json.dumps({"major": int(level["major"]), "minor": int(level["minor"])}, separators=(",", ":")) + "\n"


def read_package_migration_level():
    with open(PKG_MIGRATION_LEVEL, encoding="utf-8") as fh:
        return json.load(fh)


def migration_level_error(exc):
    return ("ERROR:\n"
            "The /var/opt/opscode/upgrades/migration-level file is missing or corrupt! Please read "
            "https://docs.chef.io/server/install_server_pre/ and correct this file before proceeding\n\n"
            "* If this is a new installation:\n"
            "  run: \"cd /opt/opscode/embedded/service/partybus ; /opt/opscode/embedded/bin/bundle exec "
            "bin/partybus init\"\n"
            "* If you have upgraded a previous installation:\n"
            "  copy the /var/opt/opscode/upgrades/migration-level file from a not-yet-upgraded FrontEnd node\n\n"
            "Error message %s" % exc)


def check_migration_level():
    try:
        with open(MIGRATION_LEVEL, encoding="utf-8") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise CtlError(migration_level_error("No such file or directory @ rb_sysopen - " + MIGRATION_LEVEL)) from None
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or "major" not in doc or "minor" not in doc:
            raise ValueError("unexpected token at '%s'" % raw.strip()[:60])
        int(doc["major"]), int(doc["minor"])
    except (ValueError, TypeError) as exc:
        msg = str(exc) if str(exc).startswith("unexpected token") else "unexpected token at '%s'" % raw.strip()[:60]
        raise CtlError(migration_level_error(msg)) from None
    return doc


def build_version():
    with open(VERSION_MANIFEST, encoding="utf-8") as fh:
        return json.load(fh)["build_version"]


def chef_log(level, msg):
    ts = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    print("[%s] %s: %s" % (ts, level, msg), flush=True)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def b64(data):
    return base64.b64encode(data).decode("ascii")


def mask_argv(argv):
    """argv[1:] for the invocation log with passwords replaced by ********."""
    out = list(argv)
    if not out:
        return out
    # skip global flags before the command
    ci = 0
    while ci < len(out) and out[ci] in ("-v", "--verbose", "-q", "--quiet"):
        ci += 1
    if ci >= len(out):
        return out
    cmd = out[ci]
    i = ci + 1
    positional = []
    while i < len(out):
        arg = out[i]
        if arg in ("-f", "--filename", "-a", "--association_user", "--association-user") and i + 1 < len(out):
            i += 2
            continue
        if arg in ("-p", "--password", "--prompt-for-password") and i + 1 < len(out) and arg != "--prompt-for-password":
            out[i + 1] = "********"
            i += 2
            continue
        if arg.startswith("--password="):
            out[i] = "--password=********"
        elif not arg.startswith("-") or arg == "-":
            positional.append(i)
        i += 1
    if cmd == "user-create":
        # USER FIRST [MIDDLE] LAST EMAIL PASSWORD: password is the last positional; anything from the
        # fifth positional on could be a password when the arity is wrong, so mask all of those.
        if len(positional) in (5, 6):
            out[positional[-1]] = "********"
        else:
            for idx in positional[4:]:
                out[idx] = "********"
    elif cmd in ("password",) and len(positional) >= 2:
        for idx in positional[1:]:
            out[idx] = "********"
    return out
