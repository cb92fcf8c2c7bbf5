"""The lifecycle states of a deployment's node instances: one file per deployment.

``deployments/<dep>/instance-states.json`` (``Home.instance_states_file``)::

    {"schema_version": 1, "states": {"<instance id>": "<state>", ...}}

A state here overrides the ``state`` field of the instance's own file
(``node-instances/<id>.json``), which keeps the state the instance was created with.
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
from typing import Iterable

from cfy_local.errors import CorruptRecordError
from cfy_local.store.atomic import atomic_write_bytes, read_json
from cfy_local.store.records import SCHEMA_VERSION

def read(path: str) -> dict[str, str]:
    """``{instance id: state}``; a missing file has no overrides."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        return {}
    states = data.get("states") if isinstance(data, dict) else None
    if not isinstance(states, dict):
        raise CorruptRecordError(f"State file {path} has no `states` map")
    return states


def update(path: str, changes: dict[str, str | None], *, keep: Iterable[str] | None = None,
           durable: bool = False) -> dict[str, str]:
    """Apply ``changes`` (None removes an entry) and write the file; the caller holds the
    deployment lock. With ``keep``, entries of instances not in it are dropped (instances
    removed meanwhile). Returns the new map."""
    states = read(path)
    for instance_id, state in changes.items():
        if state is None:
            states.pop(instance_id, None)
        else:
            states[instance_id] = state
    if keep is not None:
        alive = set(keep)
        states = {instance_id: state for instance_id, state in states.items() if instance_id in alive}
    payload = json.dumps({"schema_version": SCHEMA_VERSION, "states": states}, separators=(",", ":"))
    atomic_write_bytes(path, payload.encode("utf-8"), durable=durable)
    return states


def apply(record: dict, states: dict[str, str]) -> dict:
    """The instance record with its current state (in place; returned for convenience)."""
    state = states.get(record.get("id"))
    if state is not None:
        record["state"] = state
    return record


class StatesCache:
    """``read`` for a reader that asks many times: parsed again only when the file was
    replaced (another inode, size or modification time)."""

    def __init__(self, path: str):
        self.path = path
        self._signature: tuple | None = None
        self._states: dict[str, str] = {}

    def get(self) -> dict[str, str]:
        try:
            stat = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            self._signature, self._states = None, {}
            return self._states
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        if signature != self._signature:
            self._states = read(self.path)
            self._signature = signature
        return self._states
