"""Crash-safe file writes and strict reads.

A write goes to a temp file in the same folder, is (optionally) fsynced, then renamed over
the target with ``os.replace``: a reader sees the old file or the new one, never a torn
one. Records whose loss would lie (statuses, schedules) are fsynced; the hot path of a run
(runtime properties) may pass ``durable=False``.

Nothing here follows a symlink planted at a target path: reads open with ``O_NOFOLLOW`` and
writes replace the link itself (``os.replace`` renames over the link, not through it). Nor
at a folder on the way: every folder between a state dir's root and the file (the root
itself may be a link the user made) is checked with ``lstat`` before a read or a write
(``check_folders``); a link there is refused as ELOOP, like a link at the file.
"""
from __future__ import annotations

import errno
import itertools
import json
import os
import stat
from typing import Any

from cfy_local.errors import CorruptRecordError, StorageError

FILE_MODE = 0o600
DIR_MODE = 0o700


# Roots of the state dirs in use (store.paths.Home registers each): inside them no folder
# may be a symlink.
_ROOTS: list[str] = []


def register_root(root: str) -> None:
    root = os.path.abspath(root)
    if root not in _ROOTS:
        _ROOTS.append(root)


class PlantedSymlinkError(OSError):
    """A symlink at a folder inside a state dir (errno ELOOP, as O_NOFOLLOW reports one at a file)."""

    def __init__(self, path: str):
        super().__init__(errno.ELOOP, f"Refusing to follow a symlink at state folder {path}", path)

    def __str__(self) -> str:
        return self.strerror


def check_folders(path: str, *, include_last: bool = False) -> None:
    """Raise PlantedSymlinkError if a folder between a state dir's root and ``path`` (and
    ``path`` itself with ``include_last``) is a symlink. Paths outside every registered
    root are not checked."""
    if not _ROOTS:
        return
    path = os.path.abspath(path)
    for root in _ROOTS:
        if path.startswith(root) and path[len(root):len(root) + 1] == os.sep:
            break
    else:
        return
    parts = path[len(root) + 1:].split(os.sep)
    if not include_last:
        parts = parts[:-1]
    current = root
    for part in parts:
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return
        except OSError:
            return  # unreadable: the open that follows reports it
        if stat.S_ISLNK(mode):
            raise PlantedSymlinkError(current)


def ensure_dir(path: str) -> str:
    """Create ``path`` (and parents) with mode 0700 if missing. A symlink at ``path`` or a
    folder above it (inside a state dir) is refused with a StorageError."""
    try:
        check_folders(path, include_last=True)
    except PlantedSymlinkError as exc:
        raise StorageError(str(exc)) from None
    if _is_real_dir(path):
        return path
    # Not os.makedirs: it gives intermediate folders the umask's mode (0755 or even 0777),
    # and the umask can strip bits from the leaf too. Every folder we create is 0700.
    parent = os.path.dirname(path)
    if parent and parent != path:
        ensure_dir(parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if os.path.islink(path):
            raise StorageError(f"Refusing to follow a symlink at state folder {path}") from None
        if not os.path.isdir(path):
            raise StorageError(f"Cannot create folder {path}: a file is in the way") from None
        return path  # created by a concurrent process
    except OSError as exc:
        raise StorageError(f"Cannot create folder {path}: {exc.strerror}") from exc
    try:
        os.chmod(path, DIR_MODE)
    except OSError as exc:
        raise StorageError(f"Cannot set the mode of folder {path}: {exc.strerror}") from exc
    return path


def _is_real_dir(path: str) -> bool:
    """A folder, not a symlink to one (outside the registered roots a link is allowed, as
    for the state dir's own root or the folders above it)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    if stat.S_ISDIR(mode):
        return True
    return stat.S_ISLNK(mode) and os.path.isdir(path) and not _inside_root(path)


def _inside_root(path: str) -> bool:
    path = os.path.abspath(path)
    return any(path.startswith(root + os.sep) for root in _ROOTS)


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_temp_counter = itertools.count()
_umask_is_harmless: bool | None = None


def _create_temp(folder: str) -> tuple[int, str]:
    """A new ``.tmp-*`` file in ``folder``, opened for writing, mode 0600.

    ``tempfile.mkstemp`` does the same but costs a module import on every command and a
    random name per call; the engine writes thousands of records per run. Names are
    unique per process (pid + counter); O_EXCL skips one left behind by a killed process
    that had the same pid. The umask is read once per process: cfy-local never changes it.
    """
    global _umask_is_harmless
    if _umask_is_harmless is None:
        _umask_is_harmless = _current_umask() & FILE_MODE == 0
    pid = os.getpid()
    for _ in range(1000):
        tmp = os.path.join(folder, f".tmp-{pid}-{next(_temp_counter)}")
        try:
            fd = os.open(tmp, _TEMP_FLAGS, FILE_MODE)
        except FileExistsError:
            continue
        if not _umask_is_harmless:
            os.fchmod(fd, FILE_MODE)  # the umask took bits away from 0600
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", folder)


def _current_umask() -> int:
    """The process umask, read without changing it (Linux shows it in /proc); where it
    cannot be read, assume the worst so that every file gets an explicit chmod."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777


def atomic_write_bytes(path: str, data: bytes, *, durable: bool = True, folder_exists: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically. ``folder_exists`` skips creating the
    folder (hot paths that rewrite files they just read)."""
    folder = os.path.dirname(path) or "."
    if not folder_exists:
        ensure_dir(folder)
    try:
        check_folders(path)
        fd, tmp = _create_temp(folder)
    except OSError as exc:
        # A full disk or a read-only folder can refuse even the temp file: same clear error.
        raise _write_error(path, exc) from exc
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise _write_error(path, exc) from exc
    if durable:
        _fsync_dir(folder)


def _write_error(path: str, exc: OSError) -> StorageError:
    if isinstance(exc, PlantedSymlinkError):
        return StorageError(f"{exc}; nothing was written to {path}")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(f"No space left on device while writing {path}; nothing was changed")
    return StorageError(f"Cannot write {path}: {exc.strerror or exc}")


def sync_file(path: str) -> None:
    """Make a file written earlier with ``durable=False`` durable: its data and its name."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(os.path.dirname(path) or ".")


def _fsync_dir(folder: str) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=False, default=str) + "\n").encode("utf-8")


def atomic_write_json(path: str, obj: Any, *, durable: bool = True) -> None:
    atomic_write_bytes(path, dumps(obj), durable=durable)


def _read_open_file(fd: int) -> tuple[os.stat_result, bytes]:
    """All of an open state file, with its stat. State files are replaced whole, never
    grown in place: a first read of the whole size is all of it (no second read for the end)."""
    st = os.fstat(fd)
    chunks = []
    while True:
        chunk = os.read(fd, max(st.st_size + 1, 4096))
        if not chunk:
            break
        chunks.append(chunk)
        if len(chunks) == 1 and len(chunk) == st.st_size:
            break
    return st, b"".join(chunks)


def _unreadable(path: str, exc: OSError) -> CorruptRecordError:
    """The one-line error for a state file that cannot be read (a planted link named)."""
    if isinstance(exc, PlantedSymlinkError):
        return CorruptRecordError(str(exc))
    if exc.errno == errno.ELOOP:
        return CorruptRecordError(f"Refusing to follow a symlink at state file {path}")
    return CorruptRecordError(f"Cannot read state file {path}: {exc.strerror}")


def read_bytes(path: str) -> bytes:
    """Read a state file without following a symlink at ``path`` or a folder above it."""
    check_folders(path)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return _read_open_file(fd)[1]
    finally:
        os.close(fd)


class FolderReader:
    """Reads many state files of one folder: the folders on the way are checked once and the
    folder is held open, each file opened relative to it (``O_NOFOLLOW``, so a link planted
    at a file is refused and one planted at the folder afterwards is not followed). A file
    costs four system calls instead of eight (a workflow reads every instance file of its
    deployment when it starts)."""

    def __init__(self, folder: str):
        self.folder = folder
        try:
            check_folders(folder, include_last=True)
            self.fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise
        except PlantedSymlinkError as exc:
            raise CorruptRecordError(str(exc)) from exc
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise CorruptRecordError(f"Refusing to follow a symlink at state folder {folder}") from exc
            raise CorruptRecordError(f"Cannot read state folder {folder}: {exc.strerror}") from exc

    def read_json(self, name: str) -> tuple[os.stat_result, Any]:
        """(the file's stat, its parsed JSON). Missing → FileNotFoundError; unreadable or
        corrupt → CorruptRecordError, as ``read_json``."""
        path = os.path.join(self.folder, name)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _unreadable(path, exc) from exc
        try:
            st, data = _read_open_file(fd)
        except OSError as exc:
            raise _unreadable(path, exc) from exc
        finally:
            os.close(fd)
        return st, _parse_state_file(path, data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "FolderReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read_json(path: str) -> Any:
    """Parse a JSON state file. Missing → FileNotFoundError; unreadable → CorruptRecordError."""
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    return _parse_state_file(path, data)


def _parse_state_file(path: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(f"State file {path} is corrupt and cannot be read: {exc}") from exc
