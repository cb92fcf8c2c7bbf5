"""``cfy serve``: Cloudify's REST API on this machine, for Cloudify's own CLI and client."""
from __future__ import annotations

import secrets

import click

from cfy_local import clock
from cfy_local.cli import render
from cfy_local.cli.common import get_home, json_option
from cfy_local.cli.result import Result, Text
from cfy_local.rest import auth, server
from cfy_local.store import serve_record
from cfy_local.timefmt import iso

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", default=53333, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on")
@click.option("--password", envvar=None, help="Password of user admin (default: $CFY_LOCAL_REST_PASSWORD, else the "
                                              "one kept in the state dir, generated on first use)")
@click.option("--show-password", is_flag=True, help="Print the password clients must use, and exit")
@click.option("-v", "--verbose", "verbose", is_flag=True, help="Log every request on stderr")
@json_option
def serve(host, port, password, show_password, verbose):
    """Serve Cloudify's REST API (v3.1 subset) for cfy 7.0.5 and CloudifyClient."""
    home = get_home()
    secret, origin = auth.resolve_password(home, password)
    if show_password:
        return Result(data={"password": secret}, views=[Text([secret])])
    # A long-running server's log: lines as they happen, through the renderer.
    log = render.LiveOutput(as_json=False)
    if host not in LOOPBACK:
        log.warn(f"Warning: listening on {host}: anyone who can reach this address and knows the password "
                 f"can run workflows on this machine")
    stop = server.stop_on_signals()
    # Operations of plugin environments reach this server with a token it accepts while it
    # runs, found in the state dir's server record.
    worker_token = secrets.token_urlsafe(24)
    try:
        running = server.start(home, host=host, port=port, password=secret, token=worker_token,
                               log=server.stderr_log if verbose else None)
    except OSError as exc:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        serve_record.write(home, host=running.host, port=running.port, token=worker_token,
                           started_at=iso(clock.now()))
        _serve(home, running, stop, log, origin, secret)
    finally:
        serve_record.remove(home)


def _serve(home, running, stop, log, origin, secret) -> None:
    log.line(f"Serving Cloudify's REST API for {home.root} at {running.url}/api/v3.1 (user admin)")
    if origin == "generated":
        log.line(f"Generated password (kept in {auth.password_file(home)}): {secret}")
    log.line(f"Use it with: cfy profiles use {running.host} --rest-port {running.port} -u admin -p <password> "
             f"-t default_tenant")
    log.line("Stop with Ctrl-C")
    server.serve_until(running, stop)
    log.line("Stopped")
