"""Executions API functions other engineers call."""
from __future__ import annotations

import os

import psutil

from cfy_local.executions import api, records
from cfy_local.executions.event_stream import read_all
from cfy_local.store.paths import Home
from exec_helpers import deploy, put_record


def test_record_system_execution_is_hidden_by_default(home, cfy):
    h = Home.open(str(home))
    rec = api.record_system_execution(h, "create_deployment_environment", "dep", "bp", "terminated")
    assert rec["status"] == "terminated" and rec["started_at"] and rec["ended_at"]
    assert records.load(h, rec["id"])["workflow_id"] == "create_deployment_environment"
    assert cfy("executions", "list", "--json").json == []
    shown = cfy("executions", "list", "--include-system-workflows", "--json").json
    assert [r["id"] for r in shown] == [rec["id"]]


def test_active_or_queued(home):
    h = Home.open(str(home))
    live = dict(worker_pid=os.getpid(), worker_create_time=psutil.Process().create_time())
    running = put_record(home, deployment_id="a", status="started", **live)
    queued = put_record(home, deployment_id="a", status="queued")
    put_record(home, deployment_id="a", status="terminated")
    other = put_record(home, deployment_id="b", status="pending", **live)
    assert [r["id"] for r in api.active_or_queued(h, "a")] == [running["id"], queued["id"]]
    assert {r["id"] for r in api.active_or_queued(h)} == {running["id"], queued["id"], other["id"]}


def test_queued_start_returns_at_once_with_an_event(home, cfy, tmp_path):
    deploy(home, tmp_path, "dep")
    live = dict(worker_pid=os.getpid(), worker_create_time=psutil.Process().create_time())
    put_record(home, deployment_id="dep", status="started", **live)
    result = cfy("executions", "start", "install", "-d", "dep", "--queue", "--json")
    assert result.exit_code == 0, result
    record = result.json
    assert record["status"] == "queued" and record["worker_pid"] is None
    (event,) = read_all(Home(str(home)), record["id"])
    assert event["event_type"] == "workflow_queued"
    assert event["message"]["text"] == "'install' workflow execution queued"
    text = cfy("executions", "start", "install", "-d", "dep", "--queue")
    assert text.stderr.strip() == "Execution is being queued. It will automatically start when possible."
    assert text.stdout.strip() != record["id"] and len(text.stdout.strip()) == len(record["id"])  # its own id
