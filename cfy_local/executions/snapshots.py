"""Snapshots: the system-wide workflows ``create_snapshot`` and ``restore_snapshot`` over
the state directory, run by an execution's worker like any workflow.

A snapshot is ``snapshots/<id>.tar.gz`` (blueprints, deployments with node instances,
schedules and their history, secrets, the records and events of ended executions) plus
``snapshots/<id>.json`` (id, created_at, status ``creating``/``created``/``failed``, error).
Restore replaces those parts of the state with the archive's, under the ``state`` lock;
admission has already made sure nothing else is active (restore is a blocking system
workflow).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from typing import Any

from cfy_local import clock
from cfy_local.errors import AlreadyExistsError, ConflictError, ValidationError, not_found
from cfy_local.executions import index, statuses, records
from cfy_local.executions.event_stream import make_event
from cfy_local.store.atomic import ensure_dir
from cfy_local.store.locks import lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record, save_record
from cfy_local.timefmt import iso

SNAPSHOT_LOCK = "snapshots"
# Folders of the state dir a snapshot carries whole.
TREES = ("blueprints", "deployments", "schedules", "secrets")
SYSTEM_WORKFLOWS = ("create_snapshot", "restore_snapshot")


def _record_path(home: Home, snapshot_id: str) -> str:
    return home.snapshot_file(snapshot_id)


def get_snapshot(home: Home, snapshot_id: str) -> dict[str, Any]:
    try:
        return load_record(_record_path(home, snapshot_id), "snapshot")
    except FileNotFoundError:
        raise not_found("Snapshot", snapshot_id) from None


def list_snapshots(home: Home) -> list[dict[str, Any]]:
    out = []
    try:
        names = sorted(os.listdir(home.snapshots_dir))
    except FileNotFoundError:
        return []
    for name in names:
        if name.endswith(".json") and not name.startswith("."):
            try:
                out.append(load_record(os.path.join(home.snapshots_dir, name), "snapshot"))
            except (FileNotFoundError, Exception):
                continue
    out.sort(key=lambda r: r.get("created_at") or "")
    return out


def reserve(home: Home, snapshot_id: str) -> dict[str, Any]:
    """Claim a snapshot id (status ``creating``) before its workflow is started."""
    home.snapshot_file(snapshot_id)  # validates the id
    with lock(home.root, SNAPSHOT_LOCK):
        if os.path.exists(_record_path(home, snapshot_id)):
            raise AlreadyExistsError(f"Snapshot `{snapshot_id}` already exists")
        record = {"id": snapshot_id, "created_at": iso(clock.now()), "status": "creating", "error": ""}
        save_record(_record_path(home, snapshot_id), record)
    return record


def release(home: Home, snapshot_id: str) -> None:
    """Undo :func:`reserve` when the workflow could not be started."""
    with lock(home.root, SNAPSHOT_LOCK):
        for path in (_record_path(home, snapshot_id), home.snapshot_archive(snapshot_id)):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def delete_snapshot(home: Home, snapshot_id: str) -> None:
    record = get_snapshot(home, snapshot_id)
    if record.get("status") == "creating":
        raise ConflictError(f"Snapshot `{snapshot_id}` is still being created")
    release(home, snapshot_id)


def _set(home: Home, snapshot_id: str, **fields: Any) -> None:
    with lock(home.root, SNAPSHOT_LOCK):
        record = get_snapshot(home, snapshot_id)
        record.update(fields)
        save_record(_record_path(home, snapshot_id), record)


def _add_tree(tar: tarfile.TarFile, home: Home, name: str) -> None:
    root = home.path(name)
    if os.path.isdir(root):
        tar.add(root, arcname=name, recursive=True, filter=_no_links)


def _no_links(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return info if (info.isfile() or info.isdir()) else None


def create(home: Home, snapshot_id: str, *, execution_id: str | None = None) -> dict[str, Any]:
    """Write the archive (``.tar.gz``) of the state; mark the snapshot ``created``."""
    ensure_dir(home.snapshots_dir)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".tar.gz", dir=home.snapshots_dir)
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            for name in TREES:
                _add_tree(tar, home, name)
            for execution in _ended_executions(home, skip=execution_id):
                tar.add(home.execution_file(execution["id"]), arcname=f"executions/{execution['id']}.json")
                events = home.events_file(execution["id"])
                if os.path.isfile(events):
                    tar.add(events, arcname=f"runs/{execution['id']}/events.ndjson")
            meta = json.dumps({"schema_version": 1, "snapshot_id": snapshot_id, "created_at": iso(clock.now()),
                               "format": 1}).encode()
            info = tarfile.TarInfo("snapshot.json")
            info.size = len(meta)
            tar.addfile(info, io.BytesIO(meta))
        os.chmod(tmp, 0o600)
        os.replace(tmp, home.snapshot_archive(snapshot_id))
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        _set(home, snapshot_id, status="failed", error=str(exc) or type(exc).__name__)
        raise
    _set(home, snapshot_id, status="created", error="")
    return get_snapshot(home, snapshot_id)


def _ended_executions(home: Home, skip: str | None) -> list[dict[str, Any]]:
    return [r for r in records.load_all(home)
            if r["id"] != skip and statuses.is_end(r["status"])]


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    allowed = set(TREES) | {"executions", "runs", "snapshot.json"}
    members = []
    for member in tar.getmembers():
        name = member.name
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or parts[0] not in allowed:
            raise ValidationError(f"Snapshot archive holds an unexpected path: {name}")
        if not (member.isfile() or member.isdir()):
            raise ValidationError(f"Snapshot archive holds a link or device: {name}")
        members.append(member)
    return members


def restore(home: Home, snapshot_id: str, *, execution_id: str | None = None) -> dict[str, Any]:
    """Replace blueprints, deployments, schedules, secrets and execution history with the
    archive's. The running restore execution's own record and events are kept."""
    snapshot = get_snapshot(home, snapshot_id)
    if snapshot.get("status") != "created":
        raise ConflictError(f"Snapshot `{snapshot_id}` cannot be restored: its status is {snapshot.get('status')}")
    archive = home.snapshot_archive(snapshot_id)
    # A restore killed mid-way leaves its staging folder; restores never run two at once
    # (a blocking system workflow), so any other one is a leftover.
    for name in os.listdir(home.root):
        if name.startswith(".restore-"):
            shutil.rmtree(os.path.join(home.root, name), ignore_errors=True)
    # Named after the execution, so reconcile can remove it when this worker dies.
    staging = tempfile.mkdtemp(prefix=f".restore-{execution_id or 'direct'}-", dir=home.root)
    try:
        # Opened without following a symlink planted at the archive's path.
        with os.fdopen(os.open(archive, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as raw, \
                tarfile.open(fileobj=raw, mode="r:gz") as tar:
            members = _safe_members(tar)
            tar.extractall(staging, members=members, filter="data")
        with records.state_lock(home):
            others = [r for r in records.load_all(home)
                      if r["id"] != execution_id and not statuses.is_end(r["status"])]
            if others:
                raise ConflictError("Cannot start execution because there are other executions running e.g.: "
                                    + ", ".join(r["id"] for r in others[:5]))
            for name in TREES:
                target = home.path(name)
                shutil.rmtree(target, ignore_errors=True)
                source = os.path.join(staging, name)
                if os.path.isdir(source):
                    os.replace(source, target)
            for existing in records.load_all(home):
                if existing["id"] != execution_id:
                    os.unlink(home.execution_file(existing["id"]))
                    shutil.rmtree(home.run_dir(existing["id"]), ignore_errors=True)
            ensure_dir(home.executions_dir)
            source_execs = os.path.join(staging, "executions")
            if os.path.isdir(source_execs):
                for name in os.listdir(source_execs):
                    os.replace(os.path.join(source_execs, name), os.path.join(home.executions_dir, name))
            source_runs = os.path.join(staging, "runs")
            if os.path.isdir(source_runs):
                for name in os.listdir(source_runs):
                    target = home.run_dir(name)
                    shutil.rmtree(target, ignore_errors=True)
                    ensure_dir(os.path.dirname(target))
                    os.replace(os.path.join(source_runs, name), target)
            # The restored records replace the history: the live index follows them.
            index.rebuild_live(home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return snapshot


def run_system_workflow(home: Home, execution: dict[str, Any], *, events) -> Any:
    """What the worker calls for ``create_snapshot``/``restore_snapshot``; emits the
    workflow events with the engine's texts."""
    workflow_id = execution["workflow_id"]
    snapshot_id = (execution.get("parameters") or {}).get("snapshot_id")
    if not snapshot_id:
        raise ValidationError(f"{workflow_id} needs the parameter snapshot_id")
    events.write(make_event(execution, "workflow_started", f"Starting '{workflow_id}' workflow execution"))
    if workflow_id == "create_snapshot":
        result = create(home, snapshot_id, execution_id=execution["id"])
        text = f"Snapshot {snapshot_id} created"
    else:
        result = restore(home, snapshot_id, execution_id=execution["id"])
        text = f"Snapshot {snapshot_id} restored"
    events.write(make_event(execution, "", text, level="info"))
    events.write(make_event(execution, "workflow_succeeded", f"'{workflow_id}' workflow execution succeeded"))
    return {"snapshot_id": snapshot_id, "status": result.get("status")}
