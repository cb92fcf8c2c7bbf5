"""UTC timestamps as the records and JSON carry them: ISO 8601, milliseconds, ``Z``."""
from __future__ import annotations

from datetime import datetime, timezone


def iso(dt: datetime | None) -> str | None:
    """``2026-11-27T16:08:01.123Z``; naive datetimes are taken as UTC."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset, or naive = UTC) to an aware UTC datetime."""
    value = text.strip()
    if value.endswith("Z") or value.endswith("z"):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def table_time(value: str | None) -> str:
    """How tables print a stored timestamp: ``YYYY-MM-DD HH:MM:SS.mmm``."""
    if not value:
        return ""
    return value.replace("T", " ").rstrip("Z")
