"""What the TUI shows, computed from the state dir without textual (so benches and tests can
drive it headless).

The executions table must stay cheap with 10,000 records: :class:`ExecutionIndex` keeps the
records it has read and, on every tick, only stats the ``executions/`` folder and re-reads
the files whose (mtime, size, inode) changed. Files are replaced atomically by writers, so a
read sees an old or a new record; a file that vanished or cannot be parsed keeps its last
good version until the next tick. No lock is taken: readers never block workers.
"""
from __future__ import annotations

import functools
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from datetime import datetime
from typing import Any, Callable, Iterable, NamedTuple

from cfy_local import clock
from cfy_local.errors import CfyLocalError
from cfy_local.executions import insight, statuses
from cfy_local.executions.statuses import Status
from cfy_local.store.event_log import read_from
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record
from cfy_local.timefmt import parse_iso

# Workflows recorded for deployment create/delete: hidden unless asked for, as in
# `cfy executions list` without --include-system-workflows.
ENVIRONMENT_WORKFLOWS = frozenset({"create_deployment_environment", "delete_deployment_environment"})

# Status filters on the number keys: name -> statuses shown (None = every status).
STATUS_FILTERS: dict[str, frozenset[Status] | None] = {
    "all": None,
    "active": frozenset(statuses.ACTIVE_STATES),
    "queued": frozenset(statuses.WAITING_STATES),
    "failed": frozenset({Status.FAILED}),
}

# Sort columns, in the order the sort key cycles through them.
SORT_COLUMNS = ("created_at", "started_at", "status", "deployment_id", "workflow_id", "duration")


def status_class(status: str) -> str:
    """The colour class of a status: ok / failed / cancelled / active / waiting."""
    if status == Status.TERMINATED:
        return "ok"
    if status == Status.FAILED:
        return "failed"
    if status == Status.CANCELLED or status in statuses.CANCELLING_STATES:
        return "cancelled"
    if status in statuses.WAITING_STATES:
        return "waiting"
    return "active"


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return _parse_cached(value)


@functools.lru_cache(maxsize=1 << 16)
def _parse_cached(value: str) -> datetime | None:
    # Sorting 10,000 rows by duration parses every start/end time on each tick: memoised.
    try:
        return parse_iso(value)
    except ValueError:
        return None


def duration_seconds(record: dict[str, Any], now: datetime) -> float | None:
    """Run time: started → ended, or started → now while the run is still going."""
    started = _parse(record.get("started_at"))
    if started is None:
        return None
    ended = _parse(record.get("ended_at"))
    return max(0.0, ((ended or now) - started).total_seconds())


def format_duration(seconds: float | None) -> str:
    """``420ms`` for sub-second runs (``0s`` said nothing), ``4.2s``, ``3m05s``, ``2h10m``."""
    return insight.format_seconds(seconds)


def short_time(value: str | None, *, with_date: bool = True) -> str:
    """A stored UTC timestamp as tables print it, to the second (``2026-11-27 16:08:01``)."""
    if not value:
        return ""
    text = value.replace("T", " ").rstrip("Z")[:19]
    return text if with_date else text[5:]


# Writers replace record files by renaming into executions/, which updates the folder's
# mtime: an unchanged folder mtime means no record changed, so an idle tick costs one stat.
# Trust it only when that mtime is comfortably in the past (timestamps are coarse, and a
# write in the same clock tick as the last scan would not move it), and rescan fully every
# FULL_RESCAN_EVERY seconds anyway to catch a file edited in place by hand.
QUIET_FOLDER_AGE = 2.0
# Ended executions only change by an atomic rewrite (resume, delete): their inode is enough.
_SETTLED = frozenset(s.value for s in statuses.END_STATES)
FULL_RESCAN_EVERY = 10.0


@dataclass
class _Entry:
    signature: tuple[int, int, int]
    record: dict[str, Any]


class ExecutionIndex:
    """Execution records kept in memory and refreshed from a stat scan of ``executions/``."""

    def __init__(self, home: Home):
        self.home = home
        self._entries: dict[str, _Entry] = {}
        self._graph_signatures: dict[str, tuple[int, int]] = {}
        self._progress: dict[str, tuple[int, int]] = {}
        self._failed: dict[str, tuple[dict, int]] = {}
        self.unreadable: dict[str, str] = {}  # id -> error text of a file that cannot be read
        self._folder_mtime: int | None = None
        self._settled_inodes: dict[str, int] = {}  # file name -> inode of an ended record
        self._last_full_scan = float("-inf")

    def get(self, execution_id: str) -> dict[str, Any] | None:
        entry = self._entries.get(execution_id)
        return entry.record if entry else None

    def __len__(self) -> int:
        return len(self._entries)

    def values(self) -> Iterable[dict[str, Any]]:
        return (entry.record for entry in self._entries.values())

    def refresh(self) -> set[str]:
        """Re-read the records that changed. Returns ids added, changed or gone.

        Every tick lists the folder (names and inodes, no stat): a writer's atomic replace
        gives the file a new inode, so a new inode means a new version. Records that can
        still change (not ended) are also stat-ed for a full (mtime, size, inode) check, and
        every FULL_RESCAN_EVERY seconds every file is, which also catches hand edits in place.
        """
        changed: set[str] = set()
        try:
            folder_mtime = os.stat(self.home.executions_dir).st_mtime_ns
        except FileNotFoundError:
            folder_mtime = None
        full = time.monotonic() - self._last_full_scan >= FULL_RESCAN_EVERY
        if (not full and folder_mtime is not None and folder_mtime == self._folder_mtime
                and time.time() - folder_mtime / 1e9 > QUIET_FOLDER_AGE):
            return changed
        self._folder_mtime = folder_mtime
        if full:
            self._last_full_scan = time.monotonic()
        entries = self._entries
        try:
            with os.scandir(self.home.executions_dir) as scan:
                listing = list(scan)
        except FileNotFoundError:
            listing = []
        # Settled records whose inode is unchanged are skipped in C-speed comprehensions;
        # only the rest (new, replaced, still running, or all on a full scan) are looked at.
        settled = {} if full else self._settled_inodes
        candidates = [d for d in listing if settled.get(d.name) != d.inode()]
        present = {d.name[:-5] for d in listing if d.name.endswith(".json") and not d.name.startswith(".")}
        for dirent in candidates:
            name = dirent.name
            if not name.endswith(".json") or name.startswith("."):
                continue
            execution_id = name[:-5]
            entry = entries.get(execution_id)
            try:
                st = dirent.stat(follow_symlinks=False)
            except FileNotFoundError:
                present.discard(execution_id)
                continue
            signature = (st.st_mtime_ns, st.st_size, st.st_ino)
            if entry is None or entry.signature != signature:
                outcome = self._load(execution_id, dirent.path, signature)
                if outcome == "loaded":
                    changed.add(execution_id)
                elif outcome == "gone":
                    present.discard(execution_id)
                    continue
            entry = entries.get(execution_id)
            if entry is not None and entry.record["status"] in _SETTLED:
                self._settled_inodes[name] = entry.signature[2]
            else:
                self._settled_inodes.pop(name, None)
        for gone in set(entries) - present:
            del entries[gone]
            self._settled_inodes.pop(gone + ".json", None)
            self._progress.pop(gone, None)
            self._graph_signatures.pop(gone, None)
            changed.add(gone)
        for gone in set(self.unreadable) - present:
            del self.unreadable[gone]
        return changed

    def _load(self, execution_id: str, path: str, signature: tuple[int, int, int]) -> str:
        """"loaded", "gone" (deleted since the scan) or "unreadable" (last good version kept)."""
        try:
            record = load_record(path, "execution")
        except FileNotFoundError:
            return "gone"
        except CfyLocalError as exc:
            self.unreadable[execution_id] = str(exc)
            return "unreadable"
        self.unreadable.pop(execution_id, None)
        self._entries[execution_id] = _Entry(signature, record)
        return "loaded"

    def failed_operations(self, record: dict[str, Any]) -> int:
        """Operations that failed for good in a failed run (from its graph.json; read once
        per version of the record, and only for the rows drawn)."""
        if record.get("status") != Status.FAILED.value:
            return 0
        cached = self._failed.get(record["id"])
        if cached is not None and cached[0] is record:
            return cached[1]
        graph = insight.load_graph(self.home, record["id"])
        count = sum(1 for op in (graph.get("operations") or {}).values()
                    if isinstance(op, dict) and op.get("state") == "failed")
        self._failed[record["id"]] = (record, count)
        return count

    def progress(self, record: dict[str, Any]) -> tuple[int, int] | None:
        """(total, finished) operations: live from graph.json while a run is active, from the
        record once it has ended. None when nothing is known yet."""
        execution_id = record["id"]
        if statuses.is_end(record["status"]) or record["status"] in statuses.WAITING_STATES:
            total, finished = record.get("total_operations"), record.get("finished_operations")
            if total is None:
                return self._progress.get(execution_id)
            return int(total), int(finished or 0)
        try:
            st = os.stat(self.home.graph_file(execution_id), follow_symlinks=False)
        except (FileNotFoundError, CfyLocalError):
            return self._progress.get(execution_id)
        signature = (st.st_mtime_ns, st.st_size)
        if self._graph_signatures.get(execution_id) != signature:
            try:
                from cfy_local.engine import graphstate

                self._progress[execution_id] = tuple(graphstate.progress(self.home, execution_id))
            except (OSError, ValueError, ImportError, CfyLocalError):
                return self._progress.get(execution_id)
            self._graph_signatures[execution_id] = signature
        return self._progress.get(execution_id)


@dataclass
class TableView:
    """Filter and sort settings of the executions table."""

    text: str = ""
    status_filter: str = "all"
    sort_by: str = "created_at"
    descending: bool = True
    deployment_id: str | None = None
    include_system: bool = False


class SortRow(NamedTuple):
    """What filtering and sorting need of one record, computed once per version of it."""

    id: str
    status: str
    deployment_id: str
    workflow_id: str
    created_at: str
    started_at: str
    haystack: str                 # id, deployment and workflow, lower-case, for `/`
    started: datetime | None
    duration_key: tuple | None    # fixed unless the run is going on (then None)

    @classmethod
    def of(cls, record: dict[str, Any]) -> "SortRow":
        ended = _parse(record.get("ended_at"))
        started = _parse(record.get("started_at"))
        deployment = record.get("deployment_id") or ""
        workflow = record.get("workflow_id") or ""
        created = record.get("created_at") or ""
        if started is None:
            duration_key: tuple | None = (False, 0.0, created, record["id"])
        elif ended is not None:
            duration_key = (True, max(0.0, (ended - started).total_seconds()), created, record["id"])
        else:
            duration_key = None
        return cls(record["id"], record["status"], deployment, workflow, created,
                   record.get("started_at") or "", f"{record['id']}\n{deployment}\n{workflow}".lower(),
                   started, duration_key)


def _sort_key(column: str, now: datetime) -> Callable[[SortRow], tuple]:
    if column == "duration":
        def by_duration(row: SortRow) -> tuple:
            return row.duration_key or (True, max(0.0, (now - row.started).total_seconds()), row.created_at, row.id)
        return by_duration
    # attrgetter builds the key tuples in C: sorting 10,000 rows stays in single milliseconds
    if column == "created_at":
        return attrgetter("created_at", "id")
    return attrgetter(column, "created_at", "id")


def filter_and_sort(rows: Iterable[SortRow], view: TableView, now: datetime) -> list[str]:
    """The ids shown, in order. One pass per active filter, then one sort (C-speed key
    lookups on tuples): ~10 ms for 10,000 rows."""
    selected = list(rows)
    if view.deployment_id is not None:
        selected = [r for r in selected if r.deployment_id == view.deployment_id]
    if not view.include_system:
        selected = [r for r in selected if r.workflow_id not in ENVIRONMENT_WORKFLOWS]
    wanted = STATUS_FILTERS[view.status_filter]
    if wanted is not None:
        selected = [r for r in selected if r.status in wanted]
    if view.text:
        needle = view.text.lower()
        selected = [r for r in selected if needle in r.haystack]
    selected.sort(key=_sort_key(view.sort_by, now), reverse=view.descending)
    return [r.id for r in selected]


def ordered_ids(records: Iterable[dict[str, Any]], view: TableView, now: datetime) -> list[str]:
    return filter_and_sort((SortRow.of(r) for r in records), view, now)


def progress_text(progress: tuple[int, int] | None, failed: int = 0) -> str:
    """``finished/total``; with failed operations ``succeeded/total ✗failed`` (a failed
    run's only operation is finished, but ``1/1`` read as done)."""
    if not progress:
        return ""
    total, finished = progress
    if failed:
        return f"{max(0, finished - failed)}/{total} ✗{failed}"
    return f"{finished}/{total}"


@dataclass
class ExecutionsModel:
    """The executions table: index + view settings + the ordered, filtered row ids."""

    home: Home
    view: TableView = field(default_factory=TableView)

    def __post_init__(self) -> None:
        self.index = ExecutionIndex(self.home)
        self.row_ids: list[str] = []
        self._dirty = True
        self._counts: dict[str, int] | None = None
        self._sort_rows: dict[str, SortRow] = {}

    def reorder(self, now: datetime | None = None) -> None:
        """Recompute the order of the rows from the records in memory (nothing is re-read)."""
        self.row_ids = filter_and_sort(self._sort_rows.values(), self.view, now or clock.now())

    def settings_changed(self) -> None:
        """Filter or sort settings changed: new order and counts now."""
        self._counts = None
        self.reorder()

    def tick(self, now: datetime | None = None) -> set[str]:
        """One refresh: re-read what changed, recompute the row order if needed. Returns the
        ids whose records changed."""
        now = now or clock.now()
        changed = self.index.refresh()
        if changed:
            self._counts = None
            for execution_id in changed:
                record = self.index.get(execution_id)
                if record is None:
                    self._sort_rows.pop(execution_id, None)
                else:
                    self._sort_rows[execution_id] = SortRow.of(record)
        if changed or self._dirty or self.view.sort_by == "duration":
            self.reorder(now)
            self._dirty = False
        return changed

    def cells(self, execution_id: str, now: datetime, *, wide: bool) -> dict[str, str]:
        record = self.index.get(execution_id)
        if record is None:
            return {}
        return {
            "id": execution_id if wide else execution_id[:8],
            "deployment_id": record.get("deployment_id") or "",
            "workflow_id": record.get("workflow_id") or "",
            "status": record.get("status_display") or statuses.display(record["status"]),
            "created_at": short_time(record.get("created_at"), with_date=wide),
            "started_at": short_time(record.get("started_at"), with_date=wide),
            "duration": format_duration(duration_seconds(record, now)),
            "progress": progress_text(self.index.progress(record), self.index.failed_operations(record)),
        }

    def counts(self) -> dict[str, int]:
        """How many executions each status filter would show (deployment filter applied);
        recomputed only after records or settings changed."""
        if self._counts is not None:
            return self._counts
        rows = list(self._sort_rows.values())
        if self.view.deployment_id is not None:
            rows = [r for r in rows if r.deployment_id == self.view.deployment_id]
        if not self.view.include_system:
            rows = [r for r in rows if r.workflow_id not in ENVIRONMENT_WORKFLOWS]
        by_status = Counter(r.status for r in rows)
        out = {name: (len(rows) if wanted is None else sum(by_status[str(s)] for s in wanted))
               for name, wanted in STATUS_FILTERS.items()}
        self._counts = out
        return out


# A detail screen opened on a huge log starts this many bytes from its end (toolong's way:
# never load what nobody scrolls to); `cfy events list` prints the whole history.
TAIL_WINDOW = 4 << 20


class EventTail:
    """One execution's events, read incrementally from its NDJSON file by byte offset."""

    def __init__(self, path: str, window: int = TAIL_WINDOW):
        self.path = path
        self.window = window
        self.offset = 0
        self.skipped_bytes = 0  # bytes of earlier events left unread at the start
        self.events: list[dict[str, Any]] = []

    def _start_offset(self, size: int) -> int:
        """Where the first read starts: 0, or the first line start in the last ``window``."""
        if size <= self.window:
            return 0
        start = size - self.window
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        try:
            os.lseek(fd, start - 1, os.SEEK_SET)
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return size
                newline = chunk.find(b"\n")
                if newline >= 0:
                    return start + newline
                start += len(chunk)
        finally:
            os.close(fd)

    def poll(self) -> list[dict[str, Any]]:
        """New complete events since the last poll. A log that shrank (replaced, e.g. by a
        snapshot restore) is read again from the start."""
        try:
            size = os.stat(self.path, follow_symlinks=False).st_size
        except FileNotFoundError:
            return []
        if size < self.offset:
            self.offset = 0
            self.events = []
        if self.offset == 0 and not self.events:
            self.offset = self.skipped_bytes = self._start_offset(size)
        if size == self.offset:
            return []
        new, self.offset = read_from(self.path, self.offset)
        self.events.extend(new)
        return new


def event_class(event: dict[str, Any]) -> str:
    """Colour class of an event line: ok / failed / cancelled / warning / plain."""
    kind = event.get("event_type") or ""
    if kind in ("workflow_succeeded", "task_succeeded", "workflow_started"):
        return "ok"
    if kind in ("workflow_failed", "task_failed"):
        return "failed"
    if kind in ("workflow_cancelled", "task_rescheduled"):
        return "cancelled"
    level = (event.get("level") or "").lower()
    if level == "error":
        return "failed"
    if level == "warning":
        return "cancelled"
    return "plain"


def maintenance_status(home: Home) -> str:
    """The maintenance state as stored (``activating`` is settled by ``cfy`` commands; the
    TUI only reads, so it never takes the state lock on a tick)."""
    try:
        record = load_record(home.maintenance_file, "maintenance")
    except FileNotFoundError:
        return "deactivated"
    except CfyLocalError:
        return "unknown"
    return str(record.get("status") or "unknown")


def scheduler_status(home: Home) -> dict[str, Any]:
    """``cfy_local.scheduler.status`` (running, pid, last/next pass); unknown if unreadable."""
    try:
        from cfy_local import scheduler

        return scheduler.status(home)
    except (ImportError, AttributeError, OSError, CfyLocalError):
        return {"running": None, "pid": None}
