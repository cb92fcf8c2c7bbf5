"""Settings from ``<home>/config.yaml`` with defaults. Core module (no click).

The file is read and checked before a command changes anything (the CLI does it when it
opens the state directory), so a typo in a key is one clear line and not a failure deep
inside a worker. ``cfy status`` reports a broken file instead of failing on it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from cfy_local.errors import ValidationError

DEFAULTS: dict[str, Any] = {
    "max_concurrent_workflows": 20,
    "scheduler_interval": 60,
    "task_retries": 60,
    "task_retry_interval": 15,
    "task_thread_pool_size": 8,
    "wait_after_fail": 600,
}

# What each setting does: `cfy init` writes these as comments above each key.
DOCS: dict[str, str] = {
    "max_concurrent_workflows": "How many executions may run at once when the queue drains (Cloudify's default).",
    "scheduler_interval": "Seconds between two passes of `cfy scheduler run` (unless --interval is given).",
    "task_retries": ("How many times a failed operation is retried (-1: forever). Cloudify's default is 60; "
                     "0 makes a run fail at the first error. `executions start --task-retries N` overrides it."),
    "task_retry_interval": "Seconds between two attempts of a failed operation (--task-retry-interval overrides it).",
    "task_thread_pool_size": "How many operations of one execution run at the same time.",
    "wait_after_fail": ("When an operation fails for good, seconds to wait for the operations still running "
                        "before the run ends as failed (--wait-after-fail overrides it)."),
}
# Settings that may be negative: -1 retries means "retry forever", as in Cloudify.
MAY_BE_MINUS_ONE = frozenset({"task_retries"})

_SIMPLE_LINE = re.compile(r"^\s*(?:([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(-?\d+)\s*)?(?:#.*)?$")


@dataclass(frozen=True)
class Config:
    max_concurrent_workflows: int = DEFAULTS["max_concurrent_workflows"]
    scheduler_interval: int = DEFAULTS["scheduler_interval"]
    task_retries: int = DEFAULTS["task_retries"]
    task_retry_interval: int = DEFAULTS["task_retry_interval"]
    task_thread_pool_size: int = DEFAULTS["task_thread_pool_size"]
    wait_after_fail: int = DEFAULTS["wait_after_fail"]


def _parse(text: str, path: str) -> Any:
    """The file's mapping. A file of plain ``key: integer`` lines and comments (what
    ``cfy init`` writes) is read without loading a YAML parser; anything else is YAML."""
    simple: dict[str, int] = {}
    for line in text.splitlines():
        match = _SIMPLE_LINE.match(line)
        if match is None:
            break
        if match.group(1):
            if match.group(1) in simple:
                break  # a repeated key: let the YAML parser's rules decide
            simple[match.group(1)] = int(match.group(2))
    else:
        return simple
    import yaml  # only for a hand-written file: importing a YAML parser costs ~20 ms per command

    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError(f"{path} is not valid YAML{where}: {problem}") from None


def load_config(home) -> Config:
    """Read ``config.yaml``; a missing file means defaults; unknown keys are an error."""
    path = home.config_file
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path} cannot be read: {exc}") from None
    data = _parse(text, path)
    if not isinstance(data, dict):
        raise ValidationError(f"{path} must be a mapping of settings (key: value lines)")
    known = [f.name for f in fields(Config)]
    unknown = sorted(str(k) for k in set(data) - set(known))
    if unknown:
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"`{key}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
        raise ValidationError(f"{path}: unknown setting {', '.join(hints)}; known settings: {', '.join(known)}")
    values = {}
    for key, value in data.items():
        lowest = -1 if key in MAY_BE_MINUS_ONE else 0
        if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
            kind = "an integer of -1 or more" if lowest < 0 else "a non-negative integer"
            raise ValidationError(f"{path}: setting `{key}` must be {kind}, got `{value}`")
        values[key] = value
    return Config(**values)


def config_problem(home) -> str | None:
    """Why ``config.yaml`` cannot be used (one line), or None when it is fine or absent."""
    try:
        load_config(home)
    except ValidationError as exc:
        return str(exc)
    return None


def default_config_text() -> str:
    """The ``config.yaml`` that ``cfy init`` writes: every setting at its default, each
    with a comment saying what it does."""
    lines = ["# cfy-local settings. Every key is shown at its default; delete a line to use the default.",
             "# An unknown key or a value that is not an integer is refused before any command changes state.",
             ""]
    for key, value in DEFAULTS.items():
        lines.append(f"# {DOCS[key]}")
        lines.append(f"{key}: {value}")
        lines.append("")
    return "\n".join(lines)
