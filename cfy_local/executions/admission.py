"""THE admission decision: may this execution start now, must it wait in the queue, or is
it refused? Cloudify's rules and texts (docs/cloudify-behaviour.md, "Starting an
execution"). Used by ``executions start``, by the queue when it dequeues, and (through
``api.start(queue=True)``) by the scheduler.

The caller holds the ``state`` lock and passes summaries of every execution (from
``executions.index.scan``), so the decision and the status write it leads to are atomic.
"""
from __future__ import annotations

from typing import Any, Iterable

from cfy_local.errors import ConflictError, ExistingRunningExecutionError
from cfy_local.executions import statuses
from cfy_local.executions.statuses import Status


def order_key(summary: dict[str, Any]) -> tuple:
    """Creation order, the queue's (oldest first): ``created_at`` then the nanosecond stamp
    taken under the state lock (several executions can share a millisecond), then the id."""
    return (summary.get("created_at") or "", summary.get("created_ns") or 0, summary.get("id") or "")


START = "start"
QUEUE = "queue"


def _is_system(summary: dict[str, Any]) -> bool:
    return bool(summary.get("is_system_workflow"))


def _blocking(record: dict[str, Any]) -> bool:
    """Every execution blocks except ``create_snapshot`` (Cloudify: unless legacy)."""
    return record.get("workflow_id") != "create_snapshot"


def _repr(summary: dict[str, Any]) -> str:
    return (f"<Execution id=`{summary['id']}` status=`{summary['status']}` "
            f"workflow_id=`{summary['workflow_id']}`>")


class DeploymentBusyError(ExistingRunningExecutionError):
    """A start refused because the deployment has another non-forced execution active (or
    queued before it). The message is Cloudify's; Cloudify's REST advice follows it, which
    an adapter may replace with its own (``first_sentence`` holds the message without it)."""

    def __init__(self, first_sentence: str):
        super().__init__(first_sentence + ' To execute this workflow anyway, pass "force=true" as a query '
                                          'parameter to this request')
        self.first_sentence = first_sentence


def decide(record: dict[str, Any], others: Iterable[dict[str, Any]], *, queue: bool, force: bool,
           dequeue: bool = False, max_concurrent: int | None = None) -> str:
    """``START`` or ``QUEUE`` for ``record``, or raise ConflictError with Cloudify's text.

    ``others`` may include ``record`` itself (it is skipped). ``dequeue`` applies the
    global cap ``max_concurrent`` on active executions (Cloudify applies it only when
    draining the queue).
    """
    mine = order_key(record)
    rest = [s for s in others if s["id"] != record["id"]]
    active = [s for s in rest if statuses.is_active(s["status"])]

    if dequeue and max_concurrent is not None and len(active) >= max_concurrent:
        return QUEUE
    if not _blocking(record) and not queue and not dequeue:
        return START

    if _is_system(record) and not record.get("deployment_id"):
        if active:
            if queue or dequeue:
                return QUEUE
            shown = ", ".join(s["id"] for s in sorted(active, key=order_key)[:5])
            raise ConflictError(f"Cannot start execution because there are other executions running e.g.: {shown}")
        return START

    # Anything else waits behind a running or queued system execution, even without --queue.
    if any(_is_system(s) and (statuses.is_active(s["status"]) or s["status"] == Status.QUEUED.value)
           for s in rest):
        return QUEUE
    if force or not record.get("deployment_id"):
        return START
    dep = record["deployment_id"]
    busy = [s for s in rest if s.get("deployment_id") == dep and (
        statuses.is_active(s["status"])
        or (s["status"] == Status.QUEUED.value and order_key(s) < mine))]
    if not busy:
        return START
    if queue or dequeue:
        return QUEUE
    listed = ", ".join(_repr(s) for s in sorted(busy, key=order_key))
    raise DeploymentBusyError(f"The following executions are currently running for this deployment: [{listed}].")
