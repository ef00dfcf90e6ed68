"""Playbooks run the way AWX launches a job: ansible-runner with a private data directory, an inventory, extra
variables written as AWX writes them (every survey answer a string, marked !unsafe) and no terminal, from the
collection's ready AWX project (awx/project: one playbook per job template, importing the collection's by FQCN)."""
import os

import ansible_runner
import pytest
import yaml

import labtest
from conftest import ROOT

PROJECT = os.path.join(ROOT, "awx", "project")
# Variables AWX adds to every job; they must change nothing.
AWX_VARS = """\
awx_job_id: 4242
awx_job_launch_type: manual
awx_job_template_id: 7
awx_job_template_name: chef-ha site
awx_project_revision: 0123456789abcdef
awx_user_name: admin
tower_job_id: 4242
tower_user_name: admin
"""


def run_job(tmp_path, playbook, survey_answers):
    """Run one playbook as an AWX job; returns (runner, the playbook_on_stats event data, all stdout)."""
    data = tmp_path / ("job-" + playbook.replace(".yml", ""))
    (data / "env").mkdir(parents=True)
    (data / "inventory").mkdir()
    # AWX: extra variables in env/extravars, each survey answer a string tagged !unsafe
    (data / "env" / "extravars").write_text(AWX_VARS + "".join(
        "%s: !unsafe '%s'\n" % (name, value.replace("'", "''")) for name, value in survey_answers.items()))
    (data / "env" / "envvars").write_text(yaml.safe_dump({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "collections"), "CHEFOPS_LAB_ROOT": ROOT,
        "ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_LOG_PATH": ""}))
    # AWX hands the inventory over as one file with the group and host variables in it
    with open(os.path.join(ROOT, "lab", "inventory.yml"), encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    with open(os.path.join(ROOT, "lab", "group_vars", "all.yml"), encoding="utf-8") as handle:
        inventory["all"]["vars"].update(yaml.safe_load(handle))
    for name in os.listdir(os.path.join(ROOT, "lab", "host_vars")):
        with open(os.path.join(ROOT, "lab", "host_vars", name), encoding="utf-8") as handle:
            host_vars = yaml.safe_load(handle)
        for group in inventory["all"]["children"].values():
            if name[:-len(".yml")] in group.get("hosts", {}):
                group["hosts"][name[:-len(".yml")]] = host_vars
    (data / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    # the project is the collection's ready one (awx/project): its playbook imports the collection's by FQCN
    runner = ansible_runner.run(private_data_dir=str(data), project_dir=PROJECT, playbook=playbook,
                                inventory=str(data / "inventory" / "hosts.yml"), quiet=True, timeout=1200)
    stats = [event for event in runner.events if event["event"] == "playbook_on_stats"]
    stdout = runner.stdout.read()
    labtest.keep_run(["awx-job", "awx/project/" + playbook], stdout)
    assert stats, stdout[-3000:]
    return runner, stats[-1]["event_data"], stdout


def test_site_on_the_converged_lab_succeeds_and_changes_nothing(tmp_path):
    runner, stats, stdout = run_job(tmp_path, "site.yml", {
        "chef_ha_backend_group": "chef_backends", "chef_ha_frontend_group": "chef_frontends",
        "chef_ha_node_group": "chef_nodes", "chef_ha_load_balancer_group": "chef_load_balancers",
        "chef_ha_firewall": "true"})
    assert (runner.status, runner.rc) == ("successful", 0), stdout[-3000:]
    assert stats["failures"] == {} and stats["dark"] == {}
    assert stats["changed"] == {}, stats["changed"]
    assert set(stats["ok"]) >= {"be1", "be2", "be3", "fe1", "fe2", "lb", "node1", "localhost"}
    assert "The cluster is healthy." in stdout


def test_backend_network_with_nothing_to_change(tmp_path):
    runner, stats, stdout = run_job(tmp_path, "backend_network.yml", {
        "chef_ha_backend_group": "chef_backends", "chef_ha_frontend_group": "chef_frontends"})
    assert (runner.status, runner.rc) == ("successful", 0), stdout[-3000:]
    assert stats["failures"] == {} and stats["changed"] == {}


def test_chef_run_with_string_answers_runs_the_custom_run_list(tmp_path):
    before = len(labtest.chef_client_runs("node1"))
    runner, stats, stdout = run_job(tmp_path, "chef_run.yml", {
        "chef_run_hosts": "chef_nodes", "chef_run_batch": "50%", "chef_run_max_fail_percentage": "0",
        "chef_run_run_list": "recipe[app::deploy]", "chef_run_force": "false", "chef_run_timeout": "300"})
    assert (runner.status, runner.rc) == ("successful", 0), stdout[-3000:]
    assert stats["failures"] == {} and stats["changed"] == {"node1": 1}
    runs = labtest.chef_client_runs("node1")[before:]
    assert len(runs) == 1 and runs[0]["argv"][-2:] == ["-o", "recipe[app::deploy]"]


@pytest.mark.parametrize("answer", ["{{ lookup('pipe', 'id') }}", "{% raw %}x{% endraw %}"])
def test_a_survey_answer_with_jinja_is_never_evaluated(tmp_path, answer):
    before = len(labtest.chef_client_runs("node1"))
    runner, stats, stdout = run_job(tmp_path, "chef_run.yml", {"chef_run_run_list": answer})
    # the agent refuses the literal text (not an allowed run list); nothing ran and nothing was evaluated
    assert runner.status == "failed" and runner.rc != 0
    assert stats["failures"] == {"node1": 1}
    assert answer in stdout
    assert "uid=" not in stdout
    assert len(labtest.chef_client_runs("node1")) == before
