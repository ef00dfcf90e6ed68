# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # The attributes every module of the collection shares; each module documents check_mode and diff_mode itself.
    DOCUMENTATION = r"""
attributes:
  idempotent:
    description: Running the module again with the same arguments on an unchanged host reports no change.
    support: full
  platform:
    description: Target operating systems the module can run against.
    support: N/A
    platforms: posix
"""
