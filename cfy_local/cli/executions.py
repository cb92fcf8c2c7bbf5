"""``cfy executions ...``: a thin adapter over cfy_local.executions.api."""
from __future__ import annotations

import click

from cfy_local.cli import AliasedGroup, render
from cfy_local.cli.common import get_home, json_option, verbosity, wants_json
from cfy_local.errors import ExitCode

LIST_COLUMNS = ["id", "workflow_id", "status", "is_dry_run", "deployment_id", "created_at", "started_at",
                "scheduled_for"]
GET_COLUMNS = ["id", "workflow_id", "status", "is_dry_run", "deployment_id", "blueprint_id", "created_at",
               "ended_at", "error", "started_at", "scheduled_for"]
CANCELLING_NOTE = ('NOTE: Executions currently in a "canceling/force-canceling" status may take a while '
                   'to change into "cancelled"')
SUMMARY_CHOICES = ["status", "blueprint_id", "deployment_id", "workflow_id"]
UNINSTALL_HINT = (
    "Note that, for the uninstall workflow, you can use the 'ignore_failure' parameter to ignore operation "
    "failures and continue the execution (for example: 'cfy executions start uninstall -d {dep} -p "
    "ignore_failure=true'). If your blueprint imports Cloudify's global definitions (types.yaml) of a version "
    "prior to 4.0, you will also need to include '--allow-custom-parameters' in the command line.")


def _api():
    from cfy_local.executions import api

    return api


def _parse_parameters(values) -> dict:
    if not values:
        return {}
    from cfy_local.inputs import parse_inputs

    return parse_inputs(list(values))


def _table_rows(rows):
    return [dict(r, status=r.get("status_display") or r.get("status")) for r in rows]


@click.group("executions", cls=AliasedGroup)
def executions():
    """Handle workflow executions"""


def wait_and_report(home, record: dict, *, timeout: int | None, include_logs: bool, as_json: bool) -> int:
    """Stream an execution's events until it ends (or the wait times out / is interrupted)
    and return its exit code (``errors.ExitCode``), printing cfy's framing lines."""
    from cfy_local import clock
    from cfy_local.cli.events import stream_events
    from cfy_local.executions import events, records

    execution_id, workflow_id, dep = record["id"], record["workflow_id"], record.get("deployment_id")
    keep = events.EventFilter(include_logs=include_logs, show_debug=verbosity() >= 2)
    deadline = None if timeout is None else clock.monotonic() + timeout
    try:
        stream_events(home, execution_id, keep, as_json, deadline=deadline)
    except TimeoutError:
        if not as_json:
            render.error(
                f"Timed out waiting for workflow '{workflow_id}' of deployment '{dep}' to end. The execution may "
                f"still be running properly; however, the command-line utility was instructed to wait up to "
                f"{timeout} seconds for its completion.\n\n* Run 'cfy executions list' to determine the "
                f"execution's status.\n* Run 'cfy executions cancel {execution_id}' to cancel the running "
                f"workflow.\n* Run 'cfy events list --tail {execution_id}' to retrieve the execution's events/logs")
        return ExitCode.TIMEOUT
    except KeyboardInterrupt:
        render.error(
            f"\nStopped waiting; execution {execution_id} keeps running.\n"
            f"* Run 'cfy events list {execution_id} --tail' to follow it\n"
            f"* Run 'cfy executions cancel {execution_id}' to cancel it")
        return ExitCode.INTERRUPTED
    final = records.load(home, execution_id)
    status = final["status"]
    events_hint = f"* Run 'cfy events list {execution_id}' to retrieve the execution's events/logs"
    if status == "failed":
        if not as_json:
            render.error(f"Execution of workflow {workflow_id} for deployment {dep} failed. "
                         f"[error={final.get('error') or ''}]")
            render.error(events_hint)
            if workflow_id == "uninstall" and str((final.get("parameters") or {}).get("ignore_failure")).lower() != "true":
                render.error(UNINSTALL_HINT.format(dep=dep))
        return ExitCode.ERROR
    if status == "cancelled":
        if not as_json:
            render.error(f"Execution of workflow {workflow_id} for deployment {dep} was cancelled.")
            render.error(events_hint)
        return ExitCode.CANCELLED
    if not as_json:
        render.echo(f"Finished executing workflow {workflow_id} on deployment {dep}")
        render.echo(events_hint)
    return ExitCode.OK


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
    as_json = wants_json()
    params = _parse_parameters(parameters)
    api = _api()
    if schedule_time:
        return _schedule(home, workflow_id, deployment_id, params, schedule_time, as_json,
                         allow_custom_parameters=allow_custom_parameters, force=force, dry_run=dry_run,
                         wait_after_fail=wait_after_fail)
    if not as_json and not no_wait:
        render.echo(f"Executing workflow `{workflow_id}` on deployment `{deployment_id}` [timeout={timeout} seconds]")
    import os

    record = api.start(home, workflow_id, deployment_id, params, allow_custom_parameters=allow_custom_parameters,
                       force=force, queue=queue, dry_run=dry_run, wait_after_fail=wait_after_fail,
                       task_retries=task_retries, task_retry_interval=task_retry_interval,
                       task_thread_pool_size=task_thread_pool_size, env=dict(os.environ))
    if record["status"] == "queued":
        if as_json:
            render.print_json(record)
        else:
            render.echo("Execution is being queued. It will automatically start when possible.")
        return ExitCode.OK
    if no_wait:
        if as_json:
            render.print_json(record)
        else:
            render.echo(record["id"])
        return ExitCode.OK
    code = wait_and_report(home, record, timeout=timeout, include_logs=include_logs, as_json=as_json)
    click.get_current_context().exit(code)


def _schedule(home, workflow_id, deployment_id, params, when, as_json, **arguments):
    from cfy_local.schedules.api import create_one_shot

    api = _api()
    # Validate the parameters now, as a start would: a bad schedule is refused at once.
    api.validate_start_parameters(home, deployment_id, workflow_id, params, arguments["allow_custom_parameters"])
    if not as_json:
        render.echo(f"Scheduling the execution of workflow `{workflow_id}` on deployment `{deployment_id}`. ")
    schedule = create_one_shot(home, deployment_id, workflow_id, when, params, {
        "allow_custom_parameters": arguments["allow_custom_parameters"], "force": arguments["force"],
        "is_dry_run": arguments["dry_run"], "wait_after_fail": arguments["wait_after_fail"]})
    if as_json:
        render.print_json({"status": "scheduled", "workflow_id": workflow_id, "deployment_id": deployment_id,
                           "schedule_id": schedule.get("id"), "scheduled_for": schedule.get("next_occurrence")
                           or schedule.get("since")})
        return ExitCode.OK
    when_text = schedule.get("next_occurrence") or schedule.get("since") or when
    render.echo(f"Execution is scheduled for {when_text}.\n"
                f"You can see the execution schedule using `cfy deployments schedule list`.")
    return ExitCode.OK


@executions.command("list")
@click.option("-d", "--deployment-id", help="The ID of the deployment to list executions for")
@click.option("--include-system-workflows", is_flag=True, help="Include executions of system workflows")
@click.option("--status", "statuses", multiple=True, help="Only executions in this status (repeatable)")
@click.option("--sort-by", default="created_at", show_default=True, help="Key for sorting the list")
@click.option("--descending", is_flag=True, help="Sort list in descending order [default: False]")
@json_option
def list_cmd(deployment_id, include_system_workflows, statuses, sort_by, descending):
    """List executions"""
    home = get_home()
    rows = _api().list_executions(home, deployment_id=deployment_id, include_system=include_system_workflows,
                                  statuses=list(statuses), sort_by=sort_by, descending=descending)
    if wants_json():
        render.print_json(rows)
        return
    render.echo(f"Listing executions for deployment {deployment_id}..." if deployment_id
                else "Listing all executions...")
    render.print_table(_table_rows(rows), LIST_COLUMNS, "Executions:")
    render.echo(f"Showing {len(rows)} of {len(rows)} executions")
    if any(r["status"] in ("cancelling", "force_cancelling") for r in rows):
        render.echo(CANCELLING_NOTE)


@executions.command("get")
@click.argument("execution_id")
@json_option
def get(execution_id):
    """Retrieve information for a specific execution"""
    from cfy_local.errors import NotFoundError

    home = get_home()
    if not wants_json():
        render.echo(f"Retrieving execution {execution_id}")
    try:
        record = _api().get(home, execution_id)
    except NotFoundError:
        raise NotFoundError(f"Execution {execution_id} not found") from None
    if wants_json():
        render.print_json(record)
        return
    render.print_table(_table_rows([record]), GET_COLUMNS, "Execution:", max_width=50)
    render.print_details(record.get("parameters") or {}, "Execution Parameters:")
    if record["status"] in ("cancelling", "force_cancelling"):
        render.echo(CANCELLING_NOTE)
    render.echo("")


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
    home = get_home()
    as_json = wants_json()
    if not as_json:
        verb = "Killing" if kill else "Force-cancelling" if force else "Cancelling"
        render.echo(f"{verb} execution {execution_id}")
    record = _api().cancel(home, execution_id, force=force, kill=kill)
    if as_json:
        render.print_json(record)
        return
    render.echo(f"A cancel request for execution {execution_id} has been sent. To track the execution's status, "
                f"use:\ncfy executions get {execution_id}")


@executions.command("resume")
@click.argument("execution_id")
@click.option("--reset-operations", is_flag=True,
              help="Reset operations in started state, so that they are run again unconditionally")
@json_option
def resume(execution_id, reset_operations):
    """Resume the execution of a workflow in a failed or cancelled state"""
    import os

    home = get_home()
    as_json = wants_json()
    if not as_json:
        render.echo(f"Resuming execution {execution_id}")
    record = _api().resume(home, execution_id, reset_operations=reset_operations, env=dict(os.environ))
    if as_json:
        render.print_json(record)
        return
    render.echo(f"A resume request for execution {execution_id} has been sent. To track the execution's status, "
                f"use:\ncfy executions get {execution_id}")


@executions.command("summary")
@click.argument("target_field", type=click.Choice(SUMMARY_CHOICES))
@click.argument("sub_field", type=click.Choice(SUMMARY_CHOICES), required=False)
@json_option
def summary(target_field, sub_field):
    """Retrieve summary of executions"""
    home = get_home()
    rows = _api().summary(home, target_field, sub_field)
    if wants_json():
        render.print_json(rows)
        return
    render.echo(f"Retrieving summary of executions on field {target_field}")
    columns = [target_field] + ([sub_field] if sub_field else []) + ["executions"]
    shown = [dict(r, **{sub_field: "TOTAL"}) if sub_field and r.get(sub_field) is None else r for r in rows]
    render.print_table(shown, columns, f"Execution summary by {target_field}")


@executions.command("delete")
@click.option("--to", "to_text", help="Delete executions created before this time (YYYY-MM-DD[ HH:MM:SS[.f]] "
                                      "or a UNIX time)")
@click.option("--before", "before_text", help="Delete executions older than this, e.g. '2 weeks' or '3 days ago'")
@click.option("--keep-last", type=int, help="Keep the N most recent finished executions")
@click.option("-d", "--deployment-id", help="Only executions of this deployment")
@json_option
def delete(to_text, before_text, keep_last, deployment_id):
    """Delete finished executions (terminated, failed, cancelled)"""
    given = [name for name, value in (("to", to_text), ("before", before_text), ("keep_last", keep_last))
             if value is not None]
    if len(given) > 1:
        raise click.UsageError(f"Illegal usage: `{given[0]}` is mutually exclusive with arguments: "
                               f"[{', '.join(given[1:])}]")
    api = _api()
    to = api.parse_timestamp(to_text) if to_text is not None else None
    if before_text is not None:
        to = api.parse_before(before_text)
    count = api.delete_executions(get_home(), to=to, keep_last=keep_last, deployment_id=deployment_id)
    if wants_json():
        render.print_json({"deleted": count})
        return
    render.echo(f"\nDeleted {count} executions" if count else "\nNo executions to delete")
