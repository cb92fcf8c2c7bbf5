"""Building the events a workflow run writes (SPEC §7, manager.md §8, workflows.md §7).

One shape for everything: ``{type, timestamp, reported_timestamp, event_type | level+logger,
message: {text, arguments}, context: {...}}``. The emitter holds the execution's base
context so each call only adds what is specific (node, operation, retries, causes).
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time
import traceback as traceback_module
from typing import Any

from cfy_local import clock
from cfy_local.timefmt import iso


def error_cause(exc: BaseException, tb: str | None = None) -> dict[str, Any]:
    """Cloudify's serialised error cause: ``{message, type, traceback}``."""
    if tb is None:
        tb = "".join(traceback_module.format_exception(type(exc), exc, exc.__traceback__))
    return {"message": str(exc), "type": type(exc).__name__, "traceback": tb}


class _Timestamps:
    """``timefmt.iso(clock.now())``, but cheap: events are written by the thousand.

    When the clock is pinned (tests, ``CFY_LOCAL_FAKE_NOW``) every call goes through
    ``clock.now()``; otherwise the wall clock is read directly and the date part is
    formatted once per second.
    """

    def __init__(self):
        self._second = -1
        self._prefix = ""
        # Read once per run: a pinned clock does not change while a workflow runs.
        self._pinned = bool(os.environ.get("CFY_LOCAL_FAKE_NOW"))

    def now(self) -> str:
        if self._pinned or clock._frozen is not None:
            return iso(clock.now())
        stamp = time.time()
        second = int(stamp)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((stamp - second) * 1000):03d}Z"


class EventEmitter:
    """Writes the events of one execution to an EventWriter."""

    # A batching EventWriter is flushed at least this often, so `events list --tail`
    # and the TUI see a running workflow with at most this delay.
    FLUSH_INTERVAL = 0.1
    DRAIN_BATCH = 128

    def __init__(self, writer, *, deployment_id: str | None, execution_id: str, workflow_id: str,
                 blueprint_id: str | None):
        self.writer = writer
        self._flush = getattr(writer, "flush", None)
        self._last_flush = time.monotonic()
        # Events from every thread go through one queue (appending to a deque is atomic)
        # and are handed to the writer in order by whichever thread drains it, so the
        # operation threads do not queue up on the writer's lock one event at a time.
        self._queue: collections.deque = collections.deque()
        self._drain_lock = threading.Lock()
        self._clock = _Timestamps()
        self.base = {
            "deployment_id": deployment_id,
            "execution_id": execution_id,
            "workflow_id": workflow_id,
            "blueprint_id": blueprint_id,
        }

    def _emit(self, record: dict[str, Any]) -> None:
        queue = self._queue
        queue.append(record)
        if len(queue) >= self.DRAIN_BATCH or time.monotonic() - self._last_flush >= self.FLUSH_INTERVAL:
            self._drain(wait=False)

    def _drain(self, *, wait: bool) -> None:
        """Hand queued events to the writer, oldest first, then let it flush.

        ``wait=False`` skips when another thread is draining: it takes these too.
        """
        if not self._drain_lock.acquire(blocking=wait):
            return
        try:
            queue, write = self._queue, self.writer.write
            while queue:
                write(queue.popleft())
            self._last_flush = time.monotonic()
            if self._flush is not None:
                self._flush()
        finally:
            self._drain_lock.release()

    def maybe_flush(self) -> None:
        """Called by the graph loop before it waits: readers see events within ~0.1 s."""
        if time.monotonic() - self._last_flush >= self.FLUSH_INTERVAL:
            self._drain(wait=True)

    def flush(self) -> None:
        """Everything emitted so far reaches the writer (and is flushed) before returning."""
        self._drain(wait=True)

    def event(self, event_type: str, text: str, context: dict | None = None, arguments: Any = None) -> None:
        now = self._clock.now()
        ctx = {**self.base, **context} if context else dict(self.base)
        self._emit({
            "type": "cloudify_event",
            "timestamp": now,
            "reported_timestamp": now,
            "event_type": event_type,
            "message": {"text": text, "arguments": arguments},
            "message_code": None,
            "context": ctx,
        })

    def log(self, level: str, text: str, context: dict | None = None, logger: str | None = None) -> None:
        now = self._clock.now()
        ctx = {**self.base, **context} if context else dict(self.base)
        self._emit({
            "type": "cloudify_log",
            "timestamp": now,
            "reported_timestamp": now,
            "level": level,
            "logger": logger or f"ctx.{self.base['execution_id']}",
            "message": {"text": text, "arguments": None},
            "message_code": None,
            "context": ctx,
        })


_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


class EventLogHandler(logging.Handler):
    """Turns log records of a ctx logger into ``cloudify_log`` events."""

    def __init__(self, emitter: EventEmitter, context: dict, logger_name: str):
        super().__init__(logging.DEBUG)
        self.emitter = emitter
        self.context = context
        self.logger_name = logger_name

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text = text + "\n" + "".join(traceback_module.format_exception(*record.exc_info))
            level = _LEVEL_NAMES.get(record.levelno, record.levelname.lower())
            self.emitter.log(level, text, self.context, self.logger_name)
        except Exception:  # noqa: BLE001 - a log call must never break an operation
            self.handleError(record)


def make_logger(emitter: EventEmitter, name: str, context: dict) -> logging.Logger:
    """A logger not registered in logging's global manager (no leak per task)."""
    logger = logging.Logger(name, logging.DEBUG)
    logger.propagate = False
    logger.addHandler(EventLogHandler(emitter, context, name))
    return logger
