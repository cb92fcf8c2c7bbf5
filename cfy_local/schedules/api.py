"""Execution schedules: create, update, delete, list, get, enable/disable, preview,
history, summary, blueprint ``default_schedules`` and the one-shot ``--schedule``.

Texts and rules follow Cloudify (docs/cloudify-behaviour.md, "Execution schedules") with the
departures listed in the README:
occurrences in the schedule's zone, ``update`` keeping slip, ``--weekdays "mo, tu"``,
``get --json`` as one object, a decision history, and honoured blueprint flags.
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from cfy_local import clock
from cfy_local.deployments.records import load_deployment, runtime_data
from cfy_local.dsl.functions import evaluate_runtime
from cfy_local.dsl.parameters import merge_workflow_parameters
from cfy_local.errors import AlreadyExistsError, CfyLocalError, ValidationError
from cfy_local.ids import validate_id
from cfy_local.schedules import cache, records
from cfy_local.schedules.rules import MAX_PREVIEW, build_rule, occurrences_of
from cfy_local.timegrammar import (get_zone, local_zone_name, parse_one_shot_time,
                                          parse_time_expression)
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record
from cfy_local.timefmt import iso

DEFAULT_WAIT_AFTER_FAIL = 600
SORTABLE = ("id", "deployment_id", "workflow_id", "created_at", "next_occurrence", "since", "until",
            "stop_on_fail", "enabled")
SUMMARY_FIELDS = ("deployment_id", "workflow_id")


# --- collaborators ------------------------------------------------------------------------

def _check_workflow_and_parameters(home: Home, deployment: dict, workflow_id: str, parameters: dict,
                                   allow_custom: bool) -> None:
    """The workflow must exist on the deployment (the schedules endpoint's own text);
    parameters are checked exactly as ``executions start`` checks them."""
    if workflow_id not in (deployment.get("workflows") or {}):
        raise ValidationError(f"Workflow {workflow_id} does not exist in deployment {deployment['id']}")
    merge_workflow_parameters(deployment, workflow_id, parameters, allow_custom,
                              data=runtime_data(home, deployment["id"]))


def _latest_execution_status(home: Home, execution_id: str | None) -> str | None:
    if not execution_id:
        return None
    try:
        return load_record(home.execution_file(execution_id), "execution")["status"]
    except (FileNotFoundError, CfyLocalError):  # deleted or unreadable: no status to show
        return None


# --- views -------------------------------------------------------------------------------

def view(home: Home, record: dict[str, Any], *, with_occurrences: bool = True,
         now: datetime | None = None) -> dict[str, Any]:
    """The public shape: Cloudify's schedule fields + ``timezone`` + ``all_next_occurrences``."""
    out = {
        "id": record["id"],
        "deployment_id": record["deployment_id"],
        "workflow_id": record["workflow_id"],
        "created_at": record["created_at"],
        "updated_at": record.get("updated_at"),
        "next_occurrence": record.get("next_occurrence"),
        "since": record.get("since"),
        "until": record.get("until"),
        "timezone": record.get("timezone"),
        "rule": record["rule"],
        "slip": record.get("slip", 0),
        "stop_on_fail": record.get("stop_on_fail", False),
        "enabled": record.get("enabled", True),
        "latest_execution": record.get("latest_execution"),
        "latest_execution_status": _latest_execution_status(home, record.get("latest_execution")),
        "parameters": record.get("parameters") or {},
        "execution_arguments": record.get("execution_arguments") or {},
    }
    if with_occurrences:
        out["all_next_occurrences"] = cache.upcoming(home, record, now or clock.now(), MAX_PREVIEW)
    return out


# --- create / update / delete -------------------------------------------------------------

def _execution_arguments(*, allow_custom_parameters=False, force=False, dry_run=False,
                         wait_after_fail=None) -> dict[str, Any]:
    if wait_after_fail is None:
        wait_after_fail = DEFAULT_WAIT_AFTER_FAIL
    if isinstance(wait_after_fail, bool) or not isinstance(wait_after_fail, int) or wait_after_fail < 0:
        raise ValidationError(f"wait_after_fail: expected a non-negative integer, but got: {wait_after_fail}")
    return {"allow_custom_parameters": bool(allow_custom_parameters), "force": bool(force),
            "is_dry_run": bool(dry_run), "wait_after_fail": wait_after_fail}


def _check_slip(slip) -> int:
    if isinstance(slip, bool) or not isinstance(slip, int) or slip < 0:
        raise ValidationError(f"slip: expected a non-negative number of minutes, but got: {slip}")
    return slip


def _resolve_time(value, tz_name: str, now: datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=get_zone(tz_name))
    return parse_time_expression(value, tz_name, now)


def create_schedule(home: Home, deployment_id: str, workflow_id: str, *, schedule_id: str | None = None,
                    since, until=None, tz: str | None = None, recurrence: str | None = None,
                    count=None, weekdays=None, rrule: str | None = None, slip: int = 0,
                    stop_on_fail: bool = False, enabled: bool = True,
                    parameters: dict | None = None, allow_custom_parameters: bool = False,
                    force: bool = False, dry_run: bool = False, wait_after_fail: int | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """Create a schedule (enabled unless told otherwise) and return its view."""
    now = now or clock.now()
    schedule_id = schedule_id or workflow_id
    validate_id(schedule_id, "schedule_id")
    record = _build_record(home, deployment_id, workflow_id, schedule_id=schedule_id, since=since,
                           until=until, tz=tz, recurrence=recurrence, count=count, weekdays=weekdays,
                           rrule=rrule, slip=slip, stop_on_fail=stop_on_fail, enabled=enabled,
                           parameters=parameters, allow_custom_parameters=allow_custom_parameters,
                           force=force, dry_run=dry_run, wait_after_fail=wait_after_fail, now=now)
    _store_new(home, record)
    return view(home, record, now=now)


def _build_record(home: Home, deployment_id: str, workflow_id: str, *, schedule_id: str, since, until,
                  tz, recurrence, count, weekdays, rrule, slip, stop_on_fail, enabled, parameters,
                  allow_custom_parameters, force, dry_run, wait_after_fail, now: datetime) -> dict[str, Any]:
    if since is None or since == "":
        raise ValidationError("Missing since in json request body")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise ValidationError(f"parameters: expected a dict, but got: {parameters}")
    deployment = load_deployment(home, deployment_id)
    tz_name = tz or local_zone_name()
    get_zone(tz_name)
    since_utc = _resolve_time(since, tz_name, now)
    until_utc = _resolve_time(until, tz_name, now) if until not in (None, "") else None
    rule = build_rule(recurrence=recurrence, count=count, weekdays=weekdays, rrule=rrule)
    arguments = _execution_arguments(allow_custom_parameters=allow_custom_parameters, force=force,
                                     dry_run=dry_run, wait_after_fail=wait_after_fail)
    _check_workflow_and_parameters(home, deployment, workflow_id, parameters, arguments["allow_custom_parameters"])
    record = {
        "id": schedule_id, "deployment_id": deployment_id, "workflow_id": workflow_id,
        "created_at": iso(now), "updated_at": iso(now),
        "since": iso(since_utc), "until": iso(until_utc), "timezone": tz_name, "rule": rule,
        "slip": _check_slip(slip), "stop_on_fail": bool(stop_on_fail), "enabled": bool(enabled),
        "next_occurrence": None, "latest_execution": None,
        "parameters": parameters, "execution_arguments": arguments,
    }
    record["next_occurrence"] = iso(occurrences_of(record).next_after(now))
    return record


def _store_new(home: Home, record: dict[str, Any]) -> None:
    dep, sched = record["deployment_id"], record["id"]
    with records.schedule_lock(home, dep, sched):
        if records.exists(home, dep, sched):
            raise AlreadyExistsError(f"Execution schedule `{sched}` already exists on deployment `{dep}`")
        # A history left by a deleted namesake must not be read as this schedule's.
        try:
            os.unlink(home.schedule_history_file(dep, sched))
        except FileNotFoundError:
            pass
        records.save(home, record)


def update_schedule(home: Home, deployment_id: str, schedule_id: str, *, since=None, until=None,
                    tz: str | None = None, recurrence: str | None = None, count=None, weekdays=None,
                    rrule: str | None = None, slip: int | None = None, stop_on_fail: bool | None = None,
                    enabled: bool | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Change only the given fields; ``next_occurrence`` is recomputed from now (as the
    manager does), so a pending late occurrence is dropped."""
    now = now or clock.now()
    with records.schedule_lock(home, deployment_id, schedule_id):
        record = records.load(home, deployment_id, schedule_id)
        updated = dict(record)
        tz_name = tz or record.get("timezone") or "UTC"
        if tz is not None:
            get_zone(tz)
            updated["timezone"] = tz
        if since not in (None, ""):
            updated["since"] = iso(_resolve_time(since, tz_name, now))
        if until not in (None, ""):
            updated["until"] = iso(_resolve_time(until, tz_name, now))
        if any(v is not None for v in (recurrence, count, weekdays, rrule)):
            updated["rule"] = build_rule(recurrence=recurrence, count=count, weekdays=weekdays, rrule=rrule,
                                         previous=record["rule"])
        if slip is not None:
            updated["slip"] = _check_slip(slip)
        if stop_on_fail is not None:
            updated["stop_on_fail"] = bool(stop_on_fail)
        if enabled is not None:
            updated["enabled"] = bool(enabled)
        updated["updated_at"] = iso(now)
        updated["next_occurrence"] = iso(occurrences_of(updated).next_after(now))
        records.save(home, updated)
    return view(home, updated, now=now)


def delete_schedule(home: Home, deployment_id: str, schedule_id: str) -> None:
    with records.schedule_lock(home, deployment_id, schedule_id):
        if not records.exists(home, deployment_id, schedule_id):
            raise records.not_found(deployment_id, schedule_id)
        records.delete(home, deployment_id, schedule_id)
    cache.forget(home, deployment_id, schedule_id)


def set_enabled(home: Home, deployment_id: str, schedule_id: str, enabled: bool,
                now: datetime | None = None) -> dict[str, Any]:
    """Enable or disable; cfy's "already enabled/disabled" error when nothing would change.
    Enabling recomputes ``next_occurrence`` from now (missed occurrences are not caught up)."""
    now = now or clock.now()
    with records.schedule_lock(home, deployment_id, schedule_id):
        record = records.load(home, deployment_id, schedule_id)
        if bool(record.get("enabled", True)) == bool(enabled):
            state = "enabled" if enabled else "disabled"
            raise ValidationError(f"Schedule `{schedule_id}` on deployment `{deployment_id}` is already {state}")
        updated = dict(record, enabled=bool(enabled), updated_at=iso(now))
        if enabled:
            updated["next_occurrence"] = iso(occurrences_of(updated).next_after(now))
        records.save(home, updated)
    return view(home, updated, now=now)


# --- reads -------------------------------------------------------------------------------

def get_schedule(home: Home, deployment_id: str, schedule_id: str, *, with_occurrences: bool = True,
                 now: datetime | None = None) -> dict[str, Any]:
    return view(home, records.load(home, deployment_id, schedule_id), with_occurrences=with_occurrences, now=now)


def list_schedules(home: Home, deployment_id: str | None = None, *, with_occurrences: bool = False,
                   search: str | None = None, since: datetime | None = None, until: datetime | None = None,
                   sort_by: str = "created_at", descending: bool = False,
                   now: datetime | None = None) -> list[dict[str, Any]]:
    """Schedules (of one deployment or all). ``since``/``until`` (aware UTC) keep only those
    with an upcoming occurrence inside [since, until]; ``search`` matches id substrings."""
    if deployment_id is not None:
        validate_id(deployment_id, "deployment_id")
    if sort_by not in SORTABLE:
        raise ValidationError(f"Cannot sort by `{sort_by}`. Sortable fields: {', '.join(SORTABLE)}")
    now = now or clock.now()
    rows = records.load_all(home, deployment_id)
    if search:
        rows = [r for r in rows if search in r["id"]]
    if since is not None or until is not None:
        rows = [r for r in rows if _has_occurrence_between(r, since, until, now)]
    rows.sort(key=lambda r: _sort_key(r.get(sort_by)), reverse=descending)
    return [view(home, r, with_occurrences=with_occurrences, now=now) for r in rows]


def _sort_key(value) -> tuple:
    return (value is None, "" if value is None else str(value))


def _has_occurrence_between(record: dict, since: datetime | None, until: datetime | None, now: datetime) -> bool:
    start = now if since is None or since <= now else since
    # First occurrence at or after `start` (next_after is strict, so step back a microsecond).
    first = occurrences_of(record).next_after(start - timedelta(microseconds=1))
    return first is not None and (until is None or first <= until)


def preview(home: Home, deployment_id: str, schedule_id: str, n: int,
            now: datetime | None = None) -> list[str]:
    """The next ``n`` (≤ 1,000) occurrences as UTC ISO strings; a disabled schedule has none."""
    record = records.load(home, deployment_id, schedule_id)
    if not record.get("enabled", True):
        raise ValidationError(f"Deployment schedule {schedule_id} is disabled, no upcoming occurrences")
    return cache.upcoming(home, record, now or clock.now(), n)


def history(home: Home, deployment_id: str, schedule_id: str) -> list[dict[str, Any]]:
    """Every decision the scheduler took for this schedule, oldest first."""
    if not records.exists(home, deployment_id, schedule_id):
        raise records.not_found(deployment_id, schedule_id)
    return [{k: e.get(k) for k in ("occurrence", "decided_at", "action", "reason", "execution_id")}
            for e in records.read_history(home, deployment_id, schedule_id)]


def recurrence_label(rule: dict) -> str:
    return rule.get("recurrence") or rule.get("rrule") or ""


def summary(home: Home, field: str) -> list[dict[str, Any]]:
    """Counts per ``field`` sub-grouped by recurrence (cfy's ``schedule summary``)."""
    if field not in SUMMARY_FIELDS:
        raise ValidationError(f"Invalid summary field `{field}`. Valid fields: {', '.join(SUMMARY_FIELDS)}")
    counts = Counter((r[field], recurrence_label(r["rule"])) for r in records.load_all(home))
    rows = []
    for value in sorted({k[0] for k in counts}):
        subs = sorted((k[1], n) for k, n in counts.items() if k[0] == value)
        for recurrence, n in subs:
            rows.append({field: value, "recurrence": recurrence, "execution_schedules": n})
        rows.append({field: value, "recurrence": "TOTAL", "execution_schedules": sum(n for _, n in subs)})
    return rows


# --- deployments' default schedules ------------------------------------------------------

def create_default_schedules(home: Home, deployment: dict[str, Any], now: datetime | None = None) -> list[dict]:
    """Turn ``deployment["default_schedules"]`` (blueprint ``deployment_settings``) into
    schedules, as Cloudify does at deployment creation. Relative times resolve now, absolute
    ones in ``timezone``. ``default_enabled``, ``stop_after_fail`` and
    ``execution_arguments.is_dry_run`` are honoured (Cloudify drops or fails on them: a
    departure listed in the README). All are validated before any is written."""
    now = now or clock.now()
    entries = deployment.get("default_schedules") or {}
    built = []
    for schedule_id, entry in entries.items():
        try:
            built.append(_record_from_default(home, deployment, schedule_id, entry or {}, now))
        except ValidationError as exc:
            raise ValidationError(f"default_schedules.{schedule_id}: {exc}") from None
    created = []
    for record in built:
        _store_new(home, record)
        created.append(view(home, record, with_occurrences=False, now=now))
    return created


def _record_from_default(home: Home, deployment: dict, schedule_id: str, entry: dict, now: datetime) -> dict:
    validate_id(schedule_id, "schedule_id")
    arguments = dict(entry.get("execution_arguments") or {})
    dry_run = arguments.get("is_dry_run", arguments.get("dry_run", False))
    parameters = entry.get("workflow_parameters", entry.get("parameters")) or {}
    if parameters:
        # get_input / get_secret / concat ... resolve now; get_attribute is refused by the parser.
        parameters = evaluate_runtime(parameters, runtime_data(home, deployment["id"]))
    enabled = entry.get("default_enabled", entry.get("enabled", True))
    stop_on_fail = entry.get("stop_after_fail", entry.get("stop_on_fail", False))
    weekdays = entry.get("weekdays")
    return _build_record(
        home, deployment["id"], entry.get("workflow") or entry.get("workflow_id"), schedule_id=schedule_id,
        since=_default_time(entry.get("since")), until=_default_time(entry.get("until")),
        tz=entry.get("timezone"), recurrence=entry.get("recurrence"), count=entry.get("count"),
        weekdays=list(weekdays) if weekdays else None, rrule=entry.get("rrule"), slip=entry.get("slip") or 0,
        stop_on_fail=bool(stop_on_fail), enabled=True if enabled is None else bool(enabled),
        parameters=parameters, allow_custom_parameters=bool(arguments.get("allow_custom_parameters", False)),
        force=bool(arguments.get("force", False)), dry_run=bool(dry_run),
        wait_after_fail=arguments.get("wait_after_fail"), now=now)


def _default_time(value):
    """Blueprint times: relative/absolute text as typed, or a UTC time the parser already
    converted (``YYYY-MM-DD HH:MM:SS`` or ISO)."""
    if value is None or isinstance(value, datetime):
        return value
    text = str(value).strip()
    if text.startswith("+"):
        return text
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return text


def delete_deployment_schedules(home: Home, deployment_id: str) -> None:
    """Remove every schedule of a deployment (with its history), each under its lock."""
    for dep, sched in list(records.iter_keys(home, deployment_id)):
        with records.schedule_lock(home, dep, sched):
            records.delete(home, dep, sched)
    shutil.rmtree(home.deployment_schedules_dir(deployment_id), ignore_errors=True)
    cache.forget(home, deployment_id)


# --- cfy executions start --schedule --------------------------------------------------------

def create_one_shot(home: Home, deployment_id: str, workflow_id: str, when_text: str,
                    parameters: dict | None, execution_arguments: dict | None,
                    now: datetime | None = None) -> dict[str, Any]:
    """The deprecated ``executions start --schedule``: a count-1 schedule with id
    ``<wf>_<32 hex>``, slip 0, as Cloudify names it. Returns the schedule's view; the caller reports
    the execution as ``scheduled``."""
    now = now or clock.now()
    when = parse_one_shot_time(when_text, now)
    arguments = dict(execution_arguments or {})
    return create_schedule(
        home, deployment_id, workflow_id, schedule_id=f"{workflow_id}_{uuid.uuid4().hex}", since=when,
        tz="UTC", count=1, slip=0, parameters=parameters or {},
        allow_custom_parameters=bool(arguments.get("allow_custom_parameters", False)),
        force=bool(arguments.get("force", False)),
        dry_run=bool(arguments.get("is_dry_run", arguments.get("dry_run", False))),
        wait_after_fail=arguments.get("wait_after_fail"), now=now)
