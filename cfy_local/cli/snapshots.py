"""``cfy snapshots ...``: create/restore run the system-wide workflows in a worker."""
from __future__ import annotations

import click

from cfy_local.cli import AliasedGroup
from cfy_local.cli.common import get_home, json_option
from cfy_local.cli.executions import execution_json
from cfy_local.cli.result import Message, Result, Table
from cfy_local.errors import ConflictError
from cfy_local.executions import api
from cfy_local.executions import snapshots as core

LIST_COLUMNS = ["id", "created_at", "status", "error"]


@click.group("snapshots", cls=AliasedGroup)
def snapshots():
    """Handle snapshots of the state directory"""


def _default_id() -> str:
    import secrets
    import string

    return "snapshot_" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))


@snapshots.command("create")
@click.argument("snapshot_id", required=False)
@click.option("--queue", is_flag=True,
              help="If set, snapshot-creation-workflows that can`t currently run will be queued and run "
                   "automatically when possible")
@json_option
def create(snapshot_id, queue):
    """Create a snapshot of the state directory"""
    home = get_home()
    snapshot_id = snapshot_id or _default_id()
    core.reserve(home, snapshot_id)
    try:
        record = api.start(home, "create_snapshot", None, {"snapshot_id": snapshot_id}, queue=queue)
    except BaseException:
        core.release(home, snapshot_id)
        raise
    return _report(record, f"Creating snapshot {snapshot_id}...")


@snapshots.command("restore")
@click.argument("snapshot_id")
@json_option
def restore(snapshot_id):
    """Restore the state directory from a snapshot (refused while anything else is active)"""
    home = get_home()
    snapshot = core.get_snapshot(home, snapshot_id)
    if snapshot.get("status") != "created":
        raise ConflictError(f"Snapshot `{snapshot_id}` cannot be restored: its status is {snapshot.get('status')}")
    return _report(api.start(home, "restore_snapshot", None, {"snapshot_id": snapshot_id}),
                   f"Restoring snapshot {snapshot_id}...")


def _report(record, intro: str) -> Result:
    result = Result(data=execution_json(record), before=[Message(intro)])
    if record["status"] == "queued":
        result.warn("Execution is being queued. It will automatically start when possible.")
    return result.say(f"Started workflow execution. The execution's id is {record['id']}")


@snapshots.command("list")
@json_option
def list_cmd():
    """List snapshots"""
    rows = core.list_snapshots(get_home())
    return Result(data=rows, before=[Message("Listing snapshots...")], views=[Table(rows, LIST_COLUMNS, "Snapshots:")])


@snapshots.command("delete")
@click.argument("snapshot_id")
@json_option
def delete(snapshot_id):
    """Delete a snapshot"""
    core.delete_snapshot(get_home(), snapshot_id)
    return Result(data={"id": snapshot_id, "deleted": True}, before=[Message(f"Deleting snapshot {snapshot_id}...")],
                  after=[Message("Snapshot deleted successfully")])
