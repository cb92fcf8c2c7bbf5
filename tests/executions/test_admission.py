"""The one admission function, decided over execution summaries."""
from __future__ import annotations

import pytest

from cfy_local.errors import ConflictError
from cfy_local.executions import admission, records


def rec(workflow_id="install", deployment_id="dep", status="pending", **extra):
    return records.new_record(workflow_id=workflow_id, deployment_id=deployment_id, blueprint_id="bp",
                              status=status, **extra)


def test_idle_deployment_starts():
    assert admission.decide(rec(), [], queue=False, force=False) == admission.START


def test_busy_deployment_refused_with_cloudify_text():
    running = rec(status="started")
    with pytest.raises(ConflictError) as err:
        admission.decide(rec(), [running], queue=False, force=False)
    text = str(err.value)
    assert text.startswith("The following executions are currently running for this deployment: [<Execution id=`"
                           + running["id"] + "` status=`started` workflow_id=`install`>]")
    assert text.endswith('To execute this workflow anyway, pass "force=true" as a query parameter to this request')


def test_busy_deployment_queues_with_queue_and_force_runs_in_parallel():
    running = rec(status="started")
    assert admission.decide(rec(), [running], queue=True, force=False) == admission.QUEUE
    assert admission.decide(rec(), [running], queue=False, force=True) == admission.START


def test_other_deployment_does_not_block():
    assert admission.decide(rec(deployment_id="b"), [rec(status="started")], queue=False, force=False) == admission.START


def test_older_queued_execution_on_same_deployment_blocks_newer():
    older = rec(status="queued")
    newer = rec()
    assert admission.decide(newer, [older], queue=True, force=False) == admission.QUEUE
    # but the older one itself is free to go when the deployment is idle
    assert admission.decide(older, [older, dict(newer, status="queued")], queue=True, force=False, dequeue=True,
                            max_concurrent=20) == admission.START


def test_ended_executions_do_not_block():
    done = [rec(status=s) for s in ("terminated", "failed", "cancelled")]
    assert admission.decide(rec(), done, queue=False, force=False) == admission.START


def test_system_execution_waits_for_everything_else():
    restore = rec(workflow_id="restore_snapshot", deployment_id=None)
    busy = rec(status="started", deployment_id="x")
    with pytest.raises(ConflictError) as err:
        admission.decide(restore, [busy], queue=False, force=False)
    assert str(err.value) == f"Cannot start execution because there are other executions running e.g.: {busy['id']}"
    assert admission.decide(restore, [busy], queue=True, force=False) == admission.QUEUE
    assert admission.decide(restore, [], queue=False, force=False) == admission.START


def test_anything_queues_behind_a_system_execution_even_forced():
    restore = rec(workflow_id="restore_snapshot", deployment_id=None, status="started")
    assert admission.decide(rec(), [restore], queue=False, force=False) == admission.QUEUE
    assert admission.decide(rec(), [restore], queue=False, force=True) == admission.QUEUE
    queued_restore = rec(workflow_id="restore_snapshot", deployment_id=None, status="queued")
    assert admission.decide(rec(), [queued_restore], queue=False, force=False) == admission.QUEUE


def test_create_snapshot_does_not_block_unless_queued():
    snap = rec(workflow_id="create_snapshot", deployment_id=None)
    busy = rec(status="started")
    assert admission.decide(snap, [busy], queue=False, force=False) == admission.START
    assert admission.decide(snap, [busy], queue=True, force=False) == admission.QUEUE


def test_dequeue_respects_global_cap():
    active = [rec(deployment_id=f"d{i}", status="started") for i in range(3)]
    candidate = rec(deployment_id="free", status="queued")
    assert admission.decide(candidate, active, queue=True, force=False, dequeue=True,
                            max_concurrent=3) == admission.QUEUE
    assert admission.decide(candidate, active, queue=True, force=False, dequeue=True,
                            max_concurrent=4) == admission.START
