"""The queue: the set of ``queued`` executions, and :func:`drain`, which starts those that
may run now (docs/cloudify-behaviour.md, "The queue").

Drained whenever an execution reaches an end state (by the finishing worker's last step,
by reconcile, by cancel) and on maintenance deactivation — never while a maintenance
record exists. One pass: a queued *system* execution goes first and alone (system
workflows are never starved); otherwise oldest first, at most one per deployment, up to
``max_concurrent_workflows`` active executions. Every pick goes through the one
admission function, so the queue never starts what ``start`` would refuse.
"""
from __future__ import annotations

import os
from typing import Any

from cfy_local import clock, maintenance_state
from cfy_local.config import load_config
from cfy_local.executions import admission, index, statuses, records
from cfy_local.executions.launch import launch_locked
from cfy_local.executions.statuses import Status
from cfy_local.store.paths import Home


def _pick(home: Home, summaries: list[dict[str, Any]], max_concurrent: int) -> list[dict[str, Any]]:
    """Choose which queued executions start now. Caller holds the state lock."""
    queued = sorted((s for s in summaries if s["status"] == Status.QUEUED.value), key=admission.order_key)
    if not queued:
        return []
    system = [s for s in queued if s.get("is_system_workflow")]
    candidates = system[:1] if system else queued
    picked: list[dict[str, Any]] = []
    view = [dict(s) for s in summaries]
    by_id = {s["id"]: s for s in view}
    for candidate in candidates:
        current = by_id[candidate["id"]]
        decision = admission.decide(current, view, queue=True, force=bool(current.get("forced")),
                                    dequeue=True, max_concurrent=max_concurrent)
        if decision != admission.START:
            continue
        current["status"] = Status.PENDING.value  # now active: later picks see it
        picked.append(current)
    return picked


def drain(home: Home) -> list[dict[str, Any]]:
    """Start every queued execution that may run now; return the records started."""
    if maintenance_state.record_exists(home) or not os.path.isdir(home.executions_dir):
        return []
    max_concurrent = load_config(home).max_concurrent_workflows
    started: list[dict[str, Any]] = []
    with records.state_lock(home):
        if maintenance_state.record_exists(home):
            return []
        summaries = index.live(home)
        if not any(s["status"] == Status.QUEUED.value for s in summaries):
            return []
        for pick in _pick(home, summaries, max_concurrent):
            try:
                # queued → pending is only written together with the spawned worker's pid.
                record = statuses.apply_transition(records.load(home, pick["id"]), Status.PENDING.value, clock.now())
                started.append(launch_locked(home, record))
            except Exception as exc:  # a record that cannot move is reported, not fatal to the pass
                _fail_dequeue(home, pick["id"], exc)
    return started


def _fail_dequeue(home: Home, execution_id: str, exc: Exception) -> None:
    try:
        record = records.load(home, execution_id)
        if not statuses.is_end(record["status"]):
            records.set_status(home, execution_id, Status.FAILED.value, locked=True,
                               error=f"Error dequeueing execution: {exc}")
    except Exception:
        pass
