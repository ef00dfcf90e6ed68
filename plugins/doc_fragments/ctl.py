# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # The ctl_path option of the modules that run chef-backend-ctl (chefops.chef_ha.ctl.backend) or chef-server-ctl
    # (chefops.chef_ha.ctl.server), and the ctl_timeout option of every module that runs a ctl command (in those
    # two, and alone in chefops.chef_ha.ctl.timeout for modules that run either); the plain fragment has none.
    DOCUMENTATION = r"""
options: {}
"""

    BACKEND = r"""
options:
  ctl_path:
    description:
      - Path of C(chef-backend-ctl). By default it is searched in E(PATH) and C(/opt/chef-backend/bin).
    type: path
  ctl_timeout:
    description:
      - Seconds a ctl command may run before it is stopped (C(timeout) sends TERM to its process group, then KILL
        30 seconds later) and the module fails naming the command.
      - Unset, reads (C(status), C(cluster-status), C(gen-server-config), C(version), ...) may run 300 seconds and
        commands that change the host (C(reconfigure), C(join-cluster), C(upgrade), C(backup), ...) 3600 seconds.
    type: int
"""

    SERVER = r"""
options:
  ctl_path:
    description:
      - Path of C(chef-server-ctl). By default it is searched in E(PATH) and C(/opt/opscode/bin).
    type: path
  ctl_timeout:
    description:
      - Seconds a ctl command may run before it is stopped (C(timeout) sends TERM to its process group, then KILL
        30 seconds later) and the module fails naming the command.
      - Unset, reads (C(status), C(cluster-status), C(gen-server-config), C(version), ...) may run 300 seconds and
        commands that change the host (C(reconfigure), C(join-cluster), C(upgrade), C(backup), ...) 3600 seconds.
    type: int
"""

    TIMEOUT = r"""
options:
  ctl_timeout:
    description:
      - Seconds a ctl command may run before it is stopped (C(timeout) sends TERM to its process group, then KILL
        30 seconds later) and the module fails naming the command.
      - Unset, reads (C(status), C(cluster-status), C(gen-server-config), C(version), ...) may run 300 seconds and
        commands that change the host (C(reconfigure), C(join-cluster), C(upgrade), C(backup), ...) 3600 seconds.
    type: int
"""
