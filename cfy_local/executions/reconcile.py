"""Reconciliation: an active execution whose worker is provably gone becomes ``failed``.

"Provably" means: the recorded worker pid does not exist, or it exists but its process
start time differs from the one recorded at spawn (the pid was reused). A record with no
pid yet (spawn in progress) or a live process is never touched — no decision on suspicion.
Each reconciled execution gets an event, and the queue drains afterwards.
"""
from __future__ import annotations

import os
import signal
from typing import Any

from cfy_local.executions import events, index, lifecycle, records
from cfy_local.executions.lifecycle import Status
from cfy_local.executions.queue import drain
from cfy_local.store.paths import Home

# psutil rounds create_time; a spawn-time reading and a later one agree to well within this.
CREATE_TIME_TOLERANCE = 1.0


def worker_alive(pid: int | None, create_time: float | None) -> bool | None:
    """True/False when it can be proven; None when nothing is known (no pid recorded)."""
    if not pid:
        return None
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        actual = proc.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    if create_time is not None and abs(actual - float(create_time)) > CREATE_TIME_TOLERANCE:
        return False
    return True


def stop_orphaned_operations(pid: int) -> None:
    """SIGTERM what is left of a dead worker's process group (its script operations).

    A worker leads its own session and process group (pgid == its pid), and its script
    operations run in that group. Once the worker's pid is gone (or a zombie), Linux will
    not hand that number out again while any process still carries it as a group id — so
    signalling the group reaches only the dead worker's leftovers, which would otherwise
    keep running beside a resumed run. If the pid exists again as a live process it was
    reused and its group is someone else's: leave it alone.
    """
    import psutil

    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return
    except psutil.NoSuchProcess:
        pass
    except psutil.Error:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def dead_worker_message(pid: int) -> str:
    return (f"Worker process {pid} died unexpectedly: the execution was marked failed by "
            f"reconciliation (see worker.log in its run folder)")


def reconcile(home: Home, summaries: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Fail every active execution whose worker is gone; drain the queue if any was.
    ``summaries`` (a fresh ``index.scan``) saves a read for callers that have one; else the
    live index (executions not over) is read."""
    if summaries is None:
        summaries = index.live(home, rebuild=False)
    suspects = [s for s in summaries if lifecycle.is_active(s["status"]) and s.get("worker_pid")]
    suspects = [s for s in suspects if worker_alive(s["worker_pid"], s.get("worker_create_time")) is False]
    if not suspects:
        return []
    failed: list[dict[str, Any]] = []
    with records.state_lock(home):
        for suspect in suspects:
            # Re-check under the lock: the worker may have recorded its end meanwhile.
            try:
                record = records.load(home, suspect["id"])
            except Exception:
                continue
            if not lifecycle.is_active(record["status"]):
                continue
            pid = record.get("worker_pid")
            if worker_alive(pid, record.get("worker_create_time")) is not False:
                continue
            message = dead_worker_message(pid)
            # A run being cancelled whose worker is gone did stop: that is the cancel.
            target = Status.CANCELLED.value if record["status"] in (
                Status.FORCE_CANCELLING.value, Status.KILL_CANCELLING.value) else Status.FAILED.value
            events.append(home, record, "workflow_failed" if target == Status.FAILED.value else "workflow_cancelled",
                          f"'{record['workflow_id']}' workflow execution failed: {message}"
                          if target == Status.FAILED.value else
                          f"'{record['workflow_id']}' workflow execution cancelled")
            failed.append(records.set_status(home, record["id"], target, locked=True,
                                             error=message if target == Status.FAILED.value else ""))
            stop_orphaned_operations(pid)
    drain(home)
    return failed
