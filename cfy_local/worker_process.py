"""The detached worker process's entry point: ``python -m cfy_local.worker_process HOME ID``.

It wires in what the layers below cannot import themselves — the in-process REST client over
the core services (``plugins/rest_client.py``), which answers ``get_rest_client()`` in the
operations and workflows this worker runs — then runs the worker (``executions/worker.py``).
A run of an uploaded plugin's workflow first becomes a process of the plugin's interpreter
(``plugins/workflow_env.py``).
"""
from __future__ import annotations

import sys

from cfy_local.errors import CfyLocalError
from cfy_local.executions import worker
from cfy_local.plugins import rest_client, workflow_env
from cfy_local.store.paths import Home


def main(argv: list[str]) -> int:
    try:
        venv = workflow_env.environment_for(Home(argv[0]), argv[1]) if len(argv) == 2 else None
    except CfyLocalError:
        venv = None  # the worker itself reports what is wrong with the execution
    if venv is not None:
        workflow_env.become_worker_of(venv, argv)
    rest_client.install()
    return worker.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
