"""Fixtures of the plugin unit tests."""

import os

import pytest

from ansible.module_utils import basic

from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_server_ctl
from ansible_collections.chefops.chef_ha.tests.unit.plugins.chef_ha_replay import DROP_NAME, module_runner


@pytest.fixture
def run_module(monkeypatch, capsys):
    """run_module(module, args, calls, check_mode=False, diff=False) -> ModuleRun; every recorded call must be used."""
    return module_runner(monkeypatch, capsys)


@pytest.fixture
def warnings(monkeypatch):
    """Warnings the module gives (they reach the result only when no controller code is loaded in the process)."""
    seen = []
    original = basic.AnsibleModule.warn

    def warn(self, warning, *args, **kwargs):
        seen.append(warning)
        return original(self, warning, *args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'warn', warn)
    return seen


@pytest.fixture
def keydir(tmp_path, monkeypatch):
    """A key's directory; the private drop directory in it gets the fixed DROP_NAME so that argv can be recorded."""
    directory = tmp_path / 'keys'
    directory.mkdir()

    def mkdtemp(prefix='tmp', dir=None):
        path = os.path.join(dir, DROP_NAME)
        os.mkdir(path, 0o755)  # wider than needed: the module must narrow it before the ctl writes
        return path

    monkeypatch.setattr(_chef_server_ctl.tempfile, 'mkdtemp', mkdtemp)
    return directory
