"""Workflows of an uploaded plugin run in the plugin's environment, as the mgmtworker runs
them in the plugin's virtualenv.

A workflow drives the worker's task graph, so it cannot run in an operation host: instead
the worker of such an execution becomes a process of the plugin's interpreter before it
starts — the same process (``exec`` keeps the pid and start time the execution record
holds), with the plugin's ``site-packages`` first on ``sys.path`` and cfy-local's own code
and dependencies after them. The plugin's workflow code then imports its own dependencies,
not cfy-local's.
"""
from __future__ import annotations

import os
import site
import sys

import cfy_local
from cfy_local.deployments.records import load_deployment
from cfy_local.executions import records
from cfy_local.plugins import catalog
from cfy_local.store.paths import Home

# Set in the re-executed worker, so it never executes itself again.
INSIDE_ENV = "CFY_LOCAL_WORKFLOW_ENV"


def environment_for(home: Home, execution_id: str) -> str | None:
    """The environment of the uploaded plugin whose workflow the execution runs, or None
    (a built-in workflow, a plugin folder beside the blueprint, a system workflow)."""
    execution = records.load(home, execution_id)
    deployment_id = execution.get("deployment_id")
    if not deployment_id:
        return None
    deployment = load_deployment(home, deployment_id)
    declared = (deployment.get("workflows") or {}).get(execution.get("workflow_id")) or {}
    plugin_name = declared.get("plugin") or (declared.get("mapping") or "").partition(".")[0]
    plugin = (deployment.get("plugins") or {}).get(plugin_name) or {}
    if not plugin or plugin.get("source") or not plugin.get("package_name"):
        return None
    return catalog.environment_of(home, plugin["package_name"], plugin.get("package_version"))


def _cfy_local_paths() -> list[str]:
    """Where this interpreter finds cfy-local and its dependencies."""
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(cfy_local.__file__)))]
    user = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []
    for folder in site.getsitepackages() + user:
        if os.path.isdir(folder) and folder not in paths:
            paths.append(folder)
    return paths


_BOOT = ("import site, sys\n"
         "for folder in {paths!r}:\n"
         "    site.addsitedir(folder)\n"
         "import runpy\n"
         "runpy.run_module('cfy_local.worker_process', run_name='__main__', alter_sys=True)\n")


def become_worker_of(venv: str, argv: list[str]) -> None:
    """Replace this process with the worker running on ``venv``'s interpreter (no return),
    unless this already is that worker."""
    if os.environ.get(INSIDE_ENV) == venv:
        return
    python = catalog.env_python(venv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env[INSIDE_ENV] = venv
    env["VIRTUAL_ENV"] = venv
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(python, [python, "-c", _BOOT.format(paths=_cfy_local_paths()), *argv], env)
