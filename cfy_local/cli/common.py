"""Helpers shared by the click command modules: context access, shared options, errors."""
from __future__ import annotations

import functools
import sys

import click

from cfy_local.errors import CfyLocalError
from cfy_local.store.paths import Home


def get_home(ctx: click.Context | None = None) -> Home:
    """The state directory chosen by ``--home`` / ``$CFY_LOCAL_HOME`` / default."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    explicit = (root.obj or {}).get("home")
    return Home.open(explicit)


def json_option(f):
    """``--json`` on a sub-command (also accepted globally: ``cfy --json ...``)."""

    @click.option("--json", "json_flag", is_flag=True, help="Print the result as JSON.")
    @functools.wraps(f)
    def wrapper(*args, json_flag: bool = False, **kwargs):
        ctx = click.get_current_context()
        root = ctx.find_root()
        root.obj = root.obj or {}
        if json_flag:
            root.obj["json"] = True
        return f(*args, **kwargs)

    return wrapper


def wants_json(ctx: click.Context | None = None) -> bool:
    ctx = ctx or click.get_current_context()
    return bool((ctx.find_root().obj or {}).get("json"))


def verbosity(ctx: click.Context | None = None) -> int:
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return 0
    return int((ctx.find_root().obj or {}).get("verbose") or 0)


def report_error(exc: CfyLocalError) -> int:
    """Print a core error as cfy does (plus possible solutions) on stderr; return exit code."""
    if verbosity() > 0:
        import traceback

        traceback.print_exc(file=sys.stderr)
    sys.stderr.write(str(exc) + "\n")
    if exc.possible_solutions:
        sys.stderr.write("Possible solutions:\n")
        for solution in exc.possible_solutions:
            sys.stderr.write(f"  - {solution}\n")
    sys.stderr.flush()
    return exc.exit_code
