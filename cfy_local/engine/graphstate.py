"""``runs/<id>/graph.json``: the operation states of an execution, for progress and resume.

Every operation task has a stable key (instance, operation, relationship side, related
instance, and a counter for repeats) computed while the workflow builds its tasks, so a
resumed run rebuilds the same keys and skips those recorded as ``succeeded``.

Format::

    {schema_version, execution_id, workflow_id, updated_at,
     total_operations, finished_operations,
     operations: {key: {name, operation, node_instance_id, state, retries}}}

The file is rewritten atomically, at most every ``FLUSH_INTERVAL`` seconds (or ten times
as long as the last write took, for very large runs) while the run is busy and once more
(fsynced) when a graph or the run ends. A worker killed between two flushes loses at most
that window: those operations run again on resume. Each operation's JSON is kept encoded
and re-encoded only when it changed, so a write costs one join of the fragments, not an
encoding of every operation (with 13,000 operations that was 15 ms a write, most of the
graph loop's own time). Only ``state`` and ``retries`` ever change, so the part of an
operation's JSON before them is encoded once and a change costs one concatenation.
"""
from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

from cfy_local import clock
from cfy_local.engine.task_states import TASK_FAILED, TASK_PENDING, TASK_SUCCEEDED
from cfy_local.store.atomic import atomic_write_bytes, read_json, sync_file
from cfy_local.store.paths import Home
from cfy_local.store.versioned import SCHEMA_VERSION
from cfy_local.timefmt import iso

FLUSH_INTERVAL = 0.5
WRITE_COST_FACTOR = 10
FINISHED = (TASK_SUCCEEDED, TASK_FAILED)


def load_graph(home: Home, execution_id: str) -> dict[str, Any]:
    try:
        data = read_json(home.graph_file(execution_id))
    except FileNotFoundError:
        return {}
    except Exception:  # noqa: BLE001 - a corrupt graph only loses the resume shortcut
        return {}
    return data if isinstance(data, dict) else {}


_COUNTS = re.compile(rb'"total_operations":(\d+),"finished_operations":(\d+),')
_HEAD_BYTES = 4096


def progress(home: Any, execution_id: str) -> tuple[int, int]:
    """(total, finished) operations of an execution, from its graph.json.

    The writer puts both counts ahead of the operations, so the first bytes of the file
    are enough: parsing a large run's whole graph for two numbers took half a second of
    a worker's end (and of every progress read by ``executions get`` and the TUI)."""
    home = home if isinstance(home, Home) else Home(str(home))
    path = home.graph_file(execution_id)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return 0, 0
    try:
        head = os.read(fd, _HEAD_BYTES)
    except OSError:
        head = b""
    finally:
        os.close(fd)
    match = _COUNTS.search(head)
    if match:
        return int(match.group(1)), int(match.group(2))
    data = load_graph(home, execution_id)
    return int(data.get("total_operations") or 0), int(data.get("finished_operations") or 0)


_encode = json.JSONEncoder(separators=(",", ":")).encode
_encode_str = json.encoder.encode_basestring_ascii  # a str as _encode writes it
# The members of an operation, in the order they are written; ``_head`` encodes the
# unchanging ones (with the key) once, ``_fragment`` adds the two that change.
_FIXED_MEMBERS = ("name", "operation", "node_instance_id")
_MEMBERS = _FIXED_MEMBERS + ("state", "retries")
_encoded_states: dict[str, bytes] = {}


def _head(key: str, op: dict) -> bytes | None:
    """``"key":{"name":…,"operation":…,"node_instance_id":…,"state":`` — or None for an
    operation with other members (written by hand, or by a later version), which is
    encoded whole at every write."""
    if tuple(op) != _MEMBERS:
        return None
    name, operation, instance_id = op["name"], op["operation"], op["node_instance_id"]
    if type(key) is str and type(name) is str and type(operation) is str and type(instance_id) is str:
        # What encoding the dict gives, put together from its strings: the first write of a
        # large run's graph encodes every operation's head (a dict encode each was 50 ms of
        # the first write of 9,000 operations, before the first task ran).
        return (f'{_encode_str(key)}:{{"name":{_encode_str(name)},"operation":{_encode_str(operation)},'
                f'"node_instance_id":{_encode_str(instance_id)},"state":').encode("ascii")
    fixed = _encode({name: op[name] for name in _FIXED_MEMBERS})
    return (_encode(key) + ":" + fixed[:-1] + ',"state":').encode("utf-8")


def _fragment(key: str, op: dict, head: bytes | None) -> bytes:
    state, retries = op["state"], op["retries"]
    if head is None or type(state) is not str or type(retries) is not int:
        return _encode(key).encode("utf-8") + b":" + _encode(op).encode("utf-8")
    encoded = _encoded_states.get(state)
    if encoded is None:
        encoded = _encoded_states.setdefault(state, _encode(state).encode("utf-8"))
    return b"%s%s,\"retries\":%d}" % (head, encoded, retries)


class GraphState:
    """Operation states of one run, merged over the runs of the same execution."""

    def __init__(self, home: Home, execution_id: str, workflow_id: str, *, resume: bool):
        self.home = home
        self.execution_id = execution_id
        self.workflow_id = workflow_id
        self._mutex = threading.Lock()
        previous = load_graph(home, execution_id).get("operations") or {}
        # A fresh (non-resumed) run starts from nothing; a resume keeps what succeeded.
        self.operations: dict[str, dict] = dict(previous) if resume else {}
        self.succeeded_before = {key for key, op in self.operations.items() if op.get("state") == TASK_SUCCEEDED} \
            if resume else set()
        if resume:
            for op in self.operations.values():
                if op.get("state") != TASK_SUCCEEDED:
                    op["state"] = TASK_PENDING
                    op["retries"] = 0
        # Each operation's ``"key":{...}`` as written last; keys changed since are in
        # ``_changed`` and encoded again at the next write.
        self._fragments: dict[str, bytes] = {}
        self._heads: dict[str, bytes | None] = {}
        self._changed: set[str] = set(self.operations)
        self._finished = sum(1 for op in self.operations.values() if op.get("state") in FINISHED)
        self._dirty = True
        self._progressed = False  # an operation changed state since the last write
        self._synced = False
        self._last_flush = 0.0
        self._write_seconds = 0.0  # how long the last write took

    def register(self, key: str, name: str, operation: str, instance_id: str) -> None:
        with self._mutex:
            if key in self.operations:
                return
            self.operations[key] = {"name": name, "operation": operation, "node_instance_id": instance_id,
                                    "state": TASK_PENDING, "retries": 0}
            self._changed.add(key)
            self._dirty = True

    def record(self, key: str, state: str, retries: int) -> None:
        with self._mutex:
            op = self.operations.get(key)
            if op is None:
                return
            self._finished += (state in FINISHED) - (op.get("state") in FINISHED)
            op["state"] = state
            op["retries"] = retries
            self._changed.add(key)
            self._dirty = self._progressed = True
        self.maybe_flush()

    def maybe_flush(self) -> None:
        """Write if an operation's state changed and FLUSH_INTERVAL has passed since the
        last write (the first change is written at once) — also called by the graph loop
        before it waits, so the progress that `executions get` and the TUI show does not
        stay behind while a long operation runs."""
        if self._dirty and not self._progressed and not self._last_flush:
            # Operations registered, none changed yet: write them so the total is known from
            # the start (0/N, not 0/0); the first change is still written at once after it.
            self.flush()
            self._last_flush = 0.0
            return
        # A large run's graph takes a while to encode, on the interpreter its runners share:
        # at most a tenth of the run's time goes to it (with 100,000 operations every 0.5 s
        # was most of the run, and a fifth still made a 10,000-instance run's time grow
        # faster than its size).
        interval = max(FLUSH_INTERVAL, WRITE_COST_FACTOR * self._write_seconds)
        if self._progressed and clock.monotonic() - self._last_flush >= interval:
            self.flush()

    def counts(self) -> tuple[int, int]:
        with self._mutex:
            return len(self.operations), self._finished

    def flush(self, *, durable: bool = False) -> None:
        with self._mutex:
            if self._dirty:
                self._write_locked(durable=durable)
            elif durable and not self._synced:
                # Nothing changed since the last write: make that write durable instead of
                # encoding every operation again (a large run's final flush).
                try:
                    sync_file(self.home.graph_file(self.execution_id))
                    self._synced = True
                except FileNotFoundError:
                    self._write_locked(durable=True)

    def _write_locked(self, *, durable: bool) -> None:
        ops = self.operations
        began = clock.monotonic()
        fragments, heads = self._fragments, self._heads
        for key in self._changed:
            op = ops.get(key)
            if op is not None:
                head = heads.get(key, False)
                if head is False:
                    head = heads[key] = _head(key, op)
                fragments[key] = _fragment(key, op, head)
        self._changed = set()
        # The same bytes json.dumps(data) gives, keys in the operations' order; the two
        # counts ahead of the operations, where ``progress`` finds them.
        head = {
            "schema_version": SCHEMA_VERSION,
            "execution_id": self.execution_id,
            "workflow_id": self.workflow_id,
            "updated_at": iso(clock.now()),
            "total_operations": len(ops),
            "finished_operations": self._finished,
        }
        payload = b"".join((_encode(head)[:-1].encode("utf-8"), b',"operations":{',
                            b",".join([fragments[key] for key in ops]), b"}}"))
        self._dirty = self._progressed = False
        self._last_flush = clock.monotonic()
        # Written under the mutex so an older snapshot never replaces a newer one.
        atomic_write_bytes(self.home.graph_file(self.execution_id), payload, durable=durable)
        self._synced = durable
        self._write_seconds = clock.monotonic() - began
