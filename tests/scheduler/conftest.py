from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "schedules"))

from cfy_local.store.paths import Home  # noqa: E402


@pytest.fixture
def store(home) -> Home:
    return Home.open(str(home))
