"""Starting a detached worker process (``executions.worker``) for one execution.

``os.posix_spawn`` rather than ``subprocess``: the command that starts a run has a 150 ms
budget, and this path needs neither ``subprocess``'s import nor a fork of the calling
process. The worker gets a new session (it leads its own process group, which ``cancel
--kill`` signals as a whole), stdin from /dev/null, stdout and stderr appended to
``runs/<id>/worker.log``, and the environment it is given. It changes into its run folder
itself (posix_spawn has no portable ``cwd``).
"""
from __future__ import annotations

import os
import sys

from cfy_local.store.atomic import check_folders, ensure_dir
from cfy_local.store.paths import Home

# Workers this process started and has not reaped yet. A long-lived starter (the
# scheduler loop, the TUI, a worker draining the queue) reaps finished ones on its next
# spawn, as subprocess.Popen does, so no zombie lingers for long.
_unreaped: set[int] = set()


def spawn(home: Home, execution_id: str, env: dict[str, str] | None = None) -> tuple[int, float | None]:
    """Start the worker for ``execution_id``; return its pid and process start time.

    The start time (psutil's ``create_time``) lets reconcile tell a dead worker from an
    unrelated process that later got the same pid.
    """
    _reap_finished()
    run_dir = ensure_dir(home.run_dir(execution_id))
    log_path = os.path.join(run_dir, "worker.log")
    # Opened here, not by a spawn file action, so a planted symlink (O_NOFOLLOW) or a full
    # disk is this command's error instead of a worker that silently never starts.
    check_folders(log_path, include_last=False)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "cfy_local.worker_process", home.root, execution_id],
            dict(env) if env is not None else os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(log_fd)
    _unreaped.add(pid)
    return pid, process_create_time(pid)


def reap_finished() -> None:
    """Collect workers of this process that have ended: a long-lived parent (``cfy
    serve``) calls it now and then so its finished workers do not stay zombies."""
    _reap_finished()


def note_child(pid: int) -> None:
    """Another detached child of this process (a reaper) to reap on a later spawn."""
    _unreaped.add(pid)
    _reap_finished()


def _reap_finished() -> None:
    for pid in list(_unreaped):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid  # reaped elsewhere
        if done:
            _unreaped.discard(pid)


def process_create_time(pid: int) -> float | None:
    """The process start time as psutil reports it (seconds since the epoch).

    On Linux it is read straight from /proc the way psutil computes it (boot time +
    start ticks / CLK_TCK), which spares ``executions start`` the psutil import.
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
