"""Execution events: building the few the executions layer writes itself, rendering them
as cfy does, filtering, and following a running execution without losing the tail.

The engine writes almost every event; this module writes the ones that happen outside a
workflow run (queued, cancelled while queued, reconciled dead worker) in the same shape.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Callable, Iterator

from cfy_local import clock
from cfy_local.executions import statuses
from cfy_local.store.event_log import append_events, read_from
from cfy_local.store.paths import Home
from cfy_local.store.watch import open_watch
from cfy_local.timefmt import iso, parse_iso


def make_event(record: dict[str, Any], event_type: str, text: str, *, level: str | None = None) -> dict[str, Any]:
    """One event in the CLI JSON shape (docs/state.md), about a whole execution."""
    now = iso(clock.now())
    event: dict[str, Any] = {
        "type": "cloudify_log" if level else "cloudify_event",
        "timestamp": now,
        "reported_timestamp": now,
        "blueprint_id": record.get("blueprint_id"),
        "message": {"text": text, "arguments": None},
        "context": {
            "deployment_id": record.get("deployment_id"),
            "execution_id": record["id"],
            "workflow_id": record.get("workflow_id"),
            "node_name": None, "node_id": None, "operation": None,
            "source_id": None, "target_id": None, "task_error_causes": None,
            "task_current_retries": None, "task_total_retries": None,
        },
    }
    if level:
        event["level"] = level
        event["logger"] = "cfy-local"
    else:
        event["event_type"] = event_type
    return event


def append(home: Home, record: dict[str, Any], event_type: str, text: str, *, level: str | None = None) -> None:
    append_events(home.events_file(record["id"]), [make_event(record, event_type, text, level=level)])


# --- rendering -----------------------------------------------------------------------

def _context(event: dict[str, Any]) -> dict[str, Any]:
    return event.get("context") or {}


def is_log(event: dict[str, Any]) -> bool:
    return event.get("type") == "cloudify_log"


def _info(ctx: dict[str, Any]) -> str:
    operation = ctx.get("operation")
    op = operation.rsplit(".", 1)[-1] if operation else None
    source, target = ctx.get("source_id"), ctx.get("target_id")
    if source and target:
        return f"[{source}->{target}|{op}] " if op else f"[{source}->{target}] "
    instance = ctx.get("node_id")
    if instance and op:
        return f"[{instance}.{op}] "
    if instance or op:
        return f"[{instance or op}] "
    return ""


def _causes_text(ctx: dict[str, Any]) -> str:
    causes = ctx.get("task_error_causes") or []
    if not causes:
        return ""
    parts = []
    for cause in causes:
        if not isinstance(cause, dict):
            continue
        trace = cause.get("traceback") or f"{cause.get('type', 'Error')}: {cause.get('message', '')}"
        parts.append(str(trace).rstrip("\n"))
    if not parts:
        return ""
    if len(parts) == 1:
        return "\n" + parts[0]
    separator = "\n" + "-" * 32 + "\n"
    return "\nCauses (most recent cause last):" + separator + separator.join(parts)


def render_line(event: dict[str, Any]) -> str:
    """``<timestamp>  CFY <dep> [<instance>.<op>] <message>``, as ``cfy`` prints events."""
    ctx = _context(event)
    stamp = (event.get("reported_timestamp") or event.get("timestamp") or "").replace("T", " ").rstrip("Z")
    message = event.get("message") or {}
    text = message.get("text", "") if isinstance(message, dict) else str(message)
    if is_log(event):
        kind, text = "LOG", f"{str(event.get('level') or 'info').upper()}: {text}"
    else:
        kind = "CFY"
        if event.get("event_type") in ("task_failed", "task_rescheduled"):
            text += _causes_text(ctx)
    return f"{stamp}  {kind} <{ctx.get('deployment_id') or ''}> {_info(ctx)}{text}"


# --- filtering -----------------------------------------------------------------------

class EventFilter:
    """cfy events list filters: logs on/off, debug hidden unless -vv, time range, node
    instance, operation (substring, as the REST ``ilike``)."""

    def __init__(self, *, include_logs: bool = True, show_debug: bool = False,
                 since: datetime | None = None, until: datetime | None = None,
                 node: str | None = None, operation: str | None = None):
        self.include_logs, self.show_debug = include_logs, show_debug
        self.since, self.until, self.node, self.operation = since, until, node, operation

    def __call__(self, event: dict[str, Any]) -> bool:
        if is_log(event):
            if not self.include_logs:
                return False
            if not self.show_debug and str(event.get("level", "")).lower() == "debug":
                return False
        ctx = _context(event)
        if self.node and ctx.get("node_id") != self.node:
            return False
        if self.operation and self.operation.lower() not in str(ctx.get("operation") or "").lower():
            return False
        if self.since or self.until:
            stamp = event.get("reported_timestamp") or event.get("timestamp")
            try:
                when = parse_iso(stamp)
            except (TypeError, ValueError):
                return False
            if self.since and when < self.since:
                return False
            if self.until and when > self.until:
                return False
        return True


def read_all(home: Home, execution_id: str) -> list[dict[str, Any]]:
    events, _ = read_from(home.events_file(execution_id), 0)
    return events


FINAL_EVENT_TYPES = frozenset({"workflow_succeeded", "workflow_failed", "workflow_cancelled"})


def follow(home: Home, execution_id: str, load_record: Callable[[], dict[str, Any]], *,
           deadline: float | None = None, poll_interval: float = 0.1,
           idle_interval: float = 0.25) -> Iterator[dict[str, Any] | None]:
    """Yield the execution's events from the start as they are appended, until it has ended
    and everything written before the end was read. Yields ``None`` after each read that
    did not see the end (a batch of events is complete: a caller flushes its output, checks
    a deadline or a signal); raises ``TimeoutError`` past ``deadline`` (a
    ``clock.monotonic()`` value).

    Between reads it sleeps until the worker appends events or a record is replaced (a
    folder watch), at most ``idle_interval`` seconds so the caller still gets its idle
    ticks; where folders cannot be watched it polls every ``poll_interval`` seconds.

    No event is lost: the record is read *before* the final drain, and the worker writes
    its last event before it records the end status, so once an end status is seen one more
    read returns everything.
    """
    path = home.events_file(execution_id)
    run_dir = home.run_dir(execution_id)
    offset = 0
    watch = open_watch()
    # The run folder exists once a worker was spawned; a queued run gets it later (its
    # record changes first, which the executions folder's watch sees).
    watching_run = False
    if watch is not None and not watch.add(home.executions_dir):
        watch.close()
        watch = None
    try:
        while True:
            if watch is not None and not watching_run:
                watching_run = watch.add(run_dir)
            record = load_record()
            ended = statuses.is_end(record["status"])
            events, offset = read_from(path, offset)
            yield from events
            if ended:
                return
            if deadline is not None and clock.monotonic() > deadline:
                raise TimeoutError(execution_id)
            yield None
            wait = idle_interval if watching_run else poll_interval
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - clock.monotonic()))
            if watch is not None:
                watch.wait(wait)
            else:
                time.sleep(wait)
    finally:
        if watch is not None:
            watch.close()
