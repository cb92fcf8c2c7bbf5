"""The detached worker process's entry point: ``python -m cfy_local.worker_process HOME ID``.

It wires in what the layers below cannot import themselves — the in-process REST client over
the core services (``plugins/rest_client.py``), which answers ``get_rest_client()`` in the
operations and workflows this worker runs — then runs the worker (``executions/worker.py``).
"""
from __future__ import annotations

import sys

from cfy_local.executions import worker
from cfy_local.plugins import rest_client


def main(argv: list[str]) -> int:
    rest_client.install()
    return worker.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
