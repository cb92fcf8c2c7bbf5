"""Snapshots: real archives made and restored by worker processes."""
from __future__ import annotations

import os
import re
import tarfile

import psutil

from cfy_local.executions import records
from cfy_local.store.paths import Home
from polling import wait_for
from exec_helpers import put_record


def _execution_id(stdout: str) -> str:
    return re.search(r"The execution's id is (\S+)", stdout).group(1)


def _wait_end(home, execution_id):
    h = Home(str(home))
    return wait_for(lambda: (r := records.load(h, execution_id)) and r["status"] in ("terminated", "failed") and r,
                    timeout=30, message="snapshot workflow to end")


def test_create_and_restore_roundtrip(home, cfy):
    (home / "blueprints" / "bp").mkdir(parents=True)
    (home / "blueprints" / "bp" / "blueprint.json").write_text('{"schema_version": 1, "id": "bp"}')
    (home / "deployments" / "dep" / "node-instances").mkdir(parents=True)
    (home / "deployments" / "dep" / "deployment.json").write_text('{"schema_version": 1, "id": "dep"}')
    (home / "secrets").mkdir()
    (home / "secrets" / "k.json").write_text('{"schema_version": 1, "value": "v"}')
    (home / "schedules" / "dep").mkdir(parents=True)
    (home / "schedules" / "dep" / "s.json").write_text('{"schema_version": 1, "id": "s"}')
    history = put_record(home, status="terminated")

    result = cfy("snapshots", "create", "snap1")
    assert result.exit_code == 0, result
    assert "Creating snapshot snap1..." in result.stdout
    create_run = _wait_end(home, _execution_id(result.stdout))
    assert create_run["status"] == "terminated", create_run["error"]
    assert create_run["is_system_workflow"] is True
    archive = home / "snapshots" / "snap1.tar.gz"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "secrets/k.json" in names and f"executions/{history['id']}.json" in names
    assert cfy("snapshots", "list", "--json").json[0]["status"] == "created"
    assert cfy("snapshots", "create", "snap1").exit_code == 1  # id taken

    # change the state, then restore
    (home / "secrets" / "k.json").unlink()
    (home / "deployments" / "other").mkdir()
    later = put_record(home, status="failed")
    result = cfy("snapshots", "restore", "snap1")
    assert result.exit_code == 0, result
    restore_id = _execution_id(result.stdout)
    restore_run = _wait_end(home, restore_id)
    assert restore_run["status"] == "terminated", restore_run["error"]
    assert (home / "secrets" / "k.json").read_text() == '{"schema_version": 1, "value": "v"}'
    assert not (home / "deployments" / "other").exists()
    left = {p.stem for p in (home / "executions").glob("*.json")}
    assert history["id"] in left and later["id"] not in left and restore_id in left
    assert "executions" not in os.listdir(home / "snapshots")

    assert cfy("snapshots", "delete", "snap1").exit_code == 0
    assert not archive.exists()
    assert cfy("snapshots", "delete", "snap1").exit_code == 1


def test_restore_refused_while_anything_else_is_active(home, cfy):
    (home / "secrets").mkdir(parents=True)
    result = cfy("snapshots", "create", "s")
    assert _wait_end(home, _execution_id(result.stdout))["status"] == "terminated"
    busy = put_record(home, status="started", worker_pid=os.getpid(), worker_create_time=psutil.Process().create_time())
    refused = cfy("snapshots", "restore", "s")
    assert refused.exit_code == 1
    assert f"Cannot start execution because there are other executions running e.g.: {busy['id']}" in refused.stderr
    assert not [r for r in records.load_all(Home(str(home))) if r["workflow_id"] == "restore_snapshot"]
