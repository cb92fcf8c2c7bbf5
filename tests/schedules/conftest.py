from __future__ import annotations

import pytest

from schedule_support import make_deployment


@pytest.fixture
def dep(home) -> dict:
    return make_deployment(home, "dep1")


@pytest.fixture
def sched_cli(cfy):
    """``cfy deployments schedule <args>``."""
    return lambda *args, **kw: cfy("deployments", "schedule", *args, **kw)

