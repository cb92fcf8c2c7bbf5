"""Starting a detached worker process (``executions.worker``) for one execution.

``os.posix_spawn`` rather than ``subprocess``: the command that starts a run has a 150 ms
budget, and this path needs neither ``subprocess``'s import nor a fork of the calling
process. The worker gets a new session (it leads its own process group, which ``cancel
--kill`` signals as a whole), stdin from /dev/null, stdout and stderr appended to
``runs/<id>/worker.log``, and the environment it is given. It changes into its run folder
itself (posix_spawn has no portable ``cwd``).

A command that is about to start one run and wait for it (``cfy executions start``,
``cfy install``) can instead fork a *standby* first (:func:`fork_standby`): a copy of
itself, already detached the same way,
that loads the worker's modules while the command decides admission, then waits. The next
:func:`spawn` of this process hands it the execution to run instead of starting a new
interpreter, which saves the interpreter's start and most of the worker's imports on the
way to the run's first task. It is forked before any lock is taken, so it holds no lock
and no lock's descriptor; an unused standby (the run was queued or refused) is discarded
and exits without touching anything.
"""
from __future__ import annotations

import fcntl
import os
import sys
import threading
from typing import TYPE_CHECKING, Callable

from cfy_local.store import processes

if TYPE_CHECKING:
    from cfy_local.store.paths import Home

# The store's modules (and the typing and dataclasses they bring) load where they are
# used, not with this module: the ``cfy`` command forks its standby as soon as its
# interpreter is up (``cfy_local/console.py``), and every millisecond before that fork is
# one the worker starts later.

# Workers this process started and has not reaped yet. A long-lived starter (the
# scheduler loop, the TUI, a worker draining the queue) reaps finished ones on its next
# spawn, as subprocess.Popen does, so no zombie lingers for long.
_unreaped: set[int] = set()


def spawn(home: Home, execution_id: str, env: dict[str, str] | None = None) -> tuple[int, float | None]:
    """Start the worker for ``execution_id``; return its pid and process start time.

    The start time (psutil's ``create_time``) lets reconcile tell a dead worker from an
    unrelated process that later got the same pid.
    """
    from cfy_local.store.atomic import check_folders, ensure_dir

    _reap_finished()
    run_dir = ensure_dir(home.run_dir(execution_id))
    log_path = os.path.join(run_dir, "worker.log")
    # Opened here, not by a spawn file action, so a planted symlink (O_NOFOLLOW) or a full
    # disk is this command's error instead of a worker that silently never starts.
    check_folders(log_path, include_last=False)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    standby = _take_standby(env)
    if standby is not None:
        os.close(log_fd)
        if standby.start(home, execution_id):
            return standby.pid, processes.create_time(standby.pid)
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
    return pid, processes.create_time(pid)


class Standby:
    """A forked copy of this process waiting to become the worker of one execution."""

    def __init__(self, pid: int, go_fd: int, env: dict[str, str]):
        self.pid, self._go_fd, self.env = pid, go_fd, env

    def start(self, home: Home, execution_id: str) -> bool:
        """Hand it the execution; False if it is gone (the caller spawns a worker instead)."""
        message = f"{home.root}\0{execution_id}".encode("utf-8", "surrogateescape")
        try:
            os.write(self._go_fd, message)  # far below the pipe's buffer: one write, all of it
            return True
        except OSError:
            return False
        finally:
            self.discard()

    def discard(self) -> None:
        """Let it go: with nothing written, it exits at once."""
        if self._go_fd >= 0:
            os.close(self._go_fd)
            self._go_fd = -1
            _unreaped.add(self.pid)


_standby: Standby | None = None


def fork_standby(prepare: Callable[[], None], run: Callable[[list[str]], int]) -> Standby | None:
    """Fork a standby worker for this process's next :func:`spawn` (see the module's text).

    In the standby, ``prepare()`` loads what the worker needs, then ``run([home, id])`` runs
    the execution it is handed, as the worker's entry would. Returns None when it cannot
    fork (the next spawn starts a worker as usual). Only a single-threaded process may call
    this, before it takes any lock.
    """
    global _standby
    discard_standby()
    if threading.active_count() > 1:
        return None  # a fork would copy locks that other threads hold
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # what is buffered is printed once, by this process
        except (AttributeError, ValueError, OSError):
            pass
    read_fd, go_fd = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(go_fd)
        return None
    if pid == 0:  # the standby: never returns
        os.close(go_fd)
        _be_standby(read_fd, prepare, run)
    os.close(read_fd)
    _standby = Standby(pid, go_fd, dict(os.environ))
    return _standby


def has_standby() -> bool:
    """Whether this process has forked a standby that no spawn has taken yet."""
    return _standby is not None


def discard_standby() -> None:
    """Discard this process's unused standby, if any."""
    global _standby
    if _standby is not None:
        _standby.discard()
        _standby = None


def _take_standby(env: dict[str, str] | None) -> Standby | None:
    """The standby, if it suits a worker that is to run with ``env``."""
    global _standby
    standby = _standby
    if standby is None or dict(env if env is not None else os.environ) != standby.env:
        return None
    _standby = None
    return standby


def _be_standby(read_fd: int, prepare: Callable[[], None], run: Callable[[list[str]], int]) -> None:
    code = 1
    try:
        # Detached as a spawned worker is: its own session and process group, stdin from
        # /dev/null, and none of the command's descriptors (its stdout may be a pipe that
        # someone reads to the end) — only the worker log, once there is a run.
        os.setsid()
        if read_fd < 3:  # the command started with a standard descriptor closed
            read_fd = fcntl.fcntl(read_fd, fcntl.F_DUPFD_CLOEXEC, 3)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if os.path.isdir("/proc/self/fd"):
            for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
                if fd > 2 and fd != read_fd:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
        else:
            os.closerange(3, read_fd)
            os.closerange(read_fd + 1, os.sysconf("SC_OPEN_MAX"))
        try:
            prepare()
        except Exception:  # the worker's entry will meet (and log) the same failure
            pass
        chunks = []
        while True:
            chunk = os.read(read_fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read_fd)
        if not chunks:
            code = 0  # discarded
            return
        root, execution_id = b"".join(chunks).decode("utf-8", "surrogateescape").split("\0")
        from cfy_local.store.atomic import check_folders
        from cfy_local.store.paths import Home

        log_path = os.path.join(Home(root).run_dir(execution_id), "worker.log")
        check_folders(log_path, include_last=False)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        _standard_streams()
        code = run([root, execution_id]) or 0
    except BaseException:  # noqa: BLE001 - a standby never returns into the command's code
        try:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def _standard_streams() -> None:
    """sys.stdin/stdout/stderr on descriptors 0, 1 and 2, as a new interpreter has them:
    a command run in-process (a test's runner) may have replaced them with its own."""
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        stream = getattr(sys, name)
        try:
            if stream is not None and stream.fileno() == fd:
                continue
        except (AttributeError, ValueError, OSError):
            pass
        setattr(sys, name, open(fd, mode, buffering=1 if fd == 2 else -1, closefd=False,
                                errors="backslashreplace" if fd == 2 else None))


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
