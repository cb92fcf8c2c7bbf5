"""``cfy secrets ...``: the local store behind ``get_secret``."""
from __future__ import annotations

import click

from cfy_local.cli import AliasedGroup, render
from cfy_local.cli.common import get_home, json_option, wants_json
from cfy_local.errors import ValidationError

COLUMNS = ["key", "created_at", "updated_at"]


def _api():
    from cfy_local import secrets

    return secrets


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
    record = _api().create_secret(get_home(), key, secret_string, update_if_exists=update_if_exists)
    if wants_json():
        render.print_json(record)
        return
    render.echo(f"Secret `{key}` created")


@secrets.command("get")
@click.argument("key")
@json_option
def get(key):
    """Get a secret's value"""
    record = _api().get_secret(get_home(), key)
    if wants_json():
        render.print_json(record)
        return
    render.echo(f"Getting info for secret `{key}`...")
    render.print_table([record], ["key", "value", "created_at", "updated_at"], "Requested secret info:")


@secrets.command("list")
@json_option
def list_():
    """List secrets (keys only)"""
    rows = _api().list_secrets(get_home())
    if wants_json():
        render.print_json(rows)
        return
    render.echo("Listing all secrets...")
    render.print_table(rows, COLUMNS, "Secrets:")
    render.echo(f"Showing {len(rows)} of {len(rows)} secrets")


@secrets.command("delete")
@click.argument("key")
def delete(key):
    """Delete a secret"""
    render.echo(f"Deleting secret `{key}`...")
    _api().delete_secret(get_home(), key)
    render.echo("Secret removed")
