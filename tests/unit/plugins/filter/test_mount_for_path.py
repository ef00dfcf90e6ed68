"""The data-directory check of the preflight role, on recorded mount tables."""
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.chefops.chef_ha.plugins.filter.mount_for_path import (
    FilterModule,
    is_network_fstype,
    mount_for_path,
    parse_proc_mounts,
)

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "mounts")


def mounts(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return parse_proc_mounts(handle.read())


def test_data_dir_below_an_nfs_mount_is_network():
    found = mount_for_path(mounts("nfs_data.txt"), "/var/opt/chef-backend")
    assert found == {"device": "filer01:/export/chef", "mount": "/var/opt", "fstype": "nfs4", "network": True}


def test_data_dir_that_is_a_cifs_mount_point_is_network():
    found = mount_for_path(mounts("cifs_exact.txt"), "/var/opt/chef-backend")
    assert found["mount"] == "/var/opt/chef-backend"
    assert found["network"] is True


def test_local_disk_is_not_network_and_a_longer_sibling_name_does_not_match():
    table = mounts("local_ssd.txt")
    found = mount_for_path(table, "/var/opt/chef-backend/postgresql")
    assert found["mount"] == "/var/opt/chef-backend"
    assert found["fstype"] == "xfs"
    assert found["network"] is False
    # /var/opt/chef-backend-old must not be taken for a parent of /var/opt/chef-backend
    assert mount_for_path(table, "/var/opt/chef-backend")["mount"] == "/var/opt/chef-backend"
    assert mount_for_path(table, "/home/chef")["network"] is True


def test_fuse_network_mount_with_an_escaped_space():
    found = mount_for_path(mounts("sshfs_space.txt"), "/var/opt/chef backend/data")
    assert found["fstype"] == "fuse.sshfs"
    assert found["network"] is True
    assert mount_for_path(mounts("sshfs_space.txt"), "/var/opt/chef-backend")["network"] is False


@pytest.mark.parametrize("fstype,network", [
    ("nfs", True), ("NFS4", True), ("cifs", True), ("smb3", True), ("glusterfs", True), ("fuse.glusterfs", True),
    ("ceph", True), ("ext4", False), ("xfs", False), ("overlay", False), ("tmpfs", False), ("fuse.lxcfs", False),
    ("", False), (None, False),
])
def test_fstype_classification(fstype, network):
    assert is_network_fstype(fstype) is network


def test_ansible_facts_shape_is_accepted():
    facts = [{"mount": "/", "fstype": "ext4", "device": "/dev/sda1", "size_available": 1},
             {"mount": "/var", "fstype": "nfs", "device": "f:/v"}]
    assert mount_for_path(facts, "/var/opt/chef-backend")["network"] is True


@pytest.mark.parametrize("table,path", [
    ([{"mount": "/", "fstype": "ext4"}], "relative/path"),
    ([{"mount": "/", "fstype": "ext4"}], None),
    ("not a list", "/var"),
    ([{"mount": "/boot", "fstype": "ext4"}], "/var"),
])
def test_bad_input_is_a_clear_filter_error(table, path):
    with pytest.raises(AnsibleFilterError):
        mount_for_path(table, path)


def test_filter_is_registered():
    assert FilterModule().filters()["mount_for_path"] is mount_for_path


def test_proc_mounts_text_is_accepted_as_is():
    with open(os.path.join(FIXTURES, "nfs_data.txt"), encoding="utf-8") as handle:
        text = handle.read()
    assert mount_for_path(text, "/var/opt/chef-backend")["fstype"] == "nfs4"
