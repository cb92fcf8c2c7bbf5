"""Versioned JSON records.

Every record carries ``schema_version``. Reading a record from an older schema runs the
forward migrations registered for its kind; a record from a newer cfy-local is refused
rather than misread.
"""
from __future__ import annotations

from typing import Any, Callable

from cfy_local.errors import CorruptRecordError
from cfy_local.store.atomic import atomic_write_json, read_json

SCHEMA_VERSION = 1

# kind -> {from_version: migrate(record) -> record at from_version + 1}
_MIGRATIONS: dict[str, dict[int, Callable[[dict], dict]]] = {}


def register_migration(kind: str, from_version: int, fn: Callable[[dict], dict]) -> None:
    _MIGRATIONS.setdefault(kind, {})[from_version] = fn


def load_record(path: str, kind: str) -> dict[str, Any]:
    """Read a record; FileNotFoundError if absent, CorruptRecordError if unreadable."""
    data = read_json(path)
    if not isinstance(data, dict) or "schema_version" not in data:
        raise CorruptRecordError(f"State file {path} is not a valid {kind} record (no schema_version)")
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise CorruptRecordError(
            f"State file {path} has schema version {version!r}, newer than this cfy-local understands ({SCHEMA_VERSION})"
        )
    while version < SCHEMA_VERSION:
        migrate = _MIGRATIONS.get(kind, {}).get(version)
        if migrate is None:
            raise CorruptRecordError(f"State file {path}: no migration for {kind} from schema {version}")
        data = migrate(data)
        version += 1
        data["schema_version"] = version
    return data


def save_record(path: str, record: dict[str, Any], *, durable: bool = True) -> None:
    """Write a record atomically, stamping the current schema version first."""
    out = {"schema_version": SCHEMA_VERSION}
    out.update({k: v for k, v in record.items() if k != "schema_version"})
    atomic_write_json(path, out, durable=durable)
