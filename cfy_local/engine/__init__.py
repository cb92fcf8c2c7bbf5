"""The workflow engine: runs an execution's workflow in this process.

Light to import: the heavy parts (task graph, ctx, compat aliases) load when
``run_workflow`` is called, so CLI code may import this package freely.
"""
from __future__ import annotations

from typing import Any


class WorkflowFailed(Exception):
    """The workflow ended in failure. ``error`` holds the message and traceback text."""

    def __init__(self, error: str):
        super().__init__(error.splitlines()[0] if error else "workflow failed")
        self.error = error


class WorkflowCancelled(Exception):
    """The workflow stopped because the execution was cancelled."""


def run_workflow(home, execution: dict, *, events, cancel, task_retries=None,
                 task_retry_interval=None, thread_pool_size=None) -> Any:
    """Run ``execution``'s workflow to its end; see cfy_local.engine.runner.run_workflow."""
    from cfy_local.engine.runner import run_workflow as _run
    return _run(home, execution, events=events, cancel=cancel, task_retries=task_retries,
                task_retry_interval=task_retry_interval, thread_pool_size=thread_pool_size)


def progress(home, execution_id: str) -> tuple[int, int]:
    """(total, finished) operations of an execution, from its runs/<id>/graph.json."""
    from cfy_local.engine.graphstate import progress as _progress
    return _progress(home, execution_id)
