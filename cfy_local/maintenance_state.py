"""Maintenance mode's state: ``deactivated`` / ``activating`` / ``activated``.

Stored as ``<home>/maintenance.json``; no file means ``deactivated``. ``activating``
becomes ``activated`` lazily, the first time anything looks at the state while no
execution is active or queued — so no daemon is needed. Read by execution admission, the
queue and deployment changes; the commands that change it (and drain the queue when it
ends) are in ``cfy_local.maintenance``.
"""
from __future__ import annotations

import os
from typing import Any

from cfy_local import clock
from cfy_local.errors import MaintenanceModeError
from cfy_local.executions import statuses, records
from cfy_local.store.atomic import read_json
from cfy_local.store.locks import STATE_LOCK, lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record, save_record
from cfy_local.timefmt import iso

DEACTIVATED = "deactivated"
ACTIVATING = "activating"
ACTIVATED = "activated"

REFUSAL = "Your request was rejected since Cloudify manager is currently in maintenance mode"


def read_record(home: Home) -> dict[str, Any] | None:
    """The stored record, or None when deactivated."""
    try:
        return load_record(home.maintenance_file, "maintenance")
    except FileNotFoundError:
        return None


def remaining_executions(home: Home) -> list[dict[str, Any]]:
    """Executions not in an end state (active, queued or scheduled), oldest first."""
    rows = [r for r in records.load_all(home) if not statuses.is_end(r["status"])]
    rows.sort(key=lambda r: r["created_at"])
    return rows


def settle(home: Home, record: dict[str, Any] | None) -> dict[str, Any] | None:
    """Promote ``activating`` to ``activated`` when nothing remains. Caller holds the lock."""
    if record and record["status"] == ACTIVATING and not remaining_executions(home):
        record = dict(record, status=ACTIVATED, activated_at=iso(clock.now()))
        save_record(home.maintenance_file, record)
    return record


def state(home: Home) -> dict[str, Any]:
    """The maintenance state as ``cfy maintenance-mode status`` shows it."""
    record = read_record(home)
    if record and record["status"] == ACTIVATING:
        with lock(home.root, STATE_LOCK):
            record = settle(home, read_record(home))
    if not record:
        return {"status": DEACTIVATED, "activated_at": None, "activation_requested_at": None,
                "requested_by": None, "remaining_executions": []}
    remaining = []
    if record["status"] == ACTIVATING:
        remaining = [{k: r.get(k) for k in ("id", "deployment_id", "workflow_id", "status")}
                     for r in remaining_executions(home)]
    return {"status": record["status"], "activated_at": record.get("activated_at"),
            "activation_requested_at": record.get("activation_requested_at"),
            "requested_by": record.get("requested_by"), "remaining_executions": remaining}


def current_status(home: Home, *, locked: bool = False) -> str:
    """``deactivated``/``activating``/``activated`` (settling ``activating`` if possible)."""
    if not os.path.exists(home.maintenance_file):
        return DEACTIVATED
    if locked:
        record = settle(home, read_record(home))
        return record["status"] if record else DEACTIVATED
    return state(home)["status"]


def record_exists(home: Home) -> bool:
    """Any maintenance record at all (activating or activated): the queue must not drain."""
    return os.path.exists(home.maintenance_file)


def ensure_allows_changes(home: Home, *, locked: bool = False) -> None:
    """Refuse execution starts, snapshots and deployment create/delete while a maintenance
    record exists (activating or activated), with Cloudify's message."""
    if current_status(home, locked=locked) != DEACTIVATED:
        raise MaintenanceModeError(REFUSAL)


def raw_record(home: Home) -> Any:
    """The file as stored (for snapshots); None when deactivated."""
    try:
        return read_json(home.maintenance_file)
    except FileNotFoundError:
        return None
