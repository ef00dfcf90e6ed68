"""A recorded Chef Infra Server for the unit tests: replays HTTP exchanges and checks every request's signature; and a
small real one on loopback (LoopbackChefServer), over HTTP or HTTPS, for what only real connections show.

Import as ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_api_replay.
"""

import base64
import hashlib
import http.server
import io
import json
import os
import ssl
import threading
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

import yaml

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_api

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'chef_api')
KEY_FILE = os.path.join(FIXTURES, 'client.pem')
CLIENT = 'deployer'
# Request signatures computed with the openssl command line (fixtures/chef_api/signing_vectors.yml).
with open(os.path.join(FIXTURES, 'signing_vectors.yml')) as _handle:
    VECTORS = yaml.safe_load(_handle)


def vector_id(vector):
    """A test id for a signing vector: protocol version, method, with or without an organization, body."""
    return '%s-%s-%s-%s' % (vector['version'], vector['method'], 'org' if '/organizations/' in vector['path']
                            else 'no-org', 'body' if vector['body'] else 'empty')


def key_text():
    with open(KEY_FILE) as handle:
        return handle.read()


def public_key():
    with open(KEY_FILE, 'rb') as handle:
        return serialization.load_pem_private_key(handle.read(), password=None).public_key()


def b64_digest(name, data):
    return base64.b64encode(hashlib.new(name, data).digest()).decode()


def unpad_type1(block):
    """The data inside a PKCS#1 v1.5 type 1 block 00 01 FF..FF 00 DATA (AssertionError when malformed)."""
    assert block[:2] == b'\x00\x01', 'not a type 1 block'
    separator = block.index(b'\x00', 2)
    assert separator >= 10 and set(block[2:separator]) == {0xff}, 'bad padding'
    return block[separator + 1:]


def public_decrypt(key, signature):
    """RSA_public_decrypt: the signature raised to the public exponent, un-padded."""
    numbers = key.public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    block = pow(int.from_bytes(signature, 'big'), numbers.e, numbers.n).to_bytes(size, 'big')
    return unpad_type1(block)


def joined_signature(headers):
    lines = []
    number = 1
    while 'X-Ops-Authorization-%d' % number in headers:
        line = headers['X-Ops-Authorization-%d' % number]
        assert len(line) <= 60
        lines.append(line)
        number += 1
    assert lines, 'no X-Ops-Authorization-N headers'
    assert all(len(line) == 60 for line in lines[:-1])
    return base64.b64decode(''.join(lines))


def verify_request(key, method, path, body, headers):
    """What the server checks: the content hash and the signature over the canonical request (1.3 or 1.1)."""
    body = body or b''
    sign = headers['X-Ops-Sign']
    signature = joined_signature(headers)
    path = path.split('?', 1)[0]
    if sign == 'algorithm=sha256;version=1.3;':
        assert headers['X-Ops-Content-Hash'] == b64_digest('sha256', body)
        canonical = '\n'.join([
            'Method:%s' % method, 'Path:%s' % path, 'X-Ops-Content-Hash:%s' % headers['X-Ops-Content-Hash'],
            'X-Ops-Sign:version=1.3', 'X-Ops-Timestamp:%s' % headers['X-Ops-Timestamp'],
            'X-Ops-UserId:%s' % headers['X-Ops-Userid'],
            'X-Ops-Server-API-Version:%s' % headers['X-Ops-Server-API-Version']])
        key.verify(signature, canonical.encode(), padding.PKCS1v15(), hashes.SHA256())
    elif sign == 'algorithm=sha1;version=1.1;':
        assert headers['X-Ops-Content-Hash'] == b64_digest('sha1', body)
        canonical = '\n'.join([
            'Method:%s' % method, 'Hashed Path:%s' % b64_digest('sha1', path.encode()),
            'X-Ops-Content-Hash:%s' % headers['X-Ops-Content-Hash'],
            'X-Ops-Timestamp:%s' % headers['X-Ops-Timestamp'],
            'X-Ops-UserId:%s' % b64_digest('sha1', headers['X-Ops-Userid'].encode())])
        assert public_decrypt(key, signature) == canonical.encode()
    else:
        raise AssertionError('unexpected X-Ops-Sign %r' % sign)
    return canonical


class FakeResponse(object):
    def __init__(self, status, body):
        self.status = status
        self._body = body

    def getcode(self):
        return self.status

    def read(self):
        return self._body


def encode_body(body):
    if body is None:
        return b''
    if isinstance(body, (bytes, str)):
        return body.encode() if isinstance(body, str) else body
    return json.dumps(body).encode()


class ReplayOpener(object):
    """Stands in for a _url_opener.UrlOpener: its requests go to the replay, with the opener's TLS settings."""

    def __init__(self, replay, base_url, validate_certs=True, ca_path=None):
        self.replay = replay
        self.base_url = base_url
        self.settings = dict(validate_certs=validate_certs, ca_path=ca_path)

    def open(self, method, url, data=None, headers=None, timeout=10):
        return self.replay(url, data=data, method=method, headers=headers, timeout=timeout, **self.settings)


class ChefServerReplay(object):
    """Stands in for the Chef API client's opener (install() puts it in place). Each exchange: method, path (with
    query), status (200), body (JSON value, raw text or None for an empty body), request (the JSON body the request
    must carry), error: connection (no answer).

    Requests come in the order of the exchanges, except reads made by pool threads (get_many): those may take any
    GET of the reads recorded next, as concurrent reads arrive in any order."""

    def __init__(self, exchanges, key=None):
        self.expected = [dict(e) for e in exchanges]
        self.key = key or public_key()
        self.made = []  # dicts: method, path, body (parsed JSON or None), headers, kwargs (timeout, TLS settings)
        self.lock = threading.Lock()

    def opener(self, base_url, validate_certs=True, ca_path=None):
        return ReplayOpener(self, base_url, validate_certs, ca_path)

    def install(self, monkeypatch):
        monkeypatch.setattr(_chef_api, 'UrlOpener', self.opener)
        return self

    def next_expected(self, method, path):
        """The exchange this request answers, taken from the expected ones."""
        assert self.expected, 'unexpected request %s %s' % (method, path)
        index = 0
        if method == 'GET' and threading.current_thread() is not threading.main_thread():
            for number, exchange in enumerate(self.expected):
                if exchange['method'] != 'GET':
                    break
                if exchange['path'] == path:
                    index = number
                    break
        expected = self.expected.pop(index)
        assert (method, path) == (expected['method'], expected['path']), \
            'request %s %s, expected %s %s' % (method, path, expected['method'], expected['path'])
        return expected

    def __call__(self, url, data=None, method=None, headers=None, **kwargs):
        parts = urlsplit(url)
        path = parts.path + ('?' + parts.query if parts.query else '')
        headers = dict(headers or {})
        verify_request(self.key, method, parts.path, data, headers)
        assert headers.get('Accept') == 'application/json'
        assert headers.get('X-Ops-Server-API-Version'), 'X-Ops-Server-API-Version not sent'
        body = json.loads(data.decode()) if data else None
        with self.lock:
            self.made.append(dict(method=method, path=path, body=body, headers=headers, kwargs=kwargs))
            expected = self.next_expected(method, path)
        if 'request' in expected:
            assert body == expected['request'], 'request body %r, expected %r' % (body, expected['request'])
        if expected.get('error') == 'connection':
            raise URLError(ConnectionRefusedError(111, 'Connection refused'))
        status = expected.get('status', 200)
        payload = encode_body(expected.get('body'))
        if status >= 400:
            raise HTTPError(url, status, 'error', {}, io.BytesIO(payload))
        return FakeResponse(status, payload)

    def writes(self):
        return [(r['method'], r['path']) for r in self.made if r['method'] != 'GET']


class LoopbackChefServer(object):
    """Nodes on a threaded HTTP(S) server on 127.0.0.1: GET .../nodes/NAME answers {"name": NAME}, or 404 for the
    names in `missing`; every request's signature is checked (a bad one is answered 401 and kept in `refused`).
    `tls` is (certificate path, key path) for HTTPS. Use as a context manager."""

    def __init__(self, missing=(), tls=None, delay=0.0):
        self.missing = set(missing)
        self.delay = delay
        self.key = public_key()
        self.paths = []  # the paths asked, in the order they arrived
        self.refused = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with server.lock:
                    server.paths.append(self.path)
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    status, body = server.answer(self.path, self.headers)  # names as sent: case-insensitive
                    if server.delay:
                        threading.Event().wait(server.delay)  # time.sleep may be patched by the tests
                finally:
                    with server.lock:
                        server.in_flight -= 1
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a client refusing the certificate, for one
        scheme = 'http'
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            # the handshake happens in each request's thread, so a client refusing the certificate blocks no other
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True,
                                                    do_handshake_on_connect=False)
            scheme = 'https'
        self.url = '%s://localhost:%d' % (scheme, self.httpd.server_address[1])

    def answer(self, path, headers):
        try:
            verify_request(self.key, 'GET', path, b'', headers)
        except Exception as exc:  # pylint: disable=broad-except
            with self.lock:
                self.refused.append((path, repr(exc)))
            return 401, {'error': ['bad signature']}
        name = urlsplit(path).path.rstrip('/').rsplit('/', 1)[-1]
        if name in self.missing:
            return 404, {'error': ["node '%s' not found" % name]}
        return 200, {'name': name, 'automatic': {'fqdn': name + '.example.com'}}

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()
