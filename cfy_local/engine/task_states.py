"""Engine task states and the one table of the moves between them.

The names and values are Cloudify's (``cloudify.workflows.tasks.TASK_PENDING`` … : pending,
sending, sent, started, rescheduled, succeeded, failed). Every change the engine makes to a task's state goes
through :func:`move`, so the table below is the whole state machine of a task:

::

   pending --attempt--> started --ok--------------------> succeeded
      |                    |----OperationRetry----------> rescheduled --retry--> pending
      |                    |----any other error---------> failed ------retry---> pending
      |                    +----on_success asks a retry-> pending
      +--> succeeded   (skipped: already succeeded before a resume; an empty subgraph;
      |                 a bookkeeping task done inline)
      +--> failed      (cancelled while waiting for a retry)
   rescheduled --retries used up--> failed
   pending --> sending --> sent --> started   (a remote task's path in Cloudify; kept so
                                               workflow code that sets them still works)

A subgraph follows the same table: pending → started when its children may run, then
succeeded when all of them did, or failed when one failed (or its own subgraph failed).
``succeeded`` is final. ``failed`` is final unless the failure handler asks for a retry,
which moves the task back to ``pending`` for its next attempt. Moving a task to the state
it already has is allowed and changes nothing (a failure decided twice stays ``failed``).

Workflow code may also call ``task.set_state`` (Cloudify's API): that sets any state on a
task that has not succeeded or failed, as Cloudify does, and is not checked here.
"""
from __future__ import annotations

TASK_PENDING = "pending"
TASK_SENDING = "sending"
TASK_SENT = "sent"
TASK_STARTED = "started"
TASK_RESCHEDULED = "rescheduled"
TASK_SUCCEEDED = "succeeded"
TASK_FAILED = "failed"

STATES = (TASK_PENDING, TASK_SENDING, TASK_SENT, TASK_STARTED, TASK_RESCHEDULED, TASK_SUCCEEDED, TASK_FAILED)
# Cloudify's TERMINATED_STATES: an attempt is over (a rescheduled task waits for the next).
TERMINATED_STATES = (TASK_RESCHEDULED, TASK_SUCCEEDED, TASK_FAILED)
# A task in one of these does not change any more through ``set_state``.
FINAL_STATES = (TASK_SUCCEEDED, TASK_FAILED)

TRANSITIONS: dict[str, frozenset[str]] = {
    TASK_PENDING: frozenset({TASK_SENDING, TASK_STARTED, TASK_SUCCEEDED, TASK_FAILED}),
    TASK_SENDING: frozenset({TASK_SENT, TASK_STARTED, TASK_FAILED}),
    TASK_SENT: frozenset({TASK_STARTED, TASK_FAILED}),
    TASK_STARTED: frozenset({TASK_SUCCEEDED, TASK_RESCHEDULED, TASK_FAILED, TASK_PENDING}),
    TASK_RESCHEDULED: frozenset({TASK_PENDING, TASK_FAILED}),
    TASK_FAILED: frozenset({TASK_PENDING}),
    TASK_SUCCEEDED: frozenset(),
}


class InvalidTaskTransition(RuntimeError):
    """The engine tried a move the table does not allow: a bug in the engine, never input."""


def can_move(current: str, new: str) -> bool:
    return new == current or new in TRANSITIONS.get(current, ())


def move(task, new: str) -> None:
    """Set ``task.state`` to ``new`` if the table allows it; raise otherwise."""
    current = task.state
    if new != current and new not in TRANSITIONS.get(current, ()):
        raise InvalidTaskTransition(f"Task {task.name!r} cannot move from {current!r} to {new!r}")
    task.state = new
