"""``cfy blueprints ...``: upload, list, get, delete, validate, inputs."""
from __future__ import annotations

import json

import click

from cfy_local.cli import AliasedGroup
from cfy_local.cli.common import get_home, json_option, wide_option
from cfy_local.cli.result import Message, Result, Table, Text
from cfy_local.deployments import api
from cfy_local.errors import DSLError

LIST_COLUMNS = ["id", "description", "main_file_name", "created_at", "updated_at", "state", "error", "labels"]
LIST_DROP_ORDER = ["labels", "error", "updated_at", "state", "main_file_name", "description"]
INPUT_COLUMNS = ["name", "type", "default", "description"]


def _short_description(row: dict) -> dict:
    description = row.get("description") or ""
    if len(description) >= 20:
        description = description[:18] + ".."
    return dict(row, description=description)


@click.group("blueprints", cls=AliasedGroup)
def blueprints():
    """Handle blueprints"""


@blueprints.command("upload")
@click.argument("blueprint_path")
@click.option("-b", "--blueprint-id", help="The unique identifier for the blueprint (default: the name of the "
                                           "folder that holds it)")
@click.option("-n", "--blueprint-filename", help="The name of the main blueprint file when BLUEPRINT_PATH is a "
                                                 "folder [default: blueprint.yaml]")
@json_option
def upload(blueprint_path, blueprint_id, blueprint_filename):
    """Upload a blueprint: parse and validate it, then copy its folder into the state directory"""
    try:
        record = api.upload_blueprint(get_home(), blueprint_path, blueprint_id, blueprint_filename)
    except DSLError as exc:
        raise DSLError(f"Failed parsing blueprint: {exc}") from None
    return Result(data=record, before=[Message(f"Uploading blueprint {blueprint_path}...")],
                  after=[Message(f"Blueprint `{record['id']}` upload started."),
                         Message(f"Blueprint uploaded. The blueprint's id is {record['id']}")])


@blueprints.command("list")
@click.option("--sort-by", default="created_at", show_default=True, help="Key for sorting the list")
@click.option("--descending", is_flag=True, help="Sort list in descending order")
@click.option("--search", help="Search blueprints by id (substring)")
@wide_option
@json_option
def list_(sort_by, descending, search):
    """List blueprints"""
    rows = api.list_blueprints(get_home())
    total = len(rows)
    if search:
        rows = [r for r in rows if search in r["id"]]
    rows.sort(key=lambda r: (r.get(sort_by) is None, str(r.get(sort_by) or "")), reverse=descending)
    hidden = total - len(rows)
    return Result(data=[{c: r.get(c) for c in LIST_COLUMNS} for r in rows],
                  before=[Message("Listing all blueprints...")],
                  views=[Table([_short_description(r) for r in rows], LIST_COLUMNS, "Blueprints:",
                               drop_order=LIST_DROP_ORDER)],
                  after=[Message(f"Showing {len(rows)} of {total} blueprints"
                                 + (f" ({hidden} hidden by filter)" if hidden else ""))])


@blueprints.command("get")
@click.argument("blueprint_id")
@json_option
def get(blueprint_id):
    """Retrieve information for a specific blueprint"""
    record = api.get_blueprint(get_home(), blueprint_id)
    lines = [f"Description:\n{record.get('description') or ''}\n",
             f"Metadata:\n{json.dumps(record.get('metadata') or {})}\n", "Plugins:"]
    for name, plugin in (record.get("plugins") or {}).items():
        version = plugin.get("package_version")
        label = plugin.get("package_name") or name
        lines.append(f"\t{label}{'==' + str(version) if version else ''} ({plugin.get('executor')})")
    lines += ["", "Existing deployments:", json.dumps(record["deployments"])]
    return Result(data=record, before=[Message(f"Retrieving blueprint {blueprint_id}...")],
                  views=[Table([_short_description(record)], LIST_COLUMNS + ["#deployments"], "Blueprint:",
                               max_cell=50, drop_order=LIST_DROP_ORDER), Text(lines)])


@blueprints.command("delete")
@click.argument("blueprint_id")
@click.option("-f", "--force", is_flag=True,
              help="Delete the blueprint regardless of it's state and even if there are deployments which are "
                   "currently using it")
@json_option
def delete(blueprint_id, force):
    """Delete a blueprint"""
    api.delete_blueprint(get_home(), blueprint_id, force=force)
    return Result(data={"id": blueprint_id, "deleted": True}, before=[Message(f"Deleting blueprint {blueprint_id}...")],
                  after=[Message("Blueprint deleted")])


@blueprints.command("validate")
@click.argument("blueprint_path")
@click.option("-n", "--blueprint-filename", help="The main blueprint file when BLUEPRINT_PATH is a folder")
@json_option
def validate(blueprint_path, blueprint_filename):
    """Validate a blueprint (nothing is written)"""
    try:
        api.validate_blueprint(blueprint_path, blueprint_filename, get_home())
    except DSLError as exc:
        raise DSLError(f"Failed to validate blueprint: {exc}") from None
    return Result(data={"path": blueprint_path, "valid": True}, before=[Message(f"Validating blueprint: {blueprint_path}")],
                  after=[Message("Blueprint validated successfully")])


@blueprints.command("inputs")
@click.argument("blueprint_id")
@json_option
def inputs(blueprint_id):
    """List a blueprint's inputs"""
    rows = api.blueprint_inputs(get_home(), blueprint_id)
    shown = [{k: (json.dumps(v) if isinstance(v, (dict, list)) else ("-" if v in (None, "") else v))
              for k, v in r.items()} for r in rows]
    return Result(data=rows, before=[Message(f"Retrieving inputs for blueprint {blueprint_id}...")],
                  views=[Table(shown, INPUT_COLUMNS, "Inputs:")])
