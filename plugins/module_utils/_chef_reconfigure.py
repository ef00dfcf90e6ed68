# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers of chefops.chef_ha: the checksum record that decides whether a reconfigure is due.

The record holds one `<sha256>  <path>` line per watched file (the format of sha256sum), `absent` in place of the
digest for a file that did not exist. Not a public API.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import re

ABSENT = 'absent'
_LINE_RE = re.compile(r'^(?P<digest>[0-9a-f]{64}|absent) [ *](?P<path>.+)$')


def file_digest(path):
    """sha256 hex digest of a file's bytes, or ABSENT when the file does not exist."""
    digest = hashlib.sha256()
    try:
        with open(path, 'rb') as handle:
            for block in iter(lambda: handle.read(65536), b''):
                digest.update(block)
    except (IOError, OSError) as exc:
        if getattr(exc, 'errno', None) == 2:
            return ABSENT
        raise
    return digest.hexdigest()


def compute_checksums(paths):
    """[(path, digest)] in the given order, each path once."""
    seen = set()
    result = []
    for path in paths:
        if path in seen:
            continue
        seen.add(path)
        result.append((path, file_digest(path)))
    return result


def render_state(checksums):
    return ''.join('%s  %s\n' % (digest, path) for path, digest in checksums)


def parse_state(text):
    """{path: digest} from a record; None when there is no usable record (missing, empty or garbled)."""
    if not text or not text.strip():
        return None
    recorded = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LINE_RE.match(line.rstrip('\r'))
        if not match:
            return None
        recorded[match.group('path')] = match.group('digest')
    return recorded


def changed_paths(checksums, recorded):
    """Paths whose digest differs from the record, plus recorded paths no longer watched; all when no record."""
    if recorded is None:
        return [path for path, dummy in checksums]
    current = dict(checksums)
    changed = [path for path, digest in checksums if recorded.get(path) != digest]
    changed += sorted(path for path in recorded if path not in current)
    return changed
