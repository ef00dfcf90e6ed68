"""Fixtures of the plugin unit tests."""

import pytest

from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import module_runner


@pytest.fixture
def run_module(monkeypatch, capsys):
    """run_module(module, args, calls, check_mode=False, diff=False) -> ModuleRun; every recorded call must be used."""
    return module_runner(monkeypatch, capsys)
