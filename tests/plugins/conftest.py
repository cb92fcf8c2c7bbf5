"""Fixtures of the plugin tests: the engine's blueprint helpers, reused."""
from __future__ import annotations

import pytest

from engine.conftest import EngineEnv  # noqa: F401 - the same helpers the engine tests use
from cfy_local.store.paths import Home


@pytest.fixture
def env(tmp_path, home) -> EngineEnv:
    return EngineEnv(tmp_path, Home.open(str(home)))
