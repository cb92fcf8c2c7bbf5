"""Schedule records and their history on disk (docs/state.md).

``schedules/<dep>/<sched>.json`` holds the schedule; ``<sched>.history.ndjson`` beside it
holds one line per scheduler decision. Writers hold the ``schedule-<dep>--<sched>`` lock
(lock order: after ``scheduler``, before ``state``).
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator

from cfy_local.errors import CorruptRecordError, NotFoundError
from cfy_local.store.event_log import EventWriter, append_events, read_from
from cfy_local.store.locks import lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record, save_record

KIND = "schedule"
# The history line a pass writes just before it starts an execution (scheduler.passes).
FIRING = "firing"


def lock_name(deployment_id: str, schedule_id: str) -> str:
    return f"schedule-{deployment_id}--{schedule_id}"


@contextlib.contextmanager
def schedule_lock(home: Home, deployment_id: str, schedule_id: str, timeout: float = 60.0) -> Iterator[None]:
    # Validate both ids (through the path helpers) before they name a lock file.
    home.schedule_file(deployment_id, schedule_id)
    with lock(home.root, lock_name(deployment_id, schedule_id), timeout=timeout):
        yield


def not_found(deployment_id: str, schedule_id: str) -> NotFoundError:
    return NotFoundError(
        f"Requested `ExecutionSchedule` with ID `{schedule_id}` was not found "
        f"(filters: {{'deployment_id': '{deployment_id}'}})")


def exists(home: Home, deployment_id: str, schedule_id: str) -> bool:
    return os.path.exists(home.schedule_file(deployment_id, schedule_id))


def load(home: Home, deployment_id: str, schedule_id: str) -> dict[str, Any]:
    try:
        return load_record(home.schedule_file(deployment_id, schedule_id), KIND)
    except FileNotFoundError:
        raise not_found(deployment_id, schedule_id) from None


def load_or_none(home: Home, deployment_id: str, schedule_id: str) -> dict[str, Any] | None:
    try:
        return load_record(home.schedule_file(deployment_id, schedule_id), KIND)
    except FileNotFoundError:
        return None


def save(home: Home, record: dict[str, Any]) -> None:
    save_record(home.schedule_file(record["deployment_id"], record["id"]), record)


def delete(home: Home, deployment_id: str, schedule_id: str) -> None:
    for path in (home.schedule_file(deployment_id, schedule_id),
                 home.schedule_history_file(deployment_id, schedule_id)):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def iter_keys(home: Home, deployment_id: str | None = None) -> Iterator[tuple[str, str]]:
    """(deployment id, schedule id) of every stored schedule, optionally of one deployment."""
    if deployment_id is not None:
        folders = [(deployment_id, home.deployment_schedules_dir(deployment_id))]
    else:
        try:
            with os.scandir(home.schedules_dir) as entries:
                folders = [(e.name, e.path) for e in entries if e.is_dir(follow_symlinks=False)
                           and not e.name.startswith(".")]
        except FileNotFoundError:
            return
    for dep, folder in sorted(folders):
        try:
            with os.scandir(folder) as entries:
                names = sorted(e.name for e in entries)
        except FileNotFoundError:
            continue
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                yield dep, name[:-5]


def load_all(home: Home, deployment_id: str | None = None, *, corrupt: list[str] | None = None) -> list[dict[str, Any]]:
    """Every schedule record; unreadable files are skipped (their paths appended to
    ``corrupt`` when given) so one bad file does not hide the rest."""
    out = []
    for dep, sched in iter_keys(home, deployment_id):
        path = home.schedule_file(dep, sched)
        try:
            out.append(load_record(path, KIND))
        except FileNotFoundError:
            continue
        except CorruptRecordError:
            if corrupt is not None:
                corrupt.append(path)
    return out


def append_history(home: Home, deployment_id: str, schedule_id: str, entry: dict[str, Any]) -> None:
    append_events(home.schedule_history_file(deployment_id, schedule_id), [entry])


def append_history_lines(home: Home, deployment_id: str, schedule_id: str, entries: list[dict[str, Any]]) -> None:
    """Several history lines as one append (one write): a kill leaves all or none of them."""
    path = home.schedule_history_file(deployment_id, schedule_id)
    with EventWriter(path) as writer:
        writer.write_lines([(str(entry.get("action")), json.dumps(entry, separators=(",", ":"), default=str))
                            for entry in entries])


def read_history(home: Home, deployment_id: str, schedule_id: str) -> list[dict[str, Any]]:
    entries, _ = read_from(home.schedule_history_file(deployment_id, schedule_id))
    # `firing` lines are the scheduler's crash-safety notes, each followed by the decision.
    return [entry for entry in entries if entry.get("action") != FIRING]


def last_history_entry(home: Home, deployment_id: str, schedule_id: str) -> dict[str, Any] | None:
    """The newest decision, read from the file's tail (histories grow without bound)."""
    path = home.schedule_history_file(deployment_id, schedule_id)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        chunk = min(size, 8192)
        os.lseek(fd, size - chunk, os.SEEK_SET)
        data = os.read(fd, chunk)
    finally:
        os.close(fd)
    for line in reversed(data.splitlines()):
        line = line.strip()
        if not line:
            continue
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None
