"""``cfy snapshots ...``: create/restore run the system-wide workflows in a worker."""
from __future__ import annotations

import click

from cfy_local.cli import AliasedGroup, render
from cfy_local.cli.common import get_home, json_option, wants_json

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
    from cfy_local.executions import api, snapshots as core

    home = get_home()
    snapshot_id = snapshot_id or _default_id()
    if not wants_json():
        render.echo(f"Creating snapshot {snapshot_id}...")
    core.reserve(home, snapshot_id)
    try:
        record = api.start(home, "create_snapshot", None, {"snapshot_id": snapshot_id}, queue=queue)
    except BaseException:
        core.release(home, snapshot_id)
        raise
    _report(record)


@snapshots.command("restore")
@click.argument("snapshot_id")
@json_option
def restore(snapshot_id):
    """Restore the state directory from a snapshot (refused while anything else is active)"""
    from cfy_local.executions import api, snapshots as core

    home = get_home()
    snapshot = core.get_snapshot(home, snapshot_id)
    if snapshot.get("status") != "created":
        from cfy_local.errors import ConflictError

        raise ConflictError(f"Snapshot `{snapshot_id}` cannot be restored: its status is {snapshot.get('status')}")
    if not wants_json():
        render.echo(f"Restoring snapshot {snapshot_id}...")
    _report(api.start(home, "restore_snapshot", None, {"snapshot_id": snapshot_id}))


def _report(record):
    if wants_json():
        render.print_json(record)
        return
    if record["status"] == "queued":
        render.echo("Execution is being queued. It will automatically start when possible.")
    render.echo(f"Started workflow execution. The execution's id is {record['id']}")


@snapshots.command("list")
@json_option
def list_cmd():
    """List snapshots"""
    from cfy_local.executions import snapshots as core

    rows = core.list_snapshots(get_home())
    if wants_json():
        render.print_json(rows)
        return
    render.echo("Listing snapshots...")
    render.print_table(rows, LIST_COLUMNS, "Snapshots:")


@snapshots.command("delete")
@click.argument("snapshot_id")
@json_option
def delete(snapshot_id):
    """Delete a snapshot"""
    from cfy_local.executions import snapshots as core

    if not wants_json():
        render.echo(f"Deleting snapshot {snapshot_id}...")
    core.delete_snapshot(get_home(), snapshot_id)
    if wants_json():
        render.print_json({"id": snapshot_id, "deleted": True})
    else:
        render.echo("Snapshot deleted successfully")
