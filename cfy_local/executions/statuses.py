"""Execution statuses and the one table of legal transitions.

Status names, sets and display names are Cloudify's (``cloudify/models_states.py``).
Every status change in cfy-local goes through :func:`apply_transition` (persisted by
``executions.records.set_status`` under the state lock), so the rules below are the
whole state machine:

::

                 +--> queued --(dequeue)--> pending
   (create) -----+--> pending --(worker)--> started --> terminated | failed | cancelled
                 +--> failed  ("Error preparing execution: ...")
   pending/started       --cancel-------> cancelling       --> cancelled | failed
   pending/started/cancelling --force---> force_cancelling --> cancelled | failed
   any active            --kill---------> kill_cancelling  --> cancelled | failed
   queued/scheduled      --any cancel---> cancelled (at once: nothing is running)
   failed/cancelled      --resume-------> pending --> started ...

A terminal status is written once: the only way out of one is ``resume``, an explicit
transition of its own.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from cfy_local.errors import ConflictError, InvalidTransitionError
from cfy_local.timefmt import iso


class Status(str, Enum):
    TERMINATED = "terminated"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PENDING = "pending"
    STARTED = "started"
    CANCELLING = "cancelling"
    FORCE_CANCELLING = "force_cancelling"
    KILL_CANCELLING = "kill_cancelling"
    QUEUED = "queued"
    SCHEDULED = "scheduled"

    def __str__(self) -> str:  # persisted and printed by value
        return self.value


STATES: tuple[Status, ...] = tuple(Status)
END_STATES = frozenset({Status.TERMINATED, Status.FAILED, Status.CANCELLED})
WAITING_STATES = frozenset({Status.SCHEDULED, Status.QUEUED})
ACTIVE_STATES = frozenset(set(STATES) - END_STATES - WAITING_STATES)
CANCELLING_STATES = frozenset({Status.CANCELLING, Status.FORCE_CANCELLING, Status.KILL_CANCELLING})

DISPLAY_NAMES = {Status.TERMINATED: "completed"}

# For a deployment's "latest execution" summary (DeploymentState.EXECUTION_STATES_SUMMARY).
SUMMARY = {
    Status.TERMINATED: "completed", Status.FAILED: "failed", Status.CANCELLED: "cancelled",
    **{s: "in_progress" for s in (Status.PENDING, Status.STARTED, Status.CANCELLING, Status.FORCE_CANCELLING,
                                  Status.KILL_CANCELLING, Status.QUEUED)},
}

# The transition table: from-status -> statuses it may move to by an ordinary update
# (worker reports, admission, dequeue, reconcile). Cancel and resume actions are below.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.STARTED, Status.QUEUED, Status.FAILED, Status.CANCELLED,
                               Status.CANCELLING, Status.FORCE_CANCELLING, Status.KILL_CANCELLING}),
    Status.QUEUED: frozenset({Status.PENDING, Status.FAILED, Status.CANCELLED}),
    Status.SCHEDULED: frozenset({Status.PENDING, Status.QUEUED, Status.FAILED, Status.CANCELLED}),
    Status.STARTED: frozenset({Status.TERMINATED, Status.FAILED, Status.CANCELLED,
                               Status.CANCELLING, Status.FORCE_CANCELLING, Status.KILL_CANCELLING}),
    # A workflow asked to cancel may still fail, but never goes back to running or
    # reports success (Cloudify's _validate_execution_update rules 3 and 4).
    Status.CANCELLING: frozenset({Status.FAILED, Status.CANCELLED, Status.FORCE_CANCELLING, Status.KILL_CANCELLING}),
    Status.FORCE_CANCELLING: frozenset({Status.FAILED, Status.CANCELLED, Status.KILL_CANCELLING}),
    Status.KILL_CANCELLING: frozenset({Status.FAILED, Status.CANCELLED}),
    Status.TERMINATED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
}


class CancelAction(str, Enum):
    CANCEL = "cancel"
    FORCE = "force-cancel"
    KILL = "kill"


# action -> (statuses it is allowed from, the status it moves to)
CANCEL_RULES: dict[CancelAction, tuple[frozenset[Status], Status]] = {
    CancelAction.CANCEL: (frozenset({Status.PENDING, Status.STARTED, Status.SCHEDULED}), Status.CANCELLING),
    CancelAction.FORCE: (frozenset({Status.PENDING, Status.STARTED, Status.SCHEDULED, Status.CANCELLING}),
                         Status.FORCE_CANCELLING),
    CancelAction.KILL: (frozenset(ACTIVE_STATES), Status.KILL_CANCELLING),
}

RESUMABLE = frozenset({Status.FAILED, Status.CANCELLED})


def display(status: str) -> str:
    """``terminated`` shows as ``completed``; every other status as itself."""
    return DISPLAY_NAMES.get(Status(status), str(status))


# Plain-string views of the sets: admission and the queue test every execution's status,
# and building a Status member for each of 10,000 records is measurable.
_KNOWN_VALUES = frozenset(s.value for s in Status)
END_VALUES = frozenset(s.value for s in END_STATES)
ACTIVE_VALUES = frozenset(s.value for s in ACTIVE_STATES)


def is_end(status: str) -> bool:
    if status in _KNOWN_VALUES:
        return status in END_VALUES
    return Status(status) in END_STATES  # raises for an unknown status


def is_active(status: str) -> bool:
    if status in _KNOWN_VALUES:
        return status in ACTIVE_VALUES
    return Status(status) in ACTIVE_STATES  # raises for an unknown status


def can_transition(current: str, new: str) -> bool:
    cur, nxt = Status(current), Status(new)
    return cur == nxt or nxt in TRANSITIONS[cur]


def apply_transition(record: dict[str, Any], new: str, now: datetime, *, error: str | None = None) -> dict[str, Any]:
    """Return ``record`` moved to ``new`` with the timestamps Cloudify stamps.

    Same status is a no-op update (Cloudify rule 1). Anything the table refuses raises
    :class:`InvalidTransitionError` with Cloudify's text.
    """
    cur, nxt = Status(record["status"]), Status(new)
    if not can_transition(cur, nxt):
        raise InvalidTransitionError(
            f"Invalid relationship - can't change status from {cur.value} to {nxt.value} for "
            f"\"{record['id']}\" execution while running \"{record['workflow_id']}\" workflow."
        )
    out = dict(record)
    out["status"] = nxt.value
    out["status_display"] = display(nxt.value)
    if nxt == Status.STARTED and cur != Status.STARTED:
        out["started_at"] = iso(now)
    if nxt in END_STATES and cur not in END_STATES:
        out["ended_at"] = iso(now)
    if error is not None:
        out["error"] = error
    return out


def cancel_target(record: dict[str, Any], action: CancelAction) -> Status | None:
    """The status a cancel request moves to, or raise with Cloudify's text.

    Queued/scheduled executions are treated as kill and end ``cancelled`` at once. Kill of
    an execution that already ended returns None: nothing to change, but leftover
    operation processes are still stopped by the caller.
    """
    cur = Status(record["status"])
    if cur in WAITING_STATES:
        return Status.CANCELLED
    allowed, target = CANCEL_RULES[action]
    if action == CancelAction.KILL and cur in END_STATES:
        return None
    if cur not in allowed:
        verb = "force-cancel" if action == CancelAction.FORCE else "cancel"
        raise ConflictError(f"Can't {verb} execution {record['id']} because it's in status {cur.value}")
    return target


def apply_resume(record: dict[str, Any], *, reset_operations: bool) -> dict[str, Any]:
    """``failed``/``cancelled`` → ``pending`` with ``ended_at`` cleared and ``resume`` set."""
    cur = Status(record["status"])
    if cur not in RESUMABLE:
        word = "force-resume" if reset_operations else "resume"
        raise ConflictError(f"Cannot {word} execution: `{record['id']}` in state: `{cur.value}`")
    out = dict(record)
    out.update(status=Status.PENDING.value, status_display=Status.PENDING.value, ended_at=None, resume=True, error="")
    return out
