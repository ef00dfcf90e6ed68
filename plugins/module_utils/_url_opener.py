# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private HTTP(S) requests to one server through a urllib opener of its own, for the Chef API and Chef Waiter
clients.

ansible's open_url builds a TLS context on every request, loading the system CA store (most of a request's CPU on a
LAN), even for http:// URLs, and installs its opener process-wide, which threads talking to servers with different
TLS settings must not share. A UrlOpener sends what open_url sends with follow_redirects='none', use_netrc=False
and use_proxy=True (proxies from the *_proxy environment variables, credentials in the URL answered to a server
that asks for them, a gzip body decompressed), through one opener made at its first request, whose TLS context is
made once per settings and process.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading

from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import (
    HTTPBasicAuthHandler,
    HTTPDigestAuthHandler,
    HTTPPasswordMgrWithDefaultRealm,
    HTTPRedirectHandler,
    HTTPSHandler,
    Request,
    build_opener,
)

from ansible.module_utils.urls import GzipDecodedReader, make_context

_CONTEXTS = {}
_CONTEXTS_LOCK = threading.Lock()


def tls_context(ca_path, validate_certs):
    """ansible's make_context, made once per settings: loading the CA store costs more than a request on a LAN.

    An SSLContext is safe to share between threads once made; a failure (an unreadable ca_path) is not kept, so
    the next request tries again and fails the same way.
    """
    key = (ca_path, bool(validate_certs))
    with _CONTEXTS_LOCK:
        if key not in _CONTEXTS:
            _CONTEXTS[key] = make_context(cafile=ca_path, validate_certs=validate_certs)
        return _CONTEXTS[key]


class _NoRedirect(HTTPRedirectHandler):
    """A redirect is an answer like any other (urllib raises it as an HTTPError), never followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def split_credentials(url):
    """(url without user:password@, (host, user, password) or None), as open_url reads credentials in a URL."""
    parts = urlsplit(url)
    if '@' not in parts.netloc:
        return url, None
    credentials, netloc = parts.netloc.split('@', 1)
    user, password = credentials.split(':', 1) if ':' in credentials else (credentials, '')
    return urlunsplit(parts._replace(netloc=netloc)), (netloc, unquote(user), unquote(password))


class UrlOpener(object):
    """Requests to the server of one base URL, shared by threads: the opener is made once, at the first request."""

    def __init__(self, base_url, validate_certs=True, ca_path=None):
        self.https = urlsplit(base_url).scheme.lower() == 'https'
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.credentials = split_credentials(base_url)[1]
        self._opener = None
        self._lock = threading.Lock()

    def opener(self):
        with self._lock:
            if self._opener is None:
                handlers = [_NoRedirect()]
                if self.https:
                    handlers.append(HTTPSHandler(context=tls_context(self.ca_path, self.validate_certs)))
                if self.credentials:
                    passwords = HTTPPasswordMgrWithDefaultRealm()
                    passwords.add_password(None, *self.credentials)
                    handlers.extend([HTTPBasicAuthHandler(passwords), HTTPDigestAuthHandler(passwords)])
                self._opener = build_opener(*handlers)
            return self._opener

    def open(self, method, url, data=None, headers=None, timeout=10):
        """The response to one request; urllib's HTTPError for an error status or a redirect, OSError (URLError,
        timeouts, TLS failures) or HTTPException when there is no answer."""
        opener = self.opener()
        if self.credentials:
            url = split_credentials(url)[0]
        response = opener.open(Request(url, data=data, method=method.upper(), headers=headers or {}), timeout=timeout)
        if response.headers.get('content-encoding', '').lower() == 'gzip':
            response.fp = GzipDecodedReader(response.fp)
            response.length = None  # the Content-Length is the compressed one
        return response
