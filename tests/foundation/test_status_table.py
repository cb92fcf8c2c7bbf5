"""The status table: Cloudify's ten statuses, sets, display names and legal moves."""
from datetime import datetime, timezone

import pytest

from cfy_local.errors import ConflictError, InvalidTransitionError
from cfy_local.executions import statuses
from cfy_local.executions.statuses import CancelAction, Status

NOW = datetime(2026, 11, 27, 16, 8, 1, 123000, tzinfo=timezone.utc)


def rec(status: str) -> dict:
    return {"id": "e1", "workflow_id": "install", "status": status, "status_display": status,
            "started_at": None, "ended_at": None, "error": ""}


def test_status_names_and_sets_are_cloudifys():
    assert [s.value for s in statuses.STATES] == [
        "terminated", "failed", "cancelled", "pending", "started", "cancelling",
        "force_cancelling", "kill_cancelling", "queued", "scheduled"]
    assert {s.value for s in statuses.END_STATES} == {"terminated", "failed", "cancelled"}
    assert {s.value for s in statuses.WAITING_STATES} == {"queued", "scheduled"}
    assert {s.value for s in statuses.ACTIVE_STATES} == {
        "pending", "started", "cancelling", "force_cancelling", "kill_cancelling"}
    assert statuses.display("terminated") == "completed"
    assert all(statuses.display(s.value) == s.value for s in statuses.STATES if s != Status.TERMINATED)


@pytest.mark.parametrize("end", ["terminated", "failed", "cancelled"])
@pytest.mark.parametrize("target", [s.value for s in Status])
def test_terminal_status_is_written_once(end, target):
    if target == end:
        assert statuses.apply_transition(rec(end), target, NOW)["status"] == end
        return
    with pytest.raises(InvalidTransitionError) as err:
        statuses.apply_transition(rec(end), target, NOW)
    assert str(err.value) == (f"Invalid relationship - can't change status from {end} to {target} "
                              f'for "e1" execution while running "install" workflow.')


@pytest.mark.parametrize("frm,to", [("cancelling", "started"), ("cancelling", "terminated"),
                                    ("force_cancelling", "cancelling"), ("queued", "started")])
def test_cancelling_never_goes_back_to_running(frm, to):
    with pytest.raises(InvalidTransitionError):
        statuses.apply_transition(rec(frm), to, NOW)


def test_timestamps_stamped_on_start_and_end():
    started = statuses.apply_transition(rec("pending"), "started", NOW)
    assert started["started_at"] == "2026-11-27T16:08:01.123Z"
    ended = statuses.apply_transition(started, "terminated", NOW)
    assert ended["ended_at"] == "2026-11-27T16:08:01.123Z"
    assert ended["status_display"] == "completed"


def test_cancel_rules_and_texts():
    assert statuses.cancel_target(rec("started"), CancelAction.CANCEL) == Status.CANCELLING
    assert statuses.cancel_target(rec("cancelling"), CancelAction.FORCE) == Status.FORCE_CANCELLING
    assert statuses.cancel_target(rec("queued"), CancelAction.CANCEL) == Status.CANCELLED
    assert statuses.cancel_target(rec("terminated"), CancelAction.KILL) is None
    with pytest.raises(ConflictError, match="^Can't cancel execution e1 because it's in status cancelling$"):
        statuses.cancel_target(rec("cancelling"), CancelAction.CANCEL)
    with pytest.raises(ConflictError, match="^Can't force-cancel execution e1 because it's in status failed$"):
        statuses.cancel_target(rec("failed"), CancelAction.FORCE)


def test_resume_rules_and_texts():
    resumed = statuses.apply_resume(dict(rec("failed"), ended_at="x"), reset_operations=False)
    assert resumed["status"] == "pending" and resumed["ended_at"] is None and resumed["resume"] is True
    with pytest.raises(ConflictError, match=r"^Cannot resume execution: `e1` in state: `terminated`$"):
        statuses.apply_resume(rec("terminated"), reset_operations=False)
    with pytest.raises(ConflictError, match=r"^Cannot force-resume execution: `e1` in state: `started`$"):
        statuses.apply_resume(rec("started"), reset_operations=True)
