"""``cfy deployments schedule ...``: a thin adapter over cfy_local.schedules.api.

The ``deployments`` group loads :data:`schedule` lazily.
"""
from __future__ import annotations

import click

from zoneinfo import ZoneInfo

from cfy_local import clock
from cfy_local.cli import AliasedGroup
from cfy_local.cli.common import get_home, json_option, parse_values, wide_option
from cfy_local.cli.result import Details, Message, Result, Table, Text
from cfy_local.errors import ExitCode, ValidationError
from cfy_local.executions.statuses import display
from cfy_local.schedules import api
from cfy_local.timegrammar import local_zone_name, parse_time_expression
from cfy_local.timefmt import parse_iso

LIST_COLUMNS = ["id", "deployment_id", "workflow_id", "created_at", "next_occurrence", "timezone", "since", "until",
                "stop_on_fail", "enabled"]
LIST_DROP_ORDER = ["created_at", "until", "since", "stop_on_fail", "deployment_id"]
HISTORY_COLUMNS = ["occurrence", "decided_at", "action", "reason", "execution_id"]
RRULE_EXCLUSIVE = "`rrule` cannot be provided together with `recurrence`, `weekdays` or `count`."


def _check_rrule_exclusive(rrule, recurrence, count, weekdays) -> None:
    if rrule is not None and (recurrence is not None or count is not None or weekdays):
        raise click.UsageError(RRULE_EXCLUSIVE)


def _default_tz(tz: str | None) -> str:
    return tz or local_zone_name()


@click.group("schedule", cls=AliasedGroup)
def schedule():
    """Handle deployments' execution scheduling"""


def rule_options(f):
    f = click.option("--rrule", help="An iCalendar RRULE string, e.g. 'RRULE:FREQ=DAILY;INTERVAL=3' "
                                     "(not together with -r, -c or --weekdays)")(f)
    f = click.option("--weekdays", multiple=True,
                     help="Weekdays to run on, repeatable and/or comma-separated, e.g. 'mo, tu' or "
                          "'1su, l-fr' (positions only with a months/years recurrence)")(f)
    f = click.option("-c", "--count", type=int, help="Maximum number of runs (a one-shot without "
                                                     "recurrence is -c 1)")(f)
    f = click.option("-r", "--recurrence", help="How often to run, e.g. '2 weeks', '30 min', '1d', '1mo'")(f)
    f = click.option("--tz", help="Time zone of the schedule and of absolute --since/--until "
                                  "(default: this machine's zone)")(f)
    return f


@schedule.command("create")
@click.argument("deployment_id")
@click.argument("workflow_id")
@click.option("-n", "--schedule-name", help="A name for the schedule. If not provided, defaults to {workflow-id}")
@click.option("-p", "--parameters", multiple=True, help="Workflow parameters (JSON, YAML, k=v;k2=v2, a file). Repeatable")
@click.option("--allow-custom-parameters", is_flag=True, help="Allow parameters the workflow does not declare")
@click.option("-f", "--force", is_flag=True, help="Run even if another execution of the deployment is active")
@click.option("--dry-run", is_flag=True, help="Walk the workflow without running operations")
@click.option("--wait-after-fail", type=int, default=600, show_default=True,
              help="Seconds to wait for running operations after one fails")
@click.option("-s", "--since", required=True,
              help="The earliest possible time to run: 'YYYY-MM-DD HH:MM', 'HH:MM' or '+1d+10min'")
@click.option("-u", "--until", help="The latest possible time to run (same formats as --since)")
@rule_options
@click.option("--slip", type=int, default=0, show_default=True,
              help="Minutes an occurrence may run late (plus the 60 s polling period)")
@click.option("--stop-on-fail", is_flag=True, help="Disable the schedule after a failed run")
@json_option
def create(deployment_id, workflow_id, schedule_name, parameters, allow_custom_parameters, force, dry_run,
           wait_after_fail, since, until, tz, recurrence, count, weekdays, rrule, slip, stop_on_fail):
    """Schedule WORKFLOW_ID to run on DEPLOYMENT_ID."""
    _check_rrule_exclusive(rrule, recurrence, count, weekdays)
    name = schedule_name or workflow_id
    home = get_home()
    created = api.create_schedule(
        home, deployment_id, workflow_id, schedule_id=name, since=since, until=until, tz=_default_tz(tz),
        recurrence=recurrence, count=count, weekdays=list(weekdays) or None, rrule=rrule, slip=slip,
        stop_on_fail=stop_on_fail, parameters=parse_values(parameters),
        allow_custom_parameters=allow_custom_parameters, force=force, dry_run=dry_run,
        wait_after_fail=wait_after_fail)
    return Result(data=created, before=[Message(
        f"Scheduling the execution of workflow `{workflow_id}` on deployment `{deployment_id}`. "
        f"Schedule name: {name}")], after=[Message("Deployment schedule created successfully")])


@schedule.command("update")
@click.argument("deployment_id")
@click.argument("schedule_id")
@click.option("-s", "--since", help="The earliest possible time to run")
@click.option("-u", "--until", help="The latest possible time to run")
@rule_options
@click.option("--slip", type=int, default=None, help="Minutes an occurrence may run late (unchanged if not given)")
@click.option("--stop-on-fail/--continue-on-fail", default=None,
              help="Disable (or not) the schedule after a failed run (unchanged if not given)")
@click.option("--enabled/--disabled", default=None, help="Enable or disable the schedule (unchanged if not given)")
@json_option
def update(deployment_id, schedule_id, since, until, tz, recurrence, count, weekdays, rrule, slip,
           stop_on_fail, enabled):
    """Change only the given settings of a schedule."""
    _check_rrule_exclusive(rrule, recurrence, count, weekdays)
    updated = api.update_schedule(
        get_home(), deployment_id, schedule_id, since=since, until=until, tz=tz, recurrence=recurrence,
        count=count, weekdays=list(weekdays) or None, rrule=rrule, slip=slip, stop_on_fail=stop_on_fail,
        enabled=enabled)
    return Result(data=updated, before=[Message(f"Updating schedule `{schedule_id}` on deployment `{deployment_id}`...")],
                  after=[Message("Deployment schedule updated successfully")])


@schedule.command("delete")
@click.argument("deployment_id")
@click.argument("schedule_id")
@json_option
def delete(deployment_id, schedule_id):
    """Delete a schedule (and its history)."""
    api.delete_schedule(get_home(), deployment_id, schedule_id)
    return Result(data={"deployment_id": deployment_id, "id": schedule_id, "deleted": True},
                  before=[Message(f"Deleting schedule `{schedule_id}` on deployment `{deployment_id}`...")],
                  after=[Message("Deployment schedule deleted successfully")])


@schedule.command("list")
@click.argument("deployment_id", required=False)
@click.option("--sort-by", default="created_at", show_default=True, help="Field to sort by")
@click.option("--descending", is_flag=True, help="Sort in descending order")
@click.option("--search", help="Only schedules whose id contains this text")
@click.option("-s", "--since", help="List only schedules which have occurrences after this time")
@click.option("-u", "--until", help="List only schedules which have occurrences before this time")
@click.option("--tz", help="Time zone of absolute --since/--until (default: this machine's zone)")
@wide_option
@json_option
def list_(deployment_id, sort_by, descending, search, since, until, tz):
    """List schedules (of one deployment, or all)."""
    home = get_home()
    as_json = bool(click.get_current_context().find_root().obj.get("json"))
    now = clock.now()
    zone = _default_tz(tz)
    since_at = parse_time_expression(since, zone, now) if since else None
    until_at = parse_time_expression(until, zone, now) if until else None
    # Occurrence lists only for --json: computing them is the costly part of a listing.
    rows = api.list_schedules(home, deployment_id, with_occurrences=as_json, search=search, since=since_at,
                              until=until_at, sort_by=sort_by, descending=descending, now=now)
    total = len(api.list_schedules(home, deployment_id, now=now)) if (search or since or until) else len(rows)
    return Result(data=rows, before=[Message("Listing deployment schedules...")],
                  views=[Table(rows, LIST_COLUMNS, "Deployment schedules:", drop_order=LIST_DROP_ORDER)],
                  after=[Message(f"Showing {len(rows)} of {total} deployment schedules")])


def _additional_data(data: dict) -> dict:
    shown = (set(LIST_COLUMNS) - {"timezone"}) | {"rule", "execution_arguments", "all_next_occurrences", "preview"}
    out = {}
    for key, value in data.items():
        if key in shown:
            continue
        if key == "latest_execution_status" and value:
            value = display(value)
        out[key.replace("_", " ")] = value
    return out


def _preview_date(value: str, zone: str) -> str:
    """An occurrence (stored in UTC) in the schedule's own zone, as the TUI shows it."""
    try:
        return parse_iso(value).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, KeyError):
        return value.replace("T", " ")[:19]


@schedule.command("get")
@click.argument("deployment_id")
@click.argument("schedule_id")
@click.option("--preview", type=click.IntRange(1, 1000), help="Show the next N occurrences (at most 1000)")
@json_option
def get(deployment_id, schedule_id, preview):
    """Show a schedule: its rule, execution arguments, latest run and upcoming occurrences."""
    data = api.get_schedule(get_home(), deployment_id, schedule_id)
    json_data = dict(data)
    if preview:
        json_data["preview"] = data["all_next_occurrences"][:preview] if data["enabled"] else []
    result = Result(data=json_data, before=[Message(f"Retrieving execution schedule {schedule_id}")], views=[
        Table([data], LIST_COLUMNS, "Execution schedule:", max_cell=50, drop_order=LIST_DROP_ORDER),
        Details(data["rule"], "Scheduling rule:"),
        Details(data["execution_arguments"], "Execution arguments:"),
        Details(_additional_data(data), "Additional data:")])
    if preview:
        if not data["enabled"]:
            # cfy shows the schedule, then refuses the preview
            result.exit_code = ExitCode.ERROR
            return result.warn(f"Deployment schedule {schedule_id} is disabled, no upcoming occurrences")
        zone = data.get("timezone") or "UTC"
        upcoming = data["all_next_occurrences"]
        message = f"Computed {len(upcoming)} upcoming occurrences."
        if upcoming:
            message += f" Listing first {preview}:" if len(upcoming) > preview else " Listing:"
        result.views.append(Text([message] + [f"  {index:<5} {_preview_date(value, zone)} {zone}"
                                              for index, value in enumerate(upcoming[:preview], start=1)]))
    return result


def _toggle(deployment_id: str, schedule_id: str, enabled: bool) -> None:
    home = get_home()
    verb, done = ("Enabling", "enabled") if enabled else ("Disabling", "disabled")
    current = api.get_schedule(home, deployment_id, schedule_id, with_occurrences=False)
    if bool(current["enabled"]) == enabled:
        raise ValidationError(f"Schedule `{schedule_id}` on deployment `{deployment_id}` is already {done}")
    api.set_enabled(home, deployment_id, schedule_id, enabled)
    return Result(data={"deployment_id": deployment_id, "id": schedule_id, "enabled": enabled},
                  before=[Message(f"{verb} schedule `{schedule_id}` on deployment `{deployment_id}`...")],
                  after=[Message(f"Deployment schedule {done} successfully")])


@schedule.command("enable")
@click.argument("deployment_id")
@click.argument("schedule_id")
@json_option
def enable(deployment_id, schedule_id):
    """Enable a schedule (its next occurrence is computed from now)."""
    return _toggle(deployment_id, schedule_id, True)


@schedule.command("disable")
@click.argument("deployment_id")
@click.argument("schedule_id")
@json_option
def disable(deployment_id, schedule_id):
    """Disable a schedule."""
    return _toggle(deployment_id, schedule_id, False)


@schedule.command("summary")
@click.argument("target_field", type=click.Choice(["deployment_id", "workflow_id"]))
@json_option
def summary(target_field):
    """Count schedules by TARGET_FIELD, sub-grouped by recurrence."""
    rows = api.summary(get_home(), target_field)
    return Result(data=rows, before=[Message(f"Retrieving summary of deployment schedules on field {target_field}")],
                  views=[Table(rows, [target_field, "recurrence", "execution_schedules"],
                               f"Deployment schedules summary by {target_field}")])


@schedule.command("history")
@click.argument("deployment_id")
@click.argument("schedule_id")
@json_option
def history(deployment_id, schedule_id):
    """What the scheduler decided for each occurrence: fired, skipped or disabled, and why."""
    rows = api.history(get_home(), deployment_id, schedule_id)
    return Result(data=rows, views=[Table(rows, HISTORY_COLUMNS,
                                          f"History of schedule {schedule_id} on deployment {deployment_id}:")],
                  after=[Message(f"Showing {len(rows)} decisions")])
