"""`make demo` runs in a fresh temporary state dir whatever $CFY_LOCAL_HOME says, prints no
escape codes when piped, and installs only what it needs."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_demo_never_touches_the_users_state(tmp_path):
    if not (REPO / ".venv" / "bin" / "cfy").exists():
        pytest.skip("the demo runs the cfy of the repository's .venv")
    user_home = tmp_path / "my-state"
    user_home.mkdir()
    env = dict(os.environ, CFY_LOCAL_HOME=str(user_home))
    env.pop("NO_COLOR", None)
    for _ in range(2):  # a second run works too: each run has its own state dir
        out = subprocess.run(["bash", str(REPO / "examples" / "demo.sh")], capture_output=True, text=True, env=env,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        assert list(user_home.iterdir()) == []
        where = re.search(r"^State directory \(temporary, for this demo only\): (\S+)$", out.stdout, re.M).group(1)
        assert where != str(user_home) and "Finished executing workflow uninstall on deployment hello" in out.stdout
        assert "\x1b[" not in out.stdout + out.stderr
        shutil.rmtree(os.path.dirname(where), ignore_errors=True)


def test_demo_target_installs_without_the_test_extras(tmp_path):
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    planned = subprocess.run(["make", "-n", "demo"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    installs = [line for line in planned.splitlines() if "pip install" in line]
    assert installs and all("[test]" not in line for line in installs)
    assert all("PYTHONWARNINGS=ignore" in line for line in installs)
