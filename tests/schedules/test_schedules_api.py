"""The schedules API: create/update/delete, list/get views, enable/disable, preview,
history, summary, blueprint default_schedules and the one-shot --schedule."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from cfy_local import clock
from cfy_local.errors import AlreadyExistsError, NotFoundError, ValidationError
from cfy_local.schedules import api
from schedule_support import at, make_deployment

NOW = at("2026-03-01 12:00")


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(NOW)
    yield
    clock.freeze(None)


def create(store, **kw):
    args = dict(since="2026-03-02 09:00", tz="Europe/London", recurrence="1d")
    args.update(kw)
    workflow = args.pop("workflow", "backup")
    return api.create_schedule(store, "dep1", workflow, **args)


def test_create_stores_a_utc_record_with_zone_and_next_occurrence(store, dep):
    view = create(store, until="2026-03-31 09:00", slip=5, stop_on_fail=True, parameters={"k": 1},
                  force=True, dry_run=True, wait_after_fail=30)
    assert view["id"] == "backup" and view["enabled"] is True
    assert view["since"] == "2026-03-02T09:00:00.000Z"
    assert view["until"] == "2026-03-31T08:00:00.000Z"      # BST by then
    assert view["timezone"] == "Europe/London"
    assert view["next_occurrence"] == "2026-03-02T09:00:00.000Z"
    assert view["rule"] == {"recurrence": "1d", "count": None, "weekdays": None}
    assert view["execution_arguments"] == {"allow_custom_parameters": False, "force": True, "is_dry_run": True,
                                           "wait_after_fail": 30}
    assert view["parameters"] == {"k": 1} and view["slip"] == 5 and view["stop_on_fail"] is True
    assert view["latest_execution_status"] is None
    occurrences = view["all_next_occurrences"]
    assert len(occurrences) == 30 and occurrences[-1] == "2026-03-31T08:00:00.000Z"
    on_disk = json.loads(open(store.schedule_file("dep1", "backup")).read())
    assert on_disk["schema_version"] == 1 and "all_next_occurrences" not in on_disk


def test_create_errors_golden_and_nothing_written(store, dep):
    with pytest.raises(ValidationError) as err:
        create(store, workflow="nope")
    assert str(err.value) == "Workflow nope does not exist in deployment dep1"
    with pytest.raises(NotFoundError) as err:
        api.create_schedule(store, "ghost", "install", since="+1h", count=1)
    assert str(err.value) == "Requested `Deployment` with ID `ghost` was not found"
    with pytest.raises(ValidationError) as err:
        create(store, schedule_id="9lives")
    assert "must start with a letter" in str(err.value)
    with pytest.raises(ValidationError) as err:
        create(store, parameters=["x"])
    assert str(err.value) == "parameters: expected a dict, but got: ['x']"
    with pytest.raises(ValidationError) as err:
        create(store, parameters={"undeclared": 1})
    assert str(err.value) == ('Workflow "backup" does not have the following parameters declared: undeclared. '
                              'Remove these parameters or use the flag for allowing custom parameters')
    assert create(store, schedule_id="custom", parameters={"undeclared": 1}, allow_custom_parameters=True)
    api.delete_schedule(store, "dep1", "custom")
    with pytest.raises(ValidationError) as err:
        create(store, recurrence=None)
    assert str(err.value) == "recurrence must be specified for execution count larger than 1"
    with pytest.raises(ValidationError) as err:
        create(store, tz="Nowhere/Land")
    assert str(err.value) == "Nowhere/Land is not a recognized timezone"
    assert api.list_schedules(store) == []
    create(store)
    with pytest.raises(AlreadyExistsError) as err:
        create(store)
    assert str(err.value) == "Execution schedule `backup` already exists on deployment `dep1`"


def test_update_changes_only_what_is_given(store, dep):
    create(store, until="2026-12-31 00:00", slip=7, stop_on_fail=True, parameters={"a": 1}, count=10)
    before = api.get_schedule(store, "dep1", "backup")
    clock.freeze(NOW + timedelta(hours=1))
    after = api.update_schedule(store, "dep1", "backup", recurrence="2d")
    assert after["rule"] == {"recurrence": "2d", "count": 10, "weekdays": None}
    for key in ("since", "until", "timezone", "slip", "stop_on_fail", "enabled", "parameters",
                "execution_arguments", "created_at", "workflow_id"):
        assert after[key] == before[key], key
    after = api.update_schedule(store, "dep1", "backup", slip=0, stop_on_fail=False, enabled=False)
    assert (after["slip"], after["stop_on_fail"], after["enabled"]) == (0, False, False)
    after = api.update_schedule(store, "dep1", "backup", since="2026-04-01 10:00")
    assert after["since"] == "2026-04-01T09:00:00.000Z" and after["next_occurrence"] == "2026-04-01T09:00:00.000Z"
    with pytest.raises(NotFoundError) as err:
        api.update_schedule(store, "dep1", "nope", slip=1)
    assert str(err.value) == ("Requested `ExecutionSchedule` with ID `nope` was not found "
                              "(filters: {'deployment_id': 'dep1'})")


def test_enable_disable_and_already_golden(store, dep):
    create(store)
    with pytest.raises(ValidationError) as err:
        api.set_enabled(store, "dep1", "backup", True)
    assert str(err.value) == "Schedule `backup` on deployment `dep1` is already enabled"
    assert api.set_enabled(store, "dep1", "backup", False)["enabled"] is False
    with pytest.raises(ValidationError) as err:
        api.set_enabled(store, "dep1", "backup", False)
    assert str(err.value) == "Schedule `backup` on deployment `dep1` is already disabled"
    with pytest.raises(ValidationError) as err:
        api.preview(store, "dep1", "backup", 3)
    assert str(err.value) == "Deployment schedule backup is disabled, no upcoming occurrences"
    clock.freeze(at("2026-03-10 12:00"))
    enabled = api.set_enabled(store, "dep1", "backup", True)
    assert enabled["next_occurrence"] == "2026-03-11T09:00:00.000Z"  # recomputed from now


def test_list_filters_sorts_and_searches(store, dep):
    make_deployment(store.root, "dep2")
    create(store, schedule_id="a-daily")
    clock.freeze(NOW + timedelta(seconds=1))
    create(store, schedule_id="b-yearly", since="2027-01-01 00:00", recurrence="1y")
    clock.freeze(NOW + timedelta(seconds=2))
    api.create_schedule(store, "dep2", "install", since="+1h", count=1, tz="UTC")
    assert [r["id"] for r in api.list_schedules(store)] == ["a-daily", "b-yearly", "install"]
    assert [r["id"] for r in api.list_schedules(store, "dep1", descending=True)] == ["b-yearly", "a-daily"]
    assert [r["id"] for r in api.list_schedules(store, search="yearly")] == ["b-yearly"]
    in_2027 = api.list_schedules(store, since=at("2026-12-31 00:00"), until=at("2027-01-02 00:00"))
    assert [r["id"] for r in in_2027] == ["a-daily", "b-yearly"]
    assert [r["id"] for r in api.list_schedules(store, until=at("2026-03-01 13:30"))] == ["install"]
    assert "all_next_occurrences" not in api.list_schedules(store)[0]
    assert len(api.list_schedules(store, with_occurrences=True)[0]["all_next_occurrences"]) == 1000
    with pytest.raises(ValidationError):
        api.list_schedules(store, sort_by="bogus")


def test_preview_history_summary_delete(store, dep):
    create(store, weekdays=["mo", "fr"])
    assert api.preview(store, "dep1", "backup", 3) == [
        "2026-03-02T09:00:00.000Z", "2026-03-06T09:00:00.000Z", "2026-03-09T09:00:00.000Z"]
    assert api.history(store, "dep1", "backup") == []
    create(store, schedule_id="other", workflow="install", count=1, recurrence=None)
    rows = api.summary(store, "workflow_id")
    assert {"workflow_id": "backup", "recurrence": "1d", "execution_schedules": 1} in rows
    assert {"workflow_id": "install", "recurrence": "TOTAL", "execution_schedules": 1} in rows
    api.delete_schedule(store, "dep1", "backup")
    with pytest.raises(NotFoundError):
        api.get_schedule(store, "dep1", "backup")
    with pytest.raises(NotFoundError):
        api.delete_schedule(store, "dep1", "backup")


def test_default_schedules_from_the_blueprint(store):
    deployment = make_deployment(store.root, "dep1", default_schedules={
        "nightly": {"workflow": "backup", "since": "+4h", "recurrence": "1d", "stop_after_fail": True,
                    "default_enabled": False, "workflow_parameters": {"x": 1},
                    "execution_arguments": {"is_dry_run": True, "force": True, "wait_after_fail": 5}},
        "weekly": {"workflow": "install", "since": "2026-03-02 07:30", "until": "2026-06-01 00:00",
                   "timezone": "America/New_York", "recurrence": "1w", "weekdays": ["tu", "th"], "slip": 3},
    })
    created = api.create_default_schedules(store, deployment)
    assert [c["id"] for c in created] == ["nightly", "weekly"]
    nightly = api.get_schedule(store, "dep1", "nightly")
    assert nightly["since"] == "2026-03-01T16:00:00.000Z"
    assert nightly["enabled"] is False and nightly["stop_on_fail"] is True
    assert nightly["execution_arguments"] == {"allow_custom_parameters": False, "force": True, "is_dry_run": True,
                                              "wait_after_fail": 5}
    assert nightly["parameters"] == {"x": 1}
    weekly = api.get_schedule(store, "dep1", "weekly")
    assert weekly["timezone"] == "America/New_York" and weekly["since"] == "2026-03-02T12:30:00.000Z"
    assert weekly["rule"]["weekdays"] == ["TU", "TH"] and weekly["slip"] == 3
    api.delete_deployment_schedules(store, "dep1")
    assert api.list_schedules(store) == []


def test_default_schedules_are_all_or_nothing(store):
    deployment = make_deployment(store.root, "dep1", default_schedules={
        "ok": {"workflow": "backup", "since": "+1h", "recurrence": "1d"},
        "bad": {"workflow": "backup", "since": "+1h", "recurrence": "daily"},
    })
    with pytest.raises(ValidationError) as err:
        api.create_default_schedules(store, deployment)
    assert str(err.value).startswith("default_schedules.bad: `daily` is not a legal recurrence expression")
    assert api.list_schedules(store) == []


def test_one_shot(store, dep):
    view = api.create_one_shot(store, "dep1", "install", "202603021230+0100", {"p": 1},
                               {"force": True, "dry_run": True})
    assert view["id"].startswith("install_") and len(view["id"]) == len("install_") + 32
    assert view["rule"] == {"recurrence": None, "count": 1, "weekdays": None}
    assert view["next_occurrence"] == "2026-03-02T11:30:00.000Z" and view["slip"] == 0
    assert view["execution_arguments"]["is_dry_run"] is True and view["parameters"] == {"p": 1}
    with pytest.raises(ValidationError) as err:
        api.create_one_shot(store, "dep1", "install", "202603021230", {}, {})
    assert "missing timezone information" in str(err.value)
