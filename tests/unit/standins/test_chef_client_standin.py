"""The chef-client stand-in's Chef API side (tests/standins/chef-client), without a network.

The script is loaded as a module. Its signing is checked against the openssl-made vectors of the collection's
Chef API tests (same key, same timestamp), its allowlist decision against the chef-whitelist library's rules and
log lines, and whole runs against an in-process fake Chef server that checks every request's signature.
"""

import base64
import hashlib
import importlib.machinery
import importlib.util
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_api_replay import VECTORS, vector_id

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "tests" / "standins" / "chef-client" / "chef-client"
FIXTURES = REPO / "tests" / "unit" / "plugins" / "fixtures" / "chef_api"
KEY_FILE = FIXTURES / "client.pem"
FQDN = "web01.example.com"


def load_standin():
    loader = importlib.machinery.SourceFileLoader("chef_client_standin", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


cc = load_standin()


def private_key():
    return serialization.load_pem_private_key(KEY_FILE.read_bytes(), password=None)


@pytest.fixture
def key():
    return cc.ClientKey.from_pem(KEY_FILE.read_text(), str(KEY_FILE))


# ------------------------------------------------------------------------------------------------ signing

@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=vector_id)
def test_headers_match_the_openssl_vectors(key, vector):
    body = vector["body"].encode() or None
    headers = cc.auth_headers(key, VECTORS["client"], vector["method"], vector["path"], body, VECTORS["timestamp"],
                              vector["version"], 1)
    assert headers["X-Ops-Content-Hash"] == vector["content_hash"]
    assert cc.string_to_sign(vector["method"], vector["path"], vector["content_hash"], VECTORS["timestamp"],
                             VECTORS["client"], vector["version"], 1) == vector["canonical"]
    lines = [headers["X-Ops-Authorization-%d" % n] for n in range(1, 7)]
    assert "X-Ops-Authorization-7" not in headers
    assert [len(line) for line in lines] == [60, 60, 60, 60, 60, 44]
    assert "".join(lines) == vector["signature"]
    algorithm = "sha256" if vector["version"] == "1.3" else "sha1"
    assert headers["X-Ops-Sign"] == "algorithm=%s;version=%s;" % (algorithm, vector["version"])
    assert headers["X-Ops-Userid"] == VECTORS["client"]
    assert headers["X-Ops-Timestamp"] == VECTORS["timestamp"]
    assert headers["X-Ops-Server-API-Version"] == "1"


def test_literal_1_3_string_and_path_rules():
    empty = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert cc.b64_digest("sha256", b"") == empty
    assert cc.b64_digest("sha1", b"") == "2jmj7l5rSw0yVb/vlWAYkK/YBwk="
    assert cc.string_to_sign("get", "//organizations/acme//nodes/web01/?x=1", empty, "2026-12-01T18:00:00Z",
                             "web01", "1.3", 1) == (
        "Method:GET\nPath:/organizations/acme/nodes/web01\nX-Ops-Content-Hash:%s\nX-Ops-Sign:version=1.3\n"
        "X-Ops-Timestamp:2026-12-01T18:00:00Z\nX-Ops-UserId:web01\nX-Ops-Server-API-Version:1" % empty)


def test_1_3_signature_verifies_with_the_public_key(key):
    body = b'{"name":"web01"}'
    headers = cc.auth_headers(key, "web01", "PUT", "/nodes/web01", body, "2026-12-01T18:00:00Z")
    signature = base64.b64decode("".join(v for k, v in sorted(headers.items()) if k.startswith("X-Ops-Auth")))
    canonical = cc.string_to_sign("PUT", "/nodes/web01", headers["X-Ops-Content-Hash"], "2026-12-01T18:00:00Z",
                                  "web01", "1.3", 1)
    private_key().public_key().verify(signature, canonical.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_pkcs8_key_signs_the_same(tmp_path, key):
    pkcs8 = private_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    assert pkcs8.startswith("-----BEGIN PRIVATE KEY-----")
    other = cc.ClientKey.from_pem(pkcs8, "pkcs8.pem")
    assert (other.n, other.d) == (key.n, key.d)


@pytest.mark.parametrize("text, why", [
    ("not a key", "no PEM block"),
    ("-----BEGIN RSA PRIVATE KEY-----\nbm90IGRlcg==\n-----END RSA PRIVATE KEY-----\n", "not DER"),
    ("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", "a CERTIFICATE, not an RSA private key"),
    ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
    (ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
     "not an RSA key"),
])
def test_bad_keys_fail_the_run(text, why):
    with pytest.raises(cc.RunFailure) as failure:
        cc.ClientKey.from_pem(text, "/etc/chef/client.pem")
    assert failure.value.kind == "Chef::Exceptions::InvalidPrivateKey"
    assert failure.value.message.startswith("The file /etc/chef/client.pem or :raw_key option does not contain")
    assert failure.value.message.endswith("(%s)." % why)


def test_missing_key_file(tmp_path):
    with pytest.raises(cc.RunFailure) as failure:
        cc.load_client_key(str(tmp_path / "client.pem"))
    assert str(failure.value) == ("Chef::Exceptions::PrivateKeyMissing: I cannot read %s, which you told me to use "
                                  "to sign requests!" % (tmp_path / "client.pem"))


# ------------------------------------------------------------------------------------------------ client.rb

def test_parse_client_rb():
    text = '\n'.join([
        '# written by the chef-client cookbook',
        'chef_server_url  "https://chef.example.com/organizations/acme"',
        "node_name        'web01.example.com'  # the fqdn",
        'client_key("/etc/chef/client.pem")',
        'ssl_verify_mode  :verify_none',
        'environment "production"',
        'log_location     STDOUT',
        'json_attribs "/etc/chef/first\\"boot.json"',
        'validation_client_name "acme-validator"',
        'chef_server_url_typo "ignored"',
    ])
    assert cc.parse_client_rb(text) == {
        "chef_server_url": "https://chef.example.com/organizations/acme", "node_name": "web01.example.com",
        "client_key": "/etc/chef/client.pem", "ssl_verify_mode": ":verify_none", "environment": "production",
        "json_attribs": '/etc/chef/first"boot.json'}


def test_client_settings(tmp_path):
    missing = str(tmp_path / "missing.rb")
    assert cc.client_settings({"config": missing}) is None
    config = tmp_path / "client.rb"
    config.write_text('node_name "web01"\n')
    assert cc.client_settings({"config": str(config)}) is None  # no server URL: the run contacts no server
    settings = cc.client_settings({"config": str(config), "server": "http://chef:4545", "environment": "testing"})
    assert settings == {"chef_server_url": "http://chef:4545", "node_name": "web01", "environment": "testing",
                        "client_key": "/etc/chef/client.pem", "trusted_certs_dir": "/etc/chef/trusted_certs",
                        "authentication_protocol_version": "1.3"}
    assert cc.client_settings({"config": str(config), "server": "http://chef", "disable-config": True}) == {
        "chef_server_url": "http://chef", "client_key": "/etc/chef/client.pem",
        "trusted_certs_dir": "/etc/chef/trusted_certs", "authentication_protocol_version": "1.3"}
    config.write_text('chef_server_url "http://chef"\nauthentication_protocol_version "1.0"\n')
    with pytest.raises(cc.ConfigError, match="authentication_protocol_version '1.0'"):
        cc.client_settings({"config": str(config)})


# ------------------------------------------------------------------------------------- allowlist decision

FNMATCH_CASES = [
    ("web01.example.com", "web01.example.com", True),
    ("web01.example.com", "WEB01.example.com", False),   # case-sensitive
    ("*.example.com", "web01.example.com", True),
    ("*", "web01.example.com", True),                    # `*` crosses dots
    ("web*", "web01.example.com", True),
    ("web", "web01.example.com", False),                 # whole string
    ("web0?.example.com", "web01.example.com", True),
    ("web0?.example.com", "web10.example.com", False),
    ("web[0-4]1.example.com", "web01.example.com", True),
    ("web[!0]1.example.com", "web01.example.com", False),
    ("web[^1-9]1.example.com", "web01.example.com", True),
    ("web[9-0]1.example.com", "web01.example.com", True),  # a reversed range still matches its ends
    ("web[9-1]1.example.com", "web51.example.com", False),
    ("web[]01.example.com", "web01.example.com", False),   # empty set
    ("web[!]1.example.com", "web01.example.com", True),    # `[!]` is any one character
    ("web[01.example.com", "web01.example.com", False),    # unclosed set never matches
    ("web\\01.example.com", "web01.example.com", True),    # `\` escapes
    ("web01\\.example\\.com", "web01.example.com", True),
    ("web0\\?.example.com", "web01.example.com", False),
    ("{web01,web02}.example.com", "web01.example.com", False),  # no brace expansion
    ("*.example.com", ".example.com", False),              # no wildcard matches a leading period
    (".*", ".example.com", True),
    ("\\.example.com", ".example.com", True),
    ("[.]example.com", ".example.com", False),
    ("web01.example.com\\", "web01.example.com", True),    # a trailing lone backslash matches nothing more
    ("", "web01.example.com", False),
]


@pytest.mark.parametrize("pattern, fqdn, expected", FNMATCH_CASES)
def test_ruby_fnmatch(pattern, fqdn, expected):
    assert cc.ruby_fnmatch(pattern, fqdn) is expected


def test_fnmatch_agrees_with_the_collection():
    """Two implementations written apart agree on every pattern/host pair of a small grammar."""
    from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import fnmatch_ruby
    atoms = ["w", ".", "*", "?", "[a-w]", "[!w]", "[^.]", "[]", "[!]", "[w-a]", "\\.", "\\*", "[", "]", "-"]
    patterns = [a + b + c for a in atoms for b in atoms for c in ["", "b", "*", "."]]
    hosts = ["", "w", "wb", ".w", "w.b", "ww.", "a.b.", "*b", ".", "w-b", "]b"]
    for pattern in patterns:
        for host in hosts:
            assert cc.ruby_fnmatch(pattern, host) == fnmatch_ruby(pattern, host), (pattern, host)


MATCHED = "Whitelisting: Matched pattern '%s' to host 'web01.example.com' for whitelist 'php8'."
NO_MATCH = "Whitelisting: Node 'web01.example.com' didn't match any patterns for whitelist 'php8'"
DECISIONS = [
    ("exact", {"id": "php8", "patterns": [FQDN]}, "patterns", [], True, [MATCHED % FQDN]),
    ("first match wins", {"patterns": ["db*", "web*", "*"]}, "patterns", [], True, [MATCHED % "web*"]),
    ("empty list", {"id": "php8", "patterns": []}, "patterns", [], False, [NO_MATCH]),
    ("missing key", {"id": "php8"}, "patterns", [], False, [NO_MATCH]),
    ("null key", {"id": "php8", "patterns": None}, "patterns", [], False, [NO_MATCH]),
    ("other key", {"id": "php8", "patterns": [FQDN], "hosts": []}, "hosts", [], False, [NO_MATCH]),
    ("braces", {"patterns": ["{web01,web02}.example.com"]}, "patterns", [], False, [NO_MATCH]),
    ("found by role", {"patterns": ["db*"], "roles": ["db", "web"]}, "patterns", ["web"], True, [
        "Searching for 'web01.example.com' in the 'db' role.",
        "Searching for 'web01.example.com' in the 'web' role.",
        "Whitelisting: Found node 'web01.example.com' via role 'web'.",
        "Whitelisting: Found node 'web01.example.com' via role search for whitelist 'php8'."]),
    ("not found by role", {"patterns": [], "roles": ["db"]}, "patterns", ["web"], False, [
        "Searching for 'web01.example.com' in the 'db' role.",
        "Whitelisting: Node 'web01.example.com' wasn't found via role search for whitelist 'php8'.",
        NO_MATCH]),
    ("pattern before roles", {"patterns": ["web*"], "roles": ["web"]}, "patterns", ["web"], True,
     [MATCHED % "web*"]),
]


@pytest.mark.parametrize("item, attribute, roles, branch, messages",
                         [d[1:] for d in DECISIONS], ids=[d[0] for d in DECISIONS])
def test_is_in_whitelist(item, attribute, roles, branch, messages):
    assert cc.is_in_whitelist("php8", item, attribute, FQDN, roles) == (branch, messages)


@pytest.mark.parametrize("item, kind", [
    ({"patterns": "web*"}, "NoMethodError"),
    ({"patterns": [1]}, "TypeError"),
])
def test_malformed_items_fail_the_run(item, kind):
    with pytest.raises(cc.RunFailure) as failure:
        cc.is_in_whitelist("php8", item, "patterns", FQDN, [])
    assert failure.value.kind == kind


def test_allowlists_to_check_from_merged_attributes():
    node = {"default": {"chef_client_standin": {"allowlists": ["old"]}},
            "normal": {"chef_client_standin": {"allowlists": ["php8", {"name": "tls", "data_bag": "rollouts",
                                                                       "attribute": "hosts"}, {"bad": 1}, 7]}}}
    assert cc.allowlists_to_check(node) == [("php8", "whitelist", "patterns"), ("tls", "rollouts", "hosts")]
    assert cc.allowlists_to_check({"normal": {}}) == []


def test_json_attribs_are_consumed_as_the_real_client_does():
    node = cc.new_node("web01")
    node["normal"] = {"keep": 1, "chef_client_standin": {"other": True}}
    cc.apply_json_attribs(node, {"run_list": ["base", "role[web]"], "chef_environment": "testing",
                                 "chef_client_standin": {"allowlists": ["php8"]}})
    assert node["run_list"] == ["recipe[base]", "role[web]"]
    assert node["chef_environment"] == "testing"
    assert node["normal"] == {"keep": 1, "chef_client_standin": {"other": True, "allowlists": ["php8"]}}


# ------------------------------------------------------------------------------ whole runs, fake server

class FakeChefServer:
    """Answers the stand-in's requests from a dict of objects and checks each request's 1.3 signature."""

    def __init__(self, objects, base="http://chef.test:4545"):
        self.objects = objects
        self.base = base
        self.requests = []
        self.public = private_key().public_key()

    def __call__(self, method, url, headers, body, context, timeout):
        path = urlsplit(url).path
        self.check_signature(method, path, headers, body)
        self.requests.append((method, path, json.loads(body) if body else None))
        if method == "GET":
            if path in self.objects:
                return 200, "OK", json.dumps(self.objects[path]).encode()
            return 404, "Not Found", b'{"error":["not found"]}'
        if method == "PUT":
            if path not in self.objects:
                return 404, "Not Found", b'{"error":["not found"]}'
            self.objects[path] = json.loads(body)
            return 200, "OK", body
        if method == "POST" and path.endswith("/nodes"):
            doc = json.loads(body)
            self.objects["%s/%s" % (path, doc["name"])] = doc
            return 201, "Created", json.dumps({"uri": url + "/" + doc["name"]}).encode()
        return 405, "Method Not Allowed", b""

    def check_signature(self, method, path, headers, body):
        assert headers["X-Ops-Sign"] == "algorithm=sha256;version=1.3;"
        assert headers["X-Ops-Content-Hash"] == base64.b64encode(hashlib.sha256(body or b"").digest()).decode()
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", headers["X-Ops-Timestamp"])
        assert headers["Accept"] == "application/json"
        assert headers["X-Chef-Version"] == cc.VERSION
        if body is not None:
            assert headers["Content-Type"] == "application/json"
        signature = base64.b64decode("".join(headers["X-Ops-Authorization-%d" % n] for n in range(1, 7)))
        canonical = "\n".join([
            "Method:%s" % method, "Path:%s" % path, "X-Ops-Content-Hash:%s" % headers["X-Ops-Content-Hash"],
            "X-Ops-Sign:version=1.3", "X-Ops-Timestamp:%s" % headers["X-Ops-Timestamp"],
            "X-Ops-UserId:%s" % headers["X-Ops-Userid"],
            "X-Ops-Server-API-Version:%s" % headers["X-Ops-Server-API-Version"]])
        self.public.verify(signature, canonical.encode(), padding.PKCS1v15(), hashes.SHA256())


@pytest.fixture
def run(tmp_path, monkeypatch):
    """run(objects, client.rb lines, -j attributes, args, behaviour, base URL, transport) -> (rc, log, server)."""
    monkeypatch.setattr(cc, "fqdn", lambda: FQDN)
    monkeypatch.setattr(cc, "CONFIG_FILE", str(tmp_path / "missing-client.rb"))

    def go(objects, settings=None, attributes=None, args=(), behaviour=None, base="http://chef.test:4545",
           transport=None):
        server = FakeChefServer(objects)
        monkeypatch.setattr(cc, "http_send", transport or server)
        lines = ['chef_server_url "%s"' % base, 'node_name "web01"', 'client_key "%s"' % KEY_FILE]
        if attributes is not None:
            (tmp_path / "attributes.json").write_text(json.dumps(attributes))
            lines.append('json_attribs "%s"' % (tmp_path / "attributes.json"))
        config = tmp_path / "client.rb"
        config.write_text("\n".join(lines + list(settings or [])) + "\n")
        log = tmp_path / "run.log"
        if log.exists():
            log.unlink()
        opts, _rest = cc.parse_args(["-c", str(config), "-L", str(log)] + list(args))
        full = {"exit_code": 0, "duration_seconds": 0, "message": "", "run_list": [], "version_exit_code": 0}
        full.update(behaviour or {})
        rc = cc.converge(opts, full)
        text = re.sub(r"^\[[^\]]+\] ", "", log.read_text(), flags=re.M)
        return rc, text, server
    return go


def node_doc(environment="production", run_list=("recipe[base]",), normal=None):
    return {"name": "web01", "chef_environment": environment, "json_class": "Chef::Node", "chef_type": "node",
            "run_list": list(run_list), "normal": normal or {"keep": "me"}, "default": {"d": 1},
            "override": {}, "automatic": {"fqdn": "stale"}}


def test_run_checks_allowlists_and_saves_the_node(run):
    objects = {"/nodes/web01": node_doc(), "/data/whitelist/php8": {"id": "php8", "patterns": ["web0*"]},
               "/data/rollouts/tls": {"id": "tls", "hosts": ["db*"]}}
    rc, log, server = run(objects, attributes={"chef_client_standin": {"allowlists": [
        "php8", {"name": "tls", "data_bag": "rollouts", "attribute": "hosts"}]}})
    assert rc == 0
    assert [(m, p) for m, p, _ in server.requests] == [
        ("GET", "/nodes/web01"), ("GET", "/data/whitelist/php8"), ("GET", "/data/rollouts/tls"),
        ("PUT", "/nodes/web01")]
    assert "INFO: Run List is [recipe[base]]\nINFO: Run List expands to [base]\n" \
           "INFO: Node web01 is in environment production\nINFO: Starting Chef Infra Client Run for web01\n" in log
    assert ("INFO: Loading cookbooks [base@1.0.0]\n"
            "INFO: Whitelisting: Matched pattern 'web0*' to host 'web01.example.com' for whitelist 'php8'.\n"
            "INFO: Whitelisting: Node 'web01.example.com' didn't match any patterns for whitelist 'tls'\n"
            "INFO: Chef Infra Client Run complete in ") in log
    saved = server.requests[-1][2]
    assert saved["chef_environment"] == "production" and saved["run_list"] == ["recipe[base]"]
    assert saved["normal"] == {"keep": "me", "chef_client_standin": {"allowlists": [
        "php8", {"name": "tls", "data_bag": "rollouts", "attribute": "hosts"}]}}
    assert saved["default"] == {"d": 1}
    assert saved["automatic"]["fqdn"] == FQDN and saved["automatic"]["hostname"] == "web01"
    assert saved["automatic"]["domain"] == "example.com" and saved["automatic"]["recipes"] == ["base"]
    assert saved["automatic"]["chef_packages"]["chef"]["version"] == cc.VERSION


def test_org_url_paths_are_signed_in_full(run):
    objects = {"/organizations/acme/nodes/web01": node_doc()}
    rc, _log, server = run(objects, base="http://chef.test/organizations/acme/")
    assert rc == 0
    assert [(m, p) for m, p, _ in server.requests] == [("GET", "/organizations/acme/nodes/web01"),
                                                       ("PUT", "/organizations/acme/nodes/web01")]


def test_client_rb_environment_moves_the_node_back(run):
    objects = {"/nodes/web01": node_doc(environment="testing")}
    rc, log, server = run(objects, settings=['environment "production"'])
    assert rc == 0 and "INFO: Node web01 is in environment production\n" in log
    assert server.requests[-1][2]["chef_environment"] == "production"


def test_missing_node_is_created(run):
    rc, log, server = run({})
    assert rc == 0
    assert [(m, p) for m, p, _ in server.requests] == [("GET", "/nodes/web01"), ("POST", "/nodes"),
                                                       ("PUT", "/nodes/web01")]
    assert "INFO: Node web01 is in environment _default\n" in log
    assert server.objects["/nodes/web01"]["automatic"]["fqdn"] == FQDN


def test_missing_allowlist_item_fails_the_run_and_saves_nothing(run):
    objects = {"/nodes/web01": node_doc()}
    rc, log, server = run(objects, attributes={"chef_client_standin": {"allowlists": ["php8"]}})
    assert rc == 1
    assert [m for m, _p, _b in server.requests] == ["GET", "GET"]
    assert ('ERROR: Failed to load data bag item: "whitelist" "php8"\nERROR: Running exception handlers\n' in log)
    assert 'FATAL: Net::HTTPClientException: 404 "Not Found"\n' in log
    assert "Chef Infra Client failed. 0 resources updated" in log


def test_override_run_list_and_why_run_skip_the_save(run):
    objects = {"/nodes/web01": node_doc(), "/data/whitelist/php8": {"id": "php8", "patterns": []}}
    attributes = {"chef_client_standin": {"allowlists": ["php8"]}}
    rc, log, server = run(objects, attributes=attributes, args=["-o", "recipe[php]"])
    assert rc == 0 and [m for m, _p, _b in server.requests] == ["GET", "GET"]
    assert "WARN: Skipping final node save because override_runlist was given\n" in log
    assert "Whitelisting: Node 'web01.example.com' didn't match any patterns for whitelist 'php8'\n" in log
    rc, log, server = run(objects, attributes=attributes, args=["-W"])
    assert rc == 0 and [m for m, _p, _b in server.requests] == ["GET", "GET"]
    assert "WARN: In why-run mode, so NOT performing node save.\n" in log


def test_failed_converge_saves_nothing(run):
    rc, log, server = run({"/nodes/web01": node_doc()}, behaviour={"exit_code": 3, "message": "boom"})
    assert rc == 3 and [m for m, _p, _b in server.requests] == ["GET"]
    assert "FATAL: RuntimeError: boom\n" in log


@pytest.mark.parametrize("status, reason, expected", [
    (401, "Unauthorized", 'FATAL: Net::HTTPClientException: 401 "Unauthorized"\n'),
    (503, "Service Unavailable", 'FATAL: Net::HTTPFatalError: 503 "Service Unavailable"\n'),
    (200, "OK", "FATAL: Chef::Exceptions::JSON::ParseError: GET /nodes/web01 answered HTTP 200 with nothing "
                "instead of JSON\n"),
])
def test_api_errors_fail_the_run(run, status, reason, expected):
    def answer(*_args):
        return status, reason, b""
    rc, log, _server = run({}, transport=answer)
    assert rc == 1 and expected in log


def test_unreachable_server_fails_the_run(run):
    def refused(*_args):
        raise ConnectionRefusedError(111, "Connection refused")
    rc, log, _server = run({}, transport=refused)
    assert rc == 1 and 'FATAL: Errno::ECONNREFUSED: Connection refused - connect(2) for "chef.test" port 4545\n' in log


def test_without_a_server_url_nothing_is_requested(tmp_path, monkeypatch, capsys):
    def no_network(*_args):
        raise AssertionError("no request expected")
    monkeypatch.setattr(cc, "http_send", no_network)
    monkeypatch.setattr(cc, "CONFIG_FILE", str(tmp_path / "client.rb"))
    (tmp_path / "client.rb").write_text('node_name "web01"\nlog_location STDOUT\n')
    log = tmp_path / "run.log"
    opts, _rest = cc.parse_args(["-L", str(log)])
    assert cc.converge(opts, {"exit_code": 0, "duration_seconds": 0, "message": "", "run_list": ["recipe[a]"],
                              "version_exit_code": 0}) == 0
    text = log.read_text()
    assert "INFO: Run List is [recipe[a]]" in text and "environment" not in text and "Whitelisting" not in text
    assert "Chef Infra Client finished, 0/1 resources updated" in capsys.readouterr().out
