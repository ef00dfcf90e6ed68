# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # The ctl_path option of the modules that run chef-backend-ctl (chefops.chef_ha.ctl.backend) or chef-server-ctl
    # (chefops.chef_ha.ctl.server); the plain fragment has no options of its own.
    DOCUMENTATION = r"""
options: {}
"""

    BACKEND = r"""
options:
  ctl_path:
    description:
      - Path of C(chef-backend-ctl). By default it is searched in E(PATH) and C(/opt/chef-backend/bin).
    type: path
"""

    SERVER = r"""
options:
  ctl_path:
    description:
      - Path of C(chef-server-ctl). By default it is searched in E(PATH) and C(/opt/opscode/bin).
    type: path
"""
