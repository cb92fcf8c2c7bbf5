"""``cfy status`` (state dir, config, scheduler, maintenance, executions, corrupt records)
and ``cfy init`` (create the state dir and a commented config.yaml)."""
from __future__ import annotations

import os

import click

from cfy_local.cli import render
from cfy_local.cli.common import get_home, json_option
from cfy_local.cli.result import Details, Message, Result, Text
from cfy_local.config import config_problem, default_config_text
from cfy_local.errors import CfyLocalError
from cfy_local.status import collect
from cfy_local.store.atomic import atomic_write_bytes


@click.command("status")
@json_option
def status():
    """Show the state directory, the scheduler, maintenance mode and executions."""
    home = get_home(check_config=False)  # a broken config.yaml is reported below, not refused
    problem = config_problem(home)
    data = collect(home)
    data["config"] = {"path": home.config_file, "exists": os.path.exists(home.config_file), "error": problem}
    sched = data["scheduler"]
    if sched["running"]:
        scheduler_text = (f"running (pid {sched['pid']}), last pass {render.cell(sched['last_pass']) or 'none yet'}, "
                          f"next pass {render.cell(sched['next_pass']) or 'unknown'}")
    else:
        scheduler_text = "not running"
        if sched.get("last_pass"):
            scheduler_text += f" (last pass {render.cell(sched['last_pass'])})"
    executions = data["executions"]
    config_text = (f"BROKEN: {problem}" if problem else home.config_file if data["config"]["exists"]
                   else "defaults (no config.yaml)")
    details = {
        "State directory": data["home"],
        "Config": config_text,
        "Scheduler": scheduler_text,
        "Maintenance mode": data["maintenance"]["status"],
        "Blueprints": str(data["blueprints"]["total"]),
        "Deployments": f"{data['deployments']['total']} ({data['deployments']['with_active_run']} with an active run)",
        "Plugins": "unknown (the catalog cannot be read)" if data["plugins"]["total"] is None
        else str(data["plugins"]["total"]),
        "Executions": f"{executions['active']} active, {executions['queued']} queued",
        "Schedules": f"{data['schedules']['total']} ({data['schedules']['enabled']} enabled)",
        "Corrupt records": ", ".join(data["corrupt_records"]) or "none",
    }
    result = Result(data=data, views=[Text([""]), Details(details, "cfy-local status:"), Text([""])])
    if data["corrupt_records"]:
        result.warn(f"{len(data['corrupt_records'])} state file(s) cannot be read; see 'Corrupt records' above")
    if problem:
        result.warn("config.yaml is broken: commands that use the state directory refuse to run until it is "
                    "fixed (or rewritten with `cfy init -r`)")
    return result


@click.command("init")
@click.option("-r", "--reset-context", is_flag=True, help="Rewrite config.yaml with the defaults (state is kept)")
@json_option
def init(reset_context):
    """Create the state directory and a commented config.yaml."""
    home = get_home(check_config=False)  # `init -r` is how a broken config.yaml is replaced
    if os.path.exists(home.config_file) and not reset_context:
        raise CfyLocalError(f"Environment is already initialized at {home.root}. You can reset the configuration "
                            f"by running `cfy init -r`")
    atomic_write_bytes(home.config_file, default_config_text().encode("utf-8"))
    return Result(data={"home": home.root, "config": home.config_file},
                  before=[Message(f"Initializing cfy-local in {home.root}...")],
                  after=[Message("Initialization completed successfully")])
