"""Inter-process locks: ``flock`` on files in ``<home>/locks/`` (the state dir must be on a
local disk).

Written here rather than taken from ``filelock``: this is ~60 lines over one system call,
and ``filelock``'s import alone (~28 ms on the reference machine) was a fifth of the
150 ms budget of ``cfy executions start --no-wait``, which must take the state lock.

Lock order — always take them in this order, never the reverse, so no two processes
deadlock:

1. ``scheduler``                 held by a running ``cfy scheduler run`` loop (singleton)
2. ``schedule-<dep>--<sched>``   one schedule: create/update/delete/fire
3. ``state``                     the global state lock: execution admission and status
                                  transitions, the queue, maintenance mode, deployment and
                                  blueprint create/delete. Held for milliseconds.
4. ``deployment-<dep>``          a deployment's node instances (runtime properties)
5. ``secrets``, ``snapshots``,   leaves
   ``plugins``

Lock files live in ``<home>/locks/``; they are created 0600 and never deleted (deleting
a lock file that another process holds would let a third one lock a new inode).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from typing import Iterator

from cfy_local.errors import ConflictError, StorageError
from cfy_local.store.atomic import ensure_dir

DEFAULT_TIMEOUT = 60.0
_LOCK_FILE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_FIRST_POLL, _LONGEST_POLL = 0.001, 0.05


class HeldLock:
    """An acquired lock: an open lock file with an exclusive ``flock`` on it.

    ``flock`` locks belong to the open file, so two threads of one process exclude each
    other like two processes do, and the kernel drops the lock when the holder dies —
    a killed ``cfy`` never leaves a lock behind.
    """

    __slots__ = ("fd",)

    def __init__(self, fd: int):
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)  # closing the last descriptor of the open file releases the flock


def lock_path(home_root: str, name: str) -> str:
    return os.path.join(home_root, "locks", name + ".lock")


def _acquire(home_root: str, name: str, timeout: float) -> HeldLock | None:
    """The lock, or None once ``timeout`` passed (< 0 waits forever, 0 tries once)."""
    path = lock_path(home_root, name)
    ensure_dir(os.path.dirname(path))
    try:
        fd = os.open(path, _LOCK_FILE_FLAGS, 0o600)
    except OSError as exc:
        raise _lock_error(name, path, exc) from exc
    try:
        if os.fstat(fd).st_mode & 0o777 != 0o600:
            os.fchmod(fd, 0o600)  # created under a umask that took bits away, or older
        if timeout < 0:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return HeldLock(fd)
        deadline = time.monotonic() + timeout
        pause = _FIRST_POLL
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return HeldLock(fd)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    os.close(fd)
                    return None
                # Short first pauses: most locks are held for milliseconds.
                time.sleep(min(pause, left))
                pause = min(pause * 2, _LONGEST_POLL)
    except OSError as exc:
        os.close(fd)
        raise _lock_error(name, path, exc) from exc
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def lock(home_root: str, name: str, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold the named lock. ``timeout`` < 0 waits forever; 0 tries once."""
    held = _acquire(home_root, name, timeout)
    if held is None:
        raise ConflictError(f"Timed out waiting for the lock `{name}` ({lock_path(home_root, name)})")
    try:
        yield
    finally:
        held.release()


def try_hold(home_root: str, name: str) -> HeldLock | None:
    """Acquire a lock without waiting and return it (the caller releases), or None if held."""
    return _acquire(home_root, name, 0)


def _lock_error(name: str, path: str, exc: OSError) -> StorageError:
    """Lock files are opened with O_NOFOLLOW, so a planted symlink surfaces as ELOOP;
    report it (and any other OS failure) as one clear line instead of a traceback."""
    if exc.errno == errno.ELOOP:
        return StorageError(f"Refusing to follow a symlink at lock file {path} (lock `{name}`)")
    return StorageError(f"Cannot take the lock `{name}` ({path}): {exc.strerror or exc}")


def is_held(home_root: str, name: str) -> bool:
    """True if some process holds the lock right now."""
    held = try_hold(home_root, name)
    if held is None:
        return True
    held.release()
    return False
