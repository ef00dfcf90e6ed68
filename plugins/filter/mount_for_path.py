# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that tell whether a path lives on a network file system."""

from __future__ import annotations

import posixpath

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mount_for_path
short_description: The mount that holds a path, and whether it is a network file system
version_added: 0.1.0
description:
  - Given the text of C(/proc/mounts), or the C(ansible_facts.mounts) list (any list of dicts with C(mount) and
    C(fstype)), and a path, returns the entry of the deepest mount point that contains the path, with an added
    C(network) boolean.
  - Prefer C(/proc/mounts), because the facts leave out some mounts, such as a container's overlay root.
  - The path need not exist yet; it is placed by its text, as a directory created later would be.
  - Network file systems are NFS, CIFS/SMB, and the other network or cluster file systems listed in the plugin,
    including FUSE mounts of them (C(fuse.sshfs), C(fuse.glusterfs)).
positional: path
options:
  _input:
    description: The text of C(/proc/mounts), or the mounts as in C(ansible_facts.mounts).
    type: raw
    required: true
  path:
    description: An absolute path.
    type: str
    required: true
author:
  - chefops maintainers (@chefops)
"""

EXAMPLES = r"""
- name: Refuse a data directory on a network file system
  ansible.builtin.assert:
    that: not (proc_mounts.stdout | chefops.chef_ha.mount_for_path('/var/opt/chef-backend')).network
"""

RETURN = r"""
_value:
  description: The mount entry (C(mount), C(fstype), C(device) when known) and C(network).
  type: dict
"""

NETWORK_FSTYPES = frozenset((
    "nfs", "nfs4", "nfsd", "cifs", "smb", "smb3", "smbfs", "afs", "ncpfs", "coda", "9p", "ceph", "glusterfs",
    "lustre", "gpfs", "beegfs", "ocfs2", "gfs", "gfs2", "davfs", "sshfs", "s3fs", "cephfs", "moosefs", "orangefs",
    "pvfs2", "quobyte", "wekafs", "virtiofs",
))


def is_network_fstype(fstype):
    """True for network file systems, also behind FUSE (fuse.sshfs) or with a version suffix."""
    name = (fstype or "").lower()
    if name.startswith("fuse."):
        name = name[len("fuse."):]
    return name in NETWORK_FSTYPES


def mount_for_path(mounts, path):
    """Return the mount entry of the deepest mount point that contains path, with 'network' added."""
    if isinstance(mounts, str):
        mounts = parse_proc_mounts(mounts)
    if not isinstance(path, str) or not path.startswith("/"):
        raise AnsibleFilterError("mount_for_path needs an absolute path, got %r" % (path,))
    if not isinstance(mounts, list):
        raise AnsibleFilterError("mount_for_path needs a list of mounts, got %s" % type(mounts).__name__)
    target = posixpath.normpath(path)
    best = None
    for entry in mounts:
        if not isinstance(entry, dict) or "mount" not in entry:
            continue
        point = posixpath.normpath(str(entry["mount"]))
        inside = target == point or point == "/" or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(posixpath.normpath(str(best["mount"])))):
            best = entry
    if best is None:
        raise AnsibleFilterError("no mount holds %s" % path)
    found = {key: best[key] for key in ("mount", "fstype", "device") if key in best}
    found["network"] = is_network_fstype(best.get("fstype"))
    return found


def parse_proc_mounts(text):
    """Turn /proc/mounts text into entries like ansible_facts.mounts (mount, fstype, device)."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        # /proc/mounts escapes spaces and tabs as octal
        point = fields[1].replace("\\040", " ").replace("\\011", "\t")
        entries.append({"device": fields[0], "mount": point, "fstype": fields[2]})
    return entries


class FilterModule:
    """Network file system filters."""

    def filters(self):
        return {"mount_for_path": mount_for_path}
