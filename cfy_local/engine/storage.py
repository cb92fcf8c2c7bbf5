"""The engine's view of one deployment's state: its record, nodes and node instances.

Reads the files of docs/state.md directly (the format is the contract between
engineers), because the engine is the hot path. An instance's own file keeps what it was
created with; a run's state changes and runtime-property changes go to one file per
deployment (store/instance_states.py), written by a background thread, so a large install
is a handful of writes, not one per change. A property change is checked against the
instance's ``version`` under the instance's own lock (one byte of the ``deployment-<dep>``
lock file), so two operations writing one instance never silently overwrite each other
while operations writing different instances never wait for each other, and it is
appended to the deployment's journal (``_Journal``) before it is reported done. The
design, and why: docs/state.md, "Runtime properties of running workflows".
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from typing import Any

from cfy_local.dsl.functions import evaluate_stored_nodes
from cfy_local.errors import CorruptRecordError, not_found
from cfy_local.ids import validate_id
from cfy_local.secrets import get_secret_value
from cfy_local.store import instance_states
from cfy_local.store.atomic import FolderReader, read_json
from cfy_local.store.locks import key_lock, lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record


JOURNAL_NAME = "runtime-journal.ndjson"
STATE_FLUSH_INTERVAL = 2.0
SETTLED_WRITE_INTERVAL = 0.1
# A states file of many thousands of instances takes a while to write, and the writer
# shares the interpreter with the run's runner threads: it pauses ten times as long as its
# last write took (at most a tenth of the run's time; at four times, a fifth, the writes
# of a 10,000-instance run made its time grow faster than its size).
WRITE_COST_FACTOR = 10
# How long the list of the deployment's instances (which entries the states file keeps)
# is trusted between two writes of the file; a scale in this process refreshes it at once.
INSTANCE_LIST_MAX_AGE = 1.0
SETTLED_STATES = frozenset({"started", "deleted"})
# How stale a plain read may be about other processes' changes (a write always checks
# afresh under the instance's lock). Each check is a system call, and in a process of
# many threads every system call hands the GIL to another thread and waits to get it
# back: reading an instance cost three of them before.
READ_MAX_AGE = 0.05


class StorageConflictError(Exception):
    """An instance changed on disk since it was read (another operation wrote it).

    Not a NonRecoverableError on purpose: as in Cloudify's local storage, the operation
    is retried and then sees the fresh record.
    """


def plain_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), several times faster than
    ``copy.deepcopy``; anything else is copied the way it would be stored (through JSON)."""
    kind = type(value)
    if kind is dict:
        return {key: plain_copy(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [plain_copy(item) for item in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return json.loads(json.dumps(value, default=str))


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
        # Instance files as last read, keyed by id: (file signature, record, when looked at).
        self._files: dict[str, tuple[tuple, dict, float]] = {}
        # The newest property entry known per instance ({version, runtime_properties,
        # system_properties?}), from the journal (this run's writes and other runs') and
        # the states file; wins over an instance file of a lower version.
        self._newest: dict[str, dict] = {}
        self._dirty_props: set[str] = set()
        self._newest_mutex = threading.Lock()
        self._journal = _Journal(os.path.join(self.home.deployment_dir(deployment_id), JOURNAL_NAME), self)
        self._listed: list[str] = []
        self._listed_at = -1e9
        self.nodes = self._runtime_evaluated(self.nodes)

    def _instance_file(self, instance_id: str) -> str:
        """``Home.node_instance_file``, validated once per id and joined to the folder
        this storage already knows: the hot path reads and writes every instance file at
        least twice per workflow."""
        path = self._instance_paths.get(instance_id)
        if path is None:
            path = os.path.join(self._instances_dir, validate_id(instance_id, "node_instance_id") + ".json")
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

    def _current(self, instance_id: str, *, fresh: bool = True) -> dict:
        """The instance as it is now (shared; callers copy): its file (re-read only when it
        was replaced), overridden by the newest property entry known, newer versions first.
        Not ``fresh``: the file is trusted without a look if it was looked at less than
        READ_MAX_AGE ago."""
        cached = self._files.get(instance_id)
        now = time.monotonic()
        if fresh or cached is None or now - cached[2] >= READ_MAX_AGE:
            path = self._instance_file(instance_id)
            try:
                st = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                self._files.pop(instance_id, None)
                raise not_found("NodeInstance", instance_id) from None
            signature = (st.st_ino, st.st_mtime_ns, st.st_size)
            if cached is None or cached[0] != signature:
                try:
                    record = read_json(path)
                except FileNotFoundError:
                    raise not_found("NodeInstance", instance_id) from None
                entry = self._states.get().instances.get(instance_id)
                if entry is not None:
                    self._remember(instance_id, entry)
            else:
                record = cached[1]
            cached = (signature, record, now)
            self._files[instance_id] = cached
        record = cached[1]
        newest = self._newest.get(instance_id)
        if newest is not None and int(newest.get("version") or 0) > int(record.get("version", 1)):
            merged = dict(record)
            merged["version"] = int(newest["version"])
            merged["runtime_properties"] = newest.get("runtime_properties") or {}
            if "system_properties" in newest:
                merged["system_properties"] = newest["system_properties"]
            return merged
        return record

    def _read_files(self, instance_ids: list[str]) -> None:
        """Read the files of these instances at once (one folder held open, see
        FolderReader), as ``_current`` would read them one by one."""
        try:
            reader = FolderReader(self._instances_dir)
        except FileNotFoundError:
            return
        states = None
        with reader:
            now = time.monotonic()
            for instance_id in instance_ids:
                try:
                    st, record = reader.read_json(instance_id + ".json")
                except FileNotFoundError:
                    self._files.pop(instance_id, None)
                    continue
                if states is None:
                    states = self._states.get()
                entry = states.instances.get(instance_id)
                if entry is not None:
                    self._remember(instance_id, entry)
                self._files[instance_id] = ((st.st_ino, st.st_mtime_ns, st.st_size), record, now)

    def instance_files_changed(self) -> None:
        """Instance files were rewritten outside this storage (a deployment modification):
        plain reads trust the files read last for up to READ_MAX_AGE, so what was cached
        of them is dropped and the next read looks at the files again."""
        self._files.clear()
        self._listed_at = -1e9

    def _instances_to_keep(self) -> list[str]:
        """The instances whose entries a write of the states file keeps: listed again at
        most every INSTANCE_LIST_MAX_AGE (listing 10,000 files for every write was a tenth
        of a large run). An instance another process removed meanwhile may keep its entry
        until the next listing drops it; readers never see it (they list the files)."""
        now = time.monotonic()
        if now - self._listed_at >= INSTANCE_LIST_MAX_AGE:
            self._listed = self.instance_ids()
            self._listed_at = now
        return self._listed

    def _remember(self, instance_id: str, entry: dict) -> bool:
        """Keep ``entry`` if it is newer than what is known; True if it was. Atomic: a
        reader remembering an older entry from a file never replaces a newer write."""
        with self._newest_mutex:
            known = self._newest.get(instance_id)
            if known is not None and int(known.get("version") or 0) >= int(entry.get("version") or 0):
                return False
            self._newest[instance_id] = entry
            return True

    def load_instance(self, instance_id: str) -> dict:
        """The instance record with its current state and runtime properties (a copy the
        caller may change; the properties themselves are shared: copy before changing)."""
        self._journal.catch_up(max_age=READ_MAX_AGE)
        record = dict(self._current(instance_id, fresh=False))
        record["runtime_properties"] = plain_copy(record.get("runtime_properties") or {})
        if "system_properties" in record:
            record["system_properties"] = plain_copy(record["system_properties"])
        state = self._states.get(max_age=READ_MAX_AGE).get(instance_id)
        if state is not None:
            record["state"] = state
        return record

    def load_instances(self) -> list[dict]:
        ids = self.instance_ids()
        self._read_files(ids)
        out = []
        for instance_id in ids:
            try:
                out.append(self.load_instance(instance_id))
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
        """Only that node's instances (ids are ``<node>_<suffix>``), as this run sees them."""
        out = []
        for instance_id in self.instance_ids():
            if not instance_id.startswith(node_id + "_"):
                continue
            try:
                record = self.load_instance(instance_id)
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
    def update_instance(self, instance_id: str, *, expected_version: int | None = None,
                        state: str | None = None, runtime_properties: dict | None = None,
                        system_properties: dict | None = None, on_conflict=None) -> dict:
        """Change one instance; return the new record.

        A property change is checked and recorded under the instance's own lock
        (``key_lock``: an in-process mutex, then one byte of the deployment's lock file
        for other processes), so writes of different instances never wait for each other.
        It is appended to the deployment's journal before this returns (one ``write``: a
        killed worker loses nothing) and reaches the states file, which other commands
        read, within PROPS_WRITE_INTERVAL. With ``expected_version`` the write is refused
        (StorageConflictError) when the instance has another version — as Cloudify's
        storage does — unless ``on_conflict(local, fresh)`` is given, which returns the
        runtime properties to write instead. ``version`` counts property changes; a state
        change goes to the states file (under the deployment-wide lock) and is no conflict.
        """
        if runtime_properties is None and system_properties is None:
            current = self.load_instance(instance_id)
        else:
            with key_lock(self.home.root, self.lock_name, instance_id):
                self._journal.catch_up()
                current = dict(self._current(instance_id))
                version = int(current.get("version", 1))
                if runtime_properties is None or on_conflict is not None:
                    current["runtime_properties"] = plain_copy(current.get("runtime_properties") or {})
                if system_properties is None and "system_properties" in current:
                    current["system_properties"] = plain_copy(current["system_properties"])
                if expected_version is not None and version != expected_version:
                    if on_conflict is None or runtime_properties is None:
                        raise StorageConflictError(
                            f"Node instance `{instance_id}` was changed by another operation while this one "
                            f"ran (read version {expected_version}, now {version}); the operation will be retried"
                        )
                    runtime_properties = on_conflict(runtime_properties, current.get("runtime_properties") or {})
                entry = {"version": version + 1,
                         "runtime_properties": runtime_properties if runtime_properties is not None
                         else current.get("runtime_properties") or {}}
                if system_properties is not None or "system_properties" in current:
                    entry["system_properties"] = system_properties if system_properties is not None \
                        else current.get("system_properties")
                # Encoded now: the journal line is the durable copy, and the caller may
                # change its dicts once this returns.
                line = json.dumps({"id": instance_id, **entry}, separators=(",", ":"), default=str)
                self._journal.append(instance_id, line)
                self._remember(instance_id, plain_copy(entry))
                current.update(entry)  # the caller's own dicts, not the remembered copy
            self._props_changed(instance_id)
            state_now = self._states.get(max_age=READ_MAX_AGE).get(instance_id)
            if state_now is not None:
                current["state"] = state_now
        if state is not None:
            with lock(self.home.root, self.lock_name):
                instance_states.update(self._states_path, {instance_id: state})
            current["state"] = state
        return current

    def _props_changed(self, instance_id: str) -> None:
        with self._write_mutex:
            self._dirty_props.add(instance_id)
            if self._flusher is None:
                self._flusher = _StateFlusher(self)
            flusher = self._flusher
        flusher.props_changed()

    def _take_dirty_props(self) -> dict[str, dict]:
        with self._write_mutex:
            dirty, self._dirty_props = self._dirty_props, set()
        return {i: self._newest[i] for i in dirty if i in self._newest}

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

    def flush_props(self) -> None:
        """Write buffered runtime properties to the states file now (for readers of the
        files in this process, such as intrinsic functions), if any are buffered."""
        if self._dirty_props:
            self.flush_states()

    def close(self) -> None:
        """Write what is buffered; when no other run of the deployment is writing, fold the
        journal into the states file (fsynced) and empty it."""
        try:
            if self._flusher is not None:
                self._flusher.close()
                self._flusher = None
        finally:
            self._journal.close()

    def _write_states(self, batch: dict[str, str], *, durable: bool = False) -> None:
        # One write however large the batch; instances removed meanwhile (scale in) are
        # dropped from the map rather than recorded. Property entries are merged by
        # version (a parallel run may have written a newer one).
        props = self._take_dirty_props()
        if not batch and not props and not durable:
            return
        try:
            with lock(self.home.root, self.lock_name):
                # Nobody replaces the file while we hold the lock: what this run wrote last
                # is what a re-read would parse, so it is parsed again only when another
                # process wrote it since.
                instance_states.update(self._states_path, batch, keep=self._instances_to_keep(), instances=props,
                                       durable=durable, cache=self._states)
        except BaseException:
            with self._write_mutex:
                self._dirty_props.update(props)
            raise

    # -- plan helpers -------------------------------------------------------------
    def node_map(self) -> dict[str, dict]:
        return {node["id"]: node for node in self.nodes}

    @property
    def resources_dir(self) -> str:
        folder = self.deployment.get("resources_dir")
        if folder:
            return folder
        return self.home.blueprint_resources(self.deployment["blueprint_id"])


class _Journal:
    """``deployments/<dep>/runtime-journal.ndjson``: every runtime-property change of the
    runs of a deployment, one JSON line each (``{id, version, runtime_properties,
    system_properties?}``), appended with ``O_APPEND`` before the change is reported done.

    Why: replacing a file costs a create and a rename (about 0.3 ms here, mostly kernel
    time), an append about half a microsecond. The journal is the durable record of each
    change the moment it is made; the states file gets the newest entry of every changed
    instance within PROPS_WRITE_INTERVAL (what other commands read). Runs of the same
    deployment (``--force``) read each other's lines before every version check
    (``catch_up``), so a stale write is refused across processes too. A run that opens
    the deployment replays a journal left behind (a killed worker), and the last run to
    close folds it into the states file and empties it. Every run holds a shared
    ``flock`` on the journal while open; emptying takes it exclusively.
    """

    def __init__(self, path: str, storage: "DeploymentStorage"):
        self.path = path
        self.storage = storage
        self.mutex = threading.Lock()
        self.fd = -1
        self.offset = 0  # bytes of the journal already applied
        self.seen: set[str] = set()  # instances with a journal line
        self.checked_at = -1e9  # when catch_up last looked at the journal's size

    def _open(self) -> bool:
        """Open the journal (False when the deployment's folder is gone: nothing to read)."""
        if self.fd >= 0:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self._read_tail()  # lines a killed run left, or a parallel run's
        return True

    def _read_tail(self) -> None:
        """Apply the lines appended since ``offset`` (caller holds the mutex)."""
        size = os.fstat(self.fd).st_size
        if size <= self.offset:
            if size < self.offset:  # emptied by a run that closed: nothing new to apply
                self.offset = size
            return
        data = os.pread(self.fd, size - self.offset, self.offset)
        end = data.rfind(b"\n")
        if end < 0:
            return  # a line being written: read it whole next time
        storage = self.storage
        for raw in data[:end].split(b"\n"):
            if not raw:
                continue
            start = raw.rfind(b'{"id":')
            if start < 0:
                continue
            try:
                entry = json.loads(raw[start:])
                instance_id = entry.pop("id")
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # the torn end of a line a killed writer left
            self.seen.add(instance_id)
            if storage._remember(instance_id, entry):
                with storage._write_mutex:
                    storage._dirty_props.add(instance_id)
        self.offset += end + 1

    def catch_up(self, max_age: float = 0.0) -> None:
        """Apply what other processes appended. ``max_age``: not if that was checked less
        than that many seconds ago (plain reads; a version check passes 0)."""
        now = time.monotonic()
        if max_age and now - self.checked_at < max_age:
            return
        self.checked_at = now
        if self.fd >= 0 and os.fstat(self.fd).st_size == self.offset:
            return  # nothing appended since (checked again under the mutex otherwise)
        with self.mutex:
            if self._open() and os.fstat(self.fd).st_size != self.offset:
                self._read_tail()

    def append(self, instance_id: str, line: str) -> None:
        data = (line + "\n").encode("utf-8")
        with self.mutex:
            if not self._open():
                raise not_found("NodeInstance", instance_id)  # the deployment was deleted
            # No look for other processes' lines first: the caller caught up under the
            # instance's lock, and lines appended since are read at the next catch_up.
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
            end = os.lseek(self.fd, 0, os.SEEK_CUR)
            if end - len(data) == self.offset:
                self.offset = end  # nobody appended in between: our own line needs no reading
            self.seen.add(instance_id)

    def close(self) -> None:
        with self.mutex:
            if self.fd < 0:
                return
            fd = self.fd
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another run of this deployment is writing: it folds the journal
                self._read_tail()
                storage = self.storage
                entries = {i: storage._newest[i] for i in self.seen if i in storage._newest}
                if entries or os.fstat(fd).st_size:
                    with lock(storage.home.root, storage.lock_name):
                        instance_states.update(storage._states_path, {}, keep=storage.instance_ids(),
                                               instances=entries, durable=True)
                    os.ftruncate(fd, 0)
                    self.offset = 0
            finally:
                self.fd = -1
                os.close(fd)


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
        self.props_pending = False  # runtime properties changed: due like a settled state
        self.cond = threading.Condition()
        self.busy = False
        # What the writer is waiting for: None (not waiting), "idle" (nothing pending),
        # "intermediate" (the STATE_FLUSH_INTERVAL deadline), "settled" (the short
        # SETTLED_WRITE_INTERVAL pause between two writes).
        self.wait_kind: str | None = None
        self.last_write = 0.0
        self.write_seconds = 0.0  # how long the last write took
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

    def props_changed(self) -> None:
        with self.cond:
            if not self.props_pending:
                self.props_pending = True
                if self.wait_kind in ("idle", "intermediate"):
                    self.cond.notify_all()

    deadline: float | None = None

    def _next_batch(self) -> dict[str, str] | None:
        """Wait for work; None when stopping with nothing left (called under cond)."""
        while True:
            if self.flush_requested or self.stopping:
                if not self.pending and not self.props_pending:
                    self.flush_requested = False
                    if self.stopping:
                        return None
                    self.cond.notify_all()
                    self._wait(None, "idle")
                    continue
                batch, self.pending = self.pending, {}
                self.urgent.clear()
                self.props_pending = False
                self.deadline = None
                self.flush_requested = False
                return batch
            if self.urgent or self.props_pending:
                pause = max(SETTLED_WRITE_INTERVAL, WRITE_COST_FACTOR * self.write_seconds)
                left = self.last_write + pause - time.monotonic()
                if left > 0:
                    self._wait(left, "settled")
                    continue
                batch = {i: self.pending.pop(i) for i in self.urgent if i in self.pending}
                self.urgent.clear()
                if batch or self.props_pending:
                    self.props_pending = False
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
            began = time.monotonic()
            try:
                self.storage._write_states(batch)
            except BaseException as exc:  # noqa: BLE001 - reported by flush()
                self.error = exc
            finally:
                with self.cond:
                    self.busy = False
                    self.last_write = time.monotonic()
                    self.write_seconds = self.last_write - began
                    self.cond.notify_all()

    def flush(self) -> None:
        with self.cond:
            while self.pending or self.props_pending or self.busy:
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
