"""Atomic writes, strict reads, versioned records, event logs, ids and locks."""
import json
import multiprocessing
import os
import stat

import pytest

from cfy_local.errors import CorruptRecordError, ValidationError
from cfy_local.ids import validate_id
from cfy_local.store import atomic, events, locks, records
from cfy_local.store.paths import Home


def test_atomic_write_modes_and_content(tmp_path):
    home = Home.open(str(tmp_path / "h"))
    path = home.deployment_file("web")
    records.save_record(path, {"id": "web"})
    assert records.load_record(path, "deployment") == {"schema_version": 1, "id": "web"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".tmp-")]


def test_corrupt_record_names_the_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(CorruptRecordError, match=str(path)):
        records.load_record(str(path), "execution")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(CorruptRecordError, match="newer"):
        records.load_record(str(path), "execution")


def test_symlink_at_record_path_is_not_followed(tmp_path):
    target = tmp_path / "secret.txt"
    target.write_text('{"schema_version": 1, "stolen": true}')
    link = tmp_path / "rec.json"
    link.symlink_to(target)
    with pytest.raises(CorruptRecordError, match="symlink"):
        records.load_record(str(link), "execution")
    atomic.atomic_write_json(str(link), {"schema_version": 1})
    assert not link.is_symlink()
    assert json.loads(target.read_text())["stolen"] is True


@pytest.mark.parametrize("bad", ["../x", "/x", "a/b", "", ".", "..", "-x", "x" * 257, "a b", "é"])
def test_ids_that_escape_or_are_odd_are_refused(bad):
    with pytest.raises(ValidationError):
        validate_id(bad, "deployment_id")


def test_events_read_incrementally_and_skip_partial_line(tmp_path):
    path = str(tmp_path / "events.ndjson")
    events.append_events(path, [{"n": 1}, {"n": 2}])
    got, offset = events.read_from(path, 0)
    assert [e["n"] for e in got] == [1, 2]
    with open(path, "ab") as fh:
        fh.write(b'{"n": 3')  # a writer mid-line
    got, offset2 = events.read_from(path, offset)
    assert got == [] and offset2 == offset
    with open(path, "ab") as fh:
        fh.write(b"}\n")
    got, _ = events.read_from(path, offset)
    assert [e["n"] for e in got] == [3]


def _hold_then_report(root, ready, release):
    with locks.lock(root, "state"):
        ready.set()
        release.wait(10)


def test_lock_excludes_other_processes(tmp_path):
    root = str(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_then_report, args=(root, ready, release))
    proc.start()
    try:
        assert ready.wait(20)
        assert locks.is_held(root, "state")
        assert locks.try_hold(root, "state") is None
    finally:
        release.set()
        proc.join(20)
    assert not locks.is_held(root, "state")
