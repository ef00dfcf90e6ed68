"""Elasticsearch listener of the backend: HTTP on 9200 (/, /_cluster/health) and a TCP transport port 9300.

Cluster health is green when every registered backend's listener answers, yellow when some do, red when only
this one does. The elected master is the answering node with the smallest GUID.
"""

import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cbcommon as cb  # noqa: E402

VERSION = "5.6.16"
VIEW = {"nodes": [], "online": [], "checked": 0.0}
LOCK = threading.Lock()


def refresh(me):
    etcd = cb.Etcd(["http://127.0.0.1:2379"], timeout=1.5)
    while True:
        try:
            nodes = cb.registered_nodes(etcd)
        except cb.EtcdUnavailable:
            with LOCK:
                nodes = VIEW["nodes"] or [me]
        online = []
        for n in nodes:
            if n["guid"] == me["guid"]:
                online.append(n)
                continue
            status, _body = cb.http_get("http://%s:9200/" % n["ip"], timeout=1.0)
            if status == 200:
                online.append(n)
        with LOCK:
            VIEW.update(nodes=nodes, online=online, checked=time.time())
        time.sleep(2)


def health(conf):
    with LOCK:
        nodes, online = list(VIEW["nodes"]), list(VIEW["online"])
    total = max(len(nodes), 1)
    up = max(len(online), 1)
    if up >= total:
        status = "green"
    elif up > 1:
        status = "yellow"
    else:
        status = "red"
    return {
        "cluster_name": conf.get("cluster_name"),
        "status": status,
        "timed_out": False,
        "number_of_nodes": up,
        "number_of_data_nodes": up,
        "active_primary_shards": 0,
        "active_shards": 0,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0,
        "expected_nodes": total,
    }


def master(me):
    with LOCK:
        online = list(VIEW["online"]) or [me]
    return min(online, key=lambda n: n["guid"])


def make_handler(me, conf):
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "elasticsearch"

        def log_message(self, fmt, *args):
            pass

        def _json(self, code, body):
            data = (json.dumps(body, indent=2) + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def do_GET(self):
            path = self.path.split("?")[0].rstrip("/")
            if path == "":
                self._json(200, {
                    "name": me["guid"],
                    "cluster_name": conf.get("cluster_name"),
                    "cluster_uuid": conf.get("cluster_uuid"),
                    "version": {"number": VERSION, "lucene_version": "6.6.1"},
                    "tagline": "You Know, for Search",
                })
            elif path == "/_cluster/health":
                self._json(200, health(conf))
            elif path == "/_cat/master":
                m = master(me)
                self._json(200, [{"id": m["guid"], "host": m["ip"], "ip": m["ip"], "node": m["guid"]}])
            elif path == "/_nodes/_local":
                m = master(me)
                self._json(200, {"cluster_name": conf.get("cluster_name"),
                                 "nodes": {me["guid"]: {"name": me["guid"], "host": me["ip"],
                                                        "master": m["guid"] == me["guid"]}}})
            else:
                self._json(404, {"error": "no handler found for uri [%s]" % self.path, "status": 404})

        def do_PUT(self):
            self._json(200, {"acknowledged": True})

        do_POST = do_PUT
        do_DELETE = do_PUT

    return Handler


def transport(port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)
    while True:
        conn, _addr = srv.accept()
        conn.close()


def main():
    me = cb.local_node()
    conf = cb.read_json(cb.ES_CONFIG, {}) or {}
    if not me:
        sys.stdout.write("node is not configured; exiting\n")
        return 1
    cfg = cb.load_config()
    threading.Thread(target=refresh, args=(me,), daemon=True).start()
    threading.Thread(target=transport, args=(int(cfg.get("elasticsearch.transport_port", 9300)),), daemon=True).start()
    srv = http.server.ThreadingHTTPServer(("0.0.0.0", int(cfg.get("elasticsearch.port", 9200))), make_handler(me, conf))
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
