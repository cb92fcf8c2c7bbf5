"""``cfy deployments schedule ...``: messages, golden errors, exit codes and JSON shapes."""
from __future__ import annotations

import pytest

from cfy_local import clock
from schedule_support import at

NOW = at("2026-03-01 12:00")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/London")
    clock.freeze(NOW)
    yield
    clock.freeze(None)


def test_create_messages_and_defaults(sched_cli, dep):
    result = sched_cli("create", "dep1", "backup", "-s", "2026-03-02 09:00", "-r", "1d", "--weekdays", "mo, tu",
                       "--weekdays", "fr")
    assert result.exit_code == 0, result
    assert result.stdout.splitlines() == [
        "Scheduling the execution of workflow `backup` on deployment `dep1`. Schedule name: backup",
        "Deployment schedule created successfully"]
    data = sched_cli("get", "dep1", "backup", "--json").json
    assert data["timezone"] == "Europe/London"           # the machine's zone by default
    assert data["rule"]["weekdays"] == ["MO", "TU", "FR"]
    assert data["slip"] == 0 and data["stop_on_fail"] is False and data["enabled"] is True
    assert data["execution_arguments"]["wait_after_fail"] == 600
    assert len(data["all_next_occurrences"]) == 1000


def test_usage_errors_exit_2(sched_cli, dep):
    result = sched_cli("create", "dep1", "backup", "-r", "1d")
    assert result.exit_code == 2 and "Missing option '-s' / '--since'." in result.stderr
    result = sched_cli("create", "dep1", "-s", "+1h")
    assert result.exit_code == 2 and "Missing argument 'WORKFLOW_ID'." in result.stderr
    result = sched_cli("create", "dep1", "backup", "-s", "+1h", "--rrule", "RRULE:FREQ=DAILY", "-c", "3")
    assert result.exit_code == 2
    assert "`rrule` cannot be provided together with `recurrence`, `weekdays` or `count`." in result.stderr


@pytest.mark.parametrize("args, message", [
    (["-s", "blah", "-c", "1"], "blah is not a legal time format. accepted formats are YYYY-MM-DD HH:MM | HH:MM"),
    (["-s", "+10 dobosh", "-c", "1"], "10 dobosh is not a legal time delta"),
    (["-s", "+rez", "-c", "1"], "+rez is not a legal time delta"),
    (["-s", "12:00", "--tz", "Nowhere", "-c", "1"], "Nowhere is not a recognized timezone"),
    (["-s", "+1h", "-r", "weekly"], "`weekly` is not a legal recurrence expression. Supported format is: "
                                    "<number> seconds|minutes|hours|days|weeks|months|years"),
    (["-s", "+1h"], "recurrence must be specified for execution count larger than 1"),
    (["-s", "+1h", "-r", "1w", "--weekdays", "2tu"],
     "complex weekday expression 2tu can only be used with a months|years recurrence, but got weeks."),
    (["-s", "+1h", "-r", "1d", "--weekdays", "xx"],
     "weekdays list contains an invalid weekday `xx`. Valid weekdays are: MO|TU|WE|TH|FR|SA|SU or their "
     "lowercase values, optionally prefixed by 1-4 or l-/L-."),
])
def test_create_errors_golden(sched_cli, dep, args, message):
    result = sched_cli("create", "dep1", "backup", *args)
    assert result.exit_code == 1, result
    assert result.stderr.strip().splitlines()[-1] == message
    assert sched_cli("list", "--json").json == []


def test_unknown_workflow_and_schedule(sched_cli, dep):
    result = sched_cli("create", "dep1", "nope", "-s", "+1h", "-c", "1")
    assert result.exit_code == 1 and result.stderr.strip() == "Workflow nope does not exist in deployment dep1"
    result = sched_cli("get", "dep1", "missing")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Requested `ExecutionSchedule` with ID `missing` was not found "
                                     "(filters: {'deployment_id': 'dep1'})")


def test_update_keeps_slip_and_reports(sched_cli, dep):
    assert sched_cli("create", "dep1", "backup", "-n", "nightly", "-s", "+1h", "-r", "1d", "--slip", "15",
                     "--stop-on-fail").exit_code == 0
    result = sched_cli("update", "dep1", "nightly", "-r", "2d")
    assert result.exit_code == 0, result
    assert result.stdout.splitlines() == ["Updating schedule `nightly` on deployment `dep1`...",
                                          "Deployment schedule updated successfully"]
    data = sched_cli("get", "dep1", "nightly", "--json").json
    assert (data["slip"], data["stop_on_fail"], data["rule"]["recurrence"]) == (15, True, "2d")
    sched_cli("update", "dep1", "nightly", "--continue-on-fail", "--disabled")
    data = sched_cli("get", "dep1", "nightly", "--json").json
    assert (data["slip"], data["stop_on_fail"], data["enabled"]) == (15, False, False)


def test_enable_disable_messages(sched_cli, dep):
    sched_cli("create", "dep1", "backup", "-s", "+1h", "-r", "1d")
    result = sched_cli("enable", "dep1", "backup")
    assert result.exit_code == 1 and result.stderr.strip() == "Schedule `backup` on deployment `dep1` is already enabled"
    result = sched_cli("disable", "dep1", "backup")
    assert result.stdout.splitlines() == ["Disabling schedule `backup` on deployment `dep1`...",
                                          "Deployment schedule disabled successfully"]
    result = sched_cli("disable", "dep1", "backup")
    assert result.exit_code == 1 and result.stderr.strip().endswith("is already disabled")
    result = sched_cli("enable", "dep1", "backup")
    assert result.stdout.splitlines() == ["Enabling schedule `backup` on deployment `dep1`...",
                                          "Deployment schedule enabled successfully"]


def test_get_with_preview_text(sched_cli, dep):
    sched_cli("create", "dep1", "backup", "-s", "2026-03-02 09:00", "-r", "1d", "-c", "3", "--tz", "UTC")
    result = sched_cli("get", "dep1", "backup", "--preview", "2")
    assert result.exit_code == 0, result
    out = result.stdout
    assert out.startswith("Retrieving execution schedule backup\n\nExecution schedule:\n")
    assert "Scheduling rule:" in out and "Execution arguments:" in out and "Additional data:" in out
    assert "\ttimezone:" in out and "\tlatest execution status:" in out
    assert out.rstrip().endswith("Computed 3 upcoming occurrences. Listing first 2:\n"
                                 "  1     2026-03-02 09:00:00 UTC\n  2     2026-03-03 09:00:00 UTC")
    result = sched_cli("get", "dep1", "backup", "--preview", "5")
    assert "Computed 3 upcoming occurrences. Listing:\n" in result.stdout
    sched_cli("disable", "dep1", "backup")
    result = sched_cli("get", "dep1", "backup", "--preview", "5")
    assert result.exit_code == 1 and "Execution schedule:" in result.stdout
    assert result.stderr.strip() == "Deployment schedule backup is disabled, no upcoming occurrences"
    preview = sched_cli("get", "dep1", "backup", "--preview", "1001")
    assert preview.exit_code == 2


def test_list_table_json_filters_and_summary(sched_cli, dep):
    sched_cli("create", "dep1", "backup", "-s", "+1h", "-r", "1d")
    sched_cli("create", "dep1", "install", "-s", "2027-05-01 10:00", "-c", "1")
    result = sched_cli("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Listing deployment schedules..." and "Deployment schedules:" in lines
    assert lines[-1] == "Showing 2 of 2 deployment schedules"
    rows = sched_cli("list", "dep1", "--json").json
    assert isinstance(rows, list) and {r["id"] for r in rows} == {"backup", "install"}
    assert all("all_next_occurrences" in r and "timezone" in r for r in rows)
    filtered = sched_cli("list", "-s", "2027-04-30 00:00", "-u", "2027-05-02 00:00")
    assert filtered.stdout.splitlines()[-1] == "Showing 2 of 2 deployment schedules"
    filtered = sched_cli("list", "--since", "2027-05-02 00:00")
    assert filtered.stdout.splitlines()[-1] == "Showing 1 of 2 deployment schedules"
    assert [r["id"] for r in sched_cli("list", "--search", "inst", "--json").json] == ["install"]
    summary = sched_cli("summary", "workflow_id", "--json").json
    assert {"workflow_id": "backup", "recurrence": "TOTAL", "execution_schedules": 1} in summary
    text = sched_cli("summary", "deployment_id")
    assert "Deployment schedules summary by deployment_id" in text.stdout


def test_delete_and_history(sched_cli, dep):
    sched_cli("create", "dep1", "backup", "-s", "+1h", "-r", "1d")
    assert sched_cli("history", "dep1", "backup", "--json").json == []
    assert "Showing 0 decisions" in sched_cli("history", "dep1", "backup").stdout
    result = sched_cli("delete", "dep1", "backup")
    assert result.stdout.splitlines() == ["Deleting schedule `backup` on deployment `dep1`...",
                                          "Deployment schedule deleted successfully"]
    assert sched_cli("delete", "dep1", "backup").exit_code == 1
    assert sched_cli("history", "dep1", "backup").exit_code == 1


def test_parameters_and_execution_arguments_from_options(sched_cli, dep):
    result = sched_cli("create", "dep1", "backup", "-s", "+1h", "-r", "1d", "-p", "k=5", "-p", '{"a": [1, 2]}',
                       "--dry-run", "-f", "--wait-after-fail", "30", "--json")
    assert result.exit_code == 0, result
    data = result.json
    assert data["parameters"] == {"k": "5", "a": [1, 2]}
    assert data["execution_arguments"] == {"allow_custom_parameters": False, "force": True, "is_dry_run": True,
                                           "wait_after_fail": 30}
    refused = sched_cli("create", "dep1", "backup", "-n", "other", "-s", "+1h", "-r", "1d", "-p", "nope=1")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == ('Workflow "backup" does not have the following parameters declared: nope. '
                                      'Remove these parameters or use the flag for allowing custom parameters')
