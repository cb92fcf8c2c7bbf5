"""A fixture state dir for the TUI tests, written in the documented record formats
(docs/state.md) at a frozen time, so screens and snapshots are deterministic."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cfy_local import clock
from cfy_local.executions import records
from cfy_local.store.event_log import append_events
from cfy_local.store.paths import Home
from cfy_local.store.versioned import save_record
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


# --- runs with operations (graph.json + task events) -----------------------------------

FAILED_RUN = "00000020-0000-4000-8000-000000000020"
RETRYING_RUN = "00000021-0000-4000-8000-000000000021"
QUEUED_RUN = "00000022-0000-4000-8000-000000000022"

INTERNAL_TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/opt/venv/lib/python3.11/site-packages/cfy_local/engine/tasks.py", line 215, in _attempt\n'
    "    return True, self._execute(), None\n"
    '  File "/opt/venv/lib/python3.11/site-packages/cfy_local/engine/context.py", line 542, in _execute\n'
    "    return invoke_operation(self)\n"
    '  File "/srv/plugins/shop/tasks.py", line 12, in configure\n'
    "    raise NonRecoverableError(message)\n"
    "cloudify.exceptions.NonRecoverableError: config file /etc/app.conf has a syntax error at line 3: "
    "unexpected ']' after the value of key 'upstreams' — fix the template and resume\n")


def op_event(record: dict, when: datetime, event_type: str | None, text: str, *, task: str, operation: str,
             instance: str | None = None, source: str | None = None, target: str | None = None,
             retry: int = 0, total: int = 0, causes: list | None = None, level: str | None = None) -> dict:
    out = event(record, when, text, event_type, level=level)
    out["context"].update(task_id=task, task_name="script_runner.tasks.run",
                          operation=f"cloudify.interfaces.{operation}", task_current_retries=retry,
                          task_total_retries=total, task_error_causes=causes)
    if source:
        out["context"].update(node_id=None, node_name=None, source_id=source, target_id=target)
    else:
        out["context"].update(node_id=instance, node_name=instance.rsplit("_", 1)[0])
    return out


def write_graph(home: Home, record: dict, states: dict[str, tuple[str, int]]) -> None:
    from cfy_local.store.atomic import atomic_write_bytes
    import json

    operations = {}
    for key, (state, retries) in states.items():
        instance, operation = key.split("|")[:2]
        operations[key] = {"name": "script_runner.tasks.run", "operation": operation,
                           "node_instance_id": instance, "state": state, "retries": retries}
    data = {"schema_version": 1, "execution_id": record["id"], "workflow_id": record["workflow_id"],
            "updated_at": iso(NOW), "total_operations": len(operations),
            "finished_operations": sum(1 for s, _ in states.values() if s in ("succeeded", "failed")),
            "operations": operations}
    atomic_write_bytes(home.graph_file(record["id"]), json.dumps(data).encode())


LC = "cloudify.interfaces.lifecycle"
RL = "cloudify.interfaces.relationship_lifecycle"


def add_operation_runs(home: Home) -> None:
    """`shop`: a failed install (a retried create, a relationship operation, a configure
    that failed with a long cause), a running install retrying its create, and a queued
    uninstall behind it."""
    write_deployment(home, "shop")
    write_deployment(home, "cart")
    t = NOW - timedelta(minutes=30)
    failed = add_execution(home, 0x20, deployment="shop", workflow="install", status="failed",
                           created=t, started=t, ended=t + timedelta(seconds=50), total=4, finished=4,
                           error="Task failed: script_runner.tasks.run (app_bbbbb1:configure): "
                                 "NonRecoverableError: config file /etc/app.conf has a syntax error")
    write_graph(home, failed, {
        f"vm_aaaaa1|{LC}.create||#0": ("succeeded", 0),
        f"app_bbbbb1|{LC}.create||#0": ("succeeded", 2),
        f"app_bbbbb1|{RL}.preconfigure|source|vm_aaaaa1#0": ("succeeded", 0),
        f"app_bbbbb1|{LC}.configure||#0": ("failed", 0),
    })
    s = lambda seconds: t + timedelta(seconds=seconds)  # noqa: E731
    retry_cause = [{"type": "RecoverableError", "message": "port 80 not open yet", "traceback": ""}]
    final_cause = [{"type": "NonRecoverableError", "message": "config file /etc/app.conf has a syntax error at "
                    "line 3: unexpected ']' after the value of key 'upstreams' — fix the template and resume",
                    "traceback": INTERNAL_TRACE}]
    vm = dict(task="1", operation="lifecycle.create", instance="vm_aaaaa1")
    app_create = dict(task="2", operation="lifecycle.create", instance="app_bbbbb1", total=5)
    pre = dict(task="3", operation="relationship_lifecycle.preconfigure", source="app_bbbbb1", target="vm_aaaaa1")
    conf = dict(task="4", operation="lifecycle.configure", instance="app_bbbbb1")
    append_events(home.events_file(failed["id"]), [
        event(failed, s(0), "Starting 'install' workflow execution", "workflow_started"),
        op_event(failed, s(1), "sending_task", "Sending task 'script_runner.tasks.run'", **vm),
        op_event(failed, s(1), "task_started", "Task started 'script_runner.tasks.run'", **vm),
        op_event(failed, s(2), None, "creating the VM", level="info", **vm),
        op_event(failed, s(11), "task_succeeded", "Task succeeded 'script_runner.tasks.run'", **vm),
        op_event(failed, s(12), "sending_task", "Sending task 'script_runner.tasks.run'", **app_create),
        op_event(failed, s(12), "task_started", "Task started 'script_runner.tasks.run'", **app_create),
        op_event(failed, s(13), "task_failed", "Task failed 'script_runner.tasks.run' -> port 80 not open yet",
                 causes=retry_cause, **app_create),
        op_event(failed, s(18), "task_started", "Task started 'script_runner.tasks.run' [retry 1/5]",
                 **dict(app_create, retry=1)),
        op_event(failed, s(19), "task_failed", "Task failed 'script_runner.tasks.run' -> port 80 not open yet "
                 "[retry 1/5]", causes=retry_cause, **dict(app_create, retry=1)),
        op_event(failed, s(24), "task_started", "Task started 'script_runner.tasks.run' [retry 2/5]",
                 **dict(app_create, retry=2)),
        op_event(failed, s(30), "task_succeeded", "Task succeeded 'script_runner.tasks.run' [retry 2/5]",
                 **dict(app_create, retry=2)),
        op_event(failed, s(31), "sending_task", "Sending task 'script_runner.tasks.run'", **pre),
        op_event(failed, s(31), "task_started", "Task started 'script_runner.tasks.run'", **pre),
        op_event(failed, s(33), "task_succeeded", "Task succeeded 'script_runner.tasks.run'", **pre),
        op_event(failed, s(34), "sending_task", "Sending task 'script_runner.tasks.run'", **conf),
        op_event(failed, s(34), "task_started", "Task started 'script_runner.tasks.run'", **conf),
        op_event(failed, s(35), None, "rendering /etc/app.conf", level="info", **conf),
        op_event(failed, s(49), "task_failed", "Task failed 'script_runner.tasks.run' -> config file "
                 "/etc/app.conf has a syntax error", causes=final_cause, **conf),
        event(failed, s(50), "'install' workflow execution failed: config file /etc/app.conf has a syntax error",
              "workflow_failed"),
    ])
    r = NOW - timedelta(seconds=40)
    running = add_execution(home, 0x21, deployment="cart", workflow="install", status="started",
                            created=r, started=r, total=None, finished=None, worker_pid=1)  # alive
    running["task_retry_interval"] = 15
    records.save(home, running)
    write_graph(home, running, {
        f"db_ccccc1|{LC}.create||#0": ("succeeded", 0),
        f"broken_ddddd1|{LC}.create||#0": ("pending", 3),
        f"broken_ddddd1|{LC}.configure||#0": ("pending", 0),
    })
    db = dict(task="7", operation="lifecycle.create", instance="db_ccccc1")
    broken = dict(task="8", operation="lifecycle.create", instance="broken_ddddd1", total=60)
    events = [event(running, r, "Starting 'install' workflow execution", "workflow_started"),
              op_event(running, r + timedelta(seconds=1), "sending_task", "Sending task", **db),
              op_event(running, r + timedelta(seconds=1), "task_started", "Task started", **db),
              op_event(running, r + timedelta(seconds=4), "task_succeeded", "Task succeeded", **db),
              op_event(running, r + timedelta(seconds=5), "sending_task", "Sending task", **broken)]
    for attempt in range(3):
        at = r + timedelta(seconds=5 + attempt * 16)
        events.append(op_event(running, at, "task_started", "Task started", **dict(broken, retry=attempt)))
        events.append(op_event(running, at + timedelta(seconds=1), "task_failed",
                               "Task failed -> connection refused by 10.0.0.7:5432",
                               causes=[{"type": "RecoverableError", "message": "connection refused by 10.0.0.7:5432",
                                        "traceback": ""}], **dict(broken, retry=attempt)))
    append_events(home.events_file(running["id"]), events)
    add_execution(home, 0x22, deployment="cart", workflow="uninstall", status="queued",
                  created=NOW - timedelta(seconds=10))
