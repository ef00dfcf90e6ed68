#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: chef_backup_set_info
short_description: Verify a backup set written by backup.yml and read what it holds
version_added: 0.1.0
author: chefops maintainers (!UNKNOWN)
description:
  - Reads a set directory as C(playbooks/backup.yml) writes it (C(<UTC time>/) with C(SHA256SUMS) and the archives
    it lists) and checks it before anything restores from it.
  - Fails, naming the set and what is wrong, when the directory is an unsealed C(.partial) set, has no
    C(SHA256SUMS), lists a file that is missing or whose sha256 differs (an archive altered or truncated), holds an
    archive C(SHA256SUMS) does not list, or lacks the backend archive (C(chef-backend-backup-*.tgz)) or the frontend
    configuration archive (C(chef-backup-config-*.tgz)), or has more than one of either.
  - Returns the set's C(manifest.json), written by C(backup.yml) and listed in C(SHA256SUMS), when it has one.
  - Opens both archives and returns the versions they recorded, C(backup.json) of C(chef-backend-ctl backup) and
    C(manifest.json) of C(chef-server-ctl backup --config-only), since the vendor's frontend restore does nothing
    (and exits 0) when the installed version differs.
  - Runs where the set is, usually the controller (C(delegate_to) or a play on C(localhost)).
extends_documentation_fragment:
  - chefops.chef_ha.attributes
  - chefops.chef_ha.attributes.info_module
options:
  path:
    description: The set directory.
    type: path
    required: true
seealso:
  - module: chefops.chef_ha.chef_backup
"""

EXAMPLES = r"""
- name: Verify the set before restoring it
  chefops.chef_ha.chef_backup_set_info:
    path: /srv/chef-backups/20261204T020000Z
  delegate_to: localhost
  register: backup_set
"""

RETURN = r"""
name:
  description: The set's directory name.
  returned: always
  type: str
  sample: 20261204T020000Z
created:
  description: When the set was taken (UTC, ISO 8601), from its name; null when the name is not a backup.yml time.
  returned: always
  type: str
  sample: "2026-12-04T02:00:00+00:00"
age_seconds:
  description: Seconds since the set was taken (the recovery point); null when not known.
  returned: always
  type: int
manifest:
  description:
    - What the server held when the set was taken (C(users), C(organizations)), from the set's C(manifest.json)
      when C(SHA256SUMS) lists it; null for a set without one.
  returned: always
  type: dict
  sample: {set: 20261204T020000Z, recorded_on: fe1, users: [chefadmin, pivotal], organizations: [chefops]}
backend:
  description: The backend archive, with the version and node C(backup.json) records.
  returned: always
  type: dict
  sample: {name: chef-backend-backup-2026-12-04-02-00-01.tgz, path: /srv/chef-backups/20261204T020000Z/chef-backend-backup-2026-12-04-02-00-01.tgz,
           sha256: 9f2c..., size: 48213, version: 2.3.19, node: be2}
frontend:
  description: The frontend configuration archive, with the versions its C(manifest.json) records.
  returned: always
  type: dict
  sample: {name: chef-backup-config-2026-12-04-02-00-09.tgz, path: /srv/chef-backups/20261204T020000Z/chef-backup-config-2026-12-04-02-00-09.tgz,
           sha256: 41ab..., size: 5120, version: 15.9.20, versions: {chef-server-core: 15.9.20}}
"""

import datetime
import fnmatch
import json
import os
import re
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule

BACKEND_PATTERN = 'chef-backend-backup-*.tgz'
FRONTEND_PATTERN = 'chef-backup-config-*.tgz'
SET_NAME = re.compile(r'^(\d{8}T\d{6}Z)$')


class SetError(Exception):
    pass


def read_sums(path):
    """[(sha256, name)] from a sha256sum file; SetError when a line is not one."""
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        raise SetError('it has no SHA256SUMS (not a set written by backup.yml, or one that did not finish)')
    sums = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = re.match(r'^([0-9a-f]{64}) [ *](\S+)$', line)
        if not match or '/' in match.group(2):
            raise SetError('SHA256SUMS line %d is not "<sha256>  <file name>": %r' % (number, line[:120]))
        sums.append((match.group(1), match.group(2)))
    return sums


def read_member(archive, member):
    """The JSON document stored as `member` in a gzipped tar archive; SetError when it is missing or unreadable."""
    try:
        with tarfile.open(archive, 'r:gz') as tar:
            for info in tar.getmembers():
                if info.name.lstrip('./') == member and info.isfile():
                    return json.loads(tar.extractfile(info).read().decode('utf-8'))
    except (tarfile.TarError, IOError, OSError, EOFError, ValueError) as exc:
        raise SetError('%s cannot be read (%s)' % (os.path.basename(archive), exc))
    raise SetError('%s holds no %s' % (os.path.basename(archive), member))


def created_at(name):
    match = SET_NAME.match(name)
    if not match:
        return None
    return datetime.datetime.strptime(match.group(1), '%Y%m%dT%H%M%SZ').replace(tzinfo=datetime.timezone.utc)


def inspect(path, sha256):
    """The set's description; SetError naming the first problem found."""
    path = path.rstrip('/')
    name = os.path.basename(path)
    if name.endswith('.partial'):
        raise SetError('it is an unsealed .partial set: backup.yml did not finish it; use a sealed set')
    if not os.path.isdir(path):
        raise SetError('it is not a directory')
    sums = read_sums(os.path.join(path, 'SHA256SUMS'))
    listed = dict((file_name, digest) for digest, file_name in sums)
    present = [entry for entry in sorted(os.listdir(path)) if entry != 'SHA256SUMS']
    unlisted = [entry for entry in present
                if entry not in listed and (fnmatch.fnmatch(entry, BACKEND_PATTERN)
                                            or fnmatch.fnmatch(entry, FRONTEND_PATTERN))]
    if unlisted:
        raise SetError('SHA256SUMS does not list %s' % ', '.join(unlisted))
    for file_name, digest in sorted(listed.items()):
        full = os.path.join(path, file_name)
        if not os.path.isfile(full):
            raise SetError('%s, listed in SHA256SUMS, is missing' % file_name)
        actual = sha256(full)
        if actual != digest:
            raise SetError('%s does not match its sha256 in SHA256SUMS (it was altered or truncated: %s, expected %s)'
                           % (file_name, actual, digest))
    parts = {}
    for kind, pattern in (('backend', BACKEND_PATTERN), ('frontend', FRONTEND_PATTERN)):
        names = sorted(file_name for file_name in listed if fnmatch.fnmatch(file_name, pattern))
        if not names:
            raise SetError('it has no %s archive (%s)' % (kind, pattern))
        if len(names) > 1:
            raise SetError('it has %d %s archives (%s); a set holds one' % (len(names), kind, ', '.join(names)))
        full = os.path.join(path, names[0])
        parts[kind] = dict(name=names[0], path=full, sha256=listed[names[0]], size=os.path.getsize(full))
    record = read_member(parts['backend']['path'], 'backup.json')
    if not isinstance(record, dict) or not record.get('version'):
        raise SetError('backup.json in %s records no version' % parts['backend']['name'])
    parts['backend'].update(version=str(record['version']), node=record.get('node'), taken=record.get('created'))
    manifest = read_member(parts['frontend']['path'], 'manifest.json')
    versions = manifest.get('versions') if isinstance(manifest, dict) else None
    if not isinstance(versions, dict) or not versions:
        raise SetError('manifest.json in %s records no versions' % parts['frontend']['name'])
    flat = dict((key, str((value or {}).get('version'))) for key, value in versions.items())
    parts['frontend'].update(versions=flat, version=flat.get('chef-server-core', sorted(flat.values())[0]))
    manifest = None
    if 'manifest.json' in listed:
        try:
            with open(os.path.join(path, 'manifest.json')) as handle:
                manifest = json.load(handle)
        except ValueError as exc:
            raise SetError('manifest.json is not JSON (%s)' % exc)
    stamp = created_at(name)
    return dict(name=name, path=path, created=stamp.isoformat() if stamp else None, manifest=manifest,
                age_seconds=int(time.time() - stamp.timestamp()) if stamp else None,
                backend=parts['backend'], frontend=parts['frontend'])


def main():
    module = AnsibleModule(argument_spec=dict(path=dict(type='path', required=True)), supports_check_mode=True)
    try:
        result = inspect(module.params['path'], module.sha256)
    except SetError as exc:
        module.fail_json(msg='%s: %s' % (module.params['path'], exc), path=module.params['path'])
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
