"""Append-only NDJSON event logs, one per execution.

Writers append whole lines with a single ``write`` on an ``O_APPEND`` descriptor, so lines
from several writers never interleave and a reader never sees half a line as a line: a
reader only takes text up to the last newline and remembers the byte offset to continue
from (``read_from``), which is how ``--tail`` and the TUI read incrementally.

A full disk can still cut a write short (the kernel writes what fits), and a crash can
leave the start of a line. So a writer cuts such a partial line off — when its own write
fails, and when it opens a log whose last byte is not a newline — before anything else is
appended: no line is ever glued to a torn one. A reader that meets a torn line written by
an older version still recovers the whole event glued after it.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
from typing import Any, Iterable

from cfy_local.errors import CorruptRecordError, StorageError
from cfy_local.store.atomic import FILE_MODE, PlantedSymlinkError, check_folders, ensure_dir


def _events_error(path: str, exc: OSError) -> StorageError:
    """One clear line for a planted symlink (O_NOFOLLOW gives ELOOP) or a full disk."""
    if isinstance(exc, PlantedSymlinkError):
        return StorageError(str(exc))
    if exc.errno == errno.ELOOP:
        return StorageError(f"Refusing to follow a symlink at events file {path}")
    if exc.errno == errno.ENOSPC:
        return StorageError(f"No space left on device while writing {path}")
    return StorageError(f"Cannot write {path}: {exc.strerror or exc}")


# One encoder for every event line: ``json.dumps(..., default=str, separators=...)`` would
# build a new encoder per call, a measurable share of a large workflow's event writing.
_encode_event = json.JSONEncoder(default=str, separators=(",", ":")).encode


class EventWriter:
    """Appends events to one execution's log. Thread-safe; ``flush`` may batch."""

    def __init__(self, path: str, *, batch: bool = False):
        self.path = path
        self._batch = batch
        self._pending: list[bytes] = []
        self._mutex = threading.Lock()
        ensure_dir(os.path.dirname(path))
        try:
            check_folders(path)
            # Read-write, not write-only: cutting a torn last line needs to read the tail.
            self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise _events_error(path, exc) from exc
        with _exclusive(self._fd):
            _cut_partial_line(self._fd)
        # Whether something was written (or cut) since the last fsync: a run's end makes
        # the log durable several times over (the engine, the worker, the final event,
        # the close), and an fsync with nothing new still costs a disk round trip.
        self._unsynced = True

    def write(self, event: dict[str, Any]) -> None:
        self._append((_encode_event(event) + "\n").encode("utf-8"))

    def write_lines(self, items: list[tuple[str, str]]) -> None:
        """Append events already encoded as JSON lines: ``(event_type, line)`` pairs, lines
        without their newline. ``event_type`` lets a wrapping writer pick events out
        without decoding them."""
        self._append(("\n".join([line for _, line in items]) + "\n").encode("utf-8"))

    def _append(self, line: bytes) -> None:
        with self._mutex:
            if self._batch:
                self._pending.append(line)
                if len(self._pending) >= 256:
                    self._flush_locked()
            else:
                self._write_all(line)

    def flush(self, *, durable: bool = False) -> None:
        with self._mutex:
            self._flush_locked()
            if durable and self._unsynced:
                os.fsync(self._fd)
                self._unsynced = False

    def _flush_locked(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._write_all(data)

    def _write_all(self, data: bytes) -> None:
        """Append whole lines; on a failure after part of them landed (a full disk writes
        what fits, then refuses), cut the log back to its last whole line."""
        view = memoryview(data)
        written = 0
        self._unsynced = True
        with _exclusive(self._fd):
            try:
                while view:
                    count = os.write(self._fd, view)
                    written += count
                    view = view[count:]
            except OSError as exc:
                if written:
                    _cut_partial_line(self._fd)
                raise _events_error(self.path, exc) from exc

    def close(self, *, durable: bool = True) -> None:
        self.flush(durable=durable)
        with self._mutex:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _exclusive:
    """``flock`` the log while appending or cutting: a large write lands page by page, and
    another writer opening the log meanwhile must not take its unfinished tail for a torn
    line. (Readers never lock: they only take whole lines.)"""

    __slots__ = ("fd",)

    def __init__(self, fd: int):
        self.fd = fd

    def __enter__(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            pass

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        except OSError:
            pass


def _cut_partial_line(fd: int) -> None:
    """Truncate an append-only log to just after its last newline if it ends mid-line."""
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - (1 << 16))
            chunk = os.pread(fd, end - start, start)
            at = chunk.rfind(b"\n")
            if at >= 0:
                keep = start + at + 1
                break
            end = start
        os.ftruncate(fd, keep)
    except OSError:
        pass  # cannot read or cut: readers still skip the torn line


def last_event(path: str, *, after: int = 0) -> dict[str, Any] | None:
    """The last whole event of a log (read from its tail), or None; with ``after``, only an
    event whose line starts at or after that byte offset."""
    try:
        check_folders(path)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        chunk = min(size, 1 << 17)
        data = os.pread(fd, chunk, size - chunk)
    finally:
        os.close(fd)
    base = size - chunk
    end = data.rfind(b"\n")
    while end > 0:
        start = data.rfind(b"\n", 0, end) + 1
        raw = data[start:end]
        if base + start < after:
            return None
        if raw.strip() and (start > 0 or base == 0):
            event = _parse_line(raw)
            if event is not None:
                return event
        end = start - 1
    return None


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """One event line; a line that starts with a torn event (written before writers cut
    torn lines off) still yields the whole event glued after it."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    start = 1
    for _ in range(64):
        start = raw.find(b'{"', start)
        if start < 0:
            return None
        try:
            event = json.loads(raw[start:])
        except ValueError:
            start += 2
            continue
        return event if isinstance(event, dict) else None
    return None


def append_events(path: str, events: Iterable[dict[str, Any]]) -> None:
    """One-off append (used outside workers: queued, reconcile, cancel of a queued run)."""
    with EventWriter(path) as writer:
        for event in events:
            writer.write(event)


def read_from(path: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events in complete lines after byte ``offset``, and the offset to continue from.

    A missing file is an empty log. A line that is not JSON (a torn write from a crash
    mid-line can only be the last, unterminated one, which is not taken) is skipped.
    """
    try:
        check_folders(path)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return [], offset
    except OSError as exc:
        if isinstance(exc, PlantedSymlinkError):
            raise CorruptRecordError(str(exc)) from exc
        if exc.errno == errno.ELOOP:
            raise CorruptRecordError(f"Refusing to follow a symlink at events file {path}") from exc
        raise CorruptRecordError(f"Cannot read events file {path}: {exc.strerror or exc}") from exc
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    return _parse_lines(data[: end + 1]), offset + end + 1


# The C scanner behind json.loads, called on each line of a decoded block: json.loads per
# line would also pay for detecting the encoding and decoding each line on its own, about a
# third of reading a large run's log (a waiting ``cfy`` reads tens of thousands of events).
_scan_value = json.JSONDecoder().scan_once


def _parse_lines(block: bytes) -> list[dict[str, Any]]:
    """The events of ``block``, whole lines: each line exactly as :func:`_parse_line` reads
    it (a line the fast path does not take whole is handed to it)."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\r" in text:  # not what a writer writes: line by line
        return [event for event in map(_parse_line, (raw for raw in block.splitlines() if raw.strip()))
                if event is not None]
    events = []
    pos, size, find = 0, len(text), text.find
    while pos < size:
        newline = find("\n", pos)
        try:
            event, stop = _scan_value(text, pos)
        except (StopIteration, ValueError):
            stop = -1
        if stop == newline:
            if event is not None:
                events.append(event)
        else:
            raw = text[pos:newline].encode("utf-8")
            if raw.strip():
                event = _parse_line(raw)
                if event is not None:
                    events.append(event)
        pos = newline + 1
    return events
