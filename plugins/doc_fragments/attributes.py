# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # The attributes every module of the collection shares. Check mode is supported fully and diff mode not at all
    # unless a module says otherwise; each module gives check_mode the details of what it does in check mode.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and return a changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) in diff mode.
    support: none
  idempotent:
    description: Running the module again with the same arguments on an unchanged host reports no change.
    support: full
  platform:
    description: Target operating systems the module can run against.
    support: N/A
    platforms: posix
"""

    # Modules that only read: nothing to predict and no diff.
    INFO_MODULE = r"""
attributes:
  check_mode:
    details: Read-only; does the same in check mode.
"""

    # Modules that run their command on every call (the vendor cannot say whether it would change anything).
    EVERY_CALL = r"""
attributes:
  check_mode:
    details: Predicts a change and runs nothing.
  idempotent:
    support: none
    details: Every call runs the command and reports a change.
"""
