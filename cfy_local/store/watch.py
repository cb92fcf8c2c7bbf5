"""Waking a reader when files in a few folders change, instead of polling them.

A ``cfy`` command that follows a run reads the run's event log and its record again each
time it wakes. Polling on a fixed interval makes it late by up to that interval — at the
run's end too, where it is pure waiting — and wakes it for nothing while the run is quiet.
On Linux, inotify tells it at once when the worker appends events (the log is modified)
or a record is replaced (a rename lands in the folder); elsewhere, or when the kernel's
watch limit is reached, :func:`open_watch` returns ``None`` and the caller polls.

Only folders are watched, never followed through a symlink. A spurious wake-up (another
execution's record changed) costs one extra read; a missed one cannot happen, since a
change made after a folder is watched stays queued until the next :meth:`FolderWatch.wait`.
"""
from __future__ import annotations

import os
import select
import sys

# From <sys/inotify.h>.
IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
# An append to a file, a file created or closed after writing, an atomic replace.
CHANGES = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE

_libc = None


def _inotify():
    """libc's inotify calls, or None where there are none. ctypes loads only here: a
    command that never follows a run does not pay for it."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                libc.inotify_init1.argtypes = [ctypes.c_int]
                libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
                _libc = libc
            except (OSError, AttributeError):
                pass
    return _libc or None


class FolderWatch:
    """An inotify instance watching folders for changes (see :data:`CHANGES`)."""

    def __init__(self, fd: int, libc):
        self._fd = fd
        self._libc = libc
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def add(self, folder: str) -> bool:
        """Watch ``folder``; False if it does not exist (yet), is a symlink or cannot be
        watched."""
        if self._fd < 0:
            return False
        flags = CHANGES | IN_ONLYDIR | IN_DONT_FOLLOW
        return self._libc.inotify_add_watch(self._fd, os.fsencode(folder), flags) >= 0

    def wait(self, timeout: float) -> bool:
        """Block until a watched folder changes (True) or ``timeout`` seconds pass (False).
        Every change queued so far is consumed: the caller rereads what it follows."""
        if self._fd < 0:
            return False
        if not self._poll.poll(max(0, int(timeout * 1000))):
            return False
        while True:
            try:
                if not os.read(self._fd, 1 << 16):
                    break
            except (BlockingIOError, InterruptedError):
                break
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "FolderWatch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_watch() -> FolderWatch | None:
    """A new watch with no folders yet, or None where changes cannot be watched."""
    libc = _inotify()
    if libc is None:
        return None
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        return None  # EMFILE: the per-user limit of inotify instances is reached
    return FolderWatch(fd, libc)
