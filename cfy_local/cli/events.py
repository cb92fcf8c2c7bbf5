"""``cfy events list``: an execution's events as cfy prints them, or NDJSON."""
from __future__ import annotations

import click

from cfy_local.cli import AliasedGroup
from cfy_local.cli.common import get_home, json_option, verbosity
from cfy_local.cli.result import Message, Result
from cfy_local.cli.waiting import EventPrinter, wait_result
from cfy_local.errors import NotFoundError, not_found
from cfy_local.executions import api, records
from cfy_local.executions import event_stream as execution_events


@click.group("events", cls=AliasedGroup)
def events():
    """Show events from workflow executions"""


class NodeFilter:
    """cfy's filters plus ``--node`` naming a node (every instance of it) or one instance."""

    def __init__(self, base: execution_events.EventFilter, node: str | None):
        self.base, self.node = base, node

    def __call__(self, event: dict) -> bool:
        if not self.base(event):
            return False
        if self.node is None:
            return True
        ctx = event.get("context") or {}
        return self.node in (ctx.get("node_id"), ctx.get("node_name"))


@events.command("list")
@click.argument("execution_id", required=False)
@click.option("-e", "--execution-id", "execution_id_option",
              help="Deprecated: give the execution ID as a positional argument")
@click.option("--include-logs/--no-logs", default=True, show_default=True, help="Include logs in returned events")
@click.option("--tail", is_flag=True, help="Tail the events of the specified execution until it ends "
                                           "(exit 0 completed, 1 failed, 3 cancelled)")
@click.option("--from", "from_text", help="Events at or after this time (YYYY-MM-DD[ HH:MM:SS] or a UNIX time)")
@click.option("--to", "to_text", help="Events at or before this time (YYYY-MM-DD[ HH:MM:SS] or a UNIX time)")
@click.option("--node", help="Only events of this node (any of its instances) or of this node instance")
@click.option("--operation", help="Only events of this operation, e.g. cloudify.interfaces.lifecycle.create")
@json_option
def list_cmd(execution_id, execution_id_option, include_logs, tail, from_text, to_text, node, operation):
    """Display events for an execution"""
    if execution_id and execution_id_option:
        raise click.UsageError(
            f"Execution ID provided both as a positional argument ('{execution_id}') and as an option "
            f"('{execution_id_option}'). Please only specify it once (preferably as a positional argument).")
    before = []
    if execution_id_option:
        before.append(Message("Providing the execution ID as an option (using '-e') is now deprecated. Please "
                              "provide the execution ID as a positional argument.", err=True))
        execution_id = execution_id_option
    if not execution_id:
        raise click.UsageError("Provide an execution ID")
    if tail and to_text:
        raise click.UsageError("Illegal usage: `tail` is mutually exclusive with arguments: [to_datetime]")

    home = get_home()
    since = api.parse_timestamp(from_text, "--from") if from_text else None
    until = api.parse_timestamp(to_text, "--to") if to_text else None
    api.reconcile(home)
    try:
        record = records.load(home, execution_id)
    except NotFoundError:
        raise not_found("Execution", execution_id) from None
    keep = NodeFilter(execution_events.EventFilter(include_logs=include_logs, show_debug=verbosity() >= 2,
                                                   since=since, until=until, operation=operation), node)
    filters = f"include_logs={include_logs}"
    if since:
        filters += f", from_datetime={from_text}"
    if until:
        filters += f", to_datetime={to_text}"
    before.append(Message(f"Listing events for execution id {execution_id} [{filters}]"))
    if tail:
        return wait_result(home, record, keep=keep, verbose=verbosity(), before=before, tail=True)
    everything = execution_events.read_all(home, execution_id)
    shown = [e for e in everything if keep(e)]
    printer = EventPrinter(keep, verbose=1, retry_interval=0)  # a listing shows each event whole
    result = Result(data=shown, json_lines=True, before=before)
    result.after.extend(Message(printer(e) or "") for e in shown)
    return result.say(f"\nShowing {len(shown)} of {len(everything)} events")
