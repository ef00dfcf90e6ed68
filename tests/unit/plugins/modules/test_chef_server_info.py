"""chef_server_info on recorded chef-server-ctl calls, files under tmp_path and a /_status server on loopback."""

import http.server
import json
import os
import threading

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_server_info
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import call, fixture_text

LEVEL = fixture_text('chef_server/migration_level.json')
VERSION = call(['version'], out=fixture_text('chef_server/version_15.10.12.txt'), command='chef-server-ctl')
PONG = {"status": "pong", "upstreams": {"chef_sql": "pong", "chef_elasticsearch": "pong", "oc_chef_authz": "pong"}}
FAIL = {"status": "fail", "upstreams": {"chef_sql": "fail", "chef_elasticsearch": "pong", "oc_chef_authz": "pong"}}


@pytest.fixture
def files(tmp_path, monkeypatch):
    paths = dict(level=tmp_path / 'migration-level', bootstrapped=tmp_path / 'bootstrapped',
                 secrets=tmp_path / 'private-chef-secrets.json')
    monkeypatch.setattr(chef_server_info, 'MIGRATION_LEVEL_FILE', str(paths['level']))
    monkeypatch.setattr(chef_server_info, 'BOOTSTRAPPED_FILE', str(paths['bootstrapped']))
    monkeypatch.setattr(chef_server_info, 'SECRETS_FILE', str(paths['secrets']))
    return paths


def set_up(files):
    files['level'].write_text(LEVEL)
    files['bootstrapped'].write_text('')
    files['secrets'].write_text('{}')


@pytest.fixture
def status_server():
    """An HTTP server on loopback answering /_status with the code and body set on it."""
    answer = {'code': 200, 'body': json.dumps(PONG)}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = answer['body'].encode()
            self.send_response(answer['code'])
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answer['url'] = 'http://127.0.0.1:%d/_status' % server.server_address[1]
    yield answer
    server.shutdown()
    server.server_close()


def test_a_healthy_frontend(run_module, files, status_server):
    set_up(files)
    run = run_module(chef_server_info, dict(status_url=status_server['url']), [VERSION])
    assert run['changed'] is False
    assert (run['installed'], run['version'], run['migration_level']) == (True, '15.10.12', {'major': 1, 'minor': 42})
    assert (run['bootstrapped'], run['secrets']) == (True, True)
    assert run['status'] == dict(PONG, http_status=200)
    assert (run['healthy'], run['problems']) == (True, [])
    assert run.commands == [['/usr/bin/chef-server-ctl', 'version']]


def test_a_failing_status_names_the_upstream(run_module, files, status_server):
    set_up(files)
    status_server.update(code=500, body=json.dumps(FAIL))
    run = run_module(chef_server_info, dict(status_url=status_server['url']), [VERSION])
    assert run['healthy'] is False
    assert run['problems'] == ['/_status answers fail (HTTP 500): chef_sql is fail']
    assert run['status']['http_status'] == 500


def test_no_answer_and_a_garbled_answer(run_module, files, status_server):
    set_up(files)
    status_server.update(body='<html>bad gateway</html>', code=502)
    run = run_module(chef_server_info, dict(status_url=status_server['url']), [VERSION])
    assert run['status']['status'] == 'unreadable'
    assert run['healthy'] is False
    closed = 'http://127.0.0.1:1/_status'
    run = run_module(chef_server_info, dict(status_url=closed), [VERSION])
    assert run['status']['status'] == 'unreachable' and run['status']['error']
    assert run['problems'][0].startswith('/_status answers unreachable (HTTP None): ')


def test_a_frontend_not_set_up(run_module, files):
    run = run_module(chef_server_info, dict(status_url=''), [
        call(['version'], rc=1, out='', err='no version manifest', command='chef-server-ctl')])
    assert (run['version'], run['migration_level'], run['bootstrapped'], run['secrets']) == (None, None, False, False)
    assert run['status'] is None
    assert len(run['problems']) == 3 and not run['healthy']


def test_a_garbled_migration_level_is_no_level(run_module, files):
    set_up(files)
    files['level'].write_text('{"major": 1')
    run = run_module(chef_server_info, dict(status_url=''), [VERSION])
    assert run['migration_level'] is None
    assert run['problems'] == ['%s is missing or unreadable' % files['level']]


def test_without_chef_server_nothing_runs(run_module, files):
    run = run_module(chef_server_info, dict(), [], bin_path=lambda self, arg, required=False, opt_dirs=None: None)
    assert (run['installed'], run['healthy'], run['problems']) == (False, False, ['chef-server-ctl is not installed'])
    assert run.commands == []
    assert os.path.basename(chef_server_info.BOOTSTRAPPED_FILE) == 'bootstrapped'


def test_check_mode_reads_the_same(run_module, files, status_server):
    set_up(files)
    run = run_module(chef_server_info, dict(status_url=status_server['url']), [VERSION], check_mode=True)
    assert run['healthy'] is True and run['changed'] is False


def test_objects_lists_the_users_and_organizations(run_module, files):
    set_up(files)
    run = run_module(chef_server_info, dict(status_url='', objects=True), [
        VERSION,
        call(['user-list'], out='pivotal\nchefadmin\n', command='chef-server-ctl'),
        call(['org-list'], out='chefops\n', command='chef-server-ctl'),
    ])
    assert run['users'] == ['chefadmin', 'pivotal'] and run['organizations'] == ['chefops']
    assert run['changed'] is False


def test_objects_fail_when_a_list_cannot_be_read(run_module, files):
    set_up(files)
    run = run_module(chef_server_info, dict(status_url='', objects=True), [
        VERSION,
        call(['user-list'], rc=100, err='ERROR: Network Error: Connection refused\n', command='chef-server-ctl'),
    ])
    assert run.failed and 'chef-server-ctl user-list failed (exit 100)' in run['msg']
