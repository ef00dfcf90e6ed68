"""Helpers of the module unit tests: recorded command replay and in-process module runs.

Import as ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay.
"""

import json
import os
import stat

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

# The fixed name the keydir fixture gives the private directory a key is dropped into, so argv can be recorded.
DROP_NAME = '.chefops-key.test'
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
BIN_DIR = '/usr/bin'


def fixture_text(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def assert_private_file(path, text):
    """The file holds text and only its owner can read it (a private key as the modules write it)."""
    with open(str(path)) as handle:
        assert handle.read() == text
    assert mode_of(path) == 0o600


def call(args, rc=0, out='', err='', command='chef-backend-ctl', effect=None, env=None):
    """One recorded run_command call: argv after the binary, exit status, stdout, stderr (and a side effect, and
    environment variables the command must get besides the C locale)."""
    return {'argv': [os.path.join(BIN_DIR, command)] + list(args), 'rc': rc, 'out': out, 'err': err,
            'effect': effect, 'env': env or {}}


def key_create_call(argv, keydir, key_name, writes, rc=0, out='', err='', file_mode=0o644):
    """A recorded `chef-server-ctl user-create|org-create ... -f KEY`: argv is everything before the key's path,
    which is in the private drop directory of keydir. The ctl writes `writes` there (None: nothing) with file_mode,
    after the check that the directory is closed to others."""
    path = os.path.join(str(keydir), DROP_NAME, key_name)

    def effect():
        assert mode_of(os.path.dirname(path)) == 0o700
        if writes is not None:
            with open(path, 'w') as handle:
                handle.write(writes)
            os.chmod(path, file_mode)

    return call(list(argv) + [path], rc=rc, out=out, err=err, command='chef-server-ctl', effect=effect)


TIMEOUT_BIN = os.path.join(BIN_DIR, 'timeout')


def unwrap_timeout(replay, args):
    """The command under coreutils timeout, as the runner starts every command: its limit recorded, the wrapper
    dropped, so that recordings name the ctl command itself."""
    assert args[:1] == [TIMEOUT_BIN], 'every command must run under timeout, got %r' % (args,)
    assert args[1] == '--kill-after=30' and args[2].isdigit(), args[:3]
    replay.limits.append((args[3:5], int(args[2])))
    return list(args[3:])


class CommandReplay:
    """Stands in for AnsibleModule.run_command: checks each argv against the recording and replays its output."""

    def __init__(self, calls):
        self.expected = list(calls)
        self.made = []
        self.limits = []  # (argv[:2], seconds) of each command, as given to timeout
        self.stdin = []  # (argv, data) of each command that was given standard input

    def __call__(self, module, args, check_rc=False, environ_update=None, **kwargs):
        assert isinstance(args, list), 'commands must be argv lists, got %r' % (args,)
        assert not kwargs.get('use_unsafe_shell'), 'commands must not use a shell'
        assert (environ_update or {}).get('LC_ALL') == 'C', 'commands must run with LC_ALL=C'
        self.made.append(list(args))
        if kwargs.get('data') is not None:
            self.stdin.append((list(args), kwargs['data']))
        assert self.expected, 'unexpected command %r' % (args,)
        expected = self.expected.pop(0)
        assert args == expected['argv'], 'command %r, expected %r' % (args, expected['argv'])
        for name, value in (expected.get('env') or {}).items():
            assert (environ_update or {}).get(name) == value, '%r needs %s=%s' % (args, name, value)
        if expected.get('effect'):
            expected['effect']()  # what the real command does to files, for example creating them
        return expected['rc'], expected['out'], expected['err']


class ModuleRun:
    def __init__(self, exit_code, result, replay, raw):
        self.raw = raw  # the module's JSON output as Ansible would receive it
        self.exit_code = exit_code
        self.result = result
        self.commands = replay.made
        self.limits = replay.limits
        self.stdin = replay.stdin
        self.failed = exit_code != 0

    def __getitem__(self, key):
        return self.result[key]


def module_runner(monkeypatch, capsys):
    """run_module(module, args, calls, check_mode=False, diff=False) -> ModuleRun; every recorded call must be used."""

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        return os.path.join(BIN_DIR, arg)

    def run(module, args, calls=(), check_mode=False, diff=False, bin_path=get_bin_path):
        replay = CommandReplay(calls)

        def run_command(self, args, **kwargs):  # a plain function, so that it binds as a method
            return replay(self, unwrap_timeout(replay, args), **kwargs)

        monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', bin_path)
        module_args = dict(args)
        module_args['_ansible_check_mode'] = check_mode
        module_args['_ansible_diff'] = diff
        capsys.readouterr()
        with patch_module_args(module_args):
            with pytest.raises(SystemExit) as exc:
                module.main()
        out = capsys.readouterr().out
        result = json.loads(out)
        assert not replay.expected, 'recorded commands not run: %r; the module returned %r' % (
            [c['argv'] for c in replay.expected], result)
        code = exc.value.code or 0
        assert bool(code) == bool(result.get('failed')), result
        return ModuleRun(code, result, replay, out)

    return run
