"""What is going on inside an execution, computed from its records: each operation's state,
retries and timings, why a run is slow or stuck, and why a queued run waits.

Pure functions and small classes over data the caller reads (``runs/<id>/graph.json``, the
run's events, the execution records): no textual, no click, nothing written. The TUI renders
them; a REST adapter or the CLI can return them as they are.

Where the facts come from:

* ``graph.json`` lists every operation of the run from the start (so the total is known
  before any of them ran), with its final state and retry count;
* the events say when each operation was sent, started, failed, was retried and ended.
  Every operation event carries the task's id, so the first event of a task (which also
  names the node instance, the operation and, for a relationship operation, both sides)
  ties all its later events and logs to one graph entry.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from cfy_local.config import load_config
from cfy_local.errors import CfyLocalError
from cfy_local.executions import statuses
from cfy_local.executions.index import order_key
from cfy_local.executions.statuses import Status
from cfy_local.store.atomic import read_json
from cfy_local.timefmt import parse_iso

# Operation states shown, as Cloudify names task states.
PENDING, SENDING, STARTED, SUCCEEDED, FAILED, RESCHEDULED = (
    "pending", "sending", "started", "succeeded", "failed", "rescheduled")
DONE_STATES = frozenset({SUCCEEDED, FAILED})

# Errors that end an operation at once (Cloudify never retries them).
_FINAL_ERRORS = frozenset({"NonRecoverableError", "ExecutionCancelled"})


@functools.lru_cache(maxsize=1 << 16)
def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_iso(value)
    except (TypeError, ValueError):
        return None


def event_time(event: dict[str, Any]) -> datetime | None:
    return _when(event.get("reported_timestamp") or event.get("timestamp"))


def _context(event: dict[str, Any]) -> dict[str, Any]:
    ctx = event.get("context")
    return ctx if isinstance(ctx, dict) else {}


def is_error_event(event: dict[str, Any]) -> bool:
    """A failure worth jumping to: a failed task or workflow, or an error-level log."""
    if event.get("event_type") in ("task_failed", "workflow_failed"):
        return True
    return event.get("type") == "cloudify_log" and str(event.get("level") or "").lower() == "error"


def first_line(text: str, limit: int = 200) -> str:
    line = next((part.strip() for part in str(text or "").splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _message_cause(kind: str, message: str) -> str:
    # A script's failure carries the script's own traceback in its message: the line that
    # names the script's exception (its last line) says more than the command line.
    if "Traceback (most recent call last)" in message:
        tail = [line.strip().strip("`").strip() for line in message.splitlines() if line.strip().strip("`")]
        if tail:
            return first_line(tail[-1])
    return first_line(f"{kind}: {message}")


_RETRY_AFTER = re.compile(r"\[retry_after=([0-9.]+)\]")


def _retry_after(event: dict[str, Any]) -> float | None:
    """A RecoverableError's own ``retry_after`` (its message carries ``[retry_after=N]``),
    which overrides the operation's retry interval."""
    for cause in reversed(_context(event).get("task_error_causes") or []):
        if isinstance(cause, dict):
            match = _RETRY_AFTER.search(str(cause.get("message") or ""))
            if match:
                try:
                    return float(match.group(1))
                except ValueError:
                    return None
            return None
    return None


def cause_of(event: dict[str, Any]) -> str:
    """The one-line cause of a failure event: the last cause's ``Type: message``."""
    causes = _context(event).get("task_error_causes") or []
    for cause in reversed(causes):
        if isinstance(cause, dict) and (cause.get("message") or cause.get("type")):
            message = _RETRY_AFTER.sub("", str(cause.get("message") or "")).rstrip()
            return _message_cause(cause.get("type") or "Error", message)
    message = event.get("message") or {}
    text = message.get("text", "") if isinstance(message, dict) else str(message)
    return first_line(text.split(" -> ", 1)[-1])


@dataclass
class Operation:
    """One operation of a run (a graph.json entry), with what its events told."""

    key: str
    instance: str                 # the node instance it runs on (the source or target side)
    node: str                     # the node (template) of that instance
    operation: str                # full operation name
    task: str = ""                # the task's name (plugin function)
    side: str = ""                # "" | "source" | "target" (relationship operations)
    related: str = ""             # the other side's instance (relationship operations)
    graph_state: str = PENDING    # as graph.json last recorded it
    graph_retries: int = 0
    state: str = PENDING          # from the events (falls back to graph_state)
    retries: int = 0              # attempts after the first
    total_retries: int | None = None   # -1 = forever
    started: datetime | None = None    # first sent
    ended: datetime | None = None      # succeeded or failed for good
    last_change: datetime | None = None
    cause: str = ""               # one line: why the latest attempt failed
    retry_after: float | None = None   # seconds the latest failure asked to wait
    error_event: int | None = None     # index (in the run's events) of its final failure
    events: list[int] = field(default_factory=list)   # indexes of its events and logs
    seen: bool = False            # any event matched
    task_id: str = ""             # the engine's task id (from its events)
    provisional: bool = False     # known from events only: graph.json does not list it yet

    @property
    def short(self) -> str:
        """``create``, or ``establish → vm_x1`` for a relationship operation."""
        name = self.operation.rsplit(".", 1)[-1]
        if self.side:
            arrow = "→" if self.side == "source" else "←"
            return f"{name} {arrow} {self.related}"
        return name

    @property
    def label(self) -> str:
        """``vm_x1.create`` as Cloudify's messages name an operation."""
        return f"{self.instance}.{self.operation.rsplit('.', 1)[-1]}"

    @property
    def shown_state(self) -> str:
        return self.state if self.seen else self.graph_state

    def duration(self, now: datetime) -> float | None:
        if self.started is None:
            return None
        if self.ended is not None:
            return max(0.0, (self.ended - self.started).total_seconds())
        if self.shown_state in DONE_STATES:
            return max(0.0, ((self.last_change or self.started) - self.started).total_seconds())
        return max(0.0, (now - self.started).total_seconds())


def _int(value: Any) -> int:
    """A count from a file a person may have edited: anything but an integer is 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _split_key(key: str) -> tuple[str, str, str, str]:
    """``<instance>|<operation>|<side>|<related>#<n>`` → its four parts."""
    base = key.rsplit("#", 1)[0]
    parts = base.split("|")
    parts += [""] * (4 - len(parts))
    return parts[0], parts[1], parts[2], parts[3]


def _node_of(instance_id: str) -> str:
    # Instance ids are ``<node>_<6 lowercase alphanumerics>``.
    head, _, tail = instance_id.rpartition("_")
    return head if head and len(tail) == 6 else instance_id


class RunTracker:
    """Operations of one run, fed with its graph and its events (incrementally).

    ``feed`` takes events in file order; ``until`` (replay) ignores events after a moment,
    and then the graph's final states are not used either, so the operations show the
    state the run was in at that moment.
    """

    def __init__(self, graph: dict[str, Any] | None = None, *, until: datetime | None = None):
        self.until = until
        self.operations: dict[str, Operation] = {}
        self.order: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.by_task: dict[str, str] = {}            # task id -> operation key
        self._free: dict[tuple, list[str]] = {}      # match tuple -> keys no task took yet
        self.workflow_events: list[int] = []          # events of no operation
        self.first_error: int | None = None           # index of the first error event
        self.first_final_failure: datetime | None = None
        self.started: datetime | None = None
        self.last_event: datetime | None = None
        self.graph_total = 0
        if graph:
            self.set_graph(graph)

    # --- graph ----------------------------------------------------------------------

    def set_graph(self, graph: dict[str, Any]) -> None:
        """Take a (newer) graph.json: new operations are added, states refreshed."""
        operations = graph.get("operations") or {}
        if not isinstance(operations, dict):
            operations = {}
        operations = {key: entry for key, entry in operations.items() if isinstance(entry, dict)}
        self.graph_total = _int(graph.get("total_operations")) or len(operations)
        for key, entry in operations.items():
            if not isinstance(entry, dict):
                continue
            op = self.operations.get(key)
            if op is None:
                instance, operation, side, related = _split_key(key)
                instance = entry.get("node_instance_id") or instance
                op = Operation(key=key, instance=instance, node=_node_of(instance),
                               operation=entry.get("operation") or operation, task=entry.get("name") or "",
                               side=side, related=related)
                self.operations[key] = op
                self.order.append(key)
                self._free.setdefault(self._match_of(op), []).append(key)
            if self.until is None:
                op.graph_state = str(entry.get("state") or PENDING)
                op.graph_retries = _int(entry.get("retries"))
                if op.graph_state in DONE_STATES and op.state not in DONE_STATES and op.seen:
                    # graph.json is written after the events of the same moment: trust its end
                    op.state = op.graph_state
        # Operations known from their events before graph.json listed them take their
        # graph entry now (keeping what the events told).
        for key in [k for k, op in self.operations.items() if op.provisional]:
            early = self.operations[key]
            free = self._free.get(self._match_of(early))
            if not free:
                continue
            real = self.operations[free.pop(0)]
            for name in ("state", "retries", "total_retries", "started", "ended", "last_change", "cause",
                         "retry_after", "error_event", "events", "seen", "task_id"):
                setattr(real, name, getattr(early, name))
            if real.graph_state in DONE_STATES and real.state not in DONE_STATES and self.until is None:
                real.state = real.graph_state
            self.by_task[early.task_id] = real.key
            del self.operations[key]
            self.order.remove(key)

    @staticmethod
    def _match_of(op: Operation) -> tuple:
        if op.side == "source":
            return (op.operation, op.instance, op.related)
        if op.side == "target":
            return (op.operation, op.related, op.instance)
        return (op.operation, op.instance, None)

    # --- events ---------------------------------------------------------------------

    def feed(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            when = event_time(event)
            if self.until is not None and when is not None and when > self.until:
                continue
            index = len(self.events)
            self.events.append(event)
            if when is not None:
                if self.started is None:
                    self.started = when
                self.last_event = when
            if self.first_error is None and is_error_event(event):
                self.first_error = index
            if event.get("event_type") == "workflow_started" and self.by_task:
                self._new_run()
            self._apply(index)

    def _new_run(self) -> None:
        """A resumed run (a new worker) numbers its tasks from 1 again: its tasks are tied
        to the graph's operations afresh (the operations keep what earlier runs told)."""
        self.by_task = {}
        self._free = {}
        for key in self.order:
            op = self.operations[key]
            if not op.provisional:
                self._free.setdefault(self._match_of(op), []).append(key)

    def _task_key(self, event: dict[str, Any]) -> str | None:
        ctx = _context(event)
        task_id = ctx.get("task_id")
        operation = ctx.get("operation")
        if not task_id or not operation:
            return None
        key = self.by_task.get(str(task_id))
        if key is not None:
            return key
        if ctx.get("source_id") and ctx.get("target_id"):
            match = (operation, ctx["source_id"], ctx["target_id"])
        elif ctx.get("node_id"):
            match = (operation, ctx["node_id"], None)
        else:
            return None
        free = self._free.get(match)
        if free:
            key = free.pop(0)
        else:
            # graph.json is first written when an operation ends: until then the run's
            # operations are known from their events
            key = f"~{task_id}"
            instance = ctx.get("node_id") or ctx.get("source_id")
            op = Operation(key=key, instance=instance, node=ctx.get("node_name") or ctx.get("source_name")
                           or _node_of(instance), operation=operation, task=ctx.get("task_name") or "",
                           side="source" if ctx.get("source_id") else "", related=ctx.get("target_id") or "",
                           provisional=True)
            self.operations[key] = op
            self.order.append(key)
        self.operations[key].task_id = str(task_id)
        self.by_task[str(task_id)] = key
        return key

    def _apply(self, index: int) -> None:
        event = self.events[index]
        key = self._task_key(event)
        if key is None:
            self.workflow_events.append(index)
            return
        op = self.operations[key]
        if not op.events or op.events[-1] != index:
            op.events.append(index)
        kind = event.get("event_type")
        if event.get("type") == "cloudify_log" or not kind:
            return
        ctx = _context(event)
        when = event_time(event)
        op.seen = True
        retries = ctx.get("task_current_retries")
        if isinstance(retries, int):
            op.retries = max(op.retries, retries)
        total = ctx.get("task_total_retries")
        if isinstance(total, int):
            op.total_retries = total
        if when is not None:
            op.last_change = when
        if kind in ("sending_task", "task_started"):
            if op.state in DONE_STATES:
                # a resumed run runs a failed operation again: its time starts anew
                op.started, op.ended, op.error_event = when, None, None
            if op.started is None:
                op.started = when
            op.state = SENDING if kind == "sending_task" else STARTED
        elif kind == "task_succeeded":
            op.state, op.ended = SUCCEEDED, when
        elif kind == "task_rescheduled":
            op.state, op.cause, op.retry_after = RESCHEDULED, cause_of(event), _retry_after(event)
        elif kind == "task_failed":
            op.cause, op.retry_after = cause_of(event), _retry_after(event)
            if self._final(event):
                op.state, op.ended, op.error_event = FAILED, when, index
                if self.first_final_failure is None:
                    self.first_final_failure = when
            else:
                op.state = RESCHEDULED

    @staticmethod
    def _final(event: dict[str, Any]) -> bool:
        """Is a ``task_failed`` the operation's last attempt (no retry follows)?"""
        ctx = _context(event)
        causes = ctx.get("task_error_causes") or []
        last = causes[-1] if causes and isinstance(causes[-1], dict) else {}
        if last.get("type") in _FINAL_ERRORS:
            return True
        current, total = ctx.get("task_current_retries"), ctx.get("task_total_retries")
        if not isinstance(current, int) or not isinstance(total, int):
            return True
        return total != -1 and current >= total

    # --- summaries ------------------------------------------------------------------

    def ordered(self) -> list[Operation]:
        """Operations grouped as a tree: node → instance → operation. Nodes and instances
        come in the order they started (those not started yet last, in graph order);
        operations of an instance keep the workflow's order."""
        nodes: dict[str, dict[str, list[Operation]]] = {}
        for key in self.order:
            op = self.operations[key]
            nodes.setdefault(op.node, {}).setdefault(op.instance, []).append(op)
        never = datetime.max.replace(tzinfo=None)

        def first(ops: Iterable[Operation]) -> datetime:
            starts = [op.started.replace(tzinfo=None) for op in ops if op.started is not None]
            return min(starts) if starts else never

        out: list[Operation] = []
        node_order = sorted(nodes.items(), key=lambda item: first(op for ops in item[1].values() for op in ops))
        for _, instances in node_order:
            for _, ops in sorted(instances.items(), key=lambda item: first(item[1])):
                out.extend(ops)
        return out

    def counts(self) -> dict[str, int]:
        """How many operations are in each shown state, plus ``total`` and ``done``."""
        out = {state: 0 for state in (PENDING, SENDING, STARTED, SUCCEEDED, FAILED, RESCHEDULED)}
        for op in self.operations.values():
            out[op.shown_state] = out.get(op.shown_state, 0) + 1
        out["total"] = max(self.graph_total, len(self.operations)) if self.until is None else len(self.operations)
        out["known"] = int(self.graph_total > 0)   # 0: graph.json not written yet, the total is a floor
        out["done"] = out[SUCCEEDED] + out[FAILED]
        return out

    def first_failed(self) -> Operation | None:
        failed = [op for op in self.operations.values() if op.shown_state == FAILED]
        if not failed:
            return None
        if len(failed) == 1:
            return failed[0]
        position = {key: index for index, key in enumerate(self.order)}
        return min(failed, key=lambda op: (op.error_event if op.error_event is not None else 1 << 60,
                                           position[op.key]))


# --- reading a run ------------------------------------------------------------------

def load_graph(home: Any, execution_id: str) -> dict[str, Any]:
    """``runs/<id>/graph.json``, or {} while it does not exist (or is unreadable)."""
    try:
        data = read_json(home.graph_file(execution_id))
    except (OSError, ValueError, CfyLocalError):
        return {}
    return data if isinstance(data, dict) else {}


def retry_intervals(home: Any, record: dict[str, Any]) -> Any:
    """A function giving an operation's seconds between attempts: the operation's own
    ``retry_interval`` from the deployment's nodes, else the run's ``--task-retry-interval``,
    else the configured ``task_retry_interval``."""
    default = record.get("task_retry_interval")
    if default is None:
        try:
            default = load_config(home).task_retry_interval
        except (OSError, ValueError, CfyLocalError):
            default = None
    per_op: dict[tuple[str, str], Any] = {}
    dep = record.get("deployment_id")
    if dep:
        try:
            nodes = read_json(home.nodes_file(dep)).get("nodes") or []
        except (OSError, ValueError, AttributeError, CfyLocalError):
            nodes = []
        for node in nodes:
            for name, op in (node.get("operations") or {}).items():
                if isinstance(op, dict) and op.get("retry_interval") is not None:
                    per_op[(node.get("id"), name)] = op["retry_interval"]

    def interval(op: Operation) -> Any:
        return per_op.get((op.node, op.operation), default)

    return interval


# --- why is it slow or stuck ---------------------------------------------------------

@dataclass(frozen=True)
class Retrying:
    operation: Operation
    attempt: int                  # retries so far
    total: int | None             # allowed retries (-1 forever)
    next_try: datetime | None
    cause: str

    def text(self, now: datetime) -> str:
        """``retrying broken_x1.create (3/60), next try in 12 s: <cause>``."""
        total = "∞" if self.total == -1 else ("?" if self.total is None else str(self.total))
        out = f"retrying {self.operation.label} ({self.attempt}/{total})"
        if self.next_try is not None:
            left = (self.next_try - now).total_seconds()
            out += f", next try in {int(left + 0.999)} s" if left > 0 else ", trying again now"
        return out + (f": {self.cause}" if self.cause else "")


def retrying(tracker: RunTracker, retry_interval: Any = None) -> list[Retrying]:
    """Operations waiting for their next attempt, soonest first. ``retry_interval(op)``
    gives the seconds between attempts of an operation (its own ``retry_interval``, else
    the run's): the next try is its last failure plus that."""
    out = []
    for op in tracker.operations.values():
        if op.shown_state != RESCHEDULED:
            continue
        interval = op.retry_after
        if interval is None:
            interval = retry_interval(op) if callable(retry_interval) else retry_interval
        next_try = None
        if op.last_change is not None and interval is not None:
            next_try = op.last_change + timedelta(seconds=float(interval))
        out.append(Retrying(op, op.retries + 1, op.total_retries, next_try, op.cause))
    out.sort(key=lambda r: (r.next_try is None, r.next_try or datetime.min, r.operation.key))
    return out


def wait_after_fail_left(record: dict[str, Any], tracker: RunTracker, now: datetime) -> float | None:
    """Seconds a still-running run keeps waiting for its other operations after an
    operation failed for good (``wait_after_fail``); None when that does not apply."""
    if not statuses.is_active(record.get("status") or "") or tracker.first_final_failure is None:
        return None
    budget = record.get("wait_after_fail")
    if not isinstance(budget, (int, float)):
        return None
    return max(0.0, (tracker.first_final_failure + timedelta(seconds=budget) - now).total_seconds())


@dataclass(frozen=True)
class QueueFacts:
    position: int                 # 1 = next
    length: int                   # queued executions in all
    blockers: tuple[dict[str, Any], ...]   # the runs it waits behind
    reason: str                   # one line

    def text(self) -> str:
        return f"queued {self.position} of {self.length}: {self.reason}"


def _short(record: dict[str, Any]) -> str:
    where = f" on {record['deployment_id']}" if record.get("deployment_id") else ""
    return f"{str(record.get('id', ''))[:8]} ({record.get('workflow_id')}{where}, {statuses.display(record.get('status') or '')})"


def queue_facts(record: dict[str, Any], others: Iterable[dict[str, Any]], *, maintenance: str = "deactivated",
                max_concurrent: int | None = None) -> QueueFacts | None:
    """Why a queued execution has not started, as the queue decides when it drains: behind
    maintenance mode, a system workflow, the runs of its deployment (active, or queued
    before it), or the cap on concurrent runs. None when ``record`` is not queued."""
    if record.get("status") != Status.QUEUED.value:
        return None
    everyone = [r for r in others if r.get("id") != record.get("id")]
    queued = sorted([r for r in everyone if r.get("status") == Status.QUEUED.value] + [record], key=order_key)
    position = next(i for i, r in enumerate(queued, start=1) if r.get("id") == record.get("id"))
    mine = order_key(record)
    active = [r for r in everyone if statuses.is_active(r.get("status") or "")]
    if maintenance not in ("deactivated", "unknown"):
        return QueueFacts(position, len(queued), (), f"maintenance mode is {maintenance}"
                          " (cfy maintenance-mode deactivate)")
    system = sorted((r for r in everyone if r.get("is_system_workflow") and (
        statuses.is_active(r.get("status") or "")
        or (r.get("status") == Status.QUEUED.value and order_key(r) < mine))), key=order_key)
    if system and not (record.get("is_system_workflow") and not system):
        return QueueFacts(position, len(queued), tuple(system),
                          "waits behind system workflow " + ", ".join(_short(r) for r in system[:3]))
    dep = record.get("deployment_id")
    if dep and not record.get("forced"):
        busy = sorted((r for r in everyone if r.get("deployment_id") == dep and (
            statuses.is_active(r.get("status") or "")
            or (r.get("status") == Status.QUEUED.value and order_key(r) < mine))), key=order_key)
        if busy:
            return QueueFacts(position, len(queued), tuple(busy),
                              "waits behind " + ", ".join(_short(r) for r in busy[:3])
                              + (f" and {len(busy) - 3} more" if len(busy) > 3 else ""))
    if max_concurrent is not None and len(active) >= max_concurrent:
        return QueueFacts(position, len(queued), tuple(sorted(active, key=order_key)),
                          f"concurrency cap: {len(active)} of max_concurrent_workflows {max_concurrent} running")
    if record.get("is_system_workflow") and active:
        return QueueFacts(position, len(queued), tuple(sorted(active, key=order_key)),
                          f"a system workflow waits for all {len(active)} running executions to end")
    return QueueFacts(position, len(queued), (), "nothing blocks it: it starts on the next drain of the queue")


# --- folding tracebacks --------------------------------------------------------------

_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+')
# Frames of cfy-local's own machinery (engine, script shim, plugin loader) and of the
# interpreter tell the user nothing about their blueprint or plugin.
_INTERNAL_PARTS = ("/cfy_local/", "/site-packages/", "/dist-packages/", "/lib/python3", "<frozen ")


def is_internal_frame(path: str) -> bool:
    return any(part in path for part in _INTERNAL_PARTS)


def fold_lines(lines: list[str]) -> list[tuple[int, int]]:
    """Which lines of a traceback to show: ``(index, 0)`` for a line kept, ``(-1, n)`` for a
    run of n internal frames (each a ``File`` line and the source lines under it) folded."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        match = _FRAME.match(lines[i])
        if match and is_internal_frame(match.group(1)):
            frames = 0
            indent = len(lines[i]) - len(lines[i].lstrip())
            while i < len(lines):
                match = _FRAME.match(lines[i])
                if not (match and is_internal_frame(match.group(1))):
                    break
                frames += 1
                i += 1
                while (i < len(lines) and not _FRAME.match(lines[i])
                       and len(lines[i]) - len(lines[i].lstrip()) > indent):
                    i += 1
            out.append((-1, frames))
            continue
        out.append((i, 0))
        i += 1
    return out


def fold_traceback(text: str) -> list[tuple[str, int]]:
    """A traceback's lines as (line, 0), with runs of internal frames as ("", n)."""
    lines = str(text or "").splitlines()
    return [(lines[index] if index >= 0 else "", frames) for index, frames in fold_lines(lines)]


def format_seconds(seconds: float | None) -> str:
    """A duration as tables show it: ``420ms``, ``4.2s``, ``12s``, ``3m05s``, ``2h10m``."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if seconds < 10:
        return f"{seconds:.1f}s"
    total = int(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"
