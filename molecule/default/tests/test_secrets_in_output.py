"""No secret value of the lab in any Ansible output of the main scenario: the converge and check runs (molecule
writes them to .build/logs) here, every playbook run of the tests in labtest.run_playbook; and that scan catches a
secret a playbook prints."""
import os

import pytest

import labtest
from conftest import ROOT, run_playbook

LEAK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "leak_a_secret.yml")


def test_the_scan_knows_every_kind_of_secret_the_lab_holds():
    places = set(labtest.lab_secrets().values())
    assert {"be1:/etc/chef-backend/chef-backend-secrets.json", "fe1:/etc/opscode/private-chef-secrets.json",
            "fe1:/etc/opscode/pivotal.pem", "fe1:/etc/opscode/chefadmin.pem", "a lab variable",
            "controller:" + os.path.join(ROOT, ".build", "lab-tls", "lb.key")} <= places, places


def test_no_secret_value_appears_in_the_converge_log():
    labtest.assert_converge_log_clean("chefops.chef_ha.frontend : Create the first admin user")


def test_the_scan_catches_a_secret_a_playbook_prints():
    with pytest.raises(AssertionError, match="fe1:/etc/opscode/private-chef-secrets.json"):
        run_playbook(LEAK)
