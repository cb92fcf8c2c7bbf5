"""``cfy plugins ...``: the plugin catalog (upload, list, get, delete, validate)."""
from __future__ import annotations

import click

from cfy_local.cli import AliasedGroup, render
from cfy_local.cli.common import get_home, json_option, wants_json
from cfy_local.cli.result import Details, Message, Result, Table
from cfy_local.plugins import catalog


@click.group("plugins", cls=AliasedGroup)
def plugins():
    """Handle plugins (the catalog of plugin: imports)"""


@plugins.command("upload")
@click.argument("plugin_path")
@click.option("-y", "--yaml-path", "yaml_paths", multiple=True, required=True,
              help="A plugin YAML file (plugin.yaml, plugin_1_4.yaml...); repeat for each")
@click.option("--title", help="The plugin's title (default: its package name)")
@click.option("-l", "--visibility", default="tenant", show_default=True,
              help="private, tenant or global (recorded; cfy-local has one tenant)")
@click.option("-i", "--icon-path", help="Accepted for compatibility; cfy-local shows no icons")
@json_option
def upload(plugin_path, yaml_paths, title, visibility, icon_path):
    """Upload a plugin: a wagon, a plugin source folder or a requirement spec

    PLUGIN_PATH is the path to the wagon archive to upload; a folder pip can install, or a
    requirement spec such as my-plugin==1.0, installs through pip instead.
    """
    # Installing can take minutes: its progress lines are shown as they happen.
    progress = render.LiveOutput(as_json=wants_json())
    record = catalog.upload_plugin(get_home(), plugin_path, list(yaml_paths), title=title,
                                   visibility=visibility, progress=progress.line)
    return Result(data=record)


@plugins.command("list")
@click.option("--sort-by", default="uploaded_at", show_default=True, help="Key for sorting the list")
@click.option("--descending", is_flag=True, help="Sort list in descending order")
@click.option("--search", help="Only plugins whose package name contains this text")
@click.option("--get-data", is_flag=True, help="Also show file_server_path, supported_platform, supported_py_versions")
@json_option
def list_(sort_by, descending, search, get_data):
    """List the uploaded plugins"""
    rows = catalog.list_plugins(get_home(), sort_by=sort_by, descending=descending, search=search)
    columns = catalog.PLUGIN_COLUMNS + (catalog.GET_DATA_COLUMNS if get_data else [])
    return Result(data=[{c: r.get(c) for c in columns + ["installation_state"]} for r in rows],
                  before=[Message("Listing all plugins...")], views=[Table(rows, columns, "Plugins:")],
                  after=[Message(f"Showing {len(rows)} of {len(rows)} plugins")])


@plugins.command("get")
@click.argument("plugin_id")
@click.option("--get-data", is_flag=True, help="Also show file_server_path, supported_platform, supported_py_versions")
@json_option
def get(plugin_id, get_data):
    """Retrieve information for a specific plugin"""
    plugin = catalog.get_plugin(get_home(), plugin_id)
    columns = catalog.PLUGIN_COLUMNS + (catalog.GET_DATA_COLUMNS if get_data else [])
    states = {f"Manager {s['manager']}": s["state"] for s in plugin.get("installation_state") or []
              if s.get("manager")}
    return Result(data={c: plugin.get(c) for c in columns + ["installation_state"]},
                  before=[Message(f"Retrieving plugin {plugin_id}...")],
                  views=[Details({c: plugin.get(c) for c in columns}, "Plugin:"),
                         Details(states, "Plugin installation state:")])


@plugins.command("delete")
@click.argument("plugin_id")
@click.option("-f", "--force", is_flag=True,
              help="Delete the plugin even if a blueprint uses it")
@json_option
def delete(plugin_id, force):
    """Delete a plugin and its environment"""
    catalog.delete_plugin(get_home(), plugin_id, force=force)
    return Result(data={"id": plugin_id, "deleted": True}, before=[Message(f"Deleting plugin {plugin_id}...")],
                  after=[Message("Plugin deleted")])


@plugins.command("validate")
@click.argument("plugin_path")
@json_option
def validate(plugin_path):
    """Validate a plugin's wagon archive (nothing is written)"""
    metadata = catalog.validate_wagon(plugin_path)
    return Result(data={"path": plugin_path, "valid": True, "package_name": metadata.get("package_name"),
                        "package_version": metadata.get("package_version")},
                  before=[Message(f"Validating plugin {plugin_path}...")],
                  after=[Message("Plugin validated successfully")])
