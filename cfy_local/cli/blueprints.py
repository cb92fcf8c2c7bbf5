"""``cfy blueprints ...`` (cli.md §8): upload, list, get, delete, validate, inputs."""
from __future__ import annotations

import json

import click

from cfy_local.cli import AliasedGroup, render
from cfy_local.cli.common import get_home, json_option, wants_json
from cfy_local.errors import DSLError

LIST_COLUMNS = ["id", "description", "main_file_name", "created_at", "updated_at", "state", "error", "labels"]
INPUT_COLUMNS = ["name", "type", "default", "description"]


def _api():
    from cfy_local.deployments import api

    return api


def _say(message: str) -> None:
    if not wants_json():
        render.echo(message)


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
    _say(f"Uploading blueprint {blueprint_path}...")
    try:
        record = _api().upload_blueprint(get_home(), blueprint_path, blueprint_id, blueprint_filename)
    except DSLError as exc:
        raise DSLError(f"Failed parsing blueprint: {exc}") from None
    if wants_json():
        render.print_json(record)
        return
    render.echo(f"Blueprint `{record['id']}` upload started.")
    render.echo(f"Blueprint uploaded. The blueprint's id is {record['id']}")


@blueprints.command("list")
@click.option("--sort-by", default="created_at", show_default=True, help="Key for sorting the list")
@click.option("--descending", is_flag=True, help="Sort list in descending order")
@click.option("--search", help="Search blueprints by id (substring)")
@json_option
def list_(sort_by, descending, search):
    """List blueprints"""
    _say("Listing all blueprints...")
    rows = _api().list_blueprints(get_home())
    total = len(rows)
    if search:
        rows = [r for r in rows if search in r["id"]]
    rows.sort(key=lambda r: (r.get(sort_by) is None, str(r.get(sort_by) or "")), reverse=descending)
    if wants_json():
        render.print_json([{c: r.get(c) for c in LIST_COLUMNS} for r in rows])
        return
    render.print_table([_short_description(r) for r in rows], LIST_COLUMNS, "Blueprints:")
    hidden = total - len(rows)
    render.echo(f"Showing {len(rows)} of {total} blueprints" + (f" ({hidden} hidden by filter)" if hidden else ""))


@blueprints.command("get")
@click.argument("blueprint_id")
@json_option
def get(blueprint_id):
    """Retrieve information for a specific blueprint"""
    _say(f"Retrieving blueprint {blueprint_id}...")
    record = _api().get_blueprint(get_home(), blueprint_id)
    if wants_json():
        render.print_json(record)
        return
    render.print_table([_short_description(record)], LIST_COLUMNS + ["#deployments"], "Blueprint:", max_width=50)
    render.echo(f"Description:\n{record.get('description') or ''}\n")
    render.echo(f"Metadata:\n{json.dumps(record.get('metadata') or {})}\n")
    render.echo("Plugins:")
    for name, plugin in (record.get("plugins") or {}).items():
        version = plugin.get("package_version")
        label = plugin.get("package_name") or name
        render.echo(f"\t{label}{'==' + str(version) if version else ''} ({plugin.get('executor')})")
    render.echo("")
    render.echo("Existing deployments:")
    render.echo(json.dumps(record["deployments"]))


@blueprints.command("delete")
@click.argument("blueprint_id")
@click.option("-f", "--force", is_flag=True,
              help="Delete the blueprint regardless of it's state and even if there are deployments which are "
                   "currently using it")
def delete(blueprint_id, force):
    """Delete a blueprint"""
    render.echo(f"Deleting blueprint {blueprint_id}...")
    _api().delete_blueprint(get_home(), blueprint_id, force=force)
    render.echo("Blueprint deleted")


@blueprints.command("validate")
@click.argument("blueprint_path")
@click.option("-n", "--blueprint-filename", help="The main blueprint file when BLUEPRINT_PATH is a folder")
@json_option
def validate(blueprint_path, blueprint_filename):
    """Validate a blueprint (nothing is written)"""
    _say(f"Validating blueprint: {blueprint_path}")
    try:
        _api().validate_blueprint(blueprint_path, blueprint_filename, get_home())
    except DSLError as exc:
        raise DSLError(f"Failed to validate blueprint: {exc}") from None
    if wants_json():
        render.print_json({"path": blueprint_path, "valid": True})
        return
    render.echo("Blueprint validated successfully")


@blueprints.command("inputs")
@click.argument("blueprint_id")
@json_option
def inputs(blueprint_id):
    """List a blueprint's inputs"""
    _say(f"Retrieving inputs for blueprint {blueprint_id}...")
    rows = _api().blueprint_inputs(get_home(), blueprint_id)
    if wants_json():
        render.print_json(rows)
        return
    shown = [{k: (json.dumps(v) if isinstance(v, (dict, list)) else ("-" if v in (None, "") else v))
              for k, v in r.items()} for r in rows]
    render.print_table(shown, INPUT_COLUMNS, "Inputs:")
