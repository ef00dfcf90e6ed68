# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helper of chefops.chef_ha: which processes live, read from Linux /proc, so that a lock naming a run
(the run lock on the controller, a rollout's lease on the Chef server) can tell a live run from a dead one, and a
pid the kernel handed to another process since.

Not a public API: names may change between releases.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def read_proc(path):
    """The text of a /proc file, or None when it cannot be read (the process is gone)."""
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def process_stat(pid):
    """(parent pid, start time in clock ticks since boot) of a live process, or None when there is no such process
    or it has finished and waits to be reaped."""
    text = read_proc('/proc/%d/stat' % pid)
    if text is None:
        return None
    fields = text.rsplit(')', 1)[-1].split()
    if fields[0] == 'Z':
        return None
    return int(fields[1]), fields[19]


def boot_id():
    """This boot's id: start times in ticks compare only within one boot."""
    return (read_proc('/proc/sys/kernel/random/boot_id') or '').strip()
