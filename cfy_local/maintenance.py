"""Maintenance mode's commands: activate, and deactivate (which drains the queue).

The state itself (``deactivated`` / ``activating`` / ``activated``, the refusal of changes
while it is on) lives in ``cfy_local.maintenance_state``, below the queue; its names are
importable from here too. Changes happen under the ``state`` lock (the same lock admission
takes), so a start and an activation never race.
"""
from __future__ import annotations

import os
from typing import Any

from cfy_local import clock
from cfy_local.errors import CfyLocalError
from cfy_local.executions.queue import drain
from cfy_local.maintenance_state import (ACTIVATED, ACTIVATING, DEACTIVATED, current_status,
                                         ensure_allows_changes, read_record, record_exists, settle, state)
from cfy_local.store.locks import STATE_LOCK, lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import save_record
from cfy_local.timefmt import iso

__all__ = ["ACTIVATED", "ACTIVATING", "DEACTIVATED", "NothingToModify", "activate", "current_status", "deactivate",
           "ensure_allows_changes", "record_exists", "state"]


class NothingToModify(CfyLocalError):
    """Activate while on / deactivate while off: cfy prints "Nothing to modify" (exit 1)."""


def activate(home: Home, requested_by: str | None = None) -> dict[str, Any]:
    with lock(home.root, STATE_LOCK):
        if read_record(home) is not None:
            raise NothingToModify("Nothing to modify")
        now = iso(clock.now())
        record = {"status": ACTIVATING, "activation_requested_at": now, "activated_at": None,
                  "requested_by": requested_by or os.environ.get("USER") or ""}
        save_record(home.maintenance_file, record)
        settle(home, record)
    return state(home)


def deactivate(home: Home) -> dict[str, Any]:
    """Remove the record and drain the queue."""
    with lock(home.root, STATE_LOCK):
        if read_record(home) is None:
            raise NothingToModify("Nothing to modify")
        os.unlink(home.maintenance_file)
    drain(home)
    return state(home)
