"""The checksum record of chef_reconfigure."""

import hashlib

import pytest

from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_reconfigure as state


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_file_digest(tmp_path):
    path = tmp_path / 'chef-backend.rb'
    path.write_bytes(b"publish_address '10.0.0.1'\n")
    assert state.file_digest(str(path)) == sha(b"publish_address '10.0.0.1'\n")
    assert state.file_digest(str(tmp_path / 'missing')) == state.ABSENT


def test_file_digest_other_errors_raise(tmp_path):
    with pytest.raises((IOError, OSError)):
        state.file_digest(str(tmp_path))


def test_compute_checksums_keeps_order_and_drops_duplicates(tmp_path):
    first = tmp_path / 'a'
    first.write_bytes(b'a')
    second = tmp_path / 'b'
    assert state.compute_checksums([str(first), str(second), str(first)]) == [
        (str(first), sha(b'a')), (str(second), 'absent')]


def test_render_and_parse_round_trip():
    checksums = [('/etc/opscode/chef-server.rb', sha(b'x')), ('/var/opt/opscode/upgrades/migration-level', 'absent')]
    text = state.render_state(checksums)
    assert text == '%s  /etc/opscode/chef-server.rb\nabsent  /var/opt/opscode/upgrades/migration-level\n' % sha(b'x')
    assert state.parse_state(text) == dict(checksums)


@pytest.mark.parametrize('text', [None, '', '\n', 'not a checksum\n', sha(b'x') + '\n', 'ABCDEF  /etc/x\n'])
def test_parse_state_unusable_record(text):
    assert state.parse_state(text) is None


def test_parse_state_accepts_sha256sum_binary_marker():
    assert state.parse_state('%s */etc/x\n' % sha(b'x')) == {'/etc/x': sha(b'x')}


def test_changed_paths():
    current = [('/a', sha(b'a')), ('/b', 'absent')]
    assert state.changed_paths(current, None) == ['/a', '/b']
    assert not state.changed_paths(current, {'/a': sha(b'a'), '/b': 'absent'})
    assert state.changed_paths(current, {'/a': sha(b'old'), '/b': 'absent'}) == ['/a']
    assert state.changed_paths(current, {'/a': sha(b'a')}) == ['/b']
    assert state.changed_paths(current, {'/a': sha(b'a'), '/b': 'absent', '/c': sha(b'c')}) == ['/c']
