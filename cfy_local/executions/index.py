"""A derived, stat-validated cache of execution summaries (``<home>/cache/executions.json``).

``executions list``, admission, the queue and reconcile all need "every execution, a few
fields each". Reading 10,000 record files costs far more than one ``scandir`` + ``stat``
each, so the summaries are cached keyed by file name with the file's
``(st_ino, st_mtime_ns, st_size)``. Records are replaced atomically (new inode on every
write), so a changed signature is the only way a record can change; any file whose
signature differs is re-read. The cache is derived data only: deleting it costs one slow
scan, and a stale or corrupt cache is simply rebuilt. Nothing here is a counter.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

from cfy_local.errors import CfyLocalError
from cfy_local.executions.lifecycle import END_VALUES
from cfy_local.store.atomic import atomic_write_bytes
from cfy_local.store.paths import Home
from cfy_local.store.records import load_record

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
