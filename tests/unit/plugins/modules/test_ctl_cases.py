"""The modules that drive the vendor ctl commands, replayed from recorded exchanges (ctl_cases.yml).

Each case: module, params, check_mode; files written under the case's directory before the run (name: text);
the calls the module must make in order (command, argv after the binary, env it must get, rc, out or out_fixture,
err, and creates: files the command writes, name: text); http: the answers of URLs the module reads (url: a JSON
body, or {error: text}); patch: module constants set for the case (name: value, e.g. a path under {dir} for
one the module keeps on the host; helper.NAME for a constant of the module_utils helper it calls); expected:
result keys compared exactly, failed, msg_contains, and files_absent / files (name: text) the directory must hold
afterwards. "{dir}" in any string stands for the case's directory.
"""

import importlib
import io
import json
import os

import pytest
import yaml

from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call, fixture_text

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, 'ctl_cases.yml')) as _handle:
    CASES = yaml.safe_load(_handle)


def expand(value, directory):
    """The value with {dir} replaced in every string it holds."""
    if isinstance(value, str):
        return value.replace('{dir}', directory)
    if isinstance(value, list):
        return [expand(item, directory) for item in value]
    if isinstance(value, dict):
        return dict((key, expand(item, directory)) for key, item in value.items())
    return value


def write_files(directory, files):
    for name, text in (files or {}).items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(text)


def recorded_call(spec, directory):
    out = fixture_text(spec['out_fixture']) if 'out_fixture' in spec else spec.get('out', '')
    creates = spec.get('creates')
    return call(spec['argv'], rc=spec.get('rc', 0), out=out, err=spec.get('err', ''),
                command=spec.get('command', 'chef-backend-ctl'), env=spec.get('env'),
                effect=(lambda: write_files(directory, creates)) if creates else None)


class UrlReplay:
    """Stands in for open_url: each URL answers its recorded JSON body, or raises its recorded error."""

    def __init__(self, answers):
        self.answers = dict(answers or {})
        self.asked = []

    def __call__(self, url, **kwargs):
        self.asked.append(url)
        assert url in self.answers, 'unexpected request for %s' % url
        answer = self.answers[url]
        if isinstance(answer, dict) and 'error' in answer:
            raise IOError(answer['error'])
        return io.BytesIO(json.dumps(answer).encode())


@pytest.mark.parametrize('case', CASES, ids=[c['id'] for c in CASES])
def test_recorded_case(run_module, monkeypatch, tmp_path, case):
    directory = str(tmp_path)
    case = expand(case, directory)
    module = importlib.import_module('ansible_collections.chefops.chef_ha.plugins.modules.%s' % case['module'])
    write_files(directory, case.get('files'))
    urls = UrlReplay(case.get('http'))
    if hasattr(module, 'open_url'):
        monkeypatch.setattr(module, 'open_url', urls)
    for name, value in (case.get('patch') or {}).items():
        # NAME is the module's constant, helper.NAME one of a module_utils helper it calls
        owner = module
        if '.' in name:
            owner_name, name = name.split('.')
            owner = importlib.import_module('ansible_collections.chefops.chef_ha.plugins.module_utils.' + owner_name)
        assert hasattr(owner, name), name
        monkeypatch.setattr(owner, name, value)
    calls = [recorded_call(spec, directory) for spec in case.get('calls') or []]
    res = run_module(module, case.get('params') or {}, calls, check_mode=case.get('check_mode', False))
    expected = dict(case['expected'])
    assert res.failed is expected.pop('failed', False), res.result
    for part in expected.pop('msg_contains', []):
        assert part in res['msg'], res['msg']
    for name in expected.pop('files_absent', []):
        assert not os.path.exists(os.path.join(directory, name)), name
    for name, text in expected.pop('files', {}).items():
        with open(os.path.join(directory, name)) as handle:
            assert handle.read() == text, name
    for part in expected.pop('raw_lacks', []):
        assert part not in res.raw, part
    for key, value in expected.items():
        assert res[key] == value, '%s: %r, expected %r' % (key, res.result.get(key), value)
    assert sorted(urls.asked) == sorted(set(urls.answers)), 'recorded URLs not read: %s' % (
        sorted(set(urls.answers) - set(urls.asked)))


def test_check_mode_cases_run_nothing_that_changes_the_host():
    """In the cases above, check mode only ever reads: no recorded call of a check-mode case mutates."""
    readers = {'status', 'cluster-status'}
    for case in CASES:
        if case.get('check_mode'):
            assert all(spec['argv'][0] in readers for spec in case.get('calls') or []), case['id']


def test_every_ctl_module_of_the_lifecycle_has_cases():
    modules = set(case['module'] for case in CASES)
    assert {'chef_backend_member', 'chef_backend_failover', 'chef_backend_upgrade', 'chef_backup',
            'chef_backend_services'} <= modules
