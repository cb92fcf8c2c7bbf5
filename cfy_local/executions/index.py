"""A derived, stat-validated cache of execution summaries (``<home>/cache/executions.json``).

``executions list``, admission, the queue and reconcile all need "every execution, a few
fields each". Reading 10,000 record files costs far more than one ``scandir`` + ``stat``
each, so the summaries are cached keyed by file name with the file's
``(st_ino, st_mtime_ns, st_size)``. Records are replaced atomically (new inode on every
write), so a changed signature is the only way a record can change; any file whose
signature differs is re-read. The cache is derived data only: deleting it costs one slow
scan, and a stale or corrupt cache is simply rebuilt. Nothing here is a counter.

Below it, the live index (``executions-live.json``): which executions are not over, kept
with every record write, so admission reads a handful of records however long the
history.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

from cfy_local.errors import CfyLocalError
from cfy_local.executions.admission import order_key
from cfy_local.executions.statuses import END_VALUES
from cfy_local.store.atomic import atomic_write_bytes
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record

CACHE_NAME = "executions.json"
CACHE_FORMAT = 2
# Trust an unchanged folder mtime only once it is this old: a write within the same
# timestamp tick as the cache's own scan could otherwise go unseen on coarse clocks.
DIR_MTIME_SETTLE_NS = 2_000_000_000

# The fields a summary keeps: the list/summary columns plus what admission, the queue and
# reconcile decide on. Parameters, results and tracebacks stay in the record files.
SUMMARY_FIELDS = (
    "id", "workflow_id", "deployment_id", "blueprint_id", "status", "status_display",
    "created_at", "created_ns", "started_at", "ended_at", "scheduled_for", "is_dry_run",
    "is_system_workflow", "forced", "worker_pid", "worker_create_time",
)


def summarize(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record.get(key) for key in SUMMARY_FIELDS}


def _cache_path(home: Home) -> str:
    return os.path.join(home.cache_dir, CACHE_NAME)


def _read_cache(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError):
        return {}
    if (not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("fields") != list(SUMMARY_FIELDS)
            or not isinstance(data.get("entries"), dict)):
        return {}
    return data


STATUS_AT = SUMMARY_FIELDS.index("status")
WORKFLOW_AT = SUMMARY_FIELDS.index("workflow_id")
DEPLOYMENT_AT = SUMMARY_FIELDS.index("deployment_id")


def _rows(entries: dict[str, list], keep: Callable[[list], bool] | None = None) -> list[dict[str, Any]]:
    fields = SUMMARY_FIELDS
    if keep is None:
        return [dict(zip(fields, value[1])) for value in entries.values()]
    return [dict(zip(fields, value[1])) for value in entries.values() if keep(value[1])]


def not_ended(values: list) -> bool:
    """A ``keep`` for ``scan``: executions that are not over (what admission, the queue and
    reconcile decide on); with a long history, most summaries are never built."""
    return values[STATUS_AT] not in END_VALUES


# Paths that run under the state lock (admission, the queue) rewrite the cache only once
# this many records had to be re-read, so a start never pays for a full cache write.
LAZY_REWRITE_THRESHOLD = 64


def scan(home: Home, *, write_back: bool | str = True,
         keep: Callable[[list], bool] | None = None) -> list[dict[str, Any]]:
    """Summaries of every readable execution record (unordered); with ``keep``, only those
    whose summary values (in SUMMARY_FIELDS order) it accepts.

    Unreadable records are left out here (``cfy status`` reports them); a record deleted
    between the scan and the read is simply absent. Every record write is a rename into
    ``executions/``, which changes the folder's mtime: when the folder is unchanged since
    the cache was written (and not too recently), the per-file checks are skipped.
    ``write_back="lazy"`` rewrites the cache only when many records were re-read.
    """
    path = _cache_path(home)
    cache = _read_cache(path)
    cached: dict[str, list] = cache.get("entries", {})
    try:
        dir_stat = os.stat(home.executions_dir)
    except FileNotFoundError:
        return []
    dir_signature = [dir_stat.st_ino, dir_stat.st_mtime_ns]
    if cache and cache.get("dir") == dir_signature and time.time_ns() - dir_stat.st_mtime_ns > DIR_MTIME_SETTLE_NS:
        return _rows(cached, keep)
    fresh: dict[str, list] = {}
    changed = cache.get("dir") != dir_signature
    reread = 0
    with os.scandir(home.executions_dir) as entries:
        for entry in entries:
            name = entry.name
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            signature = [st.st_ino, st.st_mtime_ns, st.st_size]
            hit = cached.get(name)
            if hit is not None and hit[0] == signature:
                fresh[name] = hit
                continue
            try:
                record = load_record(entry.path, "execution")
            except FileNotFoundError:
                continue
            except CfyLocalError:
                continue
            fresh[name] = [signature, [record.get(key) for key in SUMMARY_FIELDS]]
            changed = True
            reread += 1
    if len(fresh) != len(cached):
        changed = True
    if write_back == "lazy":
        write_back = reread >= LAZY_REWRITE_THRESHOLD
    if changed and write_back:
        try:
            payload = json.dumps({"format": CACHE_FORMAT, "fields": list(SUMMARY_FIELDS), "dir": dir_signature,
                                  "entries": fresh}, separators=(",", ":")).encode()
            atomic_write_bytes(path, payload, durable=False)
        except CfyLocalError:
            pass  # a cache that cannot be written only costs speed
    return _rows(fresh, keep)

# -- the live index -------------------------------------------------------------------------
# ``<home>/executions-live.json``: the summaries of every execution that is not over, and of the
# newest create_deployment_environment run of each deployment (whatever its status) — all
# that admission and the queue decide on. Unlike the cache above it is authoritative: every
# record write goes through ``records.save``, under the state lock, which updates it in the
# same step; snapshot restore and an explicit reconcile rebuild it from the records. So a
# start reads one small file however long the history is. A missing or unreadable index is
# rebuilt from a full scan (under the state lock the caller holds).
LIVE_NAME = "executions-live.json"
LIVE_FORMAT = 1


def live_path(home: Home) -> str:
    return os.path.join(home.root, LIVE_NAME)


def _read_live(home: Home) -> dict[str, Any] | None:
    try:
        with open(live_path(home), "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    if (not isinstance(data, dict) or data.get("format") != LIVE_FORMAT or data.get("fields") != list(SUMMARY_FIELDS)
            or not isinstance(data.get("executions"), dict) or not isinstance(data.get("environments"), dict)):
        return None
    return data


def _write_live(home: Home, executions: dict[str, list], environments: dict[str, list]) -> None:
    payload = json.dumps({"schema_version": 1, "format": LIVE_FORMAT, "fields": list(SUMMARY_FIELDS),
                          "executions": executions, "environments": environments},
                         separators=(",", ":")).encode()
    # Not fsynced: ``live`` re-reads every listed record, so a listed entry is never
    # stale; an entry can only be missing after the machine itself crashed (the record is
    # fsynced first), and then no worker it names survived either — the next full listing
    # rebuilds the index from the records.
    atomic_write_bytes(live_path(home), payload, durable=False)


def _is_environment(values: list) -> bool:
    return values[WORKFLOW_AT] == "create_deployment_environment"


def _newer(values: list, than: list | None) -> bool:
    if than is None:
        return True
    return order_key(dict(zip(SUMMARY_FIELDS, values))) >= order_key(dict(zip(SUMMARY_FIELDS, than)))


def rebuild_live(home: Home) -> None:
    """Rebuild the live index from every record (caller holds the state lock)."""
    if not os.path.isdir(home.executions_dir):
        return
    executions: dict[str, list] = {}
    environments: dict[str, list] = {}
    for summary in scan(home, write_back=False):
        values = [summary.get(key) for key in SUMMARY_FIELDS]
        if not_ended(values):
            executions[summary["id"]] = values
        if _is_environment(values) and values[DEPLOYMENT_AT]:
            dep = values[DEPLOYMENT_AT]
            if _newer(values, environments.get(dep)):
                environments[dep] = values
    _write_live(home, executions, environments)


def record_saved(home: Home, record: dict[str, Any]) -> None:
    """Keep the live index in step with a record just written (caller holds the state
    lock, as for every record write)."""
    data = _read_live(home)
    if data is None:
        # Rebuilt from the records, then this record applied (records.save may call this
        # before the record itself is on disk).
        rebuild_live(home)
        data = _read_live(home)
        if data is None:
            return
    values = [record.get(key) for key in SUMMARY_FIELDS]
    executions, environments = data["executions"], data["environments"]
    changed = False
    if not_ended(values):
        if executions.get(record["id"]) != values:
            executions[record["id"]] = values
            changed = True
    elif executions.pop(record["id"], None) is not None:
        changed = True
    dep = values[DEPLOYMENT_AT]
    if _is_environment(values) and dep:
        known = environments.get(dep)
        if known is None or known[0] == record["id"] or _newer(values, known):
            if known != values:
                environments[dep] = values
                changed = True
    if changed:
        _write_live(home, executions, environments)


def live(home: Home, *, rebuild: bool = True) -> list[dict[str, Any]]:
    """Summaries, read from their records, of the executions the index lists as not over,
    plus the newest environment creation of each deployment (what admission and the queue
    decide on; an execution that ended meanwhile shows its end status, which they skip).
    Without ``rebuild`` (a caller not holding the state lock), a missing index falls back
    to a full scan."""
    data = _read_live(home)
    if data is None:
        if not os.path.isdir(home.executions_dir):
            return []
        if not rebuild:
            return [s for s in scan(home, write_back=False)
                    if s["status"] not in END_VALUES or s.get("workflow_id") == "create_deployment_environment"]
        rebuild_live(home)
        data = _read_live(home) or {"executions": {}, "environments": {}}
    # The index says which executions to look at; their records say what they are now.
    rows: dict[str, dict[str, Any]] = {}
    for execution_id in list(data["executions"]) + [values[0] for values in data["environments"].values()]:
        if execution_id in rows:
            continue
        try:
            record = load_record(home.execution_file(execution_id), "execution")
        except (FileNotFoundError, CfyLocalError):
            continue
        rows[execution_id] = summarize(record)
    return list(rows.values())


def live_agrees(home: Home, summaries: list[dict[str, Any]]) -> bool:
    """True if the live index lists exactly the executions of ``summaries`` (a full scan)
    that are not over; a missing index agrees (the next start rebuilds it)."""
    data = _read_live(home)
    if data is None:
        return True
    open_ids = {s["id"] for s in summaries if s["status"] not in END_VALUES}
    return open_ids == set(data["executions"])
