"""``cfy status`` (state dir, scheduler, maintenance, executions, corrupt records) and
``cfy init`` (create the state dir and a commented config.yaml)."""
from __future__ import annotations

import click

from cfy_local.cli import render
from cfy_local.cli.common import get_home, json_option, wants_json


@click.command("status")
@json_option
def status():
    """Show the state directory, the scheduler, maintenance mode, blueprints, deployments and executions."""
    from cfy_local.status import collect

    data = collect(get_home())
    if wants_json():
        render.print_json(data)
        return
    sched = data["scheduler"]
    if sched["running"]:
        scheduler_text = (f"running (pid {sched['pid']}), last pass {render.cell(sched['last_pass']) or 'none yet'}, "
                          f"next pass {render.cell(sched['next_pass']) or 'unknown'}")
    else:
        scheduler_text = "not running"
        if sched.get("last_pass"):
            scheduler_text += f" (last pass {render.cell(sched['last_pass'])})"
    executions = data["executions"]
    details = {
        "State directory": data["home"],
        "Scheduler": scheduler_text,
        "Maintenance mode": data["maintenance"]["status"],
        "Blueprints": str(data["blueprints"]["total"]),
        "Deployments": f"{data['deployments']['total']} ({data['deployments']['with_active_run']} with an active run)",
        "Executions": f"{executions['active']} active, {executions['queued']} queued",
        "Schedules": f"{data['schedules']['total']} ({data['schedules']['enabled']} enabled)",
        "Corrupt records": ", ".join(data["corrupt_records"]) or "none",
    }
    render.echo("")
    render.print_details(details, "cfy-local status:")
    render.echo("")
    if data["corrupt_records"]:
        render.warn(f"{len(data['corrupt_records'])} state file(s) cannot be read; see 'Corrupt records' above")


@click.command("init")
@click.option("-r", "--reset-context", is_flag=True, help="Rewrite config.yaml with the defaults (state is kept)")
@json_option
def init(reset_context):
    """Create the state directory and a commented config.yaml."""
    import os

    from cfy_local.config import default_config_text
    from cfy_local.errors import CfyLocalError
    from cfy_local.store.atomic import atomic_write_bytes

    home = get_home()
    if os.path.exists(home.config_file) and not reset_context:
        raise CfyLocalError(f"Environment is already initialized at {home.root}. You can reset the configuration "
                            f"by running `cfy init -r`")
    if not wants_json():
        render.echo(f"Initializing cfy-local in {home.root}...")
    atomic_write_bytes(home.config_file, default_config_text().encode("utf-8"))
    if wants_json():
        render.print_json({"home": home.root, "config": home.config_file})
    else:
        render.echo("Initialization completed successfully")
