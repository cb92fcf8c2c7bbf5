"""The engine's view of one deployment's state: its record, nodes and node instances.

Reads the files of docs/state.md directly (the format is the contract between
engineers), because the engine is the hot path: an install of 1,000 instances writes
several thousand instance records. Every instance write happens under the
``deployment-<dep>`` lock, is atomic, and checks the record's ``version`` so that two
operations writing one instance cannot silently overwrite each other.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any

from cfy_local.errors import CorruptRecordError, not_found
from cfy_local.store.atomic import atomic_write_bytes, read_json
from cfy_local.store.locks import lock
from cfy_local.store.paths import Home
from cfy_local.store.records import SCHEMA_VERSION, load_record


class StorageConflictError(Exception):
    """An instance changed on disk since it was read (another operation wrote it).

    Not a NonRecoverableError on purpose: as in Cloudify's local storage, the operation
    is retried and then sees the fresh record.
    """


def as_home(home: Any) -> Home:
    return home if isinstance(home, Home) else Home(os.path.abspath(str(home)))


class DeploymentStorage:
    """Deployment, nodes and node instances of one deployment, for one workflow run."""

    def __init__(self, home: Any, deployment_id: str):
        self.home = as_home(home)
        self.deployment_id = deployment_id
        self.lock_name = f"deployment-{deployment_id}"
        self._write_mutex = threading.Lock()
        try:
            self.deployment = load_record(self.home.deployment_file(deployment_id), "deployment")
        except FileNotFoundError:
            raise not_found("Deployment", deployment_id) from None
        self.nodes = self._load_nodes()

    # -- reading -------------------------------------------------------------------
    def _load_nodes(self) -> list[dict]:
        try:
            data = load_record(self.home.nodes_file(self.deployment_id), "nodes")
        except FileNotFoundError:
            raise CorruptRecordError(
                f"Deployment `{self.deployment_id}` has no nodes file ({self.home.nodes_file(self.deployment_id)})"
            ) from None
        nodes = data.get("nodes")
        if not isinstance(nodes, list):
            raise CorruptRecordError(f"State file {self.home.nodes_file(self.deployment_id)} has no `nodes` list")
        return nodes

    def reload_nodes(self) -> list[dict]:
        self.nodes = self._load_nodes()
        return self.nodes

    def instance_ids(self) -> list[str]:
        folder = self.home.node_instances_dir(self.deployment_id)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        return sorted(name[:-5] for name in names if name.endswith(".json") and not name.startswith("."))

    def load_instance(self, instance_id: str) -> dict:
        try:
            return read_json(self.home.node_instance_file(self.deployment_id, instance_id))
        except FileNotFoundError:
            raise not_found("NodeInstance", instance_id) from None

    def load_instances(self) -> list[dict]:
        out = []
        for instance_id in self.instance_ids():
            try:
                out.append(self.load_instance(instance_id))
            except Exception as exc:  # noqa: BLE001 - a vanished file between scan and read
                if getattr(exc, "message", "").startswith("Requested `NodeInstance`"):
                    continue
                raise
        out.sort(key=lambda inst: (inst.get("node_id", ""), inst.get("index", 0), inst["id"]))
        return out

    # -- writing -------------------------------------------------------------------
    def _write(self, record: dict) -> None:
        record["schema_version"] = SCHEMA_VERSION
        data = json.dumps(record, separators=(",", ":"), default=str).encode("utf-8")
        # The hot path: atomic always, not fsynced (a crash loses at most the latest
        # runtime values, never leaves a half-written record).
        atomic_write_bytes(self.home.node_instance_file(self.deployment_id, record["id"]), data, durable=False)

    def update_instance(self, instance_id: str, *, expected_version: int | None = None,
                        state: str | None = None, runtime_properties: dict | None = None,
                        system_properties: dict | None = None, on_conflict=None) -> dict:
        """Change one instance under the deployment lock; return the new record.

        With ``expected_version`` the write is refused (StorageConflictError) when the
        record on disk has another version, unless ``on_conflict(local, fresh)`` is given,
        which returns the runtime properties to write instead.
        """
        with lock(self.home.root, self.lock_name):
            current = self.load_instance(instance_id)
            version = int(current.get("version", 1))
            if expected_version is not None and version != expected_version:
                if on_conflict is None or runtime_properties is None:
                    raise StorageConflictError(
                        f"Node instance `{instance_id}` was changed by another operation while this one ran "
                        f"(read version {expected_version}, now {version}); the operation will be retried"
                    )
                runtime_properties = on_conflict(runtime_properties, current.get("runtime_properties") or {})
            if state is not None:
                current["state"] = state
            if runtime_properties is not None:
                current["runtime_properties"] = runtime_properties
            if system_properties is not None:
                current["system_properties"] = system_properties
            current["version"] = version + 1
            self._write(current)
            return current

    def set_state(self, instance_id: str, state: str) -> dict:
        """Workflow-side state change: no version check (as Cloudify), still bumps it."""
        return self.update_instance(instance_id, state=state)

    # -- plan helpers -------------------------------------------------------------
    def node_map(self) -> dict[str, dict]:
        return {node["id"]: node for node in self.nodes}

    @property
    def resources_dir(self) -> str:
        folder = self.deployment.get("resources_dir")
        if folder:
            return folder
        return self.home.blueprint_resources(self.deployment["blueprint_id"])
