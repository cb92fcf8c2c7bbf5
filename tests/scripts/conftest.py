"""Fixtures for script-operation tests: a blueprint folder with real scripts, and a ctx."""
from __future__ import annotations

from pathlib import Path

import pytest

from ctxdouble import FakeCtx


@pytest.fixture
def blueprint(tmp_path) -> Path:
    """An empty blueprint folder; ``scripthelpers.write(blueprint, "scripts/x.sh", text)`` adds files."""
    path = tmp_path / "blueprint"
    (path / "scripts").mkdir(parents=True)
    return path


@pytest.fixture
def make_ctx(blueprint):
    def make(**kwargs) -> FakeCtx:
        return FakeCtx(str(blueprint), **kwargs)
    return make


@pytest.fixture(params=["native", "python"])
def ctx_client(request, monkeypatch):
    """Run a test with the compiled ``ctx`` client and again with the Python one."""
    from cfy_local.engine.scripts import native
    if request.param == "python":
        monkeypatch.setenv("CFY_LOCAL_CTX_CLIENT", "python")
    elif native.native_ctx_client() is None:
        pytest.skip("no C compiler here: only the Python ctx client is available")
    return request.param
