"""The ready AWX project (awx/project) and the Chef API credential type of awx/configure.yml agree with the playbooks.

- One project playbook per playbook of the collection, of the same name, that only imports the collection's by its
  FQCN; nothing else in the project; its collections/requirements.yml names the collection.
- The credential type injects exactly the Chef API variables the rollout role's connection entry point declares, the key as a file (only its
  path a variable), its templates kept for AWX (never rendered by Ansible); it is attached to the templates of every
  playbook that signs Chef API requests, and of no other.
"""

import os
import re

import pytest
import yaml
from ansible.parsing.yaml.loader import AnsibleLoader

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROJECT = os.path.join(ROOT, "awx", "project")
PLAYBOOKS = os.path.join(ROOT, "playbooks")


def playbook_names():
    return sorted(name[:-len(".yml")] for name in os.listdir(PLAYBOOKS) if name.endswith(".yml"))


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def configure():
    with open(os.path.join(ROOT, "awx", "configure.yml"), encoding="utf-8") as handle:
        return AnsibleLoader(handle.read()).get_single_data()


def configure_task(name_start):
    return next(task for task in configure()[0]["tasks"] if task["name"].startswith(name_start))


def test_the_project_has_one_playbook_per_collection_playbook_and_nothing_else():
    files = sorted(name for name in os.listdir(PROJECT) if os.path.isfile(os.path.join(PROJECT, name)))
    assert files == sorted(["README.md"] + [name + ".yml" for name in playbook_names()])
    assert sorted(os.listdir(os.path.join(PROJECT, "collections"))) == ["requirements.yml"]


@pytest.mark.parametrize("name", playbook_names())
def test_a_project_playbook_only_imports_the_collections_playbook_of_its_name(name):
    plays = load(os.path.join(PROJECT, name + ".yml"))
    assert len(plays) == 1
    assert set(plays[0]) == {"name", "ansible.builtin.import_playbook"}, plays[0]
    assert plays[0]["ansible.builtin.import_playbook"] == "chefops.chef_ha." + name


def test_the_project_requirements_name_the_collection():
    requirements = load(os.path.join(PROJECT, "collections", "requirements.yml"))
    assert [entry["name"] for entry in requirements["collections"]] == ["chefops.chef_ha"]


def test_the_credential_type_injects_the_rollout_roles_chef_api_variables_and_the_key_as_a_file():
    task = configure_task("Credential type for the Chef API")["awx.awx.credential_type"]
    fields = {field["id"]: field for field in task["inputs"]["fields"]}
    assert sorted(task["inputs"]["required"]) == sorted(fields) == ["client_key", "client_name", "server_url"]
    assert fields["client_key"].get("secret") is True and fields["client_key"].get("multiline") is True
    injected = task["injectors"]["extra_vars"]
    # the rollout role's connection entry point: the Chef API client that rollout, flip and promote use
    options = load(os.path.join(ROOT, "roles", "rollout", "meta", "argument_specs.yml"))["argument_specs"][
        "connection"]["options"]
    assert set(injected) == {"chef_api_server_url", "chef_api_client_name", "chef_api_client_key"} <= set(options)
    # the key is a file; the variable holds its path, never the key itself
    assert task["injectors"]["file"] == {"template.client_key": "{{ client_key }}"}
    assert injected["chef_api_client_key"] == "{{ tower.filename.client_key }}"
    assert injected["chef_api_server_url"] == "{{ server_url }}"
    # AWX renders these templates: each is marked !unsafe so that Ansible leaves it as written
    with open(os.path.join(ROOT, "awx", "configure.yml"), encoding="utf-8") as handle:
        text = handle.read()
    injectors = text[text.index("        injectors:\n"):text.index("        state: present", text.index("injectors:"))]
    templated = [line for line in injectors.splitlines() if "{{" in line]
    assert len(templated) == 4 and all(": !unsafe " in line for line in templated), templated


def signs_chef_api_requests(name):
    with open(os.path.join(PLAYBOOKS, name + ".yml"), encoding="utf-8") as handle:
        text = handle.read()
    return "chef_api_" in text or re.search(r"\bchefops\.chef_ha\.rollout\b", text) is not None


def test_the_chef_api_credential_goes_to_every_playbook_that_signs_requests_and_no_other():
    listed = configure()[0]["vars"]["__awx_chef_api_playbooks"]
    assert sorted(listed) == [name for name in playbook_names() if signs_chef_api_requests(name)]
    assert listed  # rollout.yml, flip.yml, promote.yml at least
