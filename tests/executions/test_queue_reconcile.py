"""The queue and reconciliation with real worker processes (no engine needed: these runs
end however the worker ends them; what is checked is order, status and events)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest

from cfy_local.executions import api, queue, records
from cfy_local.executions.event_stream import read_all
from cfy_local.store.paths import Home
from polling import wait_for
from exec_helpers import put_record

ENDED = ("terminated", "failed", "cancelled")


def load(home, execution_id):
    return records.load(Home(str(home)), execution_id)


def ended(home, ids):
    return all(load(home, i)["status"] in ENDED for i in ids)


def test_queue_runs_one_deployment_serially_in_creation_order(home):
    ids = [put_record(home, status="queued")["id"] for _ in range(4)]
    started = queue.drain(Home(str(home)))
    assert [r["id"] for r in started] == ids[:1]  # one per deployment per pass
    wait_for(lambda: ended(home, ids), timeout=60, message="queue to drain")
    runs = [load(home, i) for i in ids]
    for earlier, later in zip(runs, runs[1:]):
        assert earlier["ended_at"] <= later["started_at"], "a queued run started before its predecessor ended"


def test_queue_takes_one_per_deployment_and_the_global_cap(home):
    (home / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text("max_concurrent_workflows: 2\n")
    a1 = put_record(home, deployment_id="a", status="queued")
    a2 = put_record(home, deployment_id="a", status="queued")
    b1 = put_record(home, deployment_id="b", status="queued")
    c1 = put_record(home, deployment_id="c", status="queued")
    started = queue.drain(Home(str(home)))
    assert [r["id"] for r in started] == [a1["id"], b1["id"]]
    wait_for(lambda: ended(home, [a1["id"], a2["id"], b1["id"], c1["id"]]), timeout=60, message="all runs")


def test_system_execution_goes_first_and_alone(home):
    dep_run = put_record(home, deployment_id="a", status="queued")
    restore = put_record(home, workflow_id="restore_snapshot", deployment_id=None, status="queued")
    started = queue.drain(Home(str(home)))
    assert [r["id"] for r in started] == [restore["id"]]
    wait_for(lambda: ended(home, [dep_run["id"], restore["id"]]), timeout=60, message="both runs")
    assert load(home, restore["id"])["ended_at"] <= load(home, dep_run["id"])["started_at"]


def test_no_drain_while_maintenance_record_exists_and_deactivate_drains(home):
    from cfy_local import maintenance

    h = Home.open(str(home))
    maintenance.activate(h)
    queued = put_record(home, status="queued")
    assert queue.drain(h) == []
    assert load(home, queued["id"])["status"] == "queued"
    maintenance.deactivate(h)
    wait_for(lambda: ended(home, [queued["id"]]), timeout=30, message="queued run after deactivate")


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_reconcile_fails_a_dead_worker_writes_an_event_and_moves_the_queue(home, sleeper):
    create_time = psutil.Process(sleeper.pid).create_time()
    running = put_record(home, status="started", worker_pid=sleeper.pid, worker_create_time=create_time)
    waiting = put_record(home, status="queued")
    h = Home(str(home))
    assert api.reconcile(h) == []  # alive: untouched
    assert load(home, running["id"])["status"] == "started"
    os.kill(sleeper.pid, signal.SIGKILL)
    sleeper.wait()
    failed = api.reconcile(h)
    assert [r["id"] for r in failed] == [running["id"]]
    record = load(home, running["id"])
    assert record["status"] == "failed"
    assert record["error"].startswith(f"Worker process {sleeper.pid} died unexpectedly")
    assert record["ended_at"]
    final = read_all(h, running["id"])[-1]
    assert final["event_type"] == "workflow_failed" and str(sleeper.pid) in final["message"]["text"]
    wait_for(lambda: load(home, waiting["id"])["status"] != "queued", timeout=30, message="queue to move")


def test_reconcile_stops_the_operations_a_dead_worker_left_behind(home, tmp_path):
    # A stand-in worker: its own session (like a real one), with an "operation" child in its
    # process group that outlives it when the worker is SIGKILLed.
    child_pid_file = tmp_path / "child.pid"
    worker = subprocess.Popen(
        ["sh", "-c", f"sleep 120 & echo $! > {child_pid_file}; wait"], start_new_session=True)
    child_pid = int(wait_for(lambda: child_pid_file.exists() and child_pid_file.read_text().strip(),
                             timeout=20, message="operation child to start"))
    running = put_record(home, status="started", worker_pid=worker.pid,
                         worker_create_time=psutil.Process(worker.pid).create_time())
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert psutil.pid_exists(child_pid)  # orphaned, still running
    api.reconcile(Home(str(home)))
    assert load(home, running["id"])["status"] == "failed"

    def child_gone():
        try:
            return psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(child_gone, timeout=20, message="orphaned operation to be stopped")


def test_reconcile_detects_a_reused_pid_by_start_time(home):
    me = os.getpid()
    reused = put_record(home, status="started", worker_pid=me, worker_create_time=1.0)
    api.reconcile(Home(str(home)))
    assert load(home, reused["id"])["status"] == "failed"


def test_reconcile_never_acts_without_proof(home):
    no_pid = put_record(home, status="pending")
    api.reconcile(Home(str(home)))
    assert load(home, no_pid["id"])["status"] == "pending"


def test_cancel_of_a_queued_execution_is_immediate_with_an_event(home, cfy):
    blocker = put_record(home, status="started", worker_pid=os.getpid(),
                         worker_create_time=psutil.Process().create_time())
    queued = put_record(home, status="queued")
    result = cfy("executions", "cancel", queued["id"])
    assert result.exit_code == 0, result
    assert f"Cancelling execution {queued['id']}" in result.stdout
    assert "A cancel request for execution" in result.stdout
    record = load(home, queued["id"])
    assert record["status"] == "cancelled" and record["ended_at"]
    assert read_all(Home(str(home)), queued["id"])[-1]["event_type"] == "workflow_cancelled"
    assert load(home, blocker["id"])["status"] == "started"


def test_cancel_rules_and_texts(home, cfy):
    done = put_record(home, status="terminated")
    result = cfy("executions", "cancel", done["id"])
    assert result.exit_code == 1
    assert f"Can't cancel execution {done['id']} because it's in status terminated" in result.stderr
    result = cfy("executions", "cancel", "-f", done["id"])
    assert f"Can't force-cancel execution {done['id']} because it's in status terminated" in result.stderr
    result = cfy("executions", "resume", put_record(home, status="terminated")["id"])
    assert result.exit_code == 1 and "Cannot resume execution: `" in result.stderr
    assert "in state: `terminated`" in result.stderr
