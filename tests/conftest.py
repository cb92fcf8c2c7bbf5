"""Shared fixtures: a fresh state dir per test, the CLI in-process and as a real process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty state directory, also exported as $CFY_LOCAL_HOME for child processes."""
    path = tmp_path / "home"
    monkeypatch.setenv("CFY_LOCAL_HOME", str(path))
    monkeypatch.delenv("CFY_LOCAL_FAKE_NOW", raising=False)
    return path


@pytest.fixture
def store(home):
    """The state directory of ``home``, opened (created) as the core opens it."""
    from cfy_local.store.paths import Home

    return Home.open(str(home))


class CfyResult:
    def __init__(self, code: int, out: str, err: str):
        self.exit_code, self.stdout, self.stderr = code, out, err

    @property
    def json(self):
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        return f"<CfyResult exit={self.exit_code} stdout={self.stdout[-2000:]!r} stderr={self.stderr[-2000:]!r}>"


@pytest.fixture
def cfy(home):
    """Run ``cfy`` in-process (click's CliRunner isolation): ``cfy("blueprints", "list")``."""
    from cfy_local.cli import main

    def run(*args: str, input: str | None = None) -> CfyResult:
        runner = CliRunner()
        with runner.isolation(input=input) as streams:
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            sys.stdout.flush()  # render.echo writes without flushing
            sys.stderr.flush()
            out = streams[0].getvalue().decode("utf-8", "replace")
            err = streams[1].getvalue().decode("utf-8", "replace")
        return CfyResult(code, out, err)

    return run


@pytest.fixture
def cfy_proc(home):
    """Run ``cfy`` as a real subprocess (the installed console script's code)."""

    def run(*args: str, timeout: float = 120, env: dict | None = None, input: str | None = None) -> CfyResult:
        full_env = dict(os.environ)
        full_env["CFY_LOCAL_HOME"] = str(home)
        if env:
            full_env.update(env)
        proc = subprocess.run([sys.executable, "-m", "cfy_local", *args], capture_output=True, text=True,
                              timeout=timeout, env=full_env, input=input)
        return CfyResult(proc.returncode, proc.stdout, proc.stderr)

    return run



@pytest.fixture(autouse=True, scope="session")
def in_process_rest_client():
    """Tests that run workflows in this process get what a worker process wires in: the
    in-process REST client behind ``get_rest_client()`` (cfy_local/worker_process.py)."""
    from cfy_local.plugins import rest_client

    rest_client.install()
