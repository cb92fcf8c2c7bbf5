"""The local secrets store behind ``get_secret``: one record per key in ``secrets/<key>.json``
(mode 0600), written under the ``secrets`` lock (a leaf lock)."""
from __future__ import annotations

import os
from typing import Any

from cfy_local import clock
from cfy_local.errors import AlreadyExistsError, ValidationError, not_found
from cfy_local.ids import validate_id
from cfy_local.store.locks import lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record, save_record
from cfy_local.timefmt import iso

KIND = "secret"
LOCK = "secrets"


def _view(record: dict[str, Any], *, with_value: bool) -> dict[str, Any]:
    out = {"key": record["key"], "created_at": record.get("created_at"), "updated_at": record.get("updated_at")}
    if with_value:
        out["value"] = record.get("value")
    return out


def create_secret(home: Home, key: str, value: str, *, update_if_exists: bool = False) -> dict[str, Any]:
    validate_id(key, "secret_key")
    if not isinstance(value, str):
        raise ValidationError("ERROR: The secret value must be a string")
    path = home.secret_file(key)
    now = iso(clock.now())
    with lock(home.root, LOCK):
        try:
            record = load_record(path, KIND)
        except FileNotFoundError:
            record = None
        if record is not None and not update_if_exists:
            raise AlreadyExistsError(f"Secret with ID `{key}` already exists",
                                     possible_solutions=["Use -u/--update-if-exists to replace its value"])
        record = {"key": key, "value": value, "created_at": record["created_at"] if record else now,
                  "updated_at": now}
        save_record(path, record)
    return _view(record, with_value=False)


def update_secret(home: Home, key: str, value: str) -> dict[str, Any]:
    """Replace the value of an existing secret (not found if there is none)."""
    validate_id(key, "secret_key")
    if not isinstance(value, str):
        raise ValidationError("ERROR: The secret value must be a string")
    path = home.secret_file(key)
    with lock(home.root, LOCK):
        try:
            record = load_record(path, KIND)
        except FileNotFoundError:
            raise not_found("Secret", key) from None
        record = dict(record, value=value, updated_at=iso(clock.now()))
        save_record(path, record)
    return _view(record, with_value=False)


def get_secret(home: Home, key: str) -> dict[str, Any]:
    validate_id(key, "secret_key")
    try:
        return _view(load_record(home.secret_file(key), KIND), with_value=True)
    except FileNotFoundError:
        raise not_found("Secret", key) from None


def get_secret_value(home: Home, key: str) -> Any:
    return get_secret(home, key)["value"]


def list_secrets(home: Home) -> list[dict[str, Any]]:
    folder = home.path("secrets")
    try:
        names = sorted(n[:-5] for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        try:
            out.append(_view(load_record(home.secret_file(name), KIND), with_value=False))
        except (FileNotFoundError, ValidationError):
            continue
    return out


def delete_secret(home: Home, key: str) -> None:
    validate_id(key, "secret_key")
    with lock(home.root, LOCK):
        try:
            os.unlink(home.secret_file(key))
        except FileNotFoundError:
            raise not_found("Secret", key) from None
