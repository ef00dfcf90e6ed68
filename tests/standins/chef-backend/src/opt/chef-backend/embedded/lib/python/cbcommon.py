"""Shared pieces of the chef-backend package: paths, config parsing, etcd access, formatting."""

import base64
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

ETC_DIR = "/etc/chef-backend"
CONFIG_RB = ETC_DIR + "/chef-backend.rb"
SECRETS_FILE = ETC_DIR + "/chef-backend-secrets.json"
RUNNING_JSON = ETC_DIR + "/chef-backend-running.json"
DATA_DIR = "/var/opt/chef-backend"
LOG_DIR = "/var/log/chef-backend"
LICENSE_GUARD = DATA_DIR + "/.license.accepted"
LICENSE_FILE = "/opt/chef-backend/LICENSE"
MANIFEST = "/opt/chef-backend/version-manifest.json"
NODE_FILE = DATA_DIR + "/node.json"
CLUSTER_CACHE = DATA_DIR + "/cluster-cache.json"
ETCD_DIR = DATA_DIR + "/etcd"
ETCD_ENV = ETCD_DIR + "/etcd.env"
ETCD_DATA = ETCD_DIR + "/data"
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_BASE = DATA_DIR + "/postgresql"
PG_DATA = PG_BASE + "/15/data"
PG_RUN = PG_BASE + "/run"
PG_PASSFILE = PG_BASE + "/.pgpass"
LEADERL_DIR = DATA_DIR + "/leaderl"
LEADERL_DATA = LEADERL_DIR + "/data"
NO_START_PGSQL = LEADERL_DATA + "/no-start-pgsql"
UNSYNCED = LEADERL_DATA + "/unsynced"
ES_DIR = DATA_DIR + "/elasticsearch"
ES_CONFIG = ES_DIR + "/config.json"

PG_SUPERUSER = "chef_pgsql"
PG_OS_USER = "chef_pgsql"
ETCD_OS_USER = "chef-backend"
REPLICATION_USER = "replicator"

SERVICES = ["elasticsearch", "etcd", "leaderl", "postgresql"]
START_ORDER = ["etcd", "postgresql", "leaderl", "elasticsearch"]

KEY_PREFIX = "/chef-backend"
KEY_LEADER = KEY_PREFIX + "/leader"
KEY_NODES = KEY_PREFIX + "/nodes/"
KEY_FAILOVER_CLUSTER = KEY_PREFIX + "/failover/cluster"
KEY_FAILOVER_NODE = KEY_PREFIX + "/failover/node/"
KEY_SWITCHOVER = KEY_PREFIX + "/switchover"

DEFAULTS = {
    "hide_sensitive": True,
    "ip_version": "ipv4",
    "etcd.client_port": 2379,
    "etcd.peer_port": 2380,
    "etcd.enable": True,
    "etcd.heartbeat_interval": 500,
    "etcd.election_timeout": 5000,
    "etcd.snapshot_count": 5000,
    "elasticsearch.enable": True,
    "elasticsearch.port": 9200,
    "elasticsearch.transport_port": 9300,
    "leaderl.enable": True,
    "leaderl.http_port": 7331,
    "leaderl.leader_ttl_seconds": 30,
    "leaderl.runtime_check_interval": 1,
    "postgresql.enable": True,
    "postgresql.port": 5432,
    "postgresql.md5_auth_cidr_addresses": ["samehost", "samenet"],
    "postgresql.max_connections": 350,
    "postgresql.username": "chef_pgsql",
    "postgresql.replication_user": "replicator",
    "ssl.certificate": "/etc/ssl/certs/ssl-cert-snakeoil.pem",
    "ssl.certificate_key": "/etc/ssl/private/ssl-cert-snakeoil.key",
}


class CtlError(Exception):
    """An expected failure: message for the user and an exit code."""

    def __init__(self, message, rc=1):
        super().__init__(message)
        self.rc = rc


# ----------------------------------------------------------------------------- config parsing

_ASSIGN = re.compile(
    r"""^\s*(?P<key>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*(?:\[['"][\w]+['"]\])*)\s*(?:=\s*|\s+)(?P<value>.+?)\s*$"""
)


def _unquoted(text):
    """Each character of text, with whether it stands outside a quoted string."""
    quote = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            yield ch, False
        elif ch in ("'", '"'):
            quote = ch
            yield ch, False
        else:
            yield ch, True


def _strip_comment(line):
    out = []
    for ch, bare in _unquoted(line):
        if bare and ch == "#":
            break
        out.append(ch)
    return "".join(out).strip()


def _parse_value(text):
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1]
        return [v for v in (_parse_value(p) for p in _split_list(inner)) if v != ""]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in ("'", '"'):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text in ("nil",):
        return None
    if text.startswith(":"):
        return text[1:]
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    return text


def _split_list(inner):
    parts, cur = [], []
    for ch, bare in _unquoted(inner):
        if bare and ch == ",":
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def parse_backend_rb(text):
    """Parse chef-backend.rb (Ruby `key 'v'`, `key = v`, dotted keys, `a['b'] = v`) into a flat dict."""
    result = {}
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        m = _ASSIGN.match(line)
        if not m:
            continue
        key = m.group("key")
        key = re.sub(r"\[['\"](\w+)['\"]\]", r".\1", key)
        value = _parse_value(m.group("value"))
        if key.endswith("md5_auth_cidr_addresses") and isinstance(value, str) and value.startswith("["):
            value = _parse_value(value)
        result[key] = value
    return result


def load_config(path=CONFIG_RB):
    cfg = dict(DEFAULTS)
    try:
        with open(path) as fh:
            cfg.update(parse_backend_rb(fh.read()))
    except FileNotFoundError:
        pass
    cidrs = cfg.get("postgresql.md5_auth_cidr_addresses")
    if isinstance(cidrs, str):
        cfg["postgresql.md5_auth_cidr_addresses"] = [cidrs]
    return cfg


def render_pg_hba(cidrs):
    lines = [
        "# This file is generated by chef-backend-ctl reconfigure from",
        "# postgresql.md5_auth_cidr_addresses in /etc/chef-backend/chef-backend.rb.",
        "# Local socket access for the backend's own tooling (leaderl, chef-backend-ctl):",
        "local   all         chef_pgsql                         peer",
        "local   replication chef_pgsql                         peer",
        "",
    ]
    for value in cidrs:
        lines.append("host    all         all         %-22s md5" % value)
        lines.append("hostssl replication replicator  %-22s md5" % value)
    return "\n".join(lines) + "\n"


def ruby_literal(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return "nil"
    if isinstance(value, list):
        return "[" + ", ".join('"%s"' % v for v in value) + "]"
    return "'%s'" % value


# ----------------------------------------------------------------------------- small helpers

def read_json(path, default=None):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return default


def write_file(path, content, mode=0o644, owner=None, group=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.%d" % os.getpid()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    os.chmod(tmp, mode)
    if owner is not None or group is not None:
        import grp
        import pwd
        uid = pwd.getpwnam(owner).pw_uid if owner else -1
        gid = grp.getgrnam(group).gr_gid if group else -1
        os.chown(tmp, uid, gid)
    os.replace(tmp, path)


def write_json(path, data, mode=0o644, owner=None, group=None):
    write_file(path, json.dumps(data, indent=2, sort_keys=False) + "\n", mode, owner, group)


def address_on_node(ip):
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError:
        return False
    try:
        sock.bind((ip, 0))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def valid_ip(ip):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, ip)
            return True
        except (OSError, TypeError):
            continue
    return False


def node_addresses():
    """All IPv4/IPv6 addresses configured on this node (from `ip -o addr`)."""
    try:
        out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return []
    addrs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[2] in ("inet", "inet6"):
            addrs.append(parts[3].split("/")[0])
    return addrs


def fmt_duration(seconds):
    seconds = max(0, int(seconds))
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return "%dd %dh %dm %ds" % (d, h, m, s)


def format_table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [str(c).ljust(widths[i]) for i, c in enumerate(r[:-1])]
        cells.append(str(r[-1]))
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


# ----------------------------------------------------------------------------- etcd (v3 JSON gateway)

def _b64(s):
    return base64.b64encode(s.encode()).decode()


def _unb64(s):
    return base64.b64decode(s).decode()


class EtcdUnavailable(Exception):
    pass


class Etcd:
    def __init__(self, endpoints, timeout=2.0):
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.timeout = timeout

    def _post(self, path, body):
        last = None
        for ep in self.endpoints:
            req = urllib.request.Request(
                ep + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode() or "{}")
            except urllib.error.HTTPError as exc:
                try:
                    detail = json.loads(exc.read().decode())
                    last = detail.get("error") or detail.get("message") or str(exc)
                except ValueError:
                    last = str(exc)
                raise EtcdUnavailable(last)
            except (OSError, ValueError) as exc:
                last = str(exc)
        raise EtcdUnavailable(last or "no endpoint")

    def get(self, key):
        res = self._post("/v3/kv/range", {"key": _b64(key)})
        kvs = res.get("kvs") or []
        if not kvs:
            return None
        kv = kvs[0]
        return {"value": _unb64(kv.get("value", "")), "lease": kv.get("lease", "0"),
                "mod_revision": kv.get("mod_revision")}

    def get_prefix(self, prefix):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        res = self._post("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(end)})
        return [(_unb64(kv["key"]), _unb64(kv.get("value", ""))) for kv in res.get("kvs") or []]

    def put(self, key, value, lease=None):
        body = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = lease
        self._post("/v3/kv/put", body)

    def delete(self, key):
        self._post("/v3/kv/deleterange", {"key": _b64(key)})

    def create_if_absent(self, key, value, lease=None):
        put = {"key": _b64(key), "value": _b64(value)}
        if lease:
            put["lease"] = lease
        res = self._post("/v3/kv/txn", {
            "compare": [{"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": put}],
        })
        return bool(res.get("succeeded"))

    def delete_if_value(self, key, value):
        res = self._post("/v3/kv/txn", {
            "compare": [{"key": _b64(key), "target": "VALUE", "result": "EQUAL", "value": _b64(value)}],
            "success": [{"request_delete_range": {"key": _b64(key)}}],
        })
        return bool(res.get("succeeded"))

    def grant(self, ttl):
        res = self._post("/v3/lease/grant", {"TTL": int(ttl)})
        return res["ID"]

    def revoke(self, lease):
        self._post("/v3/lease/revoke", {"ID": lease})

    def ttl(self, lease):
        res = self._post("/v3/lease/timetolive", {"ID": lease})
        return int(res.get("TTL", -1))

    def member_list(self):
        return self._post("/v3/cluster/member/list", {}).get("members") or []

    def member_add(self, peer_url):
        return self._post("/v3/cluster/member/add", {"peerURLs": [peer_url]})

    def member_remove(self, member_id):
        return self._post("/v3/cluster/member/remove", {"ID": member_id})


def etcd_healthy(client_url, timeout=1.5):
    try:
        with urllib.request.urlopen(client_url.rstrip("/") + "/health", timeout=timeout) as resp:
            return json.loads(resp.read().decode()).get("health") in (True, "true")
    except (OSError, ValueError):
        return False


def http_get(url, timeout=1.5):
    """Return (status, body) or (None, error) when the listener cannot be reached."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (OSError, ValueError) as exc:
        return None, str(exc)


def local_node():
    return read_json(NODE_FILE)


def cluster_endpoints(node=None):
    """Client URLs to reach the cluster's etcd: local first, then every known member."""
    node = node or local_node() or {}
    eps = ["http://127.0.0.1:2379"]
    cache = read_json(CLUSTER_CACHE, {}) or {}
    for n in cache.get("nodes", []):
        url = "http://%s:2379" % n["ip"]
        if url not in eps:
            eps.append(url)
    for ip in node.get("peers", []):
        url = "http://%s:2379" % ip
        if url not in eps:
            eps.append(url)
    return eps


def registered_nodes(etcd):
    nodes = []
    for _key, value in etcd.get_prefix(KEY_NODES):
        try:
            nodes.append(json.loads(value))
        except ValueError:
            continue
    nodes.sort(key=lambda n: n.get("joined", 0))
    return nodes


def now():
    return time.time()
