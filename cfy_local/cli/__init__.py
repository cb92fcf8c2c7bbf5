"""The ``cfy`` command line: a thin click adapter over the core.

Every command parses options, calls the core, and returns a ``cli.result.Result`` that
``cli.render.show`` prints. Core errors (``cfy_local.errors.CfyLocalError``) become one
line on stderr and the exit code of ``cfy_local.errors.ExitCode``. Command groups are imported lazily so ``cfy --help`` stays fast and
never imports textual.
"""
from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading

import click

from cfy_local import __version__
from cfy_local.errors import CfyLocalError, ExitCode

# command name -> ("module:attribute" of the click command, one-line help for `cfy --help`).
# The help text lives here so `cfy --help` lists commands without importing them.
COMMANDS: dict[str, tuple[str, str]] = {
    "blueprints": ("cfy_local.cli.blueprints:blueprints", "Handle blueprints"),
    "deployments": ("cfy_local.cli.deployments:deployments", "Handle deployments and their schedules"),
    "executions": ("cfy_local.cli.executions:executions", "Handle workflow executions"),
    "events": ("cfy_local.cli.events:events", "Show events from workflow executions"),
    "node-instances": ("cfy_local.cli.node_instances:node_instances", "Handle a deployment's node instances"),
    "maintenance-mode": ("cfy_local.cli.maintenance:maintenance_mode", "Handle maintenance mode"),
    "snapshots": ("cfy_local.cli.snapshots:snapshots", "Handle snapshots of the state directory"),
    "secrets": ("cfy_local.cli.secrets:secrets", "Handle secrets (the store behind get_secret)"),
    "plugins": ("cfy_local.cli.plugins:plugins", "Handle plugins (the catalog of plugin: imports)"),
    "scheduler": ("cfy_local.cli.scheduler:scheduler", "Run the loop that fires execution schedules"),
    "install": ("cfy_local.cli.shortcuts:install", "Upload a blueprint, create a deployment and run install"),
    "uninstall": ("cfy_local.cli.shortcuts:uninstall", "Run uninstall, delete the deployment and its blueprint"),
    "status": ("cfy_local.cli.status:status", "Show the state directory, scheduler and maintenance status"),
    "init": ("cfy_local.cli.status:init", "Create the state directory and its config.yaml"),
    "tui": ("cfy_local.cli.tui:tui", "Watch and steer executions in a terminal UI"),
    "completion": ("cfy_local.cli.completion:completion", "Print the shell completion script (bash, zsh, fish)"),
    "serve": ("cfy_local.cli.serve:serve", "Serve Cloudify's REST API for Cloudify's own CLI and client"),
}


def resolve_prefix(group: click.Group, ctx: click.Context, name: str) -> str:
    """cfy's AliasedGroup: a unique prefix of a sub-command names it."""
    names = group.list_commands(ctx)
    if name in names:
        return name
    matches = [n for n in names if n.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        ctx.fail(f"Too many matches: {', '.join(sorted(matches))}")
    import difflib

    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    message = f"No such command '{name}'."
    if close:
        message += "\n\nDid you mean one of these?\n" + "\n".join(f"    {m}" for m in close)
    ctx.fail(message)
    raise AssertionError  # ctx.fail raises


class AliasedGroup(click.Group):
    """A group that accepts unique prefixes of its sub-commands."""

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        return super().get_command(ctx, resolve_prefix(self, ctx, cmd_name))

    def resolve_command(self, ctx, args):
        _, command, rest = super().resolve_command(ctx, args)
        return command.name if command else None, command, rest


class LazyRootGroup(AliasedGroup):
    """Root group whose sub-commands are imported only when used."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, cmd_name):
        if cmd_name not in COMMANDS:
            cmd_name = resolve_prefix(self, ctx, cmd_name)
        module_name, attr = COMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_text) for name, (_, help_text) in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LazyRootGroup, context_settings=CONTEXT_SETTINGS)
@click.option("--home", envvar="CFY_LOCAL_HOME", metavar="PATH",
              help="State directory (default: $CFY_LOCAL_HOME, else ~/.cfy-local). Must be on a local filesystem.")
@click.option("--json", "json_output", is_flag=True, help="Print data as JSON (lists: one array; streams: NDJSON).")
@click.option("-v", "--verbose", count=True, help="Show more (-vv: debug logs in event streams; tracebacks on error).")
@click.version_option(__version__, "-V", "--version", prog_name="cfy-local")
@click.pass_context
def cli(ctx: click.Context, home: str | None, json_output: bool, verbose: int) -> None:
    """cfy-local: run, schedule and watch Cloudify workflows on this machine."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home
    ctx.obj["json"] = json_output
    ctx.obj["verbose"] = verbose


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run click, map core errors to one stderr line + exit code."""
    try:
        rv = cli.main(args=argv, prog_name="cfy", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("\nAborted!\n")
        sys.exit(ExitCode.INTERRUPTED)
    except CfyLocalError as exc:
        from cfy_local.cli.common import report_error

        sys.exit(report_error(exc))
    except KeyboardInterrupt:
        sys.stderr.write("\nAborted!\n")
        sys.exit(ExitCode.INTERRUPTED)
    code = rv if isinstance(rv, int) else ExitCode.OK
    if argv is None:
        _leave_at_once(code)
    sys.exit(code)


def _leave_at_once(code: int) -> None:
    """The console command that followed a run to its end leaves at once: with a run's
    modules and events behind it, the interpreter's teardown (freeing every object and
    module) takes ~15 ms, which the end of every waited run would otherwise wait for. Only
    a single-threaded process, after the exit handlers ran and its output is flushed;
    anything else exits the usual way."""
    render = sys.modules.get("cfy_local.cli.render")
    if render is None or not getattr(render, "followed", False) or threading.active_count() > 1:
        return
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - e.g. a closed pipe: the usual exit reports it
        return
    os._exit(code)
