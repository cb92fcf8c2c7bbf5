"""Reconciliation: an active execution whose worker is provably gone becomes ``failed``.

"Provably" means: the recorded worker pid does not exist, or it exists but its process
start time differs from the one recorded at spawn (the pid was reused). A record with no
pid yet (spawn in progress) or a live process is never touched — no decision on suspicion.

The status follows the run's last word: a worker killed after it wrote its final event
(``workflow_succeeded``/``failed``/``cancelled``) but before it wrote its end status ended
the way that event says. Otherwise the execution becomes ``failed`` (``cancelled`` if it was
being force-cancelled) with an event saying the worker died. What is left of the dead
worker's process group (script operations, which may ignore SIGTERM) gets SIGTERM, then
SIGKILL after a grace period from a detached reaper. A reconcile that cannot write (a full
disk) leaves the record for a later one: reads never fail because of it. The queue drains
afterwards.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
from typing import Any

from cfy_local.errors import StorageError
from cfy_local.executions import event_stream, index, statuses, reaper, records
from cfy_local.executions.statuses import Status
from cfy_local.executions.queue import drain
from cfy_local.executions.spawn import note_child
from cfy_local.store.event_log import last_event
from cfy_local.store import processes
from cfy_local.store.paths import Home

# How long script operations get between SIGTERM and SIGKILL (the same grace as `cancel -k`).
ORPHAN_GRACE_SECONDS = 5.0
_END_OF_FINAL_EVENT = {"workflow_succeeded": Status.TERMINATED.value, "workflow_failed": Status.FAILED.value,
                       "workflow_cancelled": Status.CANCELLED.value}

CREATE_TIME_TOLERANCE = processes.CREATE_TIME_TOLERANCE


def worker_alive(pid: int | None, create_time: float | None) -> bool | None:
    """Whether the recorded worker is still running: True/False when it can be proven, None
    when nothing is known (no pid recorded). See ``store/processes.py``."""
    return processes.alive(pid, create_time)


def stop_orphaned_operations(pid: int, grace: float = ORPHAN_GRACE_SECONDS) -> None:
    """SIGTERM what is left of a dead worker's process group (its script operations), and
    leave a detached reaper to SIGKILL the group if anything outlives ``grace``.

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
    if not reaper.group_alive(pid):
        return
    reaper.signal_group(pid, signal.SIGTERM)
    if not start_escalation(pid, grace):  # no reaper: escalate here rather than leave the group running
        if not reaper.wait_group_gone(pid, grace):
            reaper.signal_group(pid, signal.SIGKILL)


def start_escalation(pgid: int, grace: float = ORPHAN_GRACE_SECONDS) -> bool:
    """A detached reaper that SIGKILLs process group ``pgid`` if it outlives ``grace``
    (whatever happens to the caller); False if none could be started."""
    child = reaper.start_reaper(pgid, grace)
    if child is None:
        return False
    note_child(child)
    return True


def stop_group_and_wait(pid: int | None, grace: float = ORPHAN_GRACE_SECONDS) -> bool:
    """Stop a dead worker's leftover group now (SIGTERM, SIGKILL after ``grace``) and wait
    for it to be gone; True when nothing of it runs any more. Used before a resume, so an
    operation never runs beside its previous copy."""
    if not pid or pid in reaper.group_members(pid):
        # No group, or its leader is alive: then the pid is a live worker or was reused
        # by a new group leader, and either way the group is not a dead worker's.
        return True
    if not reaper.group_alive(pid):
        return True
    reaper.signal_group(pid, signal.SIGTERM)
    if reaper.wait_group_gone(pid, grace):
        return True
    reaper.signal_group(pid, signal.SIGKILL)
    return reaper.wait_group_gone(pid, grace)


def final_event_of_attempt(home: Home, record: dict[str, Any]) -> dict[str, Any] | None:
    """The final event the run's current attempt wrote, if its log ends with one. An
    earlier attempt's final event (before a resume) lies before the offset at which this
    attempt began (``events_offset``, recorded by the worker when it starts)."""
    if record["status"] == Status.PENDING.value or not record.get("started_at"):
        return None
    event = last_event(home.events_file(record["id"]), after=int(record.get("events_offset") or 0))
    if not event or event.get("event_type") not in _END_OF_FINAL_EVENT:
        return None
    if "events_offset" not in record:  # written by an older worker: fall back on the clock
        stamp = event.get("reported_timestamp") or event.get("timestamp") or ""
        if str(stamp) < record["started_at"]:
            return None
    return event


def _remove_restore_staging(home: Home, execution_id: str) -> None:
    """A restore killed mid-way leaves its staging folder (``.restore-<id>-*``)."""
    for folder in glob.glob(os.path.join(glob.escape(home.root), f".restore-{execution_id}-*")):
        shutil.rmtree(folder, ignore_errors=True)


def dead_worker_message(pid: int) -> str:
    return (f"Worker process {pid} died unexpectedly: the execution was marked failed by "
            f"reconciliation (see worker.log in its run folder)")


def reconcile(home: Home, summaries: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Fail every active execution whose worker is gone; drain the queue if any was.
    ``summaries`` (a fresh ``index.scan``) saves a read for callers that have one; else the
    live index (executions not over) is read."""
    if summaries is None:
        summaries = index.live(home, rebuild=False)
    suspects = [s for s in summaries if statuses.is_active(s["status"]) and s.get("worker_pid")]
    suspects = [s for s in suspects if worker_alive(s["worker_pid"], s.get("worker_create_time")) is False]
    if not suspects:
        return []
    failed: list[dict[str, Any]] = []
    orphans: list[int] = []
    with records.state_lock(home):
        for suspect in suspects:
            # Re-check under the lock: the worker may have recorded its end meanwhile.
            try:
                record = records.load(home, suspect["id"])
            except Exception:
                continue
            if not statuses.is_active(record["status"]):
                continue
            pid = record.get("worker_pid")
            if worker_alive(pid, record.get("worker_create_time")) is not False:
                continue
            orphans.append(pid)
            try:
                failed.append(record_dead_worker(home, record, pid))
            except StorageError:
                continue  # cannot write now (a full disk): a later reconcile records it
            if record["workflow_id"] == "restore_snapshot":
                _remove_restore_staging(home, record["id"])
    for pid in orphans:
        stop_orphaned_operations(pid)
    if not failed:
        return failed
    try:
        drain(home)
    except StorageError:
        pass  # the next end of a run (or reconcile) drains again
    return failed


def record_dead_worker(home: Home, record: dict[str, Any], pid: int) -> dict[str, Any]:
    """Write the end of a run whose worker is gone (caller holds the state lock): the end
    its last word states if it wrote one (it may have been killed between its final event
    and its status), else a dead-worker failure — or the cancel, for a run being
    force- or kill-cancelled."""
    try:
        # The space the worker set aside to record its end (executions.worker): it is
        # ours to use now, which lets this end be written even on a full disk.
        os.unlink(os.path.join(home.run_dir(record["id"]), ".reserve"))
    except OSError:
        pass
    final = final_event_of_attempt(home, record)
    if final is not None:
        target = _END_OF_FINAL_EVENT[final["event_type"]]
        if statuses.can_transition(record["status"], target):
            error = ""
            if target == Status.FAILED.value:
                text = str((final.get("message") or {}).get("text") or "")
                error = text.split(": ", 1)[1] if ": " in text else text
            return records.set_status(home, record["id"], target, locked=True, error=error)
    message = dead_worker_message(pid)
    # A run being cancelled whose worker is gone did stop: that is the cancel.
    target = Status.CANCELLED.value if record["status"] in (
        Status.FORCE_CANCELLING.value, Status.KILL_CANCELLING.value) else Status.FAILED.value
    event_stream.append(home, record, "workflow_failed" if target == Status.FAILED.value else "workflow_cancelled",
                  f"'{record['workflow_id']}' workflow execution failed: {message}"
                  if target == Status.FAILED.value else
                  f"'{record['workflow_id']}' workflow execution cancelled")
    return records.set_status(home, record["id"], target, locked=True,
                              error=message if target == Status.FAILED.value else "")
