"""The restore drill's comparison of a restored server with its set's manifest."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.chefops.chef_ha.plugins.filter.manifest_differences import FilterModule, manifest_differences

MANIFEST = {"set": "20261204T020000Z", "users": ["chefadmin", "drill-before", "pivotal"], "organizations": ["chefops"]}


def test_the_same_objects_in_any_order_are_no_difference():
    held = {"users": ["pivotal", "drill-before", "chefadmin"], "organizations": ["chefops"], "version": "15.9.20"}
    assert manifest_differences(MANIFEST, held) == []


def test_missing_and_extra_objects_are_named_per_kind_and_direction():
    held = {"users": ["pivotal", "chefadmin", "drill-after", "zed"], "organizations": []}
    assert manifest_differences(MANIFEST, held) == [
        "users missing: drill-before", "users not in the backup: drill-after, zed", "organizations missing: chefops"]


def test_only_the_kinds_asked_for_are_compared():
    assert manifest_differences(MANIFEST, {"organizations": ["chefops"]}, ["organizations"]) == []


@pytest.mark.parametrize("manifest, held, message", [
    (None, {"users": [], "organizations": []}, "the manifest must be a dict of lists"),
    ({"organizations": []}, {"users": [], "organizations": []}, "the manifest has no users list"),
    (MANIFEST, {"users": "pivotal", "organizations": []}, r"the restored server\[users\] must be a list of names"),
])
def test_malformed_input_is_an_error(manifest, held, message):
    with pytest.raises(AnsibleFilterError, match=message):
        manifest_differences(manifest, held)


def test_registered():
    assert FilterModule().filters()["manifest_differences"] is manifest_differences
