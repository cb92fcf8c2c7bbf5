"""Script operations end to end: the real CLI, worker process, engine and ctx proxy."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from scripthelpers import wait_for, write

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent.parent


def events_of(home: Path, deployment: str, cfy_proc) -> tuple[dict, list[dict]]:
    executions = cfy_proc("executions", "list", "-d", deployment, "--json").json
    execution = executions[-1]
    lines = (home / "runs" / execution["id"] / "events.ndjson").read_text().splitlines()
    return execution, [json.loads(line) for line in lines]


def texts(events: list[dict]) -> list[str]:
    return [event["message"]["text"] for event in events]


def instances(cfy_proc, deployment: str) -> dict[str, dict]:
    return {item["node_id"]: item for item in cfy_proc("node-instances", "list", "-d", deployment, "--json").json}


def test_hello_world_scripts_run_end_to_end(home, cfy_proc):
    assert cfy_proc("blueprints", "upload", str(REPO / "examples/hello-world/blueprint.yaml"), "-b", "hw").exit_code == 0
    assert cfy_proc("deployments", "create", "hw1", "-b", "hw").exit_code == 0
    result = cfy_proc("executions", "start", "install", "-d", "hw1")
    assert result.exit_code == 0, result
    execution, events = events_of(home, "hw1", cfy_proc)
    assert execution["status"] == "terminated"
    messages = texts(events)
    assert "linking web app to database at 127.0.0.1:5432" in messages
    assert "starting database hello_db" in messages
    assert sum(text.startswith("Process created, PID: ") for text in messages) == 5
    logs = [event for event in events if event["type"] == "cloudify_log"]
    assert all(event["context"].get("operation") for event in logs)
    by_node = instances(cfy_proc, "hw1")
    assert by_node["web"]["runtime_properties"] == {
        "message": "Hello, world", "db_url": "db://127.0.0.1:5432/hello_db", "listening": 8080,
        "linked_db": "127.0.0.1:5432"}
    assert by_node["database"]["runtime_properties"] == {"address": "127.0.0.1:5432", "started": True}
    outputs = cfy_proc("deployments", "outputs", "hw1", "--json").json
    assert "Hello, world" in json.dumps(outputs)


def test_failing_script_fails_the_operation_and_keeps_its_writes(home, cfy_proc, tmp_path):
    folder = tmp_path / "failing"
    write(folder, "blueprint.yaml", """
        tosca_definitions_version: cloudify_dsl_1_4
        imports:
          - cloudify/types/types.yaml
        node_templates:
          app:
            type: cloudify.nodes.Root
            interfaces:
              cloudify.interfaces.lifecycle:
                create:
                  implementation: scripts/fail.sh
                  max_retries: 0
    """)
    write(folder, "scripts/fail.sh", """
        #!/bin/bash
        ctx instance runtime-properties before_failure yes
        echo "going down" >&2
        exit 4
    """)
    assert cfy_proc("blueprints", "upload", str(folder / "blueprint.yaml"), "-b", "failing").exit_code == 0
    assert cfy_proc("deployments", "create", "f1", "-b", "failing").exit_code == 0
    result = cfy_proc("executions", "start", "install", "-d", "f1")
    assert result.exit_code == 1
    execution, events = events_of(home, "f1", cfy_proc)
    assert execution["status"] == "failed"
    messages = texts(events)
    assert "<err> going down" in messages
    failures = [text for text in messages if text.startswith("Task failed")]
    assert failures and "exit_code: 4" in failures[-1] and "stderr: going down" in failures[-1]
    assert instances(cfy_proc, "f1")["app"]["runtime_properties"] == {"before_failure": "yes"}


def test_kill_cancel_reaches_a_running_script(home, cfy_proc, tmp_path):
    folder = tmp_path / "sleepy"
    pid_file = tmp_path / "script.pid"
    write(folder, "blueprint.yaml", """
        tosca_definitions_version: cloudify_dsl_1_4
        imports:
          - cloudify/types/types.yaml
        node_templates:
          app:
            type: cloudify.nodes.Root
            interfaces:
              cloudify.interfaces.lifecycle:
                create: scripts/sleep.sh
    """)
    write(folder, "scripts/sleep.sh", f"""
        #!/bin/bash
        echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}
        sleep 300
    """)
    assert cfy_proc("blueprints", "upload", str(folder / "blueprint.yaml"), "-b", "sleepy").exit_code == 0
    assert cfy_proc("deployments", "create", "s1", "-b", "sleepy").exit_code == 0
    assert cfy_proc("executions", "start", "install", "-d", "s1", "--no-wait").exit_code == 0
    wait_for(pid_file.exists, timeout=30, message="the script to start")
    pid = int(pid_file.read_text())
    execution = cfy_proc("executions", "list", "-d", "s1", "--json").json[-1]
    try:
        assert cfy_proc("executions", "cancel", execution["id"], "--kill").exit_code == 0

        def script_gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            try:   # a zombie (killed, not yet reaped by its parent) counts as gone
                with open(f"/proc/{pid}/stat") as handle:
                    return handle.read().split(") ", 1)[1].startswith("Z")
            except FileNotFoundError:
                return True

        wait_for(script_gone, timeout=30, message="the script process to be killed")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: cfy_proc("executions", "list", "-d", "s1", "--json").json[-1]["status"] == "cancelled",
             timeout=30, message="the execution to be cancelled")
