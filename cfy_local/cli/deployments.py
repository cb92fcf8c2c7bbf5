"""``cfy deployments ...`` (cli.md §9): create, list, delete, inputs, outputs, and the lazy
``schedule`` sub-group (``cfy_local.cli.schedules``)."""
from __future__ import annotations

import importlib
import json
import uuid

import click

from cfy_local.cli import AliasedGroup, render, resolve_prefix
from cfy_local.cli.common import get_home, json_option, wants_json
from cfy_local.errors import ValidationError

LIST_COLUMNS = ["id", "display_name", "blueprint_id", "created_at", "updated_at", "labels", "deployment_status",
                "installation_status"]
LAZY_SUBGROUPS = {"schedule": "cfy_local.cli.schedules:schedule"}


def _api():
    from cfy_local.deployments import api

    return api


def _say(message: str) -> None:
    if not wants_json():
        render.echo(message)


def _text(value) -> str:
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


class DeploymentsGroup(AliasedGroup):
    """Adds sub-groups that are imported only when asked for (``schedule``)."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY_SUBGROUPS))

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.commands and cmd_name not in LAZY_SUBGROUPS:
            cmd_name = resolve_prefix(self, ctx, cmd_name)
        if cmd_name in LAZY_SUBGROUPS:
            module_name, attr = LAZY_SUBGROUPS[cmd_name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)


@click.group("deployments", cls=DeploymentsGroup)
def deployments():
    """Handle deployments and their schedules"""


@deployments.command("create")
@click.argument("deployment_id", required=False)
@click.option("-b", "--blueprint-id", required=True, help="The unique identifier for the blueprint")
@click.option("-i", "--inputs", "inputs", multiple=True,
              help="Inputs for the deployment (JSON, YAML, k=v;k2=v2, a file, a folder or a quoted glob). "
                   "Repeatable")
@click.option("--generate-id", is_flag=True, help="Generate a UUID for the deployment id")
@click.option("-n", "--display-name", help="The display name of the deployment (default: its id)")
@click.option("--runtime-only-evaluation", is_flag=True,
              help="If set, all intrinsic functions will only be evaluated at runtime, and no intrinsic functions "
                   "will be evaluated at parse time (such as get_input, get_property)")
@json_option
def create(deployment_id, blueprint_id, inputs, generate_id, display_name, runtime_only_evaluation):
    """Create a deployment from a blueprint"""
    if generate_id:
        if deployment_id:
            raise ValidationError("`--generate-id` cannot be provided if a deployment ID is specified")
        deployment_id = str(uuid.uuid4())
        deployment_id = "d" + deployment_id if deployment_id[0].isdigit() else deployment_id
    from cfy_local.inputs import parse_inputs

    parsed = parse_inputs(list(inputs))
    _say(f"Creating new deployment from blueprint {blueprint_id}...")
    try:
        record = _api().create_deployment(get_home(), deployment_id, blueprint_id, parsed, display_name=display_name,
                                          runtime_only_evaluation=runtime_only_evaluation)
    except ValidationError as exc:
        if str(exc).startswith("ERROR: The `"):  # an id refused before anything was looked at
            raise
        raise ValidationError(f"Unable to create deployment: {exc}") from None
    if wants_json():
        render.print_json(record)
        return
    render.echo(f"Deployment `{record['display_name']}` created. The deployment's id is {record['id']}")


@deployments.command("list")
@click.option("-b", "--blueprint-id", help="Show deployments created from this blueprint")
@click.option("--sort-by", default="created_at", show_default=True, help="Key for sorting the list")
@click.option("--descending", is_flag=True, help="Sort list in descending order")
@click.option("--search", help="Search deployments by id (substring)")
@json_option
def list_(blueprint_id, sort_by, descending, search):
    """List deployments"""
    _say(f"Listing deployments for blueprint {blueprint_id}..." if blueprint_id else "Listing all deployments...")
    if blueprint_id:
        _api().load_blueprint(get_home(), blueprint_id)
    rows = _api().list_deployments(get_home(), blueprint_id=blueprint_id, with_status=True)
    total = len(rows)
    if search:
        rows = [r for r in rows if search in r["id"]]
    rows.sort(key=lambda r: (r.get(sort_by) is None, str(r.get(sort_by) or "")), reverse=descending)
    if wants_json():
        render.print_json([{c: r.get(c) for c in LIST_COLUMNS} for r in rows])
        return
    render.print_table(rows, LIST_COLUMNS, "Deployments:")
    hidden = total - len(rows)
    render.echo(f"Showing {len(rows)} of {total} deployments" + (f" ({hidden} hidden by filter)" if hidden else ""))


@deployments.command("delete")
@click.argument("deployment_id")
@click.option("-f", "--force", is_flag=True,
              help="Delete the deployment even if there are existing live nodes for it, or existing installations "
                   "which depend on it")
def delete(deployment_id, force):
    """Delete a deployment"""
    render.echo(f"Trying to delete deployment {deployment_id}...")
    _api().delete_deployment(get_home(), deployment_id, force=force)
    render.echo("Deployment deleted")


@deployments.command("inputs")
@click.argument("deployment_id")
@json_option
def inputs_(deployment_id):
    """Show a deployment's inputs"""
    _say(f"Retrieving inputs for deployment {deployment_id}...")
    values = _api().deployment_inputs(get_home(), deployment_id)
    if wants_json():
        render.print_json(values)
        return
    for name, value in values.items():
        render.echo(f' - "{name}":')
        render.echo(f"     Value: {_text(value)}")


@deployments.command("outputs")
@click.argument("deployment_id")
@json_option
def outputs(deployment_id):
    """Show a deployment's outputs (evaluated against current runtime properties)"""
    _say(f"Retrieving outputs for deployment {deployment_id}...")
    values = _api().evaluate_outputs(get_home(), deployment_id)
    if wants_json():
        render.print_json(values)
        return
    for name, output in values.items():
        render.echo(f' - "{name}":')
        render.echo(f"     Description: {output.get('description') or ''}")
        render.echo(f"     Value: {_text(output.get('value'))}")


@deployments.command("capabilities")
@click.argument("deployment_id")
@json_option
def capabilities(deployment_id):
    """Show a deployment's capabilities"""
    _say(f"Retrieving capabilities for deployment {deployment_id}...")
    values = _api().evaluate_capabilities(get_home(), deployment_id)
    if wants_json():
        render.print_json(values)
        return
    for name, capability in values.items():
        render.echo(f' - "{name}":')
        render.echo(f"     Description: {capability.get('description') or ''}")
        render.echo(f"     Value: {_text(capability.get('value'))}")
