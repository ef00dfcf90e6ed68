"""A failover: the leader's leaderl and PostgreSQL stop, a follower takes over, the frontends keep answering, and
site.yml brings the old leader back as a follower by starting what is down, reconfiguring nothing."""
import re
import time

from conftest import BACKENDS, FRONTENDS, backend_info, lab_host, leaders, recap, run_playbook, subcommand_calls


def test_failover_then_site_brings_the_old_leader_back_as_a_follower():
    (old,) = leaders()
    lab_host(old).check_output("chef-backend-ctl stop leaderl && chef-backend-ctl stop postgresql")
    deadline = time.time() + 120
    while time.time() < deadline and not [name for name in leaders() if name != old]:
        time.sleep(2)
    (new,) = leaders()
    assert new != old
    # every member reads the same new leader
    info = backend_info()
    for name in BACKENDS:
        if name != old:
            assert info[name]["leader"]["ip"] == BACKENDS[new], (name, info[name]["leader"])
    # the frontends answer again, through the new leader
    deadline = time.time() + 120
    answers = {}
    while time.time() < deadline:
        answers = {name: lab_host("lb").run("curl -sk https://%s/_status" % address).stdout
                   for name, address in FRONTENDS.items()}
        if all('"status": "pong"' in answer for answer in answers.values()):
            break
        time.sleep(3)
    assert all('"status": "pong"' in answer for answer in answers.values()), answers

    reconfigures = {name: len(subcommand_calls(name, "chef-backend-ctl", "reconfigure")) for name in BACKENDS}
    reconfigures.update({name: len(subcommand_calls(name, "chef-server-ctl", "reconfigure")) for name in FRONTENDS})
    result = run_playbook("site.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    # the start of the stopped services is the only change of the run
    changed = recap(result.stdout)
    assert changed[old] == 1, changed
    assert {host: count for host, count in changed.items() if host != old} == \
        {host: 0 for host in changed if host != old}
    assert re.search(r"TASK \[chefops\.chef_ha\.backend : Start the chef-backend services that are down.*?\n"
                     r"(ok: \[\S+\]\n)*changed: \[%s\]" % old, result.stdout, re.S)
    after = {name: len(subcommand_calls(name, "chef-backend-ctl", "reconfigure")) for name in BACKENDS}
    after.update({name: len(subcommand_calls(name, "chef-server-ctl", "reconfigure")) for name in FRONTENDS})
    assert after == reconfigures
    # the old leader serves again, as a follower of the new one
    info = backend_info()
    assert all(info[name]["healthy"] for name in BACKENDS), {name: info[name]["problems"] for name in BACKENDS}
    roles = {member["ip"]: member["role"] for member in info[new]["members"]}
    assert roles[BACKENDS[old]] == "follower" and roles[BACKENDS[new]] == "leader"
