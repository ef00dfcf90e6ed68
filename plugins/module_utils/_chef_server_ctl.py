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

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import write_file
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import ChefCtlParseError, mask_argv

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


def list_names(runner, subcommand, changed=False):
    """The names `chef-server-ctl user-list` or `org-list` prints; fails naming the command."""
    rc, out, err, cmd = runner.run(subcommand)
    if rc != 0:
        runner.fail('chef-server-ctl %s failed (exit %d); is the frontend reconfigured and running?' % (subcommand, rc),
                    rc, out, err, cmd, changed=changed)
    try:
        return parse_name_list(out)
    except ChefCtlParseError as exc:
        runner.fail('cannot read chef-server-ctl %s output: %s' % (subcommand, to_native(exc)), rc, out, err, cmd,
                    changed=changed)


def key_path_problem(option, path):
    """Why path cannot receive a private key (option names the module option), or None."""
    if not os.path.isabs(path):
        return '%s must be an absolute path, got %r' % (option, path)
    if os.path.isdir(path):
        return '%s %s is a directory; give the path of the key file' % (option, path)
    if not os.path.isdir(os.path.dirname(path)):
        return 'the directory of %s %s does not exist; create it first' % (option, path)
    return None


class KeyedCreate:
    """`chef-server-ctl user-create ... -f KEY` or `org-create ... -f KEY`: the entity and the private key only the
    create prints, written to key_path through a private directory (PrivateKeyDrop).

    words: kind ('user'), key_option ('key_path'), key ('key'), missing (the end of the message when the ctl wrote no
    key), unlisted_conflict (the message when the server reports a conflict but does not list the entity, if any).
    """

    def __init__(self, module, runner, name, key_path, listed, **words):
        self.module = module
        self.runner = runner
        self.name = name
        self.key_path = key_path
        self.listed = listed  # () -> whether the server lists the entity now
        self.words = words

    def run(self, create_args, result):
        module, runner, words, name = self.module, self.runner, self.words, self.name
        if module.check_mode:
            result.update(changed=True, created=True,
                          cmd=mask_argv(runner.argv(*create_args + [self.key_path]), runner.secrets))
            module.exit_json(**result)
        try:
            drop = PrivateKeyDrop(self.key_path)
        except (IOError, OSError) as exc:
            module.fail_json(msg='cannot create a private directory beside %s %s: %s'
                             % (words['key_option'], self.key_path, to_native(exc)))
        try:
            rc, out, err, cmd = runner.run(*create_args + [drop.path])
            outcome = dict(rc=rc, stdout=runner.mask(out), stderr=runner.mask(err),
                           cmd=mask_argv(cmd, runner.secrets))
            if rc != 0:
                if is_conflict(rc, out, err):
                    if self.listed():
                        result.update(outcome)
                        module.warn('%s %s was created by someone else while this task ran; no %s was written to %s'
                                    % (words['kind'], name, words['key'], self.key_path))
                        module.exit_json(**result)
                    if words.get('unlisted_conflict'):
                        module.fail_json(msg=words['unlisted_conflict'], **outcome)
                module.fail_json(msg='chef-server-ctl %s %s failed (exit %d); the %s was not created'
                                 % (create_args[0], name, rc, words['kind']), **outcome)
            result.update(outcome, changed=True, created=True)
            if not drop.produced():
                module.fail_json(msg='%s %s was created, but chef-server-ctl %s' % (words['kind'], name, words['missing']),
                                 **result)
            try:
                drop.install()
            except (IOError, OSError) as exc:
                module.fail_json(msg='%s %s was created, but its %s could not be moved to %s: %s'
                                 % (words['kind'], name, words['key'], self.key_path, to_native(exc)), **result)
            result['key_written'] = True
        finally:
            drop.cleanup()
        module.exit_json(**result)
