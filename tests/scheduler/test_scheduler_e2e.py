"""End to end: a blueprint's default schedule becomes a schedule at deployment create, and
``cfy scheduler run --once --at`` fires it through the real executions API (a real worker)."""
from __future__ import annotations

import textwrap

import pytest

from cfy_local.executions import statuses, records as execution_records
from cfy_local.schedules import api
from cfy_local.store.paths import Home
from polling import wait_for

BLUEPRINT = textwrap.dedent("""\
    tosca_definitions_version: cloudify_dsl_1_4
    imports:
      - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
    node_templates:
      box:
        type: cloudify.nodes.Root
    deployment_settings:
      default_schedules:
        nightly:
          workflow: install
          since: '2030-01-01 03:00'
          timezone: Europe/London
          recurrence: 1d
          stop_after_fail: true
    """)


@pytest.fixture
def deployed(home, tmp_path):
    deployments = pytest.importorskip("cfy_local.deployments.api")
    (tmp_path / "bp").mkdir()
    (tmp_path / "bp" / "blueprint.yaml").write_text(BLUEPRINT)
    store = Home.open(str(home))
    deployments.upload_blueprint(store, str(tmp_path / "bp" / "blueprint.yaml"), "bp")
    deployments.create_deployment(store, "dep1", "bp", {})
    return store


def test_default_schedule_fires_through_the_executions_api(deployed, cfy_proc):
    store = deployed
    schedule = api.get_schedule(store, "dep1", "nightly", with_occurrences=False)
    assert schedule["stop_on_fail"] is True and schedule["timezone"] == "Europe/London"
    assert schedule["next_occurrence"] == "2030-01-01T03:00:00.000Z"

    result = cfy_proc("scheduler", "run", "--once", "--at", "2030-01-01 03:00:45")
    assert result.exit_code == 0, result
    assert "fired dep1/nightly occurrence=2030-01-01T03:00:00.000Z" in result.stdout
    [entry] = api.history(store, "dep1", "nightly")
    assert entry["action"] == "fired"
    execution = execution_records.load(store, entry["execution_id"])
    assert execution["workflow_id"] == "install" and execution["deployment_id"] == "dep1"
    assert execution.get("schedule_id") == "nightly"
    ended = wait_for(lambda: (lambda r: r if statuses.is_end(r["status"]) else None)(
        execution_records.load(store, entry["execution_id"])), timeout=60, message="the scheduled run to end")

    # The next day's pass sees how that run ended: a failure disables (stop_after_fail), else it fires.
    result = cfy_proc("scheduler", "run", "--once", "--at", "2030-01-02 03:00:10")
    assert result.exit_code == 0, result
    last = api.history(store, "dep1", "nightly")[-1]
    assert last["occurrence"] == "2030-01-02T03:00:00.000Z"
    assert last["action"] == ("disabled" if ended["status"] == "failed" else "fired")
    shown = cfy_proc("status", "--json").json
    assert shown["schedules"]["total"] == 1

    from cfy_local.deployments.api import delete_deployment

    wait_for(lambda: not execution_records.load_all(store) or all(
        statuses.is_end(r["status"]) for r in execution_records.load_all(store)), timeout=60,
        message="all runs to end")
    delete_deployment(store, "dep1", force=True)
    assert api.list_schedules(store) == []


def test_a_dry_run_schedule_on_a_busy_deployment_is_queued_not_skipped(home, tmp_path):
    import os
    from datetime import datetime, timezone

    import psutil

    from cfy_local.deployments import api as deployments
    from cfy_local.scheduler.passes import run_pass

    blueprint = BLUEPRINT.replace("stop_after_fail: true", "execution_arguments:\n            is_dry_run: true")
    (tmp_path / "bp").mkdir()
    (tmp_path / "bp" / "blueprint.yaml").write_text(blueprint)
    store = Home.open(str(home))
    deployments.upload_blueprint(store, str(tmp_path / "bp" / "blueprint.yaml"), "bp")
    deployments.create_deployment(store, "dep1", "bp", {})
    # The deployment is busy: a run whose "worker" (this test process) is alive.
    busy = execution_records.new_record(workflow_id="install", deployment_id="dep1", blueprint_id="bp",
                                        status="started", worker_pid=os.getpid(),
                                        worker_create_time=psutil.Process().create_time())
    execution_records.save(store, busy)

    run_pass(store, datetime(2030, 1, 1, 3, 0, 30, tzinfo=timezone.utc))
    [entry] = api.history(store, "dep1", "nightly")
    assert entry["action"] == "fired", entry
    queued = execution_records.load(store, entry["execution_id"])
    assert queued["status"] == "queued" and queued["is_dry_run"] is True
