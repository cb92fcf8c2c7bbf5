"""Test plugins built once and cached: source folders written by the tests, and a wagon of
tests/plugins/resources/cfy-local-test-plugin built with the real ``wagon`` (the oracle venv's),
kept under ~/.cache/cfy-local/test-wagons keyed by a hash of the plugin's files."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

from cloudify_oracle import oracle_python

RESOURCES = Path(__file__).resolve().parent / "resources"
TEST_PLUGIN = RESOURCES / "cfy-local-test-plugin"


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "egg-info" not in str(path) and "/build/" not in str(path):
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def test_plugin_wagon() -> Path:
    """The wagon of the test plugin (cloudify-common 7.0.5 and its dependencies inside)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cfy-local" / "test-wagons"
    folder = cache / _digest(TEST_PLUGIN)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(folder.glob("*.wgn"))
        if found:
            return found[0]
        work = folder / "src"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(TEST_PLUGIN, work)
        done = subprocess.run([oracle_python(), "-m", "wagon", "create", str(work), "-t", "tar.gz", "-o", str(folder)],
                              capture_output=True, text=True, timeout=600, cwd=str(work))
        shutil.rmtree(work, ignore_errors=True)
        assert done.returncode == 0, done.stderr[-3000:]
        return sorted(folder.glob("*.wgn"))[0]


test_plugin_wagon.__test__ = False  # a helper, not a test


def source_plugin(root: Path, name: str, version: str, code: str, *, requires: list[str] | None = None,
                  module: str | None = None, yaml: str | None = None) -> tuple[Path, Path]:
    """A pip-installable plugin folder and its plugin.yaml."""
    module = module or name.replace("-", "_")
    folder = root / f"{name}-{version}"
    (folder / module).mkdir(parents=True, exist_ok=True)
    (folder / module / "__init__.py").write_text("")
    (folder / module / "tasks.py").write_text(textwrap.dedent(code))
    (folder / "setup.py").write_text(textwrap.dedent(f"""\
        from setuptools import setup
        setup(name={name!r}, version={version!r}, packages=[{module!r}], install_requires={requires or []!r})
        """))
    plugin_yaml = folder / "plugin.yaml"
    plugin_yaml.write_text(textwrap.dedent(yaml or f"""\
        plugins:
          {module}:
            executor: central_deployment_agent
            package_name: {name}
            package_version: '{version}'
        """))
    return folder, plugin_yaml
