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

Threads of one process never poll a lock file: every named lock has an in-process mutex in
front of its ``flock``. Threads queue on the mutex (woken by the releasing thread, no
sleeping), and only the one that holds it takes the ``flock`` — which is then contended by
other processes only, the single case that still polls.

``key_lock`` is a finer lock inside a named one: one ``key`` (a node instance) of the lock
file, an open-file-description byte-range lock (``F_OFD_SETLK``) at a byte derived from the
key, with its own in-process mutex in front. Two keys almost never share a byte, so writers
of different instances never wait for each other, in one process or across processes;
byte-range locks do not conflict with the ``flock`` of the same file.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
import threading
import time
import zlib
from typing import Iterator

from cfy_local.errors import ConflictError, StorageError
from cfy_local.store.atomic import ensure_dir

DEFAULT_TIMEOUT = 60.0

# The lock names of the order above that more than one module takes.
STATE_LOCK = "state"


def deployment_lock_name(deployment_id: str) -> str:
    """The lock of one deployment's node instances (runtime properties, states, scaling)."""
    return f"deployment-{deployment_id}"

_LOCK_FILE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_FIRST_POLL, _LONGEST_POLL = 0.001, 0.05


class HeldLock:
    """An acquired lock: an open lock file with an exclusive ``flock`` on it, and the
    in-process mutex of its name.

    ``flock`` locks belong to the open file, so two threads of one process would exclude
    each other like two processes do — by polling; the mutex makes them queue instead.
    The kernel drops the ``flock`` when the holder dies — a killed ``cfy`` never leaves a
    lock behind.
    """

    __slots__ = ("fd", "mutex")

    def __init__(self, fd: int, mutex: threading.Lock | None = None):
        self.fd = fd
        self.mutex = mutex

    def release(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            try:
                os.close(fd)  # closing the last descriptor of the open file releases the flock
            finally:
                mutex, self.mutex = self.mutex, None
                if mutex is not None:
                    mutex.release()


# One mutex per (home, lock name[, key]) for the life of the process: a few hundred bytes
# each, and a mutex must never be replaced while a thread waits on it.
_mutexes: dict[tuple, threading.Lock] = {}
_mutexes_guard = threading.Lock()


def _mutex(key: tuple) -> threading.Lock:
    mutex = _mutexes.get(key)
    if mutex is None:
        with _mutexes_guard:
            mutex = _mutexes.setdefault(key, threading.Lock())
    return mutex


def _take_mutex(mutex: threading.Lock, timeout: float) -> bool:
    if timeout < 0:
        return mutex.acquire()
    if timeout == 0:
        return mutex.acquire(blocking=False)
    return mutex.acquire(timeout=timeout)


def lock_path(home_root: str, name: str) -> str:
    return os.path.join(home_root, "locks", name + ".lock")


def _open_lock_file(name: str, path: str) -> int:
    ensure_dir(os.path.dirname(path))
    try:
        fd = os.open(path, _LOCK_FILE_FLAGS, 0o600)
    except OSError as exc:
        raise _lock_error(name, path, exc) from exc
    try:
        if os.fstat(fd).st_mode & 0o777 != 0o600:
            os.fchmod(fd, 0o600)  # created under a umask that took bits away, or older
    except OSError as exc:
        os.close(fd)
        raise _lock_error(name, path, exc) from exc
    return fd


def _poll(try_once, deadline: float | None) -> bool:
    """Call ``try_once`` (True = locked, False = held elsewhere) until it locks or the
    deadline passes. Only another process can hold the file lock here: threads of this
    one wait on the mutex in front of it."""
    pause = _FIRST_POLL
    while True:
        if try_once():
            return True
        if deadline is None:
            time.sleep(pause)
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            # Short first pauses: most locks are held for milliseconds.
            time.sleep(min(pause, left))
        pause = min(pause * 2, _LONGEST_POLL)


def _acquire(home_root: str, name: str, timeout: float) -> HeldLock | None:
    """The lock, or None once ``timeout`` passed (< 0 waits forever, 0 tries once)."""
    deadline = None if timeout < 0 else time.monotonic() + timeout
    mutex = _mutex((home_root, name))
    if not _take_mutex(mutex, timeout):
        return None
    try:
        path = lock_path(home_root, name)
        fd = _open_lock_file(name, path)
    except BaseException:
        mutex.release()
        raise

    def try_once() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    try:
        if deadline is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return HeldLock(fd, mutex)
        if _poll(try_once, deadline):
            return HeldLock(fd, mutex)
    except OSError as exc:
        os.close(fd)
        mutex.release()
        raise _lock_error(name, path, exc) from exc
    except BaseException:
        os.close(fd)
        mutex.release()
        raise
    os.close(fd)
    mutex.release()
    return None


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


# struct flock on Linux: l_type, l_whence (short), l_start, l_len (off_t), l_pid (pid_t).
_FLOCK_FORMAT = "hhqqi4x"
_KEY_SPACE = 1 << 30


def _key_byte(key: str) -> int:
    return zlib.crc32(key.encode("utf-8")) % _KEY_SPACE


# One open lock file per (home, lock name) for ``key_lock``, kept for the life of the
# process: byte-range locks of one open file description do not exclude each other, but
# the per-key mutex in front already keeps this process's threads apart — and reusing the
# descriptor saves an open and a close per lock.
_key_fds: dict[tuple, int] = {}


def _key_fd(home_root: str, name: str, path: str) -> int:
    fd = _key_fds.get((home_root, name))
    if fd is None:
        with _mutexes_guard:
            fd = _key_fds.get((home_root, name))
            if fd is None:
                fd = _open_lock_file(name, path)
                _key_fds[(home_root, name)] = fd
    return fd


class _KeySlot:
    """What ``key_lock`` needs of one key, made once per key for the life of the process
    (the hot path takes it for every runtime-property change): the key's mutex, the lock
    file's path and the two ``struct flock`` requests of its byte."""

    __slots__ = ("mutex", "path", "lock_request", "unlock_request")

    def __init__(self, mutex: threading.Lock, path: str, byte: int):
        self.mutex = mutex
        self.path = path
        self.lock_request = struct.pack(_FLOCK_FORMAT, fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0)
        self.unlock_request = struct.pack(_FLOCK_FORMAT, fcntl.F_UNLCK, os.SEEK_SET, byte, 1, 0)


_key_slots: dict[tuple, _KeySlot] = {}


class key_lock:  # noqa: N801 - used as ``with key_lock(...)``, like ``lock``
    """Hold ``key`` (e.g. one node instance) of the named lock's file: an exclusive
    open-file-description lock on one byte, with an in-process mutex per key in front.
    Writers of different keys do not wait for each other; the kernel drops the lock when
    the holder dies, as with ``lock``. A class rather than a generator: entering and
    leaving it is most of the cost of a runtime-property change otherwise."""

    __slots__ = ("home_root", "name", "key", "timeout", "slot", "fd")

    def __init__(self, home_root: str, name: str, key: str, timeout: float = DEFAULT_TIMEOUT):
        self.home_root, self.name, self.key, self.timeout = home_root, name, key, timeout
        slot = _key_slots.get((home_root, name, key))
        if slot is None:
            slot = _key_slots.setdefault((home_root, name, key),
                                         _KeySlot(_mutex((home_root, name, key)), lock_path(home_root, name),
                                                  _key_byte(key)))
        self.slot = slot

    def _timed_out(self) -> ConflictError:
        return ConflictError(f"Timed out waiting for the lock `{self.name}` on `{self.key}` ({self.slot.path})")

    def _try(self) -> bool:
        """One attempt at the key's byte: False while another process holds it."""
        try:
            fcntl.fcntl(self.fd, fcntl.F_OFD_SETLK, self.slot.lock_request)
            return True
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise

    def __enter__(self) -> None:
        slot = self.slot
        if not _take_mutex(slot.mutex, self.timeout):
            raise self._timed_out()
        try:
            self.fd = _key_fd(self.home_root, self.name, slot.path)
            try:
                # Not held by another process is the usual case: one system call.
                locked = self._try() or _poll(self._try, time.monotonic() + self.timeout)
            except OSError as exc:
                raise _lock_error(self.name, slot.path, exc) from exc
            if not locked:
                raise self._timed_out()
        except BaseException:
            slot.mutex.release()
            raise

    def __exit__(self, *exc_info) -> None:
        try:
            fcntl.fcntl(self.fd, fcntl.F_OFD_SETLK, self.slot.unlock_request)
        finally:
            self.slot.mutex.release()


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
