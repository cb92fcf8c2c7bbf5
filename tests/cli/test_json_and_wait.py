"""Scripting: one JSON shape for an execution in list and get, honest progress, and
`executions wait` / `events list --tail` exiting 0/1/3 as a waited start does."""
from __future__ import annotations

import pytest

from cli_support import deploy, live_record, put_record
from polling import wait_for


def test_one_shape_in_list_and_get_with_error_null_when_absent(home, cfy):
    ok = put_record(home, status="terminated")
    failed = put_record(home, status="failed", error="Task failed: boom")
    rows = {r["id"]: r for r in cfy("executions", "list", "--json").json}
    got = cfy("executions", "get", ok["id"], "--json").json
    assert set(rows[ok["id"]]) <= set(got)  # get adds the large fields (parameters, ...)
    assert set(rows[ok["id"]]) == set(rows[failed["id"]])
    for key in ("error", "total_operations", "finished_operations", "status", "status_display", "worker_pid"):
        assert key in rows[ok["id"]]
    assert rows[ok["id"]]["error"] is None and got["error"] is None
    assert rows[failed["id"]]["error"] == "Task failed: boom"  # `list --status failed --json | jq .[].error`
    failed_only = cfy("executions", "list", "--status", "failed", "--json").json
    assert [r["error"] for r in failed_only] == ["Task failed: boom"]
    assert "parameters" in got and "created_ns" not in got
    starting = live_record(home, status="pending")  # no task graph yet: progress unknown, not 0/0
    shown = cfy("executions", "get", starting["id"], "--json").json
    assert shown["total_operations"] is None and shown["finished_operations"] is None


@pytest.mark.slow
def test_progress_total_known_from_the_start_and_wait_exit_codes(home, cfy, cfy_proc, tmp_path):
    markers = deploy(cfy, tmp_path)
    (markers / "hold").touch()
    execution_id = cfy("executions", "start", "install", "-d", "dep", "--no-wait").stdout.strip()
    running = wait_for(lambda: (lambda r: r if r["total_operations"] else None)(
        cfy("executions", "get", execution_id, "--json").json), message="the total to be written")
    assert running["total_operations"] == 2 and running["finished_operations"] == 0  # 0/2, never 0/0
    listed = [r for r in cfy("executions", "list", "--json").json if r["id"] == execution_id][0]
    assert listed["total_operations"] == 2
    (markers / "release").touch()
    waited = cfy_proc("executions", "wait", execution_id)
    assert waited.exit_code == 0, waited
    assert "Finished executing workflow install on deployment dep" in waited.stdout
    tail = cfy_proc("events", "list", execution_id, "--tail")
    assert tail.exit_code == 0 and "'install' workflow execution succeeded" in tail.stdout

    deploy(cfy, tmp_path, "dep2")
    (markers / "fail").touch()
    failed_id = cfy("executions", "start", "install", "-d", "dep2", "--no-wait", "--task-retries", "0").stdout.strip()
    assert cfy_proc("executions", "wait", failed_id).exit_code == 1
    assert cfy_proc("events", "list", failed_id, "--tail").exit_code == 1

    deploy(cfy, tmp_path, "dep3")
    (markers / "release").unlink()
    cancelled_id = cfy("executions", "start", "install", "-d", "dep3", "--no-wait").stdout.strip()
    wait_for(lambda: cfy("executions", "get", cancelled_id, "--json").json["status"] == "started",
             message="the run to start")
    assert cfy("executions", "cancel", "-f", cancelled_id).exit_code == 0
    assert cfy_proc("executions", "wait", cancelled_id).exit_code == 3
    assert cfy_proc("events", "list", cancelled_id, "--tail").exit_code == 3
    missing = cfy("executions", "wait", "nope")
    assert missing.exit_code == 1 and missing.stderr.strip() == "Requested `Execution` with ID `nope` was not found"
