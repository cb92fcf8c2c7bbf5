"""Script operations: Cloudify's script plugin (``script_runner.tasks.run``), built in.

``run(ctx, script_path=None, script_source=None, process=None, **inputs)`` is what the
engine calls for a script operation; see :mod:`cfy_local.engine.scripts.script_runner`.
"""
from __future__ import annotations

from cfy_local.engine.scripts.script_runner import run

__all__ = ["run"]
