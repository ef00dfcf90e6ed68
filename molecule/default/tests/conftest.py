"""Helpers for the main scenario's tests: lab hosts, the stand-ins' invocation logs, playbook runs."""
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
import labtest  # noqa: E402
from labtest import ROOT, invocations, lab_host, subcommand_calls  # noqa: E402,F401
# the test modules in an order drawn from a seed (CHEFOPS_TEST_SEED replays one), the order printed
from labtest import pytest_collection_modifyitems, pytest_report_collectionfinish  # noqa: E402,F401

BACKENDS = {"be1": "172.31.250.11", "be2": "172.31.250.12", "be3": "172.31.250.13"}
FRONTENDS = {"fe1": "172.31.250.21", "fe2": "172.31.250.22"}
LB = "172.31.250.41"
# The secrets this lab holds: no playbook run may show them (labtest.run_playbook).
labtest.SECRET_FILES.update({
    "be1": ["/etc/chef-backend/chef-backend-secrets.json"],
    "fe1": ["/etc/opscode/private-chef-secrets.json", "/etc/opscode/pivotal.pem", "/etc/opscode/webui_priv.pem",
            "/etc/opscode/chefadmin.pem", "/etc/opscode/chefops-validator.pem"],
    None: [os.path.join(ROOT, ".build", "lab-tls", "lb.key")],
})
# The lb's HAProxy servers and their rotation state (UP, DOWN, MAINT, DRAIN...), read from its runtime socket.
HAPROXY_STAT = ("python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
                "s.sendall(b'show stat\\n'); print(b''.join(iter(lambda: s.recv(65536), b'')).decode())\"")


PROBE = ("python3 -c \"import socket,sys; s=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\n"
         "s.settimeout(3)\n"
         "try:\n s.connect((sys.argv[1], int(sys.argv[2]))); print('open')\n"
         "except ConnectionRefusedError: print('refused')\n"
         "except OSError as e: print('error', e)\" %s %s")


def probe(source, address, port):
    """'open' when a TCP connection from source to address:port is accepted, 'refused' when it is reset."""
    return lab_host(source).check_output(PROBE % (address, port)).strip()


def haproxy_servers():
    rows = [line.split(",") for line in lab_host("lb").check_output(HAPROXY_STAT).splitlines() if line.strip()]
    header = rows[0]
    col = {name: header.index(name) for name in ("svname", "status")}
    # the first word: "UP 1/2" (one check failed) is still in rotation, "DOWN 1/2" not yet back
    return {row[col["svname"]]: row[col["status"]].split()[0] for row in rows[1:]
            if row[0] == "chef_frontends" and row[col["svname"]] not in ("FRONTEND", "BACKEND")}


def wait_for_state(name, state, seconds):
    """Until the load balancer shows the frontend in that state (its checks lag behind the frontend); the time then."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if haproxy_servers().get(name) == state:
            return time.time()
        time.sleep(0.25)
    raise AssertionError("%s did not become %s within %ss: %s" % (name, state, seconds, haproxy_servers()))


class Watch(threading.Thread):
    """Samples the load balancer's view of the frontends, and requests through it, while a playbook runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples, self.codes, self.done = [], [], threading.Event()

    def run(self):
        while not self.done.is_set():
            self.samples.append(haproxy_servers())
            self.codes.append(lab_host("outsider").run(
                "curl -sk -o /dev/null -m 10 -w '%%{http_code}' https://%s/_status" % LB).stdout)
            time.sleep(0.2)


def run_playbook(playbook, *args, inventory=None):
    """Run a playbook against the main lab; with another inventory, the lab's group variables are given too."""
    return labtest.run_playbook(playbook, *args, inventory=inventory, extra_vars_file=(
        os.path.join(ROOT, "lab", "group_vars", "all.yml") if inventory else None))


def leaders():
    """The backends whose leaderl answers /leader with 200, asked from each backend itself."""
    return [name for name, address in BACKENDS.items()
            if lab_host(name).run("curl -s -o /dev/null -w '%%{http_code}' http://%s:7331/leader" % address).stdout
            == "200"]


def backend_info():
    """chefops.chef_ha.chef_backend_info on every backend, as ansible runs it."""
    cmd = ["ansible", "-i", os.path.join(ROOT, "lab", "inventory.yml"), "chef_backends", "-o", "-m",
           "chefops.chef_ha.chef_backend_info"]
    out = subprocess.run(cmd, env=dict(labtest.ansible_env(), ANSIBLE_LOAD_CALLBACK_PLUGINS="false"), cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=False).stdout
    labtest.keep_run(cmd, out)
    results = {}
    for line in out.splitlines():
        match = re.match(r"^(\S+) \| \w+ => (\{.*\})$", line)
        if match:
            results[match.group(1)] = json.loads(match.group(2))
    assert set(results) == set(BACKENDS), out[-2000:]
    return results


def recap(output):
    return {host: int(changed) for host, changed in
            re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", output, re.M)}


def recreate_empty(*names):
    """Remove the hosts' containers and create them again from the lab image, as `molecule create` made them: a fresh
    disk, the same address; then the lab preparation (systemd up, the lab repository) on them, in one run."""
    for name in names:
        recreate_container(name)
    cmd = ["ansible-playbook", "-i", os.path.join(ROOT, "lab", "inventory.yml"),
           os.path.join(ROOT, "molecule", "shared", "prepare.yml"), "--limit", ",".join(names) + ",lab_repository"]
    prepared = subprocess.run(cmd, env=labtest.ansible_env(), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
    labtest.keep_run(cmd, prepared.stdout)
    assert prepared.returncode == 0, prepared.stdout[-3000:]


def recreate_container(name):
    spec = json.loads(subprocess.check_output(["docker", "inspect", name]))[0]
    host, config = spec["HostConfig"], spec["Config"]
    (network, settings), = spec["NetworkSettings"]["Networks"].items()
    address = settings["IPAMConfig"]["IPv4Address"]
    subprocess.check_call(["docker", "rm", "-f", name], stdout=subprocess.DEVNULL)
    argv = ["docker", "run", "-d", "--name", name, "--hostname", config["Hostname"], "--network", network,
            "--ip", address, "--cgroupns", host["CgroupnsMode"]]
    for cap in host.get("CapAdd") or []:
        argv += ["--cap-add", cap]
    for opt in host.get("SecurityOpt") or []:
        argv += ["--security-opt", opt]
    for bind in host.get("Binds") or []:
        argv += ["-v", bind]
    for path, options in (host.get("Tmpfs") or {}).items():
        argv += ["--tmpfs", path + (":" + options if options else "")]
    for entry in host.get("ExtraHosts") or []:
        argv += ["--add-host", entry]
    argv += [config["Image"]] + (config.get("Cmd") or [])
    subprocess.check_call(argv, stdout=subprocess.DEVNULL)


@pytest.fixture
def backend_secrets():  # read each time: restore.yml makes a cluster with new secrets
    return json.loads(lab_host("be1").file("/etc/chef-backend/chef-backend-secrets.json").content_string)


@pytest.fixture(scope="session", autouse=True)
def as_converged():
    """The frontends' chef-server-ctl calls as converge and check mode left them: read before the first test,
    whichever it is, so a claim about those runs holds after tests that reconfigure, upgrade or restore."""
    return {name: invocations(name, "chef-server-ctl") for name in FRONTENDS}
