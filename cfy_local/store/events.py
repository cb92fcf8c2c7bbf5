"""Append-only NDJSON event logs, one per execution.

Writers append whole lines with a single ``write`` on an ``O_APPEND`` descriptor, so lines
from several writers never interleave and a reader never sees half a line as a line: a
reader only takes text up to the last newline and remembers the byte offset to continue
from (``read_from``), which is how ``--tail`` and the TUI read incrementally.
"""
from __future__ import annotations

import errno
import json
import os
import threading
from typing import Any, Iterable

from cfy_local.errors import CorruptRecordError, StorageError
from cfy_local.store.atomic import FILE_MODE, ensure_dir


def _events_error(path: str, exc: OSError) -> StorageError:
    """One clear line for a planted symlink (O_NOFOLLOW gives ELOOP) or a full disk."""
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
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise _events_error(path, exc) from exc

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
                try:
                    os.write(self._fd, line)
                except OSError as exc:
                    raise _events_error(self.path, exc) from exc

    def flush(self, *, durable: bool = False) -> None:
        with self._mutex:
            self._flush_locked()
            if durable:
                os.fsync(self._fd)

    def _flush_locked(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError as exc:
                raise _events_error(self.path, exc) from exc

    def close(self) -> None:
        self.flush(durable=True)
        with self._mutex:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return [], offset
    except OSError as exc:
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
    events = []
    for raw in data[: end + 1].splitlines():
        if not raw.strip():
            continue
        try:
            events.append(json.loads(raw))
        except ValueError:
            continue
    return events, offset + end + 1
