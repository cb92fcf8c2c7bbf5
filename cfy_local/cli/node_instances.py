"""``cfy node-instances ...``: list and get."""
from __future__ import annotations

import json

import click

from cfy_local.cli import AliasedGroup
from cfy_local.cli.common import get_home, json_option, wide_option
from cfy_local.cli.result import Details, Message, Result, Table, Text
from cfy_local.deployments import api

COLUMNS = ["id", "deployment_id", "host_id", "node_id", "state"]
DROP_ORDER = ["host_id", "deployment_id"]


@click.group("node-instances", cls=AliasedGroup)
def node_instances():
    """Handle a deployment's node instances"""


@node_instances.command("list")
@click.option("-d", "--deployment-id", help="The unique identifier for the deployment")
@click.option("-n", "--node-name", help="The node's name")
@click.option("--sort-by", default="node_id", show_default=True, help="Key for sorting the list")
@click.option("--descending", is_flag=True, help="Sort list in descending order")
@wide_option
@json_option
def list_(deployment_id, node_name, sort_by, descending):
    """List node instances"""
    rows = api.list_node_instances(get_home(), deployment_id, node_name)
    rows.sort(key=lambda r: (str(r.get(sort_by) or ""), r["id"]), reverse=descending)
    return Result(data=rows, before=[Message(f"Listing instances for deployment {deployment_id}..." if deployment_id
                                             else "Listing all instances...")],
                  views=[Table(rows, COLUMNS, "Node-instances:", drop_order=DROP_ORDER)],
                  after=[Message(f"Showing {len(rows)} of {len(rows)} node-instances")])


@node_instances.command("get")
@click.argument("node_instance_id")
@wide_option
@json_option
def get(node_instance_id):
    """Retrieve information for a specific node instance"""
    record = api.find_node_instance(get_home(), node_instance_id)
    system = {"version": record.get("version"), "index": record.get("index"),
              "scaling_groups": record.get("scaling_groups"), "relationships": record.get("relationships")}
    return Result(data=dict(record, system_properties=system),
                  before=[Message(f"Retrieving node instance {node_instance_id}")],
                  views=[Table([record], COLUMNS, "Node-instance:", max_cell=50, drop_order=DROP_ORDER),
                         Details({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                                  for k, v in (record.get("runtime_properties") or {}).items()},
                                 "Instance runtime properties:"),
                         Details({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in system.items()},
                                 "Instance system properties:"),
                         Text([""])])
