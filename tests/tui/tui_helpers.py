"""Helpers for the TUI tests: the text on a running app's screen, and bounded polling.

Test folders here are not packages (pytest's prepend import mode), so this module has a
name no other test folder uses.
"""
from __future__ import annotations

import time


def screen_text(app) -> str:
    """What a user reads on the app's screen right now, one line per row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip).rstrip() for strip in strips)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` elapses (no bare sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
