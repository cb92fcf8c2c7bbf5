"""The executions API: start (admission + worker), cancel, resume, get, list, summary,
delete, reconcile, and recording of system executions.

Every status change goes through ``records.set_status`` (the lifecycle table) under the
``state`` lock; every decision to run goes through ``admission.decide``. Functions that
read executions reconcile first, so a dead worker is noticed by whoever looks.
"""
from __future__ import annotations

import os
import re
import signal
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from cfy_local import clock, errors
from cfy_local.config import load_config
from cfy_local.deployments.records import load_deployment, runtime_data
from cfy_local.dsl.parameters import merge_workflow_parameters
from cfy_local.engine.graphstate import progress
from cfy_local.errors import (ConflictError, EnvironmentCreationInProgressError, EnvironmentCreationPendingError,
                              NotFoundError, ValidationError)
from cfy_local.executions import admission, event_stream, index, statuses, records
from cfy_local.executions.launch import launch_locked
from cfy_local.executions.statuses import CancelAction, Status
from cfy_local.executions.queue import drain
from cfy_local.executions.reconcile import (CREATE_TIME_TOLERANCE, record_dead_worker, start_escalation,
                                            stop_group_and_wait, worker_alive)
from cfy_local.executions.reconcile import reconcile as _reconcile
from cfy_local.maintenance_state import ensure_allows_changes
from cfy_local.store.atomic import atomic_write_json
from cfy_local.store.paths import Home
from cfy_local.timefmt import iso, parse_iso

KILL_GRACE_SECONDS = 5.0



def reconcile(home: Home) -> list[dict[str, Any]]:
    """Mark executions whose worker died as failed (with an event); drain the queue."""
    return _reconcile(home)


def _reconciled_scan(home: Home) -> list[dict[str, Any]]:
    """Every execution summary, after reconciling dead workers (one scan when none died)."""
    rows = index.scan(home)
    if _reconcile(home, rows):
        rows = index.scan(home)
    if not index.live_agrees(home, rows):
        # A record written without its index entry (a crash between the two writes): the
        # records are the truth, so the index is rebuilt from them.
        with records.state_lock(home):
            index.rebuild_live(home)
        drain(home)  # a queued run the index had lost may be free to start now
    return rows


# --- start -----------------------------------------------------------------------------

def validate_start(home: Home, workflow_id: str, deployment_id: str, parameters: dict[str, Any] | None = None,
                   allow_custom_parameters: bool = False) -> dict[str, Any]:
    """The checks a start makes before anything is written (the deployment exists, the
    workflow and its parameters are valid); returns the merged parameters. For callers
    that create something else from a start's request (a one-shot schedule)."""
    return merge_workflow_parameters(load_deployment(home, deployment_id), workflow_id, dict(parameters or {}),
                                     allow_custom_parameters, data=runtime_data(home, deployment_id))


def _check_environment_created(home: Home, summaries: list[dict[str, Any]], deployment_id: str) -> None:
    """Refuse while the deployment's create_deployment_environment run has not succeeded
    (Cloudify's rule and texts)."""
    creates = [s for s in summaries if s.get("deployment_id") == deployment_id
               and s.get("workflow_id") == "create_deployment_environment"]
    if not creates:
        return
    latest = max(creates, key=admission.order_key)
    status = latest["status"]
    if status == Status.TERMINATED.value:
        return
    if status == Status.PENDING.value:
        raise EnvironmentCreationPendingError("Deployment environment creation is still pending, try again in a minute")
    if status == Status.STARTED.value:
        raise EnvironmentCreationInProgressError("Deployment environment creation is still in progress, try again in a minute")
    if status == Status.FAILED.value:
        error = (records.load(home, latest["id"]).get("error") or "").strip()
        last_line = error.splitlines()[-1] if error else ""
        raise ConflictError(f"Can't launch executions since environment creation for deployment "
                            f"{deployment_id} has failed: {last_line}")
    raise ConflictError(f"Can't launch executions since the environment creation for deployment "
                        f"{deployment_id} has been cancelled [status={status}]")


def start(home: Home, workflow_id: str, deployment_id: str | None, parameters: dict[str, Any] | None = None, *,
          allow_custom_parameters: bool = False, force: bool = False, queue: bool = False,
          dry_run: bool = False, wait_after_fail: int | None = None, task_retries: int | None = None,
          task_retry_interval: int | None = None, task_thread_pool_size: int | None = None,
          schedule_id: str | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Create an execution, validate its parameters, decide admission, and spawn its worker
    (or queue it). Returns the record: ``pending``/``started`` when a worker was spawned,
    ``queued`` when it waits. Bad parameters or a refusal leave nothing on disk."""
    # `--queue` with `--force`/`--dry-run` is a usage error of the CLI (cfy's rule), not of
    # admission: the scheduler fires forced and dry-run schedules with queue=True.
    parameters = dict(parameters or {})
    blueprint_id = None
    # System workflows (snapshots) run with no deployment; custom parameters are always allowed.
    if workflow_id in records.SYSTEM_WORKFLOWS and not deployment_id:
        merged, allow_custom_parameters = parameters, True
    else:
        if not deployment_id:
            raise ValidationError("Missing option '-d' / '--deployment-id'.")
        deployment = load_deployment(home, deployment_id)
        blueprint_id = deployment.get("blueprint_id")
        merged = merge_workflow_parameters(deployment, workflow_id, parameters, allow_custom_parameters,
                                           data=runtime_data(home, deployment_id))
    for name, value in (("task_retries", task_retries), ("task_retry_interval", task_retry_interval),
                        ("task_thread_pool_size", task_thread_pool_size), ("wait_after_fail", wait_after_fail)):
        # -1 retries means "retry forever", as in Cloudify (its own default for local runs).
        lowest = -1 if name == "task_retries" else 0
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < lowest):
            qualifier = "an integer of -1 (retry forever) or more" if lowest < 0 else "a non-negative integer"
            raise ValidationError(f"`{name}` must be {qualifier}, got {value!r}")
    if wait_after_fail is None:
        wait_after_fail = load_config(home).wait_after_fail

    # Admission reconciles what it counts: a run whose worker was killed (-9) no longer
    # blocks its deployment, even when nothing but `start` is ever called (a cron job).
    _reconcile(home, index.live(home, rebuild=False))
    with records.state_lock(home):
        ensure_allows_changes(home, locked=True)
        if deployment_id and os.path.exists(home.deployment_deleting_marker(deployment_id)):
            # Checked under the lock: the deployment was read before it, and a forced delete
            # may have begun since (it stops the runs it knows of, so none may be added).
            raise ConflictError(f"Deployment {deployment_id} is being deleted (if no `cfy deployments delete "
                                f"{deployment_id} -f` is running any more, run it again to finish)")
        record = records.new_record(
            workflow_id=workflow_id, deployment_id=deployment_id, blueprint_id=blueprint_id,
            parameters=merged, is_dry_run=dry_run, allow_custom_parameters=allow_custom_parameters,
            forced=force, wait_after_fail=wait_after_fail, task_retries=task_retries,
            task_retry_interval=task_retry_interval, task_thread_pool_size=task_thread_pool_size,
            schedule_id=schedule_id)
        # The live index: a start does not grow with the history.
        summaries = index.live(home)
        if deployment_id and workflow_id not in ("create_deployment_environment", "delete_deployment_environment"):
            _check_environment_created(home, summaries, deployment_id)
        decision = admission.decide(record, summaries, queue=queue, force=force)
        if decision == admission.QUEUE:
            record = statuses.apply_transition(record, Status.QUEUED.value, clock.now())
            records.save(home, record)
            event_stream.append(home, record, "workflow_queued", f"'{workflow_id}' workflow execution queued")
            return record
        return launch_locked(home, record, env=env)


def record_system_execution(home: Home, workflow_id: str, deployment_id: str | None, blueprint_id: str | None,
                            status: str, error: str = "") -> dict[str, Any]:
    """Record a run that happened outside a worker (deployment create/delete environment)."""
    Status(status)  # refuse unknown statuses
    now = iso(clock.now())
    with records.state_lock(home):
        record = records.new_record(workflow_id=workflow_id, deployment_id=deployment_id,
                                    blueprint_id=blueprint_id, status=status, allow_custom_parameters=True)
        record["started_at"] = now if status != Status.PENDING.value else None
        record["ended_at"] = now if statuses.is_end(status) else None
        record["error"] = error
        records.save(home, record)
    if statuses.is_end(status):
        drain(home)
    return record


# --- cancel / resume ---------------------------------------------------------------------

def _request_cancel_file(home: Home, execution_id: str, action: str) -> None:
    atomic_write_json(home.cancel_request_file(execution_id),
                      {"schema_version": 1, "action": action, "requested_at": iso(clock.now())})


def _group_members(pgid: int, not_before: float | None) -> list:
    """Live processes of process group ``pgid`` started no earlier than the worker (so a
    group id reused long after the worker is gone is never touched)."""
    import psutil

    members = []
    for proc in psutil.process_iter(["pid", "status", "create_time"]):
        try:
            if os.getpgid(proc.pid) != pgid or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
        if not_before is not None and (proc.info["create_time"] or 0) < not_before - CREATE_TIME_TOLERANCE:
            continue
        members.append(proc)
    return members


def _kill_group(pgid: int, not_before: float | None) -> None:
    """SIGTERM the worker's process group (the worker and the operation processes it
    started), then SIGKILL whatever is left after the grace period."""
    import psutil

    members = _group_members(pgid, not_before)
    for proc in members:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    # The escalation must not depend on this process surviving the grace period.
    if members:
        start_escalation(pgid, KILL_GRACE_SECONDS)
    _, alive = psutil.wait_procs(members, timeout=KILL_GRACE_SECONDS)
    for proc in alive + [p for p in _group_members(pgid, not_before) if p not in alive]:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(_group_members(pgid, not_before), timeout=KILL_GRACE_SECONDS)


def cancel(home: Home, execution_id: str, *, force: bool = False, kill: bool = False) -> dict[str, Any]:
    """Cancel (flag seen between tasks), force-cancel (stop the worker) or kill (stop the
    worker and its operation processes), with Cloudify's rules and texts."""
    action = CancelAction.KILL if kill else CancelAction.FORCE if force else CancelAction.CANCEL
    reconcile(home)
    with records.state_lock(home):
        record = records.load(home, execution_id)
        target = statuses.cancel_target(record, action)
        if target == Status.CANCELLED:  # queued/scheduled: nothing runs, cancelled at once
            # The event goes first: a follower that sees the end status must find it.
            event_stream.append(home, record, "workflow_cancelled", f"'{record['workflow_id']}' workflow execution cancelled")
            record = records.set_status(home, execution_id, Status.CANCELLED.value, locked=True, error="")
            waiting = True
        else:
            waiting = False
            if target is not None:
                record = records.set_status(home, execution_id, target.value, locked=True, error="")
                _request_cancel_file(home, execution_id, action.value)
    if waiting:
        drain(home)
        return record
    pid, create_time = record.get("worker_pid"), record.get("worker_create_time")
    alive = worker_alive(pid, create_time)
    if action == CancelAction.CANCEL:
        return record
    if action == CancelAction.FORCE:
        if alive:
            try:
                os.kill(pid, signal.SIGTERM)  # the worker records `cancelled` in its finally path
            except ProcessLookupError:
                pass
        elif alive is False:
            reconcile(home)
        return records.load(home, execution_id)
    # Kill: also stops operation processes left in the worker's group, even after it ended.
    if pid and (alive or _group_members(pid, create_time)):
        _kill_group(pid, create_time)
    with records.state_lock(home):
        record = records.load(home, execution_id)
        if not statuses.is_end(record["status"]):
            # The worker records `cancelled` on SIGTERM; if SIGKILL cut it short, do it here —
            # from its final event if it wrote one before the status (never a second one).
            record = record_dead_worker(home, record, pid)
    drain(home)
    return records.load(home, execution_id)


def resume(home: Home, execution_id: str, *, reset_operations: bool = False,
           env: dict[str, str] | None = None) -> dict[str, Any]:
    """Re-run a failed/cancelled execution in the same id with a new worker; the engine
    skips operations that already succeeded (``resume`` true in the record)."""
    reconcile(home)
    previous = records.load(home, execution_id)
    if statuses.is_end(previous["status"]) and not stop_group_and_wait(previous.get("worker_pid")):
        # An operation of the previous worker survived SIGKILL: never run it twice at once.
        raise ConflictError(f"Cannot resume execution {execution_id}: operations of its previous run "
                            f"(process group {previous.get('worker_pid')}) are still running")
    with records.state_lock(home):
        record = records.load(home, execution_id)
        record = statuses.apply_resume(record, reset_operations=reset_operations)
        ensure_allows_changes(home, locked=True)
        record.update(reset_operations=reset_operations, worker_pid=None, worker_create_time=None,
                      total_operations=None, finished_operations=None, result=None)
        try:
            os.unlink(home.cancel_request_file(execution_id))
        except FileNotFoundError:
            pass
        return launch_locked(home, record, env=env)


# --- reading -----------------------------------------------------------------------------

def _with_progress(home: Home, record: dict[str, Any]) -> dict[str, Any]:
    if statuses.is_active(record["status"]):
        try:
            total, finished = progress(home, record["id"])
            record = dict(record, total_operations=total, finished_operations=finished)
        except Exception:  # no graph yet, or the engine is not installed: progress unknown
            pass
    return record


def get(home: Home, execution_id: str) -> dict[str, Any]:
    """One execution with every field; operation progress live while it runs."""
    reconcile(home)
    return _with_progress(home, records.load(home, execution_id))


SORTABLE = index.SUMMARY_FIELDS


def list_executions(home: Home, *, deployment_id: str | None = None, include_system: bool = False,
                    statuses: list[str] | None = None, sort_by: str = "created_at",
                    descending: bool = False) -> list[dict[str, Any]]:
    """Execution summaries (list columns plus ids/timestamps), filtered and sorted."""
    if sort_by not in SORTABLE:
        raise ValidationError(f"Cannot sort executions by `{sort_by}`; use one of: {', '.join(SORTABLE)}")
    wanted = None
    if statuses:
        wanted = set()
        for status in statuses:
            value = "terminated" if status == "completed" else status
            try:
                wanted.add(Status(value).value)
            except ValueError:
                raise ValidationError(f"Unknown execution status `{status}`; use one of: "
                                      f"{', '.join(s.value for s in Status)}") from None
    rows = _reconciled_scan(home)
    if deployment_id:
        rows = [r for r in rows if r.get("deployment_id") == deployment_id]
    if not include_system:
        rows = [r for r in rows if r.get("workflow_id") not in records.HIDDEN_WORKFLOWS]
    if wanted is not None:
        rows = [r for r in rows if r["status"] in wanted]
    if sort_by == "created_at":
        rows.sort(key=admission.order_key, reverse=descending)
    else:
        rows.sort(key=lambda r: (r.get(sort_by) is None, str(r.get(sort_by) or "")), reverse=descending)
    return rows


def active_or_queued(home: Home, deployment_id: str | None = None) -> list[dict[str, Any]]:
    """Executions that are running or waiting to run (oldest first)."""
    rows = [r for r in _reconciled_scan(home)
            if statuses.is_active(r["status"]) or r["status"] in (Status.QUEUED.value, Status.SCHEDULED.value)]
    if deployment_id:
        rows = [r for r in rows if r.get("deployment_id") == deployment_id]
    rows.sort(key=admission.order_key)
    return rows


SUMMARY_FIELDS = ("status", "blueprint_id", "deployment_id", "workflow_id")


def summary(home: Home, field: str, sub_field: str | None = None, *,
            include_system: bool = True) -> list[dict[str, Any]]:
    """Counts by ``field`` (and ``sub_field``): cfy's ``executions summary`` rows. With a
    sub-field each value of ``field`` is followed by a TOTAL row (sub-field None)."""
    for name in (field, sub_field):
        if name is not None and name not in SUMMARY_FIELDS:
            raise ValidationError(f"Invalid field `{name}`; use one of: {', '.join(SUMMARY_FIELDS)}")
    rows = _reconciled_scan(home)
    if not include_system:
        rows = [r for r in rows if r.get("workflow_id") not in records.HIDDEN_WORKFLOWS]
    out: list[dict[str, Any]] = []
    if sub_field is None:
        counts = Counter(r.get(field) for r in rows)
        for value in sorted(counts, key=lambda v: (v is None, str(v))):
            out.append({field: value, "executions": counts[value]})
        return out
    nested: dict[Any, Counter] = {}
    for r in rows:
        nested.setdefault(r.get(field), Counter())[r.get(sub_field)] += 1
    for value in sorted(nested, key=lambda v: (v is None, str(v))):
        for sub in sorted(nested[value], key=lambda v: (v is None, str(v))):
            out.append({field: value, sub_field: sub, "executions": nested[value][sub]})
        out.append({field: value, sub_field: None, "executions": sum(nested[value].values())})
    return out


# --- delete ------------------------------------------------------------------------------

_TO_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")
_UNIX_RE = re.compile(r"^\d+(\.\d{1,6})?$")
_BEFORE_RE = re.compile(r"^\s*(\d+)\s+(second|minute|hour|day|week|month|year)s?(\s+ago)?\s*$", re.I)


def parse_timestamp(text: str, what: str = "--to") -> datetime:
    """cfy's absolute timestamps (UTC) or a UNIX time."""
    value = text.strip()
    if _UNIX_RE.match(value):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    for fmt in _TO_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    try:
        return parse_iso(value)
    except ValueError:
        pass
    raise ValidationError(f"Invalid {what} value `{text}`: use YYYY-MM-DD, YYYY-MM-DD HH:MM:SS[.ffffff], "
                          f"YYYY-MM-DDTHH:MM:SS or a UNIX time")


def parse_before(text: str, now: datetime | None = None) -> datetime:
    """``N unit[s] [ago]`` (with a space) → that long before now, in UTC. Anything else is an
    error (cfy silently deletes everything for ``2weeks``; we refuse)."""
    match = _BEFORE_RE.match(text or "")
    if not match:
        raise ValidationError(f"Invalid --before value `{text}`: expected `<number> <unit>[s] [ago]` with a space, "
                              f"unit one of seconds, minutes, hours, days, weeks, months, years (e.g. `2 weeks`)")
    amount, unit = int(match.group(1)), match.group(2).lower()
    now = now or clock.now()
    if unit in ("month", "year"):
        from dateutil.relativedelta import relativedelta

        return now - relativedelta(**{unit + "s": amount})
    return now - timedelta(**{unit + "s": amount})


def delete_executions(home: Home, *, to: datetime | None = None, keep_last: int | None = None,
                      deployment_id: str | None = None) -> int:
    """Delete ended executions (records and run folders): created before ``to``, or all but
    the ``keep_last`` newest; always keeping one successful create_deployment_environment per
    deployment. Returns how many were deleted."""
    import shutil

    if keep_last is not None and keep_last < 1:
        raise ValidationError("--keep-last must be at least 1")
    reconcile(home)
    deleted = 0
    with records.state_lock(home):
        rows = sorted(index.scan(home, write_back=False), key=admission.order_key)
        if deployment_id:
            rows = [r for r in rows if r.get("deployment_id") == deployment_id]
        keep: set[str] = set()
        newest_env: dict[Any, dict] = {}
        for r in rows:
            if r.get("workflow_id") == "create_deployment_environment" and r["status"] == Status.TERMINATED.value:
                newest_env[r.get("deployment_id")] = r
        keep.update(r["id"] for r in newest_env.values())
        ended = [r for r in rows if statuses.is_end(r["status"])]
        if keep_last is not None:
            keep.update(r["id"] for r in ended[-keep_last:])
        for r in ended:
            if r["id"] in keep:
                continue
            if to is not None and parse_iso(r["created_at"]) >= to:
                continue
            try:
                os.unlink(home.execution_file(r["id"]))
            except FileNotFoundError:
                continue
            shutil.rmtree(home.run_dir(r["id"]), ignore_errors=True)
            deleted += 1
        if deleted:
            index.rebuild_live(home)  # a deleted environment creation may have been the newest
    index.scan(home)
    return deleted


def require_execution(home: Home, execution_id: str) -> dict[str, Any]:
    try:
        return records.load(home, execution_id)
    except NotFoundError:
        raise errors.not_found("Execution", execution_id) from None


def record_watcher(home: Home, execution_id: str, *, check_every: float = 1.0):
    """A loader for ``event_stream.follow``: returns the execution's record, and at most every
    ``check_every`` seconds, while it is active, checks that its worker is still alive —
    so a waiting ``cfy`` sees a crashed worker's run end (reconciled) instead of waiting
    for its timeout."""
    last_check = [clock.monotonic()]

    def load() -> dict[str, Any]:
        record = records.load(home, execution_id)
        now = clock.monotonic()
        if statuses.is_active(record["status"]) and now - last_check[0] >= check_every:
            last_check[0] = now
            if worker_alive(record.get("worker_pid"), record.get("worker_create_time")) is False:
                reconcile(home)
                record = records.load(home, execution_id)
        return record

    return load
