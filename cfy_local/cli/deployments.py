"""``cfy deployments ...``: create, list, delete, inputs, outputs, and the lazy
``schedule`` sub-group (``cfy_local.cli.schedules``)."""
from __future__ import annotations

import importlib
import json
import uuid

import click

from cfy_local.cli import AliasedGroup, resolve_prefix
from cfy_local.cli.common import get_home, json_option, parse_values, wide_option
from cfy_local.cli.result import Message, Result, Table, Text
from cfy_local.deployments import api
from cfy_local.errors import ValidationError

LIST_COLUMNS = ["id", "display_name", "blueprint_id", "created_at", "updated_at", "labels", "deployment_status",
                "installation_status"]
LIST_DROP_ORDER = ["labels", "updated_at", "display_name", "installation_status", "created_at"]
LAZY_SUBGROUPS = {"schedule": "cfy_local.cli.schedules:schedule"}


def _text(value) -> str:
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _described(values: dict) -> list[str]:
    lines = []
    for name, item in values.items():
        lines += [f' - "{name}":', f"     Description: {item.get('description') or ''}",
                  f"     Value: {_text(item.get('value'))}"]
    return lines


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
    parsed = parse_values(inputs)
    home = get_home()
    try:
        record = api.create_deployment(home, deployment_id, blueprint_id, parsed, display_name=display_name,
                                       runtime_only_evaluation=runtime_only_evaluation)
    except ValidationError as exc:
        if str(exc).startswith("ERROR: The `"):  # an id refused before anything was looked at
            raise
        raise ValidationError(f"Unable to create deployment: {exc}") from None
    return Result(data=record, before=[Message(f"Creating new deployment from blueprint {blueprint_id}...")],
                  after=[Message(created_text(record))])


def created_text(record: dict) -> str:
    """The one form of the message after a deployment is created (also ``cfy install``'s)."""
    return f"Deployment `{record['display_name']}` created. The deployment's id is {record['id']}"


@deployments.command("list")
@click.option("-b", "--blueprint-id", help="Show deployments created from this blueprint")
@click.option("--sort-by", default="created_at", show_default=True, help="Key for sorting the list")
@click.option("--descending", is_flag=True, help="Sort list in descending order")
@click.option("--search", help="Search deployments by id (substring)")
@wide_option
@json_option
def list_(blueprint_id, sort_by, descending, search):
    """List deployments"""
    if blueprint_id:
        api.load_blueprint(get_home(), blueprint_id)
    rows = api.list_deployments(get_home(), blueprint_id=blueprint_id, with_status=True)
    total = len(rows)
    if search:
        rows = [r for r in rows if search in r["id"]]
    rows.sort(key=lambda r: (r.get(sort_by) is None, str(r.get(sort_by) or "")), reverse=descending)
    hidden = total - len(rows)
    return Result(data=[{c: r.get(c) for c in LIST_COLUMNS} for r in rows],
                  before=[Message(f"Listing deployments for blueprint {blueprint_id}..." if blueprint_id
                                  else "Listing all deployments...")],
                  views=[Table(rows, LIST_COLUMNS, "Deployments:", drop_order=LIST_DROP_ORDER)],
                  after=[Message(f"Showing {len(rows)} of {total} deployments"
                                 + (f" ({hidden} hidden by filter)" if hidden else ""))])


@deployments.command("delete")
@click.argument("deployment_id")
@click.option("-f", "--force", is_flag=True,
              help="Delete the deployment even if there are existing live nodes for it, or existing installations "
                   "which depend on it")
@json_option
def delete(deployment_id, force):
    """Delete a deployment"""
    api.delete_deployment(get_home(), deployment_id, force=force)
    return Result(data={"id": deployment_id, "deleted": True},
                  before=[Message(f"Trying to delete deployment {deployment_id}...")],
                  after=[Message("Deployment deleted")])


@deployments.command("inputs")
@click.argument("deployment_id")
@json_option
def inputs_(deployment_id):
    """Show a deployment's inputs"""
    values = api.deployment_inputs(get_home(), deployment_id)
    lines = []
    for name, value in values.items():
        lines += [f' - "{name}":', f"     Value: {_text(value)}"]
    return Result(data=values, before=[Message(f"Retrieving inputs for deployment {deployment_id}...")],
                  views=[Text(lines)])


@deployments.command("outputs")
@click.argument("deployment_id")
@json_option
def outputs(deployment_id):
    """Show a deployment's outputs (evaluated against current runtime properties)"""
    values = api.evaluate_outputs(get_home(), deployment_id)
    return Result(data=values, before=[Message(f"Retrieving outputs for deployment {deployment_id}...")],
                  views=[Text(_described(values))])


@deployments.command("capabilities")
@click.argument("deployment_id")
@json_option
def capabilities(deployment_id):
    """Show a deployment's capabilities"""
    values = api.evaluate_capabilities(get_home(), deployment_id)
    return Result(data=values, before=[Message(f"Retrieving capabilities for deployment {deployment_id}...")],
                  views=[Text(_described(values))])
