"""``cfy maintenance-mode activate|deactivate|status``, with cfy's texts."""
from __future__ import annotations

import time

import click

from cfy_local.cli import AliasedGroup, render
from cfy_local.cli.common import get_home, json_option, verbosity, wants_json

# Locally a state check is a directory scan, so poll far more often than cfy's 5 s.
POLL_SECONDS = 0.25
REMAINING_COLUMNS = ["id", "deployment_id", "workflow_id", "status"]
TITLES = (("status", "Status"), ("activated_at", "Activated At"),
          ("activation_requested_at", "Activation Requested At"), ("requested_by", "Requested By"))


@click.group("maintenance-mode", cls=AliasedGroup)
def maintenance_mode():
    """Handle maintenance mode"""


@maintenance_mode.command("status")
@json_option
def status():
    """Show the maintenance mode status (and what it is waiting for)."""
    from cfy_local import maintenance

    state = maintenance.state(get_home())
    if wants_json():
        render.print_json(state)
        return
    render.echo("")
    render.echo("Maintenance Mode Status:")
    for key, title in TITLES:
        if state.get(key):
            render.echo(f"\t{title}:\t{state[key]}")
    render.echo("")
    remaining = state.get("remaining_executions") or []
    if remaining:
        if len(remaining) == 1:
            render.echo("Cloudify Manager currently has one running or pending execution. "
                        "Waiting for it to finish before entering maintenance mode.")
        else:
            render.echo(f"Cloudify Manager currently has {len(remaining)} running or pending executions. "
                        f"Waiting for all executions to finish before entering maintenance mode.")
        if verbosity() > 0:
            render.print_table(remaining, REMAINING_COLUMNS, "Remaining executions:")
    if state["status"] == maintenance.ACTIVATED:
        render.echo("INFO - Cloudify Manager is currently in maintenance mode. Most requests will be blocked.\n")


@maintenance_mode.command("activate")
@click.option("--wait", is_flag=True, help="Wait until there are no running executions and maintenance mode is on")
@click.option("--timeout", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --wait: give up after this many seconds (0 = wait forever)")
@json_option
def activate(wait, timeout):
    """Enter maintenance mode (after running and queued executions end)."""
    from cfy_local import maintenance
    from cfy_local.errors import CfyLocalError, ExitCode

    ctx = click.get_current_context()
    if ctx.get_parameter_source("timeout") != click.core.ParameterSource.DEFAULT and not wait:
        raise CfyLocalError("'--timeout' was used without '--wait'.",
                            possible_solutions=["Add the '--wait' flag to the command in order to wait."])
    home = get_home()
    as_json = wants_json()
    if not as_json:
        render.echo("Entering maintenance mode...")
    state = maintenance.activate(home)
    if not wait:
        if as_json:
            render.print_json(state)
        else:
            render.echo("Run 'cfy maintenance-mode status' to check the maintenance mode's status.\n")
        return
    if not as_json:
        render.echo("Cloudify manager will enter Maintenance mode once there are no running or pending executions...\n")
    deadline = time.monotonic() + timeout if timeout else None
    while state["status"] != maintenance.ACTIVATED:
        if deadline is not None and time.monotonic() >= deadline:
            if as_json:
                render.print_json(state)
            render.error("Timed out while entering maintenance mode. Note that the manager is still entering "
                         "maintenance mode in the background. You can run 'cfy maintenance-mode status' to "
                         "check the status.")
            return ExitCode.TIMEOUT
        time.sleep(POLL_SECONDS)
        state = maintenance.state(home)
    if as_json:
        render.print_json(state)
    else:
        render.echo("Manager is in maintenance mode.")
        render.echo("While in maintenance mode most requests will be blocked.")


@maintenance_mode.command("deactivate")
@json_option
def deactivate():
    """Leave maintenance mode; queued executions start."""
    from cfy_local import maintenance

    as_json = wants_json()
    if not as_json:
        render.echo("Turning off maintenance mode...")
    state = maintenance.deactivate(get_home())
    if as_json:
        render.print_json(state)
    else:
        render.echo("Maintenance mode is off.")
