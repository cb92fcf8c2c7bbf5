"""Helpers shared by the schedules, scheduler and maintenance tests (real files only)."""
from __future__ import annotations

import os
from datetime import datetime, timezone

from cfy_local.store.paths import Home
from cfy_local.store.versioned import save_record

UTC = timezone.utc
# Declared workflow parameters the tests pass (undeclared ones are refused, as on a manager).
PARAMETERS = {"backup": {name: {"default": 0} for name in ("k", "a", "x")}, "install": {"p": {"default": 0}}}
BUILTIN = ("install", "uninstall", "start", "stop", "restart", "heal", "scale", "execute_operation")


def at(text: str) -> datetime:
    """'2026-03-05 09:00[:SS]' as an aware UTC datetime."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def make_deployment(home_path, deployment_id: str = "dep1", workflows=BUILTIN + ("backup",),
                    default_schedules: dict | None = None) -> dict:
    """Write a deployment record in the documented format (docs/state.md)."""
    home = Home.open(str(home_path))
    record = {
        "id": deployment_id, "blueprint_id": "bp", "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z", "description": None, "inputs": {},
        "workflows": {name: {"mapping": f"default_workflows.cloudify.plugins.workflows.{name}",
                             "plugin": "default_workflows", "operation": f"cloudify.plugins.workflows.{name}",
                             "parameters": dict(PARAMETERS.get(name, {}))} for name in workflows},
        "outputs": {}, "capabilities": {}, "plugins": {}, "groups": {}, "policies": {}, "scaling_groups": {},
        "default_schedules": default_schedules or {},
        "resources_dir": os.path.join(str(home_path), "blueprints", "bp", "resources"),
        "main_file_name": "blueprint.yaml",
    }
    save_record(home.deployment_file(deployment_id), record)
    return record


def record_fire(home: Home, schedule: dict) -> dict:
    """A stand-in for the executions API's start while it is not installed: writes a real
    pending execution record, as start(queue=True) would for an idle deployment."""
    from cfy_local.executions import records

    record = records.new_record(workflow_id=schedule["workflow_id"], deployment_id=schedule["deployment_id"],
                                blueprint_id="bp", parameters=schedule.get("parameters") or {},
                                schedule_id=schedule["id"])
    records.save(home, record)
    return record
