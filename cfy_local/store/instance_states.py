"""The current state and runtime properties of a deployment's node instances: one file per
deployment.

``deployments/<dep>/instance-states.json`` (``Home.instance_states_file``)::

    {"schema_version": 1, "states": {"<instance id>": "<state>", ...},
     "instances": {"<instance id>": {"version": n, "runtime_properties": {...},
                                     "system_properties"?: {...}}, ...}}

A state here overrides the ``state`` field of the instance's own file
(``node-instances/<id>.json``), which keeps the state the instance was created with. An
``instances`` entry overrides the instance file's runtime (and system) properties when its
``version`` is higher: workflows write runtime properties here (engine/storage.py), so a
run that changes thousands of instances rewrites one file every 0.1 s instead of one file
per change; whoever rewrites an instance file (scale) reads it through ``apply`` and writes
a higher version, which then wins.
Why a separate file: install and uninstall move every instance through several states,
and with one file per instance that meant one atomic file replacement per instance per
workflow — the largest single cost of installing 1,000 instances. Here a batch of state
changes, however large, is one atomic write.

Writers hold the ``deployment-<dep>`` lock and read the file fresh before changing it
(``update``); readers take it as it is (``read``), through ``StatesCache`` when they read
often.
"""
from __future__ import annotations

import json
import os
import time
from typing import Iterable

from cfy_local.errors import CorruptRecordError
from cfy_local.store.atomic import atomic_write_bytes, read_json
from cfy_local.store.versioned import SCHEMA_VERSION

class States(dict):
    """``{instance id: state}``, with ``instances``: the runtime-property overrides."""

    def __init__(self, states=(), instances: dict | None = None):
        super().__init__(states)
        self.instances: dict[str, dict] = instances if instances is not None else {}


def read(path: str) -> States:
    """``{instance id: state}`` (``.instances``: property overrides); a missing file has no
    overrides."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        return States()
    states = data.get("states") if isinstance(data, dict) else None
    if not isinstance(states, dict):
        raise CorruptRecordError(f"State file {path} has no `states` map")
    instances = data.get("instances")
    return States(states, instances if isinstance(instances, dict) else {})


def _version(entry: dict | None) -> int:
    try:
        return int((entry or {}).get("version") or 0)
    except (TypeError, ValueError):
        return 0


def update(path: str, changes: dict[str, str | None], *, keep: Iterable[str] | None = None,
           durable: bool = False, instances: dict[str, dict] | None = None,
           cache: "StatesCache | None" = None) -> States:
    """Apply ``changes`` (None removes an entry) and write the file; the caller holds the
    deployment lock. ``instances`` are property overrides, each kept only if its version is
    higher than the one in the file (another run may have written a newer one). With
    ``keep``, entries of instances not in it are dropped (instances removed meanwhile).
    Returns the new map. With ``cache`` (this process's reader of the file), the file is
    parsed only if someone else replaced it since; the cache is primed with the result."""
    if cache is not None:
        known = cache.get()
        states = States(known, dict(known.instances))
    else:
        states = read(path)
    overrides = states.instances
    for instance_id, state in changes.items():
        if state is None:
            states.pop(instance_id, None)
            overrides.pop(instance_id, None)
        else:
            states[instance_id] = state
    for instance_id, entry in (instances or {}).items():
        if _version(entry) > _version(overrides.get(instance_id)):
            overrides[instance_id] = entry
    if keep is not None:
        alive = set(keep)
        states = States({i: state for i, state in states.items() if i in alive},
                        {i: entry for i, entry in overrides.items() if i in alive})
    payload = _encode_document(states, cache)
    if cache is None:
        atomic_write_bytes(path, payload, durable=durable)
        return states
    # Readers of this process that look while the file is being replaced get what is being
    # written — not a re-parse of the whole file (tens of milliseconds with 10,000
    # instances) because its signature changed before ``prime`` recorded it. Nobody else
    # replaces the file meanwhile: writers hold the deployment lock.
    cache.writing = states
    try:
        atomic_write_bytes(path, payload, durable=durable)
        cache.prime(states)
    finally:
        cache.writing = None
    return states


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _encode_document(states: States, cache: "StatesCache | None") -> bytes:
    """The file's bytes — what ``json.dumps`` of the document gives. A writer that keeps a
    cache re-encodes only the property entries that changed since its last write: an entry
    is never changed in place (a change is a new entry of a higher version), so the one
    encoded last time is reused while it is the same object. With 10,000 instances the
    properties were most of every write's time."""
    head = _encode({"schema_version": SCHEMA_VERSION, "states": dict(states)})
    if not states.instances:
        return head.encode("utf-8")
    if cache is None:
        return _encode({"schema_version": SCHEMA_VERSION, "states": dict(states),
                        "instances": states.instances}).encode("utf-8")
    known, fresh = cache.fragments, {}
    parts = []
    for instance_id, entry in states.instances.items():
        cached = known.get(instance_id)
        if cached is not None and cached[0] is entry:
            fragment = cached[1]
        else:
            fragment = (_encode(instance_id) + ":" + _encode(entry)).encode("utf-8")
            cached = (entry, fragment)
        fresh[instance_id] = cached
        parts.append(fragment)
    cache.fragments = fresh  # entries of removed instances go with them
    return b"".join((head[:-1].encode("utf-8"), b',"instances":{', b",".join(parts), b"}}"))


def apply(record: dict, states: dict[str, str]) -> dict:
    """The instance record with its current state and runtime properties (in place;
    returned for convenience)."""
    instance_id = record.get("id")
    state = states.get(instance_id)
    if state is not None:
        record["state"] = state
    override = getattr(states, "instances", None)
    if override:
        entry = override.get(instance_id)
        if entry is not None and _version(entry) > _version(record):
            record["version"] = _version(entry)
            record["runtime_properties"] = entry.get("runtime_properties") or {}
            if "system_properties" in entry:
                record["system_properties"] = entry["system_properties"]
    return record


class StatesCache:
    """``read`` for a reader that asks many times: parsed again only when the file was
    replaced (another inode, size or modification time)."""

    def __init__(self, path: str):
        self.path = path
        self._signature: tuple | None = None
        self._states: States = States()
        # What this process last wrote of each instance's properties: (entry, its JSON).
        self.fragments: dict[str, tuple[dict, bytes]] = {}
        self.writing: States | None = None  # what this process is writing to the file now
        self._checked_at = -1e9  # when the file was last looked at

    def prime(self, states: States) -> None:
        """The file was just written with ``states`` (under the lock): remember it as read."""
        try:
            stat = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return
        self._signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        self._states = states
        self._checked_at = time.monotonic()

    def get(self, max_age: float = 0.0) -> States:
        """The states as the file has them; with ``max_age``, as they were when the file
        was last looked at, if that was less than ``max_age`` seconds ago."""
        writing = self.writing
        if writing is not None:
            return writing
        now = time.monotonic()
        if max_age and now - self._checked_at < max_age:
            return self._states
        self._checked_at = now
        try:
            stat = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            self._signature, self._states = None, States()
            return self._states
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        if signature != self._signature:
            self._states = read(self.path)
            self._signature = signature
        return self._states
