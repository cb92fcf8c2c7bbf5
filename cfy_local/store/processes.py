"""Telling whether a process recorded by pid and start time is still that process.

Records name processes (an execution's worker, the state dir's ``cfy serve``) by pid and
start time: a pid alone may have been handed to an unrelated process since.
"""
from __future__ import annotations

import os

# psutil rounds create_time; a reading at start and a later one agree to well within this.
CREATE_TIME_TOLERANCE = 1.0


def create_time(pid: int) -> float | None:
    """The process start time as psutil reports it (seconds since the epoch), or None when
    there is no such process.

    On Linux it is read straight from /proc the way psutil computes it (boot time + start
    ticks / CLK_TCK), which spares ``executions start`` the psutil import.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        with open("/proc/stat", "rb") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith(b"btime"))
        # Fields after the parenthesised command name; starttime is field 22 overall.
        fields = stat[stat.rfind(b")") + 2:].split()
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration, IndexError):
        pass
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def alive(pid: int | None, recorded_create_time: float | None) -> bool | None:
    """Whether ``pid`` is still the recorded process: True/False when it can be proven
    (a zombie is gone; another start time is another process), None when nothing is known
    (no pid recorded)."""
    if not pid:
        return None
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        actual = proc.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists but is not ours to inspect
    if recorded_create_time is not None and abs(actual - float(recorded_create_time)) > CREATE_TIME_TOLERANCE:
        return False
    return True
