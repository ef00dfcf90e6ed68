"""chef_backup_set_info on set directories as backup.yml writes them, and on each way one can be broken."""

import hashlib
import io
import json
import os
import tarfile
import time

import pytest

from ansible_collections.chefops.chef_ha.plugins.modules import chef_backup_set_info

BACKEND = 'chef-backend-backup-2026-12-04-02-00-01.tgz'
FRONTEND = 'chef-backup-config-2026-12-04-02-00-09.tgz'


def tgz(path, members):
    with tarfile.open(str(path), 'w:gz') as tar:
        for name, data in members.items():
            raw = data.encode() if isinstance(data, str) else json.dumps(data).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def seal(directory):
    lines = ['%s  %s\n' % (hashlib.sha256(entry.read_bytes()).hexdigest(), entry.name)
             for entry in sorted(directory.iterdir()) if entry.name != 'SHA256SUMS']
    (directory / 'SHA256SUMS').write_text(''.join(lines))


@pytest.fixture
def good_set(tmp_path):
    directory = tmp_path / '20261204T020000Z'
    directory.mkdir()
    tgz(directory / BACKEND, {'backup.json': {'node': 'be2', 'version': '2.3.19', 'created': '2026-12-04-02-00-01'},
                              'postgresql/pg_dumpall.sql': '-- dump\n'})
    tgz(directory / FRONTEND, {'manifest.json': {'versions': {'chef-server-core': {'version': '15.9.20'}}},
                               'etc/opscode/chef-server.rb': "fqdn 'fe1'\n"})
    (directory / 'manifest.json').write_text(json.dumps({'users': ['chefadmin', 'pivotal'],
                                                         'organizations': ['chefops']}))
    seal(directory)
    return directory


def inspect(path):
    return chef_backup_set_info.inspect(str(path), lambda p: hashlib.sha256(open(p, 'rb').read()).hexdigest())


def test_a_sealed_set_is_described_with_its_versions_and_age(good_set):
    found = inspect(good_set)
    assert found['name'] == '20261204T020000Z'
    assert found['created'] == '2026-12-04T02:00:00+00:00'
    assert abs(found['age_seconds'] - (time.time() - 1796349600)) < 5
    assert found['backend']['version'] == '2.3.19' and found['backend']['node'] == 'be2'
    assert found['backend']['path'] == str(good_set / BACKEND)
    assert found['frontend']['version'] == '15.9.20'
    assert found['manifest'] == {'users': ['chefadmin', 'pivotal'], 'organizations': ['chefops']}
    assert found['frontend']['sha256'] == hashlib.sha256((good_set / FRONTEND).read_bytes()).hexdigest()


def test_the_module_reports_a_set_and_fails_naming_the_problem(run_module, good_set):
    assert run_module(chef_backup_set_info, dict(path=str(good_set)))['backend']['version'] == '2.3.19'
    os.remove(str(good_set / 'SHA256SUMS'))
    run = run_module(chef_backup_set_info, dict(path=str(good_set)))
    assert run.failed and run['msg'] == '%s: it has no SHA256SUMS (not a set written by backup.yml, or one that ' \
                                        'did not finish)' % good_set


def flip_one_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('breakage, message', [
    (lambda d: flip_one_byte(d / BACKEND), BACKEND + ' does not match its sha256 in SHA256SUMS'),
    (lambda d: (d / FRONTEND).write_bytes((d / FRONTEND).read_bytes()[:40]),
     FRONTEND + ' does not match its sha256'),
    (lambda d: os.remove(str(d / FRONTEND)), FRONTEND + ', listed in SHA256SUMS, is missing'),
    (lambda d: (os.remove(str(d / FRONTEND)), seal(d)), 'it has no frontend archive (chef-backup-config-*.tgz)'),
    (lambda d: (os.remove(str(d / BACKEND)), seal(d)), 'it has no backend archive'),
    (lambda d: (d / 'chef-backup-config-2026-12-04-03-00-00.tgz').write_bytes(b'x'),
     'SHA256SUMS does not list chef-backup-config-2026-12-04-03-00-00.tgz'),
    (lambda d: (d / 'SHA256SUMS').write_text('not a sum line\n'), 'SHA256SUMS line 1 is not'),
    (lambda d: (tgz(d / BACKEND, {'backup.json': {'node': 'be2'}}), seal(d)), 'records no version'),
    (lambda d: (tgz(d / FRONTEND, {'etc/opscode/chef-server.rb': ''}), seal(d)), FRONTEND + ' holds no manifest.json'),
    (lambda d: ((d / BACKEND).write_bytes(b'not gzip'), seal(d)), BACKEND + ' cannot be read'),
])
def test_a_broken_set_is_refused(good_set, breakage, message):
    breakage(good_set)
    with pytest.raises(chef_backup_set_info.SetError) as error:
        inspect(good_set)
    assert message in str(error.value)


def test_an_unsealed_partial_set_is_refused(good_set):
    partial = good_set.parent / (good_set.name + '.partial')
    good_set.rename(partial)
    with pytest.raises(chef_backup_set_info.SetError, match=r'unsealed \.partial set'):
        inspect(partial)


def test_a_set_without_a_listed_manifest_has_none(good_set):
    os.remove(str(good_set / 'manifest.json'))
    seal(good_set)
    assert inspect(good_set)['manifest'] is None


def test_an_altered_manifest_is_refused(good_set):
    (good_set / 'manifest.json').write_text('{"users": []}')
    with pytest.raises(chef_backup_set_info.SetError, match='manifest.json does not match its sha256'):
        inspect(good_set)
