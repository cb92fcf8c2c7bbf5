"""The scheduler: passes over the schedules (:mod:`.passes`) run by a paced loop
(:mod:`.loop`). Core package: no click, no textual."""
from __future__ import annotations

from cfy_local.scheduler.loop import read_status
from cfy_local.store.locks import is_held
from cfy_local.store.paths import Home

LOCK = "scheduler"


def status(home: Home) -> dict:
    """Whether a ``cfy scheduler run`` loop holds the scheduler lock, with its pid and the
    times of its last and next pass (from ``scheduler/status.json``)."""
    running = is_held(home.root, LOCK)
    data = read_status(home)
    return {
        "running": running,
        "pid": data.get("pid") if running else None,
        "started_at": data.get("started_at") if running else None,
        "interval": data.get("interval"),
        "last_pass": data.get("last_pass"),
        "next_pass": data.get("next_pass") if running else None,
    }
