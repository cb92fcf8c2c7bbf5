"""``cfy tui``: open the terminal UI. Textual is imported only when the command runs, so
``import cfy_local.cli`` stays light."""
from __future__ import annotations

import click

from cfy_local.cli.common import get_home


@click.command(name="tui")
@click.option("-d", "--deployment-id", "deployment_id", metavar="DEP",
              help="Show only this deployment's executions (and schedules).")
@click.option("--refresh", "refresh_interval", type=click.FloatRange(min=0.2), default=1.0,
              show_default=True, help="Seconds between refreshes.")
@click.pass_context
def tui(ctx: click.Context, deployment_id: str | None, refresh_interval: float) -> None:
    """Watch and steer executions in a terminal UI."""
    import os

    from cfy_local.errors import not_found

    home = get_home(ctx)
    if deployment_id is not None and not os.path.exists(home.deployment_file(deployment_id)):
        raise not_found("Deployment", deployment_id)
    explicit = bool((ctx.find_root().obj or {}).get("home"))

    from cfy_local.tui.app import CfyTui

    CfyTui(home, deployment_id=deployment_id, refresh_interval=refresh_interval,
           explicit_home=explicit).run()
