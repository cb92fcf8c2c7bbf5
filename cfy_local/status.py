"""What ``cfy status`` reports: the state dir, the scheduler loop, maintenance mode,
how many blueprints and deployments there are (and how many deployments have a run
going), execution counts, schedules and any state file that cannot be read."""
from __future__ import annotations

import os
from typing import Any

from cfy_local import maintenance, scheduler
from cfy_local.errors import CfyLocalError
from cfy_local.executions import statuses, records as execution_records
from cfy_local.executions.api import reconcile
from cfy_local.plugins import catalog
from cfy_local.schedules import records as schedule_records
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record


def _corrupt_in(folder: str, kind: str, pattern_depth: int = 1) -> list[str]:
    """Record files directly in ``folder`` (or one level down) that do not load."""
    bad = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return bad
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False) and pattern_depth > 1:
            bad.extend(_corrupt_in(entry.path, kind, pattern_depth - 1))
        elif entry.name.endswith(".json"):
            try:
                load_record(entry.path, kind)
            except FileNotFoundError:
                continue
            except CfyLocalError:
                bad.append(entry.path)
    return bad


def _corrupt_named(paths: list[str], kind: str) -> list[str]:
    bad = []
    for path in paths:
        try:
            load_record(path, kind)
        except FileNotFoundError:
            continue
        except CfyLocalError:
            bad.append(path)
    return bad


def collect(home: Home) -> dict[str, Any]:
    reconcile(home)

    executions = execution_records.load_all(home)
    active = sum(1 for r in executions if statuses.is_active(r["status"]))
    queued = sum(1 for r in executions if r["status"] == statuses.Status.QUEUED.value)
    scheduled = sum(1 for r in executions if r["status"] == statuses.Status.SCHEDULED.value)

    corrupt: list[str] = []
    corrupt += _corrupt_in(home.executions_dir, "execution")
    schedules = schedule_records.load_all(home, corrupt=corrupt)
    deployment_files = []
    blueprint_files = []
    for folder, name, sink in ((home.deployments_dir, "deployment.json", deployment_files),
                               (home.blueprints_dir, "blueprint.json", blueprint_files)):
        try:
            with os.scandir(folder) as entries:
                sink.extend(os.path.join(e.path, name) for e in entries if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            pass
    bad_deployments = _corrupt_named(deployment_files, "deployment")
    bad_blueprints = _corrupt_named(blueprint_files, "blueprint")
    corrupt += bad_deployments + bad_blueprints
    deployment_ids = {os.path.basename(os.path.dirname(p)) for p in deployment_files
                      if os.path.isfile(p) and p not in bad_deployments}
    running_on = {r.get("deployment_id") for r in executions if statuses.is_active(r["status"])}
    corrupt += _corrupt_named([home.maintenance_file], "maintenance")
    try:
        maintenance_state = maintenance.state(home)
    except CfyLocalError:
        maintenance_state = {"status": "unknown (maintenance.json cannot be read)"}
    return {
        "home": home.root,
        "scheduler": scheduler.status(home),
        "maintenance": maintenance_state,
        "blueprints": {"total": sum(1 for p in blueprint_files if os.path.isfile(p) and p not in bad_blueprints)},
        "deployments": {"total": len(deployment_ids), "with_active_run": len(deployment_ids & running_on)},
        "plugins": {"total": _plugin_count(home)},
        "executions": {"total": len(executions), "active": active, "queued": queued, "scheduled": scheduled},
        "schedules": {"total": len(schedules), "enabled": sum(1 for s in schedules if s.get("enabled", True))},
        "corrupt_records": sorted(corrupt),
    }


def _plugin_count(home: Home) -> int | None:
    """Plugins in the catalog; None when the catalog cannot be read (said as unknown)."""
    try:
        return len(catalog.list_plugins(home))
    except CfyLocalError:
        return None
