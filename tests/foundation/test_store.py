"""Atomic writes, strict reads, versioned records, event logs, ids and locks."""
import json
import multiprocessing
import os
import stat

import pytest

from cfy_local.errors import ConflictError, CorruptRecordError, ValidationError
from cfy_local.ids import validate_id
from cfy_local.store import atomic, event_log, locks, versioned
from cfy_local.store.paths import Home


def test_atomic_write_modes_and_content(tmp_path):
    home = Home.open(str(tmp_path / "h"))
    path = home.deployment_file("web")
    versioned.save_record(path, {"id": "web"})
    assert versioned.load_record(path, "deployment") == {"schema_version": 1, "id": "web"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".tmp-")]


def test_corrupt_record_names_the_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(CorruptRecordError, match=str(path)):
        versioned.load_record(str(path), "execution")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(CorruptRecordError, match="newer"):
        versioned.load_record(str(path), "execution")


def test_symlink_at_record_path_is_not_followed(tmp_path):
    target = tmp_path / "secret.txt"
    target.write_text('{"schema_version": 1, "stolen": true}')
    link = tmp_path / "rec.json"
    link.symlink_to(target)
    with pytest.raises(CorruptRecordError, match="symlink"):
        versioned.load_record(str(link), "execution")
    atomic.atomic_write_json(str(link), {"schema_version": 1})
    assert not link.is_symlink()
    assert json.loads(target.read_text())["stolen"] is True


@pytest.mark.parametrize("bad", ["../x", "/x", "a/b", "", ".", "..", "-x", "x" * 257, "a b", "é"])
def test_ids_that_escape_or_are_odd_are_refused(bad):
    with pytest.raises(ValidationError):
        validate_id(bad, "deployment_id")


def test_events_read_incrementally_and_skip_partial_line(tmp_path):
    path = str(tmp_path / "events.ndjson")
    event_log.append_events(path, [{"n": 1}, {"n": 2}])
    got, offset = event_log.read_from(path, 0)
    assert [e["n"] for e in got] == [1, 2]
    with open(path, "ab") as fh:
        fh.write(b'{"n": 3')  # a writer mid-line
    got, offset2 = event_log.read_from(path, offset)
    assert got == [] and offset2 == offset
    with open(path, "ab") as fh:
        fh.write(b"}\n")
    got, _ = event_log.read_from(path, offset)
    assert [e["n"] for e in got] == [3]


def test_durable_flush_syncs_only_what_was_written_since_the_last(tmp_path, monkeypatch):
    # A run's end asks for a durable log several times over; only writes since the last
    # fsync need another one. The spy calls the real fsync.
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(event_log.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    path = str(tmp_path / "events.ndjson")
    writer = event_log.EventWriter(path, batch=True)
    writer.write({"n": 1})
    writer.flush(durable=True)
    writer.flush(durable=True)
    assert len(synced) == 1
    writer.write({"n": 2})
    writer.flush()  # written, not synced
    writer.close()  # close is durable: syncs what the plain flush wrote
    assert len(synced) == 2
    got, _ = event_log.read_from(path, 0)
    assert [e["n"] for e in got] == [1, 2]


def _line_by_line(data: bytes) -> list:
    """What a reader of the log must return: each whole line decoded on its own."""
    out = []
    for raw in data[: data.rfind(b"\n") + 1].splitlines():
        if raw.strip():
            event = event_log._parse_line(raw)
            if event is not None:
                out.append(event)
    return out


@pytest.mark.parametrize("data", [
    b'{"n":1}\n{"n":2}\n',
    b'{"n":"caf\xc3\xa9 \\u2603"}\n\n   \n{"n":2}\n',  # non-ASCII, blank and space-only lines
    b' {"n":1} \n\t{"n":2}\n',  # spaces around an event
    b'{"n":1\n}\n{"n":2}\n',  # an event cut over two lines is not glued back together
    b'{"a":[{"b":1}\n{"c":2}]}\n',
    b'{"type":"cloudify_ev{"n":3}\n{"n":4}\n',  # a torn event glued to a whole one
    b'{"n":1}{"n":2}\n[1,2]\n7\nnull\n"text"\n',  # two on a line, values that are not events
    b'\xef\xbb\xbf{"n":1}\n{"n":2}\n',  # a byte-order mark
    b'{"n":"\xff\xfe"}\n{"n":2}\n',  # bytes that are not UTF-8
    b'{"n":1}\r\n{"n":2}\r{"n":3}\n',  # carriage returns
    b'{"n":1}\n{"n":2',  # a writer mid-line
])
def test_events_read_in_blocks_equal_reading_them_line_by_line(tmp_path, data):
    path = str(tmp_path / "events.ndjson")
    with open(path, "wb") as fh:
        fh.write(data)
    got, offset = event_log.read_from(path, 0)
    assert got == _line_by_line(data)
    assert offset == data.rfind(b"\n") + 1


def _hold_then_report(root, ready, release):
    with locks.lock(root, "state"):
        ready.set()
        release.wait(60)


def _start_holder(root):
    """Another process holding the `state` lock; returns it and the event that frees it."""
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_then_report, args=(root, ready, release))
    proc.start()
    assert ready.wait(20)
    return proc, release


def test_lock_excludes_other_processes(tmp_path):
    root = str(tmp_path)
    proc, release = _start_holder(root)
    try:
        assert locks.is_held(root, "state")
        assert locks.try_hold(root, "state") is None
    finally:
        release.set()
        proc.join(20)
    assert not locks.is_held(root, "state")


def test_lock_of_a_killed_holder_is_free_and_timeouts_name_the_lock(tmp_path):
    root = str(tmp_path)
    proc, _ = _start_holder(root)
    try:
        with pytest.raises(ConflictError) as refused:
            with locks.lock(root, "state", timeout=0.2):
                pass
        assert "`state`" in str(refused.value) and locks.lock_path(root, "state") in str(refused.value)
    finally:
        proc.kill()  # SIGKILL: no release code runs; the kernel drops the flock
        proc.join(20)
    with locks.lock(root, "state", timeout=5):
        assert locks.is_held(root, "state")
    assert oct(os.stat(locks.lock_path(root, "state")).st_mode & 0o777) == "0o600"


def test_lock_excludes_other_threads_of_one_process(tmp_path):
    import threading

    root = str(tmp_path)
    inside, overlaps = [], []
    guard = threading.Lock()

    def work():
        for _ in range(50):
            with locks.lock(root, "state"):
                with guard:
                    inside.append(1)
                    if len(inside) > 1:
                        overlaps.append(len(inside))
                with guard:
                    inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert overlaps == []


def test_records_are_private_even_under_a_umask_that_takes_owner_bits(tmp_path):
    """A temp file is created 0600 & ~umask; a umask that strips owner bits gets a chmod."""
    import subprocess
    import sys

    target = tmp_path / "record.json"
    code = ("import os, sys; os.umask(0o277); from cfy_local.store.atomic import atomic_write_bytes; "
            "atomic_write_bytes(sys.argv[1], b'{}')")
    subprocess.run([sys.executable, "-c", code, str(target)], check=True)
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert target.read_bytes() == b"{}"


def test_a_folder_watch_wakes_on_appends_and_replaces_and_never_follows_a_symlink(tmp_path):
    from cfy_local.store import watch as folder_watch

    runs, records_dir = tmp_path / "run", tmp_path / "records"
    runs.mkdir()
    records_dir.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "planted")
    w = folder_watch.open_watch()
    if w is None:
        pytest.skip("no inotify here: followers poll")
    with w:
        assert w.add(str(runs)) and w.add(str(records_dir))
        assert not w.add(str(tmp_path / "missing"))
        assert not w.add(str(tmp_path / "planted"))
        assert w.wait(0.05) is False  # nothing changed
        event_log.append_events(str(runs / "events.ndjson"), [{"n": 1}])
        assert w.wait(5) is True
        assert w.wait(0.05) is False  # every queued change was consumed by the last wait
        atomic.atomic_write_json(str(records_dir / "r.json"), {"status": "terminated"})
        assert w.wait(5) is True
        with open(tmp_path / "elsewhere" / "x", "w") as fh:
            fh.write("not watched")
        assert w.wait(0.05) is False
