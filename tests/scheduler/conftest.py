from __future__ import annotations

import pytest

from cfy_local.store.paths import Home


@pytest.fixture
def store(home) -> Home:
    return Home.open(str(home))
