# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helper of chefops.chef_ha: the one runner every module uses for the command-line tools it drives
(chef-backend-ctl, chef-server-ctl, iptables and its save/restore tools).

Every command runs as an argument list (never a shell) with the C locale, from a binary found with
get_bin_path (or a path the user gave, checked to be executable). A command that changes the host is refused in
check mode, and every failure it reports has the given secrets and any PEM private key masked.

Not a public API: names may change between releases.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import time

# Where the vendor packages put their ctl commands, searched after PATH.
CTL_DIRS = {
    'chef-backend-ctl': ['/opt/chef-backend/bin'],
    'chef-server-ctl': ['/opt/opscode/bin'],
}
MASK = '********'
# How long a command may run before it is stopped (coreutils timeout: TERM to its process group, KILL after the
# grace), unless the module's ctl_timeout says otherwise: reads that answer in seconds, and changes (reconfigure,
# create-cluster, join-cluster, upgrade, backup) that may take many minutes.
READ_TIMEOUT = 300
CHANGE_TIMEOUT = 3600
KILL_GRACE = 30
READ_SUBCOMMANDS = frozenset(['status', 'cluster-status', 'version', 'gen-server-config', 'user-list', 'org-list',
                              'show-config', 'service-list', 'show-service-config'])
# timeout's exit status when the command ran out of time, and when it had to be killed after the grace
TIMED_OUT = (124, 137)
# The vendor tools print English tables; the C locale keeps the parsers seeing what they expect.
LOCALE_ENV = {'LC_ALL': 'C', 'LANG': 'C', 'LANGUAGE': 'C'}

_PEM_RE = re.compile(r'-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(?:-----END \1-----|\Z)', re.S)


class ChefCtlParseError(ValueError):
    """Output of a ctl command that does not have the documented shape."""


def mask_text(text, secrets=()):
    """The text with every secret value and every PEM private key block replaced by the mask."""
    if not text:
        return text
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return _PEM_RE.sub(MASK, text)


def ctl_argument_spec():
    """The options every module that runs a vendor ctl command has (doc fragments chefops.chef_ha.ctl.*)."""
    return dict(ctl_path=dict(type='path'), ctl_timeout=dict(type='int'))


def mask_argv(argv, secrets=()):
    return [MASK if arg in secrets else mask_text(arg, secrets) for arg in argv]


class CtlRunner:
    """Runs one command-line tool for a module: argv lists, the C locale, never a shell.

    command: the tool's name, found on PATH and in its vendor directory (CTL_DIRS); path: a binary to use instead.
    secrets: values that never appear in a failure's message, output or command line.
    """

    def __init__(self, module, command='chef-backend-ctl', path=None, secrets=(), timeout=None):
        self.module = module
        self.command = command
        self.secrets = [s for s in secrets if s]
        # the module's ctl_timeout, when it has that option and it is set; else the defaults above
        self.timeout = timeout or (module.params or {}).get('ctl_timeout')
        if self.timeout is not None and int(self.timeout) < 1:
            module.fail_json(msg='ctl_timeout = %s is not a number of seconds; give how long a %s command may run, '
                                 'for example %d, or leave it unset' % (self.timeout, command, CHANGE_TIMEOUT))
        if path:
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                module.fail_json(msg='ctl_path %s is not an executable file; point it at %s or leave it unset'
                                 % (path, command))
            self.binary = path
        else:
            self.binary = module.get_bin_path(command, required=True, opt_dirs=CTL_DIRS.get(command, []))
        # coreutils timeout, which every Linux host has; where it is missing, commands run without a limit
        self.timeout_binary = module.get_bin_path('timeout')

    def argv(self, *args):
        return [self.binary] + [str(a) for a in args]

    def run(self, *args, **kwargs):
        """Run the command with these arguments; returns (rc, stdout, stderr, argv). Never raises on a non-zero exit.

        Keyword arguments as for run_argv.
        """
        return self.run_argv(self.argv(*args), **kwargs)

    def run_argv(self, cmd, env=None, data=None, binary_data=False, mutates=False):
        """Run an argv list (its first item a binary of this tool); returns (rc, stdout, stderr, argv).

        env: variables added to the C locale; data: standard input; mutates: the command changes the host, which
        check mode must never do (a module that tries fails instead of changing anything).
        """
        if mutates and self.module.check_mode:
            self.module.fail_json(msg='refusing to run %s in check mode: it changes the host (a bug of this module, '
                                      'please report it)' % ' '.join(mask_argv(cmd, self.secrets)))
        environ = dict(LOCALE_ENV)
        environ.update(env or {})
        kwargs = dict(check_rc=False, environ_update=environ)
        if data is not None:
            kwargs.update(data=data, binary_data=binary_data)
        limit = self.limit(cmd)
        argv = cmd
        if self.timeout_binary:
            argv = [self.timeout_binary, '--kill-after=%d' % KILL_GRACE, str(limit)] + list(cmd)
        started = time.monotonic()
        rc, out, err = self.module.run_command(argv, **kwargs)
        if self.timeout_binary and rc in TIMED_OUT and time.monotonic() - started >= limit:
            self.fail('%s did not finish within %d seconds and was stopped (ctl_timeout: set it higher if this '
                      'command needs longer on this host, or find what it waits for)'
                      % (' '.join(mask_argv(cmd[:2], self.secrets)), limit), rc, out, err, cmd, timed_out=True)
        return rc, out, err, cmd

    def limit(self, cmd):
        """Seconds the command may run: the module's ctl_timeout, else by what the command does."""
        if self.timeout:
            return int(self.timeout)
        return READ_TIMEOUT if cmd[1:2] and cmd[1] in READ_SUBCOMMANDS else CHANGE_TIMEOUT

    def change(self, *args, **kwargs):
        """Run a command that changes the host and must succeed; returns its stdout, or None in check mode (where
        nothing runs). A non-zero exit fails the module: msg (default "<command> <first argument> failed"), the exit
        status, and any other keyword arguments in the result.
        """
        msg = kwargs.pop('msg', None) or '%s %s failed' % (self.command, args[0] if args else '')
        env = kwargs.pop('env', None)
        if self.module.check_mode:
            return None
        rc, out, err, cmd = self.run(*args, env=env, mutates=True)
        if rc != 0:
            self.fail('%s (exit %d)' % (msg, rc), rc, out, err, cmd, **kwargs)
        return out

    def mask(self, text):
        return mask_text(text, self.secrets)

    def fail(self, msg, rc, out, err, cmd, **extra):
        """Fail the module with the command's outcome, secrets and private keys masked."""
        self.module.fail_json(msg=self.mask(msg), rc=rc, stdout=self.mask(out), stderr=self.mask(err),
                              cmd=mask_argv(cmd, self.secrets), **extra)
