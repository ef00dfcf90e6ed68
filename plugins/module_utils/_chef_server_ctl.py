# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers of chefops.chef_ha for chef-server-ctl: output parsers and private key files.

Not a public API: names may change between releases.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import shutil
import tempfile

from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import write_file
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import ChefCtlParseError

ORG_NAME_RE = re.compile(r'^[a-z0-9][a-z0-9_-]{0,254}$')
FULL_NAME_MAX = 1023
CONFLICT_EXIT = 100  # knife: `ERROR: Conflict` (HTTP 409)
# A frontend's migration level, which an HA upgrade copies from the first frontend to the others.
MIGRATION_LEVEL_FILE = '/var/opt/opscode/upgrades/migration-level'

_NAME_LINE_RE = re.compile(r'^\S+$')
_VERSION_RE = re.compile(r'^\d+(?:\.\d+)+(?:[-+~.][0-9A-Za-z.+~-]+)?$')


def parse_name_list(text):
    """`user-list` / `org-list` output (one name per line) -> list of names."""
    names = []
    for raw in (text or '').splitlines():
        line = raw.strip()
        if not line:
            continue
        if not _NAME_LINE_RE.match(line):
            raise ChefCtlParseError('unexpected line in the name list: %r' % raw)
        names.append(line)
    return names


def parse_version(text):
    """`chef-server-ctl version` output -> the build version (the last non-empty line, for example `15.10.12`)."""
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    if not lines or not _VERSION_RE.match(lines[-1]):
        raise ChefCtlParseError('chef-server-ctl version did not print a version: %r' % (text or '')[:200])
    return lines[-1]


def parse_migration_level(text):
    """`/var/opt/opscode/upgrades/migration-level` (`{"major":1,"minor":37}`) -> {'major': 1, 'minor': 37}."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ChefCtlParseError('migration-level is not JSON: %s' % exc)
    if not isinstance(data, dict):
        raise ChefCtlParseError('migration-level is not a JSON object')
    level = {}
    for key in ('major', 'minor'):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ChefCtlParseError('migration-level has no integer %r' % key)
        level[key] = value
    return level


def full_name_problem(full_name):
    """Why an organization full name is invalid (1 to 1023 characters, not starting with whitespace), or None."""
    if not full_name:
        return 'it is empty'
    if len(full_name) > FULL_NAME_MAX:
        return 'it is %d characters long (at most %d)' % (len(full_name), FULL_NAME_MAX)
    if full_name[0].isspace():
        return 'it starts with whitespace'
    return None


def is_conflict(rc, out, err):
    """True when knife reported HTTP 409 (`ERROR: Conflict`, exit 100)."""
    return rc == CONFLICT_EXIT and 'ERROR: Conflict' in '%s\n%s' % (out or '', err or '')


class PrivateKeyDrop:
    """A private (0700) directory next to a key's destination for the ctl to write the key into.

    The directory lives beside the destination, on its file system; the key is placed with the atomic file writer,
    0600 before it gets its name, so it is never readable by anyone else, whatever mode the ctl gave it.
    """

    def __init__(self, dest):
        self.dest = dest
        self.directory = tempfile.mkdtemp(prefix='.chefops-key.', dir=os.path.dirname(dest) or '.')
        os.chmod(self.directory, 0o700)
        self.path = os.path.join(self.directory, os.path.basename(dest))

    def produced(self):
        return os.path.isfile(self.path) and os.path.getsize(self.path) > 0

    def install(self):
        os.chmod(self.path, 0o600)
        with open(self.path, 'rb') as handle:
            write_file(self.dest, handle.read(), mode=0o600)

    def cleanup(self):
        shutil.rmtree(self.directory, ignore_errors=True)
