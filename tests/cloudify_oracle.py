"""Cloudify's own code as a test oracle, in a throw-away virtualenv this module creates.

``oracle_venv()`` returns the folder of a venv holding ``cloudify==7.0.5`` (the real CLI),
``cloudify-common[dispatcher]==7.0.5`` (the DSL parser, the local workflow engine and the REST
client) and ``wagon``, installed from the package registry on first use and cached under
``~/.cache/cfy-local/oracle-7.0.5`` (``$CFY_LOCAL_ORACLE_DIR`` overrides). cfy-local itself
never imports any of it: tests run the oracle's python as a separate process.

Creation is serialised by a lock file, so parallel pytest workers build it once; a half-built
venv (killed mid-install) is detected by its missing stamp and built again.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

VERSION = "7.0.5"
PACKAGES = [f"cloudify=={VERSION}", f"cloudify-common[dispatcher]=={VERSION}", "wagon>=1.0.3"]


def _oracle_dir() -> Path:
    override = os.environ.get("CFY_LOCAL_ORACLE_DIR")
    if override:
        return Path(override)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "cfy-local" / f"oracle-{VERSION}"


def oracle_venv() -> Path:
    """The oracle venv's folder, built on first use. Fails the test (never skips silently)
    when it cannot be built, unless CFY_LOCAL_SKIP_ORACLE=1 asks to skip oracle tests."""
    if os.environ.get("CFY_LOCAL_SKIP_ORACLE") == "1":
        pytest.skip("CFY_LOCAL_SKIP_ORACLE=1: differential tests against Cloudify skipped")
    folder = _oracle_dir()
    stamp = folder / ".complete"
    if stamp.exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".oracle-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "-q",
               "--disable-pip-version-check"]
        done = subprocess.run(pip + PACKAGES, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.fail(f"could not build Cloudify's oracle venv: {done.stderr[-2000:]}")
        stamp.write_text("\n".join(PACKAGES) + "\n")
    return folder


def oracle_python() -> str:
    return str(oracle_venv() / "bin" / "python")


def oracle_cfy() -> str:
    """The real Cloudify CLI (``cfy`` 7.0.5)."""
    return str(oracle_venv() / "bin" / "cfy")


def run_oracle(script: str, *args: str, timeout: float = 300, cwd: str | None = None,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a Python snippet with the oracle's interpreter (``-c script args...``)."""
    return subprocess.run([oracle_python(), "-c", script, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)
