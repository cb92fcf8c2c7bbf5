"""The scheduler loop: one pass every ``interval`` seconds on a monotonic clock.

Passes start at whole multiples of the interval counted from the loop's start (as the
manager's scheduler does): a pass that overruns makes the next one start at the next whole
interval ("every minute, takes 70 s → every 2 minutes"). The clock and the wait are
injectable so the rule is testable with a fake clock. A stop request (SIGINT/SIGTERM) ends
the loop after the current pass.
"""
from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from typing import Callable

from cfy_local import clock
from cfy_local.errors import CfyLocalError
from cfy_local.store.atomic import atomic_write_json, read_json
from cfy_local.store.paths import Home
from cfy_local.timefmt import iso


def next_pass_offset(elapsed: float, interval: float) -> float:
    """Seconds from the loop's start to the next pass, given the time elapsed so far."""
    return interval * (int(elapsed // interval) + 1)


class SchedulerLoop:
    def __init__(self, home: Home, interval: float, pass_fn: Callable[[], object], *,
                 monotonic: Callable[[], float] = time.monotonic,
                 wait: Callable[[float], object] | None = None,
                 write_status: bool = True):
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.home = home
        self.interval = interval
        self.pass_fn = pass_fn
        self.monotonic = monotonic
        self._stop = threading.Event()
        # The default wait returns early when a stop is requested.
        self.wait = wait or self._stop.wait
        self.write_status = write_status
        self.passes = 0
        self.started_at = None

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, max_passes: int | None = None) -> int:
        """Run passes until stopped (or ``max_passes``); return the number of passes run."""
        start = self.monotonic()
        self.started_at = iso(clock.now())
        while not self.stopping:
            pass_start = self.monotonic()
            self.pass_fn()
            self.passes += 1
            finished = self.monotonic()
            offset = next_pass_offset(finished - start, self.interval)
            remaining = max(0.0, start + offset - finished)
            if self.write_status:
                self._save_status(last_pass_seconds=finished - pass_start, next_in=remaining)
            if self.stopping or (max_passes is not None and self.passes >= max_passes):
                break
            self.wait(remaining)
        return self.passes

    def _save_status(self, *, last_pass_seconds: float, next_in: float) -> None:
        now = clock.now()
        write_status(self.home, {
            "pid": os.getpid(), "started_at": self.started_at, "interval": self.interval,
            "last_pass": iso(now - timedelta(seconds=last_pass_seconds)),
            "last_pass_seconds": round(last_pass_seconds, 3),
            "next_pass": iso(now + timedelta(seconds=next_in)), "passes": self.passes,
        })


def write_status(home: Home, data: dict) -> None:
    atomic_write_json(home.scheduler_status_file, dict(data, schema_version=1), durable=False)


def read_status(home: Home) -> dict:
    try:
        data = read_json(home.scheduler_status_file)
    except (FileNotFoundError, CfyLocalError):  # absent or unreadable: nothing known
        return {}
    return data if isinstance(data, dict) else {}
