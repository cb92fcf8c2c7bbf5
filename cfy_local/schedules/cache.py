"""A derived cache of upcoming occurrences, so listing many schedules as JSON (each with
up to 1,000 ``all_next_occurrences``) does not recompute a million dates every time.

``cache/occurrences/<dep>/<sched>.json`` = ``{key, from, items, complete}``: ``items`` are
the occurrences strictly after ``from`` (up to CACHE_SIZE, UTC ISO strings, sorted);
``key`` fingerprints what they were computed from (rule, since, until, zone). A cached list
answers "the next N after now" while ``from <= now`` and at least N items remain after now
(or the list is complete). Everything here is safe to delete.
"""
from __future__ import annotations

import bisect
import itertools
import json
import os
from datetime import datetime

from cfy_local.errors import CfyLocalError
from cfy_local.schedules.rules import MAX_PREVIEW, occurrences_of
from cfy_local.store.atomic import atomic_write_json, read_json
from cfy_local.store.paths import Home
from cfy_local.timefmt import iso

CACHE_SIZE = 1500


def _path(home: Home, record: dict) -> str:
    # Through the validated schedule path, then moved under cache/ (ids are already safe).
    name = os.path.basename(home.schedule_file(record["deployment_id"], record["id"]))
    return os.path.join(home.cache_dir, "occurrences", record["deployment_id"], name)


def _key(record: dict) -> str:
    return json.dumps([record["rule"], record["since"], record.get("until"), record.get("timezone")],
                      sort_keys=True)


def upcoming(home: Home, record: dict, now: datetime, limit: int = MAX_PREVIEW) -> list[str]:
    """The first ``limit`` (≤ 1,000) occurrences strictly after ``now``, as UTC ISO strings."""
    limit = max(0, min(limit, MAX_PREVIEW))
    now_text = iso(now)
    path = _path(home, record)
    key = _key(record)
    try:
        cached = read_json(path)
    except (FileNotFoundError, CfyLocalError):
        cached = None
    if isinstance(cached, dict) and cached.get("key") == key and cached.get("from", "~") <= now_text:
        items = cached.get("items") or []
        start = bisect.bisect_right(items, now_text)
        if cached.get("complete") or len(items) - start >= limit:
            return items[start:start + limit]
    values = list(itertools.islice(occurrences_of(record).iter_from(now), CACHE_SIZE))
    items = [iso(v) for v in values]
    try:
        atomic_write_json(path, {"key": key, "from": now_text, "items": items,
                                 "complete": len(values) < CACHE_SIZE}, durable=False)
    except CfyLocalError:
        pass  # a cache that cannot be written only costs time
    return items[:limit]


def forget(home: Home, deployment_id: str, schedule_id: str | None = None) -> None:
    folder = os.path.join(home.cache_dir, "occurrences", deployment_id)
    try:
        if schedule_id is None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        else:
            os.unlink(os.path.join(folder, schedule_id + ".json"))
    except FileNotFoundError:
        pass
