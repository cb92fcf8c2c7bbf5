"""The live index of executions: admission reconciles what it counts and does not read the
history (issue: `executions start` after a kill -9; start time with a long history)."""
from __future__ import annotations

import json
import os
import signal

import psutil
import pytest

from cfy_local.executions import api, index, statuses, records
from cfy_local.store.paths import Home
from exec_helpers import deploy, put_record
from polling import wait_for


@pytest.fixture
def markers(tmp_path):
    path = tmp_path / "markers"
    path.mkdir()
    return path


def _live_ids(home) -> set[str]:
    with open(index.live_path(Home(str(home)))) as fh:
        return set(json.load(fh)["executions"])


@pytest.mark.slow
def test_start_alone_recovers_from_a_sigkilled_worker(home, markers, cfy_proc):
    """Only `start` is ever called (a cron job): the run of a worker killed with -9 stops
    blocking its deployment at the next start, which reconciles it first."""
    deploy(home, markers, "dep")
    (markers / "hold").touch()
    first = cfy_proc("executions", "start", "install", "-d", "dep", "--no-wait").stdout.strip()
    wait_for(lambda: list(markers.glob("holding-*")), message="the first run to hold")
    pid = records.load(Home(str(home)), first)["worker_pid"]
    assert first in _live_ids(home)
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
             message="the worker to die")
    (markers / "release").touch()
    second = cfy_proc("executions", "start", "install", "-d", "dep", "--no-wait")
    assert second.exit_code == 0, second.stdout + second.stderr
    dead = records.load(Home(str(home)), first)
    assert dead["status"] == "failed"
    assert f"Worker process {pid} died unexpectedly" in dead["error"]
    assert first not in _live_ids(home)
    second_id = second.stdout.strip()
    wait_for(lambda: records.load(Home(str(home)), second_id)["status"] == "terminated", timeout=60,
             message="the second run to end")
    # The record says so first, then the index (records.save): poll for the index too.
    wait_for(lambda: _live_ids(home) == set(), timeout=10, message="the index to be empty")


def test_admission_reads_the_live_index_not_the_history(home, markers):
    """With 2,000 finished executions on disk and no summary cache, a start neither scans
    the history (no cache is built) nor is blocked by it; the index holds only what is open."""
    deploy(home, markers, "dep")
    h = Home(str(home))
    for _ in range(2000):
        put_record(home, status="terminated", deployment_id="other")
    open_one = put_record(home, status="queued", deployment_id="other")
    cache = os.path.join(h.cache_dir, index.CACHE_NAME)
    if os.path.exists(cache):
        os.unlink(cache)
    assert _live_ids(home) == {open_one["id"]}
    (markers / "release").touch()
    started = api.start(h, "install", "dep", {})
    assert started["status"] in ("pending", "started")
    assert not os.path.exists(cache), "start scanned the history"
    wait_for(lambda: records.load(h, started["id"])["status"] == "terminated", timeout=60,
             message="the run to end")
    # The record says so first, then the index (records.save); the queued one stays listed
    # until it is over (the end of the first run may have dequeued it).
    wait_for(lambda: started["id"] not in _live_ids(home), timeout=10, message="the ended run to leave the index")
    assert open_one["id"] in _live_ids(home) or statuses.is_end(records.load(h, open_one["id"])["status"])


def test_refusal_still_names_the_running_execution(home, markers):
    deploy(home, markers, "dep")
    running = put_record(home, status="started", worker_pid=os.getpid(),
                         worker_create_time=psutil.Process().create_time())
    with pytest.raises(Exception) as caught:
        api.start(Home(str(home)), "install", "dep", {})
    assert running["id"] in str(caught.value)
    assert "currently running" in str(caught.value)


def test_a_lost_or_stale_index_is_rebuilt_from_the_records(home, markers):
    deploy(home, markers, "dep")
    h = Home(str(home))
    queued = put_record(home, status="queued", deployment_id="other")
    os.unlink(index.live_path(h))
    # A missing index: the next start rebuilds it under the state lock.
    assert {r["id"] for r in index.live(h)} >= {queued["id"]}
    assert queued["id"] in _live_ids(home)
    # A stale index (a crash between a record's write and the index's): a full listing
    # notices and rebuilds it.
    with open(index.live_path(h), "w") as fh:
        json.dump({"schema_version": 1, "format": index.LIVE_FORMAT, "fields": list(index.SUMMARY_FIELDS),
                   "executions": {}, "environments": {}}, fh)
    api.list_executions(h)
    assert queued["id"] in _live_ids(home)


def test_snapshot_restore_rebuilds_the_index(home, markers, cfy_proc):
    deploy(home, markers, "dep")
    h = Home(str(home))
    assert cfy_proc("snapshots", "create", "snap").exit_code == 0
    wait_for(lambda: all(r["status"] in ("terminated", "failed") for r in records.load_all(h)), timeout=60,
             message="the snapshot to be created")
    stray = put_record(home, status="terminated", deployment_id="other")
    # An index entry the restored history does not have.
    with open(index.live_path(h)) as fh:
        data = json.load(fh)
    data["executions"]["not-in-the-snapshot"] = data["environments"].get("dep") or [None] * len(index.SUMMARY_FIELDS)
    with open(index.live_path(h), "w") as fh:
        json.dump(data, fh)
    result = cfy_proc("snapshots", "restore", "snap")
    assert result.exit_code == 0, result.stdout + result.stderr
    wait_for(lambda: all(r["status"] in ("terminated", "failed") for r in records.load_all(h)), timeout=60,
             message="the restore to end")
    ids = {r["id"] for r in records.load_all(h)}
    assert stray["id"] not in ids
    assert "not-in-the-snapshot" not in _live_ids(home)
    assert _live_ids(home) <= ids


def test_a_queued_run_the_index_lost_is_started_by_the_next_listing(home, markers):
    """A `cfy` killed between a queued record's write and its index entry (seen with a
    scheduler pass SIGKILLed right after it queued a run): the run's blocker ends, the queue
    (reading the index) does not see it; the next full listing rebuilds the index and starts
    it instead of leaving it queued for ever."""
    deploy(home, markers, "dep")
    h = Home(str(home))
    (markers / "release").touch()
    lost = records.new_record(workflow_id="install", deployment_id="dep", blueprint_id="bp", status="queued")
    records.save_record(h.execution_file(lost["id"]), lost)  # the record without its entry
    assert lost["id"] not in _live_ids(home)
    api.list_executions(h)
    wait_for(lambda: records.load(h, lost["id"])["status"] == "terminated", timeout=60,
             message="the lost queued run to be started and to end")


def test_records_save_lists_a_run_that_is_not_over_before_writing_it(home, markers, monkeypatch):
    """The order of the two writes: killed between them, a run that is not over is listed
    (harmless) rather than missing; an ended one is unlisted only after its record says so."""
    deploy(home, markers, "dep")
    h = Home(str(home))
    record = records.new_record(workflow_id="install", deployment_id="dep", blueprint_id="bp", status="queued")

    def killed(path, data, **_):
        raise KeyboardInterrupt("killed between the index and the record")

    monkeypatch.setattr(records, "save_record", killed)
    with pytest.raises(KeyboardInterrupt):
        records.save(h, record)
    assert record["id"] in _live_ids(home)
    monkeypatch.undo()
    records.save(h, record)
    ended = dict(record, status="cancelled")
    monkeypatch.setattr(index, "record_saved", lambda home, rec: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        records.save(h, ended)
    assert records.load(h, record["id"])["status"] == "cancelled"
    assert record["id"] in _live_ids(home)  # an extra entry, read through its record
    assert record["id"] not in {s["id"] for s in index.live(h) if s["status"] == "queued"}
