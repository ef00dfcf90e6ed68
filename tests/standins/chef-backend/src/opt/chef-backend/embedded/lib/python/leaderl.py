"""leaderl: elects the cluster leader through an etcd lease-backed key and keeps PostgreSQL in line with it.

The leader is the PostgreSQL primary. GET /leader answers 200 only on the current leader (503 otherwise);
GET /status returns this node's view as JSON.
"""

import http.server
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cbcommon as cb  # noqa: E402

STATE = {"role": "waiting_for_leader", "pg": "down", "leader": None, "etcd": False, "since": time.time()}
LOCK = threading.Lock()


def log(msg):
    sys.stdout.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), msg))
    sys.stdout.flush()


def set_state(**kw):
    with LOCK:
        if "role" in kw and kw["role"] != STATE["role"]:
            STATE["since"] = time.time()
            log("role: %s -> %s" % (STATE["role"], kw["role"]))
        STATE.update(kw)


def psql_local(sql):
    res = subprocess.run(
        [cb.PG_BIN + "/psql", "-h", cb.PG_RUN, "-U", cb.PG_SUPERUSER, "-d", "postgres", "-XAtq", "-v", "ON_ERROR_STOP=1"],
        input=sql, capture_output=True, text=True, timeout=10,
    )
    if res.returncode != 0:
        return None
    return res.stdout.strip()


def pg_state():
    out = psql_local("SELECT pg_is_in_recovery();")
    if out == "f":
        return "primary"
    if out == "t":
        return "standby"
    return "down"


def pg_ctl(*args):
    return subprocess.run([cb.PG_BIN + "/pg_ctl", "-D", cb.PG_DATA] + list(args),
                          capture_output=True, text=True, timeout=120)


def standby_conf(leader_ip, guid):
    return (
        "# Managed by leaderl: where this follower streams from.\n"
        "primary_conninfo = 'host=%s port=5432 user=%s sslmode=require application_name=%s passfile=%s'\n"
        "recovery_target_timeline = 'latest'\n" % (leader_ip, cb.REPLICATION_USER, guid, cb.PG_PASSFILE)
    )


def current_upstream():
    try:
        with open(os.path.join(cb.PG_DATA, "standby.conf")) as fh:
            for line in fh:
                if line.startswith("primary_conninfo"):
                    for part in line.split("'")[1].split():
                        if part.startswith("host="):
                            return part[5:]
    except OSError:
        pass
    return None


def point_at(leader_ip, guid, reload=True):
    cb.write_file(os.path.join(cb.PG_DATA, "standby.conf"), standby_conf(leader_ip, guid), 0o600)
    if reload:
        pg_ctl("reload")


def keepalive(lease):
    try:
        res = subprocess.run(
            ["etcdctl", "--endpoints", "http://127.0.0.1:2379", "--dial-timeout", "2s", "--command-timeout", "3s",
             "lease", "keep-alive", "--once", format(int(lease), "x")],
            capture_output=True, text=True, timeout=6,
        )
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return False
    return res.returncode == 0


def failover_allowed(etcd, guid):
    def enabled(key):
        kv = etcd.get(key)
        return kv is None or kv["value"] not in ("off", "false", "disabled")
    return enabled(cb.KEY_FAILOVER_CLUSTER) and enabled(cb.KEY_FAILOVER_NODE + guid)


def step_down(etcd, me, lease, target):
    """Planned switchover: become a standby of the target, then release leadership."""
    log("stepping down in favour of %s (%s)" % (target.get("name"), target.get("ip")))
    set_state(role="follower")
    point_at(target["ip"], me["guid"], reload=False)
    open(os.path.join(cb.PG_DATA, "standby.signal"), "w").close()
    pg_ctl("stop", "-m", "fast", "-w")
    try:
        etcd.revoke(lease)
    except cb.EtcdUnavailable:
        pass


def tick(me, cfg, etcd):
    pg = pg_state()
    set_state(pg=pg, partially_synced=os.path.exists(cb.UNSYNCED))
    try:
        kv = etcd.get(cb.KEY_LEADER)
        sw_kv = etcd.get(cb.KEY_SWITCHOVER)
    except cb.EtcdUnavailable:
        set_state(role="waiting_for_leader", etcd=False, leader=None)
        return
    set_state(etcd=True)
    leader = json.loads(kv["value"]) if kv else None
    switch = json.loads(sw_kv["value"]) if sw_kv else None
    set_state(leader=leader)

    if leader and leader["guid"] == me["guid"]:
        if not keepalive(kv["lease"]):
            set_state(role="waiting_for_leader")
            return
        if switch and switch["guid"] != me["guid"]:
            step_down(etcd, me, kv["lease"], switch)
            return
        if pg == "standby":
            log("promoting local PostgreSQL")
            pg_ctl("promote", "-w")
            try:
                os.unlink(os.path.join(cb.PG_DATA, "standby.conf"))
            except OSError:
                pass
        if switch and switch["guid"] == me["guid"]:
            etcd.delete(cb.KEY_SWITCHOVER)
        set_state(role="leader")
        return

    if leader:
        set_state(role="follower")
        if pg == "primary":
            log("another leader (%s) exists while local PostgreSQL is primary: stopping it" % leader["name"])
            cb.write_file(cb.NO_START_PGSQL, "demoted: leader is %s\n" % leader["guid"], 0o644)
            pg_ctl("stop", "-m", "fast", "-w")
        elif pg == "standby" and current_upstream() != leader["ip"]:
            log("following new leader %s (%s)" % (leader["name"], leader["ip"]))
            point_at(leader["ip"], me["guid"])
        return

    # no leader
    eligible = pg in ("primary", "standby") and not os.path.exists(cb.UNSYNCED)
    if switch:
        eligible = eligible and switch["guid"] == me["guid"]
    elif pg == "standby":
        eligible = eligible and failover_allowed(etcd, me["guid"])
    if not eligible:
        set_state(role="waiting_for_leader")
        return
    lease = etcd.grant(int(cfg.get("leaderl.leader_ttl_seconds", 30)))
    value = json.dumps({"guid": me["guid"], "name": me["name"], "ip": me["ip"], "since": time.time()})
    if etcd.create_if_absent(cb.KEY_LEADER, value, lease):
        log("acquired leadership")
        if pg == "standby":
            pg_ctl("promote", "-w")
            try:
                os.unlink(os.path.join(cb.PG_DATA, "standby.conf"))
            except OSError:
                pass
        if switch:
            etcd.delete(cb.KEY_SWITCHOVER)
        set_state(role="leader")
    else:
        etcd.revoke(lease)
        set_state(role="waiting_for_leader")


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "leaderl"

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with LOCK:
            snap = dict(STATE)
        if self.path.rstrip("/") == "/leader":
            if snap["role"] == "leader":
                self._send(200, "leader\n")
            else:
                self._send(503, "%s\n" % snap["role"])
        elif self.path.rstrip("/") == "/status":
            me = cb.local_node() or {}
            body = {"name": me.get("name"), "ip": me.get("ip"), "guid": me.get("guid"), "role": snap["role"],
                    "pg": snap["pg"], "partially_synced": bool(snap.get("partially_synced")),
                    "etcd_reachable": snap["etcd"], "leader": snap["leader"],
                    "time_in_role": int(time.time() - snap["since"])}
            self._send(200, json.dumps(body, indent=2) + "\n", "application/json")
        else:
            self._send(404, "not found\n")


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # health checkers hang up early; that is not worth a traceback in the log


def main():
    me = cb.local_node()
    if not me:
        log("node is not configured (no %s); exiting" % cb.NODE_FILE)
        return 1
    cfg = cb.load_config()
    port = int(cfg.get("leaderl.http_port", 7331))
    srv = QuietServer(("0.0.0.0", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    log("leaderl listening on %d as %s (%s)" % (port, me["name"], me["guid"]))
    etcd = cb.Etcd(["http://127.0.0.1:2379"], timeout=2)
    interval = float(cfg.get("leaderl.runtime_check_interval", 1))
    while True:
        try:
            tick(me, cfg, etcd)
        except Exception as exc:  # keep the daemon alive; the next tick retries
            log("tick failed: %s" % exc)
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
