"""Starting workers with posix_spawn: a detached session, the worker log, and no zombies
left behind by a long-lived starter (the scheduler loop, the TUI, a draining worker)."""
from __future__ import annotations

import os

from cfy_local.executions import spawn
from cfy_local.store.paths import Home
from polling import wait_for


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_workers_run_in_their_own_session_and_are_reaped_by_the_next_spawn(tmp_path):
    home = Home.open(str(tmp_path / "home"))
    # Unknown execution ids: each worker finds nothing to run and exits at once.
    first, _ = spawn.spawn(home, "no-such-execution-1")
    second, created = spawn.spawn(home, "no-such-execution-2")
    assert created is not None
    for pid in (first, second):
        wait_for(lambda pid=pid: _state(pid) == "Z", timeout=30, message=f"worker {pid} to exit")
    assert os.getsid(first) == first  # it leads its own session (and process group)
    assert (tmp_path / "home" / "runs" / "no-such-execution-1" / "worker.log").is_file()
    third, _ = spawn.spawn(home, "no-such-execution-3")
    assert _state(first) is None and _state(second) is None  # reaped, not zombies
    wait_for(lambda: _state(third) == "Z", timeout=30, message="the third worker to exit")
    os.waitpid(third, 0)
    spawn._unreaped.discard(third)
