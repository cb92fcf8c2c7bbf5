"""Launching an admitted execution: spawn its worker, then record the worker in the record.

Shared by ``executions.api`` (start, resume) and the queue (drain), both of which decide
admission first and hold the ``state`` lock while they launch.
"""
from __future__ import annotations

from typing import Any

from cfy_local import clock
from cfy_local.executions import statuses, records
from cfy_local.executions.statuses import Status
from cfy_local.executions.spawn import spawn
from cfy_local.store.paths import Home


def launch_locked(home: Home, record: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Spawn the worker of a ``pending`` execution, then save the record with the worker's
    pid and start time — in that order, under the state lock the caller holds.

    The record on disk therefore never says ``pending`` without naming a live-or-dead
    worker that reconcile can judge: if this process dies after the spawn but before the
    save, the worker finds a record that does not name it and exits without touching it.
    """
    try:
        pid, create_time = spawn(home, record["id"], env)
    except OSError as exc:
        failed = statuses.apply_transition(record, Status.FAILED.value, clock.now(),
                                            error=f"Error preparing execution: cannot start the worker process: {exc}")
        records.save(home, failed)
        return failed
    launched = dict(record, worker_pid=pid, worker_create_time=create_time)
    records.save(home, launched)
    return launched
