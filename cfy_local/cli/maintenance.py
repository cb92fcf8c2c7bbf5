"""``cfy maintenance-mode activate|deactivate|status``."""
from __future__ import annotations

import time

import click

from cfy_local import clock, maintenance
from cfy_local.cli import AliasedGroup
from cfy_local.cli.common import get_home, json_option, verbosity
from cfy_local.cli.result import Message, Result, Table, Text
from cfy_local.errors import CfyLocalError, ExitCode

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
    state = maintenance.state(get_home())
    lines = ["", "Maintenance Mode Status:"]
    lines += [f"\t{title}:\t{state[key]}" for key, title in TITLES if state.get(key)]
    lines.append("")
    views = [Text(lines)]
    remaining = state.get("remaining_executions") or []
    if remaining:
        if len(remaining) == 1:
            views.append(Text(["There is one running or pending execution. "
                               "Waiting for it to finish before entering maintenance mode."]))
        else:
            views.append(Text([f"There are {len(remaining)} running or pending executions. "
                               f"Waiting for all executions to finish before entering maintenance mode."]))
        if verbosity() > 0:
            views.append(Table(remaining, REMAINING_COLUMNS, "Remaining executions:"))
    if state["status"] == maintenance.ACTIVATED:
        views.append(Text(["INFO - Maintenance mode is on. Most requests will be blocked.\n"]))
    return Result(data=state, views=views)


@maintenance_mode.command("activate")
@click.option("--wait", is_flag=True, help="Wait until there are no running executions and maintenance mode is on")
@click.option("--timeout", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --wait: give up after this many seconds (0 = wait forever)")
@json_option
def activate(wait, timeout):
    """Enter maintenance mode (after running and queued executions end)."""
    ctx = click.get_current_context()
    if ctx.get_parameter_source("timeout") != click.core.ParameterSource.DEFAULT and not wait:
        raise CfyLocalError("'--timeout' was used without '--wait'.",
                            possible_solutions=["Add the '--wait' flag to the command in order to wait."])
    home = get_home()
    before = [Message("Entering maintenance mode...")]
    try:
        state = maintenance.activate(home)
    except maintenance.NothingToModify:
        # Already activating (or on): with --wait, wait for it like the request that started it.
        if not wait:
            raise
        state = maintenance.state(home)
    if not wait:
        return Result(data=state, before=before,
                      after=[Message("Run 'cfy maintenance-mode status' to check the maintenance mode's status.\n")])
    before.append(Message("Maintenance mode will be on once there are no running or pending executions...\n"))
    deadline = clock.monotonic() + timeout if timeout else None
    while state["status"] != maintenance.ACTIVATED:
        if deadline is not None and clock.monotonic() >= deadline:
            return Result(data=state, before=before, exit_code=ExitCode.TIMEOUT, after=[Message(
                "Timed out while entering maintenance mode. Note that maintenance mode is still being entered in "
                "the background. You can run 'cfy maintenance-mode status' to check the status.", err=True)])
        time.sleep(POLL_SECONDS)
        state = maintenance.state(home)
    return Result(data=state, before=before, after=[Message("Maintenance mode is on."),
                                                    Message("While in maintenance mode most requests will be blocked.")])


@maintenance_mode.command("deactivate")
@json_option
def deactivate():
    """Leave maintenance mode; queued executions start."""
    state = maintenance.deactivate(get_home())
    return Result(data=state, before=[Message("Turning off maintenance mode...")],
                  after=[Message("Maintenance mode is off.")])
