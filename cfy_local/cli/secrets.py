"""``cfy secrets ...``: the local store behind ``get_secret``."""
from __future__ import annotations

import click

from cfy_local import secrets as core
from cfy_local.cli import AliasedGroup
from cfy_local.cli.common import get_home, json_option
from cfy_local.cli.result import Message, Result, Table
from cfy_local.errors import ValidationError

COLUMNS = ["key", "created_at", "updated_at"]


@click.group("secrets", cls=AliasedGroup)
def secrets():
    """Handle secrets (the store behind get_secret)"""


@secrets.command("create")
@click.argument("key")
@click.option("-s", "--secret-string", help="The string to store as the secret's value")
@click.option("-f", "--secret-file", type=click.Path(dir_okay=False), help="Read the secret's value from a file")
@click.option("-u", "--update-if-exists", is_flag=True, help="Update the secret's value if it already exists")
@json_option
def create(key, secret_string, secret_file, update_if_exists):
    """Create a secret"""
    if (secret_string is None) == (secret_file is None):
        raise ValidationError("Secret create requires exactly one of -s/--secret-string or -f/--secret-file")
    if secret_file is not None:
        try:
            with open(secret_file, encoding="utf-8") as fh:
                secret_string = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"Cannot read secret file {secret_file}: {exc}") from None
    record = core.create_secret(get_home(), key, secret_string, update_if_exists=update_if_exists)
    return Result(data=record, after=[Message(f"Secret `{key}` created")])


@secrets.command("get")
@click.argument("key")
@json_option
def get(key):
    """Get a secret's value"""
    record = core.get_secret(get_home(), key)
    return Result(data=record, before=[Message(f"Getting info for secret `{key}`...")],
                  views=[Table([record], ["key", "value", "created_at", "updated_at"], "Requested secret info:")])


@secrets.command("list")
@json_option
def list_():
    """List secrets (keys only)"""
    rows = core.list_secrets(get_home())
    return Result(data=rows, before=[Message("Listing all secrets...")], views=[Table(rows, COLUMNS, "Secrets:")],
                  after=[Message(f"Showing {len(rows)} of {len(rows)} secrets")])


@secrets.command("delete")
@click.argument("key")
@json_option
def delete(key):
    """Delete a secret"""
    core.delete_secret(get_home(), key)
    return Result(data={"key": key, "deleted": True}, before=[Message(f"Deleting secret `{key}`...")],
                  after=[Message("Secret removed")])
