"""``cfy executions ...``: a thin adapter over cfy_local.executions.api. Every command
returns a Result that ``cli.render`` prints."""
from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

import click

from cfy_local.engine import graphstate
from cfy_local.cli import AliasedGroup
from cfy_local.cli.common import get_home, json_option, parse_values, verbosity, wide_option
from cfy_local.cli.result import Details, Message, Result, Table, Text, message
from cfy_local.cli.waiting import wait_result
from cfy_local.errors import ConflictError, ExitCode, NotFoundError
from cfy_local.executions import api, spawn, statuses, records
from cfy_local.executions import event_stream as execution_events
from cfy_local.executions.admission import DeploymentBusyError

if TYPE_CHECKING:
    # What the standby worker below loads by name, declared where the import checks see it.
    from cfy_local import worker_process  # noqa: F401
    from cfy_local.engine import workflow_run  # noqa: F401

LIST_COLUMNS = ["id", "workflow_id", "status", "is_dry_run", "deployment_id", "created_at", "started_at",
                "scheduled_for"]
# Left out first to last when `executions list` is wider than the terminal (the README's order).
LIST_DROP_ORDER = ["scheduled_for", "is_dry_run", "started_at", "created_at"]
GET_COLUMNS = ["id", "workflow_id", "status", "is_dry_run", "deployment_id", "blueprint_id", "created_at",
               "ended_at", "started_at", "scheduled_for"]
GET_DROP_ORDER = ["scheduled_for", "is_dry_run", "started_at", "blueprint_id", "created_at", "ended_at"]
# One JSON shape for an execution in `list` and `get`; `get` adds the large fields.
JSON_KEYS = ("id", "workflow_id", "deployment_id", "blueprint_id", "status", "status_display", "created_at",
             "started_at", "ended_at", "scheduled_for", "is_dry_run", "is_system_workflow", "forced", "error",
             "total_operations", "finished_operations", "worker_pid", "worker_create_time")
CANCELLING_NOTE = ('NOTE: Executions currently in a "canceling/force-canceling" status may take a while '
                   'to change into "cancelled"')
SUMMARY_CHOICES = ["status", "blueprint_id", "deployment_id", "workflow_id"]
BUSY_ADVICE = "Use --queue to run it when they have ended, or --force to run it beside them."


def execution_json(record: dict, *, full: bool = False) -> dict:
    """An execution as ``--json`` prints it: ``error`` null when there is none, progress
    null while unknown. ``full`` (get) keeps every other field of the record too."""
    shaped = {key: record.get(key) for key in JSON_KEYS}
    shaped["error"] = record.get("error") or None
    if statuses.is_active(record.get("status") or "") and not shaped["total_operations"]:
        # No task graph yet: the total is unknown, not zero.
        shaped["total_operations"] = shaped["finished_operations"] = None
    if full:
        shaped.update({k: v for k, v in record.items() if k not in shaped and k != "created_ns"})
    return shaped


def _with_list_fields(home, row: dict) -> dict:
    """A list row with what the summary cache leaves out: the error of an ended run,
    progress of an active one."""
    row = dict(row)
    if row["status"] in ("failed", "cancelled"):
        try:
            row["error"] = records.load(home, row["id"]).get("error")
        except NotFoundError:
            pass
    if statuses.is_active(row["status"]):
        total, finished = graphstate.progress(home, row["id"])
        if total:
            row["total_operations"], row["finished_operations"] = total, finished
    return row


def _table_rows(rows):
    return [dict(r, status=r.get("status_display") or r.get("status")) for r in rows]


def _missing(execution_id: str) -> NotFoundError:
    return NotFoundError(f"Requested `Execution` with ID `{execution_id}` was not found")


def event_filter(include_logs: bool):
    return execution_events.EventFilter(include_logs=include_logs, show_debug=verbosity() >= 2)


@click.group("executions", cls=AliasedGroup)
def executions():
    """Handle workflow executions"""


def started_result(home, record: dict, *, no_wait: bool, timeout: int, include_logs: bool,
                   header: str | None = None) -> Result:
    """What every start shows: the id (stdout, alone with --no-wait or when queued; the
    record with --json), else the waited run's events and end."""
    if record["status"] == "queued":
        return Result(data=execution_json(record), exit_code=ExitCode.OK, after=[
            Message("Execution is being queued. It will automatically start when possible.", err=True),
            Message(record["id"])])
    if no_wait:
        return Result(data=execution_json(record), after=[Message(record["id"])])
    before = [Message(header)] if header else []
    return wait_result(home, record, keep=event_filter(include_logs), verbose=verbosity(), timeout=timeout, before=before)


# The worker's entry: a standby worker loads it and the engine while this command decides
# admission (executions.spawn.fork_standby). Imported by name: this command's own start
# (``--no-wait``, listing, ...) must not load the engine.
WORKER_ENTRY = "cfy_local.worker_process"


def _load_worker() -> None:
    importlib.import_module(WORKER_ENTRY).preload()


def _run_worker(argv: list[str]) -> int:
    return importlib.import_module(WORKER_ENTRY).main(argv)


def start_execution(home, workflow_id, deployment_id, params, *, standby: bool = True, **options) -> dict:
    """``api.start`` with the CLI's wording of a busy deployment. With ``standby`` (a start
    that waits for its run) the worker is forked as a standby before admission, so its
    start-up overlaps the admission's work. Not for ``--no-wait``: a fork holds the
    command's output pipe until it first runs, and a caller reading that pipe to its end
    would wait for it on a loaded machine. The console entry (``cfy_local/console.py``)
    usually forked it already, before click was loaded."""
    if standby and not spawn.has_standby():
        spawn.fork_standby(_load_worker, _run_worker)
    try:
        return api.start(home, workflow_id, deployment_id, params, env=dict(os.environ), **options)
    except DeploymentBusyError as exc:
        raise ConflictError(f"{exc.first_sentence} {BUSY_ADVICE}") from None
    finally:
        spawn.discard_standby()


@executions.command("start")
@click.argument("workflow_id")
@click.option("-d", "--deployment-id", required=True, help="The ID of the deployment")
@click.option("-p", "--parameters", multiple=True,
              help="Parameters for the workflow (JSON, YAML, k=v;k2=v2, a file, a directory or a quoted glob). "
                   "Repeatable; merged left to right")
@click.option("--allow-custom-parameters", is_flag=True,
              help="Allow passing custom parameters (which were not defined in the workflow's schema)")
@click.option("-f", "--force", is_flag=True,
              help="Execute the workflow even if there is an ongoing execution for the given deployment")
@click.option("--timeout", type=int, default=900, show_default=True,
              help="Operation timeout in seconds (The execution itself will keep going, but the CLI will stop "
                   "waiting for it to terminate)")
@click.option("--include-logs/--no-logs", default=True, show_default=True, help="Include logs in returned events")
@click.option("--dry-run", is_flag=True,
              help="If set, no actual operations will be performed. This only prints the executed tasks, "
                   "without side effects")
@click.option("--wait-after-fail", type=int, default=600, show_default=True,
              help="When a task fails, wait this many seconds for already-running tasks to return")
@click.option("--queue", is_flag=True,
              help="If set, executions that can`t currently run will be queued and run automatically when possible")
@click.option("--schedule", "schedule_time",
              help="Deprecated: run once at this time (YYYYMMDDHHMM+HHMM); use `cfy deployments schedule create`")
@click.option("--no-wait", is_flag=True, help="Return at once after printing the execution id")
@click.option("--task-retries", type=int, help="How many times a failed operation is retried (default: config)")
@click.option("--task-retry-interval", type=int, help="Seconds between operation retries (default: config)")
@click.option("--task-thread-pool-size", type=int, help="How many operations may run at once (default: config)")
@json_option
def start(workflow_id, deployment_id, parameters, allow_custom_parameters, force, timeout, include_logs, dry_run,
          wait_after_fail, queue, schedule_time, no_wait, task_retries, task_retry_interval, task_thread_pool_size):
    """Execute a workflow on a given deployment"""
    if queue and (force or dry_run):
        raise click.UsageError("Illegal usage: `queue` is mutually exclusive with arguments: [force, dry_run]")
    if queue and schedule_time:
        raise click.UsageError("Illegal usage: `schedule` is mutually exclusive with arguments: [queue]")
    home = get_home()
    params = parse_values(parameters)
    if schedule_time:
        return _schedule(home, workflow_id, deployment_id, params, schedule_time,
                         allow_custom_parameters=allow_custom_parameters, force=force, dry_run=dry_run,
                         wait_after_fail=wait_after_fail)
    record = start_execution(home, workflow_id, deployment_id, params, standby=not no_wait,
                             allow_custom_parameters=allow_custom_parameters, force=force, queue=queue,
                             dry_run=dry_run, wait_after_fail=wait_after_fail, task_retries=task_retries,
                             task_retry_interval=task_retry_interval, task_thread_pool_size=task_thread_pool_size)
    # The header comes after admission: a refusal is the only line a refused start prints.
    return started_result(home, record, no_wait=no_wait, timeout=timeout, include_logs=include_logs,
                          header=f"Executing workflow `{workflow_id}` on deployment `{deployment_id}` "
                                 f"[timeout={timeout} seconds]")


def _schedule(home, workflow_id, deployment_id, params, when, **arguments) -> Result:
    from cfy_local.schedules.api import create_one_shot

    # Validate the parameters now, as a start would: a bad schedule is refused at once.
    api.validate_start(home, workflow_id, deployment_id, params, arguments["allow_custom_parameters"])
    schedule = create_one_shot(home, deployment_id, workflow_id, when, params, {
        "allow_custom_parameters": arguments["allow_custom_parameters"], "force": arguments["force"],
        "is_dry_run": arguments["dry_run"], "wait_after_fail": arguments["wait_after_fail"]})
    when_text = schedule.get("next_occurrence") or schedule.get("since") or when
    return Result(
        data={"status": "scheduled", "workflow_id": workflow_id, "deployment_id": deployment_id,
              "schedule_id": schedule.get("id"), "scheduled_for": schedule.get("next_occurrence")
              or schedule.get("since")},
        before=[Message(f"Scheduling the execution of workflow `{workflow_id}` on deployment `{deployment_id}`. ")],
        after=[Message(f"Execution is scheduled for {when_text}.\n"
                       f"You can see the execution schedule using `cfy deployments schedule list`.")])


@executions.command("wait")
@click.argument("execution_id")
@click.option("--timeout", type=int, help="Stop waiting after this many seconds (exit 4; the execution keeps going)")
@click.option("--include-logs/--no-logs", default=True, show_default=True, help="Include logs in the events shown")
@json_option
def wait(execution_id, timeout, include_logs):
    """Wait for an execution to end, showing its events; exit 0 completed, 1 failed, 3 cancelled"""
    home = get_home()
    try:
        record = api.get(home, execution_id)
    except NotFoundError:
        raise _missing(execution_id) from None
    return wait_result(home, record, keep=event_filter(include_logs), verbose=verbosity(), timeout=timeout)


@executions.command("list")
@click.option("-d", "--deployment-id", help="The ID of the deployment to list executions for")
@click.option("--include-system-workflows", is_flag=True, help="Include executions of system workflows")
@click.option("--status", "statuses", multiple=True, help="Only executions in this status (repeatable)")
@click.option("--sort-by", default="created_at", show_default=True, help="Key for sorting the list")
@click.option("--descending", is_flag=True, help="Sort list in descending order [default: False]")
@click.option("--last", "last", type=click.IntRange(min=1), help="Only the N most recently created executions")
@wide_option
@json_option
def list_cmd(deployment_id, include_system_workflows, statuses, sort_by, descending, last):
    """List executions"""
    home = get_home()
    rows = api.list_executions(home, deployment_id=deployment_id, include_system=include_system_workflows,
                               statuses=list(statuses), sort_by=sort_by, descending=descending)
    total = len(rows)
    if last is not None:
        newest = {r["id"] for r in sorted(rows, key=lambda r: (r.get("created_at") or "", r.get("created_ns") or 0))
                  [-last:]}
        rows = [r for r in rows if r["id"] in newest]
    result = Result(
        # Computed only for --json: the errors of ended runs are read from their records.
        data=lambda: [execution_json(_with_list_fields(home, r)) for r in rows],
        before=[Message(f"Listing executions for deployment {deployment_id}..." if deployment_id
                        else "Listing all executions...")],
        views=[Table(_table_rows(rows), LIST_COLUMNS, "Executions:", drop_order=LIST_DROP_ORDER)])
    result.say(f"Showing {len(rows)} of {total} executions")
    if any(r["status"] in ("cancelling", "force_cancelling") for r in rows):
        result.say(CANCELLING_NOTE)
    return result


@executions.command("get")
@click.argument("execution_id")
@wide_option
@json_option
def get(execution_id):
    """Retrieve information for a specific execution"""
    home = get_home()
    try:
        record = api.get(home, execution_id)
    except NotFoundError:
        raise _missing(execution_id) from None
    views = [Table(_table_rows([record]), GET_COLUMNS, "Execution:", drop_order=GET_DROP_ORDER),
             Details(record.get("parameters") or {}, "Execution Parameters:")]
    total, finished = record.get("total_operations"), record.get("finished_operations")
    if total:
        views.append(Text([f"Operations: {finished or 0}/{total} finished"]))
    if record.get("error"):
        views.append(Text(["Error:", record["error"].rstrip()]))
    result = Result(data=execution_json(record, full=True), views=views,
                    before=[Message(f"Retrieving execution {execution_id}")])
    if record["status"] in ("cancelling", "force_cancelling"):
        result.say(CANCELLING_NOTE)
    return result.say("")


@executions.command("cancel")
@click.argument("execution_id")
@click.option("-f", "--force", is_flag=True,
              help="Terminate the execution abruptly, rather than request an orderly termination")
@click.option("-k", "--kill", is_flag=True,
              help="Terminate the execution abruptly, and also stop currently running tasks. This will stop all "
                   "processes running operations and workflows for the given execution.")
@json_option
def cancel(execution_id, force, kill):
    """Cancel a workflow's execution"""
    verb = "Killing" if kill else "Force-cancelling" if force else "Cancelling"
    record = api.cancel(get_home(), execution_id, force=force, kill=kill)
    return Result(data=execution_json(record, full=True), before=[Message(f"{verb} execution {execution_id}")],
                  after=[Message(f"A cancel request for execution {execution_id} has been sent. To track the "
                                 f"execution's status, use:\ncfy executions get {execution_id}")])


@executions.command("resume")
@click.argument("execution_id")
@click.option("--reset-operations", is_flag=True,
              help="Reset operations in started state, so that they are run again unconditionally")
@json_option
def resume(execution_id, reset_operations):
    """Resume the execution of a workflow in a failed or cancelled state"""
    record = api.resume(get_home(), execution_id, reset_operations=reset_operations, env=dict(os.environ))
    return Result(data=execution_json(record, full=True), before=[Message(f"Resuming execution {execution_id}")],
                  after=[Message(f"A resume request for execution {execution_id} has been sent. To track the "
                                 f"execution's status, use:\ncfy executions get {execution_id}")])


@executions.command("summary")
@click.argument("target_field", type=click.Choice(SUMMARY_CHOICES))
@click.argument("sub_field", type=click.Choice(SUMMARY_CHOICES), required=False)
@json_option
def summary(target_field, sub_field):
    """Retrieve summary of executions"""
    rows = api.summary(get_home(), target_field, sub_field)
    columns = [target_field] + ([sub_field] if sub_field else []) + ["executions"]
    shown = [dict(r, **{sub_field: "TOTAL"}) if sub_field and r.get(sub_field) is None else r for r in rows]
    return Result(data=rows, before=[Message(f"Retrieving summary of executions on field {target_field}")],
                  views=[Table(shown, columns, f"Execution summary by {target_field}")])


@executions.command("delete")
@click.option("--to", "to_text", help="Delete executions created before this time (YYYY-MM-DD[ HH:MM:SS[.f]] "
                                      "or a UNIX time)")
@click.option("--before", "before_text", help="Delete executions older than this, e.g. '2 weeks' or '3 days ago'")
@click.option("--keep-last", type=int, help="Keep the N most recent finished executions")
@click.option("-d", "--deployment-id", help="Only executions of this deployment")
@click.option("--all", "delete_all", is_flag=True, help="Delete every finished execution (needed when no other "
                                                        "option says which)")
@json_option
def delete(to_text, before_text, keep_last, deployment_id, delete_all):
    """Delete finished executions (terminated, failed, cancelled)"""
    given = [name for name, value in (("to", to_text), ("before", before_text), ("keep_last", keep_last))
             if value is not None]
    if len(given) > 1:
        raise click.UsageError(f"Illegal usage: `{given[0]}` is mutually exclusive with arguments: "
                               f"[{', '.join(given[1:])}]")
    if not given and deployment_id is None and not delete_all:
        # Deleting every finished execution is never a default: ask on a terminal, refuse otherwise.
        stdin = sys.stdin
        if not stdin.isatty() or not click.confirm("Delete every finished execution?", default=False,
                                                   err=True):
            raise click.UsageError("Say which executions to delete: --to, --before, --keep-last or -d, or "
                                   "--all for every finished execution.")
    to = api.parse_timestamp(to_text) if to_text is not None else None
    if before_text is not None:
        to = api.parse_before(before_text)
    count = api.delete_executions(get_home(), to=to, keep_last=keep_last, deployment_id=deployment_id)
    return message(f"\nDeleted {count} executions" if count else "\nNo executions to delete", data={"deleted": count})
