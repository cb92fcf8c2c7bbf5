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

RESOURCES = Path(__file__).resolve().parent / "plugins" / "resources"
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


def deploy_with_plugin(cfy, root: Path, plugin: tuple[Path, Path], package_name: str, node_templates: str,
                       *, deployment: str = "dep") -> None:
    """Upload a plugin made by :func:`source_plugin` with ``cfy plugins upload``, then a
    blueprint importing it (``plugin:<package_name>``) with these node templates (YAML,
    unindented), and create the deployment."""
    folder, plugin_yaml = plugin
    uploaded = cfy("plugins", "upload", str(folder), "-y", str(plugin_yaml))
    assert uploaded.exit_code == 0, uploaded
    blueprint = root / "bp" / "blueprint.yaml"
    blueprint.parent.mkdir(parents=True, exist_ok=True)
    blueprint.write_text("tosca_definitions_version: cloudify_dsl_1_4\nimports:\n  - cloudify/types/types.yaml\n"
                         f"  - plugin:{package_name}\nnode_templates:\n"
                         + textwrap.indent(textwrap.dedent(node_templates), "  "))
    assert cfy("blueprints", "upload", str(blueprint), "-b", "bp").exit_code == 0
    assert cfy("deployments", "create", deployment, "-b", "bp").exit_code == 0


SDK_PLUGIN = RESOURCES / "sdk-test-plugin"
_CATALOG_CODE = Path(__file__).resolve().parents[1] / "cfy_local" / "plugins" / "catalog.py"


def sdk_plugin_home(target: Path) -> Path:
    """A state dir at ``target`` with the sdk test plugin uploaded (pip: cloudify-common and
    cloudify-utilities-plugins-sdk with their ~180 MB of dependencies). The upload is done
    once into ~/.cache/cfy-local/test-homes (keyed by the plugin's and the catalog's code) and
    hard-link copied for each run, since it takes tens of seconds."""
    import sys

    from cfy_local.plugins import catalog
    from cfy_local.store.paths import Home

    key = hashlib.sha256((_digest(SDK_PLUGIN) + _CATALOG_CODE.read_text()).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cfy-local" / "test-homes"
    cached = cache / f"sdk-{key}"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".sdk-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cached / ".complete").exists():
            shutil.rmtree(cached, ignore_errors=True)
            work = cache / f"src-{key}"
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(SDK_PLUGIN, work)
            home = Home.open(str(cached / "home"))
            catalog.upload_plugin(home, str(work), [str(work / "plugin.yaml")])
            shutil.rmtree(work, ignore_errors=True)
            (cached / ".complete").write_text(sys.version)
    shutil.copytree(cached / "home", target, symlinks=True, copy_function=os.link)
    return target
