#!/usr/bin/env bash
# The whole test suite, stage by stage, with a timing summary at the end.
# Usage: scripts/test.sh [STAGE...]   (default: every stage; bootstrap always runs first)
# The stages run one after another: the lab stages are CPU-bound on a 2-core machine, so running the no-lab stages
# beside them saved no time (measured: 2928 s against 2965 s, the lab stages slower by what the others took).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
export ANSIBLE_FORCE_COLOR=false PY_COLORS=0 CHEFOPS_LAB_ROOT="$root"
# The lab scenarios run their test modules in an order drawn from this seed (molecule/shared/labtest.py): one seed for
# the whole run, printed with the summary; CHEFOPS_TEST_SEED=N replays a run's order.
export CHEFOPS_TEST_SEED=${CHEFOPS_TEST_SEED:-$(( (RANDOM << 15 | RANDOM) % 999999 + 1 ))}

all_stages=(lint sanity unit collection lab-standins lab-default lab-othernet lab-rollout crash-sample)
stages=("$@")
[ "${#stages[@]}" -gt 0 ] || stages=("${all_stages[@]}")

script_start=$(date +%s)
declare -a summary=() failures=()
failed=0
mkdir -p .build/logs

# Each stage's output is also kept in .build/logs/stage-<name>.log; a failed stage's error lines are repeated after
# the timing summary, so the end of the output (all a CI record may keep) says why.
run_stage() {
  local name=$1; shift
  local start end rc log=".build/logs/stage-$name.log"
  echo
  echo "==== stage: $name"
  start=$(date +%s)
  "$@" > >(tee "$log") 2>&1  # not a pipeline: a stage's function sets variables of this shell
  rc=$?
  end=$(date +%s)
  record_stage "$name" $rc $((end - start))
  return $rc
}
record_stage() {  # NAME RC SECONDS
  summary+=("$(printf '%-14s %-6s %5ss' "$1" "$([ "$2" -eq 0 ] && echo ok || echo FAIL)" "$3")")
  if [ "$2" -ne 0 ]; then
    failed=1
    failures+=("$1")
  fi
}

# ansible-lint skips changelogs/ (antsibull-changelog's files are not Ansible content): load every fragment as YAML
# here, in seconds, rather than in the sanity stage's changelog test minutes later
stage_lint() {
  ansible-lint || return
  python -c 'import sys, yaml; [yaml.safe_load(open(path)) for path in sys.argv[1:]]' changelogs/*.yaml changelogs/fragments/*.yml
}
stage_sanity() { scripts/sanity.sh; }
stage_unit() { python -m pytest -p no:cacheprovider -n 4 tests/unit; }
stage_collection() { scripts/collection-test.sh; }
stage_lab_standins() { rm -f .build/logs/standins.log; molecule test -s standins; }
stage_lab_default() { rm -f .build/logs/default.log; molecule test -s default; }
stage_lab_othernet() { rm -f .build/logs/othernet.log; molecule test -s othernet; }
# When crash-sample comes later in the same run, the rollout lab stays up for it (the harness puts the Chef server
# back to its own snapshot before every point, so the lab the rollout tests leave serves): one create and converge
# fewer. Alone, each stage brings up and removes its own lab.
rollout_lab_up=0
stage_lab_rollout() {
  local rc
  rm -f .build/logs/rollout.log
  if [ "$keep_rollout_lab" = 1 ]; then
    molecule destroy -s rollout >/dev/null && molecule test -s rollout --destroy never
    rc=$?
    if [ $rc -eq 0 ]; then rollout_lab_up=1; else molecule destroy -s rollout; fi
    return $rc
  fi
  molecule test -s rollout
}
# the crash harness on the cheap scenarios (rollout.yml, flip.yml: one rollout lab), three kill points each, drawn
# from a seed it prints (CRASH_SEED=... replays them); `make crash` tries every point
stage_crash_sample() {
  local rc lab=fresh
  [ "$rollout_lab_up" = 1 ] && lab=reuse
  CRASH_PLAYBOOKS=rollout.yml,flip.yml CRASH_POINTS=3 CRASH_LAB=$lab python tests/crash/crash.py
  rc=$?
  if [ "$lab" = reuse ]; then molecule destroy -s rollout; rollout_lab_up=0; fi
  return $rc
}

keep_rollout_lab=0
seen_rollout=0
for s in "${stages[@]}"; do
  [ "$s" = lab-rollout ] && seen_rollout=1
  [ "$s" = crash-sample ] && [ $seen_rollout = 1 ] && keep_rollout_lab=1
done

if ! run_stage bootstrap scripts/bootstrap.sh; then
  stages=()
fi
for s in "${stages[@]}"; do
  run_stage "$s" "stage_${s//-/_}"
done

echo
echo "==== timing summary"
printf '%s\n' "${summary[@]}"
printf '%-14s        %5ss\n' total "$(( $(date +%s) - script_start ))"
echo "lab test modules in the order drawn from seed $CHEFOPS_TEST_SEED (CHEFOPS_TEST_SEED=$CHEFOPS_TEST_SEED replays it)"
if [ ${#failures[@]} -gt 0 ]; then
  echo
  echo "==== why the failed stages failed (their last error lines)"
  for name in "${failures[@]}"; do
    echo "---- $name (its whole output: .build/logs/stage-$name.log)"
    grep -E 'FAILED|ERROR|Error|error:|fatal:|FAIL' ".build/logs/stage-$name.log" | tail -n 15
  done
fi
exit $failed
