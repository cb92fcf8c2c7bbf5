"""Building the events a workflow run writes, in Cloudify's shapes and texts
(docs/cloudify-behaviour.md, "Events").

One shape for everything: ``{type, timestamp, reported_timestamp, event_type | level+logger,
message: {text, arguments}, context: {...}}``. The emitter holds the execution's base
context so each call only adds what is specific (node, operation, retries, causes).
"""
from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
import traceback as traceback_module
from typing import Any

from cfy_local import clock
from cfy_local.timefmt import iso

# ASCII-escaped like every event line before (a lone surrogate in a message cannot break
# the UTF-8 file).
_encode_string = json.encoder.encode_basestring_ascii
encode_string = _encode_string  # a str as JSON (ASCII, as json.dumps writes it)


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
        self._millis = -1
        self._text = ""
        # Read once per run: a pinned clock does not change while a workflow runs.
        self._pinned = bool(os.environ.get("CFY_LOCAL_FAKE_NOW"))

    def now(self) -> str:
        if self._pinned or clock._frozen is not None:
            return iso(clock.now())
        millis = int(time.time() * 1000)
        if millis == self._millis:
            return self._text  # events come several per millisecond in a large run
        second, fraction = divmod(millis, 1000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        self._millis = millis
        self._text = f"{self._prefix}.{fraction:03d}Z"
        return self._text


class EncodedContext(str):
    """An event context already encoded as JSON members (``,"key":value,…``).

    Tasks and node instances emit several events with the same context; encoding it once
    and reusing the text is what keeps tens of thousands of events cheap."""

    __slots__ = ()


_encode_value = json.JSONEncoder(default=str, separators=(",", ":")).encode
_encoded_keys: dict[str, str] = {}


def _member(key: str, value: Any) -> str:
    name = _encoded_keys.get(key)
    if name is None:
        # A non-string key is named as json would name it (1 → "1", True → "true").
        name = (_encode_string(key) if type(key) is str else _encode_value({key: None})[1:-6]) + ":"
        if len(_encoded_keys) < 4096:
            _encoded_keys[key] = name
    kind = type(value)
    if kind is str:
        return name + _encode_string(value)
    if value is None:
        return name + "null"
    if kind is int:
        return name + str(value)
    return name + _encode_value(value)


def encode_members(context: dict) -> EncodedContext:
    """``{"a": 1, "b": "x"}`` → ``,"a":1,"b":"x"`` (JSON object members, leading comma)."""
    return EncodedContext("".join("," + _member(key, value) for key, value in context.items()))


class EventEmitter:
    """Writes the events of one execution to an EventWriter.

    Events are encoded here, once, into NDJSON lines (``writer.write_lines``): the base
    context of the execution is encoded when the emitter is made and a caller's context can
    come pre-encoded (``EncodedContext``), so an event costs a string format instead of a
    full JSON encoding of a nested dict.
    """

    # A batching EventWriter is flushed at least this often, so `events list --tail`
    # and the TUI see a running workflow with at most this delay.
    FLUSH_INTERVAL = 0.1
    # Events reach the file every FLUSH_INTERVAL or every DRAIN_BATCH events, whichever
    # comes first. Large batches matter: each write is a system call, and a thread that
    # gives up the GIL for one may wait for it while operation threads run.
    DRAIN_BATCH = 1024

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
        self._base_members = encode_members(self.base)[1:]
        self._default_logger = _encode_string(f"ctx.{execution_id}")

    def _emit(self, event_type: str, line: str) -> None:
        queue = self._queue
        queue.append((event_type, line))
        if len(queue) >= self.DRAIN_BATCH or time.monotonic() - self._last_flush >= self.FLUSH_INTERVAL:
            self._drain(wait=False)

    def _drain(self, *, wait: bool) -> None:
        """Hand queued events to the writer, oldest first, then let it flush.

        ``wait=False`` skips when another thread is draining: it takes these too.
        """
        if not self._drain_lock.acquire(blocking=wait):
            return
        try:
            queue = self._queue
            items = []
            while queue:
                items.append(queue.popleft())
            if items:
                write_lines = getattr(self.writer, "write_lines", None)
                if write_lines is not None:
                    write_lines(items)
                else:
                    for _, line in items:
                        self.writer.write(json.loads(line))
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

    def _context(self, context: dict | EncodedContext | None) -> str:
        if not context:
            return self._base_members
        if type(context) is EncodedContext:
            return self._base_members + context
        if self.base.keys() & context.keys():
            # The caller overrides part of the base context: encode the merged dict.
            return encode_members({**self.base, **context})[1:]
        return self._base_members + encode_members(context)

    def event(self, event_type: str, text: str, context: dict | EncodedContext | None = None,
              arguments: Any = None) -> None:
        now = self._clock.now()
        args = "null" if arguments is None else _encode_value(arguments)
        self._emit(event_type, (
            f'{{"type":"cloudify_event","timestamp":"{now}","reported_timestamp":"{now}",'
            f'"event_type":{_encode_string(event_type)},"message":{{"text":{_encode_string(text)},'
            f'"arguments":{args}}},"message_code":null,"context":{{{self._context(context)}}}}}'
        ))

    def log(self, level: str, text: str, context: dict | EncodedContext | None = None,
            logger: str | None = None) -> None:
        now = self._clock.now()
        name = _encode_string(logger) if logger else self._default_logger
        self._emit("", (
            f'{{"type":"cloudify_log","timestamp":"{now}","reported_timestamp":"{now}",'
            f'"level":{_encode_string(level)},"logger":{name},"message":{{"text":{_encode_string(text)},'
            f'"arguments":null}},"message_code":null,"context":{{{self._context(context)}}}}}'
        ))


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
