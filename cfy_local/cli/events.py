"""``cfy events list``: an execution's events as cfy prints them, or NDJSON."""
from __future__ import annotations

import sys

import click

from cfy_local.cli import AliasedGroup, render
from cfy_local.cli.common import get_home, json_option, verbosity, wants_json
from cfy_local.errors import ExitCode


@click.group("events", cls=AliasedGroup)
def events():
    """Show events from workflow executions"""


@events.command("list")
@click.argument("execution_id", required=False)
@click.option("-e", "--execution-id", "execution_id_option",
              help="Deprecated: give the execution ID as a positional argument")
@click.option("--include-logs/--no-logs", default=True, show_default=True, help="Include logs in returned events")
@click.option("--tail", is_flag=True, help="Tail the events of the specified execution until it ends")
@click.option("--from", "from_text", help="Events at or after this time (YYYY-MM-DD[ HH:MM:SS] or a UNIX time)")
@click.option("--to", "to_text", help="Events at or before this time (YYYY-MM-DD[ HH:MM:SS] or a UNIX time)")
@click.option("--node", help="Only events of this node instance")
@click.option("--operation", help="Only events of this operation, e.g. cloudify.interfaces.lifecycle.create")
@json_option
def list_cmd(execution_id, execution_id_option, include_logs, tail, from_text, to_text, node, operation):
    """Display events for an execution"""
    if execution_id and execution_id_option:
        raise click.UsageError(
            f"Execution ID provided both as a positional argument ('{execution_id}') and as an option "
            f"('{execution_id_option}'). Please only specify it once (preferably as a positional argument).")
    if execution_id_option:
        render.warn("Providing the execution ID as an option (using '-e') is now deprecated. Please provide the "
                    "execution ID as a positional argument.")
        execution_id = execution_id_option
    if not execution_id:
        raise click.UsageError("Provide one of the following: Execution ID or Execution Group ID")
    if tail and to_text:
        raise click.UsageError("Illegal usage: `tail` is mutually exclusive with arguments: [to_datetime]")

    from cfy_local.errors import NotFoundError
    from cfy_local.executions import api, records
    from cfy_local.executions import events as execution_events

    home = get_home()
    as_json = wants_json()
    since = api.parse_timestamp(from_text, "--from") if from_text else None
    until = api.parse_timestamp(to_text, "--to") if to_text else None
    api.reconcile(home)
    try:
        record = records.load(home, execution_id)
    except NotFoundError:
        raise NotFoundError(f"Execution {execution_id} not found") from None
    keep = execution_events.EventFilter(include_logs=include_logs, show_debug=verbosity() >= 2, since=since,
                                        until=until, node=node, operation=operation)
    if not as_json:
        filters = f"include_logs={include_logs}"
        if since:
            filters += f", from_datetime={from_text}"
        if until:
            filters += f", to_datetime={to_text}"
        render.echo(f"Listing events for execution id {execution_id} [{filters}]")
    if tail:
        return wait_and_report_filtered(home, record, keep, as_json)
    shown = [e for e in execution_events.read_all(home, execution_id) if keep(e)]
    total = len(shown)
    for event in shown:
        if as_json:
            render.print_ndjson(event)
        else:
            render.echo(execution_events.render_line(event))
    if not as_json:
        render.echo(f"\nShowing {len(shown)} of {total} events")
        render.echo("Debug messages are only shown when you use very verbose mode (-vv)")
    return ExitCode.OK


def stream_events(home, execution_id: str, keep, as_json: bool, *, deadline: float | None = None) -> None:
    """Print an execution's events as they arrive until it has ended and every event has
    been read (nothing lost at the end). Raises TimeoutError past ``deadline`` (monotonic)
    and lets KeyboardInterrupt through: the callers word those differently."""
    from cfy_local.executions import api
    from cfy_local.executions import events as execution_events

    watcher = api.record_watcher(home, execution_id)
    for event in execution_events.follow(home, execution_id, watcher, deadline=deadline):
        if event is None or not keep(event):
            continue
        if as_json:
            render.print_ndjson(event)
        else:
            render.echo(execution_events.render_line(event))
            sys.stdout.flush()


def wait_and_report_filtered(home, record, keep, as_json) -> int:
    """``--tail``: follow until the execution ends, then print everything not yet shown —
    also for one that has already ended (cfy prints nothing then; we print it all)."""
    from cfy_local.executions import records

    execution_id = record["id"]
    try:
        stream_events(home, execution_id, keep, as_json)
    except KeyboardInterrupt:
        render.error(f"\nStopped following execution {execution_id}; it keeps running.")
        return ExitCode.INTERRUPTED
    final = records.load(home, execution_id)
    wf, dep = final["workflow_id"], final.get("deployment_id")
    if final["status"] == "failed":
        if not as_json:
            render.error(f"Execution of workflow {wf} for deployment {dep} failed. [error={final.get('error') or ''}]")
        return ExitCode.ERROR
    if final["status"] == "cancelled":
        if not as_json:
            render.error(f"Execution of workflow {wf} for deployment {dep} was cancelled.")
        return ExitCode.CANCELLED
    if not as_json:
        render.echo(f"Finished executing workflow {wf} on deployment {dep}")
    return ExitCode.OK
