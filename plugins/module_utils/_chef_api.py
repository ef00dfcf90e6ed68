# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private client of the Chef Infra Server API: connection settings, request signing, requests and errors.

Signing follows Mixlib::Authentication (protocol 1.3 by default, 1.1 on request). The pure parts (canonical
strings, headers, the allowlist matching and the validation rules) are plain functions so they can be tested on
fixed vectors.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import copy
import hashlib
import json
import os
import random
import re
import time
import traceback

from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit

from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible_collections.chefops.chef_ha.plugins.module_utils._url_opener import UrlOpener

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

SIGN_VERSIONS = ('1.1', '1.3')
# The Chef client version the requests claim; servers use it only to pick compatible answers.
CHEF_VERSION = '18.0.0'
RETRY_BACKOFF = 1.0  # seconds before the first retry, doubled for each further one
PARALLEL_READS = 8  # requests of get_many at a time
SIGNATURE_LINE = 60  # Base64 characters per X-Ops-Authorization-N header, as Ruby's Base64.encode64 wraps

# knife itself reads only CHEF_PROFILE from the environment (chef-config's credentials loader); the others are
# the names knife.rb/config.rb files conventionally read with ENV[...], and the ones documented here.
ENV_SERVER_URL = 'CHEF_SERVER_URL'
ENV_CLIENT_NAMES = ('CHEF_CLIENT_NAME', 'CHEF_NODE_NAME')
ENV_CLIENT_KEY = 'CHEF_CLIENT_KEY'
ENV_PROFILE = 'CHEF_PROFILE'
DEFAULT_CREDENTIALS = '~/.chef/credentials'

# Names as erchef's chef_regex accepts them.
ENVIRONMENT_NAME_RE = re.compile(r'^[A-Za-z0-9._-]+$')
COOKBOOK_NAME_RE = ENVIRONMENT_NAME_RE
OBJECT_NAME_RE = re.compile(r'^[A-Za-z0-9._:-]+$')  # nodes, data bags, data bag items
# Version constraints as erchef accepts them: an operator and exactly one space, or a bare version.
CONSTRAINT_RE = re.compile(r'^(?:(=|<|>|<=|>=|~>) )?(\d+)\.(\d+)(?:\.(\d+))?$')
# The keys of an environment object the real server accepts.
ENVIRONMENT_KEYS = ('name', 'description', 'json_class', 'chef_type', 'default_attributes',
                    'override_attributes', 'cookbook_versions')

PERMISSIONS = {'GET': 'read', 'HEAD': 'read', 'PUT': 'update', 'POST': 'create', 'DELETE': 'delete'}


def chef_api_argument_spec():
    """Connection options shared by the Chef API modules (doc fragment chefops.chef_ha.chef_api)."""
    return dict(
        server_url=dict(type='str'),
        client_name=dict(type='str'),
        client_key=dict(type='path', no_log=False),
        client_key_content=dict(type='str', no_log=True),
        profile=dict(type='str'),
        credentials_file=dict(type='path'),
        sign_version=dict(type='str', default='1.3', choices=list(SIGN_VERSIONS)),
        server_api_version=dict(type='int', default=1),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        timeout=dict(type='int', default=30),
        retries=dict(type='int', default=3),
    )


CHEF_API_MUTUALLY_EXCLUSIVE = [('client_key', 'client_key_content')]


class ChefAPIError(Exception):
    """A request that failed, or connection settings that cannot work. The message never holds key material."""

    def __init__(self, msg, status=None, method=None, path=None, body=None):
        super(ChefAPIError, self).__init__(msg)
        self.msg = msg
        self.status = status
        self.method = method
        self.path = path
        self.body = body

    def details(self):
        """Extra keys for fail_json."""
        out = {}
        if self.status is not None:
            out['http_status'] = self.status
        if self.method is not None:
            out['request'] = '%s %s' % (self.method, self.path)
        return out


# Connection settings


def parse_credentials(text):
    """The profiles of a ~/.chef/credentials file: {profile: {key: value}}.

    The file is TOML; profiles use only its simple form, `key = "value"` (or 'value') under `[profile]` headers,
    which is what this reads (tomllib exists from Python 3.11 on only). Multi-line strings (an inline key) are
    read too. Values that are not strings are kept as their text.
    """
    profiles = {}
    current = None
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        raw = lines[index]
        index += 1
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        header = re.match(r'^\[\s*(?:"([^"]*)"|\'([^\']*)\'|([^\]]+?))\s*\]$', line)
        if header:
            current = next(g for g in header.groups() if g is not None)
            profiles.setdefault(current, {})
            continue
        match = re.match(r'^([A-Za-z0-9_.-]+)\s*=\s*(.*)$', line)
        if not match or current is None:
            continue
        key, value = match.group(1), match.group(2).strip()
        for quote_mark in ('"""', "'''"):
            if value.startswith(quote_mark):
                body = value[3:]
                collected = []
                while quote_mark not in body and index < len(lines):
                    collected.append(body)
                    body = lines[index]
                    index += 1
                collected.append(body.split(quote_mark, 1)[0])
                value = '\n'.join(collected).lstrip('\n')
                break
        else:
            if value[:1] in ('"', "'"):
                end = value.find(value[0], 1)
                value = value[1:end] if end > 0 else value[1:]
                if match.group(2).strip()[:1] == '"':
                    value = value.replace('\\\\', '\\')
            else:
                value = value.split('#', 1)[0].strip()
        profiles[current][key] = value
    return profiles


def _read_profile(params, environ):
    """(profile name, its values, the credentials file), or (name, None, file) when there is nothing to read."""
    name = params.get('profile') or environ.get(ENV_PROFILE) or 'default'
    path = os.path.expanduser(params.get('credentials_file') or DEFAULT_CREDENTIALS)
    explicit = bool(params.get('profile') or environ.get(ENV_PROFILE) or params.get('credentials_file'))
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError) as exc:
        if explicit:
            raise ChefAPIError('cannot read the credentials file %s for profile %r: %s'
                               % (path, name, to_native(exc.strerror or exc)))
        return name, None, path
    profiles = parse_credentials(text)
    if name not in profiles:
        if explicit:
            raise ChefAPIError('profile %r is not in the credentials file %s (it has: %s)'
                               % (name, path, ', '.join(sorted(profiles)) or 'no profiles'))
        return name, None, path
    return name, profiles[name], path


class Connection(object):
    """Resolved connection settings. Each value remembers where it came from, for error messages."""

    def __init__(self, server_url, url_source, client_name, name_source, key, key_source, params):
        self.server_url = server_url
        self.url_source = url_source
        self.client_name = client_name
        self.name_source = name_source
        self.key = key
        self.key_source = key_source
        self.sign_version = params.get('sign_version') or '1.3'
        self.server_api_version = params.get('server_api_version')
        if self.server_api_version is None:
            self.server_api_version = 1
        self.validate_certs = params.get('validate_certs', True)
        self.ca_path = params.get('ca_path')
        self.timeout = params.get('timeout') or 30
        self.retries = max(0, params.get('retries') if params.get('retries') is not None else 3)


def load_private_key(data, source):
    """An RSA private key from PEM (PKCS#1 or PKCS#8) bytes; ChefAPIError naming `source` otherwise."""
    if not HAS_CRYPTOGRAPHY:
        raise ChefAPIError('the Python library cryptography is needed to sign Chef API requests')
    try:
        key = serialization.load_pem_private_key(to_bytes(data), password=None)
    except TypeError:
        raise ChefAPIError('%s is a private key encrypted with a passphrase; give it unencrypted' % source)
    except Exception:  # pylint: disable=broad-except
        # The library's own message is not passed on: nothing of the key may reach the output.
        raise ChefAPIError('%s is not an RSA private key in PEM format' % source)
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.lstrip('_').replace('PrivateKey', '') or 'non-RSA'
        raise ChefAPIError('%s is not an RSA private key (it is a %s key); the Chef API signs with RSA keys only'
                           % (source, kind))
    return key


def _read_key_file(path, source):
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise ChefAPIError('%s %s cannot be read: %s' % (source, path, to_native(exc.strerror or exc)))
    return load_private_key(data, '%s %s' % (source, path))


def check_server_url(url, source):
    parts = urlsplit(url or '')
    if parts.scheme not in ('http', 'https') or not parts.netloc:
        raise ChefAPIError('%s %r is not an http:// or https:// URL; give the full URL, for example '
                           'https://chef.example.com/organizations/ORG' % (source, url))
    if parts.query or parts.fragment:
        raise ChefAPIError('%s %r has a query or fragment; give the server URL only' % (source, url))
    return url.rstrip('/')


def resolve_connection(params, environ=None):
    """Connection settings from the options, else the environment, else a profile of ~/.chef/credentials.

    Everything is checked here, before any request: the URL scheme, a client name, a readable RSA private key.
    """
    environ = os.environ if environ is None else environ
    profile_cache = []

    def profile():
        if not profile_cache:
            profile_cache.append(_read_profile(params, environ))
        return profile_cache[0]

    def from_profile(*keys):
        name, values, path = profile()
        for key in keys:
            if values and values.get(key):
                return values[key], '%s in profile %r of %s' % (key, name, path)
        return None, None

    url, url_source = params.get('server_url'), 'server_url'
    if not url and environ.get(ENV_SERVER_URL):
        url, url_source = environ[ENV_SERVER_URL], 'server_url (from %s)' % ENV_SERVER_URL
    if not url:
        url, url_source = from_profile('chef_server_url')
    if not url:
        raise ChefAPIError('server_url is required: set it, %s, or chef_server_url in a profile of %s'
                           % (ENV_SERVER_URL, DEFAULT_CREDENTIALS))
    url = check_server_url(url, url_source)

    client, name_source = params.get('client_name'), 'client_name'
    if not client:
        for var in ENV_CLIENT_NAMES:
            if environ.get(var):
                client, name_source = environ[var], 'client_name (from %s)' % var
                break
    if not client:
        client, name_source = from_profile('client_name', 'node_name')
    if not client:
        raise ChefAPIError('client_name is required: set it, %s, or client_name in a profile of %s'
                           % (' or '.join(ENV_CLIENT_NAMES), DEFAULT_CREDENTIALS))

    if params.get('client_key_content'):
        key_source = 'client_key_content'
        key = load_private_key(params['client_key_content'], key_source)
    elif params.get('client_key'):
        key_source = 'client_key %s' % params['client_key']
        key = _read_key_file(params['client_key'], 'client_key')
    elif environ.get(ENV_CLIENT_KEY):
        path = os.path.expanduser(environ[ENV_CLIENT_KEY])
        key_source = 'client_key (from %s) %s' % (ENV_CLIENT_KEY, path)
        key = _read_key_file(path, 'client_key (from %s)' % ENV_CLIENT_KEY)
    else:
        value, source = from_profile('client_key')
        if not value:
            raise ChefAPIError('client_key or client_key_content is required: set one, %s, or client_key in a '
                               'profile of %s' % (ENV_CLIENT_KEY, DEFAULT_CREDENTIALS))
        if value.lstrip().startswith('-----BEGIN'):
            key_source = source
            key = load_private_key(value, source)
        else:
            # Relative key paths in a credentials file are relative to the file's directory (~/.chef).
            path = os.path.join(os.path.dirname(profile()[2]), os.path.expanduser(value))
            key_source = '%s: %s' % (source, path)
            key = _read_key_file(path, source)
    return Connection(url, url_source, client, name_source, key, key_source, params)


# Signing (Mixlib::Authentication)


def canonical_path(path):
    """The path as signed: query removed, repeated slashes collapsed, a trailing slash removed."""
    path = path.split('?', 1)[0]
    path = re.sub(r'/+', '/', path)
    if len(path) > 1:
        path = path.rstrip('/')
    return path or '/'


def _b64_digest(algorithm, data):
    return to_text(base64.b64encode(hashlib.new(algorithm, to_bytes(data)).digest()))


def content_hash(body, sign_version):
    return _b64_digest('sha256' if sign_version == '1.3' else 'sha1', body or b'')


def canonical_request(method, path, body_hash, timestamp, user_id, sign_version, server_api_version):
    """The string that is signed, exactly as Mixlib::Authentication builds it."""
    method = method.upper()
    path = canonical_path(path)
    if sign_version == '1.3':
        return '\n'.join([
            'Method:%s' % method,
            'Path:%s' % path,
            'X-Ops-Content-Hash:%s' % body_hash,
            'X-Ops-Sign:version=1.3',
            'X-Ops-Timestamp:%s' % timestamp,
            'X-Ops-UserId:%s' % user_id,
            'X-Ops-Server-API-Version:%s' % server_api_version,
        ])
    if sign_version == '1.1':
        return '\n'.join([
            'Method:%s' % method,
            'Hashed Path:%s' % _b64_digest('sha1', path),
            'X-Ops-Content-Hash:%s' % body_hash,
            'X-Ops-Timestamp:%s' % timestamp,
            'X-Ops-UserId:%s' % _b64_digest('sha1', user_id),
        ])
    raise ValueError('unsupported signing protocol version %r' % (sign_version,))


def rsa_private_encrypt(key, data):
    """OpenSSL's RSA_private_encrypt with PKCS#1 v1.5 type 1 padding: the raw data, no digest, no DigestInfo."""
    numbers = key.private_numbers()
    modulus = numbers.public_numbers.n
    size = (modulus.bit_length() + 7) // 8
    if len(data) > size - 11:
        raise ChefAPIError('the %d-bit key is too short to sign a protocol 1.1 request (%d bytes to sign, at most '
                           '%d); use sign_version 1.3 or a longer key' % (modulus.bit_length(), len(data), size - 11))
    block = b'\x00\x01' + b'\xff' * (size - 3 - len(data)) + b'\x00' + data
    signed = pow(int.from_bytes(block, 'big'), numbers.d, modulus)
    return signed.to_bytes(size, 'big')


def sign(key, canonical, sign_version):
    data = to_bytes(canonical)
    if sign_version == '1.3':
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return rsa_private_encrypt(key, data)


def signed_headers(key, client_name, method, path, body, timestamp, sign_version='1.3', server_api_version=1):
    """The X-Ops-* headers of one request."""
    body_hash = content_hash(body, sign_version)
    canonical = canonical_request(method, path, body_hash, timestamp, client_name, sign_version, server_api_version)
    signature = to_text(base64.b64encode(sign(key, canonical, sign_version)))
    headers = {
        'X-Ops-Sign': 'algorithm=%s;version=%s;' % ('sha256' if sign_version == '1.3' else 'sha1', sign_version),
        'X-Ops-Userid': client_name,
        'X-Ops-Timestamp': timestamp,
        'X-Ops-Content-Hash': body_hash,
        'X-Ops-Server-API-Version': str(server_api_version),
    }
    for number, start in enumerate(range(0, len(signature), SIGNATURE_LINE), 1):
        headers['X-Ops-Authorization-%d' % number] = signature[start:start + SIGNATURE_LINE]
    return headers


def utc_timestamp(epoch=None):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() if epoch is None else epoch))


# Errors


def server_error_text(body):
    """The server's own reason: {"error": [...]} or {"error": "..."} as text, else the raw body (shortened)."""
    text = to_text(body or b'', errors='surrogate_then_replace').strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(doc, dict):
        error = doc.get('error', doc.get('message'))
        if isinstance(error, list):
            return '; '.join(to_text(e) for e in error)
        if error is not None:
            return to_text(error)
    return text[:300]


def describe_object(path):
    """'data bag item whitelist/php8' for /data/whitelist/php8 (the part after any /organizations/ORG)."""
    parts = [p for p in canonical_path(path).split('/') if p]
    org = None
    if len(parts) >= 2 and parts[0] == 'organizations':
        org, parts = parts[1], parts[2:]
    kinds = {'data': ('data bag', 'data bag item'), 'environments': ('environment', None),
             'nodes': ('node', None), 'cookbooks': ('cookbook', 'cookbook version'), 'clients': ('client', None),
             'roles': ('role', None), 'users': ('user', None)}
    where = ' in organization %s' % org if org else ''
    if not parts:
        return 'the organization %s' % org if org else 'the server root'
    if parts[0] in kinds:
        one, two = kinds[parts[0]]
        if len(parts) == 1:
            return 'the %s collection%s' % (parts[0], where)
        if len(parts) == 2:
            return '%s %s%s' % (one, parts[1], where)
        if len(parts) == 3 and two:
            return '%s %s/%s%s' % (two, parts[1], parts[2], where)
    return '%s%s' % ('/' + '/'.join(parts), where)


# The client


class ChefAPIClient(object):
    """Signed requests to one Chef Infra Server API. Every method raises ChefAPIError on failure.

    One client may be used by several threads at once (get_many): its urllib opener and TLS context are made once
    (_url_opener) and shared, each request is signed on its own.
    """

    def __init__(self, connection, sleep=None):
        self.conn = connection
        parts = urlsplit(connection.server_url)
        self.base = connection.server_url
        self.base_path = parts.path.rstrip('/')
        self.sleep = sleep or time.sleep
        self.requests = []  # (method, path) of every request sent, for the modules' results
        self.http = UrlOpener(self.base, connection.validate_certs, connection.ca_path)

    def path(self, *segments):
        """A quoted path below the server URL from its segments: path('data', bag, item)."""
        return '/' + '/'.join(quote(to_native(s), safe='') for s in segments)

    def full_path(self, path):
        """The path as the server sees it (and as it is signed), with the server URL's own path in front."""
        return self.base_path + path

    def _send(self, method, path, data, headers):
        url = self.base + path
        try:
            resp = self.http.open(method, url, data=data, headers=headers, timeout=self.conn.timeout)
            return resp.getcode(), resp.read()
        except HTTPError as exc:
            try:
                body = exc.read()
            except (HTTPException, OSError):
                body = b''
            return exc.code, body

    def request(self, method, path, payload=None, ok=(200, 201)):
        """(status, parsed JSON) of one request; statuses outside `ok` raise ChefAPIError."""
        method = method.upper()
        data = None
        if payload is not None:
            data = to_bytes(json.dumps(payload, sort_keys=True, separators=(',', ':')))
        full_path = self.base_path + path
        attempt = 0
        while True:
            headers = {'Accept': 'application/json', 'X-Chef-Version': CHEF_VERSION}
            if data is not None:
                headers['Content-Type'] = 'application/json'
            # Signed anew on every attempt: the timestamp must be fresh.
            headers.update(signed_headers(self.conn.key, self.conn.client_name, method, full_path, data,
                                          utc_timestamp(), self.conn.sign_version, self.conn.server_api_version))
            self.requests.append('%s %s' % (method, full_path))
            failure = None
            try:
                status, body = self._send(method, path, data, headers)
            except URLError as exc:
                failure = 'cannot reach the Chef server at %s: %s' % (self.base, to_native(exc.reason))
                status = body = None
            except (HTTPException, OSError, ValueError) as exc:
                # timeouts, TLS failures and an unreadable ca_path are OSErrors
                failure = 'request to the Chef server at %s failed: %s' % (self.base, to_native(exc))
                status = body = None
            retryable = status is None or status >= 500
            if retryable and attempt < self.conn.retries:
                self.sleep(RETRY_BACKOFF * (2 ** attempt) * (0.5 + random.random() / 2))
                attempt += 1
                continue
            if failure is not None:
                raise ChefAPIError('%s (%s %s, %d attempts)' % (failure, method, full_path, attempt + 1),
                                   method=method, path=full_path)
            break
        if status not in ok:
            raise self.http_error(method, full_path, status, body)
        return status, self.parse(method, full_path, status, body)

    def parse(self, method, full_path, status, body):
        text = to_text(body or b'', errors='surrogate_then_replace')
        hint = ('; the URL is probably not a Chef Infra Server API endpoint (a server without organizations has no '
                '/organizations/ORG paths: use its URL without them)')
        if not text.strip():
            raise ChefAPIError('the Chef server answered %s %s with HTTP %d and an empty body instead of JSON%s'
                               % (method, full_path, status, hint), status=status, method=method, path=full_path)
        try:
            return json.loads(text)
        except ValueError:
            raise ChefAPIError('the Chef server answered %s %s with HTTP %d and something that is not JSON: %r%s'
                               % (method, full_path, status, text[:120], hint),
                               status=status, method=method, path=full_path, body=text)

    def http_error(self, method, full_path, status, body):
        reason = server_error_text(body) or '(no reason given)'
        what = describe_object(full_path)
        kwargs = dict(status=status, method=method, path=full_path, body=to_text(body or b''))
        if status == 401:
            return ChefAPIError(
                'the Chef server rejected the request of client %r (HTTP 401 on %s %s: %s). Check that the key '
                '(%s) is the private key of client %r on %s, and that this host\'s clock is within 15 minutes of '
                'the server\'s (clock skew); request timestamp %s UTC'
                % (self.conn.client_name, method, full_path, reason, self.conn.key_source, self.conn.client_name,
                   self.base, utc_timestamp()), **kwargs)
        if status == 403:
            return ChefAPIError(
                'client %r is not allowed to %s %s (HTTP 403 on %s %s: %s): it needs the %s permission on it'
                % (self.conn.client_name, PERMISSIONS.get(method, method.lower()), what, method, full_path, reason,
                   PERMISSIONS.get(method, method.lower())), **kwargs)
        if status == 404:
            return ChefAPIError('%s does not exist on %s (HTTP 404 on %s %s: %s)'
                                % (what, self.base, method, full_path, reason), **kwargs)
        if status == 409:
            return ChefAPIError('%s already exists (HTTP 409 on %s %s: %s)' % (what, method, full_path, reason),
                                **kwargs)
        return ChefAPIError('the Chef server answered %s %s with HTTP %d: %s' % (method, full_path, status, reason),
                            **kwargs)

    # Conveniences

    def get(self, path, missing_ok=False):
        """The object at `path`; None for a 404 when missing_ok."""
        try:
            return self.request('GET', path, ok=(200,))[1]
        except ChefAPIError as exc:
            if missing_ok and exc.status == 404:
                return None
            raise

    def put(self, path, payload):
        return self.request('PUT', path, payload, ok=(200, 201))[1]

    def post(self, path, payload):
        return self.request('POST', path, payload, ok=(200, 201))[1]

    def delete(self, path):
        return self.request('DELETE', path, ok=(200,))[1]

    def search(self, index, query, rows=1000):
        """Every row of a search, page by page (GET /search/INDEX?q=...)."""
        found = []
        start = 0
        while True:
            path = '%s?%s' % (self.path('search', index), urlencode({'q': query, 'start': start, 'rows': rows}))
            answer = self.get(path)
            if not isinstance(answer, dict) or not isinstance(answer.get('rows'), list):
                raise ChefAPIError('unexpected answer to a search of %s: %r' % (index, answer))
            found.extend(answer['rows'])
            start += len(answer['rows'])
            if not answer['rows'] or start >= int(answer.get('total') or 0):
                return found

    def get_many(self, paths, missing_ok=False, workers=None):
        """The objects at `paths`, in their order, read up to `workers` (PARALLEL_READS) at a time. Each item is the
        object (None for a 404 when missing_ok) or the ChefAPIError its request raised, for the caller to raise in
        its own order."""
        def read(path):
            try:
                return self.get(path, missing_ok=missing_ok)
            except ChefAPIError as exc:
                return exc

        paths = list(paths)
        workers = workers or PARALLEL_READS
        if len(paths) < 2 or workers < 2:
            return [read(path) for path in paths]
        with ThreadPoolExecutor(max_workers=min(workers, len(paths))) as pool:
            return list(pool.map(read, paths))


def client_from_params(params, sleep=None):
    return ChefAPIClient(resolve_connection(params), sleep=sleep)


def jittered_pause(sleep, attempt):
    """A short random pause before retrying a lost update, so that two writers do not collide again."""
    sleep(0.2 * (attempt + 1) + random.random() * 0.5)


MAX_WRITES = 5  # writes of one read-modify-write before it gives up on other writers


class LostUpdates(ChefAPIError):
    """A read-modify-write whose change another writer kept undoing: `writes` writes, `current` the last read."""

    def __init__(self, msg, writes, current):
        super(LostUpdates, self).__init__(msg)
        self.writes = writes
        self.current = current


def write_until_held(client, read, held, wanted, write, check_mode, what, max_writes=MAX_WRITES):
    """A read-modify-write on one Chef object that survives other writers: (before, after, writes).

    read() returns the object (None when it is missing); held(current) says whether the change is in it; wanted
    (current) builds the object to send; write(current, new) sends it. The object is read again after every write:
    when another writer's write (made from an older read) undid the change, it is made again on top of theirs, with a
    jittered pause, at most max_writes times (then LostUpdates, naming `what`). `after` is the last read, never what
    was sent. In check mode nothing is written and `after` is the object that would be sent (or the current one).
    """
    before = read()
    current = before
    writes = 0
    while not held(current):
        new = wanted(current)
        if check_mode:
            return before, new, writes
        if writes >= max_writes:
            raise LostUpdates('%s kept changing under this task: after %d writes it still does not hold the change '
                              '(other writers at work?); run the task again' % (what, writes), writes, current)
        if writes:
            jittered_pause(client.sleep, writes)
        write(current, new)
        writes += 1
        current = read()
    return before, current, writes


# Validation with the real server's rules


def check_name(value, option, pattern=OBJECT_NAME_RE):
    if not isinstance(value, str) or not pattern.match(value):
        allowed = 'letters, digits, ".", "_" and "-"' + (' and ":"' if pattern is OBJECT_NAME_RE else '')
        raise ValueError('%s %r is not a valid name: use only %s' % (option, value, allowed))
    return value


def parse_constraint(text):
    """('>=', (1, 2, 0)) from '>= 1.2'; ValueError for anything the real server refuses."""
    match = CONSTRAINT_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError('%r is not a valid version constraint: use "OP VERSION" with OP one of =, <, >, <=, >=, '
                         '~> and exactly one space, or a bare VERSION, with VERSION as MAJOR.MINOR or '
                         'MAJOR.MINOR.PATCH (for example "= 1.2.3" or "~> 2.0")' % (text,))
    op, major, minor, patch = match.groups()
    return op or '=', (int(major), int(minor), int(patch or 0)), patch is not None


def parse_version(text):
    parts = to_text(text).split('.')
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError('%r is not a cookbook version' % (text,))
    numbers = [int(p) for p in parts] + [0] * (3 - len(parts))
    return tuple(numbers)


def version_satisfies(version, constraint):
    """Whether a cookbook version (text) satisfies a constraint (text), as Chef's VersionConstraint does."""
    op, wanted, has_patch = parse_constraint(constraint)
    have = parse_version(version)
    if op == '=':
        return have == wanted
    if op == '>':
        return have > wanted
    if op == '<':
        return have < wanted
    if op == '>=':
        return have >= wanted
    if op == '<=':
        return have <= wanted
    # ~> x.y allows >= x.y, < (x+1).0; ~> x.y.z allows >= x.y.z, < x.(y+1).0
    upper = (wanted[0], wanted[1] + 1, 0) if has_patch else (wanted[0] + 1, 0, 0)
    return wanted <= have < upper


# The allowlist cookbook's matching: Ruby's File.fnmatch(pattern, fqdn) with no flags.


def _bracket(pattern, p, char):
    """Ruby's bracket(): (index after the closing ']', or None when the set does not match or is unterminated)."""
    end = len(pattern)
    if p >= end:
        return None
    negate = False
    if pattern[p] in '!^':
        negate = True
        p += 1
    ok = False
    while True:
        if p >= end:
            return None
        if pattern[p] == ']':
            break
        t1 = p + 1 if pattern[p] == '\\' else p
        if t1 >= end:
            return None
        low = pattern[t1]
        p = t1 + 1
        if p >= end:
            return None
        if pattern[p] == '-' and p + 1 < end and pattern[p + 1] != ']':
            t2 = p + 2 if pattern[p + 1] == '\\' else p + 1
            if t2 >= end:
                return None
            high = pattern[t2]
            p = t2 + 1
            if not ok and (char in (low, high) or low <= char <= high):
                ok = True
        elif not ok and low == char:
            ok = True
    return None if ok == negate else p + 1


def fnmatch_ruby(pattern, string):
    """File.fnmatch(pattern, string) of Ruby without flags: case-sensitive, whole string, `*` crosses dots and
    slashes, `?` one character, `[set]` `[!set]` `[^set]`, `\\` escapes, no brace expansion, and no wildcard
    matches a leading period."""
    def unescape(i):
        return i + 1 if i < len(pattern) and pattern[i] == '\\' else i

    if string.startswith('.'):
        u = unescape(0)
        if u >= len(pattern) or pattern[u] != '.':
            return False
    p = s = 0
    star_p = star_s = None
    plen, slen = len(pattern), len(string)
    while True:
        char = pattern[p] if p < plen else None
        if char == '*':
            while p < plen and pattern[p] == '*':
                p += 1
            if unescape(p) >= plen:
                return True
            if s >= slen:
                return False
            star_p, star_s = p, s
            continue
        if char == '?':
            if s >= slen:
                return False
            p += 1
            s += 1
            continue
        if char == '[':
            if s >= slen:
                return False
            after = _bracket(pattern, p + 1, string[s])
            if after is not None:
                p = after
                s += 1
                continue
        else:
            p = unescape(p)
            if s >= slen:
                return p >= plen
            if p < plen and pattern[p] == string[s]:
                p += 1
                s += 1
                continue
        # no match here: let the last `*` swallow one more character
        if star_p is not None:
            star_s += 1
            p, s = star_p, star_s
            continue
        return False


def first_match(patterns, fqdn):
    """The first pattern that matches the fqdn, as is_in_whitelist? tries them in order; None if none does."""
    for pattern in patterns:
        if isinstance(pattern, str) and isinstance(fqdn, str) and fqdn and fnmatch_ruby(pattern, fqdn):
            return pattern
    return None


def pattern_problem(pattern):
    """Why an allowlist pattern can never match a host name, or None when it can."""
    if not isinstance(pattern, str) or not pattern.strip():
        return 'it is empty'
    if '{' in pattern or '}' in pattern:
        return ('it has braces, which File.fnmatch takes literally (no brace expansion), so it never matches a '
                'host name; list each alternative as a pattern of its own')
    if re.search(r'\s', pattern):
        return 'it has white space, which no host name has'
    if pattern.endswith('\\') and (len(pattern) - len(pattern.rstrip('\\'))) % 2 == 1:
        return 'it ends with a lone backslash'
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == '\\':
            index += 2
            continue
        if char == '[':
            close = _bracket_end(pattern, index + 1)
            if close is None:
                return 'it has a "[" without its "]", and File.fnmatch then matches nothing'
            if close == index + 2:
                return 'it has an empty character set "[]", which matches nothing'
            index = close
            continue
        index += 1
    return None


def _bracket_end(pattern, p):
    """Index just after the ']' closing a set that starts at p (after '['), or None when there is none."""
    if p < len(pattern) and pattern[p] in '!^':
        p += 1
    while p < len(pattern):
        if pattern[p] == ']':
            return p + 1
        p += 2 if pattern[p] == '\\' else 1
    return None


def module_client(module):
    """The client for a module's connection options; fails the module on a missing library or a bad setting."""
    from ansible.module_utils.basic import missing_required_lib
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    try:
        return client_from_params(module.params)
    except ChefAPIError as exc:
        module.fail_json(msg=exc.msg)


# Nodes and data bag items, written whole and read back


def node_environment(node):
    """The environment a node (as the server returns it) is in."""
    return (node or {}).get('chef_environment') or '_default'


def put_node_environment(client, name, node, environment):
    """Write the node back as it was read with only its chef_environment changed, then read it again: the node as the
    server holds it afterwards (a save by anything else in between shows there)."""
    path = client.path('nodes', name)
    changed = copy.deepcopy(node)
    changed['chef_environment'] = environment
    client.put(path, changed)
    return client.get(path)


def write_item(client, bag, item, new, requests):
    """Send one data bag item (`item` is the current one, None when missing): PUT, or POST creating the bag when it
    is missing. The requests are appended to `requests`. False when the item changed under us (created or deleted
    by another writer since it was read): read it again."""
    bag_path = client.path('data', bag)
    item_path = client.path('data', bag, new['id'])
    try:
        if item is None:
            requests.append('POST ' + client.full_path(bag_path))
            try:
                client.post(bag_path, new)
            except ChefAPIError as exc:
                if exc.status != 404:
                    raise
                requests.append('POST ' + client.full_path(client.path('data')))
                try:
                    client.post(client.path('data'), {'name': bag})
                except ChefAPIError as bag_exc:
                    if bag_exc.status != 409:  # another writer created the bag meanwhile
                        raise
                requests.append('POST ' + client.full_path(bag_path))
                client.post(bag_path, new)
        else:
            requests.append('PUT ' + client.full_path(item_path))
            client.put(item_path, new)
    except ChefAPIError as exc:
        if (item is None and exc.status == 409) or (item is not None and exc.status == 404):
            return False
        raise
    return True
