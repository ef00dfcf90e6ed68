"""The atomic file writer every module that writes a file uses."""

import errno
import os
import pwd
import stat

import pytest

from ansible_collections.chefops.chef_ha.plugins.module_utils import _atomic_file as atomic

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='giving a file to another owner needs root')
OTHER_ID = 65534  # nobody / nogroup
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import mode_of


def leftovers(directory, keep):
    return sorted(name for name in os.listdir(str(directory)) if name not in keep)


@pytest.fixture
def target(tmp_path):
    path = tmp_path / 'chef-server.rb'
    path.write_bytes(b'old content\n')
    os.chmod(str(path), 0o644)
    return path


@pytest.fixture
def calls(monkeypatch):
    """The order of fsync and rename calls, with the temporary file's state at the rename."""
    seen = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        what = os.fstat(fd)
        seen.append(('fsync', 'directory' if stat.S_ISDIR(what.st_mode) else 'file'))
        return real_fsync(fd)

    def rename(src, dst):
        info = os.stat(src)
        with open(src, 'rb') as handle:
            content = handle.read()
        seen.append(('rename', dict(src=src, dst=dst, mode=stat.S_IMODE(info.st_mode), uid=info.st_uid,
                                    gid=info.st_gid, content=content)))
        return real_rename(src, dst)

    monkeypatch.setattr(atomic.os, 'fsync', fsync)
    monkeypatch.setattr(atomic.os, 'rename', rename)
    return seen


# ---- content, mode and the changed flags -------------------------------------------------------------------------

def test_new_file_gets_content_and_private_mode_by_default(tmp_path):
    path = tmp_path / 'record'
    change = atomic.write_file(str(path), u'r\u00e9sum\u00e9\n')
    assert path.read_bytes() == u'r\u00e9sum\u00e9\n'.encode('utf-8')
    assert mode_of(path) == 0o600
    assert (change.changed, change.content, change.mode, change.owner) == (True, True, True, False)
    assert leftovers(tmp_path, ['record']) == []


@pytest.mark.parametrize('mode', [0o640, 0o600, 0o644, 0o400, 0o2750])
def test_new_file_gets_exactly_the_mode_asked_whatever_the_umask(tmp_path, mode):
    path = tmp_path / 'f'
    old_umask = os.umask(0o077)
    try:
        atomic.write_file(str(path), b'x', mode=mode)
    finally:
        os.umask(old_umask)
    assert mode_of(path) == mode


def test_same_content_and_mode_is_no_change_and_no_write(target):
    before = os.stat(str(target))
    change = atomic.write_file(str(target), b'old content\n', mode=0o644)
    after = os.stat(str(target))
    assert not change.changed
    assert (change.content, change.mode, change.owner) == (False, False, False)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_same_content_other_mode_changes_the_mode_in_place(target):
    inode = os.stat(str(target)).st_ino
    change = atomic.write_file(str(target), b'old content\n', mode=0o600)
    assert (change.changed, change.content, change.mode, change.owner) == (True, False, True, False)
    assert mode_of(target) == 0o600
    assert os.stat(str(target)).st_ino == inode


def test_new_content_replaces_the_file_and_keeps_its_mode_when_none_is_asked(target):
    inode = os.stat(str(target)).st_ino
    change = atomic.write_file(str(target), b'new content\n')
    assert (change.changed, change.content, change.mode, change.owner) == (True, True, False, False)
    assert target.read_bytes() == b'new content\n'
    assert mode_of(target) == 0o644
    assert os.stat(str(target)).st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert leftovers(target.parent, [target.name]) == []


def test_new_content_and_new_mode_are_both_reported(target):
    change = atomic.write_file(str(target), b'new content\n', mode=0o600)
    assert (change.content, change.mode) == (True, True)
    assert mode_of(target) == 0o600


def test_text_and_bytes_of_the_same_content_are_equal(target):
    assert not atomic.write_file(str(target), u'old content\n').changed


def test_empty_content(tmp_path):
    path = tmp_path / 'empty'
    assert atomic.write_file(str(path), b'').content
    assert path.read_bytes() == b''
    assert not atomic.write_file(str(path), b'').changed


# ---- the order of the steps --------------------------------------------------------------------------------------

def test_temp_file_is_complete_private_and_synced_before_the_rename(target, calls):
    atomic.write_file(str(target), b'new content\n', mode=0o640)
    names = [name for name, dummy in calls]
    assert names == ['fsync', 'rename', 'fsync']
    assert calls[0][1] == 'file'
    assert calls[2][1] == 'directory'
    renamed = calls[1][1]
    assert os.path.dirname(renamed['src']) == str(target.parent)
    assert renamed['dst'] == str(target)
    assert renamed['mode'] == 0o640
    assert renamed['content'] == b'new content\n'


@needs_root
def test_owner_and_group_are_set_before_the_rename(target, calls):
    change = atomic.write_file(str(target), b'new content\n', mode=0o640, owner=OTHER_ID, group=OTHER_ID)
    renamed = calls[1][1]
    assert (renamed['uid'], renamed['gid'], renamed['mode']) == (OTHER_ID, OTHER_ID, 0o640)
    info = os.stat(str(target))
    assert (info.st_uid, info.st_gid) == (OTHER_ID, OTHER_ID)
    assert (change.content, change.mode, change.owner) == (True, True, True)


def test_no_change_touches_nothing(target, calls):
    atomic.write_file(str(target), b'old content\n')
    assert calls == []


# ---- owner and group ---------------------------------------------------------------------------------------------

@needs_root
def test_existing_owner_is_kept_when_none_is_asked(target):
    os.chown(str(target), OTHER_ID, OTHER_ID)
    change = atomic.write_file(str(target), b'new content\n')
    info = os.stat(str(target))
    assert (info.st_uid, info.st_gid) == (OTHER_ID, OTHER_ID)
    assert not change.owner


@needs_root
def test_same_content_other_owner_changes_the_owner_in_place(target):
    inode = os.stat(str(target)).st_ino
    change = atomic.write_file(str(target), b'old content\n', owner=OTHER_ID)
    assert (change.changed, change.content, change.mode, change.owner) == (True, False, False, True)
    assert os.stat(str(target)).st_uid == OTHER_ID
    assert os.stat(str(target)).st_ino == inode
    assert mode_of(target) == 0o644


def test_owner_and_group_by_name_or_id(target):
    me = os.geteuid()
    name = pwd.getpwuid(me).pw_name
    info = os.stat(str(target))
    assert not atomic.write_file(str(target), b'old content\n', owner=name, group=str(info.st_gid)).changed
    assert not atomic.write_file(str(target), b'old content\n', owner=me, group=info.st_gid).changed


def test_unknown_owner_fails_before_anything_changes(target):
    with pytest.raises(OSError, match='no such user'):
        atomic.write_file(str(target), b'new content\n', owner='no-such-user-chefops')
    with pytest.raises(OSError, match='no such group'):
        atomic.write_file(str(target), b'new content\n', group='no-such-group-chefops')
    assert target.read_bytes() == b'old content\n'
    assert leftovers(target.parent, [target.name]) == []


# ---- check mode --------------------------------------------------------------------------------------------------

def test_check_mode_predicts_and_touches_nothing(target, tmp_path):
    before = os.stat(str(target))
    change = atomic.write_file(str(target), b'new content\n', mode=0o600, check_mode=True)
    assert (change.content, change.mode) == (True, True)
    assert target.read_bytes() == b'old content\n'
    assert mode_of(target) == 0o644
    assert os.stat(str(target)).st_mtime_ns == before.st_mtime_ns
    missing = tmp_path / 'sub' / 'new'
    assert atomic.write_file(str(missing), b'x', directory_mode=0o755, check_mode=True).changed
    assert not (tmp_path / 'sub').exists()
    assert not atomic.write_file(str(target), b'old content\n', mode=0o644, check_mode=True).changed


# ---- failures ----------------------------------------------------------------------------------------------------

def _fail(exc_errno):
    def failing(*args, **kwargs):
        raise OSError(exc_errno, os.strerror(exc_errno))
    return failing


@pytest.mark.parametrize('step', ['write', 'fchmod', 'fsync', 'rename'])
def test_failure_leaves_the_old_file_intact_and_no_temp_file(target, monkeypatch, step):
    monkeypatch.setattr(atomic.os, step, _fail(errno.ENOSPC))
    with pytest.raises(OSError) as info:
        atomic.write_file(str(target), b'new content\n' * 1000, mode=0o600)
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b'old content\n'
    assert mode_of(target) == 0o644
    assert leftovers(target.parent, [target.name]) == []


def test_failure_after_part_of_the_content_is_written(target, monkeypatch):
    real_write = os.write
    written = []

    def write_half_then_fail(fd, data):
        if written:
            raise OSError(errno.EIO, 'I/O error')
        written.append(real_write(fd, bytes(data[:len(data) // 2])))
        return written[-1]

    monkeypatch.setattr(atomic.os, 'write', write_half_then_fail)
    with pytest.raises(OSError):
        atomic.write_file(str(target), b'0123456789' * 100)
    assert written == [500]
    assert target.read_bytes() == b'old content\n'
    assert leftovers(target.parent, [target.name]) == []


def test_short_writes_are_continued(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(atomic.os, 'write', lambda fd, data: real_write(fd, bytes(data[:7])))
    path = tmp_path / 'f'
    atomic.write_file(str(path), b'0123456789' * 10)
    assert path.read_bytes() == b'0123456789' * 10


def test_missing_directory_fails_unless_a_directory_mode_is_given(tmp_path):
    path = tmp_path / 'etc' / 'chefops' / 'rules'
    with pytest.raises(OSError):
        atomic.write_file(str(path), b'x')
    assert not (tmp_path / 'etc').exists()
    atomic.write_file(str(path), b'x', directory_mode=0o755)
    assert path.read_bytes() == b'x'
    assert mode_of(path.parent) & 0o700 == 0o700


def test_target_that_is_a_directory_fails(tmp_path):
    with pytest.raises(OSError):
        atomic.write_file(str(tmp_path), b'x')
    assert leftovers(tmp_path, []) == []


def test_unreadable_target_is_an_error_not_absent(target, monkeypatch):
    real_open = open

    def failing_open(path, *args, **kwargs):
        if path == str(target):
            raise IOError(errno.EACCES, 'Permission denied')
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(atomic, 'open', failing_open, raising=False)
    with pytest.raises((IOError, OSError)):
        atomic.write_file(str(target), b'new content\n')
    assert target.read_bytes() == b'old content\n'


def test_rename_refused_is_written_in_place_only_with_unsafe_writes(target, monkeypatch):
    monkeypatch.setattr(atomic.os, 'rename', _fail(errno.EBUSY))
    with pytest.raises(OSError):
        atomic.write_file(str(target), b'new content\n', mode=0o600)
    assert target.read_bytes() == b'old content\n'
    inode = os.stat(str(target)).st_ino
    change = atomic.write_file(str(target), b'new content\n', mode=0o600, unsafe_writes=True)
    assert change.content and change.mode
    assert target.read_bytes() == b'new content\n'
    assert mode_of(target) == 0o600
    assert os.stat(str(target)).st_ino == inode
    assert leftovers(target.parent, [target.name]) == []


def test_unsafe_writes_do_not_hide_other_errors(target, monkeypatch):
    monkeypatch.setattr(atomic.os, 'rename', _fail(errno.ENOSPC))
    with pytest.raises(OSError):
        atomic.write_file(str(target), b'new content\n', unsafe_writes=True)
    assert target.read_bytes() == b'old content\n'


def test_directory_sync_that_the_file_system_refuses_is_ignored(target, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, 'Invalid argument')
        return real_fsync(fd)

    monkeypatch.setattr(atomic.os, 'fsync', fsync)
    assert atomic.write_file(str(target), b'new content\n').content
    assert target.read_bytes() == b'new content\n'


# ---- modes as modules receive them -------------------------------------------------------------------------------

@pytest.mark.parametrize('given, expected', [
    (0o640, 0o640),
    ('0640', 0o640),
    ('640', 0o640),
    ('0600', 0o600),
    ('02750', 0o2750),
    (None, None),
    ('u=rw,g=r', None),
    ('a+r', None),
])
def test_octal_mode(given, expected):
    assert atomic.octal_mode(given) == expected


def test_file_change_repr_names_the_flags():
    assert repr(atomic.FileChange('/x', content=True)) == "FileChange('/x', content=True, mode=False, owner=False)"
