# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation stub of the clock_offset action plugin."""

from __future__ import annotations

DOCUMENTATION = r"""
module: clock_offset
short_description: Measure a host's clock offset against the controller
version_added: 0.1.0
description:
  - Reads the host's clock (C(date -u +%s.%N)) several times and compares each reading with the controller's clock
    taken just before and just after it. The reading with the shortest round trip wins.
  - The offset is known to within half that round trip, returned as RV(uncertainty).
  - Compare the offsets of several hosts to get the drift between them, as the preflight role does for the backends.
  - Runs as an action plugin on the controller; nothing on the host changes.
author:
  - chefops maintainers (@chefops)
options:
  samples:
    description: How many readings to take (1 to 20).
    type: int
    default: 3
attributes:
  check_mode:
    support: full
    description: Only reads the clock.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  platform:
    platforms: posix
    support: full
    description: Needs C(date) with C(%N) (GNU coreutils, busybox).
"""

EXAMPLES = r"""
- name: Measure each backend's clock offset
  chefops.chef_ha.clock_offset:
    samples: 5
  register: backend_clock
"""

RETURN = r"""
offset:
  description: Host clock minus controller clock, in seconds.
  returned: always
  type: float
  sample: 0.0123
uncertainty:
  description: Half the round trip of the reading used, in seconds.
  returned: always
  type: float
  sample: 0.004
"""
