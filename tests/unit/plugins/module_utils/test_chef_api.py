"""The Chef API client: signing vectors, connection settings, errors and retries, and the pure rules."""

import base64
import hashlib
import os
import shutil
import ssl
import time

import pytest

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_api, _url_opener
from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import (
    ChefAPIClient,
    ChefAPIError,
    canonical_path,
    canonical_request,
    content_hash,
    fnmatch_ruby,
    load_private_key,
    parse_credentials,
    pattern_problem,
    resolve_connection,
    signed_headers,
    version_satisfies,
)
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_api_replay import (
    CLIENT,
    VECTORS,
    KEY_FILE,
    ChefServerReplay,
    LoopbackChefServer,
    key_text,
    public_decrypt,
    public_key,
    verify_request,
    vector_id,
)
from ansible_collections.chefops.chef_ha.tests.unit.plugins.fixtures.chef_waiter.agent import make_certificate

TIMESTAMP = VECTORS['timestamp']
URL = 'https://chef.example.com/organizations/acme'


@pytest.fixture
def key():
    return load_private_key(key_text(), 'test key')


# Signing


@pytest.mark.parametrize('vector', VECTORS['vectors'], ids=vector_id)
def test_canonical_request_and_headers_match_the_openssl_vectors(key, vector):
    body = vector['body'].encode() or None
    assert content_hash(body, vector['version']) == vector['content_hash']
    assert canonical_request(vector['method'], vector['path'], vector['content_hash'], TIMESTAMP, CLIENT,
                             vector['version'], 1) == vector['canonical']
    headers = signed_headers(key, CLIENT, vector['method'], vector['path'], body, TIMESTAMP, vector['version'], 1)
    lines = [headers['X-Ops-Authorization-%d' % n] for n in range(1, 7)]
    assert 'X-Ops-Authorization-7' not in headers
    assert [len(line) for line in lines] == [60, 60, 60, 60, 60, 44]  # 256 bytes -> 344 Base64 characters
    assert ''.join(lines) == vector['signature']
    algorithm = 'sha256' if vector['version'] == '1.3' else 'sha1'
    assert headers['X-Ops-Sign'] == 'algorithm=%s;version=%s;' % (algorithm, vector['version'])
    assert headers['X-Ops-Userid'] == CLIENT
    assert headers['X-Ops-Timestamp'] == TIMESTAMP
    assert headers['X-Ops-Content-Hash'] == vector['content_hash']
    assert headers['X-Ops-Server-API-Version'] == '1'
    # and independently of the vectors: what a server checks
    assert verify_request(public_key(), vector['method'], vector['path'], body, headers) == vector['canonical']


def test_literal_canonical_strings():
    empty256 = '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='
    assert content_hash(b'', '1.3') == empty256
    assert content_hash(None, '1.1') == '2jmj7l5rSw0yVb/vlWAYkK/YBwk='
    assert canonical_request('get', '/organizations/acme//data/whitelist/php8/', empty256, TIMESTAMP, 'deployer',
                             '1.3', 2) == (
        'Method:GET\nPath:/organizations/acme/data/whitelist/php8\nX-Ops-Content-Hash:%s\nX-Ops-Sign:version=1.3\n'
        'X-Ops-Timestamp:2026-12-01T18:00:00Z\nX-Ops-UserId:deployer\nX-Ops-Server-API-Version:2' % empty256)
    one_one = canonical_request('GET', '/nodes', 'H', TIMESTAMP, 'deployer', '1.1', 1)
    assert one_one.split('\n') == [
        'Method:GET',
        'Hashed Path:%s' % base64.b64encode(hashlib.sha1(b'/nodes').digest()).decode(),
        'X-Ops-Content-Hash:H', 'X-Ops-Timestamp:2026-12-01T18:00:00Z',
        'X-Ops-UserId:%s' % base64.b64encode(hashlib.sha1(b'deployer').digest()).decode()]


@pytest.mark.parametrize('path, canonical', [
    ('/nodes/web01', '/nodes/web01'),
    ('/nodes/web01/', '/nodes/web01'),
    ('//organizations//acme///nodes', '/organizations/acme/nodes'),
    ('/search/node?q=name:web*&rows=10', '/search/node'),
    ('/', '/'),
])
def test_canonical_path(path, canonical):
    assert canonical_path(path) == canonical


def test_server_api_version_is_signed_in_1_3(key):
    headers = signed_headers(key, CLIENT, 'GET', '/nodes', None, TIMESTAMP, '1.3', 2)
    assert headers['X-Ops-Server-API-Version'] == '2'
    canonical = verify_request(public_key(), 'GET', '/nodes', None, headers)
    assert canonical.endswith('\nX-Ops-Server-API-Version:2')
    headers['X-Ops-Server-API-Version'] = '1'  # a changed header breaks the signature
    with pytest.raises(Exception):
        verify_request(public_key(), 'GET', '/nodes', None, headers)


def test_1_1_signature_decrypts_to_the_canonical_string(key):
    headers = signed_headers(key, CLIENT, 'POST', '/data', b'{"name":"whitelist"}', TIMESTAMP, '1.1')
    signature = base64.b64decode(''.join(headers['X-Ops-Authorization-%d' % n] for n in range(1, 7)))
    decrypted = public_decrypt(public_key(), signature).decode()
    assert decrypted.startswith('Method:POST\nHashed Path:')
    assert decrypted == canonical_request('POST', '/data', headers['X-Ops-Content-Hash'], TIMESTAMP, CLIENT,
                                          '1.1', 1)


def test_1_1_refuses_a_key_too_short_for_the_string():
    from cryptography.hazmat.primitives.asymmetric import rsa
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ChefAPIError, match='too short to sign a protocol 1.1 request'):
        signed_headers(short, 'a-client-name-that-is-long', 'GET', '/organizations/a-long-organization/nodes/'
                       'a-long-node-name.example.com', None, TIMESTAMP, '1.1')


# Connection settings


def test_credentials_parser():
    text = '''
# knife profiles
[default]
client_name = "deployer"
client_key = 'deployer.pem'
chef_server_url = "https://chef.example.com/organizations/acme"  # production

["lab"]
node_name = "admin"
client_key = """
-----BEGIN RSA PRIVATE KEY-----
abc
-----END RSA PRIVATE KEY-----
"""
'''
    profiles = parse_credentials(text)
    assert profiles['default'] == {'client_name': 'deployer', 'client_key': 'deployer.pem',
                                   'chef_server_url': 'https://chef.example.com/organizations/acme'}
    assert profiles['lab']['node_name'] == 'admin'
    assert profiles['lab']['client_key'].splitlines() == [
        '-----BEGIN RSA PRIVATE KEY-----', 'abc', '-----END RSA PRIVATE KEY-----']


def params(**extra):
    result = dict(server_url=URL, client_name=CLIENT, client_key=KEY_FILE, sign_version='1.3',
                  server_api_version=1, validate_certs=True, timeout=5, retries=0)
    result.update(extra)
    return result


def test_options_win_over_environment_and_profile(tmp_path):
    credentials = tmp_path / 'credentials'
    credentials.write_text('[default]\nclient_name = "other"\nchef_server_url = "https://other.example.com"\n')
    environ = {'CHEF_SERVER_URL': 'https://env.example.com', 'CHEF_CLIENT_NAME': 'env-client'}
    conn = resolve_connection(params(credentials_file=str(credentials)), environ)
    assert (conn.server_url, conn.client_name) == (URL, CLIENT)


def test_environment_then_profile(tmp_path):
    chef = tmp_path / 'chef'
    chef.mkdir()
    (chef / 'deployer.pem').write_text(key_text())
    credentials = chef / 'credentials'
    credentials.write_text('[default]\nclient_name = "profile-client"\nclient_key = "deployer.pem"\n'
                           'chef_server_url = "https://profile.example.com/organizations/acme/"\n'
                           '[lab]\nnode_name = "admin"\nclient_key = "deployer.pem"\n'
                           'chef_server_url = "http://127.0.0.1:4545"\n')
    base = dict(server_url=None, client_name=None, client_key=None, credentials_file=str(credentials))
    conn = resolve_connection(params(**base), {'CHEF_NODE_NAME': 'env-node'})
    assert conn.server_url == 'https://profile.example.com/organizations/acme'
    assert conn.client_name == 'env-node' and conn.name_source == 'client_name (from CHEF_NODE_NAME)'
    assert conn.key_source.endswith(str(chef / 'deployer.pem'))
    conn = resolve_connection(params(**base), {'CHEF_PROFILE': 'lab'})
    assert (conn.server_url, conn.client_name) == ('http://127.0.0.1:4545', 'admin')
    conn = resolve_connection(params(profile='lab', **base), {'CHEF_PROFILE': 'default'})
    assert conn.client_name == 'admin'
    with pytest.raises(ChefAPIError, match=r"profile 'prod' is not in the credentials file .*\(it has: default, lab\)"):
        resolve_connection(params(profile='prod', **base), {})


def test_environment_only(tmp_path):
    conn = resolve_connection(params(server_url=None, client_name=None, client_key=None),
                              {'CHEF_SERVER_URL': 'http://goiardi.lab:4545', 'CHEF_CLIENT_NAME': 'admin',
                               'CHEF_CLIENT_KEY': KEY_FILE, 'HOME': str(tmp_path)})
    assert (conn.server_url, conn.client_name) == ('http://goiardi.lab:4545', 'admin')
    assert conn.key_source == 'client_key (from CHEF_CLIENT_KEY) %s' % KEY_FILE


def test_key_content_option():
    conn = resolve_connection(params(client_key=None, client_key_content=key_text()), {})
    assert conn.key_source == 'client_key_content'


@pytest.mark.parametrize('url', ['chef.example.com/organizations/acme', 'ftp://chef.example.com', 'https://',
                                 'https://chef.example.com/?x=1'])
def test_server_url_needs_a_scheme(url):
    with pytest.raises(ChefAPIError, match=r'^server_url .* (is not an http:// or https:// URL|has a query)'):
        resolve_connection(params(server_url=url), {})


def test_missing_settings_name_the_option(tmp_path):
    none = str(tmp_path / 'none')
    with pytest.raises(ChefAPIError, match='^server_url is required'):
        resolve_connection(params(server_url=None, credentials_file=None), {'HOME': none})
    with pytest.raises(ChefAPIError, match='^client_name is required'):
        resolve_connection(params(client_name=None), {})
    with pytest.raises(ChefAPIError, match='^client_key or client_key_content is required'):
        resolve_connection(params(client_key=None), {})


def test_unreadable_key(tmp_path):
    with pytest.raises(ChefAPIError, match=r'^client_key .*/missing.pem cannot be read: No such file'):
        resolve_connection(params(client_key=str(tmp_path / 'missing.pem')), {})
    # a path that is not a readable file (root reads any file, so a directory stands for it)
    with pytest.raises(ChefAPIError, match=r'^client_key .* cannot be read: Is a directory'):
        resolve_connection(params(client_key=str(tmp_path)), {})


def test_keys_that_are_not_rsa_private_keys(tmp_path):
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / 'ec.pem').write_bytes(ec_key)
    with pytest.raises(ChefAPIError, match=r'^client_key .*ec.pem is not an RSA private key \(it is a .*EC.* key\)'):
        resolve_connection(params(client_key=str(tmp_path / 'ec.pem')), {})
    public = public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / 'public.pem').write_bytes(public)
    with pytest.raises(ChefAPIError, match=r'public.pem is not an RSA private key in PEM format'):
        resolve_connection(params(client_key=str(tmp_path / 'public.pem')), {})
    with pytest.raises(ChefAPIError) as exc:
        not_a_key = '-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0\n-----END RSA PRIVATE KEY-----\n'
        resolve_connection(params(client_key=None, client_key_content=not_a_key), {})
    assert exc.value.msg == 'client_key_content is not an RSA private key in PEM format'


# Requests, errors and retries


@pytest.fixture
def sleeps(monkeypatch):
    seen = []
    monkeypatch.setattr(time, 'sleep', seen.append)
    return seen


def client_for(monkeypatch, exchanges, **extra):
    replay = ChefServerReplay(exchanges)
    replay.install(monkeypatch)
    return ChefAPIClient(resolve_connection(params(**extra), {})), replay


def test_requests_are_signed_below_the_organization(monkeypatch, sleeps):
    client, replay = client_for(monkeypatch, [
        dict(method='GET', path='/organizations/acme/nodes/web01', body={'name': 'web01'}),
        dict(method='PUT', path='/organizations/acme/data/whitelist/php8', request={'id': 'php8', 'patterns': []},
             body={'id': 'php8', 'patterns': []}),
    ])
    assert client.get(client.path('nodes', 'web01')) == {'name': 'web01'}
    assert client.put(client.path('data', 'whitelist', 'php8'), {'id': 'php8', 'patterns': []})['id'] == 'php8'
    put = replay.made[1]
    assert put['headers']['Content-Type'] == 'application/json' and 'Content-Type' not in replay.made[0]['headers']
    assert put['headers']['X-Chef-Version'] and put['kwargs']['validate_certs'] is True
    assert not replay.expected and sleeps == []


def test_1_1_requests_without_organization(monkeypatch):
    client, replay = client_for(monkeypatch, [dict(method='GET', path='/environments/_default',
                                                   body={'name': '_default'})],
                                server_url='http://goiardi.lab:4545', sign_version='1.1')
    assert client.get('/environments/_default')['name'] == '_default'
    assert replay.made[0]['headers']['X-Ops-Sign'] == 'algorithm=sha1;version=1.1;'


def test_401_names_the_client_the_key_and_the_clock(monkeypatch):
    client, dummy = client_for(monkeypatch, [dict(method='GET', path='/organizations/acme/nodes/web01', status=401,
                                                  body={'error': ['crypto/rsa: verification error']})])
    with pytest.raises(ChefAPIError) as exc:
        client.get('/nodes/web01')
    msg = exc.value.msg
    assert exc.value.status == 401
    assert "client 'deployer'" in msg and KEY_FILE in msg and 'clock' in msg and '15 minutes' in msg
    assert 'crypto/rsa: verification error' in msg


def test_403_names_the_permission(monkeypatch):
    client, dummy = client_for(monkeypatch, [dict(method='PUT', path='/organizations/acme/data/whitelist/php8',
                                                  status=403, body={'error': ['missing update permission']})])
    with pytest.raises(ChefAPIError) as exc:
        client.put('/data/whitelist/php8', {'id': 'php8'})
    assert exc.value.msg.startswith("client 'deployer' is not allowed to update data bag item whitelist/php8 in "
                                    "organization acme (HTTP 403")
    assert 'needs the update permission' in exc.value.msg


def test_404_names_the_object_or_is_none(monkeypatch):
    client, dummy = client_for(monkeypatch, [
        dict(method='GET', path='/organizations/acme/environments/testing', status=404,
             body={'error': ['Cannot load environment testing']}),
        dict(method='GET', path='/organizations/acme/environments/testing', status=404, body=None),
    ])
    with pytest.raises(ChefAPIError, match=r'^environment testing in organization acme does not exist on '):
        client.get('/environments/testing')
    assert client.get('/environments/testing', missing_ok=True) is None


@pytest.mark.parametrize('body, what', [(None, 'an empty body'), ('', 'an empty body'),
                                        ('<html>proxy</html>', 'something that is not JSON')])
def test_empty_or_non_json_2xx_is_an_error(monkeypatch, body, what):
    client, dummy = client_for(monkeypatch, [dict(method='GET', path='/organizations/acme/nodes', body=body)])
    with pytest.raises(ChefAPIError) as exc:
        client.get('/nodes')
    assert what in exc.value.msg and 'HTTP 200' in exc.value.msg and 'without them' in exc.value.msg


def test_retries_connection_errors_and_5xx_with_backoff(monkeypatch, sleeps):
    path = '/organizations/acme/nodes/web01'
    client, replay = client_for(monkeypatch, [
        dict(method='GET', path=path, error='connection'),
        dict(method='GET', path=path, status=503, body='<html>maintenance</html>'),
        dict(method='GET', path=path, status=502, body=''),
        dict(method='GET', path=path, body={'name': 'web01'}),
    ], retries=3)
    assert client.get('/nodes/web01') == {'name': 'web01'}
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2]
    # each attempt signed anew
    assert len(replay.made) == 4


def test_gives_up_after_the_retries(monkeypatch, sleeps):
    path = '/organizations/acme/nodes/web01'
    client, dummy = client_for(monkeypatch, [dict(method='GET', path=path, error='connection')] * 2, retries=1)
    with pytest.raises(ChefAPIError, match=r'^cannot reach the Chef server at https://chef.example.com/organizations/'
                                           r'acme: .*Connection refused.* \(GET .*, 2 attempts\)'):
        client.get('/nodes/web01')
    assert len(sleeps) == 1


@pytest.mark.parametrize('status', [400, 401, 403, 404, 409, 413])
def test_4xx_is_never_retried(monkeypatch, sleeps, status):
    client, replay = client_for(monkeypatch, [dict(method='POST', path='/organizations/acme/data', status=status,
                                                   body={'error': 'no'})], retries=3)
    with pytest.raises(ChefAPIError) as exc:
        client.post('/data', {'name': 'whitelist'})
    assert exc.value.status == status and sleeps == [] and len(replay.made) == 1


def test_no_key_material_or_signature_in_errors(monkeypatch):
    client, replay = client_for(monkeypatch, [dict(method='GET', path='/organizations/acme/nodes/x', status=401,
                                                   body='denied')])
    with pytest.raises(ChefAPIError) as exc:
        client.get('/nodes/x')
    text = str(exc.value) + repr(exc.value.details())
    signature = ''.join(v for k, v in replay.made[0]['headers'].items() if k.startswith('X-Ops-Authorization'))
    for line in key_text().splitlines()[1:-1]:
        assert line not in text
    assert signature[:40] not in text and replay.made[0]['headers']['X-Ops-Authorization-1'] not in text


def test_search_reads_every_page(monkeypatch):
    client, dummy = client_for(monkeypatch, [
        dict(method='GET', path='/organizations/acme/search/node?q=role%3Aweb&start=0&rows=2',
             body={'total': 3, 'start': 0, 'rows': [{'name': 'a'}, {'name': 'b'}]}),
        dict(method='GET', path='/organizations/acme/search/node?q=role%3Aweb&start=2&rows=2',
             body={'total': 3, 'start': 2, 'rows': [{'name': 'c'}]}),
    ])
    assert [r['name'] for r in client.search('node', 'role:web', rows=2)] == ['a', 'b', 'c']


# Connections: one opener and TLS context per client, shared by its threads, against a real server on loopback

PROXY_VARIABLES = ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY')
needs_openssl = pytest.mark.skipif(shutil.which('openssl') is None,
                                   reason='openssl is needed for a self-signed certificate')


@pytest.fixture
def no_proxy(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def contexts_made(monkeypatch, no_proxy):
    """Every TLS context made from now on, by whatever code (ansible's make_context, http.client...); the
    process-wide cache of contexts starts empty. A test clears the list after starting its own HTTPS server."""
    monkeypatch.setattr(_url_opener, '_CONTEXTS', {})
    made = []
    real_new = ssl.SSLContext.__new__

    def counting_new(cls, *args, **kwargs):
        made.append(cls)
        return real_new(cls, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, '__new__', staticmethod(counting_new))
    return made


def loopback_client(server, **extra):
    return ChefAPIClient(resolve_connection(params(server_url=server.url, **extra), {}))


@needs_openssl
def test_one_tls_context_per_client_not_per_request(tmp_path, contexts_made):
    cert, key = make_certificate(str(tmp_path), 'chef')
    names = ['web%02d' % n for n in range(12)]
    with LoopbackChefServer(tls=(cert, key)) as server:
        del contexts_made[:]
        client = loopback_client(server, ca_path=cert)
        for name in names[:3]:
            assert client.get(client.path('nodes', name))['name'] == name
        answers = client.get_many([client.path('nodes', name) for name in names[3:]])
    assert [answer['name'] for answer in answers] == names[3:]
    assert server.refused == [] and len(server.paths) == len(names)
    assert len(contexts_made) == 1, '%d TLS contexts for %d requests' % (len(contexts_made), len(names))


def test_no_tls_context_for_http(contexts_made):
    with LoopbackChefServer() as server:
        client = loopback_client(server)
        for name in ('web01', 'web02', 'web03'):
            assert client.get(client.path('nodes', name))['name'] == name
    assert contexts_made == [] and server.refused == []


@needs_openssl
def test_https_validates_the_certificate_against_ca_path(tmp_path, no_proxy):
    cert, key = make_certificate(str(tmp_path), 'chef')
    other_ca = make_certificate(str(tmp_path), 'other')[0]
    with LoopbackChefServer(tls=(cert, key)) as server:
        # trusted through ca_path, with the host name checked (the certificate is for localhost)
        assert loopback_client(server, ca_path=cert).get('/nodes/web01')['name'] == 'web01'
        # the system store, or another CA: refused before any request reaches the server
        for extra in ({}, {'ca_path': other_ca}):
            with pytest.raises(ChefAPIError) as exc:
                loopback_client(server, **extra).get('/nodes/web02')
            assert exc.value.msg.startswith('cannot reach the Chef server at %s: ' % server.url), exc.value.msg
            assert 'certificate verify failed' in exc.value.msg and '(GET /nodes/web02, 1 attempts)' in exc.value.msg
        # a ca_path that cannot be read fails the request, naming the file
        with pytest.raises(ChefAPIError) as exc:
            loopback_client(server, ca_path=os.path.join(str(tmp_path), 'absent.pem')).get('/nodes/web03')
        assert exc.value.msg.startswith('request to the Chef server at %s failed: ' % server.url), exc.value.msg
        assert 'No such file or directory' in exc.value.msg
        # no validation at all when asked
        assert loopback_client(server, validate_certs=False).get('/nodes/web04')['name'] == 'web04'
    assert server.paths == ['/nodes/web01', '/nodes/web04'] and server.refused == []


def test_get_many_shares_the_client_between_threads(monkeypatch, no_proxy):
    names = ['web%02d' % n for n in range(40)]
    missing = {'web07', 'web33'}
    with LoopbackChefServer(missing=missing, delay=0.02) as server:
        client = loopback_client(server)
        answers = client.get_many([client.path('nodes', name) for name in names], missing_ok=True)
        most_in_flight = server.most_in_flight
        errors = client.get_many([client.path('nodes', name) for name in ('web01', 'web07', 'web02')])
        monkeypatch.setattr(_chef_api, 'PARALLEL_READS', 1)
        one_by_one = client.get_many([client.path('nodes', name) for name in names], missing_ok=True)
    # the answers in the order asked, every request signed correctly, several at a time but never more than 8
    assert [answer and answer['name'] for answer in answers] == [None if n in missing else n for n in names]
    assert one_by_one == answers
    assert server.refused == [] and 1 < most_in_flight <= 8
    assert sorted(client.requests[:len(names)]) == sorted('GET /nodes/%s' % name for name in names)
    # without missing_ok, a missing node is its error, in its place
    assert [e['name'] for e in errors[::2]] == ['web01', 'web02'] and isinstance(errors[1], ChefAPIError)
    assert errors[1].status == 404 and errors[1].msg.startswith('node web07 does not exist on ')


def test_credentials_in_the_url_are_taken_out_as_open_url_does():
    assert _url_opener.split_credentials('https://u:p%40ss@chef.example.com:8443/organizations/acme') == (
        'https://chef.example.com:8443/organizations/acme', ('chef.example.com:8443', 'u', 'p@ss'))
    assert _url_opener.split_credentials('http://token@goiardi:4545') == (
        'http://goiardi:4545', ('goiardi:4545', 'token', ''))
    assert _url_opener.split_credentials(URL) == (URL, None)


# The cookbook's matching rule and the server's rules


@pytest.mark.parametrize('pattern, fqdn, expected', [
    ('web01.example.com', 'web01.example.com', True),
    ('web01.example.com', 'web01.example.com.', False),       # whole string
    ('Web01.example.com', 'web01.example.com', False),        # case-sensitive
    ('*.db.example.com', 'pg1.db.example.com', True),
    ('*.example.com', 'a.b.example.com', True),               # * crosses dots
    ('*', 'anything.example.com', True),
    ('web0?.example.com', 'web07.example.com', True),
    ('web0?.example.com', 'web10.example.com', False),
    ('web0[1-3].example.com', 'web02.example.com', True),
    ('web0[1-3].example.com', 'web04.example.com', False),
    ('web0[!1-3].example.com', 'web04.example.com', True),
    ('web0[^1-3].example.com', 'web02.example.com', False),
    ('web0[3-1].example.com', 'web03.example.com', True),     # Ruby matches a reversed range's ends
    ('web0[3-1].example.com', 'web02.example.com', False),
    ('web\\*.example.com', 'web*.example.com', True),         # \ escapes
    ('web\\*.example.com', 'web1.example.com', False),
    ('{web01,web02}.example.com', 'web01.example.com', False),  # no brace expansion
    ('{web01,web02}.example.com', '{web01,web02}.example.com', True),
    ('web[1.example.com', 'web1.example.com', False),        # unclosed set: never matches in Ruby
    ('[]', ']', False),
    ('*', '.hidden', False),                                  # no wildcard matches a leading period
    ('.*', '.hidden', True),
    ('*.com', 'a.b.c.com', True),
    ('a*b*c', 'aXbYbZc', True),
    ('a*b*c', 'aXbYbZ', False),
])
def test_fnmatch_like_ruby(pattern, fqdn, expected):
    assert fnmatch_ruby(pattern, fqdn) is expected


@pytest.mark.parametrize('pattern, problem', [
    ('{web01,web02}.example.com', 'braces'),
    ('web01.example.com}', 'braces'),
    ('', 'empty'),
    ('web 01', 'white space'),
    ('web[1.example.com', 'without its'),
    ('web[].example.com', 'empty character set'),
    ('web01\\', 'lone backslash'),
])
def test_patterns_that_never_match_are_named(pattern, problem):
    assert problem in pattern_problem(pattern)


@pytest.mark.parametrize('pattern', ['web01.example.com', '*.example.com', 'web0?.x', 'web[!0-3].x', 'a\\*b',
                                     'web01\\\\'])
def test_good_patterns(pattern):
    assert pattern_problem(pattern) is None


@pytest.mark.parametrize('version, constraint, expected', [
    ('1.2.3', '= 1.2.3', True), ('1.2.3', '1.2.3', True), ('1.2.0', '= 1.2', True), ('1.2.4', '= 1.2.3', False),
    ('1.3.0', '> 1.2', True), ('1.2.0', '> 1.2', False), ('1.1.9', '< 1.2', True), ('1.2.0', '<= 1.2', True),
    ('2.0.0', '>= 1.2', True), ('1.9.9', '~> 1.2', True), ('2.0.0', '~> 1.2', False), ('1.2.9', '~> 1.2.3', True),
    ('1.3.0', '~> 1.2.3', False), ('1.2.2', '~> 1.2.3', False),
])
def test_version_constraints(version, constraint, expected):
    assert version_satisfies(version, constraint) is expected


@pytest.mark.parametrize('constraint', ['== 1.0', '=1.0', '=  1.0', '>= 1', '1', '~> 1.2.3.4', '= 1.0.a', 'latest',
                                        ' = 1.0', '= 1.0 '])
def test_constraints_the_server_refuses(constraint):
    with pytest.raises(ValueError, match='is not a valid version constraint'):
        _chef_api.parse_constraint(constraint)
