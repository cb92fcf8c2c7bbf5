"""A fixture state dir for the TUI tests, written in the documented record formats
(docs/state.md) at a frozen time, so screens and snapshots are deterministic."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cfy_local import clock
from cfy_local.executions import records
from cfy_local.store.events import append_events
from cfy_local.store.paths import Home
from cfy_local.store.records import save_record
from cfy_local.timefmt import iso

NOW = datetime(2026, 11, 27, 16, 0, 0, tzinfo=timezone.utc)

DEPLOY_APP_PARAMETERS = {
    "version": {"type": "string", "default": "1.0", "description": "release to deploy"},
    "replicas": {"type": "integer", "default": 2},
    "target": {"type": "string", "description": "where to"},
}


def write_deployment(home: Home, deployment_id: str, blueprint_id: str = "app") -> dict:
    builtin = {name: {"mapping": f"default_workflows.cloudify.plugins.workflows.{name}",
                      "plugin": "default_workflows", "operation": f"cloudify.plugins.workflows.{name}",
                      "parameters": {}} for name in ("install", "uninstall")}
    record = {
        "id": deployment_id, "blueprint_id": blueprint_id, "created_at": iso(NOW - timedelta(days=1)),
        "updated_at": iso(NOW - timedelta(days=1)), "description": "", "inputs": {},
        "workflows": dict(builtin, deploy_app={"mapping": "app.workflows.deploy", "plugin": "app",
                                               "operation": "workflows.deploy",
                                               "parameters": DEPLOY_APP_PARAMETERS}),
        "outputs": {}, "capabilities": {}, "plugins": {}, "groups": {}, "policies": {},
        "scaling_groups": {}, "default_schedules": {}, "resources_dir": "", "main_file_name": "blueprint.yaml",
    }
    save_record(home.deployment_file(deployment_id), record)
    return record


def event(record: dict, when: datetime, text: str, event_type: str | None = None, *,
          level: str | None = None, node: str | None = None, operation: str | None = None) -> dict:
    out = {"type": "cloudify_log" if level else "cloudify_event", "timestamp": iso(when),
           "reported_timestamp": iso(when), "message": {"text": text, "arguments": None},
           "context": {"deployment_id": record["deployment_id"], "execution_id": record["id"],
                       "workflow_id": record["workflow_id"], "node_name": node and node.split("_")[0],
                       "node_id": node, "operation": operation, "source_id": None, "target_id": None,
                       "task_error_causes": None, "task_current_retries": None, "task_total_retries": None}}
    if level:
        out.update(level=level, logger="ctx")
    else:
        out["event_type"] = event_type
    return out


def add_execution(home: Home, number: int, *, deployment: str, workflow: str, status: str,
                  created: datetime, started: datetime | None = None, ended: datetime | None = None,
                  error: str = "", parameters: dict | None = None, total: int | None = None,
                  finished: int | None = None, worker_pid: int | None = None) -> dict:
    record = records.new_record(workflow_id=workflow, deployment_id=deployment, blueprint_id="app",
                                parameters=parameters, status=status,
                                execution_id=f"{number:08x}-0000-4000-8000-{number:012x}")
    record.update(created_at=iso(created), started_at=iso(started), ended_at=iso(ended), error=error,
                  total_operations=total, finished_operations=finished, worker_pid=worker_pid)
    records.save(home, record)
    return record


def build(root) -> Home:
    """Two deployments, eight executions in every kind of status, events for the first."""
    home = Home.open(str(root))
    clock.freeze(NOW)
    write_deployment(home, "web")
    write_deployment(home, "db")
    t = NOW - timedelta(hours=2)
    first = add_execution(home, 1, deployment="web", workflow="install", status="terminated",
                          created=t, started=t + timedelta(seconds=1), ended=t + timedelta(seconds=95),
                          total=4, finished=4)
    add_execution(home, 2, deployment="db", workflow="install", status="failed",
                  created=t + timedelta(minutes=5), started=t + timedelta(minutes=5, seconds=1),
                  ended=t + timedelta(minutes=6), total=6, finished=3,
                  error="RuntimeError: create failed on db_abc123\nTraceback (most recent call last): ...")
    add_execution(home, 3, deployment="web", workflow="deploy_app", status="cancelled",
                  created=t + timedelta(minutes=10), started=t + timedelta(minutes=10, seconds=2),
                  ended=t + timedelta(minutes=12), parameters={"version": "2.0"})
    add_execution(home, 4, deployment="db", workflow="uninstall", status="queued",
                  created=t + timedelta(minutes=20))
    add_execution(home, 5, deployment="web", workflow="create_deployment_environment", status="terminated",
                  created=t - timedelta(days=1), started=t - timedelta(days=1), ended=t - timedelta(days=1))
    add_execution(home, 6, deployment="web", workflow="deploy_app", status="terminated",
                  created=t + timedelta(minutes=30), started=t + timedelta(minutes=30),
                  ended=t + timedelta(minutes=31, seconds=5), total=2, finished=2)
    add_execution(home, 7, deployment="db", workflow="install", status="failed",
                  created=t + timedelta(minutes=40), started=t + timedelta(minutes=40),
                  ended=t + timedelta(minutes=40, seconds=30), error="NonRecoverableError: disk full",
                  total=6, finished=1)
    append_events(home.events_file(first["id"]), [
        event(first, t + timedelta(seconds=1), "Starting 'install' workflow execution", "workflow_started"),
        event(first, t + timedelta(seconds=2), "Sending task 'script_runner.tasks.run'", "sending_task",
              node="vm_a1b2c3", operation="cloudify.interfaces.lifecycle.create"),
        event(first, t + timedelta(seconds=3), "creating the VM", level="info",
              node="vm_a1b2c3", operation="cloudify.interfaces.lifecycle.create"),
        event(first, t + timedelta(seconds=4), "noise", level="debug",
              node="vm_a1b2c3", operation="cloudify.interfaces.lifecycle.create"),
        event(first, t + timedelta(seconds=50), "Task succeeded 'script_runner.tasks.run'", "task_succeeded",
              node="vm_a1b2c3", operation="cloudify.interfaces.lifecycle.create"),
        event(first, t + timedelta(seconds=95), "'install' workflow execution succeeded", "workflow_succeeded"),
    ])
    return home


def add_schedules(home: Home) -> None:
    """A daily schedule with history, and a disabled one (through the schedules API)."""
    from cfy_local.schedules import api, records as schedule_records

    api.create_schedule(home, "web", "deploy_app", schedule_id="nightly", since="2026-11-20 02:00",
                        recurrence="1d", tz="UTC", parameters={"version": "2.1", "target": "prod"}, now=NOW)
    api.create_schedule(home, "db", "install", schedule_id="weekly", since="2026-11-20 09:30",
                        recurrence="1w", tz="Europe/Paris", enabled=False, now=NOW)
    for day, action, reason in ((25, "fired", "execution started"), (26, "skipped",
                                "the previous execution 00000003 is still started"), (27, "fired", "execution queued")):
        schedule_records.append_history(home, "web", "nightly", {
            "occurrence": f"2026-11-{day}T02:00:00.000Z", "decided_at": f"2026-11-{day}T02:00:05.000Z",
            "action": action, "reason": reason, "execution_id": None})
