"""A small stateful Chef Infra Server for the unit tests: data bags and their items in memory, every request's
signature checked, and hooks that let another writer land at an exact point (between a module's read and its write).

Import as ansible_collections.chefops.chef_ha.tests.unit.plugins.fake_chef_server. install(monkeypatch) puts it in
place of the Chef API client's opener.
"""

import copy
import io
import json
from urllib.error import HTTPError
from urllib.parse import unquote, urlsplit

from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_api
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_api_replay import (
    FakeResponse,
    public_key,
    verify_request,
)

ORG = '/organizations/acme'


class FakeChefServer(object):
    def __init__(self, bags=None):
        self.bags = copy.deepcopy(bags or {})
        self.log = []  # (method, path) of every request, in order
        self.hooks = []  # [method, path suffix, callable(server), times left]
        self.key = public_key()

    def install(self, monkeypatch):
        server = self

        class Opener(object):
            def __init__(self, base_url, validate_certs=True, ca_path=None):
                pass

            def open(self, method, url, data=None, headers=None, timeout=10):
                return server.handle(method, url, data, headers or {})
        monkeypatch.setattr(_chef_api, 'UrlOpener', Opener)
        return self

    def after(self, method, suffix, action, times=1):
        """Run action(server) right after the next `times` requests METHOD .../suffix were answered."""
        self.hooks.append([method, suffix, action, times])

    def item(self, bag, name):
        return copy.deepcopy(self.bags.get(bag, {}).get(name))

    def writes(self):
        return [entry for entry in self.log if entry[0] != 'GET']

    def handle(self, method, url, data, headers):
        path = urlsplit(url).path
        verify_request(self.key, method, path, data, headers)
        body = json.loads(data.decode()) if data else None
        self.log.append((method, path))
        status, answer = self.answer(method, path, body)
        for hook in self.hooks:
            if hook[3] > 0 and hook[0] == method and path.endswith(hook[1]):
                hook[3] -= 1
                hook[2](self)
        payload = json.dumps(answer).encode()
        if status >= 400:
            raise HTTPError(url, status, 'error', {}, io.BytesIO(payload))
        return FakeResponse(status, payload)

    def answer(self, method, path, body):
        assert path.startswith(ORG + '/data'), path
        parts = [unquote(p) for p in path[len(ORG):].strip('/').split('/')]
        if len(parts) == 1 and method == 'POST':
            if body['name'] in self.bags:
                return 409, {'error': ['Data bag already exists']}
            self.bags[body['name']] = {}
            return 201, {'uri': 'x'}
        bag = parts[1]
        if len(parts) == 2 and method == 'POST':
            if bag not in self.bags:
                return 404, {'error': ['No data bag %s' % bag]}
            if body['id'] in self.bags[bag]:
                return 409, {'error': ['Data Bag Item already exists']}
            self.bags[bag][body['id']] = copy.deepcopy(body)
            return 201, body
        name = parts[2]
        items = self.bags.get(bag, {})
        if method == 'GET':
            if name not in items:
                return 404, {'error': ['Cannot load data bag item %s for data bag %s' % (name, bag)]}
            return 200, items[name]
        if method == 'PUT':
            if name not in items:
                return 404, {'error': ['Cannot load data bag item %s' % name]}
            items[name] = copy.deepcopy(body)
            return 200, body
        if method == 'DELETE':
            return (200, items.pop(name)) if name in items else (404, {'error': ['missing']})
        raise AssertionError('unexpected %s %s' % (method, path))
