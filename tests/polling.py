"""Helpers shared by test modules (import as ``from polling import wait_for``;
``tests/`` is on pytest's pythonpath). Conftest files are not importable by name reliably:
pytest loads each as a module called ``conftest``."""
from __future__ import annotations

import time


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
