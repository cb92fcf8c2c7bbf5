"""Executions end to end: real `cfy` processes, real workers, real workflows (engine),
operations steered through marker files. Bounded polling only."""
from __future__ import annotations

import json
import os
import signal

import psutil
import pytest

from cfy_local.executions import records
from cfy_local.store.paths import Home
from polling import wait_for
from exec_helpers import count, deploy
from process_support import cfy_popen

pytestmark = pytest.mark.slow

ENDED = ("terminated", "failed", "cancelled")


@pytest.fixture
def markers(tmp_path):
    path = tmp_path / "markers"
    path.mkdir()
    return path


def all_records(home):
    return records.load_all(Home(str(home)))


def runs_of(home, workflow_id="install"):
    return sorted((r for r in all_records(home) if r["workflow_id"] == workflow_id),
                  key=lambda r: (r["created_at"], r["created_ns"]))


def status(home, execution_id):
    return records.load(Home(str(home)), execution_id)["status"]


def wait_status(home, execution_id, wanted=ENDED, timeout=60):
    wait_for(lambda: status(home, execution_id) in wanted, timeout=timeout,
             message=f"execution {execution_id} to reach {wanted}")
    return records.load(Home(str(home)), execution_id)


def holding(markers, n=1):
    return len(list(markers.glob("holding-*"))) >= n


def test_start_waits_streams_and_exits_0(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    result = cfy_proc("executions", "start", "install", "-d", "dep")
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert lines[0] == "Executing workflow `install` on deployment `dep` [timeout=900 seconds]"
    assert any("CFY <dep> Starting 'install' workflow execution" in line for line in lines)
    assert any("CFY <dep> 'install' workflow execution succeeded" in line for line in lines)
    assert lines[-2] == "Finished executing workflow install on deployment dep"
    (run,) = runs_of(home)
    assert lines[-1] == f"* Run 'cfy events list {run['id']}' to retrieve the execution's events/logs"
    assert run["status"] == "terminated" and run["started_at"] and run["ended_at"]
    assert run["total_operations"] and run["finished_operations"] == run["total_operations"]
    assert count(markers, "first") == 1


def test_json_stream_and_custom_workflow_result(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    result = cfy_proc("executions", "start", "hello", "-d", "dep", "-p", "greeting=yo", "-p", '{"times": "3"}',
                      "--json")
    assert result.exit_code == 0, result
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["event_type"] == "workflow_succeeded"
    (run,) = runs_of(home, "hello")
    assert run["parameters"] == {"greeting": "yo", "times": 3}
    assert run["result"] == {"greeting": "yo", "times": 3}


def test_failed_run_exit_1_then_resume_skips_succeeded_operations(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    (markers / "fail").touch()
    result = cfy_proc("executions", "start", "install", "-d", "dep")
    assert result.exit_code == 1, result
    assert "Execution of workflow install for deployment dep failed. [error=" in result.stderr
    (run,) = runs_of(home)
    assert run["status"] == "failed" and "configure failed on purpose" in run["error"]
    assert (count(markers, "first"), count(markers, "configure")) == (1, 1)
    (markers / "fail").unlink()
    resumed = cfy_proc("executions", "resume", run["id"])
    assert resumed.exit_code == 0, resumed
    assert f"Resuming execution {run['id']}" in resumed.stdout
    final = wait_status(home, run["id"])
    assert final["status"] == "terminated", final["error"]
    assert final["resume"] is True
    assert count(markers, "first") == 1, "resume re-ran an operation that had succeeded"
    assert count(markers, "configure") == 2
    assert len(runs_of(home)) == 1  # same execution id
    from cfy_local.executions.event_stream import read_all

    texts = [e["message"]["text"] for e in read_all(Home(str(home)), run["id"])]
    assert "Resuming 'install' workflow execution" in texts
    assert texts[-1] == "'install' workflow execution succeeded"


def test_bad_parameters_and_usage_errors_change_nothing(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    before = sorted(os.listdir(home / "executions"))
    bad = cfy_proc("executions", "start", "hello", "-d", "dep", "-p", "nope=1")
    assert bad.exit_code == 1
    assert 'Workflow "hello" does not have the following parameters declared: nope' in bad.stderr
    missing = cfy_proc("executions", "start", "nosuch", "-d", "dep")
    assert "Workflow nosuch does not exist in the deployment dep" in missing.stderr
    usage = cfy_proc("executions", "start", "install", "-d", "dep", "--queue", "--force")
    assert usage.exit_code == 2 and "Illegal usage" in usage.stderr
    assert cfy_proc("executions", "start", "install", "-d", "dep", "--queue", "--dry-run").exit_code == 2
    assert sorted(os.listdir(home / "executions")) == before


def test_maintenance_mode_refuses_start(home, markers, cfy_proc):
    from cfy_local import maintenance

    deploy(home, markers, "dep")
    maintenance.activate(Home(str(home)))
    before = sorted(os.listdir(home / "executions"))
    result = cfy_proc("executions", "start", "install", "-d", "dep")
    assert result.exit_code == 1
    assert "Your request was rejected since Cloudify manager is currently in maintenance mode" in result.stderr
    assert sorted(os.listdir(home / "executions")) == before


def test_ten_parallel_starts_exactly_one_runs(home, markers):
    deploy(home, markers, "dep")
    (markers / "hold").touch()
    procs = [cfy_popen(home, "executions", "start", "install", "-d", "dep", "--no-wait") for _ in range(10)]
    outcomes = [(p.wait(60), *p.communicate()) for p in procs]
    ok = [o for o in outcomes if o[0] == 0]
    refused = [o for o in outcomes if o[0] == 1]
    assert len(ok) == 1 and len(refused) == 9, outcomes
    for _, _, err in refused:
        assert "The following executions are currently running for this deployment" in err
    assert len(runs_of(home)) == 1
    (markers / "release").touch()
    wait_status(home, runs_of(home)[0]["id"])


def test_ten_parallel_queued_run_one_by_one_in_creation_order(home, markers):
    deploy(home, markers, "dep")
    procs = [cfy_popen(home, "executions", "start", "install", "-d", "dep", "--queue", "--no-wait")
             for _ in range(10)]
    for p in procs:
        assert p.wait(60) == 0, p.communicate()
    wait_for(lambda: len(runs_of(home)) == 10 and all(r["status"] in ENDED for r in runs_of(home)),
             timeout=120, message="ten queued runs to end")
    runs = runs_of(home)
    assert all(r["status"] == "terminated" for r in runs), [(r["status"], r["error"]) for r in runs]
    starts = [r["started_at"] for r in runs]
    assert starts == sorted(starts), "queued runs did not start in creation order"
    for earlier, later in zip(runs, runs[1:]):
        assert earlier["ended_at"] <= later["started_at"]


def test_queue_drains_after_cancel_and_force_runs_in_parallel(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    (markers / "hold").touch()
    first = cfy_proc("executions", "start", "install", "-d", "dep", "--no-wait").stdout.strip()
    wait_for(lambda: holding(markers), message="first run to hold")
    queued = cfy_proc("executions", "start", "install", "-d", "dep", "--queue")
    assert "Execution is being queued. It will automatically start when possible." in queued.stderr
    forced = cfy_proc("executions", "start", "uninstall", "-d", "dep", "--force", "--no-wait").stdout.strip()
    wait_status(home, forced, ("started", "terminated"))
    assert status(home, first) == "started"
    assert cfy_proc("executions", "cancel", "-f", first).exit_code == 0
    assert wait_status(home, first)["status"] == "cancelled"
    queued_id = [r for r in runs_of(home) if r["id"] != first][0]["id"]
    assert queued.stdout.strip() == queued_id  # the queued start printed its id alone on stdout
    (markers / "release").touch()
    assert wait_status(home, queued_id)["status"] == "terminated"


def test_kill_9_of_a_worker_is_reconciled_and_the_queue_moves(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    (markers / "hold").touch()
    first = cfy_proc("executions", "start", "install", "-d", "dep", "--no-wait").stdout.strip()
    wait_for(lambda: holding(markers), message="first run to hold")
    cfy_proc("executions", "start", "install", "-d", "dep", "--queue")
    pid = records.load(Home(str(home)), first)["worker_pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
             message="worker to die")
    listing = cfy_proc("executions", "list", "--json").json
    dead = [r for r in listing if r["id"] == first][0]
    assert dead["status"] == "failed"
    assert f"Worker process {pid} died unexpectedly" in records.load(Home(str(home)), first)["error"]
    (markers / "release").touch()
    second = [r for r in runs_of(home) if r["id"] != first][0]["id"]
    assert wait_status(home, second)["status"] == "terminated"


def test_graceful_cancel_exit_3(home, markers):
    deploy(home, markers, "dep")
    (markers / "hold").touch()
    waiter = cfy_popen(home, "executions", "start", "install", "-d", "dep")
    wait_for(lambda: holding(markers), message="run to hold")
    run = runs_of(home)[0]
    from cfy_local.executions import api

    assert api.cancel(Home(str(home)), run["id"])["status"] == "cancelling"
    (markers / "release").touch()  # the running operation finishes; nothing after it starts
    assert waiter.wait(60) == 3, waiter.communicate()
    assert status(home, run["id"]) == "cancelled"
    assert count(markers, "configure") == 0


def test_kill_ends_the_operation_process(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    (markers / "sleeper").touch()
    run_id = cfy_proc("executions", "start", "install", "-d", "dep", "--no-wait").stdout.strip()
    pid_file = markers / "sleeper.pid"
    wait_for(pid_file.exists, message="sleeper to start")
    sleeper = int(wait_for(lambda: pid_file.read_text().strip(), message="sleeper pid"))
    assert psutil.pid_exists(sleeper)
    result = cfy_proc("executions", "cancel", "-k", run_id)
    assert result.exit_code == 0 and f"Killing execution {run_id}" in result.stdout
    assert wait_status(home, run_id)["status"] == "cancelled"
    wait_for(lambda: not psutil.pid_exists(sleeper) or psutil.Process(sleeper).status() == psutil.STATUS_ZOMBIE,
             timeout=15, message="operation process to be killed")


def test_timeout_exit_4_keeps_running_and_sigint_exit_130(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    (markers / "hold").touch()
    timed = cfy_proc("executions", "start", "install", "-d", "dep", "--timeout", "1")
    assert timed.exit_code == 4, timed
    assert "Timed out waiting for workflow 'install' of deployment 'dep' to end." in timed.stderr
    run_id = runs_of(home)[0]["id"]
    assert status(home, run_id) == "started"
    follower = cfy_popen(home, "events", "list", run_id, "--tail")
    waiter = cfy_popen(home, "executions", "start", "install", "-d", "dep", "--force")
    wait_for(lambda: holding(markers, 2), message="forced run to hold")
    waiter.send_signal(signal.SIGINT)
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 130, (out, err)
    forced_id = [r["id"] for r in runs_of(home) if r["id"] != run_id][0]
    assert forced_id in err and f"cfy events list {forced_id} --tail" in err
    assert status(home, forced_id) == "started"
    (markers / "release").touch()
    assert follower.wait(60) == 0
    out, _ = follower.communicate()
    assert "'install' workflow execution succeeded" in out
    assert "Finished executing workflow install on deployment dep" in out
    assert wait_status(home, forced_id)["status"] == "terminated"


def test_install_and_uninstall_shortcuts(home, markers, cfy_proc, tmp_path):
    import shutil

    from exec_helpers import BLUEPRINT

    folder = tmp_path / "webapp"
    shutil.copytree(BLUEPRINT.parent, folder)
    result = cfy_proc("install", str(folder / "blueprint.yaml"), "-d", "web", "-i", f"marker_dir={markers}")
    assert result.exit_code == 0, result
    assert "Blueprint uploaded. The blueprint's id is webapp" in result.stdout
    assert "Finished executing workflow install on deployment web" in result.stdout
    assert count(markers, "first") == 1
    result = cfy_proc("uninstall", "web")
    assert result.exit_code == 0, result
    assert "Finished executing workflow uninstall on deployment web" in result.stdout
    assert not (home / "deployments" / "web").exists()
    assert not (home / "blueprints" / "webapp").exists()


def test_schedule_option_creates_a_one_shot_schedule(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    result = cfy_proc("executions", "start", "install", "-d", "dep", "--schedule", "209901012230+0000")
    assert result.exit_code == 0, result
    assert "Execution is scheduled for" in result.stdout
    assert "cfy deployments schedule list" in result.stdout
    from cfy_local.schedules.api import list_schedules

    (schedule,) = list_schedules(Home(str(home)), "dep")
    assert schedule["workflow_id"] == "install" and schedule["id"].startswith("install_")
    assert runs_of(home) == []


def test_get_shows_live_progress_while_running(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    (markers / "hold").touch()
    run_id = cfy_proc("executions", "start", "install", "-d", "dep", "--no-wait").stdout.strip()
    wait_for(lambda: holding(markers), message="run to hold")
    live = cfy_proc("executions", "get", run_id, "--json").json
    assert live["status"] == "started" and live["worker_pid"]
    assert live["total_operations"] and 0 < live["finished_operations"] < live["total_operations"]
    (markers / "release").touch()
    assert wait_status(home, run_id)["status"] == "terminated"


def test_force_cancel_leaves_operations_and_kill_stops_them_afterwards(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    (markers / "sleeper").touch()
    run_id = cfy_proc("executions", "start", "install", "-d", "dep", "--no-wait").stdout.strip()
    pid_file = markers / "sleeper.pid"
    sleeper = int(wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), message="sleeper pid"))
    assert cfy_proc("executions", "cancel", "-f", run_id).exit_code == 0
    assert wait_status(home, run_id)["status"] == "cancelled"
    assert psutil.pid_exists(sleeper)  # force-cancel stops the worker, not its operations
    assert cfy_proc("executions", "cancel", "-k", run_id).exit_code == 0  # kill is allowed from any status
    wait_for(lambda: not psutil.pid_exists(sleeper) or psutil.Process(sleeper).status() == psutil.STATUS_ZOMBIE,
             timeout=15, message="leftover operation process to be killed")
    assert status(home, run_id) == "cancelled"


def test_a_waiting_start_sees_its_worker_die(home, markers):
    deploy(home, markers, "dep")
    (markers / "hold").touch()
    waiter = cfy_popen(home, "executions", "start", "install", "-d", "dep")
    wait_for(lambda: holding(markers), message="run to hold")
    run = runs_of(home)[0]
    os.killpg(run["worker_pid"], signal.SIGKILL)
    assert waiter.wait(60) == 1
    out, err = waiter.communicate()
    assert f"Worker process {run['worker_pid']} died unexpectedly" in out + err
    assert status(home, run["id"]) == "failed"
