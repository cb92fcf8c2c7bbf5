"""Inter-process locks (``filelock``, flock-based; the state dir must be on a local disk).

Lock order — always take them in this order, never the reverse, so no two processes
deadlock:

1. ``scheduler``                 held by a running ``cfy scheduler run`` loop (singleton)
2. ``schedule-<dep>--<sched>``   one schedule: create/update/delete/fire
3. ``state``                     the global state lock: execution admission and status
                                  transitions, the queue, maintenance mode, deployment and
                                  blueprint create/delete. Held for milliseconds.
4. ``deployment-<dep>``          a deployment's node instances (runtime properties)
5. ``secrets``, ``snapshots``    leaves

Lock files live in ``<home>/locks/``; they are created 0600 and never deleted (deleting
a lock file that another process holds would let a third one lock a new inode).
"""
from __future__ import annotations

import contextlib
import errno
import os
from typing import TYPE_CHECKING, Iterator

from cfy_local.errors import ConflictError, StorageError
from cfy_local.store.atomic import ensure_dir

if TYPE_CHECKING:
    from filelock import FileLock

DEFAULT_TIMEOUT = 60.0


def _new_lock(path: str) -> "FileLock":
    # filelock is imported on first use, not at module import: read-only commands import
    # this module (through the core) but never lock, and filelock's import costs ~30 ms.
    from filelock import FileLock

    return FileLock(path, mode=0o600, thread_local=False, is_singleton=False)


def lock_path(home_root: str, name: str) -> str:
    return os.path.join(home_root, "locks", name + ".lock")


@contextlib.contextmanager
def lock(home_root: str, name: str, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold the named lock. ``timeout`` < 0 waits forever; 0 tries once."""
    path = lock_path(home_root, name)
    ensure_dir(os.path.dirname(path))
    file_lock = _new_lock(path)
    from filelock import Timeout

    try:
        file_lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise ConflictError(f"Timed out waiting for the lock `{name}` ({path})") from exc
    except OSError as exc:
        raise _lock_error(name, path, exc) from exc
    try:
        yield
    finally:
        file_lock.release()


def try_hold(home_root: str, name: str) -> "FileLock | None":
    """Acquire a lock without waiting and return it (the caller releases), or None if held."""
    path = lock_path(home_root, name)
    ensure_dir(os.path.dirname(path))
    file_lock = _new_lock(path)
    from filelock import Timeout

    try:
        file_lock.acquire(timeout=0)
    except Timeout:
        return None
    except OSError as exc:
        raise _lock_error(name, path, exc) from exc
    return file_lock


def _lock_error(name: str, path: str, exc: OSError) -> StorageError:
    """filelock opens lock files with O_NOFOLLOW, so a planted symlink surfaces as ELOOP;
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
