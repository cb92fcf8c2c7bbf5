"""``cfy completion SHELL``: print the shell code that makes ``cfy`` complete its commands
and options (click's mechanism: the shell calls ``cfy`` back with ``_CFY_COMPLETE`` set)."""
from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from cfy_local.cli import cli
from cfy_local.cli.common import json_option
from cfy_local.cli.result import Message, Result

SHELLS = ("bash", "zsh", "fish")
INSTALL = {
    "bash": 'eval "$(cfy completion bash)"   # e.g. in ~/.bashrc',
    "zsh": 'eval "$(cfy completion zsh)"    # e.g. in ~/.zshrc',
    "fish": "cfy completion fish > ~/.config/fish/completions/cfy.fish",
}


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@json_option
def completion(shell):
    """Print the completion script for SHELL (bash, zsh or fish)"""
    source = get_completion_class(shell)(cli, {}, "cfy", "_CFY_COMPLETE").source()
    return Result(data={"shell": shell, "script": source},
                  after=[Message(source), Message(f"# Install: {INSTALL[shell]}", err=True)])
