"""The one source of "now" (UTC, timezone-aware).

Everything in the core asks this module for the time, so tests and
``cfy scheduler run --at`` can pin it. ``CFY_LOCAL_FAKE_NOW`` (ISO 8601, UTC) pins it for
a whole process tree, which end-to-end tests use for worker processes.
"""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone

from cfy_local.timefmt import parse_iso

_frozen: datetime | None = None


def now() -> datetime:
    if _frozen is not None:
        return _frozen
    fake = os.environ.get("CFY_LOCAL_FAKE_NOW")
    if fake:
        return parse_iso(fake)
    return datetime.now(timezone.utc)


def freeze(at: datetime | None) -> None:
    """Pin ``now()`` to ``at`` (aware; converted to UTC). ``None`` unpins."""
    global _frozen
    _frozen = None if at is None else at.astimezone(timezone.utc)


def monotonic() -> float:
    return time.monotonic()
