"""Identifier rules. Every id that names a file or folder passes through here, so no id
can escape its folder (``../x``, ``/x``, ``a/b`` are refused)."""
from __future__ import annotations

import re

from cfy_local.errors import ValidationError

MAX_ID_LENGTH = 256
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
# Ids the system generates (execution UUIDs) may start with a digit; they are still safe
# as file names.
_LOOKUP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def validate_id(value: str | None, what: str = "id") -> str:
    """Return ``value`` if it is a safe id, else raise with Cloudify's wording."""
    if value is None or value == "":
        raise ValidationError(f"ERROR: The `{what}` argument is empty")
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(
            f"ERROR: The `{what}` argument is too long ({len(value)} characters, at most {MAX_ID_LENGTH})"
        )
    if not _ID_RE.match(value) or value in (".", ".."):
        raise ValidationError(
            f"ERROR: The `{what}` argument contains illegal characters. Only letters, digits "
            f'and the characters "-", "." and "_" are allowed, and it must start with a letter'
        )
    return value


def is_valid_id(value: str) -> bool:
    return bool(value) and len(value) <= MAX_ID_LENGTH and bool(_ID_RE.match(value))


def validate_lookup_id(value: str | None, what: str = "id") -> str:
    """For ids given to look something up (execution UUIDs may start with a digit)."""
    if not value or len(value) > MAX_ID_LENGTH or not _LOOKUP_RE.match(value) or value in (".", ".."):
        raise ValidationError(f"ERROR: The `{what}` argument is not a valid id: {value!r}")
    return value
