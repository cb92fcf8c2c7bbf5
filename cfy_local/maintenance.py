"""Maintenance mode: ``deactivated`` / ``activating`` / ``activated`` (manager.md §7).

Stored as ``<home>/maintenance.json``; no file means ``deactivated``. ``activating``
becomes ``activated`` lazily, the first time anything looks at the state while no
execution is active or queued — so no daemon is needed. Changes happen under the
``state`` lock (the same lock admission takes), so a start and an activation never race.
"""
from __future__ import annotations

import os
from typing import Any

from cfy_local import clock
from cfy_local.errors import CfyLocalError, MaintenanceModeError
from cfy_local.executions import lifecycle
from cfy_local.store.atomic import read_json
from cfy_local.store.locks import lock
from cfy_local.store.paths import Home
from cfy_local.store.records import load_record, save_record
from cfy_local.timefmt import iso

DEACTIVATED = "deactivated"
ACTIVATING = "activating"
ACTIVATED = "activated"

REFUSAL = "Your request was rejected since Cloudify manager is currently in maintenance mode"
STATE_LOCK = "state"


class NothingToModify(CfyLocalError):
    """Activate while on / deactivate while off: cfy prints "Nothing to modify" (exit 1)."""


def _read(home: Home) -> dict[str, Any] | None:
    try:
        return load_record(home.maintenance_file, "maintenance")
    except FileNotFoundError:
        return None


def remaining_executions(home: Home) -> list[dict[str, Any]]:
    """Executions not in an end state (active, queued or scheduled), oldest first."""
    from cfy_local.executions import records

    rows = [r for r in records.load_all(home) if not lifecycle.is_end(r["status"])]
    rows.sort(key=lambda r: r["created_at"])
    return rows


def _settle(home: Home, record: dict[str, Any] | None) -> dict[str, Any] | None:
    """Promote ``activating`` to ``activated`` when nothing remains. Caller holds the lock."""
    if record and record["status"] == ACTIVATING and not remaining_executions(home):
        record = dict(record, status=ACTIVATED, activated_at=iso(clock.now()))
        save_record(home.maintenance_file, record)
    return record


def state(home: Home) -> dict[str, Any]:
    """The maintenance state as ``cfy maintenance-mode status`` shows it."""
    record = _read(home)
    if record and record["status"] == ACTIVATING:
        with lock(home.root, STATE_LOCK):
            record = _settle(home, _read(home))
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
        record = _settle(home, _read(home))
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


def activate(home: Home, requested_by: str | None = None) -> dict[str, Any]:
    with lock(home.root, STATE_LOCK):
        if _read(home) is not None:
            raise NothingToModify("Nothing to modify")
        now = iso(clock.now())
        record = {"status": ACTIVATING, "activation_requested_at": now, "activated_at": None,
                  "requested_by": requested_by or os.environ.get("USER") or ""}
        save_record(home.maintenance_file, record)
        _settle(home, record)
    return state(home)


def deactivate(home: Home) -> dict[str, Any]:
    """Remove the record and drain the queue."""
    with lock(home.root, STATE_LOCK):
        if _read(home) is None:
            raise NothingToModify("Nothing to modify")
        os.unlink(home.maintenance_file)
    from cfy_local.executions.queue import drain

    drain(home)
    return state(home)


def raw_record(home: Home) -> Any:
    """The file as stored (for snapshots); None when deactivated."""
    try:
        return read_json(home.maintenance_file)
    except FileNotFoundError:
        return None
