# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: measure a host's clock offset against the controller."""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


def offset_from_samples(samples):
    """Pick the sample with the shortest round trip; return (offset, uncertainty) in seconds.

    Each sample is (controller_before, remote_time, controller_after). The remote clock was read somewhere
    between before and after, so the offset is remote - midpoint, known to within half the round trip.
    """
    if not samples:
        raise ValueError("no clock samples")
    before, remote, after = min(samples, key=lambda s: s[2] - s[0])
    midpoint = (before + after) / 2.0
    return remote - midpoint, (after - before) / 2.0


class ActionModule(ActionBase):
    """Read the remote clock a few times and compare it with the controller's."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("samples",))
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        count = int(self._task.args.get("samples", 3))
        if count < 1 or count > 20:
            raise AnsibleActionFail("samples must be between 1 and 20, got %s" % count)
        samples = []
        for dummy in range(count):
            before = time.time()
            res = self._low_level_execute_command("date -u +%s.%N", sudoable=False)
            after = time.time()
            if res.get("rc") != 0:
                raise AnsibleActionFail("could not read the clock: %s" % res.get("stderr", "").strip())
            try:
                remote = float(res.get("stdout", "").strip())
            except ValueError:
                raise AnsibleActionFail("unexpected output of date: %r" % res.get("stdout"))
            samples.append((before, remote, after))
        offset, uncertainty = offset_from_samples(samples)
        result.update(changed=False, offset=round(offset, 4), uncertainty=round(uncertainty, 4))
        return result
