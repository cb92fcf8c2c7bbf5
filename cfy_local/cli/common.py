"""Helpers shared by the click command modules: context access, shared options, errors."""
from __future__ import annotations

import functools
import sys

import click

from cfy_local.cli import render
from cfy_local.cli.result import Result
from cfy_local.config import load_config
from cfy_local.errors import CfyLocalError
from cfy_local.inputs import parse_inputs
from cfy_local.store.paths import Home


def get_home(ctx: click.Context | None = None, *, check_config: bool = True) -> Home:
    """The state directory chosen by ``--home`` / ``$CFY_LOCAL_HOME`` / default. Its
    ``config.yaml`` is checked here, before the command changes anything: a broken file is
    one line and an exit 1, never a half-made deployment or a worker's traceback."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    explicit = (root.obj or {}).get("home")
    home = Home.open(explicit)
    if check_config:
        load_config(home)
    return home


def _root_obj() -> dict:
    root = click.get_current_context().find_root()
    root.obj = root.obj or {}
    return root.obj


def json_option(f):
    """``--json`` on a sub-command (also accepted globally: ``cfy --json ...``), and the one
    place a command's :class:`~cfy_local.cli.result.Result` is printed: the command returns
    it, this prints it (``cli.render.show``) and returns the exit code."""

    @click.option("--json", "json_flag", is_flag=True, help="Print the result as JSON.")
    @functools.wraps(f)
    def wrapper(*args, json_flag: bool = False, **kwargs):
        obj = _root_obj()
        if json_flag:
            obj["json"] = True
        result = f(*args, **kwargs)
        if isinstance(result, Result):
            return render.show(result, as_json=wants_json(), wide=bool(obj.get("wide")))
        return result

    return wrapper


def wide_option(f):
    """``-x/--wide``: show every column of a table, however wide the terminal."""

    @click.option("-x", "--wide", "--extended", "wide_flag", is_flag=True,
                  help="Show every column (tables are otherwise fitted to the terminal width)")
    @functools.wraps(f)
    def wrapper(*args, wide_flag: bool = False, **kwargs):
        if wide_flag:
            _root_obj()["wide"] = True
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


def parse_values(values) -> dict:
    """``-i``/``-p`` values in every form cfy takes, merged left to right."""
    return parse_inputs(list(values)) if values else {}


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
