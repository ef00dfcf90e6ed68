"""Killed at every step: the crash harness (`make crash`).

For each scenario (tests/crash/scenarios.py): a clean run from the starting state counts K, the changed task results
(one per host and task); then for each kill point N of 1..K, or a sample: the starting state put back, a run
SIGKILLed right after its Nth changed result (tests/crash/callback/chefops_crash.py: the controller and its workers
die, no rescue, always or handler runs), the invariants checked, a re-run that must succeed, the invariants checked
again, and a third run that must report changed=0 on every host. One table at the end, then every failure with its
kill point and what broke. Every run's output is kept under .build/crash/<time>/.

Environment:
  CRASH_PLAYBOOKS  comma-separated scenario names (default: the cheap ones, rollout.yml and flip.yml); all for
                   every scenario (site.yml, upgrade_backends.yml, replace_backend.yml cost ~10 minutes a point,
                   restore.yml 3 to 4)
  CRASH_POINTS     all (default) or a number: that many kill points per scenario, drawn with CRASH_SEED
  CRASH_SEED       the seed of the draw (printed; random when unset)
  CRASH_LAB        fresh (default: each lab destroyed and created, and destroyed at the end) or reuse (the lab is
                   up already and stays up)
Exit status 0 when every point of every scenario passed.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from labstate import ROOT, molecule  # noqa: E402
from scenarios import LABS, SCENARIOS  # noqa: E402

CALLBACK_DIR = os.path.join(HERE, "callback")
RUN_TIMEOUT = 1800
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def fail_usage(message):
    sys.stderr.write("crash.py: %s\n" % message)
    sys.exit(2)


def options(environ):
    names = [n.strip() for n in environ.get("CRASH_PLAYBOOKS", "").split(",") if n.strip()]
    if names == ["all"]:
        names = list(SCENARIOS)
    elif not names:
        names = [name for name, scenario in SCENARIOS.items() if scenario["default"]]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        fail_usage("CRASH_PLAYBOOKS = %r names no scenario (%s); give some of %s, or all"
                   % (environ.get("CRASH_PLAYBOOKS"), ", ".join(unknown), ", ".join(SCENARIOS)))
    points = environ.get("CRASH_POINTS", "all").strip() or "all"
    if points != "all" and not (points.isdigit() and int(points) >= 1):
        fail_usage("CRASH_POINTS = %r is neither all nor a positive number; set all, or how many kill points to "
                   "draw per playbook, for example 3" % points)
    seed = environ.get("CRASH_SEED", "").strip()
    if seed and not seed.isdigit():
        fail_usage("CRASH_SEED = %r is not a number; unset it for a random draw, or give the seed printed by an "
                   "earlier run" % seed)
    lab = environ.get("CRASH_LAB", "fresh").strip() or "fresh"
    if lab not in ("fresh", "reuse"):
        fail_usage("CRASH_LAB = %r is neither fresh nor reuse" % lab)
    return names, points, int(seed) if seed else random.SystemRandom().randrange(10 ** 6), lab


def kill_points(k, points, rng):
    if points == "all" or int(points) >= k:
        return list(range(1, k + 1))
    return sorted(rng.sample(range(1, k + 1), int(points)))


def run_playbook(scenario, log, after=None, count_file=None):
    """One ansible-playbook run in a session of its own, output to log; returns (rc, output)."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="true",
               ANSIBLE_CALLBACK_PLUGINS=CALLBACK_DIR,
               ANSIBLE_CALLBACKS_ENABLED=",".join(filter(None, [os.environ.get("ANSIBLE_CALLBACKS_ENABLED"),
                                                                "chefops_crash"])),
               CHEFOPS_CRASH_LOG=log + ".changed.jsonl")
    for name in ("ANSIBLE_LOG_PATH", "CHEFOPS_CRASH_AFTER", "CHEFOPS_CRASH_COUNT_FILE"):
        env.pop(name, None)
    if after:
        env["CHEFOPS_CRASH_AFTER"] = str(after)
    if count_file:
        env["CHEFOPS_CRASH_COUNT_FILE"] = count_file
    lab = LABS[scenario["lab"]]
    cmd = ["ansible-playbook", "-i", os.path.join(ROOT, lab["inventory"]),
           os.path.join(ROOT, "playbooks", scenario["playbook"]), "-e", json.dumps(scenario["vars"])]
    with open(log, "w", encoding="utf-8") as out:
        out.write("# %s\n# CHEFOPS_CRASH_AFTER=%s\n" % (" ".join(cmd), after or ""))
        out.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this harness started
            rc = proc.wait()
            out.write("\n# crash.py: killed after %ds\n" % RUN_TIMEOUT)
    with open(log, encoding="utf-8") as handle:
        return rc, handle.read()


def recap_problems(output):
    rows = RECAP.findall(output)
    if not rows:
        return ["no PLAY RECAP in the third run"]
    return ["third run: %s changed=%s unreachable=%s failed=%s" % (host, changed, unreachable, failed)
            for host, unused_ok, changed, unreachable, failed in rows
            if (changed, unreachable, failed) != ("0", "0", "0")]


def changed_tasks(log):
    """host: task of each changed result a run logged (tests/crash/callback), for the failure report."""
    try:
        with open(log + ".changed.jsonl", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def tail(output, lines=6):
    return " | ".join(line.strip() for line in output.strip().splitlines()[-lines:])


def run_point(name, scenario, ctx, n, outdir):
    """One kill point: the problems found (empty when it passed)."""
    base = os.path.join(outdir, "%s.point-%03d" % (name, n))
    ctx["log"] = base + ".lab.log"
    scenario["restore"](ctx)
    rc, output = run_playbook(scenario, base + ".1-killed.log", after=n)
    where = changed_tasks(base + ".1-killed.log")
    at = "%s on %s" % (where[-1]["task"], where[-1]["host"]) if where else "?"
    problems = []
    if rc != -signal.SIGKILL:
        problems.append("the run was not killed (rc %s, %d changed results): %s" % (rc, len(where), tail(output)))
    problems += ["after the kill (at %s): %s" % (at, p) for p in scenario["after_kill"](ctx)]
    rc, output = run_playbook(scenario, base + ".2-rerun.log")
    if rc != 0:
        problems.append("the re-run after a kill at %s failed (rc %s): %s" % (at, rc, tail(output)))
    problems += ["after the re-run (kill at %s): %s" % (at, p) for p in scenario["final"](ctx)]
    if scenario["idempotent"] is True:
        rc, output = run_playbook(scenario, base + ".3-third.log")
        if rc != 0:
            problems.append("the third run failed (rc %s): %s" % (rc, tail(output)))
        else:
            problems += ["kill at %s, %s" % (at, p) for p in recap_problems(output)]
    return problems


def main():
    names, points, seed, lab_mode = options(os.environ)
    rng = random.Random(seed)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    outdir = os.path.join(ROOT, ".build", "crash", stamp)
    os.makedirs(outdir, exist_ok=True)
    print("crash: scenarios %s, points %s, CRASH_SEED=%d (set it to draw the same points again); output in %s"
          % (", ".join(names), points, seed, os.path.relpath(outdir, ROOT)), flush=True)
    rows, failures = [], []
    by_lab = {}
    for name in names:
        by_lab.setdefault(SCENARIOS[name]["lab"], []).append(name)
    for lab_name, lab_scenarios in by_lab.items():
        lab = LABS[lab_name]
        lab_log = os.path.join(outdir, "lab-%s.log" % lab_name)
        try:
            if lab_mode == "fresh":
                print("crash: lab %s up (molecule %s)" % (lab_name, ", ".join(["destroy"] + lab["up"])), flush=True)
                molecule(lab["molecule"], "destroy", *lab["up"], log=lab_log)
            for name in lab_scenarios:
                rows.append(run_scenario(name, SCENARIOS[name], points, rng, outdir, failures))
        finally:
            if lab_mode == "fresh":
                molecule(lab["molecule"], "destroy", log=lab_log)
    print("\n%-22s %4s %7s %7s %9s %9s" % ("playbook", "K", "points", "passes", "time", "per point"))
    for row in rows:
        print("%-22s %4s %7s %7s %8ds %8ds" % row)
    if failures:
        print("\nfailures:")
        for name, n, problem in failures:
            print("  %s kill point %s: %s" % (name, n, problem))
    print("\nCRASH_SEED=%d; every run's output in %s" % (seed, os.path.relpath(outdir, ROOT)))
    return 1 if failures or any(row[3] != row[2] for row in rows) else 0


def run_scenario(name, scenario, points, rng, outdir, failures):
    start = time.time()
    ctx = {"log": os.path.join(outdir, "%s.setup.log" % name)}
    count_file = os.path.join(outdir, "%s.k" % name)
    try:
        scenario["setup"](ctx)
        scenario["restore"](ctx)
        rc, output = run_playbook(scenario, os.path.join(outdir, "%s.0-clean.log" % name), count_file=count_file)
        if rc != 0:
            raise RuntimeError("the clean run failed (rc %s): %s" % (rc, tail(output)))
        problems = scenario["final"](ctx)
        if problems:
            raise RuntimeError("the invariants fail after a clean run: %s" % "; ".join(problems))
        with open(count_file, encoding="utf-8") as handle:
            k = int(handle.read())
    except Exception as exc:  # pylint: disable=broad-except
        failures.append((name, "-", "no kill point tried: %s" % exc))
        print("crash: %s: %s" % (name, exc), flush=True)
        return (name, "?", 0, 0, time.time() - start, 0)
    chosen = kill_points(k, points, rng)
    print("crash: %s: K=%d, kill points %s" % (name, k, chosen), flush=True)
    passes, point_time = 0, 0.0
    for n in chosen:
        began = time.time()
        try:
            problems = run_point(name, scenario, ctx, n, outdir)
        except Exception as exc:  # pylint: disable=broad-except
            problems = ["the harness failed: %s" % exc]
        passes += not problems
        point_time += time.time() - began
        failures.extend((name, n, problem) for problem in problems)
        verdict = "FAIL: " + "; ".join(problems)[:400] if problems else "pass"
        print("crash: %s point %d/%d: %s (%ds)" % (name, n, k, verdict, time.time() - began), flush=True)
    spent = time.time() - start
    return (name, k, len(chosen), passes, spent, point_time / max(len(chosen), 1))


if __name__ == "__main__":
    sys.exit(main())
