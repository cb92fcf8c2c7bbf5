"""Script operations: Cloudify's script plugin (``script_runner.tasks.run``), built in.

``run(ctx, script_path=None, script_source=None, process=None, **inputs)`` is what the
engine calls for a script operation; see :mod:`cfy_local.engine.scripts.runner`.
"""
from __future__ import annotations

from typing import Any


def run(ctx: Any, script_path: str | None = None, script_source: str | None = None,
        process: dict | None = None, **kwargs: Any) -> Any:
    """Run one script operation with ``ctx``; return the value given to ``ctx returns``."""
    from cfy_local.engine.scripts.runner import run as _run
    return _run(ctx, script_path=script_path, script_source=script_source, process=process, **kwargs)


__all__ = ["run"]
