from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import deployments_cli_available, make_deployment  # noqa: E402

from cfy_local.store.paths import Home  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scheduler"))
# Test modules elsewhere do `from conftest import wait_for`; whichever conftest pytest
# imported last answers, so every conftest re-exports it.
from conftest_helpers import wait_for  # noqa: E402,F401


@pytest.fixture
def store(home) -> Home:
    return Home.open(str(home))


@pytest.fixture
def dep(home) -> dict:
    return make_deployment(home, "dep1")


@pytest.fixture
def sched_cli(cfy, monkeypatch):
    """``cfy deployments schedule <args>``; while the deployments group is not installed the
    schedule group is mounted on the root under a private name."""
    if deployments_cli_available():
        return lambda *args, **kw: cfy("deployments", "schedule", *args, **kw)
    from cfy_local import cli as root

    monkeypatch.setitem(root.COMMANDS, "zz-schedule", ("cfy_local.cli.schedules:schedule", "test mount"))
    return lambda *args, **kw: cfy("zz-schedule", *args, **kw)
