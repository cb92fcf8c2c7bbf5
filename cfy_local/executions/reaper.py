"""Stopping a worker's process group: SIGTERM now, SIGKILL after a grace period — in a
detached process of its own, so the escalation happens even when the command that asked
for it is killed or exits first.

``python -m cfy_local.executions.reaper <pgid> <grace seconds>`` — started by
:func:`start_reaper` in a new session. It polls the group; once the group is empty it
exits; if members remain when the grace ends it SIGKILLs the group. While the group has
members its id cannot be handed out again (Linux keeps a pid reserved while any process
uses it as a process group id), so the KILL reaches only the group it was started for.

No cfy_local import: it must start fast and depend on nothing that could fail.
"""
from __future__ import annotations

import os
import signal
import sys
import time

POLL_SECONDS = 0.02


def group_members(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes of process group ``pgid``, from /proc.

    Zombies do not count: a dead worker not yet reaped by its starter stays in the group
    as a zombie, but runs nothing.
    """
    members = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return [pgid] if _killpg_reaches(pgid) else []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid:
            members.append(int(name))
    return members


def _killpg_reaches(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    """True while some live process is in process group ``pgid``."""
    return bool(group_members(pgid))


def signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def wait_group_gone(pgid: int, seconds: float) -> bool:
    """Poll until the group is empty or ``seconds`` passed; True if it is empty."""
    deadline = time.monotonic() + seconds
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def start_reaper(pgid: int, grace: float) -> int | None:
    """Spawn the detached reaper of group ``pgid``; its pid, or None if it cannot start."""
    try:
        return os.posix_spawn(
            sys.executable, [sys.executable, "-m", "cfy_local.executions.reaper", str(pgid), str(grace)],
            os.environ,
            file_actions=[(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)],
            setsid=True)
    except OSError:
        return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m cfy_local.executions.reaper <pgid> <grace seconds>\n")
        return 2
    pgid, grace = int(argv[0]), float(argv[1])
    if pgid <= 1:
        return 2
    if not wait_group_gone(pgid, grace):
        signal_group(pgid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
