"""``cfy`` as a background process, for tests that signal it or run several at once
(import as ``from process_support import cfy_popen, cfy_running``; ``tests/`` is on
pytest's pythonpath)."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import Iterator


def cfy_popen(home_path, *args: str, **kwargs) -> subprocess.Popen:
    """Start ``cfy ARGS`` with the state dir ``home_path``; text pipes for stdout/stderr."""
    env = dict(os.environ, CFY_LOCAL_HOME=str(home_path))
    kwargs.setdefault("preexec_fn", _interruptible)
    return subprocess.Popen([sys.executable, "-m", "cfy_local", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def _interruptible() -> None:
    """Give the child SIGINT's default disposition, as a terminal's Ctrl-C finds it. A suite
    started as a background job of a non-interactive shell (``make test &``) inherits SIGINT
    *ignored*, and Python then leaves it ignored, so a test that interrupts ``cfy`` would wait
    for an exit that never comes."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def cfy_running(home_path, *args: str, **kwargs) -> Iterator[subprocess.Popen]:
    """``cfy_popen`` whose process is killed (and reaped) on the way out if it still runs,
    so a failing assertion never leaves it behind."""
    proc = cfy_popen(home_path, *args, **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
