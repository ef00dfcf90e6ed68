# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helper of chefops.chef_ha: the one way its modules write a file.

The content goes to a temporary file in the target's directory, which gets its mode and owner and is flushed to
disk before it is renamed over the target, so a reader sees the old file or the new one, never a part, and a new
file never exists with looser permissions than asked for. The directory is flushed after the rename, so the new
name survives a crash. Not a public API: names may change between releases.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import grp
import os
import pwd
import stat
import tempfile

# Mode of a new file when none is asked for: what tempfile.mkstemp creates, readable by its owner only.
NEW_FILE_MODE = 0o600
# rename() errors of a target that cannot be replaced by another file (a bind mount, some synced folders): with
# unsafe_writes the content is then written into the target in place.
_RENAME_BLOCKED = (errno.EBUSY, errno.EXDEV, errno.EPERM, errno.EACCES, errno.ETXTBSY)


class FileChange:
    """What write_file changed (or, in check mode, would change) in the target."""

    def __init__(self, path, content=False, mode=False, owner=False):
        self.path = path
        self.content = content
        self.mode = mode
        self.owner = owner

    @property
    def changed(self):
        return self.content or self.mode or self.owner

    def __repr__(self):
        return 'FileChange(%r, content=%r, mode=%r, owner=%r)' % (self.path, self.content, self.mode, self.owner)


def octal_mode(mode):
    """A mode given as an int or an octal string (0640, '0640', '640') as an int; None for symbolic modes."""
    if mode is None or isinstance(mode, bool):
        return None
    if isinstance(mode, int):
        return mode & 0o7777
    try:
        return int(str(mode), 8) & 0o7777
    except ValueError:
        return None


def _account_id(name, lookup, field, what):
    """A numeric id as given, or the id of the named user or group (lookup: pwd.getpwnam or grp.getgrnam)."""
    if name is None:
        return None
    try:
        return int(name)
    except ValueError:
        pass
    try:
        return getattr(lookup(name), field)
    except KeyError:
        raise OSError(errno.EINVAL, 'no such %s: %s' % (what, name))


def _uid(owner):
    return _account_id(owner, pwd.getpwnam, 'pw_uid', 'user')


def _gid(group):
    return _account_id(group, grp.getgrnam, 'gr_gid', 'group')


def read_text(path):
    """The text of path, or None when it cannot be read (missing, unreadable): a file a module only consults."""
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def read_bytes(path, strict=True):
    """The bytes of path, or None when it does not exist (or, not strict, when it cannot be read at all)."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT or not strict:
            return None
        raise


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # the rename is done; a directory that cannot be opened cannot be flushed either
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _write_in_place(path, data, mode, uid, gid):
    """unsafe_writes: rewrite the target itself when it cannot be replaced; not atomic."""
    with open(path, 'wb') as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    if uid is not None or gid is not None:
        os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
    os.chmod(path, mode)


def write_file(path, content, mode=None, owner=None, group=None, directory_mode=None, check_mode=False,
               unsafe_writes=False):
    """Make path hold content (bytes, or text written as UTF-8) with mode, owner and group; returns a FileChange.

    mode is an int, or None to keep the target's mode (a new file gets NEW_FILE_MODE). owner and group are names or
    ids, or None to keep the target's (a new file gets this process's). Nothing is written when the content is the
    same: a different mode or owner is then set on the file in place. directory_mode, when given, creates a
    missing parent directory with it. In check mode nothing is touched and the FileChange says what would change.
    Raises OSError (or IOError) when the file cannot be written; the target is then unchanged and no temporary file
    is left behind.
    """
    data = content.encode('utf-8') if not isinstance(content, bytes) else content
    directory = os.path.dirname(path) or '.'
    uid, gid = _uid(owner), _gid(group)
    try:
        current = os.stat(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
        current = None
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise OSError(errno.EISDIR if stat.S_ISDIR(current.st_mode) else errno.EINVAL,
                      '%s exists and is not a regular file' % path)

    old = read_bytes(path) if current is not None else None
    if current is None:
        want_mode = NEW_FILE_MODE if mode is None else mode
        change = FileChange(path, content=True, mode=True, owner=uid is not None or gid is not None)
    else:
        want_mode = stat.S_IMODE(current.st_mode) if mode is None else mode
        change = FileChange(path, content=old != data, mode=stat.S_IMODE(current.st_mode) != want_mode,
                            owner=(uid is not None and uid != current.st_uid)
                            or (gid is not None and gid != current.st_gid))
    if check_mode or not change.changed:
        return change

    # -1 leaves an id as it is (os.chown); a kept owner is the target's.
    chown_uid = uid if uid is not None else (current.st_uid if current is not None else -1)
    chown_gid = gid if gid is not None else (current.st_gid if current is not None else -1)
    keep_owner = uid is None and gid is None

    if not change.content:
        if change.owner:
            os.chown(path, chown_uid, chown_gid)
        if change.mode or change.owner:  # chown may clear setuid and setgid bits
            os.chmod(path, want_mode)
        return change

    if directory_mode is not None and not os.path.isdir(directory):
        os.makedirs(directory, directory_mode)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if chown_uid != -1 or chown_gid != -1:
                try:
                    os.fchown(fd, chown_uid, chown_gid)
                except OSError as exc:
                    # Keeping an existing owner is best effort, as a user who is not root cannot give files away.
                    if not (keep_owner and exc.errno == errno.EPERM):
                        raise
            os.fchmod(fd, want_mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.rename(tmp, path)
        except OSError as exc:
            if not (unsafe_writes and exc.errno in _RENAME_BLOCKED):
                raise
            _write_in_place(path, data, want_mode, uid, gid)
            return change
        _fsync_directory(directory)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return change
