from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "schedules"))

from cfy_local.store.paths import Home  # noqa: E402
# Test modules elsewhere do `from conftest import wait_for`; whichever conftest pytest
# imported last answers, so every conftest re-exports it.
from conftest_helpers import wait_for  # noqa: E402,F401


@pytest.fixture
def store(home) -> Home:
    return Home.open(str(home))
