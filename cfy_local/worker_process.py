"""The detached worker process's entry point: ``python -m cfy_local.worker_process HOME ID``.

It wires in what the layers below cannot import themselves — the in-process REST client over
the core services (``plugins/rest_client.py``, loaded on the first call), which answers ``get_rest_client()`` in the
operations and workflows this worker runs — then runs the worker (``executions/worker.py``).
A run of an uploaded plugin's workflow first becomes a process of the plugin's interpreter
(``plugins/workflow_env.py``).
"""
from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

from cfy_local.engine import rest_api
from cfy_local.errors import CfyLocalError
from cfy_local.executions import worker
from cfy_local.plugins import workflow_env
from cfy_local.store.paths import Home

if TYPE_CHECKING:
    # The edge the lazy factory below makes, declared where the import checks see it.
    from cfy_local.plugins import rest_client  # noqa: F401

# The client is built on most of the core services (deployments, executions, the DSL
# plan), which a run that never calls get_rest_client() does not need: they load on the
# first call, not before the run's first task.
REST_CLIENT_MODULE = "cfy_local.plugins.rest_client"


def _rest_client(home):
    return importlib.import_module(REST_CLIENT_MODULE).LocalRestClient(home)


# What a run needs beyond this module, loaded ahead by a standby worker
# (``executions/spawn.py``) while the command that forked it decides admission.
PRELOADED_MODULES = ("cfy_local.engine.workflow_run",)


def preload() -> None:
    for name in PRELOADED_MODULES:
        importlib.import_module(name)


def main(argv: list[str]) -> int:
    try:
        venv = workflow_env.environment_for(Home(argv[0]), argv[1]) if len(argv) == 2 else None
    except CfyLocalError:
        venv = None  # the worker itself reports what is wrong with the execution
    if venv is not None:
        workflow_env.become_worker_of(venv, argv)
    rest_api.install_client_factory(_rest_client)
    return worker.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
