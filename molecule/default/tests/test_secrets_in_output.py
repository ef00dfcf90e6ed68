"""No secret value in the Ansible output of the main scenario's runs (molecule writes it to .build/logs)."""
import json
import os

from conftest import ROOT, lab_host, leaf_strings


@__import__("pytest").fixture(scope="session")
def backend_secrets():
    return json.loads(lab_host("be1").file("/etc/chef-backend/chef-backend-secrets.json").content_string)


def test_no_secret_value_appears_in_the_ansible_output(backend_secrets):
    log_path = os.path.join(ROOT, ".build", "logs", "default.log")
    with open(log_path, encoding="utf-8") as handle:
        output = handle.read()
    assert "PLAY RECAP" in output
    values = [value for value in leaf_strings(backend_secrets) if len(value) >= 8]
    assert len(values) >= 4
    for value in values:
        assert value not in output


def test_no_frontend_secret_in_the_ansible_output():
    secrets = json.loads(lab_host("fe1").file("/etc/opscode/private-chef-secrets.json").content_string)
    values = [v for v in leaf_strings(secrets) if len(v) >= 16]
    assert values
    pem = lab_host("fe1").file("/etc/opscode/pivotal.pem").content_string
    key_line = [line for line in pem.splitlines() if line and not line.startswith("-----")][1]
    with open("%s/.build/logs/default.log" % ROOT, encoding="utf-8") as handle:
        output = handle.read()
    for value in values + [key_line]:
        assert value not in output


def test_no_admin_password_in_the_ansible_output():
    with open("%s/.build/logs/default.log" % ROOT, encoding="utf-8") as handle:
        output = handle.read()
    assert "TASK [chefops.chef_ha.frontend : Create the first admin user]" in output
    assert "lab-admin-Pa55word" not in output
