"""``cfy maintenance-mode``: texts, exit codes, activating → activated."""
from __future__ import annotations

import os

import pytest

from cfy_local import maintenance
from cfy_local.errors import MaintenanceModeError
from cfy_local.executions import records

from polling import wait_for
from process_support import cfy_running

WAITING_ONE = ("There is one running or pending execution. "
               "Waiting for it to finish before entering maintenance mode.")


def running_execution(store, status="started") -> dict:
    record = records.new_record(workflow_id="install", deployment_id="dep1", blueprint_id="bp")
    records.save(store, record)
    if status != "pending":
        records.set_status(store, record["id"], status)
    return records.load(store, record["id"])


def test_activate_idle_goes_straight_to_activated(cfy, store):
    result = cfy("maintenance-mode", "activate")
    assert result.exit_code == 0
    assert result.stdout == ("Entering maintenance mode...\n"
                             "Run 'cfy maintenance-mode status' to check the maintenance mode's status.\n\n")
    status = cfy("maintenance-mode", "status")
    lines = status.stdout.splitlines()
    assert lines[:3] == ["", "Maintenance Mode Status:", "\tStatus:\tactivated"]
    assert any(line.startswith("\tActivated At:\t") for line in lines)
    assert status.stdout.endswith("INFO - Maintenance mode is on. "
                                  "Most requests will be blocked.\n\n")
    again = cfy("maintenance-mode", "activate")
    assert again.exit_code == 1 and again.stderr.strip() == "Nothing to modify"
    off = cfy("maintenance-mode", "deactivate")
    assert off.exit_code == 0 and off.stdout.splitlines() == ["Turning off maintenance mode...", "Maintenance mode is off."]
    off = cfy("maintenance-mode", "deactivate")
    assert off.exit_code == 1 and off.stderr.strip() == "Nothing to modify"
    assert cfy("maintenance-mode", "status", "--json").json["status"] == "deactivated"


def test_timeout_without_wait_golden(cfy, store):
    result = cfy("maintenance-mode", "activate", "--timeout", "5")
    assert result.exit_code == 1
    assert result.stderr == ("'--timeout' was used without '--wait'.\nPossible solutions:\n"
                             "  - Add the '--wait' flag to the command in order to wait.\n")
    assert not os.path.exists(store.maintenance_file)  # bad input changes nothing


def test_activating_until_executions_end_checked_by_any_command(cfy, store):
    execution = running_execution(store)
    result = cfy("maintenance-mode", "activate")
    assert result.exit_code == 0
    state = cfy("maintenance-mode", "status", "--json").json
    assert state["status"] == "activating"
    assert state["remaining_executions"] == [{"id": execution["id"], "deployment_id": "dep1",
                                              "workflow_id": "install", "status": "started"}]
    text = cfy("-v", "maintenance-mode", "status").stdout
    assert "\tStatus:\tactivating" in text and WAITING_ONE in text and "Remaining executions:" in text
    with pytest.raises(MaintenanceModeError) as err:
        maintenance.ensure_allows_changes(store)
    assert str(err.value) == "Your request was rejected since Cloudify manager is currently in maintenance mode"
    records.set_status(store, execution["id"], "terminated")
    # `cfy status` (not only maintenance-mode status) settles the state.
    assert cfy("status", "--json").json["maintenance"]["status"] == "activated"
    assert cfy("maintenance-mode", "status", "--json").json["status"] == "activated"


def test_two_remaining_executions_message(cfy, store):
    running_execution(store)
    running_execution(store, "pending")
    cfy("maintenance-mode", "activate")
    assert ("There are 2 running or pending executions. Waiting for all executions to "
            "finish before entering maintenance mode.") in cfy("maintenance-mode", "status").stdout


def test_wait_with_timeout_gives_up_with_exit_4(cfy, store):
    running_execution(store)
    result = cfy("maintenance-mode", "activate", "--wait", "--timeout", "1")
    assert result.exit_code == 4
    assert "Maintenance mode will be on once there are no running or pending executions...\n" \
        in result.stdout
    assert result.stderr.strip() == ("Timed out while entering maintenance mode. Note that maintenance mode is "
                                     "still being entered in the background. You can run 'cfy "
                                     "maintenance-mode status' to check the status.")
    assert maintenance.current_status(store) == maintenance.ACTIVATING


def test_wait_returns_once_the_last_execution_ends(home, store):
    execution = running_execution(store)
    with cfy_running(home, "maintenance-mode", "activate", "--wait") as proc:
        wait_for(lambda: os.path.exists(store.maintenance_file), timeout=20, message="activation to be requested")
        assert proc.poll() is None
        records.set_status(store, execution["id"], "failed", error="boom")
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.endswith("Maintenance mode is on.\nWhile in maintenance mode most requests will be blocked.\n")
