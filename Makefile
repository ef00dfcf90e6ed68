# The two commands of the README: `make lab` and `make test`. Both install what they need. `make bench` measures.
SHELL := /bin/bash
VENV  := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.build/collections
export MOLECULE_NO_LOG := false
export CHEFOPS_LAB_ROOT := $(CURDIR)

.PHONY: lab lab-down test check bench crash docs bootstrap lint sanity unit collection lab-standins lab-default lab-othernet lab-rollout

## Bring up the lab (3 backends, 2 frontends, a load balancer, a managed node, an outsider), run playbooks/site.yml
## on it, and say where its cluster stands and how to reach it.
lab: bootstrap
	molecule converge -s default
	scripts/lab-summary.sh

## Remove the lab's hosts and network.
lab-down:
	molecule destroy -s default

## Every test: lint, sanity, unit tests, the built collection, the stand-ins' tests on the lab, the main,
## other-network and allowlisted-rollout scenarios.
test:
	scripts/test.sh

## The quick loop while developing, no lab: lint, sanity, unit tests, the built collection (about 4 minutes).
check: bootstrap
	scripts/test.sh lint sanity unit collection

## The benchmark (not part of `make test`; about 45 minutes), one table at the end. Cases 1-3 on the docker lab
## (bench/lab_deploy.py: site.yml against bench/floor.sh, the no-op re-run and check mode, 4 frontends against 1);
## cases 4-5 on BENCH_AGENTS (200) Chef Waiter stand-ins on loopback (bench/chef_run_fleet.py: chef_run.yml at
## batch 100% and BENCH_BATCH (50), sliced, and the playbook before the change; rollout.yml in waves against goiardi).
bench: bootstrap
	$(VENV)/bin/python bench/lab_deploy.py; lab=$$?; $(VENV)/bin/python bench/chef_run_fleet.py; fleet=$$?; \
	exit $$(( lab || fleet ))

## Killed at every step (tests/crash/crash.py, not part of `make test`, which runs a sample): per playbook, K changed
## results counted in a clean run, then for each kill point a run SIGKILLed after that many, a re-run, the invariants
## and a third run that changes nothing; one table at the end. CRASH_PLAYBOOKS, CRASH_POINTS, CRASH_SEED, CRASH_LAB.
crash: bootstrap
	$(VENV)/bin/python tests/crash/crash.py

## The HTML documentation site (antsibull-docs, Sphinx) in .build/docs/build/html.
docs: bootstrap
	scripts/docs.sh

bootstrap:
	scripts/bootstrap.sh

lint: bootstrap
	scripts/test.sh lint
sanity: bootstrap
	scripts/test.sh sanity
unit: bootstrap
	scripts/test.sh unit
collection: bootstrap
	scripts/test.sh collection
lab-standins: bootstrap
	scripts/test.sh lab-standins
lab-default: bootstrap
	scripts/test.sh lab-default
lab-othernet: bootstrap
	scripts/test.sh lab-othernet

lab-rollout: bootstrap
	scripts/test.sh lab-rollout
