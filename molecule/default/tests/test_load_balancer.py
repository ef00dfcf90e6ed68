"""The load balancer (lb): HAProxy in front of fe1 and fe2, seen from the frontends' access logs, the runtime socket
and real connections."""
import os
import ssl
import subprocess
import time
import uuid

import pytest
import yaml

from conftest import FRONTENDS, LB, ROOT, haproxy_servers, lab_host, probe, run_playbook, wait_for_state

ACCESS_LOG = "/var/log/opscode/nginx/access.log"
OUTSIDER = "172.31.250.99"


def through_lb(count, token, cookie_jar=None):
    """count HTTPS requests from outsider through lb; returns their status codes."""
    jar = "-c %s -b %s " % (cookie_jar, cookie_jar) if cookie_jar else ""
    script = ("for i in $(seq %d); do curl -sk -o /dev/null -w '%%{http_code}\\n' %s"
              "'https://%s/_status?probe=%s-'$i; done" % (count, jar, LB, token))
    return lab_host("outsider").check_output(script).split()


def served(token):
    """How many requests carrying token each frontend logged, and their log lines."""
    lines = {name: [line for line in lab_host(name).file(ACCESS_LOG).content_string.splitlines() if token in line]
             for name in FRONTENDS}
    return {name: len(found) for name, found in lines.items()}, lines


def test_requests_reach_both_frontends_with_the_proxy_headers():
    token = uuid.uuid4().hex
    assert through_lb(20, token) == ["200"] * 20
    counts, lines = served(token)
    assert sum(counts.values()) == 20
    assert counts["fe1"] > 0 and counts["fe2"] > 0, counts
    for line in lines["fe1"] + lines["fe2"]:
        # the connection comes from lb; the client and the scheme travel in the headers
        assert line.startswith(LB + " "), line
        assert line.endswith('"%s" "https"' % OUTSIDER), line


def test_a_client_that_keeps_the_cookie_stays_on_one_frontend():
    token = uuid.uuid4().hex
    jar = "/tmp/lb-cookies-%s" % token
    try:
        assert through_lb(20, token, cookie_jar=jar) == ["200"] * 20
        cookies = lab_host("outsider").check_output("cat %s" % jar)
    finally:
        lab_host("outsider").run("rm -f %s" % jar)
    assert "CHEFLB" in cookies
    counts, _ = served(token)
    assert sorted(counts.values()) == [0, 20], counts


def test_plain_http_redirects_to_https():
    answer = lab_host("outsider").check_output(
        "curl -s -o /dev/null -w '%%{http_code} %%{redirect_url}' http://%s/_status" % LB)
    assert answer == "301 https://%s/_status" % LB


def test_lb_serves_the_given_certificate():
    served_pem = ssl.get_server_certificate((LB, 443), timeout=10)
    with open(os.path.join(ROOT, ".build", "lab-tls", "lb.crt"), encoding="ascii") as given:
        assert ssl.PEM_cert_to_DER_cert(served_pem) == ssl.PEM_cert_to_DER_cert(given.read())
    pem = lab_host("lb").file("/etc/haproxy/certs/chef-frontends.pem")
    assert (pem.user, pem.mode) == ("root", 0o600)


def test_haproxy_checks_every_frontend_and_runs_from_a_checked_configuration():
    assert set(haproxy_servers()) == set(FRONTENDS)
    assert set(haproxy_servers().values()) == {"UP"}
    lb = lab_host("lb")
    assert lb.service("haproxy").is_running and lb.service("haproxy").is_enabled
    assert lb.run("haproxy -c -q -f /etc/haproxy/haproxy.cfg").rc == 0


def test_a_frontend_whose_status_fails_is_taken_out_and_put_back():
    fe2 = lab_host("fe2")
    # without its haproxy, fe2 still answers on 443 but /_status says "fail" (PostgreSQL unreachable)
    fe2.check_output("systemctl stop chef-server-haproxy")
    try:
        started = time.time()
        assert fe2.run("curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1/_status").stdout == "500"
        # checked every 2 s, out after 2 failures: well within 10 s
        assert wait_for_state("fe2", "DOWN", 10) - started < 10
        token = uuid.uuid4().hex
        assert through_lb(50, token) == ["200"] * 50
        assert served(token)[0] == {"fe1": 50, "fe2": 0}
    finally:
        fe2.check_output("systemctl start chef-server-haproxy")
    wait_for_state("fe2", "UP", 30)
    token = uuid.uuid4().hex
    assert through_lb(10, token) == ["200"] * 10
    assert served(token)[0]["fe2"] > 0


def lb_state():
    lb = lab_host("lb")
    return (lb.file("/etc/haproxy/haproxy.cfg").sha256sum, lb.file("/etc/haproxy/certs/chef-frontends.pem").sha256sum,
            lb.check_output("systemctl show -p MainPID --value haproxy"))


def test_a_configuration_haproxy_rejects_leaves_the_running_one_in_place():
    before = lb_state()
    result = run_playbook("load_balancer.yml", "-e", '{"load_balancer_backend_options": ["no-such-keyword 1"]}')
    assert result.returncode != 0
    assert "no-such-keyword" in result.stdout and "failed to validate" in result.stdout, result.stdout[-3000:]
    assert lb_state() == before
    assert through_lb(4, uuid.uuid4().hex) == ["200"] * 4


def test_a_missing_certificate_fails_before_haproxy_is_touched():
    before = lb_state()
    result = run_playbook("load_balancer.yml", "-e", "load_balancer_tls_certificate=/nonexistent/lb.crt")
    assert result.returncode != 0
    assert "load_balancer_tls_certificate = '/nonexistent/lb.crt' is not a file on the controller" in result.stdout
    assert "Install HAProxy" not in result.stdout
    assert lb_state() == before


@pytest.fixture(scope="module")
def other_key(tmp_path_factory):
    path = tmp_path_factory.mktemp("tls") / "other.key"
    subprocess.run(["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True)
    return str(path)


def test_a_key_that_is_not_the_certificates_stops_site_in_preflight(other_key):
    before = lb_state()
    result = run_playbook("site.yml", "-e", "load_balancer_tls_key=%s" % other_key)
    assert result.returncode != 0
    assert ("load_balancer_tls_key = '%s' is not the private key of load_balancer_tls_certificate" % other_key
            in result.stdout), result.stdout[-3000:]
    assert "Step 1" not in result.stdout
    assert lb_state() == before
    # the key's text never reaches the output
    with open(other_key, encoding="ascii") as key:
        body = key.read().splitlines()[1]
    assert body not in result.stdout


def test_load_balancer_sources_limit_who_reaches_the_load_balancer():
    controller = "172.31.250.1/32"
    try:
        result = run_playbook("firewall.yml", "-e", '{"load_balancer_sources": ["%s"]}' % controller)
        assert result.returncode == 0, result.stdout[-3000:]
        for port in (80, 443):
            assert probe("outsider", LB, port) == "refused"
        # the controller (the docker bridge's address) is listed, and is let through
        assert ssl.get_server_certificate((LB, 443), timeout=10)
    finally:
        restored = run_playbook("firewall.yml")
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert probe("outsider", LB, 443) == "open"


@pytest.fixture
def node1_as_a_second_load_balancer(tmp_path):
    """An inventory whose load balancer group also holds node1; node1 is put back as it was afterwards."""
    node1 = lab_host("node1")
    original = node1.file("/etc/haproxy/haproxy.cfg").content_string
    with open(os.path.join(ROOT, "lab", "inventory.yml"), encoding="utf-8") as lab:
        inventory = yaml.safe_load(lab)
    inventory["all"]["children"]["chef_load_balancers"]["hosts"]["node1"] = None
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    yield str(path)
    node1.check_output("systemctl stop haproxy && systemctl disable haproxy && systemctl mask haproxy "
                       "&& rm -rf /etc/haproxy/certs")
    node1.check_output("cat > /etc/haproxy/haproxy.cfg <<'EOF'\n%sEOF" % original)


def test_two_load_balancers_get_the_same_configuration(node1_as_a_second_load_balancer):
    result = run_playbook("load_balancer.yml", inventory=node1_as_a_second_load_balancer)
    assert result.returncode == 0, result.stdout[-3000:]
    lb, node1 = lab_host("lb"), lab_host("node1")
    for path in ("/etc/haproxy/haproxy.cfg", "/etc/haproxy/certs/chef-frontends.pem"):
        assert lb.file(path).sha256sum == node1.file(path).sha256sum, path
    assert node1.service("haproxy").is_running
    assert ssl.get_server_certificate(("172.31.250.31", 443), timeout=10) == ssl.get_server_certificate(
        (LB, 443), timeout=10)
