"""Execution records on disk: create, read, list, and status changes under the state lock.

One JSON file per execution (``executions/<id>.json``), so a listing is one directory
scan; the run's artefacts (events, worker log, task graph) live in ``runs/<id>/``.
Status changes go through :func:`set_status`, which applies the transition table of
``executions.lifecycle`` under the ``state`` lock and fsyncs: a status written is a status
kept.
"""
from __future__ import annotations

import os
import time
import uuid
from typing import Any, Iterable

from cfy_local import clock
from cfy_local.errors import CorruptRecordError, not_found
from cfy_local.executions import index, statuses
from cfy_local.executions.statuses import Status
from cfy_local.store.locks import STATE_LOCK, lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record, save_record
from cfy_local.timefmt import iso

KIND = "execution"

# Workflows that run with no deployment and block everything else (Cloudify's system-wide ones).
SYSTEM_WORKFLOWS = frozenset({"create_snapshot", "restore_snapshot"})
# Built-in workflows that are recorded but hidden from `executions list` by default.
HIDDEN_WORKFLOWS = frozenset({"create_deployment_environment", "delete_deployment_environment"}) | SYSTEM_WORKFLOWS


def new_record(*, workflow_id: str, deployment_id: str | None, blueprint_id: str | None,
               parameters: dict[str, Any] | None = None, status: str = Status.PENDING.value,
               is_dry_run: bool = False, allow_custom_parameters: bool = False,
               forced: bool = False, wait_after_fail: int = 600,
               execution_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A fresh execution record (not yet saved). Field names follow Cloudify's model."""
    now = iso(clock.now())
    record: dict[str, Any] = {
        "id": execution_id or str(uuid.uuid4()),
        "workflow_id": workflow_id,
        "deployment_id": deployment_id,
        "blueprint_id": blueprint_id,
        "status": status,
        "status_display": statuses.display(status),
        "created_at": now,
        "started_at": None,
        "ended_at": None,
        "error": "",
        "parameters": parameters or {},
        "is_dry_run": is_dry_run,
        "is_system_workflow": workflow_id in SYSTEM_WORKFLOWS,
        "allow_custom_parameters": allow_custom_parameters,
        "forced": forced,
        "resume": False,
        "wait_after_fail": wait_after_fail,
        "scheduled_for": None,
        "worker_pid": None,
        "worker_create_time": None,
        "total_operations": None,
        "finished_operations": None,
        "result": None,
        # Orders executions created in the same millisecond (the queue is oldest first).
        "created_ns": time.time_ns(),
    }
    record.update(extra)
    return record


def state_lock(home: Home):
    """The global ``state`` lock (docs/state.md lock order 3)."""
    return lock(home.root, STATE_LOCK)


def save(home: Home, record: dict[str, Any]) -> None:
    """Persist a record (durably) and the live index with it (executions.index); the caller
    holds the state lock. Callers that change status use :func:`set_status`.

    The two writes are ordered so that a process killed between them leaves at most an
    extra index entry, never a missing one: an execution that is not over is listed before
    its record is written, and unlisted only after. An extra entry is harmless (the index's
    readers take each listed execution from its record); a missing one would hide a queued
    run from the queue until a full listing rebuilt the index."""
    if record.get("status") not in statuses.END_VALUES:
        index.record_saved(home, record)
        save_record(home.execution_file(record["id"]), record)
    else:
        save_record(home.execution_file(record["id"]), record)
        index.record_saved(home, record)


def load(home: Home, execution_id: str) -> dict[str, Any]:
    path = home.execution_file(execution_id)
    try:
        return load_record(path, KIND)
    except FileNotFoundError:
        raise not_found("Execution", execution_id) from None


def exists(home: Home, execution_id: str) -> bool:
    return os.path.exists(home.execution_file(execution_id))


def iter_ids(home: Home) -> Iterable[str]:
    try:
        entries = os.scandir(home.executions_dir)
    except FileNotFoundError:
        return
    with entries:
        for entry in entries:
            name = entry.name
            if name.endswith(".json") and not name.startswith("."):
                yield name[:-5]


def load_all(home: Home, *, skip_corrupt: bool = True) -> list[dict[str, Any]]:
    """Every execution record. A corrupt file is skipped (and reported by ``cfy status``)
    rather than making every listing fail."""
    out = []
    for execution_id in iter_ids(home):
        try:
            out.append(load_record(home.execution_file(execution_id), KIND))
        except FileNotFoundError:
            continue  # deleted between scan and read
        except CorruptRecordError:
            if not skip_corrupt:
                raise
    return out


def set_status(home: Home, execution_id: str, new_status: str, *, error: str | None = None,
               updates: dict[str, Any] | None = None, locked: bool = False) -> dict[str, Any]:
    """Move an execution to ``new_status`` through the transition table; return the record.

    ``locked=True`` when the caller already holds the ``state`` lock.
    """
    def apply() -> dict[str, Any]:
        record = load(home, execution_id)
        changed = statuses.apply_transition(record, new_status, clock.now(), error=error)
        if updates:
            changed.update(updates)
        save(home, changed)
        return changed

    if locked:
        return apply()
    with lock(home.root, STATE_LOCK):
        return apply()
