"""The engine's view of one deployment's state: its record, nodes and node instances.

Reads the files of docs/state.md directly (the format is the contract between
engineers), because the engine is the hot path. Instance properties live in one file per
instance; instance states in one file per deployment (store/instance_states.py), so the
state changes of a large install are a handful of writes, not one per instance. Every
write happens under the ``deployment-<dep>`` lock, is atomic, and property writes check
the record's ``version`` so that two operations writing one instance cannot silently
overwrite each other.
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from cfy_local.dsl.functions import evaluate_stored_nodes
from cfy_local.errors import CorruptRecordError, not_found
from cfy_local.secrets import get_secret_value
from cfy_local.store import instance_states
from cfy_local.store.atomic import atomic_write_bytes, read_json
from cfy_local.store.locks import lock
from cfy_local.store.paths import Home
from cfy_local.store.records import SCHEMA_VERSION, load_record


STATE_FLUSH_INTERVAL = 2.0
SETTLED_WRITE_INTERVAL = 0.1
SETTLED_STATES = frozenset({"started", "deleted"})


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
        self._flusher: _StateFlusher | None = None
        try:
            self.deployment = load_record(self.home.deployment_file(deployment_id), "deployment")
        except FileNotFoundError:
            raise not_found("Deployment", deployment_id) from None
        self.nodes = self._load_nodes()
        self._instances_dir = self.home.node_instances_dir(deployment_id)
        self._instance_paths: dict[str, str] = {}
        self._states_path = self.home.instance_states_file(deployment_id)
        self._states = instance_states.StatesCache(self._states_path)
        self.nodes = self._runtime_evaluated(self.nodes)

    def _instance_file(self, instance_id: str) -> str:
        """``Home.node_instance_file``, validated once per id: the hot path reads and
        writes every instance file at least twice per workflow."""
        path = self._instance_paths.get(instance_id)
        if path is None:
            path = self.home.node_instance_file(self.deployment_id, instance_id)
            self._instance_paths[instance_id] = path
        return path

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
        self.nodes = self._runtime_evaluated(self._load_nodes())
        return self.nodes

    def _runtime_evaluated(self, nodes: list[dict]) -> list[dict]:
        """Nodes as the run sees them: a runtime-only deployment's properties are stored
        unevaluated and read evaluated, once per run (and again after a scale)."""
        if not self.deployment.get("runtime_only_evaluation"):
            return nodes
        self.nodes = nodes
        return evaluate_stored_nodes(self)

    def instance_ids(self) -> list[str]:
        try:
            names = os.listdir(self._instances_dir)
        except FileNotFoundError:
            return []
        return sorted(name[:-5] for name in names if name.endswith(".json") and not name.startswith("."))

    def _load_file(self, instance_id: str) -> dict:
        try:
            return read_json(self._instance_file(instance_id))
        except FileNotFoundError:
            raise not_found("NodeInstance", instance_id) from None

    def load_instance(self, instance_id: str) -> dict:
        """The instance record with its current state (store/instance_states.py)."""
        return instance_states.apply(self._load_file(instance_id), self._states.get())

    def load_instances(self) -> list[dict]:
        states = self._states.get()
        out = []
        for instance_id in self.instance_ids():
            try:
                out.append(instance_states.apply(self._load_file(instance_id), states))
            except Exception as exc:  # noqa: BLE001 - a vanished file between scan and read
                if getattr(exc, "message", "").startswith("Requested `NodeInstance`"):
                    continue
                raise
        out.sort(key=lambda inst: (inst.get("node_id", ""), inst.get("index", 0), inst["id"]))
        return out

    # -- what runtime evaluation of intrinsic functions reads (dsl.functions.DeploymentData)
    def instance(self, instance_id: str) -> dict:
        return self.load_instance(instance_id)

    def instances_of(self, node_id: str) -> list[dict]:
        """Only that node's files (ids are ``<node>_<suffix>``), with their current states."""
        states = self._states.get()
        out = []
        for instance_id in self.instance_ids():
            if not instance_id.startswith(node_id + "_"):
                continue
            try:
                record = instance_states.apply(self._load_file(instance_id), states)
            except Exception as exc:  # noqa: BLE001 - a vanished file between scan and read
                if getattr(exc, "message", "").startswith("Requested `NodeInstance`"):
                    continue
                raise
            if record.get("node_id") == node_id:
                out.append(record)
        return out

    def secret(self, key: str) -> Any:
        return get_secret_value(self.home, key)

    # -- writing -------------------------------------------------------------------
    def _write(self, record: dict) -> None:
        record["schema_version"] = SCHEMA_VERSION
        data = json.dumps(record, separators=(",", ":"), default=str).encode("utf-8")
        # The hot path: atomic always, not fsynced (a crash loses at most the latest
        # runtime values, never leaves a half-written record).
        atomic_write_bytes(self._instance_file(record["id"]), data, durable=False, folder_exists=True)

    def update_instance(self, instance_id: str, *, expected_version: int | None = None,
                        state: str | None = None, runtime_properties: dict | None = None,
                        system_properties: dict | None = None, on_conflict=None,
                        read_runtime_properties: dict | None = None) -> dict:
        """Change one instance under the deployment lock; return the new record.

        With ``expected_version`` the write is refused (StorageConflictError) when the
        record on disk has another version and its runtime properties are not the ones
        this writer read (``read_runtime_properties``) unless ``on_conflict(local, fresh)``
        is given, which returns the runtime properties to write instead. ``version`` counts
        changes of the instance's own file (properties); a state change goes to the
        deployment's states file and is no conflict.
        """
        with lock(self.home.root, self.lock_name):
            current = self.load_instance(instance_id)
            version = int(current.get("version", 1))
            if (expected_version is not None and version != expected_version
                    and (read_runtime_properties is None
                         or current.get("runtime_properties") != read_runtime_properties)):
                if on_conflict is None or runtime_properties is None:
                    raise StorageConflictError(
                        f"Node instance `{instance_id}` was changed by another operation while this one ran "
                        f"(read version {expected_version}, now {version}); the operation will be retried"
                    )
                runtime_properties = on_conflict(runtime_properties, current.get("runtime_properties") or {})
            if runtime_properties is not None or system_properties is not None:
                if runtime_properties is not None:
                    current["runtime_properties"] = runtime_properties
                if system_properties is not None:
                    current["system_properties"] = system_properties
                current["version"] = version + 1
                self._write(current)
            if state is not None:
                instance_states.update(self._states_path, {instance_id: state})
                current["state"] = state
            return current

    def set_state(self, instance_id: str, state: str) -> dict:
        """Workflow-side state change, written now: no version check (as Cloudify)."""
        self.flush_states()
        return self.update_instance(instance_id, state=state)

    # -- buffered state changes (the hot path of install/uninstall) ----------------------
    def set_state_soon(self, instance_id: str, state: str) -> None:
        """Record a state change; a background thread writes it shortly after.

        Install sets seven states per instance: the writer coalesces the changes made while
        it was busy into one write of the deployment's states file: ``started``/``deleted``
        within SETTLED_WRITE_INTERVAL, intermediate states at most every
        STATE_FLUSH_INTERVAL seconds.
        ``flush_states`` waits until everything recorded so far is on disk (graph end,
        refresh, run end).
        """
        flusher = self._flusher
        if flusher is None:
            with self._write_mutex:
                if self._flusher is None:
                    self._flusher = _StateFlusher(self)
                flusher = self._flusher
        flusher.put(instance_id, state)

    def flush_states(self) -> None:
        if self._flusher is not None:
            self._flusher.flush()

    def close(self) -> None:
        if self._flusher is not None:
            self._flusher.close()
            self._flusher = None

    def _write_states(self, batch: dict[str, str]) -> None:
        # One write however large the batch; instances removed meanwhile (scale in) are
        # dropped from the map rather than recorded.
        with lock(self.home.root, self.lock_name):
            instance_states.update(self._states_path, batch, keep=self.instance_ids())

    # -- plan helpers -------------------------------------------------------------
    def node_map(self) -> dict[str, dict]:
        return {node["id"]: node for node in self.nodes}

    @property
    def resources_dir(self) -> str:
        folder = self.deployment.get("resources_dir")
        if folder:
            return folder
        return self.home.blueprint_resources(self.deployment["blueprint_id"])


class _StateFlusher:
    """Background writer of buffered instance states (one thread per run).

    A state that ends a lifecycle (``started``, ``deleted``) is written within
    SETTLED_WRITE_INTERVAL — it will not change again in this workflow, and instances that
    finish together share one write; intermediate ones (``creating``, ``stopping``, …) are
    written at most every STATE_FLUSH_INTERVAL seconds, and are usually superseded before
    that, which saves most writes of a large install.
    """

    def __init__(self, storage: DeploymentStorage):
        self.storage = storage
        self.pending: dict[str, str] = {}
        self.urgent: set[str] = set()
        self.cond = threading.Condition()
        self.busy = False
        # What the writer is waiting for: None (not waiting), "idle" (nothing pending),
        # "intermediate" (the STATE_FLUSH_INTERVAL deadline), "settled" (the short
        # SETTLED_WRITE_INTERVAL pause between two writes).
        self.wait_kind: str | None = None
        self.last_write = 0.0
        self.stopping = False
        self.flush_requested = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="cfy-state-writer", daemon=True)
        self.thread.start()

    def put(self, instance_id: str, state: str) -> None:
        with self.cond:
            self.pending[instance_id] = state
            # Wake the writer only when this state is due sooner than what it waits for:
            # a thread switch per state change would cost more than the writes it saves.
            if state in SETTLED_STATES:
                self.urgent.add(instance_id)
                if self.wait_kind in ("idle", "intermediate"):
                    self.cond.notify_all()
            elif self.wait_kind == "idle":
                self.cond.notify_all()

    deadline: float | None = None

    def _next_batch(self) -> dict[str, str] | None:
        """Wait for work; None when stopping with nothing left (called under cond)."""
        while True:
            if self.flush_requested or self.stopping:
                if not self.pending:
                    self.flush_requested = False
                    if self.stopping:
                        return None
                    self.cond.notify_all()
                    self._wait(None, "idle")
                    continue
                batch, self.pending = self.pending, {}
                self.urgent.clear()
                self.deadline = None
                self.flush_requested = False
                return batch
            if self.urgent:
                left = self.last_write + SETTLED_WRITE_INTERVAL - time.monotonic()
                if left > 0:
                    self._wait(left, "settled")
                    continue
                batch = {i: self.pending.pop(i) for i in self.urgent if i in self.pending}
                self.urgent.clear()
                if batch:
                    return batch
                continue
            if self.pending:
                now = time.monotonic()
                if self.deadline is None:
                    self.deadline = now + STATE_FLUSH_INTERVAL
                if now >= self.deadline:
                    batch, self.pending = self.pending, {}
                    self.deadline = None
                    return batch
                self._wait(self.deadline - now, "intermediate")
            else:
                self.deadline = None
                self._wait(None, "idle")

    def _wait(self, timeout: float | None, kind: str) -> None:
        self.wait_kind = kind
        try:
            self.cond.wait(timeout)
        finally:
            self.wait_kind = None

    def _loop(self) -> None:
        while True:
            with self.cond:
                batch = self._next_batch()
                if batch is None:
                    return
                self.busy = True
            try:
                self.storage._write_states(batch)
            except BaseException as exc:  # noqa: BLE001 - reported by flush()
                self.error = exc
            finally:
                with self.cond:
                    self.busy = False
                    self.last_write = time.monotonic()
                    self.cond.notify_all()

    def flush(self) -> None:
        with self.cond:
            while self.pending or self.busy:
                self.flush_requested = True
                self.cond.notify_all()
                self.cond.wait(0.05)
            error, self.error = self.error, None
        if error is not None:
            raise error

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with self.cond:
                self.stopping = True
                self.cond.notify_all()
            self.thread.join(timeout=10)
