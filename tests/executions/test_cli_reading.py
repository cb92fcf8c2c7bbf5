"""executions list/get/summary/delete and events list, through the real CLI."""
from __future__ import annotations

import json

from cfy_local.executions import event_stream, records
from cfy_local.store.paths import Home
from exec_helpers import put_record


def test_list_table_json_filters_and_hidden_system_workflows(home, cfy):
    a = put_record(home, deployment_id="a", status="terminated")
    b = put_record(home, deployment_id="b", status="failed")
    put_record(home, workflow_id="create_deployment_environment", deployment_id="a", status="terminated")
    result = cfy("executions", "list")
    assert result.exit_code == 0, result
    assert "Listing all executions..." in result.stdout and "Executions:" in result.stdout
    assert "completed" in result.stdout and "Showing 2 of 2 executions" in result.stdout
    header = [line for line in result.stdout.splitlines() if "workflow_id" in line][0]
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "id", "workflow_id", "status", "is_dry_run", "deployment_id", "created_at", "started_at", "scheduled_for"]
    rows = cfy("executions", "list", "--json").json
    assert [r["id"] for r in rows] == [a["id"], b["id"]]
    assert rows[0]["status"] == "terminated" and rows[0]["status_display"] == "completed"
    assert len(cfy("executions", "list", "--include-system-workflows", "--json").json) == 3
    assert [r["id"] for r in cfy("executions", "list", "-d", "b", "--json").json] == [b["id"]]
    assert [r["id"] for r in cfy("executions", "list", "--status", "failed", "--json").json] == [b["id"]]
    assert [r["id"] for r in cfy("executions", "list", "--status", "completed", "--status", "failed",
                                 "--json").json] == [a["id"], b["id"]]
    assert [r["id"] for r in cfy("executions", "list", "--descending", "--json").json] == [b["id"], a["id"]]
    bad = cfy("executions", "list", "--status", "done")
    assert bad.exit_code == 1 and "Unknown execution status `done`" in bad.stderr


def test_list_sees_changes_through_the_cache(home, cfy):
    first = put_record(home, status="terminated")
    assert len(cfy("executions", "list", "--json").json) == 1
    records.set_status(Home(str(home)), put_record(home, status="pending")["id"], "failed", error="x")
    rows = cfy("executions", "list", "--json").json
    assert sorted(r["status"] for r in rows) == ["failed", "terminated"]
    (home / "executions" / f"{first['id']}.json").unlink()
    assert len(cfy("executions", "list", "--json").json) == 1


def test_get_table_json_and_not_found(home, cfy):
    rec = put_record(home, status="failed", parameters={"x": 1}, error="boom")
    result = cfy("executions", "get", rec["id"])
    assert result.exit_code == 0, result
    assert f"Retrieving execution {rec['id']}" in result.stdout
    assert "Execution:" in result.stdout and "Execution Parameters:" in result.stdout
    assert "\tx:" in result.stdout
    data = cfy("executions", "get", rec["id"], "--json").json
    for key in ("total_operations", "finished_operations", "worker_pid", "error", "parameters", "status_display"):
        assert key in data
    missing = cfy("executions", "get", "nope")
    assert missing.exit_code == 1 and "Requested `Execution` with ID `nope` was not found" in missing.stderr


def test_summary(home, cfy):
    put_record(home, deployment_id="a", status="terminated")
    put_record(home, deployment_id="a", status="failed")
    put_record(home, deployment_id="b", status="failed")
    rows = cfy("executions", "summary", "status", "--json").json
    assert {r["status"]: r["executions"] for r in rows} == {"failed": 2, "terminated": 1}
    nested = cfy("executions", "summary", "deployment_id", "status", "--json").json
    assert {"deployment_id": "a", "status": None, "executions": 2} in nested
    text = cfy("executions", "summary", "deployment_id", "status").stdout
    assert "TOTAL" in text and "Execution summary by deployment_id" in text
    assert cfy("executions", "summary", "colour").exit_code == 2


def test_delete_ended_only_and_bad_values(home, cfy):
    old = put_record(home, status="terminated", created_at="2020-01-01T00:00:00.000Z")
    new = put_record(home, status="failed")
    running = put_record(home, status="queued")
    keep_env = put_record(home, workflow_id="create_deployment_environment", status="terminated",
                          created_at="2019-01-01T00:00:00.000Z")
    bad = cfy("executions", "delete", "--before", "2weeks")
    assert bad.exit_code == 1 and "Invalid --before value `2weeks`" in bad.stderr
    assert cfy("executions", "delete", "--to", "yesterday").exit_code == 1
    assert cfy("executions", "delete", "--to", "2021-01-01", "--keep-last", "1").exit_code == 2
    assert len(list((home / "executions").glob("*.json"))) == 4  # bad input changed nothing
    result = cfy("executions", "delete", "--to", "2021-01-01")
    assert result.exit_code == 0 and "Deleted 1 executions" in result.stdout
    assert not (home / "executions" / f"{old['id']}.json").exists()
    result = cfy("executions", "delete", "--before", "1 days")
    assert "No executions to delete" in result.stdout
    refused = cfy("executions", "delete")  # no filter, not on a terminal: nothing deleted
    assert refused.exit_code == 2 and "--all for every finished execution" in refused.stderr
    assert (home / "executions" / f"{new['id']}.json").exists()
    result = cfy("executions", "delete", "--all")
    assert "Deleted 1 executions" in result.stdout
    left = {p.stem for p in (home / "executions").glob("*.json")}
    assert left == {running["id"], keep_env["id"]} and new["id"] not in left


def test_events_list_text_json_filters(home, cfy):
    rec = put_record(home, deployment_id="web", status="terminated")
    h = Home(str(home))
    ev = event_stream.make_event(rec, "task_succeeded", "Task succeeded 'x'")
    ev["context"].update(node_id="vm_abc123", operation="cloudify.interfaces.lifecycle.create")
    log = event_stream.make_event(rec, "", "hello", level="info")
    debug = event_stream.make_event(rec, "", "noisy", level="debug")
    from cfy_local.store.event_log import append_events

    append_events(h.events_file(rec["id"]), [event_stream.make_event(rec, "workflow_started", "Starting 'install' workflow execution"),
                                             ev, log, debug])
    result = cfy("events", "list", rec["id"])
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert lines[0] == f"Listing events for execution id {rec['id']} [include_logs=True]"
    assert any(line.endswith("  CFY <web> [vm_abc123.create] Task succeeded 'x'") for line in lines)
    assert any("  LOG <web> INFO: hello" in line for line in lines)
    assert not any("noisy" in line for line in lines)
    assert "Showing 3 of 4 events" in result.stdout
    assert len(cfy("-vv", "events", "list", rec["id"], "--json").stdout.splitlines()) == 4
    only_events = cfy("events", "list", rec["id"], "--no-logs", "--json").stdout.splitlines()
    assert [json.loads(x)["type"] for x in only_events] == ["cloudify_event"] * 2
    by_op = cfy("events", "list", rec["id"], "--operation", "lifecycle.create", "--json").stdout.splitlines()
    assert len(by_op) == 1
    assert len(cfy("events", "list", rec["id"], "--node", "vm_abc123", "--json").stdout.splitlines()) == 1
    assert cfy("events", "list", rec["id"], "--from", "2999-01-01", "--json").stdout == ""
    tail = cfy("events", "list", rec["id"], "--tail")
    assert tail.exit_code == 0 and "Task succeeded 'x'" in tail.stdout  # an ended run: everything, then the end
    assert "Finished executing workflow install on deployment web" in tail.stdout
    assert cfy("events", "list").exit_code == 2
    both = cfy("events", "list", rec["id"], "-e", rec["id"])
    assert both.exit_code == 2 and "provided both as a positional argument" in both.stderr


def test_queue_with_force_or_dry_run_is_a_usage_error_that_writes_nothing(cfy, home):
    for extra in (["--force"], ["--dry-run"]):
        result = cfy("executions", "start", "install", "-d", "dep", "--queue", *extra)
        assert result.exit_code == 2, result
        assert "Illegal usage: `queue` is mutually exclusive with arguments: [force, dry_run]" in result.stderr
    assert not (home / "executions").exists()
