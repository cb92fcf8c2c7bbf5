"""Settings from ``<home>/config.yaml`` with defaults. Core module (no click)."""
from __future__ import annotations

import os
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


@dataclass(frozen=True)
class Config:
    max_concurrent_workflows: int = DEFAULTS["max_concurrent_workflows"]
    scheduler_interval: int = DEFAULTS["scheduler_interval"]
    task_retries: int = DEFAULTS["task_retries"]
    task_retry_interval: int = DEFAULTS["task_retry_interval"]
    task_thread_pool_size: int = DEFAULTS["task_thread_pool_size"]
    wait_after_fail: int = DEFAULTS["wait_after_fail"]


def load_config(home) -> Config:
    """Read ``config.yaml``; a missing file means defaults; unknown keys are an error."""
    path = home.config_file
    if not os.path.exists(path):
        return Config()
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{path} must be a mapping of settings")
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValidationError(f"{path}: unknown setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    values = {}
    for key, value in data.items():
        lowest = -1 if key == "task_retries" else 0  # -1: retry forever, as in Cloudify
        if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
            qualifier = "an integer of -1 (retry forever) or more" if lowest < 0 else "a non-negative integer"
            raise ValidationError(f"{path}: setting `{key}` must be {qualifier}, got {value!r}")
        values[key] = value
    return Config(**values)


def default_config_text() -> str:
    lines = ["# cfy-local settings (defaults shown)."]
    for key, value in DEFAULTS.items():
        lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"
