"""``cfy node-instances ...``: list and get."""
from __future__ import annotations

import json

import click

from cfy_local.cli import AliasedGroup, render
from cfy_local.cli.common import get_home, json_option, wants_json

COLUMNS = ["id", "deployment_id", "host_id", "node_id", "state"]


def _api():
    from cfy_local.deployments import api

    return api


@click.group("node-instances", cls=AliasedGroup)
def node_instances():
    """Handle a deployment's node instances"""


@node_instances.command("list")
@click.option("-d", "--deployment-id", help="The unique identifier for the deployment")
@click.option("-n", "--node-name", help="The node's name")
@click.option("--sort-by", default="node_id", show_default=True, help="Key for sorting the list")
@click.option("--descending", is_flag=True, help="Sort list in descending order")
@json_option
def list_(deployment_id, node_name, sort_by, descending):
    """List node instances"""
    as_json = wants_json()
    if not as_json:
        render.echo(f"Listing instances for deployment {deployment_id}..." if deployment_id
                    else "Listing all instances...")
    rows = _api().list_node_instances(get_home(), deployment_id, node_name)
    rows.sort(key=lambda r: (str(r.get(sort_by) or ""), r["id"]), reverse=descending)
    if as_json:
        render.print_json(rows)
        return
    render.print_table(rows, COLUMNS, "Node-instances:")
    render.echo(f"Showing {len(rows)} of {len(rows)} node-instances")


@node_instances.command("get")
@click.argument("node_instance_id")
@json_option
def get(node_instance_id):
    """Retrieve information for a specific node instance"""
    as_json = wants_json()
    if not as_json:
        render.echo(f"Retrieving node instance {node_instance_id}")
    record = _api().find_node_instance(get_home(), node_instance_id)
    system = {"version": record.get("version"), "index": record.get("index"),
              "scaling_groups": record.get("scaling_groups"), "relationships": record.get("relationships")}
    if as_json:
        render.print_json(dict(record, system_properties=system))
        return
    render.print_table([record], COLUMNS, "Node-instance:", max_width=50)
    render.print_details({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                          for k, v in (record.get("runtime_properties") or {}).items()},
                         "Instance runtime properties:")
    render.print_details({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in system.items()},
                         "Instance system properties:")
    render.echo("")
